/*
 * gw_redis.c — hiredis on the libuv loop: the event adapter every store connection uses,
 * and deep copies of replies kept beyond their callback (the cluster client's held answers).
 */
#include "gateway/store/gw_redis.h"

#include <stdlib.h>
#include <string.h>

/* ---- the event adapter ---- */
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

int gw_redis_attach(redisAsyncContext *ac, uv_loop_t *loop) {
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

/* ---- replies kept beyond their callback ---- */

void gw_redis_reply_free(redisReply *r) {
    if (!r)
        return;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        gw_redis_reply_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

redisReply *gw_redis_reply_copy(const redisReply *r) {
    redisReply *c = r ? calloc(1, sizeof *c) : NULL;
    if (!c)
        return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->str) {
        if (!(c->str = malloc(r->len + 1)))
            goto fail;
        memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements) {
        if (!(c->element = calloc(r->elements, sizeof *c->element)))
            goto fail;
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if (!(c->element[i] = gw_redis_reply_copy(r->element[i])))
                goto fail;
    }
    return c;
fail:
    gw_redis_reply_free(c);
    return NULL;
}
