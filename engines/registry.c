/* registry.c — every CPU engine, one line each. A new engine is a new
 * directory plus one line here (and its extern below). Order = `list engines`
 * order and the matrix's column order. */
#include <string.h>

#include "virtlab/engine.h"

extern const struct vl_engine_ops vl_engine_native;
extern const struct vl_engine_ops vl_engine_vtx, vl_engine_svm;
extern const struct vl_engine_ops vl_engine_qemu_tcg, vl_engine_qemu_kvm;
extern const struct vl_engine_ops vl_engine_host;
extern const struct vl_engine_ops vl_engine_trap;
extern const struct vl_engine_ops vl_engine_pv;
extern const struct vl_engine_ops vl_engine_bt;

/* DESIGN.md's order: the model engines of the matrix (native, bt, vtx, svm,
 * pv), the counterexample (trap), then the real engines. */
const struct vl_engine_ops *const vl_engines[] = {
	&vl_engine_native,
	&vl_engine_bt,
	&vl_engine_vtx, &vl_engine_svm,
	&vl_engine_pv,
	&vl_engine_trap,
	&vl_engine_qemu_tcg,
	&vl_engine_qemu_kvm,
	&vl_engine_host,
};
const size_t vl_engine_count = sizeof vl_engines / sizeof vl_engines[0];

const struct vl_engine_ops *vl_engine_find(const char *name)
{
	for (size_t i = 0; name && i < vl_engine_count; i++)
		if (!strcmp(vl_engines[i]->name, name))
			return vl_engines[i];
	return NULL;
}
