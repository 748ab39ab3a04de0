/*
 * test_gw_reader.c — the reader of the work streams against a real redis-server
 * (tests/unit/test_redis.h): new entries are handed over once and stay pending
 * until acknowledged; a restarted reader with the same consumer name first takes
 * back its own pending entries (redelivered), then new ones; entries it holds are
 * not taken twice after a reconnect; another consumer claims what a dead one left
 * idle; a full feed is not read until it kicks; an acknowledgement removes the
 * entry from the stream and from the pending list. On a Redis Cluster (three primaries
 * started here), the streams of 16 partitions are read per partition, each partition's
 * blocking read on a connection of its own, so an entry in any of them is taken at
 * once; a restarted reader takes back its pending entries of every partition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_reader.h"
#include "test_redis.h"

#include <uv.h>

#define STREAM "mc:test:in"
#define MAX_TAKEN 64

/* A feed that records what it was given and holds it until told to ack. */
typedef struct feed {
    char ids[MAX_TAKEN][48]; /* entries taken, in order */
    int redelivered[MAX_TAKEN];
    size_t n;      /* taken */
    int full;      /* say "full" */
    int holding;   /* 1: has() answers for the ids taken (they are "in flight") */
    size_t takens; /* `taken` callbacks */
} feed;

static const char *want_stream = STREAM; /* the cluster test reads many */

static void f_take(void *priv, const char *stream, const redisReply *e, int redelivered) {
    feed *f = priv;
    if (want_stream)
        assert_string_equal(stream, want_stream);
    if (f->n < MAX_TAKEN) {
        snprintf(f->ids[f->n], sizeof f->ids[f->n], "%s", e->element[0]->str);
        f->redelivered[f->n++] = redelivered;
    }
}

static int f_has(void *priv, const char *stream, const char *id) {
    (void)stream;
    feed *f = priv;
    for (size_t i = 0; f->holding && i < f->n; i++)
        if (!strcmp(f->ids[i], id))
            return 1;
    return 0;
}

static int f_full(void *priv) {
    return ((feed *)priv)->full;
}

static void f_taken(void *priv) {
    ((feed *)priv)->takens++;
}

typedef struct fx {
    uv_loop_t loop;
    redis_proc redis;
    gw_redis_addr addr;
    gw_store *store; /* the main connection */
    gw_reader *r[2]; /* readers under test, freed by teardown */
    feed f[2];       /* their feeds */
    /* the cluster test's, freed by teardown when an assertion stopped it */
    redis_cluster cluster; /* its nodes (n 0 when none) */
    gw_store *cstore;      /* its main store */
    gw_keyspace *ks;       /* its keyspace */
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    want_stream = STREAM;
    if (!f || redis_dir(&f->redis, "test_gw_reader") || redis_start(&f->redis, NULL))
        return -1;
    uv_loop_init(&f->loop);
    f->addr.kind = GW_REDIS_UNIX;
    snprintf(f->addr.host, sizeof f->addr.host, "%s", f->redis.sock);
    f->store = gw_store_new(&f->loop, &f->addr);
    *state = f;
    return f->store ? 0 : -1;
}

static void free_reader(fx *f, int i) {
    gw_reader_free(f->r[i]);
    f->r[i] = NULL;
}

static int teardown(void **state) {
    fx *f = *state;
    free_reader(f, 0);
    free_reader(f, 1);
    gw_store_free(f->cstore);
    gw_store_free(f->store);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    gw_keyspace_free(f->ks);
    redis_cluster_clear(&f->cluster);
    redis_clear(&f->redis);
    free(f);
    return 0;
}

static void spin(fx *f, int ms) {
    for (int i = 0; i < ms; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

/* Runs the loop until feed i has taken n entries, or WAIT_MS pass. */
static int spin_taken(fx *f, int i, size_t n) {
    for (int k = 0; k < WAIT_MS && f->f[i].n < n; k++)
        spin(f, 1);
    return f->f[i].n >= n;
}

static void start(fx *f, int i, const char *consumer, long claim_ms) {
    gw_reader_opts o = {&f->loop, &f->addr, f->store, consumer, claim_ms, NULL};
    f->r[i] = gw_reader_new(&o);
    assert_non_null(f->r[i]);
    static const char *const streams[] = {STREAM};
    gw_feed fd = {streams, 1, f_take, f_has, f_full, f_taken, &f->f[i], NULL, NULL, NULL};
    assert_int_equal(gw_reader_add(f->r[i], &fd), 0);
}

static void xadd(fx *f, int n) {
    for (int i = 0; i < n; i++) {
        char *id = redis_get(&f->redis, NULL, 0, "XADD " STREAM " * k v");
        assert_non_null(id);
        free(id);
    }
}

/* Starts reader 0 as consumer, lets it connect (the group exists then), adds n entries and
 * waits until it has taken them all. */
static void start_and_take(fx *f, const char *consumer, int n) {
    start(f, 0, consumer, 0);
    spin(f, 200);
    xadd(f, n);
    assert_true(spin_taken(f, 0, (size_t)n));
}

/* Entries of STREAM pending for the group. */
static long long pending(fx *f) {
    redisContext *c = redis_link(&f->redis, NULL, 0);
    long long v = -1;
    redisReply *rep = c ? redisCommand(c, "XPENDING " STREAM " " GW_GROUP) : NULL;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER)
        v = rep->element[0]->integer;
    freeReplyObject(rep);
    redisFree(c);
    return v;
}

static void test_new_entries_once_and_pending_until_acked(void **state) {
    fx *f = *state;
    start_and_take(f, "c1", 3);
    for (int i = 0; i < 3; i++)
        assert_false(f->f[0].redelivered[i]);
    assert_true(f->f[0].takens >= 1);
    assert_int_equal(pending(f), 3);
    spin(f, 300);
    assert_int_equal(f->f[0].n, 3); /* not handed over twice */
    for (size_t i = 0; i < 3; i++)
        gw_reader_ack(f->store, STREAM, f->f[0].ids[i]);
    spin(f, 100);
    assert_int_equal(pending(f), 0);
    assert_int_equal(redis_int(&f->redis, NULL, 0, "XLEN " STREAM), 0);
}

static void test_restart_takes_own_pending_first(void **state) {
    fx *f = *state;
    start_and_take(f, "c1", 2);
    free_reader(f, 0); /* "killed": nothing acknowledged */
    spin(f, 50);
    memset(&f->f[0], 0, sizeof f->f[0]);
    start(f, 0, "c1", 0);
    assert_true(spin_taken(f, 0, 2));
    assert_true(f->f[0].redelivered[0] && f->f[0].redelivered[1]);
    xadd(f, 1); /* after the backlog, new entries */
    assert_true(spin_taken(f, 0, 3));
    assert_false(f->f[0].redelivered[2]);
}

static void test_held_entries_not_taken_again_after_reconnect(void **state) {
    fx *f = *state;
    start_and_take(f, "c1", 2);
    f->f[0].holding = 1;
    /* the reading connection drops: the reader reconnects and re-reads its pending list */
    assert_true(redis_int(&f->redis, NULL, 0, "CLIENT KILL TYPE normal") >= 1);
    spin(f, 1500);
    assert_int_equal(f->f[0].n, 2);
}

static void test_claims_what_a_dead_consumer_left_idle(void **state) {
    fx *f = *state;
    start_and_take(f, "dead", 2);
    free_reader(f, 0); /* it died holding them */
    start(f, 1, "alive", 300);
    assert_true(spin_taken(f, 1, 2));
    assert_true(f->f[1].redelivered[0] && f->f[1].redelivered[1]);
    assert_string_equal(f->f[1].ids[0], f->f[0].ids[0]);
}

static void test_full_feed_waits_for_a_kick(void **state) {
    fx *f = *state;
    f->f[0].full = 1;
    start(f, 0, "c1", 0);
    spin(f, 200);
    xadd(f, 2);
    spin(f, 700);
    assert_int_equal(f->f[0].n, 0);
    f->f[0].full = 0;
    gw_reader_kick(f->r[0]);
    assert_true(spin_taken(f, 0, 2));
}

static void test_pause_takes_nothing_new(void **state) {
    fx *f = *state;
    start(f, 0, "c1", 0);
    spin(f, 200);
    gw_reader_pause(f->r[0], NULL, NULL);
    xadd(f, 1);
    spin(f, 700);
    assert_int_equal(f->f[0].n, 0);
    assert_int_equal(redis_int(&f->redis, NULL, 0, "XLEN " STREAM), 1);
}

/* ---- a cluster ---- */

#define CLUSTER_PARTS 16

static void test_cluster_reads_every_partition(void **state) {
    fx *f = *state;
    redis_cluster *c = &f->cluster;
    char err[128];
    want_stream = NULL;
    assert_int_equal(redis_cluster_start(c, "test_gw_reader_c", 3, 0, 1000), 0);
    gw_redis_addr addr;
    assert_int_equal(gw_redis_addr_parse(c->url, &addr, err, sizeof err), 0);
    assert_non_null(f->ks = gw_keyspace_new(CLUSTER_PARTS));
    gw_store *st = f->cstore = gw_store_new(&f->loop, &addr);
    assert_non_null(st);
    char names[CLUSTER_PARTS][GW_KEYS_MAX];
    const char *streams[CLUSTER_PARTS];
    for (unsigned p = 0; p < CLUSTER_PARTS; p++) {
        assert_true(gw_key(f->ks, names[p], sizeof names[p], GW_K_IN, p) > 0);
        streams[p] = names[p];
    }
    gw_reader_opts o = {&f->loop, &addr, st, "c1", 0, NULL};
    assert_non_null(f->r[0] = gw_reader_new(&o));
    gw_feed fd = {streams, CLUSTER_PARTS, f_take, f_has, f_full,
                  f_taken, &f->f[0],      NULL,   NULL,  NULL};
    assert_int_equal(gw_reader_add(f->r[0], &fd), 0);
    for (int i = 0; i < WAIT_MS && !gw_store_up(st); i++)
        spin(f, 1);
    spin(f, 300); /* the groups exist once the reader has connected */
    /* one entry in every partition's stream, each on the primary of its slot: every
     * partition's read is its own (one XREADGROUP cannot name streams of two slots) */
    int node_of[CLUSTER_PARTS];
    for (unsigned p = 0; p < CLUSTER_PARTS; p++) {
        int port = 0;
        char host[64];
        assert_int_equal(gw_store_slot_addr(st, gw_keys_slot(names[p], strlen(names[p])), host,
                                            sizeof host, &port),
                         0);
        assert_true((node_of[p] = cluster_node_of_port(c, port)) >= 0);
        redisReply *x = cluster_cmd(c, node_of[p], "XADD %s * k v", names[p]);
        assert_true(x && x->type == REDIS_REPLY_STRING);
        freeReplyObject(x);
    }
    assert_true(spin_taken(f, 0, CLUSTER_PARTS));
    for (int i = 0; i < CLUSTER_PARTS; i++)
        assert_false(f->f[0].redelivered[i]);
    /* each partition in turn, last first, while the others block: every entry is taken
     * well within one block (reads sharing a connection would queue behind the blocks of
     * the partitions read before, in the order they were sent) */
    for (unsigned q = 0; q < CLUSTER_PARTS; q++) {
        unsigned p = CLUSTER_PARTS - 1 - q;
        uv_update_time(&f->loop);
        uint64_t t0 = uv_now(&f->loop);
        redisReply *x = cluster_cmd(c, node_of[p], "XADD %s * k v2", names[p]);
        assert_true(x && x->type == REDIS_REPLY_STRING);
        freeReplyObject(x);
        assert_true(spin_taken(f, 0, CLUSTER_PARTS + q + 1));
        uv_update_time(&f->loop);
        assert_true(uv_now(&f->loop) - t0 < 1000); /* READ_BLOCK_MS is 2000 */
    }
    /* restarted, nothing acknowledged: every partition's pending entries come back */
    free_reader(f, 0);
    spin(f, 50);
    memset(&f->f[0], 0, sizeof f->f[0]);
    assert_non_null(f->r[0] = gw_reader_new(&o));
    assert_int_equal(gw_reader_add(f->r[0], &fd), 0);
    assert_true(spin_taken(f, 0, 2 * CLUSTER_PARTS));
    for (int i = 0; i < 2 * CLUSTER_PARTS; i++)
        assert_true(f->f[0].redelivered[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_entries_once_and_pending_until_acked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_takes_own_pending_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_entries_not_taken_again_after_reconnect, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_claims_what_a_dead_consumer_left_idle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_feed_waits_for_a_kick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_takes_nothing_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_reads_every_partition, setup, teardown),
    };
    return cmocka_run_group_tests_name("gw_reader", tests, NULL, NULL);
}
