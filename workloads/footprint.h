/* footprint.h — the default process footprint of the guest's process-level
 * workloads (forkwait, ctxsw, pgfault): anonymous pages mapped and touched
 * before the measured region, in so many regions, so that the model's
 * processes have the shape of the host twin's (issue 12, item 5). Guest
 * parameters fp_pages=N fp_regions=R override (fp_pages=0: none).
 *
 * Measured on the fleet's Intel host (KVM guest, Debian 12, glibc 2.36,
 * PAPI 7.0) as `virtlab run --engine host` runs the twins (default events;
 * the same keys appear in that run's guest_results): each twin's own
 * /proc/self/status and /proc/self/maps after its region, three runs each,
 * the median shown (VmRSS varied by at most 16 kB, regions by 1):
 *   $ build/host/vl-twin forkwait 100 PAPI_TOT_CYC PAPI_TOT_INS PAPI_TLB_DM | grep FOOTPRINT
 *   FOOTPRINT vmrss_kb=4840 rssanon_kb=1400 rssfile_kb=3440 vmpte_kb=52 vmsize_kb=6044 regions=36
 *   $ build/host/vl-twin ctxsw 100 PAPI_TOT_CYC PAPI_TOT_INS PAPI_TLB_DM | grep FOOTPRINT
 *   FOOTPRINT vmrss_kb=4912 rssanon_kb=1404 rssfile_kb=3504 vmpte_kb=60 vmsize_kb=6048 regions=37
 *   $ build/host/vl-twin pgfault 100 PAPI_TOT_CYC PAPI_TOT_INS PAPI_TLB_DM | grep FOOTPRINT
 *   FOOTPRINT vmrss_kb=4840 rssanon_kb=1404 rssfile_kb=3440 vmpte_kb=48 vmsize_kb=6044 regions=36
 * Pages = VmRSS / 4 KiB: every resident page, anonymous or file-backed (the
 * guest has no files, so all become anonymous); regions = the lines of
 * /proc/self/maps. The guest program's own few pages and three regions come
 * on top (<1%). */
#ifndef VL_WORKLOAD_FOOTPRINT_H
#define VL_WORKLOAD_FOOTPRINT_H

#define WL_FP_FORKWAIT_PAGES   1210   /* 4840 kB */
#define WL_FP_FORKWAIT_REGIONS 36
#define WL_FP_CTXSW_PAGES      1228   /* 4912 kB */
#define WL_FP_CTXSW_REGIONS    37
#define WL_FP_PGFAULT_PAGES    1210   /* 4840 kB */
#define WL_FP_PGFAULT_REGIONS  36
#define WL_FP_MAX_PAGES        65536  /* 256 MiB: more than any guest RAM default */
#define WL_FP_MAX_REGIONS      40     /* the kernel keeps MAX_VMAS regions per process */

/* Boot argument a2 of the user program: pages | regions << 32. */
#define WL_FP_PACK(pages, regions) ((unsigned long long)(pages) | (unsigned long long)(regions) << 32)

#endif
