/* vmcb.c — raw VMCB field access in machine memory and exit-code names. */
#include <string.h>

#include "vmcb.h"

uint64_t vmcb_get(struct vl_machine *m, uint64_t vmcb, unsigned off, unsigned size)
{
	const uint8_t *p = vmcb_ptr(m, vmcb, off);
	uint64_t v = 0;
	if (p && vmcb + off + size <= m->mem_size)
		memcpy(&v, p, size);   /* x86 hosts: little-endian as the VMCB */
	return v;
}

void vmcb_set(struct vl_machine *m, uint64_t vmcb, unsigned off, unsigned size, uint64_t val)
{
	uint8_t *p = vmcb_ptr(m, vmcb, off);
	if (p && vmcb + off + size <= m->mem_size)
		memcpy(p, &val, size);
}

const char *svm_exit_name(uint32_t code)
{
	switch (code) {
#define X(n, c) case (c): return #n;
	SVM_EXIT_CODES(X)
#undef X
	default: return "VMEXIT_UNKNOWN";
	}
}
