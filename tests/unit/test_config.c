/*
 * test_config.c — configuration loading: defaults, files (good and malformed,
 * every problem reported with its line), environment overrides, address parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/app/gw_config.h"
#include "test_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* gw_config_load_file on a temporary file holding text (removed afterwards). */
static int load_text(gw_config *c, const char *text, gw_errlist *e) {
    char path[T_TMP_PATH_MAX];
    assert_int_equal(t_write_tmp(path, "motcua-cfg", text), 0);
    int rc = gw_config_load_file(c, path, e);
    unlink(path);
    return rc;
}

static int has_line(const gw_errlist *e, const char *needle) {
    for (size_t i = 0; i < e->n; i++)
        if (strstr(e->lines[i], needle))
            return 1;
    return 0;
}

/* A test's configuration (the defaults) and its error list, in *state. */
typedef struct fx {
    gw_config *c;
    gw_errlist e;
} fx;

static int fresh(void **state) {
    fx *f = calloc(1, sizeof *f);
    if (!f || !(f->c = gw_config_new())) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int drop(void **state) {
    fx *f = *state;
    gw_errlist_clear(&f->e);
    gw_config_free(f->c);
    free(f);
    return 0;
}

static void defaults(void **state) {
    (void)state;
    gw_config *c = gw_config_new();
    assert_non_null(c);
    assert_string_equal(c->listen, "127.0.0.1:8080");
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->listen_port, 8080);
    assert_int_equal(c->max_body_bytes, 65536);
    assert_true(gw_config_channel(c, "sms")->unaccented);
    assert_string_equal(gw_config_channel(c, "sms")->quiet_hours, "21:00-07:00");
    assert_string_equal(c->scheduler_timezone, "Asia/Ho_Chi_Minh");
    assert_int_equal(c->redis.kind, GW_REDIS_TCP);
    assert_int_equal(c->redis.port, 6379);
    gw_config_free(c);
}

static void demo_file_loads(void **state) {
    fx *f = *state;
    gw_config *c = f->c;
    gw_errlist *e = &f->e;
    assert_int_equal(gw_config_load_file(c, "config/demo.ini", e), 0);
    assert_int_equal(e->n, 0);
    assert_int_equal(c->redis.kind, GW_REDIS_UNIX);
    assert_string_equal(c->redis.host, "var/redis/redis.sock");
    assert_string_equal(c->outbox_dir, "var/outbox");
    assert_int_equal(gw_config_validate(c, e), 0);
}

static void malformed_file_reports_every_line(void **state) {
    const char *text = "[server\n"               /* 1: bad header */
                       "listen 127.0.0.1\n"      /* 2: no '=' */
                       "[nosuch]\n"              /* 3: unknown section */
                       "x = 1\n"                 /* 4: inside unknown section: silent */
                       "[server]\n"              /* 5 */
                       "max_body_bytes = -5\n"   /* 6: out of range */
                       "listen = nohost\n"       /* 7: not HOST:PORT */
                       "bogus = 1\n"             /* 8: unknown key */
                       "# a comment\n"           /* 9 */
                       "[sms]\n"                 /* 10 */
                       "quiet_hours = 9pm-7am\n" /* 11: bad hours */
                       "unaccented = maybe\n"    /* 12: bad bool */
                       "provider = nokia\n";     /* 13: bad enum */
    fx *f = *state;
    gw_config *c = f->c;
    gw_errlist *e = &f->e;
    assert_int_equal(load_text(c, text, e), MC_EPARSE);
    char needle[32];
    int lines[] = {1, 2, 3, 6, 7, 8, 11, 12, 13};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        snprintf(needle, sizeof needle, ":%d: ", lines[i]);
        if (!has_line(e, needle))
            fail_msg("no error reported for line %d", lines[i]);
    }
    assert_int_equal(e->n, 9);
    assert_false(has_line(e, ":4: "));
    /* Bad values change nothing. */
    assert_int_equal(c->max_body_bytes, 65536);
    assert_string_equal(c->listen, "127.0.0.1:8080");
}

static void key_outside_section(void **state) {
    fx *f = *state;
    gw_config *c = f->c;
    gw_errlist *e = &f->e;
    assert_int_not_equal(load_text(c, "listen = 127.0.0.1:1\n", e), 0);
    assert_true(has_line(e, ":1: key outside"));
}

static void missing_file(void **state) {
    fx *f = *state;
    gw_config *c = f->c;
    gw_errlist *e = &f->e;
    assert_int_equal(gw_config_load_file(c, "/nonexistent/motcua.ini", e), MC_EIO);
    assert_int_equal(e->n, 1);
    assert_true(has_line(e, "cannot open"));
}

static void long_secret_line(void **state) {
    /* Zalo access tokens are longer than libinih's 200-byte line buffer. */
    char token[601];
    memset(token, 'A', 600);
    token[600] = '\0';
    char text[800];
    snprintf(text, sizeof text, "[zalo]\naccess_token = %s\napp_id = 42\n", token);
    fx *f = *state;
    gw_config *c = f->c;
    gw_errlist *e = &f->e;
    assert_int_equal(load_text(c, text, e), 0);
    assert_string_equal(gw_config_channel(c, "zalo")->access_token, token);
    assert_string_equal(gw_config_channel(c, "zalo")->app_id, "42");
}

static void env_overrides(void **state) {
    fx *f = *state;
    gw_config *c = f->c;
    gw_errlist *e = &f->e;
    char *env[] = {"PATH=/bin", "MOTCUA_SERVER_LISTEN=127.0.0.1:9999",
                   "MOTCUA_FACEBOOK_APP_SECRET=s3cret", "MOTCUA_REDIS_URL=unix:/tmp/r.sock", NULL};
    assert_int_equal(gw_config_apply_env(c, env, e), 0);
    assert_int_equal(c->listen_port, 9999);
    assert_string_equal(gw_config_channel(c, "facebook")->app_secret, "s3cret");
    assert_int_equal(c->redis.kind, GW_REDIS_UNIX);
    char *bad[] = {"MOTCUA_SERVER_MAX_BODY_BYTES=lots", NULL};
    assert_int_equal(gw_config_apply_env(c, bad, e), MC_EINVAL);
    assert_true(has_line(e, "MOTCUA_SERVER_MAX_BODY_BYTES"));
    assert_int_equal(c->max_body_bytes, 65536);
}

static void cross_key_validation(void **state) {
    fx *f = *state;
    gw_config *c = f->c;
    gw_errlist *e = &f->e;
    assert_int_equal(gw_config_set(c, "facebook", "enabled", "yes", "test", e), 0);
    assert_int_equal(gw_config_validate(c, e), MC_EINVAL);
    assert_true(has_line(e, "[facebook]"));
}

static void redis_urls(void **state) {
    (void)state;
    gw_redis_addr a;
    char err[128];
    assert_int_equal(gw_redis_addr_parse("redis://:pw@cache.local:6380/2", &a, err, sizeof err), 0);
    assert_int_equal(a.kind, GW_REDIS_TCP);
    assert_string_equal(a.host, "cache.local");
    assert_int_equal(a.port, 6380);
    assert_int_equal(a.db, 2);
    assert_string_equal(a.password, "pw");
    assert_int_equal(gw_redis_addr_parse("redis://10.0.0.1", &a, err, sizeof err), 0);
    assert_int_equal(a.port, 6379);
    assert_int_equal(gw_redis_addr_parse("unix:/run/redis.sock", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "/run/redis.sock");
    assert_int_equal(gw_redis_addr_parse("http://x", &a, err, sizeof err), MC_EINVAL);
    assert_int_equal(gw_redis_addr_parse("redis://h:99999", &a, err, sizeof err), MC_EINVAL);
    assert_int_equal(gw_redis_addr_parse("redis://h/x", &a, err, sizeof err), MC_EINVAL);
    assert_int_equal(gw_redis_addr_parse("unix:", &a, err, sizeof err), MC_EINVAL);
}

static void redis_cluster_urls(void **state) {
    (void)state;
    gw_redis_addr a;
    char err[160];
    assert_int_equal(gw_redis_addr_parse("redis-cluster://:pw@10.0.0.1:7000,[::1]:7001,h3:7002", &a,
                                         err, sizeof err),
                     0);
    assert_int_equal(a.kind, GW_REDIS_CLUSTER);
    assert_int_equal(a.n_seeds, 3);
    assert_string_equal(a.seeds[0].host, "10.0.0.1");
    assert_int_equal(a.seeds[0].port, 7000);
    assert_string_equal(a.seeds[1].host, "::1");
    assert_int_equal(a.seeds[1].port, 7001);
    assert_string_equal(a.seeds[2].host, "h3");
    assert_int_equal(a.seeds[2].port, 7002);
    assert_string_equal(a.password, "pw");
    assert_string_equal(a.host, "10.0.0.1"); /* the first seed names it in logs */
    assert_int_equal(a.port, 7000);
    assert_int_equal(a.db, 0);
    assert_int_equal(gw_redis_addr_parse("redis-cluster://h:1/0", &a, err, sizeof err), 0);
    assert_int_equal(a.n_seeds, 1);
    /* a port is required, database 0 only, no empty node, at most GW_REDIS_MAX_SEEDS */
    assert_int_equal(gw_redis_addr_parse("redis-cluster://h", &a, err, sizeof err), MC_EINVAL);
    assert_int_equal(gw_redis_addr_parse("redis-cluster://h:1/2", &a, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "database 0"));
    assert_int_equal(gw_redis_addr_parse("redis-cluster://h:1,,h:2", &a, err, sizeof err),
                     MC_EINVAL);
    assert_int_equal(gw_redis_addr_parse("redis-cluster://h:1,", &a, err, sizeof err), MC_EINVAL);
    assert_int_equal(gw_redis_addr_parse("redis-cluster://", &a, err, sizeof err), MC_EINVAL);
    assert_int_equal(gw_redis_addr_parse("redis-cluster://h:0", &a, err, sizeof err), MC_EINVAL);
    char many[512] = "redis-cluster://";
    for (int i = 0; i <= GW_REDIS_MAX_SEEDS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sh:%d", i ? "," : "", 7000 + i);
    assert_int_equal(gw_redis_addr_parse(many, &a, err, sizeof err), MC_EINVAL);
    *strrchr(many, ',') = '\0'; /* one fewer: accepted */
    assert_int_equal(gw_redis_addr_parse(many, &a, err, sizeof err), 0);
    assert_int_equal(a.n_seeds, GW_REDIS_MAX_SEEDS);
}

static void redis_wait_keys(void **state) {
    (void)state;
    gw_config *c = gw_config_new();
    gw_errlist e = {0};
    assert_non_null(c);
    assert_int_equal(c->redis_wait_replicas, 0);
    assert_int_equal(c->redis_wait_timeout_ms, 1000);
    assert_int_equal(gw_config_set(c, "redis", "wait_replicas", "2", "test", &e), 0);
    assert_int_equal(c->redis_wait_replicas, 2);
    assert_int_equal(gw_config_set(c, "redis", "wait_replicas", "-1", "test", &e), MC_EINVAL);
    assert_int_equal(gw_config_set(c, "redis", "wait_timeout_ms", "0", "test", &e), MC_EINVAL);
    assert_int_equal(gw_config_set(c, "redis", "url", "redis-cluster://127.0.0.1:7000", "test", &e),
                     0);
    assert_int_equal(c->redis.kind, GW_REDIS_CLUSTER);
    gw_errlist_clear(&e);
    gw_config_free(c);
}

static void host_ports(void **state) {
    (void)state;
    char host[64], err[128];
    int port;
    assert_int_equal(gw_hostport_parse("[::1]:8080", host, sizeof host, &port, err, sizeof err), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    assert_int_equal(gw_hostport_parse("0.0.0.0:80", host, sizeof host, &port, err, sizeof err), 0);
    assert_int_equal(gw_hostport_parse(":80", host, sizeof host, &port, err, sizeof err),
                     MC_EINVAL);
    assert_int_equal(gw_hostport_parse("h:", host, sizeof host, &port, err, sizeof err), MC_EINVAL);
    assert_int_equal(gw_hostport_parse("h:65536", host, sizeof host, &port, err, sizeof err),
                     MC_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test_setup_teardown(demo_file_loads, fresh, drop),
        cmocka_unit_test_setup_teardown(malformed_file_reports_every_line, fresh, drop),
        cmocka_unit_test_setup_teardown(key_outside_section, fresh, drop),
        cmocka_unit_test_setup_teardown(missing_file, fresh, drop),
        cmocka_unit_test_setup_teardown(long_secret_line, fresh, drop),
        cmocka_unit_test_setup_teardown(env_overrides, fresh, drop),
        cmocka_unit_test_setup_teardown(cross_key_validation, fresh, drop),
        cmocka_unit_test(redis_urls),
        cmocka_unit_test(redis_cluster_urls),
        cmocka_unit_test(redis_wait_keys),
        cmocka_unit_test(host_ports),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
