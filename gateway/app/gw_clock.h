/*
 * gw_clock.h — the wall clock of the gateway, in one place so that tests can
 * move it (quiet hours, backoff, expiry) without sleeping.
 */
#ifndef GW_CLOCK_H
#define GW_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch, plus the offset set with gw_clock_shift. */
int64_t gw_now_ms(void);

/* Moves the clock by delta_ms (tests only; see [server] test_clock). */
void gw_clock_shift(int64_t delta_ms);

#define GW_CLOCK_OFFSET_ENV "MOTCUA_TEST_CLOCK_OFFSET_MS" /* read only with [server] test_clock */

/* Shifts the clock by the decimal milliseconds in `value` (the environment
 * variable GW_CLOCK_OFFSET_ENV; NULL or "" = no shift). 0, or MC_EINVAL when it
 * is not a whole number. */
int gw_clock_shift_str(const char *value);

#endif
