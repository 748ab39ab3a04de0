/*
 * gw_console.c — the console's own endpoints (shared/spec/officers.md, "Console
 * sessions"): POST /console/api/session {"user","password","totp"} signs in, GET tells
 * who is signed in (and the CSRF token the page sends back), DELETE signs out on the
 * server; POST /console/api/password {"old","new"} changes the password (the one-time
 * password first); GET /console/api/config says what the sign-in page offers.
 *
 * Big idea: a wrong user, a wrong password and a wrong code are one answer, reached by
 * the same steps: the lock counter and the user's department (the partition of
 * "login:<user>"), the officer's record (the department's), one Argon2id check on the
 * thread pool (against a dummy hash when there is no such officer), one TOTP check
 * (against a dummy secret), and the failure counted. Only success differs: the code's
 * step is claimed (a code is used once), a new session id of 128 random bits is made
 * (any cookie the browser had is ignored, so no fixation), and the counter cleared. Five
 * failures in 15 minutes ([console] max_failures, lock_minutes) lock the user — not the
 * address — with 429 and Retry-After.
 */
#include "gateway/api/gw_api_int.h"

#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/net/gw_router.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P "/console/api/"
#define MS_PER_MINUTE 60000LL
#define CODE_MAX 16      /* a TOTP field, bytes (a code is 6 digits) */
#define GEN_MAX 24       /* an officer's generation, decimal */
#define UNKNOWN_USER "~" /* the lock counter of every malformed user name */
#define NO_DEPT "-"      /* a department no officer belongs to (no such user) */
#define DUMMY_TOTP "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" /* checked when there is no officer */
#define COOKIE_MAX 192                                /* a Set-Cookie header line */
#define SIGNIN_FAILED "wrong user, password or code"

/* ------------------------------------------------------------------ scripts */

/* KEYS[1] the user's failure counter, KEYS[2] the user's login; ARGV max failures. {1,
 * ms left} locked; {0, 0, dept or ""}. */
static const char signin_lua[] = "local n=tonumber(redis.call('GET',KEYS[1]) or '0')\n"
                                 "if n>=tonumber(ARGV[1]) then\n"
                                 "  return {1,redis.call('PTTL',KEYS[1]),''}\n"
                                 "end\n"
                                 "return {0,0,redis.call('GET',KEYS[2]) or ''}\n";

/* KEYS[1] the counter; ARGV window ms. {failures in the window, ms left}. */
static const char failed_lua[] = "local n=redis.call('INCR',KEYS[1])\n"
                                 "if n==1 then redis.call('PEXPIRE',KEYS[1],ARGV[1]) end\n"
                                 "return {n,redis.call('PTTL',KEYS[1])}\n";

/* KEYS[1] the officer; ARGV the code's step, the generation read, now. {1} the step is
 * claimed (a code is used once); {0} used already, or the officer changed meanwhile. */
static const char claim_lua[] =
    "local o=redis.call('HMGET',KEYS[1],'state','gen','totp_step')\n"
    "if o[1]~='enabled' or o[2]~=ARGV[2] then return {0} end\n"
    "if tonumber(ARGV[1])<=(tonumber(o[3]) or 0) then return {0} end\n"
    "redis.call('HSET',KEYS[1],'totp_step',ARGV[1],'last_sign_in_ms',ARGV[3])\n"
    "return {1}\n";

/* KEYS[1] the new session; ARGV dept, user, csrf, gen, now, idle ms. */
static const char session_new_lua[] =
    "redis.call('HSET',KEYS[1],'dept',ARGV[1],'user',ARGV[2],'csrf',ARGV[3],'gen',ARGV[4],\n"
    "  'created_ms',ARGV[5],'last_ms',ARGV[5])\n"
    "redis.call('PEXPIRE',KEYS[1],ARGV[6])\n"
    "return {1}\n";

/* KEYS[1] the officer; ARGV the hash the old password was checked against, the new
 * hash, now. {1} changed; {0} the password changed meanwhile. */
static const char password_lua[] =
    "if redis.call('HGET',KEYS[1],'pw')~=ARGV[1] then return {0} end\n"
    "redis.call('HSET',KEYS[1],'pw',ARGV[2],'must_change','0','updated_ms',ARGV[3])\n"
    "return {1}\n";

/* ------------------------------------------------------------------- state */

/* One sign-in on its way. */
typedef struct signin {
    char user[GW_API_NAME_MAX + 1];   /* as typed (a valid user name), or UNKNOWN_USER */
    char pw[GW_OFF_PASSWORD_MAX + 1]; /* as typed, cut */
    size_t pw_len;                    /* its bytes */
    char code[CODE_MAX + 1];          /* as typed, cut */
    char dept[GW_API_DEPT_MAX + 1];   /* the officer's department, or "" */
    char hash[GW_OFF_HASH_MAX];       /* the officer's password hash, or "" */
    char totp[GW_OFF_TOTP_B32_MAX];   /* the officer's TOTP secret, or "" */
    char role[16];                    /* its role */
    char gen[GEN_MAX];                /* its generation */
    bool enabled;                     /* its state */
    bool must_change;                 /* still on a one-time password */
    uint64_t last_step;               /* the last TOTP step used */
    int pw_rc;                        /* the Argon2id check: 0 when it matched */
    uint64_t step;                    /* the code's step, when it matched */
    const char *reason;               /* why it failed (the audit trail only) */
    char sid[GW_OFF_SECRET_HEX];      /* the new session id (the cookie) */
    char sess[GW_API_HASH_HEX];       /* its key part */
    char csrf[GW_OFF_SECRET_HEX];     /* its CSRF token */
    /* the password change's */
    char new_pw[GW_OFF_PASSWORD_MAX + 1]; /* the new password */
    size_t new_len;                       /* its bytes */
    char new_hash[GW_OFF_HASH_MAX];       /* its hash */
    int new_rc;                           /* gw_off_password_hash's answer */
} signin;

static void signin_clear(void *p) {
    OPENSSL_cleanse(p, sizeof(signin));
}

static const gw_config *cfg_of(const gw_api *a) {
    const gw_app *app = gw_api_app(a);
    return app ? app->cfg : NULL;
}

/* The partition of a user's login and failure counter. */
static unsigned login_part(const gw_api *a, const char *user) {
    char who[GW_API_NAME_MAX + 8];
    snprintf(who, sizeof who, "login:%s", user);
    return gw_api_part_of(a, who);
}

/* A string field of the body, cut to n-1 bytes (never refused for its length: a long
 * password is a wrong one, answered like any other). */
static int field(gw_api_op *o, const char *name, char *out, size_t n, size_t *len) {
    json_t *v = json_object_get(o->body, name);
    if (!json_is_string(v)) {
        gw_api_fail(o->rq, 400, v ? "bad_field" : "missing_field", name, "%s is a string", name);
        return MC_EINVAL;
    }
    size_t l = json_string_length(v);
    if (l >= n)
        l = n - 1;
    memcpy(out, json_string_value(v), l);
    out[l] = '\0';
    if (len)
        *len = l;
    return 0;
}

/* --------------------------------------------------------------- failure */

static void on_counted(gw_api_op *o, const redisReply *r) {
    signin *s = o->res;
    long long n = r->element[0]->integer;
    const gw_config *c = cfg_of(o->api);
    long max = c ? c->console_max_failures : 5;
    if (n == max)
        gw_log(GW_WARN, "console.signin_locked", "{s:s, s:s, s:I}", "user", s->user, "peer",
               gw_req_peer(o->rq), "failures", (json_int_t)n);
    gw_api_fail(o->rq, 401, "unauthorized", NULL, SIGNIN_FAILED);
}

/* Every failure ends here, whatever was wrong: counted for the user, noted in the
 * department's trail when there is one, then the one answer. */
static void failed(gw_api_op *o) {
    signin *s = o->res;
    const gw_config *c = cfg_of(o->api);
    gw_log(GW_INFO, "console.signin_failed", "{s:s, s:s}", "user", s->user, "peer",
           gw_req_peer(o->rq));
    if (*s->dept) {
        char actor[GW_API_ACTOR_MAX];
        snprintf(actor, sizeof actor, "officer:%s", s->user);
        gw_audit(o->api, s->dept, actor, "session.failed", s->user, gw_req_peer(o->rq),
                 json_pack("{s:s}", "reason", s->reason ? s->reason : "credentials"));
    }
    gw_argv av = GW_API_EVAL(o->api, failed_lua, 1);
    gw_argv_addkey(&av, gw_api_keys(o->api), GW_K_SIGNIN_FAIL, login_part(o->api, s->user),
                   s->user);
    gw_argv_addf(&av, "%lld", (c ? c->console_lock_minutes : 15) * MS_PER_MINUTE);
    gw_api_op_send(o, &av, GW_API_STATUS, on_counted);
}

/* --------------------------------------------------------------- success */

static void set_cookie(const gw_api *a, const char *sid, char *out, size_t n) {
    const gw_config *c = cfg_of(a);
    bool secure = c && !strncmp(c->public_url, "https://", 8);
    if (sid)
        snprintf(out, n,
                 "Set-Cookie: " GW_API_SESSION_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/%s\r\n"
                 "Cache-Control: no-store\r\n",
                 sid, secure ? "; Secure" : "");
    else
        snprintf(out, n,
                 "Set-Cookie: " GW_API_SESSION_COOKIE "=; Max-Age=0; HttpOnly; SameSite=Strict; "
                 "Path=/%s\r\nCache-Control: no-store\r\n",
                 secure ? "; Secure" : "");
}

static void on_session_made(gw_api_op *o, const redisReply *r) {
    (void)r;
    signin *s = o->res;
    char actor[GW_API_ACTOR_MAX], cookie[COOKIE_MAX];
    snprintf(actor, sizeof actor, "officer:%s", s->user);
    gw_log(GW_INFO, "console.signed_in", "{s:s, s:s, s:s}", "dept", s->dept, "user", s->user,
           "peer", gw_req_peer(o->rq));
    gw_audit(o->api, s->dept, actor, "session.create", s->user, gw_req_peer(o->rq), NULL);
    /* the failures of this user start again from nothing, fire and forget */
    gw_argv av = {0};
    gw_argv_adds(&av, "DEL");
    gw_argv_addkey(&av, gw_api_keys(o->api), GW_K_SIGNIN_FAIL, login_part(o->api, s->user),
                   s->user);
    gw_argv_send(gw_api_app(o->api)->store, &av, NULL, NULL);
    gw_argv_free(&av);
    json_t *ans = json_pack("{s:s, s:s, s:s, s:s}", "csrf", s->csrf, "user", s->user, "dept",
                            s->dept, "role", s->role);
    if (ans && s->must_change)
        json_object_set_new(ans, "must_change_password", json_true());
    char *body = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
    json_decref(ans);
    if (!body) {
        gw_api_oom(o->rq);
        return;
    }
    set_cookie(o->api, s->sid, cookie, sizeof cookie);
    gw_req_respond(o->rq, 200, "application/json", body, strlen(body), cookie);
    free(body);
}

static void on_claimed(gw_api_op *o, const redisReply *r) {
    signin *s = o->res;
    if (r->element[0]->integer != 1) {
        s->reason = "code_used";
        failed(o);
        return;
    }
    const gw_config *c = cfg_of(o->api);
    gw_off_secret(s->sid);
    gw_off_secret(s->csrf);
    gw_api_sha256_hex(s->sid, strlen(s->sid), s->sess);
    gw_argv av = GW_API_EVAL(o->api, session_new_lua, 1);
    gw_argv_addkey(&av, gw_api_keys(o->api), GW_K_SESSION, gw_api_part_of(o->api, s->sess),
                   s->sess);
    const char *args[] = {s->dept, s->user, s->csrf, s->gen};
    for (size_t i = 0; i < MC_ARRAY_LEN(args); i++)
        gw_argv_adds(&av, args[i]);
    gw_argv_addf(&av, "%" PRId64, o->now);
    gw_argv_addf(&av, "%lld", (c ? c->console_idle_minutes : 30) * MS_PER_MINUTE);
    gw_api_op_send(o, &av, GW_API_STATUS, on_session_made);
}

/* ------------------------------------------------------------ the checks */

static void check_work(gw_api_op *o) {
    signin *s = o->res;
    s->pw_rc = gw_off_password_verify(s->hash, s->pw, s->pw_len);
}

/* Back from the pool: the code (against a dummy secret without an officer, as costly),
 * then either the claim of the code's step or the failure. */
static void checked(gw_api_op *o) {
    signin *s = o->res;
    uint64_t step = 0;
    bool known = *s->hash && *s->totp;
    int code_rc = gw_off_totp_check(known ? s->totp : DUMMY_TOTP, o->now / 1000, s->code, &step);
    if (!known || !s->enabled || s->pw_rc || code_rc || step <= s->last_step) {
        s->reason = !known        ? "unknown_user"
                    : !s->enabled ? "disabled"
                    : s->pw_rc    ? "password"
                    : code_rc     ? "code"
                                  : "code_used";
        failed(o);
        return;
    }
    s->step = step;
    gw_argv av = GW_API_EVAL(o->api, claim_lua, 1);
    gw_api_add_dept_key_part(&av, o->api, GW_K_OFFICER, s->dept, s->user);
    gw_argv_addf(&av, "%" PRIu64, step);
    gw_argv_adds(&av, s->gen);
    gw_argv_addf(&av, "%" PRId64, o->now);
    gw_api_op_send(o, &av, GW_API_STATUS, on_claimed);
}

static const char *str_at(const redisReply *r, size_t i) {
    return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : "";
}

/* The officer's record (or nothing): then the Argon2id check, off the loop. */
static void on_officer(gw_api_op *o, const redisReply *r) {
    signin *s = o->res;
    /* HMGET state pw totp totp_step role gen must_change */
    s->enabled = !strcmp(str_at(r, 0), "enabled");
    snprintf(s->hash, sizeof s->hash, "%s", str_at(r, 1));
    snprintf(s->totp, sizeof s->totp, "%s", str_at(r, 2));
    s->last_step = strtoull(str_at(r, 3), NULL, 10);
    snprintf(s->role, sizeof s->role, "%s", str_at(r, 4));
    snprintf(s->gen, sizeof s->gen, "%s", str_at(r, 5));
    s->must_change = !strcmp(str_at(r, 6), "1");
    if (!*s->hash)
        s->dept[0] = '\0'; /* a login without its officer: as unknown */
    gw_api_op_work(o, check_work, checked);
}

static void on_signin(gw_api_op *o, const redisReply *r) {
    signin *s = o->res;
    if (r->elements < 3 || r->element[1]->type != REDIS_REPLY_INTEGER) {
        gw_api_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        return;
    }
    if (r->element[0]->integer == 1) {
        long long ms = r->element[1]->integer;
        char extra[64];
        snprintf(extra, sizeof extra, "Retry-After: %lld\r\n", ms > 0 ? (ms + 999) / 1000 : 1);
        gw_log(GW_WARN, "console.signin_locked", "{s:s, s:s}", "user", s->user, "peer",
               gw_req_peer(o->rq));
        gw_api_err e;
        gw_api_err_set(&e, 429, "too_many_requests", NULL,
                       "too many failed sign-ins for this user; try again later");
        char *body = gw_api_err_json(&e);
        if (!body) {
            gw_api_oom(o->rq);
            return;
        }
        gw_req_respond(o->rq, 429, "application/json", body, strlen(body), extra);
        free(body);
        return;
    }
    snprintf(s->dept, sizeof s->dept, "%s", str_at(r, 2));
    gw_argv av = {0};
    gw_argv_adds(&av, "HMGET");
    gw_api_add_dept_key_part(&av, o->api, GW_K_OFFICER, *s->dept ? s->dept : NO_DEPT, s->user);
    /* in the order on_officer reads them */
    static const char *const order[] = {"state", "pw",  "totp",       "totp_step",
                                        "role",  "gen", "must_change"};
    for (size_t i = 0; i < MC_ARRAY_LEN(order); i++)
        gw_argv_adds(&av, order[i]);
    gw_api_op_send(o, &av, GW_API_ARRAY, on_officer);
}

static void h_signin(gw_api *a, gw_req *rq) {
    gw_api_op *o = gw_api_op_with_body(a, rq, NULL);
    if (!o)
        return;
    if (!(o->res = calloc(1, sizeof(signin)))) {
        gw_api_oom(rq);
        gw_api_op_free(o);
        return;
    }
    o->res_clear = signin_clear;
    signin *s = o->res;
    char user[GW_API_NAME_MAX + 2];
    size_t ulen;
    if (field(o, "user", user, sizeof user, &ulen) ||
        field(o, "password", s->pw, sizeof s->pw, &s->pw_len) ||
        field(o, "totp", s->code, sizeof s->code, NULL)) {
        gw_api_op_free(o);
        return;
    }
    /* a user name that cannot exist goes the same way as one that does not */
    bool ok = ulen <= GW_API_NAME_MAX && gw_off_user_ok(user, ulen);
    memcpy(s->user, ok ? user : UNKNOWN_USER, ok ? ulen + 1 : sizeof UNKNOWN_USER);
    const gw_config *c = cfg_of(a);
    gw_argv av = GW_API_EVAL(a, signin_lua, 2);
    unsigned part = login_part(a, s->user);
    gw_argv_addkey(&av, gw_api_keys(a), GW_K_SIGNIN_FAIL, part, s->user);
    gw_argv_addkey(&av, gw_api_keys(a), GW_K_LOGIN, part, s->user);
    gw_argv_addf(&av, "%ld", c ? c->console_max_failures : 5L);
    gw_api_op_send(o, &av, GW_API_STATUS, on_signin);
}

/* ------------------------------------------------------- signed-in calls */

/* GET: who is signed in, and the CSRF token the page sends back with its writes. */
static void who(const gw_api *a, gw_req *rq, const gw_api_token *t, void *arg) {
    (void)a, (void)arg;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:b, s:o, s:o}", "user", gw_api_token_name(t), "dept",
        gw_api_token_dept(t), "role", gw_off_role_name(gw_api_token_role(t)), "csrf",
        gw_api_token_csrf(t), "must_change_password", gw_api_token_must_change(t), "scopes",
        gw_api_scopes_json(gw_api_token_scopes(t)), "areas", gw_api_areas_json(t));
    gw_api_answer(rq, 200, o);
}

static void on_signed_out(gw_api_op *o, const redisReply *r) {
    (void)r;
    char cookie[COOKIE_MAX];
    gw_log(GW_INFO, "console.signed_out", "{s:s, s:s}", "dept", o->dept, "user",
           gw_api_token_name(o->t));
    gw_audit_op(o, "session.end", gw_api_token_name(o->t), NULL);
    set_cookie(o->api, NULL, cookie, sizeof cookie);
    static const char body[] = "{\"signed_out\":true}";
    gw_req_respond(o->rq, 200, "application/json", body, sizeof body - 1, cookie);
}

/* DELETE: the session ends on the server (its key goes), the cookie is cleared. */
static void sign_out(const gw_api *a, gw_req *rq, const gw_api_token *t, void *arg) {
    (void)arg;
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o)
        return;
    const char *sess = gw_api_token_session(t);
    gw_argv av = {0};
    gw_argv_adds(&av, "DEL");
    gw_argv_addkey(&av, gw_api_keys(a), GW_K_SESSION, gw_api_part_of(a, sess), sess);
    gw_api_op_send(o, &av, GW_API_INT, on_signed_out);
}

static void on_password_set(gw_api_op *o, const redisReply *r) {
    if (r->element[0]->integer != 1) {
        gw_api_fail(o->rq, 409, "conflict", NULL, "the password changed meanwhile; try again");
        return;
    }
    gw_log(GW_INFO, "console.password_changed", "{s:s, s:s}", "dept", o->dept, "user",
           gw_api_token_name(o->t));
    gw_audit_op(o, "officer.password", gw_api_token_name(o->t), NULL);
    gw_api_answer(o->rq, 200, json_pack("{s:b}", "changed", 1));
}

static void password_work(gw_api_op *o) {
    signin *s = o->res;
    s->pw_rc = gw_off_password_verify(s->hash, s->pw, s->pw_len);
    s->new_rc = s->pw_rc ? 0 : gw_off_password_hash(s->new_pw, s->new_len, s->new_hash);
}

static void password_checked(gw_api_op *o) {
    signin *s = o->res;
    if (s->pw_rc || s->new_rc) {
        if (s->pw_rc)
            gw_api_fail(o->rq, 400, "bad_field", "old", "the current password is wrong");
        else
            gw_api_oom(o->rq);
        gw_api_op_free(o);
        return;
    }
    gw_argv av = GW_API_EVAL(o->api, password_lua, 1);
    gw_api_add_dept_key_part(&av, o->api, GW_K_OFFICER, o->dept, gw_api_token_name(o->t));
    gw_argv_adds(&av, s->hash);
    gw_argv_adds(&av, s->new_hash);
    gw_argv_addf(&av, "%" PRId64, o->now);
    gw_api_op_send(o, &av, GW_API_STATUS, on_password_set);
}

static void on_password_hash(gw_api_op *o, const redisReply *r) {
    signin *s = o->res;
    if (r->type != REDIS_REPLY_STRING) {
        gw_api_fail(o->rq, 401, "unauthorized", NULL, "the session has ended; sign in again");
        return;
    }
    snprintf(s->hash, sizeof s->hash, "%s", r->str);
    gw_api_op_work(o, password_work, password_checked);
}

/* POST /console/api/password {"old","new"}: the new one follows the rules and differs. */
static void change_password(const gw_api *a, gw_req *rq, const gw_api_token *t, void *arg) {
    (void)arg;
    gw_api_op *o = gw_api_op_with_body(a, rq, t);
    if (!o)
        return;
    if (!(o->res = calloc(1, sizeof(signin)))) {
        gw_api_oom(rq);
        gw_api_op_free(o);
        return;
    }
    o->res_clear = signin_clear;
    signin *s = o->res;
    char why[128];
    static const char *const allowed[] = {"old", "new", NULL};
    gw_api_err e = {0};
    if (gw_api_only_fields(&e, o->body, allowed, "", GW_API_CUT)) {
        gw_api_fail_err(rq, &e);
        gw_api_op_free(o);
        return;
    }
    json_t *nv = json_object_get(o->body, "new");
    if (field(o, "old", s->pw, sizeof s->pw, &s->pw_len) ||
        field(o, "new", s->new_pw, sizeof s->new_pw, &s->new_len)) {
        gw_api_op_free(o);
        return;
    }
    if (json_string_length(nv) > GW_OFF_PASSWORD_MAX ||
        gw_off_password_ok(s->new_pw, s->new_len, why, sizeof why)) {
        gw_api_fail(rq, 400, "bad_field", "new", "%s",
                    json_string_length(nv) > GW_OFF_PASSWORD_MAX ? "the password is too long"
                                                                 : why);
        gw_api_op_free(o);
        return;
    }
    if (s->new_len == s->pw_len && !memcmp(s->new_pw, s->pw, s->pw_len)) {
        gw_api_fail(rq, 400, "bad_field", "new", "the new password must differ from the old");
        gw_api_op_free(o);
        return;
    }
    gw_argv av = {0};
    gw_argv_adds(&av, "HGET");
    gw_api_add_dept_key_part(&av, a, GW_K_OFFICER, o->dept, gw_api_token_name(t));
    gw_argv_adds(&av, "pw");
    gw_api_op_send(o, &av, GW_API_ANY, on_password_hash);
}

/* ------------------------------------------------------------------ routes */

static void h_session(gw_req *rq, void *priv) {
    gw_api *a = priv;
    const char *m = gw_req_method(rq);
    if (!strcmp(m, "POST")) {
        h_signin(a, rq);
        return;
    }
    bool del = !strcmp(m, "DELETE");
    gw_auth_need need = {GW_SCOPE_PEOPLE, GW_OFF_VIEWER, del, true};
    gw_auth_request(a, rq, &need, del ? sign_out : who, NULL);
}

static void h_password(gw_req *rq, void *priv) {
    gw_auth_need need = {GW_SCOPE_PEOPLE, GW_OFF_VIEWER, true, true};
    gw_auth_request(priv, rq, &need, change_password, NULL);
}

/* What the sign-in page offers, before anyone signs in. */
static void h_config(gw_req *rq, void *priv) {
    const gw_config *c = cfg_of(priv);
    json_t *o = json_pack("{s:b, s:i, s:i}", "token_sign_in", c && c->console_token_sign_in,
                          "password_min", GW_OFF_PASSWORD_MIN, "totp_digits", GW_OFF_TOTP_DIGITS);
    gw_api_answer(rq, 200, o);
}

int gw_console_routes(const gw_api *a, gw_app *app) {
    static const struct {
        const char *path;
        unsigned methods;
        gw_route_fn *fn;
    } routes[] = {
        {P "session", GW_M_GET | GW_M_POST | GW_M_DELETE, h_session},
        {P "password", GW_M_POST, h_password},
        {P "config", GW_M_GET, h_config},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(routes); i++)
        if (gw_router_add(app->router, routes[i].path, routes[i].path, routes[i].methods,
                          routes[i].fn, (void *)a))
            return MC_ETOOBIG;
    return 0;
}
