/*
 * gw_work.c — slow work of a request off the loop (gw_api_op_work in gw_api_int.h):
 * Argon2id takes tens of milliseconds by design, which the loop must not wait for, so it
 * runs on libuv's thread pool and the request goes on from the loop when it is done.
 */
#include "gateway/api/gw_api_int.h"

#include <stdlib.h>

/* One op on the thread pool. */
typedef struct work {
    uv_work_t req;        /* libuv's; data unused */
    gw_api_op *o;         /* the op, which nobody else touches meanwhile */
    gw_api_next_fn *work; /* on a pool thread */
    gw_api_next_fn *done; /* then on the loop */
} work;

static void on_pool(uv_work_t *req) {
    work *w = (work *)req;
    w->work(w->o);
}

static void on_back(uv_work_t *req, int status) {
    (void)status; /* never cancelled: the op's request is answered either way */
    work *w = (work *)req;
    gw_api_op *o = w->o;
    gw_api_next_fn *done = w->done;
    free(w);
    done(o);
}

void gw_api_op_work(gw_api_op *o, gw_api_next_fn *fn, gw_api_next_fn *done) {
    gw_app *app = gw_api_app(o->api);
    if (o->in_reply)
        o->sent_on = true; /* the reply's framework must not free it: the work has it */
    if (!app || !app->loop) {
        fn(o);
        done(o);
        return;
    }
    work *w = calloc(1, sizeof *w);
    if (w) {
        w->o = o;
        w->work = fn;
        w->done = done;
        if (!uv_queue_work(app->loop, &w->req, on_pool, on_back))
            return;
        free(w);
    }
    gw_api_oom(o->rq);
    if (o->in_reply)
        o->sent_on = false; /* the framework frees it when the reply function returns */
    else
        gw_api_op_free(o);
}
