/*
 * test_gw_sender.c — the sender's job state machine (gateway/dispatch/README.md),
 * driven for real: each test starts its own redis-server (tests/unit/test_redis.h:
 * unix socket in a temporary folder, append-only file fsynced at every write, so
 * that a kill -9 and a restart keep the data; killed by pid), and a provider
 * stand-in runs in this process on the sender's own libuv loop: an HTTP/1.1
 * server on 127.0.0.1 that answers each request from the test's script (status,
 * headers, body; or "hold" until the test lets it go) and records what it got.
 *
 * Every key comes from the keyspace (gateway/store/gw_keys.h), of NPART
 * partitions. A message is put on the outbound stream of its partition (a
 * notification's: the partition its id names; a reply's: the citizen's) and read
 * through the consumer group as the worker would, then handed to gw_sender_take;
 * the tests look at what the provider saw and at what Redis holds afterwards (the
 * notification hash, its attempts, the dead-letter streams, the pending list, the
 * wire marks, the delivery records). The notifications' ids name another partition
 * than their citizen's, so a key looked for in the wrong partition is not found.
 *
 * TEST_LOG=debug shows the sender's log lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "channels/ch.h"
#include "core/mc.h"
#include "gateway/app/gw_app.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_config.h"
#include "gateway/app/gw_log.h"
#include "gateway/app/gw_metrics.h"
#include "gateway/app/gw_time.h"
#include "gateway/dispatch/gw_sender.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_store.h"
#include "vi-nlp/vn_norm.h"

#define WAIT_MS 8000 /* longest wait for a condition (before test_redis.h) */
#include "test_redis.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define PROV_MAX_REQ 16 /* requests the provider stand-in records */
#define PROV_BUF 65536  /* request bytes one of its connections buffers */
#define PROV_BODY 8192  /* bytes of a request body it keeps */
#define MAX_SCRIPT 8    /* answers a test scripts */
#define LOOP_LAG_MS 20  /* a libuv timer counts from the loop's cached time: may end this early */
#define NPART 16        /* partitions of the test's keyspace ([redis] partitions' default) */
#define HOUR_MS 3600000LL
#define ZONE "Asia/Ho_Chi_Minh"
#define CONSUMER "test-sender"
#define UNCONFIRMED "unconfirmed: the dispatcher stopped during the request"

/* Notifications of partition 5: none of the test's citizens lives there. */
#define N1 "5-n1"
#define NA "5-na"
#define NB "5-nb"
#define BC "7-b1" /* a broadcast of partition 7; its recipients' ids name theirs */

/* ------------------------------------------------------------ provider */

/* One scripted answer. status 0 ends a script: later requests get the
 * channel's success answer. */
typedef struct answer {
    int status;
    const char *headers; /* extra header lines, each ending in \r\n, or NULL */
    const char *body;    /* NULL: the channel's success answer */
    int hold;            /* kept back until provider_release */
} answer;

/* A request as the provider saw it. */
typedef struct seen {
    char line[256];       /* "POST /v21.0/me/messages?access_token=..." */
    char token[128];      /* its access_token header (Zalo), or "" */
    char body[PROV_BODY]; /* cut to fit */
    double at_ms;         /* arrival, monotonic */
} seen;

typedef struct provider provider;

typedef struct pconn {
    uv_tcp_t tcp;
    provider *p;
    struct pconn *next; /* the provider's open connections */
    char buf[PROV_BUF + 1];
    size_t len;
    int closed;
} pconn;

struct provider {
    uv_tcp_t listener;
    int port;
    answer script[MAX_SCRIPT]; /* this test's answers, in order */
    size_t next;               /* the next one to give */
    seen req[PROV_MAX_REQ];
    size_t n;         /* requests seen */
    pconn *held;      /* the connection whose answer is kept back, or NULL */
    answer held_with; /* that answer */
    size_t held_n;    /* which request it answers */
    pconn *conns;     /* open connections */
};

typedef struct pwreq {
    uv_write_t req;
    char *buf;
} pwreq;

static double mono_ms(void) {
    return (double)uv_hrtime() / 1e6;
}

static void on_pconn_closed(uv_handle_t *h) {
    free(h->data);
}

static void pconn_close(pconn *c) {
    if (c->closed)
        return;
    c->closed = 1;
    if (c->p->held == c)
        c->p->held = NULL;
    for (pconn **pp = &c->p->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    uv_close((uv_handle_t *)&c->tcp, on_pconn_closed);
}

static void on_pwritten(uv_write_t *req, int status) {
    (void)status;
    pwreq *w = (pwreq *)req;
    free(w->buf);
    free(w);
}

/* The success answer of the channel a request was for. */
static const char *success_body(const char *line, size_t n, char *buf, size_t cap) {
    if (strstr(line, "/v4/oa/access_token"))
        snprintf(buf, cap,
                 "{\"access_token\":\"zat-new\",\"refresh_token\":\"zrt-new\","
                 "\"expires_in\":\"90000\"}");
    else if (strstr(line, "/oa/message"))
        snprintf(buf, cap,
                 "{\"error\":0,\"message\":\"Success\",\"data\":{\"message_id\":\"z.%zu\"}}", n);
    else
        snprintf(buf, cap, "{\"recipient_id\":\"psid\",\"message_id\":\"m.%zu\"}", n);
    return buf;
}

static void respond(pconn *c, const answer *a, size_t n) {
    char dflt[256];
    const char *body = a->body ? a->body : success_body(c->p->req[n].line, n, dflt, sizeof dflt);
    size_t blen = strlen(body);
    pwreq *w = calloc(1, sizeof *w);
    w->buf = malloc(blen + 512);
    int hl = snprintf(w->buf, 512,
                      "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%sContent-Length: "
                      "%zu\r\n\r\n",
                      a->status, a->headers ? a->headers : "", blen);
    memcpy(w->buf + hl, body, blen);
    uv_buf_t b = uv_buf_init(w->buf, (unsigned)(hl + (int)blen));
    uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_pwritten);
}

/* The value of header `name` (lower case) in head, copied into out ("" when absent). */
static void header_of(const char *head, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *l = strstr(head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
        const char *p = l + 2;
        size_t i = 0;
        while (i < nl && p[i] && tolower((unsigned char)p[i]) == name[i])
            i++;
        if (i < nl || p[i] != ':')
            continue;
        p += nl + 1;
        while (*p == ' ')
            p++;
        size_t vl = strcspn(p, "\r");
        if (vl >= cap)
            vl = cap - 1;
        memcpy(out, p, vl);
        out[vl] = '\0';
        return;
    }
}

/* Takes every complete request out of c's buffer and answers it (or holds it). */
static void serve(pconn *c) {
    provider *p = c->p;
    for (;;) {
        c->buf[c->len] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n");
        if (!end)
            return;
        char cl[32];
        *end = '\0';
        header_of(c->buf, "content-length", cl, sizeof cl);
        size_t head = (size_t)(end - c->buf) + 4, blen = (size_t)strtoul(cl, NULL, 10);
        if (c->len < head + blen) {
            *end = '\r';
            return;
        }
        assert_true(p->n < PROV_MAX_REQ);
        seen *r = &p->req[p->n];
        size_t ll = strcspn(c->buf, "\r");
        snprintf(r->line, sizeof r->line, "%.*s", (int)ll, c->buf);
        header_of(c->buf, "access_token", r->token, sizeof r->token);
        snprintf(r->body, sizeof r->body, "%.*s", (int)blen, c->buf + head);
        r->at_ms = mono_ms();
        answer a = {.status = 200};
        if (p->next < MAX_SCRIPT && p->script[p->next].status)
            a = p->script[p->next++];
        if (a.hold) {
            p->held = c;
            p->held_with = a;
            p->held_n = p->n;
        } else
            respond(c, &a, p->n);
        p->n++;
        memmove(c->buf, c->buf + head + blen, c->len - head - blen);
        c->len -= head + blen;
    }
}

static void on_palloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    (void)hint;
    pconn *c = h->data;
    *b = uv_buf_init(c->buf + c->len, (unsigned)(PROV_BUF - c->len));
}

static void on_pread(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    (void)b;
    pconn *c = s->data;
    if (n < 0) {
        pconn_close(c);
        return;
    }
    c->len += (size_t)n;
    serve(c);
}

static void on_pconnect(uv_stream_t *l, int status) {
    provider *p = l->data;
    if (status)
        return;
    pconn *c = calloc(1, sizeof *c);
    c->p = p;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, on_pconn_closed);
        return;
    }
    c->next = p->conns;
    p->conns = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_palloc, on_pread);
}

static int provider_start(provider *p, uv_loop_t *loop) {
    struct sockaddr_in a;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &p->listener);
    p->listener.data = p;
    if (uv_tcp_bind(&p->listener, (const struct sockaddr *)&a, 0) ||
        uv_listen((uv_stream_t *)&p->listener, 16, on_pconnect) ||
        uv_tcp_getsockname(&p->listener, (struct sockaddr *)&bound, &len))
        return -1;
    p->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

/* Sends the held answer. */
static void provider_release(provider *p) {
    assert_non_null(p->held);
    pconn *c = p->held;
    p->held = NULL;
    respond(c, &p->held_with, p->held_n);
    serve(c); /* a request that came behind it on the same connection */
}

static void provider_stop(provider *p) {
    while (p->conns)
        pconn_close(p->conns);
    uv_close((uv_handle_t *)&p->listener, NULL);
}

/* -------------------------------------------------------------- fixture */

typedef struct fx {
    uv_loop_t loop;
    redis_proc redis;
    redisContext *c; /* the test's own synchronous link */
    provider prov;
    gw_config *cfg;
    gw_metrics *metrics;
    vn_normalizer *vn;
    gw_keyspace *keys;
    gw_tz *tz;
    gw_app app;
    gw_store *store;
    gw_sender *s;
    int done;    /* entries finished (the reader's done callback) */
    int drained; /* drain callbacks */
    char outbox[96];
    const void *row; /* the table row of a table-driven test */
} fx;

/* ---------------------------------------------------------------- redis */

static redisReply *vrq(redisContext *c, const char *fmt, va_list ap) {
    redisReply *rep = redisvCommand(c, fmt, ap);
    assert_non_null(rep);
    return rep;
}

/* One command on the test's link; the reply (freed by the caller), never NULL. */
static redisReply *rq(fx *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = vrq(f->c, fmt, ap);
    va_end(ap);
    return rep;
}

/* Asserts that a command answers the string want ("" for nil). */
static void expect_str(fx *f, const char *want, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = vrq(f->c, fmt, ap);
    va_end(ap);
    assert_string_equal(rep->type == REDIS_REPLY_STRING ? rep->str : "", want);
    freeReplyObject(rep);
}

/* An integer reply, -1 for any other kind. */
static long long ri(fx *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = vrq(f->c, fmt, ap);
    va_end(ap);
    long long v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return v;
}

/* Starts (or restarts, on the same data) the test's redis-server and its link. */
static int redis_up(fx *f) {
    if (redis_start(&f->redis, NULL))
        return -1;
    f->c = redis_link(&f->redis, NULL, 0);
    return f->c ? 0 : -1;
}

/* Kills it (-9: the append-only file keeps what it acknowledged). */
static void redis_down(fx *f) {
    redisFree(f->c);
    f->c = NULL;
    redis_stop(&f->redis);
}

/* A key of the test's keyspace into buf, an array: the family, its partition, its
 * parts. */
#define KEY(f, buf, ...) assert_true(gw_key((f)->keys, (buf), sizeof(buf), __VA_ARGS__) > 0)

/* The partition of the citizen "<ch>:<to>". */
static unsigned who_part(const fx *f, const char *ch, const char *to) {
    char who[160];
    int n = snprintf(who, sizeof who, "%s:%s", ch, to);
    return gw_keyspace_part_of(f->keys, who, (size_t)n);
}

/* The partition a notification's id names. */
static unsigned id_part(const fx *f, const char *notif) {
    long p = gw_keyspace_part_of_id(f->keys, notif);
    assert_true(p >= 0);
    return (unsigned)p;
}

/* ---------------------------------------------------------- setup, teardown */

static void set(fx *f, const char *section, const char *key, const char *value) {
    gw_errlist errs = {0};
    int rc = gw_config_set(f->cfg, section, key, value, "test", &errs);
    if (rc)
        fprintf(stderr, "%s\n", errs.n ? errs.lines[0] : "?");
    gw_errlist_clear(&errs);
    assert_int_equal(rc, 0);
}

static int setup(void **state) {
    char err[128];
    fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->row = *state;
    *state = f;
    gw_log_set_level(getenv("TEST_LOG") ? getenv("TEST_LOG") : "error");
    uv_loop_init(&f->loop);
    f->redis.aof = 1;
    if (redis_dir(&f->redis, "test_gw_sender"))
        return -1;
    snprintf(f->outbox, sizeof f->outbox, "%s/outbox", f->redis.dir);
    if (redis_up(f) || provider_start(&f->prov, &f->loop))
        return -1;
    if (!(f->keys = gw_keyspace_new(NPART)) || !(f->tz = gw_tz_new(ZONE, err, sizeof err)))
        return -1;
    char url[160], base[64];
    snprintf(url, sizeof url, "unix:%s", f->redis.sock);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", f->prov.port);
    f->cfg = gw_config_new();
    set(f, "redis", "url", url);
    set(f, "facebook", "enabled", "true");
    set(f, "facebook", "page_access_token", "fb-page-token");
    set(f, "facebook", "api_base", base);
    set(f, "zalo", "api_base", base);
    set(f, "zalo", "oauth_base", base);
    set(f, "scheduler", "backoff_base_ms", "40");
    set(f, "scheduler", "backoff_max_ms", "80");
    set(f, "scheduler", "max_attempts", "3");
    return 0;
}

static void on_store_state(gw_store *st, int up, void *priv) {
    (void)st;
    fx *f = priv;
    if (up && f->s)
        gw_sender_store_up(f->s);
}

/* Runs the loop for about ms milliseconds. */
static void spin(fx *f, int ms) {
    for (double end = mono_ms() + ms; mono_ms() < end;) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

#define SPIN_UNTIL(f, cond)                                                                        \
    do {                                                                                           \
        double end_ = mono_ms() + WAIT_MS;                                                         \
        while (!(cond) && mono_ms() < end_) {                                                      \
            uv_run(&(f)->loop, UV_RUN_NOWAIT);                                                     \
            usleep(1000);                                                                          \
        }                                                                                          \
        assert_true(cond);                                                                         \
    } while (0)

/* Opens the store and the sender as gw_serve does, once the test's config is set. */
static void open_sender(fx *f) {
    char err[256] = "";
    f->metrics = gw_metrics_new();
    f->vn = vn_normalizer_new(err, sizeof err);
    assert_non_null(f->vn);
    f->app = (gw_app){.loop = &f->loop,
                      .cfg = f->cfg,
                      .metrics = f->metrics,
                      .vn = f->vn,
                      .tz = f->tz,
                      .keys = f->keys,
                      .consumer = CONSUMER};
    f->store = gw_store_new(&f->loop, &f->cfg->redis);
    assert_non_null(f->store);
    f->app.store = f->store;
    gw_store_on_state(f->store, on_store_state, f);
    int rc = gw_sender_open(&f->app, &f->s, err, sizeof err);
    if (rc)
        fprintf(stderr, "gw_sender_open: %s\n", err);
    assert_int_equal(rc, 0);
    SPIN_UNTIL(f, gw_store_up(f->store));
    spin(f, 30); /* the wire marks' link: its handshake */
}

static int teardown(void **state) {
    fx *f = *state;
    /* gw_serve's order: the store goes first (its pending callbacks answered
     * while the sender lives), then the sender */
    f->app.store = NULL;
    gw_store_free(f->store);
    gw_sender_free(f->s);
    provider_stop(&f->prov);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    redisFree(f->c);
    redis_clear(&f->redis);
    vn_normalizer_free(f->vn);
    gw_metrics_free(f->metrics);
    gw_config_free(f->cfg);
    gw_keyspace_free(f->keys);
    gw_tz_free(f->tz);
    free(f);
    return 0;
}

/* ---------------------------------------------------------- the messages */

/* When the citizen last wrote, against the channel's window (a chat channel's policy):
 * the sender looks at it before the first request of a notification. */
typedef enum conv_age {
    CONV_NOW,     /* a moment ago */
    CONV_INSIDE,  /* an hour before the window closes */
    CONV_OUTSIDE, /* an hour after it closed */
    CONV_NONE,    /* no conversation hash at all */
} conv_age;

typedef struct msg {
    const char *ch;       /* channel; NULL = facebook */
    const char *notif;    /* notification id (hash written with status sending), NULL = a reply */
    const char *channels; /* the notification's fallback list; NULL = ch alone */
    const char *bc;       /* its broadcast, or NULL */
    const char *to;       /* recipient; NULL = "psid-1" */
    const char *text;     /* NULL = a short text */
    int redelivered;      /* handed over as read before */
    const char *mark;     /* a wire mark left by an earlier life, or NULL */
    conv_age conv;        /* the citizen's last message */
} msg;

/* An entry as the test put it on its stream. */
typedef struct entry {
    char ch[16];              /* its channel */
    char id[48];              /* its entry id */
    unsigned part;            /* its stream's partition */
    unsigned who;             /* its citizen's partition */
    char stream[GW_KEYS_MAX]; /* the outbound stream of ch in part */
    char wire[GW_KEYS_MAX];   /* that stream's wire marks */
} entry;

static void on_done(void *arg) {
    ((fx *)arg)->done++;
}

/* The citizen's conversation, as the turn leaves it: in their partition. */
static void put_conv(fx *f, const char *ch, const char *to, conv_age age) {
    const ch_adapter *ad = ch_adapter_find(ch);
    int64_t window = ad && ad->policy ? ad->policy->window_ms : 0, last = gw_now_ms();
    char k[GW_KEYS_MAX];
    if (age == CONV_NONE)
        return;
    if (age == CONV_INSIDE)
        last -= window - HOUR_MS;
    else if (age == CONV_OUTSIDE)
        last -= window + HOUR_MS;
    KEY(f, k, GW_K_CONV, who_part(f, ch, to), ch, to);
    freeReplyObject(rq(f, "HSET %s last_in_ms %" PRId64, k, last));
}

/* Puts m on its outbound stream as gw_sched (or the worker, for a reply) would,
 * reads it through the group as our consumer, and hands it to the sender. */
static void take(fx *f, const msg *m, entry *e) {
    const char *ch = m->ch ? m->ch : "facebook";
    const char *to = m->to ? m->to : "psid-1";
    const char *text = m->text ? m->text : "Hồ sơ của bạn đã được tiếp nhận.";
    redisReply *r;
    memset(e, 0, sizeof *e);
    snprintf(e->ch, sizeof e->ch, "%s", ch);
    e->who = who_part(f, ch, to);
    e->part = m->notif ? id_part(f, m->notif) : e->who;
    if (m->notif && !m->bc) /* the test's ids: found only in the right partition */
        assert_int_not_equal(e->part, e->who);
    KEY(f, e->stream, GW_K_OUT, e->part, ch);
    KEY(f, e->wire, GW_K_WIRE, e->part, ch);
    put_conv(f, ch, to, m->conv);
    freeReplyObject(
        rq(f, "XGROUP CREATE %s " GW_GROUP " $ MKSTREAM", e->stream)); /* or BUSYGROUP */
    if (m->notif) {
        char nk[GW_KEYS_MAX];
        KEY(f, nk, GW_K_NOTIF, e->part, m->notif);
        freeReplyObject(rq(f, "HSET %s status sending dept d1 channels %s idx 0", nk,
                           m->channels ? m->channels : ch));
        if (m->bc)
            r = rq(f, "XADD %s * to %s text %s purpose update notif %s bc %s", e->stream, to, text,
                   m->notif, m->bc);
        else
            r = rq(f, "XADD %s * to %s text %s purpose update notif %s", e->stream, to, text,
                   m->notif);
    } else
        r = rq(f, "XADD %s * to %s text %s purpose reply", e->stream, to, text);
    freeReplyObject(r);
    r = rq(f, "XREADGROUP GROUP " GW_GROUP " " CONSUMER " COUNT 1 STREAMS %s >", e->stream);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    const redisReply *got = r->element[0]->element[1]->element[0];
    snprintf(e->id, sizeof e->id, "%s", got->element[0]->str);
    if (m->mark)
        freeReplyObject(rq(f, "HSET %s %s %s", e->wire, e->id, m->mark));
    assert_int_equal(gw_sender_take(f->s, e->stream, e->part, ch, e->id, got->element[1],
                                    m->redelivered, on_done, f),
                     0);
    assert_int_equal(gw_sender_has(f->s, e->stream, e->id), 1);
    freeReplyObject(r);
}

/* Asserts a field of a notification's hash ("" for none). */
static void expect_notif(fx *f, const char *notif, const char *field, const char *want) {
    char k[GW_KEYS_MAX];
    KEY(f, k, GW_K_NOTIF, id_part(f, notif), notif);
    expect_str(f, want, "HGET %s %s", k, field);
}

/* Asserts the `result` fields of a notification's attempts, in order
 * ("retry,sent"), and that the first one's note contains note ("" = no note). */
static void expect_attempts(fx *f, const char *notif, const char *want, const char *note) {
    char k[GW_KEYS_MAX];
    KEY(f, k, GW_K_ATTEMPTS, id_part(f, notif), notif);
    redisReply *r = rq(f, "LRANGE %s 0 -1", k);
    char got[256] = "";
    for (size_t i = 0; i < r->elements; i++) {
        const char *p = strstr(r->element[i]->str, "\"result\":\"");
        size_t used = strlen(got);
        if (p)
            snprintf(got + used, sizeof got - used, "%s%.*s", i ? "," : "",
                     (int)strcspn(p + 10, "\""), p + 10);
    }
    if (r->elements && *note)
        assert_non_null(strstr(r->element[0]->str, note));
    else if (r->elements)
        assert_null(strstr(r->element[0]->str, "\"note\""));
    freeReplyObject(r);
    assert_string_equal(got, want);
}

/* Entries of e's stream still pending in the group. */
static long long pending(fx *f, const entry *e) {
    redisReply *r = rq(f, "XPENDING %s " GW_GROUP, e->stream);
    long long n = r->type == REDIS_REPLY_ARRAY ? r->element[0]->integer : -1;
    freeReplyObject(r);
    return n;
}

/* The entry is finished in Redis: acknowledged, deleted, its wire mark gone, and
 * the sender holds nothing any more. */
static void expect_settled(fx *f, const entry *e) {
    assert_int_equal(pending(f, e), 0);
    assert_int_equal(ri(f, "XLEN %s", e->stream), 0); /* XDEL'd with its XACK */
    assert_int_equal(ri(f, "HEXISTS %s %s", e->wire, e->id), 0);
    assert_int_equal(gw_sender_busy(f->s), 0);
    assert_int_equal(gw_sender_has(f->s, e->stream, e->id), 0);
}

/* Asserts the `notif` field of the delivery record of provider id pid, sent to
 * e's citizen: in their partition, where the receipts for it arrive. */
static void expect_dlv(fx *f, const entry *e, const char *pid, const char *notif) {
    char k[GW_KEYS_MAX];
    KEY(f, k, GW_K_DLV, e->who, e->ch, pid);
    expect_str(f, notif, "HGET %s notif", k);
}

/* Dead letters in every partition. */
static long long dead_letters(fx *f) {
    long long n = 0;
    for (unsigned p = 0; p < NPART; p++) {
        char k[GW_KEYS_MAX];
        KEY(f, k, GW_K_DEAD, p);
        n += ri(f, "XLEN %s", k);
    }
    return n;
}

/* The value of motcua_notifications_total{channel="facebook",result=...}, 0 when absent. */
static int notif_metric(fx *f, const char *result) {
    size_t len;
    char *text = gw_metrics_render(f->metrics, &len), want[160];
    snprintf(want, sizeof want, "motcua_notifications_total{channel=\"facebook\",result=\"%s\"} ",
             result);
    const char *p = strstr(text, want);
    int v = p ? atoi(p + strlen(want)) : 0;
    free(text);
    return v;
}

/* ---------------------------------------------------------- the tests */

/* One message and the provider's answers, start to finish. */
typedef struct outcome_row {
    const char *name;
    int notification;         /* 1: a notification (N1); 0: a reply */
    const char *channels;     /* its fallback list */
    const char *max_attempts; /* [scheduler] max_attempts; NULL: 3 */
    answer script[MAX_SCRIPT];
    size_t requests;      /* requests the provider gets */
    const char *status;   /* the notification's status afterwards ("" for a reply) */
    const char *attempts; /* its attempts' results */
    const char *dead;     /* reason of the dead letter, or NULL when there is none */
    const char *metric;   /* the notification's last outcome metric */
    conv_age conv;        /* the citizen's last message */
    const char *error;    /* in the first attempt entry, or NULL */
} outcome_row;

#define FB_REFUSED "{\"error\":{\"code\":10,\"message\":\"outside of allowed window\"}}"
#define OUTSIDE "\"error\":\"outside_window\""

static const outcome_row outcomes[] = {
    {.name = "sent: acknowledged, the notification sent",
     .notification = 1,
     .channels = "facebook",
     .requests = 1,
     .status = "sent",
     .attempts = "sent",
     .metric = "sent"},
    {.name = "5xx: retried with backoff, then sent",
     .notification = 1,
     .channels = "facebook",
     .script = {{.status = 500}, {.status = 503}},
     .requests = 3,
     .status = "sent",
     .attempts = "retry,retry,sent",
     .metric = "sent"},
    {.name = "permanent: the next channel of the notification",
     .notification = 1,
     .channels = "facebook,sms",
     .script = {{.status = 400, .body = FB_REFUSED}},
     .requests = 1,
     .status = "scheduled",
     .attempts = "failed",
     .metric = "failed"},
    {.name = "permanent on the last channel: dead with the reason",
     .notification = 1,
     .channels = "facebook",
     .script = {{.status = 400, .body = FB_REFUSED}},
     .requests = 1,
     .status = "dead",
     .attempts = "failed",
     .dead = "outside_window",
     .metric = "dead"},
    {.name = "out of attempts: dead",
     .notification = 1,
     .channels = "facebook",
     .max_attempts = "2",
     .script = {{.status = 500}, {.status = 500}},
     .requests = 2,
     .status = "dead",
     .attempts = "retry,failed",
     .dead = "unavailable",
     .metric = "dead"},
    {.name = "a reply refused: the dead-letter stream",
     .script = {{.status = 400, .body = FB_REFUSED}},
     .requests = 1,
     .status = "",
     .attempts = "",
     .dead = "outside_window"},
    {.name = "a reply sent", .requests = 1, .status = "", .attempts = ""},
    /* the chat window, checked by the sender before the first request */
    {.name = "inside the window (it closes in an hour): sent",
     .notification = 1,
     .channels = "facebook,sms",
     .conv = CONV_INSIDE,
     .requests = 1,
     .status = "sent",
     .attempts = "sent",
     .metric = "sent"},
    {.name = "outside the window: skipped without a request, the next channel",
     .notification = 1,
     .channels = "facebook,sms",
     .conv = CONV_OUTSIDE,
     .status = "scheduled",
     .attempts = "skipped",
     .error = OUTSIDE,
     .metric = "failed"},
    {.name = "no conversation: skipped, dead on its last channel",
     .notification = 1,
     .channels = "facebook",
     .conv = CONV_NONE,
     .status = "dead",
     .attempts = "skipped",
     .error = OUTSIDE,
     .dead = "outside_window",
     .metric = "dead"},
};

static void test_outcome(void **state) {
    fx *f = *state;
    const outcome_row *row = f->row;
    entry e;
    print_message("%s\n", row->name);
    if (row->max_attempts)
        set(f, "scheduler", "max_attempts", row->max_attempts);
    memcpy(f->prov.script, row->script, sizeof row->script);
    open_sender(f);
    take(f,
         &(msg){
             .notif = row->notification ? N1 : NULL, .channels = row->channels, .conv = row->conv},
         &e);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, row->requests);
    expect_settled(f, &e);
    expect_notif(f, N1, "status", row->status);
    expect_attempts(f, N1, row->attempts, "");
    if (row->error) {
        char k[GW_KEYS_MAX];
        KEY(f, k, GW_K_ATTEMPTS, e.part, N1);
        redisReply *first = rq(f, "LINDEX %s 0", k);
        assert_int_equal(first->type, REDIS_REPLY_STRING);
        assert_non_null(strstr(first->str, row->error));
        freeReplyObject(first);
    }
    /* a dead letter goes to the partition of its entry (a notification's: its own) */
    assert_int_equal(dead_letters(f), row->dead ? 1 : 0);
    if (row->dead) {
        char k[GW_KEYS_MAX];
        KEY(f, k, GW_K_DEAD, e.part);
        redisReply *dead = rq(f, "XRANGE %s - +", k);
        assert_int_equal(dead->elements, 1);
        const redisReply *fl = dead->element[0]->element[1];
        int found = 0;
        for (size_t i = 0; i + 1 < fl->elements; i += 2)
            if (!strcmp(fl->element[i]->str, "reason"))
                found = !strcmp(fl->element[i + 1]->str, row->dead);
        assert_true(found);
        freeReplyObject(dead);
    }
    if (row->metric)
        assert_int_equal(notif_metric(f, row->metric), 1);
    if (!strcmp(row->status, "sent")) { /* the record receipts find the notification by */
        char pid[16];
        snprintf(pid, sizeof pid, "m.%d", (int)row->requests - 1);
        expect_dlv(f, &e, pid, N1);
    }
    if (!strcmp(row->status, "scheduled")) { /* back on its due set, for its next channel */
        char k[GW_KEYS_MAX];
        KEY(f, k, GW_K_DUE, e.part);
        expect_notif(f, N1, "idx", "1");
        assert_int_equal(ri(f, "ZCARD %s", k), 1);
        assert_int_equal(ri(f, "ZRANK %s %s", k, N1), 0);
    }
}

/* How long the sender waits before the second attempt. */
typedef struct wait_row {
    const char *name;
    const char *backoff_ms; /* [scheduler] backoff_base_ms and backoff_max_ms */
    answer first;           /* the provider's first answer */
    double min_ms, max_ms;  /* the gap between the two requests */
    const char *metric;     /* counted once */
} wait_row;

static const wait_row waits[] = {
    /* the first retry waits [base/2, base); the upper bound leaves room for a busy machine */
    {"5xx: the backoff", "400", {.status = 500}, 200 - LOOP_LAG_MS, 1000, "retried"},
    /* the backoff would wait 4000 ms at least */
    {"429 with Retry-After: 1 waits a second",
     "8000",
     {.status = 429, .headers = "Retry-After: 1\r\n", .body = "{}"},
     1000 - LOOP_LAG_MS,
     3500,
     "sent"},
};

static void test_wait_between_attempts(void **state) {
    fx *f = *state;
    const wait_row *row = f->row;
    entry e;
    set(f, "scheduler", "backoff_base_ms", row->backoff_ms);
    set(f, "scheduler", "backoff_max_ms", row->backoff_ms);
    f->prov.script[0] = row->first;
    open_sender(f);
    take(f, &(msg){.notif = N1}, &e);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, 2);
    double gap = f->prov.req[1].at_ms - f->prov.req[0].at_ms;
    print_message("%s: %.0f ms\n", row->name, gap);
    assert_true(gap >= row->min_ms);
    assert_true(gap < row->max_ms);
    expect_attempts(f, N1, "retry,sent", "");
    assert_int_equal(notif_metric(f, row->metric), 1);
}

/* A re-delivered entry: its wire mark says which parts may have left already. */
typedef struct mark_row {
    const char *name;
    const char *mark;      /* left in the wire marks by the earlier life, NULL = none */
    int two_parts;         /* a text Facebook splits in two */
    size_t requests;       /* requests now */
    const char *last_body; /* in the last request's body */
    const char *note;      /* in the attempts entry ("" = none) */
} mark_row;

static const mark_row marks[] = {
    {"no mark: sent as usual", NULL, 0, 1, "tiếp nhận", ""},
    {"mark on the only part: acknowledged as sent, unconfirmed, no request", "0", 0, 0, NULL,
     UNCONFIRMED},
    {"mark on part 0 of 2: only part 1 is sent", "0", 1, 1, "SECOND-PART", ""},
    {"mark on the last of 2: no request", "1", 1, 0, NULL, UNCONFIRMED},
    {"an unreadable mark counts as all of it on the wire", "x", 0, 0, NULL, UNCONFIRMED},
};

/* A text Facebook sends in two parts: 1990 letters and a full stop, then the rest. */
static const char *two_parts(char *buf, size_t cap) {
    memset(buf, 'a', 1990);
    snprintf(buf + 1990, cap - 1990, ". SECOND-PART");
    return buf;
}

static void test_redelivered(void **state) {
    fx *f = *state;
    const mark_row *row = f->row;
    char text[2100];
    entry e;
    print_message("%s\n", row->name);
    open_sender(f);
    take(f,
         &(msg){.notif = N1,
                .redelivered = 1,
                .mark = row->mark,
                .text = row->two_parts ? two_parts(text, sizeof text) : NULL},
         &e);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, row->requests);
    if (row->last_body) {
        assert_non_null(strstr(f->prov.req[f->prov.n - 1].body, row->last_body));
        assert_null(strstr(f->prov.req[f->prov.n - 1].body, "aaaa"));
    }
    expect_notif(f, N1, "status", "sent");
    expect_attempts(f, N1, "sent", row->note);
    expect_settled(f, &e);
}

/* While a request is with the provider, Redis goes away: the provider's answer
 * cannot be recorded, so the job parks (it is not given up, which would send it
 * again); Redis comes back with its data, and the outcome is recorded once. */
static void test_redis_away_at_ack(void **state) {
    fx *f = *state;
    entry e;
    f->prov.script[0] = (answer){.status = 200, .hold = 1};
    open_sender(f);
    take(f, &(msg){.notif = N1}, &e);
    SPIN_UNTIL(f, f->prov.held != NULL);
    expect_str(f, "0", "HGET %s %s", e.wire, e.id); /* written before it left */
    redis_down(f);
    SPIN_UNTIL(f, !gw_store_up(f->store));
    provider_release(&f->prov);
    spin(f, 300);
    assert_int_equal(f->done, 0); /* parked, still ours */
    assert_int_equal(gw_sender_busy(f->s), 1);
    assert_int_equal(redis_up(f), 0);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, 1);
    expect_notif(f, N1, "status", "sent");
    expect_attempts(f, N1, "sent", "");
    expect_settled(f, &e);
}

/* Redis lost the settling scripts (SCRIPT FLUSH) while the request was with the
 * provider: the acknowledgement is refused (NOSCRIPT), nothing of it runs — the entry
 * stays pending, not acknowledged without its outcome — the store loads the scripts
 * again, and the outcome is recorded once. */
static void test_scripts_lost_at_ack(void **state) {
    fx *f = *state;
    entry e;
    f->prov.script[0] = (answer){.status = 200, .hold = 1};
    open_sender(f);
    take(f, &(msg){.notif = N1}, &e);
    SPIN_UNTIL(f, f->prov.held != NULL);
    freeReplyObject(rq(f, "SCRIPT FLUSH"));
    provider_release(&f->prov);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, 1);
    expect_notif(f, N1, "status", "sent");
    expect_attempts(f, N1, "sent", "");
    expect_settled(f, &e);
}

static void on_drained(void *arg) {
    ((fx *)arg)->drained++;
}

/* A drain lets the request on the wire finish and records it, but sends
 * nothing new: not the next part of that message, not a retry of another. */
static void test_drain_stops_new_sends(void **state) {
    fx *f = *state;
    char text[2100];
    entry a, b;
    set(f, "scheduler", "backoff_base_ms", "1200"); /* b's retry: after the drain began */
    set(f, "scheduler", "backoff_max_ms", "1200");
    f->prov.script[0] = (answer){.status = 500};            /* b's first attempt */
    f->prov.script[1] = (answer){.status = 200, .hold = 1}; /* a's first part, held */
    open_sender(f);
    take(f, &(msg){.notif = NB, .to = "psid-b"}, &b);
    SPIN_UNTIL(f, f->prov.n == 1); /* b failed: a retry is on its timer */
    take(f, &(msg){.notif = NA, .to = "psid-a", .text = two_parts(text, sizeof text)}, &a);
    SPIN_UNTIL(f, f->prov.held != NULL);
    gw_sender_drain(f->s, 3000, on_drained, f);
    spin(f, 100);
    assert_int_equal(f->drained, 0); /* a's first part is still with the provider */
    provider_release(&f->prov);
    SPIN_UNTIL(f, f->drained == 1);
    spin(f, 1300); /* past b's backoff */
    assert_int_equal(f->prov.n, 2);
    assert_int_equal(f->done, 0);
    /* a: its first part recorded, the mark names it; both entries stay pending */
    expect_str(f, "0", "HGET %s %s", a.wire, a.id);
    expect_dlv(f, &a, "m.1", NA);
    assert_int_equal(ri(f, "HEXISTS %s %s", b.wire, b.id), 0);
    assert_string_equal(a.stream, b.stream); /* both notifications of one partition */
    assert_int_equal(pending(f, &a), 2);
}

/* One recipient's messages leave in order: the second waits for the first. */
static void test_same_recipient_in_order(void **state) {
    fx *f = *state;
    entry a, b;
    f->prov.script[0] = (answer){.status = 200, .hold = 1};
    open_sender(f);
    take(f, &(msg){.text = "first"}, &a);
    take(f, &(msg){.text = "second"}, &b);
    SPIN_UNTIL(f, f->prov.held != NULL);
    spin(f, 100);
    assert_int_equal(f->prov.n, 1);
    provider_release(&f->prov);
    SPIN_UNTIL(f, f->done == 2);
    assert_int_equal(f->prov.n, 2);
    assert_non_null(strstr(f->prov.req[0].body, "first"));
    assert_non_null(strstr(f->prov.req[1].body, "second"));
}

/* A recipient of a broadcast cancelled meanwhile is not sent: the broadcast's
 * hash is in the partition its id names, the recipient's in the citizen's. */
static void test_cancelled_broadcast(void **state) {
    fx *f = *state;
    char bk[GW_KEYS_MAX], notif[64];
    entry e;
    open_sender(f);
    KEY(f, bk, GW_K_BC, id_part(f, BC), BC);
    freeReplyObject(rq(f, "HSET %s status cancelled", bk));
    unsigned q = who_part(f, "facebook", "psid-1");
    assert_int_not_equal(q, id_part(f, BC));
    snprintf(notif, sizeof notif, "%u-%s-1", q, BC);
    take(f, &(msg){.notif = notif, .bc = BC}, &e);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, 0);
    expect_notif(f, notif, "status", "cancelled");
    expect_attempts(f, notif, "cancelled", "");
    expect_settled(f, &e);
}

/* A channel without credentials writes to the outbox instead. */
static void test_outbox(void **state) {
    fx *f = *state;
    char path[160], line[1024] = "";
    entry e;
    set(f, "facebook", "page_access_token", "");
    set(f, "outbox", "dir", f->outbox);
    open_sender(f);
    take(f, &(msg){.text = "to the outbox"}, &e);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, 0);
    snprintf(path, sizeof path, "%s/facebook.jsonl", f->outbox);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof line, fp));
    fclose(fp);
    assert_non_null(strstr(line, "\"text\":\"to the outbox\""));
    assert_non_null(strstr(line, e.id));
    expect_settled(f, &e);
}

/* Zalo refuses an expired token: one refresh under the lock, the message is
 * sent again with the new token, and Redis holds the new pair (keys of their own
 * tag, shared by every partition). */
static void test_token_refreshed_once(void **state) {
    fx *f = *state;
    char tk[GW_KEYS_MAX], lock[GW_KEYS_MAX];
    entry e;
    KEY(f, tk, GW_K_TOKEN, GW_KEY_OWN, "zalo");
    KEY(f, lock, GW_K_TOKEN_LOCK, GW_KEY_OWN, "zalo");
    set(f, "zalo", "enabled", "true");
    set(f, "zalo", "app_id", "4291763606161179100");
    set(f, "zalo", "app_secret", "zalo-app-secret");
    set(f, "zalo", "oa_secret_key", "zalo-oa-secret");
    set(f, "zalo", "access_token", "zat-old");
    set(f, "zalo", "refresh_token", "zrt-old");
    f->prov.script[0] =
        (answer){.status = 200, .body = "{\"error\":-216,\"message\":\"Access token is invalid\"}"};
    open_sender(f);
    expect_str(f, "zrt-old", "HGET %s refresh", tk); /* the configured pair */
    take(f, &(msg){.ch = "zalo", .to = "zuid-1"}, &e);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, 3);
    assert_string_equal(f->prov.req[0].token, "zat-old");
    assert_non_null(strstr(f->prov.req[1].line, "/v4/oa/access_token"));
    assert_non_null(strstr(f->prov.req[1].body, "refresh_token=zrt-old"));
    assert_string_equal(f->prov.req[2].token, "zat-new");
    expect_str(f, "zat-new", "HGET %s access", tk);
    expect_str(f, "zrt-new", "HGET %s refresh", tk);
    assert_int_equal(ri(f, "EXISTS %s", lock), 0); /* released */
    expect_settled(f, &e);
}

#define ROW_TEST(fn, rows, i)                                                                      \
    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&rows[i])
#define TEST(fn) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, NULL)

int main(void) {
    const struct CMUnitTest tests[] = {
        ROW_TEST(test_outcome, outcomes, 0),
        ROW_TEST(test_outcome, outcomes, 1),
        ROW_TEST(test_outcome, outcomes, 2),
        ROW_TEST(test_outcome, outcomes, 3),
        ROW_TEST(test_outcome, outcomes, 4),
        ROW_TEST(test_outcome, outcomes, 5),
        ROW_TEST(test_outcome, outcomes, 6),
        ROW_TEST(test_outcome, outcomes, 7),
        ROW_TEST(test_outcome, outcomes, 8),
        ROW_TEST(test_outcome, outcomes, 9),
        ROW_TEST(test_wait_between_attempts, waits, 0),
        ROW_TEST(test_wait_between_attempts, waits, 1),
        ROW_TEST(test_redelivered, marks, 0),
        ROW_TEST(test_redelivered, marks, 1),
        ROW_TEST(test_redelivered, marks, 2),
        ROW_TEST(test_redelivered, marks, 3),
        ROW_TEST(test_redelivered, marks, 4),
        TEST(test_redis_away_at_ack),
        TEST(test_scripts_lost_at_ack),
        TEST(test_drain_stops_new_sends),
        TEST(test_same_recipient_in_order),
        TEST(test_cancelled_broadcast),
        TEST(test_outbox),
        TEST(test_token_refreshed_once),
    };
    return cmocka_run_group_tests_name("gw_sender", tests, NULL, NULL);
}
