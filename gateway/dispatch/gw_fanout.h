/*
 * gw_fanout.h — the broadcast fan-out: a due broadcast becomes one notification
 * per subscriber of its wards (and tags), partition by partition, in batches, for
 * the scheduler to route. The Redis shapes are in gw_sched.h.
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

/* Broadcast id (seen due by a pass of the scheduler) is fanned out, batch after
 * batch and partition after partition, unless this fan-out is busy with one (the
 * next pass names it again) or Redis is down. */
void gw_fanout_due(gw_fanout *f, const char *id);

/* A script in flight finishes in Redis (each is atomic); its answer is dropped.
 * NULL is fine. */
void gw_fanout_free(gw_fanout *f);

#endif
