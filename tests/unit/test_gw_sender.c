/*
 * test_gw_sender.c — the sender's job state machine (gateway/dispatch/README.md),
 * driven for real: each test starts its own redis-server (unix socket in a
 * temporary folder, append-only file fsynced at every write, so that a kill -9
 * and a restart keep the data; killed by pid), and a provider stand-in runs in
 * this process on the sender's own libuv loop: an HTTP/1.1 server on
 * 127.0.0.1 that answers each request from the test's script (status,
 * headers, body; or "hold" until the test lets it go) and records what it got.
 *
 * A message is put on mc:out:<channel> and read through the consumer group as
 * the worker would, then handed to gw_sender_take; the tests look at what the
 * provider saw and at what Redis holds afterwards (the notification hash, its
 * attempts, the dead-letter stream, the pending list, the wire marks).
 *
 * TEST_LOG=debug shows the sender's log lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/app/gw_app.h"
#include "gateway/app/gw_config.h"
#include "gateway/app/gw_log.h"
#include "gateway/app/gw_metrics.h"
#include "gateway/dispatch/gw_sender.h"
#include "gateway/store/gw_store.h"
#include "vi-nlp/vn_norm.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#define WAIT_MS 8000    /* longest wait for a condition */
#define PROV_MAX_REQ 16 /* requests the provider stand-in records */
#define PROV_BUF 65536  /* request bytes one of its connections buffers */
#define PROV_BODY 8192  /* bytes of a request body it keeps */
#define MAX_SCRIPT 8    /* answers a test scripts */
#define LOOP_LAG_MS 20  /* a libuv timer counts from the loop's cached time: may end this early */
#define CONSUMER "test-sender"
#define GROUP "motcua"
#define UNCONFIRMED "unconfirmed: the dispatcher stopped during the request"

extern char **environ;

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

/* ---------------------------------------------------------------- redis */

typedef struct redis {
    char dir[64];
    char sock[128];
    pid_t pid;
    redisContext *c; /* the test's own synchronous link */
} redis;

/* Starts (or restarts, on the same data) redis-server; 0 once it answers PING. */
static int redis_start(redis *r) {
    char *argv[] = {"redis-server",
                    "--port",
                    "0",
                    "--unixsocket",
                    r->sock,
                    "--dir",
                    r->dir,
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--save",
                    "",
                    "--loglevel",
                    "warning",
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&r->pid, "redis-server", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc)
        return -1;
    for (int i = 0; i < WAIT_MS / 10; i++) {
        redisContext *c = redisConnectUnix(r->sock);
        redisReply *pong = c && !c->err ? redisCommand(c, "PING") : NULL;
        int up = pong && pong->type == REDIS_REPLY_STATUS;
        freeReplyObject(pong);
        if (up) {
            r->c = c;
            return 0;
        }
        redisFree(c);
        usleep(10000);
    }
    return -1;
}

static void redis_kill(redis *r) {
    redisFree(r->c);
    r->c = NULL;
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = 0;
}

static redisReply *vrq(redis *r, const char *fmt, va_list ap) {
    redisReply *rep = redisvCommand(r->c, fmt, ap);
    assert_non_null(rep);
    return rep;
}

/* One command on the test's link; the reply (freed by the caller), never NULL. */
static redisReply *rq(redis *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = vrq(r, fmt, ap);
    va_end(ap);
    return rep;
}

/* Asserts that a command answers the string want ("" for nil). */
static void expect_str(redis *r, const char *want, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = vrq(r, fmt, ap);
    va_end(ap);
    assert_string_equal(rep->type == REDIS_REPLY_STRING ? rep->str : "", want);
    freeReplyObject(rep);
}

/* An integer reply, -1 for any other kind. */
static long long ri(redis *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = vrq(r, fmt, ap);
    va_end(ap);
    long long v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return v;
}

/* -------------------------------------------------------------- fixture */

typedef struct fx {
    uv_loop_t loop;
    redis redis;
    provider prov;
    gw_config *cfg;
    gw_metrics *metrics;
    vn_normalizer *vn;
    gw_app app;
    gw_store *store;
    gw_sender *s;
    int done;    /* entries finished (the reader's done callback) */
    int drained; /* drain callbacks */
    char outbox[96];
    const void *row; /* the table row of a table-driven test */
} fx;

static void set(fx *f, const char *section, const char *key, const char *value) {
    gw_errlist errs = {0};
    int rc = gw_config_set(f->cfg, section, key, value, "test", &errs);
    if (rc)
        fprintf(stderr, "%s\n", errs.n ? errs.lines[0] : "?");
    gw_errlist_clear(&errs);
    assert_int_equal(rc, 0);
}

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    f->row = *state;
    gw_log_set_level(getenv("TEST_LOG") ? getenv("TEST_LOG") : "error");
    uv_loop_init(&f->loop);
    snprintf(f->redis.dir, sizeof f->redis.dir, "/tmp/test_gw_sender_XXXXXX");
    if (!mkdtemp(f->redis.dir))
        return -1;
    snprintf(f->redis.sock, sizeof f->redis.sock, "%s/r.sock", f->redis.dir);
    snprintf(f->outbox, sizeof f->outbox, "%s/outbox", f->redis.dir);
    if (redis_start(&f->redis) || provider_start(&f->prov, &f->loop))
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
    *state = f;
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
    f->app = (gw_app){
        .loop = &f->loop, .cfg = f->cfg, .metrics = f->metrics, .vn = f->vn, .consumer = CONSUMER};
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
    for (const char *const *ch = (const char *const[]){"facebook", "zalo", "sms", NULL}; *ch; ch++)
        freeReplyObject(rq(&f->redis, "XGROUP CREATE mc:out:%s " GROUP " $ MKSTREAM", *ch));
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
    redis_kill(&f->redis);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->redis.dir);
    if (system(cmd))
        fprintf(stderr, "could not remove %s\n", f->redis.dir);
    vn_normalizer_free(f->vn);
    gw_metrics_free(f->metrics);
    gw_config_free(f->cfg);
    free(f);
    return 0;
}

/* ---------------------------------------------------------- the messages */

typedef struct msg {
    const char *ch;       /* channel; NULL = facebook */
    const char *notif;    /* notification id (hash written with status sending), NULL = a reply */
    const char *channels; /* the notification's fallback list; NULL = ch alone */
    const char *bc;       /* its broadcast, or NULL */
    const char *to;       /* recipient; NULL = "psid-1" */
    const char *text;     /* NULL = a short text */
    int redelivered;      /* handed over as read before */
    const char *mark;     /* a wire mark left by an earlier life, or NULL */
} msg;

static void on_done(void *arg) {
    ((fx *)arg)->done++;
}

/* Puts m on mc:out:<ch> as gw_sched (or the worker, for a reply) would, reads
 * it through the group as our consumer, and hands it to the sender. The entry
 * id goes into id. */
static void take(fx *f, const msg *m, char *id, size_t idlen) {
    const char *ch = m->ch ? m->ch : "facebook";
    const char *to = m->to ? m->to : "psid-1";
    const char *text = m->text ? m->text : "Hồ sơ của bạn đã được tiếp nhận.";
    redisReply *r;
    if (m->notif) {
        freeReplyObject(rq(&f->redis, "HSET mc:notif:%s status sending dept d1 channels %s idx 0",
                           m->notif, m->channels ? m->channels : ch));
        if (m->bc)
            r = rq(&f->redis, "XADD mc:out:%s * to %s text %s purpose update notif %s bc %s", ch,
                   to, text, m->notif, m->bc);
        else
            r = rq(&f->redis, "XADD mc:out:%s * to %s text %s purpose update notif %s", ch, to,
                   text, m->notif);
    } else
        r = rq(&f->redis, "XADD mc:out:%s * to %s text %s purpose reply", ch, to, text);
    freeReplyObject(r);
    r = rq(&f->redis, "XREADGROUP GROUP " GROUP " " CONSUMER " COUNT 1 STREAMS mc:out:%s >", ch);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    const redisReply *entry = r->element[0]->element[1]->element[0];
    snprintf(id, idlen, "%s", entry->element[0]->str);
    if (m->mark)
        freeReplyObject(rq(&f->redis, "HSET mc:wire:%s %s %s", ch, id, m->mark));
    assert_int_equal(gw_sender_take(f->s, ch, id, entry->element[1], m->redelivered, on_done, f),
                     0);
    freeReplyObject(r);
}

/* Asserts the `result` fields of a notification's attempts, in order
 * ("retry,sent"), and that the first one's note contains note ("" = no note). */
static void expect_attempts(fx *f, const char *notif, const char *want, const char *note) {
    redisReply *r = rq(&f->redis, "LRANGE mc:notif:%s:attempts 0 -1", notif);
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

/* Entries of mc:out:<ch> still pending in the group. */
static long long pending(fx *f, const char *ch) {
    redisReply *r = rq(&f->redis, "XPENDING mc:out:%s " GROUP, ch);
    long long n = r->type == REDIS_REPLY_ARRAY ? r->element[0]->integer : -1;
    freeReplyObject(r);
    return n;
}

/* The entry `id` of channel ch is finished in Redis: acknowledged, deleted,
 * its wire mark gone, and the sender holds nothing any more. */
static void expect_settled(fx *f, const char *ch, const char *id) {
    assert_int_equal(pending(f, ch), 0);
    assert_int_equal(ri(&f->redis, "XLEN mc:out:%s", ch), 0); /* XDEL'd with its XACK */
    assert_int_equal(ri(&f->redis, "HEXISTS mc:wire:%s %s", ch, id), 0);
    assert_int_equal(gw_sender_busy(f->s), 0);
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
    int notification;         /* 1: a notification; 0: a reply */
    const char *channels;     /* its fallback list */
    const char *max_attempts; /* [scheduler] max_attempts */
    answer script[MAX_SCRIPT];
    size_t requests;      /* requests the provider gets */
    const char *status;   /* the notification's status afterwards ("" for a reply) */
    const char *attempts; /* its attempts' results */
    const char *dead;     /* reason in mc:dead, or NULL when nothing is there */
    const char *metric;   /* the notification's last outcome metric */
} outcome_row;

#define FB_REFUSED "{\"error\":{\"code\":10,\"message\":\"outside of allowed window\"}}"

static const outcome_row outcomes[] = {
    {"sent: acknowledged, the notification sent",
     1,
     "facebook",
     "3",
     {{0}},
     1,
     "sent",
     "sent",
     NULL,
     "sent"},
    {"5xx: retried with backoff, then sent",
     1,
     "facebook",
     "3",
     {{.status = 500}, {.status = 503}},
     3,
     "sent",
     "retry,retry,sent",
     NULL,
     "sent"},
    {"permanent: the next channel of the notification",
     1,
     "facebook,sms",
     "3",
     {{.status = 400, .body = FB_REFUSED}},
     1,
     "scheduled",
     "failed",
     NULL,
     "failed"},
    {"permanent on the last channel: dead with the reason",
     1,
     "facebook",
     "3",
     {{.status = 400, .body = FB_REFUSED}},
     1,
     "dead",
     "failed",
     "outside_window",
     "dead"},
    {"out of attempts: dead",
     1,
     "facebook",
     "2",
     {{.status = 500}, {.status = 500}},
     2,
     "dead",
     "retry,failed",
     "unavailable",
     "dead"},
    {"a reply refused: the dead-letter stream",
     0,
     NULL,
     "3",
     {{.status = 400, .body = FB_REFUSED}},
     1,
     "",
     "",
     "outside_window",
     NULL},
    {"a reply sent", 0, NULL, "3", {{0}}, 1, "", "", NULL, NULL},
};

static void test_outcome(void **state) {
    fx *f = *state;
    const outcome_row *row = f->row;
    char id[64];
    print_message("%s\n", row->name);
    set(f, "scheduler", "max_attempts", row->max_attempts);
    memcpy(f->prov.script, row->script, sizeof row->script);
    open_sender(f);
    take(f, &(msg){.notif = row->notification ? "n1" : NULL, .channels = row->channels}, id,
         sizeof id);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, row->requests);
    expect_settled(f, "facebook", id);
    expect_str(&f->redis, row->status, "HGET mc:notif:n1 status");
    expect_attempts(f, "n1", row->attempts, "");
    redisReply *dead = rq(&f->redis, "XRANGE mc:dead - +");
    assert_int_equal(dead->elements, row->dead ? 1 : 0);
    if (row->dead) {
        const redisReply *fl = dead->element[0]->element[1];
        int found = 0;
        for (size_t i = 0; i + 1 < fl->elements; i += 2)
            if (!strcmp(fl->element[i]->str, "reason"))
                found = !strcmp(fl->element[i + 1]->str, row->dead);
        assert_true(found);
    }
    freeReplyObject(dead);
    if (row->metric)
        assert_int_equal(notif_metric(f, row->metric), 1);
    if (!strcmp(row->status, "sent")) /* the record receipts find the notification by */
        expect_str(&f->redis, "n1", "HGET mc:dlv:facebook:m.%d notif", (int)row->requests - 1);
    if (!strcmp(row->status, "scheduled")) { /* back on mc:due, for its next channel */
        expect_str(&f->redis, "1", "HGET mc:notif:n1 idx");
        assert_int_equal(ri(&f->redis, "ZCARD mc:due"), 1);
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
    char id[64];
    set(f, "scheduler", "backoff_base_ms", row->backoff_ms);
    set(f, "scheduler", "backoff_max_ms", row->backoff_ms);
    f->prov.script[0] = row->first;
    open_sender(f);
    take(f, &(msg){.notif = "n1"}, id, sizeof id);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, 2);
    double gap = f->prov.req[1].at_ms - f->prov.req[0].at_ms;
    print_message("%s: %.0f ms\n", row->name, gap);
    assert_true(gap >= row->min_ms);
    assert_true(gap < row->max_ms);
    expect_attempts(f, "n1", "retry,sent", "");
    assert_int_equal(notif_metric(f, row->metric), 1);
}

/* A re-delivered entry: its wire mark says which parts may have left already. */
typedef struct mark_row {
    const char *name;
    const char *mark;      /* left in mc:wire by the earlier life, NULL = none */
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
    char id[64], text[2100];
    print_message("%s\n", row->name);
    open_sender(f);
    take(f,
         &(msg){.notif = "n1",
                .redelivered = 1,
                .mark = row->mark,
                .text = row->two_parts ? two_parts(text, sizeof text) : NULL},
         id, sizeof id);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, row->requests);
    if (row->last_body) {
        assert_non_null(strstr(f->prov.req[f->prov.n - 1].body, row->last_body));
        assert_null(strstr(f->prov.req[f->prov.n - 1].body, "aaaa"));
    }
    expect_str(&f->redis, "sent", "HGET mc:notif:n1 status");
    expect_attempts(f, "n1", "sent", row->note);
    expect_settled(f, "facebook", id);
}

/* While a request is with the provider, Redis goes away: the provider's answer
 * cannot be recorded, so the job parks (it is not given up, which would send it
 * again); Redis comes back with its data, and the outcome is recorded once. */
static void test_redis_away_at_ack(void **state) {
    fx *f = *state;
    char id[64];
    f->prov.script[0] = (answer){.status = 200, .hold = 1};
    open_sender(f);
    take(f, &(msg){.notif = "n1"}, id, sizeof id);
    SPIN_UNTIL(f, f->prov.held != NULL);
    expect_str(&f->redis, "0", "HGET mc:wire:facebook %s", id); /* written before it left */
    redis_kill(&f->redis);
    SPIN_UNTIL(f, !gw_store_up(f->store));
    provider_release(&f->prov);
    spin(f, 300);
    assert_int_equal(f->done, 0); /* parked, still ours */
    assert_int_equal(gw_sender_busy(f->s), 1);
    assert_int_equal(redis_start(&f->redis), 0);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, 1);
    expect_str(&f->redis, "sent", "HGET mc:notif:n1 status");
    expect_attempts(f, "n1", "sent", "");
    expect_settled(f, "facebook", id);
}

static void on_drained(void *arg) {
    ((fx *)arg)->drained++;
}

/* A drain lets the request on the wire finish and records it, but sends
 * nothing new: not the next part of that message, not a retry of another. */
static void test_drain_stops_new_sends(void **state) {
    fx *f = *state;
    char a[64], b[64], text[2100];
    set(f, "scheduler", "backoff_base_ms", "1200"); /* b's retry: after the drain began */
    set(f, "scheduler", "backoff_max_ms", "1200");
    f->prov.script[0] = (answer){.status = 500};            /* b's first attempt */
    f->prov.script[1] = (answer){.status = 200, .hold = 1}; /* a's first part, held */
    open_sender(f);
    take(f, &(msg){.notif = "nb", .to = "psid-b"}, b, sizeof b);
    SPIN_UNTIL(f, f->prov.n == 1); /* b failed: a retry is on its timer */
    take(f, &(msg){.notif = "na", .to = "psid-a", .text = two_parts(text, sizeof text)}, a,
         sizeof a);
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
    expect_str(&f->redis, "0", "HGET mc:wire:facebook %s", a);
    expect_str(&f->redis, "na", "HGET mc:dlv:facebook:m.1 notif");
    assert_int_equal(ri(&f->redis, "HEXISTS mc:wire:facebook %s", b), 0);
    assert_int_equal(pending(f, "facebook"), 2);
}

/* One recipient's messages leave in order: the second waits for the first. */
static void test_same_recipient_in_order(void **state) {
    fx *f = *state;
    char a[64], b[64];
    f->prov.script[0] = (answer){.status = 200, .hold = 1};
    open_sender(f);
    take(f, &(msg){.text = "first"}, a, sizeof a);
    take(f, &(msg){.text = "second"}, b, sizeof b);
    SPIN_UNTIL(f, f->prov.held != NULL);
    spin(f, 100);
    assert_int_equal(f->prov.n, 1);
    provider_release(&f->prov);
    SPIN_UNTIL(f, f->done == 2);
    assert_int_equal(f->prov.n, 2);
    assert_non_null(strstr(f->prov.req[0].body, "first"));
    assert_non_null(strstr(f->prov.req[1].body, "second"));
}

/* A recipient of a broadcast cancelled meanwhile is not sent. */
static void test_cancelled_broadcast(void **state) {
    fx *f = *state;
    char id[64];
    open_sender(f);
    freeReplyObject(rq(&f->redis, "HSET mc:bc:b1 status cancelled"));
    take(f, &(msg){.notif = "b1-1", .bc = "b1"}, id, sizeof id);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, 0);
    expect_str(&f->redis, "cancelled", "HGET mc:notif:b1-1 status");
    expect_attempts(f, "b1-1", "cancelled", "");
    expect_settled(f, "facebook", id);
}

/* A channel without credentials writes to the outbox instead. */
static void test_outbox(void **state) {
    fx *f = *state;
    char id[64], path[160], line[1024] = "";
    set(f, "facebook", "page_access_token", "");
    set(f, "outbox", "dir", f->outbox);
    open_sender(f);
    take(f, &(msg){.text = "to the outbox"}, id, sizeof id);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, 0);
    snprintf(path, sizeof path, "%s/facebook.jsonl", f->outbox);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof line, fp));
    fclose(fp);
    assert_non_null(strstr(line, "\"text\":\"to the outbox\""));
    assert_non_null(strstr(line, id));
    expect_settled(f, "facebook", id);
}

/* Zalo refuses an expired token: one refresh under the lock, the message is
 * sent again with the new token, and Redis holds the new pair. */
static void test_token_refreshed_once(void **state) {
    fx *f = *state;
    char id[64];
    set(f, "zalo", "enabled", "true");
    set(f, "zalo", "app_id", "4291763606161179100");
    set(f, "zalo", "app_secret", "zalo-app-secret");
    set(f, "zalo", "oa_secret_key", "zalo-oa-secret");
    set(f, "zalo", "access_token", "zat-old");
    set(f, "zalo", "refresh_token", "zrt-old");
    f->prov.script[0] =
        (answer){.status = 200, .body = "{\"error\":-216,\"message\":\"Access token is invalid\"}"};
    open_sender(f);
    expect_str(&f->redis, "zrt-old", "HGET mc:zalo:token refresh"); /* the configured pair */
    take(f, &(msg){.ch = "zalo", .to = "zuid-1"}, id, sizeof id);
    SPIN_UNTIL(f, f->done == 1);
    assert_int_equal(f->prov.n, 3);
    assert_string_equal(f->prov.req[0].token, "zat-old");
    assert_non_null(strstr(f->prov.req[1].line, "/v4/oa/access_token"));
    assert_non_null(strstr(f->prov.req[1].body, "refresh_token=zrt-old"));
    assert_string_equal(f->prov.req[2].token, "zat-new");
    expect_str(&f->redis, "zat-new", "HGET mc:zalo:token access");
    expect_str(&f->redis, "zrt-new", "HGET mc:zalo:token refresh");
    assert_int_equal(ri(&f->redis, "EXISTS mc:zalo:lock"), 0); /* released */
    expect_settled(f, "zalo", id);
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
        ROW_TEST(test_wait_between_attempts, waits, 0),
        ROW_TEST(test_wait_between_attempts, waits, 1),
        ROW_TEST(test_redelivered, marks, 0),
        ROW_TEST(test_redelivered, marks, 1),
        ROW_TEST(test_redelivered, marks, 2),
        ROW_TEST(test_redelivered, marks, 3),
        ROW_TEST(test_redelivered, marks, 4),
        TEST(test_redis_away_at_ack),
        TEST(test_drain_stops_new_sends),
        TEST(test_same_recipient_in_order),
        TEST(test_cancelled_broadcast),
        TEST(test_outbox),
        TEST(test_token_refreshed_once),
    };
    return cmocka_run_group_tests_name("gw_sender", tests, NULL, NULL);
}
