/*
 * test_gw_wire.c — the write-only Redis connection against a real redis-server
 * that each test starts on a unix socket in a temporary folder (stopped by pid):
 * it becomes ready, writes reach Redis and an error reply does not confuse it
 * (replies are off), over TCP too, AUTH and SELECT, a wrong password never gets ready, a
 * Redis restart is followed by a reconnect, nothing is queued while it is down,
 * a reset reconnects at once, a handshake nobody answers times out. In a Redis Cluster
 * (three primaries started here) a command goes to the primary of its key's slot,
 * each primary's connection opening on first use.
 * Reading back goes through hiredis's plain synchronous API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/store/gw_cluster.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_wire.h"

#include "test_redis.h"

#include <uv.h>

typedef struct fx {
    uv_loop_t loop;
    redis_proc redis;
    gw_redis_addr addr;
    gw_wire *w; /* the test's link, freed by teardown (also after a failed assertion) */
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    uv_loop_init(&f->loop);
    if (redis_dir(&f->redis, "test_gw_wire"))
        return -1;
    f->addr.kind = GW_REDIS_UNIX;
    snprintf(f->addr.host, sizeof f->addr.host, "%s", f->redis.sock);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    gw_wire_free(f->w);
    redis_clear(&f->redis);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* the closed handles' callbacks */
    uv_loop_close(&f->loop);
    free(f);
    return 0;
}

/* Runs the loop until want(w) == expect or WAIT_MS pass; 1 when it did. */
static int spin_until(fx *f, gw_wire *w, int expect, int ms) {
    for (int i = 0; i < ms; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        if (gw_wire_ready(w) == expect)
            return 1;
        usleep(1000);
    }
    return 0;
}

static void spin(fx *f, int ms) {
    for (int i = 0; i < ms; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

/* Polls Redis until cmd answers `want` (replies off: nothing says when it ran). */
static int redis_has(fx *f, const char *password, int db, const char *cmd, const char *want) {
    for (int i = 0; i < WAIT_MS / 5; i++) {
        char *v = redis_get(&f->redis, password, db, cmd);
        int ok = v && !strcmp(v, want);
        free(v);
        if (ok)
            return 1;
        spin(f, 5);
    }
    return 0;
}

static void test_writes_reach_redis_and_errors_are_silent(void **state) {
    fx *f = *state;
    assert_int_equal(redis_start(&f->redis, NULL), 0);
    gw_wire *w = f->w = gw_wire_new(&f->loop, &f->addr, NULL);
    assert_non_null(w);
    assert_true(spin_until(f, w, 1, WAIT_MS));
    assert_int_equal(gw_wire_cmdf(w, "HSET h f %d", 7), 0);
    assert_true(redis_has(f, NULL, 0, "HGET h f", "7"));
    /* a command Redis refuses (WRONGTYPE) gets no reply either: the link goes on */
    assert_int_equal(gw_wire_cmdf(w, "INCR h"), 0);
    assert_int_equal(gw_wire_cmdf(w, "SET %s %b", "k", "a b\r\n", (size_t)5), 0);
    assert_true(redis_has(f, NULL, 0, "GET k", "a b\r\n"));
    spin(f, 50);
    assert_true(gw_wire_ready(w));
}

static void test_over_tcp(void **state) {
    fx *f = *state;
    f->redis.port = free_port();
    assert_true(f->redis.port > 0);
    assert_int_equal(redis_start(&f->redis, NULL), 0);
    f->addr.kind = GW_REDIS_TCP;
    snprintf(f->addr.host, sizeof f->addr.host, "127.0.0.1");
    f->addr.port = f->redis.port;
    gw_wire *w = f->w = gw_wire_new(&f->loop, &f->addr, NULL);
    assert_true(spin_until(f, w, 1, WAIT_MS));
    assert_int_equal(gw_wire_cmdf(w, "SET tcp %d", 1), 0);
    assert_true(redis_has(f, NULL, 0, "GET tcp", "1"));
}

static void test_auth_and_select(void **state) {
    fx *f = *state;
    assert_int_equal(redis_start(&f->redis, "s3cret"), 0);
    snprintf(f->addr.password, sizeof f->addr.password, "s3cret");
    f->addr.db = 3;
    gw_wire *w = f->w = gw_wire_new(&f->loop, &f->addr, NULL);
    assert_true(spin_until(f, w, 1, WAIT_MS));
    assert_int_equal(gw_wire_cmdf(w, "SET in3 yes"), 0);
    assert_true(redis_has(f, "s3cret", 3, "GET in3", "yes"));
    char *v = redis_get(&f->redis, "s3cret", 0, "GET in3");
    assert_string_equal(v, ""); /* not in db 0 */
    free(v);
}

static void test_wrong_password_never_ready(void **state) {
    fx *f = *state;
    assert_int_equal(redis_start(&f->redis, "s3cret"), 0);
    snprintf(f->addr.password, sizeof f->addr.password, "wrong");
    gw_wire *w = f->w = gw_wire_new(&f->loop, &f->addr, NULL);
    assert_false(spin_until(f, w, 1, 600)); /* refused, tried again, refused... */
    assert_int_equal(gw_wire_cmdf(w, "SET x 1"), MC_EUNAVAIL);
}

static void test_reconnects_after_a_redis_restart(void **state) {
    fx *f = *state;
    gw_wire *w = f->w = gw_wire_new(&f->loop, &f->addr, NULL); /* before Redis exists */
    spin(f, 50);
    assert_false(gw_wire_ready(w));
    assert_int_equal(gw_wire_cmdf(w, "SET x 1"), MC_EUNAVAIL);
    assert_int_equal(redis_start(&f->redis, NULL), 0);
    assert_true(spin_until(f, w, 1, WAIT_MS));
    redis_stop(&f->redis);
    assert_true(spin_until(f, w, 0, WAIT_MS)); /* end of file seen */
    assert_int_equal(gw_wire_cmdf(w, "SET x 1"), MC_EUNAVAIL);
    assert_int_equal(redis_start(&f->redis, NULL), 0);
    assert_true(spin_until(f, w, 1, WAIT_MS));
    assert_int_equal(gw_wire_cmdf(w, "SET x 2"), 0);
    assert_true(redis_has(f, NULL, 0, "GET x", "2"));
}

static void test_reset_reconnects_at_once(void **state) {
    fx *f = *state;
    assert_int_equal(redis_start(&f->redis, NULL), 0);
    gw_wire *w = f->w = gw_wire_new(&f->loop, &f->addr, NULL);
    assert_true(spin_until(f, w, 1, WAIT_MS));
    gw_wire_reset(w);
    assert_false(gw_wire_ready(w));        /* a new handshake first */
    assert_true(spin_until(f, w, 1, 500)); /* not after a retry delay */
    assert_int_equal(gw_wire_cmdf(w, "SET after reset"), 0);
    assert_true(redis_has(f, NULL, 0, "GET after", "reset"));
}

/* A Redis that accepts the connection but never answers (stopped): dropped
 * after the handshake timeout, ready once it answers again. */
static void test_handshake_without_answer_times_out(void **state) {
    fx *f = *state;
    assert_int_equal(redis_start(&f->redis, NULL), 0);
    kill(f->redis.pid, SIGSTOP);
    gw_wire *w = f->w = gw_wire_new(&f->loop, &f->addr, NULL);
    spin(f, 200);
    assert_false(gw_wire_ready(w));
    kill(f->redis.pid, SIGCONT); /* the first connection's handshake is answered now... */
    assert_true(spin_until(f, w, 1, WAIT_MS));
    kill(f->redis.pid, SIGSTOP);
    gw_wire_reset(w); /* ...this one's is not, until the timeout drops it */
    assert_false(spin_until(f, w, 1, 5500));
    kill(f->redis.pid, SIGCONT);
    assert_true(spin_until(f, w, 1, 2 * WAIT_MS));
    assert_int_equal(gw_wire_cmdf(w, "SET back %d", 1), 0);
    assert_true(redis_has(f, NULL, 0, "GET back", "1"));
}

/* The node of c serving slot s (as node 0 sees it), or -1. */
static int owner(const redis_cluster *c, int s) {
    redisReply *rep = cluster_cmd(c, 0, "CLUSTER SHARDS");
    gw_slot_range *rg = NULL;
    size_t n = 0;
    int found = -1;
    if (rep && !gw_cluster_map(rep, 1, &rg, &n))
        for (size_t k = 0; k < n; k++)
            if (rg[k].lo <= s && s <= rg[k].hi)
                found = cluster_node_of_port(c, rg[k].port);
    free(rg);
    freeReplyObject(rep);
    return found;
}

static void test_cluster_commands_go_to_their_primary(void **state) {
    fx *f = *state;
    redis_cluster c;
    char err[128];
    assert_int_equal(redis_cluster_start(&c, "test_gw_wire_c", 3, 0, 1000), 0);
    gw_redis_addr addr;
    assert_int_equal(gw_redis_addr_parse(c.url, &addr, err, sizeof err), 0);
    assert_null(gw_wire_new(&f->loop, &addr, NULL)); /* a cluster needs the store's map */
    gw_store *st = gw_store_new(&f->loop, &addr);
    assert_non_null(st);
    for (int i = 0; i < WAIT_MS && !gw_store_up(st); i++)
        spin(f, 1);
    assert_true(gw_store_up(st));
    gw_wire *w = f->w = gw_wire_new(&f->loop, &addr, st);
    assert_non_null(w);
    int seen[CLUSTER_MAX_NODES] = {0}, nodes = 0;
    for (int i = 0; i < 12; i++) {
        char k[32];
        snprintf(k, sizeof k, "{w%d}mark", i);
        int rc = MC_EUNAVAIL;
        for (int t = 0; t < WAIT_MS && rc == MC_EUNAVAIL; t++) { /* the first opens it */
            rc = gw_wire_cmdf(w, "SET %s %d", k, i);
            if (rc == MC_EUNAVAIL)
                spin(f, 1);
        }
        assert_int_equal(rc, 0);
        int o = owner(&c, (int)gw_keys_slot(k, strlen(k)));
        assert_true(o >= 0);
        nodes += !seen[o];
        seen[o] = 1;
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        int landed = 0;
        for (int t = 0; t < WAIT_MS / 5 && !landed; t++) {
            redisReply *r = cluster_cmd(&c, o, "GET %s", k);
            landed = r && r->type == REDIS_REPLY_STRING && !strcmp(r->str, want);
            freeReplyObject(r);
            if (!landed)
                spin(f, 5);
        }
        assert_true(landed);
    }
    assert_int_equal(nodes, 3);
    assert_true(gw_wire_ready(w));
    assert_int_equal(gw_wire_cmdf(w, "PING"), MC_EINVAL); /* no key: no node */
    gw_wire_reset(w); /* every link goes; the next command opens its node's again */
    assert_false(gw_wire_ready(w));
    assert_int_equal(gw_wire_cmdf(w, "SET {w0}mark again"), MC_EUNAVAIL);
    gw_wire_free(w);
    f->w = NULL;
    gw_store_free(st);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    redis_cluster_clear(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_writes_reach_redis_and_errors_are_silent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_over_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_and_select, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_never_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnects_after_a_redis_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_reconnects_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_without_answer_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_commands_go_to_their_primary, setup, teardown),
    };
    return cmocka_run_group_tests_name("gw_wire", tests, NULL, NULL);
}
