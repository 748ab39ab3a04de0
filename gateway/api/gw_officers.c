/*
 * gw_officers.c — a department's officers, for its admins (shared/spec/officers.md):
 * GET /officers, POST /officers {"user","role","areas"}, PUT /officers/{user}
 * {"role","areas"}, POST /officers/{user}/disable|enable|reset.
 *
 * Big idea: the same scripts as `motcua officer` (gw_officer.h), so the console and the
 * command line cannot disagree. A new officer (and a reset one) gets a one-time password
 * and a TOTP secret, shown once in the answer with the secret's QR code (an SVG drawn
 * here); only the password's Argon2id hash is kept, made on the thread pool. An admin
 * gives no more than they have: areas within their own, and never changes their own
 * role nor disables themselves (a department cannot lock itself out that way).
 */
#include "gateway/api/gw_api_int.h"

#include "core/mc.h"
#include "gateway/app/gw_log.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AREAS_CSV_MAX (GW_API_MAX_AREAS * GW_API_ID_MAX) /* an officer's areas, text */

/* What an officer request carries through its steps. */
typedef struct officer_req {
    char user[GW_API_NAME_MAX + 1]; /* the officer */
    gw_off_role role;               /* new role (add, PUT), or GW_OFF_NOBODY */
    char areas[AREAS_CSV_MAX];      /* new areas ("*" or ids), or "" */
    char action[32];                /* add, update, disable, enable, reset */
    char otp[GW_OFF_OTP_LEN + 1];   /* the one-time password given (add, reset) */
    char totp[GW_OFF_TOTP_B32_MAX]; /* the TOTP secret given (add, reset) */
    char hash[GW_OFF_HASH_MAX];     /* the one-time password's hash */
    int hash_rc;                    /* gw_off_password_hash's answer */
} officer_req;

static void officer_req_clear(void *p) {
    OPENSSL_cleanse(p, sizeof(officer_req)); /* the one-time password and TOTP secret */
}

/* The areas of a body's "areas" (an array of ward ids or slugs, or ["*"]) into csv
 * (canonical ids), each within the admin's own. 0 or MC_EINVAL with e. */
static int parse_areas(const gw_api *a, const gw_api_token *t, const json_t *arr, char *csv,
                       size_t n, gw_api_err *e) {
    size_t i;
    json_t *v;
    csv[0] = '\0';
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > GW_API_MAX_AREAS)
        return gw_api_err_set(e, 400, "bad_field", "areas",
                              "areas is an array of 1..%d ward ids, or [\"*\"]", GW_API_MAX_AREAS);
    json_array_foreach(arr, i, v) {
        char path[32];
        snprintf(path, sizeof path, "areas[%zu]", i);
        const char *s = json_string_value(v);
        const char *id = NULL;
        if (s && !strcmp(s, "*")) {
            if (json_array_size(arr) != 1)
                return gw_api_err_set(e, 400, "bad_field", path, "\"*\" stands alone");
            if (!gw_api_token_area_ok(t, "*"))
                return gw_api_err_set(e, 403, "forbidden", path,
                                      "only an admin of every ward may give every ward");
            snprintf(csv, n, "*");
            return 0;
        }
        const gw_ward *w = s ? gw_shared_ward_find(gw_api_data(a), s) : NULL;
        if (!w)
            return gw_api_err_set(e, 400, "bad_field", path, "unknown ward");
        id = w->id;
        if (!gw_api_token_area_ok(t, id))
            return gw_api_err_set(e, 403, "forbidden", path, "%s",
                                  "outside the areas of this department");
        size_t used = strlen(csv);
        char needle[GW_API_ID_MAX + 3];
        snprintf(needle, sizeof needle, ",%s,", id);
        char hay[AREAS_CSV_MAX + 3];
        snprintf(hay, sizeof hay, ",%s,", csv);
        if (used && strstr(hay, needle))
            return gw_api_err_set(e, 400, "bad_field", path, "listed twice");
        if (used + strlen(id) + 2 > n)
            return gw_api_err_set(e, 400, "bad_field", "areas", "too many areas");
        snprintf(csv + used, n - used, "%s%s", used ? "," : "", id);
    }
    return 0;
}

/* The actor of an op, for created_by. */
static void actor_of(const gw_api_op *o, char *out, size_t n) {
    gw_api_token_actor(o->t, out, n);
}

/* "*" or "a,b" as a JSON array (new reference). */
static json_t *areas_json(const char *csv) {
    json_t *arr = json_array();
    for (const char *p = csv; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        json_array_append_new(arr, json_stringn(p, l));
        p += l + (comma != NULL);
    }
    return arr;
}

/* A time in ms (text) as RFC 3339, or null for "" / "0". */
static json_t *time_json(const gw_api *a, const char *ms) {
    long long v = ms ? strtoll(ms, NULL, 10) : 0;
    if (v <= 0)
        return json_null();
    char t[GW_API_TIME_MAX];
    gw_api_format_time(a, v, t, sizeof t);
    return json_string(t);
}

/* ------------------------------------------------------------------ GET */

static const char *str_at(const redisReply *r, size_t i) {
    return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : "";
}

static void on_list(gw_api_op *o, const redisReply *r) {
    json_t *list = json_array();
    for (size_t i = 0; i + GW_OFF_LIST_FIELDS <= r->elements; i += GW_OFF_LIST_FIELDS) {
        /* user, role, areas, state, created_ms, created_by, last_sign_in_ms, must_change */
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:o, s:s, s:o, s:s, s:o, s:b}", "user", str_at(r, i),
                            "role", str_at(r, i + 1), "areas", areas_json(str_at(r, i + 2)),
                            "state", str_at(r, i + 3), "created_at",
                            time_json(o->api, str_at(r, i + 4)), "created_by", str_at(r, i + 5),
                            "last_sign_in", time_json(o->api, str_at(r, i + 6)),
                            "must_change_password", !strcmp(str_at(r, i + 7), "1")));
    }
    gw_api_answer(o->rq, 200, json_pack("{s:o}", "officers", list));
}

/* ------------------------------------------------------- add and reset */

/* The one-time password and TOTP secret of an add or a reset; the hash on the pool. */
static int new_secrets(officer_req *q) {
    gw_off_otp(q->otp);
    return gw_off_totp_secret(q->totp);
}

static void hash_work(gw_api_op *o) {
    officer_req *q = o->res;
    q->hash_rc = gw_off_password_hash(q->otp, strlen(q->otp), q->hash);
}

/* {"user","password","totp","totp_secret","qr_svg"} and the rest of the record. */
static void answer_secrets(gw_api_op *o, int status, json_t *extra) {
    officer_req *q = o->res;
    char uri[GW_OFF_TOTP_URI_MAX];
    char *svg = NULL;
    if (gw_off_totp_uri(q->user, q->totp, uri, sizeof uri) || !(svg = gw_off_qr_svg(uri))) {
        json_decref(extra);
        gw_api_oom(o->rq);
        return;
    }
    json_t *ans = json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", q->user, "password", q->otp,
                            "totp", uri, "totp_secret", q->totp, "qr_svg", svg);
    free(svg);
    if (ans && extra)
        json_object_update(ans, extra);
    json_decref(extra);
    OPENSSL_cleanse(uri, sizeof uri);
    gw_api_answer(o->rq, status, ans);
}

static void on_added(gw_api_op *o, const redisReply *r) {
    officer_req *q = o->res;
    if (r->integer != 1) {
        gw_api_fail(o->rq, 409, "conflict", "user", "the officer %s exists", q->user);
        return;
    }
    gw_log(GW_INFO, "admin.officer_added", "{s:s, s:s, s:s}", "dept", o->dept, "user", q->user,
           "role", gw_off_role_name(q->role));
    gw_audit_op(
        o, "officer.add", q->user,
        json_pack("{s:s, s:o}", "role", gw_off_role_name(q->role), "areas", areas_json(q->areas)));
    answer_secrets(o, 201,
                   json_pack("{s:s, s:o, s:s}", "role", gw_off_role_name(q->role), "areas",
                             areas_json(q->areas), "state", "enabled"));
}

static void on_login(gw_api_op *o, const redisReply *r) {
    officer_req *q = o->res;
    if (r->integer != 1) {
        gw_api_fail(o->rq, 409, "conflict", "user",
                    "the user name %s belongs to another department", q->user);
        return;
    }
    char by[GW_API_ACTOR_MAX], now[24];
    actor_of(o, by, sizeof by);
    snprintf(now, sizeof now, "%" PRId64, o->now);
    gw_argv av = GW_API_EVAL(o->api, gw_off_add_lua, 2);
    gw_api_add_dept_key_part(&av, o->api, GW_K_OFFICER, o->dept, q->user);
    gw_api_add_dept_key(&av, o->api, GW_K_OFFICERS, o->dept);
    const char *args[] = {q->user, gw_off_role_name(q->role), q->areas, q->hash, q->totp, now, by};
    for (size_t i = 0; i < MC_ARRAY_LEN(args); i++)
        gw_argv_adds(&av, args[i]);
    gw_api_op_send(o, &av, GW_API_INT, on_added);
}

/* The hash is made: claim the user name (its own partition), then write the officer. */
static void add_hashed(gw_api_op *o) {
    officer_req *q = o->res;
    if (q->hash_rc) {
        gw_api_oom(o->rq);
        gw_api_op_free(o);
        return;
    }
    char who[GW_API_NAME_MAX + 8];
    snprintf(who, sizeof who, "login:%s", q->user);
    gw_argv av = GW_API_EVAL(o->api, gw_off_login_lua, 1);
    gw_argv_addkey(&av, gw_api_keys(o->api), GW_K_LOGIN, gw_api_part_of(o->api, who), q->user);
    gw_argv_adds(&av, o->dept);
    gw_api_op_send(o, &av, GW_API_INT, on_login);
}

static int check_add(gw_api_op *o, gw_api_err *e) {
    static const char *const allowed[] = {"user", "role", "areas", NULL};
    officer_req *q = o->res;
    const char *user, *role;
    size_t ulen;
    if (gw_api_only_fields(e, o->body, allowed, "", GW_API_CUT) ||
        gw_api_str_field(e, o->body, "user", "user", GW_API_NAME_MAX, true, &user, &ulen) ||
        gw_api_str_field(e, o->body, "role", "role", 16, true, &role, NULL))
        return MC_EINVAL;
    if (!gw_off_user_ok(user, ulen))
        return gw_api_err_set(e, 400, "bad_field", "user",
                              "a user name is 1..%d of a-z, 0-9, '.', '_', '-', '@'",
                              GW_OFF_USER_MAX);
    if (!(q->role = gw_off_role_parse(role)))
        return gw_api_err_set(e, 400, "bad_field", "role", "role is viewer, officer or admin");
    snprintf(q->user, sizeof q->user, "%s", user);
    snprintf(q->action, sizeof q->action, "add");
    json_t *areas = json_object_get(o->body, "areas");
    if (!areas)
        return gw_api_err_set(e, 400, "missing_field", "areas",
                              "areas is an array of ward ids, or [\"*\"]");
    return parse_areas(o->api, o->t, areas, q->areas, sizeof q->areas, e);
}

/* ---------------------------------------------------------------- the item */

static void on_set(gw_api_op *o, const redisReply *r) {
    officer_req *q = o->res;
    if (r->element[0]->integer == -2 || r->elements < 3) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no officer %s", q->user);
        return;
    }
    const char *role_was = str_at(r, 1), *areas_was = str_at(r, 2);
    const char *role_now = q->role ? gw_off_role_name(q->role) : role_was;
    const char *areas_now = *q->areas ? q->areas : areas_was;
    json_t *ch = json_object();
    if (strcmp(role_was, role_now))
        json_object_set_new(ch, "role", gw_audit_change(role_was, role_now));
    if (strcmp(areas_was, areas_now))
        json_object_set_new(ch, "areas", gw_audit_change(areas_was, areas_now));
    gw_audit_op(o, "officer.update", q->user, ch);
    gw_api_answer(o->rq, 200,
                  json_pack("{s:s, s:s, s:o}", "user", q->user, "role", role_now, "areas",
                            areas_json(areas_now)));
}

static void on_state(gw_api_op *o, const redisReply *r) {
    officer_req *q = o->res;
    long long head = r->element[0]->integer;
    if (head == -2) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no officer %s", q->user);
        return;
    }
    bool disable = !strcmp(q->action, "disable");
    if (head == 1) {
        gw_log(GW_INFO, disable ? "admin.officer_disabled" : "admin.officer_enabled", "{s:s, s:s}",
               "dept", o->dept, "user", q->user);
        gw_audit_op(o, disable ? "officer.disable" : "officer.enable", q->user,
                    json_pack("{s:o}", "state",
                              gw_audit_change(disable ? "enabled" : "disabled",
                                              disable ? "disabled" : "enabled")));
    }
    gw_api_answer(o->rq, 200,
                  json_pack("{s:s, s:s, s:b}", "user", q->user, "state",
                            disable ? "disabled" : "enabled", "changed", head == 1));
}

static void on_reset(gw_api_op *o, const redisReply *r) {
    officer_req *q = o->res;
    if (r->element[0]->integer == -2) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no officer %s", q->user);
        return;
    }
    gw_log(GW_INFO, "admin.officer_reset", "{s:s, s:s}", "dept", o->dept, "user", q->user);
    gw_audit_op(o, "officer.reset", q->user, NULL);
    answer_secrets(o, 200, NULL);
}

static void reset_hashed(gw_api_op *o) {
    officer_req *q = o->res;
    if (q->hash_rc) {
        gw_api_oom(o->rq);
        gw_api_op_free(o);
        return;
    }
    gw_argv av = GW_API_EVAL(o->api, gw_off_reset_lua, 1);
    gw_api_add_dept_key_part(&av, o->api, GW_K_OFFICER, o->dept, q->user);
    gw_argv_adds(&av, q->hash);
    gw_argv_adds(&av, q->totp);
    gw_argv_addf(&av, "%" PRId64, o->now);
    gw_api_op_send(o, &av, GW_API_STATUS, on_reset);
}

static int check_set(gw_api_op *o, gw_api_err *e) {
    static const char *const allowed[] = {"role", "areas", NULL};
    officer_req *q = o->res;
    const char *role = NULL;
    if (gw_api_only_fields(e, o->body, allowed, "", GW_API_CUT) ||
        gw_api_str_field(e, o->body, "role", "role", 16, false, &role, NULL))
        return MC_EINVAL;
    if (role && !(q->role = gw_off_role_parse(role)))
        return gw_api_err_set(e, 400, "bad_field", "role", "role is viewer, officer or admin");
    json_t *areas = json_object_get(o->body, "areas");
    if (areas && parse_areas(o->api, o->t, areas, q->areas, sizeof q->areas, e))
        return MC_EINVAL;
    if (!role && !areas)
        return gw_api_err_set(e, 400, "missing_field", "role", "give role, areas or both");
    return 0;
}

/* /api/v1/officers/{user}[/<action>]: the user and the action ("" for none). 0, or
 * MC_EINVAL once answered 404. */
static int item_path(gw_req *rq, char *user, char *action, size_t an) {
    const char *p = gw_api_path_rest(rq, GW_API_PREFIX "officers/");
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    snprintf(action, an, "%s", slash ? slash + 1 : "");
    if (!gw_off_user_ok(p, len) || len > GW_API_NAME_MAX) {
        gw_api_fail(rq, 404, "not_found", NULL, "no such officer");
        return MC_EINVAL;
    }
    memcpy(user, p, len);
    user[len] = '\0';
    return 0;
}

void gw_officers_item(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    char user[GW_API_NAME_MAX + 1], action[32];
    const char *m = gw_req_method(rq);
    if (item_path(rq, user, action, sizeof action))
        return;
    bool put = !strcmp(m, "PUT") && !*action;
    bool state = !strcmp(m, "POST") && (!strcmp(action, "disable") || !strcmp(action, "enable"));
    bool reset = !strcmp(m, "POST") && !strcmp(action, "reset");
    if (!put && !state && !reset) {
        gw_api_fail(rq, 404, "not_found", NULL,
                    "no such path (PUT /officers/{user}, POST "
                    "/officers/{user}/disable|enable|reset)");
        return;
    }
    bool self = gw_api_token_kind(t) == GW_API_OFFICER && !strcmp(gw_api_token_name(t), user);
    gw_api_op *o;
    if (put) {
        o = gw_api_op_checked(a, rq, t, sizeof(officer_req), officer_req_clear, check_set);
        if (!o)
            return;
        officer_req *q = o->res;
        snprintf(q->user, sizeof q->user, "%s", user);
        snprintf(q->action, sizeof q->action, "update");
        if (self && q->role && q->role != gw_api_token_role(t)) {
            gw_api_fail(rq, 403, "forbidden", "role", "an admin does not change their own role");
            gw_api_op_free(o);
            return;
        }
        gw_argv av = GW_API_EVAL(a, gw_off_set_lua, 1);
        gw_api_add_dept_key_part(&av, a, GW_K_OFFICER, o->dept, user);
        gw_argv_adds(&av, q->role ? gw_off_role_name(q->role) : "");
        gw_argv_adds(&av, q->areas);
        gw_argv_addf(&av, "%" PRId64, o->now);
        gw_api_op_send(o, &av, GW_API_STATUS, on_set);
        return;
    }
    if (self && !strcmp(action, "disable")) {
        gw_api_fail(rq, 403, "forbidden", NULL, "an admin does not disable themselves");
        return;
    }
    o = gw_api_op_new(a, rq, t);
    if (!o || !(o->res = calloc(1, sizeof(officer_req)))) {
        if (o)
            gw_api_oom(rq);
        gw_api_op_free(o);
        return;
    }
    o->res_clear = officer_req_clear;
    officer_req *q = o->res;
    snprintf(q->user, sizeof q->user, "%s", user);
    snprintf(q->action, sizeof q->action, "%s", action);
    if (reset) {
        if (new_secrets(q)) {
            gw_api_oom(rq);
            gw_api_op_free(o);
            return;
        }
        gw_api_op_work(o, hash_work, reset_hashed);
        return;
    }
    gw_argv av = GW_API_EVAL(a, gw_off_state_lua, 1);
    gw_api_add_dept_key_part(&av, a, GW_K_OFFICER, o->dept, user);
    gw_argv_adds(&av, !strcmp(action, "disable") ? "disabled" : "enabled");
    gw_argv_addf(&av, "%" PRId64, o->now);
    gw_api_op_send(o, &av, GW_API_STATUS, on_state);
}

void gw_officers_list(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    if (!strcmp(gw_req_method(rq), "POST")) {
        gw_api_op *o =
            gw_api_op_checked(a, rq, t, sizeof(officer_req), officer_req_clear, check_add);
        if (!o)
            return;
        if (new_secrets(o->res)) {
            gw_api_oom(rq);
            gw_api_op_free(o);
            return;
        }
        gw_api_op_work(o, hash_work, add_hashed);
        return;
    }
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o)
        return;
    gw_argv av = GW_API_EVAL(a, gw_off_list_lua, 1);
    gw_api_add_dept_key(&av, a, GW_K_OFFICERS, o->dept);
    gw_argv_adds(&av, o->dept);
    gw_api_op_send(o, &av, GW_API_ARRAY, on_list);
}

/* The body check of POST /officers, for the fuzz target and tests. */
const gw_api_body_check gw_officer_body = {"officer", sizeof(officer_req), officer_req_clear,
                                           check_add};
