/*
 * gw_http.c — libwebsockets server on the app's libuv loop: plain HTTP routes
 * and the upgrade to the web chat protocol.
 *
 * Big idea: routes are a table (method, path, handler); a handler fills a
 * response (status, content type, body) and this file does the lws dance:
 * headers in LWS_CALLBACK_HTTP, the body in HTTP_WRITEABLE chunks, then
 * keep-alive. Every answer, including 404/405, is counted in /metrics and has
 * a JSON body naming the problem.
 */
#include "gateway/gw_http.h"

#include "core/mc.h"
#include "gateway/gw_log.h"
#include "gateway/gw_webchat.h"
#include "channels/webchat.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_CHUNK 16384 /* bytes written per HTTP_WRITEABLE callback */

/* One HTTP response being written. */
typedef struct http_pss {
    char *body;        /* the body; owned when `owned` */
    size_t len, sent;  /* body length and bytes written so far */
    int owned;         /* free(body) when done */
    int head_only;     /* HEAD: headers only */
} http_pss;

/* What a route handler produces. */
typedef struct response {
    int status;          /* HTTP status */
    const char *ctype;   /* Content-Type */
    char *body;          /* body; owned when `owned` */
    size_t len;          /* body length */
    int owned;           /* free(body) when done */
    const char *extra;   /* extra raw headers, or NULL */
} response;

typedef void route_fn(gw_app *app, response *r);

typedef struct route {
    const char *path;   /* exact path */
    const char *label;  /* the route label in /metrics */
    route_fn *get;      /* GET/HEAD handler */
} route;

static void json_error(response *r, int status, const char *code, const char *msg) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "{\"error\":\"%s\",\"message\":\"%s\"}", code, msg);
    r->status = status;
    r->ctype = "application/json";
    r->body = strndup(buf, (size_t)n);
    r->len = r->body ? (size_t)n : 0;
    r->owned = 1;
}

static void h_healthz(gw_app *app, response *r) {
    int up = gw_store_up(app->store);
    const char *b = up ? "{\"status\":\"ok\",\"redis\":\"ok\"}"
                       : "{\"status\":\"unavailable\",\"redis\":\"down\"}";
    r->status = up ? 200 : 503;
    r->ctype = "application/json";
    r->body = (char *)b;
    r->len = strlen(b);
    r->extra = "Cache-Control: no-store\r\n";
}

static void h_metrics(gw_app *app, response *r) {
    gw_metrics_gauge_set(app->metrics, GW_G_REDIS_UP, gw_store_up(app->store));
    size_t len = 0;
    char *text = gw_metrics_render(app->metrics, &len);
    if (!text) {
        json_error(r, 500, "internal", "out of memory");
        return;
    }
    r->status = 200;
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
    r->body = text;
    r->len = len;
    r->owned = 1;
}

static void h_index(gw_app *app, response *r) {
    r->status = 200;
    r->ctype = "text/html; charset=utf-8";
    r->body = app->page;
    r->len = app->page_len;
    /* The page is one self-contained file: inline style and script, and a
     * WebSocket back to us; nothing else may load. */
    r->extra = "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
               "script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
               "X-Content-Type-Options: nosniff\r\n"
               "Referrer-Policy: no-referrer\r\n"
               "Cache-Control: no-cache\r\n";
}

static void h_ws_plain(gw_app *app, response *r) {
    (void)app;
    json_error(r, 426, "upgrade_required",
               "GET /ws is a WebSocket endpoint (subprotocol motcua.v1)");
}

static const route routes[] = {
    {"/healthz", "/healthz", h_healthz},
    {"/metrics", "/metrics", h_metrics},
    {"/", "/", h_index},
    {"/ws", "/ws", h_ws_plain},
};

static gw_app *app_of(struct lws *wsi) {
    return lws_context_user(lws_get_context(wsi));
}

/* Writes status line and headers; 0 or -1 to close. */
static int send_headers(struct lws *wsi, const response *r, int head_only) {
    unsigned char buf[LWS_PRE + 2048];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    if (lws_add_http_common_headers(wsi, (unsigned int)r->status, r->ctype, r->len, &p, end))
        return -1;
    if (r->extra) {
        size_t l = strlen(r->extra);
        if ((size_t)(end - p) <= l)
            return -1;
        memcpy(p, r->extra, l);
        p += l;
    }
    (void)head_only;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return 0;
}

static void pss_release(http_pss *pss) {
    if (pss->owned)
        free(pss->body);
    pss->body = NULL;
    pss->owned = 0;
    pss->len = pss->sent = 0;
}

static int on_http(struct lws *wsi, http_pss *pss, const char *path) {
    gw_app *app = app_of(wsi);
    int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    int is_head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
    response r = {0};
    const char *label = "other";
    const route *rt = NULL;
    for (size_t i = 0; i < MC_ARRAY_LEN(routes); i++)
        if (!strcmp(routes[i].path, path)) {
            rt = &routes[i];
            break;
        }
    if (!rt) {
        json_error(&r, 404, "not_found", "no such path");
    } else if (!is_get && !is_head) {
        label = rt->label;
        json_error(&r, 405, "method_not_allowed", "only GET and HEAD are allowed here");
        r.extra = "Allow: GET, HEAD\r\n";
    } else {
        label = rt->label;
        rt->get(app, &r);
    }
    gw_metrics_http(app->metrics, label, r.status);
    if (gw_log_enabled(GW_DEBUG))
        gw_log(GW_DEBUG, "http.request", "{s:s, s:i}", "route", label, "status", r.status);
    pss->body = r.body;
    pss->len = r.len;
    pss->sent = 0;
    pss->owned = r.owned;
    pss->head_only = is_head;
    if (send_headers(wsi, &r, is_head)) {
        pss_release(pss);
        return -1;
    }
    if (is_head || r.len == 0) {
        pss_release(pss);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
}

static int on_writeable(struct lws *wsi, http_pss *pss) {
    if (!pss->body)
        return 0;
    unsigned char buf[LWS_PRE + BODY_CHUNK];
    size_t n = pss->len - pss->sent;
    if (n > BODY_CHUNK)
        n = BODY_CHUNK;
    int final = pss->sent + n == pss->len;
    memcpy(buf + LWS_PRE, pss->body + pss->sent, n);
    if (lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
        (int)n) {
        pss_release(pss);
        return -1;
    }
    pss->sent += n;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    pss_release(pss);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len) {
    http_pss *pss = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        char path[512];
        size_t l = len < sizeof path - 1 ? len : sizeof path - 1;
        memcpy(path, in, l);
        path[l] = '\0';
        return on_http(wsi, pss, path);
    }
    case LWS_CALLBACK_HTTP_BODY:
        return 0; /* bodies are for later routes; 405 was already sent */
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writeable(wsi, pss);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss)
            pss_release(pss);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* A WebSocket upgrade without our subprotocol lands here: refuse it. */
        return 1;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    {"http", http_callback, sizeof(http_pss), 0, 0, NULL, 0},
    {WEBCHAT_SUBPROTOCOL, gw_webchat_callback, sizeof(gw_webchat_pss), WEBCHAT_MAX_FRAME, 0, NULL,
     0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

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

int gw_http_start(gw_app *app, char *err, size_t errlen) {
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[1] = {app->loop};
    info.foreign_loops = loops;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
    if (strchr(app->cfg->listen_host, ':'))
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_DISABLE_IPV6;
    info.port = app->cfg->listen_port ? app->cfg->listen_port : CONTEXT_PORT_NO_LISTEN_SERVER;
    info.iface = app->cfg->listen_host;
    info.protocols = protocols;
    info.user = app;
    info.pcontext = &app->lws;
    info.retry_and_idle_policy = &idle_policy;
    info.max_http_header_data = 4096;
    info.timeout_secs = 30;
    info.vhost_name = "motcua";
    if (app->cfg->listen_port == 0) {
        snprintf(err, errlen, "listen port 0 is not supported by `serve`; pick a port");
        return MC_EINVAL;
    }
    app->lws = lws_create_context(&info);
    if (!app->lws) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or no permission?)",
                 app->cfg->listen_host, app->cfg->listen_port);
        return MC_EIO;
    }
    app->port = app->cfg->listen_port;
    return 0;
}

void gw_http_stop(gw_app *app) {
    if (app->lws)
        lws_context_destroy(app->lws); /* pcontext clears app->lws once lws is done */
}
