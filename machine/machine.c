/* machine.c — machine lifecycle: create/free, stop, tracing, console,
 * host-physical memory helpers and the monitor-memory page allocator. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define MACHINE_DEFAULT_MONITOR_MB 64
#define MACHINE_MAX_MB (64ull * 1024)   /* refuse absurd sizes instead of failing later */
_Static_assert(VL_RAM_MB_MAX + MACHINE_DEFAULT_MONITOR_MB <= MACHINE_MAX_MB, "VL_RAM_MB_MAX fits the default monitor");


struct vl_machine *vl_machine_new(const struct vl_machine_config *cfg, char *err, size_t errlen)
{
	struct vl_machine *m = NULL;
	uint64_t ram_mb, mon_mb;

	if (!cfg || !cfg->prof) {
		snprintf(err, errlen, "machine: no CPU profile given");
		return NULL;
	}
	ram_mb = cfg->ram_mb ? cfg->ram_mb : VL_DEFAULT_RAM_MB;
	mon_mb = cfg->monitor_mb ? cfg->monitor_mb : MACHINE_DEFAULT_MONITOR_MB;
	if (ram_mb < VL_RAM_MB_MIN || ram_mb + mon_mb > MACHINE_MAX_MB) {
		snprintf(err, errlen, "machine: unsupported memory size (%llu MiB RAM + %llu MiB monitor)",
			 (unsigned long long)ram_mb, (unsigned long long)mon_mb);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		goto oom;
	m->priv = calloc(1, sizeof(*m->priv));
	if (!m->priv)
		goto oom;
	m->prof = cfg->prof;
	m->ram_size = ram_mb << 20;
	m->mem_size = (ram_mb + mon_mb) << 20;
	/* Guest memory: anonymous, lazily zeroed by the host kernel; transparent
	 * huge pages where the host allows (first touches of guest RAM are then
	 * 512x fewer host page faults). Host-side only: no modelled count changes. */
	void *mem = mmap(NULL, m->mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		goto oom;
	m->mem = mem;
#ifdef MADV_HUGEPAGE
	madvise(mem, m->mem_size, MADV_HUGEPAGE);
#endif
	m->max_insns = cfg->max_insns;
	m->max_cycles = cfg->max_cycles;
	m->region_id = 0;
	m->ctr = &m->region[0];
	m->state = VL_M_RUNNING;
	m->priv->mem.monitor_next = m->ram_size;
	if (vl_mem_priv_init(m) != 0)
		goto oom;
	vl_dev_reset(m);
	if (vl_cpu_priv_init(m) != 0)
		goto oom;
	vl_cpu_reset(m);
	vl_dev_cpu_reset(m);
	return m;
oom:
	snprintf(err, errlen, "machine: out of host memory");
	vl_machine_free(m);
	return NULL;
}

void vl_machine_free(struct vl_machine *m)
{
	if (!m)
		return;
	if (m->priv) {
		vl_cpu_priv_free(m);
		vl_mem_priv_free(m);
		free(m->priv);
	}
	if (m->mem)
		munmap(m->mem, m->mem_size);
	free(m->console);
	free(m);
}

void vl_machine_stop(struct vl_machine *m, enum vl_mstate st, const char *fmt, ...)
{
	va_list ap;

	m->state = st;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(m->diag, sizeof(m->diag), fmt, ap);
		va_end(ap);
	}
}

void vl_trace(struct vl_machine *m, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!m->trace || (m->trace_region && m->region_id != m->trace_region))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	m->trace(m->trace_arg, line);
}

/* Append one byte to the console buffer (debug port). The buffer is
 * capped so a guest printing forever cannot exhaust host memory. */
#define MACHINE_CONSOLE_MAX (16u << 20)
void vl_console_putc(struct vl_machine *m, char c)
{
	if (m->console_len + 2 > m->console_cap) {
		size_t ncap = m->console_cap ? m->console_cap * 2 : 4096;
		char *n;

		if (ncap > MACHINE_CONSOLE_MAX)
			return;
		n = realloc(m->console, ncap);
		if (!n)
			return;
		m->console = n;
		m->console_cap = ncap;
	}
	m->console[m->console_len++] = c;
	m->console[m->console_len] = '\0';
}

uint64_t vl_phys_read64(struct vl_machine *m, uint64_t pa)
{
	uint64_t v = ~0ull;

	if (pa <= m->mem_size - 8)
		memcpy(&v, m->mem + pa, 8);
	return v;
}

/* Invalidate decoded code in every frame that [pa, pa+n) touches, and
 * tell the VMM about writes to the frames it watches (machine.h
 * "Code-write notification"). */
void vl_mem_note_write(struct vl_machine *m, uint64_t pa, size_t n)
{
	uint64_t f, last;

	if (n == 0)
		return;
	last = (pa + n - 1) >> 12;
	for (f = pa >> 12; f <= last && f < (m->mem_size >> 12); f++) {
		uint8_t cf = m->priv->mem.code_frames[f];
		if (cf & VL_CODE_DECODED)
			vl_dcache_invalidate_frame(m, f);
		if ((cf & VL_CODE_WATCHED) && m->code_write) {
			uint64_t lo = f << 12 > pa ? f << 12 : pa, hi = ((f + 1) << 12) < pa + n ? (f + 1) << 12 : pa + n;
			m->code_write(m, m->code_write_ctx, f, (unsigned)(lo & 0xfff), (unsigned)(hi - lo));
		}
	}
}

int vl_code_watch(struct vl_machine *m, uint64_t frame, bool on)
{
	if (frame >= (m->mem_size >> 12))
		return -1;
	uint8_t *cf = &m->priv->mem.code_frames[frame];
	*cf = on ? (uint8_t)(*cf | VL_CODE_WATCHED) : (uint8_t)(*cf & ~VL_CODE_WATCHED);
	return 0;
}

bool vl_code_watched(const struct vl_machine *m, uint64_t frame)
{
	return frame < (m->mem_size >> 12) && (m->priv->mem.code_frames[frame] & VL_CODE_WATCHED);
}

void vl_phys_write64(struct vl_machine *m, uint64_t pa, uint64_t v)
{
	if (pa > m->mem_size - 8)
		return;
	memcpy(m->mem + pa, &v, 8);
	vl_mem_note_write(m, pa, 8);
}

int vl_phys_write(struct vl_machine *m, uint64_t pa, const void *src, size_t n)
{
	if (pa > m->mem_size || n > m->mem_size - pa)
		return -1;
	memcpy(m->mem + pa, src, n);
	vl_mem_note_write(m, pa, n);
	return 0;
}

void vl_machine_drop_monitor(struct vl_machine *m)
{
	if (m->mem_size == m->ram_size)
		return;
	/* RAM and monitor sizes are whole MiB, so the tail is page aligned */
	munmap(m->mem + m->ram_size, m->mem_size - m->ram_size);
	m->mem_size = m->ram_size;
	m->priv->mem.monitor_next = m->ram_size;
}

uint64_t vl_mem_alloc_page(struct vl_machine *m)
{
	uint64_t pa = m->priv->mem.monitor_next;

	if (pa + 4096 > m->mem_size)
		return 0;
	m->priv->mem.monitor_next = pa + 4096;
	memset(m->mem + pa, 0, 4096);
	return pa;
}
