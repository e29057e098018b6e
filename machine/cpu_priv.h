/* cpu_priv.h — CPU-half private state (decode cache, last vectors). Owned by the CPU half. */
#ifndef VL_MACHINE_CPU_PRIV_H
#define VL_MACHINE_CPU_PRIV_H
#include <stdint.h>
struct vl_cpu_priv {
	void *dcache;                 /* decode cache */
	unsigned last_vec[8];         /* ring of recent vectors for the triple-fault diagnostic */
	unsigned last_vec_pos;
};
#endif
