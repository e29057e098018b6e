/* hostcpu.h — which CPU is this host, by CPUID, and which profile models it
 * (engines/host/hostcpu.c). `virtlab validate` compares the host twins with
 * the model on that profile, or says which profile it used instead and why. */
#ifndef VIRTLAB_HOSTCPU_H
#define VIRTLAB_HOSTCPU_H

#include <stdbool.h>
#include <stddef.h>

struct vl_hostcpu {
	char vendor[13];          /* "GenuineIntel", "AuthenticAMD", ... */
	char brand[49];           /* CPUID 0x80000002..4, trimmed */
	unsigned family, model, stepping;   /* display family/model (SDM / APM rules) */
	bool hypervisor;          /* CPUID.1:ECX[31]: running as a virtual machine */
	bool amx;                 /* CPUID.(7,0):EDX[24] AMX-TILE: Sapphire Rapids and later Xeons */
};

/* This CPU, by CPUID. */
void vl_hostcpu_identify(struct vl_hostcpu *c);

/* The profile that models c: its name into profile, and into why one line
 * saying how it was chosen ("CPUID family 0x1a: AMD Zen 5" or, without an
 * exact match, which profile stands in and why). Returns 1 for an exact
 * family/model match, 0 for a stand-in. */
int vl_hostcpu_profile(const struct vl_hostcpu *c, char *profile, size_t n, char *why, size_t whylen);

#endif
