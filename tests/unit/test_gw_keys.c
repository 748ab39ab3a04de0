/*
 * test_gw_keys.c — the keyspace: Redis Cluster's CRC16 and slot rules (the test vectors
 * of the cluster specification and of CLUSTER KEYSLOT's documentation), partition tags
 * that land in their own slot range, keys built from the table (arity, own tags,
 * overflow), partitioned ids, and the Lua prelude run by a real redis-server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/store/gw_keys.h"
#include "test_redis.h"

static unsigned slot(const char *k) {
    return gw_keys_slot(k, strlen(k));
}

static void test_crc16_and_slots(void **state) {
    (void)state;
    /* the cluster specification's check value of CRC16-CCITT (XMODEM) */
    assert_int_equal(gw_keys_crc16("123456789", 9), 0x31C3);
    /* CLUSTER KEYSLOT's documented answers */
    assert_int_equal(slot("somekey"), 11058);
    assert_int_equal(slot("foo{hash_tag}"), 2515);
    assert_int_equal(slot("bar{hash_tag}"), 2515);
    assert_int_equal(slot("{user1}.following"), 8106);
    /* the hash tag rules of the specification */
    assert_int_equal(slot("{user1000}.following"), slot("{user1000}.followers"));
    assert_int_equal(slot("foo{}{bar}"), gw_keys_crc16("foo{}{bar}", 10) % 16384);
    assert_int_equal(slot("foo{{bar}}zap"), gw_keys_crc16("{bar", 4) % 16384);
    assert_int_equal(slot("foo{bar}{zap}"), gw_keys_crc16("bar", 3) % 16384);
    assert_int_equal(slot("{"), gw_keys_crc16("{", 1) % 16384);
}

static void test_partition_tags_spread(void **state) {
    (void)state;
    assert_null(gw_keyspace_new(0));
    assert_null(gw_keyspace_new(GW_KEYS_MAX_PARTITIONS + 1));
    unsigned counts[] = {1, 3, 16, 100};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        unsigned n = counts[c];
        gw_keyspace *ks = gw_keyspace_new(n);
        assert_non_null(ks);
        assert_int_equal(gw_keyspace_partitions(ks), n);
        for (unsigned i = 0; i < n; i++) {
            const char *tag = gw_keyspace_tag(ks, i);
            unsigned s = gw_keys_crc16(tag, strlen(tag)) % 16384;
            assert_true(s >= i * 16384 / n && s < (i + 1) * 16384 / n);
            /* a key of the partition hashes to its tag's slot */
            char k[GW_KEYS_MAX];
            assert_true(gw_key(ks, k, sizeof k, GW_K_NOTIF, i, "x") > 0);
            assert_int_equal(slot(k), s);
        }
        assert_string_equal(gw_keyspace_tag(ks, n), "");
        gw_keyspace_free(ks);
    }
}

static void test_keys_from_the_table(void **state) {
    (void)state;
    gw_keyspace *ks = gw_keyspace_new(16);
    char k[GW_KEYS_MAX], want[GW_KEYS_MAX];
    snprintf(want, sizeof want, "mc:{%s}:conv:zalo:123", gw_keyspace_tag(ks, 5));
    assert_int_equal(gw_key(ks, k, sizeof k, GW_K_CONV, 5, "zalo", "123"), (int)strlen(want));
    assert_string_equal(k, want);
    snprintf(want, sizeof want, "mc:{%s}:due", gw_keyspace_tag(ks, 0));
    gw_key(ks, k, sizeof k, GW_K_DUE, 0);
    assert_string_equal(k, want);
    /* own-tag families use GW_KEY_OWN, and only they do */
    assert_int_equal(gw_key(ks, k, sizeof k, GW_K_REPORT_SEQ, GW_KEY_OWN, "251203"), 33);
    assert_string_equal(k, "mc:{report_seq}:report_seq:251203");
    assert_int_equal(gw_key(ks, k, sizeof k, GW_K_REPORT_SEQ, 3, "251203"), MC_EINVAL);
    assert_int_equal(gw_key(ks, k, sizeof k, GW_K_DUE, GW_KEY_OWN), MC_EINVAL);
    assert_int_equal(gw_key(ks, k, sizeof k, GW_K_DUE, 16), MC_EINVAL); /* no partition 16 */
    assert_string_equal(k, "");
    assert_int_equal(gw_key(ks, k, 12, GW_K_CONV, 5, "zalo", "123"), MC_ETOOBIG);
    assert_string_equal(k, "");
    /* every family has its row, in enum order, and a unique name */
    size_t n;
    const gw_key_spec *t = gw_keys_table(&n);
    assert_int_equal(n, GW_K__COUNT);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t[i].id, (int)i);
        assert_non_null(t[i].writers);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(t[i].family, t[j].family);
    }
    /* an argument vector gets the same key */
    gw_argv a = {0};
    gw_argv_addkey(&a, ks, GW_K_CONV, 5, "zalo", "123");
    assert_int_equal(a.n, 1);
    gw_key(ks, k, sizeof k, GW_K_CONV, 5, "zalo", "123");
    assert_memory_equal(a.v[0], k, a.l[0]);
    gw_argv_free(&a);
    gw_keyspace_free(ks);
}

static void test_partitioned_ids(void **state) {
    (void)state;
    gw_keyspace *ks = gw_keyspace_new(16);
    assert_int_equal(gw_keyspace_part_of_id(ks, "3-a1b2c3"), 3);
    assert_int_equal(gw_keyspace_part_of_id(ks, "15-x"), 15);
    assert_int_equal(gw_keyspace_part_of_id(ks, "16-x"), -1); /* beyond the partitions */
    assert_int_equal(gw_keyspace_part_of_id(ks, "03-x"), -1);
    assert_int_equal(gw_keyspace_part_of_id(ks, "a1b2c3"), -1);
    assert_int_equal(gw_keyspace_part_of_id(ks, "-x"), -1);
    assert_int_equal(gw_keyspace_part_of_id(ks, "7"), -1);
    unsigned p = gw_keyspace_part_of(ks, "zalo:123", 8);
    assert_int_equal(p, gw_keys_crc16("zalo:123", 8) % 16);
    gw_keyspace_free(ks);
}

/* The prelude is valid Lua that builds the same keys as gw_key, in KEYS[1]'s partition. */
static void test_lua_prelude_in_redis(void **state) {
    (void)state;
    redis_proc r = {0};
    assert_int_equal(redis_dir(&r, "test_gw_keys"), 0);
    assert_int_equal(redis_start(&r, NULL), 0);
    gw_keyspace *ks = gw_keyspace_new(16);
    char due[GW_KEYS_MAX], want[GW_KEYS_MAX];
    gw_key(ks, due, sizeof due, GW_K_DUE, 9);
    gw_key(ks, want, sizeof want, GW_K_STATS, 9, "so-tu-phap", "2026-12-03");
    redisContext *c = redis_link(&r, NULL, 0);
    assert_non_null(c);
    char script[16384];
    snprintf(script, sizeof script, "%sreturn K.stats(ARGV[1],ARGV[2])", gw_keys_lua_prelude(ks));
    redisReply *rep =
        redisCommand(c, "EVAL %s 1 %s %s %s", script, due, "so-tu-phap", "2026-12-03");
    assert_non_null(rep);
    if (rep->type == REDIS_REPLY_ERROR)
        fail_msg("redis: %s", rep->str);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, want);
    freeReplyObject(rep);
    redisFree(c);
    gw_keyspace_free(ks);
    redis_clear(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_and_slots),      cmocka_unit_test(test_partition_tags_spread),
        cmocka_unit_test(test_keys_from_the_table),  cmocka_unit_test(test_partitioned_ids),
        cmocka_unit_test(test_lua_prelude_in_redis),
    };
    return cmocka_run_group_tests_name("gw_keys", tests, NULL, NULL);
}
