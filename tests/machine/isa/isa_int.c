/* isa_int.c — harvest program for the decoder test (never run): integer
 * arithmetic at every width, signed and unsigned, so GCC and Clang emit
 * the ALU, multiply/divide, extension and conditional forms they use for C.
 * Compiled by tests/tests.mk with both compilers at several -O levels;
 * test_decode_capstone.c checks every instruction of the objects. */
#include <stdint.h>

#define ARITH(T, name)                                                                \
	T name##_add(T a, T b) { return a + b; }                                      \
	T name##_sub(T a, T b) { return a - b; }                                      \
	T name##_mul(T a, T b) { return a * b; }                                      \
	T name##_div(T a, T b) { return b ? a / b : 0; }                              \
	T name##_mod(T a, T b) { return b ? a % b : 0; }                              \
	T name##_div7(T a) { return a / 7; }                                          \
	T name##_mod10(T a) { return a % 10; }                                        \
	T name##_and(T a, T b) { return a & b; }                                      \
	T name##_or(T a, T b) { return a | b; }                                       \
	T name##_xor(T a, T b) { return a ^ b; }                                      \
	T name##_not(T a) { return (T)~a; }                                           \
	T name##_neg(T a) { return (T)-a; }                                           \
	T name##_shl(T a, int n) { return (T)(a << (n & 7)); }                        \
	T name##_shr(T a, int n) { return (T)(a >> (n & 7)); }                        \
	T name##_shl3(T a) { return (T)(a << 3); }                                    \
	T name##_shr1(T a) { return (T)(a >> 1); }                                    \
	int name##_lt(T a, T b) { return a < b; }                                     \
	int name##_le(T a, T b) { return a <= b; }                                    \
	int name##_eq(T a, T b) { return a == b; }                                    \
	T name##_max(T a, T b) { return a > b ? a : b; }                              \
	T name##_min(T a, T b) { return a < b ? a : b; }                              \
	T name##_inc_mem(T *p) { return ++*p; }                                       \
	void name##_add_mem(T *p, T v) { *p += v; }                                   \
	void name##_sub_mem(T *p, T v) { *p -= v; }                                   \
	void name##_and_mem(T *p) { *p &= (T)0x5a; }                                  \
	void name##_or_imm(T *p) { *p |= (T)0x40; }                                   \
	T name##_sum(const T *p, int n) { T s = 0; for (int i = 0; i < n; i++) s += p[i]; return s; } \
	int64_t name##_widen(T a) { return (int64_t)a; }                              \
	uint64_t name##_uwiden(T a) { return (uint64_t)a; }                           \
	T name##_sel(T a, T b, int c) { return c ? a : b; }

#define ABS(T, name) T name##_abs(T a) { return a < 0 ? (T)-a : a; }

ARITH(int8_t, s8)
ARITH(uint8_t, u8)
ARITH(int16_t, s16)
ARITH(uint16_t, u16)
ARITH(int32_t, s32)
ARITH(uint32_t, u32)
ARITH(int64_t, s64)
ARITH(uint64_t, u64)
ABS(int8_t, s8)
ABS(int16_t, s16)
ABS(int32_t, s32)
ABS(int64_t, s64)

/* high halves and overflow checks */
uint64_t mulhi_u64(uint64_t a, uint64_t b) { return (uint64_t)(((unsigned __int128)a * b) >> 64); }
int64_t mulhi_s64(int64_t a, int64_t b) { return (int64_t)(((__int128)a * b) >> 64); }
uint32_t mulhi_u32(uint32_t a, uint32_t b) { return (uint32_t)(((uint64_t)a * b) >> 32); }
int add_ovf(int64_t a, int64_t b, int64_t *r) { return __builtin_add_overflow(a, b, r); }
int sub_ovf(int32_t a, int32_t b, int32_t *r) { return __builtin_sub_overflow(a, b, r); }
int mul_ovf(int64_t a, int64_t b, int64_t *r) { return __builtin_mul_overflow(a, b, r); }
int umul_ovf(uint64_t a, uint64_t b, uint64_t *r) { return __builtin_mul_overflow(a, b, r); }
int uadd_ovf(uint32_t a, uint32_t b, uint32_t *r) { return __builtin_add_overflow(a, b, r); }
int16_t mul3_16(int16_t a) { return (int16_t)(a * 1000); }
int64_t mul_imm(int64_t a) { return a * 100000; }
int64_t mul_lea(int64_t a) { return a * 9 + 3; }
int64_t div_pow2(int64_t a) { return a / 16; }
int32_t sdiv_const(int32_t a) { return a / -3; }
uint64_t udiv_big(uint64_t a) { return a / 1000000007ull; }
int64_t smod_big(int64_t a) { return a % 1000000007ll; }

/* 128-bit */
unsigned __int128 add128(unsigned __int128 a, unsigned __int128 b) { return a + b; }
unsigned __int128 sub128(unsigned __int128 a, unsigned __int128 b) { return a - b; }
unsigned __int128 mul128(unsigned __int128 a, unsigned __int128 b) { return a * b; }
__int128 neg128(__int128 a) { return -a; }
unsigned __int128 shl128(unsigned __int128 a, unsigned n) { return a << (n & 127); }
unsigned __int128 shr128(unsigned __int128 a, unsigned n) { return a >> (n & 127); }
__int128 sar128(__int128 a, unsigned n) { return a >> (n & 127); }
int lt128(__int128 a, __int128 b) { return a < b; }
int ult128(unsigned __int128 a, unsigned __int128 b) { return a < b; }

/* comparisons into flags, setcc, cmov */
int cmp_chain(int64_t a, int64_t b, int64_t c) { return (a < b) + (b <= c) * 2 + (a == c) * 4 + (a != b) * 8; }
int ucmp_chain(uint64_t a, uint64_t b) { return (a < b) | (a > b) << 1 | (a >= b) << 2 | (a <= b) << 3; }
int sign_test(int32_t a) { return a < 0 ? -1 : a > 0; }
int parity8(uint8_t a) { return __builtin_parity(a); }
int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }
uint8_t sat_add_u8(uint8_t a, uint8_t b) { unsigned s = (unsigned)a + b; return s > 255 ? 255 : (uint8_t)s; }

/* sign/zero extension between every pair of widths */
int64_t sx8(int8_t a) { return a; }
int64_t sx16(int16_t a) { return a; }
int64_t sx32(int32_t a) { return a; }
uint64_t zx8(uint8_t a) { return a; }
uint64_t zx16(uint16_t a) { return a; }
uint64_t zx32(uint32_t a) { return a; }
int32_t sx8_32(int8_t a) { return a; }
int16_t sx8_16(int8_t a) { return a; }
uint16_t zx8_16(uint8_t a) { return a; }
int32_t sx16_32(int16_t a) { return a; }
int64_t sx_mem(const int8_t *p, const int16_t *q, const int32_t *r) { return *p + *q + *r; }
uint64_t zx_mem(const uint8_t *p, const uint16_t *q, const uint32_t *r) { return *p + *q + *r; }
uint8_t hi_byte(uint16_t a) { return (uint8_t)(a >> 8); }
uint32_t swap_halves(uint32_t a) { return (a >> 16) | (a << 16); }

/* mixed widths in one expression */
int64_t mixed(int8_t a, uint16_t b, int32_t c, uint64_t d) { return (int64_t)(a * b + c - (int64_t)(d >> 3)); }
int32_t cvt_chain(int64_t x) { return (int32_t)(int16_t)(int8_t)x; }
