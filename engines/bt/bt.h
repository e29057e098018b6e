/* bt.h — engine bt's knobs for tests (private to engines/bt and its tests). */
#ifndef VL_BT_H
#define VL_BT_H
#include <stdint.h>

/* Use at most this many bytes of the translation cache (0 = all of it):
 * tests make the cache overflow with a small guest. Read at attach. */
extern uint32_t bt_tc_limit;

#endif
