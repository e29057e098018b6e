/* devices.h — platform-half private state for devices. Owned by the platform half. */
#ifndef VL_MACHINE_DEVICES_H
#define VL_MACHINE_DEVICES_H
#include <stdint.h>
struct vl_dev_priv {
	uint32_t apic_lvt_timer, apic_tmict, apic_tdcr;
	uint64_t timer_deadline;      /* TSC of next expiry, UINT64_MAX = off */
};
#endif
