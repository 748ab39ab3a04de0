/*
 * gw_http.c — libwebsockets server on the app's libuv loop: plain HTTP routes
 * and the upgrade to the web chat protocol.
 *
 * Big idea: routes are a table (path, methods, handler). A request becomes a
 * refcounted gw_req once its headers (a fixed list) and body (bounded by
 * max_body_bytes, else 413) are in; the handler answers now or later from an
 * async callback, and this file does the lws dance: headers and body in
 * HTTP_WRITEABLE chunks, then keep-alive. A request whose client left is
 * detached (wsi = NULL) and answering it is a no-op. Every answer, including
 * 404/405/413, is counted in /metrics and has a JSON body naming the problem.
 */
#include "gateway/net/gw_http.h"

#include "core/mc.h"
#include "gateway/app/gw_log.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY_CHUNK 16384 /* bytes written per HTTP_WRITEABLE callback */
#define MAX_PATH 512     /* longest request path we route */
#define MAX_QUERY 4096   /* longest re-encoded query string */
#define MAX_ARG 2048     /* longest single query argument */
#define MAX_HEADER 1024  /* longest kept header value */

/* Headers a handler may read; everything else is not kept. */
static const char *const kept_headers[] = {
    "content-type",
    "authorization",
    "origin",
    "host",
    "x-hub-signature-256",
    "x-zevent-signature",
    "x-twilio-signature",
    "idempotency-key",
    "x-forwarded-for",
    "cookie",       /* the console's session */
    "x-csrf-token", /* ... and the token its writes carry */
};
#define N_KEPT (sizeof kept_headers / sizeof kept_headers[0])

struct gw_http {
    gw_http_opts o;                    /* as given (borrowed pointers) */
    struct lws_context *lws;           /* the server; NULL once destroyed */
    struct lws_protocols protocols[3]; /* http, the WebSocket one, terminator */
};

struct gw_req {
    int refs;                  /* the connection + async holders */
    struct lws *wsi;           /* NULL once the connection closed */
    gw_http *srv;              /* borrowed */
    char method[8];            /* GET, HEAD, POST, PUT, DELETE */
    char path[MAX_PATH];       /* without the query */
    char *query;               /* re-encoded, owned, never NULL */
    size_t query_len;          /* bytes in query */
    char *headers[N_KEPT];     /* values, owned, NULL when absent */
    char peer[64];             /* peer address */
    char *body;                /* owned, NUL-terminated */
    size_t body_len, body_cap; /* bytes used / allocated */
    int too_big;               /* body beyond max_body_bytes */
    const char *label;         /* route label for /metrics */
    gw_route_fn *fn;           /* the handler, NULL once called or for built-in answers */
    void *priv;                /* the handler's module */
    /* the answer */
    int answered;         /* respond was called */
    int status;           /* HTTP status */
    const char *ctype;    /* content type (static) */
    char *out;            /* owned body copy */
    size_t out_len, sent; /* body length and bytes written */
    char *extra;          /* owned extra headers or NULL */
    int headers_sent;     /* status line and headers written */
    int close_after;      /* close the connection after the answer */
    int head_only;        /* HEAD: no body */
};

/* Per-connection storage of the "http" protocol: the request in progress. */
typedef struct http_pss {
    gw_req *rq; /* holds one reference, NULL between requests */
} http_pss;

const char *gw_req_method(const gw_req *rq) {
    return rq->method;
}
const char *gw_req_path(const gw_req *rq) {
    return rq->path;
}
const char *gw_req_peer(const gw_req *rq) {
    return rq->peer;
}
int gw_req_answered(const gw_req *rq) {
    return rq->answered;
}

const char *gw_req_query(const gw_req *rq, size_t *len) {
    if (len)
        *len = rq->query_len;
    return rq->query;
}

const char *gw_req_body(const gw_req *rq, size_t *len) {
    if (len)
        *len = rq->body_len;
    return rq->body ? rq->body : "";
}

const char *gw_req_header(const gw_req *rq, const char *name) {
    for (size_t i = 0; i < N_KEPT; i++)
        if (!strcasecmp(kept_headers[i], name))
            return rq->headers[i];
    return NULL;
}

gw_req *gw_req_ref(gw_req *rq) {
    rq->refs++;
    return rq;
}

void gw_req_unref(gw_req *rq) {
    if (!rq || --rq->refs > 0)
        return;
    free(rq->query);
    for (size_t i = 0; i < N_KEPT; i++)
        free(rq->headers[i]);
    free(rq->body);
    free(rq->out);
    free(rq->extra);
    free(rq);
}

void gw_req_respond(gw_req *rq, int status, const char *ctype, const char *body, size_t len,
                    const char *extra) {
    if (rq->answered)
        return;
    rq->answered = 1;
    rq->status = status;
    rq->ctype = ctype ? ctype : "application/json";
    rq->out = malloc(len + 1);
    if (rq->out) {
        if (len)
            memcpy(rq->out, body, len);
        rq->out[len] = '\0';
        rq->out_len = len;
    } else {
        rq->status = 500;
        rq->out_len = 0;
    }
    rq->extra = extra ? strdup(extra) : NULL;
    gw_metrics_http(rq->srv->o.metrics, rq->label, rq->status);
    if (gw_log_enabled(GW_DEBUG))
        gw_log(GW_DEBUG, "http.request", "{s:s, s:s, s:i}", "method", rq->method, "route",
               rq->label, "status", rq->status);
    if (rq->wsi)
        lws_callback_on_writable(rq->wsi);
}

void gw_req_json(gw_req *rq, int status, const char *json, size_t len) {
    gw_req_respond(rq, status, "application/json", json, len, NULL);
}

void gw_req_error(gw_req *rq, int status, const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *j = NULL;
    json_t *o = json_pack("{s:s, s:s}", "error", code, "message", msg);
    if (o)
        j = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!j) {
        gw_req_respond(rq, 500, "application/json", "{\"error\":\"internal\"}", 20, NULL);
        return;
    }
    gw_req_respond(rq, status, "application/json", j, strlen(j), NULL);
    free(j);
}

static gw_http *srv_of(struct lws *wsi) {
    return lws_context_user(lws_get_context(wsi));
}

/* Percent-encodes s into b (RFC 3986 unreserved kept). 0 or -1 when full. */
static int enc_append(char *b, size_t cap, size_t *len, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
        if (*len + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            b[(*len)++] = (char)ch;
        } else {
            b[(*len)++] = '%';
            b[(*len)++] = hex[ch >> 4];
            b[(*len)++] = hex[ch & 15];
        }
    }
    return 0;
}

/* lws hands the query decoded, one "name=value" fragment at a time: encode it
 * back into one canonical string adapters can parse. -1 when too long. */
static int collect_query(struct lws *wsi, gw_req *rq) {
    char *q = malloc(MAX_QUERY);
    char arg[MAX_ARG];
    size_t len = 0;
    if (!q)
        return -1;
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, arg, sizeof arg, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        if (len && len + 1 < MAX_QUERY)
            q[len++] = '&';
        const char *eq = memchr(arg, '=', (size_t)n);
        size_t kl = eq ? (size_t)(eq - arg) : (size_t)n;
        if (enc_append(q, MAX_QUERY, &len, arg, kl))
            goto toolong;
        if (eq) {
            if (len + 1 >= MAX_QUERY)
                goto toolong;
            q[len++] = '=';
            if (enc_append(q, MAX_QUERY, &len, eq + 1, (size_t)n - kl - 1))
                goto toolong;
        }
    }
    q[len] = '\0';
    rq->query = q;
    rq->query_len = len;
    return 0;
toolong:
    q[0] = '\0';
    rq->query = q;
    rq->query_len = 0;
    return -1;
}

static void collect_headers(struct lws *wsi, gw_req *rq) {
    char name[64], val[MAX_HEADER];
    for (size_t i = 0; i < N_KEPT; i++) {
        int n = -1;
        if (!strcmp(kept_headers[i], "content-type"))
            n = lws_hdr_copy(wsi, val, sizeof val, WSI_TOKEN_HTTP_CONTENT_TYPE);
        else if (!strcmp(kept_headers[i], "authorization"))
            n = lws_hdr_copy(wsi, val, sizeof val, WSI_TOKEN_HTTP_AUTHORIZATION);
        else if (!strcmp(kept_headers[i], "origin"))
            n = lws_hdr_copy(wsi, val, sizeof val, WSI_TOKEN_ORIGIN);
        else if (!strcmp(kept_headers[i], "host"))
            n = lws_hdr_copy(wsi, val, sizeof val, WSI_TOKEN_HOST);
        else if (!strcmp(kept_headers[i], "cookie"))
            n = lws_hdr_copy(wsi, val, sizeof val, WSI_TOKEN_HTTP_COOKIE);
        else {
            int nl = snprintf(name, sizeof name, "%s:", kept_headers[i]);
            if (lws_hdr_custom_length(wsi, name, nl) > 0)
                n = lws_hdr_custom_copy(wsi, val, sizeof val, name, nl);
        }
        if (n > 0)
            rq->headers[i] = strndup(val, (size_t)n);
    }
}

static const char *method_of(struct lws *wsi, unsigned *bit) {
    static const struct {
        enum lws_token_indexes tok;
        const char *name;
        unsigned bit;
    } m[] = {
        {WSI_TOKEN_GET_URI, "GET", GW_M_GET},          {WSI_TOKEN_HEAD_URI, "HEAD", GW_M_GET},
        {WSI_TOKEN_POST_URI, "POST", GW_M_POST},       {WSI_TOKEN_PUT_URI, "PUT", GW_M_PUT},
        {WSI_TOKEN_DELETE_URI, "DELETE", GW_M_DELETE},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(m); i++)
        if (lws_hdr_total_length(wsi, m[i].tok) > 0) {
            *bit = m[i].bit;
            return m[i].name;
        }
    *bit = 0;
    return "OTHER";
}

static void allow_header(unsigned methods, char *buf, size_t n) {
    snprintf(buf, n, "Allow: %s%s%s%s\r\n", methods & GW_M_GET ? "GET, HEAD" : "",
             methods & GW_M_POST ? (methods & GW_M_GET ? ", POST" : "POST") : "",
             methods & GW_M_PUT ? ", PUT" : "", methods & GW_M_DELETE ? ", DELETE" : "");
}

static void dispatch(gw_req *rq) {
    gw_route_fn *fn = rq->fn;
    rq->fn = NULL;
    gw_req_ref(rq);
    fn(rq, rq->priv);
    gw_req_unref(rq);
}

/* A request line and headers arrived: route it; bodies come later. */
static int on_http(struct lws *wsi, http_pss *pss, const char *path, size_t path_len) {
    gw_http *srv = srv_of(wsi);
    gw_req *rq = calloc(1, sizeof *rq);
    if (!rq)
        return -1;
    rq->refs = 1;
    rq->wsi = wsi;
    rq->srv = srv;
    rq->label = "other";
    pss->rq = rq;
    unsigned bit;
    snprintf(rq->method, sizeof rq->method, "%s", method_of(wsi, &bit));
    rq->head_only = !strcmp(rq->method, "HEAD");
    if (path_len >= sizeof rq->path) {
        rq->query = strdup("");
        gw_req_error(rq, 414, "uri_too_long", "the path is longer than %d bytes", MAX_PATH - 1);
        return 0;
    }
    memcpy(rq->path, path, path_len);
    rq->path[path_len] = '\0';
    lws_get_peer_simple(wsi, rq->peer, sizeof rq->peer);
    collect_headers(wsi, rq);
    int qbad = collect_query(wsi, rq);
    if (!rq->query)
        return -1;

    const gw_route *rt = gw_router_match(srv->o.router, rq->path);
    if (!rt) {
        gw_req_error(rq, 404, "not_found", "no such path");
        return 0;
    }
    rq->label = rt->label;
    if (!(rt->methods & bit)) {
        char allow[80];
        allow_header(rt->methods, allow, sizeof allow);
        gw_req_error(rq, 405, "method_not_allowed", "%s is not allowed on this path", rq->method);
        free(rq->extra);
        rq->extra = strdup(allow);
        return 0;
    }
    if (qbad) {
        gw_req_error(rq, 414, "uri_too_long", "the query string is too long");
        return 0;
    }
    rq->fn = rt->fn;
    rq->priv = rt->priv;
    if (bit == GW_M_POST || bit == GW_M_PUT) {
        char cl[32];
        long long want = -1;
        if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
            want = strtoll(cl, NULL, 10);
        int chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
        if (want > srv->o.cfg->max_body_bytes) {
            rq->fn = NULL;
            rq->close_after = 1;
            gw_req_error(rq, 413, "body_too_large", "the body is larger than %ld bytes",
                         srv->o.cfg->max_body_bytes);
            return 0;
        }
        if (want > 0 || chunked)
            return 0; /* wait for HTTP_BODY ... HTTP_BODY_COMPLETION */
    }
    dispatch(rq);
    return 0;
}

static int on_body(http_pss *pss, const void *in, size_t len) {
    gw_req *rq = pss->rq;
    if (!rq || rq->answered || !rq->fn)
        return 0;
    size_t max = (size_t)rq->srv->o.cfg->max_body_bytes;
    if (rq->too_big || rq->body_len + len > max) {
        rq->too_big = 1;
        return 0;
    }
    if (rq->body_len + len + 1 > rq->body_cap) {
        size_t cap = rq->body_cap ? rq->body_cap : 4096;
        while (cap < rq->body_len + len + 1)
            cap *= 2;
        char *b = realloc(rq->body, cap);
        if (!b)
            return -1;
        rq->body = b;
        rq->body_cap = cap;
    }
    memcpy(rq->body + rq->body_len, in, len);
    rq->body_len += len;
    rq->body[rq->body_len] = '\0';
    return 0;
}

static int on_body_done(http_pss *pss) {
    gw_req *rq = pss->rq;
    if (!rq || rq->answered || !rq->fn)
        return 0;
    if (rq->too_big) {
        rq->fn = NULL;
        rq->close_after = 1;
        gw_req_error(rq, 413, "body_too_large", "the body is larger than %ld bytes",
                     rq->srv->o.cfg->max_body_bytes);
        return 0;
    }
    dispatch(rq);
    return 0;
}

#define SMALL_BODY 8192 /* bodies this small leave with their headers in one write */

/* Writes status line and headers, and the whole body too when it is small (one
 * write, one WRITEABLE round instead of two: fewer epoll_ctl calls per request).
 * 0 or -1 to close. */
static int send_headers(struct lws *wsi, gw_req *rq) {
    unsigned char buf[LWS_PRE + 2048 + SMALL_BODY];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + LWS_PRE + 2047;
    if (lws_add_http_common_headers(wsi, (unsigned int)rq->status, rq->ctype, rq->out_len, &p, end))
        return -1;
    if (rq->extra) {
        size_t l = strlen(rq->extra);
        if ((size_t)(end - p) <= l)
            return -1;
        memcpy(p, rq->extra, l);
        p += l;
    }
    if (rq->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                                        (const unsigned char *)"close", 5, &p, end))
        return -1;
    if (lws_finalize_http_header(wsi, &p, end))
        return -1;
    if (!rq->head_only && rq->out_len <= SMALL_BODY) {
        memcpy(p, rq->out, rq->out_len);
        p += rq->out_len;
        rq->sent = rq->out_len;
    }
    size_t n = (size_t)(p - start);
    if (lws_write(wsi, start, n, LWS_WRITE_HTTP_HEADERS) != (int)n)
        return -1;
    rq->headers_sent = 1;
    return 0;
}

/* The end of one transaction: drop the request, keep the connection if we may. */
static int finish(struct lws *wsi, http_pss *pss) {
    gw_req *rq = pss->rq;
    int close = rq->close_after;
    pss->rq = NULL;
    rq->wsi = NULL;
    gw_req_unref(rq);
    if (close)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_writeable(struct lws *wsi, http_pss *pss) {
    gw_req *rq = pss->rq;
    if (!rq || !rq->answered)
        return 0;
    if (!rq->headers_sent) {
        if (send_headers(wsi, rq))
            return -1;
        if (rq->head_only || rq->sent == rq->out_len)
            return finish(wsi, pss);
        lws_callback_on_writable(wsi);
        return 0;
    }
    unsigned char buf[LWS_PRE + BODY_CHUNK];
    size_t n = rq->out_len - rq->sent;
    if (n > BODY_CHUNK)
        n = BODY_CHUNK;
    int final = rq->sent + n == rq->out_len;
    memcpy(buf + LWS_PRE, rq->out + rq->sent, n);
    if (lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
        return -1;
    rq->sent += n;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    return finish(wsi, pss);
}

static void drop_request(http_pss *pss) {
    if (pss && pss->rq) {
        pss->rq->wsi = NULL;
        gw_req_unref(pss->rq);
        pss->rq = NULL;
    }
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len) {
    http_pss *pss = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP: drop_request(pss); return on_http(wsi, pss, in, len);
    case LWS_CALLBACK_HTTP_BODY: return on_body(pss, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: return on_body_done(pss);
    case LWS_CALLBACK_HTTP_WRITEABLE: return on_writeable(wsi, pss);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL: drop_request(pss); return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* A WebSocket upgrade without our subprotocol lands here: refuse it. */
        return 1;
    default: return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* lws pings an idle web chat socket and hangs up when nothing valid came back. */
static const lws_retry_bo_t idle_policy = {
    .secs_since_valid_ping = 60,    /* ping after a minute of silence */
    .secs_since_valid_hangup = 600, /* close after 10 minutes without a pong or frame */
};

static void lws_log_emit(int level, const char *line) {
    char buf[512];
    size_t l = strlen(line);
    while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
        l--;
    if (l >= sizeof buf)
        l = sizeof buf - 1;
    memcpy(buf, line, l);
    buf[l] = '\0';
    gw_log(level == LLL_ERR ? GW_ERROR : GW_WARN, "lws", "{s:s}", "message", buf);
}

gw_http *gw_http_start(const gw_http_opts *o, char *err, size_t errlen) {
    if (o->cfg->listen_port == 0) {
        snprintf(err, errlen, "listen port 0 is not supported by `serve`; pick a port");
        return NULL;
    }
    gw_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->o = *o;
    h->protocols[0] =
        (struct lws_protocols){"http", http_callback, sizeof(http_pss), 0, 0, NULL, 0};
    if (o->ws)
        h->protocols[1] = *o->ws;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[1] = {o->loop};
    info.foreign_loops = loops;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
    if (strchr(o->cfg->listen_host, ':'))
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_DISABLE_IPV6;
    info.port = o->cfg->listen_port;
    info.iface = o->cfg->listen_host;
    info.protocols = h->protocols;
    info.user = h;
    info.pcontext = &h->lws;
    info.retry_and_idle_policy = &idle_policy;
    info.max_http_header_data = 4096;
    info.timeout_secs = 30;
    info.vhost_name = "motcua";
    h->lws = lws_create_context(&info);
    if (!h->lws) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or no permission?)",
                 o->cfg->listen_host, o->cfg->listen_port);
        free(h);
        return NULL;
    }
    return h;
}

int gw_http_port(const gw_http *h) {
    return h->o.cfg->listen_port;
}

void gw_http_stop(gw_http *h) {
    if (h && h->lws)
        lws_context_destroy(h->lws); /* pcontext clears h->lws once lws is done */
}

void gw_http_free(gw_http *h) {
    free(h);
}
