/* db_host.c — facts about the host a run happened on, detected once per
 * process and stored with every run: name, CPU model, kernel, and whether a
 * hardware PMU and a standard-guest-capable KVM are usable. "Usable" is
 * tested, not assumed: a PMU counts only if perf_event_open of CPU cycles
 * succeeds; KVM only if /dev/kvm is accessible, the CPU shows vmx/svm, and
 * the backend is not the PVM paravirtual one (the same rule as the qemu-kvm
 * engine, engines/qemu/qemu.c). */
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "virtlab/results.h"

static struct vl_host_info host_info;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

__attribute__((format(printf, 1, 2)))
static void host_note(const char *fmt, ...)
{
	size_t l = strlen(host_info.notes);
	va_list ap;
	va_start(ap, fmt);
	if (l < sizeof host_info.notes)
		vsnprintf(host_info.notes + l, sizeof host_info.notes - l, fmt, ap);
	va_end(ap);
}

static void host_cpu_model(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	snprintf(host_info.cpu, sizeof host_info.cpu, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "model name", 10))
			continue;
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		v[strcspn(v, "\n")] = '\0';
		snprintf(host_info.cpu, sizeof host_info.cpu, "%s", v);
		break;
	}
	fclose(f);
}

static int host_cpu_flag(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[8192];
	int found = 0;
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof line, f)) {
		if (strncmp(line, "flags", 5))
			continue;
		for (char *s = strtok(line, " \t\n"); s; s = strtok(NULL, " \t\n"))
			if (!strcmp(s, flag))
				found = 1;
		break;
	}
	fclose(f);
	return found;
}

/* A core PMU exists (sysfs) and a cycles counter opens for this process. */
static void host_pmu(void)
{
	struct stat st;
	static const char *const dirs[] = { "/sys/bus/event_source/devices/cpu",
					    "/sys/bus/event_source/devices/cpu_core" };
	int sysfs = 0;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		sysfs |= stat(dirs[i], &st) == 0;
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.type = PERF_TYPE_HARDWARE;
	a.size = sizeof a;
	a.config = PERF_COUNT_HW_CPU_CYCLES;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	if (fd >= 0) {
		close((int)fd);
		host_info.pmu = 1;
		host_note("pmu: perf_event_open(cycles) ok%s; ", sysfs ? "" : " (no core PMU in sysfs)");
		return;
	}
	host_info.pmu = 0;
	host_note("pmu: %s, perf_event_open(cycles): %s; ",
		  sysfs ? "core PMU in sysfs" : "no core PMU in /sys/bus/event_source/devices", strerror(errno));
}

static void host_kvm(void)
{
	struct stat st;
	host_info.kvm = 0;
	if (stat("/sys/module/kvm_pvm", &st) == 0)
		host_note("kvm: /dev/kvm is the PVM paravirtual backend (kvm_pvm): no standard guests");
	else if (access("/dev/kvm", R_OK | W_OK) != 0)
		host_note("kvm: /dev/kvm not accessible (%s)", strerror(errno));
	else if (!host_cpu_flag("vmx") && !host_cpu_flag("svm"))
		host_note("kvm: no vmx/svm CPU flag: /dev/kvm is not hardware-assisted");
	else {
		host_info.kvm = 1;
		host_note("kvm: hardware-assisted /dev/kvm usable");
	}
}

static void host_detect_once(void)
{
	struct utsname u;
	if (uname(&u) == 0) {
		snprintf(host_info.name, sizeof host_info.name, "%.63s", u.nodename);
		snprintf(host_info.kernel, sizeof host_info.kernel, "%.30s %.80s %.40s", u.sysname, u.release, u.machine);
	} else {
		snprintf(host_info.name, sizeof host_info.name, "unknown");
		snprintf(host_info.kernel, sizeof host_info.kernel, "unknown");
	}
	host_cpu_model();
	host_pmu();
	host_kvm();
}

const struct vl_host_info *vl_host_detect(void)
{
	pthread_once(&host_once, host_detect_once);
	return &host_info;
}
