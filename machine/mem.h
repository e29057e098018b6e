/* mem.h — platform-half private state for memory, TLBs, walks. Owned by the platform half. */
#ifndef VL_MACHINE_MEM_H
#define VL_MACHINE_MEM_H
#include <stdint.h>
struct vl_mem_priv {
	uint8_t *code_frames;         /* per host frame: nonzero if the decode cache holds code from it */
	uint64_t monitor_next;        /* next free monitor page */
};
#endif
