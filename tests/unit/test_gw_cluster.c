/*
 * test_gw_cluster.c — the Redis Cluster client of gw_store.
 *
 * Without Redis: which argument a command routes by (gw_cluster_route), what a redirect
 * says (gw_cluster_redirect), the slot map of CLUSTER SHARDS and CLUSTER SLOTS replies
 * (gw_cluster_map).
 *
 * Against real clusters started here on loopback (test_redis.h: redis-server
 * --cluster-enabled yes, redis-cli --cluster create): three primaries — the store comes
 * up with its scripts on every primary, routes plain commands, scripts, stream reads and
 * keyless commands, keeps a MULTI's callbacks in order; a slot migrated by hand behind
 * its back gives MOVED (followed, the map updated), ASK while migrating (ASKING on the
 * target, for a command and for a transaction), TRYAGAIN for a multi-key script whose
 * keys are split (sent again until the migration ends); WAIT without replicas is
 * refused. Three primaries with a replica each — WAIT 1 is met; a manual failover (CLUSTER
 * FAILOVER on a replica) and a primary killed with kill -9: the store finds the new
 * primary without a restart, and its scripts are there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/store/gw_cluster.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_script.h"
#include "gateway/store/gw_store.h"

#define WAIT_MS 20000 /* a failover takes cluster-node-timeout and an election */
#include "test_redis.h"

#include <uv.h>

#define NODE_TIMEOUT_MS 1000 /* cluster-node-timeout of the test clusters */
#define UP_WAIT_MS 20000     /* a store reaching every primary, a failover ending */
#define MAX_ORDER 16         /* callbacks recorded by one test */

/* ------------------------------------------------------------ without Redis */

static int route(const char *fmt, ...) {
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    assert_true(len > 0);
    gw_cmd_route r;
    int rc = gw_cluster_route(cmd, (size_t)len, &r);
    free(cmd);
    if (rc)
        return -100;
    return r.kind == GW_CMD_KEYED     ? r.slot
           : r.kind == GW_CMD_KEYLESS ? -1
           : r.kind == GW_CMD_MULTI   ? -2
                                      : -3;
}

static int slot(const char *key) {
    return (int)gw_keys_slot(key, strlen(key));
}

static void test_route_by_the_right_argument(void **state) {
    (void)state;
    assert_int_equal(route("GET %s", "{a}x"), slot("a"));
    assert_int_equal(route("HSET %s f v", "k1"), slot("k1"));
    assert_int_equal(route("EVALSHA %s 2 %s %s arg", "0123", "{p1}k", "{p1}j"), slot("p1"));
    assert_int_equal(route("eval %s 1 %s", "return 1", "kx"), slot("kx"));
    assert_int_equal(route("EVAL %s 0 arg", "return 1"), -1); /* no key */
    assert_int_equal(
        route("XREADGROUP GROUP g c COUNT 5 BLOCK 10 STREAMS %s %s > >", "{s}a", "{s}b"),
        slot("s"));
    assert_int_equal(route("XREAD COUNT 1 STREAMS %s 0", "st"), slot("st"));
    assert_int_equal(route("XGROUP CREATE %s g 0 MKSTREAM", "{q}in"), slot("q"));
    assert_int_equal(route("XINFO STREAM %s", "xs"), slot("xs"));
    assert_int_equal(route("PING"), -1);
    assert_int_equal(route("WAIT 1 100"), -1);
    assert_int_equal(route("SCRIPT LOAD %s", "return 1"), -1);
    assert_int_equal(route("MULTI"), -2);
    assert_int_equal(route("multi"), -2);
    assert_int_equal(route("EXEC"), -3);
    assert_int_equal(route("DISCARD"), -3);
    /* what cannot be read is refused, not guessed */
    gw_cmd_route r;
    assert_int_equal(gw_cluster_route("*2\r\n$3\r\nGET\r\n$9\r\nab", 20, &r), MC_EPARSE);
    assert_int_equal(gw_cluster_route("+OK\r\n", 5, &r), MC_EPARSE);
    assert_int_equal(gw_cluster_route("", 0, &r), MC_EPARSE);
    assert_int_equal(route("EVALSHA %s x %s", "0123", "k"), -100); /* numkeys not a number */
    assert_int_equal(route("XREADGROUP GROUP g c %s", "k"), -100); /* no STREAMS */
    assert_int_equal(route("EVALSHA %s 1", "0123"), -100);         /* the key is missing */
}

static void test_redirects_read(void **state) {
    (void)state;
    gw_redirect r;
    const char *moved = "MOVED 3999 127.0.0.1:6381";
    assert_int_equal(gw_cluster_redirect(moved, strlen(moved), &r), GW_REDIRECT_MOVED);
    assert_int_equal(r.slot, 3999);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 6381);
    const char *ask = "ASK 16383 ::1:7000";
    assert_int_equal(gw_cluster_redirect(ask, strlen(ask), &r), GW_REDIRECT_ASK);
    assert_int_equal(r.slot, 16383);
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 7000);
    const char *unknown = "MOVED 12 :7001"; /* the endpoint is the node that answered */
    assert_int_equal(gw_cluster_redirect(unknown, strlen(unknown), &r), GW_REDIRECT_MOVED);
    assert_string_equal(r.host, "");
    const char *tryagain = "TRYAGAIN Multiple keys request during rehashing of slot";
    assert_int_equal(gw_cluster_redirect(tryagain, strlen(tryagain), &r), GW_REDIRECT_TRYAGAIN);
    const char *down = "CLUSTERDOWN The cluster is down";
    assert_int_equal(gw_cluster_redirect(down, strlen(down), &r), GW_REDIRECT_CLUSTERDOWN);
    const char *const others[] = {"ERR unknown command",
                                  "MOVED",
                                  "MOVED 16384 h:1",
                                  "MOVED 1 h",
                                  "MOVED 1 h:0",
                                  "MOVED 1 h:99999",
                                  "ASKING",
                                  "MOVEDX 1 h:2",
                                  "NOSCRIPT No matching script"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        assert_int_equal(gw_cluster_redirect(others[i], strlen(others[i]), &r), GW_REDIRECT_NONE);
}

/* A reply tree made by hand (the shapes Redis sends). */
static redisReply *r_int(long long v) {
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}
static redisReply *r_str(const char *s) {
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_STRING;
    r->str = strdup(s);
    r->len = strlen(s);
    return r;
}
static redisReply *r_arr(size_t n, ...) {
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n ? n : 1, sizeof *r->element);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}
static void r_free(redisReply *r) {
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        r_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

static redisReply *shard_node(const char *ip, long long port, const char *role,
                              const char *health) {
    return r_arr(12, r_str("id"), r_str("abc"), r_str("port"), r_int(port), r_str("ip"), r_str(ip),
                 r_str("endpoint"), r_str(ip), r_str("role"), r_str(role), r_str("health"),
                 r_str(health));
}

static void test_slot_maps_read(void **state) {
    (void)state;
    /* CLUSTER SHARDS after a failover: the old primary is listed as a failed replica */
    redisReply *shards =
        r_arr(2,
              r_arr(4, r_str("slots"), r_arr(4, r_int(0), r_int(100), r_int(200), r_int(300)),
                    r_str("nodes"),
                    r_arr(2, shard_node("10.0.0.1", 7000, "replica", "fail"),
                          shard_node("10.0.0.2", 7001, "master", "online"))),
              r_arr(4, r_str("slots"), r_arr(2, r_int(101), r_int(199)), r_str("nodes"),
                    r_arr(1, shard_node("10.0.0.3", 7002, "replica", "online"))));
    gw_slot_range *rg = NULL;
    size_t n = 0;
    assert_int_equal(gw_cluster_map(shards, 1, &rg, &n), 0);
    assert_int_equal(n, 2); /* the shard without a primary serves nothing */
    assert_int_equal(rg[0].lo, 0);
    assert_int_equal(rg[0].hi, 100);
    assert_string_equal(rg[0].host, "10.0.0.2");
    assert_int_equal(rg[0].port, 7001);
    assert_int_equal(rg[1].lo, 200);
    assert_int_equal(rg[1].hi, 300);
    free(rg);
    r_free(shards);
    /* CLUSTER SLOTS */
    redisReply *slots = r_arr(2,
                              r_arr(4, r_int(0), r_int(8191),
                                    r_arr(3, r_str("127.0.0.1"), r_int(30001), r_str("id1")),
                                    r_arr(3, r_str("127.0.0.1"), r_int(30004), r_str("id4"))),
                              r_arr(3, r_int(8192), r_int(16383),
                                    r_arr(3, r_str("127.0.0.1"), r_int(30002), r_str("x"))));
    assert_int_equal(gw_cluster_map(slots, 0, &rg, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rg[1].lo, 8192);
    assert_int_equal(rg[1].hi, 16383);
    assert_int_equal(rg[1].port, 30002);
    free(rg);
    r_free(slots);
    /* shapes that are not maps */
    redisReply *bad = r_arr(1, r_arr(3, r_int(5), r_int(2), r_arr(2, r_str("h"), r_int(1))));
    assert_int_equal(gw_cluster_map(bad, 0, &rg, &n), MC_EPARSE); /* hi < lo */
    r_free(bad);
    bad = r_arr(1, r_arr(3, r_int(0), r_int(16384), r_arr(2, r_str("h"), r_int(1))));
    assert_int_equal(gw_cluster_map(bad, 0, &rg, &n), MC_EPARSE); /* past the last slot */
    r_free(bad);
    bad = r_str("nope");
    assert_int_equal(gw_cluster_map(bad, 1, &rg, &n), MC_EPARSE);
    r_free(bad);
    bad = r_arr(1, r_arr(2, r_str("slots"), r_arr(1, r_int(0))));
    assert_int_equal(gw_cluster_map(bad, 1, &rg, &n), MC_EPARSE); /* odd slots, no nodes */
    r_free(bad);
}

/* -------------------------------------------------------- against a cluster */

typedef struct answer {
    int done; /* the callback ran */
    int type; /* reply type, -1 for NULL */
    long long integer;
    char str[256];
    size_t elements;
    long long ints[8]; /* an array's integers (or -1) */
    char strs[8][64];  /* an array's strings */
    int short_;        /* gw_store_waited_short in the callback */
    long long acked;   /* what it said */
} answer;

typedef struct fx {
    uv_loop_t loop;
    redis_cluster *c;     /* the group's cluster */
    gw_redis_addr addr;   /* its URL */
    gw_store *st;         /* the store under test */
    gw_keyspace *ks;      /* for the scripts' prelude */
    gw_script script;     /* a script the store loads */
    int order[MAX_ORDER]; /* callbacks in the order they ran */
    int n_order;
} fx;

static redis_cluster plain;    /* three primaries */
static redis_cluster replicas; /* three primaries, a replica each */

static int start_plain(void **state) {
    (void)state;
    return redis_cluster_start(&plain, "test_gw_cluster", 3, 0, NODE_TIMEOUT_MS);
}
static int stop_plain(void **state) {
    (void)state;
    redis_cluster_clear(&plain);
    return 0;
}
static int start_replicas(void **state) {
    (void)state;
    return redis_cluster_start(&replicas, "test_gw_cluster_r", 3, 1, NODE_TIMEOUT_MS);
}
static int stop_replicas(void **state) {
    (void)state;
    redis_cluster_clear(&replicas);
    return 0;
}

static void spin(fx *f, int ms) {
    for (int i = 0; i < ms; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static int spin_up(fx *f, int want) {
    for (int i = 0; i < UP_WAIT_MS && gw_store_up(f->st) != want; i++)
        spin(f, 1);
    return gw_store_up(f->st) == want;
}

static const char script_body[] = "redis.call('INCR', KEYS[1]) return redis.call('GET', KEYS[1])";

static int store_setup(fx *f, redis_cluster *c) {
    memset(f, 0, sizeof *f);
    f->c = c;
    char err[128];
    if (uv_loop_init(&f->loop) || gw_redis_addr_parse(c->url, &f->addr, err, sizeof err) ||
        !(f->ks = gw_keyspace_new(16)) ||
        gw_script_init(&f->script, "incr_get", f->ks, script_body) ||
        !(f->st = gw_store_new(&f->loop, &f->addr)) || gw_store_load(f->st, &f->script))
        return -1;
    return 0;
}

static int setup_plain(void **state) {
    fx *f = calloc(1, sizeof *f);
    *state = f;
    return f ? store_setup(f, &plain) : -1;
}
static int setup_replicas(void **state) {
    fx *f = calloc(1, sizeof *f);
    *state = f;
    return f ? store_setup(f, &replicas) : -1;
}

static int teardown(void **state) {
    fx *f = *state;
    gw_store_free(f->st);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    gw_script_clear(&f->script);
    gw_keyspace_free(f->ks);
    free(f);
    return 0;
}

static void fill(answer *a, const redisReply *r) {
    a->done = 1;
    a->type = r ? r->type : -1;
    if (!r)
        return;
    a->integer = r->integer;
    if (r->str)
        snprintf(a->str, sizeof a->str, "%s", r->str);
    a->elements = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    for (size_t i = 0; i < a->elements && i < 8; i++) {
        const redisReply *e = r->element[i];
        a->ints[i] = e->type == REDIS_REPLY_INTEGER ? e->integer : -1;
        snprintf(a->strs[i], sizeof a->strs[i], "%s", e->str ? e->str : "");
    }
}

static void on_answer(gw_store *s, redisReply *r, void *priv) {
    answer *a = priv;
    fill(a, r);
    a->short_ = gw_store_waited_short(s, &a->acked);
}

static int spin_done(fx *f, const answer *a) {
    for (int i = 0; i < UP_WAIT_MS && !a->done; i++)
        spin(f, 1);
    return a->done;
}

/* Sends the NULL-terminated arguments through the store (wait_n > 0: with WAIT); the
 * answer slot to fill. */
static void send_args(fx *f, answer *a, int wait_n, const char *first, va_list ap) {
    gw_argv v = {0};
    for (const char *x = first; x; x = va_arg(ap, const char *))
        gw_argv_adds(&v, x);
    int rc = wait_n ? gw_argv_send_wait(f->st, &v, wait_n, 500, on_answer, a)
                    : gw_argv_send(f->st, &v, on_answer, a);
    gw_argv_free(&v);
    assert_int_equal(rc, 0);
}

/* One command through the store, answered. */
static answer call(fx *f, const char *first, ...) {
    answer a = {0};
    va_list ap;
    va_start(ap, first);
    send_args(f, &a, 0, first, ap);
    va_end(ap);
    assert_true(spin_done(f, &a));
    return a;
}

/* The same, then WAIT for n replicas. */
static answer call_wait(fx *f, int n, const char *first, ...) {
    answer a = {0};
    va_list ap;
    va_start(ap, first);
    send_args(f, &a, n, first, ap);
    va_end(ap);
    assert_true(spin_done(f, &a));
    return a;
}

/* The index of the node serving slot s, as the first live node sees it. */
static int owner(const redis_cluster *c, int s) {
    for (int i = 0; i < c->n; i++) {
        if (c->node[i].pid <= 0)
            continue;
        redisReply *rep = cluster_cmd(c, i, "CLUSTER SHARDS");
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
    return -1;
}

/* A primary other than node `not`. */
static int other_primary(const redis_cluster *c, int not ) {
    for (int s = 0; s < GW_KEYS_SLOTS; s += 1000) {
        int o = owner(c, s);
        if (o >= 0 && o != not )
            return o;
    }
    return -1;
}

static void must_ok(redisReply *rep) {
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        fail_msg("cluster command failed: %s", rep ? rep->str : "no reply");
    freeReplyObject(rep);
}

/* Starts moving slot s from node `from` to node `to` (IMPORTING, MIGRATING). */
static void migrate_begin(const redis_cluster *c, int s, int from, int to) {
    char fid[CLUSTER_ID_MAX], tid[CLUSTER_ID_MAX];
    assert_int_equal(cluster_node_id(c, from, fid), 0);
    assert_int_equal(cluster_node_id(c, to, tid), 0);
    must_ok(cluster_cmd(c, to, "CLUSTER SETSLOT %d IMPORTING %s", s, fid));
    must_ok(cluster_cmd(c, from, "CLUSTER SETSLOT %d MIGRATING %s", s, tid));
}

/* Moves one key of the migrating slot from `from` to `to`. */
static void migrate_key(const redis_cluster *c, int from, int to, const char *key) {
    must_ok(cluster_cmd(c, from, "MIGRATE 127.0.0.1 %d %s 0 5000", c->node[to].port, key));
}

/* Ends the move: slot s is to's, on every primary (the others learn by gossip). */
static void migrate_end(const redis_cluster *c, int s, int from, int to) {
    char tid[CLUSTER_ID_MAX];
    assert_int_equal(cluster_node_id(c, to, tid), 0);
    must_ok(cluster_cmd(c, to, "CLUSTER SETSLOT %d NODE %s", s, tid));
    must_ok(cluster_cmd(c, from, "CLUSTER SETSLOT %d NODE %s", s, tid));
    for (int i = 0; i < c->n; i++)
        if (i != to && i != from && c->node[i].pid > 0)
            freeReplyObject(cluster_cmd(c, i, "CLUSTER SETSLOT %d NODE %s", s, tid));
}

/* Moves slot s with the keys given from `from` to `to`, all of it. */
static void migrate_all(const redis_cluster *c, int s, int from, int to, const char *const *keys) {
    migrate_begin(c, s, from, to);
    for (int i = 0; keys[i]; i++)
        migrate_key(c, from, to, keys[i]);
    migrate_end(c, s, from, to);
}

/* ------------------------------------------------------------------ tests */

static void test_up_routes_and_scripts_on_every_primary(void **state) {
    fx *f = *state;
    assert_true(spin_up(f, 1));
    assert_true(gw_store_cluster(f->st));
    gw_store_stats st;
    gw_store_get_stats(f->st, &st);
    assert_int_equal(st.nodes, 3);
    for (int i = 0; i < f->c->n; i++) { /* loaded before the store said it was up */
        redisReply *r = cluster_cmd(f->c, i, "SCRIPT EXISTS %s", f->script.sha);
        assert_true(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                    r->element[0]->integer == 1);
        freeReplyObject(r);
    }
    /* keys of every primary: written and read through the store, found on their node */
    int seen[CLUSTER_MAX_NODES] = {0}, nodes = 0;
    for (int i = 0; i < 24; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "{r%d}key", i);
        snprintf(v, sizeof v, "v%d", i);
        assert_string_equal(call(f, "SET", k, v, NULL).str, "OK");
        assert_string_equal(call(f, "GET", k, NULL).str, v);
        int o = owner(f->c, slot(k));
        assert_true(o >= 0);
        nodes += !seen[o];
        seen[o] = 1;
        redisReply *r = cluster_cmd(f->c, o, "GET %s", k);
        assert_true(r && r->type == REDIS_REPLY_STRING);
        assert_string_equal(r->str, v);
        freeReplyObject(r);
    }
    assert_int_equal(nodes, 3);
    /* a script by its SHA goes by its first key */
    assert_string_equal(call(f, "EVALSHA", f->script.sha, "1", "{r7}n", NULL).str, "1");
    assert_string_equal(call(f, "EVALSHA", f->script.sha, "1", "{r7}n", NULL).str, "2");
    /* a stream read goes by the first stream after STREAMS */
    assert_int_equal(call(f, "XGROUP", "CREATE", "{r9}s", "g", "0", "MKSTREAM", NULL).type,
                     REDIS_REPLY_STATUS);
    assert_int_equal(call(f, "XADD", "{r9}s", "*", "f", "v", NULL).type, REDIS_REPLY_STRING);
    answer a =
        call(f, "XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "STREAMS", "{r9}s", ">", NULL);
    assert_int_equal(a.type, REDIS_REPLY_ARRAY);
    assert_int_equal(a.elements, 1);
    /* a keyless command goes to a primary */
    a = call(f, "PING", NULL);
    assert_string_equal(a.str, "PONG");
    gw_store_get_stats(f->st, &st);
    assert_int_equal(st.moved + st.ask + st.retried, 0);
}

/* One callback of a sequence: records its place and its answer. */
typedef struct seq {
    fx *f;
    int id;
    answer a;
} seq;

static void on_seq(gw_store *s, redisReply *r, void *priv) {
    (void)s;
    seq *q = priv;
    if (q->f->n_order < MAX_ORDER)
        q->f->order[q->f->n_order++] = q->id;
    fill(&q->a, r);
}

/* MULTI, SET key 1, INCR key, GET key, EXEC through the store, each with a callback. */
static void multi_incr(fx *f, seq *q, const char *key) {
    for (int i = 0; i < 5; i++)
        q[i] = (seq){f, i, {0}};
    f->n_order = 0;
    assert_int_equal(gw_store_cmdf(f->st, on_seq, &q[0], "MULTI"), 0);
    assert_int_equal(gw_store_cmdf(f->st, on_seq, &q[1], "SET %s 1", key), 0);
    assert_int_equal(gw_store_cmdf(f->st, on_seq, &q[2], "INCR %s", key), 0);
    assert_int_equal(gw_store_cmdf(f->st, on_seq, &q[3], "GET %s", key), 0);
    assert_int_equal(gw_store_cmdf(f->st, on_seq, &q[4], "EXEC"), 0);
    assert_true(spin_done(f, &q[4].a));
}

static void assert_multi_incr(const fx *f, const seq *q) {
    assert_int_equal(f->n_order, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(f->order[i], i); /* every callback once, in order */
    assert_string_equal(q[0].a.str, "OK");
    for (int i = 1; i < 4; i++)
        assert_string_equal(q[i].a.str, "QUEUED");
    assert_int_equal(q[4].a.type, REDIS_REPLY_ARRAY);
    assert_int_equal(q[4].a.elements, 3);
    assert_string_equal(q[4].a.strs[0], "OK");
    assert_int_equal(q[4].a.ints[1], 2);
    assert_string_equal(q[4].a.strs[2], "2");
}

static void test_multi_exec_keeps_callbacks_in_order(void **state) {
    fx *f = *state;
    assert_true(spin_up(f, 1));
    /* a key away from slot 0's primary: the transaction goes by its first key */
    char key[32];
    for (int i = 0;; i++) {
        snprintf(key, sizeof key, "{tx%d}k", i);
        if (owner(f->c, slot(key)) != owner(f->c, 0))
            break;
    }
    seq q[5];
    multi_incr(f, q, key);
    assert_multi_incr(f, q);
    /* DISCARD ends one too: nothing written, every callback called */
    seq d[3] = {{f, 0, {0}}, {f, 1, {0}}, {f, 2, {0}}};
    f->n_order = 0;
    assert_int_equal(gw_store_cmdf(f->st, on_seq, &d[0], "MULTI"), 0);
    assert_int_equal(gw_store_cmdf(f->st, on_seq, &d[1], "SET %s 99", key), 0);
    assert_int_equal(gw_store_cmdf(f->st, on_seq, &d[2], "DISCARD"), 0);
    assert_true(spin_done(f, &d[2].a));
    assert_int_equal(f->n_order, 3);
    assert_string_equal(d[1].a.str, "QUEUED");
    assert_string_equal(d[2].a.str, "OK");
    assert_string_equal(call(f, "GET", key, NULL).str, "2");
}

static void test_moved_is_followed_and_the_map_updated(void **state) {
    fx *f = *state;
    redis_cluster *c = f->c;
    assert_true(spin_up(f, 1));
    const char *k = "{mv}k";
    const char *keys[] = {k, NULL};
    int s = slot(k), a = owner(c, s), b = other_primary(c, a);
    assert_true(a >= 0 && b >= 0);
    assert_string_equal(call(f, "SET", k, "1", NULL).str, "OK");
    migrate_all(c, s, a, b, keys); /* behind the store's back */
    gw_store_stats st0, st1;
    gw_store_get_stats(f->st, &st0);
    assert_string_equal(call(f, "GET", k, NULL).str, "1");
    gw_store_get_stats(f->st, &st1);
    assert_int_equal(st1.moved, st0.moved + 1);
    assert_string_equal(call(f, "GET", k, NULL).str, "1"); /* the map knows now */
    gw_store_get_stats(f->st, &st0);
    assert_int_equal(st0.moved, st1.moved);
    /* back again, under a transaction: sent whole to the new node, callbacks once each */
    migrate_all(c, s, b, a, keys);
    seq q[5];
    multi_incr(f, q, k);
    assert_multi_incr(f, q);
    gw_store_get_stats(f->st, &st1);
    assert_int_equal(st1.moved, st0.moved + 1);
    redisReply *r = cluster_cmd(c, a, "GET %s", k);
    assert_true(r && r->type == REDIS_REPLY_STRING);
    assert_string_equal(r->str, "2");
    freeReplyObject(r);
}

static void test_ask_sends_asking_to_the_target(void **state) {
    fx *f = *state;
    redis_cluster *c = f->c;
    assert_true(spin_up(f, 1));
    const char *k1 = "{ak}1", *k2 = "{ak}2";
    int s = slot(k1), a = owner(c, s), b = other_primary(c, a);
    assert_string_equal(call(f, "SET", k1, "one", NULL).str, "OK");
    assert_string_equal(call(f, "SET", k2, "two", NULL).str, "OK");
    migrate_begin(c, s, a, b);
    migrate_key(c, a, b, k2); /* k2 is on b now, k1 still on a */
    gw_store_stats st0, st1;
    gw_store_get_stats(f->st, &st0);
    assert_string_equal(call(f, "GET", k2, NULL).str, "two");
    gw_store_get_stats(f->st, &st1);
    assert_int_equal(st1.ask, st0.ask + 1);
    assert_int_equal(st1.moved, st0.moved);
    assert_string_equal(call(f, "GET", k1, NULL).str, "one"); /* the map did not move */
    gw_store_get_stats(f->st, &st0);
    assert_int_equal(st0.ask, st1.ask);
    /* a transaction on the migrated key: ASKING once, then the whole on the target */
    seq q[5];
    multi_incr(f, q, k2);
    assert_multi_incr(f, q);
    gw_store_get_stats(f->st, &st1);
    assert_int_equal(st1.ask, st0.ask + 1);
    redisReply *r = cluster_cmd(c, a, "GET %s", k2); /* not on the source: written on b */
    assert_true(r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "ASK ", 4));
    freeReplyObject(r);
    migrate_key(c, a, b, k1);
    migrate_end(c, s, a, b);
    assert_string_equal(call(f, "GET", k2, NULL).str, "2");
}

static void test_tryagain_is_sent_again_until_the_migration_ends(void **state) {
    fx *f = *state;
    redis_cluster *c = f->c;
    assert_true(spin_up(f, 1));
    const char *k1 = "{ta}1", *k2 = "{ta}2";
    int s = slot(k1), a = owner(c, s), b = other_primary(c, a);
    assert_string_equal(call(f, "SET", k1, "x", NULL).str, "OK");
    assert_string_equal(call(f, "SET", k2, "y", NULL).str, "OK");
    migrate_begin(c, s, a, b);
    migrate_key(c, a, b, k2); /* the keys of one script are split between two nodes */
    gw_store_stats st0, st1;
    gw_store_get_stats(f->st, &st0);
    answer ans = {0};
    assert_int_equal(gw_store_cmdf(f->st, on_answer, &ans, "EVAL %s 2 %s %s",
                                   "return redis.call('MGET', KEYS[1], KEYS[2])", k1, k2),
                     0);
    spin(f, 150);
    assert_false(ans.done); /* TRYAGAIN: waiting to send again */
    gw_store_get_stats(f->st, &st1);
    assert_true(st1.retried > st0.retried);
    migrate_key(c, a, b, k1);
    migrate_end(c, s, a, b);
    assert_true(spin_done(f, &ans));
    assert_int_equal(ans.type, REDIS_REPLY_ARRAY);
    assert_int_equal(ans.elements, 2);
    assert_string_equal(ans.strs[0], "x");
    assert_string_equal(ans.strs[1], "y");
}

static void test_wait_without_replicas_is_refused(void **state) {
    fx *f = *state;
    assert_true(spin_up(f, 1));
    answer a = call_wait(f, 1, "SET", "{w0}k", "v", NULL);
    assert_string_equal(a.str, "OK"); /* the write's own reply, flagged */
    assert_true(a.short_);
    assert_int_equal(a.acked, 0);
    assert_false(gw_store_waited_short(f->st, NULL));            /* only inside the callback */
    assert_string_equal(call(f, "GET", "{w0}k", NULL).str, "v"); /* written all the same */
    /* no replica asked: the plain answer */
    a = call_wait(f, 0, "SET", "{w0}k", "w", NULL);
    assert_string_equal(a.str, "OK");
    assert_false(a.short_);
}

/* ------------------------------------------------- a cluster with replicas */

/* The replica of primary p (a node whose ROLE names p's port), or -1. */
static int replica_of(const redis_cluster *c, int p) {
    for (int i = 0; i < c->n; i++) {
        if (i == p || c->node[i].pid <= 0)
            continue;
        redisReply *r = cluster_cmd(c, i, "ROLE");
        int is = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
                 !strcmp(r->element[0]->str, "slave") && r->element[2]->integer == c->node[p].port;
        freeReplyObject(r);
        if (is)
            return i;
    }
    return -1;
}

static int is_primary(const redis_cluster *c, int i) {
    redisReply *r = cluster_cmd(c, i, "ROLE");
    int is = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
             !strcmp(r->element[0]->str, "master");
    freeReplyObject(r);
    return is;
}

static void test_wait_for_a_replica(void **state) {
    fx *f = *state;
    assert_true(spin_up(f, 1));
    answer a = call_wait(f, 1, "SET", "{wr}k", "v", NULL);
    assert_string_equal(a.str, "OK");
    assert_false(a.short_);
    a = call_wait(f, 2, "SET", "{wr}k", "v", NULL); /* one replica each */
    assert_string_equal(a.str, "OK");
    assert_true(a.short_);
    assert_int_equal(a.acked, 1);
}

static void test_manual_failover_finds_the_new_primary(void **state) {
    fx *f = *state;
    redis_cluster *c = f->c;
    assert_true(spin_up(f, 1));
    const char *k = "{fo}k";
    int p = owner(c, slot(k)), r = replica_of(c, p);
    assert_true(p >= 0 && r >= 0);
    assert_string_equal(call_wait(f, 1, "SET", k, "5", NULL).str, "OK");
    must_ok(cluster_cmd(c, r, "CLUSTER FAILOVER"));
    for (int i = 0; i < WAIT_MS / 10 && !(is_primary(c, r) && !is_primary(c, p)); i++)
        spin(f, 10);
    assert_true(is_primary(c, r));
    /* the old primary answers MOVED; the new one gets the scripts before any command */
    assert_string_equal(call(f, "EVALSHA", f->script.sha, "1", k, NULL).str, "6");
    assert_true(spin_up(f, 1));
    gw_store_stats st;
    gw_store_get_stats(f->st, &st);
    assert_int_equal(st.nodes, 3);
    redisReply *x = cluster_cmd(c, r, "SCRIPT EXISTS %s", f->script.sha);
    assert_true(x && x->type == REDIS_REPLY_ARRAY && x->element[0]->integer == 1);
    freeReplyObject(x);
}

static void test_killed_primary_is_replaced_without_a_restart(void **state) {
    fx *f = *state;
    redis_cluster *c = f->c;
    assert_true(spin_up(f, 1));
    const char *k = "{kp}k";
    int p = owner(c, slot(k)), r = replica_of(c, p);
    assert_true(p >= 0 && r >= 0);
    assert_string_equal(call_wait(f, 1, "SET", k, "7", NULL).str, "OK");
    redis_stop(&c->node[p]);    /* kill -9 */
    assert_true(spin_up(f, 0)); /* a slot without a primary: down */
    assert_int_equal(gw_store_cmdf(f->st, NULL, NULL, "GET %s", k), MC_EUNAVAIL);
    assert_true(spin_up(f, 1)); /* the replica took over */
    assert_true(is_primary(c, r));
    assert_string_equal(call(f, "GET", k, NULL).str, "7");
    assert_string_equal(call(f, "EVALSHA", f->script.sha, "1", k, NULL).str, "8");
    gw_store_stats st;
    gw_store_get_stats(f->st, &st);
    assert_int_equal(st.nodes, 3);
}

int main(void) {
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_route_by_the_right_argument),
        cmocka_unit_test(test_redirects_read),
        cmocka_unit_test(test_slot_maps_read),
    };
    const struct CMUnitTest three[] = {
        cmocka_unit_test_setup_teardown(test_up_routes_and_scripts_on_every_primary, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_multi_exec_keeps_callbacks_in_order, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_moved_is_followed_and_the_map_updated, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ask_sends_asking_to_the_target, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_tryagain_is_sent_again_until_the_migration_ends,
                                        setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_wait_without_replicas_is_refused, setup_plain,
                                        teardown),
    };
    const struct CMUnitTest six[] = {
        cmocka_unit_test_setup_teardown(test_wait_for_a_replica, setup_replicas, teardown),
        cmocka_unit_test_setup_teardown(test_manual_failover_finds_the_new_primary, setup_replicas,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_killed_primary_is_replaced_without_a_restart,
                                        setup_replicas, teardown),
    };
    int failed = cmocka_run_group_tests_name("gw_cluster (protocol)", pure, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("gw_cluster (three primaries)", three, start_plain, stop_plain);
    failed += cmocka_run_group_tests_name("gw_cluster (primaries with replicas)", six,
                                          start_replicas, stop_replicas);
    return failed;
}
