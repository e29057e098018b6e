/* compute.h — the `compute` workload's integer kernel, one source for the
 * guest user program (workloads/user/uprog.c) and the host twin
 * (workloads/host/twin.c): xorshift64 mixed into a 64-entry table (loads,
 * stores, shifts, multiply). Freestanding: <stdint.h> only. */
#ifndef VL_WORKLOAD_COMPUTE_H
#define VL_WORKLOAD_COMPUTE_H

#include <stdint.h>

#define WL_COMPUTE_SEED 88172645463325252ull
#define WL_COMPUTE_TAB 64

/* One iteration: advance *x, mix it into tab[], return the value the
 * checksum accumulates. */
static inline uint64_t wl_compute_step(uint64_t *x, uint64_t *tab, uint64_t i)
{
	uint64_t v = *x;
	v ^= v << 13; v ^= v >> 7; v ^= v << 17;
	*x = v;
	uint64_t *s = &tab[v & (WL_COMPUTE_TAB - 1)];
	*s = *s * 31 + (v >> 11);
	return *s ^ i;
}

#endif
