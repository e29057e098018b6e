/* sde.c — the model's counters as PAPI Software-Defined Events under the
 * library name `virtlab` (include/virtlab/sde.h), through PAPI's libsde
 * (sde_lib.h; the Debian libpapi-dev 7.0 ships sde_lib.h and libsde, not the
 * older papi_sde_interface.h). The counters live in static storage here and
 * are registered once; each model run overwrites them. */
#include <sde_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/counters.h"
#include "virtlab/run.h"
#include "virtlab/sde.h"

#define SDE_MAX_EXIT_NAMES 256

static papi_handle_t sde_handle;
static long long sde_iterations;
static long long sde_cycles_total;
static long long sde_cycles[VL_CAT_COUNT];
static long long sde_events[VL_EV_COUNT];
static struct { char name[48]; long long count; } sde_exits[SDE_MAX_EXIT_NAMES];
static int sde_nexits;

static void sde_register(const char *name, long long *p, const char *doc)
{
	/* no papi_sde_describe_counter: libsde 7.0 never frees a description
	 * (LeakSanitizer shows it); the names are documented in sde.h */
	(void)doc;
	papi_sde_register_counter(sde_handle, name, PAPI_SDE_RO | PAPI_SDE_INSTANT, PAPI_SDE_long_long, p);
}

/* At exit: libsde keeps copies of every name until its library shuts down. */
static void sde_shutdown(void)
{
	if (sde_handle)
		papi_sde_shutdown(sde_handle);
	sde_handle = NULL;
}

static int sde_init(void)
{
	if (sde_handle)
		return 0;
	sde_handle = papi_sde_init(VL_SDE_LIBRARY);
	if (!sde_handle)
		return -1;
	atexit(sde_shutdown);
	char name[64];
	sde_register("iterations", &sde_iterations, "iterations of the last model run");
	sde_register("cycles::total", &sde_cycles_total, "modelled cycles of the measured region, all categories");
	for (int i = 0; i < VL_CAT_COUNT; i++) {
		snprintf(name, sizeof name, "cycles::%s", vl_cat_name[i]);
		sde_register(name, &sde_cycles[i], "modelled cycles of the measured region in this cost category");
	}
	for (int i = 0; i < VL_EV_COUNT; i++)
		sde_register(vl_event_name[i], &sde_events[i], vl_event_doc[i]);
	return 0;
}

/* The storage slot of exit `name`, registered on first sight; NULL when full. */
static long long *sde_exit_slot(const char *name)
{
	for (int i = 0; i < sde_nexits; i++)
		if (!strcmp(sde_exits[i].name, name))
			return &sde_exits[i].count;
	if (sde_nexits == SDE_MAX_EXIT_NAMES)
		return NULL;
	int i = sde_nexits++;
	snprintf(sde_exits[i].name, sizeof sde_exits[i].name, "%s", name);
	char ev[64];
	snprintf(ev, sizeof ev, "exits::%s", name);
	sde_register(ev, &sde_exits[i].count, "VM exits of this vendor reason in the measured region");
	return &sde_exits[i].count;
}

void vl_sde_publish(const struct vl_run_result *res)
{
	if (!res->model || sde_init())
		return;
	const struct vl_counters *c = &res->ctr;
	sde_iterations = (long long)res->iterations;
	sde_cycles_total = (long long)vl_counters_total(c);
	for (int i = 0; i < VL_CAT_COUNT; i++)
		sde_cycles[i] = (long long)c->cycles[i];
	for (int i = 0; i < VL_EV_COUNT; i++)
		sde_events[i] = (long long)c->events[i];
	for (int i = 0; i < sde_nexits; i++)
		sde_exits[i].count = 0;   /* an exit the last run did not take reads 0: it was not taken */
	for (size_t i = 0; res->exit_table && i < res->exit_table_len && i < VL_MAX_EXIT_SLOTS; i++) {
		if (!c->exit_count[i])
			continue;
		long long *p = sde_exit_slot(res->exit_table[i].name);
		if (p)
			*p = (long long)c->exit_count[i];
	}
}
