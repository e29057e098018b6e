/* sde.h — the model's counters as PAPI Software-Defined Events
 * (engines/sde.c). After each model run in this process the runner
 * publishes the measured region's counters under the SDE library name
 * `virtlab`, so a program that embeds the model and uses PAPI reads them
 * like any other event (no PMU needed):
 *   sde:::virtlab::<event key>          every events.def key ("walk_refs", ...)
 *   sde:::virtlab::cycles::<category>   every cost category, and cycles::total
 *   sde:::virtlab::exits::<NAME>        exits by vendor name ("CPUID", "VMEXIT_CPUID", ...)
 *   sde:::virtlab::iterations           iterations of the run
 * Values are instantaneous (PAPI_SDE_INSTANT): a read gives the last run's
 * count, not a difference since PAPI_start. */
#ifndef VIRTLAB_SDE_H
#define VIRTLAB_SDE_H

struct vl_run_result;

#define VL_SDE_LIBRARY "virtlab"

/* Publish res's measured-region counters (model runs only; a real run
 * leaves the last model run's values). Registers the counters on first use;
 * an exit name seen for the first time is registered then. */
void vl_sde_publish(const struct vl_run_result *res);

#endif
