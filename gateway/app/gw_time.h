/*
 * gw_time.h — local time in the configured zone ([scheduler] timezone, default
 * Asia/Ho_Chi_Minh): the one place that knows the zone. Quiet hours, daily
 * counters, dates shown to people and the dates the Lua scripts compute all ask
 * it, so a deployment elsewhere changes one key, not four constants.
 */
#ifndef GW_TIME_H
#define GW_TIME_H

#include <stddef.h>
#include <stdint.h>

#define GW_TIME_RFC3339_MAX 32 /* "2026-12-03T20:11:36+07:00" and its NUL */
#define GW_TIME_HM_MAX 6       /* "20:11" and its NUL */
#define GW_TIME_DMY_MAX 11     /* "03/12/2026" and its NUL */

typedef struct gw_tz gw_tz;

/* The zone (an IANA id ICU knows); NULL with a reason in err. */
gw_tz *gw_tz_new(const char *zone, char *err, size_t errlen);
void gw_tz_free(gw_tz *tz);

/* The zone's id, as configured. */
const char *gw_tz_name(const gw_tz *tz);

/* The zone's offset from UTC at utc_ms (daylight saving included), in ms. */
int64_t gw_tz_offset_ms(gw_tz *tz, int64_t utc_ms);

/* The local day number (days since 1970-01-01) of utc_ms. */
int64_t gw_tz_day(gw_tz *tz, int64_t utc_ms);

/* utc_ms as local RFC 3339 with the zone's offset ("...T20:11:36+07:00") into out. */
void gw_tz_format(gw_tz *tz, int64_t utc_ms, char *out, size_t n);

/* utc_ms as a person reads it in the zone: the time "20:11" and the date "03/12/2026"
 * (what joins them, "20:11 ngày 03/12/2026", is the wording's: data files). */
void gw_tz_human(gw_tz *tz, int64_t utc_ms, char time_out[GW_TIME_HM_MAX],
                 char date_out[GW_TIME_DMY_MAX]);

/* "yyyy-mm-dd" of a day number (proleptic Gregorian) into out (11 bytes). */
void gw_date_of_day(int64_t day, char out[11]);

#endif
