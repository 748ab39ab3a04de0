/*
 * gw_officer.c — officers' secrets without Redis (gw_officer.h): Argon2id passwords,
 * one-time passwords, TOTP codes and their QR code, session and CSRF secrets, API key
 * forms.
 *
 * Big idea: nothing here remembers anything, and everything that must be slow (Argon2id)
 * or must not leak through timing (comparisons) is in one place, so the API and the
 * command line cannot drift apart. The dummy hash gives an unknown user the same cost as
 * a known one: one Argon2id check with the same parameters.
 */
#include "gateway/api/gw_officer.h"

#include "core/mc.h"
#include "vi-nlp/vn_utf8.h"

#include <argon2.h>
#include <oath.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVG_MODULE 4      /* pixels of one QR module in the SVG's view box */
#define SVG_QUIET 4       /* modules of white border the QR specification asks for */
#define SVG_MAX (1 << 20) /* an SVG larger than this is a bug */

/* --------------------------------------------------------------- names */

static const char *const role_names[] = {"", "viewer", "officer", "admin"};

gw_off_role gw_off_role_parse(const char *s) {
    for (int r = GW_OFF_VIEWER; s && r <= GW_OFF_ADMIN; r++)
        if (!strcmp(s, role_names[r]))
            return (gw_off_role)r;
    return GW_OFF_NOBODY;
}

const char *gw_off_role_name(gw_off_role r) {
    return (unsigned)r < MC_ARRAY_LEN(role_names) ? role_names[r] : "";
}

bool gw_off_user_ok(const char *s, size_t len) {
    if (len == 0 || len > GW_OFF_USER_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || !strchr("._-@", c) || c == '\0'))
            return false;
    }
    return true;
}

bool gw_off_key_name_ok(const char *s, size_t len) {
    if (len == 0 || len > GW_OFF_KEY_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* ----------------------------------------------------------- passwords */

int gw_off_password_ok(const char *pw, size_t len, char *why, size_t wn) {
    if (len > GW_OFF_PASSWORD_MAX) {
        snprintf(why, wn, "a password is at most %d bytes", GW_OFF_PASSWORD_MAX);
        return MC_EINVAL;
    }
    if (!vn_utf8_valid(pw, len, NULL)) {
        snprintf(why, wn, "a password must be valid UTF-8");
        return MC_EINVAL;
    }
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pw[i];
        if (c < 0x20 || c == 0x7f) {
            snprintf(why, wn, "a password may not hold control characters");
            return MC_EINVAL;
        }
        chars += (c & 0xc0) != 0x80; /* a character starts at every non-continuation byte */
    }
    if (chars < GW_OFF_PASSWORD_MIN) {
        snprintf(why, wn, "a password has at least %d characters", GW_OFF_PASSWORD_MIN);
        return MC_EINVAL;
    }
    return 0;
}

int gw_off_password_hash(const char *pw, size_t len, char out[GW_OFF_HASH_MAX]) {
    unsigned char salt[GW_OFF_ARGON2_SALT];
    out[0] = '\0';
    if (len > GW_OFF_PASSWORD_MAX)
        return MC_EINVAL;
    if (RAND_bytes(salt, sizeof salt) != 1)
        return MC_ENOMEM;
    int rc = argon2id_hash_encoded(GW_OFF_ARGON2_T, GW_OFF_ARGON2_M_KIB, GW_OFF_ARGON2_P, pw, len,
                                   salt, sizeof salt, GW_OFF_ARGON2_LEN, out, GW_OFF_HASH_MAX);
    if (rc != ARGON2_OK) {
        out[0] = '\0';
        return rc == ARGON2_MEMORY_ALLOCATION_ERROR ? MC_ENOMEM : MC_EINVAL;
    }
    return 0;
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy[GW_OFF_HASH_MAX];

static void make_dummy(void) {
    char pw[GW_OFF_SECRET_HEX];
    gw_off_secret(pw); /* forgotten at once: nothing can match the dummy */
    if (gw_off_password_hash(pw, strlen(pw), dummy))
        dummy[0] = '\0';
    OPENSSL_cleanse(pw, sizeof pw);
}

const char *gw_off_dummy_hash(void) {
    pthread_once(&dummy_once, make_dummy);
    return dummy;
}

int gw_off_password_verify(const char *encoded, const char *pw, size_t len) {
    bool real = encoded && !strncmp(encoded, "$argon2id$", 10);
    const char *h = real ? encoded : gw_off_dummy_hash();
    if (len > GW_OFF_PASSWORD_MAX)
        len = GW_OFF_PASSWORD_MAX; /* as long as any other check, and never a match */
    if (!*h)
        return MC_EINVAL;
    int rc = argon2id_verify(h, pw, len);
    return real && rc == ARGON2_OK ? 0 : MC_EINVAL;
}

/* ----------------------------------------------------------- one-time */

void gw_off_otp(char out[GW_OFF_OTP_LEN + 1]) {
    /* 32 letters and digits without 0/O, 1/l/I: read aloud or copied by hand */
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
    unsigned char b[GW_OFF_OTP_LEN];
    if (RAND_bytes(b, sizeof b) != 1)
        abort(); /* no randomness: no secret may be made at all */
    for (size_t i = 0; i < GW_OFF_OTP_LEN; i++)
        out[i] = alphabet[b[i] % 32];
    out[GW_OFF_OTP_LEN] = '\0';
    OPENSSL_cleanse(b, sizeof b);
}

void gw_off_secret(char out[GW_OFF_SECRET_HEX]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char b[GW_OFF_SECRET_BYTES];
    if (RAND_bytes(b, sizeof b) != 1)
        abort();
    for (size_t i = 0; i < sizeof b; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * sizeof b] = '\0';
    OPENSSL_cleanse(b, sizeof b);
}

bool gw_off_same(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb || la == 0)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}

/* ---------------------------------------------------------------- TOTP */

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;
static int oath_ready;

static void init_oath(void) {
    oath_ready = oath_init() == OATH_OK;
}

int gw_off_totp_secret(char out[GW_OFF_TOTP_B32_MAX]) {
    unsigned char raw[GW_OFF_TOTP_SECRET_BYTES];
    char *b32 = NULL;
    size_t n = 0;
    pthread_once(&oath_once, init_oath);
    out[0] = '\0';
    if (!oath_ready || RAND_bytes(raw, sizeof raw) != 1 ||
        oath_base32_encode((const char *)raw, sizeof raw, &b32, &n) != OATH_OK) {
        OPENSSL_cleanse(raw, sizeof raw);
        return MC_ENOMEM;
    }
    OPENSSL_cleanse(raw, sizeof raw);
    while (n && b32[n - 1] == '=') /* 20 bytes are 32 characters: no padding, but be sure */
        n--;
    int rc = n < GW_OFF_TOTP_B32_MAX ? 0 : MC_ETOOBIG;
    if (!rc)
        snprintf(out, GW_OFF_TOTP_B32_MAX, "%.*s", (int)n, b32);
    OPENSSL_cleanse(b32, n);
    free(b32);
    return rc;
}

/* The raw secret of a base32 text: *raw (caller frees, after cleansing) and *len. */
static int decode_secret(const char *b32, char **raw, size_t *len) {
    pthread_once(&oath_once, init_oath);
    *raw = NULL;
    if (!oath_ready || !b32 || !*b32 || strlen(b32) >= GW_OFF_TOTP_B32_MAX)
        return MC_EINVAL;
    return oath_base32_decode(b32, strlen(b32), raw, len) == OATH_OK ? 0 : MC_EINVAL;
}

int gw_off_totp_uri(const char *user, const char *b32, char *out, size_t n) {
    /* user names are of [a-z0-9._-@]: only '@' needs escaping in the label */
    char label[3 * GW_OFF_USER_MAX + 1];
    size_t k = 0;
    for (const char *p = user; *p && k + 4 < sizeof label; p++) {
        if (*p == '@')
            k += (size_t)snprintf(label + k, sizeof label - k, "%%40");
        else
            label[k++] = *p;
    }
    label[k] = '\0';
    int w = snprintf(out, n, "otpauth://totp/motcua:%s?secret=%s&issuer=motcua", label, b32);
    return w > 0 && (size_t)w < n ? 0 : MC_ETOOBIG;
}

int gw_off_totp_code(const char *b32, int64_t now_s, char out[GW_OFF_TOTP_DIGITS + 1]) {
    char *raw;
    size_t len;
    out[0] = '\0';
    if (decode_secret(b32, &raw, &len))
        return MC_EINVAL;
    int rc = oath_totp_generate(raw, len, (time_t)now_s, GW_OFF_TOTP_STEP_S,
                                OATH_TOTP_DEFAULT_START_TIME, GW_OFF_TOTP_DIGITS, out);
    OPENSSL_cleanse(raw, len);
    free(raw);
    return rc == OATH_OK ? 0 : MC_EINVAL;
}

int gw_off_totp_check(const char *b32, int64_t now_s, const char *code, uint64_t *step) {
    char *raw;
    size_t len;
    *step = 0;
    if (!code || strlen(code) != GW_OFF_TOTP_DIGITS ||
        strspn(code, "0123456789") != GW_OFF_TOTP_DIGITS || decode_secret(b32, &raw, &len))
        return MC_EINVAL;
    int pos = 0;
    uint64_t counter = 0;
    int rc =
        oath_totp_validate3(raw, len, (time_t)now_s, GW_OFF_TOTP_STEP_S,
                            OATH_TOTP_DEFAULT_START_TIME, GW_OFF_TOTP_WINDOW, &pos, &counter, code);
    OPENSSL_cleanse(raw, len);
    free(raw);
    if (rc < 0)
        return MC_EINVAL;
    *step = counter;
    return 0;
}

/* ------------------------------------------------------------------ QR */

char *gw_off_qr_svg(const char *text) {
    QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!q)
        return NULL;
    int side = q->width + 2 * SVG_QUIET;
    size_t cap = 512 + (size_t)q->width * (size_t)q->width * 24;
    char *svg = cap < SVG_MAX ? malloc(cap) : NULL;
    if (!svg) {
        QRcode_free(q);
        return NULL;
    }
    /* one path of unit squares in module coordinates, scaled by the view box */
    size_t n = (size_t)snprintf(svg, cap,
                                "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                                "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\" "
                                "role=\"img\" aria-label=\"TOTP QR\">"
                                "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path d=\"",
                                side, side, side * SVG_MODULE, side * SVG_MODULE, side, side);
    for (int y = 0; y < q->width; y++)
        for (int x = 0; x < q->width; x++)
            if (q->data[y * q->width + x] & 1) /* bit 0: a dark module */
                n += (size_t)snprintf(svg + n, cap - n, "M%d %dh1v1h-1z", x + SVG_QUIET,
                                      y + SVG_QUIET);
    n += (size_t)snprintf(svg + n, cap - n, "\" fill=\"#000\"/></svg>");
    QRcode_free(q);
    if (n >= cap) {
        free(svg);
        return NULL;
    }
    return svg;
}

/* ------------------------------------------------------------- API keys */

int gw_off_key_new(const char *dept, char out[GW_OFF_KEY_MAX]) {
    char a[GW_OFF_SECRET_HEX], b[GW_OFF_SECRET_HEX];
    gw_off_secret(a);
    gw_off_secret(b);
    int w = snprintf(out, GW_OFF_KEY_MAX, GW_OFF_KEY_PREFIX "%s.%s%s", dept, a, b);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
    if (w <= 0 || w >= GW_OFF_KEY_MAX) {
        OPENSSL_cleanse(out, GW_OFF_KEY_MAX);
        out[0] = '\0';
        return MC_ETOOBIG;
    }
    return 0;
}

int gw_off_key_dept(const char *token, size_t len, char *dept, size_t n) {
    const size_t pre = sizeof GW_OFF_KEY_PREFIX - 1, secret = 2 * GW_OFF_KEY_SECRET_BYTES;
    dept[0] = '\0';
    if (len <= pre + 1 + secret || len >= GW_OFF_KEY_MAX || memcmp(token, GW_OFF_KEY_PREFIX, pre))
        return MC_EINVAL;
    const char *dot = token + len - secret - 1;
    if (*dot != '.' || strspn(dot + 1, "0123456789abcdef") < secret)
        return MC_EINVAL;
    size_t dl = (size_t)(dot - token) - pre;
    if (dl == 0 || dl >= n)
        return MC_EINVAL;
    for (size_t i = 0; i < dl; i++) {
        char c = token[pre + i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return MC_EINVAL;
    }
    memcpy(dept, token + pre, dl);
    dept[dl] = '\0';
    return 0;
}

/* ------------------------------------------------------- the store's scripts */

const char gw_off_audit_lua[] =
    "local ms=tonumber(ARGV[1])\n"
    "local last=redis.call('XREVRANGE',KEYS[1],'+','-','COUNT',1)\n"
    "if #last>0 then\n"
    "  local l=tonumber(string.match(last[1][1],'^(%d+)')) or 0\n"
    "  if l>ms then ms=l end\n"
    "end\n"
    "local a={'XADD',KEYS[1],'MINID','~',ARGV[2],string.format('%d-*',ms)}\n"
    "for i=3,#ARGV do a[#a+1]=ARGV[i] end\n"
    "return redis.call(unpack(a))\n";

const char gw_off_login_lua[] = "local d=redis.call('GET',KEYS[1])\n"
                                "if d and d~=ARGV[1] then return 0 end\n"
                                "redis.call('SET',KEYS[1],ARGV[1])\n"
                                "return 1\n";

const char gw_off_add_lua[] =
    "if redis.call('EXISTS',KEYS[1])==1 then return 0 end\n"
    "redis.call('HSET',KEYS[1],'user',ARGV[1],'role',ARGV[2],'areas',ARGV[3],'pw',ARGV[4],\n"
    "  'totp',ARGV[5],'totp_step','0','state','enabled','gen','1','must_change','1',\n"
    "  'created_ms',ARGV[6],'created_by',ARGV[7],'updated_ms',ARGV[6])\n"
    "redis.call('ZADD',KEYS[2],ARGV[6],ARGV[1])\n"
    "return 1\n";

const char gw_off_set_lua[] = "local o=redis.call('HMGET',KEYS[1],'role','areas')\n"
                              "if not o[1] then return {-2} end\n"
                              "if ARGV[1]~='' then redis.call('HSET',KEYS[1],'role',ARGV[1]) end\n"
                              "if ARGV[2]~='' then redis.call('HSET',KEYS[1],'areas',ARGV[2]) end\n"
                              "redis.call('HSET',KEYS[1],'updated_ms',ARGV[3])\n"
                              "return {1,o[1],o[2] or ''}\n";

const char gw_off_state_lua[] =
    "local st=redis.call('HGET',KEYS[1],'state')\n"
    "if not st then return {-2} end\n"
    "if st==ARGV[1] then return {0} end\n"
    "redis.call('HSET',KEYS[1],'state',ARGV[1],'updated_ms',ARGV[2])\n"
    "if ARGV[1]=='disabled' then redis.call('HINCRBY',KEYS[1],'gen',1) end\n"
    "return {1}\n";

const char gw_off_reset_lua[] =
    "if redis.call('EXISTS',KEYS[1])==0 then return {-2} end\n"
    "redis.call('HSET',KEYS[1],'pw',ARGV[1],'totp',ARGV[2],'totp_step','0','must_change','1',\n"
    "  'updated_ms',ARGV[3])\n"
    "redis.call('HINCRBY',KEYS[1],'gen',1)\n"
    "return {1}\n";

const char gw_off_list_lua[] =
    "local out={}\n"
    "for _,u in ipairs(redis.call('ZRANGE',KEYS[1],0,-1)) do\n"
    "  local r=redis.call('HMGET',K.officer(ARGV[1],u),'role','areas','state','created_ms',\n"
    "    'created_by','last_sign_in_ms','must_change')\n"
    "  if r[1] then\n"
    "    out[#out+1]=u\n"
    "    for i=1,7 do out[#out+1]=r[i] or '' end\n"
    "  end\n"
    "end\n"
    "return out\n";
