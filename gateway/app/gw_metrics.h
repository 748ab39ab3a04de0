/*
 * gw_metrics.h — counters, gauges and a latency histogram, rendered in the
 * Prometheus text format for GET /metrics. Single-threaded: the loop owns it.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>

typedef struct gw_metrics gw_metrics;

typedef enum gw_gauge {
    GW_G_WS_CONNECTIONS, /* open web chat connections */
    GW_G_REDIS_UP,       /* 1 when Redis answers */
    GW_G__COUNT
} gw_gauge;

gw_metrics *gw_metrics_new(void);
void gw_metrics_free(gw_metrics *m);

/* Label values must come from bounded sets (route table, channel and intent ids). */
void gw_metrics_http(gw_metrics *m, const char *route, int status);
void gw_metrics_msg_in(gw_metrics *m, const char *channel, const char *intent);
void gw_metrics_msg_out(gw_metrics *m, const char *channel);
/* A notification's outcome on a channel (motcua_notifications_total{channel,result}):
 * result is one of "sent", "retried" (a retry was scheduled), "failed" (the channel
 * failed for good and the notification moved on to its next channel) or "dead"
 * (nothing left: the dead-letter stream). */
void gw_metrics_notif(gw_metrics *m, const char *channel, const char *result);
void gw_metrics_reply_latency(gw_metrics *m, double seconds);
void gw_metrics_gauge_set(gw_metrics *m, gw_gauge g, double v);
void gw_metrics_gauge_add(gw_metrics *m, gw_gauge g, double delta);

/* Renders every metric; returns a malloc'd NUL-terminated text the caller frees. */
char *gw_metrics_render(const gw_metrics *m, size_t *len);

#endif
