/*
 * gw_report.h — what the department console reads about sending (issue 6):
 * daily outcome counters (GET /api/v1/stats), the department's dead letters
 * (GET /api/v1/dead) and their retry (POST /api/v1/dead/{id}/retry), and the
 * retention sweeper that removes texts and recipients of finished
 * notifications after [scheduler] retention_days. The counters and the dead
 * list are written by the scripts that settle notifications (gw_sched.h,
 * GW_DAY_NOTE_LUA); the Redis shapes are described there.
 */
#ifndef GW_REPORT_H
#define GW_REPORT_H

#include "gateway/api/gw_admin.h"
#include "gateway/app/gw_app.h"

#include <stddef.h>
#include <stdint.h>

#define GW_REPORT_MAX_DAYS 31  /* days one GET /stats may ask for */
#define GW_REPORT_MAX_DEAD 200 /* dead letters one GET /dead may ask for */
#define GW_REPORT_DATE_LEN 11  /* "yyyy-mm-dd" and its NUL */

typedef struct gw_report gw_report;

/*
 * Serve's one call once gw_admin_open has loaded the tokens (the routes check
 * them with gw_admin_authorize): registers the routes and starts the retention
 * sweeper on the app's loop; it runs every [scheduler] retention_sweep_ms while
 * Redis is up and never keeps the loop alive by itself. *out is owned by the
 * caller: gw_report_free after the store is freed. 0, or MC_ETOOBIG / MC_ENOMEM
 * with err.
 */
int gw_report_open(gw_app *app, const gw_admin *admin, gw_report **out, char *err, size_t errlen);

/* Stops the sweeper; a sweep in flight finishes in Redis (its script is atomic).
 * NULL is fine. */
void gw_report_free(gw_report *r);

/* Pure helpers, exposed for the unit tests. */

/* The day number (days since 1970-01-01) of utc_ms in Asia/Ho_Chi_Minh. */
int64_t gw_report_day(int64_t utc_ms);

/* "yyyy-mm-dd" of a day number (proleptic Gregorian), into out. The Lua ymd() of
 * GW_DAY_NOTE_LUA is the same computation. */
void gw_report_date(int64_t day, char out[GW_REPORT_DATE_LEN]);

/* The positive integer query parameter `name` of a canonical query string (see
 * gw_req_query) into *out: def when absent, MC_EINVAL when not a whole number in
 * [min, max]. */
int gw_report_query_long(const char *query, size_t qlen, const char *name, long def, long min,
                         long max, long *out);

/* A recipient for display: phones "+8490****567" (gw_mask_pii), other ids keep
 * their first 2 and last 2 characters around "****" (only "****" when 6
 * characters or fewer). Always NUL-terminated. */
void gw_report_mask(const char *to, char *out, size_t n);

#endif
