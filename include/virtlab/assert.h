/* assert.h — compile-away assertions for machine and engine invariants
 * (SQLite's assert / ALWAYS / NEVER in sqliteInt.h).
 *
 * On in test builds (VL_DEBUG is defined by `make SAN=1`, i.e. `make test`,
 * or by CPPFLAGS=-DVL_DEBUG); in release builds they cost nothing:
 *   VL_ASSERT(x)  x must hold; a failure aborts with file:line and the
 *                 expression. Off: not evaluated at all (no side effects in x).
 *   ALWAYS(x)     x is believed always true, but the code handles the false
 *                 case anyway: `if (ALWAYS(slot < n)) ... else recover`.
 *   NEVER(x)      x is believed never true, handled anyway:
 *                 `if (NEVER(p == NULL)) return error`.
 *                 Both evaluate x exactly once in every build; with VL_DEBUG
 *                 a violated belief aborts, without it the recovery runs.
 * Never assert on anything a guest, a profile or a command line can cause:
 * those are inputs (a fault, a one-line error), not invariants. */
#ifndef VIRTLAB_ASSERT_H
#define VIRTLAB_ASSERT_H

#ifdef VL_DEBUG
/* Print "file:line: assertion failed: expr" to stderr and abort(). */
_Noreturn void vl_assert_fail(const char *file, int line, const char *expr);
#define VL_ASSERT(x) ((x) ? (void)0 : vl_assert_fail(__FILE__, __LINE__, #x))
#define ALWAYS(x)    ((x) ? 1 : (vl_assert_fail(__FILE__, __LINE__, "ALWAYS(" #x ")"), 0))
#define NEVER(x)     ((x) ? (vl_assert_fail(__FILE__, __LINE__, "NEVER(" #x ")"), 1) : 0)
#define VL_DEBUG_ON 1
#else
#define VL_ASSERT(x) ((void)0)
#define ALWAYS(x)    (x)
#define NEVER(x)     (x)
#define VL_DEBUG_ON 0
#endif

#endif
