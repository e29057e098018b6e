/* run.c — one run: resolve (engine, mmu, workload, profile), build the guest
 * command line, run it on the machine (or hand it to an external engine),
 * and fill a vl_run_result. The only place outside the CLI that reads the
 * host clock: host_seconds/host_mips describe the simulator, not the model.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtlab/datadir.h"
#include "virtlab/engine.h"
#include "virtlab/machine.h"
#include "virtlab/provenance.h"
#include "virtlab/run.h"
#include "virtlab/sde.h"
#include "hv/hv.h"

/* Generous but finite: a run that exceeds these is a guest that does not
 * finish, reported as "timeout". */
#define RUN_DEFAULT_MAX_INSNS  20000000000ull      /* 2e10 guest instructions */
#define RUN_DEFAULT_MAX_CYCLES 10000000000000ull   /* 1e13 modelled cycles */

const char *const vl_run_status_name[] = { "ok", "failed", "timeout", "refused" };

const struct vl_workload_info vl_workloads[] = {
#define W(name, iters, desc) { #name, iters, desc },
#include "virtlab/workloads.def"
#undef W
};
const size_t vl_workload_count = sizeof vl_workloads / sizeof vl_workloads[0];

const struct vl_workload_info *vl_workload_find(const char *name)
{
	for (size_t i = 0; name && i < vl_workload_count; i++)
		if (!strcmp(vl_workloads[i].name, name))
			return &vl_workloads[i];
	return NULL;
}

const char *vl_guest_image(void)
{
	return vl_data_guest();   /* $VIRTLAB_GUEST, the source tree's, or the installed one */
}

static double run_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double run_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void cpy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

__attribute__((format(printf, 2, 3)))
static int run_refuse(struct vl_run_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof res->reason, fmt, ap);
	va_end(ap);
	res->status = VL_RUN_REFUSED;
	return 2;
}

/* Append ", name" entries to a "(valid: ...)" list. */
static void list_append(char *buf, size_t n, const char *name)
{
	size_t l = strlen(buf);
	if (l < n)
		snprintf(buf + l, n - l, "%s%s", l ? ", " : "", name);
}

static int run_unknown_engine(struct vl_run_result *res, const char *name)
{
	char v[440] = "";
	for (size_t i = 0; i < vl_engine_count; i++)
		list_append(v, sizeof v, vl_engines[i]->name);
	return run_refuse(res, "unknown engine '%s' (valid: %s)", name, v);
}

static int run_unknown_workload(struct vl_run_result *res, const char *name)
{
	char v[440] = "";
	for (size_t i = 0; i < vl_workload_count; i++)
		list_append(v, sizeof v, vl_workloads[i].name);
	return run_refuse(res, "unknown workload '%s' (valid: %s)", name, v);
}

static const struct vl_mmu_ops *mmu_of_kind(enum vl_mmu_kind k)
{
	for (size_t i = 0; i < vl_mmu_count; i++)
		if (vl_mmus[i]->kind == k)
			return vl_mmus[i];
	return NULL;
}

/* Resolve the MMU name; fills *kind. Refuses unknown names and pairs the
 * engine does not support, listing what it does support. */
static int run_resolve_mmu(const struct vl_run_spec *spec, const struct vl_engine_ops *eng,
			   struct vl_run_result *res, enum vl_mmu_kind *kind)
{
	char v[128] = "";
	for (int k = 0; k < VL_MMU_COUNT; k++)
		if (eng->mmu_mask & VL_MMU_BIT(k))
			list_append(v, sizeof v, vl_mmu_name(k));
	if (!spec->mmu || eng->run_external) {   /* DESIGN.md: the qemu engines ignore --mmu */
		*kind = eng->default_mmu;
		return 0;
	}
	for (int k = 0; k < VL_MMU_COUNT; k++) {
		if (strcmp(spec->mmu, vl_mmu_name(k)))
			continue;
		if (!(eng->mmu_mask & VL_MMU_BIT(k)))
			return run_refuse(res, "engine %s does not pair with mmu %s (valid: %s)", eng->name, spec->mmu, v);
		*kind = k;
		return 0;
	}
	char all[128] = "";
	for (int k = 0; k < VL_MMU_COUNT; k++)
		list_append(all, sizeof all, vl_mmu_name(k));
	return run_refuse(res, "unknown mmu '%s' (valid: %s)", spec->mmu, all);
}

static const char *basename_noext(const char *path, char *buf, size_t n)
{
	const char *b = strrchr(path, '/');
	cpy(buf, n, b ? b + 1 : path);
	char *dot = strrchr(buf, '.');
	if (dot && dot != buf)
		*dot = '\0';
	return buf;
}

/* kvm-unit-tests' vmexit benchmark prints one line per benchmark, "NAME N"
 * with N its RDTSC cycles per operation (x86/vmexit.c do_test; indented
 * "  ipi NAME N" lines are details). Each becomes a guest result (iters 1,
 * cycles N, unit=cycles/op); a run of one benchmark has N as its
 * cycles_per_iter, so `report --tag kvm-unit-tests` shows kvm-unit-tests'
 * exit-cost table per configuration. Only for an image named vmexit*. */
static void run_parse_kut_vmexit(struct vl_run_result *res, const char *image)
{
	const char *b = strrchr(image, '/');
	b = b ? b + 1 : image;
	if (strncmp(b, "vmexit", 6) || !res->console)
		return;
	res->nresults = 0;
	for (const char *l = res->console; *l; ) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);
		char line[96], name[32];
		unsigned long long v;
		char tail;
		if (n < sizeof line) {
			memcpy(line, l, n);
			line[n] = '\0';
			if (sscanf(line, "%31[a-z0-9_] %llu%c", name, &v, &tail) == 3 && tail == '\r')
				tail = 0;
			else if (sscanf(line, "%31[a-z0-9_] %llu%c", name, &v, &tail) != 2)
				goto next;
			if (res->nresults < (int)(sizeof res->results / sizeof res->results[0])) {
				struct vl_guest_result *g = &res->results[res->nresults++];
				memset(g, 0, sizeof *g);
				cpy(g->workload, sizeof g->workload, name);
				g->iters = 1;
				g->cycles = v;
				g->nkv = 1;
				cpy(g->key[0], sizeof g->key[0], "unit");
				cpy(g->val[0], sizeof g->val[0], "cycles/op");
			}
		}
next:
		if (!e)
			break;
		l = e + 1;
	}
	/* one benchmark: its cycles per operation; none (the guest printed
	 * "NAME (skipped)": the CPU lacks what it needs) or several: no single
	 * figure (0), the guest results hold them */
	res->cycles_per_iter = res->nresults == 1 ? (double)res->results[0].cycles : 0;
}

void vl_run_parse_results(struct vl_run_result *res, const char *console)
{
	res->nresults = 0;
	for (const char *line = console; line && *line; ) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		size_t plen = strlen(VL_RESULT_PREFIX);
		if (len > plen && !strncmp(line, VL_RESULT_PREFIX, plen) &&
		    res->nresults < (int)(sizeof res->results / sizeof res->results[0])) {
			struct vl_guest_result *g = &res->results[res->nresults++];
			memset(g, 0, sizeof *g);
			char buf[1024];
			cpy(buf, sizeof buf, "");
			snprintf(buf, sizeof buf, "%.*s", (int)(len - plen), line + plen);
			char *save = NULL;
			for (char *tok = strtok_r(buf, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
				char *eq = strchr(tok, '=');
				if (!eq)
					continue;
				*eq = '\0';
				const char *k = tok, *v = eq + 1;
				if (!strcmp(k, "workload"))
					cpy(g->workload, sizeof g->workload, v);
				else if (!strcmp(k, "iters"))
					g->iters = strtoull(v, NULL, 0);
				else if (!strcmp(k, "cycles"))
					g->cycles = strtoull(v, NULL, 0);
				else if (g->nkv < VL_RESULT_MAX_KV) {
					cpy(g->key[g->nkv], sizeof g->key[0], k);
					cpy(g->val[g->nkv], sizeof g->val[0], v);
					g->nkv++;
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
}

/* First "ERROR ..." line of the console, or NULL. */
static const char *first_error(const char *console, char *buf, size_t n)
{
	for (const char *l = console; l && *l; ) {
		const char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		if (!strncmp(l, VL_ERROR_PREFIX, strlen(VL_ERROR_PREFIX))) {
			snprintf(buf, n, "%.*s", (int)len, l);
			return buf;
		}
		l = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/* The progress reporter: a thread that samples the machine's counters
 * about once a second. It only reads (relaxed atomic loads of counters the
 * machine's thread keeps writing), so the model cannot depend on it. */
struct run_prog {
	const struct vl_run_spec *spec;
	struct vl_machine *m;
	double t0;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

static void *run_prog_thread(void *arg)
{
	struct run_prog *rp = arg;
	pthread_mutex_lock(&rp->mu);
	while (!rp->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&rp->cv, &rp->mu, &ts);
		if (rp->stop)
			break;
		struct vl_run_progress p = {
			.insns = __atomic_load_n(&rp->m->insns, __ATOMIC_RELAXED),
			.cycles = __atomic_load_n(&rp->m->tsc, __ATOMIC_RELAXED),
			.max_insns = rp->m->max_insns,
			.seconds = run_mono() - rp->t0,
		};
		rp->spec->progress(rp->spec->progress_arg, &p);
	}
	pthread_mutex_unlock(&rp->mu);
	return NULL;
}

/* Run the machine, with the progress thread beside it when asked for. */
static enum vl_mstate run_machine(const struct vl_run_spec *spec, struct vl_machine *m, double t0)
{
	struct run_prog rp = { .spec = spec, .m = m, .t0 = t0 };
	pthread_t th;
	bool prog = spec->progress && pthread_mutex_init(&rp.mu, NULL) == 0;
	if (prog && pthread_cond_init(&rp.cv, NULL)) {
		pthread_mutex_destroy(&rp.mu);
		prog = false;
	}
	if (prog && pthread_create(&th, NULL, run_prog_thread, &rp)) {
		pthread_cond_destroy(&rp.cv);
		pthread_mutex_destroy(&rp.mu);
		prog = false;
	}
	enum vl_mstate st = vl_machine_run(m);
	if (prog) {
		pthread_mutex_lock(&rp.mu);
		rp.stop = true;
		pthread_cond_signal(&rp.cv);
		pthread_mutex_unlock(&rp.mu);
		pthread_join(th, NULL);
		pthread_cond_destroy(&rp.cv);
		pthread_mutex_destroy(&rp.mu);
		struct vl_run_progress p = { .insns = m->insns, .cycles = m->tsc, .max_insns = m->max_insns,
					     .seconds = run_mono() - t0, .done = true };
		spec->progress(spec->progress_arg, &p);
	}
	return st;
}

/* Model run: machine + image + engine, then fill the result. */
static int run_model(const struct vl_run_spec *spec, const struct vl_engine_ops *eng,
		     const struct vl_mmu_ops *mmu, const struct vl_profile *prof,
		     const char *image, const char *cmdline, bool foreign, struct vl_run_result *res)
{
	char err[512] = "";
	void *ectx = NULL;
	bool attached = false;
	int rc = 0;
	struct vl_machine_config cfg = {
		.prof = prof,
		.ram_mb = spec->ram_mb,
		.max_insns = spec->max_insns ? spec->max_insns : RUN_DEFAULT_MAX_INSNS * (eng->insn_budget ? eng->insn_budget : 1),
		.max_cycles = spec->max_cycles ? spec->max_cycles : RUN_DEFAULT_MAX_CYCLES,
	};
	struct vl_machine *m = vl_machine_new(&cfg, err, sizeof err);
	if (!m) {
		res->status = VL_RUN_FAILED;
		snprintf(res->reason, sizeof res->reason, "machine: %.480s", err);
		return 0;
	}
	m->max_insns = cfg.max_insns;
	m->max_cycles = cfg.max_cycles;
	if (vl_machine_load_elf(m, image, cmdline, err, sizeof err)) {
		rc = run_refuse(res, "image %s: %s", image, err);
		goto out;
	}
	m->trace = spec->trace;
	m->trace_arg = spec->trace_arg;
	m->trace_region = spec->trace_region;
	int arc = eng->attach(m, mmu, &ectx, err, sizeof err);
	if (arc == VL_ATTACH_REFUSED) {
		rc = run_refuse(res, "engine %s: %.440s", eng->name, err);
		goto out;
	}
	if (arc) {
		res->status = VL_RUN_FAILED;
		snprintf(res->reason, sizeof res->reason, "engine %s: %.440s", eng->name, err);
		goto out;
	}
	attached = true;
	if (spec->machine_hook)
		spec->machine_hook(m, VL_RUN_HOOK_START, spec->machine_hook_arg);

	double t0 = run_mono();
	res->started = run_now();
	enum vl_mstate st = run_machine(spec, m, t0);
	res->ended = run_now();
	res->host_seconds = run_mono() - t0;
	if (spec->machine_hook)
		spec->machine_hook(m, VL_RUN_HOOK_END, spec->machine_hook_arg);

	res->exit_table = m->exit_table;
	res->exit_table_len = m->exit_table_len;
	res->hypercall_slots = m->hypercall_slots;
	res->callout_lo = m->callout_lo;
	res->callout_hi = m->callout_hi;
	/* a Multiboot kernel has no region markers: everything it did is region 0 */
	res->ctr = m->region[foreign ? 0 : VL_REGION_MEASURE];
	res->total_insns = m->insns;
	res->total_cycles = m->tsc;
	res->host_mips = res->host_seconds > 0 ? m->insns / res->host_seconds / 1e6 : 0;
	res->cycles_per_iter = 0;   /* set below, only for a run that completed its iterations */
	vl_sde_publish(res);   /* the counters as PAPI SDEs sde:::virtlab::... (engines/sde.c) */
	res->console = malloc(m->console_len + 1);
	if (res->console) {
		if (m->console_len)
			memcpy(res->console, m->console, m->console_len);
		res->console[m->console_len] = '\0';
	}
	vl_run_parse_results(res, res->console);

	char ebuf[256];
	switch (st) {
	case VL_M_EXITED:
		res->guest_exit = (int)m->exit_code;
		if (foreign) {
			/* a Multiboot kernel brings its own convention: 0 = success (kvm-unit-tests) */
			res->status = m->exit_code == 0 ? VL_RUN_OK : VL_RUN_FAILED;
			if (m->exit_code)
				snprintf(res->reason, sizeof res->reason, "guest exited with status %u", m->exit_code);
		} else if (m->exit_code != VL_EXIT_OK) {
			const char *e = first_error(res->console, ebuf, sizeof ebuf);
			res->status = VL_RUN_FAILED;
			snprintf(res->reason, sizeof res->reason, "guest exited with status %u%s%s",
				 m->exit_code, e ? ": " : "", e ? e : "");
		} else if (res->nresults == 0) {
			res->status = VL_RUN_FAILED;
			snprintf(res->reason, sizeof res->reason, "guest exited ok but printed no RESULT line");
		} else {
			res->status = VL_RUN_OK;
			res->cycles_per_iter = res->iterations ? (double)vl_counters_total(&res->ctr) / res->iterations : 0;
		}
		break;
	case VL_M_TIMEOUT:
		res->status = VL_RUN_TIMEOUT;
		snprintf(res->reason, sizeof res->reason, "limit reached after %llu instructions, %llu cycles%s%.400s",
			 (unsigned long long)m->insns, (unsigned long long)m->tsc, m->diag[0] ? ": " : "", m->diag);
		break;
	case VL_M_TRIPLE_FAULT:
		res->status = VL_RUN_FAILED;
		snprintf(res->reason, sizeof res->reason, "triple fault: %.480s", m->diag);
		break;
	default:
		res->status = VL_RUN_FAILED;
		snprintf(res->reason, sizeof res->reason, "machine error: %.480s", m->diag);
		break;
	}
	char why[400];
	if (eng->verdict && eng->verdict(m, ectx, why, sizeof why)) {
		char was[512];
		snprintf(was, sizeof was, "%s", res->status == VL_RUN_OK ? "" : res->reason);
		res->status = VL_RUN_FAILED;
		int wl = snprintf(res->reason, sizeof res->reason, "%.300s", why);
		if (was[0] && wl > 0 && (size_t)wl < sizeof res->reason)
			snprintf(res->reason + wl, sizeof res->reason - (size_t)wl, " (then: %.180s)", was);
	}
out:
	if (attached && eng->detach)
		eng->detach(m, ectx);
	vl_machine_free(m);
	return rc;
}

/* The first key of a "k=v ..." params string that the runner itself puts
 * on the guest command line (workload, iters), or NULL. */
static const char *run_owned_param(const char *params)
{
	static const char *const owned[] = { "workload", "iters" };
	for (const char *p = params; p && *p; ) {
		p += strspn(p, " \t");
		size_t len = strcspn(p, " \t"), klen = strcspn(p, "= \t");
		for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
			if (klen == strlen(owned[i]) && !strncmp(p, owned[i], klen))
				return owned[i];
		p += len;
	}
	return NULL;
}

/* The profile a run uses, as it was when the run started: its effective
 * text and hash, and the git state of the tree it was read from. */
static void run_profile_provenance(const struct vl_profile *prof, struct vl_run_result *res)
{
	free(res->profile_text);
	res->profile_text = vl_profile_text(prof);
	if (res->profile_text)
		vl_sha256_hex(res->profile_text, strlen(res->profile_text), res->profile_sha256);
	cpy(res->profile_path, sizeof res->profile_path, prof->path);
	vl_prov_git(prof->path, res->profile_commit, sizeof res->profile_commit, &res->profile_dirty);
}

int vl_run_execute(const struct vl_run_spec *spec, struct vl_run_result *res)
{
	memset(res, 0, sizeof *res);
	res->guest_exit = -1;
	res->profile_dirty = -1;
	res->status = VL_RUN_REFUSED;
	cpy(res->engine, sizeof res->engine, spec->engine ? spec->engine : "native");
	cpy(res->profile, sizeof res->profile, spec->profile ? spec->profile : VL_DEFAULT_PROFILE);
	cpy(res->params, sizeof res->params, spec->params);

	const struct vl_engine_ops *eng = vl_engine_find(res->engine);
	if (!eng)
		return run_unknown_engine(res, res->engine);

	const struct vl_workload_info *wl = NULL;
	if (spec->workload) {
		wl = vl_workload_find(spec->workload);
		if (!wl)
			return run_unknown_workload(res, spec->workload);
		cpy(res->workload, sizeof res->workload, wl->name);
	} else if (spec->image) {
		char b[32];
		cpy(res->workload, sizeof res->workload, basename_noext(spec->image, b, sizeof b));
	} else {
		return run_refuse(res, "no workload given (use --workload NAME, or --image FILE)");
	}
	res->iterations = spec->iterations ? spec->iterations : wl ? wl->default_iters : 1;
	if (spec->ram_mb && (spec->ram_mb < VL_RAM_MB_MIN || spec->ram_mb > VL_RAM_MB_MAX))
		return run_refuse(res, "RAM size %llu MiB is outside %llu..%llu", (unsigned long long)spec->ram_mb,
				  VL_RAM_MB_MIN, VL_RAM_MB_MAX);

	enum vl_mmu_kind kind = VL_MMU_NATIVE;
	if (run_resolve_mmu(spec, eng, res, &kind))
		return 2;
	cpy(res->mmu, sizeof res->mmu, vl_mmu_name(kind));

	struct vl_profile *prof = calloc(1, sizeof *prof);
	if (!prof)
		return run_refuse(res, "out of memory");
	char err[512] = "";
	int rc = 0;
	if (spec->profile_data)
		*prof = *spec->profile_data;
	else if (vl_profile_load(res->profile, prof, err, sizeof err)) {
		rc = run_refuse(res, "%s", err);
		goto out;
	}
	run_profile_provenance(prof, res);
	if (eng->check && eng->check(prof, kind, err, sizeof err)) {
		rc = run_refuse(res, "%s", err);
		goto out;
	}
	const struct vl_mmu_ops *mmu = mmu_of_kind(kind);
	if (!mmu && kind != VL_MMU_NONE) {
		rc = run_refuse(res, "mmu %s is not built into this virtlab", vl_mmu_name(kind));
		goto out;
	}

	/* --params may not override what the run is stored under: a run of
	 * syscall stored as cpuid, or a cycles-per-iteration divided by the
	 * wrong count, would be a wrong result with no warning. */
	const char *owned = run_owned_param(spec->params);
	if (owned) {
		rc = run_refuse(res, "--params: '%s' is set by %s, not by --params", owned,
				!strcmp(owned, "iters") ? "--iterations" : "--workload");
		goto out;
	}

	/* The guest command line, built once for the model and external
	 * engines alike (engines/hv): workload=W iters=N [params]; a Multiboot
	 * kernel gets --append alone (the loader puts its name first) */
	char cmdline[VL_BOOT_CMDLINE_MAX];
	int n;
	bool foreign = !wl && spec->image && vl_image_is_multiboot(spec->image);
	if (foreign)
		n = snprintf(cmdline, sizeof cmdline, "%s", spec->append ? spec->append : "");
	else if (spec->append) {
		rc = run_refuse(res, "--append is for Multiboot kernels (--image FILE with a Multiboot header); "
				"the virtlab guest takes --params");
		goto out;
	} else
		n = hv_cmdline(cmdline, sizeof cmdline, wl ? wl->name : NULL, res->iterations, spec->params);
	if (n < 0 || (size_t)n >= sizeof cmdline) {
		rc = run_refuse(res, "guest command line too long (max %d bytes)", VL_BOOT_CMDLINE_MAX - 1);
		goto out;
	}

	const char *img = spec->image ? spec->image : vl_guest_image();
	struct stat ist;
	if (stat(img, &ist) == 0 && S_ISDIR(ist.st_mode)) {
		rc = run_refuse(res, "guest image %s is a directory", img);
		goto out;
	}
	if (eng->run_external) {
		/* hand the engine a fully resolved spec */
		struct vl_run_spec rs = *spec;
		rs.engine = res->engine;
		rs.mmu = res->mmu;
		rs.workload = res->workload;
		rs.profile = res->profile;
		rs.iterations = res->iterations;
		rs.image = spec->image ? spec->image : vl_guest_image();
		rs.cmdline = cmdline;
		res->model = false;
		vl_sha256_file(rs.image, res->guest_sha256);
		if (eng->run_external(&rs, res, err, sizeof err)) {
			rc = run_refuse(res, "engine %s: %s", eng->name, err);
			goto out;
		}
		/* the engine may have rewritten identity; keep the resolved names */
		cpy(res->engine, sizeof res->engine, eng->name);
		cpy(res->mmu, sizeof res->mmu, vl_mmu_name(kind));
		if (foreign && res->status == VL_RUN_OK)
			run_parse_kut_vmexit(res, rs.image);
		goto out;
	}
	if (!eng->attach) {
		rc = run_refuse(res, "engine %s has neither attach nor run_external", eng->name);
		goto out;
	}
	res->model = true;
	const char *image = spec->image ? spec->image : vl_guest_image();
	if (access(image, R_OK) != 0) {
		rc = run_refuse(res, "guest image %s not found (build it with `make guest`, or pass --image FILE)", image);
		goto out;
	}
	vl_sha256_file(image, res->guest_sha256);
	char cerr[256];
	if (spec->profile_classes && vl_profile_classes(prof, res->pf_class, cerr, sizeof cerr))
		memset(res->pf_class, 0, sizeof res->pf_class);   /* unknown; the run goes on */
	rc = run_model(spec, eng, mmu, prof, image, cmdline, foreign, res);
	if (foreign && res->status == VL_RUN_OK)
		run_parse_kut_vmexit(res, image);
out:
	free(prof);
	return rc;
}

void vl_run_result_free(struct vl_run_result *res)
{
	free(res->console);
	res->console = NULL;
	free(res->profile_text);
	res->profile_text = NULL;
	for (int i = 0; i < res->nsamples; i++) {
		free(res->samples[i].v);
		res->samples[i].v = NULL;
	}
	res->nsamples = 0;
}
