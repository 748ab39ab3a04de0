/*
 * gw_templates.c — the department's message templates: GET /templates, GET|PUT|
 * DELETE /templates/{id}, and the use of a stored template by the endpoints
 * that send (the text step of notifications, broadcasts and the preview, and
 * the rows of a batch).
 *
 * Big idea: templates live in one hash per department (tpl, in the department's partition, id →
 * JSON record); a template is applied once, when a notification or broadcast
 * is accepted, and the rendered text is what is stored and sent, so changing
 * a template never changes what is already on its way. The language itself is
 * gw_tpl.c; what is checked when a template is saved is exactly what is
 * rendered when it is used.
 *
 * A template may be linked to a provider's approved template (a channel whose adapter
 * has tpl_info_render: ZNS; the body field is the channel's name): {"template_id",
 * "params":{"<provider parameter>":"((placeholder)) or literal"}}. The link is checked
 * with the provider's template-info call when it is saved (usable, exactly its
 * parameter names; the lengths it allows are kept with the link), so that a mismatch is
 * a 400 here and not a failure at send time; when a notification uses the template, the
 * parameters are rendered with its data and checked against those lengths
 * (gw_templates_provider), and the provider's message rides along (data:<channel>).
 */
#define _GNU_SOURCE /* qsort_r */
#include "gateway/api/gw_api_int.h"

#include "channels/ch.h"
#include "core/mc.h"
#include "gateway/api/gw_tpl.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_CHARS 100      /* code points of a template's name */
#define MAX_TEMPLATES 200    /* templates of one department */
#define WHY_MAX 300          /* a scan error quoted in an answer */
#define LINK_POOL "tpl-info" /* gw_httpc pool of the template checks */

/* ----------------------------------------------------------- using one */

int gw_templates_fetch(gw_api_op *o, const char *id, gw_api_reply_fn *fn) {
    gw_argv av = {0};
    gw_argv_adds(&av, "HGET");
    gw_api_add_dept_key(&av, o->api, GW_K_TPL, o->dept);
    gw_argv_adds(&av, id);
    int rc = gw_api_op_send(o, &av, GW_API_ANY, fn);
    return rc;
}

/* data against the placeholders of a template: with need_all, every
 * placeholder needs a value; every key of data must be a placeholder. 0 or
 * MC_EINVAL with e. */
static int check_data(const gw_tpl_vars *vars, const json_t *data, const char *prefix,
                      bool need_all, gw_api_err *e) {
    char path[sizeof e->field];
    for (size_t i = 0; need_all && i < vars->n; i++) {
        json_t *v = data ? json_object_get(data, vars->name[i]) : NULL;
        if (!json_is_string(v) && !json_is_number(v)) {
            gw_api_key_path(path, sizeof path, prefix, vars->name[i], GW_API_CUT_CONSOLE);
            return gw_api_err_set(e, 400, "missing_field", path, "a value for ((%s)) is required",
                                  vars->name[i]);
        }
        /* an empty cell of a spreadsheet would send "…trước ngày ." */
        const char *sv = json_string_value(v);
        size_t sl = sv ? strspn(sv, " \t\r\n") : 0;
        if (sv && sv[sl] == '\0') {
            gw_api_key_path(path, sizeof path, prefix, vars->name[i], GW_API_CUT_CONSOLE);
            return gw_api_err_set(e, 400, "missing_field", path, "the value for ((%s)) is empty",
                                  vars->name[i]);
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)data, k, v) {
        if (!gw_tpl_vars_has(vars, k, strlen(k))) {
            gw_api_key_path(path, sizeof path, prefix, k, GW_API_CUT_CONSOLE);
            return gw_api_err_set(e, 400, "bad_field", path,
                                  "the template has no placeholder ((%.*s))",
                                  (int)ch_utf8_prefix(k, strlen(k), GW_API_CUT_CONSOLE.cps), k);
        }
    }
    return 0;
}

/* The stored record's text and its placeholders; NULL (e set, 400 template.id
 * or 500) when r holds none. The record is a new reference. */
static json_t *record_of(const redisReply *r, gw_tpl_vars *vars, gw_api_err *e) {
    if (r && r->type == REDIS_REPLY_NIL) {
        gw_api_err_set(e, 400, "bad_field", "template.id",
                       "this department has no template with this id");
        return NULL;
    }
    json_t *rec = r && r->type == REDIS_REPLY_STRING ? json_loadb(r->str, r->len, 0, NULL) : NULL;
    json_t *text = json_object_get(rec, "text");
    char err[WHY_MAX];
    if (!json_is_string(text) ||
        gw_tpl_scan(json_string_value(text), json_string_length(text), vars, err, sizeof err)) {
        json_decref(rec);
        gw_api_err_set(e, 500, "internal", NULL, "the stored template is unreadable");
        return NULL;
    }
    return rec;
}

/* The record's text rendered with data into *out (caller frees); blank or too
 * long is the template's fault (400 template). */
static int render(const json_t *rec, const json_t *data, char **out, gw_api_err *e) {
    json_t *text = json_object_get(rec, "text");
    size_t n = 0;
    char *s = gw_tpl_render(json_string_value(text), json_string_length(text), data, &n);
    if (!s)
        return gw_api_err_set(e, 500, "internal", NULL, "out of memory");
    size_t lead = 0;
    while (lead < n && isspace((unsigned char)s[lead]))
        lead++;
    int rc = 0;
    if (lead == n)
        rc = gw_api_err_set(e, 400, "bad_field", "template",
                            "the text made from the template is blank");
    else if (n > GW_API_TEXT_MAX)
        rc = gw_api_err_set(e, 400, "bad_field", "template",
                            "the text made from the template is %zu bytes, more than %d", n,
                            GW_API_TEXT_MAX);
    if (rc)
        free(s);
    else
        *out = s;
    return rc;
}

int gw_templates_use(const redisReply *r, const json_t *data, const char *prefix, bool need_all,
                     char **out, gw_api_err *e) {
    gw_tpl_vars vars;
    if (out)
        *out = NULL;
    json_t *rec = record_of(r, &vars, e);
    if (!rec)
        return MC_EINVAL;
    int rc = check_data(&vars, data, prefix, need_all, e);
    if (!rc && out)
        rc = render(rec, data, out, e);
    json_decref(rec);
    return rc;
}

int gw_templates_render(const redisReply *r, const json_t *data, char **out, gw_api_err *e) {
    gw_tpl_vars vars;
    *out = NULL;
    json_t *rec = record_of(r, &vars, e);
    if (!rec)
        return MC_EINVAL;
    for (size_t i = 0; i < vars.n; i++)
        if (!json_is_string(json_object_get(data, vars.name[i]))) {
            json_decref(rec);
            return gw_api_err_set(e, 400, "bad_field", "template",
                                  "the template's ((%s)) has no value here", vars.name[i]);
        }
    int rc = render(rec, data, out, e);
    json_decref(rec);
    return rc;
}

/* The adapter of the first channel whose messages are provider templates a record is
 * linked to, with the link (borrowed from rec); NULL when none. */
static const ch_adapter *linked(const json_t *rec, json_t **link) {
    for (size_t i = 0; i < ch_adapter_count(); i++) {
        const ch_adapter *ad = ch_adapter_at(i);
        json_t *l = ad->tpl_info_render ? json_object_get(rec, ad->name) : NULL;
        if (json_is_object(l)) {
            *link = l;
            return ad;
        }
    }
    return NULL;
}

/* The placeholder a parameter's value names, for an error's field: the first of it. */
static void first_var(const char *v, char *out, size_t n) {
    gw_tpl_vars vars;
    char why[WHY_MAX];
    if (!gw_tpl_scan(v, strlen(v), &vars, why, sizeof why) && vars.n)
        snprintf(out, n, "%s", vars.name[0]);
    else
        *out = '\0';
}

int gw_templates_provider(const redisReply *r, const json_t *data, const char *prefix,
                          gw_api_message *m, gw_api_err *e) {
    gw_tpl_vars vars;
    json_t *rec = record_of(r, &vars, e), *link = NULL;
    if (!rec)
        return MC_EINVAL;
    const ch_adapter *ad = linked(rec, &link);
    int rc = 0;
    json_t *td = NULL, *msg = NULL;
    if (!ad)
        goto done;
    td = json_object();
    json_t *params = json_object_get(link, "params"), *max = json_object_get(link, "max");
    const char *name;
    json_t *v;
    json_object_foreach(params, name, v) {
        size_t n = 0;
        char *val = gw_tpl_render(json_string_value(v), json_string_length(v), data, &n);
        if (!val) {
            char ph[GW_TPL_NAME_BYTES + 1], path[sizeof e->field];
            first_var(json_string_value(v), ph, sizeof ph);
            gw_api_key_path(path, sizeof path, prefix, ph, GW_API_CUT_CONSOLE);
            rc = gw_api_err_set(e, 400, "missing_field", path,
                                "%s parameter %s needs a value for ((%s))", ad->name, name, ph);
            goto done;
        }
        json_int_t lim = json_integer_value(json_object_get(max, name));
        size_t cps = ch_utf8_count(val, n);
        if (lim > 0 && cps > (size_t)lim) {
            char ph[GW_TPL_NAME_BYTES + 1], path[sizeof e->field];
            first_var(json_string_value(v), ph, sizeof ph);
            gw_api_key_path(path, sizeof path, prefix, ph, GW_API_CUT_CONSOLE);
            rc = gw_api_err_set(e, 400, "bad_field", *ph ? path : "template",
                                "%s parameter %s is %zu characters; the template allows %lld",
                                ad->name, name, cps, (long long)lim);
            free(val);
            goto done;
        }
        json_object_set_new(td, name, json_stringn(val, n));
        free(val);
    }
    msg = json_pack("{s:O, s:O}", "template_id", json_object_get(link, "template_id"),
                    "template_data", td);
    free(m->tpl_msg);
    m->tpl_msg = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    m->tpl_ch = ad->name;
    if (!m->tpl_msg)
        rc = gw_api_err_set(e, 500, "internal", NULL, "out of memory");
done:
    json_decref(msg);
    json_decref(td);
    json_decref(rec);
    return rc;
}

/* ---- the first use of a linked template (gw_templates_fetch_use) ---- */

/* CAS: KEYS[1] the department's templates; ARGV id, the record as read, the new one. The
 * new record only if nobody saved the template meanwhile. */
static const char tpl_mark_lua[] = "if redis.call('HGET',KEYS[1],ARGV[1])==ARGV[2] then\n"
                                   "  redis.call('HSET',KEYS[1],ARGV[1],ARGV[3]) return 1\n"
                                   "end\n"
                                   "return 0\n";

/* fn of gw_templates_fetch_use with rec as the store's answer; from outside a store reply
 * (the provider's answer) the op is released as on_store_reply would release it. */
static void use_go(gw_api_op *o, const char *rec, size_t len, bool in_store) {
    redisReply fake;
    memset(&fake, 0, sizeof fake);
    fake.type = REDIS_REPLY_STRING;
    fake.str = (char *)rec;
    fake.len = len;
    gw_api_reply_fn *fn = o->use_fn;
    if (in_store) {
        fn(o, &fake);
        return;
    }
    o->in_reply = true;
    o->sent_on = false;
    fn(o, &fake);
    o->in_reply = false;
    if (!o->sent_on)
        gw_api_op_free(o);
}

static void on_use_marked(gw_api_op *o, const redisReply *r) {
    (void)r; /* 0: saved again meanwhile, that save checked it */
    use_go(o, o->use_rec, strlen(o->use_rec), true);
}

/* The provider's answer about the template at its first use. */
static void on_use_info(void *arg, const gw_httpc_resp *hr) {
    gw_api_op *o = arg;
    json_t *rec = json_loads(o->use_rec, 0, NULL), *link = NULL;
    const ch_adapter *ad = rec ? linked(rec, &link) : NULL;
    if (!ad) { /* cannot happen: it was linked when asked */
        json_decref(rec);
        use_go(o, o->use_rec, strlen(o->use_rec), false);
        return;
    }
    ch_tpl_info info;
    char err[WHY_MAX] = "";
    int rc = ad->tpl_info_parse(hr->status, hr->body, hr->body_len, &info, err, sizeof err);
    json_t *params = json_object_get(link, "params");
    bool same = !rc && info.usable && info.n_params == json_object_size(params);
    for (size_t i = 0; same && i < info.n_params; i++)
        same = json_object_get(params, info.params[i].name) != NULL;
    if (!rc && !same && !*err)
        snprintf(err, sizeof err, "%s template is %s%s", ad->name, info.status,
                 info.usable ? " with other parameters" : ", not ENABLE");
    gw_log(rc == MC_EUNAVAIL || !same ? GW_WARN : GW_INFO, "admin.template_first_use",
           "{s:s, s:s, s:s, s:s, s:s}", "dept", o->dept, "channel", ad->name, "template_id",
           json_string_value(json_object_get(link, "template_id")), "result",
           rc == MC_EUNAVAIL ? "unavailable"
           : same            ? "usable"
                             : "refused",
           "error", err);
    char *s = NULL;
    if (rc == MC_EUNAVAIL) { /* as it is: the send's own errors decide */
        json_decref(rec);
        use_go(o, o->use_rec, strlen(o->use_rec), false);
        return;
    }
    if (!same) { /* without its link: the other channels carry it */
        json_object_del(rec, ad->name);
        s = json_dumps(rec, JSON_COMPACT);
        json_decref(rec);
        if (!s) {
            gw_api_oom(o->rq);
            gw_api_op_free(o);
            return;
        }
        use_go(o, s, strlen(s), false);
        free(s);
        return;
    }
    char at[GW_API_TIME_MAX];
    gw_api_format_time(o->api, gw_now_ms(), at, sizeof at);
    json_object_set_new(link, "used_at", json_string(at));
    s = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (!s) {
        gw_api_oom(o->rq);
        gw_api_op_free(o);
        return;
    }
    gw_argv av = GW_API_EVAL(o->api, tpl_mark_lua, 1);
    gw_api_add_dept_key(&av, o->api, GW_K_TPL, o->dept);
    char *read = o->use_rec; /* the argv borrows it until sent */
    o->use_rec = s;
    gw_argv_adds(&av, o->use_id);
    gw_argv_adds(&av, read);
    gw_argv_adds(&av, s);
    gw_api_op_send(o, &av, GW_API_ANY, on_use_marked);
    free(read);
}

/* The provider token came: ask about the template, or go on when it cannot be asked. */
static void on_use_token(gw_api_op *o, const redisReply *r) {
    json_t *rec = json_loads(o->use_rec, 0, NULL), *link = NULL;
    const ch_adapter *ad = rec ? linked(rec, &link) : NULL;
    const gw_app *app = gw_api_app(o->api);
    ch_settings st;
    ch_http h;
    char err[WHY_MAX];
    int rc = MC_EUNAVAIL;
    if (ad && app) {
        gw_channel_settings(app->cfg, ad->name, &st);
        if (r->type == REDIS_REPLY_STRING && r->len > 0)
            st.access_token = r->str;
        if (!ad->tpl_info_render(&st, json_string_value(json_object_get(link, "template_id")), &h,
                                 err, sizeof err)) {
            rc = gw_api_httpc(o->api)
                     ? gw_httpc_send(gw_api_httpc(o->api), &h, LINK_POOL, on_use_info, o)
                     : MC_EUNAVAIL;
            ch_http_clear(&h);
        }
    }
    json_decref(rec);
    if (rc) { /* no provider to ask: as it is */
        use_go(o, o->use_rec, strlen(o->use_rec), true);
        return;
    }
    o->sent_on = true; /* the check's callback owns o now */
}

/* The template came: a linked record never used since it was saved is checked first. */
static void on_use_rec(gw_api_op *o, const redisReply *r) {
    json_t *rec = r->type == REDIS_REPLY_STRING ? json_loadb(r->str, r->len, 0, NULL) : NULL,
           *link = NULL;
    const ch_adapter *ad = rec ? linked(rec, &link) : NULL;
    const gw_app *app = gw_api_app(o->api);
    bool ask = ad && app && !json_object_get(link, "used_at") &&
               !json_object_get(link, "unchecked") && gw_channel_enabled(app->cfg, ad->name);
    json_decref(rec);
    if (!ask) {
        o->use_fn(o, r);
        return;
    }
    if (!(o->use_rec = strndup(r->str, r->len))) {
        gw_api_oom(o->rq);
        return;
    }
    gw_argv av = {0};
    gw_argv_adds(&av, "HGET");
    gw_argv_addkey(&av, gw_api_keys(o->api), GW_K_TOKEN, GW_KEY_OWN,
                   ad->token_of ? ad->token_of : ad->name);
    gw_argv_adds(&av, "access");
    gw_api_op_send(o, &av, GW_API_ANY, on_use_token);
}

void gw_templates_fetch_use(gw_api_op *o, const char *id, gw_api_reply_fn *fn) {
    o->use_fn = fn;
    snprintf(o->use_id, sizeof o->use_id, "%s", id); /* for the mark */
    gw_templates_fetch(o, id, on_use_rec);
}

/* The template of the text step came: render it, then go on. */
static void on_text_tpl(gw_api_op *o, const redisReply *r) {
    gw_api_err e = {0};
    if (gw_templates_use(r, o->msg->tpl_data, "template.data.", true, &o->msg->out_text, &e) ||
        gw_templates_provider(r, o->msg->tpl_data, "template.data.", o->msg, &e)) {
        gw_api_fail_err(o->rq, &e);
        return;
    }
    o->next(o);
}

void gw_templates_text(gw_api_op *o, gw_api_message *m, gw_api_next_fn *next) {
    o->msg = m;
    o->next = next;
    if (m->tpl_id) {
        gw_templates_fetch_use(o, m->tpl_id, on_text_tpl);
        return;
    }
    if (!(m->out_text = strdup(m->text))) {
        gw_api_oom(o->rq);
        gw_api_op_free(o);
        return;
    }
    next(o);
}

/* ------------------------------------------------------------ endpoints */

/* KEYS[1] the department's templates; ARGV id, record, max. -1 when a new one would pass the
 * limit, else 1 when it replaced one, 0 when it is new. */
static const char tpl_put_lua[] =
    "local had=redis.call('HEXISTS',KEYS[1],ARGV[1])\n"
    "if had==0 and redis.call('HLEN',KEYS[1])>=tonumber(ARGV[3]) then return -1 end\n"
    "redis.call('HSET',KEYS[1],ARGV[1],ARGV[2])\n"
    "return had\n";

static bool blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

/* The placeholders of a PUT body (in its order) checked against those of the
 * text, into list; or, without one, those of the text. 0 or MC_EINVAL. */
static int placeholders(const json_t *ph, const gw_tpl_vars *vars, json_t *list, gw_api_err *e) {
    if (!ph || json_is_null(ph)) {
        for (size_t k = 0; k < vars->n; k++)
            json_array_append_new(list, json_string(vars->name[k]));
        return 0;
    }
    if (!json_is_array(ph) || json_array_size(ph) > GW_TPL_MAX_VARS)
        return gw_api_err_set(e, 400, "bad_field", "placeholders",
                              "placeholders is an array of at most %d names", GW_TPL_MAX_VARS);
    gw_tpl_vars given = {0};
    size_t i;
    json_t *v;
    json_array_foreach(ph, i, v) {
        char path[40];
        snprintf(path, sizeof path, "placeholders[%zu]", i);
        const char *s = json_string_value(v);
        size_t sl = s ? json_string_length(v) : 0;
        if (!s || !gw_tpl_name_ok(s, sl))
            return gw_api_err_set(e, 400, "bad_field", path,
                                  "a placeholder name is 1..%d letters, digits or _",
                                  GW_TPL_NAME_CHARS);
        if (gw_tpl_vars_has(&given, s, sl))
            return gw_api_err_set(e, 400, "bad_field", path, "((%s)) is listed twice", s);
        memcpy(given.name[given.n], s, sl + 1);
        given.n++;
    }
    for (size_t k = 0; k < vars->n; k++)
        if (!gw_tpl_vars_has(&given, vars->name[k], strlen(vars->name[k])))
            return gw_api_err_set(e, 400, "bad_field", "text", "unknown placeholder ((%s))",
                                  vars->name[k]);
    for (size_t k = 0; k < given.n; k++) {
        if (!gw_tpl_vars_has(vars, given.name[k], strlen(given.name[k])))
            return gw_api_err_set(e, 400, "bad_field", "placeholders", "((%s)) is not used in text",
                                  given.name[k]);
        json_array_append_new(list, json_string(given.name[k]));
    }
    return 0;
}

/* A PUT /templates/{id} body → the record to store (new reference), or NULL
 * with e set. */
/* A link to a provider template in body field ad->name, checked against the text's
 * placeholders: {"template_id","params":{"<parameter>":"<value>"}}, each value text that
 * may hold the template's placeholders. The new link object; NULL with e set, or NULL with
 * e untouched when the body has none. */
static json_t *link_of(const json_t *b, const ch_adapter *ad, const gw_tpl_vars *vars,
                       gw_api_err *e) {
    static const char *const allowed[] = {"template_id", "params", NULL};
    json_t *l = json_object_get(b, ad->name);
    char pre[48], path[sizeof e->field];
    if (!l || json_is_null(l))
        return NULL;
    snprintf(pre, sizeof pre, "%s.", ad->name);
    if (!json_is_object(l)) {
        gw_api_err_set(e, 400, "bad_field", ad->name,
                       "%s is {\"template_id\", \"params\": {parameter: value}}", ad->name);
        return NULL;
    }
    if (gw_api_only_fields(e, l, allowed, pre, GW_API_CUT_CONSOLE))
        return NULL;
    json_t *tid = json_object_get(l, "template_id"), *params = json_object_get(l, "params");
    size_t tl = json_is_string(tid) ? json_string_length(tid) : 0;
    snprintf(path, sizeof path, "%stemplate_id", pre);
    if (tl == 0 || tl >= CH_TPL_ID_MAX || !gw_api_user_id_ok(json_string_value(tid), tl) ||
        strchr(json_string_value(tid), ' ')) {
        gw_api_err_set(e, 400, tid ? "bad_field" : "missing_field", path,
                       "template_id is the provider's template id, 1..%d printable characters",
                       CH_TPL_ID_MAX - 1);
        return NULL;
    }
    snprintf(path, sizeof path, "%sparams", pre);
    if (!json_is_object(params) || json_object_size(params) == 0 ||
        json_object_size(params) > CH_TPL_MAX_PARAMS) {
        gw_api_err_set(e, 400, params ? "bad_field" : "missing_field", path,
                       "params maps each of the template's parameters (1..%d) to a value",
                       CH_TPL_MAX_PARAMS);
        return NULL;
    }
    const char *k;
    json_t *v;
    char ppre[64];
    snprintf(ppre, sizeof ppre, "%sparams.", pre);
    json_object_foreach(params, k, v) {
        size_t kl = strlen(k);
        gw_api_key_path(path, sizeof path, ppre, k, GW_API_CUT_CONSOLE);
        /* ZNS parameter names: no diacritics, spaces or hyphens (channel-facts §1.8) */
        if (kl == 0 || kl >= CH_TPL_PARAM_NAME ||
            strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != kl) {
            gw_api_err_set(e, 400, "bad_field", path,
                           "a parameter name is 1..%d ASCII letters, digits or _",
                           CH_TPL_PARAM_NAME - 1);
            return NULL;
        }
        const char *vs = json_string_value(v);
        size_t vl = vs ? json_string_length(v) : 0;
        gw_tpl_vars used;
        char why[WHY_MAX];
        if (!vs || vl == 0 || vl > GW_API_TEXT_MAX || memchr(vs, '\0', vl) ||
            gw_tpl_scan(vs, vl, &used, why, sizeof why)) {
            gw_api_err_set(e, 400, "bad_field", path,
                           "a parameter's value is a ((placeholder)) of the text or a literal");
            return NULL;
        }
        for (size_t i = 0; i < used.n; i++)
            if (!gw_tpl_vars_has(vars, used.name[i], strlen(used.name[i]))) {
                gw_api_err_set(e, 400, "bad_field", path, "((%s)) is not a placeholder of the text",
                               used.name[i]);
                return NULL;
            }
    }
    return json_pack("{s:O, s:O}", "template_id", tid, "params", params);
}

static json_t *template_record(const gw_api *a, const char *id, const json_t *b, gw_api_err *e) {
    const char *allowed[4 + CH_MAX_ADAPTERS + 1] = {"id", "name", "text", "placeholders"};
    size_t na = 4;
    for (size_t i = 0; i < ch_adapter_count() && na < MC_ARRAY_LEN(allowed) - 1; i++)
        if (ch_adapter_at(i)->tpl_info_render)
            allowed[na++] = ch_adapter_at(i)->name;
    allowed[na] = NULL;
    if (gw_api_only_fields(e, b, allowed, "", GW_API_CUT_CONSOLE))
        return NULL;
    json_t *jid = json_object_get(b, "id");
    if (jid && (!json_is_string(jid) || strcmp(json_string_value(jid), id))) {
        gw_api_err_set(e, 400, "bad_field", "id", "id, when given, is the id of the path");
        return NULL;
    }
    json_t *name = json_object_get(b, "name"), *text = json_object_get(b, "text");
    if (!name || json_is_null(name)) {
        gw_api_err_set(e, 400, "missing_field", "name", "name is required");
        return NULL;
    }
    size_t nl = json_is_string(name) ? json_string_length(name) : 0;
    if (!json_is_string(name) || blank(json_string_value(name), nl) ||
        ch_utf8_count(json_string_value(name), nl) > TITLE_CHARS ||
        memchr(json_string_value(name), '\0', nl)) {
        gw_api_err_set(e, 400, "bad_field", "name", "name is 1..%d characters, not blank",
                       TITLE_CHARS);
        return NULL;
    }
    if (!text || json_is_null(text)) {
        gw_api_err_set(e, 400, "missing_field", "text", "text is required");
        return NULL;
    }
    size_t tl = json_is_string(text) ? json_string_length(text) : 0;
    const char *ts = json_string_value(text);
    if (!json_is_string(text) || blank(ts, tl)) {
        gw_api_err_set(e, 400, "bad_field", "text", "text must be a string, not blank");
        return NULL;
    }
    if (tl > GW_API_TEXT_MAX || memchr(ts, '\0', tl)) {
        gw_api_err_set(e, 400, "bad_field", "text", "text is at most %d bytes, without NUL",
                       GW_API_TEXT_MAX);
        return NULL;
    }
    gw_tpl_vars vars;
    char why[WHY_MAX];
    if (gw_tpl_scan(ts, tl, &vars, why, sizeof why)) {
        gw_api_err_set(e, 400, "bad_field", "text", "%s", why);
        return NULL;
    }
    json_t *list = json_array();
    if (placeholders(json_object_get(b, "placeholders"), &vars, list, e)) {
        json_decref(list);
        return NULL;
    }
    char at[GW_API_TIME_MAX];
    gw_api_format_time(a, gw_now_ms(), at, sizeof at);
    json_t *rec = json_pack("{s:s, s:O, s:O, s:o, s:s}", "id", id, "name", name, "text", text,
                            "placeholders", list, "updated_at", at);
    for (size_t i = 0; rec && i < ch_adapter_count(); i++) {
        const ch_adapter *ad = ch_adapter_at(i);
        if (!ad->tpl_info_render)
            continue;
        json_t *l = link_of(b, ad, &vars, e);
        if (!l && e->status) {
            json_decref(rec);
            return NULL;
        }
        if (l)
            json_object_set_new(rec, ad->name, l);
    }
    return rec;
}

/* The check of a PUT body alone (the id is the op's). */
static int tpl_check(gw_api_op *o, gw_api_err *e) {
    json_t *rec = template_record(o->api, o->id, o->body, e);
    json_decref(rec);
    return rec ? 0 : MC_EINVAL;
}

const gw_api_body_check gw_template_body = {"template", 0, NULL, tpl_check};

/* What the audit trail keeps of a saved template: its name and fields, the provider
 * template it is linked to; not its text. */
static json_t *tpl_audit(const json_t *rec) {
    json_t *link = NULL;
    const ch_adapter *ad = linked(rec, &link);
    json_t *ch = json_pack("{s:O?, s:O?}", "name", json_object_get(rec, "name"), "placeholders",
                           json_object_get(rec, "placeholders"));
    if (ch && ad)
        json_object_set_new(
            ch, ad->name, json_pack("{s:O}", "template_id", json_object_get(link, "template_id")));
    return ch;
}

static void on_tpl_put(gw_api_op *o, const redisReply *r) {
    if (r->integer < 0) {
        gw_api_fail(o->rq, 409, "too_many", "id",
                    "a department keeps at most %d templates; delete one first", MAX_TEMPLATES);
        return;
    }
    gw_log(GW_INFO, "console.template_put", "{s:s, s:s, s:b}", "dept", o->dept, "id", o->id,
           "created", r->integer == 0);
    /* the template's name and fields, not its text */
    gw_audit_op(o, r->integer ? "template.update" : "template.create", o->id, tpl_audit(o->keep));
    gw_api_answer(o->rq, r->integer ? 200 : 201, json_incref(o->keep));
}

static void on_tpl_get(gw_api_op *o, const redisReply *r) {
    if (r->type != REDIS_REPLY_STRING) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no template %s", o->id);
        return;
    }
    json_t *rec = json_loadb(r->str, r->len, 0, NULL);
    if (!rec)
        gw_api_fail(o->rq, 500, "internal", NULL, "the stored template is unreadable");
    else
        gw_api_answer(o->rq, 200, rec);
}

static int cmp_templates(const void *a, const void *b, void *priv) {
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *nx = json_string_value(json_object_get(x, "name"));
    const char *ny = json_string_value(json_object_get(y, "name"));
    int c = gw_shared_collate(priv, nx ? nx : "", ny ? ny : "");
    if (c)
        return c;
    const char *ix = json_string_value(json_object_get(x, "id"));
    const char *iy = json_string_value(json_object_get(y, "id"));
    return strcmp(ix ? ix : "", iy ? iy : "");
}

/* The department's templates in Vietnamese order of their names. */
static void on_tpl_list(gw_api_op *o, const redisReply *r) {
    json_t **recs = r->elements ? calloc(r->elements, sizeof *recs) : NULL;
    size_t n = 0;
    for (size_t i = 0; recs && i < r->elements; i++) {
        redisReply *e = r->element[i];
        json_t *rec = e->type == REDIS_REPLY_STRING ? json_loadb(e->str, e->len, 0, NULL) : NULL;
        if (json_is_object(rec))
            recs[n++] = rec;
        else
            json_decref(rec);
    }
    if (n)
        qsort_r(recs, n, sizeof *recs, cmp_templates, (void *)gw_api_data(o->api));
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, recs[i]);
    free(recs);
    gw_api_answer(o->rq, 200, json_pack("{s:o}", "templates", arr));
}

static void on_tpl_del(gw_api_op *o, const redisReply *r) {
    if (r->integer == 0) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no template %s", o->id);
        return;
    }
    gw_log(GW_INFO, "console.template_deleted", "{s:s, s:s}", "dept", o->dept, "id", o->id);
    gw_audit_op(o, "template.delete", o->id, NULL);
    gw_req_respond(o->rq, 204, "application/json", "", 0, NULL);
}

void gw_templates_list(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o)
        return;
    gw_argv av = {0};
    gw_argv_adds(&av, "HVALS");
    gw_api_add_dept_key(&av, o->api, GW_K_TPL, o->dept);
    gw_api_op_send(o, &av, GW_API_ARRAY, on_tpl_list);
}

/* The checked record o->keep into the department's templates, within the limit. */
static void tpl_store(gw_api_op *o) {
    char *js = json_dumps(o->keep, JSON_COMPACT);
    if (!js) {
        gw_api_oom(o->rq);
        gw_api_op_free(o);
        return;
    }
    gw_argv av = GW_API_EVAL(o->api, tpl_put_lua, 1);
    gw_api_add_dept_key(&av, o->api, GW_K_TPL, o->dept);
    gw_argv_adds(&av, o->id);
    gw_argv_adds(&av, js);
    gw_argv_addf(&av, "%d", MAX_TEMPLATES);
    gw_api_op_send(o, &av, GW_API_INT, on_tpl_put);
    free(js);
}

/* The provider's answer about the linked template: usable, with exactly the link's
 * parameters; their lengths are kept with the link. Then the record is stored. */
static void on_tpl_info(void *arg, const gw_httpc_resp *hr) {
    gw_api_op *o = arg;
    json_t *link = NULL;
    const ch_adapter *ad = linked(o->keep, &link);
    ch_tpl_info info;
    char err[WHY_MAX], path[64];
    const char *tid = json_string_value(json_object_get(link, "template_id"));
    int rc = ad->tpl_info_parse(hr->status, hr->body, hr->body_len, &info, err, sizeof err);
    snprintf(path, sizeof path, "%s.template_id", ad->name);
    gw_log(rc ? GW_WARN : GW_INFO, "console.template_link_check", "{s:s, s:s, s:s, s:s, s:s}",
           "dept", o->dept, "id", o->id, "channel", ad->name, "status", rc ? "" : info.status,
           "error", rc ? err : "");
    if (rc == MC_EUNAVAIL) {
        gw_api_fail(o->rq, 503, "unavailable", path,
                    "%s could not check template %s (%s); nothing was saved", ad->name, tid, err);
        goto fail;
    }
    if (rc) {
        gw_api_fail(o->rq, 400, "bad_field", path, "%s", err);
        goto fail;
    }
    if (!info.usable) {
        gw_api_fail(o->rq, 400, "bad_field", path,
                    "%s template %s is %s, not ENABLE: it cannot be sent", ad->name, tid,
                    *info.status ? info.status : "of no status");
        goto fail;
    }
    json_t *params = json_object_get(link, "params"), *max = json_object();
    snprintf(path, sizeof path, "%s.params", ad->name);
    for (size_t i = 0; i < info.n_params; i++) {
        if (!json_object_get(params, info.params[i].name)) {
            json_decref(max);
            gw_api_fail(o->rq, 400, "bad_field", path,
                        "%s template %s has the parameter %s, which params does not give", ad->name,
                        tid, info.params[i].name);
            goto fail;
        }
        json_object_set_new(max, info.params[i].name, json_integer(info.params[i].max_len));
    }
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v) {
        if (!json_object_get(max, k)) {
            json_decref(max);
            gw_api_fail(o->rq, 400, "bad_field", path,
                        "%s template %s has no parameter %s (its parameters: %zu)", ad->name, tid,
                        k, info.n_params);
            goto fail;
        }
    }
    char at[GW_API_TIME_MAX];
    gw_api_format_time(o->api, gw_now_ms(), at, sizeof at);
    json_object_set_new(link, "max", max);
    json_object_set_new(link, "checked_at", json_string(at));
    tpl_store(o);
    return;
fail:
    gw_api_op_free(o);
}

/* The provider token came (the channel's shared one, refreshed by the sender): ask the
 * provider about the linked template. */
static void on_tpl_token(gw_api_op *o, const redisReply *r) {
    json_t *link = NULL;
    const ch_adapter *ad = linked(o->keep, &link);
    const gw_app *app = gw_api_app(o->api);
    ch_settings st;
    gw_channel_settings(app->cfg, ad->name, &st);
    if (r->type == REDIS_REPLY_STRING && r->len > 0)
        st.access_token = r->str;
    ch_http h;
    char err[WHY_MAX], path[64];
    snprintf(path, sizeof path, "%s.template_id", ad->name);
    if (gw_channel_enabled(app->cfg, ad->name) && !gw_channel_can_send(app->cfg, ad->name) &&
        *app->cfg->outbox_dir && !(r->type == REDIS_REPLY_STRING && r->len > 0)) {
        /* no provider to ask and none to send to: the outbox takes what would go (make
         * run's demo). Kept as unchecked, so it shows; nothing of it reaches a provider. */
        gw_log(GW_WARN, "console.template_link_unchecked", "{s:s, s:s, s:s}", "dept", o->dept, "id",
               o->id, "channel", ad->name);
        json_object_set_new(link, "unchecked", json_string("outbox"));
        tpl_store(o);
        return;
    }
    if (!gw_channel_enabled(app->cfg, ad->name) ||
        ad->tpl_info_render(&st, json_string_value(json_object_get(link, "template_id")), &h, err,
                            sizeof err)) {
        gw_api_fail(o->rq, 400, "bad_field", ad->name,
                    "%s is not configured, so the link cannot be checked", ad->name);
        return;
    }
    int rc = gw_api_httpc(o->api)
                 ? gw_httpc_send(gw_api_httpc(o->api), &h, LINK_POOL, on_tpl_info, o)
                 : MC_EUNAVAIL;
    ch_http_clear(&h);
    if (rc) {
        gw_api_fail(o->rq, 503, "unavailable", path, "the template check could not start");
        return;
    }
    o->sent_on = true; /* the check's callback owns o now */
}

/* A record linked to a provider template: its check first (gw_templates.c's top). */
static void tpl_check_link(gw_api_op *o) {
    json_t *link = NULL;
    const ch_adapter *ad = linked(o->keep, &link);
    if (!ad) {
        tpl_store(o);
        return;
    }
    gw_argv av = {0};
    gw_argv_adds(&av, "HGET");
    gw_argv_addkey(&av, gw_api_keys(o->api), GW_K_TOKEN, GW_KEY_OWN,
                   ad->token_of ? ad->token_of : ad->name);
    gw_argv_adds(&av, "access");
    gw_api_op_send(o, &av, GW_API_ANY, on_tpl_token);
}

/* PUT /templates/{id}: the record checked, then stored within the limit. */
static void template_put(const gw_api *a, gw_req *rq, const gw_api_token *t, const char *id) {
    json_t *b = gw_api_body(rq);
    if (!b)
        return;
    gw_api_err e = {0};
    json_t *rec = template_record(a, id, b, &e);
    json_decref(b);
    if (!rec) {
        gw_api_fail_err(rq, &e);
        return;
    }
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o) {
        json_decref(rec);
        return;
    }
    o->keep = rec;
    snprintf(o->id, sizeof o->id, "%s", id);
    tpl_check_link(o);
}

void gw_templates_item(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    const char *m = gw_req_method(rq);
    const char *id = gw_api_path_rest(rq, GW_API_PREFIX "templates/");
    if (!gw_tpl_id_ok(id, strlen(id))) {
        if (!strcmp(m, "PUT"))
            gw_api_fail(rq, 400, "bad_field", "id", "a template id is 1..%d of a-z, 0-9, _ and -",
                        GW_TPL_ID_MAX);
        else
            gw_api_fail(rq, 404, "not_found", NULL, "no such template");
        return;
    }
    if (!strcmp(m, "PUT")) {
        template_put(a, rq, t, id);
        return;
    }
    bool del = !strcmp(m, "DELETE");
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o)
        return;
    snprintf(o->id, sizeof o->id, "%s", id);
    gw_argv av = {0};
    gw_argv_adds(&av, del ? "HDEL" : "HGET");
    gw_api_add_dept_key(&av, o->api, GW_K_TPL, o->dept);
    gw_argv_adds(&av, id);
    gw_api_op_send(o, &av, del ? GW_API_INT : GW_API_ANY, del ? on_tpl_del : on_tpl_get);
}
