/*
 * gw_api_reply.c — how the API answers: error bodies {"error","message","field"},
 * JSON answers, the async op that carries a request through the store, and the
 * idempotency helpers of the writing endpoints.
 *
 * Big idea: one store callback for every endpoint. Whatever a handler sends,
 * the reply comes back here first: no reply is 503 (nothing was written), a
 * Redis error 500 (both logged as admin.store_failed), a reply of another
 * shape than the handler asked for 500 — and only a usable reply reaches the
 * handler's own function. The op is freed here when that function returns, unless it sent the
 * op on (a template read, then the write that uses it), so no handler frees in
 * a callback and none can forget to.
 */
#include "gateway/api/gw_api_int.h"

#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHA256_HEX_LEN 64 /* the hash part of an idempotency record */

/* ---------------------------------------------------------------- errors */

__attribute__((format(printf, 5, 0))) static void err_vset(gw_api_err *e, int status,
                                                           const char *code, const char *field,
                                                           const char *fmt, va_list ap) {
    e->status = status;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    vsnprintf(e->message, sizeof e->message, fmt, ap);
}

int gw_api_err_set(gw_api_err *e, int status, const char *code, const char *field, const char *fmt,
                   ...) {
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, status, code, field, fmt, ap);
    va_end(ap);
    return MC_EINVAL;
}

char *gw_api_err_json(const gw_api_err *e) {
    json_t *o = json_pack("{s:s, s:s}", "error", e->code, "message", e->message);
    if (o && *e->field)
        json_object_set_new(o, "field", json_string(e->field));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

void gw_api_oom(gw_req *rq) {
    gw_req_error(rq, 500, "internal", "out of memory");
}

void gw_api_fail_err(gw_req *rq, const gw_api_err *e) {
    char *s = gw_api_err_json(e);
    if (!s) {
        gw_api_oom(rq);
        return;
    }
    gw_req_json(rq, e->status ? e->status : 400, s, strlen(s));
    free(s);
}

void gw_api_vfail(gw_req *rq, int status, const char *code, const char *field, const char *fmt,
                  va_list ap) {
    gw_api_err e;
    err_vset(&e, status, code, field, fmt, ap);
    gw_api_fail_err(rq, &e);
}

void gw_api_fail(gw_req *rq, int status, const char *code, const char *field, const char *fmt,
                 ...) {
    va_list ap;
    va_start(ap, fmt);
    gw_api_vfail(rq, status, code, field, fmt, ap);
    va_end(ap);
}

void gw_api_answer(gw_req *rq, int status, json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        gw_api_oom(rq);
        return;
    }
    gw_req_json(rq, status, s, strlen(s));
    free(s);
}

json_t *gw_api_json_list(const redisReply *list) {
    json_t *arr = json_array();
    for (size_t i = 0; list->type == REDIS_REPLY_ARRAY && i < list->elements; i++) {
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        json_t *j = json_loadb(e->str, e->len, 0, NULL);
        json_array_append_new(arr, j ? j : json_stringn(e->str, e->len));
    }
    return arr;
}

static void unavailable(gw_req *rq) {
    gw_api_fail(rq, 503, "unavailable", NULL,
                "the store is unavailable; nothing was written, retry");
}

/* ---------------------------------------------------------------- the op */

gw_api_op *gw_api_op_new(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    gw_api_op *o = calloc(1, sizeof *o);
    gw_api_token *own = t ? gw_api_token_dup(t) : NULL;
    if (!o || (t && !own)) {
        free(o);
        gw_api_token_free(own);
        gw_api_oom(rq);
        return NULL;
    }
    o->api = a;
    o->rq = gw_req_ref(rq);
    o->t = own; /* the caller's principal may be one request's: the op keeps its own */
    snprintf(o->dept, sizeof o->dept, "%s", t ? gw_api_token_dept(t) : "");
    o->now = gw_now_ms();
    return o;
}

gw_api_op *gw_api_op_with_body(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    json_t *b = gw_api_body(rq);
    if (!b)
        return NULL;
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o) {
        json_decref(b);
        return NULL;
    }
    o->body = b;
    return o;
}

gw_api_op *gw_api_op_checked(const gw_api *a, gw_req *rq, const gw_api_token *t, size_t size,
                             void (*clear)(void *res), gw_api_check_fn *check) {
    gw_api_op *o = gw_api_op_with_body(a, rq, t);
    if (!o)
        return NULL;
    if (!(o->res = calloc(1, size))) {
        gw_api_oom(rq);
        gw_api_op_free(o);
        return NULL;
    }
    o->res_clear = clear;
    gw_api_err e = {0};
    if (check(o, &e)) {
        gw_api_fail_err(rq, &e);
        gw_api_op_free(o);
        return NULL;
    }
    return o;
}

gw_api_op *gw_api_op_for_id(const gw_api *a, gw_req *rq, const gw_api_token *t, const char *prefix,
                            const char *chars, const char *what) {
    const char *id = gw_api_path_rest(rq, prefix);
    long part = gw_keyspace_part_of_id(gw_api_keys(a), id);
    /* an id that names no partition was never made here (unit tests have no keyspace) */
    if (!gw_api_id_ok(id, strlen(id), chars) || (part < 0 && gw_api_keys(a))) {
        gw_api_fail(rq, 404, "not_found", NULL, "no %s %s", what, id);
        return NULL;
    }
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (o) {
        snprintf(o->id, sizeof o->id, "%s", id);
        o->part = part < 0 ? 0 : (unsigned)part;
    }
    return o;
}

int gw_api_check_body(const gw_api *a, const gw_api_token *t, const gw_api_body_check *c,
                      const json_t *body, gw_api_err *e) {
    gw_api_op o = {.api = a, .t = t, .body = (json_t *)body, .now = gw_now_ms()};
    snprintf(o.dept, sizeof o.dept, "%s", gw_api_token_dept(t));
    snprintf(o.id, sizeof o.id, "%s", "checked");
    if (!(o.res = calloc(1, c->res_size ? c->res_size : 1)))
        return gw_api_err_set(e, 500, "internal", NULL, "out of memory");
    int rc = c->check(&o, e);
    if (c->res_clear)
        c->res_clear(o.res);
    free(o.res);
    return rc ? MC_EINVAL : 0;
}

static void op_release(gw_api_op *o) {
    if (o->res && o->res_clear)
        o->res_clear(o->res);
    free(o->res);
    free(o->use_rec);
    json_decref(o->keep);
    json_decref(o->body);
    json_decref(o->log);
    json_decref(o->log_parts);
    gw_req_unref(o->rq);
    gw_api_token_free((gw_api_token *)o->t);
    free(o);
}

void gw_api_op_free(gw_api_op *o) {
    if (o && !o->in_reply) /* in a reply, on_store_reply frees it when it returns */
        op_release(o);
}

/* No reply (503) or a Redis error (500): answered and logged; 0 when usable. */
static int store_failed(gw_api_op *o, const redisReply *r) {
    if (r && r->type != REDIS_REPLY_ERROR)
        return 0;

    gw_log(GW_ERROR, "admin.store_failed", "{s:s, s:s}", "dept", o->dept, "error",
           r && r->str ? r->str : "connection lost");
    if (r)
        gw_api_fail(o->rq, 500, "internal", NULL, "the store refused the write");
    else
        unavailable(o->rq);
    return MC_EUNAVAIL;
}

static bool has_shape(const redisReply *r, gw_api_want want) {
    switch (want) {
    case GW_API_ANY: return true;
    case GW_API_INT: return r->type == REDIS_REPLY_INTEGER;
    case GW_API_ARRAY: return r->type == REDIS_REPLY_ARRAY;
    case GW_API_STATUS:
        return r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
               r->element[0]->type == REDIS_REPLY_INTEGER;
    }
    return false;
}

/* The one store callback of the room. */
static void on_store_reply(gw_store *s, redisReply *r, void *priv) {
    gw_api_op *o = priv;
    long long acked = 0;
    o->in_reply = true;
    o->sent_on = false;
    if (gw_store_waited_short(s, &acked) && !gw_req_answered(o->rq)) {
        /* The write is done on its primary, not rolled back. The caller hears 503 now (the
         * first answer is the one sent); the op goes on, so that the request's other
         * writes are done too, as a retry would do them. */
        gw_log(GW_WARN, "admin.replicas_short", "{s:s, s:I}", "dept", o->dept, "acked",
               (json_int_t)acked);
        gw_api_fail(o->rq, 503, "replicas", NULL,
                    "written, but fewer replicas than required acknowledged it in time; the "
                    "write stays done");
    }
    if (!store_failed(o, r)) {
        if (has_shape(r, o->want))
            o->reply(o, r);
        else
            gw_api_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
    }
    o->in_reply = false;
    if (!o->sent_on)
        op_release(o);
}

int gw_api_op_send(gw_api_op *o, gw_argv *av, gw_api_want want, gw_api_reply_fn *fn) {
    gw_app *app = gw_api_app(o->api);
    gw_store *st = app ? app->store : NULL;
    o->reply = fn;
    o->want = want;
    /* a write request's commands are answered once [redis] wait_replicas replicas have
     * them (its reads too: WAIT then only counts what the connection wrote before) */
    const char *m = gw_req_method(o->rq);
    int replicas =
        app && m && strcmp(m, "GET") && strcmp(m, "HEAD") ? (int)app->cfg->redis_wait_replicas : 0;
    int rc =
        !st || gw_argv_send_wait(st, av, replicas, replicas ? app->cfg->redis_wait_timeout_ms : 0,
                                 on_store_reply, o)
            ? MC_EUNAVAIL
            : 0;
    gw_argv_free(av); /* hiredis copied what it queued */
    if (rc) {
        unavailable(o->rq);
        gw_api_op_free(o);
    } else if (o->in_reply)
        o->sent_on = true;
    return rc;
}

/* ------------------------------------------------------------------ keys */

unsigned gw_api_part_of(const gw_api *a, const char *s) {
    return gw_keyspace_part_of(gw_api_keys(a), s, strlen(s));
}

unsigned gw_api_dept_part(const gw_api *a, const char *dept) {
    char who[GW_API_DEPT_MAX + 8];
    int n = snprintf(who, sizeof who, "dept:%s", dept);
    return gw_keyspace_part_of(gw_api_keys(a), who, n > 0 ? (size_t)n : 0);
}

void gw_api_add_key(gw_argv *av, const gw_api *a, gw_key_family f, const char *of,
                    const char *part) {
    gw_argv_addkey(av, gw_api_keys(a), f, gw_api_part_of(a, of), part);
}

void gw_api_add_dept_key(gw_argv *av, const gw_api *a, gw_key_family f, const char *dept) {
    gw_argv_addkey(av, gw_api_keys(a), f, gw_api_dept_part(a, dept), dept);
}

void gw_api_add_dept_key_part(gw_argv *av, const gw_api *a, gw_key_family f, const char *dept,
                              const char *part) {
    gw_argv_addkey(av, gw_api_keys(a), f, gw_api_dept_part(a, dept), dept, part);
}

/* ----------------------------------------------------------------- steps */

static void step_send(gw_api_op *o);

static void on_step(gw_api_op *o, const redisReply *r) {
    o->steps.each(o, o->steps.i, r);
    if (o->steps.failed)
        return; /* each answered */
    if (++o->steps.i < o->steps.n)
        step_send(o);
    else
        o->steps.done(o);
}

static void step_send(gw_api_op *o) {
    gw_argv av = {0};
    o->steps.build(o, o->steps.i, &av);
    gw_api_op_send(o, &av, o->steps.want, on_step);
}

void gw_api_op_steps(gw_api_op *o, size_t n, gw_api_want want, gw_api_step_build_fn *build,
                     gw_api_step_reply_fn *each, gw_api_next_fn *done) {
    o->steps.n = n;
    o->steps.i = 0;
    o->steps.want = want;
    o->steps.build = build;
    o->steps.each = each;
    o->steps.done = done;
    o->steps.failed = false;
    if (n == 0) {
        done(o); /* from a reply function: the op goes when it returns */
        return;
    }
    step_send(o);
}

void gw_api_op_parts(gw_api_op *o, json_t *keep, gw_api_want want, gw_api_step_build_fn *build,
                     gw_api_step_reply_fn *each, gw_api_next_fn *done) {
    if (keep) {
        json_decref(o->keep);
        o->keep = keep;
    }
    if (!o->keep) {
        gw_api_oom(o->rq);
        gw_api_op_free(o);
        return;
    }
    gw_api_op_steps(o, gw_keyspace_partitions(gw_api_keys(o->api)), want, build, each, done);
}

/* ----------------------------------------------------------- idempotency */

int gw_api_op_hash_body(gw_api_op *o) {
    char *canon = json_dumps(o->body, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon)
        return MC_ENOMEM;
    gw_api_sha256_hex(canon, strlen(canon), o->hash);
    free(canon);
    return 0;
}

unsigned gw_api_idem_part(const gw_api *a, const char *dept, const char *kind, const char *key) {
    char who[GW_API_DEPT_MAX + GW_API_IDEM_KEY_MAX + 16];
    int n = snprintf(who, sizeof who, "idem:%s:%s%s", dept, kind, key);
    return gw_keyspace_part_of(gw_api_keys(a), who, n > 0 ? (size_t)n : 0);
}

void gw_api_add_idem_key(gw_argv *av, const gw_api *a, unsigned part, const char *dept,
                         const char *kind, const char *key) {
    char k[GW_API_IDEM_KEY_MAX + 16];
    snprintf(k, sizeof k, "%s%s", kind, key);
    gw_argv_addkey(av, gw_api_keys(a), GW_K_IDEM, part, dept, k);
}

int gw_api_idem_reply(gw_api_op *o, const redisReply *r, char id[GW_API_NOTIF_ID_MAX + 1],
                      bool *fresh) {
    *id = '\0';
    if (r->elements < 2 || r->element[1]->type != REDIS_REPLY_STRING) {
        gw_api_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        return MC_EINVAL;
    }
    const char *v = r->element[1]->str, *bar = strchr(v, '|');
    if (!bar || (size_t)(bar - v) != SHA256_HEX_LEN || strlen(bar + 1) > GW_API_NOTIF_ID_MAX) {
        gw_api_fail(o->rq, 500, "internal", NULL, "unexpected idempotency record");
        return MC_EINVAL;
    }
    *fresh = r->element[0]->integer != 0;
    if (!*fresh && memcmp(v, o->hash, SHA256_HEX_LEN)) {
        gw_api_fail(o->rq, 409, "conflict", "idempotency_key",
                    "this idempotency key was used with a different body");
        return MC_EINVAL;
    }
    snprintf(id, GW_API_NOTIF_ID_MAX + 1, "%s", bar + 1);
    return 0;
}
