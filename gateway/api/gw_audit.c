/*
 * gw_audit.c — the audit trail (shared/spec/officers.md): every write of the API and the
 * console appends who did what to which, when and from where, with the values before and
 * after where they apply; GET /audit reads it back, newest first, filtered and paged, as
 * JSON or CSV.
 *
 * Big idea: one Redis stream per department, in the department's partition, whose entry
 * ids are the gateway's clock (never going back: a later entry never gets a smaller id),
 * so that a time range is an id range and retention is XADD's own MINID trim at every
 * append. An entry is appended once the write it records has been stored, on the same
 * connection, so a read that follows the answer sees it; never a message text nor an
 * unmasked phone number goes in (the callers pass masked values only).
 */
#include "gateway/api/gw_api_int.h"

#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_DAY 86400000LL  /* [admin] audit_days */
#define DEFAULT_AUDIT_DAYS 365 /* without a process (unit tests) */
#define LIST_DEF 50            /* entries of one page by default */
#define LIST_MAX 200           /* ... at most */
#define CSV_DEF 5000           /* entries of one CSV download by default */
#define CSV_MAX 20000          /* ... at most */
#define SCAN_MAX "100000"      /* entries one request looks at, at most */
#define FILTER_MAX 128         /* a filter value, bytes */
#define CURSOR_MAX 48          /* a stream id "<ms>-<seq>", with its NUL */
#define CSV_BOM "\xEF\xBB\xBF" /* spreadsheets read the file as UTF-8 with it */

/* KEYS[1] the trail; ARGV high end (an id, "(" id for after a cursor, or "+"), low end
 * (an id or "-"), actor, action, target ("" = any), limit, scan cap. Newest first: {next
 * cursor ("" when nothing older is left), {id, {field, value, ...}}, ...}. An action
 * filter without a dot also matches its family ("dossier" → "dossier.event"). */
static const char list_lua[] =
    "local hi,lo,lim,cap=ARGV[1],ARGV[2],tonumber(ARGV[6]),tonumber(ARGV[7])\n"
    "local out,scanned,cursor={''},0,''\n"
    "local function ok(f)\n"
    "  if ARGV[3]~='' and f.actor~=ARGV[3] then return false end\n"
    "  if ARGV[5]~='' and f.target~=ARGV[5] then return false end\n"
    "  if ARGV[4]~='' and f.action~=ARGV[4] then\n"
    "    if string.find(ARGV[4],'.',1,true) then return false end\n"
    "    if string.sub(f.action or '',1,#ARGV[4]+1)~=ARGV[4]..'.' then return false end\n"
    "  end\n"
    "  return true\n"
    "end\n"
    "while true do\n"
    "  local batch=redis.call('XREVRANGE',KEYS[1],hi,lo,'COUNT',100)\n"
    "  for i,e in ipairs(batch) do\n"
    "    scanned=scanned+1\n"
    "    local f={} for k=1,#e[2],2 do f[e[2][k]]=e[2][k+1] end\n"
    "    if ok(f) then out[#out+1]={e[1],e[2]} end\n"
    "    if #out-1>=lim or scanned>=cap then\n"
    "      if i<#batch or #batch==100 then cursor=e[1] end\n"
    "      out[1]=cursor return out\n"
    "    end\n"
    "  end\n"
    "  if #batch<100 then break end\n"
    "  hi='('..batch[#batch][1]\n"
    "end\n"
    "return out\n";

/* ------------------------------------------------------------- appending */

static void on_appended(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    char *dept = priv;
    if (!r || r->type == REDIS_REPLY_ERROR)
        gw_log(GW_ERROR, "admin.audit_failed", "{s:s, s:s}", "dept", dept, "error",
               r && r->str ? r->str : "connection lost");
    free(dept);
}

static long audit_days(const gw_api *a) {
    const gw_app *app = gw_api_app(a);
    return app ? app->cfg->admin_audit_days : DEFAULT_AUDIT_DAYS;
}

void gw_audit(const gw_api *a, const char *dept, const char *actor, const char *action,
              const char *target, const char *ip, json_t *changes) {
    gw_app *app = gw_api_app(a);
    char ts[GW_API_TIME_MAX];
    int64_t now = gw_now_ms();
    char *ch = changes ? json_dumps(changes, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *own = strdup(dept);
    json_decref(changes);
    if (!app || !app->store || !own) {
        free(ch);
        free(own);
        return;
    }
    gw_api_format_time(a, now, ts, sizeof ts);
    gw_argv av = gw_api_eval(a, gw_off_audit_lua, "audit_lua", 1);
    gw_api_add_dept_key(&av, a, GW_K_AUDIT, dept);
    gw_argv_addf(&av, "%" PRId64, now);
    gw_argv_addf(&av, "%" PRId64, (int64_t)(now - audit_days(a) * MS_PER_DAY));
    const char *kv[] = {"ts",     ts,           "actor",   actor,
                        "action", action,       "target",  target ? target : "",
                        "ip",     ip ? ip : "", "changes", ch ? ch : "{}"};
    for (size_t i = 0; i < MC_ARRAY_LEN(kv); i++)
        gw_argv_adds(&av, kv[i]);
    if (gw_argv_send(app->store, &av, on_appended, own)) {
        gw_log(GW_ERROR, "admin.audit_failed", "{s:s, s:s}", "dept", dept, "error",
               "the store is unavailable");
        free(own);
    }
    gw_argv_free(&av);
    free(ch);
}

void gw_audit_op(const gw_api_op *o, const char *action, const char *target, json_t *changes) {
    char actor[GW_API_ACTOR_MAX];
    gw_api_token_actor(o->t, actor, sizeof actor);
    gw_audit(o->api, o->dept, actor, action, target, gw_req_peer(o->rq), changes);
}

json_t *gw_audit_change(const char *from, const char *to) {
    return json_pack("{s:s?, s:s?}", "from", from, "to", to);
}

/* --------------------------------------------------------------- reading */

/* The fields of an entry, in the order of the CSV's columns. */
static const char *const columns[] = {"ts", "actor", "action", "target", "ip", "changes"};

/* One entry {id, {field, value...}} as {"id", "ts", ..., "changes": {...}}. */
static json_t *entry_json(const redisReply *e) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    json_t *o = json_pack("{s:s}", "id", e->element[0]->str);
    const redisReply *f = e->element[1];
    for (size_t i = 0; o && i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(k->str, "changes")) {
            json_t *c = json_loadb(v->str, v->len, 0, NULL);
            json_object_set_new(o, "changes", c ? c : json_object());
        } else
            json_object_set_new(o, k->str, json_stringn(v->str, v->len));
    }
    return o;
}

/* A CSV cell: quoted, quotes doubled; a cell a spreadsheet would take for a formula
 * (= + - @ first) gets a leading apostrophe. */
static void csv_cell(char **buf, size_t *len, size_t *cap, const char *s, bool last) {
    size_t need = 2 * strlen(s) + 8;
    if (*len + need >= *cap) {
        size_t nc = (*cap + need) * 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return;
        *buf = nb;
        *cap = nc;
    }
    char *p = *buf + *len;
    *p++ = '"';
    if (*s && strchr("=+-@", *s))
        *p++ = '\'';
    for (; *s; s++) {
        if (*s == '"')
            *p++ = '"';
        *p++ = *s;
    }
    *p++ = '"';
    if (last) {
        *p++ = '\r';
        *p++ = '\n';
    } else
        *p++ = ',';
    *len = (size_t)(p - *buf);
}

static void answer_csv(gw_api_op *o, const redisReply *r) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        gw_api_oom(o->rq);
        return;
    }
    memcpy(buf, CSV_BOM, sizeof CSV_BOM - 1);
    len = sizeof CSV_BOM - 1;
    for (size_t c = 0; c < MC_ARRAY_LEN(columns); c++)
        csv_cell(&buf, &len, &cap, columns[c], c + 1 == MC_ARRAY_LEN(columns));
    for (size_t i = 1; i < r->elements; i++) {
        json_t *e = entry_json(r->element[i]);
        for (size_t c = 0; e && c < MC_ARRAY_LEN(columns); c++) {
            json_t *v = json_object_get(e, columns[c]);
            char *txt = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
            csv_cell(&buf, &len, &cap,
                     json_is_string(v) ? json_string_value(v)
                     : txt             ? txt
                                       : "",
                     c + 1 == MC_ARRAY_LEN(columns));
            free(txt);
        }
        json_decref(e);
    }
    char extra[GW_API_DEPT_MAX + 96];
    snprintf(extra, sizeof extra,
             "Content-Disposition: attachment; filename=\"audit-%s.csv\"\r\n"
             "Cache-Control: no-store\r\n",
             o->dept);
    gw_req_respond(o->rq, 200, "text/csv; charset=utf-8", buf, len, extra);
    free(buf);
}

static void on_list(gw_api_op *o, const redisReply *r) {
    if (r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING) {
        gw_api_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        return;
    }
    if (o->n) {
        answer_csv(o, r);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 1; i < r->elements; i++) {
        json_t *e = entry_json(r->element[i]);
        if (e)
            json_array_append_new(list, e);
    }
    const char *next = r->element[0]->str;
    gw_api_answer(o->rq, 200,
                  json_pack("{s:o, s:s?}", "entries", list, "next", *next ? next : NULL));
}

/* A query parameter into out ("" when absent): 0, or MC_EINVAL once answered 400. */
static int filter(gw_req *rq, const char *name, char *out, size_t n) {
    size_t qlen;
    const char *q = gw_req_query(rq, &qlen);
    int rc = gw_api_query(q, qlen, name, out, n);
    if (rc == MC_ENOTFOUND) {
        out[0] = '\0';
        return 0;
    }
    if (rc) {
        gw_api_fail(rq, 400, "bad_field", name, "%s is at most %zu bytes", name, n - 1);
        return MC_EINVAL;
    }
    return 0;
}

/* A time parameter (RFC 3339) into *ms, unchanged when absent: 0 or MC_EINVAL once
 * answered. */
static int time_filter(gw_req *rq, const char *name, int64_t *ms) {
    char v[GW_API_TIME_MAX];
    if (filter(rq, name, v, sizeof v))
        return MC_EINVAL;
    if (*v && gw_api_parse_time(v, strlen(v), ms)) {
        gw_api_fail(rq, 400, "bad_field", name, "%s must be an RFC 3339 time", name);
        return MC_EINVAL;
    }
    return 0;
}

/* A cursor of a previous page: "<digits>-<digits>". */
static bool cursor_ok(const char *c) {
    size_t a = strspn(c, "0123456789");
    return a > 0 && a < 20 && c[a] == '-' && strspn(c + a + 1, "0123456789") == strlen(c + a + 1) &&
           c[a + 1] && strlen(c + a + 1) < 20;
}

void gw_audit_list(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    char actor[FILTER_MAX], action[FILTER_MAX], target[FILTER_MAX], cursor[CURSOR_MAX], format[8];
    int64_t now = gw_now_ms(), since = now - audit_days(a) * MS_PER_DAY, until = -1;
    int64_t oldest = since;
    if (filter(rq, "actor", actor, sizeof actor) || filter(rq, "action", action, sizeof action) ||
        filter(rq, "target", target, sizeof target) ||
        filter(rq, "cursor", cursor, sizeof cursor) ||
        filter(rq, "format", format, sizeof format) || time_filter(rq, "since", &since) ||
        time_filter(rq, "until", &until))
        return;
    bool csv = !strcmp(format, "csv");
    if (*format && !csv && strcmp(format, "json")) {
        gw_api_fail(rq, 400, "bad_field", "format", "format is json or csv");
        return;
    }
    if (*cursor && !cursor_ok(cursor)) {
        gw_api_fail(rq, 400, "bad_field", "cursor", "not a cursor of this trail");
        return;
    }
    long limit;
    if (gw_api_query_count(rq, "limit", csv ? CSV_DEF : LIST_DEF, csv ? CSV_MAX : LIST_MAX, &limit,
                           "limit is 1..%d", csv ? CSV_MAX : LIST_MAX))
        return;
    if (since < oldest)
        since = oldest; /* older entries are past retention, whether trimmed yet or not */
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o)
        return;
    o->n = csv;
    char hi[CURSOR_MAX + 24], lo[32];
    if (*cursor)
        snprintf(hi, sizeof hi, "(%s", cursor);
    else if (until >= 0)
        snprintf(hi, sizeof hi, "%" PRId64, until);
    else
        snprintf(hi, sizeof hi, "+");
    snprintf(lo, sizeof lo, "%" PRId64, since < 0 ? 0 : since);
    gw_argv av = GW_API_EVAL(a, list_lua, 1);
    gw_api_add_dept_key(&av, a, GW_K_AUDIT, o->dept);
    const char *args[] = {hi, lo, actor, action, target};
    for (size_t i = 0; i < MC_ARRAY_LEN(args); i++)
        gw_argv_adds(&av, args[i]);
    gw_argv_addf(&av, "%ld", limit);
    gw_argv_adds(&av, SCAN_MAX);
    gw_api_op_send(o, &av, GW_API_ARRAY, on_list);
}
