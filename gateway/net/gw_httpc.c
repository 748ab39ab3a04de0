/*
 * gw_httpc.c — outbound HTTP on the libuv loop through libcurl's multi socket API.
 *
 * Big idea: curl does the protocol work and tells us, through two hooks, which
 * sockets to watch (CURLMOPT_SOCKETFUNCTION → one uv_poll_t per socket) and
 * when to wake it up (CURLMOPT_TIMERFUNCTION → one uv_timer_t); the loop calls
 * curl_multi_socket_action back. Nothing blocks and there are no threads of
 * ours (curl's resolver may use its own).
 *
 * In front of curl sits our own admission: each request belongs to a pool (a
 * provider); at most max_per_pool of a pool and max_total of all are handed to
 * curl, the rest wait in a FIFO per pool. Connections live in the multi
 * handle's cache, so a pool's next request reuses an idle keep-alive
 * connection. curl's own per-host cap is set to max_total only as a backstop:
 * in tests several pools share one fake host, and a per-host cap equal to the
 * pool bound would make them wait for each other inside curl, out of sight.
 *
 * User callbacks never run inside a curl callback: completions are collected
 * with curl_multi_info_read after curl returns, so a callback may send again
 * or even free the client. The struct itself is released when the last uv
 * handle has closed, which is why code after a user callback only checks
 * `closing` before going on.
 *
 * The moment a request leaves is observable: curl's pre-request hook
 * (CURLOPT_PREREQFUNCTION, libcurl 7.80+) runs once the connection is ready,
 * immediately before curl writes the request in the same call. We use it to
 * tell the caller's callback whether the request ever got that far (on_wire:
 * a timeout before it is a clean "not sent", after it the provider may have
 * the request), and to run the caller's optional before-send hook there.
 *
 * Easy handles are reused: a finished request's handle is reset (curl_easy_reset:
 * every option back to its default, the connection cache and DNS cache are the
 * multi handle's and stay) and kept for the next request, up to IDLE_HANDLES_MAX.
 * Making and freeing one per request (a large zeroed allocation and curl's
 * defaults each time) was a tenth of a sent notification's instructions.
 *
 * Bodies are personal data: this module never logs them (it logs nothing).
 */
#include "gateway/net/gw_httpc.h"

#include "core/mc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef MOTCUA_VERSION
#define MOTCUA_VERSION "0"
#endif

#if LIBCURL_VERSION_NUM < 0x075000
#error "libcurl 7.80 or newer is needed (CURLOPT_PREREQFUNCTION)"
#endif

#define USER_AGENT "motcua/" MOTCUA_VERSION
#define STOPPED_MSG "stopped before sending" /* error of a request the hook refused */
#define BODY_INITIAL 1024                    /* first allocation for a response body */
#define IDLE_HANDLES_MAX 64                  /* reset easy handles kept for reuse */

typedef struct xfer xfer;
typedef struct pool pool;

/* One request, from gw_httpc_send to its callback. */
struct xfer {
    gw_httpc *c;                /* owner */
    pool *p;                    /* its pool */
    xfer *prev, *next;          /* pool queue while waiting, active list while on the wire */
    uint64_t seq;               /* send order, for fairness across pools */
    CURL *easy;                 /* curl handle, NULL until started */
    struct curl_slist *headers; /* request headers, owned */
    char method[8];             /* request method */
    char *url;                  /* owned copy */
    char *body;                 /* owned copy of the request body, or NULL */
    size_t body_len;            /* bytes in body */
    char *resp;                 /* response body, NUL-terminated, owned */
    size_t resp_len;            /* bytes in resp */
    size_t resp_cap;            /* allocated bytes in resp */
    int too_big;                /* the body went over max_response_bytes */
    int oom;                    /* growing the body failed */
    char retry_after[GW_HTTPC_MAX_RETRY_AFTER]; /* Retry-After value, "" if none */
    char errbuf[CURL_ERROR_SIZE];               /* curl's error detail */
    uint64_t t_start;                           /* uv_hrtime when handed to curl */
    gw_httpc_cb *cb;                            /* called once */
    gw_httpc_before_fn *before;                 /* before-send hook, or NULL */
    void *arg;                                  /* argument of cb and before */
    int on_wire;                                /* curl reached the pre-request point */
    int refused;                                /* the before-send hook said no */
};

/* A provider's admission state. */
struct pool {
    char name[GW_HTTPC_MAX_POOL_NAME]; /* the provider: a channel's name */
    size_t inflight;                   /* requests handed to curl */
    size_t queued;                     /* requests waiting */
    xfer *qhead, *qtail;               /* FIFO of waiting requests */
};

/* One socket curl asked us to watch. */
typedef struct sock_ctx {
    uv_poll_t poll;        /* the watch */
    curl_socket_t fd;      /* the socket */
    gw_httpc *c;           /* owner */
    struct sock_ctx *prev; /* list of open watches, for free */
    struct sock_ctx *next; /* ... */
} sock_ctx;

struct gw_httpc {
    uv_loop_t *loop;                /* borrowed */
    CURLM *multi;                   /* curl's multi handle, NULL once freed */
    uv_timer_t timer;               /* curl's timeout */
    gw_httpc_opts o;                /* limits, defaults filled in */
    pool pools[GW_HTTPC_MAX_POOLS]; /* pools by first use */
    size_t n_pools;                 /* used entries */
    xfer *active;                   /* requests on the wire (doubly linked) */
    size_t inflight;                /* requests on the wire */
    size_t queued;                  /* requests waiting in all pools */
    uint64_t seq;                   /* next send order */
    sock_ctx *socks;                /* open socket watches */
    CURL *idle[IDLE_HANDLES_MAX];   /* reset easy handles for the next requests */
    size_t n_idle;                  /* used entries of idle */
    int handles_open;               /* uv handles not yet closed (timer + polls) */
    int closing;                    /* gw_httpc_free was called */
};

static int curl_ready; /* curl_global_init done (the process is single-threaded at start-up) */

/* ------------------------------------------------------------ lifetime */

static void maybe_release(gw_httpc *c) {
    if (c->closing && c->handles_open == 0)
        free(c);
}

static void on_handle_closed(uv_handle_t *h) {
    gw_httpc *c = h->data;
    c->handles_open--;
    maybe_release(c);
}

static void on_poll_closed(uv_handle_t *h) {
    sock_ctx *s = (sock_ctx *)h; /* poll is the first member */
    gw_httpc *c = s->c;
    free(s);
    c->handles_open--;
    maybe_release(c);
}

static void sock_close(sock_ctx *s) {
    gw_httpc *c = s->c;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
}

static void xfer_free(xfer *x) {
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->url);
    free(x->body);
    free(x->resp);
    free(x);
}

/* An easy handle for a new request: a reset one kept from an earlier request, or new. */
static CURL *handle_get(gw_httpc *c) {
    return c->n_idle ? c->idle[--c->n_idle] : curl_easy_init();
}

/* h is done with (off the multi handle): reset and kept, or freed when enough are kept. */
static void handle_put(gw_httpc *c, CURL *h) {
    if (c->n_idle < IDLE_HANDLES_MAX && !c->closing) {
        curl_easy_reset(h);
        c->idle[c->n_idle++] = h;
    } else {
        curl_easy_cleanup(h);
    }
}

static void handles_free(gw_httpc *c) {
    while (c->n_idle)
        curl_easy_cleanup(c->idle[--c->n_idle]);
}

/* ------------------------------------------------------------- pools */

static pool *pool_find(const gw_httpc *c, const char *name) {
    for (size_t i = 0; i < c->n_pools; i++)
        if (strcmp(c->pools[i].name, name) == 0)
            return (pool *)&c->pools[i];
    return NULL;
}

static void queue_push(pool *p, xfer *x) {
    x->next = NULL;
    x->prev = p->qtail;
    if (p->qtail)
        p->qtail->next = x;
    else
        p->qhead = x;
    p->qtail = x;
    p->queued++;
    x->c->queued++;
}

static xfer *queue_pop(pool *p) {
    xfer *x = p->qhead;
    if (!x)
        return NULL;
    p->qhead = x->next;
    if (p->qhead)
        p->qhead->prev = NULL;
    else
        p->qtail = NULL;
    x->next = x->prev = NULL;
    p->queued--;
    x->c->queued--;
    return x;
}

static void active_add(gw_httpc *c, xfer *x) {
    x->prev = NULL;
    x->next = c->active;
    if (c->active)
        c->active->prev = x;
    c->active = x;
    c->inflight++;
    x->p->inflight++;
}

static void active_remove(gw_httpc *c, xfer *x) {
    if (x->prev)
        x->prev->next = x->next;
    else
        c->active = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    c->inflight--;
    x->p->inflight--;
}

/* --------------------------------------------------------- completion */

/* Calls the user's callback once and frees x. x is off every list. */
static void deliver(xfer *x, int status, const char *error) {
    gw_httpc_resp r = {
        .status = status,
        .body = x->resp && !x->too_big ? x->resp : "",
        .body_len = x->resp && !x->too_big ? x->resp_len : 0,
        .retry_after = x->retry_after[0] ? x->retry_after : NULL,
        .error = error,
        .elapsed_ms = x->t_start ? (double)(uv_hrtime() - x->t_start) / 1e6 : 0.0,
        .on_wire = x->on_wire,
    };
    x->cb(x->arg, &r);
    xfer_free(x);
}

/* ------------------------------------------------------------ curl hooks */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
    xfer *x = userp;
    size_t n = size * nmemb;
    if (n > x->c->o.max_response_bytes - x->resp_len) {
        x->too_big = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    if (x->resp_len + n + 1 > x->resp_cap) {
        size_t cap = x->resp_cap ? x->resp_cap : BODY_INITIAL;
        while (cap < x->resp_len + n + 1)
            cap *= 2;
        char *p = realloc(x->resp, cap);
        if (!p) {
            x->oom = 1;
            return 0;
        }
        x->resp = p;
        x->resp_cap = cap;
    }
    memcpy(x->resp + x->resp_len, data, n);
    x->resp_len += n;
    x->resp[x->resp_len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *userp) {
    xfer *x = userp;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        x->retry_after[0] = '\0'; /* a new response (after 100 Continue): forget the old */
        return n;
    }
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        const char *v = data + sizeof name - 1;
        const char *end = data + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t len = (size_t)(end - v);
        if (len >= sizeof x->retry_after)
            len = sizeof x->retry_after - 1;
        memcpy(x->retry_after, v, len);
        x->retry_after[len] = '\0';
    }
    return n;
}

/* curl's pre-request point: the connection is ready, the request is written next. */
static int on_prereq(void *userp, char *primary_ip, char *local_ip, int primary_port,
                     int local_port) {
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    xfer *x = userp;
    if (x->before && x->before(x->arg) != 0) {
        x->refused = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    x->on_wire = 1;
    return CURL_PREREQFUNC_OK;
}

static void on_poll(uv_poll_t *h, int status, int events);

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    gw_httpc *c = userp;
    sock_ctx *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            if (!c->closing) /* during curl_multi_cleanup curl drops the entry itself */
                curl_multi_assign(c->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->c = c;
        s->poll.data = s;
        s->next = c->socks;
        if (c->socks)
            c->socks->prev = s;
        c->socks = s;
        c->handles_open++;
        curl_multi_assign(c->multi, fd, s);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t);

/* curl wants to be woken in timeout_ms (-1: never). Must not call back into curl. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    gw_httpc *c = userp;
    if (c->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ----------------------------------------------------------- admission */

static int start(gw_httpc *c, xfer *x);

/* Hands waiting requests to curl while the bounds allow, oldest first across pools. */
static void pump(gw_httpc *c) {
    while (!c->closing && c->queued && c->inflight < (size_t)c->o.max_total) {
        pool *best = NULL;
        for (size_t i = 0; i < c->n_pools; i++) {
            pool *p = &c->pools[i];
            if (p->qhead && p->inflight < (size_t)c->o.max_per_pool &&
                (!best || p->qhead->seq < best->qhead->seq))
                best = p;
        }
        if (!best)
            return;
        xfer *x = queue_pop(best);
        if (start(c, x) != 0)
            deliver(x, 0, "could not start the request (out of memory)");
    }
}

/* Collects finished transfers and calls their callbacks. */
static void check_done(gw_httpc *c) {
    CURLMsg *m;
    int left;
    while (!c->closing && (m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        curl_multi_remove_handle(c->multi, easy);
        x->easy = NULL;
        handle_put(c, easy);
        active_remove(c, x);
        pump(c); /* the freed slot goes to the next in line before the callback runs */

        char msg[CURL_ERROR_SIZE + 64];
        const char *error = NULL;
        int status = (int)code;
        if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
            x->too_big = 1;
            snprintf(msg, sizeof msg, "response body over %zu bytes", c->o.max_response_bytes);
            error = msg;
        } else if (x->oom) {
            error = "out of memory reading the response";
            status = 0;
        } else if (rc != CURLE_OK && x->refused && !x->on_wire) {
            error = STOPPED_MSG;
            status = 0;
        } else if (rc != CURLE_OK) {
            snprintf(msg, sizeof msg, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
            error = msg;
            status = 0;
        }
        deliver(x, status, error);
    }
}

static void on_poll(uv_poll_t *h, int status, int events) {
    sock_ctx *s = h->data;
    gw_httpc *c = s->c;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    /* s may be closed by curl during this call: use only c afterwards. */
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    check_done(c);
}

static void on_timeout(uv_timer_t *t) {
    gw_httpc *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

#define SETOPT(h, opt, val)                                                                        \
    do {                                                                                           \
        if (curl_easy_setopt(h, opt, val) != CURLE_OK)                                             \
            goto fail;                                                                             \
    } while (0)

/* Builds the easy handle for x and hands it to curl. 0 or MC_ENOMEM (x unchanged). */
static int start(gw_httpc *c, xfer *x) {
    CURL *h = handle_get(c);
    if (!h)
        return MC_ENOMEM;
    SETOPT(h, CURLOPT_URL, x->url);
    SETOPT(h, CURLOPT_PRIVATE, (void *)x);
    SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SETOPT(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SETOPT(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
    SETOPT(h, CURLOPT_TIMEOUT_MS, c->o.timeout_ms);
    SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->o.max_response_bytes);
    SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(h, CURLOPT_USERAGENT, USER_AGENT);
    SETOPT(h, CURLOPT_ERRORBUFFER, x->errbuf);
    SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(h, CURLOPT_WRITEDATA, (void *)x);
    SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(h, CURLOPT_HEADERDATA, (void *)x);
    SETOPT(h, CURLOPT_HTTPHEADER, x->headers);
    SETOPT(h, CURLOPT_PREREQFUNCTION, on_prereq);
    SETOPT(h, CURLOPT_PREREQDATA, (void *)x);
    if (strcmp(x->method, "GET") == 0) {
        SETOPT(h, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(x->method, "POST") == 0)
            SETOPT(h, CURLOPT_POST, 1L);
        else
            SETOPT(h, CURLOPT_CUSTOMREQUEST, x->method);
        if (strcmp(x->method, "POST") == 0 || x->body) {
            SETOPT(h, CURLOPT_POSTFIELDS, x->body ? x->body : "");
            SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
        }
    }
    x->easy = h;
    x->errbuf[0] = '\0';
    x->t_start = uv_hrtime();
    active_add(c, x);
    if (curl_multi_add_handle(c->multi, h) != CURLM_OK) {
        active_remove(c, x);
        x->easy = NULL;
        goto fail;
    }
    return 0;
fail:
    curl_easy_cleanup(h);
    x->t_start = 0;
    return MC_ENOMEM;
}

/* ---------------------------------------------------------------- API */

gw_httpc *gw_httpc_new(uv_loop_t *loop, const gw_httpc_opts *o, char *err, size_t errlen) {
    gw_httpc *c = NULL;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "curl_global_init failed");
            return NULL;
        }
        curl_ready = 1;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    if (o)
        c->o = *o;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = GW_HTTPC_CONNECT_TIMEOUT_MS;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = GW_HTTPC_TIMEOUT_MS;
    if (c->o.max_per_pool <= 0)
        c->o.max_per_pool = GW_HTTPC_MAX_PER_POOL;
    if (c->o.max_total <= 0)
        c->o.max_total = GW_HTTPC_MAX_TOTAL;
    if (c->o.max_response_bytes == 0)
        c->o.max_response_bytes = GW_HTTPC_MAX_RESPONSE;

    c->multi = curl_multi_init();
    if (!c->multi) {
        snprintf(err, errlen, "curl_multi_init failed");
        goto fail;
    }
    CURLM *m = c->multi;
    if (curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_SOCKETDATA, (void *)c) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_TIMERDATA, (void *)c) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->o.max_total) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->o.max_total) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)c->o.max_total) != CURLM_OK) {
        snprintf(err, errlen, "curl_multi_setopt failed");
        goto fail;
    }
    if (uv_timer_init(loop, &c->timer) != 0) {
        snprintf(err, errlen, "uv_timer_init failed");
        goto fail;
    }
    c->timer.data = c;
    c->handles_open = 1;
    return c;
fail:
    if (c->multi)
        curl_multi_cleanup(c->multi);
    free(c);
    return NULL;
}

void gw_httpc_free(gw_httpc *c) {
    if (!c || c->closing)
        return;
    c->closing = 1;
    uv_timer_stop(&c->timer);
    /* Requests on the wire first (they were sent earlier), then the queues in send order. */
    while (c->active) {
        xfer *x = c->active;
        curl_multi_remove_handle(c->multi, x->easy);
        active_remove(c, x);
        deliver(x, 0, "cancelled");
    }
    while (c->queued) {
        pool *best = NULL;
        for (size_t i = 0; i < c->n_pools; i++) {
            pool *p = &c->pools[i];
            if (p->qhead && (!best || p->qhead->seq < best->qhead->seq))
                best = p;
        }
        deliver(queue_pop(best), 0, "cancelled");
    }
    handles_free(c);
    /* Closes the cached connections; curl reports their sockets removed through on_socket. */
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->socks)
        sock_close(c->socks);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

int gw_httpc_send(gw_httpc *c, const ch_http *req, const char *pool_name, gw_httpc_cb *cb,
                  void *arg) {
    return gw_httpc_send_hooked(c, req, pool_name, cb, NULL, arg);
}

int gw_httpc_send_hooked(gw_httpc *c, const ch_http *req, const char *pool_name, gw_httpc_cb *cb,
                         gw_httpc_before_fn *before, void *arg) {
    if (c->closing)
        return MC_EUNAVAIL;
    if (!req || !req->url || !cb)
        return MC_EINVAL;
    size_t url_len = strnlen(req->url, GW_HTTPC_MAX_URL);
    if (url_len >= GW_HTTPC_MAX_URL)
        return MC_ETOOBIG;
    if (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0)
        return MC_EINVAL;
    if (memchr(req->url, '\r', url_len) || memchr(req->url, '\n', url_len) ||
        memchr(req->url, ' ', url_len))
        return MC_EINVAL;
    size_t mlen = strnlen(req->method, sizeof req->method);
    if (mlen == 0 || mlen >= sizeof req->method)
        return MC_EINVAL;
    for (size_t i = 0; i < mlen; i++)
        if (req->method[i] < 'A' || req->method[i] > 'Z')
            return MC_EINVAL;
    if (req->n_headers > CH_MAX_HEADERS || (req->body_len && !req->body))
        return MC_EINVAL;
    const char *pname = pool_name ? pool_name : "default";
    size_t plen = strnlen(pname, GW_HTTPC_MAX_POOL_NAME);
    if (plen == 0)
        return MC_EINVAL;
    if (plen >= GW_HTTPC_MAX_POOL_NAME)
        return MC_ETOOBIG;
    if (c->queued >= GW_HTTPC_MAX_QUEUED)
        return MC_ETOOBIG;

    pool *p = pool_find(c, pname);
    if (!p && c->n_pools >= GW_HTTPC_MAX_POOLS)
        return MC_ETOOBIG;

    int rc = MC_ENOMEM;
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        return MC_ENOMEM;
    x->c = c;
    x->cb = cb;
    x->before = before;
    x->arg = arg;
    memcpy(x->method, req->method, mlen + 1);
    x->url = malloc(url_len + 1);
    if (!x->url)
        goto fail;
    memcpy(x->url, req->url, url_len + 1);
    if (req->body) {
        x->body = malloc(req->body_len + 1);
        if (!x->body)
            goto fail;
        memcpy(x->body, req->body, req->body_len);
        x->body[req->body_len] = '\0';
        x->body_len = req->body_len;
    }
    int has_expect = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *hd = req->headers[i];
        if (!hd || strpbrk(hd, "\r\n") || !strchr(hd, ':')) {
            rc = MC_EINVAL;
            goto fail;
        }
        if (strncasecmp(hd, "expect:", 7) == 0)
            has_expect = 1;
        struct curl_slist *l = curl_slist_append(x->headers, hd);
        if (!l)
            goto fail;
        x->headers = l;
    }
    if (!has_expect) {
        /* No "Expect: 100-continue" round trip for large bodies: providers answer at once. */
        struct curl_slist *l = curl_slist_append(x->headers, "Expect:");
        if (!l)
            goto fail;
        x->headers = l;
    }
    if (!p) { /* a new pool only once the request is known to be good */
        p = &c->pools[c->n_pools++];
        memset(p, 0, sizeof *p);
        memcpy(p->name, pname, plen + 1);
    }
    x->p = p;
    x->seq = c->seq++;

    /* Always behind those already waiting (FIFO), then admitted if there is room. */
    queue_push(p, x);
    if (p->inflight < (size_t)c->o.max_per_pool && c->inflight < (size_t)c->o.max_total &&
        p->qhead == x) {
        queue_pop(p);
        if (start(c, x) != 0) {
            rc = MC_ENOMEM;
            goto fail;
        }
    }
    return 0;
fail:
    xfer_free(x);
    return rc;
}

size_t gw_httpc_inflight(const gw_httpc *c, const char *pool_name) {
    if (!pool_name)
        return c->inflight;
    const pool *p = pool_find(c, pool_name);
    return p ? p->inflight : 0;
}

size_t gw_httpc_queued(const gw_httpc *c, const char *pool_name) {
    if (!pool_name)
        return c->queued;
    const pool *p = pool_find(c, pool_name);
    return p ? p->queued : 0;
}
