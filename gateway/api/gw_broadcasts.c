/*
 * gw_broadcasts.c — broadcasts: POST /broadcasts, GET and DELETE
 * /broadcasts/{id}, and POST /broadcasts/preview (a POST /broadcasts body,
 * judged the same, written nowhere).
 *
 * Big idea: a broadcast is recorded, not fanned out, here: a read-only script
 * per partition counts the distinct subscribers of the wards (or of their ward x
 * tag sets) on the channels addressed (a citizen lives in one partition: the
 * counts add up), then one script stores the record with those counts in the
 * broadcast's partition and queues it on that partition's bc_due; the fan-out
 * (gateway/dispatch/gw_fanout.c) spreads it over every partition later, and each
 * partition's bc_part notes its outcomes, which GET adds up into counts by status
 * and channel. The preview counts with the same script and shows each
 * channel's text as the sender would send it: for SMS, unaccented when [sms]
 * unaccented, through the SMS adapter's render (which may shorten it), with
 * its segments and cost; for Messenger, the parts a long text goes in.
 */
#include "gateway/api/gw_api_int.h"

#include "channels/ch.h"
#include "channels/webchat.h"
#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_log.h"
#include "gateway/app/gw_time.h"
#include "vi-nlp/vn_norm.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BC_ID_BYTES 16                  /* random bytes of a broadcast id (32 hex) */
#define TAGS_MAX (GW_API_MAX_TAGS * 40) /* the tags of one broadcast, comma-separated */
#define STATUS_NAME_MAX 32              /* a status in a counter field st:<status>:<channel> */
#define CHANNEL_MAX 16                  /* a channel name, with its NUL */
#define MS_PER_MINUTE 60000LL
#define MINUTES_PER_DAY 1440

/* One broadcast of POST /broadcasts (or of a preview), checked. */
typedef struct broadcast {
    gw_api_message msg;                           /* text or template, priority, key, times */
    char wards[GW_API_MAX_AREAS * GW_API_ID_MAX]; /* canonical ward ids, comma-separated */
    char channels[GW_API_CHANNELS_MAX];           /* channels addressed, comma-separated */
    char tags[TAGS_MAX];                          /* tags, comma-separated */
} broadcast;

static void bc_clear(void *p) {
    broadcast *b = p;
    free(b->msg.out_text);
    free(b->msg.tpl_msg);
}

/* ------------------------------------------------------------- scripts */

/* Read-only, on one partition: KEYS[1] any key of it (its bc_due); ARGV wards csv,
 * tags csv, channels csv. The distinct members of the partition's source sets — each
 * ward's subscribers (sub_ward), or with tags each ward x tag set (sub_ward_tag), the
 * fan-out's list — whose channel is addressed: {n, ch, count, ...} with every channel
 * addressed. A citizen lives in one partition, so the partitions' counts add up. */
static const char bc_count_lua[] =
    "local want={} for c in string.gmatch(ARGV[3],'[^,]+') do want[c]=0 end\n"
    "local seen,n={},0\n"
    "for w in string.gmatch(ARGV[1],'[^,]+') do\n"
    "  local src={}\n"
    "  if ARGV[2]=='' then src[1]=K.sub_ward(w) end\n"
    "  for t in string.gmatch(ARGV[2],'[^,]+') do src[#src+1]=K.sub_ward_tag(w,t) end\n"
    "  for _,k in ipairs(src) do\n"
    "    for _,m in ipairs(redis.call('SMEMBERS',k)) do\n"
    "      local c=string.match(m,'^([^:]+):')\n"
    "      if c and want[c] and not seen[m] then seen[m]=true n=n+1 want[c]=want[c]+1 end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local out={n}\n"
    "for c,k in pairs(want) do out[#out+1]=c out[#out+1]=k end\n"
    "return out\n";

/* KEYS[1] the broadcast (its partition), KEYS[2] idempotency key (optional); ARGV
 * "hash|id", ttl, send_at_ms, id, recipients, then field/value pairs. Stores the record
 * and queues the id on the partition's bc_due. {1, "hash|id", n}, or {0, stored
 * "hash|id", its n} for a known key. */
static const char bc_lua[] =
    "if #KEYS==2 then\n"
    "  if not redis.call('SET',KEYS[2],ARGV[1],'NX','EX',ARGV[2]) then\n"
    "    local v=redis.call('GET',KEYS[2]) local id=string.match(v,'|(.+)$') or ''\n"
    "    return {0,v,tonumber(redis.call('HGET',K.bc(id),'recipients') or '0')}\n"
    "  end\n"
    "end\n"
    "local a={'HSET',KEYS[1]} for i=6,#ARGV do a[#a+1]=ARGV[i] end\n"
    "redis.call(unpack(a))\n"
    "redis.call('ZADD',K.bc_due(),ARGV[3],ARGV[4])\n"
    "return {1,ARGV[1],tonumber(ARGV[5])}\n";

/* KEYS[1] the broadcast; ARGV dept, id, who cancels. -2 none, -1 other dept, 0 finished or
 * cancelled already, 1 cancelled: the fan-out stops (its text goes: nothing will copy it any
 * more), and the partitions follow (bc_cancel_part). */
static const char bc_cancel_lua[] =
    "if redis.call('EXISTS',KEYS[1])==0 then return -2 end\n"
    "if redis.call('HGET',KEYS[1],'dept')~=ARGV[1] then return -1 end\n"
    "local st=redis.call('HGET',KEYS[1],'status')\n"
    "if st~='scheduled' and st~='fanning' and st~='sending' then return 0 end\n"
    "redis.call('HSET',KEYS[1],'status','cancelled','cancelled_by',ARGV[3])\n"
    "redis.call('HDEL',KEYS[1],'text')\n"
    "redis.call('ZREM',K.bc_due(),ARGV[2])\n"
    "return 1\n";

/* KEYS[1] the broadcast's bc_part in one partition; ARGV id. Not fanned there yet, or
 * fanning, or sending: cancelled (a part not fanned yet is created cancelled, so the
 * fan-out skips it; its notifications not on their way are cancelled when they come
 * due); a partition that wrote no recipient lets go of its text copy (retention takes
 * the others' with their last recipient). A partition done stays done. */
static const char bc_cancel_part_lua[] =
    "if redis.call('HGET',KEYS[1],'status')=='done' then return 0 end\n"
    "redis.call('HSET',KEYS[1],'status','cancelled')\n"
    "if (tonumber(redis.call('HGET',KEYS[1],'fanned')) or 0)==0 then\n"
    "  redis.call('HDEL',KEYS[1],'text')\n"
    "end\n"
    "redis.call('DEL',K.bc_seen(ARGV[1]))\n"
    "return 1\n";

/* ---------------------------------------------------------- validation */

/*
 * Checks one string of an audience list and writes its canonical form: 0;
 * MC_ENOTFOUND for an unknown value; MC_EINVAL for a known one the token may
 * not address.
 */
typedef int item_fn(const gw_api *a, const gw_api_token *t, const char *s, char *canon, size_t n);

static int ward_item(const gw_api *a, const gw_api_token *t, const char *s, char *canon, size_t n) {
    const gw_ward *w = gw_shared_ward_find(gw_api_data(a), s);
    if (!w)
        return MC_ENOTFOUND;
    if (!gw_api_token_area_ok(t, w->id))
        return MC_EINVAL;
    snprintf(canon, n, "%s", w->id);
    return 0;
}

static int channel_item(const gw_api *a, const gw_api_token *t, const char *s, char *canon,
                        size_t n) {
    (void)a, (void)t;
    if (!gw_api_channel_known(s))
        return MC_ENOTFOUND;
    snprintf(canon, n, "%s", s);
    return 0;
}

static int tag_item(const gw_api *a, const gw_api_token *t, const char *s, char *canon, size_t n) {
    (void)a, (void)t;
    size_t len = strlen(s);
    if (len == 0 || len > GW_API_TAG_MAX || !gw_api_user_id_ok(s, len) || strchr(s, ','))
        return MC_ENOTFOUND;
    snprintf(canon, n, "%s", s);
    return 0;
}

/* The strings of a JSON array field, each checked by ok, into csv (canonical,
 * each once). 0 or MC_EINVAL with e (403 for an item outside the token's areas). */
static int csv_array(gw_api_err *e, const json_t *arr, const char *path, size_t max_items,
                     item_fn *ok, const gw_api *a, const gw_api_token *t, char *csv, size_t n) {
    size_t i;
    json_t *v;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > max_items)
        return gw_api_err_set(e, 400, "bad_field", path, "%s must be an array of 1..%zu strings",
                              path, max_items);
    json_array_foreach(arr, i, v) {
        char ip[64], canon[GW_API_ID_MAX + 2];
        snprintf(ip, sizeof ip, "%s[%zu]", path, i);
        const char *s = json_string_value(v);
        int rc = s ? ok(a, t, s, canon, sizeof canon) : MC_ENOTFOUND;
        if (rc == MC_EINVAL)
            return gw_api_err_set(e, 403, "forbidden", ip, "%s",
                                  "outside the areas of this department");
        if (rc)
            return gw_api_err_set(e, 400, "bad_field", ip, "%s", "unknown value");
        size_t cl = strlen(canon), used = strlen(csv);
        char probe[GW_API_ID_MAX + 4];
        snprintf(probe, sizeof probe, ",%s,", canon);
        char *with = malloc(used + 3);
        if (with) {
            snprintf(with, used + 3, ",%s,", csv);
            bool dup = strstr(with, probe) != NULL;
            free(with);
            if (dup)
                return gw_api_err_set(e, 400, "bad_field", ip, "listed twice");
        }
        if (used + cl + 2 > n)
            return gw_api_err_set(e, 400, "bad_field", path, "%s is too long", path);
        snprintf(csv + used, n - used, "%s%s", used ? "," : "", canon);
    }
    return 0;
}

/* The audience of a body: wards (403 outside the token's areas), channels
 * (default: all of them and the web chat), tags. */
static int parse_audience(const gw_api *a, const gw_api_token *t, const json_t *b, broadcast *bc,
                          gw_api_err *e) {
    static const char *const allowed[] = {"wards", "channels", "tags", NULL};
    json_t *aud = json_object_get(b, "audience");
    if (!json_is_object(aud))
        return gw_api_err_set(
            e, 400, aud ? "bad_field" : "missing_field", "audience",
            "audience must be {\"wards\": [...], \"channels\": [...], \"tags\": [...]}");
    if (gw_api_only_fields(e, aud, allowed, "audience.", GW_API_CUT) ||
        csv_array(e, json_object_get(aud, "wards"), "audience.wards", GW_API_MAX_AREAS, ward_item,
                  a, t, bc->wards, sizeof bc->wards))
        return MC_EINVAL;
    json_t *chs = json_object_get(aud, "channels");
    if (chs && csv_array(e, chs, "audience.channels", gw_channel_count() + 1, channel_item, a, t,
                         bc->channels, sizeof bc->channels))
        return MC_EINVAL;
    if (!chs) { /* every channel: the providers', then the web chat; not a channel of
                 * provider templates (ZNS): a broadcast's free text cannot go by it */
        char *c = bc->channels;
        for (size_t i = 0; i < gw_channel_count(); i++)
            if (!ch_adapter_at(i)->tpl_info_render)
                snprintf(c + strlen(c), sizeof bc->channels - strlen(c), "%s,", gw_channel_name(i));
        snprintf(c + strlen(c), sizeof bc->channels - strlen(c), "%s", WEBCHAT_CHANNEL);
    }
    json_t *tg = json_object_get(aud, "tags");
    if (tg && csv_array(e, tg, "audience.tags", GW_API_MAX_TAGS, tag_item, a, t, bc->tags,
                        sizeof bc->tags))
        return MC_EINVAL;
    return 0;
}

/* Checks a POST /broadcasts body for the token t; bc borrows from b. 0 or MC_EINVAL. */
static int bc_parse(const gw_api *a, const gw_api_token *t, const json_t *b, broadcast *bc,
                    gw_api_err *e) {
    static const char *const allowed[] = {"audience", "text",     "send_at",         "not_after",
                                          "priority", "template", "idempotency_key", NULL};
    if (gw_api_only_fields(e, b, allowed, "", GW_API_CUT) || parse_audience(a, t, b, bc, e) ||
        gw_api_message_fields(e, b, &bc->msg) || gw_api_message_times(e, b, &bc->msg))
        return MC_EINVAL;
    const gw_api_message *m = &bc->msg;
    if (m->not_after_ms && (m->not_after_ms <= m->send_at_ms || m->not_after_ms <= m->created_ms))
        return gw_api_err_set(e, 400, "bad_field", "not_after",
                              "not_after must be later than send_at and now");
    return 0;
}

static int bc_check(gw_api_op *o, gw_api_err *e) {
    return bc_parse(o->api, o->t, o->body, o->res, e);
}

const gw_api_body_check gw_broadcast_body = {"broadcast", sizeof(broadcast), bc_clear, bc_check};

/* The start of POST /broadcasts and the preview: the body checked into a
 * broadcast the op owns, then the text step, then next. */
static void bc_start(const gw_api *a, gw_req *rq, const gw_api_token *t, gw_api_next_fn *next) {
    gw_api_op *o = gw_api_op_checked(a, rq, t, sizeof(broadcast), bc_clear, bc_check);
    if (o)
        gw_templates_text(o, &((broadcast *)o->res)->msg, next);
}

/* ------------------------------------------------------------- counting */

/* The recipients of a broadcast (or preview): every partition counted in turn into
 * o->keep {"n": total, "by": {channel: count}}, then next. */
static void count_build(gw_api_op *o, size_t i, gw_argv *av) {
    const broadcast *b = o->res;
    *av = GW_API_EVAL(o->api, bc_count_lua, 1);
    gw_argv_addkey(av, gw_api_keys(o->api), GW_K_BC_DUE, (unsigned)i);
    gw_argv_adds(av, b->wards);
    gw_argv_adds(av, b->tags);
    gw_argv_adds(av, b->channels);
}

static void count_each(gw_api_op *o, size_t i, const redisReply *r) {
    (void)i;
    json_t *by = json_object_get(o->keep, "by");
    json_int_t n = json_integer_value(json_object_get(o->keep, "n"));
    if (r->elements && r->element[0]->type == REDIS_REPLY_INTEGER)
        n += r->element[0]->integer;
    json_object_set_new(o->keep, "n", json_integer(n));
    for (size_t k = 1; k + 1 < r->elements; k += 2) {
        const redisReply *c = r->element[k], *v = r->element[k + 1];
        if (c->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_INTEGER)
            continue;
        json_int_t had = json_integer_value(json_object_get(by, c->str));
        json_object_set_new(by, c->str, json_integer(had + v->integer));
    }
}

static void count_then(gw_api_op *o, gw_api_next_fn *next) {
    gw_api_op_parts(o, json_pack("{s:I, s:{}}", "n", (json_int_t)0, "by"), GW_API_STATUS,
                    count_build, count_each, next);
}

/* --------------------------------------------------------------- POST */

static void on_bc(gw_api_op *o, const redisReply *r) {
    char id[GW_API_NOTIF_ID_MAX + 1];
    bool fresh;
    if (r->elements != 3 || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[2]->type != REDIS_REPLY_INTEGER) {
        gw_api_fail(o->rq, 500, "internal", NULL, "unexpected store answer");
        return;
    }
    if (gw_api_idem_reply(o, r, id, &fresh))
        return;
    gw_log(GW_INFO, fresh ? "admin.broadcast" : "admin.broadcast_repeat", "{s:s, s:s, s:s, s:I}",
           "dept", o->dept, "id", id, "wards", o->note, "recipients",
           (json_int_t)r->element[2]->integer);
    if (fresh) {
        const broadcast *b = o->res;
        gw_audit_op(o, "broadcast.create", id,
                    json_pack("{s:s, s:s, s:s, s:s, s:I, s:O}", "wards", b->wards, "channels",
                              b->channels, "tags", b->tags, "priority", b->msg.priority,
                              "recipients", (json_int_t)r->element[2]->integer, "by_channel",
                              json_object_get(o->keep, "by")));
    }
    gw_api_answer(
        o->rq, 202,
        json_pack("{s:s, s:I}", "id", id, "recipients", (json_int_t)r->element[2]->integer));
}

/* Counted: one script records the broadcast in its partition. */
static void bc_record(gw_api_op *o) {
    broadcast *b = o->res;
    const gw_api_message *m = &b->msg;
    char hex[2 * BC_ID_BYTES + 1];
    gw_api_random_hex(hex, BC_ID_BYTES);
    unsigned part = m->idem_key ? gw_api_idem_part(o->api, o->dept, "bc:", m->idem_key)
                                : gw_api_part_of(o->api, hex);
    snprintf(o->id, sizeof o->id, "%u-%s", part, hex);
    /* for the log line; long lists are cut */
    snprintf(o->note, sizeof o->note, "%.*s", (int)sizeof o->note - 1, b->wards);
    json_int_t n = json_integer_value(json_object_get(o->keep, "n"));
    gw_argv av = GW_API_EVAL(o->api, bc_lua, m->idem_key ? 2 : 1);
    gw_argv_addkey(&av, gw_api_keys(o->api), GW_K_BC, part, o->id);
    if (m->idem_key)
        gw_api_add_idem_key(&av, o->api, part, o->dept, "bc:", m->idem_key);
    gw_argv_addf(&av, "%s|%s", o->hash, o->id);
    gw_argv_adds(&av, GW_API_IDEM_TTL_S);
    gw_argv_addf(&av, "%" PRId64, m->send_at_ms);
    gw_argv_adds(&av, o->id);
    gw_argv_addf(&av, "%" JSON_INTEGER_FORMAT, n);
    char by[GW_API_ACTOR_MAX];
    gw_api_token_actor(o->t, by, sizeof by);
    const char *kv[] = {"dept",     o->dept,     "status",     "scheduled", "text", m->out_text,
                        "wards",    b->wards,    "channels",   b->channels, "tags", b->tags,
                        "priority", m->priority, "created_by", by};
    for (size_t i = 0; i < MC_ARRAY_LEN(kv); i++)
        gw_argv_adds(&av, kv[i]);
    gw_argv_adds(&av, "send_at_ms");
    gw_argv_addf(&av, "%" PRId64, m->send_at_ms);
    gw_argv_adds(&av, "not_after_ms");
    gw_argv_addf(&av, "%" PRId64, m->not_after_ms);
    gw_argv_adds(&av, "created_ms");
    gw_argv_addf(&av, "%" PRId64, m->created_ms);
    gw_argv_adds(&av, "recipients");
    gw_argv_addf(&av, "%" JSON_INTEGER_FORMAT, n);
    const char *ch;
    json_t *v;
    json_object_foreach(json_object_get(o->keep, "by"), ch, v) {
        gw_argv_addf(&av, "count:%s", ch);
        gw_argv_addf(&av, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    }
    gw_api_op_send(o, &av, GW_API_STATUS, on_bc);
}

/* The text is known (given or rendered): count, then record. */
static void bc_write(gw_api_op *o) {
    if (gw_api_op_hash_body(o)) {
        gw_api_oom(o->rq);
        gw_api_op_free(o);
        return;
    }
    count_then(o, bc_record);
}

void gw_broadcasts_post(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    bc_start(a, rq, t, bc_write);
}

/* ------------------------------------------------------- GET and DELETE */

/* The counts of a broadcast record: by channel at creation (count:<ch>),
 * fanned out by the scheduler (fanned:<ch>) and settled (st:<status>:<ch>, its
 * GW_BC_NOTE_LUA); what has no outcome yet is scheduled (not fanned out yet, or
 * on its way); recipients never fanned out of a cancelled broadcast are
 * cancelled. Empty statuses are left out. */
static json_t *bc_counts(json_t *by_ch, json_t *fanned, json_t *counts, const char *status,
                         bool fan_done) {
    const char *ch;
    json_t *cv;
    json_object_foreach(fanned, ch, cv) {
        if (!json_object_get(by_ch, ch))
            json_object_set_new(by_ch, ch, json_integer(0));
    }
    bool cancelled = !strcmp(status, "cancelled");
    json_object_foreach(by_ch, ch, cv) {
        long long f = json_integer_value(json_object_get(fanned, ch));
        long long c = json_integer_value(cv);
        long long total = fan_done || f > c ? f : c, settled = 0;
        const char *sk;
        json_t *per;
        json_object_foreach(counts, sk, per) {
            settled += json_integer_value(json_object_get(per, ch));
        }
        long long rest = total - settled;
        if (cancelled && total > f) {
            json_t *cc = json_object_get(counts, "cancelled");
            if (!cc)
                json_object_set_new(counts, "cancelled", cc = json_object());
            json_object_set_new(
                cc, ch, json_integer(json_integer_value(json_object_get(cc, ch)) + total - f));
            rest -= total - f;
        }
        if (rest > 0 || !strcmp(status, "scheduled")) {
            json_t *sc = json_object_get(counts, "scheduled");
            if (!sc)
                json_object_set_new(counts, "scheduled", sc = json_object());
            json_object_set_new(sc, ch, json_integer(rest));
        }
    }
    const char *sk;
    json_t *per;
    void *tmp;
    json_object_foreach_safe(counts, tmp, sk, per) {
        if (json_object_size(per) == 0)
            json_object_del(counts, sk);
    }
    return counts;
}

/* Fields of the record that are numbers in the answer. */
static bool numeric_field(const char *k) {
    static const char *const names[] = {
        "recipients", "send_at_ms",     "not_after_ms", "created_ms",      "fanned",
        "finished",   "fan_started_ms", "fan_done_ms",  "text_removed_ms",
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(names); i++)
        if (!strcmp(k, names[i]))
            return true;
    return false;
}

/* Fields of the record the answer leaves out (the text, the fan-out's state). */
static bool hidden_field(const char *k) {
    static const char *const names[] = {"text", "cursor", "ward_idx", "scan_run", "stripped"};
    for (size_t i = 0; i < MC_ARRAY_LEN(names); i++)
        if (!strcmp(k, names[i]))
            return true;
    return false;
}

/* One hash into the answer being built (o->keep: d, by_ch, fanned, counts, and the
 * partitions' states): the broadcast's own (part false: its fields, count:<ch>) or one
 * partition's progress (its counters fanned, fanned:<ch>, st:<status>:<ch>, finished,
 * and its status). */
static void bump(json_t *o, const char *k, json_int_t n) {
    json_object_set_new(o, k, json_integer(json_integer_value(json_object_get(o, k)) + n));
}

static void absorb(json_t *keep, const redisReply *r, bool part) {
    bool with_recipients = false, text_removed = false;
    json_t *d = json_object_get(keep, "d"), *by_ch = json_object_get(keep, "by_ch");
    json_t *fanned = json_object_get(keep, "fanned"), *counts = json_object_get(keep, "counts");
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        redisReply *kr = r->element[i], *vr = r->element[i + 1];
        if (kr->type != REDIS_REPLY_STRING || vr->type != REDIS_REPLY_STRING)
            continue;
        long long n = strtoll(vr->str, NULL, 10);
        const char *colon = !strncmp(kr->str, "st:", 3) ? strchr(kr->str + 3, ':') : NULL;
        if (part) {
            if (!strcmp(kr->str, "status") &&
                (!strcmp(vr->str, "done") || !strcmp(vr->str, "cancelled")))
                bump(keep, "parts_done", 1);
            else if (!strcmp(kr->str, "text_removed"))
                text_removed = n == 1;
            else if (!strcmp(kr->str, "fanned")) {
                with_recipients = n > 0;
                bump(d, "fanned", n);
            } else if (!strcmp(kr->str, "fanned") || !strcmp(kr->str, "finished"))
                json_object_set_new(
                    d, kr->str, json_integer(json_integer_value(json_object_get(d, kr->str)) + n));
            else if (!strncmp(kr->str, "fanned:", 7))
                json_object_set_new(
                    fanned, kr->str + 7,
                    json_integer(json_integer_value(json_object_get(fanned, kr->str + 7)) + n));
            else if (colon) {
                char st[STATUS_NAME_MAX];
                snprintf(st, sizeof st, "%.*s", (int)(colon - kr->str - 3), kr->str + 3);
                json_t *per = json_object_get(counts, st);
                if (!per)
                    json_object_set_new(counts, st, per = json_object());
                json_int_t had = json_integer_value(json_object_get(per, colon + 1));
                if (n + had > 0)
                    json_object_set_new(per, colon + 1, json_integer(had + n));
            }
            continue;
        }
        if (!strcmp(kr->str, "dept"))
            json_object_set_new(keep, "dept", json_string(vr->str));
        else if (!strcmp(kr->str, "status"))
            json_object_set_new(keep, "status", json_string(vr->str));
        else if (!strcmp(kr->str, "fan_done_ms"))
            json_object_set_new(keep, "fan_done", json_true());
        if (!strncmp(kr->str, "count:", 6))
            json_object_set_new(by_ch, kr->str + 6, json_integer(n));
        else if (numeric_field(kr->str))
            json_object_set_new(d, kr->str, json_integer(n));
        else if (!hidden_field(kr->str))
            json_object_set_new(d, kr->str, json_stringn(vr->str, vr->len));
    }
    if (part && with_recipients) { /* the text is gone once every such copy is */
        bump(keep, "parts_with", 1);
        bump(keep, "parts_removed", text_removed);
    }
}

static void part_build(gw_api_op *o, size_t i, gw_argv *av) {
    gw_argv_adds(av, "HGETALL");
    gw_argv_addkey(av, gw_api_keys(o->api), GW_K_BC_PART, (unsigned)i, o->id);
}

static void part_each(gw_api_op *o, size_t i, const redisReply *r) {
    (void)i;
    absorb(o->keep, r, true);
}

/* Every partition read: the counts, and done once every partition is. */
static void get_done(gw_api_op *o) {
    json_t *k = o->keep, *d = json_object_get(k, "d");
    const char *status = json_string_value(json_object_get(k, "status"));
    if (!status)
        status = "";
    if (!strcmp(status, "sending") && json_integer_value(json_object_get(k, "parts_done")) >=
                                          (json_int_t)gw_keyspace_partitions(gw_api_keys(o->api)))
        status = "done";
    json_object_set_new(d, "status", json_string(status));
    json_int_t with = json_integer_value(json_object_get(k, "parts_with"));
    if (with && json_integer_value(json_object_get(k, "parts_removed")) >= with)
        json_object_set_new(d, "text_removed", json_true()); /* retention (gw_retention.c) */
    json_object_set_new(d, "counts",
                        bc_counts(json_object_get(k, "by_ch"), json_object_get(k, "fanned"),
                                  json_incref(json_object_get(k, "counts")), status,
                                  json_is_true(json_object_get(k, "fan_done"))));
    gw_api_answer(o->rq, 200, json_incref(d));
}

static void on_bc_get(gw_api_op *o, const redisReply *r) {
    if (r->elements == 0) {
        gw_api_fail(o->rq, 404, "not_found", NULL, "no broadcast %s", o->id);
        return;
    }
    json_t *keep = json_pack("{s:{s:s}, s:{}, s:{}, s:{}, s:I}", "d", "id", o->id, "by_ch",
                             "fanned", "counts", "parts_done", (json_int_t)0);
    if (keep)
        absorb(keep, r, false);
    const char *dept = json_string_value(json_object_get(keep, "dept"));
    if (keep && (!dept || strcmp(dept, o->dept))) {
        json_decref(keep);
        gw_api_fail(o->rq, 403, "forbidden", NULL, "broadcast %s belongs to another department",
                    o->id);
        return;
    }
    gw_api_op_parts(o, keep, GW_API_ARRAY, part_build, part_each, get_done);
}

static void cancel_build(gw_api_op *o, size_t i, gw_argv *av) {
    *av = GW_API_EVAL(o->api, bc_cancel_part_lua, 1);
    gw_argv_addkey(av, gw_api_keys(o->api), GW_K_BC_PART, (unsigned)i, o->id);
    gw_argv_adds(av, o->id);
}

static void cancel_each(gw_api_op *o, size_t i, const redisReply *r) {
    (void)o, (void)i, (void)r;
}

static void cancel_done(gw_api_op *o) {
    gw_log(GW_INFO, "admin.broadcast_cancelled", "{s:s, s:s}", "dept", o->dept, "id", o->id);
    gw_audit_op(o, "broadcast.cancel", o->id, NULL);
    gw_api_answer(o->rq, 200, json_pack("{s:s, s:s}", "id", o->id, "status", "cancelled"));
}

static void on_bc_cancel(gw_api_op *o, const redisReply *r) {
    if (r->integer == -2)
        gw_api_fail(o->rq, 404, "not_found", NULL, "no broadcast %s", o->id);
    else if (r->integer == -1)
        gw_api_fail(o->rq, 403, "forbidden", NULL, "broadcast %s belongs to another department",
                    o->id);
    else if (r->integer == 0)
        gw_api_fail(o->rq, 409, "conflict", NULL, "broadcast %s is no longer scheduled", o->id);
    else /* the partitions follow; a crash meanwhile: the sender still sees it cancelled */
        gw_api_op_parts(o, json_object(), GW_API_INT, cancel_build, cancel_each, cancel_done);
}

void gw_broadcasts_item(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    bool del = !strcmp(gw_req_method(rq), "DELETE");
    gw_api_op *o =
        gw_api_op_for_id(a, rq, t, GW_API_PREFIX "broadcasts/", GW_API_ID_NOTIF, "broadcast");
    if (!o)
        return;
    gw_argv av;
    if (del) {
        char by[GW_API_ACTOR_MAX];
        gw_api_token_actor(t, by, sizeof by);
        av = GW_API_EVAL(a, bc_cancel_lua, 1);
        gw_argv_addkey(&av, gw_api_keys(a), GW_K_BC, o->part, o->id);
        gw_argv_adds(&av, o->dept);
        gw_argv_adds(&av, o->id);
        gw_argv_adds(&av, by);
        gw_api_op_send(o, &av, GW_API_INT, on_bc_cancel);
    } else {
        av = (gw_argv){0};
        gw_argv_adds(&av, "HGETALL");
        gw_argv_addkey(&av, gw_api_keys(a), GW_K_BC, o->part, o->id);
        gw_api_op_send(o, &av, GW_API_ARRAY, on_bc_get);
    }
}

/* ------------------------------------------------------------- preview */

/*
 * One channel's figures of a preview, for n recipients: the text as the provider
 * would get it (unaccented when the channel's policy and settings say so, as the
 * sender does), the messages it goes as, its encoding and units (SMS segments), the
 * cost when the channel has a price, and the adapter's warning. 0 or MC_ENOMEM.
 */
static int channel_preview(const gw_app *app, json_t *one, const char *ch, const char *text,
                           size_t tlen, long long n) {
    const ch_adapter *ad = ch_adapter_find(ch);
    const ch_settings *st = gw_channel_conf(app->cfg, ch);
    if (!ad || !st || !ad->preview)
        return 0;
    char *plain = NULL;
    size_t plain_len = 0;
    if (ad->policy && ad->policy->unaccent && st->unaccented &&
        vn_unaccent(app->vn, text, tlen, &plain, &plain_len))
        plain = NULL; /* as written, then */
    ch_preview pv;
    int rc = ad->preview(st, plain ? plain : text, plain ? plain_len : tlen, &pv);
    if (rc) {
        free(plain);
        return rc;
    }
    if (pv.parts)
        json_object_set_new(one, "parts", json_integer(pv.parts));
    if (pv.encoding) {
        if (pv.text)
            json_object_set_new(one, "text", json_stringn(pv.text, pv.text_len));
        else
            json_object_set_new(one, "text",
                                json_stringn(plain ? plain : text, plain ? plain_len : tlen));
        json_object_set_new(one, "encoding", json_string(pv.encoding));
        json_object_set_new(one, "segments", json_integer(pv.units));
        json_object_set_new(one, "chars", json_integer((json_int_t)pv.chars));
        json_object_set_new(one, "segments_total", json_integer(n * pv.units));
    }
    if (st->price_vnd > 0 && pv.units)
        json_object_set_new(one, "cost_vnd",
                            json_integer(n * pv.units * (json_int_t)st->price_vnd));
    if (*pv.warning)
        json_object_set_new(one, "warning", json_string(pv.warning));
    if (*pv.culprits) { /* what makes the text UCS-2, for the console to highlight */
        json_object_set_new(one, "ucs2_culprits", json_string(pv.culprits));
        if (pv.culprits_more)
            json_object_set_new(one, "ucs2_culprits_more", json_true());
    }
    ch_preview_clear(&pv);
    free(plain);
    return 0;
}

/*
 * When a text handed over at send_ms leaves on a channel: the scheduler (gw_sched.c's due
 * pass) holds it out of [<channel>] quiet_hours unless urgent, then out of the policy's
 * broadcast night (Zalo's 22:00-06:00), each until the first minute of the rule's end.
 * Returns the hold into *why ("quiet_hours", "night" or NULL) and *from / *to (local
 * minutes), and the time it leaves (send_ms when nothing holds it).
 */
static int64_t leaves_at(const gw_app *app, const char *ch, bool urgent, int64_t send_ms,
                         const char **why, int *from, int *to) {
    const ch_adapter *ad = ch_adapter_find(ch);
    const ch_settings *st = gw_channel_conf(app->cfg, ch);
    const ch_policy *pol = ad ? ad->policy : NULL;
    int qs = -1, qe = -1, h1, m1, h2, m2, used = 0;
    const char *q = st ? st->quiet_hours : NULL;
    if (pol && pol->quiet_hours && !urgent && q &&
        sscanf(q, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2, &used) == 4 && !q[used])
        qs = h1 * 60 + m1, qe = h2 * 60 + m2; /* checked when the config was read */
    int rules[2][2] = {{qs, qe}, {pol ? pol->night_start_min : -1, pol ? pol->night_end_min : -1}};
    static const char *const names[2] = {"quiet_hours", "night"};
    int64_t t = send_ms;
    *why = NULL;
    for (int r = 0; r < 2; r++) {
        int s = rules[r][0], e = rules[r][1];
        int64_t off = gw_tz_offset_ms(app->tz, t);
        int m = (int)((((t + off) / MS_PER_MINUTE) % MINUTES_PER_DAY + MINUTES_PER_DAY) %
                      MINUTES_PER_DAY);
        bool inside = s >= 0 && e >= 0 && s != e && (s < e ? m >= s && m < e : m >= s || m < e);
        if (!inside)
            continue;
        int d = ((e - m) % MINUTES_PER_DAY + MINUTES_PER_DAY) % MINUTES_PER_DAY;
        t = t - ((t + off) % MS_PER_MINUTE) + (int64_t)(d ? d : MINUTES_PER_DAY) * MS_PER_MINUTE;
        *why = names[r], *from = s, *to = e;
    }
    return t;
}

/* Read-only, on one partition: KEYS[1] any key of it (its bc_due); ARGV wards csv, tags
 * csv, then channel / cutoff_ms pairs (the chat channels with a window). The distinct
 * members of the broadcast's source sets (as bc_count_lua) on those channels whose last
 * message (conv last_in_ms) is older than their channel's cutoff or unknown:
 * {0, ch, count, ...}. */
static const char bc_window_lua[] =
    "local cut={} local out={0}\n"
    "for i=3,#ARGV-1,2 do cut[ARGV[i]]=tonumber(ARGV[i+1]) end\n"
    "local seen,n={},{}\n"
    "for w in string.gmatch(ARGV[1],'[^,]+') do\n"
    "  local src={}\n"
    "  if ARGV[2]=='' then src[1]=K.sub_ward(w) end\n"
    "  for t in string.gmatch(ARGV[2],'[^,]+') do src[#src+1]=K.sub_ward_tag(w,t) end\n"
    "  for _,k in ipairs(src) do\n"
    "    for _,m in ipairs(redis.call('SMEMBERS',k)) do\n"
    "      local c,u=string.match(m,'^([^:]+):(.+)$')\n"
    "      if c and cut[c] and not seen[m] then\n"
    "        seen[m]=true\n"
    "        local last=tonumber(redis.call('HGET',K.conv(c,u),'last_in_ms'))\n"
    "        if not last or last<cut[c] then n[c]=(n[c] or 0)+1 end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for c,k in pairs(n) do out[#out+1]=c out[#out+1]=k end\n"
    "return out\n";

/* The chat channels of the broadcast with a window, and the cutoff of each: a citizen
 * whose last message is older than the time the text leaves minus the window is
 * outside it then. Into o->keep "cut": {channel: cutoff_ms}. */
static void window_cutoffs(gw_api_op *o) {
    const gw_app *app = gw_api_app(o->api);
    const broadcast *b = o->res;
    json_t *cut = json_object();
    bool urgent = b->msg.priority && !strcmp(b->msg.priority, "urgent");
    for (const char *p = b->channels; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        char ch[CHANNEL_MAX];
        snprintf(ch, sizeof ch, "%.*s", (int)l, p);
        p += l + (comma != NULL);
        const ch_adapter *ad = ch_adapter_find(ch);
        if (!ad || !ad->policy || ad->policy->window_ms <= 0)
            continue;
        const char *why;
        int from, to;
        int64_t at = leaves_at(app, ch, urgent, b->msg.send_at_ms, &why, &from, &to);
        json_object_set_new(cut, ch, json_integer(at - ad->policy->window_ms));
    }
    json_object_set_new(o->keep, "cut", cut);
}

static void window_build(gw_api_op *o, size_t i, gw_argv *av) {
    const broadcast *b = o->res;
    *av = GW_API_EVAL(o->api, bc_window_lua, 1);
    gw_argv_addkey(av, gw_api_keys(o->api), GW_K_BC_DUE, (unsigned)i);
    gw_argv_adds(av, b->wards);
    gw_argv_adds(av, b->tags);
    const char *ch;
    json_t *v;
    json_object_foreach(json_object_get(o->keep, "cut"), ch, v) {
        gw_argv_adds(av, ch);
        gw_argv_addf(av, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    }
}

static void window_each(gw_api_op *o, size_t i, const redisReply *r) {
    (void)i;
    json_t *out = json_object_get(o->keep, "outside");
    if (!out)
        json_object_set_new(o->keep, "outside", out = json_object());
    for (size_t k = 1; k + 1 < r->elements; k += 2) {
        const redisReply *c = r->element[k], *v = r->element[k + 1];
        if (c->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_INTEGER)
            bump(out, c->str, v->integer);
    }
}

/*
 * The preview's warnings for one channel ch, into its object one (the console shows
 * them before Send): "waits" when the text would not leave at once — the rule (quiet
 * hours or the broadcast night), its hours and when it leaves ("leaves_at", local RFC
 * 3339); "outside_window" for the recipients of a chat channel whose window will be
 * closed by then, with where they are reached instead ("reached_instead": channel →
 * count; a broadcast recipient goes by their own subscription's channel alone, so none:
 * they become dead letters, outside_window). 0 or MC_ENOMEM.
 */
static int preview_warnings(gw_api_op *o, const char *ch, json_t *one) {
    const gw_app *app = gw_api_app(o->api);
    const broadcast *b = o->res;
    bool urgent = b->msg.priority && !strcmp(b->msg.priority, "urgent");
    const char *why;
    int from, to;
    int64_t at = leaves_at(app, ch, urgent, b->msg.send_at_ms, &why, &from, &to);
    if (why) {
        char when[GW_TIME_RFC3339_MAX], f[GW_TIME_HM_MAX + 8], t[GW_TIME_HM_MAX + 8];
        gw_tz_format(app->tz, at, when, sizeof when);
        snprintf(f, sizeof f, "%02u:%02u", (unsigned)from / 60 % 24, (unsigned)from % 60);
        snprintf(t, sizeof t, "%02u:%02u", (unsigned)to / 60 % 24, (unsigned)to % 60);
        if (json_object_set_new(one, "waits",
                                json_pack("{s:s, s:s, s:s, s:s, s:I}", "reason", why, "from", f,
                                          "until", t, "leaves_at", when, "leaves_at_ms",
                                          (json_int_t)at)))
            return MC_ENOMEM;
    }
    json_t *cut = json_object_get(json_object_get(o->keep, "cut"), ch);
    if (cut) {
        json_int_t n = json_integer_value(json_object_get(json_object_get(o->keep, "outside"), ch));
        if (json_object_set_new(one, "outside_window", json_integer(n)) ||
            json_object_set_new(one, "reached_instead", json_object()))
            return MC_ENOMEM;
    }
    return 0;
}

static void on_preview_count(gw_api_op *o) {
    const gw_app *app = gw_api_app(o->api);
    const broadcast *b = o->res;
    const char *text = b->msg.out_text;
    size_t tlen = strlen(text);
    json_t *chans = json_object();
    for (const char *p = b->channels; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        char ch[CHANNEL_MAX];
        snprintf(ch, sizeof ch, "%.*s", (int)l, p);
        p += l + (comma != NULL);
        long long n = json_integer_value(json_object_get(json_object_get(o->keep, "by"), ch));
        json_t *one = json_pack("{s:I, s:s}", "recipients", (json_int_t)n, "text", text);
        if (channel_preview(app, one, ch, text, tlen, n) || preview_warnings(o, ch, one)) {
            json_decref(one);
            json_decref(chans);
            gw_api_oom(o->rq);
            return;
        }
        json_object_set_new(chans, ch, one);
    }
    char at[GW_TIME_RFC3339_MAX];
    gw_tz_format(app->tz, b->msg.send_at_ms, at, sizeof at);
    json_int_t total = gw_cost_total(chans); /* gw_cost.c: each channel's cost_vnd added */
    gw_api_answer(o->rq, 200,
                  json_pack("{s:I, s:s, s:s, s:o, s:I}", "recipients",
                            json_integer_value(json_object_get(o->keep, "n")), "text", text,
                            "send_at", at, "channels", chans, "cost_vnd", total));
}

/* Counted: the recipients outside a chat channel's window, then the answer. */
static void preview_windows(gw_api_op *o) {
    window_cutoffs(o);
    if (json_object_size(json_object_get(o->keep, "cut")) == 0)
        on_preview_count(o);
    else
        gw_api_op_parts(o, NULL, GW_API_STATUS, window_build, window_each, on_preview_count);
}

/* The text is known: count the recipients exactly as POST /broadcasts does. */
static void preview_count(gw_api_op *o) {
    count_then(o, preview_windows);
}

void gw_broadcasts_preview(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    bc_start(a, rq, t, preview_count);
}
