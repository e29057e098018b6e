/* assert.c — the failure path of VL_ASSERT / ALWAYS / NEVER (include/virtlab/assert.h). */
#include <stdio.h>
#include <stdlib.h>

#include "virtlab/assert.h"

#ifdef VL_DEBUG
_Noreturn void vl_assert_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
	fflush(stderr);
	abort();
}
#endif
