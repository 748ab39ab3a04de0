/*
 * gw_fanout.h — the broadcast fan-out: a due broadcast (mc:bc:due) becomes one
 * notification per subscriber of its wards (and tags), in batches, for the
 * scheduler to route. The Redis shapes are in gw_sched.h.
 */
#ifndef GW_FANOUT_H
#define GW_FANOUT_H

#include "gateway/app/gw_app.h"

#include <stddef.h>

typedef struct gw_fanout gw_fanout;

/* A batch wrote new notifications, due now: route them without waiting. */
typedef void gw_fanout_added_fn(void *priv);

/* A fan-out on app (borrowed); added(priv) after each batch that wrote
 * notifications. NULL on OOM. */
gw_fanout *gw_fanout_new(gw_app *app, gw_fanout_added_fn *added, void *priv);

/* Fans out one batch of the oldest due broadcast, and batch after batch while
 * they make progress; nothing when a batch is in flight or Redis is down. */
void gw_fanout_run(gw_fanout *f);

/* A batch in flight finishes in Redis (the script is atomic); its answer is
 * dropped. NULL is fine. */
void gw_fanout_free(gw_fanout *f);

#endif
