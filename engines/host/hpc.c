/* hpc.c — hardware performance counters through PAPI; native event names
 * resolved by libpfm4. Shared by the host engine, `list events` and the
 * host twins (which compile this file in). Never reports a zero for an
 * event it could not count: such an event is marked unavailable with the
 * message PAPI gave. */
#include <papi.h>
#include <perfmon/pfmlib.h>
#include <perfmon/pfmlib_perf_event.h>
#include <stdio.h>
#include <string.h>

#include "virtlab/hpc.h"

const char *const hpc_default_events[] = { "PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_TLB_DM" };
const size_t hpc_default_event_count = sizeof hpc_default_events / sizeof hpc_default_events[0];

static int hpc_papi_state;          /* 0 not tried, 1 ok, -1 failed */
static char hpc_papi_why[200];

/* Initialise PAPI once per process: 0, or -1 with the reason. */
static int hpc_papi_init(char *why, size_t whylen)
{
	if (!hpc_papi_state) {
		int rc = PAPI_library_init(PAPI_VER_CURRENT);
		if (rc == PAPI_VER_CURRENT) {
			hpc_papi_state = 1;
		} else {
			hpc_papi_state = -1;
			snprintf(hpc_papi_why, sizeof hpc_papi_why, "PAPI cannot initialise: PAPI_library_init: %s",
				 rc > 0 ? "library version mismatch" : PAPI_strerror(rc));
		}
	}
	if (hpc_papi_state < 0) {
		snprintf(why, whylen, "%s", hpc_papi_why);
		return -1;
	}
	return 0;
}

static int hpc_pfm_state;

static int hpc_pfm_init(char *why, size_t whylen)
{
	if (!hpc_pfm_state) {
		int rc = pfm_initialize();
		hpc_pfm_state = rc == PFM_SUCCESS ? 1 : -1;
		if (rc != PFM_SUCCESS)
			snprintf(hpc_papi_why, sizeof hpc_papi_why, "libpfm4 cannot initialise: %s", pfm_strerror(rc));
	}
	if (hpc_pfm_state < 0) {
		snprintf(why, whylen, "%s", hpc_papi_why);
		return -1;
	}
	return 0;
}

int hpc_resolve(const char *name, char *why, size_t whylen)
{
	if (!name || !*name || strlen(name) >= HPC_NAME_MAX) {
		snprintf(why, whylen, "event name must be 1..%d characters", HPC_NAME_MAX - 1);
		return -1;
	}
	if (!strncmp(name, "PAPI_", 5)) {
		if (hpc_papi_init(why, whylen))
			return -1;
		int code = 0, rc = PAPI_event_name_to_code(name, &code);
		if (rc != PAPI_OK || !IS_PRESET(code)) {
			snprintf(why, whylen, "unknown event '%s': PAPI: %s (presets: `papi_avail`)", name,
				 rc != PAPI_OK ? PAPI_strerror(rc) : "not a preset");
			return -1;
		}
		return 0;
	}
	if (hpc_pfm_init(why, whylen))
		return -1;
	struct perf_event_attr attr;
	pfm_perf_encode_arg_t arg;
	memset(&attr, 0, sizeof attr);
	memset(&arg, 0, sizeof arg);
	arg.size = sizeof arg;
	arg.attr = &attr;
	int rc = pfm_get_os_event_encoding(name, PFM_PLM3, PFM_OS_PERF_EVENT, &arg);
	if (rc != PFM_SUCCESS) {
		snprintf(why, whylen, "unknown event '%s': libpfm4: %s (a PAPI preset PAPI_* or a libpfm4 native name, "
			 "see `virtlab list events`)", name, pfm_strerror(rc));
		return -1;
	}
	return 0;
}

int hpc_parse_list(const char *list, char *buf, size_t buflen, const char **names, char *why, size_t whylen)
{
	if (!list || strlen(list) >= buflen) {
		snprintf(why, whylen, "--events: list too long");
		return -1;
	}
	snprintf(buf, buflen, "%s", list);
	int n = 0;
	for (char *p = buf; ; ) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (!*p) {
			snprintf(why, whylen, "--events: empty event name in '%s'", list);
			return -1;
		}
		if (n == HPC_MAX_EVENTS) {
			snprintf(why, whylen, "--events: at most %d events", HPC_MAX_EVENTS);
			return -1;
		}
		if (hpc_resolve(p, why, whylen))
			return -1;
		names[n++] = p;
		if (!comma)
			break;
		p = comma + 1;
	}
	return n;
}

/* Can PAPI add (and start) this event in a fresh event set? 0 or PAPI's error. */
static int hpc_try(int code)
{
	int es = PAPI_NULL, rc = PAPI_create_eventset(&es);
	if (rc != PAPI_OK)
		return rc;
	rc = PAPI_add_event(es, code);
	if (rc == PAPI_OK) {
		long long v = 0;
		rc = PAPI_start(es);
		if (rc == PAPI_OK)
			PAPI_stop(es, &v);
	}
	PAPI_cleanup_eventset(es);
	PAPI_destroy_eventset(&es);
	return rc;
}

/* "hardware" (the PMU) or "software" (counted by the kernel, no PMU
 * needed), as libpfm4 encodes the event for perf_event. */
static const char *hpc_kind(const char *name)
{
	struct perf_event_attr attr;
	pfm_perf_encode_arg_t arg;
	char why[64];
	memset(&attr, 0, sizeof attr);
	memset(&arg, 0, sizeof arg);
	arg.size = sizeof arg;
	arg.attr = &attr;
	if (hpc_pfm_init(why, sizeof why) ||
	    pfm_get_os_event_encoding(name, PFM_PLM3, PFM_OS_PERF_EVENT, &arg) != PFM_SUCCESS)
		return "hardware";   /* presets map to PMU events */
	return attr.type == PERF_TYPE_SOFTWARE ? "software" : "hardware";
}

int hpc_list(FILE *out, char *why, size_t whylen)
{
	if (hpc_papi_init(why, whylen))
		return -1;
	int count = 0, hw = 0, cidx = PAPI_get_component_index("perf_event");
	const PAPI_component_info_t *ci = cidx >= 0 ? PAPI_get_component_info(cidx) : NULL;
	if (!ci) {
		snprintf(why, whylen, "PAPI has no perf_event component");
		return 0;
	}
	if (ci->disabled) {
		snprintf(why, whylen, "no countable events: PAPI perf_event component disabled: %.200s", ci->disabled_reason);
		return 0;
	}
	PAPI_event_info_t info;
	int code = PAPI_PRESET_MASK, first_err = PAPI_OK;
	char first_name[PAPI_MAX_STR_LEN] = "";
	if (PAPI_enum_event(&code, PAPI_ENUM_FIRST) == PAPI_OK) {
		do {
			if (PAPI_get_event_info(code, &info) != PAPI_OK || !info.count)
				continue;
			int rc = hpc_try(code);
			if (rc == PAPI_OK) {
				fprintf(out, "%-40s %-8s %s\n", info.symbol, "hardware", info.long_descr);
				count++;
				hw++;
			}
		} while (PAPI_enum_event(&code, PAPI_PRESET_ENUM_AVAIL) == PAPI_OK);
	}
	int natives = 0;   /* hardware ones counted in hw */
	code = PAPI_NATIVE_MASK;
	if (PAPI_enum_cmp_event(&code, PAPI_ENUM_FIRST, cidx) == PAPI_OK) {
		do {
			if (PAPI_get_event_info(code, &info) != PAPI_OK)
				continue;
			natives++;
			int rc = hpc_try(code);
			const char *kind = hpc_kind(info.symbol);
			if (rc == PAPI_OK) {
				fprintf(out, "%-40s %-8s %s\n", info.symbol, kind, info.long_descr);
				count++;
				hw += !strcmp(kind, "hardware");
			} else if (first_err == PAPI_OK && !strcmp(kind, "hardware")) {
				first_err = rc;
				snprintf(first_name, sizeof first_name, "%.127s", info.symbol);
			}
		} while (PAPI_enum_cmp_event(&code, PAPI_ENUM_EVENTS, cidx) == PAPI_OK);
	}
	if (!hw) {
		if (first_err != PAPI_OK)
			snprintf(why, whylen, "no hardware (PMU) events countable%s: PAPI %d.%d.%d perf_event knows %d native "
				 "events (libpfm4) and %d presets here, but no hardware one can be counted: PAPI_add_event(%s): %s",
				 count ? " (the software events above are counted by the kernel)" : "",
				 PAPI_VERSION_MAJOR(PAPI_VERSION), PAPI_VERSION_MINOR(PAPI_VERSION),
				 PAPI_VERSION_REVISION(PAPI_VERSION), natives, ci->num_preset_events, first_name,
				 PAPI_strerror(first_err));
		else
			snprintf(why, whylen, "no hardware (PMU) events countable: PAPI's perf_event component lists none on this host");
	}
	return count;
}

/* What PAPI's perf_event component says about this host, for a reason:
 * its disabled reason ("Error libpfm4 no default PMU found" on a CPU libpfm4
 * does not know), or how many presets it could map to hardware events. */
static void hpc_component_note(char *buf, size_t n)
{
	int cidx = PAPI_get_component_index("perf_event");
	const PAPI_component_info_t *ci = cidx >= 0 ? PAPI_get_component_info(cidx) : NULL;
	if (!ci)
		snprintf(buf, n, "PAPI has no perf_event component");
	else if (ci->disabled)
		snprintf(buf, n, "PAPI perf_event component disabled: %.200s", ci->disabled_reason);
	else
		snprintf(buf, n, "PAPI perf_event component: %d presets available on this host", ci->num_preset_events);
}

void hpc_open(struct hpc_set *s, const char *const *names, int n)
{
	char why[HPC_WHY_MAX];
	memset(s, 0, sizeof *s);
	s->eventset = PAPI_NULL;
	s->n = n > HPC_MAX_EVENTS ? HPC_MAX_EVENTS : n;
	for (int i = 0; i < s->n; i++) {
		snprintf(s->name[i], sizeof s->name[i], "%s", names[i]);
		s->slot[i] = -1;
	}
	if (!s->n)
		return;   /* nothing asked: PAPI stays out of the process (and its footprint) */
	int rc = hpc_papi_init(why, sizeof why) ? PAPI_ENOINIT : PAPI_create_eventset(&s->eventset);
	if (hpc_papi_state < 0) {
		for (int i = 0; i < s->n; i++)
			snprintf(s->why[i], sizeof s->why[i], "%s", why);
		return;
	}
	if (rc != PAPI_OK) {
		for (int i = 0; i < s->n; i++)
			snprintf(s->why[i], sizeof s->why[i], "PAPI_create_eventset: %s", PAPI_strerror(rc));
		return;
	}
	for (int i = 0; i < s->n; i++) {
		rc = PAPI_add_named_event(s->eventset, s->name[i]);
		if (rc == PAPI_OK)
			s->slot[i] = s->nadded++;
		else {
			char note[240];
			hpc_component_note(note, sizeof note);
			snprintf(s->why[i], sizeof s->why[i], "PAPI_add_named_event(%.60s): %.40s (%.120s)", names[i],
				 PAPI_strerror(rc), note);
		}
	}
	if (!s->nadded)
		return;
	rc = PAPI_start(s->eventset);
	if (rc != PAPI_OK) {
		for (int i = 0; i < s->n; i++)
			if (s->slot[i] >= 0) {
				snprintf(s->why[i], sizeof s->why[i], "PAPI_start: %s", PAPI_strerror(rc));
				s->slot[i] = -1;
			}
		return;
	}
	s->running = true;
	for (int i = 0; i < s->n; i++)
		s->ok[i] = s->slot[i] >= 0;
}

static void hpc_read(struct hpc_set *s, long long *v)
{
	long long raw[HPC_MAX_EVENTS] = { 0 };
	if (!s->running)
		return;
	int rc = PAPI_read(s->eventset, raw);
	for (int i = 0; i < s->n; i++) {
		if (!s->ok[i])
			continue;
		if (rc != PAPI_OK) {
			s->ok[i] = false;
			snprintf(s->why[i], sizeof s->why[i], "PAPI_read: %s", PAPI_strerror(rc));
			continue;
		}
		v[i] = raw[s->slot[i]];
	}
}

void hpc_begin(struct hpc_set *s)
{
	hpc_read(s, s->at_begin);
}

void hpc_end(struct hpc_set *s)
{
	long long now[HPC_MAX_EVENTS] = { 0 };
	hpc_read(s, now);
	for (int i = 0; i < s->n; i++)
		if (s->ok[i])
			s->sum[i] += now[i] - s->at_begin[i];
}

void hpc_close(struct hpc_set *s)
{
	if (s->running) {
		long long v[HPC_MAX_EVENTS];
		PAPI_stop(s->eventset, v);
		s->running = false;
	}
	if (s->eventset != PAPI_NULL) {
		PAPI_cleanup_eventset(s->eventset);
		PAPI_destroy_eventset(&s->eventset);
	}
}
