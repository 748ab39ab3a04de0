/*
 * gw_sched.h — the notification scheduler: moves due notifications from each
 * partition's due set to that partition's outbound stream of their channel, and
 * hands due broadcasts to the fan-out (gw_fanout.h).
 *
 * Redis shapes (families of store/gw_keys.h; shared with the department API):
 *   notif   hash  dept status text to channels idx send_at_ms not_after_ms priority
 *                 created_ms [broadcast]; the scheduler adds channel, the sender
 *                 provider_id and sent_ms. A broadcast recipient has no text of its
 *                 own: readers take its broadcast's bc_part text; nor idx,
 *                 send_at_ms, created_ms, nor priority and not_after_ms unless urgent
 *                 or set (readers default idx 0, priority normal, not_after 0)
 *   due     zset  member notification id, score = due time in ms
 *   attempts list JSON {channel, at, result, error}
 *   dlv     hash  status entry ref notif at (the sender; kept 7 days: receipts find
 *                 the notification by it)
 *   wire    hash  entry id → part (the sender's wire marks, gw_marks.c)
 *   conv    hash  last_in_ms (chat windows; checked by the sender)
 *   rate    hash  tokens ts (a channel's token bucket; own tag)
 *
 * Broadcasts (recorded by the department API, fanned out by gw_fanout.c):
 *   bc      hash  in the broadcast's partition: dept status text wards channels tags
 *                 priority send_at_ms not_after_ms created_ms recipients
 *                 count:<channel>; the fan-out adds fan_started_ms fan_done_ms
 *   bc_due  zset  member <id>, score = send_at_ms
 *   bc_part hash  in every partition: status text dept fanned fanned:<channel> cursor
 *                 ward_idx scan_run fan_started_ms fan_done_ms, the outcomes
 *                 st:<status>:<channel> and finished (see GW_BC_NOTE_LUA)
 *   bc_seen set   recipients fanned so far in a partition (deleted when it is done)
 *   status scheduled → fanning → sending (→ done, when every partition is), or
 *   cancelled. Each recipient becomes notification <partition>-<bc id>-<n> with
 *   broadcast=<bc id>.
 */
#ifndef GW_SCHED_H
#define GW_SCHED_H

#include "gateway/app/gw_app.h"

typedef struct gw_sched gw_sched;

/* Starts the timer at once; it runs while Redis is up. 0 and *out; else *out
 * is NULL, the reason in err: MC_EINVAL (a bad [<channel>] quiet_hours), MC_ENOMEM. */
int gw_sched_open(gw_app *app, gw_sched **out, char *err, size_t errlen);

/* Runs a pass now instead of at the next tick (new or re-routed notifications). */
void gw_sched_wake(gw_sched *s);

/* Stops; a pass or fan-out batch in flight finishes in Redis (the scripts are
 * atomic). NULL is fine. */
void gw_sched_free(gw_sched *s);

/* Minutes since local midnight of "HH:MM-HH:MM" into *start and *end; 0 or
 * MC_EINVAL. Exposed for the unit tests. */
int gw_sched_parse_hours(const char *s, int *start, int *end);

#endif
