/* vmcs.c — VMCS field table, encoding lookup, VMREAD/VMWRITE semantics. */
#include <string.h>

#include "vmx_hw.h"

static const struct { uint32_t enc; const char *name; } vmcs_fields[VMCS_NFIELDS] = {
#define X(n, e) { (e), #n },
	VMCS_FIELDS(X)
#undef X
};

int vmcs_slot_of(uint32_t enc)
{
	uint32_t full = enc & ~1u;
	if (vmcs_enc_high(enc) && vmcs_enc_width(enc) != VMCS_W64)
		return -1;    /* only 64-bit fields have a HIGH access encoding */
	for (int i = 0; i < VMCS_NFIELDS; i++)
		if (vmcs_fields[i].enc == full)
			return i;
	return -1;
}

const char *vmcs_field_name(int slot)
{
	return slot >= 0 && slot < VMCS_NFIELDS ? vmcs_fields[slot].name : "?";
}

uint32_t vmcs_field_encoding(int slot)
{
	return slot >= 0 && slot < VMCS_NFIELDS ? vmcs_fields[slot].enc : 0xffffffffu;
}

/* Width mask of a field; natural width is 64 bits in 64-bit mode. */
static uint64_t vmcs_width_mask(uint32_t enc)
{
	switch (vmcs_enc_width(enc)) {
	case VMCS_W16: return 0xffffu;
	case VMCS_W32: return 0xffffffffu;
	default:       return ~0ull;
	}
}

int vmcs_vmread(const struct vmcs *v, uint32_t enc, uint64_t *val)
{
	int s = vmcs_slot_of(enc);
	if (s < 0)
		return VMXERR_UNSUPPORTED_FIELD;
	uint64_t x = v->field[s];
	*val = vmcs_enc_high(enc) ? x >> 32 : x & vmcs_width_mask(enc);
	return 0;
}

int vmcs_vmwrite(struct vmcs *v, uint32_t enc, uint64_t val)
{
	int s = vmcs_slot_of(enc);
	if (s < 0)
		return VMXERR_UNSUPPORTED_FIELD;
	if (vmcs_enc_type(enc) == VMCS_T_EXITINFO)
		return VMXERR_READONLY_FIELD;
	if (vmcs_enc_high(enc))
		v->field[s] = (v->field[s] & 0xffffffffull) | (val << 32);
	else
		v->field[s] = val & vmcs_width_mask(enc);
	return 0;
}

void vmcs_hw_write(struct vmcs *v, uint32_t enc, uint64_t val)
{
	int s = vmcs_slot_of(enc);
	if (s >= 0)
		v->field[s] = val & vmcs_width_mask(enc);
}

void vmcs_clear(struct vmcs *v)
{
	memset(v->field, 0, sizeof v->field);
	v->launched = false;
	v->current = false;
}

const char *vmx_exit_reason_name(uint32_t reason)
{
	switch (reason & 0xffffu) {
#define X(n, c) case (c): return #n;
	VMX_EXIT_REASONS(X)
#undef X
	default: return "UNKNOWN";
	}
}

const struct vl_exit_desc vmx_exit_table[] = {
#define X(n, c) { (c), #n },
	VMX_EXIT_REASONS(X)
#undef X
};
const size_t vmx_exit_table_len = sizeof vmx_exit_table / sizeof vmx_exit_table[0];
_Static_assert(sizeof vmx_exit_table / sizeof vmx_exit_table[0] <= VL_MAX_EXIT_SLOTS, "exit slots");

unsigned vmx_exit_slot(uint32_t reason)
{
	for (size_t i = 0; i < vmx_exit_table_len; i++)
		if (vmx_exit_table[i].code == (reason & 0xffffu))
			return (unsigned)i;
	return VL_MAX_EXIT_SLOTS;   /* not countable by slot (vl_count_exit ignores it) */
}
