/*
 * gw_tickets.c — citizens' reports (phản ánh, kiến nghị) for the departments they were
 * routed to: GET /reports?status=&ward=&category=&since=&limit=, GET /reports/{id} and
 * POST /reports/{id}/events (officers.md "Citizens' reports"). The conversation files
 * them (gateway/conv/gw_turn.c); this file lets the departments read and handle them.
 *
 * Big idea: a ticket lives in the partition of its id (report, report_log), the
 * department's index in the department's (dept_reports, written by the turn). A listing
 * reads the index, then the tickets it names, one script per partition, and filters
 * (status, ward, category, the token's areas) here. A status change is one script in the
 * ticket's partition: the status, its history line, the closed set (retention), and the
 * notification that tells the citizen on their own channel (SMS as fallback when they
 * gave a phone) on that partition's due set — so quiet hours, windows, fallback and
 * dead letters apply as to any notification. Before it, the notification is indexed in
 * the citizen's message log (their partition), and the ticket is read once to know the
 * citizen; the script checks again what it relies on. The same status posted twice
 * within GW_REPEAT_WINDOW_MS is refused (409) unless "repeat": true: a double click
 * must not send the citizen a second message.
 */
#include "gateway/api/gw_api_int.h"

#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_log.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEF 50        /* tickets one GET /reports answers without limit */
#define LIST_MAX 200       /* ... at most */
#define LIST_SCAN "1000"   /* index entries one listing reads */
#define TICKET_MAX 24      /* "PA-251203-0001", with room and the NUL */
#define NOTE_MAX 500       /* an officer's note, bytes */
#define QUERY_MAX 64       /* a query value, bytes */
#define NOTIF_HEX_BYTES 12 /* random bytes of the notification's id */
#define TO_MAX 160         /* a masked recipient */
#define DEPTS_CSV_MAX 1024 /* the departments of a ticket */

/* The fields a listing reads of each ticket. */
static const char *const list_fields[] = {"id",    "category",   "ward",        "status",
                                          "depts", "created_ms", "updated_ms",  "place",
                                          "ch",    "note",       "text_removed"};
enum {
    L_ID,
    L_CAT,
    L_WARD,
    L_STATUS,
    L_DEPTS,
    L_CREATED,
    L_UPDATED,
    L_PLACE,
    L_CH,
    L_NOTE,
    L_REMOVED,
    L_COUNT
};

/* ---------------------------------------------------------------- helpers */

/* 1 when the comma-separated list holds item. */
static bool csv_has(const char *list, const char *item) {
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == n && !memcmp(p, item, n))
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

/* A ticket id of a path or a query: PA-yymmdd-n..., upper-case. */
static bool ticket_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 11 || n >= TICKET_MAX || strncmp(s, "PA-", 3) || s[9] != '-')
        return false;
    for (size_t i = 3; i < n; i++)
        if (i != 9 && !isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* May the caller see a ticket routed to depts in ward ("" unknown)? 0, or answers. */
static bool may_see(gw_api_op *o, const char *depts, const char *ward) {
    if (!csv_has(depts, o->dept) ||
        !(*ward ? gw_api_token_area_ok(o->t, ward) : gw_api_token_area_ok(o->t, "*"))) {
        gw_api_fail(o->rq, 403, "forbidden", NULL,
                    "report %s was not routed to %s or lies outside its areas", o->id, o->dept);
        return false;
    }
    return true;
}

static const char *str_or(const redisReply *r, const char *def) {
    return r && r->type == REDIS_REPLY_STRING ? r->str : def;
}

/* {id, name} of each department of a csv. */
static json_t *depts_json(const gw_api *a, const char *csv) {
    json_t *arr = json_array();
    for (const char *p = csv; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char id[GW_API_DEPT_MAX + 1];
        snprintf(id, sizeof id, "%.*s", (int)(l < sizeof id ? l : sizeof id - 1), p);
        const char *name = gw_shared_dept_name(gw_api_data(a), id);
        json_array_append_new(arr, json_pack("{s:s, s:s}", "id", id, "name", name ? name : id));
        p = c ? c + 1 : NULL;
    }
    return arr;
}

/* The fields every answer about a ticket shares, from name → value getters. */
static json_t *ticket_json(const gw_api *a, const char *id, const char *cat, const char *ward,
                           const char *status, const char *depts, int64_t created,
                           int64_t updated) {
    const gw_shared *d = gw_api_data(a);
    const gw_ward *w = *ward ? gw_shared_ward_find(d, ward) : NULL;
    const char *cn = gw_shared_issue_name(d, cat), *st = gw_shared_report_status_text(d, status);
    char c[GW_API_TIME_MAX], u[GW_API_TIME_MAX];
    gw_api_format_time(a, created, c, sizeof c);
    gw_api_format_time(a, updated ? updated : created, u, sizeof u);
    return json_pack("{s:s, s:s, s:s, s:s*, s:s, s:s, s:s, s:s, s:s, s:o}", "id", id, "category",
                     cat, "category_name", cn ? cn : cat, "ward", *ward ? ward : NULL, "ward_name",
                     w ? w->name : "", "status", status, "status_text", st ? st : status,
                     "created_at", c, "updated_at", u, "departments", depts_json(a, depts));
}

/* ------------------------------------------------------------------- list */

/* What a listing keeps between its steps (o->res). */
typedef struct list_query {
    char status[QUERY_MAX], ward[QUERY_MAX], category[QUERY_MAX];
    int64_t since;
    long limit;
} list_query;

/* KEYS the tickets of one partition; ARGV the fields. One HMGET per key. */
static const char read_lua[] = "local r={}\n"
                               "for i,k in ipairs(KEYS) do r[i]=redis.call('HMGET',k,unpack(ARGV)) "
                               "end\n"
                               "return r\n";

static void list_build(gw_api_op *o, size_t i, gw_argv *av) {
    json_t *g = json_array_get(json_object_get(o->keep, "groups"), i);
    json_int_t part = json_integer_value(json_object_get(g, "part"));
    json_t *ids = json_object_get(g, "ids"), *id;
    size_t k;
    *av = GW_API_EVAL(o->api, read_lua, (int)json_array_size(ids));
    json_array_foreach(ids, k, id) {
        gw_argv_addkey(av, gw_api_keys(o->api), GW_K_REPORT, (unsigned)part, json_string_value(id));
    }
    for (size_t f = 0; f < L_COUNT; f++)
        gw_argv_adds(av, list_fields[f]);
}

static void list_each(gw_api_op *o, size_t i, const redisReply *r) {
    (void)i;
    const list_query *q = o->res;
    json_t *out = json_object_get(o->keep, "out");
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *h = r->element[k];
        if (h->type != REDIS_REPLY_ARRAY || h->elements != L_COUNT ||
            h->element[L_ID]->type != REDIS_REPLY_STRING)
            continue;
        const char *cat = str_or(h->element[L_CAT], ""), *ward = str_or(h->element[L_WARD], "");
        const char *st = str_or(h->element[L_STATUS], ""), *depts = str_or(h->element[L_DEPTS], "");
        if (!csv_has(depts, o->dept) || (*q->status && strcmp(st, q->status)) ||
            (*q->ward && strcmp(ward, q->ward)) || (*q->category && strcmp(cat, q->category)) ||
            !(*ward ? gw_api_token_area_ok(o->t, ward) : gw_api_token_area_ok(o->t, "*")))
            continue;
        int64_t created = strtoll(str_or(h->element[L_CREATED], "0"), NULL, 10);
        json_t *t = ticket_json(o->api, h->element[L_ID]->str, cat, ward, st, depts, created,
                                strtoll(str_or(h->element[L_UPDATED], "0"), NULL, 10));
        if (!t)
            continue;
        const char *place = str_or(h->element[L_PLACE], NULL);
        if (place && strcmp(str_or(h->element[L_REMOVED], ""), "1"))
            json_object_set_new(t, "place", json_string(place));
        json_object_set_new(t, "channel", json_string(str_or(h->element[L_CH], "")));
        const char *note = str_or(h->element[L_NOTE], NULL);
        if (note && *note)
            json_object_set_new(t, "note", json_string(note));
        json_object_set_new(t, "ms", json_integer(created));
        json_array_append_new(out, t);
    }
}

static int newest_first(const void *x, const void *y) {
    json_int_t a = json_integer_value(json_object_get(*(json_t *const *)x, "ms"));
    json_int_t b = json_integer_value(json_object_get(*(json_t *const *)y, "ms"));
    return (a < b) - (a > b);
}

static void list_done(gw_api_op *o) {
    const list_query *q = o->res;
    json_t *all = json_object_get(o->keep, "out"), *list = json_array();
    size_t n = json_array_size(all);
    json_t **v = n ? calloc(n, sizeof *v) : NULL;
    for (size_t i = 0; v && i < n; i++)
        v[i] = json_array_get(all, i);
    if (v)
        qsort(v, n, sizeof *v, newest_first);
    for (size_t i = 0; v && i < n && (long)i < q->limit; i++) {
        json_object_del(v[i], "ms");
        json_array_append(list, v[i]);
    }
    free(v);
    gw_api_answer(o->rq, 200, json_pack("{s:o}", "reports", list));
}

static void on_index(gw_api_op *o, const redisReply *r) {
    json_t *groups = json_array();
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        json_int_t part = gw_api_part_of(o->api, e->str);
        json_t *g = NULL, *x;
        size_t k;
        json_array_foreach(groups, k, x) {
            if (json_integer_value(json_object_get(x, "part")) == part)
                g = x;
        }
        if (!g) {
            g = json_pack("{s:I, s:[]}", "part", part, "ids");
            json_array_append_new(groups, g);
        }
        json_array_append_new(json_object_get(g, "ids"), json_stringn(e->str, e->len));
    }
    o->keep = json_pack("{s:o, s:[]}", "groups", groups, "out");
    if (!o->keep) {
        gw_api_oom(o->rq);
        return;
    }
    gw_api_op_steps(o, json_array_size(groups), GW_API_ARRAY, list_build, list_each, list_done);
}

/* A query parameter that must be one of a set (ok), into out; 0, or answers 400. */
static int query_one(gw_req *rq, const char *name, char *out, size_t n,
                     bool ok_fn(const gw_api *, const char *), const gw_api *a, const char *what) {
    size_t ql;
    const char *qs = gw_req_query(rq, &ql);
    int rc = gw_api_query(qs, ql, name, out, n);
    if (rc == MC_ENOTFOUND) {
        out[0] = '\0';
        return 0;
    }
    if (!rc && ok_fn(a, out))
        return 0;
    gw_api_fail(rq, 400, "bad_field", name, "%s must be %s", name, what);
    return MC_EINVAL;
}

static bool status_ok(const gw_api *a, const char *s) {
    return gw_shared_report_status_text(gw_api_data(a), s) != NULL;
}

static bool ward_ok(const gw_api *a, const char *s) {
    return gw_shared_ward_find(gw_api_data(a), s) != NULL;
}

static bool category_ok(const gw_api *a, const char *s) {
    return gw_shared_issue_ok(gw_api_data(a), s);
}

void gw_tickets_list(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    list_query q = {0};
    char since[QUERY_MAX];
    size_t ql;
    const char *qs = gw_req_query(rq, &ql);
    if (query_one(rq, "status", q.status, sizeof q.status, status_ok, a, "a report status") ||
        query_one(rq, "ward", q.ward, sizeof q.ward, ward_ok, a, "a ward id of /api/v1/wards") ||
        query_one(rq, "category", q.category, sizeof q.category, category_ok, a,
                  "an issue category (rac_thai, ngap_nuoc, ...)"))
        return;
    const gw_ward *w = *q.ward ? gw_shared_ward_find(gw_api_data(a), q.ward) : NULL;
    if (w)
        snprintf(q.ward, sizeof q.ward, "%s", w->id); /* a slug names the same ward */
    int rc = gw_api_query(qs, ql, "since", since, sizeof since);
    if (!rc && gw_api_parse_since(a, since, &q.since)) {
        gw_api_fail(rq, 400, "bad_field", "since",
                    "since is a date YYYY-MM-DD or a time 2026-12-03T20:11:00+07:00");
        return;
    }
    if (gw_api_query_count(rq, "limit", LIST_DEF, LIST_MAX, &q.limit, "limit is 1..%d", LIST_MAX))
        return;
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o)
        return;
    if (!(o->res = malloc(sizeof q))) {
        gw_api_oom(rq);
        gw_api_op_free(o);
        return;
    }
    memcpy(o->res, &q, sizeof q);
    gw_argv av = {0};
    gw_argv_adds(&av, "ZREVRANGEBYSCORE");
    gw_api_add_dept_key(&av, a, GW_K_DEPT_REPORTS, o->dept);
    gw_argv_adds(&av, "+inf");
    gw_argv_addf(&av, "%" PRId64, q.since);
    gw_argv_adds(&av, "LIMIT");
    gw_argv_adds(&av, "0");
    gw_argv_adds(&av, LIST_SCAN);
    gw_api_op_send(o, &av, GW_API_ARRAY, on_index);
}

/* ------------------------------------------------------------------- item */

/* KEYS report, report_log. {-2} none, else {1, hash pairs, history}. */
static const char get_lua[] = "local h=redis.call('HGETALL',KEYS[1])\n"
                              "if #h==0 then return {-2} end\n"
                              "return {1,h,redis.call('LRANGE',KEYS[2],0,-1)}\n";

static const char *pair(const redisReply *h, const char *f) {
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING &&
            h->element[i + 1]->type == REDIS_REPLY_STRING && !strcmp(h->element[i]->str, f))
            return h->element[i + 1]->str;
    return NULL;
}

#define P(f) (pair(h, f) ? pair(h, f) : "")

static void on_get(gw_api_op *o, const redisReply *r) {
    if (r->element[0]->integer == -2 || r->elements < 3 ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no report %s", o->id);
        return;
    }
    const redisReply *h = r->element[1];
    if (!may_see(o, P("depts"), P("ward")))
        return;
    json_t *t = ticket_json(o->api, o->id, P("category"), P("ward"), P("status"), P("depts"),
                            strtoll(P("created_ms"), NULL, 10), strtoll(P("updated_ms"), NULL, 10));
    if (!t) {
        gw_api_oom(o->rq);
        return;
    }
    bool removed = !strcmp(P("text_removed"), "1");
    if (!removed) {
        json_object_set_new(t, "place", json_string(P("place")));
        json_object_set_new(t, "text", json_string(P("text")));
    } else
        json_object_set_new(t, "text_removed", json_true());
    if (*P("note"))
        json_object_set_new(t, "note", json_string(P("note")));
    /* who filed it: the channel, and the citizen masked (an officer answers through the
     * events, never by copying a phone number) */
    char m[TO_MAX];
    json_object_set_new(t, "channel", json_string(P("ch")));
    if (!removed && *P("user")) {
        gw_api_mask(P("user"), m, sizeof m);
        json_object_set_new(t, "citizen", json_string(m));
    }
    json_t *hist = gw_api_json_list(r->element[2]), *e;
    size_t i;
    json_array_foreach(hist, i, e) {
        json_t *at = json_object_get(e, "at");
        if (json_is_integer(at)) {
            char ts[GW_API_TIME_MAX];
            gw_api_format_time(o->api, json_integer_value(at), ts, sizeof ts);
            json_object_set_new(e, "at", json_string(ts));
        }
        const char *st = json_string_value(json_object_get(e, "status"));
        const char *txt = st ? gw_shared_report_status_text(gw_api_data(o->api), st) : NULL;
        if (txt)
            json_object_set_new(e, "status_text", json_string(txt));
    }
    json_object_set_new(t, "history", hist);
    gw_api_answer(o->rq, 200, t);
}

/* ----------------------------------------------------------------- events */

/* What an event keeps between its steps (o->res). */
typedef struct event {
    const char *status;                  /* borrowed from the body */
    const char *note;                    /* borrowed, "" none */
    bool repeat;                         /* "repeat": true */
    json_t *to;                          /* owned: the citizen as the notification stores it */
    char channels[GW_API_CHANNELS_MAX];  /* its fallback order */
    char notif[GW_API_NOTIF_ID_MAX + 1]; /* its id, "" when the citizen cannot be told */
    char *text;                          /* owned: what the citizen is told */
} event;

static void event_clear(void *p) {
    event *e = p;
    json_decref(e->to);
    free(e->text);
}

static int check_event(gw_api_op *o, gw_api_err *e) {
    static const char *const allowed[] = {"status", "note", "repeat", NULL};
    event *ev = o->res;
    if (gw_api_only_fields(e, o->body, allowed, "", GW_API_CUT) ||
        gw_api_str_field(e, o->body, "status", "status", GW_API_ID_MAX, true, &ev->status, NULL) ||
        gw_api_str_field(e, o->body, "note", "note", NOTE_MAX, false, &ev->note, NULL))
        return MC_EINVAL;
    json_t *rep = json_object_get(o->body, "repeat");
    if (rep && !json_is_boolean(rep))
        return gw_api_err_set(e, 400, "bad_field", "repeat", "repeat is true or false");
    ev->repeat = json_is_true(rep);
    const gw_shared *d = gw_api_data(o->api);
    if (!gw_shared_report_status_text(d, ev->status) ||
        !strcmp(ev->status, gw_shared_report_first_status(d))) {
        char list[256] = "";
        for (size_t i = 1; i < gw_shared_report_status_count(d); i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i > 1 ? ", " : "",
                     gw_shared_report_status_at(d, i));
        return gw_api_err_set(e, 400, "bad_field", "status", "status is one of %s", list);
    }
    if (!ev->note)
        ev->note = "";
    return 0;
}

const gw_api_body_check gw_report_event_body = {"report event", sizeof(event), event_clear,
                                                check_event};

/* KEYS report, report_log, report_final, due (the ticket's partition); ARGV dept status
 * note now repeat window final(0|1) notif_id text to channels. {-2} none, {-1} not
 * routed to dept, {-3, at} the same status and note less than window ago, else {1}: the
 * status, its history line, the closed set, and the notification (when notif_id is
 * given) on the due set, all at once; {1, the status before}. */
static const char event_lua[] =
    "local h=redis.call('HMGET',KEYS[1],'depts','status','note','status_ms')\n"
    "if not h[1] then return {-2} end\n"
    "local ok=false\n"
    "for d in string.gmatch(h[1],'[^,]+') do if d==ARGV[1] then ok=true end end\n"
    "if not ok then return {-1} end\n"
    "local now=tonumber(ARGV[4])\n"
    "if ARGV[5]~='1' and h[2]==ARGV[2] and (h[3] or '')==ARGV[3] and\n"
    "  now-(tonumber(h[4]) or 0)<tonumber(ARGV[6]) then return {-3,tonumber(h[4])} end\n"
    "redis.call('HSET',KEYS[1],'status',ARGV[2],'note',ARGV[3],'updated_ms',ARGV[4],\n"
    "  'status_ms',ARGV[4],'status_dept',ARGV[1])\n"
    "local ev={kind='status',status=ARGV[2],at=now,dept=ARGV[1]}\n"
    "if ARGV[3]~='' then ev.note=ARGV[3] end\n"
    "if ARGV[8]~='' then ev.notification=ARGV[8] end\n"
    "redis.call('RPUSH',KEYS[2],cjson.encode(ev))\n"
    "if ARGV[7]=='1' then redis.call('ZADD',KEYS[3],now,redis.call('HGET',KEYS[1],'id'))\n"
    "else redis.call('ZREM',KEYS[3],redis.call('HGET',KEYS[1],'id') or '') end\n"
    "if ARGV[8]~='' then\n"
    "  redis.call('HSET',K.notif(ARGV[8]),'dept',ARGV[1],'status','scheduled','text',ARGV[9],\n"
    "    'to',ARGV[10],'channels',ARGV[11],'idx','0','send_at_ms',ARGV[4],'not_after_ms','0',\n"
    "    'priority','normal','created_ms',ARGV[4],'report',redis.call('HGET',KEYS[1],'id'))\n"
    "  redis.call('ZADD',KEYS[4],ARGV[4],ARGV[8])\n"
    "end\n"
    "return {1,h[2] or ''}\n";

static void on_event(gw_api_op *o, const redisReply *r) {
    event *ev = o->res;
    switch (r->element[0]->integer) {
    case -2: gw_api_fail(o->rq, 404, "not_found", NULL, "no report %s", o->id); return;
    case -1:
        gw_api_fail(o->rq, 403, "forbidden", NULL, "report %s was not routed to %s", o->id,
                    o->dept);
        return;
    case -3: {
        char at[GW_API_TIME_MAX];
        gw_api_format_time(o->api,
                           r->elements > 1 && r->element[1]->type == REDIS_REPLY_INTEGER
                               ? r->element[1]->integer
                               : o->now,
                           at, sizeof at);
        gw_api_fail(o->rq, 409, "repeated", "status",
                    "report %s got the status %s with the same note at %s, less than a minute "
                    "ago; nothing was sent. Send \"repeat\": true to post it again",
                    o->id, ev->status, at);
        return;
    }
    }
    const char *was =
        r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : NULL;
    /* the note goes into the citizen's message: the audit says there was one, not what */
    gw_audit_op(o, "report.event", o->id,
                json_pack("{s:o, s:b, s:b}", "status", gw_audit_change(was, ev->status), "note",
                          *ev->note != '\0', "notified", *ev->notif != '\0'));
    gw_log(GW_INFO, "admin.report_event", "{s:s, s:s, s:s, s:b}", "dept", o->dept, "ticket", o->id,
           "status", ev->status, "notified", *ev->notif != '\0');
    json_t *ans = json_pack("{s:s, s:s}", "id", o->id, "status", ev->status);
    if (ans)
        json_object_set_new(ans, "notification", *ev->notif ? json_string(ev->notif) : json_null());
    gw_api_answer(o->rq, 202, ans);
}

static void event_write(gw_api_op *o) {
    event *ev = o->res;
    const gw_keyspace *ks = gw_api_keys(o->api);
    unsigned p = gw_api_part_of(o->api, o->id);
    char *to = ev->to ? json_dumps(ev->to, JSON_COMPACT) : NULL;
    gw_argv av = GW_API_EVAL(o->api, event_lua, 4);
    gw_argv_addkey(&av, ks, GW_K_REPORT, p, o->id);
    gw_argv_addkey(&av, ks, GW_K_REPORT_LOG, p, o->id);
    gw_argv_addkey(&av, ks, GW_K_REPORT_FINAL, p);
    gw_argv_addkey(&av, ks, GW_K_DUE, p);
    gw_argv_adds(&av, o->dept);
    gw_argv_adds(&av, ev->status);
    gw_argv_adds(&av, ev->note);
    gw_argv_addf(&av, "%" PRId64, o->now);
    gw_argv_adds(&av, ev->repeat ? "1" : "0");
    gw_argv_addf(&av, "%d", GW_REPEAT_WINDOW_MS);
    gw_argv_adds(&av, gw_shared_report_status_final(gw_api_data(o->api), ev->status) ? "1" : "0");
    gw_argv_adds(&av, ev->notif);
    gw_argv_adds(&av, ev->text ? ev->text : "");
    gw_argv_adds(&av, to ? to : "{}");
    gw_argv_adds(&av, ev->channels);
    gw_api_op_send(o, &av, GW_API_STATUS, on_event);
    free(to);
}

/* The ticket read: who may change it, who to tell and how; then the log, then the write. */
static void on_event_read(gw_api_op *o, const redisReply *r) {
    event *ev = o->res;
    if (r->elements < 8 || r->element[0]->type != REDIS_REPLY_STRING) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no report %s", o->id);
        return;
    }
    const char *depts = str_or(r->element[0], ""), *ward = str_or(r->element[1], "");
    const char *ch = str_or(r->element[2], ""), *user = str_or(r->element[3], "");
    const char *phone = str_or(r->element[4], "");
    if (!may_see(o, depts, ward))
        return;
    /* the same status and note a moment ago: a double click (the script checks again) */
    if (!ev->repeat && !strcmp(str_or(r->element[5], ""), ev->status) &&
        !strcmp(str_or(r->element[6], ""), ev->note) &&
        o->now - strtoll(str_or(r->element[7], "0"), NULL, 10) < GW_REPEAT_WINDOW_MS) {
        event_write(o); /* answers 409 from the script, with its time */
        return;
    }
    /* the citizen is told on their channel (a provider's: a closed web chat tab cannot be
     * reached), with SMS after it when they gave a phone; retention may have taken them */
    const char *by_phone = gw_channel_for_phone();
    bool reachable = *user && gw_channel_index(ch) >= 0;
    if (reachable) {
        if (gw_channel_phone_recipient(ch)) {
            ev->to = json_pack("{s:s}", "phone", user);
            snprintf(ev->channels, sizeof ev->channels, "%s", ch);
        } else {
            ev->to = json_pack("{s:s, s:s}", "channel", ch, "user_id", user);
            snprintf(ev->channels, sizeof ev->channels, "%s", ch);
            if (*phone && by_phone) {
                json_object_set_new(ev->to, "phone", json_string(phone));
                snprintf(ev->channels + strlen(ev->channels),
                         sizeof ev->channels - strlen(ev->channels), ",%s", by_phone);
            }
        }
        char hex[2 * NOTIF_HEX_BYTES + 1];
        gw_api_random_hex(hex, NOTIF_HEX_BYTES);
        snprintf(ev->notif, sizeof ev->notif, "%u-%s", gw_api_part_of(o->api, o->id), hex);
        ev->text = gw_shared_report_event_text(gw_api_data(o->api), o->id, ev->status, ev->note);
        if (!ev->to || !ev->text) {
            gw_api_oom(o->rq);
            return;
        }
        gw_msglog_note(o, ev->to, ev->notif, o->now);
        gw_msglog_then(o, event_write);
        return;
    }
    event_write(o);
}

void gw_tickets_item(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    const char *p = gw_api_path_rest(rq, GW_API_PREFIX "reports/");
    const char *slash = strchr(p, '/');
    char id[TICKET_MAX];
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    bool events = slash && !strcmp(slash, "/events");
    snprintf(id, sizeof id, "%.*s", (int)(len < sizeof id ? len : sizeof id - 1), p);
    for (char *c = id; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    if ((slash && !events) || len >= TICKET_MAX || !ticket_ok(id)) {
        gw_api_fail(rq, 404, "not_found", NULL, "no such report (ids are PA-yymmdd-nnnn)");
        return;
    }
    const char *m = gw_req_method(rq);
    bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    if (get == events) {
        gw_api_fail(rq, 405, "method_not_allowed", NULL, "%s is not allowed on this path", m);
        return;
    }
    gw_api_op *o = get ? gw_api_op_new(a, rq, t)
                       : gw_api_op_checked(a, rq, t, sizeof(event), event_clear, check_event);
    if (!o)
        return;
    snprintf(o->id, sizeof o->id, "%s", id);
    unsigned part = gw_api_part_of(a, id);
    gw_argv av;
    if (get) {
        av = GW_API_EVAL(a, get_lua, 2);
        gw_argv_addkey(&av, gw_api_keys(a), GW_K_REPORT, part, id);
        gw_argv_addkey(&av, gw_api_keys(a), GW_K_REPORT_LOG, part, id);
        gw_api_op_send(o, &av, GW_API_STATUS, on_get);
        return;
    }
    av = (gw_argv){0};
    gw_argv_adds(&av, "HMGET");
    gw_argv_addkey(&av, gw_api_keys(a), GW_K_REPORT, part, id);
    static const char *const fields[] = {"depts", "ward",   "ch",   "user",
                                         "phone", "status", "note", "status_ms"};
    for (size_t i = 0; i < MC_ARRAY_LEN(fields); i++)
        gw_argv_adds(&av, fields[i]);
    gw_api_op_send(o, &av, GW_API_ARRAY, on_event_read);
}
