/*
 * test_gw_officer.c — officers' secrets (gateway/api/gw_officer.c): Argon2id passwords
 * (hash, verify, the dummy hash of unknown users), the password rules, TOTP against
 * RFC 6238's SHA-1 vectors and its drift window, the enrolment URI and QR code, session
 * ids and CSRF tokens (random, compared in constant time), one-time passwords, user and
 * key names, and the form of API keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/mc.h"
#include "gateway/api/gw_officer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 6238 appendix B: the SHA-1 seed "12345678901234567890", in base32. */
#define RFC_SECRET "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

static void test_rfc6238_vectors(void **state) {
    (void)state;
    /* the RFC's 8-digit values, of which a 6-digit code is the last six digits */
    static const struct {
        int64_t t;
        const char *code;
    } v[] = {
        {59, "287082"},         {1111111109, "081804"}, {1111111111, "050471"},
        {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(v); i++) {
        char code[GW_OFF_TOTP_DIGITS + 1];
        assert_int_equal(gw_off_totp_code(RFC_SECRET, v[i].t, code), 0);
        assert_string_equal(code, v[i].code);
        uint64_t step = 0;
        assert_int_equal(gw_off_totp_check(RFC_SECRET, v[i].t, v[i].code, &step), 0);
        assert_true(step == (uint64_t)(v[i].t / GW_OFF_TOTP_STEP_S));
    }
}

static void test_totp_window(void **state) {
    (void)state;
    const int64_t t = 1234567890; /* step 41152263, code 005924 */
    uint64_t step;
    /* one step of drift either way is accepted, and says which step the code was */
    assert_int_equal(gw_off_totp_check(RFC_SECRET, t + 30, "005924", &step), 0);
    assert_true(step == 41152263);
    assert_int_equal(gw_off_totp_check(RFC_SECRET, t - 30, "005924", &step), 0);
    assert_true(step == 41152263);
    /* two steps are not */
    assert_int_equal(gw_off_totp_check(RFC_SECRET, t + 60, "005924", &step), MC_EINVAL);
    assert_int_equal(gw_off_totp_check(RFC_SECRET, t - 60, "005924", &step), MC_EINVAL);
    /* malformed codes and secrets */
    assert_int_equal(gw_off_totp_check(RFC_SECRET, t, "5924", &step), MC_EINVAL);
    assert_int_equal(gw_off_totp_check(RFC_SECRET, t, "0059245", &step), MC_EINVAL);
    assert_int_equal(gw_off_totp_check(RFC_SECRET, t, "00592a", &step), MC_EINVAL);
    assert_int_equal(gw_off_totp_check(RFC_SECRET, t, "", &step), MC_EINVAL);
    assert_int_equal(gw_off_totp_check(RFC_SECRET, t, NULL, &step), MC_EINVAL);
    assert_int_equal(gw_off_totp_check("", t, "005924", &step), MC_EINVAL);
    assert_int_equal(gw_off_totp_check("not base32!", t, "005924", &step), MC_EINVAL);
    /* another secret's code */
    assert_int_equal(gw_off_totp_check("JBSWY3DPEHPK3PXP", t, "005924", &step), MC_EINVAL);
}

static void test_totp_secret_and_uri(void **state) {
    (void)state;
    char a[GW_OFF_TOTP_B32_MAX], b[GW_OFF_TOTP_B32_MAX], uri[GW_OFF_TOTP_URI_MAX];
    assert_int_equal(gw_off_totp_secret(a), 0);
    assert_int_equal(gw_off_totp_secret(b), 0);
    assert_int_equal(strlen(a), 32); /* 160 bits */
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32);
    assert_string_not_equal(a, b);
    /* a fresh secret's own code checks */
    char code[GW_OFF_TOTP_DIGITS + 1];
    uint64_t step;
    assert_int_equal(gw_off_totp_code(a, 1700000000, code), 0);
    assert_int_equal(gw_off_totp_check(a, 1700000000, code, &step), 0);
    assert_int_equal(gw_off_totp_uri("an.nguyen", a, uri, sizeof uri), 0);
    char want[GW_OFF_TOTP_URI_MAX];
    snprintf(want, sizeof want, "otpauth://totp/motcua:an.nguyen?secret=%s&issuer=motcua", a);
    assert_string_equal(uri, want);
    assert_int_equal(gw_off_totp_uri("an@phuong", "ABC", uri, sizeof uri), 0);
    assert_string_equal(uri, "otpauth://totp/motcua:an%40phuong?secret=ABC&issuer=motcua");
    assert_int_equal(gw_off_totp_uri("an", a, uri, 20), MC_ETOOBIG);
}

static void test_qr_svg(void **state) {
    (void)state;
    char *svg = gw_off_qr_svg("otpauth://totp/motcua:an?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
                              "&issuer=motcua");
    assert_non_null(svg);
    assert_true(!strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 38));
    assert_non_null(strstr(svg, "</svg>"));
    /* dark modules as unit squares, inside the quiet zone */
    assert_non_null(strstr(svg, "h1v1h-1z"));
    int side = 0;
    assert_int_equal(sscanf(strstr(svg, "viewBox=\"0 0 "), "viewBox=\"0 0 %d", &side), 1);
    assert_true(side >= 21 + 8 && (side - 8 - 17) % 4 == 0); /* a QR version's width */
    free(svg);
}

static void test_password_hash_verify(void **state) {
    (void)state;
    char h1[GW_OFF_HASH_MAX], h2[GW_OFF_HASH_MAX];
    const char *pw = "mật khẩu dài đủ rồi";
    assert_int_equal(gw_off_password_hash(pw, strlen(pw), h1), 0);
    assert_int_equal(gw_off_password_hash(pw, strlen(pw), h2), 0);
    assert_true(!strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31));
    assert_string_not_equal(h1, h2); /* a fresh salt each time */
    assert_int_equal(gw_off_password_verify(h1, pw, strlen(pw)), 0);
    assert_int_equal(gw_off_password_verify(h2, pw, strlen(pw)), 0);
    assert_int_equal(gw_off_password_verify(h1, "mật khẩu dài đủ rồI", strlen(pw)), MC_EINVAL);
    assert_int_equal(gw_off_password_verify(h1, pw, strlen(pw) - 1), MC_EINVAL);
    assert_int_equal(gw_off_password_verify(h1, "", 0), MC_EINVAL);
    /* no hash (an unknown user) or another kind of hash: checked against the dummy, never a
     * match */
    assert_int_equal(gw_off_password_verify(NULL, pw, strlen(pw)), MC_EINVAL);
    assert_int_equal(gw_off_password_verify("", pw, strlen(pw)), MC_EINVAL);
    assert_int_equal(gw_off_password_verify("$2y$10$abc", pw, strlen(pw)), MC_EINVAL);
    const char *d = gw_off_dummy_hash();
    assert_true(!strncmp(d, "$argon2id$v=19$m=19456,t=2,p=1$", 31));
    assert_ptr_equal(d, gw_off_dummy_hash()); /* made once */
}

static void test_password_rules(void **state) {
    (void)state;
    char why[128];
    assert_int_equal(gw_off_password_ok("abcdefghijk", 11, why, sizeof why), MC_EINVAL);
    assert_non_null(strstr(why, "12"));
    assert_int_equal(gw_off_password_ok("abcdefghijkl", 12, why, sizeof why), 0);
    /* characters, not bytes: 12 Vietnamese letters of 2-3 bytes each */
    const char *vi = "đường phố ẩm"; /* 12 characters */
    assert_int_equal(gw_off_password_ok(vi, strlen(vi), why, sizeof why), 0);
    const char *short_vi = "đường phố ẩ"; /* 11 characters, 17 bytes */
    assert_int_equal(gw_off_password_ok(short_vi, strlen(short_vi), why, sizeof why), MC_EINVAL);
    assert_int_equal(gw_off_password_ok("abcdefghijk\nl", 13, why, sizeof why), MC_EINVAL);
    assert_int_equal(gw_off_password_ok("abcdefghijk\xff\xfe", 13, why, sizeof why), MC_EINVAL);
    char big[GW_OFF_PASSWORD_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(gw_off_password_ok(big, GW_OFF_PASSWORD_MAX + 1, why, sizeof why), MC_EINVAL);
    assert_int_equal(gw_off_password_ok(big, GW_OFF_PASSWORD_MAX, why, sizeof why), 0);
}

#define SECRETS 2000

static int cmp_str(const void *a, const void *b) {
    return strcmp(a, b);
}

static void test_session_ids_and_csrf(void **state) {
    (void)state;
    char(*ids)[GW_OFF_SECRET_HEX] = calloc(SECRETS, sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < SECRETS; i++) {
        gw_off_secret(ids[i]);
        assert_int_equal(strlen(ids[i]), 32); /* 128 bits */
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), 32);
    }
    qsort(ids, SECRETS, sizeof *ids, cmp_str);
    for (size_t i = 1; i < SECRETS; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    /* every hex digit shows up in every position over 2000 draws: not a counter */
    for (size_t pos = 0; pos < 32; pos++) {
        unsigned seen = 0;
        for (size_t i = 0; i < SECRETS; i++)
            seen |= 1u << (ids[i][pos] <= '9' ? ids[i][pos] - '0' : ids[i][pos] - 'a' + 10);
        assert_int_equal(seen, 0xffffu);
    }
    /* a CSRF header is checked with gw_off_same: equal strings only, never empty */
    char csrf[GW_OFF_SECRET_HEX], other[GW_OFF_SECRET_HEX];
    gw_off_secret(csrf);
    gw_off_secret(other);
    char copy[GW_OFF_SECRET_HEX];
    memcpy(copy, csrf, sizeof copy);
    assert_true(gw_off_same(copy, csrf));
    assert_false(gw_off_same(other, csrf));
    copy[31] = copy[31] == 'a' ? 'b' : 'a';
    assert_false(gw_off_same(copy, csrf));
    copy[31] = '\0';
    assert_false(gw_off_same(copy, csrf)); /* a prefix */
    assert_false(gw_off_same("", ""));
    assert_false(gw_off_same("", csrf));
    free(ids);
}

static void test_otp(void **state) {
    (void)state;
    char a[GW_OFF_OTP_LEN + 1], b[GW_OFF_OTP_LEN + 1], why[64];
    gw_off_otp(a);
    gw_off_otp(b);
    assert_int_equal(strlen(a), GW_OFF_OTP_LEN);
    assert_int_equal(strspn(a, "abcdefghijkmnpqrstuvwxyz23456789"), GW_OFF_OTP_LEN);
    assert_string_not_equal(a, b);
    assert_int_equal(gw_off_password_ok(a, strlen(a), why, sizeof why), 0); /* a valid password */
}

static void test_names(void **state) {
    (void)state;
    assert_true(gw_off_user_ok("an.nguyen", 9));
    assert_true(gw_off_user_ok("an@ben-thanh_2", 14));
    assert_false(gw_off_user_ok("", 0));
    assert_false(gw_off_user_ok(".an", 3));
    assert_false(gw_off_user_ok("An", 2));        /* lower case only */
    assert_false(gw_off_user_ok("an nguyen", 9)); /* no spaces */
    assert_false(gw_off_user_ok("an:x", 4));      /* no colon: it ends up in keys */
    assert_false(gw_off_user_ok("a\0b", 3));
    char big[GW_OFF_USER_MAX + 2];
    memset(big, 'a', sizeof big);
    assert_true(gw_off_user_ok(big, GW_OFF_USER_MAX));
    assert_false(gw_off_user_ok(big, GW_OFF_USER_MAX + 1));
    assert_int_equal(gw_off_role_parse("viewer"), GW_OFF_VIEWER);
    assert_int_equal(gw_off_role_parse("officer"), GW_OFF_OFFICER);
    assert_int_equal(gw_off_role_parse("admin"), GW_OFF_ADMIN);
    assert_int_equal(gw_off_role_parse("root"), GW_OFF_NOBODY);
    assert_int_equal(gw_off_role_parse(""), GW_OFF_NOBODY);
    assert_int_equal(gw_off_role_parse(NULL), GW_OFF_NOBODY);
    assert_string_equal(gw_off_role_name(GW_OFF_ADMIN), "admin");
    assert_true(gw_off_key_name_ok("he-thong-mot-cua_1.2", 20));
    assert_false(gw_off_key_name_ok("a/b", 3));
    assert_false(gw_off_key_name_ok("", 0));
}

static void test_api_keys(void **state) {
    (void)state;
    char k1[GW_OFF_KEY_MAX], k2[GW_OFF_KEY_MAX], dept[65];
    assert_int_equal(gw_off_key_new("ubnd-ben-thanh", k1), 0);
    assert_int_equal(gw_off_key_new("ubnd-ben-thanh", k2), 0);
    assert_string_not_equal(k1, k2);
    assert_true(!strncmp(k1, "mck1.ubnd-ben-thanh.", 20));
    assert_int_equal(strlen(k1), 20 + 64);
    assert_int_equal(gw_off_key_dept(k1, strlen(k1), dept, sizeof dept), 0);
    assert_string_equal(dept, "ubnd-ben-thanh");
    /* a department with dots: the secret is what follows the last one */
    assert_int_equal(gw_off_key_new("so.tu.phap", k1), 0);
    assert_int_equal(gw_off_key_dept(k1, strlen(k1), dept, sizeof dept), 0);
    assert_string_equal(dept, "so.tu.phap");
    /* not of that form */
    assert_int_equal(gw_off_key_dept("demo-so-tu-phap-2026", 20, dept, sizeof dept), MC_EINVAL);
    k2[strlen(k2) - 1] = 'X';
    assert_int_equal(gw_off_key_dept(k2, strlen(k2), dept, sizeof dept), MC_EINVAL);
    char nodept[] = "mck1..0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_int_equal(gw_off_key_dept(nodept, strlen(nodept), dept, sizeof dept), MC_EINVAL);
    char upper[] = "mck1.Dept.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_int_equal(gw_off_key_dept(upper, strlen(upper), dept, sizeof dept), MC_EINVAL);
    assert_int_equal(gw_off_key_dept(k1, strlen(k1), dept, 4), MC_EINVAL); /* does not fit */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6238_vectors),
        cmocka_unit_test(test_totp_window),
        cmocka_unit_test(test_totp_secret_and_uri),
        cmocka_unit_test(test_qr_svg),
        cmocka_unit_test(test_password_hash_verify),
        cmocka_unit_test(test_password_rules),
        cmocka_unit_test(test_session_ids_and_csrf),
        cmocka_unit_test(test_otp),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_api_keys),
    };
    return cmocka_run_group_tests_name("gw_officer", tests, NULL, NULL);
}
