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
 *
 * A link is one such connection to one server. One Redis: one link, always. A
 * cluster: a link per primary the commands went to, opened on the first command
 * that needs it (that command is refused: the caller tries again shortly), chosen by
 * the store's slot map for the command's key (gw_store_slot_addr).
 */
#include "gateway/store/gw_wire.h"

#include "core/mc.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_cluster.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MS 200      /* first wait before connecting again */
#define RETRY_MAX_MS 5000 /* the wait doubles up to this while it keeps failing */
#define HANDSHAKE_MS 5000 /* a connection not ready by then is dropped */

typedef struct link link;

/* One connection: its context and its poll handle, freed together. */
typedef struct conn {
    uv_poll_t poll;
    redisContext *c; /* owned */
    link *l;         /* owner, NULL once detached */
    int handshake;   /* replies still expected from AUTH/SELECT/PING */
    int pending;     /* bytes wait in the context's output buffer */
    int events;      /* what the poll watches */
} conn;

/* The connection to one server, and what it takes to keep one open. */
struct link {
    gw_wire *w;                   /* owner */
    link *next;                   /* the wire's list */
    char host[GW_REDIS_HOST_MAX]; /* TCP host, or the unix socket path */
    int port;                     /* TCP port; 0 for the unix socket */
    conn *cn;                     /* current connection or NULL */
    int ready;                    /* handshake done, replies off */
    int failures;                 /* connections in a row that never got ready */
    int closing;                  /* let go: its timer is closing */
    uv_timer_t retry;             /* reconnects, and times the handshake out */
};

struct gw_wire {
    uv_loop_t *loop;       /* borrowed */
    gw_redis_addr addr;    /* copied */
    const gw_store *route; /* a cluster's slot map, borrowed */
    int cluster;           /* addr is a cluster */
    link *links;           /* one Redis: exactly one */
    int closing;
};

static void connect_now(link *l);
static void on_poll(uv_poll_t *h, int status, int events);

static void on_retry(uv_timer_t *t) {
    connect_now(t->data);
}

static void drop(link *l, const char *why);

static void on_handshake_timeout(uv_timer_t *t) {
    link *l = t->data;
    if (l->cn && !l->ready)
        drop(l, "no answer to the handshake");
}

static void schedule_retry(link *l) {
    uint64_t d = RETRY_MS;
    for (int i = 0; i < l->failures && d < RETRY_MAX_MS; i++)
        d *= 2;
    l->failures++;
    uv_timer_start(&l->retry, on_retry, d < RETRY_MAX_MS ? d : RETRY_MAX_MS, 0);
}

static void on_conn_closed(uv_handle_t *h) {
    conn *cn = h->data;
    redisFree(cn->c);
    free(cn);
}

/* Drops the link's connection; a new one is tried after RETRY_MS (unless it goes). */
static void drop(link *l, const char *why) {
    conn *cn = l->cn;
    if (!cn)
        return;
    if (!l->closing && (l->ready || why))
        gw_log(GW_WARN, "redis.wire_down", "{s:s, s:s, s:i}", "error",
               why ? why : (cn->c->errstr[0] ? cn->c->errstr : "closed"), "host", l->host, "port",
               l->port);
    if (l->ready)
        l->failures = 0;
    l->cn = NULL;
    l->ready = 0;
    cn->l = NULL;
    uv_poll_stop(&cn->poll);
    uv_close((uv_handle_t *)&cn->poll, on_conn_closed);
    if (!l->closing)
        schedule_retry(l);
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
    link *l = cn->l;
    if (redisBufferRead(cn->c) != REDIS_OK)
        return MC_EIO;
    void *r = NULL;
    while (redisReaderGetReply(cn->c->reader, &r) == REDIS_OK && r) {
        redisReply *rep = r;
        int bad = rep->type == REDIS_REPLY_ERROR;
        if (bad) /* LOADING after a restart is expected; the same refusal once is enough */
            gw_log(l->failures || (rep->str && !strncmp(rep->str, "LOADING", 7)) ? GW_DEBUG
                                                                                 : GW_WARN,
                   "redis.wire_refused", "{s:s}", "error", rep->str ? rep->str : "");
        freeReplyObject(rep);
        if (bad || cn->handshake == 0)
            return MC_EIO;
        if (--cn->handshake == 0) {
            l->ready = 1;
            uv_timer_stop(&l->retry);
            gw_log(GW_INFO, "redis.wire_up", "{s:s, s:i}", "addr", l->host, "port", l->port);
        }
        r = NULL;
    }
    return cn->c->err ? MC_EIO : 0;
}

static void on_poll(uv_poll_t *h, int status, int events) {
    conn *cn = h->data;
    link *l = cn->l;
    if (!l)
        return;
    if (status < 0) {
        drop(l, uv_strerror(status));
        return;
    }
    if ((events & UV_READABLE) && read_in(cn)) {
        drop(l, NULL);
        return;
    }
    if ((events & UV_WRITABLE) && cn->pending && write_out(cn) && cn->c->err)
        drop(l, NULL);
}

static void connect_now(link *l) {
    gw_wire *w = l->w;
    if (l->closing || l->cn)
        return;
    redisContext *c =
        l->port ? redisConnectNonBlock(l->host, l->port) : redisConnectUnixNonBlock(l->host);
    conn *cn = c && !c->err ? calloc(1, sizeof *cn) : NULL;
    if (!cn || uv_poll_init_socket(w->loop, &cn->poll, c->fd)) {
        free(cn);
        redisFree(c);
        schedule_retry(l);
        return;
    }
    cn->c = c;
    cn->l = l;
    cn->poll.data = cn;
    l->cn = cn;
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
    uv_timer_start(&l->retry, on_handshake_timeout, HANDSHAKE_MS, 0);
}

/* A new link to host:port (0: the unix socket host), connecting; NULL on OOM. */
static link *link_add(gw_wire *w, const char *host, int port) {
    link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->w = w;
    snprintf(l->host, sizeof l->host, "%s", host);
    l->port = port;
    uv_timer_init(w->loop, &l->retry);
    l->retry.data = l;
    l->next = w->links;
    w->links = l;
    connect_now(l);
    return l;
}

static link *link_find(gw_wire *w, const char *host, int port) {
    for (link *l = w->links; l; l = l->next)
        if (l->port == port && !strcmp(l->host, host))
            return l;
    return NULL;
}

static void on_link_closed(uv_handle_t *h) {
    free(h->data);
}

/* Lets every link go (their memory once their timers closed). */
static void links_free(gw_wire *w) {
    while (w->links) {
        link *l = w->links;
        w->links = l->next;
        l->closing = 1;
        drop(l, NULL);
        uv_timer_stop(&l->retry);
        uv_close((uv_handle_t *)&l->retry, on_link_closed);
    }
}

gw_wire *gw_wire_new(uv_loop_t *loop, const gw_redis_addr *addr, const gw_store *route) {
    int cluster = addr->kind == GW_REDIS_CLUSTER;
    if (cluster && !route)
        return NULL;
    gw_wire *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->loop = loop;
    w->addr = *addr;
    w->route = route;
    w->cluster = cluster;
    if (!cluster && !link_add(w, addr->host, addr->kind == GW_REDIS_UNIX ? 0 : addr->port)) {
        free(w);
        return NULL;
    }
    return w;
}

void gw_wire_free(gw_wire *w) {
    if (!w)
        return;
    w->closing = 1;
    links_free(w);
    free(w);
}

void gw_wire_reset(gw_wire *w) {
    if (!w || w->closing)
        return;
    if (w->cluster) {
        links_free(w); /* each opens again when a command needs it */
        return;
    }
    link *l = w->links;
    drop(l, "reset: the store reconnected");
    l->failures = 0;
    uv_timer_stop(&l->retry);
    connect_now(l);
}

static int link_ready(const link *l) {
    return l && l->ready && l->cn;
}

int gw_wire_ready(const gw_wire *w) {
    for (const link *l = w ? w->links : NULL; l; l = l->next)
        if (link_ready(l))
            return 1;
    return 0;
}

/* The link a formatted command goes to, ready; NULL when there is none yet. */
static link *link_for(gw_wire *w, const char *cmd, size_t len, int *rc) {
    *rc = MC_EUNAVAIL;
    if (!w->cluster)
        return link_ready(w->links) ? w->links : NULL;
    gw_cmd_route rt;
    if (gw_cluster_route(cmd, len, &rt) || rt.kind != GW_CMD_KEYED) {
        *rc = MC_EINVAL;
        return NULL;
    }
    char host[GW_REDIS_HOST_MAX];
    int port;
    if (gw_store_slot_addr(w->route, (unsigned)rt.slot, host, sizeof host, &port))
        return NULL;
    link *l = link_find(w, host, port);
    if (!l)
        link_add(w, host, port); /* ready for the next command */
    return link_ready(l) ? l : NULL;
}

int gw_wire_cmdf(gw_wire *w, const char *fmt, ...) {
    if (!w || w->closing || (!w->cluster && !link_ready(w->links)))
        return MC_EUNAVAIL;
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0 || !cmd)
        return MC_ENOMEM;
    int rc;
    link *l = link_for(w, cmd, (size_t)len, &rc);
    if (!l) {
        free(cmd);
        return rc;
    }
    conn *cn = l->cn;
    if (cn->pending && write_out(cn)) { /* a backlog: this command would wait behind it */
        free(cmd);
        if (cn->c->err)
            drop(l, NULL);
        return MC_EUNAVAIL;
    }
    rc = redisAppendFormattedCommand(cn->c, cmd, (size_t)len);
    free(cmd);
    if (rc != REDIS_OK)
        return MC_ENOMEM;
    cn->pending = 1;
    rc = write_out(cn);
    if (rc && cn->c->err) {
        drop(l, NULL);
        return MC_EUNAVAIL;
    }
    return rc;
}
