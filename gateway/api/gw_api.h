/*
 * gw_api.h — the department API under /api/v1 (shared/spec/admin-api.md) as a
 * process opens it: bearer tokens from [admin] tokens_file, the dossier
 * statuses of gateway/api/data/statuses.txt, and every route of the API and of
 * the officers' console (dossiers, notifications and their batches, broadcasts
 * and their preview, subscriptions, templates, stats and dead letters, me and
 * wards). What the files of api/ share among themselves is in gw_api_int.h.
 */
#ifndef GW_API_H
#define GW_API_H

#include "gateway/app/gw_app.h"

#include <stddef.h>

typedef struct gw_api gw_api;

/*
 * Serve's one call: when [admin] tokens_file is set, loads the tokens and the
 * statuses and adds the /api/v1 routes to app->router, each with the module as
 * its pointer; *out is then owned by the caller (gw_api_free once the server
 * has stopped). With no tokens_file, *out = NULL and the API is not served.
 * 0, or MC_EPARSE / MC_EIO / MC_ENOMEM / MC_ETOOBIG with "file:LINE: reason"
 * or the route at fault in err.
 */
int gw_api_open(gw_app *app, gw_api **out, char *err, size_t errlen);

/* NULL is fine. */
void gw_api_free(gw_api *a);
/* Stops asking providers (template checks: one in flight is answered 503); the loop
 * must still run after it, to release the HTTP client. NULL is fine. */
void gw_api_close(gw_api *a);

#endif
