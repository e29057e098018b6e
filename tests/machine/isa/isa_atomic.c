/* isa_atomic.c — harvest program for the decoder test (never run): the
 * __atomic and __sync builtins at every width (LOCK-prefixed ALU, XADD,
 * XCHG, CMPXCHG, CMPXCHG16B with -mcx16, BTS/BTR via atomic bit ops),
 * fences, and spin loops with PAUSE. */
#include <stdbool.h>
#include <stdint.h>

#define ATOMICS(T, n)                                                                          \
	T n##_load(T *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }                      \
	T n##_load_acq(T *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }                  \
	void n##_store(T *p, T v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }                \
	void n##_store_rel(T *p, T v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }            \
	T n##_xchg(T *p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }          \
	T n##_fadd(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }           \
	T n##_fsub(T *p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }           \
	T n##_addf(T *p, T v) { return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST); }           \
	void n##_inc(T *p) { __atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST); }                     \
	void n##_dec(T *p) { __atomic_fetch_sub(p, 1, __ATOMIC_SEQ_CST); }                     \
	bool n##_dec_zero(T *p) { return __atomic_sub_fetch(p, 1, __ATOMIC_SEQ_CST) == 0; }    \
	void n##_and(T *p, T v) { __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }                \
	void n##_or(T *p, T v) { __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }                  \
	void n##_xor(T *p, T v) { __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); }                \
	T n##_fand(T *p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }           \
	T n##_for(T *p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }             \
	void n##_neg(T *p) { T o = *p; while (!__atomic_compare_exchange_n(p, &o, (T)-o, 1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {} } \
	bool n##_cas(T *p, T *e, T d) { return __atomic_compare_exchange_n(p, e, d, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); } \
	T n##_sync_cas(T *p, T o, T d) { return __sync_val_compare_and_swap(p, o, d); }        \
	bool n##_sync_bcas(T *p, T o, T d) { return __sync_bool_compare_and_swap(p, o, d); }   \
	T n##_sync_add(T *p, T v) { return __sync_fetch_and_add(p, v); }                       \
	T n##_tas(T *p) { return __sync_lock_test_and_set(p, 1); }                             \
	void n##_rel(T *p) { __sync_lock_release(p); }

ATOMICS(uint8_t, a8)
ATOMICS(uint16_t, a16)
ATOMICS(uint32_t, a32)
ATOMICS(uint64_t, a64)

/* 16-byte compare-and-swap: CMPXCHG16B with -mcx16 */
unsigned __int128 a128_sync_cas(unsigned __int128 *p, unsigned __int128 o, unsigned __int128 d)
{
	return __sync_val_compare_and_swap(p, o, d);
}
bool a128_sync_bcas(unsigned __int128 *p, unsigned __int128 o, unsigned __int128 d)
{
	return __sync_bool_compare_and_swap(p, o, d);
}

/* atomic bit operations (lock bts/btr/btc where the compiler sees the pattern) */
bool bit_test_set(uint64_t *p, unsigned n)
{
	uint64_t m = 1ull << (n & 63);
	return (__atomic_fetch_or(p, m, __ATOMIC_SEQ_CST) & m) != 0;
}
bool bit_test_clear(uint64_t *p, unsigned n)
{
	uint64_t m = 1ull << (n & 63);
	return (__atomic_fetch_and(p, ~m, __ATOMIC_SEQ_CST) & m) != 0;
}
bool bit_test_flip(uint32_t *p)
{
	return (__atomic_fetch_xor(p, 1u << 7, __ATOMIC_SEQ_CST) & (1u << 7)) != 0;
}
bool tas_flag(bool *p) { return __atomic_test_and_set(p, __ATOMIC_ACQUIRE); }
void clear_flag(bool *p) { __atomic_clear(p, __ATOMIC_RELEASE); }

/* fences */
void fence_seq(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
void fence_acq(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
void fence_sig(void) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
void sync_sync(void) { __sync_synchronize(); }

/* a ticket spin lock */
struct ticket { uint32_t next, owner; };
void ticket_lock(struct ticket *t)
{
	uint32_t me = __atomic_fetch_add(&t->next, 1, __ATOMIC_RELAXED);
	while (__atomic_load_n(&t->owner, __ATOMIC_ACQUIRE) != me)
		__builtin_ia32_pause();
}
void ticket_unlock(struct ticket *t) { __atomic_store_n(&t->owner, t->owner + 1, __ATOMIC_RELEASE); }
