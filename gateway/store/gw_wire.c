/*
 * gw_wire.c — the write-only Redis connection (see gw_wire.h for why).
 *
 * Big idea: hiredis's plain context in non-blocking mode formats commands and
 * writes them; a uv_poll on its socket tells when the socket takes more bytes
 * and when Redis closed it. The handshake (AUTH, SELECT, PING) is the only
 * part that reads replies; CLIENT REPLY OFF follows the PING in the same
 * write, so once the PONG is read no reply ever comes again and the context
 * keeps no state per command (the async context would queue a callback for
 * each, forever). Anything readable afterwards is end-of-file or an error:
 * the connection is dropped and opened again after RETRY_MS (doubling while
 * it keeps failing), also when the handshake gets no answer in HANDSHAKE_MS.
 */
#include "gateway/store/gw_wire.h"

#include "core/mc.h"
#include "gateway/app/gw_log.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MS 200      /* first wait before connecting again */
#define RETRY_MAX_MS 5000 /* the wait doubles up to this while it keeps failing */
#define HANDSHAKE_MS 5000 /* a connection not ready by then is dropped */

/* One connection: its context and its poll handle, freed together. */
typedef struct conn {
    uv_poll_t poll;
    redisContext *c; /* owned */
    gw_wire *w;      /* owner, NULL once detached */
    int handshake;   /* replies still expected from AUTH/SELECT/PING */
    int pending;     /* bytes wait in the context's output buffer */
    int events;      /* what the poll watches */
} conn;

struct gw_wire {
    uv_loop_t *loop;    /* borrowed */
    gw_redis_addr addr; /* copied */
    conn *cn;           /* current connection or NULL */
    int ready;          /* handshake done, replies off */
    int failures;       /* connections in a row that never got ready */
    uv_timer_t retry;
    int closing;
};

static void connect_now(gw_wire *w);
static void on_poll(uv_poll_t *h, int status, int events);

static void on_retry(uv_timer_t *t) {
    connect_now(t->data);
}

static void drop(gw_wire *w, const char *why);

static void on_handshake_timeout(uv_timer_t *t) {
    gw_wire *w = t->data;
    if (w->cn && !w->ready)
        drop(w, "no answer to the handshake");
}

static void schedule_retry(gw_wire *w) {
    uint64_t d = RETRY_MS;
    for (int i = 0; i < w->failures && d < RETRY_MAX_MS; i++)
        d *= 2;
    w->failures++;
    uv_timer_start(&w->retry, on_retry, d < RETRY_MAX_MS ? d : RETRY_MAX_MS, 0);
}

static void on_conn_closed(uv_handle_t *h) {
    conn *cn = h->data;
    redisFree(cn->c);
    free(cn);
}

/* Drops the current connection; a new one is tried after RETRY_MS. */
static void drop(gw_wire *w, const char *why) {
    conn *cn = w->cn;
    if (!cn)
        return;
    if (!w->closing && (w->ready || why))
        gw_log(GW_WARN, "redis.wire_down", "{s:s}", "error",
               why ? why : (cn->c->errstr[0] ? cn->c->errstr : "closed"));
    if (w->ready)
        w->failures = 0;
    w->cn = NULL;
    w->ready = 0;
    cn->w = NULL;
    uv_poll_stop(&cn->poll);
    uv_close((uv_handle_t *)&cn->poll, on_conn_closed);
    if (!w->closing)
        schedule_retry(w);
}

static void watch(conn *cn) {
    int ev = UV_READABLE | (cn->pending ? UV_WRITABLE : 0);
    if (ev == cn->events)
        return;
    cn->events = ev;
    uv_poll_start(&cn->poll, ev, on_poll);
}

/* Writes what waits; 0 when nothing is left, MC_EIO when the socket is full or failed. */
static int write_out(conn *cn) {
    int done = 0;
    for (int i = 0; i < 2 && !done; i++)
        if (redisBufferWrite(cn->c, &done) != REDIS_OK)
            return MC_EIO; /* the error is in c->err: the caller drops the link */
    cn->pending = !done;
    watch(cn);
    return done ? 0 : MC_EIO;
}

/* Reads the handshake's replies; anything later means the link is over. */
static int read_in(conn *cn) {
    gw_wire *w = cn->w;
    if (redisBufferRead(cn->c) != REDIS_OK)
        return MC_EIO;
    void *r = NULL;
    while (redisReaderGetReply(cn->c->reader, &r) == REDIS_OK && r) {
        redisReply *rep = r;
        int bad = rep->type == REDIS_REPLY_ERROR;
        if (bad) /* LOADING after a restart is expected; the same refusal once is enough */
            gw_log(w->failures || (rep->str && !strncmp(rep->str, "LOADING", 7)) ? GW_DEBUG
                                                                                 : GW_WARN,
                   "redis.wire_refused", "{s:s}", "error", rep->str ? rep->str : "");
        freeReplyObject(rep);
        if (bad || cn->handshake == 0)
            return MC_EIO;
        if (--cn->handshake == 0) {
            w->ready = 1;
            uv_timer_stop(&w->retry);
            gw_log(GW_INFO, "redis.wire_up", "{s:s}", "addr", w->addr.host);
        }
        r = NULL;
    }
    return cn->c->err ? MC_EIO : 0;
}

static void on_poll(uv_poll_t *h, int status, int events) {
    conn *cn = h->data;
    gw_wire *w = cn->w;
    if (!w)
        return;
    if (status < 0) {
        drop(w, uv_strerror(status));
        return;
    }
    if ((events & UV_READABLE) && read_in(cn)) {
        drop(w, NULL);
        return;
    }
    if ((events & UV_WRITABLE) && cn->pending && write_out(cn) && cn->c->err)
        drop(w, NULL);
}

static void connect_now(gw_wire *w) {
    if (w->closing || w->cn)
        return;
    redisContext *c = w->addr.kind == GW_REDIS_UNIX
                          ? redisConnectUnixNonBlock(w->addr.host)
                          : redisConnectNonBlock(w->addr.host, w->addr.port);
    conn *cn = c && !c->err ? calloc(1, sizeof *cn) : NULL;
    if (!cn || uv_poll_init_socket(w->loop, &cn->poll, c->fd)) {
        free(cn);
        redisFree(c);
        schedule_retry(w);
        return;
    }
    cn->c = c;
    cn->w = w;
    cn->poll.data = cn;
    w->cn = cn;
    if (w->addr.password[0]) {
        redisAppendCommand(c, "AUTH %s", w->addr.password);
        cn->handshake++;
    }
    if (w->addr.db) {
        redisAppendCommand(c, "SELECT %d", w->addr.db);
        cn->handshake++;
    }
    redisAppendCommand(c, "PING"); /* -LOADING while Redis reads its data: not ready yet */
    cn->handshake++;
    redisAppendCommand(c, "CLIENT REPLY OFF");
    cn->pending = 1;
    watch(cn); /* written once the connect completes (the socket turns writable) */
    uv_timer_start(&w->retry, on_handshake_timeout, HANDSHAKE_MS, 0);
}

gw_wire *gw_wire_new(uv_loop_t *loop, const gw_redis_addr *addr) {
    gw_wire *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->loop = loop;
    w->addr = *addr;
    uv_timer_init(loop, &w->retry);
    w->retry.data = w;
    connect_now(w);
    return w;
}

static void on_retry_closed(uv_handle_t *h) {
    free(h->data);
}

void gw_wire_free(gw_wire *w) {
    if (!w)
        return;
    w->closing = 1;
    drop(w, NULL);
    uv_timer_stop(&w->retry);
    uv_close((uv_handle_t *)&w->retry, on_retry_closed);
}

void gw_wire_reset(gw_wire *w) {
    if (!w || w->closing)
        return;
    drop(w, "reset: the store reconnected");
    w->failures = 0;
    uv_timer_stop(&w->retry);
    connect_now(w);
}

int gw_wire_ready(const gw_wire *w) {
    return w && w->ready && w->cn;
}

int gw_wire_cmdf(gw_wire *w, const char *fmt, ...) {
    if (!gw_wire_ready(w))
        return MC_EUNAVAIL;
    conn *cn = w->cn;
    if (cn->pending && write_out(cn)) { /* a backlog: this command would wait behind it */
        if (cn->c->err)
            drop(w, NULL);
        return MC_EUNAVAIL;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAppendCommand(cn->c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK)
        return MC_ENOMEM;
    cn->pending = 1;
    rc = write_out(cn);
    if (rc && cn->c->err) {
        drop(w, NULL);
        return MC_EUNAVAIL;
    }
    return rc;
}
