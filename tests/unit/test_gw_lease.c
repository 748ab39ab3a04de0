/*
 * test_gw_lease.c — the inbound partitions' leases (gateway/store/gw_lease.h).
 *
 * Without Redis: the fair share, and one round's plan (which partitions to try, from
 * where, and which to give back). Against a real redis-server (tests/unit/test_redis.h),
 * with 16 partitions and short leases: one keeper alone takes all 16; two settle at 8 + 8
 * and never hold one partition at once; a gateway that died (a ghost: its lease keys and
 * heartbeat written here, never renewed) is replaced only after its keys expired, then
 * the survivor holds all 16; a lease overwritten by another holder is lost at its next
 * renewal; a partition over the share is given back only once the feed is not busy with
 * it; the orderly stop gives everything back (a busy partition once its work is done)
 * and leaves the heartbeat set, then says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_lease.h"
#include "test_redis.h"

#include <uv.h>

#define PARTS 16
#define TTL_MS 400L

/* ---- the plan ---- */

static void test_share(void **state) {
    (void)state;
    assert_int_equal(gw_lease_share(16, 1), 16);
    assert_int_equal(gw_lease_share(16, 2), 8);
    assert_int_equal(gw_lease_share(16, 3), 6);
    assert_int_equal(gw_lease_share(16, 5), 4);
    assert_int_equal(gw_lease_share(16, 0), 16);
    assert_int_equal(gw_lease_share(16, 40), 1);
    assert_int_equal(gw_lease_share(0, 2), 0);
}

static void test_plan_take(void **state) {
    (void)state;
    unsigned char st[PARTS] = {0};
    unsigned take[PARTS], give[PARTS], cursor = 14;
    size_t nt, ng;
    /* alone: all 16, from the cursor round the ring */
    gw_lease_plan(st, PARTS, 1, &cursor, take, give, PARTS, &nt, &ng);
    assert_int_equal(nt, 16);
    assert_int_equal(ng, 0);
    assert_int_equal(take[0], 14);
    assert_int_equal(take[1], 15);
    assert_int_equal(take[2], 0);
    /* two live, 5 held, 1 being tried, partition 7 another's is FREE to us: 2 more */
    memset(st, GW_LEASE_FREE, sizeof st);
    for (int i = 0; i < 5; i++)
        st[i] = GW_LEASE_HELD;
    st[5] = GW_LEASE_TRYING;
    st[6] = GW_LEASE_RELEASING;
    cursor = 3;
    gw_lease_plan(st, PARTS, 2, &cursor, take, give, PARTS, &nt, &ng);
    assert_int_equal(nt, 2);
    assert_int_equal(take[0], 7); /* held, trying and releasing ones are skipped */
    assert_int_equal(take[1], 8);
    assert_int_equal(cursor, 9); /* the next round goes on from there */
    /* the cap holds */
    gw_lease_plan(st, PARTS, 2, &cursor, take, give, 1, &nt, &ng);
    assert_int_equal(nt, 1);
    assert_int_equal(take[0], 9);
    /* exactly the share: nothing to do */
    memset(st, GW_LEASE_FREE, sizeof st);
    for (int i = 0; i < 8; i++)
        st[i] = GW_LEASE_HELD;
    gw_lease_plan(st, PARTS, 2, &cursor, take, give, PARTS, &nt, &ng);
    assert_int_equal(nt + ng, 0);
}

static void test_plan_give(void **state) {
    (void)state;
    unsigned char st[PARTS];
    unsigned take[PARTS], give[PARTS], cursor = 0;
    size_t nt, ng;
    memset(st, GW_LEASE_HELD, sizeof st);
    st[15] = GW_LEASE_RELEASING; /* already going: not counted, not given twice */
    /* 15 held, 3 live: share 6 → 9 go back, the highest first */
    gw_lease_plan(st, PARTS, 3, &cursor, take, give, PARTS, &nt, &ng);
    assert_int_equal(nt, 0);
    assert_int_equal(ng, 9);
    assert_int_equal(give[0], 14);
    assert_int_equal(give[8], 6);
    /* a take in flight counts as ours */
    memset(st, GW_LEASE_FREE, sizeof st);
    for (int i = 0; i < 8; i++)
        st[i] = GW_LEASE_HELD;
    st[8] = GW_LEASE_TRYING;
    gw_lease_plan(st, PARTS, 2, &cursor, take, give, PARTS, &nt, &ng);
    assert_int_equal(nt, 0);
    assert_int_equal(ng, 1);
    assert_int_equal(give[0], 7);
}

/* ---- against Redis ---- */

/* One keeper and what it was told. */
typedef struct keeper {
    gw_lease *l;
    int held[PARTS];           /* its word: 1 between "held" and "not held" */
    int gains[PARTS];          /* "held" calls */
    int losses[PARTS];         /* "not held" calls */
    int busy[PARTS];           /* what busy() answers */
    uint64_t gained_at[PARTS]; /* loop time of the last gain */
} keeper;

typedef struct fx {
    uv_loop_t loop;
    redis_proc redis;
    gw_redis_addr addr;
    gw_store *store;
    gw_keyspace *ks;
    keeper k[2];
    int both; /* a partition was held by both keepers at some point */
} fx;

static fx *cur; /* the fixture the callbacks check exclusivity in */

static void on_changed(void *priv, unsigned part, int held) {
    keeper *k = priv;
    assert_true(part < PARTS);
    assert_int_not_equal(k->held[part], held); /* a change, never the same word twice */
    k->held[part] = held;
    if (held) {
        k->gains[part]++;
        k->gained_at[part] = uv_now(&cur->loop);
    } else {
        k->losses[part]++;
    }
    if (cur->k[0].held[part] && cur->k[1].held[part])
        cur->both = 1;
}

static int on_busy(void *priv, unsigned part) {
    return ((keeper *)priv)->busy[part];
}

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    if (!f || redis_dir(&f->redis, "test_gw_lease") || redis_start(&f->redis, NULL))
        return -1;
    uv_loop_init(&f->loop);
    f->addr.kind = GW_REDIS_UNIX;
    snprintf(f->addr.host, sizeof f->addr.host, "%s", f->redis.sock);
    f->store = gw_store_new(&f->loop, &f->addr);
    f->ks = gw_keyspace_new(PARTS);
    cur = f;
    *state = f;
    return f->store && f->ks ? 0 : -1;
}

static int teardown(void **state) {
    fx *f = *state;
    for (int i = 0; i < 2; i++)
        gw_lease_free(f->k[i].l);
    gw_store_free(f->store);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    gw_keyspace_free(f->ks);
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

static void start(fx *f, int i, const char *owner) {
    gw_lease_opts o = {&f->loop, f->store, f->ks, owner, TTL_MS, on_changed, on_busy, &f->k[i]};
    f->k[i].l = gw_lease_new(&o);
    assert_non_null(f->k[i].l);
}

static int count_held(const keeper *k) {
    int n = 0;
    for (int p = 0; p < PARTS; p++)
        n += k->held[p];
    return n;
}

/* Runs the loop until keeper i holds n partitions (by its word and by Redis's). */
static int spin_count(fx *f, int i, int n) {
    for (int k = 0; k < WAIT_MS; k += 5) {
        if (count_held(&f->k[i]) == n && (int)gw_lease_count(f->k[i].l) == n)
            return 1;
        spin(f, 5);
    }
    return 0;
}

/* The holder of partition p's lease in Redis ("" when none). */
static void holder(fx *f, unsigned p, char *out, size_t n) {
    char k[GW_KEYS_MAX];
    gw_key(f->ks, k, sizeof k, GW_K_LEASE, p);
    redisContext *c = redis_link(&f->redis, NULL, 0);
    redisReply *r = c ? redisCommand(c, "GET %s", k) : NULL;
    snprintf(out, n, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
}

static void test_alone_takes_all(void **state) {
    fx *f = *state;
    start(f, 0, "gw-a");
    assert_true(spin_count(f, 0, PARTS));
    assert_int_equal(gw_lease_live(f->k[0].l), 1);
    char h[64];
    for (unsigned p = 0; p < PARTS; p++) {
        holder(f, p, h, sizeof h);
        assert_string_equal(h, "gw-a");
    }
    /* renewed: still all ours after several lease lives, no loss in between */
    spin(f, 3 * TTL_MS);
    assert_int_equal(count_held(&f->k[0]), PARTS);
    for (int p = 0; p < PARTS; p++)
        assert_int_equal(f->k[0].losses[p], 0);
}

static void test_two_share(void **state) {
    fx *f = *state;
    start(f, 0, "gw-a");
    assert_true(spin_count(f, 0, PARTS));
    start(f, 1, "gw-b"); /* joins: a gives back 8, b takes them */
    assert_true(spin_count(f, 1, PARTS / 2));
    assert_true(spin_count(f, 0, PARTS / 2));
    spin(f, 2 * TTL_MS); /* and it stays so */
    assert_int_equal(count_held(&f->k[0]), PARTS / 2);
    assert_int_equal(count_held(&f->k[1]), PARTS / 2);
    assert_int_equal(gw_lease_live(f->k[0].l), 2);
    assert_false(f->both);
    char h[64];
    for (unsigned p = 0; p < PARTS; p++) {
        holder(f, p, h, sizeof h);
        assert_string_equal(h, f->k[0].held[p] ? "gw-a" : "gw-b");
    }
    /* b stops in order: everything back to a, at once (no lease to wait out) */
    gw_lease_release_all(f->k[1].l, NULL, NULL);
    spin(f, 20);
    assert_int_equal(count_held(&f->k[1]), 0);
    uint64_t t0 = uv_now(&f->loop);
    assert_true(spin_count(f, 0, PARTS));
    assert_true(uv_now(&f->loop) - t0 < (uint64_t)TTL_MS); /* not an expiry: b dropped them */
    assert_false(f->both);
}

static void test_dead_holder_replaced(void **state) {
    fx *f = *state;
    /* a ghost holds partitions 0..7 and beats once, then "dies" */
    redisContext *c = redis_link(&f->redis, NULL, 0);
    char k[GW_KEYS_MAX];
    for (unsigned p = 0; p < PARTS / 2; p++) {
        gw_key(f->ks, k, sizeof k, GW_K_LEASE, p);
        freeReplyObject(redisCommand(c, "SET %s ghost PX %ld", k, TTL_MS));
    }
    gw_key(f->ks, k, sizeof k, GW_K_GATEWAYS, GW_KEY_OWN);
    redisReply *t = redisCommand(c, "TIME");
    long long now = atoll(t->element[0]->str) * 1000 + atoll(t->element[1]->str) / 1000;
    freeReplyObject(t);
    freeReplyObject(redisCommand(c, "ZADD %s %lld ghost", k, now + TTL_MS));
    redisFree(c);
    uint64_t t0 = uv_now(&f->loop);
    start(f, 0, "gw-a");
    /* its fair share while the ghost seems alive: the 8 free ones */
    assert_true(spin_count(f, 0, PARTS / 2));
    for (unsigned p = PARTS / 2; p < PARTS; p++)
        assert_true(f->k[0].held[p]);
    /* then all, each of the ghost's only after its key expired, within a lease and a
     * half (expiry, then a round or two) */
    assert_true(spin_count(f, 0, PARTS));
    for (unsigned p = 0; p < PARTS / 2; p++) {
        assert_true(f->k[0].gained_at[p] - t0 >= (uint64_t)TTL_MS - 20);
        assert_true(f->k[0].gained_at[p] - t0 <= (uint64_t)TTL_MS * 5 / 2);
    }
}

static void test_overwritten_is_lost(void **state) {
    fx *f = *state;
    start(f, 0, "gw-a");
    assert_true(spin_count(f, 0, PARTS));
    char k[GW_KEYS_MAX];
    gw_key(f->ks, k, sizeof k, GW_K_LEASE, 3);
    redisContext *c = redis_link(&f->redis, NULL, 0);
    freeReplyObject(redisCommand(c, "SET %s intruder PX %ld", k, 10 * TTL_MS));
    redisFree(c);
    /* the next renewal (a quarter of a lease) is refused: lost at once */
    for (int i = 0; i < TTL_MS / 2 && f->k[0].held[3]; i++)
        spin(f, 1);
    assert_false(f->k[0].held[3]);
    assert_int_equal(f->k[0].losses[3], 1);
    assert_int_equal(count_held(&f->k[0]), PARTS - 1);
    char h[64];
    holder(f, 3, h, sizeof h);
    assert_string_equal(h, "intruder");
}

static void test_busy_waits(void **state) {
    fx *f = *state;
    start(f, 0, "gw-a");
    assert_true(spin_count(f, 0, PARTS));
    f->k[0].busy[12] = 1; /* a's work of partition 12 still runs */
    start(f, 1, "gw-b");
    /* a gives back 15..8: it stops reading 12 at once, but keeps the lease */
    assert_true(spin_count(f, 0, PARTS / 2));
    assert_true(spin_count(f, 1, PARTS / 2 - 1));
    spin(f, 2 * TTL_MS);
    assert_false(f->k[0].held[12]);
    assert_false(f->k[1].held[12]);
    char h[64];
    holder(f, 12, h, sizeof h);
    assert_string_equal(h, "gw-a"); /* renewed all along */
    f->k[0].busy[12] = 0;           /* done: now it goes */
    assert_true(spin_count(f, 1, PARTS / 2));
    assert_true(f->k[1].held[12]);
    assert_false(f->both);
}

static void on_done(void *arg) {
    (*(int *)arg)++;
}

static void test_release_all(void **state) {
    fx *f = *state;
    start(f, 0, "gw-a");
    assert_true(spin_count(f, 0, PARTS));
    f->k[0].busy[5] = 1; /* a turn of partition 5 still runs */
    int done = 0;
    gw_lease_release_all(f->k[0].l, on_done, &done);
    spin(f, 100);
    assert_int_equal(count_held(&f->k[0]), 0); /* none is read any more */
    assert_int_equal(done, 0);                 /* but 5 waits for its turn */
    char h5[64];
    holder(f, 5, h5, sizeof h5);
    assert_string_equal(h5, "gw-a");
    f->k[0].busy[5] = 0;
    for (int i = 0; i < WAIT_MS && !done; i++)
        spin(f, 1);
    assert_int_equal(done, 1); /* called once Redis confirmed it all */
    char h[64];
    for (unsigned p = 0; p < PARTS; p++) {
        holder(f, p, h, sizeof h);
        assert_string_equal(h, "");
    }
    char k[GW_KEYS_MAX];
    gw_key(f->ks, k, sizeof k, GW_K_GATEWAYS, GW_KEY_OWN);
    redisContext *c = redis_link(&f->redis, NULL, 0);
    redisReply *r = redisCommand(c, "ZCARD %s", k);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    redisFree(c);
    spin(f, TTL_MS); /* and takes nothing again */
    assert_int_equal(count_held(&f->k[0]), 0);
}

int main(void) {
    gw_log_set_level(getenv("TEST_LOG") ? getenv("TEST_LOG") : "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share),
        cmocka_unit_test(test_plan_take),
        cmocka_unit_test(test_plan_give),
        cmocka_unit_test_setup_teardown(test_alone_takes_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_holder_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwritten_is_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_all, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
