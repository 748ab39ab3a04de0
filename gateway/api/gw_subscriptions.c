/*
 * gw_subscriptions.c — POST and DELETE /subscriptions: a department subscribes
 * a citizen (a channel's user, or a phone by SMS) to a dossier's status
 * changes or to a ward's broadcasts (with tags), or removes that.
 *
 * Big idea: a subscription is two memberships — the subscriber set the fan-out
 * or the dossier's events read (sub_ward and its tag sets sub_ward_tag, in the
 * citizen's partition; sub_dossier, in the dossier's) and the citizen's reverse
 * index subs, which is what the chat's "HUY" walks to remove them all. A ward
 * subscription is one script in the citizen's partition; a dossier one is the
 * dossier's side (checked: the department's own dossiers only), then the reverse
 * index. A ward one is for the wards of the token's areas. DELETE carries no body:
 * its fields come from the query string.
 */
#include "gateway/api/gw_api_int.h"

#include "channels/ch.h"
#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_MAX 16                      /* the channel and phone fields, bytes */
#define WARD_FIELD_MAX 96                 /* the ward field (an id or a slug), bytes */
#define QUERY_VALUE_MAX 256               /* a query parameter of DELETE, bytes */
#define WHO_MAX (GW_API_USER_ID_MAX + 24) /* "<channel>:<user id>" */

/* A ward subscription, all in the citizen's partition. KEYS[1] the ward's subscriber
 * set (sub_ward), KEYS[2] the citizen's reverse index (subs); ARGV: member
 * "<channel>:<user>", reverse member "ward:<id>", the ward id, "add"|"del", then the
 * tags. A ward subscription's tags are memberships of sub_ward_tag (broadcasts with
 * audience.tags fan out from those sets), each listed in the reverse index as
 * "ward:<id>:tag:<tag>" so that the chat's HUY, which walks the index, removes them
 * too. A POST states the subscription's tags (none when absent): the ward's other tag
 * memberships go; a DELETE removes them all. The number of members added to or
 * removed from KEYS[1]. */
static const char ward_lua[] =
    "local add=ARGV[4]=='add'\n"
    "local n=redis.call(add and 'SADD' or 'SREM',KEYS[1],ARGV[1])\n"
    "redis.call(add and 'SADD' or 'SREM',KEYS[2],ARGV[2])\n"
    "local pre=ARGV[2]..':tag:'\n"
    "local keep={} if add then for i=5,#ARGV do keep[pre..ARGV[i]]=true end end\n"
    "for _,r in ipairs(redis.call('SMEMBERS',KEYS[2])) do\n"
    "  if string.sub(r,1,#pre)==pre and not keep[r] then\n"
    "    redis.call('SREM',K.sub_ward_tag(ARGV[3],string.sub(r,#pre+1)),ARGV[1])\n"
    "    redis.call('SREM',KEYS[2],r)\n"
    "  end\n"
    "end\n"
    "if add then for i=5,#ARGV do\n"
    "  redis.call('SADD',K.sub_ward_tag(ARGV[3],ARGV[i]),ARGV[1])\n"
    "  redis.call('SADD',KEYS[2],pre..ARGV[i])\n"
    "end end\n"
    "return n\n";

/* A dossier subscription, the dossier's side (the partition of its code): KEYS[1] its
 * subscribers, KEYS[2] the dossier, KEYS[3] its subscribers' channel orders; ARGV member,
 * dept, "add"|"del", the order ("" = the default: the field goes). -2 no dossier, -1
 * other dept, else the members added or removed. The citizen's reverse index follows
 * (on_dossier_side): a crash in between leaves a subscriber the index does not list,
 * which the department's repeated request (or its DELETE) puts right. */
static const char dossier_lua[] =
    "if redis.call('EXISTS',KEYS[2])==0 then return -2 end\n"
    "if redis.call('HGET',KEYS[2],'dept')~=ARGV[2] then return -1 end\n"
    "if ARGV[3]=='add' and ARGV[4]~='' then redis.call('HSET',KEYS[3],ARGV[1],ARGV[4])\n"
    "else redis.call('HDEL',KEYS[3],ARGV[1]) end\n"
    "return redis.call(ARGV[3]=='add' and 'SADD' or 'SREM',KEYS[1],ARGV[1])\n";

/* A subscription, checked. */
typedef struct sub {
    char who[WHO_MAX];               /* "<channel>:<user id>", "sms:<phone>" for a phone */
    char code[GW_API_CODE_MAX + 1];  /* the dossier, upper-cased, or "" */
    const gw_ward *ward;             /* the ward, or NULL */
    const json_t *tags;              /* borrowed: the tags array, or NULL */
    char order[GW_API_CHANNELS_MAX]; /* a phone's channels as the department gave them
                                        ("zns,sms"), "" = the default order */
    bool templated;                  /* order holds a channel of provider templates (ZNS) */
} sub;

static bool is_add(const gw_req *rq) {
    return !strcmp(gw_req_method(rq), "POST");
}

/* The answer, from the number of members added or removed (o->n). */
static void answer(gw_api_op *o) {
    bool add = is_add(o->rq);
    gw_log(GW_INFO, add ? "admin.subscribed" : "admin.unsubscribed", "{s:s, s:s, s:I}", "dept",
           o->dept, "subscription", o->note, "changed", (json_int_t)o->n);
    if (o->n) {
        /* the subscriber masked: a department's trail holds no phone number in clear */
        const sub *s = o->res;
        const char *colon = strchr(s->who, ':');
        char masked[WHO_MAX + 16], target[GW_API_CODE_MAX + 16];
        size_t cl = colon ? (size_t)(colon - s->who) : 0;
        int w = snprintf(masked, sizeof masked, "%.*s:", (int)cl, s->who);
        if (colon)
            gw_api_mask(colon + 1, masked + w, sizeof masked - (size_t)w);
        snprintf(target, sizeof target, "%s:%s", s->ward ? "ward" : "dossier",
                 s->ward ? s->ward->id : s->code);
        gw_audit_op(o, add ? "subscription.create" : "subscription.delete", target,
                    json_pack("{s:s}", "subscriber", masked));
    }
    if (add)
        gw_api_answer(o->rq, o->n ? 201 : 200,
                      json_pack("{s:b, s:b}", "subscribed", 1, "created", o->n > 0));
    else if (o->n)
        gw_api_answer(o->rq, 200, json_pack("{s:b}", "removed", 1));
    else
        gw_api_fail(o->rq, 404, "not_found", NULL, "no such subscription");
}

static void on_ward(gw_api_op *o, const redisReply *r) {
    o->n = (long)r->integer;
    answer(o);
}

static void on_reverse(gw_api_op *o, const redisReply *r) {
    (void)r;
    answer(o);
}

static void on_sub(gw_api_op *o, const redisReply *r) {
    if (r->integer == -2) {
        gw_api_fail(o->rq, 404, "not_found", "dossier", "no dossier %s", o->code);
        return;
    }
    if (r->integer == -1) {
        gw_api_fail(o->rq, 403, "forbidden", "dossier", "dossier %s belongs to another department",
                    o->code);
        return;
    }
    /* the dossier's side is done: the citizen's reverse index */
    const sub *sb = o->res;
    const char *colon = strchr(sb->who, ':');
    char ch[FIELD_MAX + 1], member[GW_API_CODE_MAX + 16];
    snprintf(ch, sizeof ch, "%.*s", (int)(colon - sb->who), sb->who);
    snprintf(member, sizeof member, "dossier:%s", sb->code);
    o->n = (long)r->integer;
    gw_argv av = {0};
    gw_argv_adds(&av, is_add(o->rq) ? "SADD" : "SREM");
    gw_argv_addkey(&av, gw_api_keys(o->api), GW_K_SUBS, gw_api_part_of(o->api, sb->who), ch,
                   colon + 1);
    gw_argv_adds(&av, member);
    gw_api_op_send(o, &av, GW_API_INT, on_reverse);
}

/* DELETE carries no body here: its fields come from the query string. */
static json_t *query_object(gw_req *rq) {
    static const char *const names[] = {"channel", "user_id", "phone", "dossier", "ward"};
    size_t qlen;
    const char *q = gw_req_query(rq, &qlen);
    json_t *o = json_object();
    char val[QUERY_VALUE_MAX];
    for (size_t i = 0; o && i < MC_ARRAY_LEN(names); i++)
        if (!gw_api_query(q, qlen, names[i], val, sizeof val))
            json_object_set_new(o, names[i], json_string(val));
    return o;
}

static int check_tags(const json_t *tags, gw_api_err *e) {
    size_t i;
    json_t *tg;
    if (!json_is_array(tags) || json_array_size(tags) > GW_API_MAX_TAGS)
        return gw_api_err_set(e, 400, "bad_field", "tags",
                              "tags must be an array of at most %d strings", GW_API_MAX_TAGS);
    json_array_foreach(tags, i, tg) {
        const char *s = json_string_value(tg);
        size_t tl = s ? json_string_length(tg) : 0;
        if (!s || tl == 0 || tl > GW_API_TAG_MAX || !gw_api_user_id_ok(s, tl)) {
            char path[32];
            snprintf(path, sizeof path, "tags[%zu]", i);
            return gw_api_err_set(e, 400, "bad_field", path, "a tag is 1..%d printable ASCII bytes",
                                  GW_API_TAG_MAX);
        }
    }
    return 0;
}

/*
 * The channel that carries a subscriber known by phone for a channel name the department
 * gave (admin-api.md, "Subscriptions"): a channel of phone numbers itself (sms), or the one
 * its adapter names for its citizens' phones (zalo → ZNS). Appended to s->order once; 0 or
 * MC_EINVAL with e (field path).
 */
static int phone_channel(const char *name, const char *path, sub *s, gw_api_err *e) {
    const ch_adapter *ad = name ? ch_adapter_find(name) : NULL;
    const char *via = !ad ? NULL : ad->by_phone ? ad->by_phone : ad->name;
    const ch_adapter *vad = via ? ch_adapter_find(via) : NULL;
    if (!vad || !vad->policy || !vad->policy->phone_recipient)
        return gw_api_err_set(e, 400, "bad_field", path, "%s%s%s cannot reach a phone number",
                              name ? "\"" : "", name ? name : "this channel", name ? "\"" : "");
    size_t vl = strlen(via);
    for (const char *p = s->order; *p;) { /* each once */
        size_t l = strcspn(p, ",");
        if (l == vl && !memcmp(p, via, l))
            return 0;
        p += l + (p[l] == ',');
    }
    size_t at = strlen(s->order);
    if (at + vl + 2 > sizeof s->order)
        return gw_api_err_set(e, 400, "bad_field", path, "too many channels");
    snprintf(s->order + at, sizeof s->order - at, "%s%s", at ? "," : "", via);
    s->templated |= vad->tpl_info_render != NULL;
    return 0;
}

/* A phone's channels: "channel" or a "channels" array (not both) into s->order. */
static int phone_order(const char *ch, const json_t *chs, sub *s, gw_api_err *e) {
    if (ch && chs)
        return gw_api_err_set(e, 400, "bad_field", "channels",
                              "give channel or channels, not both");
    if (ch)
        return phone_channel(ch, "channel", s, e);
    if (!chs)
        return 0;
    if (!json_is_array(chs) || json_array_size(chs) == 0 ||
        json_array_size(chs) > gw_channel_count())
        return gw_api_err_set(e, 400, "bad_field", "channels",
                              "channels must be an array of 1..%zu channel names",
                              gw_channel_count());
    size_t i;
    json_t *c;
    json_array_foreach(chs, i, c) {
        char path[32];
        snprintf(path, sizeof path, "channels[%zu]", i);
        if (!json_is_string(c) || json_string_length(c) > FIELD_MAX)
            return gw_api_err_set(e, 400, "bad_field", path, "a channel name");
        if (phone_channel(json_string_value(c), path, s, e))
            return MC_EINVAL;
    }
    return 0;
}

/* Who: a phone (with the channels that reach it), or a channel and its user id. A
 * subscriber by phone is always "<channel of phone numbers>:<phone>", whatever channels
 * carry it: that is who the citizen's own "HUY" by SMS removes. */
static int check_who(const char *ch, const json_t *chs, const char *uid, size_t ulen,
                     const char *phone, size_t plen, sub *s, gw_api_err *e) {
    char *who = s->who;
    size_t n = sizeof s->who;
    if (phone) {
        const char *by_phone = gw_channel_for_phone();
        if (uid)
            return gw_api_err_set(e, 400, "bad_field", "phone",
                                  "give phone, or channel and user_id");
        if (phone_order(ch, chs, s, e))
            return MC_EINVAL;
        if (!gw_api_phone_ok(phone, plen))
            return gw_api_err_set(e, 400, "bad_field", "phone",
                                  "phone must be a Vietnamese mobile in E.164 (+84 and 9 digits)");
        if (!by_phone)
            return gw_api_err_set(e, 400, "bad_field", "phone", "no channel reaches a phone");
        snprintf(who, n, "%s:%s", by_phone, phone);
        return 0;
    }
    if (chs)
        return gw_api_err_set(e, 400, "bad_field", "channels", "channels go with a phone");
    if (!ch || !uid)
        return gw_api_err_set(e, 400, "missing_field", ch ? "user_id" : "channel",
                              "give phone, or channel and user_id");
    if (!gw_api_channel_known(ch))
        return gw_api_err_set(e, 400, "bad_field", "channel", "unknown channel \"%s\"", ch);
    if (!gw_api_user_id_ok(uid, ulen) ||
        (gw_channel_phone_recipient(ch) && !gw_api_phone_ok(uid, ulen)))
        return gw_api_err_set(e, 400, "bad_field", "user_id", "user_id is not valid for %s", ch);
    snprintf(who, n, "%s:%s", ch, uid);
    return 0;
}

/* The fields of b (a body, or the query of a DELETE) into s. 0 or MC_EINVAL. */
static int check_sub(const gw_api *a, const gw_api_token *t, const json_t *b, sub *s,
                     gw_api_err *e) {
    static const char *const allowed[] = {"channel", "channels", "user_id", "phone",
                                          "dossier", "ward",     "tags",    NULL};
    const char *ch, *uid, *phone, *dossier, *wardv;
    size_t ulen = 0, plen = 0, dlen = 0;
    if (gw_api_only_fields(e, b, allowed, "", GW_API_CUT) ||
        gw_api_str_field(e, b, "channel", "channel", FIELD_MAX, false, &ch, NULL) ||
        gw_api_str_field(e, b, "user_id", "user_id", GW_API_USER_ID_MAX, false, &uid, &ulen) ||
        gw_api_str_field(e, b, "phone", "phone", FIELD_MAX, false, &phone, &plen) ||
        gw_api_str_field(e, b, "dossier", "dossier", GW_API_CODE_MAX, false, &dossier, &dlen) ||
        gw_api_str_field(e, b, "ward", "ward", WARD_FIELD_MAX, false, &wardv, NULL))
        return MC_EINVAL;
    s->tags = json_object_get(b, "tags");
    if ((s->tags && check_tags(s->tags, e)) ||
        check_who(ch, json_object_get(b, "channels"), uid, ulen, phone, plen, s, e))
        return MC_EINVAL;
    if (!dossier == !wardv)
        return gw_api_err_set(e, 400, dossier ? "bad_field" : "missing_field",
                              dossier ? "ward" : "dossier", "give exactly one of dossier and ward");
    if (dossier) {
        for (size_t i = 0; i < dlen; i++)
            s->code[i] = (char)toupper((unsigned char)dossier[i]);
        s->code[dlen] = '\0';
        if (!gw_api_code_ok(s->code, dlen))
            return gw_api_err_set(e, 400, "bad_field", "dossier",
                                  "the dossier code is not of the form 000.00.25.H29-231122-0001");
        return 0;
    }
    if (s->templated) /* gw_broadcasts.c: ZNS sends only templates, a broadcast is free text */
        return gw_api_err_set(e, 400, "bad_field", "channel",
                              "a ward's broadcasts are free text, which %s cannot carry: give "
                              "the phone alone or with \"%s\"",
                              s->order, gw_channel_for_phone());
    if (!(s->ward = gw_shared_ward_find(gw_api_data(a), wardv)))
        return gw_api_err_set(e, 400, "bad_field", "ward", "unknown ward \"%s\"", wardv);
    if (!gw_api_token_area_ok(t, s->ward->id))
        return gw_api_err_set(e, 403, "forbidden", "ward", "ward %s is outside the areas of %s",
                              s->ward->id, gw_api_token_dept(t));
    return 0;
}

static int sub_check(gw_api_op *o, gw_api_err *e) {
    return check_sub(o->api, o->t, o->body, o->res, e);
}

const gw_api_body_check gw_subscription_body = {"subscription", sizeof(sub), NULL, sub_check};

void gw_subscriptions(const gw_api *a, gw_req *rq, const gw_api_token *t) {
    bool add = is_add(rq);
    gw_api_op *o = add ? gw_api_op_with_body(a, rq, t) : gw_api_op_new(a, rq, t);
    gw_api_err e = {0};
    sub s = {0};
    if (!o)
        return;
    if (!add && !(o->body = query_object(rq))) {
        gw_api_oom(rq);
        gw_api_op_free(o);
        return;
    }
    if (check_sub(a, t, o->body, &s, &e)) {
        gw_api_fail_err(rq, &e);
        gw_api_op_free(o);
        return;
    }
    bool dossier = s.ward == NULL;
    snprintf(o->code, sizeof o->code, "%s", s.code);
    snprintf(o->note, sizeof o->note, "%s %s:%s", s.who, dossier ? "dossier" : "ward",
             dossier ? s.code : s.ward->id);
    if (!(o->res = malloc(sizeof s))) {
        gw_api_oom(rq);
        gw_api_op_free(o);
        return;
    }
    memcpy(o->res, &s, sizeof s);
    const char *colon = strchr(s.who, ':');
    char ch[FIELD_MAX + 1];
    snprintf(ch, sizeof ch, "%.*s", (int)(colon - s.who), s.who);
    unsigned cp = gw_api_part_of(a, s.who);
    const gw_keyspace *ks = gw_api_keys(a);
    if (dossier) {
        gw_argv av = GW_API_EVAL(a, dossier_lua, 3);
        gw_api_add_key(&av, a, GW_K_SUB_DOSSIER, s.code, s.code);
        gw_api_add_key(&av, a, GW_K_DOSSIER, s.code, s.code);
        gw_api_add_key(&av, a, GW_K_SUB_CHANS, s.code, s.code);
        gw_argv_adds(&av, s.who);
        gw_argv_adds(&av, o->dept);
        gw_argv_adds(&av, add ? "add" : "del");
        gw_argv_adds(&av, s.order);
        gw_api_op_send(o, &av, GW_API_INT, on_sub);
        return;
    }
    gw_argv av = GW_API_EVAL(a, ward_lua, 2);
    gw_argv_addkey(&av, ks, GW_K_SUB_WARD, cp, s.ward->id);
    gw_argv_addkey(&av, ks, GW_K_SUBS, cp, ch, colon + 1);
    gw_argv_adds(&av, s.who);
    gw_argv_addf(&av, "ward:%s", s.ward->id);
    gw_argv_adds(&av, s.ward->id);
    gw_argv_adds(&av, add ? "add" : "del");
    if (add && s.tags) {
        size_t i;
        json_t *tg;
        json_array_foreach(s.tags, i, tg) {
            gw_argv_add(&av, json_string_value(tg), json_string_length(tg));
        }
    }
    gw_api_op_send(o, &av, GW_API_INT, on_ward);
}
