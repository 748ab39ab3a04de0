/*
 * gw_officer.h — what an officer's account is made of, without Redis: user names and
 * roles, passwords (Argon2id, Debian's libargon2), one-time passwords, TOTP second
 * factors (RFC 6238 through Debian's liboath) and their enrolment QR code (an SVG drawn
 * with libqrencode), the random secrets of console sessions and CSRF tokens, and the
 * form of the API keys departments make. Pure functions: the API (api/) and the
 * `motcua officer` command (gateway/gw_officer_cli.c) share them.
 *
 * Contract: shared/spec/officers.md. Every secret comes from OpenSSL's RAND_bytes.
 */
#ifndef GW_OFFICER_H
#define GW_OFFICER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_OFF_USER_MAX 64          /* a user name, bytes */
#define GW_OFF_PASSWORD_MIN 12      /* a password, characters at least (the spec) */
#define GW_OFF_PASSWORD_MAX 256     /* ... bytes at most */
#define GW_OFF_HASH_MAX 160         /* an encoded Argon2id hash, with its NUL */
#define GW_OFF_OTP_LEN 16           /* a one-time password, characters */
#define GW_OFF_TOTP_SECRET_BYTES 20 /* a TOTP secret: 160 bits, RFC 4226's advice */
#define GW_OFF_TOTP_B32_MAX 64      /* its base32 text, with its NUL */
#define GW_OFF_TOTP_STEP_S 30       /* RFC 6238 time step */
#define GW_OFF_TOTP_DIGITS 6        /* digits of a code */
#define GW_OFF_TOTP_WINDOW 1        /* steps of clock drift accepted either way */
#define GW_OFF_TOTP_URI_MAX 256     /* an otpauth:// URI, with its NUL */
#define GW_OFF_SECRET_BYTES 16      /* a session id or a CSRF token: 128 random bits */
#define GW_OFF_SECRET_HEX (2 * GW_OFF_SECRET_BYTES + 1) /* ... in hex, with its NUL */
#define GW_OFF_KEY_NAME_MAX 64                          /* an API key's name, bytes */
#define GW_OFF_KEY_SECRET_BYTES 32                      /* an API key's random part */
#define GW_OFF_KEY_PREFIX "mck1."                       /* what API keys made here start with */
#define GW_OFF_KEY_MAX 160                              /* an API key, with its NUL */

/* Argon2id's cost: OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane). */
#define GW_OFF_ARGON2_T 2         /* passes */
#define GW_OFF_ARGON2_M_KIB 19456 /* memory, KiB */
#define GW_OFF_ARGON2_P 1         /* lanes */
#define GW_OFF_ARGON2_SALT 16     /* salt bytes */
#define GW_OFF_ARGON2_LEN 32      /* hash bytes */

/* Roles, each allowed what the one below may do and more (officers.md). */
typedef enum gw_off_role {
    GW_OFF_NOBODY = 0,  /* no role: a route for people none may use */
    GW_OFF_VIEWER = 1,  /* reads */
    GW_OFF_OFFICER = 2, /* also dossier events, notifications, subscriptions, reports */
    GW_OFF_ADMIN = 3,   /* also broadcasts, templates, officers, API keys, the audit trail */
} gw_off_role;

/* The role named s ("viewer", "officer", "admin"), or GW_OFF_NOBODY. */
gw_off_role gw_off_role_parse(const char *s);
/* Its name; "" for GW_OFF_NOBODY. */
const char *gw_off_role_name(gw_off_role r);

/* A user name: 1..GW_OFF_USER_MAX bytes of a-z 0-9 . _ - @, starting with a letter or digit
 * (names are unique across the city: the sign-in form has no department field). */
bool gw_off_user_ok(const char *s, size_t len);
/* An API key's name: 1..GW_OFF_KEY_NAME_MAX bytes of a-z A-Z 0-9 . _ -. */
bool gw_off_key_name_ok(const char *s, size_t len);

/* The password rules: valid UTF-8 without control characters, GW_OFF_PASSWORD_MIN
 * characters at least, GW_OFF_PASSWORD_MAX bytes at most. 0, or MC_EINVAL with a reason
 * for a person in why. */
int gw_off_password_ok(const char *pw, size_t len, char *why, size_t wn);

/* pw hashed with Argon2id and a fresh salt, encoded ("$argon2id$v=19$m=...") into out.
 * 0, or MC_ENOMEM / MC_EINVAL. Slow on purpose (tens of ms): never on the loop. */
int gw_off_password_hash(const char *pw, size_t len, char out[GW_OFF_HASH_MAX]);
/* 0 when pw matches the encoded hash; MC_EINVAL when it does not or the hash is not an
 * Argon2id one (encoded NULL or "": checked against gw_off_dummy_hash, always
 * MC_EINVAL, as slow as a real check). Slow on purpose: never on the loop. */
int gw_off_password_verify(const char *encoded, const char *pw, size_t len);
/* A hash of a password nobody knows, made once with the costs above: what a sign-in
 * with an unknown user is checked against, so that it takes as long as a known one. */
const char *gw_off_dummy_hash(void);

/* A one-time password: GW_OFF_OTP_LEN characters of an alphabet without look-alikes
 * (about 5 bits each), NUL-terminated. */
void gw_off_otp(char out[GW_OFF_OTP_LEN + 1]);

/* A fresh TOTP secret of GW_OFF_TOTP_SECRET_BYTES, in base32 without padding. 0 or
 * MC_ENOMEM. */
int gw_off_totp_secret(char out[GW_OFF_TOTP_B32_MAX]);
/* otpauth://totp/motcua:USER?secret=B32&issuer=motcua into out. 0 or MC_ETOOBIG. */
int gw_off_totp_uri(const char *user, const char *b32, char *out, size_t n);
/* The code of the step holding unix time now_s (tests, the demo). 0 or MC_EINVAL. */
int gw_off_totp_code(const char *b32, int64_t now_s, char out[GW_OFF_TOTP_DIGITS + 1]);
/* Checks a code typed at unix time now_s against the secret, one step of drift either
 * way: 0 with *step the counter (unix time / 30) of the step it belongs to (the caller
 * refuses a step already used); MC_EINVAL for a wrong or malformed code. */
int gw_off_totp_check(const char *b32, int64_t now_s, const char *code, uint64_t *step);

/* text as a QR code (error correction M) drawn as a standalone SVG: a new string the
 * caller frees, or NULL (memory, or text too long for a QR code). */
char *gw_off_qr_svg(const char *text);

/* GW_OFF_SECRET_BYTES random bytes in lower-case hex (a session id, a CSRF token). */
void gw_off_secret(char out[GW_OFF_SECRET_HEX]);
/* true when a and b (NUL-terminated) are equal, in a time that depends only on their
 * lengths. */
bool gw_off_same(const char *a, const char *b);

/* A new API key of department dept: GW_OFF_KEY_PREFIX dept "." 64 hex digits. 0 or
 * MC_ETOOBIG. */
int gw_off_key_new(const char *dept, char out[GW_OFF_KEY_MAX]);
/* The department an API key made here names, into dept (n bytes): 0, or MC_EINVAL when
 * token is not of that form. */
int gw_off_key_dept(const char *token, size_t len, char *dept, size_t n);

/* ------------------------------------------------------- the store's scripts */

/*
 * The Lua bodies both the API and `motcua officer` run (after the keyspace's prelude;
 * store/gw_script.h). Each touches one partition: the login index is in the partition of
 * "login:<user>", everything else of an officer in its department's ("dept:<dept>").
 *
 * gw_off_login_lua     KEYS[1] login; ARGV dept. Claims the user name for dept: 1, or 0
 *                      when another department has it.
 * gw_off_add_lua       KEYS[1] officer, KEYS[2] officers; ARGV user, role, areas, password
 *                      hash, TOTP secret, now, by. 1 created; 0 it exists.
 * gw_off_set_lua       KEYS[1] officer; ARGV role ("" = same), areas ("" = same), now.
 *                      {-2} none; {1, role before, areas before}.
 * gw_off_state_lua     KEYS[1] officer; ARGV "enabled"|"disabled", now. {-2} none; {0}
 *                      already so; {1}: disabling also ends every session (gen + 1).
 * gw_off_reset_lua     KEYS[1] officer; ARGV password hash, TOTP secret, now. {-2} none;
 *                      {1}: a new one-time password and TOTP secret, every session ended.
 * gw_off_list_lua      KEYS[1] officers; ARGV dept. {user, role, areas, state, created_ms,
 *                      created_by, last_sign_in_ms, must_change} for each, oldest first.
 */
/*
 * gw_off_audit_lua     KEYS[1] a department's audit trail; ARGV now (ms), the oldest ms
 *                      kept, then field/value pairs. The entry's id is max(now, the last
 *                      entry's ms) with Redis's sequence: ids never go back, even when the
 *                      clocks of several processes disagree; older entries are trimmed.
 */
extern const char gw_off_audit_lua[];
extern const char gw_off_login_lua[];
extern const char gw_off_add_lua[];
extern const char gw_off_set_lua[];
extern const char gw_off_state_lua[];
extern const char gw_off_reset_lua[];
extern const char gw_off_list_lua[];
#define GW_OFF_LIST_FIELDS 8 /* values per officer in gw_off_list_lua's answer */

#endif
