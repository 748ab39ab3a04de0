/*
 * gw_sched.h — the notification scheduler: moves due notifications from the
 * sorted set mc:due to the outbound streams mc:out:<channel>.
 *
 * Redis shapes (shared with the department API):
 *   hash   mc:notif:<id>  dept status text to channels idx send_at_ms not_after_ms
 *                         priority created_ms [broadcast]; the scheduler adds channel,
 *                         the sender provider_id and sent_ms. A broadcast recipient
 *                         has no text of its own: readers take mc:bc:<broadcast>'s
 *   zset   mc:due         member <id>, score = due time in ms
 *   list   mc:notif:<id>:attempts  JSON {channel, at, result, error}
 *   hash   mc:dlv:<channel>:<provider id>  status entry ref notif at (the sender;
 *                         kept 7 days: receipts find the notification by it)
 *   hash   mc:wire:<channel>  entry id → part (the sender's wire marks, gw_marks.c)
 *   hash   mc:conv:<channel>:<user id>  last_in_ms (chat windows)
 *   hash   mc:rate:<channel>  tokens ts (the shared per-channel token bucket)
 *
 * Broadcasts (recorded by the department API, fanned out by gw_fanout.c):
 *   hash   mc:bc:<id>     dept status text wards channels tags priority send_at_ms
 *                         not_after_ms created_ms recipients count:<channel>; the
 *                         fan-out adds fanned fanned:<channel> cursor ward_idx
 *                         scan_run fan_started_ms fan_done_ms, and the outcomes
 *                         st:<status>:<channel> and finished (see GW_BC_NOTE_LUA);
 *                         retention adds stripped (recipients whose retention
 *                         ended) and, once every recipient's has, removes the
 *                         text (text_removed text_removed_ms)
 *   zset   mc:bc:due      member <id>, score = send_at_ms
 *   set    mc:bc:<id>:seen  recipients fanned so far (deleted when fan-out ends)
 *   status scheduled → fanning → sending → done, or cancelled
 *   Each recipient becomes notification <bc id>-<n> with broadcast=<bc id>.
 */
#ifndef GW_SCHED_H
#define GW_SCHED_H

#include "gateway/app/gw_app.h"
#include "gateway/store/gw_store.h"
#include "gateway/store/gw_keys.h"

#include <stdint.h>

typedef struct gw_sched gw_sched;

/* Starts the timer at once; it runs while Redis is up. 0 and *out; else *out
 * is NULL, the reason in err: MC_EINVAL (unknown [scheduler] timezone, bad
 * [sms] quiet_hours), MC_ENOMEM. */
int gw_sched_open(gw_app *app, gw_sched **out, char *err, size_t errlen);

/* Runs a pass now instead of at the next tick (new or re-routed notifications). */
void gw_sched_wake(gw_sched *s);

/* Stops; a pass or fan-out batch in flight finishes in Redis (the scripts are
 * atomic). NULL is fine. */
void gw_sched_free(gw_sched *s);

/* Minutes since local midnight of "HH:MM-HH:MM" into *start and *end; 0 or
 * MC_EINVAL. Exposed for the unit tests. */
int gw_sched_parse_hours(const char *s, int *start, int *end);

/* UTC offset of the time zone tz at utc_ms, in ms, into *off; 0 or MC_EINVAL
 * (unknown zone, reason in err). */
int gw_sched_tz_offset(const char *tz, int64_t utc_ms, int64_t *off, char *err, size_t errlen);

#endif
