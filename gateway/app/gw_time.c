/*
 * gw_time.c — the configured time zone, through ICU's calendar (gw_time.h).
 *
 * ICU has the zone rules, so a zone with daylight saving works too; the offset is
 * asked for each instant rather than kept. A UCalendar is not thread-safe: one
 * process has one loop, and the calendar belongs to it.
 */
#include "gateway/app/gw_time.h"

#include "core/mc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#define MAX_TZ_ID 64      /* UChars of a time zone id */
#define DAY_MS 86400000LL /* ms in a day */

struct gw_tz {
    UCalendar *cal;       /* the zone's calendar, owned */
    char name[MAX_TZ_ID]; /* its id */
};

gw_tz *gw_tz_new(const char *zone, char *err, size_t errlen) {
    UChar id[MAX_TZ_ID], canon[MAX_TZ_ID];
    UErrorCode st = U_ZERO_ERROR;
    UBool system = 0;
    if (!zone || strlen(zone) >= MAX_TZ_ID) {
        snprintf(err, errlen, "[scheduler] timezone missing or too long");
        return NULL;
    }
    u_uastrcpy(id, zone);
    ucal_getCanonicalTimeZoneID(id, -1, canon, MAX_TZ_ID, &system, &st);
    if (U_FAILURE(st) || !system) {
        snprintf(err, errlen, "[scheduler] timezone '%s' is not a known time zone", zone);
        return NULL;
    }
    gw_tz *tz = calloc(1, sizeof *tz);
    if (!tz) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    tz->cal = ucal_open(id, -1, "en_US", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st)) {
        snprintf(err, errlen, "[scheduler] timezone '%s': %s", zone, u_errorName(st));
        free(tz);
        return NULL;
    }
    snprintf(tz->name, sizeof tz->name, "%s", zone);
    return tz;
}

void gw_tz_free(gw_tz *tz) {
    if (!tz)
        return;
    ucal_close(tz->cal);
    free(tz);
}

const char *gw_tz_name(const gw_tz *tz) {
    return tz->name;
}

int64_t gw_tz_offset_ms(gw_tz *tz, int64_t utc_ms) {
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(tz->cal, (UDate)utc_ms, &st);
    int32_t z = ucal_get(tz->cal, UCAL_ZONE_OFFSET, &st);
    int32_t d = ucal_get(tz->cal, UCAL_DST_OFFSET, &st);
    return U_FAILURE(st) ? 0 : (int64_t)z + d;
}

/* floor(a / b) for b > 0: days before 1970 stay on the right day */
static int64_t floordiv(int64_t a, int64_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int64_t gw_tz_day(gw_tz *tz, int64_t utc_ms) {
    return floordiv(utc_ms + gw_tz_offset_ms(tz, utc_ms), DAY_MS);
}

void gw_tz_format(gw_tz *tz, int64_t utc_ms, char *out, size_t n) {
    int64_t off = gw_tz_offset_ms(tz, utc_ms);
    time_t t = (time_t)floordiv(utc_ms + off, 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[GW_TIME_RFC3339_MAX];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    long m = (long)(off / 60000);
    snprintf(out, n, "%s%c%02ld:%02ld", buf, m < 0 ? '-' : '+', labs(m) / 60, labs(m) % 60);
}

void gw_tz_human(gw_tz *tz, int64_t utc_ms, char time_out[GW_TIME_HM_MAX],
                 char date_out[GW_TIME_DMY_MAX]) {
    int64_t off = gw_tz_offset_ms(tz, utc_ms);
    time_t t = (time_t)floordiv(utc_ms + off, 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        snprintf(time_out, GW_TIME_HM_MAX, "00:00");
        snprintf(date_out, GW_TIME_DMY_MAX, "00/00/0000");
        return;
    }
    /* the moduli tell the compiler how wide each field is (gmtime's ranges) */
    snprintf(time_out, GW_TIME_HM_MAX, "%02u:%02u", (unsigned)tm.tm_hour % 24u,
             (unsigned)tm.tm_min % 60u);
    snprintf(date_out, GW_TIME_DMY_MAX, "%02u/%02u/%04u", (unsigned)tm.tm_mday % 32u,
             (unsigned)(tm.tm_mon + 1) % 13u, (unsigned)(tm.tm_year + 1900) % 10000u);
}

/* Howard Hinnant's civil_from_days; the scripts' ymd() is the same computation. */
void gw_date_of_day(int64_t day, char out[11]) {
    int64_t z = day + 719468;
    int64_t era = floordiv(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    if (y < 0 || y > 9999) { /* not a date anyone will be shown */
        snprintf(out, 11, "0000-00-00");
        return;
    }
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
             (unsigned)d % 100u);
}
