/*
 * gw_metrics.c — a tiny Prometheus registry.
 *
 * Big idea: a labelled counter family is a short array of (label values, count)
 * rows searched linearly. Label values come from bounded sets, so the arrays
 * stay small and a lookup costs a few string compares — cheaper than hashing
 * at this size. A family that would outgrow MAX_SERIES folds new rows into one
 * "other" row instead of growing without bound.
 */
#include "gateway/app/gw_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 128 /* rows per family; label sets beyond fold into "other" */
#define MAX_LABEL 48   /* longest label value kept */

typedef struct series {
    char a[MAX_LABEL];        /* first label value */
    char b[MAX_LABEL];        /* second label value (empty for one-label families) */
    unsigned long long count; /* the counter */
} series;

typedef struct family {
    const char *name;        /* metric name */
    const char *help;        /* HELP text */
    const char *la, *lb;     /* label names (lb NULL for one label) */
    series rows[MAX_SERIES]; /* used rows */
    size_t n;                /* rows in use */
} family;

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

struct gw_metrics {
    family http;                             /* motcua_http_requests_total{route,status} */
    family msg_in;                           /* motcua_messages_in_total{channel,intent} */
    family msg_out;                          /* motcua_messages_out_total{channel} */
    family notif;                            /* motcua_notifications_total{channel,result} */
    unsigned long long lat_bucket[NBUCKETS]; /* reply latency histogram, cumulative at render */
    unsigned long long lat_count;            /* observations */
    double lat_sum;                          /* seconds, summed */
    double gauges[GW_G__COUNT];              /* current gauge values */
};

gw_metrics *gw_metrics_new(void) {
    gw_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->http = (family){.name = "motcua_http_requests_total",
                       .help = "HTTP requests by route and status.",
                       .la = "route",
                       .lb = "status"};
    m->msg_in = (family){.name = "motcua_messages_in_total",
                         .help = "Citizen messages accepted, by channel and intent.",
                         .la = "channel",
                         .lb = "intent"};
    m->msg_out = (family){.name = "motcua_messages_out_total",
                          .help = "Messages sent to citizens, by channel.",
                          .la = "channel"};
    m->notif = (family){.name = "motcua_notifications_total",
                        .help = "Notification outcomes by channel: sent, retried (a retry "
                                "scheduled), failed (moved on to the next channel), dead.",
                        .la = "channel",
                        .lb = "result"};
    return m;
}

void gw_metrics_free(gw_metrics *m) {
    free(m);
}

static void fam_inc(family *f, const char *a, const char *b) {
    if (!b)
        b = "";
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->rows[i].a, a) && !strcmp(f->rows[i].b, b)) {
            f->rows[i].count++;
            return;
        }
    if (f->n == MAX_SERIES) {
        /* The last row becomes the catch-all; see the comment at the top. */
        series *o = &f->rows[MAX_SERIES - 1];
        snprintf(o->a, sizeof o->a, "other");
        o->b[0] = '\0';
        if (f->lb)
            snprintf(o->b, sizeof o->b, "other");
        o->count++;
        return;
    }
    series *s = &f->rows[f->n++];
    snprintf(s->a, sizeof s->a, "%s", a);
    snprintf(s->b, sizeof s->b, "%s", b);
    s->count = 1;
}

void gw_metrics_http(gw_metrics *m, const char *route, int status) {
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    fam_inc(&m->http, route, st);
}

void gw_metrics_msg_in(gw_metrics *m, const char *channel, const char *intent) {
    fam_inc(&m->msg_in, channel, intent);
}

void gw_metrics_msg_out(gw_metrics *m, const char *channel) {
    fam_inc(&m->msg_out, channel, NULL);
}

void gw_metrics_notif(gw_metrics *m, const char *channel, const char *result) {
    fam_inc(&m->notif, channel, result);
}

void gw_metrics_reply_latency(gw_metrics *m, double seconds) {
    for (size_t i = 0; i < NBUCKETS; i++)
        if (seconds <= buckets[i]) {
            m->lat_bucket[i]++;
            break;
        }
    m->lat_count++;
    m->lat_sum += seconds;
}

void gw_metrics_gauge_set(gw_metrics *m, gw_gauge g, double v) {
    m->gauges[g] = v;
}

void gw_metrics_gauge_add(gw_metrics *m, gw_gauge g, double delta) {
    m->gauges[g] += delta;
}

/* A growable text buffer for rendering. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static void render_family(sbuf *b, const family *f) {
    sb_printf(b, "# HELP %s %s\n# TYPE %s counter\n", f->name, f->help, f->name);
    for (size_t i = 0; i < f->n; i++) {
        const series *s = &f->rows[i];
        if (f->lb)
            sb_printf(b, "%s{%s=\"%s\",%s=\"%s\"} %llu\n", f->name, f->la, s->a, f->lb, s->b,
                      s->count);
        else
            sb_printf(b, "%s{%s=\"%s\"} %llu\n", f->name, f->la, s->a, s->count);
    }
}

char *gw_metrics_render(const gw_metrics *m, size_t *len) {
    sbuf b = {.cap = 4096};
    b.p = malloc(b.cap);
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    render_family(&b, &m->http);
    render_family(&b, &m->msg_in);
    render_family(&b, &m->msg_out);
    render_family(&b, &m->notif);
    sb_printf(&b, "# HELP motcua_reply_seconds Time from a citizen message to our reply.\n"
                  "# TYPE motcua_reply_seconds histogram\n");
    unsigned long long cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += m->lat_bucket[i];
        sb_printf(&b, "motcua_reply_seconds_bucket{le=\"%g\"} %llu\n", buckets[i], cum);
    }
    sb_printf(&b, "motcua_reply_seconds_bucket{le=\"+Inf\"} %llu\n", m->lat_count);
    sb_printf(&b, "motcua_reply_seconds_sum %.6f\nmotcua_reply_seconds_count %llu\n", m->lat_sum,
              m->lat_count);
    sb_printf(&b,
              "# HELP motcua_webchat_connections Open web chat connections.\n"
              "# TYPE motcua_webchat_connections gauge\nmotcua_webchat_connections %g\n",
              m->gauges[GW_G_WS_CONNECTIONS]);
    sb_printf(&b,
              "# HELP motcua_redis_up 1 when Redis answers.\n"
              "# TYPE motcua_redis_up gauge\nmotcua_redis_up %g\n",
              m->gauges[GW_G_REDIS_UP]);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
