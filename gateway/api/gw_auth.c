/*
 * gw_auth.c — who calls, and may they (gw_auth_request in gw_api_int.h): a bearer
 * token of [admin] tokens_file, an API key a department made, or an officer's console
 * session; then the scope (tokens and keys) or the role (officers) the route asks for
 * the method, the CSRF token of a session's writes, and the one-time password an officer
 * must change first.
 *
 * Big idea: nothing about a key or a session is remembered between requests. A key is
 * read from its department's partition on every request (one script, which also notes
 * its last use), and a session from its own partition, then its officer from the
 * department's: revoking a key, disabling an officer or ending a session takes effect on
 * the next request in every process, because no process has a copy to trust. A
 * session holds the officer's "generation"; disabling or resetting an officer bumps it,
 * which ends every session made before.
 */
#include "gateway/api/gw_api_int.h"

#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_MAX 24              /* an officer's generation, decimal */
#define AREAS_TEXT_MAX 4096     /* a principal's areas, comma-separated */
#define SCOPES_TEXT_MAX 128     /* a key's scopes, comma-separated */
#define MS_PER_MINUTE 60000LL   /* [console] idle_minutes */
#define MS_PER_HOUR 3600000LL   /* [console] max_hours */
#define DEFAULT_IDLE_MINUTES 30 /* without a process (unit tests) */
#define DEFAULT_MAX_HOURS 12    /* ... */

/* ----------------------------------------------------------------- scripts */

/* KEYS[1] the department's key index (apikeys); ARGV sha256 of the token, now, dept. {0}
 * for no such key; else {1, name, scopes, areas}, its last use noted. */
static const char key_lua[] = "local name=redis.call('HGET',KEYS[1],ARGV[1])\n"
                              "if not name then return {0} end\n"
                              "local k=K.apikey(ARGV[3],name)\n"
                              "local r=redis.call('HMGET',k,'scopes','areas')\n"
                              "if not r[1] then return {0} end\n"
                              "redis.call('HSET',k,'last_used_ms',ARGV[2])\n"
                              "return {1,name,r[1],r[2] or ''}\n";

/* KEYS[1] a session; ARGV now, idle ms, absolute ms. {0} for none or ended (then
 * deleted); else {1, dept, user, csrf, gen}, its last use noted and its expiry moved to
 * the earlier of idle and absolute. */
static const char session_lua[] =
    "local s=redis.call('HMGET',KEYS[1],'dept','user','csrf','gen','created_ms','last_ms')\n"
    "if not s[1] then return {0} end\n"
    "local now,idle,max=tonumber(ARGV[1]),tonumber(ARGV[2]),tonumber(ARGV[3])\n"
    "local created,last=tonumber(s[5]) or 0,tonumber(s[6]) or 0\n"
    "if now-last>=idle or now-created>=max then redis.call('DEL',KEYS[1]) return {0} end\n"
    "redis.call('HSET',KEYS[1],'last_ms',ARGV[1])\n"
    "local left=math.min(idle,created+max-now)\n"
    "redis.call('PEXPIRE',KEYS[1],math.max(left,1))\n"
    "return {1,s[1],s[2],s[3],s[4] or '0'}\n";

/* ------------------------------------------------------------------ state */

/* One request on its way through the store. */
typedef struct auth_req {
    const gw_api *a;                /* the module */
    gw_req *rq;                     /* holds a reference */
    gw_auth_need need;              /* what the route asks */
    gw_auth_fn *then;               /* the route's handler */
    void *arg;                      /* its argument */
    char dept[GW_API_DEPT_MAX + 1]; /* the key's or the session's department */
    char user[GW_API_NAME_MAX + 1]; /* the session's officer */
    char sess[GW_API_HASH_HEX];     /* the session's key part (sha256 of the cookie) */
    char csrf[GW_OFF_SECRET_HEX];   /* the session's CSRF token */
    char gen[GEN_MAX];              /* the officer's generation the session was made in */
} auth_req;

static void auth_free(auth_req *q) {
    gw_req_unref(q->rq);
    free(q);
}

static void unauthorized(gw_req *rq, const char *msg) {
    gw_api_fail(rq, 401, "unauthorized", NULL, "%s", msg);
}

/* No reply (503), an error (500), or not an array (500): answered; 0 when r is an array. */
static int auth_store_failed(auth_req *q, const redisReply *r) {
    if (r && r->type == REDIS_REPLY_ARRAY)
        return 0;
    gw_log(GW_ERROR, "admin.store_failed", "{s:s, s:s}", "dept", q->dept, "error",
           r && r->str ? r->str
           : r         ? "unexpected answer"
                       : "connection lost");
    if (!r)
        gw_api_fail(q->rq, 503, "unavailable", NULL, "the store is unavailable; retry");
    else
        gw_api_fail(q->rq, 500, "internal", NULL, "the store refused the request");
    return MC_EUNAVAIL;
}

/* A script's {status, ...}: the status, or -1 for another shape. */
static long long head_of(const redisReply *r) {
    return r->elements >= 1 && r->element[0]->type == REDIS_REPLY_INTEGER ? r->element[0]->integer
                                                                          : -1;
}

/* Sends av for q with cb; answers 503 and frees q when the store cannot take it. */
static void auth_send(auth_req *q, gw_argv *av, gw_store_cb *cb) {
    gw_app *app = gw_api_app(q->a);
    int rc = !app || !app->store || gw_argv_send(app->store, av, cb, q);
    gw_argv_free(av);
    if (rc) {
        gw_api_fail(q->rq, 503, "unavailable", NULL, "the store is unavailable; retry");
        auth_free(q);
    }
}

/* ------------------------------------------------------------- the checks */

/* The scope names of mask, " or " between them ("notify or broadcast"). */
static void scope_text(unsigned mask, char *out, size_t n) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; gw_api_scope_name(i); i++)
        if (mask & 1u << i)
            used += (size_t)snprintf(out + used, used < n ? n - used : 0, "%s%s",
                                     used ? " or " : "", gw_api_scope_name(i));
}

/* May t do what need says? 0, or MC_EINVAL once answered 403. */
static int allowed(gw_req *rq, const gw_api_token *t, const gw_auth_need *need, const char *csrf) {
    const char *dept = gw_api_token_dept(t);
    if (gw_api_token_kind(t) != GW_API_OFFICER) {
        if (need->scope & GW_SCOPE_PEOPLE) {
            gw_api_fail(rq, 403, "forbidden", NULL,
                        "only an officer signed in to the console may do this");
            return MC_EINVAL;
        }
        if (need->scope && !(gw_api_token_scopes(t) & need->scope)) {
            char name[64];
            scope_text(need->scope, name, sizeof name);
            gw_api_fail(rq, 403, "forbidden", NULL, "the token of %s lacks the scope %s", dept,
                        name);
            return MC_EINVAL;
        }
        return 0;
    }
    if (need->write) {
        const char *h = gw_req_header(rq, "x-csrf-token");
        if (!h || !gw_off_same(h, csrf)) {
            gw_log(GW_WARN, "console.csrf_refused", "{s:s, s:s, s:s}", "dept", dept, "user",
                   gw_api_token_name(t), "path", gw_req_path(rq));
            gw_api_fail(rq, 403, "csrf", NULL,
                        "a write from the console must carry its X-CSRF-Token header");
            return MC_EINVAL;
        }
    }
    if (gw_api_token_must_change(t) && !need->before_change) {
        gw_api_fail(rq, 403, "password_change_required", NULL,
                    "change the one-time password first (POST /console/api/password)");
        return MC_EINVAL;
    }
    if (need->role == GW_OFF_NOBODY || gw_api_token_role(t) < need->role) {
        gw_api_fail(rq, 403, "forbidden", NULL, "the role %s may not do this (it takes %s)",
                    gw_off_role_name(gw_api_token_role(t)),
                    need->role == GW_OFF_NOBODY ? "a token" : gw_off_role_name(need->role));
        return MC_EINVAL;
    }
    return 0;
}

/* Checks, then the handler, then the principal goes (when owned). */
static void finish(auth_req *q, gw_api_token *t, const char *csrf) {
    if (!allowed(q->rq, t, &q->need, csrf))
        q->then(q->a, q->rq, t, q->arg);
}

/* --------------------------------------------------------------- API keys */

static void on_key(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    auth_req *q = priv;
    if (auth_store_failed(q, r))
        goto out;
    if (head_of(r) != 1 || r->elements < 4 || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[2]->type != REDIS_REPLY_STRING || r->element[3]->type != REDIS_REPLY_STRING) {
        gw_log(GW_WARN, "admin.bad_token", "{s:s, s:s, s:s}", "peer", gw_req_peer(q->rq), "path",
               gw_req_path(q->rq), "dept", q->dept);
        unauthorized(q->rq, "the token is not valid (revoked, or never made)");
        goto out;
    }
    unsigned scopes = 0;
    gw_api_scopes_parse(r->element[2]->str, &scopes); /* written by POST /keys: known names */
    gw_api_token *t = gw_api_token_new(GW_API_KEY, q->dept, r->element[1]->str, scopes,
                                       GW_OFF_NOBODY, r->element[3]->str);
    if (!t) {
        gw_api_oom(q->rq);
        goto out;
    }
    finish(q, t, "");
    gw_api_token_free(t);
out:
    auth_free(q);
}

static void key_lookup(auth_req *q, const char *tok, size_t len) {
    char h[GW_API_HASH_HEX], now[24];
    gw_api_sha256_hex(tok, len, h);
    snprintf(now, sizeof now, "%" PRId64, gw_now_ms());
    gw_argv av = GW_API_EVAL(q->a, key_lua, 1);
    gw_api_add_dept_key(&av, q->a, GW_K_APIKEYS, q->dept);
    gw_argv_adds(&av, h);
    gw_argv_adds(&av, now);
    gw_argv_adds(&av, q->dept);
    auth_send(q, &av, on_key);
}

/* --------------------------------------------------------------- sessions */

static void ended(auth_req *q) {
    unauthorized(q->rq, "the session has ended; sign in again");
}

/* The officer's record: enabled, of the session's generation → the principal. */
static void on_officer(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    auth_req *q = priv;
    if (auth_store_failed(q, r))
        goto out;
    /* HMGET state role areas gen must_change */
    if (r->elements != 5) {
        gw_api_fail(q->rq, 500, "internal", NULL, "unexpected store answer");
        goto out;
    }
    const redisReply *st = r->element[0], *role = r->element[1], *areas = r->element[2],
                     *gen = r->element[3], *mc = r->element[4];
    if (st->type != REDIS_REPLY_STRING || strcmp(st->str, "enabled") ||
        gen->type != REDIS_REPLY_STRING || strcmp(gen->str, q->gen) ||
        role->type != REDIS_REPLY_STRING) {
        ended(q); /* disabled, reset, or gone: every session it had ends now */
        goto out;
    }
    gw_off_role ro = gw_off_role_parse(role->str);
    gw_api_token *t = gw_api_token_new(GW_API_OFFICER, q->dept, q->user, gw_api_role_scopes(ro), ro,
                                       areas->type == REDIS_REPLY_STRING ? areas->str : "");
    if (!t) {
        gw_api_oom(q->rq);
        goto out;
    }
    gw_api_token_set_session(t, q->sess, q->csrf,
                             mc->type == REDIS_REPLY_STRING && !strcmp(mc->str, "1"));
    finish(q, t, q->csrf);
    gw_api_token_free(t);
out:
    auth_free(q);
}

static void on_session(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    auth_req *q = priv;
    if (auth_store_failed(q, r)) {
        auth_free(q);
        return;
    }
    if (head_of(r) != 1 || r->elements < 5) {
        ended(q);
        auth_free(q);
        return;
    }
    for (size_t i = 1; i < 5; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            ended(q);
            auth_free(q);
            return;
        }
    snprintf(q->dept, sizeof q->dept, "%s", r->element[1]->str);
    snprintf(q->user, sizeof q->user, "%s", r->element[2]->str);
    snprintf(q->csrf, sizeof q->csrf, "%s", r->element[3]->str);
    snprintf(q->gen, sizeof q->gen, "%s", r->element[4]->str);
    gw_argv av = {0};
    gw_argv_adds(&av, "HMGET");
    gw_api_add_dept_key_part(&av, q->a, GW_K_OFFICER, q->dept, q->user);
    static const char *const fields[] = {"state", "role", "areas", "gen", "must_change"};
    for (size_t i = 0; i < MC_ARRAY_LEN(fields); i++)
        gw_argv_adds(&av, fields[i]);
    auth_send(q, &av, on_officer);
}

/* The session's limits from [console], in ms. */
static void session_limits(const gw_api *a, int64_t *idle_ms, int64_t *max_ms) {
    const gw_app *app = gw_api_app(a);
    long idle = app ? app->cfg->console_idle_minutes : DEFAULT_IDLE_MINUTES;
    long max = app ? app->cfg->console_max_hours : DEFAULT_MAX_HOURS;
    *idle_ms = idle * MS_PER_MINUTE;
    *max_ms = max * MS_PER_HOUR;
}

static void session_lookup(auth_req *q, const char *id) {
    int64_t idle, max;
    session_limits(q->a, &idle, &max);
    gw_api_sha256_hex(id, strlen(id), q->sess);
    gw_argv av = GW_API_EVAL(q->a, session_lua, 1);
    gw_argv_addkey(&av, gw_api_keys(q->a), GW_K_SESSION, gw_api_part_of(q->a, q->sess), q->sess);
    gw_argv_addf(&av, "%" PRId64, gw_now_ms());
    gw_argv_addf(&av, "%" PRId64, idle);
    gw_argv_addf(&av, "%" PRId64, max);
    auth_send(q, &av, on_session);
}

int gw_api_session_cookie(const char *cookie, char out[GW_OFF_SECRET_HEX]) {
    const size_t nl = sizeof GW_API_SESSION_COOKIE - 1, want = GW_OFF_SECRET_HEX - 1;
    out[0] = '\0';
    for (const char *p = cookie; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l == nl + 1 + want && !memcmp(p, GW_API_SESSION_COOKIE "=", nl + 1) &&
            strspn(p + nl + 1, "0123456789abcdef") >= want) {
            memcpy(out, p + nl + 1, want);
            out[want] = '\0';
            return 0;
        }
        p = end;
    }
    return MC_ENOTFOUND;
}

/* ------------------------------------------------------------- the entry */

void gw_auth_request(const gw_api *a, gw_req *rq, const gw_auth_need *need, gw_auth_fn *then,
                     void *arg) {
    const char *h = gw_req_header(rq, "authorization");
    char sid[GW_OFF_SECRET_HEX];
    size_t len = 0;
    const char *tok = h && *h ? gw_api_bearer(h, &len) : NULL;
    if (h && *h) {
        const gw_api_token *t = gw_api_token_find(a, h);
        if (t) {
            if (!allowed(rq, t, need, ""))
                then(a, rq, t, arg);
            return;
        }
    } else if (gw_api_session_cookie(gw_req_header(rq, "cookie"), sid)) {
        unauthorized(rq, "send Authorization: Bearer <token>, or sign in to the console");
        return;
    }
    auth_req *q = calloc(1, sizeof *q);
    if (!q) {
        gw_api_oom(rq);
        return;
    }
    q->a = a;
    q->rq = gw_req_ref(rq);
    q->need = *need;
    q->then = then;
    q->arg = arg;
    if (!(h && *h)) {
        session_lookup(q, sid);
        return;
    }
    if (!tok || gw_off_key_dept(tok, len, q->dept, sizeof q->dept)) {
        gw_log(GW_WARN, "admin.bad_token", "{s:s, s:s}", "peer", gw_req_peer(rq), "path",
               gw_req_path(rq));
        unauthorized(rq, "the token is not valid");
        auth_free(q);
        return;
    }
    key_lookup(q, tok, len);
}
