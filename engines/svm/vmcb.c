/* vmcb.c — raw VMCB field access in machine memory and exit-code names. */
#include <string.h>

#include "svm_hw.h"

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

const struct vl_exit_desc svm_exit_table[] = {
#define X(n, c) { (c), #n },
	SVM_EXIT_CODES(X)
#undef X
};
const size_t svm_exit_table_len = sizeof svm_exit_table / sizeof svm_exit_table[0];
_Static_assert(sizeof svm_exit_table / sizeof svm_exit_table[0] <= VL_MAX_EXIT_SLOTS, "exit slots");

unsigned svm_exit_slot(uint32_t code)
{
	for (size_t i = 0; i < svm_exit_table_len; i++)
		if (svm_exit_table[i].code == code)
			return (unsigned)i;
	return VL_MAX_EXIT_SLOTS;
}
