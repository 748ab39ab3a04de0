/*
 * test_gw_resp.c — commands encoded by store/gw_resp.c are byte for byte what hiredis's
 * own encoders make of the same arguments and formats (redisFormatCommandArgv,
 * redisFormatCommand): binary and empty arguments, several spaces, directives inside an
 * argument, every integer directive at its limits, "%%" and a last '%'; a command past
 * the stack buffer; a directive hiredis alone knows is left to it, untaken; too many
 * arguments and no argument are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/store/gw_resp.h"

#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LONG_ARG 5000 /* bytes of an argument that does not fit the stack buffer */

static int ours(gw_resp *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = gw_resp_fmt(r, fmt, ap);
    va_end(ap);
    return rc;
}

/* Our encoding and hiredis's are the same bytes. */
static void same(const gw_resp *r, const char *want, int want_len) {
    assert_true(want_len > 0);
    assert_non_null(r->p);
    if (r->len != (size_t)want_len || memcmp(r->p, want, r->len))
        fail_msg("got %.*s\nwant %.*s", (int)r->len, r->p, want_len, want);
}

#define CHECK_FMT(...)                                                                             \
    do {                                                                                           \
        gw_resp r;                                                                                 \
        char *want = NULL;                                                                         \
        int wl = redisFormatCommand(&want, __VA_ARGS__);                                           \
        assert_int_equal(ours(&r, __VA_ARGS__), 0);                                                \
        same(&r, want, wl);                                                                        \
        gw_resp_clear(&r);                                                                         \
        redisFreeCommand(want);                                                                    \
    } while (0)

static void test_argv_as_hiredis(void **state) {
    (void)state;
    char *big = malloc(LONG_ARG);
    assert_non_null(big);
    memset(big, 'x', LONG_ARG);
    const char *argv[] = {"XADD", "mc:{p1.2}:out:zalo", "*", "text", "", "bin", big};
    size_t lens[] = {4, 18, 1, 4, 0, 3, 7};
    const char binary[] = {'a', '\0', ' ', '\r', '\n', 'b'};
    argv[6] = binary;
    lens[6] = sizeof binary;
    for (int with_lens = 0; with_lens < 2; with_lens++) {
        int argc = with_lens ? 7 : 6; /* the binary one only with its length */
        gw_resp r;
        char *want = NULL;
        int wl = redisFormatCommandArgv(&want, argc, argv, with_lens ? lens : NULL);
        assert_int_equal(gw_resp_argv(&r, argc, argv, with_lens ? lens : NULL), 0);
        same(&r, want, wl);
        assert_ptr_equal(r.p, r.stack);
        gw_resp_clear(&r);
        redisFreeCommand(want);
    }
    /* past the stack buffer: on the heap, freed by gw_resp_clear (ASan sees a leak) */
    const char *long_argv[] = {"SET", "k", big};
    size_t long_lens[] = {3, 1, LONG_ARG};
    gw_resp r;
    char *want = NULL;
    int wl = redisFormatCommandArgv(&want, 3, long_argv, long_lens);
    assert_int_equal(gw_resp_argv(&r, 3, long_argv, long_lens), 0);
    same(&r, want, wl);
    assert_ptr_not_equal(r.p, r.stack);
    gw_resp_clear(&r);
    assert_null(r.p);
    redisFreeCommand(want);
    assert_int_equal(gw_resp_argv(&r, 0, argv, NULL), MC_EINVAL);
    free(big);
}

static void test_formats_as_hiredis(void **state) {
    (void)state;
    CHECK_FMT("HSET %s status %s at %ld", "mc:{p3.0}:dlv:zalo:m1", "sent", 1796319389514L);
    CHECK_FMT("SADD %s dossier:%s", "mc:{p0.41}:subs:sms:+8490", "000.00.25.H29-231122-0001");
    CHECK_FMT("SET %s", "");                       /* an empty argument */
    CHECK_FMT("  GET   %s  x ", "a b");            /* several spaces; a space inside a value */
    CHECK_FMT("SET k %b", "a\0 \r\nb", (size_t)6); /* binary */
    CHECK_FMT("SET k %b", "", (size_t)0);
    CHECK_FMT("ECHO 100%% a%"); /* "%%", and a '%' last in the format */
    CHECK_FMT("%d %i %u", INT_MIN, INT_MAX, UINT_MAX);
    CHECK_FMT("%ld %li %lu", LONG_MIN, -1L, ULONG_MAX);
    CHECK_FMT("%lld %lli %llu", LLONG_MIN, 0LL, ULLONG_MAX);
    CHECK_FMT("EXPIRE %s %d", "k", 604800);
    CHECK_FMT("x%dy%s%uz", -5, "mid", 7u); /* directives inside one argument */
    char big[LONG_ARG + 1];
    memset(big, 'y', LONG_ARG);
    big[LONG_ARG] = '\0';
    CHECK_FMT("SET %s %s", "k", big); /* past the stack buffer */
    /* %zu and %zd: hiredis reads them as a pointer-sized value, the same on this ABI */
    gw_resp r;
    assert_int_equal(ours(&r, "%zu %zd", (size_t)SIZE_MAX, (ptrdiff_t)-3), 0);
    char want[64];
    int n = snprintf(want, sizeof want, "*2\r\n$%zu\r\n%zu\r\n$2\r\n-3\r\n",
                     strlen("18446744073709551615"), (size_t)SIZE_MAX);
    same(&r, want, n);
    gw_resp_clear(&r);
}

static void test_left_to_hiredis_or_refused(void **state) {
    (void)state;
    gw_resp r;
    assert_int_equal(ours(&r, "SET k %x", 255), GW_RESP_OTHER);
    assert_null(r.p);
    assert_int_equal(ours(&r, "SET k %.6g", 1.5), GW_RESP_OTHER);
    assert_int_equal(ours(&r, "SET k %5d", 1), GW_RESP_OTHER);
    assert_int_equal(ours(&r, "   "), MC_EINVAL);
    char many[512] = "";
    for (int i = 0; i < 70; i++)
        strcat(many, "a ");
    assert_int_equal(ours(&r, many), MC_EINVAL);
    assert_null(r.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv_as_hiredis),
        cmocka_unit_test(test_formats_as_hiredis),
        cmocka_unit_test(test_left_to_hiredis_or_refused),
    };
    return cmocka_run_group_tests_name("gw_resp", tests, NULL, NULL);
}
