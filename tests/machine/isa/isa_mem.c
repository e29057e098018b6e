/* isa_mem.c — harvest program for the decoder test (never run): struct
 * copies and clears (REP MOVS/STOS at -Os and for large sizes), memset,
 * byte/word loops, switch jump tables, addressing forms (SIB, RIP-relative,
 * absolute with -mcmodel=kernel), globals of every width, string scans. */
#include <stddef.h>
#include <stdint.h>

struct big { uint64_t q[40]; uint8_t tail[13]; };
struct mid { uint32_t a, b, c; uint16_t d; uint8_t e; };

struct big g_big;
struct mid g_mid[16];
uint8_t g_b[256];
uint16_t g_w[64];
uint32_t g_d[64];
uint64_t g_q[64];
static volatile uint8_t g_vb;

void copy_big(struct big *d, const struct big *s) { *d = *s; }
void clear_big(struct big *d) { *d = (struct big){ 0 }; }
struct big ret_big(int v) { struct big b; __builtin_memset(&b, 0, sizeof b); b.q[3] = (uint64_t)v; return b; }
void copy_mid(struct mid *d, const struct mid *s) { *d = *s; }
void copy_arr(struct mid *d, int i, int j) { d[i] = g_mid[j & 15]; }
void set_bytes(uint8_t *p, size_t n, int v) { __builtin_memset(p, v, n); }
void set_fixed(uint8_t *p) { __builtin_memset(p, 0xa5, 333); }
void copy_fixed(uint8_t *d, const uint8_t *s) { __builtin_memcpy(d, s, 517); }
void move_bytes(uint8_t *d, const uint8_t *s, size_t n) { __builtin_memmove(d, s, n); }
int cmp_bytes(const uint8_t *a, const uint8_t *b, size_t n) { return __builtin_memcmp(a, b, n); }
void copy_loop(uint64_t *d, const uint64_t *s, size_t n) { for (size_t i = 0; i < n; i++) d[i] = s[i]; }
void fill_loop(uint32_t *d, size_t n, uint32_t v) { for (size_t i = 0; i < n; i++) d[i] = v; }
void zero_loop(uint8_t *d, size_t n) { for (size_t i = 0; i < n; i++) d[i] = 0; }
size_t my_strlen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
const char *my_strchr(const char *s, int c) { for (; *s; s++) if (*s == (char)c) return s; return 0; }
int my_strcmp(const char *a, const char *b) { while (*a && *a == *b) { a++; b++; } return (unsigned char)*a - (unsigned char)*b; }
void reverse(uint8_t *p, size_t n) { for (size_t i = 0; i < n / 2; i++) { uint8_t t = p[i]; p[i] = p[n - 1 - i]; p[n - 1 - i] = t; } }

/* addressing forms */
uint64_t idx_q(size_t i) { return g_q[i & 63]; }
uint32_t idx_d(int i) { return g_d[i & 63]; }
uint16_t idx_w(long i) { return g_w[i & 63]; }
uint8_t idx_b(unsigned i) { return g_b[i & 255]; }
void st_q(size_t i, uint64_t v) { g_q[i & 63] = v; }
void st_b(unsigned i, uint8_t v) { g_b[i & 255] = v; }
void st_imm(void) { g_q[5] = 0x123456789abcdefull; g_d[7] = 0xdeadbeef; g_w[3] = 0x1234; g_b[9] = 0x56; }
uint64_t two_d(const uint64_t (*a)[8], int i, int j) { return a[i][j] + a[j][i]; }
uint32_t field(const struct mid *p, int i) { return p[i].c + p[i + 1].d + p[i - 1].e; }
uint8_t vol_rw(void) { g_vb = (uint8_t)(g_vb + 1); return g_vb; }
uint64_t *addr_of(int i) { return &g_q[i]; }
const char *str_lit(int i) { static const char *const t[] = { "zero", "one", "two", "three" }; return t[i & 3]; }
int64_t neg_idx(const int64_t *p, long i) { return p[-i] + p[i - 3]; }
uint64_t big_disp(const uint8_t *p) { return p[0x12345] + p[-0x4000]; }

/* switch statements: dense (jump table), sparse (compare tree), on bytes */
int sw_dense(int x)
{
	switch (x) {
	case 0: return 11; case 1: return 23; case 2: return 37; case 3: return 41;
	case 4: return 53; case 5: return 67; case 6: return 71; case 7: return 83;
	case 8: return 97; case 9: return 101; case 10: return 113; case 11: return 127;
	default: return -1;
	}
}
long sw_call(int x, long a, long b)
{
	switch (x) {
	case 0: return a + b; case 1: return a - b; case 2: return a * b; case 3: return a & b;
	case 4: return a | b; case 5: return a ^ b; case 6: return a << (b & 7); case 7: return a >> (b & 7);
	case 8: return b ? a / b : 0; case 9: return b ? a % b : 0;
	}
	return 0;
}
int sw_sparse(unsigned x)
{
	switch (x) {
	case 3: return 1; case 100: return 2; case 1000: return 3; case 65536: return 4;
	case 0x7fffffff: return 5; case 17: return 6;
	}
	return 0;
}
int sw_char(char c)
{
	switch (c) {
	case 'a': case 'e': case 'i': case 'o': case 'u': return 1;
	case 'x': return 2; case 'y': return 3; case 'z': return 4; case 'q': return 5;
	default: return 0;
	}
}

/* stack arrays, alloca, variable-length arrays (frame pointers, ENTER/LEAVE-like) */
int vla_sum(int n)
{
	int a[n + 1];
	for (int i = 0; i <= n; i++)
		a[i] = i * i;
	int s = 0;
	for (int i = 0; i <= n; i++)
		s += a[i];
	return s;
}
uint64_t alloca_use(size_t n)
{
	uint8_t *p = __builtin_alloca(n + 16);
	for (size_t i = 0; i < n + 16; i++)
		p[i] = (uint8_t)i;
	return p[n];
}
uint64_t local_big(int k)
{
	volatile uint64_t arr[600];
	for (int i = 0; i < 600; i++)
		arr[i] = (uint64_t)(i * k);
	return arr[k % 600];
}
