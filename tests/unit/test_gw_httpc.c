/*
 * test_gw_httpc.c — outbound HTTP on the loop, against a small HTTP/1.1 server
 * that runs in the test on the same libuv loop (127.0.0.1, port 0, keep-alive).
 *
 * The server answers by path: /ok (200 JSON describing what it received), /fail
 * (500), /busy (429 + Retry-After), /slow (never answers), /hold?id=N (200 after
 * HOLD_MS, counting how many are held at once), /huge (a body over the client's
 * cap, with Content-Length) and /huge-stream (the same, close-delimited). It
 * records what it saw: method, target, a custom header, body bytes, how many
 * connections it accepted, the order of /hold ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/net/gw_httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define SRV_BUF 65536        /* request bytes a server connection buffers */
#define HOLD_MS 30           /* how long /hold keeps an answer back */
#define HUGE_BYTES (1 << 20) /* body of /huge */
#define CAP_BYTES 65536      /* the client's response cap in the huge tests */
#define MAX_ORDER 64         /* /hold ids recorded */
#define MAX_GOT 32           /* callbacks recorded per test */

/* ------------------------------------------------------------------ server */

typedef struct srv srv;

typedef struct conn {
    uv_tcp_t tcp;      /* the accepted socket */
    uv_timer_t hold;   /* delays the /hold answer */
    srv *s;            /* owner */
    char buf[SRV_BUF]; /* unparsed request bytes */
    size_t len;        /* bytes in buf */
    int busy;          /* an answer is pending (/hold) or never comes (/slow) */
    int hold_id;       /* id of the held request */
    int closing;       /* uv_close called */
    int handles;       /* tcp + timer not yet closed */
    struct conn *next; /* server's list */
} conn;

struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    int accepted;         /* connections accepted */
    int requests;         /* requests parsed */
    conn *conns;          /* open connections */
    int held, max_held;   /* /hold answers pending now, most at once */
    int order[MAX_ORDER]; /* /hold ids in arrival order */
    int n_order;
    char method[16];  /* last request: method */
    char target[256]; /* ... request target */
    char xtest[128];  /* ... X-Test header */
    char ctype[128];  /* ... Content-Type header */
    char body[4096];  /* ... body */
    size_t body_len;
    char resp[256]; /* last /ok answer body */
};

typedef struct wreq {
    uv_write_t req;
    char *buf;
    conn *c;
    int close_after;
} wreq;

static void conn_closed(uv_handle_t *h) {
    conn *c = h->data;
    if (--c->handles == 0)
        free(c);
}

static void conn_close(conn *c) {
    if (c->closing)
        return;
    c->closing = 1;
    srv *s = c->s;
    for (conn **pp = &s->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    if (c->busy && c->hold_id >= 0)
        s->held--;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
    uv_close((uv_handle_t *)&c->hold, conn_closed);
}

static void on_written(uv_write_t *req, int status) {
    wreq *w = (wreq *)req;
    (void)status;
    if (w->close_after)
        conn_close(w->c);
    free(w->buf);
    free(w);
}

static void respond(conn *c, int status, const char *extra, const char *body, size_t body_len,
                    int with_length, int close_after) {
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\n%s", status, extra ? extra : "");
    if (with_length)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", body_len);
    if (close_after)
        n += snprintf(head + n, sizeof head - (size_t)n, "Connection: close\r\n");
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    wreq *w = calloc(1, sizeof *w);
    w->buf = malloc((size_t)n + body_len);
    memcpy(w->buf, head, (size_t)n);
    if (body_len)
        memcpy(w->buf + n, body, body_len);
    w->c = c;
    w->close_after = close_after;
    uv_buf_t b = uv_buf_init(w->buf, (unsigned)((size_t)n + body_len));
    uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
}

static void process(conn *c);

static void on_hold(uv_timer_t *t) {
    conn *c = t->data;
    char body[64];
    int n = snprintf(body, sizeof body, "{\"id\":%d}", c->hold_id);
    c->s->held--;
    c->busy = 0;
    c->hold_id = -1;
    respond(c, 200, "Content-Type: application/json\r\n", body, (size_t)n, 1, 0);
    process(c);
}

/* First occurrence of needle[0..nl) in hay[0..hl), or NULL (memmem is a GNU extension). */
static char *find(const char *hay, size_t hl, const char *needle, size_t nl) {
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(hay + i, needle, nl) == 0)
            return (char *)hay + i;
    return NULL;
}

/* Value of header `name` in head[0..len) copied into out, or "" */
static void header_value(const char *head, size_t len, const char *name, char *out, size_t outlen) {
    size_t nl = strlen(name);
    out[0] = '\0';
    const char *p = head, *end = head + len;
    while (p < end) {
        const char *eol = find(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && *v == ' ')
                v++;
            size_t vl = (size_t)(eol - v) < outlen - 1 ? (size_t)(eol - v) : outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return;
        }
        p = eol + 2;
    }
}

static void process(conn *c) {
    srv *s = c->s;
    while (!c->busy && !c->closing) {
        char *hend = find(c->buf, c->len, "\r\n\r\n", 4);
        if (!hend)
            return;
        size_t hlen = (size_t)(hend - c->buf) + 4;
        char cl[32];
        header_value(c->buf, hlen, "Content-Length", cl, sizeof cl);
        size_t blen = cl[0] ? (size_t)strtoul(cl, NULL, 10) : 0;
        if (c->len < hlen + blen)
            return;
        s->requests++;
        sscanf(c->buf, "%15s %255s", s->method, s->target);
        header_value(c->buf, hlen, "X-Test", s->xtest, sizeof s->xtest);
        header_value(c->buf, hlen, "Content-Type", s->ctype, sizeof s->ctype);
        s->body_len = blen < sizeof s->body ? blen : sizeof s->body;
        memcpy(s->body, c->buf + hlen, s->body_len);
        memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
        c->len -= hlen + blen;

        const char *t = s->target;
        if (strncmp(t, "/ok", 3) == 0) {
            int n = snprintf(s->resp, sizeof s->resp, "{\"ok\":true,\"n\":%d,\"len\":%zu}",
                             s->requests, blen);
            respond(c, 200, "Content-Type: application/json\r\n", s->resp, (size_t)n, 1, 0);
        } else if (strcmp(t, "/fail") == 0) {
            respond(c, 500, NULL, "{\"error\":\"boom\"}", 16, 1, 0);
        } else if (strcmp(t, "/busy") == 0) {
            respond(c, 429, "Retry-After: 7\r\n", "slow down", 9, 1, 0);
        } else if (strcmp(t, "/slow") == 0) {
            c->busy = 1; /* never answers */
        } else if (strncmp(t, "/hold?id=", 9) == 0) {
            c->busy = 1;
            c->hold_id = atoi(t + 9);
            if (s->n_order < MAX_ORDER)
                s->order[s->n_order++] = c->hold_id;
            if (++s->held > s->max_held)
                s->max_held = s->held;
            uv_timer_start(&c->hold, on_hold, HOLD_MS, 0);
        } else if (strcmp(t, "/huge") == 0 || strcmp(t, "/huge-stream") == 0) {
            char *big = malloc(HUGE_BYTES);
            memset(big, 'x', HUGE_BYTES);
            int stream = strcmp(t, "/huge-stream") == 0;
            respond(c, 200, NULL, big, HUGE_BYTES, !stream, stream);
            free(big);
        } else {
            respond(c, 404, NULL, "", 0, 1, 0);
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    conn *c = h->data;
    (void)suggested;
    *b = uv_buf_init(c->buf + c->len, (unsigned)(SRV_BUF - c->len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
    conn *c = st->data;
    (void)b;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    if (c->len == SRV_BUF) {
        conn_close(c);
        return;
    }
    process(c);
}

static void on_accept(uv_stream_t *l, int status) {
    srv *s = l->data;
    if (status < 0)
        return;
    conn *c = calloc(1, sizeof *c);
    c->s = s;
    c->hold_id = -1;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->hold);
    c->tcp.data = c->hold.data = c;
    c->handles = 2;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        uv_close((uv_handle_t *)&c->hold, conn_closed);
        return;
    }
    s->accepted++;
    c->next = s->conns;
    s->conns = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void srv_start(srv *s, uv_loop_t *loop) {
    memset(s, 0, sizeof *s);
    s->loop = loop;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_init(loop, &s->listener), 0);
    s->listener.data = s;
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 128, on_accept), 0);
    struct sockaddr_in got;
    int len = sizeof got;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len);
    s->port = ntohs(got.sin_port);
}

static void srv_stop(srv *s) {
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->listener, NULL);
}

/* --------------------------------------------------------------- fixture */

static uv_loop_t loop;
static uv_timer_t ticker; /* keeps UV_RUN_ONCE from blocking forever */
static srv server;
static gw_httpc *live; /* the test's client until it frees it; teardown frees it after a failure */

static void on_tick(uv_timer_t *t) {
    (void)t;
}

static int setup(void **state) {
    (void)state;
    if (uv_loop_init(&loop) != 0)
        return -1;
    uv_timer_init(&loop, &ticker);
    uv_timer_start(&ticker, on_tick, 5, 5);
    srv_start(&server, &loop);
    return 0;
}

static void free_client(gw_httpc *c) {
    if (c == live)
        live = NULL;
    gw_httpc_free(c);
}

static int teardown(void **state) {
    (void)state;
    if (live) /* the test failed before freeing its client */
        free_client(live);
    srv_stop(&server);
    uv_close((uv_handle_t *)&ticker, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop) == 0 ? 0 : -1; /* every handle was closed */
}

#define RUN_UNTIL(cond, ms)                                                                        \
    do {                                                                                           \
        uint64_t deadline_ = uv_now(&loop) + (ms);                                                 \
        while (!(cond) && uv_now(&loop) < deadline_)                                               \
            uv_run(&loop, UV_RUN_ONCE);                                                            \
    } while (0)

/* What one callback saw. */
typedef struct got {
    int called;
    int status;
    char body[256];
    size_t body_len;
    char retry_after[64];
    int has_retry_after;
    char error[512];
    int has_error;
    double elapsed_ms;
    int on_wire;
} got;

static got gots[MAX_GOT];
static int n_done;              /* callbacks so far */
static int done_order[MAX_GOT]; /* index of each callback, in completion order */

static void reset_gots(void) {
    memset(gots, 0, sizeof gots);
    n_done = 0;
}

static void record(got *g, const gw_httpc_resp *r) {
    g->called++;
    g->status = r->status;
    assert_non_null(r->body);
    assert_int_equal(r->body[r->body_len], '\0');
    g->body_len = r->body_len;
    snprintf(g->body, sizeof g->body, "%s", r->body);
    g->has_retry_after = r->retry_after != NULL;
    if (r->retry_after)
        snprintf(g->retry_after, sizeof g->retry_after, "%s", r->retry_after);
    g->has_error = r->error != NULL;
    if (r->error)
        snprintf(g->error, sizeof g->error, "%s", r->error);
    g->elapsed_ms = r->elapsed_ms;
    g->on_wire = r->on_wire;
    if (n_done < MAX_GOT)
        done_order[n_done] = (int)(g - gots);
    n_done++;
}

static void on_done(void *arg, const gw_httpc_resp *r) {
    record(arg, r);
}

/* A request to the test server; free with ch_http_clear. */
static void build(ch_http *h, const char *method, const char *path, const char *body,
                  size_t body_len) {
    memset(h, 0, sizeof *h);
    snprintf(h->method, sizeof h->method, "%s", method);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", server.port, path);
    h->url = strdup(url);
    if (body) {
        h->body = malloc(body_len ? body_len : 1);
        memcpy(h->body, body, body_len);
        h->body_len = body_len;
    }
}

static void add_header(ch_http *h, const char *line) {
    h->headers[h->n_headers++] = strdup(line);
}

static gw_httpc *client(long timeout_ms, int per_pool, size_t cap) {
    gw_httpc_opts o = {
        .timeout_ms = timeout_ms, .max_per_pool = per_pool, .max_response_bytes = cap};
    char err[128] = "";
    gw_httpc *c = gw_httpc_new(&loop, &o, err, sizeof err);
    assert_non_null(c);
    live = c;
    return c;
}

static void send_path(gw_httpc *c, const char *path, const char *pool, got *g) {
    ch_http h;
    build(&h, "GET", path, NULL, 0);
    assert_int_equal(gw_httpc_send(c, &h, pool, on_done, g), 0);
    ch_http_clear(&h);
}

/* ------------------------------------------------------------------ tests */

/* url[0..n) names a port of 127.0.0.1 that was free a moment ago (bound, read, closed):
 * a connection to it is refused. */
static void closed_port_url(char *url, size_t n) {
    uv_tcp_t t;
    struct sockaddr_in a, got_addr;
    int len = sizeof got_addr;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&loop, &t);
    uv_tcp_bind(&t, (const struct sockaddr *)&a, 0);
    uv_tcp_getsockname(&t, (struct sockaddr *)&got_addr, &len);
    uv_close((uv_handle_t *)&t, NULL);
    RUN_UNTIL(0, 20);
    snprintf(url, n, "http://127.0.0.1:%d/x", ntohs(got_addr.sin_port));
}

static void post_with_body_and_headers(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(0, 0, 0);
    static const char body[] = "{\"text\":\"Xin ch\xc3\xa0o\"}\0tail"; /* a NUL inside */
    size_t blen = sizeof body - 1;
    ch_http h;
    build(&h, "POST", "/ok?access_token=abc", body, blen);
    add_header(&h, "Content-Type: application/json");
    add_header(&h, "X-Test: motcua-42");
    assert_int_equal(gw_httpc_send(c, &h, "facebook", on_done, &gots[0]), 0);
    ch_http_clear(&h);                   /* the client keeps its own copy */
    assert_int_equal(gots[0].called, 0); /* never from inside send */
    assert_int_equal(gw_httpc_inflight(c, "facebook"), 1);
    RUN_UNTIL(gots[0].called, 5000);

    assert_int_equal(gots[0].called, 1);
    assert_int_equal(gots[0].status, 200);
    assert_false(gots[0].has_error);
    assert_false(gots[0].has_retry_after);
    assert_string_equal(gots[0].body, server.resp);
    assert_int_equal(gots[0].body_len, strlen(server.resp));
    assert_true(gots[0].elapsed_ms > 0.0);
    assert_string_equal(server.method, "POST");
    assert_string_equal(server.target, "/ok?access_token=abc");
    assert_string_equal(server.xtest, "motcua-42");
    assert_string_equal(server.ctype, "application/json");
    assert_int_equal(server.body_len, blen);
    assert_memory_equal(server.body, body, blen);
    assert_int_equal(gw_httpc_inflight(c, "facebook"), 0);
    assert_int_equal(gw_httpc_inflight(c, NULL), 0);

    /* A GET carries no body. */
    send_path(c, "/ok?x=1", "facebook", &gots[1]);
    RUN_UNTIL(gots[1].called, 5000);
    assert_int_equal(gots[1].status, 200);
    assert_string_equal(server.method, "GET");
    assert_string_equal(server.target, "/ok?x=1");
    assert_int_equal(server.body_len, 0);
    free_client(c);
}

/* Requests one after the other reuse one reset easy handle: nothing of the one before
 * (method, headers, body, a Retry-After seen) carries over to the next. */
static void reused_handles_carry_nothing_over(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(5000, 0, 0);
    ch_http h;
    build(&h, "PUT", "/ok?step=1", "abc", 3);
    add_header(&h, "X-Test: first");
    assert_int_equal(gw_httpc_send(c, &h, "zalo", on_done, &gots[0]), 0);
    ch_http_clear(&h);
    RUN_UNTIL(gots[0].called, 5000);
    assert_int_equal(gots[0].status, 200);
    assert_string_equal(server.method, "PUT");
    assert_string_equal(server.xtest, "first");
    assert_int_equal(server.body_len, 3);

    send_path(c, "/busy", "zalo", &gots[1]);
    RUN_UNTIL(gots[1].called, 5000);
    assert_int_equal(gots[1].status, 429);
    assert_true(gots[1].has_retry_after);

    build(&h, "POST", "/ok?step=3", "{}", 2);
    assert_int_equal(gw_httpc_send(c, &h, "zalo", on_done, &gots[2]), 0);
    ch_http_clear(&h);
    RUN_UNTIL(gots[2].called, 5000);
    assert_int_equal(gots[2].status, 200);
    assert_false(gots[2].has_retry_after);
    assert_string_equal(server.method, "POST"); /* not the PUT of step 1 */
    assert_string_equal(server.target, "/ok?step=3");
    assert_string_equal(server.xtest, ""); /* not step 1's header */
    assert_int_equal(server.body_len, 2);

    send_path(c, "/ok?step=4", "zalo", &gots[3]);
    RUN_UNTIL(gots[3].called, 5000);
    assert_string_equal(server.method, "GET");
    assert_int_equal(server.body_len, 0);
    assert_int_equal(server.accepted, 1); /* and the connection stayed the same */
    free_client(c);
}

static void status_codes_and_retry_after(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(0, 0, 0);
    send_path(c, "/busy", "zalo", &gots[0]);
    send_path(c, "/fail", "zalo", &gots[1]);
    RUN_UNTIL(gots[0].called && gots[1].called, 5000);
    assert_int_equal(gots[0].status, 429);
    assert_true(gots[0].has_retry_after);
    assert_string_equal(gots[0].retry_after, "7");
    assert_string_equal(gots[0].body, "slow down");
    assert_false(gots[0].has_error);
    assert_int_equal(gots[1].status, 500);
    assert_false(gots[1].has_retry_after);
    assert_false(gots[1].has_error);
    assert_string_equal(gots[1].body, "{\"error\":\"boom\"}");
    free_client(c);
}

static void timeout_gives_status_zero(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(200, 0, 0);
    send_path(c, "/slow", "twilio", &gots[0]);
    RUN_UNTIL(gots[0].called, 5000);
    assert_int_equal(gots[0].called, 1);
    assert_int_equal(gots[0].status, 0);
    assert_true(gots[0].has_error);
    assert_non_null(strstr(gots[0].error, "timed out"));
    assert_true(gots[0].elapsed_ms >= 150.0 && gots[0].elapsed_ms < 3000.0);
    assert_int_equal(gots[0].body_len, 0);
    free_client(c);
}

static void refused_connection_is_an_error(void **state) {
    (void)state;
    reset_gots();
    char url[64];
    closed_port_url(url, sizeof url);
    gw_httpc *c = client(2000, 0, 0);
    ch_http h = {.method = "GET", .url = url};
    assert_int_equal(gw_httpc_send(c, &h, "kannel", on_done, &gots[0]), 0);
    RUN_UNTIL(gots[0].called, 5000);
    assert_int_equal(gots[0].called, 1);
    assert_int_equal(gots[0].status, 0);
    assert_true(gots[0].has_error);
    free_client(c);
}

static void body_over_the_cap(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(5000, 0, CAP_BYTES);
    send_path(c, "/huge", "facebook", &gots[0]);
    send_path(c, "/huge-stream", "zalo", &gots[1]);
    RUN_UNTIL(gots[0].called && gots[1].called, 5000);
    char want[64];
    snprintf(want, sizeof want, "over %d bytes", CAP_BYTES);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(gots[i].called, 1);
        assert_int_equal(gots[i].status, 200); /* kept */
        assert_true(gots[i].has_error);
        assert_non_null(strstr(gots[i].error, want));
        assert_int_equal(gots[i].body_len, 0);
    }
    /* The client still works afterwards. */
    send_path(c, "/ok", "facebook", &gots[2]);
    RUN_UNTIL(gots[2].called, 5000);
    assert_int_equal(gots[2].status, 200);
    assert_false(gots[2].has_error);
    free_client(c);
}

static void hold_requests(gw_httpc *c, const char *pool, int n) {
    for (int i = 0; i < n; i++) {
        char path[32];
        snprintf(path, sizeof path, "/hold?id=%d", i);
        send_path(c, path, pool, &gots[i]);
    }
}

static void pool_bound_two(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(5000, 2, 0);
    hold_requests(c, "facebook", 10);
    assert_int_equal(gw_httpc_inflight(c, "facebook"), 2);
    assert_int_equal(gw_httpc_queued(c, "facebook"), 8);
    assert_int_equal(gw_httpc_queued(c, NULL), 8);
    assert_int_equal(gw_httpc_queued(c, "zalo"), 0);
    RUN_UNTIL(n_done == 10, 10000);
    assert_int_equal(n_done, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(gots[i].called, 1);
        assert_int_equal(gots[i].status, 200);
    }
    assert_int_equal(server.max_held, 2);
    assert_int_equal(server.n_order, 10);
    /* Two at a time: arrival order is the send order, give or take the pair. */
    for (int i = 0; i < 10; i++)
        assert_true(abs(server.order[i] - i) <= 1);
    assert_int_equal(gw_httpc_inflight(c, "facebook"), 0);
    assert_int_equal(gw_httpc_queued(c, "facebook"), 0);
    assert_true(server.accepted <= 2); /* the two connections carried all ten */
    free_client(c);
}

static void pool_bound_one_is_fifo(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(5000, 1, 0);
    hold_requests(c, "zalo", 8);
    assert_int_equal(gw_httpc_inflight(c, "zalo"), 1);
    assert_int_equal(gw_httpc_queued(c, "zalo"), 7);
    RUN_UNTIL(n_done == 8, 10000);
    assert_int_equal(n_done, 8);
    assert_int_equal(server.max_held, 1);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(server.order[i], i);
        assert_int_equal(done_order[i], i);
        char want[32];
        snprintf(want, sizeof want, "{\"id\":%d}", i);
        assert_string_equal(gots[i].body, want);
    }
    free_client(c);
}

static void total_bound_across_pools(void **state) {
    (void)state;
    reset_gots();
    gw_httpc_opts o = {.timeout_ms = 5000, .max_per_pool = 2, .max_total = 3};
    char err[128] = "";
    gw_httpc *c = gw_httpc_new(&loop, &o, err, sizeof err);
    assert_non_null(c);
    live = c;
    for (int i = 0; i < 6; i++) {
        char path[32];
        snprintf(path, sizeof path, "/hold?id=%d", i);
        send_path(c, path, i % 2 ? "zalo" : "facebook", &gots[i]);
    }
    /* facebook 0, zalo 1, facebook 2 go out; zalo 3 waits for the total, not its pool. */
    assert_int_equal(gw_httpc_inflight(c, NULL), 3);
    assert_int_equal(gw_httpc_inflight(c, "facebook"), 2);
    assert_int_equal(gw_httpc_inflight(c, "zalo"), 1);
    assert_int_equal(gw_httpc_queued(c, NULL), 3);
    RUN_UNTIL(n_done == 6, 10000);
    assert_int_equal(n_done, 6);
    assert_int_equal(server.max_held, 3);
    for (int i = 0; i < 6; i++)
        assert_int_equal(gots[i].status, 200);
    free_client(c);
}

static void pools_do_not_block_each_other(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(5000, 1, 0);
    send_path(c, "/slow", "zalo", &gots[0]);
    send_path(c, "/ok", "zalo", &gots[1]); /* waits behind the slow one */
    send_path(c, "/ok", "facebook", &gots[2]);
    RUN_UNTIL(gots[2].called, 5000);
    assert_int_equal(gots[2].status, 200);
    assert_int_equal(gots[0].called + gots[1].called, 0);
    assert_int_equal(gw_httpc_inflight(c, "zalo"), 1);
    assert_int_equal(gw_httpc_queued(c, "zalo"), 1);
    free_client(c);
    assert_int_equal(gots[0].called, 1);
    assert_int_equal(gots[1].called, 1);
}

typedef struct chain {
    gw_httpc *c;
    int left;
} chain;

static void on_chain_next(void *arg, const gw_httpc_resp *r) {
    chain *ch = arg;
    record(&gots[n_done < MAX_GOT ? n_done : MAX_GOT - 1], r);
    if (r->status == 200 && --ch->left > 0) {
        ch_http h;
        build(&h, "POST", "/ok", "{}", 2);
        assert_int_equal(gw_httpc_send(ch->c, &h, "facebook", on_chain_next, ch), 0);
        ch_http_clear(&h);
    }
}

static void connection_reuse(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(5000, 0, 0);
    chain ch = {c, 10};
    ch_http h;
    build(&h, "POST", "/ok", "{}", 2);
    assert_int_equal(gw_httpc_send(c, &h, "facebook", on_chain_next, &ch), 0);
    ch_http_clear(&h);
    RUN_UNTIL(n_done == 10, 10000);
    assert_int_equal(n_done, 10);
    assert_int_equal(ch.left, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(gots[i].status, 200);
    assert_int_equal(server.requests, 10);
    assert_int_equal(server.accepted, 1); /* keep-alive: one TCP connection for ten requests */
    free_client(c);
}

/* Sends two more from the first callback: one in the same pool, one in another. */
typedef struct fanout {
    gw_httpc *c;
    int rc_same, rc_other;
} fanout;

static void on_fanout(void *arg, const gw_httpc_resp *r) {
    fanout *f = arg;
    record(&gots[0], r);
    ch_http h;
    build(&h, "GET", "/ok?from=callback", NULL, 0);
    f->rc_same = gw_httpc_send(f->c, &h, "zalo", on_done, &gots[1]);
    f->rc_other = gw_httpc_send(f->c, &h, "sms", on_done, &gots[2]);
    ch_http_clear(&h);
    assert_int_equal(gots[1].called + gots[2].called, 0); /* not from inside send */
}

static void send_from_a_callback(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(5000, 1, 0);
    fanout f = {c, 1, 1};
    ch_http h;
    build(&h, "GET", "/ok", NULL, 0);
    assert_int_equal(gw_httpc_send(c, &h, "zalo", on_fanout, &f), 0);
    ch_http_clear(&h);
    RUN_UNTIL(gots[1].called && gots[2].called, 5000);
    assert_int_equal(f.rc_same, 0);
    assert_int_equal(f.rc_other, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gots[i].called, 1);
        assert_int_equal(gots[i].status, 200);
    }
    assert_string_equal(server.target, "/ok?from=callback");
    free_client(c);
}

/* Cancellation callbacks try to send again: that must fail, not queue. */
static gw_httpc *cancel_client;
static int resend_rc[MAX_GOT];

static void on_cancelled(void *arg, const gw_httpc_resp *r) {
    got *g = arg;
    record(g, r);
    ch_http h;
    build(&h, "GET", "/ok", NULL, 0);
    resend_rc[g - gots] = gw_httpc_send(cancel_client, &h, "zalo", on_done, &gots[MAX_GOT - 1]);
    ch_http_clear(&h);
}

static void free_cancels_pending(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(10000, 1, 0);
    cancel_client = c;
    for (int i = 0; i < 3; i++) {
        ch_http h;
        build(&h, "GET", "/slow", NULL, 0);
        assert_int_equal(gw_httpc_send(c, &h, "zalo", on_cancelled, &gots[i]), 0);
        ch_http_clear(&h);
    }
    RUN_UNTIL(server.requests == 1, 5000);
    assert_int_equal(server.requests, 1);
    assert_int_equal(gw_httpc_inflight(c, "zalo"), 1);
    assert_int_equal(gw_httpc_queued(c, "zalo"), 2);
    assert_int_equal(n_done, 0);
    free_client(c); /* callbacks run now, once each */
    assert_int_equal(n_done, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gots[i].called, 1);
        assert_int_equal(gots[i].status, 0);
        assert_string_equal(gots[i].error, "cancelled");
        assert_int_equal(resend_rc[i], MC_EUNAVAIL);
        assert_int_equal(done_order[i], i); /* in send order */
    }
    assert_int_equal(gots[MAX_GOT - 1].called, 0);
    RUN_UNTIL(server.conns == NULL, 2000); /* the connection was closed */
    assert_null(server.conns);
}

/* The first callback frees the client while another request waits. */
static void on_free_inside(void *arg, const gw_httpc_resp *r) {
    record(&gots[0], r);
    free_client(arg);
}

static void free_from_a_callback(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(5000, 1, 0);
    ch_http h;
    build(&h, "GET", "/ok", NULL, 0);
    assert_int_equal(gw_httpc_send(c, &h, "facebook", on_free_inside, c), 0);
    ch_http_clear(&h);
    send_path(c, "/slow", "facebook", &gots[1]);
    send_path(c, "/slow", "zalo", &gots[2]);
    RUN_UNTIL(gots[0].called, 5000);
    assert_int_equal(gots[0].status, 200);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(gots[i].called, 1);
        assert_string_equal(gots[i].error, "cancelled");
    }
    RUN_UNTIL(0, 50); /* the loop goes on safely after the free */
    assert_int_equal(n_done, 3);
}

static void refuses_bad_requests(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(0, 0, 0);
    ch_http h = {.method = "GET"};
    h.url = "file:///etc/passwd";
    assert_int_equal(gw_httpc_send(c, &h, NULL, on_done, &gots[0]), MC_EINVAL);
    h.url = "ftp://127.0.0.1/x";
    assert_int_equal(gw_httpc_send(c, &h, NULL, on_done, &gots[0]), MC_EINVAL);
    h.url = "http://127.0.0.1/a b";
    assert_int_equal(gw_httpc_send(c, &h, NULL, on_done, &gots[0]), MC_EINVAL);
    h.url = NULL;
    assert_int_equal(gw_httpc_send(c, &h, NULL, on_done, &gots[0]), MC_EINVAL);

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", server.port);
    h.url = url;
    char bad_header[] = "X-Test: a\r\nX-Injected: 1";
    h.headers[0] = bad_header;
    h.n_headers = 1;
    assert_int_equal(gw_httpc_send(c, &h, NULL, on_done, &gots[0]), MC_EINVAL);
    h.n_headers = 0;
    snprintf(h.method, sizeof h.method, "get");
    assert_int_equal(gw_httpc_send(c, &h, NULL, on_done, &gots[0]), MC_EINVAL);
    snprintf(h.method, sizeof h.method, "GET");
    char long_pool[GW_HTTPC_MAX_POOL_NAME + 8];
    memset(long_pool, 'p', sizeof long_pool - 1);
    long_pool[sizeof long_pool - 1] = '\0';
    assert_int_equal(gw_httpc_send(c, &h, long_pool, on_done, &gots[0]), MC_ETOOBIG);
    char *huge_url = malloc(GW_HTTPC_MAX_URL + 32);
    memcpy(huge_url, "http://127.0.0.1/", 17);
    memset(huge_url + 17, 'a', GW_HTTPC_MAX_URL);
    huge_url[GW_HTTPC_MAX_URL + 17] = '\0';
    h.url = huge_url;
    assert_int_equal(gw_httpc_send(c, &h, NULL, on_done, &gots[0]), MC_ETOOBIG);
    free(huge_url);
    assert_int_equal(gw_httpc_queued(c, NULL) + gw_httpc_inflight(c, NULL), 0);

    /* The pool table is bounded. */
    h.url = url;
    for (int i = 0; i < GW_HTTPC_MAX_POOLS + 1; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        int rc = gw_httpc_send(c, &h, name, on_done, &gots[i % MAX_GOT]);
        assert_int_equal(rc, i < GW_HTTPC_MAX_POOLS ? 0 : MC_ETOOBIG);
    }
    RUN_UNTIL(n_done == GW_HTTPC_MAX_POOLS, 5000);
    assert_int_equal(n_done, GW_HTTPC_MAX_POOLS);
    free_client(c);
}

/* The before-send hook: what it saw, and what it answers. */
typedef struct hook {
    int calls;           /* times called */
    int requests_seen;   /* server.requests at the last call */
    int refuse;          /* answer non-zero this many more times */
    int callback_called; /* the request's callback had run at the last call (must not) */
    got *g;              /* the request's record */
} hook;

static int before(void *arg) {
    hook *h = arg;
    h->calls++;
    h->requests_seen = server.requests;
    h->callback_called = h->g->called;
    if (h->refuse > 0) {
        h->refuse--;
        return -1;
    }
    return 0;
}

static void on_hooked_done(void *arg, const gw_httpc_resp *r) {
    hook *h = arg;
    record(h->g, r);
}

static void send_hooked(gw_httpc *c, const char *path, hook *h) {
    ch_http req;
    build(&req, "POST", path, "{}", 2);
    assert_int_equal(gw_httpc_send_hooked(c, &req, "facebook", on_hooked_done, before, h), 0);
    ch_http_clear(&req);
    assert_int_equal(h->calls, 0); /* never from inside send */
}

static void before_send_hook_runs_before_the_bytes_leave(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(5000, 1, 0);
    hook h[3] = {{.g = &gots[0]}, {.g = &gots[1]}, {.g = &gots[2]}};
    for (int i = 0; i < 3; i++)
        send_hooked(c, "/ok", &h[i]);
    RUN_UNTIL(n_done == 3, 5000);
    assert_int_equal(n_done, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(h[i].calls, 1);
        /* one at a time: the server had seen exactly the earlier ones, not this one */
        assert_int_equal(h[i].requests_seen, i);
        assert_int_equal(h[i].callback_called, 0);
        assert_int_equal(gots[i].status, 200);
        assert_int_equal(gots[i].on_wire, 1);
    }
    assert_int_equal(server.requests, 3);
    assert_int_equal(server.accepted, 1); /* also called on a reused connection */
    /* without a hook: on_wire tells the same */
    send_path(c, "/ok", "zalo", &gots[3]);
    RUN_UNTIL(gots[3].called, 5000);
    assert_int_equal(gots[3].status, 200);
    assert_int_equal(gots[3].on_wire, 1);
    free_client(c);
}

static void refusing_hook_stops_the_request_unsent(void **state) {
    (void)state;
    reset_gots();
    gw_httpc *c = client(5000, 1, 0);
    hook h = {.g = &gots[0], .refuse = 1};
    send_hooked(c, "/ok", &h);
    RUN_UNTIL(gots[0].called, 5000);
    assert_int_equal(h.calls, 1);
    assert_int_equal(gots[0].called, 1);
    assert_int_equal(gots[0].status, 0);
    assert_int_equal(gots[0].on_wire, 0);
    assert_true(gots[0].has_error);
    assert_string_equal(gots[0].error, "stopped before sending");
    RUN_UNTIL(0, 50);
    assert_int_equal(server.requests, 0); /* nothing reached the server */
    assert_int_equal(gw_httpc_inflight(c, NULL), 0);
    /* the pool slot is free again and the next request goes */
    hook h2 = {.g = &gots[1]};
    send_hooked(c, "/ok", &h2);
    RUN_UNTIL(gots[1].called, 5000);
    assert_int_equal(gots[1].status, 200);
    assert_int_equal(gots[1].on_wire, 1);
    assert_int_equal(server.requests, 1);
    free_client(c);
}

static void on_wire_tells_ambiguous_from_unsent(void **state) {
    (void)state;
    reset_gots();
    /* a timeout after the request left: ambiguous */
    gw_httpc *c = client(200, 0, 0);
    hook h = {.g = &gots[0]};
    send_hooked(c, "/slow", &h);
    RUN_UNTIL(gots[0].called, 5000);
    assert_int_equal(h.calls, 1);
    assert_int_equal(gots[0].status, 0);
    assert_true(gots[0].has_error);
    assert_int_equal(gots[0].on_wire, 1);
    assert_int_equal(server.requests, 1);
    /* a refused connection: never left, the hook never ran */
    char url[64];
    closed_port_url(url, sizeof url);
    hook h2 = {.g = &gots[1]};
    ch_http req = {.method = "GET", .url = url};
    assert_int_equal(gw_httpc_send_hooked(c, &req, "kannel", on_hooked_done, before, &h2), 0);
    RUN_UNTIL(gots[1].called, 5000);
    assert_int_equal(gots[1].status, 0);
    assert_int_equal(gots[1].on_wire, 0);
    assert_int_equal(h2.calls, 0);
    /* cancelled while waiting in the queue: never left */
    gw_httpc *c2 = client(5000, 1, 0);
    send_path(c2, "/slow", "zalo", &gots[2]);
    send_path(c2, "/slow", "zalo", &gots[3]);
    RUN_UNTIL(server.requests == 2, 5000);
    free_client(c2);
    assert_int_equal(gots[2].on_wire, 1); /* it had left: ambiguous */
    assert_int_equal(gots[3].on_wire, 0); /* still queued */
    free_client(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(post_with_body_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(reused_handles_carry_nothing_over, setup, teardown),
        cmocka_unit_test_setup_teardown(status_codes_and_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_gives_status_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_connection_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(body_over_the_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(pool_bound_two, setup, teardown),
        cmocka_unit_test_setup_teardown(pool_bound_one_is_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(total_bound_across_pools, setup, teardown),
        cmocka_unit_test_setup_teardown(pools_do_not_block_each_other, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(send_from_a_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(free_cancels_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(free_from_a_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(before_send_hook_runs_before_the_bytes_leave, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refusing_hook_stops_the_request_unsent, setup, teardown),
        cmocka_unit_test_setup_teardown(on_wire_tells_ambiguous_from_unsent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
