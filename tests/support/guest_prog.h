/* guest_prog.h — host side of the test guests in tests/machine/progs/:
 * boot one on a fresh machine, look up its symbols (from the ELF symbol
 * table: an oracle independent of the machine), and read what it recorded
 * (the event log and res[] of rt.S, see prog.h). */
#ifndef VL_TEST_GUEST_PROG_H
#define VL_TEST_GUEST_PROG_H
#include <stdbool.h>
#include <stdint.h>

#include "virtlab/machine.h"
#include "../machine/progs/prog.h"

/* Machine with `ram_mb` of RAM (0 = 16) and the image VL_PROGS_DIR/<prog>.elf
 * loaded with `cmdline`; NULL (reason on stderr) when it cannot be built. */
struct vl_machine *gp_boot(const struct vl_profile *p, const char *prog, const char *cmdline, uint64_t ram_mb);
/* Path of a test guest image. */
const char *gp_path(const char *prog, char *buf, size_t n);
/* Address of symbol `name` in the image; aborts when missing (a test bug). */
uint64_t gp_sym(const char *prog, const char *name);

uint64_t gp_rd64(struct vl_machine *m, uint64_t pa);
void gp_wr64(struct vl_machine *m, uint64_t pa, uint64_t v);

/* One log entry (prog.h LOG_*), decoded. */
struct gp_ent {
	uint64_t q[LOG_QW];
	unsigned vec;
	uint64_t ersp, cr2, hfl, hcs, hss, tsc, tag;
	/* the frame, with the error code split off when the vector pushes one */
	bool has_err;
	uint64_t err, rip, cs, rflags, rsp, ss;
};
unsigned gp_nlog(struct vl_machine *m, const char *prog);
void gp_log(struct vl_machine *m, const char *prog, unsigned k, struct gp_ent *e);
/* The nth (0-based) entry tagged `tag`; false when there is none. */
bool gp_find(struct vl_machine *m, const char *prog, uint64_t tag, unsigned nth, struct gp_ent *e);
/* Number of entries tagged `tag`. */
unsigned gp_count(struct vl_machine *m, const char *prog, uint64_t tag);
/* res[idx] of rt.S. */
uint64_t gp_res(struct vl_machine *m, const char *prog, unsigned idx);

#endif
