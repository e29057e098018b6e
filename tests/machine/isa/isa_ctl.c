/* isa_ctl.c — harvest program for the decoder test (never run): control
 * flow as freestanding kernels write it — __builtin_setjmp/longjmp,
 * varargs (va_list with -mgeneral-regs-only), indirect calls through
 * tables, tail calls, recursion, computed goto, loops of every shape,
 * noreturn paths, and a hand-written context save in the setjmp style. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* setjmp-like: the builtin pair (GCC and Clang expand it inline) */
static void *jb[5];
__attribute__((noinline)) void do_longjmp(void) { __builtin_longjmp(jb, 1); }
int try_call(void (*f)(void))
{
	if (__builtin_setjmp(jb))
		return 1;
	f();
	return 0;
}

/* a kernel-style context (callee-saved registers), saved and restored in asm */
struct ctx { uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip; };
__attribute__((naked)) int ctx_save(struct ctx *c)
{
	__asm__ volatile("mov %rbx, 0(%rdi)\n\tmov %rbp, 8(%rdi)\n\tmov %r12, 16(%rdi)\n\t"
			 "mov %r13, 24(%rdi)\n\tmov %r14, 32(%rdi)\n\tmov %r15, 40(%rdi)\n\t"
			 "lea 8(%rsp), %rdx\n\tmov %rdx, 48(%rdi)\n\tmov (%rsp), %rdx\n\tmov %rdx, 56(%rdi)\n\t"
			 "xor %eax, %eax\n\tret");
}
__attribute__((naked)) void ctx_restore(const struct ctx *c, int v)
{
	__asm__ volatile("mov 0(%rdi), %rbx\n\tmov 8(%rdi), %rbp\n\tmov 16(%rdi), %r12\n\t"
			 "mov 24(%rdi), %r13\n\tmov 32(%rdi), %r14\n\tmov 40(%rdi), %r15\n\t"
			 "mov 48(%rdi), %rsp\n\tmov %esi, %eax\n\tjmp *56(%rdi)");
}

/* varargs */
long sum_va(int n, ...)
{
	va_list ap;
	long s = 0;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		s += va_arg(ap, long);
	va_end(ap);
	return s;
}
int vfmt(char *out, const char *fmt, va_list ap)
{
	int n = 0;
	for (; *fmt; fmt++) {
		if (*fmt != '%') { out[n++] = *fmt; continue; }
		switch (*++fmt) {
		case 'd': { int v = va_arg(ap, int); out[n++] = (char)('0' + (v % 10)); break; }
		case 'l': { long v = va_arg(ap, long); out[n++] = (char)('0' + (v & 7)); break; }
		case 's': { const char *s = va_arg(ap, const char *); while (*s) out[n++] = *s++; break; }
		case 'p': { void *p = va_arg(ap, void *); out[n++] = p ? 'p' : '0'; break; }
		default: out[n++] = '?'; break;
		}
	}
	out[n] = 0;
	return n;
}
int fmt(char *out, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = vfmt(out, f, ap);
	va_end(ap);
	return n;
}
int call_fmt(char *o) { return fmt(o, "%d %l %s %p", 7, 9l, "x", (void *)o) + sum_va(6, 1l, 2l, 3l, 4l, 5l, 6l, 7l); }

/* indirect calls and tail calls */
typedef long (*binop)(long, long);
static long op_add(long a, long b) { return a + b; }
static long op_sub(long a, long b) { return a - b; }
static long op_mul(long a, long b) { return a * b; }
static const binop ops[] = { op_add, op_sub, op_mul };
long apply(unsigned k, long a, long b) { return ops[k % 3](a, b); }
long apply_ptr(binop f, long a, long b) { return f(a, b) + 1; }
long tail(binop f, long a) { return f(a, a); }
struct vt { long (*get)(void *); void (*set)(void *, long); };
long via_vtable(const struct vt *v, void *o) { v->set(o, 3); return v->get(o); }
long many_args(long a, long b, long c, long d, long e, long f, long g, long h, long i) { return a + b * c - d + e * f - g + h * i; }
long call_many(long x) { return many_args(x, 2, 3, 4, 5, 6, 7, 8, x + 9); }

/* recursion */
unsigned long fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
long ack(long m, long n) { return m == 0 ? n + 1 : n == 0 ? ack(m - 1, 1) : ack(m - 1, ack(m, n - 1)); }
struct node { struct node *l, *r; long v; };
long tree_sum(const struct node *t) { return t ? t->v + tree_sum(t->l) + tree_sum(t->r) : 0; }

/* computed goto: an interpreter loop */
long interp(const uint8_t *code, long acc)
{
	static void *const tab[] = { &&op_inc, &&op_dbl, &&op_neg, &&op_end };
#define NEXT goto *tab[*code++ & 3]
	NEXT;
op_inc: acc++; NEXT;
op_dbl: acc *= 2; NEXT;
op_neg: acc = -acc; NEXT;
op_end: return acc;
#undef NEXT
}

/* loops */
long nested(int n, int m)
{
	long s = 0;
	for (int i = 0; i < n; i++)
		for (int j = m; j > 0; j--)
			s += (long)i * j ^ (s >> 3);
	return s;
}
long do_while(unsigned long x) { long n = 0; do { x /= 3; n++; } while (x); return n; }
long until_zero(const long *p) { long n = 0; while (*p++) n++; return n; }
int collatz(unsigned long x) { int n = 0; while (x != 1) { x = (x & 1) ? 3 * x + 1 : x / 2; n++; } return n; }

__attribute__((noreturn)) void die(void) { for (;;) __asm__ volatile(""); }
int checked(int x) { if (x < 0) die(); return x * 2; }
