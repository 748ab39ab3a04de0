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
 */
#define _GNU_SOURCE /* qsort_r */
#include "gateway/api/gw_api_int.h"

#include "channels/ch.h"
#include "core/mc.h"
#include "gateway/api/gw_tpl.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_CHARS 100   /* code points of a template's name */
#define MAX_TEMPLATES 200 /* templates of one department */
#define WHY_MAX 300       /* a scan error quoted in an answer */

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

/* The template of the text step came: render it, then go on. */
static void on_text_tpl(gw_api_op *o, const redisReply *r) {
    gw_api_err e = {0};
    if (gw_templates_use(r, o->msg->tpl_data, "template.data.", true, &o->msg->out_text, &e)) {
        gw_api_fail_err(o->rq, &e);
        return;
    }
    o->next(o);
}

void gw_templates_text(gw_api_op *o, gw_api_message *m, gw_api_next_fn *next) {
    o->msg = m;
    o->next = next;
    if (m->tpl_id) {
        gw_templates_fetch(o, m->tpl_id, on_text_tpl);
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
static json_t *template_record(const gw_api *a, const char *id, const json_t *b, gw_api_err *e) {
    static const char *const allowed[] = {"id", "name", "text", "placeholders", NULL};
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
    return json_pack("{s:s, s:O, s:O, s:o, s:s}", "id", id, "name", name, "text", text,
                     "placeholders", list, "updated_at", at);
}

/* The check of a PUT body alone (the id is the op's). */
static int tpl_check(gw_api_op *o, gw_api_err *e) {
    json_t *rec = template_record(o->api, o->id, o->body, e);
    json_decref(rec);
    return rec ? 0 : MC_EINVAL;
}

const gw_api_body_check gw_template_body = {"template", 0, NULL, tpl_check};

static void on_tpl_put(gw_api_op *o, const redisReply *r) {
    if (r->integer < 0) {
        gw_api_fail(o->rq, 409, "too_many", "id",
                    "a department keeps at most %d templates; delete one first", MAX_TEMPLATES);
        return;
    }
    gw_log(GW_INFO, "console.template_put", "{s:s, s:s, s:b}", "dept", o->dept, "id", o->id,
           "created", r->integer == 0);
    /* the template's name and fields, not its text */
    gw_audit_op(o, r->integer ? "template.update" : "template.create", o->id,
                json_pack("{s:O?, s:O?}", "name", json_object_get(o->keep, "name"), "placeholders",
                          json_object_get(o->keep, "placeholders")));
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
    char *js = json_dumps(rec, JSON_COMPACT);
    if (!js) {
        gw_api_oom(rq);
        gw_api_op_free(o);
        return;
    }
    gw_argv av = GW_API_EVAL(o->api, tpl_put_lua, 1);
    gw_api_add_dept_key(&av, o->api, GW_K_TPL, o->dept);
    gw_argv_adds(&av, id);
    gw_argv_adds(&av, js);
    gw_argv_addf(&av, "%d", MAX_TEMPLATES);
    gw_api_op_send(o, &av, GW_API_INT, on_tpl_put);
    free(js);
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
