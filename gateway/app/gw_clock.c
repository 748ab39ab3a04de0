/*
 * gw_clock.c — wall-clock milliseconds with a test offset. One process, one
 * loop thread: a plain static offset is enough.
 */
#include "gateway/app/gw_clock.h"

#include "core/mc.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static int64_t offset_ms; /* added to the real clock; 0 outside tests */

int64_t gw_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + offset_ms;
}

void gw_clock_shift(int64_t delta_ms) {
    offset_ms += delta_ms;
}

int gw_clock_shift_str(const char *value) {
    if (!value || !*value)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || *end)
        return MC_EINVAL;
    gw_clock_shift((int64_t)v);
    return 0;
}
