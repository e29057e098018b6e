/* hpc.h — hardware performance counters through PAPI, event names resolved
 * by libpfm4 (engines/host/hpc.c). Used by the `host` engine (name checks
 * before anything runs), by `virtlab list events`, and by the host twins
 * (workloads/host/twin.c), which count their own measured regions.
 *
 * A host without a usable PMU (a KVM guest without vPMU) still resolves
 * names; counting then reports each event unavailable with PAPI's own
 * reason — never a zero count.
 */
#ifndef VIRTLAB_HPC_H
#define VIRTLAB_HPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define HPC_MAX_EVENTS 6
#define HPC_NAME_MAX 64
#define HPC_WHY_MAX 256

/* Cycles, instructions, data-TLB misses: what `--events` defaults to. */
extern const char *const hpc_default_events[];
extern const size_t hpc_default_event_count;

/* Is `name` a PAPI preset (PAPI_*) PAPI knows, or a native event libpfm4
 * can encode for perf_event on this host? 0, or -1 with a one-line reason
 * quoting PAPI's or libpfm4's message. Says nothing about countability. */
int hpc_resolve(const char *name, char *why, size_t whylen);

/* Parse a comma-separated --events list into names[] (pointers into buf).
 * Returns the count, or -1 with a one-line reason (empty name, too many,
 * a name that does not resolve). */
int hpc_parse_list(const char *list, char *buf, size_t buflen, const char **names, char *why, size_t whylen);

/* Print the events this host can count (PAPI presets available here and
 * perf_event native events that PAPI can add and start), one per line:
 * name, kind (hardware = the PMU, software = counted by the kernel), text.
 * Returns how many; when no hardware event is countable, why holds PAPI's
 * reason (else ""). -1 when PAPI cannot initialise (why says so). */
int hpc_list(FILE *out, char *why, size_t whylen);

/* One set of counters for the calling process. */
struct hpc_set {
	int n;
	char name[HPC_MAX_EVENTS][HPC_NAME_MAX];
	bool ok[HPC_MAX_EVENTS];             /* counted; else why[i] says why not */
	char why[HPC_MAX_EVENTS][HPC_WHY_MAX];
	long long sum[HPC_MAX_EVENTS];       /* accumulated over begin/end pairs */
	long long at_begin[HPC_MAX_EVENTS];
	int slot[HPC_MAX_EVENTS];            /* index in the PAPI event set, -1 when not added */
	int nadded;
	int eventset;
	bool running;
};

/* Open and start the counters (never fails: an event PAPI cannot count is
 * marked !ok with PAPI's reason). */
void hpc_open(struct hpc_set *s, const char *const *names, int n);
void hpc_begin(struct hpc_set *s);    /* snapshot before a measured region */
void hpc_end(struct hpc_set *s);      /* add the region's counts to sum[] */
void hpc_close(struct hpc_set *s);

#endif
