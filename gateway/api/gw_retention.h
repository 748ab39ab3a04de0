/*
 * gw_retention.h — the retention sweeper: a background job on the loop's timer
 * that removes the texts and recipients of notifications finished more than
 * [scheduler] retention_days ago (keeping their status, channel, attempts and
 * the counters), redacts the dead letters of that age, and indexes once the
 * notifications that finished before the index of finished ones existed. The
 * index (final) and the dead list are written by the scripts that settle
 * notifications (gateway/store/gw_lua.h GW_DAY_NOTE_LUA).
 */
#ifndef GW_RETENTION_H
#define GW_RETENTION_H

#include "gateway/api/gw_api.h"
#include "gateway/app/gw_app.h"

#include <stddef.h>

typedef struct gw_retention gw_retention;

/*
 * Serve's one call once the API is open: where the API is served (api non-NULL;
 * otherwise *out = NULL and nothing runs), starts the sweeper on the app's
 * loop. It runs every [scheduler] retention_sweep_ms while Redis is up and
 * never keeps the loop alive by itself. *out is owned by the caller:
 * gw_retention_free in the close phase. 0, or MC_ENOMEM with err.
 */
int gw_retention_open(gw_app *app, const gw_api *api, gw_retention **out, char *err, size_t errlen);

/* Stops the sweeper; a sweep in flight finishes in Redis (its script is atomic)
 * and the memory goes once its answer and the timer's close have come. NULL is
 * fine. */
void gw_retention_free(gw_retention *r);

#endif
