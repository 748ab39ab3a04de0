/*
 * gw_me.c — who the caller is and where it may act: GET /me (the token's
 * department, scopes and areas) and GET /wards (every ward of
 * vi-nlp/data/wards.csv in Vietnamese order, each saying whether the token may
 * address it). The console builds its forms from these two; any valid token
 * may read them.
 */
#include "gateway/api/gw_api_int.h"

void gw_me(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    (void)a;
    json_t *me = gw_api_token_json(t);
    /* who, beyond the department: the officer and their role, or the API key's name (a
     * token of the file answers as it always has) */
    if (me && gw_api_token_kind(t) == GW_API_OFFICER) {
        json_object_set_new(me, "user", json_string(gw_api_token_name(t)));
        json_object_set_new(me, "role", json_string(gw_off_role_name(gw_api_token_role(t))));
    } else if (me && gw_api_token_kind(t) == GW_API_KEY)
        json_object_set_new(me, "key", json_string(gw_api_token_name(t)));
    gw_api_answer(rq, 200, me);
}

void gw_wards(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    const gw_shared *data = gw_api_data(a);
    json_t *arr = json_array();
    for (size_t i = 0; i < gw_shared_ward_count(data); i++) {
        const gw_ward *w = gw_shared_ward_at(data, i);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b}", "id", w->id, "name", w->name,
                                             "slug", w->slug, "allowed",
                                             gw_api_token_area_ok(t, w->id)));
    }
    gw_api_answer(rq, 200, json_pack("{s:o}", "wards", arr));
}
