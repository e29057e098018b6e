/* fmt.c — tiny snprintf and string helpers, compiled into both the kernel
 * and the user programs (freestanding, integer only). Supports %s %c %d %i
 * %u %x %p with l/ll, and width/zero-pad for numbers. */
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>

int vl_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int vl_snprintf(char *buf, size_t n, const char *fmt, ...);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* memset/memcpy as Linux does them with fast string instructions: whole
 * 8-byte words with REP STOSQ / REP MOVSQ (clear_page_rep, memcpy's rep
 * movsq path), any other size or alignment with REP STOSB / REP MOVSB. */
void *memset(void *d, int c, size_t n)
{
	void *p = d;
	if (!(((unsigned long)d | n) & 7)) {
		unsigned long v = 0x0101010101010101ul * (unsigned char)c, q = n / 8;
		__asm__ volatile("rep stosq" : "+D"(p), "+c"(q) : "a"(v) : "memory");
	} else {
		__asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
	}
	return d;
}
void *memcpy(void *d, const void *s, size_t n)
{
	void *p = d;
	if (!(((unsigned long)d | (unsigned long)s | n) & 7)) {
		size_t q = n / 8;
		__asm__ volatile("rep movsq" : "+D"(p), "+S"(s), "+c"(q) : : "memory");
	} else {
		__asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) : : "memory");
	}
	return d;
}
int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;
	for (; n; n--, p++, q++) if (*p != *q) return *p - *q;
	return 0;
}
size_t strlen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
int strcmp(const char *a, const char *b) { while (*a && *a == *b) a++, b++; return (unsigned char)*a - (unsigned char)*b; }
int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) { if (*a != *b) return (unsigned char)*a - (unsigned char)*b; if (!*a) return 0; }
	return 0;
}

struct out { char *b; size_t n, i; };
static void put(struct out *o, char c) { if (o->i + 1 < o->n) o->b[o->i] = c; o->i++; }

int vl_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct out o = { buf, n, 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') { put(&o, *fmt); continue; }
		fmt++;
		int zero = 0, width = 0, lng = 0;
		if (*fmt == '0') { zero = 1; fmt++; }
		while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') { lng = 1; fmt++; }
		char tmp[24]; int len = 0; uint64_t u = 0; int neg = 0, base = 10;
		switch (*fmt) {
		case 's': { const char *s = va_arg(ap, const char *); if (!s) s = "(null)"; while (*s) put(&o, *s++); continue; }
		case 'c': put(&o, (char)va_arg(ap, int)); continue;
		case '%': put(&o, '%'); continue;
		case 'd': case 'i': { int64_t v = lng ? va_arg(ap, long) : va_arg(ap, int); if (v < 0) { neg = 1; u = (uint64_t)-v; } else u = (uint64_t)v; break; }
		case 'u': u = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned); break;
		case 'x': u = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned); base = 16; break;
		case 'p': u = (uint64_t)va_arg(ap, void *); base = 16; put(&o, '0'); put(&o, 'x'); break;
		default: put(&o, '?'); continue;
		}
		do { int d = (int)(u % (unsigned)base); tmp[len++] = (char)(d < 10 ? '0' + d : 'a' + d - 10); u /= (unsigned)base; } while (u);
		if (neg) put(&o, '-');
		for (int k = len; k < width; k++) put(&o, zero ? '0' : ' ');
		while (len) put(&o, tmp[--len]);
	}
	if (o.n) o.b[o.i < o.n ? o.i : o.n - 1] = 0;
	return (int)o.i;
}

int vl_snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap; va_start(ap, fmt);
	int r = vl_vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}
