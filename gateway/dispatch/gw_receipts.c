/*
 * gw_receipts.c — a receipt moves its notification on (gw_receipts.h).
 */
#include "gateway/dispatch/gw_receipts.h"

#include "core/mc.h"
#include "gateway/app/gw_time.h"
#include "gateway/dispatch/gw_ack_lua.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_script.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

struct gw_receipts {
    gw_app *app;      /* borrowed */
    gw_script script; /* gw_lua_receipt with the keyspace prelude */
};

int gw_receipts_open(gw_app *app, gw_receipts **out, char *err, size_t errlen) {
    gw_receipts *r = *out = calloc(1, sizeof *r);
    if (!r || gw_script_load(&r->script, app->store, "receipt", app->keys, gw_lua_receipt)) {
        snprintf(err, errlen, "out of memory");
        gw_receipts_free(r);
        *out = NULL;
        return MC_ENOMEM;
    }
    r->app = app;
    return 0;
}

void gw_receipts_free(gw_receipts *r) {
    if (!r)
        return;
    gw_script_clear(&r->script);
    free(r);
}

int gw_receipts_apply(gw_receipts *r, const char *notif, const char *channel, const char *status,
                      int64_t at_ms, gw_store_cb *cb, void *priv) {
    long part = gw_keyspace_part_of_id(r->app->keys, notif);
    if (part < 0)
        return MC_EINVAL;
    gw_argv a = {0};
    gw_argv_evalsha(&a, &r->script);
    gw_argv_adds(&a, "1");
    gw_argv_addkey(&a, r->app->keys, GW_K_NOTIF, (unsigned)part, notif);
    gw_argv_adds(&a, notif);
    gw_argv_adds(&a, channel);
    gw_argv_adds(&a, status);
    gw_argv_addf(&a, "%" PRId64, at_ms);
    gw_argv_addf(&a, "%" PRId64, gw_tz_offset_ms(r->app->tz, at_ms));
    int rc = gw_argv_send(r->app->store, &a, cb, priv);
    gw_argv_free(&a);
    return rc;
}
