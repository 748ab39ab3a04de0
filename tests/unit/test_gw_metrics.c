/*
 * test_gw_metrics.c — the Prometheus registry: counts, labels, the bounded
 * series table and the histogram.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "gateway/app/gw_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each test's own registry, in *state. */
static int fresh(void **state) {
    *state = gw_metrics_new();
    return *state ? 0 : -1;
}

static int drop(void **state) {
    gw_metrics_free(*state);
    return 0;
}

/* The registry's text, as long as it says (the caller frees). */
static char *render(gw_metrics *m) {
    size_t len;
    char *t = gw_metrics_render(m, &len);
    assert_non_null(t);
    assert_int_equal(len, strlen(t));
    return t;
}

static void counts_and_labels(void **state) {
    gw_metrics *m = *state;
    gw_metrics_http(m, "/healthz", 200);
    gw_metrics_http(m, "/healthz", 200);
    gw_metrics_http(m, "/healthz", 503);
    gw_metrics_msg_in(m, "webchat", "procedure.documents");
    gw_metrics_msg_out(m, "webchat");
    gw_metrics_gauge_set(m, GW_G_REDIS_UP, 1);
    gw_metrics_reply_latency(m, 0.002);
    gw_metrics_reply_latency(m, 7.0);
    char *t = render(m);
    assert_non_null(strstr(t, "# TYPE motcua_http_requests_total counter\n"));
    assert_non_null(strstr(t, "motcua_http_requests_total{route=\"/healthz\",status=\"200\"} 2\n"));
    assert_non_null(strstr(t, "motcua_http_requests_total{route=\"/healthz\",status=\"503\"} 1\n"));
    assert_non_null(strstr(
        t, "motcua_messages_in_total{channel=\"webchat\",intent=\"procedure.documents\"} 1"));
    assert_non_null(strstr(t, "motcua_messages_out_total{channel=\"webchat\"} 1\n"));
    assert_non_null(strstr(t, "motcua_redis_up 1\n"));
    assert_non_null(strstr(t, "motcua_reply_seconds_bucket{le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(t, "motcua_reply_seconds_bucket{le=\"2.5\"} 1\n"));
    assert_non_null(strstr(t, "motcua_reply_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(t, "motcua_reply_seconds_count 2\n"));
    free(t);
}

static void notifications_by_channel_and_result(void **state) {
    gw_metrics *m = *state;
    char *t = render(m);
    assert_non_null(strstr(t, "# TYPE motcua_notifications_total counter\n"));
    assert_null(strstr(t, "motcua_notifications_total{")); /* no rows before any outcome */
    free(t);
    gw_metrics_notif(m, "sms", "retried");
    gw_metrics_notif(m, "sms", "retried");
    gw_metrics_notif(m, "sms", "sent");
    gw_metrics_notif(m, "facebook", "failed");
    gw_metrics_notif(m, "zalo", "dead");
    gw_metrics_notif(m, "sms", "sent");
    t = render(m);
    assert_non_null(
        strstr(t, "motcua_notifications_total{channel=\"sms\",result=\"retried\"} 2\n"));
    assert_non_null(strstr(t, "motcua_notifications_total{channel=\"sms\",result=\"sent\"} 2\n"));
    assert_non_null(
        strstr(t, "motcua_notifications_total{channel=\"facebook\",result=\"failed\"} 1\n"));
    assert_non_null(strstr(t, "motcua_notifications_total{channel=\"zalo\",result=\"dead\"} 1\n"));
    assert_null(strstr(t, "motcua_notifications_total{channel=\"zalo\",result=\"sent\"}"));
    /* a notification outcome is not a chat message out, and the reverse */
    assert_null(strstr(t, "motcua_messages_out_total{"));
    gw_metrics_msg_out(m, "sms");
    free(t);
    t = render(m);
    assert_non_null(strstr(t, "motcua_notifications_total{channel=\"sms\",result=\"sent\"} 2\n"));
    assert_non_null(strstr(t, "motcua_messages_out_total{channel=\"sms\"} 1\n"));
    free(t);
}

static void series_are_bounded(void **state) {
    gw_metrics *m = *state;
    char route[32];
    for (int i = 0; i < 500; i++) {
        snprintf(route, sizeof route, "/r%d", i);
        gw_metrics_http(m, route, 200);
    }
    char *t = render(m);
    int rows = 0;
    for (char *p = t; (p = strstr(p, "motcua_http_requests_total{")); p++)
        rows++;
    assert_int_equal(rows, 128);
    assert_non_null(strstr(t, "route=\"other\",status=\"other\"} 373\n"));
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(counts_and_labels, fresh, drop),
        cmocka_unit_test_setup_teardown(notifications_by_channel_and_result, fresh, drop),
        cmocka_unit_test_setup_teardown(series_are_bounded, fresh, drop),
    };
    return cmocka_run_group_tests_name("gw_metrics", tests, NULL, NULL);
}
