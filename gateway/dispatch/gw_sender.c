/*
 * gw_sender.c — outbound entries of mc:out:<channel> to the providers.
 *
 * Big idea: a job is one stream entry. It is rendered by the channel adapter
 * into one or more HTTP requests (Facebook splits long texts), sent in order
 * through gw_httpc, and judged by the adapter's classify: sent → the provider
 * id is recorded (mc:dlv:<channel>:<provider id>, which receipts update) and the
 * entry is acknowledged; retry → the same part again after Retry-After or an
 * exponential backoff with jitter, up to [scheduler] max_attempts; permanent
 * → the dead-letter stream with the reason. Until acknowledged the entry stays
 * pending in Redis, so a crash hands it to another pass (our own pending list
 * after a restart, or XAUTOCLAIM by another dispatcher).
 *
 * Wire marks: that pass must not send again what may already have reached the
 * provider. Right before a part's request leaves (gw_httpc's before-send hook,
 * on curl's pre-request point) we write HSET mc:wire:<channel> <entry> <part>
 * to Redis's socket at once, on a connection of its own (gw_wire): from then
 * on a kill -9 of this process cannot keep the mark from Redis. Not on the
 * store's connection: a client that dies while Redis still owes it replies is
 * closed when Redis fails to write them, and what Redis had not read from it
 * yet is dropped unexecuted (seen in CI: mark written, request sent,
 * dispatcher killed, no mark, the survivor sent the message again). gw_wire
 * has replies off, so Redis owes it nothing and reads it to the end. No mark
 * (Redis or that connection away, its socket full) → the request is stopped
 * unsent and tried again shortly. A definite "not accepted" (any HTTP answer
 * but success, or a failure before the request left) moves the mark back to
 * the previous part (or deletes it); an ambiguous one (timeout or reset after
 * it left) keeps it; the acknowledgement deletes it in its MULTI (on the
 * other connection, which Redis may read first: so a mark is only written
 * while its entry is still pending, wire_mark_lua). An entry
 * taken again is looked up first (one pipelined HGET, only for re-delivered
 * entries: a fresh one cannot have a mark): parts up to the marked one count
 * as sent; if that was the last part the entry is acknowledged as sent without
 * sending — "unconfirmed: the dispatcher stopped during the request" in the
 * notification's attempts — else sending goes on with the next part.
 * So a kill between the provider's answer and our XACK (a whole provider
 * round trip, 100–500 ms with real providers) no longer doubles a message.
 * The price: whatever was on the wire at the kill counts as sent, also a
 * request the provider refused (429, 5xx) with an answer nobody read, and an
 * ambiguous failure followed by the kill; and a kill between the mark's
 * write() and curl's write() of the request (microseconds, no I/O wait in
 * between) loses that message. At most once for what was in flight at a
 * crash, instead of at least once. Not covered: Redis holding writes back
 * (CLIENT PAUSE WRITE, as a failover does) exactly when the dispatcher dies:
 * the marks it wrote meanwhile are postponed, then dropped with the client.
 * "In the kernel" is enough on a unix socket or loopback (the bytes are in
 * Redis's receive queue when write() returns); over a network, bytes not yet
 * transmitted are dropped if the kernel resets the connection at exit, so
 * there the mark is as good as the link's send queue is short.
 *
 * Notifications (entries with a `notif` field, put there by gw_sched) close
 * their loop in the same transaction as the XACK, through small Lua scripts:
 * sent → mc:notif:<id> status sent + an attempts entry + mc:dlv:<ch>:<pid>
 * notif=<id> so that receipts (gw_sender_add_receipt, called by the worker)
 * move it to delivered; permanent or out of retries → the next channel of its
 * fallback list (idx+1, status scheduled, back on mc:due now, and gw_sched
 * routes it) or, when none is left, status dead and mc:dead. Replies (no notif
 * field) are acknowledged or dead-lettered as before.
 *
 * Zalo access tokens live in Redis (mc:zalo:token: access, refresh,
 * expires_ms) so that every process uses the same one; one process at a time
 * refreshes them under a Redis lock (mc:zalo:lock), because a refresh token
 * works once: two concurrent refreshes would burn it.
 */
#include "gateway/dispatch/gw_sender.h"

#include "channels/ch.h"
#include "channels/zalo.h"
#include "core/mc.h"
#include "gateway/store/gw_lua.h"
#include "gateway/app/gw_channels.h"
#include "gateway/net/gw_httpc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/dispatch/gw_sched.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_store.h"
#include "gateway/store/gw_wire.h"
#include "vi-nlp/vn_norm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PARTS 8               /* requests one message may need */
#define MAX_TEXT 16384            /* bytes of an outbound text */
#define TOKEN_KEY "mc:zalo:token" /* hash: access refresh expires_ms */
#define TOKEN_LOCK "mc:zalo:lock" /* one refresher at a time */
#define TOKEN_LOCK_MS 30000       /* lock lifetime */
#define TOKEN_MARGIN_MS 3600000   /* refresh this long before expiry */
#define TOKEN_CHECK_MS 60000      /* how often expiry is checked */
#define DLV_TTL_S 604800          /* delivery records kept 7 days */
#define DRAIN_CHECK_MS 10         /* how often a drain looks whether it is over */
#define ACK_MAX_ERRORS 20         /* EXECs refused by Redis before a job gives up */
#define WIRE_PREFIX "mc:wire:"    /* hash per channel: entry id → last part maybe on the wire */
#define DEFER_MIN_MS 50           /* first wait after the mark could not be written */
#define DEFER_MAX_MS 1000         /* longest such wait */
#define UNCONFIRMED_NOTE "unconfirmed: the dispatcher stopped during the request"

typedef struct job {
    struct job *next, *prev; /* the sender's list */
    gw_sender *s;            /* owner */
    uint64_t seq;            /* order of arrival in this process */
    int held;                /* waits for an earlier message to the same recipient */
    char ch[16];             /* channel */
    char id[48];             /* stream entry id */
    char stream[64];         /* mc:out:<ch> */
    char to[128];            /* recipient */
    char ref[128];           /* provider id of the message answered, or "" */
    char purpose[16];        /* reply | update */
    char tag[48];            /* facebook tag or "" */
    char notif[64];          /* notification id (gw_sched) or "" for a reply */
    char bc[48];             /* its broadcast's id (gw_sched's `bc` field) or "" */
    char pid[128];           /* provider id of the last part sent */
    char *text;              /* owned */
    size_t text_len;
    char *quick;              /* owned JSON array or NULL */
    ch_http parts[MAX_PARTS]; /* rendered requests */
    size_t n_parts, part;     /* how many, the next to send */
    int mark;                 /* part our wire mark names in Redis, -1 none */
    int unsure;               /* an earlier attempt of this part may have reached the provider */
    int refused;              /* the before-send hook stopped the current attempt */
    int deferrals;            /* attempts stopped by the hook in a row */
    int looking;              /* the wire mark lookup of a re-delivered entry is in flight */
    int unconfirmed;          /* acknowledged as sent from the mark alone */
    int in_http;              /* a request of it is with gw_httpc (queued or on the wire) */
    int bc_checked;           /* its broadcast's status was looked up before the first part */
    int cancelled;            /* its broadcast was cancelled before it left: acked as such */
    int acking;               /* its EXEC is in flight */
    int dead;                 /* job_ack records a failure */
    int parked;               /* its outcome waits for Redis to come back */
    int checking;             /* the parked job's XPENDING check is in flight */
    int ack_errors;           /* EXECs Redis refused in a row */
    char ack_reason[128];     /* the failure job_ack records ("" when sent) */
    int attempts;             /* failed attempts of the current part */
    int token_retried;        /* a token error already led to one refresh */
    int waiting_token;        /* parked until the Zalo token is refreshed */
    int writing;              /* an outbox write holds it */
    uv_timer_t *timer;        /* retry timer, owned (closed asynchronously) */
    gw_sender_done_fn *done;  /* tells the reader */
    void *done_arg;
    int64_t t0; /* taken at, ms */
} job;

struct gw_sender {
    gw_app *app;       /* borrowed */
    gw_httpc *http;    /* owned */
    gw_wire *wire;     /* the connection wire marks go on, owned */
    int store_ups;     /* times the store came up */
    vn_normalizer *vn; /* for unaccented SMS, owned */
    job *jobs;         /* all jobs, doubly linked */
    uint64_t next_seq; /* arrival counter for jobs */
    size_t n_jobs;
    int outbox_fd[GW_N_CHANNELS]; /* appended JSON lines, -1 when closed */
    /* Zalo token */
    char zalo_access[1024];    /* current access token */
    int64_t zalo_expires_ms;   /* 0 = unknown */
    int refreshing;            /* a refresh is in flight here */
    uv_timer_t token_timer;    /* expiry checks and keeping our jobs claimed */
    uint64_t last_token_check; /* loop time of the last token check, ms */
    int closing;
    int draining;               /* gw_sender_drain: nothing new leaves */
    uv_timer_t *drain_timer;    /* checks whether the drain is over, owned */
    uint64_t drain_deadline;    /* loop time, ms */
    gw_sender_done_fn *drained; /* called once */
    void *drained_arg;
    int writes;       /* outbox writes in flight: the sender outlives them */
    int timer_closed; /* the token timer's close callback ran */
};

static void job_send(job *j);

static int chan_index(const char *ch) {
    for (int i = 0; i < GW_N_CHANNELS; i++)
        if (!strcmp(gw_channel_names[i], ch))
            return i;
    return -1;
}

static void on_timer_closed(uv_handle_t *h) {
    free(h);
}

static void job_free(job *j) {
    gw_sender *s = j->s;
    if (j->prev)
        j->prev->next = j->next;
    else
        s->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    s->n_jobs--;
    if (j->timer) {
        uv_timer_stop(j->timer);
        uv_close((uv_handle_t *)j->timer, on_timer_closed);
    }
    for (size_t i = 0; i < j->n_parts; i++)
        ch_http_clear(&j->parts[i]);
    free(j->text);
    free(j->quick);
    free(j);
}

static void job_start(job *j);

/* 1 when an earlier job to the same recipient on the same channel is still here:
 * a citizen's messages (a batch of replies, the parts of a notice) arrive in order. */
static int held_by_earlier(const gw_sender *s, const job *j) {
    for (const job *x = s->jobs; x; x = x->next)
        if (x != j && x->seq < j->seq && !strcmp(x->to, j->to) && !strcmp(x->ch, j->ch))
            return 1;
    return 0;
}

static void job_finish(job *j) {
    gw_sender_done_fn *done = j->done;
    void *arg = j->done_arg;
    gw_sender *s = j->s;
    char ch[sizeof j->ch], to[sizeof j->to];
    memcpy(ch, j->ch, sizeof ch);
    memcpy(to, j->to, sizeof to);
    job_free(j);
    /* the next held job to this recipient, if any, may go now */
    job *next = NULL;
    for (job *x = s->jobs; x; x = x->next)
        if (x->held && !strcmp(x->to, to) && !strcmp(x->ch, ch) && (!next || x->seq < next->seq))
            next = x;
    if (next && !s->closing && !held_by_earlier(s, next)) {
        next->held = 0;
        job_start(next);
    }
    if (done)
        done(arg);
}

/* ---- acknowledging ---- */

/* Parking: Redis went away before the outcome was recorded, or before we heard
 * that it was. This process knows what the provider said, so the job stays here
 * (its entry counts as in flight for the reader and stays ours through
 * touch_jobs) and resume_parked records the outcome once Redis answers again,
 * instead of letting the entry be read again and the message sent twice. */
static void job_park(job *j) {
    if (!j->parked)
        gw_log(GW_DEBUG, "send.ack_parked", "{s:s, s:s}", "channel", j->ch, "entry", j->id);
    j->parked = 1;
}

static void job_ack(job *j, const char *dead_reason);

/* [] when the entry is no longer pending: the EXEC ran before the link dropped. */
static void on_ack_check(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    job *j = priv;
    j->checking = 0;
    if (j->s->closing || !r)
        return; /* away again: the next tick asks again */
    if (r->type == REDIS_REPLY_ERROR) {
        if (r->str && strstr(r->str, "NOGROUP"))
            job_finish(j); /* the stream is gone: Redis came back without our data */
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
        job_finish(j);
        return;
    }
    j->parked = 0;
    job_ack(j, j->dead ? j->ack_reason : NULL);
}

/* Records the parked outcomes (after checking that each entry is still pending). */
static void resume_parked(gw_sender *s) {
    if (s->closing || !gw_store_up(s->app->store))
        return;
    for (job *j = s->jobs; j; j = j->next)
        if (j->parked && !j->checking &&
            !gw_store_cmdf(s->app->store, on_ack_check, j, "XPENDING %s " GW_GROUP " %s %s 1",
                           j->stream, j->id, j->id))
            j->checking = 1;
}

static void on_acked(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    job *j = priv;
    j->acking = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        gw_log(GW_WARN, "send.ack_failed", "{s:s, s:s, s:s}", "channel", j->ch, "entry", j->id,
               "error", r && r->str ? r->str : "connection lost");
        /* lost link, or Redis refused (LOADING...): try again, a refusal not forever */
        if (!r || ++j->ack_errors < ACK_MAX_ERRORS) {
            job_park(j);
            return;
        }
    } else if (*j->notif && j->cancelled)
        gw_metrics_notif(j->s->app->metrics, j->ch, "cancelled");
    else if (*j->notif && !j->dead)
        gw_metrics_notif(j->s->app->metrics, j->ch, "sent");
    else if (*j->notif) {
        /* the first reply is notif_fail_lua's: 1 re-routed to the next channel, 2 dead */
        const redisReply *e = r->elements ? r->element[0] : NULL;
        int rerouted = e && e->type == REDIS_REPLY_INTEGER && e->integer == 1;
        gw_metrics_notif(j->s->app->metrics, j->ch, rerouted ? "failed" : "dead");
    }
    job_finish(j);
}

/* ARGV: id channel provider_id now [note]. A notification being sent becomes
 * sent; the note (an unconfirmed send) goes into its attempts entry. */
static const char notif_sent_lua[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA
    "local k='" GW_NOTIF_PREFIX "'..ARGV[1]\n"
    "local st,bc,dept=unpack(redis.call('HMGET',k,'status','broadcast','dept'))\n"
    "if not st then return 0 end\n"
    "if st=='sending' then\n"
    "  redis.call('HSET',k,'status','sent','provider_id',ARGV[3],'sent_ms',ARGV[4])\n"
    "  bc_note(bc,ARGV[2],nil,'sent',true)\n"
    "  day_note(ARGV[1],dept,ARGV[2],'sent',ARGV[4])\n"
    "end\n"
    "redis.call('RPUSH',k..':attempts',cjson.encode({channel=ARGV[2],at=tonumber(ARGV[4]),\n"
    "  result='sent',provider_id=ARGV[3],note=ARGV[5]}))\n"
    "return 1\n";

/* ARGV: id channel reason now entry to text attempts. The channel failed for
 * good: the next one of the fallback list, or dead. 1 re-routed, 2 dead. */
static const char notif_fail_lua[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA
    "local id,ch,reason,now=ARGV[1],ARGV[2],ARGV[3],tonumber(ARGV[4])\n"
    "local k='" GW_NOTIF_PREFIX "'..id\n"
    "local h=redis.call('HMGET',k,'status','channels','idx','broadcast','dept')\n"
    "if h[1]=='sending' then\n"
    "  redis.call('RPUSH',k..':attempts',cjson.encode({channel=ch,at=now,result='failed',\n"
    "    error=reason}))\n"
    "  local n=0 for c in string.gmatch(h[2] or '','[^,%s]+') do n=n+1 end\n"
    "  local idx=tonumber(h[3]) or 0\n"
    "  if idx+1<n then\n"
    "    redis.call('HSET',k,'status','scheduled','idx',idx+1)\n"
    "    redis.call('ZADD','" GW_DUE_KEY "',now,id)\n"
    "    return 1\n"
    "  end\n"
    "  redis.call('HSET',k,'status','dead')\n"
    "  bc_note(h[4],ch,nil,'dead',true)\n"
    "  dead_note(id,h[5],ch,reason,tonumber(ARGV[8]) or 0,now)\n"
    "end\n"
    "redis.call('XADD','" GW_DEAD_STREAM "','*','ch',ch,'entry',ARGV[5],'to',ARGV[6],\n"
    "  'text',ARGV[7],'reason',reason,'attempts',ARGV[8],'at',ARGV[4],'notif',id)\n"
    "return 2\n";

/* ARGV: dlv key, channel, receipt status, at. The notification of a delivery
 * record follows its receipts: delivered/read → delivered, failed/undelivered
 * → failed. */
static const char receipt_lua[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA
    "local id=redis.call('HGET',ARGV[1],'notif')\n"
    "if not id or id=='-' then return 0 end\n"
    "local to=nil\n"
    "if ARGV[3]=='delivered' or ARGV[3]=='read' then to='delivered'\n"
    "elseif ARGV[3]=='failed' or ARGV[3]=='undelivered' then to='failed' end\n"
    "if not to then return 0 end\n"
    "local k='" GW_NOTIF_PREFIX "'..id\n"
    "local st,bc,dept=unpack(redis.call('HMGET',k,'status','broadcast','dept'))\n"
    "if st~='sending' and st~='sent' then return 0 end\n"
    "redis.call('HSET',k,'status',to)\n"
    "if st=='sending' then day_note(id,dept,ARGV[2],'sent',ARGV[4]) end\n"
    "day_note(id,dept,ARGV[2],to,ARGV[4])\n"
    "if st=='sent' then bc_note(bc,ARGV[2],'sent',to,false)\n"
    "else bc_note(bc,ARGV[2],nil,to,true) end\n"
    "redis.call('RPUSH',k..':attempts',cjson.encode({channel=ARGV[2],at=tonumber(ARGV[4]),\n"
    "  result=to}))\n"
    "return 1\n";

void gw_sender_add_receipt(gw_store *st, const char *channel, const char *provider_id,
                           const char *status, int64_t at_ms) {
    char key[320];
    snprintf(key, sizeof key, "mc:dlv:%s:%s", channel, provider_id);
    gw_argv a = {0};
    gw_argv_adds(&a, "EVAL");
    gw_argv_add(&a, receipt_lua, sizeof receipt_lua - 1);
    gw_argv_adds(&a, "0");
    gw_argv_adds(&a, key);
    gw_argv_adds(&a, channel);
    gw_argv_adds(&a, status);
    gw_argv_addf(&a, "%" PRId64, at_ms);
    gw_argv_send(st, &a, NULL, NULL);
    gw_argv_free(&a);
}

/* Appends one attempts entry of the job's notification (fire and forget). */
static void notif_attempt(const job *j, const char *result, const char *error) {
    json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "channel", j->ch, "at", (json_int_t)gw_now_ms(),
                          "result", result, "error", error);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (line)
        gw_store_cmdf(j->s->app->store, NULL, NULL, "RPUSH " GW_NOTIF_PREFIX "%s:attempts %s",
                      j->notif, line);
    free(line);
}

/* The notification's side of job_ack, inside its MULTI. */
/* ARGV: id channel now. The broadcast of a notification still waiting on the
 * outbound stream was cancelled: it becomes cancelled, like the recipients the
 * scheduler had not routed yet (gw_sched.c), and is not sent. */
static const char notif_cancel_lua[] = GW_BC_NOTE_LUA GW_DAY_NOTE_LUA
    "local k='" GW_NOTIF_PREFIX "'..ARGV[1]\n"
    "local st,bc,dept=unpack(redis.call('HMGET',k,'status','broadcast','dept'))\n"
    "if st~='sending' then return 0 end\n"
    "redis.call('HSET',k,'status','cancelled')\n"
    "redis.call('RPUSH',k..':attempts',cjson.encode({channel=ARGV[2],at=tonumber(ARGV[3]),\n"
    "  result='cancelled',error='broadcast cancelled'}))\n"
    "bc_note(bc,ARGV[2],nil,'cancelled',true)\n"
    "day_note(ARGV[1],dept,ARGV[2],'cancelled',ARGV[3])\n"
    "return 1\n";

static void notif_outcome(const job *j, const char *dead_reason) {
    gw_argv a = {0};
    gw_argv_adds(&a, "EVAL");
    if (j->cancelled) {
        gw_argv_add(&a, notif_cancel_lua, sizeof notif_cancel_lua - 1);
        gw_argv_adds(&a, "0");
        gw_argv_adds(&a, j->notif);
        gw_argv_adds(&a, j->ch);
        gw_argv_addf(&a, "%" PRId64, gw_now_ms());
    } else if (!dead_reason) {
        gw_argv_add(&a, notif_sent_lua, sizeof notif_sent_lua - 1);
        gw_argv_adds(&a, "0");
        gw_argv_adds(&a, j->notif);
        gw_argv_adds(&a, j->ch);
        gw_argv_adds(&a, *j->pid ? j->pid : j->id);
        gw_argv_addf(&a, "%" PRId64, gw_now_ms());
        if (j->unconfirmed)
            gw_argv_adds(&a, UNCONFIRMED_NOTE);
    } else {
        gw_argv_add(&a, notif_fail_lua, sizeof notif_fail_lua - 1);
        gw_argv_adds(&a, "0");
        gw_argv_adds(&a, j->notif);
        gw_argv_adds(&a, j->ch);
        gw_argv_adds(&a, dead_reason);
        gw_argv_addf(&a, "%" PRId64, gw_now_ms());
        gw_argv_adds(&a, j->id);
        gw_argv_adds(&a, j->to);
        gw_argv_add(&a, j->text ? j->text : "", j->text ? j->text_len : 0);
        gw_argv_addf(&a, "%d", j->attempts);
    }
    gw_argv_send(j->s->app->store, &a, NULL, NULL);
    gw_argv_free(&a);
}

/* Records the outcome and acknowledges the entry in one transaction. */
static void job_ack(job *j, const char *dead_reason) {
    gw_store *st = j->s->app->store;
    j->dead = dead_reason != NULL;
    if (dead_reason != j->ack_reason)
        snprintf(j->ack_reason, sizeof j->ack_reason, "%s", dead_reason ? dead_reason : "");
    if (gw_store_cmdf(st, NULL, NULL, "MULTI")) {
        job_park(j); /* Redis is away: recorded when it is back */
        return;
    }
    if (*j->notif)
        notif_outcome(j, dead_reason);
    else if (dead_reason) {
        gw_argv a = {0};
        gw_argv_adds(&a, "XADD");
        gw_argv_adds(&a, GW_DEAD_STREAM);
        gw_argv_adds(&a, "*");
        gw_argv_adds(&a, "ch");
        gw_argv_adds(&a, j->ch);
        gw_argv_adds(&a, "entry");
        gw_argv_adds(&a, j->id);
        gw_argv_adds(&a, "to");
        gw_argv_adds(&a, j->to);
        gw_argv_adds(&a, "text");
        gw_argv_add(&a, j->text, j->text_len);
        gw_argv_adds(&a, "reason");
        gw_argv_adds(&a, dead_reason);
        gw_argv_adds(&a, "attempts");
        gw_argv_addf(&a, "%d", j->attempts);
        gw_argv_adds(&a, "at");
        gw_argv_addf(&a, "%" PRId64, gw_now_ms());
        gw_argv_send(st, &a, NULL, NULL);
        gw_argv_free(&a);
    }
    gw_store_cmdf(st, NULL, NULL, "XACK %s " GW_GROUP " %s", j->stream, j->id);
    gw_store_cmdf(st, NULL, NULL, "XDEL %s %s", j->stream, j->id);
    gw_store_cmdf(st, NULL, NULL, "HDEL " WIRE_PREFIX "%s %s", j->ch, j->id);
    if (gw_store_cmdf(st, on_acked, j, "EXEC"))
        job_finish(j);
    else
        j->acking = 1;
}

/* ---- outbox (channels without credentials) ---- */

typedef struct outbox_write {
    uv_fs_t req;
    uv_buf_t buf;
    char *line;
    job *j;
} outbox_write;

static void sender_release(gw_sender *s);

static void on_outbox_written(uv_fs_t *req) {
    outbox_write *w = req->data;
    job *j = w->j;
    gw_sender *s = j->s;
    s->writes--;
    if (s->closing) {
        uv_fs_req_cleanup(req);
        free(w->line);
        free(w);
        job_free(j);
        sender_release(s);
        return;
    }
    if (req->result < 0)
        gw_log(GW_ERROR, "outbox.write_failed", "{s:s, s:s}", "channel", j->ch, "error",
               uv_strerror((int)req->result));
    else
        gw_metrics_msg_out(j->s->app->metrics, j->ch);
    ssize_t result = req->result; /* req lives inside w */
    uv_fs_req_cleanup(req);
    free(w->line);
    free(w);
    if (result < 0)
        job_finish(j); /* not acknowledged: retried on the next pass */
    else
        job_ack(j, NULL);
}

static int outbox_fd(gw_sender *s, int ci) {
    if (s->outbox_fd[ci] >= 0)
        return s->outbox_fd[ci];
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.jsonl", s->app->cfg->outbox_dir, gw_channel_names[ci]);
    s->outbox_fd[ci] = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    return s->outbox_fd[ci];
}

static void job_outbox(job *j) {
    gw_sender *s = j->s;
    int ci = chan_index(j->ch);
    int fd = ci < 0 ? -1 : outbox_fd(s, ci);
    /* the outbox shows what the provider would get: SMS unaccented when configured */
    const char *text = j->text;
    size_t text_len = j->text_len;
    char *plain = NULL;
    size_t plain_len = 0;
    if (!strcmp(j->ch, "sms") && s->app->cfg->sms_unaccented && s->vn &&
        !vn_unaccent(s->vn, j->text, j->text_len, &plain, &plain_len)) {
        text = plain;
        text_len = plain_len;
    }
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s%, s:s, s:I}", "channel", j->ch, "entry", j->id, "to", j->to,
                  "text", text, text_len, "purpose", j->purpose, "at", (json_int_t)gw_now_ms());
    free(plain);
    if (o && j->quick) {
        json_t *q = json_loads(j->quick, 0, NULL);
        if (q)
            json_object_set_new(o, "quick_replies", q);
    }
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    outbox_write *w = line ? calloc(1, sizeof *w) : NULL;
    if (fd < 0 || !w) {
        gw_log(GW_ERROR, "outbox.unavailable", "{s:s, s:s}", "channel", j->ch, "dir",
               s->app->cfg->outbox_dir);
        free(line);
        free(w);
        job_finish(j);
        return;
    }
    size_t l = strlen(line);
    line[l] = '\n'; /* json_dumps gave l+1 bytes: the NUL becomes the newline */
    w->line = line;
    w->j = j;
    w->buf = uv_buf_init(line, (unsigned)(l + 1));
    w->req.data = w;
    j->writing = 1;
    s->writes++;
    if (uv_fs_write(s->app->loop, &w->req, fd, &w->buf, 1, -1, on_outbox_written)) {
        s->writes--;
        j->writing = 0;
        free(line);
        free(w);
        job_finish(j);
    }
}

/* ---- Zalo token ---- */

static void token_refresh(gw_sender *s);

static void resume_token_waiters(gw_sender *s) {
    for (job *j = s->jobs, *next; j; j = next) {
        next = j->next;
        if (j->waiting_token) {
            j->waiting_token = 0;
            for (size_t i = 0; i < j->n_parts; i++)
                ch_http_clear(&j->parts[i]);
            j->n_parts = 0; /* render again with the new token */
            job_send(j);
        }
    }
}

static void on_token_loaded(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_sender *s = priv;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        if (r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len < sizeof s->zalo_access)
            snprintf(s->zalo_access, sizeof s->zalo_access, "%s", r->element[0]->str);
        if (r->element[1]->type == REDIS_REPLY_STRING)
            s->zalo_expires_ms = strtoll(r->element[1]->str, NULL, 10);
    }
    s->refreshing = 0;
    resume_token_waiters(s);
}

static void token_reload(gw_sender *s) {
    if (gw_store_cmdf(s->app->store, on_token_loaded, s, "HMGET " TOKEN_KEY " access expires_ms"))
        s->refreshing = 0;
}

typedef struct refresh_ctx {
    gw_sender *s;
    char lock_id[33];
    char refresh[1024];
} refresh_ctx;

static const char unlock_lua[] =
    "if redis.call('GET',KEYS[1])==ARGV[1] then return redis.call('DEL',KEYS[1]) end return 0";

static void refresh_end(refresh_ctx *rc) {
    gw_store_cmdf(rc->s->app->store, NULL, NULL, "EVAL %s 1 " TOKEN_LOCK " %s", unlock_lua,
                  rc->lock_id);
    token_reload(rc->s);
    free(rc);
}

static void on_refreshed(void *arg, const gw_httpc_resp *r) {
    refresh_ctx *rc = arg;
    gw_sender *s = rc->s;
    char access[1024], refresh[1024], err[160];
    int64_t expires_in = 0;
    if (s->closing) {
        free(rc);
        return;
    }
    if (r->status != 200 ||
        ch_zalo_refresh_parse(r->body, r->body_len, access, sizeof access, refresh, sizeof refresh,
                              &expires_in, err, sizeof err)) {
        gw_log(GW_ERROR, "zalo.token_refresh_failed", "{s:i, s:s}", "status", r->status, "error",
               r->status == 200 ? err : (r->error ? r->error : "provider refused"));
        refresh_end(rc);
        return;
    }
    int64_t exp = gw_now_ms() + expires_in * 1000;
    /* the new pair replaces the old one atomically */
    gw_argv a = {0};
    gw_argv_adds(&a, "HSET");
    gw_argv_adds(&a, TOKEN_KEY);
    gw_argv_adds(&a, "access");
    gw_argv_adds(&a, access);
    gw_argv_adds(&a, "refresh");
    gw_argv_adds(&a, refresh);
    gw_argv_adds(&a, "expires_ms");
    gw_argv_addf(&a, "%" PRId64, exp);
    gw_argv_send(s->app->store, &a, NULL, NULL);
    gw_argv_free(&a);
    gw_log(GW_INFO, "zalo.token_refreshed", "{s:I}", "expires_in_s", (json_int_t)expires_in);
    refresh_end(rc);
}

static void on_token_for_refresh(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    refresh_ctx *rc = priv;
    gw_sender *s = rc->s;
    /* [refresh, expires_ms]: another process may have refreshed just now */
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        gw_log(GW_ERROR, "zalo.no_refresh_token", "{s:s}", "hint",
               "set [zalo] refresh_token or authorise the OA again");
        refresh_end(rc);
        return;
    }
    int64_t exp =
        r->element[1]->type == REDIS_REPLY_STRING ? strtoll(r->element[1]->str, NULL, 10) : 0;
    if (exp > gw_now_ms() + TOKEN_MARGIN_MS && strcmp(s->zalo_access, "") &&
        exp != s->zalo_expires_ms) {
        refresh_end(rc); /* fresh already: just reload it */
        return;
    }
    snprintf(rc->refresh, sizeof rc->refresh, "%s", r->element[0]->str);
    ch_settings st2;
    gw_channel_settings(s->app->cfg, "zalo", &st2);
    ch_http req = {0};
    char err[160];
    if (ch_zalo_refresh_render(&st2, rc->refresh, &req, err, sizeof err) ||
        gw_httpc_send(s->http, &req, "zalo-oauth", on_refreshed, rc)) {
        gw_log(GW_ERROR, "zalo.token_refresh_failed", "{s:s}", "error", err);
        ch_http_clear(&req);
        refresh_end(rc);
        return;
    }
    ch_http_clear(&req);
}

static void on_lock(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    refresh_ctx *rc = priv;
    if (!r || r->type != REDIS_REPLY_STATUS) {
        /* someone else refreshes: look again shortly */
        rc->s->refreshing = 0;
        free(rc);
        return;
    }
    if (gw_store_cmdf(rc->s->app->store, on_token_for_refresh, rc,
                      "HMGET " TOKEN_KEY " refresh expires_ms"))
        refresh_end(rc);
}

static void token_refresh(gw_sender *s) {
    if (s->refreshing || s->closing)
        return;
    refresh_ctx *rc = calloc(1, sizeof *rc);
    if (!rc)
        return;
    unsigned char rnd[16];
    RAND_bytes(rnd, sizeof rnd);
    for (int i = 0; i < 16; i++)
        snprintf(rc->lock_id + i * 2, 3, "%02x", rnd[i]);
    rc->s = s;
    s->refreshing = 1;
    if (gw_store_cmdf(s->app->store, on_lock, rc, "SET " TOKEN_LOCK " %s NX PX %d", rc->lock_id,
                      TOKEN_LOCK_MS)) {
        s->refreshing = 0;
        free(rc);
    }
}

/* Jobs waiting for a retry stay ours: XCLAIM with idle 0 resets their idle time,
 * so no other process claims (and sends again) what this one is still retrying. */
static void touch_jobs(gw_sender *s) {
    if (!*s->app->consumer)
        return;
    for (int c = 0; c < GW_N_CHANNELS; c++) {
        gw_argv a = {0};
        gw_argv_adds(&a, "XCLAIM");
        gw_argv_addf(&a, GW_OUT_PREFIX "%s", gw_channel_names[c]);
        gw_argv_adds(&a, GW_GROUP);
        gw_argv_adds(&a, s->app->consumer);
        gw_argv_adds(&a, "0");
        size_t ids = 0;
        for (const job *j = s->jobs; j; j = j->next)
            if (!strcmp(j->ch, gw_channel_names[c])) {
                gw_argv_adds(&a, j->id);
                ids++;
            }
        gw_argv_adds(&a, "JUSTID");
        if (ids)
            gw_argv_send(s->app->store, &a, NULL, NULL);
        gw_argv_free(&a);
    }
}

static void on_token_timer(uv_timer_t *t) {
    gw_sender *s = t->data;
    if (!gw_store_up(s->app->store))
        return;
    touch_jobs(s);
    resume_parked(s);
    uint64_t now = uv_now(s->app->loop);
    if (now - s->last_token_check < TOKEN_CHECK_MS)
        return;
    s->last_token_check = now;
    if (s->zalo_expires_ms && s->zalo_expires_ms - gw_now_ms() < TOKEN_MARGIN_MS)
        token_refresh(s);
    else if (!s->refreshing) {
        s->refreshing = 1;
        token_reload(s); /* pick up what another process refreshed */
    }
}

/* ---- sending ---- */

static int64_t backoff_ms(const gw_sender *s, int attempt) {
    int64_t base = s->app->cfg->scheduler_backoff_base_ms,
            max = s->app->cfg->scheduler_backoff_max_ms;
    int64_t d = base;
    for (int i = 1; i < attempt && d < max; i++)
        d *= 2;
    if (d > max)
        d = max;
    unsigned char r[2];
    RAND_bytes(r, 2);
    /* full jitter on the upper half: [d/2, d) */
    return d / 2 + (d / 2) * ((r[0] << 8) | r[1]) / 65536;
}

static void on_retry_timer(uv_timer_t *t) {
    job *j = t->data;
    job_send(j);
}

/* job_send again in delay_ms. */
static void job_later(job *j, int64_t delay_ms) {
    if (j->s->draining)
        return; /* stays pending in Redis, unmarked: the next pass sends it */
    if (!j->timer) {
        j->timer = malloc(sizeof *j->timer);
        if (!j->timer) {
            job_finish(j); /* stays pending in Redis: another pass will take it */
            return;
        }
        uv_timer_init(j->s->app->loop, j->timer);
        j->timer->data = j;
    }
    uv_timer_start(j->timer, on_retry_timer, (uint64_t)delay_ms, 0);
}

static void job_retry(job *j, int64_t delay_ms, const char *reason) {
    gw_sender *s = j->s;
    if (j->attempts >= s->app->cfg->scheduler_max_attempts) {
        gw_log(GW_WARN, "send.dead", "{s:s, s:s, s:i, s:s}", "channel", j->ch, "entry", j->id,
               "attempts", j->attempts, "reason", reason);
        job_ack(j, reason);
        return;
    }
    if (delay_ms <= 0)
        delay_ms = backoff_ms(s, j->attempts);
    if (*j->notif) {
        notif_attempt(j, "retry", reason);
        gw_metrics_notif(s->app->metrics, j->ch, "retried");
    }
    gw_log(GW_INFO, "send.retry", "{s:s, s:s, s:i, s:I, s:s}", "channel", j->ch, "entry", j->id,
           "attempt", j->attempts, "delay_ms", (json_int_t)delay_ms, "reason", reason);
    job_later(j, delay_ms);
}

/* ---- wire marks (see the top of the file) ---- */

/* KEYS: mc:out:<ch> mc:wire:<ch>; ARGV: entry part. Sets the mark only while
 * the entry is pending: the acknowledgement (its HDEL) travels on the store's
 * connection, and Redis may read that one first. A mark arriving after the
 * acknowledgement names a message already done and is not written. */
static const char wire_mark_lua[] =
    "if #redis.call('XPENDING',KEYS[1],'" GW_GROUP "',ARGV[1],ARGV[1],1)>0 then "
    "redis.call('HSET',KEYS[2],ARGV[1],ARGV[2]) end";

/* Writes mark `part` of the job's entry on the marks' connection (gw_wire_cmdf's codes). */
static int wire_mark(job *j, int part) {
    return gw_wire_cmdf(j->s->wire, "EVAL %s 2 %s " WIRE_PREFIX "%s %s %d", wire_mark_lua,
                        j->stream, j->ch, j->id, part);
}

/* gw_httpc's before-send hook: the current part may reach the provider now.
 * The mark must be out of this process before the request is: no mark, no
 * request (on_answer then defers the attempt). Runs inside curl.
 * The store must be up too, or the outcome could not be recorded. A mark
 * behind a backlog on its connection is not even queued (gw_wire_cmdf),
 * because it would still reach Redis after a kill, naming a request that never
 * left (a lost message, not a saved duplicate). */
static int before_send(void *arg) {
    job *j = arg;
    gw_sender *s = j->s;
    int rc = MC_EUNAVAIL;
    if (!s->closing && !s->draining && gw_store_up(s->app->store))
        rc = wire_mark(j, (int)j->part);
    if (rc != MC_EUNAVAIL && rc != MC_ENOMEM)
        j->mark = (int)j->part; /* queued: it reaches Redis even if not all of it left yet */
    if (rc) {
        j->refused = 1;
        return -1;
    }
    return 0;
}

/* The current part certainly did not reach the provider (and no earlier attempt
 * of it may have): the mark goes back to the part before it, or away. */
static void unmark(job *j) {
    if (j->unsure || j->mark != (int)j->part)
        return;
    /* on the marks' connection: behind the mark it takes back */
    int rc = j->part == 0 ? gw_wire_cmdf(j->s->wire, "HDEL " WIRE_PREFIX "%s %s", j->ch, j->id)
                          : wire_mark(j, (int)j->part - 1);
    if (rc != MC_EUNAVAIL && rc != MC_ENOMEM) /* else the next unmark, or the ack, does it */
        j->mark = (int)j->part - 1;
}

/* The hook stopped the attempt (Redis down or its socket full): not an attempt
 * of the provider, so no retry is counted; again shortly. */
static void job_defer(job *j) {
    j->deferrals++;
    int64_t d = DEFER_MIN_MS;
    for (int i = 1; i < j->deferrals && d < DEFER_MAX_MS; i++)
        d *= 2;
    if (d > DEFER_MAX_MS)
        d = DEFER_MAX_MS;
    gw_log(j->deferrals == 1 ? GW_INFO : GW_DEBUG, "send.deferred", "{s:s, s:s, s:i, s:I}",
           "channel", j->ch, "entry", j->id, "times", j->deferrals, "delay_ms", (json_int_t)d);
    job_later(j, d);
}

/* Every part up to the last was on the wire in an earlier life: done, unconfirmed. */
static void job_unconfirmed(job *j) {
    gw_log(GW_WARN, "send.unconfirmed", "{s:s, s:s, s:i, s:s}", "channel", j->ch, "entry", j->id,
           "parts", (int)j->n_parts, "note", UNCONFIRMED_NOTE);
    j->unconfirmed = 1;
    job_ack(j, NULL);
}

static void on_sent_recorded(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    (void)r;
    (void)priv;
}

static void on_answer(void *arg, const gw_httpc_resp *r) {
    job *j = arg;
    gw_sender *s = j->s;
    j->in_http = 0;
    if (s->closing)
        return;
    if (j->refused) {
        j->refused = 0;
        if (r->on_wire)
            j->unsure = 1; /* refused on curl's second try: the first one had left */
        else
            unmark(j); /* the queued mark may still land: take it back behind it */
        job_defer(j);
        return;
    }
    j->deferrals = 0;
    const ch_adapter *ad = ch_adapter_find(j->ch);
    ch_result res;
    memset(&res, 0, sizeof res);
    ad->classify(r->status, r->body, r->body_len, r->retry_after, &res);
    if (res.verdict != CH_SENT) {
        if (r->status > 0 || !r->on_wire)
            unmark(j); /* the provider answered no, or the request never left */
        else
            j->unsure = 1; /* it left and no answer came: the provider may have it */
    }
    if (res.verdict == CH_SENT) {
        j->unsure = 0;
        snprintf(j->pid, sizeof j->pid, "%s", *res.provider_id ? res.provider_id : j->id);
        gw_store_cmdf(s->app->store, on_sent_recorded, NULL,
                      "HSET mc:dlv:%s:%s status sent entry %s ref %s notif %s at %" PRId64, j->ch,
                      j->pid, j->id, *j->ref ? j->ref : "-", *j->notif ? j->notif : "-",
                      gw_now_ms());
        gw_store_cmdf(s->app->store, NULL, NULL, "EXPIRE mc:dlv:%s:%s %d", j->ch,
                      *res.provider_id ? res.provider_id : j->id, DLV_TTL_S);
        gw_metrics_msg_out(s->app->metrics, j->ch);
        gw_log(GW_INFO, "send.sent", "{s:s, s:s, s:i, s:f}", "channel", j->ch, "entry", j->id,
               "part", (int)j->part, "ms", r->elapsed_ms);
        j->part++;
        j->attempts = 0;
        if (j->part < j->n_parts)
            job_send(j);
        else
            job_ack(j, NULL);
        return;
    }
    j->attempts++;
    if (res.verdict == CH_RETRY) {
        job_retry(j, res.retry_after_ms, *res.reason ? res.reason : "retry");
        return;
    }
    if (res.token_error && !strcmp(j->ch, "zalo") && !j->token_retried) {
        j->token_retried = 1;
        j->waiting_token = 1;
        gw_log(GW_WARN, "send.token_error", "{s:s, s:s}", "channel", j->ch, "detail", res.detail);
        token_refresh(s);
        return;
    }
    gw_log(GW_WARN, "send.permanent", "{s:s, s:s, s:s, s:s}", "channel", j->ch, "entry", j->id,
           "reason", res.reason, "detail", res.detail);
    job_ack(j, *res.reason ? res.reason : "permanent");
}

/* Parses the quick-reply JSON of the entry into q (pointing into *root). */
static size_t quick_of(const job *j, ch_quick *q, size_t max, json_t **root) {
    *root = NULL;
    if (!j->quick)
        return 0;
    json_t *a = json_loads(j->quick, 0, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(a) && n < max; i++) {
        const char *t = json_string_value(json_object_get(json_array_get(a, i), "title"));
        const char *p = json_string_value(json_object_get(json_array_get(a, i), "payload"));
        if (t && p)
            q[n++] = (ch_quick){t, p};
    }
    *root = a;
    return n;
}

static int job_render(job *j, char *err, size_t errlen) {
    gw_sender *s = j->s;
    const ch_adapter *ad = ch_adapter_find(j->ch);
    if (!ad) {
        snprintf(err, errlen, "no adapter");
        return MC_EINVAL;
    }
    ch_settings st;
    gw_channel_settings(s->app->cfg, j->ch, &st);
    if (!strcmp(j->ch, "zalo") && *s->zalo_access)
        st.access_token = s->zalo_access;
    ch_quick q[CH_MAX_QUICK];
    json_t *qroot = NULL;
    ch_outgoing o = {0};
    o.recipient = j->to;
    o.text = j->text;
    o.text_len = j->text_len;
    o.quick = q;
    o.n_quick = quick_of(j, q, CH_MAX_QUICK, &qroot);
    o.purpose = !strcmp(j->purpose, "update") ? CH_PURPOSE_UPDATE : CH_PURPOSE_REPLY;
    o.tag = *j->tag ? j->tag : NULL;
    o.tracking_id = j->id;
    o.reply_to = *j->ref ? j->ref : NULL;
    char *plain = NULL;
    size_t plain_len = 0;
    if (!strcmp(j->ch, "sms") && s->app->cfg->sms_unaccented && s->vn &&
        !vn_unaccent(s->vn, j->text, j->text_len, &plain, &plain_len)) {
        o.text = plain;
        o.text_len = plain_len;
    }
    int rc = ad->render(&st, &o, j->parts, MAX_PARTS, &j->n_parts, err, errlen);
    if (!rc && !strcmp(j->ch, "sms") && j->n_parts)
        gw_log(GW_INFO, "sms.segments", "{s:s, s:s, s:i}", "entry", j->id, "encoding",
               j->parts[0].encoding ? j->parts[0].encoding : "?", "segments", j->parts[0].segments);
    free(plain);
    json_decref(qroot);
    return rc;
}

static void job_send(job *j) {
    gw_sender *s = j->s;
    char err[256];
    if (j->n_parts == 0) {
        int rc = job_render(j, err, sizeof err);
        if (rc || j->n_parts == 0) {
            gw_log(GW_WARN, "send.render_failed", "{s:s, s:s, s:s}", "channel", j->ch, "entry",
                   j->id, "error", rc ? err : "nothing to send");
            job_ack(j, rc ? err : "empty");
            return;
        }
    }
    if (j->part >= j->n_parts) { /* resumed from a mark on the last part */
        job_unconfirmed(j);
        return;
    }
    if (s->draining)
        return; /* the next part waits for the next pass (the mark names the last sent) */
    if (gw_httpc_send_hooked(s->http, &j->parts[j->part], j->ch, on_answer, before_send, j)) {
        j->attempts++;
        job_retry(j, 0, "local_queue_full");
    } else
        j->in_http = 1;
}

static void copy_str(char *dst, size_t n, const redisReply *v) {
    size_t l = v->len < n - 1 ? v->len : n - 1;
    memcpy(dst, v->str, l);
    dst[l] = '\0';
}

/* Starts a job unless an earlier one to the same recipient is still here. */
static void job_go(job *j) {
    if (held_by_earlier(j->s, j)) {
        j->held = 1; /* job_finish of the earlier one starts it */
        return;
    }
    job_start(j);
}

/* The answer to a job's lookup (its mark, its broadcast's status) came: the
 * job, or NULL when there is no answer and the job was finished unsent (its
 * entry stays pending in Redis: another pass will take it). */
static job *looked_up(void *priv, const redisReply *r) {
    job *j = priv;
    j->looking = 0;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        job_finish(j);
        return NULL;
    }
    return j;
}

/* The wire mark of a re-delivered entry: the parts up to it count as sent. */
static void on_mark(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    job *j = looked_up(priv, r);
    if (!j)
        return;
    if (r->type == REDIS_REPLY_STRING) {
        char *end = NULL;
        long k = strtol(r->str, &end, 10);
        if (end == r->str || *end || k < 0 || k >= MAX_PARTS)
            k = MAX_PARTS - 1; /* not ours to read: the safe side is "all of it left" */
        j->mark = (int)k;
        j->part = (size_t)k + 1;
        gw_log(GW_INFO, "send.resume", "{s:s, s:s, s:i}", "channel", j->ch, "entry", j->id,
               "marked_part", (int)k);
    }
    job_go(j);
}

int gw_sender_take(gw_sender *s, const char *channel, const char *id, const redisReply *fields,
                   int redelivered, gw_sender_done_fn *done, void *arg) {
    if (s->closing || chan_index(channel) < 0)
        return MC_EINVAL;
    job *j = calloc(1, sizeof *j);
    if (!j)
        return MC_ENOMEM;
    j->s = s;
    j->mark = -1;
    snprintf(j->ch, sizeof j->ch, "%s", channel);
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->stream, sizeof j->stream, GW_OUT_PREFIX "%s", channel);
    snprintf(j->purpose, sizeof j->purpose, "reply");
    j->done = done;
    j->done_arg = arg;
    j->t0 = gw_now_ms();
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(k->str, "to"))
            copy_str(j->to, sizeof j->to, v);
        else if (!strcmp(k->str, "ref"))
            copy_str(j->ref, sizeof j->ref, v);
        else if (!strcmp(k->str, "purpose"))
            copy_str(j->purpose, sizeof j->purpose, v);
        else if (!strcmp(k->str, "tag"))
            copy_str(j->tag, sizeof j->tag, v);
        else if (!strcmp(k->str, "notif"))
            copy_str(j->notif, sizeof j->notif, v);
        else if (!strcmp(k->str, "bc"))
            copy_str(j->bc, sizeof j->bc, v);
        else if (!strcmp(k->str, "text") && !j->text && v->len <= MAX_TEXT) {
            j->text = strndup(v->str, v->len);
            j->text_len = v->len;
        } else if (!strcmp(k->str, "quick") && !j->quick)
            j->quick = strndup(v->str, v->len);
    }
    int valid = j->text && *j->to;
    /* Only an entry read before can have a mark; its lookup is pipelined with
     * the others of the same read. Queued before the job is linked: on failure
     * nothing is here and the entry stays pending for a later pass. */
    if (valid && redelivered) {
        if (gw_store_cmdf(s->app->store, on_mark, j, "HGET " WIRE_PREFIX "%s %s", j->ch, j->id)) {
            free(j->text);
            free(j->quick);
            free(j);
            return MC_EUNAVAIL;
        }
        j->looking = 1;
    }
    j->seq = ++s->next_seq;
    j->next = s->jobs;
    if (s->jobs)
        s->jobs->prev = j;
    s->jobs = j;
    s->n_jobs++;
    if (!valid) {
        gw_log(GW_WARN, "send.malformed_entry", "{s:s, s:s}", "channel", channel, "entry", id);
        job_ack(j, "malformed entry");
        return 0;
    }
    if (!j->looking)
        job_go(j);
    return 0;
}

/* The status of the job's broadcast, asked for right before its first part. */
static void on_bc_status(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    job *j = looked_up(priv, r);
    if (!j)
        return;
    if (r->type == REDIS_REPLY_STRING && !strcmp(r->str, "cancelled")) {
        gw_log(GW_INFO, "send.cancelled", "{s:s, s:s}", "channel", j->ch, "entry", j->id);
        j->cancelled = 1;
        job_ack(j, NULL);
        return;
    }
    job_start(j);
}

/* Sends a job, or writes it to the outbox when the channel has no credentials.
 * A broadcast recipient that has not left yet first checks that its broadcast
 * was not cancelled meanwhile (DELETE /broadcasts/{id} cancels what the
 * scheduler still holds; this stops what already waits on the stream). A part
 * that may have left (a wire mark) is past cancelling. */
static void job_start(job *j) {
    gw_sender *s = j->s;
    if (!j->bc_checked && *j->bc && j->part == 0 && j->mark < 0) {
        j->bc_checked = 1;
        if (!gw_store_cmdf(s->app->store, on_bc_status, j, "HGET " GW_BC_PREFIX "%s status",
                           j->bc)) {
            j->looking = 1;
            return;
        }
    }
    if (!gw_channel_can_send(s->app->cfg, j->ch)) {
        if (*s->app->cfg->outbox_dir) {
            job_outbox(j);
            return;
        }
        job_ack(j, "channel has no credentials and no outbox");
        return;
    }
    job_send(j);
}

int gw_sender_has(const gw_sender *s, const char *channel, const char *id) {
    for (const job *j = s->jobs; j; j = j->next)
        if (!strcmp(j->id, id) && !strcmp(j->ch, channel))
            return 1;
    return 0;
}

size_t gw_sender_busy(const gw_sender *s) {
    return s->n_jobs;
}

static void on_token_seeded(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    (void)r;
    gw_sender *s = priv;
    s->refreshing = 1;
    token_reload(s);
}

/* mkdir -p: the outbox folder and any missing parent (start-up only). 0 or -1 (errno). */
static int mkdir_parents(const char *dir) {
    char p[1024];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0750) && errno != EEXIST)
            return -1;
        p[i] = c;
    }
    return 0;
}

gw_sender *gw_sender_new(gw_app *app, char *err, size_t errlen) {
    gw_sender *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->app = app;
    for (int i = 0; i < GW_N_CHANNELS; i++)
        s->outbox_fd[i] = -1;
    gw_httpc_opts ho = {0};
    s->http = gw_httpc_new(app->loop, &ho, err, errlen);
    if (!s->http)
        goto fail;
    s->vn = vn_normalizer_new(err, errlen);
    if (!s->vn)
        goto fail;
    s->wire = gw_wire_new(app->loop, &app->cfg->redis);
    if (!s->wire) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (*app->cfg->outbox_dir && mkdir_parents(app->cfg->outbox_dir)) {
        snprintf(err, errlen, "cannot create outbox %s: %s", app->cfg->outbox_dir, strerror(errno));
        goto fail;
    }
    snprintf(s->zalo_access, sizeof s->zalo_access, "%s", app->cfg->zalo_access_token);
    uv_timer_init(app->loop, &s->token_timer);
    s->token_timer.data = s;
    /* a third of the claim time: our retrying jobs never look idle to others */
    uint64_t tick = (uint64_t)app->cfg->worker_claim_idle_ms / 3;
    if (tick > TOKEN_CHECK_MS)
        tick = TOKEN_CHECK_MS;
    if (tick < 50)
        tick = 50;
    uv_timer_start(&s->token_timer, on_token_timer, 1000 < tick ? 1000 : tick, tick);
    return s;
fail:
    gw_httpc_free(s->http);
    vn_normalizer_free(s->vn);
    gw_wire_free(s->wire);
    free(s);
    return NULL;
}

/* The configured Zalo tokens seed Redis once; afterwards Redis is the truth. */
static void seed_token(gw_store *st, int up, void *priv) {
    gw_sender *s = priv;
    const gw_config *c = s->app->cfg;
    if (!up || !c->zalo_enabled || (!*c->zalo_access_token && !*c->zalo_refresh_token))
        return;
    gw_store_cmdf(st, NULL, NULL, "HSETNX " TOKEN_KEY " access %s", c->zalo_access_token);
    gw_store_cmdf(st, NULL, NULL, "HSETNX " TOKEN_KEY " expires_ms 0");
    gw_store_cmdf(st, on_token_seeded, s, "HSETNX " TOKEN_KEY " refresh %s", c->zalo_refresh_token);
}

void gw_sender_store_up(gw_sender *s) {
    if (s->store_ups++) /* the store came back: the marks' link follows it */
        gw_wire_reset(s->wire);
    seed_token(s->app->store, 1, s);
    resume_parked(s);
}

/* The sender goes once its timer is closed and no outbox write holds a job. */
static void sender_release(gw_sender *s) {
    if (!s->closing || !s->timer_closed || s->writes)
        return;
    for (int i = 0; i < GW_N_CHANNELS; i++)
        if (s->outbox_fd[i] >= 0)
            close(s->outbox_fd[i]);
    free(s);
}

static void on_token_timer_closed(uv_handle_t *h) {
    gw_sender *s = h->data;
    s->timer_closed = 1;
    sender_release(s);
}

/* ---- orderly shutdown ---- */

/* Over when no request of ours is with the provider and no outcome is on its way
 * to Redis (parked ones only count while Redis is up to take them). */
static int drain_over(const gw_sender *s) {
    int up = gw_store_up(s->app->store);
    for (const job *j = s->jobs; j; j = j->next)
        if (j->in_http || j->acking || j->writing || (up && j->parked))
            return 0;
    return 1;
}

static void on_drain_timer(uv_timer_t *t) {
    gw_sender *s = t->data;
    if (!s->drained)
        return;
    int over = drain_over(s);
    if (!over && uv_now(s->app->loop) < s->drain_deadline)
        return;
    if (!over)
        gw_log(GW_WARN, "send.drain_timeout", "{s:I}", "jobs", (json_int_t)s->n_jobs);
    uv_timer_stop(t);
    gw_sender_done_fn *cb = s->drained;
    s->drained = NULL;
    cb(s->drained_arg);
}

void gw_sender_drain(gw_sender *s, uint64_t timeout_ms, gw_sender_done_fn *done, void *arg) {
    s->draining = 1;
    s->drained = done;
    s->drained_arg = arg;
    s->drain_deadline = uv_now(s->app->loop) + timeout_ms;
    /* retries and deferrals waiting for their timer stay pending in Redis */
    for (job *j = s->jobs; j; j = j->next)
        if (j->timer)
            uv_timer_stop(j->timer);
    if (!s->drain_timer && (s->drain_timer = malloc(sizeof *s->drain_timer)) != NULL) {
        uv_timer_init(s->app->loop, s->drain_timer);
        s->drain_timer->data = s;
    }
    if (!s->drain_timer) {
        s->drained = NULL;
        done(arg);
        return;
    }
    uv_timer_start(s->drain_timer, on_drain_timer, 0, DRAIN_CHECK_MS);
}

void gw_sender_free(gw_sender *s) {
    if (!s)
        return;
    s->closing = 1;
    if (s->drain_timer) {
        uv_timer_stop(s->drain_timer);
        uv_close((uv_handle_t *)s->drain_timer, on_timer_closed);
        s->drain_timer = NULL;
    }
    /* cancelled requests call back now, while their jobs still exist */
    gw_httpc_free(s->http);
    s->http = NULL;
    for (job *j = s->jobs, *next; j; j = next) {
        next = j->next;
        j->done = NULL;
        if (!j->writing)
            job_free(j);
    }
    vn_normalizer_free(s->vn);
    s->vn = NULL;
    gw_wire_free(s->wire);
    s->wire = NULL;
    uv_timer_stop(&s->token_timer);
    uv_close((uv_handle_t *)&s->token_timer, on_token_timer_closed);
}
