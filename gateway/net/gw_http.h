/*
 * gw_http.h — the HTTP surface: libwebsockets on the app's libuv loop, a route
 * table for plain HTTP (GET/HEAD/POST with bodies), and the web chat WebSocket
 * at /ws.
 *
 * A route handler receives a gw_req once the request and its body are
 * complete. It answers at once (gw_req_respond) or later, from a Redis or
 * libcurl callback: it then keeps the request alive with gw_req_ref and drops
 * it with gw_req_unref. Answering a request whose client has gone is harmless.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include "gateway/app/gw_config.h"
#include "gateway/app/gw_metrics.h"
#include "gateway/net/gw_router.h"

#include <stddef.h>
#include <uv.h>

struct lws_protocols;

typedef struct gw_req gw_req;
typedef struct gw_http gw_http;

/* What the server needs; everything borrowed and alive until gw_http_free. */
typedef struct gw_http_opts {
    uv_loop_t *loop;                /* the process's loop */
    const gw_config *cfg;           /* listen address, max_body_bytes */
    gw_metrics *metrics;            /* every answer is counted */
    const gw_router *router;        /* routes of plain HTTP requests */
    const struct lws_protocols *ws; /* one WebSocket subprotocol (the web chat), or NULL;
                                       its `user` is handed back to its callback */
} gw_http_opts;

/* Binds cfg->listen_host:listen_port and starts serving; NULL with a reason in err. */
gw_http *gw_http_start(const gw_http_opts *o, char *err, size_t errlen);

/* Starts an orderly shutdown: no new connection; the loop finishes closing lws's
 * handles. NULL is fine. */
void gw_http_stop(gw_http *h);

/* Releases the server once the loop has stopped and gw_http_stop was called again
 * after it (libwebsockets finishes destroying a context on a foreign loop only then).
 * NULL is fine. */
void gw_http_free(gw_http *h);

/* The port actually bound. */
int gw_http_port(const gw_http *h);

/* The request. Strings are NUL-terminated and live as long as the request. */
const char *gw_req_method(const gw_req *rq); /* "GET", "HEAD", "POST", "PUT", "DELETE" */
const char *gw_req_path(const gw_req *rq);   /* without the query */
/* The query string re-encoded canonically (name=value pairs joined by '&',
 * percent-encoded), "" when none. */
const char *gw_req_query(const gw_req *rq, size_t *len);
const char *gw_req_body(const gw_req *rq, size_t *len); /* NUL-terminated; "" when none */
/* A request header (lower-case name, without ':') or NULL. Only the headers of
 * the table in gw_http.c are kept. */
const char *gw_req_header(const gw_req *rq, const char *name); /* case-insensitive */
const char *gw_req_peer(const gw_req *rq);                     /* peer IP address */

/* Keeps the request (and its memory) alive past the handler's return. */
gw_req *gw_req_ref(gw_req *rq);
void gw_req_unref(gw_req *rq);

/* Answers; copies body. extra: raw "Name: value\r\n" lines or NULL. Only the
 * first answer counts. */
void gw_req_respond(gw_req *rq, int status, const char *ctype, const char *body, size_t len,
                    const char *extra);
/* Answers {"error":code,"message":msg} with status. */
void gw_req_error(gw_req *rq, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers JSON text (content type application/json). */
void gw_req_json(gw_req *rq, int status, const char *json, size_t len);
int gw_req_answered(const gw_req *rq);

#endif
