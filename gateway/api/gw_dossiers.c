/*
 * gw_dossiers.c — dossiers: GET /dossiers (the department's list), PUT and GET
 * /dossiers/{code}, POST /dossiers/{code}/events; and the status table of
 * gateway/api/data/statuses.txt (the wording of each status and the text of
 * the notification an event sends).
 *
 * Big idea: a department touches only its own dossiers, and the check is in
 * the same script as the write: PUT replaces the hash and indexes it, an event
 * changes the status, appends to the history and queues one notification per
 * subscriber (and the dossier's phone by SMS), all or nothing. GET shows who an
 * event would notify, masked: a department sees the channels, never the raw ids.
 */
#include "gateway/api/gw_api_int.h"

#include "channels/ch.h"
#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_log.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STATUSES 64        /* entries of statuses.txt */
#define WORDING_MAX 400        /* a status wording or an event template, bytes */
#define NOTE_MAX 500           /* a dossier event note, bytes */
#define PHONE_FIELD_MAX 16     /* the phone field, bytes */
#define DATE_FIELD_MAX 10      /* the expected_at field, bytes */
#define EVENT_BASE_BYTES 12    /* random bytes of an event's notification id base */
#define LIST_LIMIT_DEF 20      /* dossiers one GET /dossiers answers by default */
#define LIST_LIMIT_MAX 100     /* ... and at most */
#define LIST_SCAN_MAX "100000" /* index entries one listing looks at, at most */
#define CHANNEL_MAX 16         /* a channel name in a subscriber member, with its NUL */
#define MASKED_MAX 160         /* a masked recipient */

/* ---------------------------------------------------------- status table */

typedef struct status_entry {
    char id[GW_API_ID_MAX];     /* e.g. ready_for_pickup */
    char text[WORDING_MAX + 1]; /* Vietnamese wording */
} status_entry;

struct gw_statuses {
    status_entry statuses[MAX_STATUSES];  /* in file order */
    size_t n;                             /* used entries */
    char tpl_event[WORDING_MAX + 1];      /* template dossier_event */
    char tpl_event_note[WORDING_MAX + 1]; /* template dossier_event_note, "" = none */
};

static bool valid_id(const char *s, size_t len) {
    if (len == 0 || len >= GW_API_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* "status <id> = <wording>" */
static int status_entry_line(gw_statuses *st, const char *id, size_t idlen, const char *val,
                             size_t vlen, char *why, size_t wn) {
    if (!valid_id(id, idlen)) {
        snprintf(why, wn, "status id must be a-z, 0-9 and _ (at most %d bytes)", GW_API_ID_MAX - 1);
        return MC_EPARSE;
    }
    for (size_t i = 0; i < st->n; i++)
        if (strlen(st->statuses[i].id) == idlen && !memcmp(st->statuses[i].id, id, idlen)) {
            snprintf(why, wn, "duplicate status \"%.*s\"", (int)idlen, id);
            return MC_EPARSE;
        }
    if (st->n == MAX_STATUSES) {
        snprintf(why, wn, "more than %d statuses", MAX_STATUSES);
        return MC_EPARSE;
    }
    status_entry *e = &st->statuses[st->n++];
    snprintf(e->id, sizeof e->id, "%.*s", (int)idlen, id);
    snprintf(e->text, sizeof e->text, "%.*s", (int)vlen, val);
    return 0;
}

/* "template <name> = <text>" */
static int template_line(gw_statuses *st, const char *id, size_t idlen, const char *val,
                         size_t vlen, char *why, size_t wn) {
    char *dst;
    bool need_note;
    if (idlen == 13 && !memcmp(id, "dossier_event", 13))
        dst = st->tpl_event, need_note = false;
    else if (idlen == 18 && !memcmp(id, "dossier_event_note", 18))
        dst = st->tpl_event_note, need_note = true;
    else {
        snprintf(why, wn, "unknown template \"%.*s\" (dossier_event, dossier_event_note)",
                 (int)idlen, id);
        return MC_EPARSE;
    }
    if (*dst) {
        snprintf(why, wn, "duplicate template \"%.*s\"", (int)idlen, id);
        return MC_EPARSE;
    }
    snprintf(dst, WORDING_MAX + 1, "%.*s", (int)vlen, val);
    if (!strstr(dst, "{code}") || !strstr(dst, "{status}") ||
        (need_note && !strstr(dst, "{note}"))) {
        snprintf(why, wn, "the template must contain {code} and {status}%s",
                 need_note ? " and {note}" : "");
        return MC_EPARSE;
    }
    return 0;
}

/* One line of statuses.txt: a status or a template. */
static int status_line(void *ctx, char *s, size_t len, char *why, size_t wn) {
    gw_statuses *st = ctx;
    if (!ch_utf8_valid(s, len)) {
        snprintf(why, wn, "not valid UTF-8");
        return MC_EPARSE;
    }
    char *eq = strchr(s, '=');
    char *sp = strpbrk(s, " \t");
    if (!eq || !sp || sp > eq) {
        snprintf(why, wn, "want \"status <id> = <wording>\" or \"template <name> = <text>\"");
        return MC_EPARSE;
    }
    size_t kwlen = (size_t)(sp - s);
    char *id = sp;
    size_t idlen = (size_t)(eq - sp);
    gw_api_trim(&id, &idlen);
    char *val = eq + 1;
    size_t vlen = strlen(val);
    gw_api_trim(&val, &vlen);
    if (vlen == 0 || vlen > WORDING_MAX) {
        snprintf(why, wn, "the text must be 1..%d bytes", WORDING_MAX);
        return MC_EPARSE;
    }
    if (kwlen == 6 && !memcmp(s, "status", 6))
        return status_entry_line(st, id, idlen, val, vlen, why, wn);
    if (kwlen == 8 && !memcmp(s, "template", 8))
        return template_line(st, id, idlen, val, vlen, why, wn);
    snprintf(why, wn, "unknown keyword \"%.*s\" (status, template)", (int)kwlen, s);
    return MC_EPARSE;
}

int gw_statuses_load(const char *path, gw_statuses **out, char *err, size_t errlen) {
    int rc;
    gw_statuses *st = calloc(1, sizeof *st);
    *out = NULL;
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    if ((rc = gw_api_read_lines(path, status_line, st, err, errlen)))
        goto fail;
    if (st->n == 0 || !*st->tpl_event) {
        snprintf(err, errlen, "%s: needs at least one status and template dossier_event", path);
        rc = MC_EPARSE;
        goto fail;
    }
    *out = st;
    return 0;
fail:
    free(st);
    return rc;
}

void gw_statuses_free(gw_statuses *s) {
    free(s);
}

size_t gw_statuses_count(const gw_statuses *s) {
    return s->n;
}

const char *gw_statuses_text(const gw_statuses *s, const char *status) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->statuses[i].id, status))
            return s->statuses[i].text;
    return NULL;
}

/* Replaces {code} {status} {note} in tpl. */
static void render(const char *tpl, const char *code, const char *status, const char *note,
                   char *out, size_t n) {
    size_t o = 0;
    for (const char *p = tpl; *p && o + 1 < n;) {
        const char *val = NULL;
        size_t skip = 0;
        if (!strncmp(p, "{code}", 6))
            val = code, skip = 6;
        else if (!strncmp(p, "{status}", 8))
            val = status, skip = 8;
        else if (!strncmp(p, "{note}", 6))
            val = note, skip = 6;
        if (val) {
            size_t vl = strlen(val);
            if (vl > n - 1 - o)
                vl = n - 1 - o;
            memcpy(out + o, val, vl);
            o += vl;
            p += skip;
        } else
            out[o++] = *p++;
    }
    out[o] = '\0';
}

/* --------------------------------------------------------------- scripts */

/* KEYS[1] dossier; ARGV[1] dept, then field/value pairs. {-1} other dept; else {1, the
 * status before} when it existed, {0} when created. */
static const char put_lua[] = "local d=redis.call('HGET',KEYS[1],'dept')\n"
                              "if d and d~=ARGV[1] then return {-1} end\n"
                              "local was=redis.call('HGET',KEYS[1],'status')\n"
                              "local existed=redis.call('EXISTS',KEYS[1])\n"
                              "redis.call('DEL',KEYS[1])\n"
                              "local a={'HSET',KEYS[1]} for i=2,#ARGV do a[#a+1]=ARGV[i] end\n"
                              "redis.call(unpack(a))\n"
                              "return {existed,was or ''}\n";

/* KEYS[1] dossier, KEYS[2] history, KEYS[3] subscribers, KEYS[4] the channel orders of its
 * subscribers by phone (sub_chans: only the channel of phone numbers and, with its message,
 * the provider template channel are kept of one; none left → the phone channel) — all in
 * the partition of the code;
 * ARGV: dept, status, status_text, updated, event json, now_ms, id base, text, code,
 * the channel of phone numbers ("" = none), who (the audit trail's actor), repeat (1: post
 * it even when it repeats the last), the note, the repeat window (ms). Returns {-2} no
 * dossier, {-1} other dept, {-3, when} the same status and note posted less than the window
 * ago (a double click: nothing written, nothing sent); then the channel of the provider
 * template message ("" = none: ZNS goes before the phone channel for a citizen known by
 * phone) and that message (the notification's data:<channel>). Else {1, the status before,
 * ids...}: one notification per recipient (ARGV 17 on: channel / user pairs, event_rcpt_lua's,
 * whose message log entries are written before), on the partition's due set. */
static const char event_lua[] =
    "if redis.call('EXISTS',KEYS[1])==0 then return {-2} end\n"
    "if redis.call('HGET',KEYS[1],'dept')~=ARGV[1] then return {-1} end\n"
    "local was=redis.call('HGET',KEYS[1],'status') or ''\n"
    "local last=redis.call('HMGET',KEYS[1],'last_note','status_ms')\n"
    "if ARGV[12]~='1' and was==ARGV[2] and (last[1] or '')==ARGV[13] and\n"
    "  tonumber(ARGV[6])-(tonumber(last[2]) or 0)<tonumber(ARGV[14]) then\n"
    "  return {-3,tonumber(last[2])}\n"
    "end\n"
    "redis.call('HSET',KEYS[1],'status',ARGV[2],'status_text',ARGV[3],'updated',ARGV[4],\n"
    "  'updated_by',ARGV[11],'last_note',ARGV[13],'status_ms',ARGV[6])\n"
    "redis.call('RPUSH',KEYS[2],ARGV[5])\n"
    "local rc={} for i=17,#ARGV-1,2 do rc[#rc+1]={ARGV[i],ARGV[i+1]} end\n"
    "local pc=ARGV[10]\n"
    "local out={1,was}\n"
    "for i,r in ipairs(rc) do\n"
    "  local id=ARGV[7]..'-'..i\n"
    "  local to\n"
    "  if r[1]==pc then to=cjson.encode({phone=r[2]})\n"
    "  else to=cjson.encode({channel=r[1],user_id=r[2]}) end\n"
    "  local chs=r[1]\n"
    "  if r[1]==pc then\n"
    "    local o=redis.call('HGET',KEYS[4],pc..':'..r[2])\n"
    "    if not o then o=ARGV[15]~='' and ARGV[15]..','..pc or pc end\n"
    "    local t={}\n"
    "    for c in string.gmatch(o,'[^,]+') do\n"
    "      if c==pc or (c==ARGV[15] and ARGV[15]~='') then t[#t+1]=c end\n"
    "    end\n"
    "    chs=#t>0 and table.concat(t,',') or pc\n"
    "  end\n"
    "  redis.call('HSET',K.notif(id),'dept',ARGV[1],'status','scheduled','text',ARGV[8],\n"
    "    'to',to,'channels',chs,'idx','0','send_at_ms',ARGV[6],'not_after_ms','0',\n"
    "    'priority','normal','created_ms',ARGV[6],'dossier',ARGV[9])\n"
    "  if ARGV[15]~='' and string.find(','..chs..',',','..ARGV[15]..',',1,true) then\n"
    "    redis.call('HSET',K.notif(id),'data:'..ARGV[15],ARGV[16])\n"
    "  end\n"
    "  redis.call('ZADD',K.due(),ARGV[6],id)\n"
    "  out[#out+1]=id\n"
    "end\n"
    "return out\n";

/* Read-only, KEYS as event_lua's; ARGV dept, the channel of phone numbers ("" = none), status,
 * note, now_ms, repeat (1/0), the repeat window (ms). Who a status event notifies: {1, channel,
 * user, ...} — each subscriber once, then the dossier's phone unless it subscribed — or
 * event_lua's refusals ({-2}, {-1}, {-3, when}) before anything is written. GET
 * /dossiers/{code} lists the same recipients (notify_list): keep them in step. */
static const char event_rcpt_lua[] =
    "if redis.call('EXISTS',KEYS[1])==0 then return {-2} end\n"
    "if redis.call('HGET',KEYS[1],'dept')~=ARGV[1] then return {-1} end\n"
    "local h=redis.call('HMGET',KEYS[1],'status','last_note','status_ms','phone')\n"
    "if ARGV[6]~='1' and (h[1] or '')==ARGV[3] and (h[2] or '')==ARGV[4] and\n"
    "  tonumber(ARGV[5])-(tonumber(h[3]) or 0)<tonumber(ARGV[7]) then\n"
    "  return {-3,tonumber(h[3])}\n"
    "end\n"
    "local out,seen={1},{}\n"
    "for _,m in ipairs(redis.call('SMEMBERS',KEYS[3])) do\n"
    "  local c,u=string.match(m,'^([^:]+):(.+)$')\n"
    "  if c and not seen[m] then seen[m]=true out[#out+1]=c out[#out+1]=u end\n"
    "end\n"
    "local ph,pc=h[4],ARGV[2]\n"
    "if pc~='' and ph and ph~='' and not seen[pc..':'..ph] then out[#out+1]=pc out[#out+1]=ph end\n"
    "return out\n";

/* KEYS[1] dossier, KEYS[2] history, KEYS[3] subscribers. {-2} none, else {1, hash
 * pairs, history, subscribers}. */
static const char get_dossier_lua[] =
    "local h=redis.call('HGETALL',KEYS[1])\n"
    "if #h==0 then return {-2} end\n"
    "return {1,h,redis.call('LRANGE',KEYS[2],0,-1),redis.call('SMEMBERS',KEYS[3])}\n";

/* KEYS[1] the department's index; ARGV q (upper case, "" = all), limit, scan cap. The
 * codes containing q, most recently changed first. */
static const char list_lua[] =
    "local out,pos,lim,cap={},0,tonumber(ARGV[2]),tonumber(ARGV[3])\n"
    "while #out<lim and pos<cap do\n"
    "  local codes=redis.call('ZREVRANGE',KEYS[1],pos,pos+199)\n"
    "  if #codes==0 then break end\n"
    "  for _,c in ipairs(codes) do\n"
    "    if #out>=lim then break end\n"
    "    if ARGV[1]=='' or string.find(c,ARGV[1],1,true) then out[#out+1]=c end\n"
    "  end\n"
    "  pos=pos+200\n"
    "end\n"
    "return out\n";

/* ---------------------------------------------------------------- answers */

/* The fields of a PUT body. */
typedef struct put_fields {
    const char *proc, *status, *st_text, *phone, *exp; /* borrowed; phone and exp may be NULL */
} put_fields;

static void other_department(gw_api_op *o) {
    gw_api_fail(o->rq, 403, "forbidden", NULL, "dossier %s belongs to another department", o->code);
}

static void on_put(gw_api_op *o, const redisReply *r) {
    long long head = r->element[0]->integer;
    if (head < 0) {
        other_department(o);
        return;
    }
    const char *was =
        r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING && *r->element[1]->str
            ? r->element[1]->str
            : NULL;
    const put_fields *f = o->res;
    char masked[MASKED_MAX] = "";
    if (f->phone)
        gw_mask_pii(f->phone, strlen(f->phone), masked, sizeof masked);
    gw_log(GW_INFO, "admin.dossier_put", "{s:s, s:s, s:s, s:b}", "dept", o->dept, "code", o->code,
           "status", o->note, "created", head == 0);
    gw_audit_op(o, head == 0 ? "dossier.create" : "dossier.replace", o->code,
                json_pack("{s:o, s:s, s:s?}", "status", gw_audit_change(was, o->note), "procedure",
                          f->proc, "phone", f->phone ? masked : NULL));
    gw_api_answer(
        o->rq, head == 0 ? 201 : 200,
        json_pack("{s:s, s:s, s:b}", "code", o->code, "status", o->note, "created", head == 0));
}

static void on_event(gw_api_op *o, const redisReply *r) {
    long long head = r->element[0]->integer;
    if (head == -2) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no dossier %s", o->code);
        return;
    }
    if (head == -1) {
        other_department(o);
        return;
    }
    if (head == -3) {
        char at[GW_API_TIME_MAX];
        gw_api_format_time(o->api,
                           r->elements > 1 && r->element[1]->type == REDIS_REPLY_INTEGER
                               ? r->element[1]->integer
                               : o->now,
                           at, sizeof at);
        gw_api_fail(o->rq, 409, "repeated", "status",
                    "dossier %s got the status %s with the same note at %s, less than a minute "
                    "ago; nothing was sent. Send \"repeat\": true to post it again",
                    o->code, o->note, at);
        return;
    }
    json_t *ids = json_array();
    for (size_t i = 2; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            json_array_append_new(ids, json_stringn(r->element[i]->str, r->element[i]->len));
    const char *was =
        r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING && *r->element[1]->str
            ? r->element[1]->str
            : NULL;
    gw_log(GW_INFO, "admin.dossier_event", "{s:s, s:s, s:s, s:I}", "dept", o->dept, "code", o->code,
           "status", o->note, "notifications", (json_int_t)json_array_size(ids));
    gw_audit_op(o, "dossier.event", o->code,
                json_pack("{s:o, s:I}", "status", gw_audit_change(was, o->note), "notifications",
                          (json_int_t)json_array_size(ids)));
    gw_api_answer(
        o->rq, 202,
        json_pack("{s:s, s:s, s:o}", "code", o->code, "status", o->note, "notifications", ids));
}

static int cmp_reply_str(const void *a, const void *b) {
    const redisReply *x = *(const redisReply *const *)a, *y = *(const redisReply *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Who a status event would notify (event_lua's order, members sorted): the
 * subscribers of the dossier, then its phone by SMS unless already among them.
 * Masked: a department sees the channels, never the raw ids. */
static json_t *notify_list(const redisReply *subs, const char *phone) {
    json_t *out = json_array();
    size_t n = subs && subs->type == REDIS_REPLY_ARRAY ? subs->elements : 0;
    const redisReply **m = n ? calloc(n, sizeof *m) : NULL;
    size_t k = 0;
    for (size_t i = 0; m && i < n; i++)
        if (subs->element[i]->type == REDIS_REPLY_STRING)
            m[k++] = subs->element[i];
    if (k)
        qsort(m, k, sizeof *m, cmp_reply_str);
    bool phone_seen = false;
    for (size_t i = 0; i < k; i++) {
        const char *s = m[i]->str, *colon = memchr(s, ':', m[i]->len);
        if (!colon || colon == s || (size_t)(colon - s) >= CHANNEL_MAX ||
            colon + 1 == s + m[i]->len)
            continue;
        const char *uid = colon + 1;
        size_t ulen = m[i]->len - (size_t)(uid - s);
        char ch[CHANNEL_MAX], masked[MASKED_MAX];
        snprintf(ch, sizeof ch, "%.*s", (int)(colon - s), s);
        if (gw_channel_phone_recipient(ch)) {
            gw_mask_pii(uid, ulen, masked, sizeof masked);
            if (phone && strlen(phone) == ulen && !memcmp(phone, uid, ulen))
                phone_seen = true;
        } else
            gw_api_mask_id(uid, ulen, masked, sizeof masked);
        json_array_append_new(out, json_pack("{s:s, s:s}", "channel", ch, "to", masked));
    }
    free(m);
    const char *by_phone = gw_channel_for_phone();
    if (phone && *phone && !phone_seen && by_phone) {
        char masked[MASKED_MAX];
        gw_mask_pii(phone, strlen(phone), masked, sizeof masked);
        json_array_append_new(out, json_pack("{s:s, s:s}", "channel", by_phone, "to", masked));
    }
    return out;
}

static void on_get_dossier(gw_api_op *o, const redisReply *r) {
    if (r->element[0]->integer == -2 || r->elements < 4) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no dossier %s", o->code);
        return;
    }
    redisReply *h = r->element[1], *hist = r->element[2];
    json_t *d = json_object();
    json_object_set_new(d, "code", json_string(o->code));
    const char *dept = "", *phone = NULL;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        redisReply *k = h->element[i], *v = h->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(k->str, "dept"))
            dept = v->str;
        else if (!strcmp(k->str, "phone"))
            phone = v->str;
        json_object_set_new(d, k->str, json_stringn(v->str, v->len));
    }
    if (strcmp(dept, o->dept)) {
        json_decref(d);
        other_department(o);
        return;
    }
    json_object_set_new(d, "history", gw_api_json_list(hist));
    json_object_set_new(d, "notify", notify_list(r->element[3], phone));
    gw_api_answer(o->rq, 200, d);
}

/* GET /dossiers: the index (the department's partition) names the codes, then each
 * dossier is read in its own partition; codes of another department or gone are
 * skipped (the index is written before the dossier, see index_then). */
static const char *const list_fields[] = {"procedure", "status", "status_text", "updated"};

static void list_build(gw_api_op *o, size_t i, gw_argv *av) {
    const char *code = json_string_value(json_array_get(json_object_get(o->keep, "codes"), i));
    gw_argv_adds(av, "HMGET");
    gw_api_add_key(av, o->api, GW_K_DOSSIER, code, code);
    gw_argv_adds(av, "dept");
    for (size_t k = 0; k < MC_ARRAY_LEN(list_fields); k++)
        gw_argv_adds(av, list_fields[k]);
}

static void list_each(gw_api_op *o, size_t i, const redisReply *r) {
    json_t *list = json_object_get(o->keep, "dossiers");
    if (r->elements != 1 + MC_ARRAY_LEN(list_fields) || (long)json_array_size(list) >= o->n ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, o->dept))
        return;
    json_t *d = json_pack("{s:O}", "code", json_array_get(json_object_get(o->keep, "codes"), i));
    for (size_t k = 0; d && k < MC_ARRAY_LEN(list_fields); k++) {
        const redisReply *v = r->element[1 + k];
        json_object_set_new(d, list_fields[k],
                            v->type == REDIS_REPLY_STRING ? json_stringn(v->str, v->len)
                                                          : json_string(""));
    }
    json_array_append_new(list, d);
}

static void list_done(gw_api_op *o) {
    gw_api_answer(o->rq, 200, json_pack("{s:O}", "dossiers", json_object_get(o->keep, "dossiers")));
}

static void on_list(gw_api_op *o, const redisReply *r) {
    json_t *codes = json_array();
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            json_array_append_new(codes, json_stringn(r->element[i]->str, r->element[i]->len));
    o->keep = json_pack("{s:o, s:[]}", "codes", codes, "dossiers");
    if (!o->keep) {
        gw_api_oom(o->rq);
        return;
    }
    gw_api_op_steps(o, json_array_size(codes), GW_API_ARRAY, list_build, list_each, list_done);
}

/* ---------------------------------------------------------------- handlers */

void gw_dossiers_list(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    size_t qlen;
    const char *qs = gw_req_query(rq, &qlen);
    char q[GW_API_CODE_MAX + 1] = "";
    long limit;
    int rc = gw_api_query(qs, qlen, "q", q, sizeof q);
    if (rc && rc != MC_ENOTFOUND) {
        gw_api_fail(rq, 400, "bad_field", "q", "q is at most %d bytes of a dossier code",
                    GW_API_CODE_MAX);
        return;
    }
    if (gw_api_query_count(rq, "limit", LIST_LIMIT_DEF, LIST_LIMIT_MAX, &limit, "limit is 1..%d",
                           LIST_LIMIT_MAX))
        return;
    for (char *p = q; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    gw_api_op *o = gw_api_op_new(a, rq, t);
    if (!o)
        return;
    o->n = limit;
    gw_argv av = GW_API_EVAL(a, list_lua, 1);
    gw_api_add_dept_key(&av, a, GW_K_DOSSIERS, o->dept);
    gw_argv_adds(&av, q);
    gw_argv_addf(&av, "%ld", limit + limit / 2 + 1); /* room for codes skipped */
    gw_argv_adds(&av, LIST_SCAN_MAX);
    gw_api_op_send(o, &av, GW_API_ARRAY, on_list);
}

/* /api/v1/dossiers/{code}[/events] → code (upper-cased) and whether /events. 0,
 * or MC_EINVAL once answered (404 for another path, 400 for a bad code). */
static int dossier_path(gw_req *rq, char *code, bool *events) {
    const char *p = gw_api_path_rest(rq, GW_API_PREFIX "dossiers/");
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    *events = false;
    if (slash) {
        if (strcmp(slash, "/events")) {
            gw_api_fail(rq, 404, "not_found", NULL, "no such path");
            return MC_EINVAL;
        }
        *events = true;
    }
    if (len > 0 && len <= GW_API_CODE_MAX) {
        for (size_t i = 0; i < len; i++)
            code[i] = (char)toupper((unsigned char)p[i]);
        code[len] = '\0';
        if (gw_api_code_ok(code, len))
            return 0;
    }
    gw_api_fail(rq, 400, "bad_code", "code",
                "the dossier code is not of the form 000.00.25.H29-231122-0001");
    return MC_EINVAL;
}

/* The keys of a dossier that the event and GET scripts take first: its hash,
 * its history and its subscribers (the partition of its code). */
static void dossier_keys(gw_argv *av, const gw_api *a, const char *code) {
    gw_api_add_key(av, a, GW_K_DOSSIER, code, code);
    gw_api_add_key(av, a, GW_K_HISTORY, code, code);
    gw_api_add_key(av, a, GW_K_SUB_DOSSIER, code, code);
}

/*
 * The department's index first (its own partition): the code with the time of the
 * change (xx: only a code already listed, as an event's), then next(o) writes the
 * dossier. In that order a crash in between leaves an index entry ahead of the dossier
 * (listed with its old state, or skipped), never a dossier missing from the index.
 */
static void on_indexed(gw_api_op *o, const redisReply *r) {
    (void)r;
    o->next(o);
}

static void index_then(gw_api_op *o, bool xx, gw_api_next_fn *next) {
    gw_argv av = {0};
    gw_argv_adds(&av, "ZADD");
    gw_api_add_dept_key(&av, o->api, GW_K_DOSSIERS, o->dept);
    if (xx)
        gw_argv_adds(&av, "XX");
    gw_argv_addf(&av, "%" PRId64, o->now);
    gw_argv_adds(&av, o->code);
    o->next = next;
    gw_api_op_send(o, &av, GW_API_INT, on_indexed);
}

static int check_put(gw_api_op *o, gw_api_err *e) {
    static const char *const allowed[] = {"procedure", "status", "phone", "expected_at", NULL};
    const json_t *b = o->body;
    put_fields *f = o->res;
    size_t plen = 0, elen = 0;
    if (gw_api_only_fields(e, b, allowed, "", GW_API_CUT) ||
        gw_api_str_field(e, b, "procedure", "procedure", GW_API_ID_MAX, true, &f->proc, NULL) ||
        gw_api_str_field(e, b, "status", "status", GW_API_ID_MAX, true, &f->status, NULL) ||
        gw_api_str_field(e, b, "phone", "phone", PHONE_FIELD_MAX, false, &f->phone, &plen) ||
        gw_api_str_field(e, b, "expected_at", "expected_at", DATE_FIELD_MAX, false, &f->exp, &elen))
        return MC_EINVAL;
    if (!gw_shared_procedure_ok(gw_api_data(o->api), f->proc))
        return gw_api_err_set(e, 400, "bad_field", "procedure", "unknown procedure \"%s\"",
                              f->proc);
    if (!(f->st_text = gw_statuses_text(gw_api_statuses(o->api), f->status)))
        return gw_api_err_set(e, 400, "bad_field", "status", "unknown status \"%s\"", f->status);
    if (f->phone && !gw_api_phone_ok(f->phone, plen))
        return gw_api_err_set(e, 400, "bad_field", "phone",
                              "phone must be a Vietnamese mobile in E.164 (+84 and 9 digits)");
    if (f->exp && !gw_api_date_ok(f->exp, elen))
        return gw_api_err_set(e, 400, "bad_field", "expected_at",
                              "expected_at must be a date YYYY-MM-DD");
    return 0;
}

static void put_write(gw_api_op *o) {
    const put_fields *f = o->res;
    const char *code = o->code;
    char updated[GW_API_TIME_MAX], by[GW_API_ACTOR_MAX];
    gw_api_format_time(o->api, o->now, updated, sizeof updated);
    gw_api_token_actor(o->t, by, sizeof by);
    gw_argv av = GW_API_EVAL(o->api, put_lua, 1);
    gw_api_add_key(&av, o->api, GW_K_DOSSIER, code, code);
    gw_argv_adds(&av, o->dept);
    const char *kv[] = {"dept",        o->dept,
                        "procedure",   f->proc,
                        "status",      f->status,
                        "status_text", f->st_text,
                        "phone",       f->phone ? f->phone : "",
                        "expected_at", f->exp ? f->exp : "",
                        "updated",     updated,
                        "agency",      o->dept,
                        "updated_by",  by};
    for (size_t i = 0; i < MC_ARRAY_LEN(kv); i++)
        gw_argv_adds(&av, kv[i]);
    gw_api_op_send(o, &av, GW_API_STATUS, on_put);
}

static void dossier_put(gw_api_op *o, const char *code) {
    (void)code; /* in o->code */
    snprintf(o->note, sizeof o->note, "%s", ((const put_fields *)o->res)->status);
    index_then(o, false, put_write);
}

const gw_api_body_check gw_dossier_body = {"dossier", sizeof(put_fields), NULL, check_put};

/* The fields of an event body, and what the department's dossier_status template made of
 * them (admin-api.md, "Templates and ZNS"). */
typedef struct event_fields {
    const char *status, *st_text, *note; /* borrowed; note may be NULL */
    char *proc;                          /* owned: the dossier's procedure (its name), or NULL */
    char *text;                          /* owned: the template's text, or NULL (statuses.txt's) */
    gw_api_message msg;                  /* tpl_ch, tpl_msg: its provider message (ZNS), or none */
    bool repeat;                         /* "repeat": true: a repeat that is meant */
} event_fields;

static void event_clear(void *res) {
    event_fields *f = res;
    free(f->proc);
    free(f->text);
    free(f->msg.tpl_msg);
}

static int check_event(gw_api_op *o, gw_api_err *e) {
    static const char *const allowed[] = {"status", "note", "repeat", NULL};
    event_fields *f = o->res;
    if (gw_api_only_fields(e, o->body, allowed, "", GW_API_CUT) ||
        gw_api_str_field(e, o->body, "status", "status", GW_API_ID_MAX, true, &f->status, NULL) ||
        gw_api_str_field(e, o->body, "note", "note", NOTE_MAX, false, &f->note, NULL))
        return MC_EINVAL;
    json_t *rep = json_object_get(o->body, "repeat");
    if (rep && !json_is_boolean(rep))
        return gw_api_err_set(e, 400, "bad_field", "repeat", "repeat is true or false");
    f->repeat = json_is_true(rep);
    if (!(f->st_text = gw_statuses_text(gw_api_statuses(o->api), f->status)))
        return gw_api_err_set(e, 400, "bad_field", "status", "unknown status \"%s\"", f->status);
    return 0;
}

const gw_api_body_check gw_dossier_event_body = {"dossier event", sizeof(event_fields), event_clear,
                                                 check_event};

/* The name of a procedure id (the catalog's), or the id when the catalog has none. */
static const char *procedure_name(const gw_api *a, const char *id) {
    const gw_shared *sh = gw_api_data(a);
    for (size_t i = 0; sh && i < gw_shared_procedure_count(sh); i++)
        if (!strcmp(gw_shared_procedure_id(sh, i), id))
            return gw_shared_procedure_name(sh, i);
    return id;
}

static void event_recipients(gw_api_op *o);

/*
 * The department's dossier_status template came (nil: it has none; the text stays
 * statuses.txt's): its text, and its provider message when it is linked to one (ZNS),
 * with code, procedure, status, note and date. A template that cannot make them for this
 * event (a value longer than the provider allows...) does not hold the status change up:
 * the event goes with statuses.txt's text, or without the provider message, and the
 * log says why.
 */
static void on_event_tpl(gw_api_op *o, const redisReply *r) {
    event_fields *f = o->res;
    if (r->type != REDIS_REPLY_STRING) {
        event_recipients(o);
        return;
    }
    char at[GW_API_TIME_MAX], date[16] = "";
    gw_api_format_time(o->api, o->now, at, sizeof at);
    if (strlen(at) >= 10) /* "YYYY-MM-DD..." → "DD/MM/YYYY", as dates are written in Vietnam */
        snprintf(date, sizeof date, "%.2s/%.2s/%.4s", at + 8, at + 5, at);
    json_t *data =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "code", o->code, "procedure", f->proc ? f->proc : "",
                  "status", f->st_text, "note", f->note ? f->note : "", "date", date);
    gw_api_err e = {0};
    if (!data) {
        gw_api_oom(o->rq);
        return;
    }
    if (gw_templates_render(r, data, &f->text, &e) ||
        gw_templates_provider(r, data, "", &f->msg, &e)) {
        if (e.status >= 500) {
            json_decref(data);
            gw_api_fail_err(o->rq, &e);
            return;
        }
        gw_log(GW_WARN, "admin.dossier_template", "{s:s, s:s, s:s, s:s}", "dept", o->dept, "code",
               o->code, "template", GW_API_STATUS_TPL, "error", e.message);
        free(f->msg.tpl_msg);
        f->msg.tpl_msg = NULL;
        f->msg.tpl_ch = NULL;
    }
    json_decref(data);
    event_recipients(o);
}

/* The dossier's procedure came (its own partition): the department's template next. */
static void on_event_proc(gw_api_op *o, const redisReply *r) {
    event_fields *f = o->res;
    if (r->type == REDIS_REPLY_STRING && r->len &&
        !(f->proc = strdup(procedure_name(o->api, r->str)))) {
        gw_api_oom(o->rq);
        return;
    }
    gw_templates_fetch_use(o, GW_API_STATUS_TPL, on_event_tpl);
}

/* An event's text and provider message may come from the department's template: the
 * dossier's procedure is read for it first (a missing dossier is the event script's 404). */
static void event_prepare(gw_api_op *o) {
    gw_argv av = {0};
    gw_argv_adds(&av, "HGET");
    gw_api_add_key(&av, o->api, GW_K_DOSSIER, o->code, o->code);
    gw_argv_adds(&av, "procedure");
    gw_api_op_send(o, &av, GW_API_ANY, on_event_proc);
}

static void event_write(gw_api_op *o) {
    const gw_statuses *st = gw_api_statuses(o->api);
    const event_fields *f = o->res;
    const char *code = o->code;
    const char *note = f->note ? f->note : "";
    const char *by_phone = gw_channel_for_phone();
    char at[GW_API_TIME_MAX], text[GW_API_TEXT_MAX + 1], base[2 * EVENT_BASE_BYTES + 16],
        nowbuf[24], by[GW_API_ACTOR_MAX];
    gw_api_token_actor(o->t, by, sizeof by);
    gw_api_format_time(o->api, o->now, at, sizeof at);
    if (f->text)
        snprintf(text, sizeof text, "%s", f->text); /* the template's: at most GW_API_TEXT_MAX */
    else
        render(f->note && *st->tpl_event_note ? st->tpl_event_note : st->tpl_event, code,
               f->st_text, note, text, sizeof text);
    /* the provider template channel (ZNS) goes before the channel of phone numbers for a
     * citizen known by phone when it is on: cheaper than an SMS */
    const gw_app *app = gw_api_app(o->api);
    const char *tch =
        f->msg.tpl_ch && f->msg.tpl_msg && (!app || gw_channel_enabled(app->cfg, f->msg.tpl_ch))
            ? f->msg.tpl_ch
            : "";
    snprintf(base, sizeof base, "%s", json_string_value(json_object_get(o->keep, "base")));
    snprintf(nowbuf, sizeof nowbuf, "%" PRId64, o->now);
    /* by: the officer or key that made the change, shown with the history */
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "status", f->status, "status_text",
                           f->st_text, "note", note, "at", at, "dept", o->dept, "by", by);
    char *evs = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!evs) {
        gw_api_oom(o->rq);
        return;
    }
    gw_argv av = GW_API_EVAL(o->api, event_lua, 4);
    dossier_keys(&av, o->api, code);
    gw_api_add_key(&av, o->api, GW_K_SUB_CHANS, code, code);
    const char *args[] = {o->dept,    f->status,
                          f->st_text, at,
                          evs,        nowbuf,
                          base,       text,
                          code,       by_phone ? by_phone : "",
                          by,         f->repeat ? "1" : "0",
                          note};
    for (size_t i = 0; i < MC_ARRAY_LEN(args); i++)
        gw_argv_adds(&av, args[i]);
    gw_argv_addf(&av, "%d", GW_REPEAT_WINDOW_MS);
    gw_argv_adds(&av, tch);
    gw_argv_adds(&av, *tch ? f->msg.tpl_msg : "");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o->keep, "rc"), i, v) {
        gw_argv_adds(&av, json_string_value(v));
    }
    gw_api_op_send(o, &av, GW_API_STATUS, on_event);
    free(evs);
}

/* Who the event notifies is known: their ids (<partition of the code>-<hex>-<n>, the
 * notifications live with the dossier), each entered in its recipient's message log, then
 * the event. A refusal (no dossier, another department's, a repeat) answers as the write's. */
static void on_event_rcpt(gw_api_op *o, const redisReply *r) {
    if (r->element[0]->integer < 0) {
        on_event(o, r);
        return;
    }
    const char *by_phone = gw_channel_for_phone();
    char hex[2 * EVENT_BASE_BYTES + 1], base[2 * EVENT_BASE_BYTES + 16];
    char id[2 * EVENT_BASE_BYTES + 40];
    gw_api_random_hex(hex, EVENT_BASE_BYTES);
    snprintf(base, sizeof base, "%u-%s", gw_api_part_of(o->api, o->code), hex);
    json_t *rc = json_array();
    json_decref(o->keep);
    o->keep = json_pack("{s:s, s:o}", "base", base, "rc", rc);
    if (!o->keep) {
        gw_api_oom(o->rq);
        return;
    }
    for (size_t k = 1, n = 1; k + 1 < r->elements; k += 2) {
        const redisReply *c = r->element[k], *u = r->element[k + 1];
        if (c->type != REDIS_REPLY_STRING || u->type != REDIS_REPLY_STRING)
            continue;
        json_array_append_new(rc, json_string(c->str));
        json_array_append_new(rc, json_string(u->str));
        snprintf(id, sizeof id, "%s-%zu", base, n++);
        json_t *to = by_phone && !strcmp(c->str, by_phone)
                         ? json_pack("{s:s}", "phone", u->str)
                         : json_pack("{s:s, s:s}", "channel", c->str, "user_id", u->str);
        gw_msglog_note(o, to, id, o->now);
        json_decref(to);
    }
    gw_msglog_then(o, event_write);
}

static void event_recipients(gw_api_op *o) {
    const event_fields *f = o->res;
    const char *by_phone = gw_channel_for_phone();
    gw_argv av = GW_API_EVAL(o->api, event_rcpt_lua, 3);
    dossier_keys(&av, o->api, o->code);
    gw_argv_adds(&av, o->dept);
    gw_argv_adds(&av, by_phone ? by_phone : "");
    gw_argv_adds(&av, f->status);
    gw_argv_adds(&av, f->note ? f->note : "");
    gw_argv_addf(&av, "%" PRId64, o->now);
    gw_argv_adds(&av, f->repeat ? "1" : "0");
    gw_argv_addf(&av, "%d", GW_REPEAT_WINDOW_MS);
    gw_api_op_send(o, &av, GW_API_STATUS, on_event_rcpt);
}

static void dossier_event(gw_api_op *o, const char *code) {
    (void)code; /* in o->code */
    snprintf(o->note, sizeof o->note, "%s", ((const event_fields *)o->res)->status);
    index_then(o, true, event_prepare);
}

static void dossier_get(gw_api_op *o, const char *code) {
    gw_argv av = GW_API_EVAL(o->api, get_dossier_lua, 3);
    dossier_keys(&av, o->api, code);
    gw_api_op_send(o, &av, GW_API_STATUS, on_get_dossier);
}

void gw_dossiers_item(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    char code[GW_API_CODE_MAX + 1];
    bool events;
    const char *m = gw_req_method(rq);
    void (*run)(gw_api_op * o, const char *code);
    gw_api_op *o;
    if (dossier_path(rq, code, &events))
        return;
    if ((!strcmp(m, "GET") || !strcmp(m, "HEAD")) && !events) {
        run = dossier_get;
        o = gw_api_op_new(a, rq, t);
    } else if (!strcmp(m, "PUT") && !events) {
        run = dossier_put;
        o = gw_api_op_checked(a, rq, t, sizeof(put_fields), NULL, check_put);
    } else if (!strcmp(m, "POST") && events) {
        run = dossier_event;
        o = gw_api_op_checked(a, rq, t, sizeof(event_fields), event_clear, check_event);
    } else {
        gw_api_fail(rq, 405, "method_not_allowed", NULL, "%s is not allowed on this path", m);
        return;
    }
    if (!o)
        return;
    snprintf(o->code, sizeof o->code, "%s", code);
    run(o, code);
}
