/*
 * gw_store.c — hiredis async connection management on the libuv loop.
 *
 * Big idea: the store owns one redisAsyncContext at a time. Any disconnect
 * (Redis stopped, socket error, a health PING unanswered for HEALTH_TIMEOUT_MS)
 * drops it and a timer reconnects every RECONNECT_MS, so /healthz goes 503
 * when Redis is down and back to 200 when it returns, without a restart.
 * "Up" means a PING was answered: after a (re)connect, and while Redis answers
 * LOADING, the store is down. Commands issued while down fail at once with
 * MC_EUNAVAIL; hiredis calls the callbacks of commands in flight with a NULL
 * reply when the link drops.
 */
#include "gateway/store/gw_store.h"

#include "core/mc.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_resp.h"
#include "gateway/store/gw_script.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_MS 250       /* delay between connection attempts */
#define HEALTH_EVERY_MS 1000   /* PING period while connected */
#define HEALTH_TIMEOUT_MS 3000 /* unanswered PING older than this → reconnect */

struct gw_store {
    uv_loop_t *loop;             /* borrowed */
    gw_redis_addr addr;          /* where to connect */
    redisAsyncContext *ac;       /* current connection, NULL while down */
    int connected;               /* ac finished its connect */
    int up;                      /* connected and healthy, as last reported */
    int closing;                 /* gw_store_free in progress */
    uv_timer_t retry;            /* reconnect timer */
    uv_timer_t health;           /* PING timer */
    uint64_t ping_sent;          /* loop time of the outstanding PING, 0 if none */
    gw_store_state_cb *state_cb; /* up/down observer */
    void *state_priv;            /* its argument */
    int handles_open;            /* timers not yet closed, for free */
    gw_script **scripts;         /* loaded on every connect: copies, owned */
    size_t n_scripts, cap_scripts;
    int scripts_refused; /* a SCRIPT LOAD met LOADING: load again before up */
};

/* One in-flight command: routes hiredis's callback to ours. */
typedef struct pending {
    gw_store *s;
    gw_store_cb *cb;
    void *priv;
} pending;

static void set_up(gw_store *s, int up) {
    if (s->up == up)
        return;
    s->up = up;
    gw_log(up ? GW_INFO : GW_WARN, up ? "redis.up" : "redis.down", "{s:s}", "addr", s->addr.host);
    if (s->state_cb)
        s->state_cb(s, up, s->state_priv);
}

static void on_retry(uv_timer_t *t);
static void load_scripts(gw_store *s);
static void on_pong(redisAsyncContext *ac, void *r, void *privdata);

static void schedule_retry(gw_store *s) {
    if (!s->closing)
        uv_timer_start(&s->retry, on_retry, RECONNECT_MS, 0);
}

static void on_connect(const redisAsyncContext *ac, int status) {
    gw_store *s = ac->data;
    if (status != REDIS_OK) {
        /* hiredis frees ac after this callback. */
        s->ac = NULL;
        s->connected = 0;
        set_up(s, 0);
        schedule_retry(s);
        return;
    }
    s->connected = 1;
    s->scripts_refused = 0;
    load_scripts(s); /* before the PING: up means the scripts are there */
    /* Up only once Redis answers PING: a Redis still loading its AOF accepts
     * connections but refuses every command with LOADING, and commands sent then
     * would fail one by one (a MULTI's EXEC aborts, a wire mark never lands). */
    uint64_t now = uv_now(s->loop);
    s->ping_sent = now ? now : 1;
    if (redisAsyncCommand(s->ac, on_pong, s, "PING") != REDIS_OK)
        s->ping_sent = 0; /* the health timer tries again */
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    gw_store *s = ac->data;
    (void)status;
    s->ac = NULL;
    s->connected = 0;
    s->ping_sent = 0;
    set_up(s, 0);
    schedule_retry(s);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata) {
    (void)ac;
    pending *p = privdata;
    redisReply *reply = r;
    /* Redis lost our scripts (SCRIPT FLUSH): this command fails like any Redis error and
     * its caller tries again; load them all again for the next ones. */
    if (reply && reply->type == REDIS_REPLY_ERROR && !strncmp(reply->str, "NOSCRIPT", 8) &&
        p->s->ac) {
        gw_log(GW_WARN, "redis.noscript", "{s:s}", "addr", p->s->addr.host);
        load_scripts(p->s);
    }
    if (p->cb)
        p->cb(p->s, r, p->priv);
    free(p);
}

static void on_auth(redisAsyncContext *ac, void *r, void *privdata) {
    (void)privdata;
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        gw_log(GW_ERROR, "redis.auth_failed", "{s:s}", "error", reply->str);
    (void)ac;
}

/*
 * Our hiredis event adapter for libuv. Reading is a uv_poll as usual; writing is
 * deferred to a uv_check handle (after the loop's poll phase), so every command
 * issued during one loop iteration leaves in one write() and the socket's poll
 * interest is not switched on and off per command (two epoll_ctl calls each with
 * the stock adapter). Only when the socket buffer is full, or while connecting,
 * does it wait for writability through the poll.
 */
typedef struct gw_redis_ev {
    redisAsyncContext *ac; /* the context served */
    uv_poll_t poll;        /* readability (and writability when it must wait) */
    uv_check_t check;      /* the deferred flush */
    int events;            /* UV_READABLE / UV_WRITABLE currently polled */
    int want_write;        /* hiredis has output pending */
    int in_flush;          /* inside redisAsyncHandleWrite from the check */
    int again;             /* hiredis asked to write again during the flush */
    int closed;            /* hiredis let the context go (ev_cleanup): ac is freed */
    int open_handles;      /* handles not yet closed; freed at 0 */
} gw_redis_ev;

static void ev_on_poll(uv_poll_t *h, int status, int events);

static void ev_set(gw_redis_ev *e, int events) {
    if (e->closed || events == e->events)
        return;
    e->events = events;
    if (events)
        uv_poll_start(&e->poll, events, ev_on_poll);
    else
        uv_poll_stop(&e->poll);
}

static void ev_on_poll(uv_poll_t *h, int status, int events) {
    gw_redis_ev *e = h->data;
    if (status < 0)
        events = e->events; /* let hiredis find the error */
    if (events & UV_READABLE)
        redisAsyncHandleRead(e->ac);
    /* The read may have ended the connection (Redis went away: EOF comes with
     * writability while we wait for it): ac is freed and the handles closing. */
    if (e->closed)
        return;
    if ((events & UV_WRITABLE) && (e->events & UV_WRITABLE)) {
        ev_set(e, e->events & ~UV_WRITABLE);
        e->want_write = 0;
        redisAsyncHandleWrite(e->ac);
    }
}

static void ev_on_check(uv_check_t *h) {
    gw_redis_ev *e = h->data;
    uv_check_stop(&e->check);
    if (!e->want_write)
        return;
    e->want_write = 0;
    e->in_flush = 1;
    e->again = 0;
    redisAsyncHandleWrite(e->ac);
    e->in_flush = 0;
    if (e->closed) /* the write failed and hiredis let the context go */
        return;
    if (e->again) /* the kernel buffer is full: wait until the socket is writable */
        ev_set(e, e->events | UV_WRITABLE);
}

static void ev_add_read(void *p) {
    gw_redis_ev *e = p;
    ev_set(e, e->events | UV_READABLE);
}

static void ev_del_read(void *p) {
    gw_redis_ev *e = p;
    ev_set(e, e->events & ~UV_READABLE);
}

static void ev_add_write(void *p) {
    gw_redis_ev *e = p;
    if (!(e->ac->c.flags & REDIS_CONNECTED)) {
        ev_set(e, e->events | UV_WRITABLE); /* connecting: writability says connected */
        return;
    }
    if (e->in_flush) {
        e->again = 1;
        return;
    }
    if (!e->want_write) {
        e->want_write = 1;
        uv_check_start(&e->check, ev_on_check);
    }
}

static void ev_del_write(void *p) {
    gw_redis_ev *e = p;
    e->want_write = 0;
    ev_set(e, e->events & ~UV_WRITABLE);
}

static void ev_closed(uv_handle_t *h) {
    gw_redis_ev *e = h->data;
    if (--e->open_handles == 0)
        free(e);
}

static void ev_cleanup(void *p) {
    gw_redis_ev *e = p;
    e->closed = 1;
    e->ac->ev.data = NULL;
    uv_poll_stop(&e->poll);
    uv_check_stop(&e->check);
    uv_close((uv_handle_t *)&e->poll, ev_closed);
    uv_close((uv_handle_t *)&e->check, ev_closed);
}

static int ev_attach(redisAsyncContext *ac, uv_loop_t *loop) {
    if (ac->ev.data)
        return REDIS_ERR;
    gw_redis_ev *e = calloc(1, sizeof *e);
    if (!e)
        return REDIS_ERR;
    if (uv_poll_init_socket(loop, &e->poll, ac->c.fd)) {
        free(e);
        return REDIS_ERR;
    }
    uv_check_init(loop, &e->check);
    e->ac = ac;
    e->open_handles = 2;
    e->poll.data = e->check.data = e;
    ac->ev.data = e;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return REDIS_OK;
}

static void connect_now(gw_store *s) {
    redisAsyncContext *ac = s->addr.kind == GW_REDIS_UNIX
                                ? redisAsyncConnectUnix(s->addr.host)
                                : redisAsyncConnect(s->addr.host, s->addr.port);
    if (!ac) {
        schedule_retry(s);
        return;
    }
    if (ac->err) {
        /* Failed before any I/O (e.g. the socket file is gone while Redis is down). */
        redisAsyncFree(ac);
        schedule_retry(s);
        return;
    }
    ac->data = s;
    if (ev_attach(ac, s->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_retry(s);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    s->ac = ac;
    /* AUTH and SELECT are queued now and sent as soon as the link is up. */
    if (s->addr.password[0])
        redisAsyncCommand(ac, on_auth, NULL, "AUTH %s", s->addr.password);
    if (s->addr.db)
        redisAsyncCommand(ac, on_auth, NULL, "SELECT %d", s->addr.db);
}

static void on_retry(uv_timer_t *t) {
    gw_store *s = t->data;
    if (!s->ac && !s->closing)
        connect_now(s);
}

static void on_pong(redisAsyncContext *ac, void *r, void *privdata) {
    (void)ac;
    gw_store *s = privdata;
    redisReply *reply = r;
    if (!reply)
        return; /* link dropped: on_disconnect handles it */
    s->ping_sent = 0;
    int up = reply->type != REDIS_REPLY_ERROR || strncmp(reply->str, "LOADING", 7);
    /* The scripts sent on connect met a Redis still loading its data and were refused:
     * load them again now, ahead of anything the up observers send on this connection,
     * or the first EVALSHAs fail with NOSCRIPT (inside an acknowledgement's MULTI the
     * EXEC still acknowledges the entry, and the notification's outcome is lost). */
    if (up && s->scripts_refused) {
        s->scripts_refused = 0;
        load_scripts(s);
    }
    set_up(s, up);
}

static void on_health(uv_timer_t *t) {
    gw_store *s = t->data;
    if (!s->ac || !s->connected)
        return;
    uint64_t now = uv_now(s->loop);
    if (s->ping_sent && now - s->ping_sent > HEALTH_TIMEOUT_MS) {
        gw_log(GW_WARN, "redis.timeout", "{s:i}", "ms", (int)(now - s->ping_sent));
        set_up(s, 0);
        redisAsyncDisconnect(s->ac); /* on_disconnect schedules the reconnect */
        return;
    }
    if (!s->ping_sent) {
        s->ping_sent = now ? now : 1;
        redisAsyncCommand(s->ac, on_pong, s, "PING");
    }
}

gw_store *gw_store_new(uv_loop_t *loop, const gw_redis_addr *addr) {
    gw_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->addr = *addr;
    uv_timer_init(loop, &s->retry);
    uv_timer_init(loop, &s->health);
    s->retry.data = s->health.data = s;
    s->handles_open = 2;
    uv_timer_start(&s->health, on_health, HEALTH_EVERY_MS, HEALTH_EVERY_MS);
    connect_now(s);
    return s;
}

void gw_store_on_state(gw_store *s, gw_store_state_cb *cb, void *priv) {
    s->state_cb = cb;
    s->state_priv = priv;
}

int gw_store_up(const gw_store *s) {
    return s && s->up;
}

int gw_store_cmd(gw_store *s, gw_store_cb *cb, void *priv, int argc, const char **argv,
                 const size_t *argvlen) {
    if (!s || !s->ac || !s->connected || !s->up)
        return MC_EUNAVAIL;
    pending *p = malloc(sizeof *p);
    if (!p)
        return MC_ENOMEM;
    *p = (pending){s, cb, priv};
    gw_resp r;
    int rc = gw_resp_argv(&r, argc, argv, argvlen);
    if (!rc && redisAsyncFormattedCommand(s->ac, on_reply, p, r.p, r.len) != REDIS_OK)
        rc = MC_EUNAVAIL;
    gw_resp_clear(&r);
    if (rc)
        free(p);
    return rc;
}

int gw_store_cmdf(gw_store *s, gw_store_cb *cb, void *priv, const char *fmt, ...) {
    if (!s || !s->ac || !s->connected || !s->up)
        return MC_EUNAVAIL;
    pending *p = malloc(sizeof *p);
    if (!p)
        return MC_ENOMEM;
    *p = (pending){s, cb, priv};
    gw_resp r;
    va_list ap;
    va_start(ap, fmt);
    int rc = gw_resp_fmt(&r, fmt, ap), sent = 0;
    if (rc == 0)
        sent = redisAsyncFormattedCommand(s->ac, on_reply, p, r.p, r.len) == REDIS_OK;
    else if (rc != MC_ENOMEM) /* a directive, or a length, of hiredis's alone */
        sent = redisvAsyncCommand(s->ac, on_reply, p, fmt, ap) == REDIS_OK;
    va_end(ap);
    gw_resp_clear(&r);
    if (!sent) {
        free(p);
        return rc == MC_ENOMEM ? MC_ENOMEM : MC_EUNAVAIL;
    }
    return 0;
}

static void on_loaded(redisAsyncContext *ac, void *r, void *privdata) {
    const char *name = privdata; /* static */
    redisReply *reply = r;
    if (!reply || reply->type != REDIS_REPLY_ERROR)
        return;
    if (!strncmp(reply->str, "LOADING", 7)) {
        gw_store *s = ac->data;
        s->scripts_refused = 1; /* on_pong loads them once Redis has its data */
        return;
    }
    gw_log(GW_ERROR, "redis.script_load_failed", "{s:s, s:s}", "script", name, "error", reply->str);
}

static void load_scripts(gw_store *s) {
    for (size_t i = 0; s->ac && i < s->n_scripts; i++)
        redisAsyncCommand(s->ac, on_loaded, (void *)s->scripts[i]->name, "SCRIPT LOAD %b",
                          s->scripts[i]->text, s->scripts[i]->len);
}

int gw_store_load(gw_store *s, const gw_script *script) {
    if (s->n_scripts == s->cap_scripts) {
        size_t cap = s->cap_scripts ? 2 * s->cap_scripts : 16;
        gw_script **v = realloc(s->scripts, cap * sizeof *v);
        if (!v)
            return MC_ENOMEM;
        s->scripts = v;
        s->cap_scripts = cap;
    }
    /* a copy: the store reloads it on every reconnect, whoever registered it may be gone */
    gw_script *c = malloc(sizeof *c);
    if (!c || !(c->text = malloc(script->len + 1))) {
        free(c);
        return MC_ENOMEM;
    }
    memcpy(c->text, script->text, script->len + 1);
    c->len = script->len;
    c->name = script->name;
    memcpy(c->sha, script->sha, sizeof c->sha);
    s->scripts[s->n_scripts++] = c;
    if (s->ac && s->connected)
        redisAsyncCommand(s->ac, on_loaded, (void *)c->name, "SCRIPT LOAD %b", c->text, c->len);
    return 0;
}

static void free_scripts(gw_store *s) {
    for (size_t i = 0; i < s->n_scripts; i++) {
        free(s->scripts[i]->text);
        free(s->scripts[i]);
    }
    free(s->scripts);
}

static void on_timer_closed(uv_handle_t *h) {
    gw_store *s = h->data;
    if (--s->handles_open == 0) {
        free_scripts(s);
        free(s);
    }
}

void gw_store_free(gw_store *s) {
    if (!s)
        return;
    s->closing = 1;
    s->state_cb = NULL;
    if (s->ac) {
        redisAsyncContext *ac = s->ac;
        s->ac = NULL;
        redisAsyncFree(ac); /* pending callbacks run with NULL replies */
    }
    uv_timer_stop(&s->retry);
    uv_timer_stop(&s->health);
    uv_close((uv_handle_t *)&s->retry, on_timer_closed);
    uv_close((uv_handle_t *)&s->health, on_timer_closed);
}

static int argv_grow(gw_argv *a) {
    if (a->n < a->cap)
        return 0;
    size_t cap = a->cap ? a->cap * 2 : 16;
    const char **v = realloc(a->v, cap * sizeof *v);
    if (!v)
        return -1;
    a->v = v;
    size_t *l = realloc(a->l, cap * sizeof *l);
    if (!l)
        return -1;
    a->l = l;
    char **o = realloc(a->owned, cap * sizeof *o);
    if (!o)
        return -1;
    a->owned = o;
    a->cap = cap;
    return 0;
}

void gw_argv_add(gw_argv *a, const char *s, size_t len) {
    if (a->oom || argv_grow(a)) {
        a->oom = 1;
        return;
    }
    a->v[a->n] = s ? s : "";
    a->l[a->n] = s ? len : 0;
    a->n++;
}

void gw_argv_adds(gw_argv *a, const char *s) {
    gw_argv_add(a, s, s ? strlen(s) : 0);
}

void gw_argv_addf(gw_argv *a, const char *fmt, ...) {
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && !a->oom && !argv_grow(a) && (s = malloc((size_t)n + 1))) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
        a->owned[a->n_owned++] = s;
        gw_argv_add(a, s, (size_t)n);
        return;
    }
    a->oom = 1;
}

int gw_argv_send(gw_store *s, gw_argv *a, gw_store_cb *cb, void *priv) {
    if (a->oom || a->n == 0 || a->n > INT_MAX)
        return MC_ENOMEM;
    return gw_store_cmd(s, cb, priv, (int)a->n, a->v, a->l);
}

void gw_argv_free(gw_argv *a) {
    for (size_t i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->v);
    free(a->l);
    memset(a, 0, sizeof *a);
}
