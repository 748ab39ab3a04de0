/*
 * gw_pages.c — the pages and the health and metrics endpoints (gw_pages.h).
 * The pages are files read once at start-up and served as they are.
 */
#include "gateway/gw_pages.h"

#include "core/mc.h"
#include "gateway/net/gw_http.h"
#include "gateway/store/gw_store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAGE_BYTES (1 << 20) /* the web chat and console pages are small files */

struct gw_pages {
    gw_app *app;        /* borrowed */
    char *page;         /* the web chat page, owned */
    size_t page_len;    /* its length */
    char *console;      /* the officers' console page, owned */
    size_t console_len; /* its length */
};

/* The pages are self-contained files: inline style and script, and requests
 * back to us (the chat's WebSocket, the console's /api/v1); nothing else may load. */
static const char page_headers[] =
    "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Cache-Control: no-cache\r\n";

static void h_healthz(gw_req *rq, void *priv) {
    gw_pages *p = priv;
    int up = p->app->store && gw_store_up(p->app->store);
    const char *b = up ? "{\"status\":\"ok\",\"redis\":\"ok\"}"
                       : "{\"status\":\"unavailable\",\"redis\":\"down\"}";
    gw_req_respond(rq, up ? 200 : 503, "application/json", b, strlen(b),
                   "Cache-Control: no-store\r\n");
}

static void h_metrics(gw_req *rq, void *priv) {
    gw_pages *p = priv;
    gw_app *app = p->app;
    gw_metrics_gauge_set(app->metrics, GW_G_REDIS_UP, app->store && gw_store_up(app->store));
    size_t len = 0;
    char *text = gw_metrics_render(app->metrics, &len);
    if (!text) {
        gw_req_error(rq, 500, "internal", "out of memory");
        return;
    }
    gw_req_respond(rq, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
    free(text);
}

static void h_index(gw_req *rq, void *priv) {
    gw_pages *p = priv;
    gw_req_respond(rq, 200, "text/html; charset=utf-8", p->page, p->page_len, page_headers);
}

/* The officers' console (gateway/www/console.html): a page on top of /api/v1 and the
 * console's session endpoints (api/gw_console.c); it holds no privilege of its own. */
static void h_console(gw_req *rq, void *priv) {
    gw_pages *p = priv;
    gw_req_respond(rq, 200, "text/html; charset=utf-8", p->console, p->console_len, page_headers);
}

static void h_ws_plain(gw_req *rq, void *priv) {
    (void)priv;
    gw_req_error(rq, 426, "upgrade_required",
                 "GET /ws is a WebSocket endpoint (subprotocol motcua.v1)");
}

/* Reads <share>/gateway/www/<name>; the caller frees it. NULL with err. */
static char *read_page(const char *share, const char *name, size_t *len, char *err, size_t errlen) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/gateway/www/%s", share, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_PAGE_BYTES);
    size_t n = buf ? fread(buf, 1, MAX_PAGE_BYTES, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n == MAX_PAGE_BYTES) {
        snprintf(err, errlen, "%s is empty or larger than %d bytes", path, MAX_PAGE_BYTES);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int gw_pages_open(gw_app *app, gw_pages **out, char *err, size_t errlen) {
    *out = NULL;
    gw_pages *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    p->app = app;
    if (!(p->page = read_page(app->share_dir, "index.html", &p->page_len, err, errlen)) ||
        !(p->console = read_page(app->share_dir, "console.html", &p->console_len, err, errlen))) {
        gw_pages_free(p);
        return MC_EIO;
    }
    static const struct {
        const char *path;
        gw_route_fn *fn;
    } routes[] = {
        {"/healthz", h_healthz}, {"/metrics", h_metrics}, {"/", h_index},
        {"/console", h_console}, {"/ws", h_ws_plain},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(routes); i++)
        if (gw_router_add(app->router, routes[i].path, routes[i].path, GW_M_GET, routes[i].fn, p)) {
            snprintf(err, errlen, "cannot add the route %s", routes[i].path);
            gw_pages_free(p);
            return MC_ETOOBIG;
        }
    *out = p;
    return 0;
}

void gw_pages_free(gw_pages *p) {
    if (!p)
        return;
    free(p->page);
    free(p->console);
    free(p);
}
