/* isa_bits.c — harvest program for the decoder test (never run): shifts
 * and rotates by constants and by CL, double-width shifts, bit scans and
 * counts, byte swaps, bit tests and bit-field tricks at every width. */
#include <stdint.h>

uint64_t rol64(uint64_t x, unsigned n) { return (x << (n & 63)) | (x >> ((64 - n) & 63)); }
uint64_t ror64(uint64_t x, unsigned n) { return (x >> (n & 63)) | (x << ((64 - n) & 63)); }
uint32_t rol32(uint32_t x, unsigned n) { return (x << (n & 31)) | (x >> ((32 - n) & 31)); }
uint32_t ror32_7(uint32_t x) { return (x >> 7) | (x << 25); }
uint16_t rol16(uint16_t x, unsigned n) { return (uint16_t)((x << (n & 15)) | (x >> ((16 - n) & 15))); }
uint16_t rol16_8(uint16_t x) { return (uint16_t)((x << 8) | (x >> 8)); }
uint8_t rol8(uint8_t x, unsigned n) { return (uint8_t)((x << (n & 7)) | (x >> ((8 - n) & 7))); }
uint8_t ror8_1(uint8_t x) { return (uint8_t)((x >> 1) | (x << 7)); }
uint64_t shl_var(uint64_t x, unsigned n) { return x << (n & 63); }
int64_t sar_var(int64_t x, unsigned n) { return x >> (n & 63); }
int32_t sar32_var(int32_t x, unsigned n) { return x >> (n & 31); }
int16_t sar16(int16_t x) { return (int16_t)(x >> 3); }
int8_t sar8(int8_t x, unsigned n) { return (int8_t)(x >> (n & 7)); }
uint32_t shr32_var(uint32_t x, unsigned n) { return x >> (n & 31); }
void shl_mem(uint64_t *p, unsigned n) { *p <<= (n & 63); }
void sar_mem1(int32_t *p) { *p >>= 1; }
void rol_mem(uint32_t *p) { *p = (*p << 5) | (*p >> 27); }
uint64_t shld64(uint64_t hi, uint64_t lo, unsigned n) { n &= 63; return n ? (hi << n) | (lo >> (64 - n)) : hi; }
uint64_t shrd64(uint64_t hi, uint64_t lo, unsigned n) { n &= 63; return n ? (lo >> n) | (hi << (64 - n)) : lo; }
uint32_t shld32_imm(uint32_t hi, uint32_t lo) { return (hi << 9) | (lo >> 23); }

int ctz64(uint64_t x) { return x ? __builtin_ctzll(x) : 64; }
int clz64(uint64_t x) { return x ? __builtin_clzll(x) : 64; }
int ctz32(uint32_t x) { return __builtin_ctz(x | 1u << 31); }
int clz32(uint32_t x) { return __builtin_clz(x | 1); }
int ffs64(int64_t x) { return __builtin_ffsll(x); }
int ffs32(int x) { return __builtin_ffs(x); }
int popc64(uint64_t x) { return __builtin_popcountll(x); }
int popc32(uint32_t x) { return __builtin_popcount(x); }
int log2_u64(uint64_t x) { return 63 - __builtin_clzll(x | 1); }
uint64_t bswap64(uint64_t x) { return __builtin_bswap64(x); }
uint32_t bswap32(uint32_t x) { return __builtin_bswap32(x); }
uint16_t bswap16(uint16_t x) { return __builtin_bswap16(x); }
void bswap_mem(uint32_t *p) { *p = __builtin_bswap32(*p); }
uint64_t lowest_bit(uint64_t x) { return x & -x; }
uint64_t clear_lowest(uint64_t x) { return x & (x - 1); }
uint64_t round_pow2(uint64_t x) { return x <= 1 ? 1 : 1ull << (64 - __builtin_clzll(x - 1)); }
int is_pow2(uint32_t x) { return x && !(x & (x - 1)); }

/* bit tests: bt/bts/btr/btc on registers and memory */
int test_bit(uint64_t x, unsigned n) { return (x >> (n & 63)) & 1; }
uint64_t set_bit(uint64_t x, unsigned n) { return x | (1ull << (n & 63)); }
uint64_t clr_bit(uint64_t x, unsigned n) { return x & ~(1ull << (n & 63)); }
uint64_t flip_bit(uint64_t x, unsigned n) { return x ^ (1ull << (n & 63)); }
uint32_t set_bit32(uint32_t x, unsigned n) { return x | (1u << (n & 31)); }
int test_bit_arr(const uint64_t *bm, unsigned n) { return (bm[n / 64] >> (n % 64)) & 1; }
void set_bit_arr(uint64_t *bm, unsigned n) { bm[n / 64] |= 1ull << (n % 64); }
void clr_bit_arr(uint64_t *bm, unsigned n) { bm[n / 64] &= ~(1ull << (n % 64)); }
int test_bit_k(uint64_t x) { return (x >> 37) & 1; }
/* branching on one bit is where both compilers pick BT */
void on_bit(void);
void br_bit(uint64_t x, unsigned n) { if ((x >> (n & 63)) & 1) on_bit(); }
void br_bit_mask(uint64_t x, unsigned n) { if (x & (1ull << (n & 63))) on_bit(); }
void br_bit_k(uint64_t x) { if (x & (1ull << 40)) on_bit(); }
void br_bit_mem(const uint64_t *p, unsigned n) { if ((*p >> (n & 63)) & 1) on_bit(); }
uint64_t set_bit_k(uint64_t x) { return x | (1ull << 45); }

/* bit fields */
struct bf {
	unsigned a : 3, b : 7, c : 1, d : 13;
	signed e : 5;
	uint64_t f : 40, g : 24;
};
unsigned bf_get(const struct bf *p) { return p->a + p->b + p->c + p->d + (unsigned)p->e; }
uint64_t bf_get64(const struct bf *p) { return p->f ^ p->g; }
void bf_set(struct bf *p, unsigned v) { p->b = v; p->e = (int)v; p->f = (uint64_t)v << 20; p->c = !v; }
uint32_t extract(uint32_t x) { return (x >> 11) & 0x3f; }
uint64_t insert(uint64_t x, uint64_t v) { return (x & ~(0xffull << 16)) | ((v & 0xff) << 16); }

/* hashing and mixing (shifts, rotates, multiplies together) */
uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}
uint32_t crc_sw(const uint8_t *p, int n)
{
	uint32_t c = ~0u;
	for (int i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
	}
	return ~c;
}
uint32_t gray(uint32_t x) { return x ^ (x >> 1); }
uint64_t xorshift(uint64_t *s) { uint64_t x = *s; x ^= x << 13; x ^= x >> 7; x ^= x << 17; return *s = x; }
