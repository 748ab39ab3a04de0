/*
 * gw_console.c — the endpoints of the officers' console on top of the department
 * API, and the template language (gw_console.h).
 *
 * Big idea: the console adds no rule of its own. Who may do what is the API's
 * token check (gw_admin_authorize); a batch row is turned into the body of one
 * POST /notifications and judged by the very function that endpoint uses
 * (gw_admin_notif_parse), then all rows are written by the API's one
 * notification-writing script, or none; a preview is a POST /broadcasts body
 * judged by gw_admin_bc_parse, counted by the API's own counting script, and
 * its SMS figures come from what the sender does to a text (vn_unaccent when
 * [sms] unaccented, then the SMS adapter's render and segment counting), so the
 * preview shows what will be sent and what it costs. Templates live in one hash
 * per department; a template is applied once, when a notification or broadcast
 * is accepted, and the rendered text is what is stored and sent.
 */
#define _GNU_SOURCE /* qsort_r */
#include "gateway/api/gw_console.h"

#include "channels/ch.h"
#include "channels/facebook.h"
#include "channels/sms.h"
#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_clock.h"
#include "gateway/net/gw_http.h"
#include "gateway/app/gw_log.h"
#include "vi-nlp/vn_norm.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API "/api/v1/"
#define TPL_PREFIX "mc:tpl:"         /* + department: the templates hash */
#define BATCH_ID_BYTES 16            /* random bytes of a batch id (32 hex) */
#define BATCH_ROW_MAX 1000000000LL   /* largest row number a batch may echo */
#define PREVIEW_PHONE "+84900000000" /* a well-formed recipient to render the SMS for */
#define PROBE_PHONE "+84900000000"   /* the recipient a batch's shared fields are checked with */
#define IDEM_KEY_PATH_MAX (GW_ADMIN_DEPT_MAX + 160) /* mc:idem:<dept>:batch:<key> */

struct gw_console {
    gw_app *app;           /* borrowed */
    const gw_admin *admin; /* the API whose tokens it checks, borrowed */
};

/* -------------------------------------------------------- template language */

/* One code point of valid-looking UTF-8 at s[0..len): its length, or 0. */
static size_t utf8_next(const unsigned char *s, size_t len, unsigned *cp) {
    if (len == 0)
        return 0;
    unsigned c = s[0];
    size_t n;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, c &= 0x07;
    } else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

/* Letters of Vietnamese and its neighbours: ASCII, Latin-1 letters, Latin
 * Extended-A/B (đ ơ ư), Latin Extended Additional (ạ ả ấ ... ỹ), and combining
 * marks after a first letter (names typed in decomposed form). */
static int name_cp_ok(unsigned cp, int first) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
        cp == '_')
        return 1;
    if (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7)
        return 1;
    if (cp >= 0x1E00 && cp <= 0x1EFF)
        return 1;
    return !first && cp >= 0x300 && cp <= 0x36F;
}

int gw_console_tpl_name_ok(const char *s, size_t len) {
    if (len == 0 || len > GW_CONSOLE_TPL_NAME_BYTES)
        return 0;
    size_t chars = 0;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        if (!n || !name_cp_ok(cp, i == 0))
            return 0;
        i += n;
        chars++;
    }
    return chars <= GW_CONSOLE_TPL_NAME_CHARS;
}

int gw_console_tpl_id_ok(const char *s, size_t len) {
    if (len == 0 || len > GW_ADMIN_TPL_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return 0;
    return 1;
}

/* Code points in s[0..len) (invalid bytes count one each). */
static size_t cp_count(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* The bytes of at most max_cp code points of s (never cuts a sequence). */
static size_t cp_prefix(const char *s, size_t len, size_t max_cp) {
    size_t i = 0, n = 0;
    while (i < len && n < max_cp) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        n++;
    }
    return i;
}

/* Called for each piece of a template: the text before a placeholder (lit) and
 * the placeholder's name (NULL after the last piece). Non-zero stops the walk. */
typedef int piece_fn(void *ctx, const char *lit, size_t lit_len, const char *name, size_t name_len);

static int tpl_walk(const char *t, size_t len, piece_fn *fn, void *ctx, char *err, size_t errlen) {
    size_t i = 0, lit = 0;
    while (i + 1 < len) {
        if (t[i] != '(' || t[i + 1] != '(') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && t[j] == '(')
            j++;
        size_t open = j - 2, close = 0; /* a run of '(': the last two open */
        for (size_t k = j; k + 1 < len && !close; k++)
            if (t[k] == ')' && t[k + 1] == ')')
                close = k;
        if (!close && !(j + 1 < len && t[j] == ')' && t[j + 1] == ')')) {
            snprintf(err, errlen, "(( at character %zu is not closed", cp_count(t, open) + 1);
            return MC_EINVAL;
        }
        if (!close)
            close = j; /* "(())": an empty name */
        size_t nl = close - j;
        if (!gw_console_tpl_name_ok(t + j, nl)) {
            size_t shown = cp_prefix(t + j, nl, 40);
            snprintf(err, errlen,
                     "bad placeholder name ((%.*s%s)): 1..%d letters, digits or _, no spaces",
                     (int)shown, t + j, shown < nl ? "…" : "", GW_CONSOLE_TPL_NAME_CHARS);
            return MC_EINVAL;
        }
        if (fn(ctx, t + lit, open - lit, t + j, nl)) {
            snprintf(err, errlen, "out of memory");
            return MC_ENOMEM;
        }
        i = lit = close + 2;
    }
    if (fn(ctx, t + lit, len - lit, NULL, 0)) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    return 0;
}

typedef struct scan_ctx {
    gw_console_tpl_vars *vars; /* filled */
    int too_many;              /* a 33rd name was met */
} scan_ctx;

static int vars_has(const gw_console_tpl_vars *v, const char *name, size_t len) {
    for (size_t i = 0; i < v->n; i++)
        if (strlen(v->name[i]) == len && !memcmp(v->name[i], name, len))
            return 1;
    return 0;
}

static int scan_piece(void *ctx, const char *lit, size_t lit_len, const char *name,
                      size_t name_len) {
    (void)lit, (void)lit_len;
    scan_ctx *c = ctx;
    if (!name || vars_has(c->vars, name, name_len))
        return 0;
    if (c->vars->n == GW_CONSOLE_TPL_MAX_VARS) {
        c->too_many = 1;
        return 0;
    }
    memcpy(c->vars->name[c->vars->n], name, name_len);
    c->vars->name[c->vars->n++][name_len] = '\0';
    return 0;
}

int gw_console_tpl_scan(const char *text, size_t len, gw_console_tpl_vars *out, char *err,
                        size_t errlen) {
    memset(out, 0, sizeof *out);
    scan_ctx c = {out, 0};
    int rc = tpl_walk(text, len, scan_piece, &c, err, errlen);
    if (rc)
        return rc;
    if (c.too_many) {
        snprintf(err, errlen, "more than %d placeholders", GW_CONSOLE_TPL_MAX_VARS);
        return MC_EINVAL;
    }
    return 0;
}

typedef struct render_ctx {
    const json_t *data; /* name → value */
    ch_buf out;         /* the text so far */
    int missing;        /* a placeholder had no usable value */
} render_ctx;

static int render_piece(void *ctx, const char *lit, size_t lit_len, const char *name,
                        size_t name_len) {
    render_ctx *c = ctx;
    ch_buf_put(&c->out, lit, lit_len);
    if (!name)
        return c->out.oom;
    char key[GW_CONSOLE_TPL_NAME_BYTES + 1];
    memcpy(key, name, name_len);
    key[name_len] = '\0';
    json_t *v = c->data ? json_object_get(c->data, key) : NULL;
    char num[64];
    if (json_is_string(v))
        ch_buf_put(&c->out, json_string_value(v), json_string_length(v));
    else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        ch_buf_puts(&c->out, num);
    } else if (json_is_real(v)) {
        snprintf(num, sizeof num, "%.15g", json_real_value(v));
        ch_buf_puts(&c->out, num);
    } else
        c->missing = 1;
    return c->out.oom;
}

char *gw_console_tpl_render(const char *text, size_t len, const json_t *data, size_t *out_len) {
    render_ctx c = {data, {0}, 0};
    char err[160];
    if (tpl_walk(text, len, render_piece, &c, err, sizeof err) || c.missing || c.out.oom) {
        ch_buf_free(&c.out);
        return NULL;
    }
    size_t n = 0;
    char *s = ch_buf_take(&c.out, &n);
    if (s && out_len)
        *out_len = n;
    return s;
}

/* ------------------------------------------------------- template store */

int gw_console_tpl_fetch(gw_store *st, const char *dept, const char *id, gw_store_cb *cb,
                         void *priv) {
    gw_argv av = {0};
    gw_argv_adds(&av, "HGET");
    gw_argv_addf(&av, TPL_PREFIX "%s", dept);
    gw_argv_adds(&av, id);
    int rc = gw_argv_send(st, &av, cb, priv);
    gw_argv_free(&av);
    return rc;
}

/* prefix + key as a JSON path, the key cut on a code point boundary. */
static void data_path(char *out, size_t n, const char *prefix, const char *key) {
    size_t kl = strlen(key);
    snprintf(out, n, "%s%.*s", prefix, (int)cp_prefix(key, kl, 48), key);
}

/* data against the placeholders of text: with need_all, every placeholder
 * needs a value; every key of data must be a placeholder. 0 or -1 with e. */
static int check_data(const gw_console_tpl_vars *vars, const json_t *data, const char *prefix,
                      int need_all, gw_admin_err *e) {
    char path[160];
    for (size_t i = 0; need_all && i < vars->n; i++) {
        json_t *v = data ? json_object_get(data, vars->name[i]) : NULL;
        if (!json_is_string(v) && !json_is_number(v)) {
            data_path(path, sizeof path, prefix, vars->name[i]);
            gw_admin_err_set(e, 400, "missing_field", path, "a value for ((%s)) is required",
                             vars->name[i]);
            return -1;
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)data, k, v) {
        if (!vars_has(vars, k, strlen(k))) {
            data_path(path, sizeof path, prefix, k);
            gw_admin_err_set(e, 400, "bad_field", path, "the template has no placeholder ((%.*s))",
                             (int)cp_prefix(k, strlen(k), 48), k);
            return -1;
        }
    }
    return 0;
}

/* The stored record's text and its placeholders; NULL (e set, 400 template.id
 * or 500) when r holds none. The record is a new reference. */
static json_t *record_of(const redisReply *r, gw_console_tpl_vars *vars, gw_admin_err *e) {
    if (r && r->type == REDIS_REPLY_NIL) {
        gw_admin_err_set(e, 400, "bad_field", "template.id",
                         "this department has no template with this id");
        return NULL;
    }
    json_t *rec = r && r->type == REDIS_REPLY_STRING ? json_loadb(r->str, r->len, 0, NULL) : NULL;
    json_t *text = json_object_get(rec, "text");
    char err[200];
    if (!json_is_string(text) ||
        gw_console_tpl_scan(json_string_value(text), json_string_length(text), vars, err,
                            sizeof err)) {
        json_decref(rec);
        gw_admin_err_set(e, 500, "internal", NULL, "the stored template is unreadable");
        return NULL;
    }
    return rec;
}

int gw_console_tpl_use(const redisReply *r, const json_t *data, const char *prefix, char **out,
                       gw_admin_err *e) {
    gw_console_tpl_vars vars;
    *out = NULL;
    json_t *rec = record_of(r, &vars, e);
    if (!rec)
        return -1;
    int rc = -1;
    if (check_data(&vars, data, prefix, 1, e))
        goto done;
    json_t *text = json_object_get(rec, "text");
    size_t n = 0;
    char *s = gw_console_tpl_render(json_string_value(text), json_string_length(text), data, &n);
    if (!s) {
        gw_admin_err_set(e, 500, "internal", NULL, "out of memory");
        goto done;
    }
    size_t lead = 0;
    while (lead < n && isspace((unsigned char)s[lead]))
        lead++;
    if (lead == n) {
        gw_admin_err_set(e, 400, "bad_field", "template",
                         "the text made from the template is blank");
        free(s);
        goto done;
    }
    if (n > GW_ADMIN_TEXT_MAX) {
        gw_admin_err_set(e, 400, "bad_field", "template",
                         "the text made from the template is %zu bytes, more than %d", n,
                         GW_ADMIN_TEXT_MAX);
        free(s);
        goto done;
    }
    *out = s;
    rc = 0;
done:
    json_decref(rec);
    return rc;
}

/* ------------------------------------------------------------- requests */

struct batch;

/* A request waiting for the store. */
typedef struct cop {
    const gw_console *c;              /* the module */
    gw_req *rq;                       /* holds a reference */
    const gw_admin_token *t;          /* the caller's token (lives as long as the API) */
    char dept[GW_ADMIN_DEPT_MAX + 1]; /* its department */
    char id[GW_ADMIN_TPL_ID_MAX + 1]; /* template id, when any */
    json_t *body;                     /* owned: the request body, or NULL */
    json_t *record;                   /* owned: a template being stored, or NULL */
    gw_admin_bc bc;                   /* a broadcast being previewed */
    struct batch *batch;              /* a batch being checked or written, owned */
} cop;

static void batch_free(struct batch *b);

static cop *cop_new(const gw_console *c, gw_req *rq, const gw_admin_token *t) {
    cop *o = calloc(1, sizeof *o);
    if (!o) {
        gw_req_error(rq, 500, "internal", "out of memory");
        return NULL;
    }
    o->c = c;
    o->rq = gw_req_ref(rq);
    o->t = t;
    snprintf(o->dept, sizeof o->dept, "%s", gw_admin_token_dept(t));
    return o;
}

static void cop_free(cop *o) {
    if (!o)
        return;
    gw_admin_bc_clear(&o->bc);
    batch_free(o->batch);
    json_decref(o->record);
    json_decref(o->body);
    gw_req_unref(o->rq);
    free(o);
}

/* Sends av; on failure answers 503 and frees o. */
static void send_or_503(gw_argv *av, gw_store_cb *cb, cop *o) {
    gw_store *st = o->c->app->store;
    if (!st || gw_argv_send(st, av, cb, o)) {
        gw_admin_fail(o->rq, 503, "unavailable", NULL,
                      "the store is unavailable; nothing was written, retry");
        cop_free(o);
    }
}

static void fetch_or_503(const char *tpl_id, gw_store_cb *cb, cop *o) {
    gw_store *st = o->c->app->store;
    if (!st || gw_console_tpl_fetch(st, o->dept, tpl_id, cb, o)) {
        gw_admin_fail(o->rq, 503, "unavailable", NULL,
                      "the store is unavailable; nothing was written, retry");
        cop_free(o);
    }
}

/* Rejects fields not in allowed; prefix goes before the name. 1, or 0 with e. */
static int only_fields(gw_admin_err *e, json_t *o, const char *const *allowed, const char *prefix) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], k))
            i++;
        if (!allowed[i]) {
            char path[96];
            snprintf(path, sizeof path, "%s%.*s", prefix, (int)cp_prefix(k, strlen(k), 48), k);
            return gw_admin_err_set(e, 400, "bad_field", path, "unknown field");
        }
    }
    return 1;
}

/* ------------------------------------------------------------ me, wards */

static void on_me(gw_req *rq, void *priv) {
    const gw_console *c = priv;
    const gw_admin_token *t = gw_admin_authorize(c->admin, rq, 0, "");
    if (t)
        gw_admin_answer(rq, 200, gw_admin_token_json(t));
}

static void on_wards(gw_req *rq, void *priv) {
    const gw_console *c = priv;
    const gw_admin_token *t = gw_admin_authorize(c->admin, rq, 0, "");
    if (!t)
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < gw_shared_ward_count(c->app->data); i++) {
        const gw_ward *w = gw_shared_ward_at(c->app->data, i);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b}", "id", w->id, "name", w->name,
                                             "slug", w->slug, "allowed",
                                             gw_admin_token_area_ok(t, w->id)));
    }
    gw_admin_answer(rq, 200, json_pack("{s:o}", "wards", arr));
}

/* ------------------------------------------------------------ templates */

/* KEYS[1] mc:tpl:<dept>; ARGV id, record, max. -1 when a new one would pass the
 * limit, else 1 when it replaced one, 0 when it is new. */
static const char tpl_put_lua[] =
    "local had=redis.call('HEXISTS',KEYS[1],ARGV[1])\n"
    "if had==0 and redis.call('HLEN',KEYS[1])>=tonumber(ARGV[3]) then return -1 end\n"
    "redis.call('HSET',KEYS[1],ARGV[1],ARGV[2])\n"
    "return had\n";

static int blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)s[i]))
            return 0;
    return 1;
}

/* A PUT /templates/{id} body → the record to store (new reference), or NULL
 * with e set. */
static json_t *template_record(const char *id, json_t *b, gw_admin_err *e) {
    static const char *const allowed[] = {"id", "name", "text", "placeholders", NULL};
    if (!only_fields(e, b, allowed, ""))
        return NULL;
    json_t *jid = json_object_get(b, "id");
    if (jid && (!json_is_string(jid) || strcmp(json_string_value(jid), id))) {
        gw_admin_err_set(e, 400, "bad_field", "id", "id, when given, is the id of the path");
        return NULL;
    }
    json_t *name = json_object_get(b, "name"), *text = json_object_get(b, "text");
    if (!name || json_is_null(name)) {
        gw_admin_err_set(e, 400, "missing_field", "name", "name is required");
        return NULL;
    }
    size_t nl = json_is_string(name) ? json_string_length(name) : 0;
    if (!json_is_string(name) || blank(json_string_value(name), nl) ||
        cp_count(json_string_value(name), nl) > GW_CONSOLE_TPL_TITLE_CHARS ||
        memchr(json_string_value(name), '\0', nl)) {
        gw_admin_err_set(e, 400, "bad_field", "name", "name is 1..%d characters, not blank",
                         GW_CONSOLE_TPL_TITLE_CHARS);
        return NULL;
    }
    if (!text || json_is_null(text)) {
        gw_admin_err_set(e, 400, "missing_field", "text", "text is required");
        return NULL;
    }
    size_t tl = json_is_string(text) ? json_string_length(text) : 0;
    const char *ts = json_string_value(text);
    if (!json_is_string(text) || blank(ts, tl)) {
        gw_admin_err_set(e, 400, "bad_field", "text", "text must be a string, not blank");
        return NULL;
    }
    if (tl > GW_ADMIN_TEXT_MAX || memchr(ts, '\0', tl)) {
        gw_admin_err_set(e, 400, "bad_field", "text", "text is at most %d bytes, without NUL",
                         GW_ADMIN_TEXT_MAX);
        return NULL;
    }
    gw_console_tpl_vars vars;
    char why[300];
    if (gw_console_tpl_scan(ts, tl, &vars, why, sizeof why)) {
        gw_admin_err_set(e, 400, "bad_field", "text", "%s", why);
        return NULL;
    }
    json_t *ph = json_object_get(b, "placeholders"), *list = json_array();
    if (ph && !json_is_null(ph)) {
        if (!json_is_array(ph) || json_array_size(ph) > GW_CONSOLE_TPL_MAX_VARS) {
            gw_admin_err_set(e, 400, "bad_field", "placeholders",
                             "placeholders is an array of at most %d names",
                             GW_CONSOLE_TPL_MAX_VARS);
            goto fail;
        }
        gw_console_tpl_vars given = {0};
        size_t i;
        json_t *v;
        json_array_foreach(ph, i, v) {
            char path[40];
            snprintf(path, sizeof path, "placeholders[%zu]", i);
            const char *s = json_string_value(v);
            size_t sl = s ? json_string_length(v) : 0;
            if (!s || !gw_console_tpl_name_ok(s, sl)) {
                gw_admin_err_set(e, 400, "bad_field", path,
                                 "a placeholder name is 1..%d letters, digits or _",
                                 GW_CONSOLE_TPL_NAME_CHARS);
                goto fail;
            }
            if (vars_has(&given, s, sl)) {
                gw_admin_err_set(e, 400, "bad_field", path, "((%s)) is listed twice", s);
                goto fail;
            }
            memcpy(given.name[given.n], s, sl + 1);
            given.n++;
        }
        for (size_t k = 0; k < vars.n; k++)
            if (!vars_has(&given, vars.name[k], strlen(vars.name[k]))) {
                gw_admin_err_set(e, 400, "bad_field", "text", "unknown placeholder ((%s))",
                                 vars.name[k]);
                goto fail;
            }
        for (size_t k = 0; k < given.n; k++) {
            if (!vars_has(&vars, given.name[k], strlen(given.name[k]))) {
                gw_admin_err_set(e, 400, "bad_field", "placeholders", "((%s)) is not used in text",
                                 given.name[k]);
                goto fail;
            }
            json_array_append_new(list, json_string(given.name[k]));
        }
    } else
        for (size_t k = 0; k < vars.n; k++)
            json_array_append_new(list, json_string(vars.name[k]));
    char at[40];
    gw_admin_format_time(gw_now_ms(), at, sizeof at);
    return json_pack("{s:s, s:O, s:O, s:o, s:s}", "id", id, "name", name, "text", text,
                     "placeholders", list, "updated_at", at);
fail:
    json_decref(list);
    return NULL;
}

static void on_tpl_put(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    cop *o = priv;
    if (gw_admin_store_failed(o->rq, o->dept, r))
        goto done;
    if (r->type != REDIS_REPLY_INTEGER) {
        gw_admin_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    if (r->integer < 0) {
        gw_admin_fail(o->rq, 409, "too_many", "id",
                      "a department keeps at most %d templates; delete one first",
                      GW_CONSOLE_MAX_TEMPLATES);
        goto done;
    }
    gw_log(GW_INFO, "console.template_put", "{s:s, s:s, s:b}", "dept", o->dept, "id", o->id,
           "created", r->integer == 0);
    gw_admin_answer(o->rq, r->integer ? 200 : 201, json_incref(o->record));
done:
    cop_free(o);
}

static void on_tpl_get(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    cop *o = priv;
    if (gw_admin_store_failed(o->rq, o->dept, r))
        goto done;
    if (r->type != REDIS_REPLY_STRING) {
        gw_admin_fail(o->rq, 404, "not_found", NULL, "no template %s", o->id);
        goto done;
    }
    json_t *rec = json_loadb(r->str, r->len, 0, NULL);
    if (!rec)
        gw_admin_fail(o->rq, 500, "internal", NULL, "the stored template is unreadable");
    else
        gw_admin_answer(o->rq, 200, rec);
done:
    cop_free(o);
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

static void on_tpl_list(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    cop *o = priv;
    if (gw_admin_store_failed(o->rq, o->dept, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY) {
        gw_admin_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
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
        qsort_r(recs, n, sizeof *recs, cmp_templates, (void *)o->c->app->data);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, recs[i]);
    free(recs);
    gw_admin_answer(o->rq, 200, json_pack("{s:o}", "templates", arr));
done:
    cop_free(o);
}

static void on_tpl_del(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    cop *o = priv;
    if (gw_admin_store_failed(o->rq, o->dept, r))
        goto done;
    if (r->type != REDIS_REPLY_INTEGER) {
        gw_admin_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    if (r->integer == 0) {
        gw_admin_fail(o->rq, 404, "not_found", NULL, "no template %s", o->id);
        goto done;
    }
    gw_log(GW_INFO, "console.template_deleted", "{s:s, s:s}", "dept", o->dept, "id", o->id);
    gw_req_respond(o->rq, 204, "application/json", "", 0, NULL);
done:
    cop_free(o);
}

/* GET /templates */
static void on_templates(gw_req *rq, void *priv) {
    const gw_console *c = priv;
    const gw_admin_token *t = gw_admin_authorize(c->admin, rq, GW_SCOPE_READ, "read");
    cop *o = t ? cop_new(c, rq, t) : NULL;
    if (!o)
        return;
    gw_argv av = {0};
    gw_argv_adds(&av, "HVALS");
    gw_argv_addf(&av, TPL_PREFIX "%s", o->dept);
    send_or_503(&av, on_tpl_list, o);
    gw_argv_free(&av);
}

/* GET|PUT|DELETE /templates/{id} */
static void on_template(gw_req *rq, void *priv) {
    const gw_console *c = priv;
    const char *m = gw_req_method(rq);
    int is_get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    const gw_admin_token *t =
        is_get ? gw_admin_authorize(c->admin, rq, GW_SCOPE_READ, "read")
               : gw_admin_authorize(c->admin, rq, GW_SCOPE_NOTIFY | GW_SCOPE_BROADCAST,
                                    "notify or broadcast");
    if (!t)
        return;
    const char *id = gw_req_path(rq) + strlen(API "templates/");
    size_t len = strlen(id);
    if (!gw_console_tpl_id_ok(id, len)) {
        if (!strcmp(m, "PUT"))
            gw_admin_fail(rq, 400, "bad_field", "id", "a template id is 1..%d of a-z, 0-9, _ and -",
                          GW_ADMIN_TPL_ID_MAX);
        else
            gw_admin_fail(rq, 404, "not_found", NULL, "no such template");
        return;
    }
    json_t *b = NULL;
    gw_admin_err e = {0};
    if (!strcmp(m, "PUT")) {
        if (!(b = gw_admin_body(rq)))
            return;
        json_t *rec = template_record(id, b, &e);
        json_decref(b);
        if (!rec) {
            gw_admin_fail_err(rq, &e);
            return;
        }
        cop *o = cop_new(c, rq, t);
        if (!o) {
            json_decref(rec);
            return;
        }
        o->record = rec;
        snprintf(o->id, sizeof o->id, "%s", id);
        char *js = json_dumps(rec, JSON_COMPACT);
        if (!js) {
            gw_req_error(rq, 500, "internal", "out of memory");
            cop_free(o);
            return;
        }
        gw_argv av = {0};
        gw_argv_adds(&av, "EVAL");
        gw_argv_add(&av, tpl_put_lua, sizeof tpl_put_lua - 1);
        gw_argv_adds(&av, "1");
        gw_argv_addf(&av, TPL_PREFIX "%s", o->dept);
        gw_argv_adds(&av, id);
        gw_argv_adds(&av, js);
        gw_argv_addf(&av, "%d", GW_CONSOLE_MAX_TEMPLATES);
        send_or_503(&av, on_tpl_put, o);
        gw_argv_free(&av);
        free(js);
        return;
    }
    cop *o = cop_new(c, rq, t);
    if (!o)
        return;
    snprintf(o->id, sizeof o->id, "%s", id);
    gw_argv av = {0};
    gw_argv_adds(&av, is_get ? "HGET" : "HDEL");
    gw_argv_addf(&av, TPL_PREFIX "%s", o->dept);
    gw_argv_adds(&av, id);
    send_or_503(&av, is_get ? on_tpl_get : on_tpl_del, o);
    gw_argv_free(&av);
}

/* ------------------------------------------------------------- preview */

/*
 * An SMS text as the sender sends it (gw_sender.c job_render / job_outbox):
 * unaccented when [sms] unaccented; when the channel can send, through the SMS
 * adapter's render (which may shorten it to max_segments), read back from the
 * request it builds; otherwise as written to the outbox. *out is owned by the
 * caller; info counts it. warn gets a reason when the adapter refused the text.
 */
static int sms_as_sent(const gw_console *c, const gw_config *cfg, const char *text, size_t len,
                       char **out, size_t *out_len, ch_sms_info *info, char *warn, size_t wn) {
    char *plain = NULL;
    size_t plain_len = 0;
    *warn = '\0';
    if (!cfg->sms_unaccented || vn_unaccent(c->app->vn, text, len, &plain, &plain_len)) {
        plain = strndup(text, len);
        plain_len = len;
    }
    if (!plain)
        return MC_ENOMEM;
    const ch_adapter *ad = ch_adapter_find("sms");
    if (ad && gw_channel_can_send(cfg, "sms")) {
        ch_settings st;
        gw_channel_settings(cfg, "sms", &st);
        ch_outgoing o = {0};
        o.recipient = PREVIEW_PHONE;
        o.text = plain;
        o.text_len = plain_len;
        o.purpose = CH_PURPOSE_UPDATE;
        o.tracking_id = "preview";
        ch_http h[1];
        size_t n = 0;
        char err[256] = "";
        if (!ad->render(&st, &o, h, 1, &n, err, sizeof err) && n == 1) {
            int kannel = !strcmp(cfg->sms_provider, "kannel");
            const char *form = kannel ? strchr(h[0].url, '?') : h[0].body;
            size_t flen = form ? (kannel ? strlen(form + 1) : h[0].body_len) : 0;
            if (kannel && form)
                form++;
            char *sent = form ? malloc(flen + 1) : NULL;
            size_t sent_len = 0;
            if (sent &&
                !ch_form_get(form, flen, kannel ? "text" : "Body", sent, flen + 1, &sent_len)) {
                free(plain);
                plain = sent;
                plain_len = sent_len;
            } else
                free(sent);
            ch_http_clear(&h[0]);
        } else
            snprintf(warn, wn, "%s", err);
    }
    ch_sms_count(plain, plain_len, info);
    *out = plain;
    *out_len = plain_len;
    return 0;
}

/* Messenger texts longer than its limit go as several messages (facebook.c). */
static int fb_parts(const char *t, size_t len) {
    size_t pos = 0;
    int parts = 0;
    while (pos < len && isspace((unsigned char)t[pos]))
        pos++;
    while (pos < len) {
        size_t rest;
        ch_text_cut(t + pos, len - pos, FB_MAX_TEXT_CHARS, &rest);
        parts++;
        if (rest == 0)
            break;
        pos += rest;
    }
    return parts;
}

static void on_preview_count(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    cop *o = priv;
    const gw_console *c = o->c;
    const gw_config *cfg = c->app->cfg;
    if (gw_admin_store_failed(o->rq, o->dept, r))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || !c) {
        gw_admin_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        goto done;
    }
    const char *text = o->bc.out_text;
    size_t tlen = strlen(text);
    json_t *chans = json_object();
    for (const char *p = o->bc.channels; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        char ch[16];
        snprintf(ch, sizeof ch, "%.*s", (int)l, p);
        p += l + (comma != NULL);
        long long n = 0;
        for (size_t i = 1; i + 1 < r->elements; i += 2)
            if (r->element[i]->type == REDIS_REPLY_STRING && !strcmp(r->element[i]->str, ch))
                n = r->element[i + 1]->type == REDIS_REPLY_INTEGER ? r->element[i + 1]->integer : 0;
        json_t *one = json_pack("{s:I, s:s}", "recipients", (json_int_t)n, "text", text);
        if (!strcmp(ch, "facebook"))
            json_object_set_new(one, "parts", json_integer(fb_parts(text, tlen)));
        else if (!strcmp(ch, "sms")) {
            char *sent = NULL, warn[256];
            size_t sl = 0;
            ch_sms_info info;
            if (sms_as_sent(c, cfg, text, tlen, &sent, &sl, &info, warn, sizeof warn)) {
                json_decref(one);
                json_decref(chans);
                gw_req_error(o->rq, 500, "internal", "out of memory");
                goto done;
            }
            json_object_set_new(one, "text", json_stringn(sent, sl));
            json_object_set_new(one, "encoding", json_string(info.encoding));
            json_object_set_new(one, "segments", json_integer(info.segments));
            json_object_set_new(one, "chars", json_integer((json_int_t)info.chars));
            json_object_set_new(one, "segments_total", json_integer(n * info.segments));
            if (cfg->sms_price_per_segment_vnd > 0)
                json_object_set_new(
                    one, "cost_vnd",
                    json_integer(n * info.segments * (json_int_t)cfg->sms_price_per_segment_vnd));
            if (*warn)
                json_object_set_new(one, "warning", json_string(warn));
            free(sent);
        }
        json_object_set_new(chans, ch, one);
    }
    gw_admin_answer(o->rq, 200,
                    json_pack("{s:I, s:s, s:o}", "recipients", (json_int_t)r->element[0]->integer,
                              "text", text, "channels", chans));
done:
    cop_free(o);
}

static void preview_count(cop *o) {
    gw_argv av = {0};
    gw_admin_bc_count_argv(&av, &o->bc);
    send_or_503(&av, on_preview_count, o);
    gw_argv_free(&av);
}

static void on_preview_tpl(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    cop *o = priv;
    gw_admin_err e = {0};
    if (gw_admin_store_failed(o->rq, o->dept, r))
        goto fail;
    if (gw_console_tpl_use(r, o->bc.tpl_data, "template.data.", &o->bc.out_text, &e)) {
        gw_admin_fail_err(o->rq, &e);
        goto fail;
    }
    preview_count(o);
    return;
fail:
    cop_free(o);
}

/* POST /broadcasts/preview: a POST /broadcasts body, judged the same, written nowhere. */
static void on_preview(gw_req *rq, void *priv) {
    const gw_console *c = priv;
    const gw_admin_token *t = gw_admin_authorize(c->admin, rq, GW_SCOPE_BROADCAST, "broadcast");
    if (!t)
        return;
    json_t *b = gw_admin_body(rq);
    if (!b)
        return;
    cop *o = cop_new(c, rq, t);
    if (!o) {
        json_decref(b);
        return;
    }
    o->body = b;
    gw_admin_err e = {0};
    if (gw_admin_bc_parse(t, b, &o->bc, &e)) {
        gw_admin_fail_err(rq, &e);
        cop_free(o);
        return;
    }
    if (o->bc.tpl_id) {
        fetch_or_503(o->bc.tpl_id, on_preview_tpl, o);
        return;
    }
    if (!(o->bc.out_text = strdup(o->bc.text))) {
        gw_req_error(rq, 500, "internal", "out of memory");
        cop_free(o);
        return;
    }
    preview_count(o);
}

/* --------------------------------------------------------------- batch */

/* A batch: one notification per row, all written or none. */
typedef struct batch {
    size_t n;               /* rows */
    gw_admin_notif *notifs; /* owned, n entries (cleared for bad rows) */
    json_t **bodies;        /* owned: the POST /notifications body made of each row */
    long long *row_no;      /* the row numbers echoed */
    json_t **err;           /* owned: the row's error {row, field, message}, NULL when fine */
    size_t n_bad;           /* rows with an error */
    int dry_run;            /* check only */
    const char *tpl_id;     /* borrowed: the shared template's id, or NULL */
    json_t *tpl_data;       /* borrowed: the shared template.data, or NULL */
    char hash[65];          /* canonical body hash (idempotency) */
    char id[2 * BATCH_ID_BYTES + 1]; /* the batch id */
} batch;

static void batch_free(batch *b) {
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        if (b->notifs)
            gw_admin_notif_clear(&b->notifs[i]);
        if (b->bodies)
            json_decref(b->bodies[i]);
        if (b->err)
            json_decref(b->err[i]);
    }
    free(b->notifs);
    free(b->bodies);
    free(b->row_no);
    free(b->err);
    free(b);
}

/* A notification's field names as the row names them. */
static void row_field(const char *f, char *out, size_t n) {
    if (!strcmp(f, "to") || !strcmp(f, "to.phone"))
        snprintf(out, n, "phone");
    else if (!strcmp(f, "to.channel") || !strncmp(f, "channels", 8))
        snprintf(out, n, "channel");
    else if (!strcmp(f, "to.user_id"))
        snprintf(out, n, "user_id");
    else if (!strncmp(f, "template.data", 13))
        snprintf(out, n, "data%s", f + 13);
    else
        snprintf(out, n, "%s", f);
}

/* Records the first error of row i, in the row's words ("phone", not "to.phone"). */
static void row_error(batch *b, size_t i, const gw_admin_err *e) {
    char field[160], msg[sizeof e->message + 32];
    row_field(e->field, field, sizeof field);
    size_t fl = strlen(e->field);
    if (!strcmp(e->field, "to"))
        snprintf(msg, sizeof msg, "a phone (or a channel and user_id) is required");
    else if (fl && !strncmp(e->message, e->field, fl))
        snprintf(msg, sizeof msg, "%s%s", field, e->message + fl);
    else
        snprintf(msg, sizeof msg, "%s", e->message);
    gw_admin_notif_clear(&b->notifs[i]);
    if (b->err[i])
        return;
    b->n_bad++;
    b->err[i] = json_pack("{s:I, s:s, s:s}", "row", (json_int_t)b->row_no[i], "field", field,
                          "message", msg);
}

static void copy_field(json_t *dst, json_t *src, const char *name) {
    json_t *v = json_object_get(src, name);
    if (v)
        json_object_set(dst, name, v);
}

/* Row i → the body of one POST /notifications (b->bodies[i]), or a row error. */
static int row_body(batch *bt, size_t i, json_t *row, json_t *req, gw_admin_err *e) {
    static const char *const allowed[] = {"row", "phone", "channel", "user_id", "data", NULL};
    if (!json_is_object(row))
        return gw_admin_err_set(e, 400, "bad_field", "row", "a row is an object");
    json_t *rn = json_object_get(row, "row");
    if (rn && !json_is_null(rn)) {
        if (!json_is_integer(rn) || json_integer_value(rn) < 1 ||
            json_integer_value(rn) > BATCH_ROW_MAX)
            return gw_admin_err_set(e, 400, "bad_field", "row", "row is a positive integer");
        bt->row_no[i] = json_integer_value(rn);
    }
    if (!only_fields(e, row, allowed, ""))
        return 0;
    json_t *nb = json_object(), *to = json_object();
    json_object_set_new(nb, "to", to);
    bt->bodies[i] = nb;
    json_t *ch = json_object_get(row, "channel"), *uid = json_object_get(row, "user_id");
    copy_field(to, row, "phone");
    if (uid && !json_is_null(uid)) {
        if (!ch || json_is_null(ch))
            return gw_admin_err_set(e, 400, "missing_field", "channel",
                                    "a row with a user_id needs its channel");
        json_object_set(to, "channel", ch);
        json_object_set(to, "user_id", uid);
    }
    if (ch && !json_is_null(ch))
        json_object_set_new(nb, "channels", json_pack("[O]", ch));
    static const char *const shared[] = {"text", "priority", "send_at", "not_after"};
    for (size_t k = 0; k < MC_ARRAY_LEN(shared); k++)
        copy_field(nb, req, shared[k]);
    json_t *data = json_object_get(row, "data");
    if (data && !json_is_null(data)) {
        if (!json_is_object(data))
            return gw_admin_err_set(e, 400, "bad_field", "data",
                                    "data is an object of placeholder values");
        if (!bt->tpl_id)
            return gw_admin_err_set(e, 400, "bad_field", "data",
                                    "data fills a template; this batch sends a text");
    }
    if (bt->tpl_id) {
        json_t *merged = bt->tpl_data ? json_deep_copy(bt->tpl_data) : json_object();
        if (data && !json_is_null(data))
            json_object_update(merged, data);
        json_object_set_new(nb, "template",
                            json_pack("{s:s, s:o}", "id", bt->tpl_id, "data", merged));
    }
    return 1;
}

static void on_batch_write(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    cop *o = priv;
    batch *bt = o->batch;
    char id[GW_ADMIN_NOTIF_ID_MAX + 1];
    const redisReply *stored = NULL;
    int rc = gw_admin_notif_reply(o->rq, o->dept, r, bt->hash, id, &stored);
    if (rc < 0)
        goto done;
    json_t *ids = NULL;
    if (rc == 0 && stored)
        ids = json_loadb(stored->str, stored->len, 0, NULL);
    if (!json_is_array(ids)) {
        json_decref(ids);
        ids = json_array();
        for (size_t i = 0; rc && i < bt->n; i++)
            json_array_append_new(ids, json_string(bt->notifs[i].id));
    }
    gw_log(GW_INFO, rc ? "console.batch" : "console.batch_repeat", "{s:s, s:s, s:I}", "dept",
           o->dept, "batch", id, "count", (json_int_t)json_array_size(ids));
    gw_admin_answer(o->rq, 202,
                    json_pack("{s:s, s:I, s:o}", "batch", id, "count",
                              (json_int_t)json_array_size(ids), "ids", ids));
done:
    cop_free(o);
}

/* Every row is judged: answer the dry run, refuse, or write all of them. */
static void batch_finish(cop *o) {
    batch *bt = o->batch;
    size_t invalid = bt->n_bad, valid = bt->n - invalid;
    json_t *errors = json_array();
    for (size_t i = 0; i < bt->n; i++)
        if (bt->err[i])
            json_array_append(errors, bt->err[i]);
    if (bt->dry_run) {
        json_t *ans = json_pack("{s:I, s:I, s:o}", "valid", (json_int_t)valid, "invalid",
                                (json_int_t)invalid, "errors", errors);
        for (size_t i = 0; ans && i < bt->n; i++)
            if (!bt->err[i]) {
                json_object_set_new(ans, "preview",
                                    json_pack("{s:I, s:s}", "row", (json_int_t)bt->row_no[i],
                                              "text", bt->notifs[i].out_text));
                break;
            }
        gw_admin_answer(o->rq, 200, ans);
        cop_free(o);
        return;
    }
    if (invalid) {
        char msg[160];
        snprintf(msg, sizeof msg, "%zu of %zu rows are invalid; nothing was written", invalid,
                 bt->n);
        gw_admin_answer(o->rq, 400,
                        json_pack("{s:s, s:s, s:s, s:o}", "error", "invalid_rows", "field", "rows",
                                  "message", msg, "errors", errors));
        cop_free(o);
        return;
    }
    json_decref(errors);
    char *canon = json_dumps(o->body, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon) {
        gw_req_error(o->rq, 500, "internal", "out of memory");
        cop_free(o);
        return;
    }
    gw_admin_sha256_hex(canon, strlen(canon), bt->hash);
    free(canon);
    gw_admin_random_hex(bt->id, BATCH_ID_BYTES);
    for (size_t i = 0; i < bt->n; i++)
        snprintf(bt->notifs[i].id, sizeof bt->notifs[i].id, "%s-%zu", bt->id, i + 1);
    const char *key = json_string_value(json_object_get(o->body, "idempotency_key"));
    char idem[IDEM_KEY_PATH_MAX], record[GW_ADMIN_NOTIF_ID_MAX + 80];
    if (key)
        snprintf(idem, sizeof idem, "mc:idem:%s:batch:%s", o->dept, key);
    snprintf(record, sizeof record, "%s|%s", bt->hash, bt->id);
    gw_argv av = {0};
    gw_admin_notif_argv(&av, o->dept, bt->notifs, bt->n, key ? idem : NULL, record, bt->id);
    send_or_503(&av, on_batch_write, o);
    gw_argv_free(&av);
}

static void on_batch_tpl(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    cop *o = priv;
    batch *bt = o->batch;
    gw_admin_err e = {0};
    if (gw_admin_store_failed(o->rq, o->dept, r))
        goto fail;
    /* the template itself and the shared values are the whole batch's fault */
    gw_console_tpl_vars vars;
    json_t *rec = record_of(r, &vars, &e);
    int shared_bad =
        !rec || (bt->tpl_data && check_data(&vars, bt->tpl_data, "template.data.", 0, &e));
    json_decref(rec);
    if (shared_bad) {
        gw_admin_fail_err(o->rq, &e);
        goto fail;
    }
    for (size_t i = 0; i < bt->n; i++) {
        if (bt->err[i])
            continue; /* its first error is known */
        json_t *data = json_object_get(json_object_get(bt->bodies[i], "template"), "data");
        memset(&e, 0, sizeof e);
        if (gw_console_tpl_use(r, data, "data.", &bt->notifs[i].out_text, &e)) {
            if (e.status >= 500) {
                gw_admin_fail_err(o->rq, &e);
                goto fail;
            }
            row_error(bt, i, &e);
        }
    }
    batch_finish(o);
    return;
fail:
    cop_free(o);
}

/* POST /notifications/batch */
static void on_batch(gw_req *rq, void *priv) {
    const gw_console *c = priv;
    static const char *const allowed[] = {"dry_run",         "template", "text",
                                          "priority",        "send_at",  "not_after",
                                          "idempotency_key", "rows",     NULL};
    const gw_admin_token *t = gw_admin_authorize(c->admin, rq, GW_SCOPE_NOTIFY, "notify");
    if (!t)
        return;
    json_t *b = gw_admin_body(rq);
    if (!b)
        return;
    cop *o = cop_new(c, rq, t);
    if (!o) {
        json_decref(b);
        return;
    }
    o->body = b;
    gw_admin_err e = {0};
    gw_admin_notif probe;
    batch *bt = NULL;
    if (!only_fields(&e, b, allowed, ""))
        goto bad;
    json_t *dry = json_object_get(b, "dry_run"), *rows = json_object_get(b, "rows");
    if (dry && !json_is_boolean(dry)) {
        gw_admin_err_set(&e, 400, "bad_field", "dry_run", "dry_run is true or false");
        goto bad;
    }
    if (!rows || json_is_null(rows)) {
        gw_admin_err_set(&e, 400, "missing_field", "rows", "rows is required");
        goto bad;
    }
    if (!json_is_array(rows) || json_array_size(rows) == 0 ||
        json_array_size(rows) > GW_CONSOLE_BATCH_MAX_ROWS) {
        gw_admin_err_set(&e, 400, "bad_field", "rows", "rows is an array of 1..%d rows",
                         GW_CONSOLE_BATCH_MAX_ROWS);
        goto bad;
    }
    /* The shared fields, judged once as one notification's would be. */
    json_t *pb = json_pack("{s:{s:s}}", "to", "phone", PROBE_PHONE);
    static const char *const shared[] = {"text",    "template",  "priority",
                                         "send_at", "not_after", "idempotency_key"};
    for (size_t k = 0; pb && k < MC_ARRAY_LEN(shared); k++)
        copy_field(pb, b, shared[k]);
    int shared_bad = !pb || gw_admin_notif_parse(t, pb, &probe, &e);
    if (!shared_bad)
        gw_admin_notif_clear(&probe);
    json_decref(pb);
    if (shared_bad) {
        if (!e.status)
            gw_admin_err_set(&e, 500, "internal", NULL, "out of memory");
        goto bad;
    }
    size_t n = json_array_size(rows);
    if (!(bt = calloc(1, sizeof *bt)) || !(bt->notifs = calloc(n, sizeof *bt->notifs)) ||
        !(bt->bodies = calloc(n, sizeof *bt->bodies)) ||
        !(bt->row_no = calloc(n, sizeof *bt->row_no)) || !(bt->err = calloc(n, sizeof *bt->err))) {
        batch_free(bt);
        gw_admin_err_set(&e, 500, "internal", NULL, "out of memory");
        goto bad;
    }
    o->batch = bt;
    bt->n = n;
    bt->dry_run = json_is_true(dry);
    json_t *tpl = json_object_get(b, "template");
    bt->tpl_id = json_string_value(json_object_get(tpl, "id"));
    bt->tpl_data = json_object_get(tpl, "data");
    if (bt->tpl_data && !json_is_object(bt->tpl_data))
        bt->tpl_data = NULL;
    for (size_t i = 0; i < n; i++) {
        bt->row_no[i] = (long long)i + 1;
        memset(&e, 0, sizeof e);
        if (!row_body(bt, i, json_array_get(rows, i), b, &e) ||
            gw_admin_notif_parse(t, bt->bodies[i], &bt->notifs[i], &e)) {
            row_error(bt, i, &e);
            continue;
        }
        if (!bt->tpl_id && !(bt->notifs[i].out_text = strdup(bt->notifs[i].text))) {
            gw_admin_err_set(&e, 500, "internal", NULL, "out of memory");
            goto bad;
        }
    }
    if (bt->tpl_id) {
        fetch_or_503(bt->tpl_id, on_batch_tpl, o);
        return;
    }
    batch_finish(o);
    return;
bad:
    gw_admin_fail_err(rq, &e);
    cop_free(o);
}

/* ------------------------------------------------------------- wiring */

void gw_console_free(gw_console *c) {
    free(c);
}

int gw_console_open(gw_app *app, const gw_admin *admin, gw_console **out, char *err,
                    size_t errlen) {
    *out = NULL;
    if (!admin)
        return 0;
    gw_console *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    c->app = app;
    c->admin = admin;
    static const struct {
        const char *path, *label;
        unsigned methods;
        gw_route_fn *fn;
    } routes[] = {
        {API "me", API "me", GW_M_GET, on_me},
        {API "wards", API "wards", GW_M_GET, on_wards},
        {API "templates", API "templates", GW_M_GET, on_templates},
        {API "templates/", API "templates/{id}", GW_M_GET | GW_M_PUT | GW_M_DELETE, on_template},
        {API "broadcasts/preview", API "broadcasts/preview", GW_M_POST, on_preview},
        {API "notifications/batch", API "notifications/batch", GW_M_POST, on_batch},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(routes); i++)
        if (gw_router_add(app->router, routes[i].path, routes[i].label, routes[i].methods,
                          routes[i].fn, c)) {
            snprintf(err, errlen, "cannot add the route %s", routes[i].path);
            gw_console_free(c);
            return MC_ETOOBIG;
        }
    *out = c;
    gw_log(GW_INFO, "console.ready", "{s:I}", "wards", (json_int_t)gw_shared_ward_count(app->data));
    return 0;
}
