/*
 * gw_httpc.h — outbound HTTP to providers on the process's libuv loop
 * (libcurl multi socket API): keep-alive connections, timeouts, a bounded
 * number of requests in flight per provider ("pool") with a FIFO queue behind
 * it, and exactly one callback per request. A request may carry a
 * "before send" hook that runs at the last moment before its bytes are
 * written, so that the caller can record "this may have reached the provider"
 * somewhere durable first (gw_sender's wire marks).
 */
#ifndef GW_HTTPC_H
#define GW_HTTPC_H

#include "channels/ch.h"

#include <stddef.h>
#include <uv.h>

#define GW_HTTPC_CONNECT_TIMEOUT_MS 5000    /* default connect timeout */
#define GW_HTTPC_TIMEOUT_MS 15000           /* default whole-request timeout */
#define GW_HTTPC_MAX_PER_POOL 8             /* default requests in flight per pool */
#define GW_HTTPC_MAX_TOTAL 64               /* default requests in flight in all */
#define GW_HTTPC_MAX_RESPONSE (1024 * 1024) /* default cap on a response body, bytes */
#define GW_HTTPC_MAX_POOLS 32               /* distinct pool names */
#define GW_HTTPC_MAX_POOL_NAME 32           /* bytes in a pool name, NUL included */
#define GW_HTTPC_MAX_QUEUED 100000          /* requests waiting in all pools */
#define GW_HTTPC_MAX_URL 8192               /* bytes in a request URL */
#define GW_HTTPC_MAX_RETRY_AFTER 64         /* bytes kept of a Retry-After value */

typedef struct gw_httpc gw_httpc;

/* Limits; a field left 0 takes the default above. */
typedef struct gw_httpc_opts {
    long connect_timeout_ms;   /* TCP + TLS connect */
    long timeout_ms;           /* whole request, from the moment it leaves the queue */
    int max_per_pool;          /* requests in flight per pool; more wait FIFO */
    int max_total;             /* requests in flight in all pools; also the connection cache */
    size_t max_response_bytes; /* a longer body fails the request (status kept) */
} gw_httpc_opts;

/* What came back. Everything is borrowed and valid only during the callback. */
typedef struct gw_httpc_resp {
    int status;              /* HTTP status, 0 when the transport failed, timed out or was
                                cancelled */
    const char *body;        /* NUL-terminated copy of the body, never NULL ("" when none or
                                when the body was over the cap) */
    size_t body_len;         /* bytes in body */
    const char *retry_after; /* Retry-After header value, or NULL */
    const char *error;       /* transport error text ("cancelled", curl's message, "response
                                body over N bytes"), or NULL on a complete answer */
    double elapsed_ms;       /* time on the wire (not counting the wait in the queue) */
    int on_wire;             /* 1 once the request reached the moment of leaving (its
                                connection ready, the before-send hook, if any, said go):
                                a failure with status 0 after that is ambiguous, the
                                provider may have it; 0 = it certainly never left
                                (connect failed, refused by the hook, cancelled while
                                waiting) */
} gw_httpc_resp;

typedef void gw_httpc_cb(void *arg, const gw_httpc_resp *r);

/*
 * Called by curl once the request's connection is ready (new or reused), right
 * before the request's bytes are written — again if curl retries it on a fresh
 * connection. It runs inside curl: it must not call gw_httpc. Return 0 to let
 * the request go; anything else stops it unsent: its callback then gets status
 * 0, on_wire 0 and error "stopped before sending".
 */
typedef int gw_httpc_before_fn(void *arg);

/*
 * Creates a client on `loop` (borrowed; it must outlive the client). o may be
 * NULL for all defaults. Returns NULL with a reason in err on failure.
 */
gw_httpc *gw_httpc_new(uv_loop_t *loop, const gw_httpc_opts *o, char *err, size_t errlen);

/*
 * Cancels what is pending — each callback not yet called runs now, once, with
 * status 0 and error "cancelled" (sends from those callbacks fail with
 * MC_EUNAVAIL) — and closes every connection. May be called from inside a
 * callback. The memory is released by the loop: run it to completion after.
 */
void gw_httpc_free(gw_httpc *c);

/*
 * Queues one request. Copies req (method, url, headers, body); req may be
 * cleared right after. `pool` names a provider (a channel; NULL = "default")
 * for the per-pool bound: requests beyond it wait in FIFO order. May be called
 * from inside a callback. On 0, cb(arg, resp) will be called exactly once,
 * never from inside this call; on error it is never called:
 * MC_EINVAL (no URL, a scheme other than http/https, a header with CR/LF, an
 * unknown method), MC_ETOOBIG (URL, pool name, pools or queue over their limits),
 * MC_EUNAVAIL (the client is being freed), MC_ENOMEM.
 */
int gw_httpc_send(gw_httpc *c, const ch_http *req, const char *pool, gw_httpc_cb *cb, void *arg);

/* gw_httpc_send with a before-send hook (NULL = none), called with the same arg. */
int gw_httpc_send_hooked(gw_httpc *c, const ch_http *req, const char *pool, gw_httpc_cb *cb,
                         gw_httpc_before_fn *before, void *arg);

/* Requests of `pool` (NULL = all pools) on the wire, and waiting in its queue. */
size_t gw_httpc_inflight(const gw_httpc *c, const char *pool);
size_t gw_httpc_queued(const gw_httpc *c, const char *pool);

#endif
