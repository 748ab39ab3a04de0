/*
 * gw_cost.c — what sending costs, per channel, for the department's previews (issue 14):
 * the units a provider charges one text by (SMS segments of the text as it would go,
 * unaccented when the channel sends so; one ZNS message) and their price ([sms]
 * price_per_segment_vnd, [zalo] price_per_zns_vnd). The batch dry run and the broadcast
 * preview add the same "cost" object, so the console shows a bulk send and a broadcast
 * alike: {"<channel>": {"recipients", "units", "cost_vnd"?}, ...} and the total.
 *
 * Big idea: the same adapter preview the sender's counting matches (channels' preview),
 * so the estimate is what GET /stats later prices from what was really sent.
 */
#include "gateway/api/gw_api_int.h"

#include "channels/ch.h"
#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "vi-nlp/vn_norm.h"

#include <stdlib.h>
#include <string.h>

long gw_cost_units(const gw_app *app, const char *ch, const char *text, size_t len) {
    const ch_adapter *ad = ch_adapter_find(ch);
    const ch_settings *st = app ? gw_channel_conf(app->cfg, ch) : NULL;
    if (!ad || !st || !ad->preview || !text)
        return 0;
    char *plain = NULL;
    size_t plain_len = 0;
    if (ad->policy && ad->policy->unaccent && st->unaccented &&
        vn_unaccent(app->vn, text, len, &plain, &plain_len))
        plain = NULL; /* counted as written, then (as channel_preview does) */
    ch_preview pv;
    long units = 0;
    if (ad->preview(st, plain ? plain : text, plain ? plain_len : len, &pv) == 0) {
        units = pv.units;
        ch_preview_clear(&pv);
    }
    free(plain);
    return units;
}

int gw_cost_add(const gw_app *app, json_t *cost, const char *ch, long long recipients, long units) {
    json_t *c = json_object_get(cost, ch);
    if (!c) {
        c = json_pack("{s:I, s:I}", "recipients", (json_int_t)0, "units", (json_int_t)0);
        if (!c || json_object_set_new(cost, ch, c))
            return MC_ENOMEM;
    }
    json_int_t r = json_integer_value(json_object_get(c, "recipients")) + recipients;
    json_int_t u = json_integer_value(json_object_get(c, "units")) + recipients * units;
    json_object_set_new(c, "recipients", json_integer(r));
    json_object_set_new(c, "units", json_integer(u));
    const ch_settings *st = app ? gw_channel_conf(app->cfg, ch) : NULL;
    if (st && st->price_vnd > 0)
        json_object_set_new(c, "cost_vnd", json_integer(u * st->price_vnd));
    return 0;
}

json_int_t gw_cost_total(const json_t *cost) {
    const char *ch;
    json_t *c;
    json_int_t t = 0;
    json_object_foreach((json_t *)cost, ch, c) t +=
        json_integer_value(json_object_get(c, "cost_vnd"));
    return t;
}
