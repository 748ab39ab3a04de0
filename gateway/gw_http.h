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

#include "gateway/gw_app.h"

#include <stddef.h>

typedef struct gw_req gw_req;

/* Binds cfg->listen_host:listen_port and starts serving; 0 or MC_EIO with err. */
int gw_http_start(gw_app *app, char *err, size_t errlen);

/* Starts an orderly shutdown; the loop finishes closing lws's handles. */
void gw_http_stop(gw_app *app);

/* The request. Strings are NUL-terminated and live as long as the request. */
gw_app *gw_req_app(const gw_req *rq);
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

/* Handlers of routes that other modules own. */
typedef void gw_route_fn(gw_req *rq);

#define GW_M_GET 1u
#define GW_M_POST 2u
#define GW_M_PUT 4u
#define GW_M_DELETE 8u

/* Adds a route before gw_http_start: exact path, or every path under it when
 * path ends with '/'. label is the route in /metrics. At most GW_HTTP_MAX_ROUTES. */
#define GW_HTTP_MAX_ROUTES 32
int gw_http_route(gw_app *app, const char *path, const char *label, unsigned methods,
                  gw_route_fn *fn);

#endif
