/* disasm.c — diagnostics: guest code disassembled with Capstone (triple
 * faults, --trace lines). Reads guest memory through a quiet walk, so a
 * disassembly never changes a count, a cycle, an A/D bit or a TLB. */
#include <capstone/capstone.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Host-physical address of guest-virtual va as the CPU would see it now, without side effects. */
static bool disasm_xlate(struct vl_machine *m, uint64_t va, uint64_t *pa)
{
	struct vl_walk_res r;
	if (!(m->cpu.cr0 & VL_CR0_PG)) {
		*pa = va;
		return !m->nested.enabled;   /* paging off under nested paging: not needed for diagnostics */
	}
	struct vl_walk_req rq = { .root = m->cpu.cr3 & ~0xfffull & ((1ull << 52) - 1), .fmt = VL_PT_X86,
				  .acc = VL_ACC_X, .nested = m->nested.enabled, .quiet = true };
	if (vl_walk(m, &rq, va, &r) != 0 && r.status != VL_WALK_PF)
		return false;
	if (r.status != VL_WALK_OK) {
		/* a permission failure still gives a translation for reading bytes */
		if (!r.levels || !(r.pte[r.levels - 1] & 1))
			return false;
		rq.acc = VL_ACC_R;
		if (vl_walk(m, &rq, va, &r) != 0)
			return false;
	}
	*pa = r.pa;
	return true;
}

size_t vl_disasm(struct vl_machine *m, uint64_t va, int n, char *buf, size_t buflen)
{
	uint8_t code[15 * 8];
	size_t have = 0, want = (size_t)(n > 0 ? n : 1) * 15, out = 0;
	csh h;
	cs_insn *insn = NULL;

	if (!buflen)
		return 0;
	buf[0] = 0;
	if (want > sizeof code)
		want = sizeof code;
	while (have < want) {
		uint64_t pa;
		if (!disasm_xlate(m, va + have, &pa))
			break;
		size_t chunk = 4096 - ((va + have) & 0xfff);
		if (chunk > want - have)
			chunk = want - have;
		for (size_t k = 0; k < chunk; k++)
			code[have + k] = pa + k < m->mem_size ? m->mem[pa + k] : 0xff;
		have += chunk;
	}
	if (!have) {
		out = (size_t)snprintf(buf, buflen, "%#" PRIx64 ": (not mapped)\n", va);
		return out < buflen ? out : buflen - 1;
	}
	/* the mode the CPU decodes in now: 64-bit (IA-32e and CS.L) or 32-bit */
	bool m64 = (m->cpu.efer & VL_EFER_LMA) && (m->cpu.seg[VL_CS].attr & 0x2000);
	if (cs_open(CS_ARCH_X86, m64 ? CS_MODE_64 : CS_MODE_32, &h) != CS_ERR_OK) {
		out = (size_t)snprintf(buf, buflen, "%#" PRIx64 ": (capstone unavailable)\n", va);
		return out < buflen ? out : buflen - 1;
	}
	size_t cnt = cs_disasm(h, code, have, va, (size_t)(n > 0 ? n : 1), &insn);
	for (size_t k = 0; k < cnt && out < buflen; k++) {
		char bytes[48] = "";
		size_t bl = 0;
		for (size_t b = 0; b < insn[k].size && bl + 3 < sizeof bytes; b++)
			bl += (size_t)snprintf(bytes + bl, sizeof bytes - bl, "%02x", insn[k].bytes[b]);
		int w = snprintf(buf + out, buflen - out, "%#" PRIx64 ": %-20s %s %s\n", insn[k].address, bytes,
				 insn[k].mnemonic, insn[k].op_str);
		if (w < 0)
			break;
		out += (size_t)w;
	}
	if (!cnt && out < buflen) {
		int w = snprintf(buf + out, buflen - out, "%#" PRIx64 ": %02x %02x %02x %02x (not decodable)\n", va, code[0],
				 have > 1 ? code[1] : 0, have > 2 ? code[2] : 0, have > 3 ? code[3] : 0);
		if (w > 0)
			out += (size_t)w;
	}
	if (insn)
		cs_free(insn, cnt);
	cs_close(&h);
	return out < buflen ? out : buflen - 1;
}
