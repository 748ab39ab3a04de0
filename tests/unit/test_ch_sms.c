/*
 * test_ch_sms.c — the SMS adapter: GSM-7 / UCS-2 segment counting on the
 * boundaries, Vietnamese numbers to E.164, Twilio signatures (Twilio's published
 * example and signatures computed here with OpenSSL the way Twilio does), Kannel
 * secrets, inbound texts and status callbacks of both styles, Twilio and Kannel
 * requests decoded field by field, cutting to max_segments, and every classify row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "channels/sms.h"
#include "core/mc.h"
#include "test_ch_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

/* Repeats a UTF-8 unit n times into a malloc'd string. */
static char *rep(const char *unit, size_t n, size_t *len) {
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    *len = ul * n;
    return s;
}

static ch_sms_info count(const char *unit, size_t n) {
    size_t len;
    char *s = rep(unit, n, &len);
    ch_sms_info info;
    assert_int_equal(ch_sms_count(s, len, &info), 0);
    free(s);
    return info;
}

static void counting(void **state) {
    (void)state;
    static const struct {
        const char *unit;     /* repeated n times */
        size_t n;             /* characters */
        const char *encoding; /* expected */
        size_t units;         /* septets (GSM-7) or UTF-16 units (UCS-2) */
        int segments;         /* expected */
    } rows[] = {
        /* 160 septets in one SMS, 153 a part beyond; à è é ì ò ù are in GSM 03.38, so
         * unaccented-ish Vietnamese can stay 7-bit; đ (and any other Vietnamese letter)
         * forces UCS-2: 70 in one SMS, 67 a part; extension characters cost two septets. */
        {"a", 160, "GSM-7", 160, 1}, {"a", 161, "GSM-7", 161, 2}, {"a", 306, "GSM-7", 306, 2},
        {"a", 307, "GSM-7", 307, 3}, {"é", 10, "GSM-7", 10, 1},   {"à", 10, "GSM-7", 10, 1},
        {"đ", 70, "UCS-2", 70, 1},   {"đ", 71, "UCS-2", 71, 2},   {"đ", 134, "UCS-2", 134, 2},
        {"đ", 135, "UCS-2", 135, 3}, {"€", 80, "GSM-7", 160, 1},  {"€", 81, "GSM-7", 162, 2}};
    for (size_t r = 0; r < MC_ARRAY_LEN(rows); r++) {
        ch_sms_info c = count(rows[r].unit, rows[r].n);
        if (strcmp(c.encoding, rows[r].encoding) != 0 || c.chars != rows[r].n ||
            c.units != rows[r].units || c.segments != rows[r].segments)
            fail_msg("%zu x %s: %s, %zu chars, %zu units, %d segments", rows[r].n, rows[r].unit,
                     c.encoding, c.chars, c.units, c.segments);
    }
    ch_sms_info i;
    const char *ext = "[]^{}\\|~";
    assert_int_equal(ch_sms_count(ext, strlen(ext), &i), 0);
    assert_string_equal(i.encoding, "GSM-7");
    assert_int_equal(i.units, 16);
    /* '`' and tab are not GSM: UCS-2. */
    assert_int_equal(ch_sms_count("a`b", 3, &i), 0);
    assert_string_equal(i.encoding, "UCS-2");
    /* An emoji is a surrogate pair: two UCS-2 units. */
    assert_int_equal(ch_sms_count("\xF0\x9F\x98\x80", 4, &i), 0);
    assert_int_equal(i.units, 2);
    /* An escape never straddles two parts: 152 a + € + 152 a = 306 septets, yet 3 parts. */
    char *a152 = rep("a", 152, &(size_t){0});
    char buf[400];
    int n = snprintf(buf, sizeof buf, "%s€%s", a152, a152);
    assert_int_equal(ch_sms_count(buf, (size_t)n, &i), 0);
    assert_int_equal(i.units, 306);
    assert_int_equal(i.segments, 3);
    free(a152);
    assert_int_equal(ch_sms_count("", 0, &i), 0);
    assert_int_equal(i.segments, 0);
    assert_int_equal(ch_sms_count("\xC3", 1, &i), MC_EUTF8);
}

/* The characters that force UCS-2, each once in order of first use; GSM-7 accents
 * (é, à) and extension characters (€) are not culprits; a full buffer still counts. */
static void culprits(void **state) {
    (void)state;
    char out[CH_PREVIEW_CULPRITS_MAX];
    const char *t = "Mất nước ở phường Bến Thành, é à € `x` đ ư ấ.";
    assert_int_equal(ch_sms_culprits(t, strlen(t), out, sizeof out), 8);
    assert_string_equal(out, "ấướởờế`đ");
    char small[5]; /* ấ fits, ư and the others do not, ` does: all 8 still counted */
    assert_int_equal(ch_sms_culprits(t, strlen(t), small, sizeof small), 8);
    assert_string_equal(small, "ấ`");
    assert_int_equal(ch_sms_culprits("a é à €", strlen("a é à €"), out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(ch_sms_culprits("\xC3", 1, out, sizeof out), MC_EUTF8);
}

static void phones(void **state) {
    (void)state;
    const char *cases[][2] = {
        {"0912345678", "+84912345678"},
        {"84912345678", "+84912345678"},
        {"+84912345678", "+84912345678"},
        {"0084912345678", "+84912345678"},
        {"0912 345 678", "+84912345678"},
        {"091-234-5678", "+84912345678"},
        {"02838123456", "+842838123456"},
        {"+14155550100", "+14155550100"},
        {"8079", "8079"},
        {"UBND-HCM", "UBND-HCM"},
    };
    char out[CH_MAX_ID];
    for (size_t i = 0; i < MC_ARRAY_LEN(cases); i++) {
        assert_int_equal(ch_sms_normalize_phone(cases[i][0], strlen(cases[i][0]), out, sizeof out),
                         0);
        assert_string_equal(out, cases[i][1]);
    }
    assert_int_equal(ch_sms_normalize_phone("", 0, out, sizeof out), MC_EINVAL);
}

/* One webhook request of either style: a Twilio form POST with data as its body, or a
 * Kannel GET with data as its query. */
static ch_request sms_request(const char *method, const char *data, t_headers *h) {
    int get = strcmp(method, "GET") == 0;
    size_t len = strlen(data);
    return t_request(method, "/webhook/sms", get ? data : "", get ? len : 0, get ? "" : data,
                     get ? 0 : len, h, 1763880200000LL);
}

/* Twilio's published example (twilio.com/docs/usage/security, reproduced in many
 * validators): this URL, these parameters and auth token 12345 sign to this value. */
static void verify_twilio_vector(void **state) {
    (void)state;
    ch_settings s = {.public_url = "https://mycompany.com", .auth_token = "12345"};
    const char *form = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234"
                       "&From=%2B12349013030&To=%2B18005551212";
    t_headers h = {{"X-Twilio-Signature"}, {"0/KCTR6DLpKmkAf8muzZqo1nDgQ="}, 1};
    ch_request r = t_request("POST", "/myapp.php", "foo=1&bar=2", strlen("foo=1&bar=2"), form,
                             strlen(form), &h, 1763880200000LL);
    char err[160];
    assert_int_equal(ch_sms_adapter.verify(&s, &r, err, sizeof err), 0);
    /* Parameter order in the body does not matter: Twilio sorts by name. */
    const char *shuffled = "To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE"
                           "&From=%2B12349013030&Caller=%2B12349013030";
    r.body = shuffled;
    r.body_len = strlen(shuffled);
    assert_int_equal(ch_sms_adapter.verify(&s, &r, err, sizeof err), 0);
    r.query_len = 0; /* the URL without its query is another URL */
    assert_int_equal(ch_sms_adapter.verify(&s, &r, err, sizeof err), MC_EINVAL);
}

/* base64(HMAC-SHA1(token, url + sorted name+value)), computed the way Twilio does. */
static void twilio_sign(const char *token, const char *url, const char *form, char *out) {
    /* Split the form, decode (the fixtures only use %XX and +), sort by name. */
    char *names[64], *values[64];
    size_t n = 0;
    char *copy = strdup(form);
    for (char *tok = strtok(copy, "&"); tok; tok = strtok(NULL, "&")) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        names[n] = strdup(tok);
        values[n] = t_decode(eq + 1);
        n++;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
                t = values[i];
                values[i] = values[j];
                values[j] = t;
            }
    char msg[4096];
    size_t o = (size_t)snprintf(msg, sizeof msg, "%s", url);
    for (size_t i = 0; i < n; i++) {
        o += (size_t)snprintf(msg + o, sizeof msg - o, "%s%s", names[i], values[i]);
        free(names[i]);
        free(values[i]);
    }
    free(copy);
    unsigned char mac[20];
    unsigned int ml;
    HMAC(EVP_sha1(), token, (int)strlen(token), (unsigned char *)msg, o, mac, &ml);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)ml);
}

static void verify_twilio(void **state) {
    (void)state;
    size_t len;
    char *body = t_read("tests/unit/data/ch_twilio_inbound.txt", &len);
    char sig[64], err[160];
    twilio_sign(T_TWILIO_TOKEN, "https://motcua.example.gov.vn/webhook/sms", body, sig);
    t_headers h = {{"X-Twilio-Signature"}, {sig}, 1};
    ch_request r = sms_request("POST", body, &h);
    assert_int_equal(ch_sms_adapter.verify(&t_twilio, &r, err, sizeof err), 0);
    body[len - 3] ^= 0x01; /* one flipped byte */
    assert_int_equal(ch_sms_adapter.verify(&t_twilio, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "does not match"));
    body[len - 3] ^= 0x01;
    ch_settings wrong = t_twilio;
    wrong.auth_token = "0000000000000000000000000000000";
    assert_int_equal(ch_sms_adapter.verify(&wrong, &r, err, sizeof err), MC_EINVAL);
    h.n = 0;
    assert_int_equal(ch_sms_adapter.verify(&t_twilio, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "missing"));
    h.n = 1;
    /* A malformed form cannot be verified. */
    const char *bad = "Body=%ZZ&From=x";
    r.body = bad;
    r.body_len = strlen(bad);
    assert_int_equal(ch_sms_adapter.verify(&t_twilio, &r, err, sizeof err), MC_EINVAL);
    free(body);
}

static void verify_kannel(void **state) {
    (void)state;
    size_t len;
    char *q = t_read("tests/unit/data/ch_kannel_inbound.txt", &len);
    t_headers h = {{0}, {0}, 0};
    ch_request r = sms_request("GET", q, &h);
    char err[160];
    assert_int_equal(ch_sms_adapter.verify(&t_kannel, &r, err, sizeof err), 0);
    r.remote_addr = "10.0.0.7";
    assert_int_equal(ch_sms_adapter.verify(&t_kannel, &r, err, sizeof err), 0);
    r.remote_addr = "10.0.0.70"; /* not a prefix match */
    assert_int_equal(ch_sms_adapter.verify(&t_kannel, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "allowed"));
    r.remote_addr = "127.0.0.1";
    ch_settings wrong = t_kannel;
    wrong.shared_secret = "k4nnel-s3creT";
    assert_int_equal(ch_sms_adapter.verify(&wrong, &r, err, sizeof err), MC_EINVAL);
    const char *nosecret = "from=0912345678&to=8079&text=hi&id=1";
    r.query = nosecret;
    r.query_len = strlen(nosecret);
    assert_int_equal(ch_sms_adapter.verify(&t_kannel, &r, err, sizeof err), MC_EINVAL);
    assert_non_null(strstr(err, "secret"));
    ch_settings unset = t_kannel;
    unset.shared_secret = "";
    r.query = q;
    r.query_len = len;
    assert_int_equal(ch_sms_adapter.verify(&unset, &r, err, sizeof err), MC_EINVAL);
    r.method = "PUT";
    assert_int_equal(ch_sms_adapter.verify(&t_kannel, &r, err, sizeof err), MC_EINVAL);
    free(q);
}

/* Parses data (sms_request) into m[0..*n): parse's code, its error in err[160]. */
static int parse(const char *method, const char *data, ch_message *m, size_t *n, char *err) {
    t_headers h = {{0}, {0}, 0};
    ch_request r = sms_request(method, data, &h);
    *n = 99;
    return ch_sms_adapter.parse(&t_twilio, &r, m, n, err, 160);
}

/* Parses data that must give exactly one message, into m[0]. */
static void parse_one(const char *method, const char *data, ch_message *m) {
    size_t n;
    char err[160] = "";
    int rc = parse(method, data, m, &n, err);
    if (rc != 0 || n != 1)
        fail_msg("%s %s: code %d, %zu messages (%s)", method, data, rc, n, err);
}

/* m is a message of this kind and id from sender to recipient, with this text (NULL:
 * none) and status word ("" but for status reports). */
static void expect(const ch_message *m, ch_event kind, const char *id, const char *sender,
                   const char *recipient, const char *text, const char *status) {
    assert_string_equal(m->channel, "sms");
    assert_int_equal(m->kind, kind);
    assert_string_equal(m->provider_id, id);
    assert_string_equal(m->sender, sender);
    assert_string_equal(m->recipient, recipient);
    if (text == NULL)
        assert_null(m->text);
    else
        assert_string_equal(m->text, text);
    assert_string_equal(m->status, status);
}

/* The captured requests of tests/unit/data, both styles, and the message each gives. */
static void parse_fixtures(void **state) {
    (void)state;
    static const struct {
        const char *method, *file;                  /* style, and the body or query */
        ch_event kind;                              /* what it is */
        const char *id, *sender, *recipient, *text; /* text NULL: none */
        const char *status;                         /* "" but for status reports */
        int64_t ts_ms;                              /* the request clock, or Kannel's %T */
    } rows[] = {
        /* keywords (TRA) pass through to the NLU */
        {"POST", "tests/unit/data/ch_twilio_inbound.txt", CH_EV_TEXT,
         "SM0f3e1c2a9b8d7e6f5a4b3c2d1e0f9a8b", "+84912345678", "+84287300000",
         "TRA HS-2025-000123 của tôi", "", 1763880200000LL},
        /* a report about OUR message: the citizen is To */
        {"POST", "tests/unit/data/ch_twilio_status.txt", CH_EV_STATUS,
         "SM9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d", "+84912345678", "+84287300000", NULL, "delivered",
         1763880200000LL},
        {"GET", "tests/unit/data/ch_kannel_inbound.txt", CH_EV_TEXT,
         "7c1d2e3f-aaaa-bbbb-cccc-0123456789ab", "+84912345678", "8079", "Huỷ thông báo", "",
         1763880200000LL},
        {"GET", "tests/unit/data/ch_kannel_dlr.txt", CH_EV_STATUS, "notif-42", "", "", NULL,
         "delivered", 1763880100000LL},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(rows); i++) {
        size_t len;
        char *data = t_read(rows[i].file, &len);
        ch_message m[CH_MAX_MESSAGES];
        parse_one(rows[i].method, data, m);
        expect(&m[0], rows[i].kind, rows[i].id, rows[i].sender, rows[i].recipient, rows[i].text,
               rows[i].status);
        assert_int_equal(m[0].ts_ms, rows[i].ts_ms);
        ch_message_clear(&m[0]);
        free(data);
    }
}

/* Twilio forms that are not what they first look like. */
static void parse_twilio_cases(void **state) {
    (void)state;
    ch_message m[CH_MAX_MESSAGES];
    /* A status we do not track: skipped. */
    size_t n;
    char err[160];
    assert_int_equal(parse("POST", "MessageSid=SM1&MessageStatus=partially_delivered", m, &n, err),
                     0);
    assert_int_equal(n, 0);
    /* An inbound message that also names its own status is still the citizen's text. */
    parse_one("POST", "MessageSid=SM2&MessageStatus=received&From=0912345678&To=8079&Body=HUY", m);
    expect(&m[0], CH_EV_TEXT, "SM2", "+84912345678", "8079", "HUY", "");
    ch_message_clear(&m[0]);
    /* A picture without words. */
    parse_one("POST", "MessageSid=MM1&From=0912345678&To=8079&Body=&NumMedia=1", m);
    expect(&m[0], CH_EV_UNSUPPORTED, "MM1", "+84912345678", "8079", "", "");
    ch_message_clear(&m[0]);
}

/* Status reports of both styles: Twilio's words and Kannel's DLR bits become ours; the
 * sender is the citizen the report is about when the request names them. */
static void parse_statuses(void **state) {
    (void)state;
    static const char *const rows[][4] = {
        /* method, request, status, sender */
        {"POST", "MessageSid=SM1&MessageStatus=undelivered&To=%2B84912345678", "undelivered",
         "+84912345678"},
        {"POST", "MessageSid=SM1&MessageStatus=sending&To=%2B84912345678", "queued",
         "+84912345678"},
        {"POST", "MessageSid=SM1&MessageStatus=failed", "failed", ""},
        {"GET", "type=dlr&id=n1&status=2", "undelivered", ""},
        {"GET", "type=dlr&id=n1&status=4", "queued", ""},
        {"GET", "type=dlr&id=n1&status=8", "sent", ""},
        {"GET", "type=dlr&id=n1&status=16", "failed", ""},
        {"GET", "type=dlr&id=n1&status=9", "delivered", ""}, /* 1 wins over 8 */
        {"GET", "type=dlr&id=n1&status=1&to=84912345678", "delivered", "+84912345678"},
    };
    ch_message m[CH_MAX_MESSAGES];
    for (size_t i = 0; i < MC_ARRAY_LEN(rows); i++) {
        parse_one(rows[i][0], rows[i][1], m);
        assert_int_equal(m[0].kind, CH_EV_STATUS);
        assert_string_equal(m[0].status, rows[i][2]);
        assert_string_equal(m[0].sender, rows[i][3]);
        ch_message_clear(&m[0]);
    }
}

/* Requests of both styles that are refused, with an error that names the problem. */
static void parse_refusals(void **state) {
    (void)state;
    static const char *const rows[][3] = {
        /* method, request, what the error mentions */
        {"POST", "From=%2B84912345678&To=8079&Body=hi", "parameter MessageSid missing"},
        {"POST", "MessageSid=SM1&To=8079&Body=hi", "parameter From missing"},
        {"POST", "MessageSid=SM1&From=%2B84912345678&To=8079", "parameter Body missing"},
        {"POST", "MessageSid=SM1&From=%2B84912345678&To=8079&Body=%C3",
         "Body is malformed or not UTF-8"},
        {"POST", "MessageSid=SM1&From=%2B84912345678&To=8079&Body=%00",
         "Body is malformed or not UTF-8"},
        {"POST", "MessageSid=SM1&From=%G1&To=8079&Body=x", "From has a bad % escape"},
        {"GET", "type=dlr&id=n1&status=x", "not a Kannel DLR value"},
        {"GET", "type=dlr&id=n1&status=32", "no known DLR bit"},
        /* found by tests/fuzz/fuzz_kannel.c: seconds whose ms overflow int64_t */
        {"GET", "type=dlr&id=n1&status=3&ts=17638814912345678", "not a unix time"},
        {"GET", "type=dlr&id=n1&status=1&ts=99999999999999999999", "not a unix time"},
        {"GET", "type=dlr&status=1", "parameter id missing"},
        {"GET", "from=0912345678&to=8079&id=1", "parameter text missing"},
        {"GET", "to=8079&text=hi&id=1", "parameter from missing"},
    };
    ch_message m[CH_MAX_MESSAGES];
    char err[160];
    size_t n;
    for (size_t i = 0; i < MC_ARRAY_LEN(rows); i++) {
        assert_int_equal(parse(rows[i][0], rows[i][1], m, &n, err), MC_EINVAL);
        assert_int_equal(n, 0);
        if (strstr(err, rows[i][2]) == NULL)
            fail_msg("row %zu: \"%s\" does not mention \"%s\"", i, err, rows[i][2]);
    }
}

static void render_twilio(void **state) {
    (void)state;
    const char *text = "Ho so HS-2025-000123 da co ket qua. Moi ong/ba den nhan.";
    ch_outgoing o = {.recipient = "0912345678",
                     .text = text,
                     .text_len = strlen(text),
                     .purpose = CH_PURPOSE_UPDATE,
                     .tracking_id = "notif-42"};
    ch_http out[2];
    size_t n = 0;
    char err[160];
    assert_int_equal(ch_sms_adapter.render(&t_twilio, &o, out, 2, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].method, "POST");
    assert_string_equal(out[0].url, "https://api.twilio.com/2010-04-01/Accounts/" T_TWILIO_SID
                                    "/Messages.json");
    assert_int_equal(out[0].segments, 1);
    assert_string_equal(out[0].encoding, "GSM-7");
    /* Basic auth decodes back to sid:token. */
    const char *auth = NULL;
    for (size_t i = 0; i < out[0].n_headers; i++)
        if (strncmp(out[0].headers[i], "Authorization: Basic ", 21) == 0)
            auth = out[0].headers[i] + 21;
    assert_non_null(auth);
    unsigned char dec[128];
    int dl = EVP_DecodeBlock(dec, (const unsigned char *)auth, (int)strlen(auth));
    assert_true(dl >= (int)strlen(T_TWILIO_SID ":" T_TWILIO_TOKEN));
    assert_memory_equal(dec, T_TWILIO_SID ":" T_TWILIO_TOKEN,
                        strlen(T_TWILIO_SID ":" T_TWILIO_TOKEN));
    char *v = t_form(out[0].body, out[0].body_len, "To");
    assert_string_equal(v, "+84912345678");
    free(v);
    v = t_form(out[0].body, out[0].body_len, "From");
    assert_string_equal(v, "+84287300000");
    free(v);
    v = t_form(out[0].body, out[0].body_len, "Body");
    assert_string_equal(v, text);
    free(v);
    v = t_form(out[0].body, out[0].body_len, "StatusCallback");
    assert_string_equal(v, "https://motcua.example.gov.vn/webhook/sms");
    free(v);
    ch_http_clear(&out[0]);

    /* Accented Vietnamese: UCS-2, 70 characters a part. */
    const char *vi = "Hồ sơ HS-2025-000123 đã có kết quả. Mời ông/bà đến bộ phận một cửa nhận "
                     "kết quả trong giờ hành chính.";
    o.text = vi;
    o.text_len = strlen(vi);
    assert_int_equal(ch_sms_adapter.render(&t_twilio, &o, out, 2, &n, err, sizeof err), 0);
    assert_string_equal(out[0].encoding, "UCS-2");
    assert_int_equal(out[0].segments, 2);
    v = t_form(out[0].body, out[0].body_len, "Body");
    assert_string_equal(v, vi);
    free(v);
    ch_http_clear(&out[0]);
}

static void render_kannel(void **state) {
    (void)state;
    const char *vi = "Hồ sơ của ông/bà đã có kết quả.";
    ch_outgoing o = {
        .recipient = "+84912345678", .text = vi, .text_len = strlen(vi), .tracking_id = "notif 42"};
    ch_http out[1];
    size_t n = 0;
    char err[160];
    assert_int_equal(ch_sms_adapter.render(&t_kannel, &o, out, 1, &n, err, sizeof err), 0);
    assert_string_equal(out[0].method, "GET");
    assert_null(out[0].body);
    const char *prefix = "http://127.0.0.1:13013/cgi-bin/sendsms?";
    assert_memory_equal(out[0].url, prefix, strlen(prefix));
    const char *q = out[0].url + strlen(prefix);
    size_t ql = strlen(q);
    const char *want[][2] = {
        {"username", "motcua"},
        {"password", "p@ss word"},
        {"from", "UBND-HCM"},
        {"to", "+84912345678"},
        {"text", vi},
        {"charset", "UTF-8"},
        {"coding", "2"},
        {"dlr-mask", "31"},
        {"dlr-url", "http://10.0.0.5:8080/webhook/sms?type=dlr&id=notif%2042&status=%d&ts=%T"
                    "&to=84912345678&secret=k4nnel-s3cret"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(want); i++) {
        char *v = t_form(q, ql, want[i][0]);
        if (v == NULL || strcmp(v, want[i][1]) != 0)
            fail_msg("%s = \"%s\", want \"%s\"", want[i][0], v ? v : "(absent)", want[i][1]);
        free(v);
    }
    /* Everything is percent-encoded: no raw space, '@' or '%d' survives in the URL. */
    assert_null(strchr(q, ' '));
    assert_null(strchr(q, '@'));
    assert_null(strstr(q, "%d"));
    assert_int_equal(out[0].segments, 1);
    ch_http_clear(&out[0]);

    const char *ascii = "Ho so da co ket qua.";
    o.text = ascii;
    o.text_len = strlen(ascii);
    assert_int_equal(ch_sms_adapter.render(&t_kannel, &o, out, 1, &n, err, sizeof err), 0);
    char *v = t_form(out[0].url, strlen(out[0].url), "coding");
    assert_string_equal(v, "0");
    free(v);
    ch_http_clear(&out[0]);
}

static void render_cut(void **state) {
    (void)state;
    size_t len;
    char *vi = t_long_text("tests/unit/data/ch_vi_sentences.txt", 600, &len);
    ch_settings s = t_twilio;
    s.max_segments = 3;
    s.more_text = " Xem tiếp: https://motcua.example.gov.vn/hs/123";
    ch_outgoing o = {.recipient = "+84912345678", .text = vi, .text_len = len};
    ch_http out[1];
    size_t n = 0;
    char err[160];
    assert_int_equal(ch_sms_adapter.render(&s, &o, out, 1, &n, err, sizeof err), 0);
    assert_int_equal(out[0].segments, 3);
    assert_string_equal(out[0].encoding, "UCS-2");
    char *body = t_form(out[0].body, out[0].body_len, "Body");
    ch_sms_info info;
    assert_int_equal(ch_sms_count(body, strlen(body), &info), 0);
    assert_true(info.segments <= 3);
    assert_true(info.units > 3 * SMS_UCS2_PART - 20); /* nearly full, not over-cut */
    const char *tail = "… Xem tiếp: https://motcua.example.gov.vn/hs/123";
    assert_string_equal(body + strlen(body) - strlen(tail), tail);
    /* The kept text is a prefix of the original, cut at a word boundary. */
    size_t kept = strlen(body) - strlen(tail);
    assert_memory_equal(body, vi, kept);
    assert_true(vi[kept] == ' ');
    free(body);
    ch_http_clear(&out[0]);
    free(vi);

    /* GSM text: "..." instead of "…", which is not in GSM 03.38 and would force UCS-2. */
    char *ascii = rep("Thu tuc hanh chinh ", 40, &len);
    s.more_text = " Chi tiet: motcua.example.gov.vn";
    s.max_segments = 2;
    o.text = ascii;
    o.text_len = len;
    assert_int_equal(ch_sms_adapter.render(&s, &o, out, 1, &n, err, sizeof err), 0);
    assert_string_equal(out[0].encoding, "GSM-7");
    assert_int_equal(out[0].segments, 2);
    body = t_form(out[0].body, out[0].body_len, "Body");
    assert_non_null(strstr(body, "... Chi tiet: motcua.example.gov.vn"));
    free(body);
    ch_http_clear(&out[0]);

    /* No max_segments: refused above the hard limit, never cut silently. */
    s.max_segments = 0;
    free(ascii);
    ascii = rep("Thu tuc hanh chinh ", 100, &len); /* 1900 septets: 13 parts */
    o.text = ascii;
    o.text_len = len;
    assert_int_equal(ch_sms_adapter.render(&s, &o, out, 1, &n, err, sizeof err), MC_ETOOBIG);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "13"));
    free(ascii);

    ch_settings none = t_twilio;
    none.provider = "esms";
    assert_int_equal(ch_sms_adapter.render(&none, &o, out, 1, &n, err, sizeof err), MC_EINVAL);
}

typedef struct s_row {
    int status;         /* HTTP status */
    const char *body;   /* answer */
    const char *retry;  /* Retry-After */
    ch_verdict verdict; /* expected */
    const char *reason; /* expected */
    int fallback;       /* expected */
    int64_t retry_ms;   /* expected */
} s_row;

static void classify_table(void **state) {
    (void)state;
    static const s_row rows[] = {
        {201, "{\"sid\":\"SM_SENT1\",\"status\":\"queued\",\"num_segments\":\"1\"}", NULL, CH_SENT,
         "", 0, 0},
        {201, "{\"status\":\"queued\"}", NULL, CH_PERMANENT, "bad_response", 0, 0},
        {400,
         "{\"code\":21211,\"message\":\"The 'To' number 0912 is not a valid phone number.\","
         "\"more_info\":\"https://www.twilio.com/docs/errors/21211\",\"status\":400}",
         NULL, CH_PERMANENT, "invalid_number", 1, 0},
        {400,
         "{\"code\":21614,\"message\":\"'To' number is not a valid mobile number\","
         "\"status\":400}",
         NULL, CH_PERMANENT, "not_mobile", 1, 0},
        {400,
         "{\"code\":21610,\"message\":\"Attempt to send to unsubscribed recipient\","
         "\"status\":400}",
         NULL, CH_PERMANENT, "unsubscribed", 1, 0},
        {400, "{\"code\":21612,\"message\":\"The 'To' phone number is not currently reachable\"}",
         NULL, CH_PERMANENT, "unreachable", 1, 0},
        {400,
         "{\"code\":21408,\"message\":\"Permission to send an SMS has not been enabled for "
         "the region\"}",
         NULL, CH_PERMANENT, "unreachable", 1, 0},
        {401, "{\"code\":20003,\"message\":\"Authenticate\",\"status\":401}", NULL, CH_PERMANENT,
         "auth", 0, 0},
        {400,
         "{\"code\":21606,\"message\":\"The From phone number is not a valid, SMS-capable "
         "inbound phone number\"}",
         NULL, CH_PERMANENT, "bad_sender", 0, 0},
        {429, "{\"code\":20429,\"message\":\"Too Many Requests\",\"status\":429}", "3", CH_RETRY,
         "rate_limited", 0, 3000},
        {500, "{\"code\":20500,\"message\":\"Internal Server Error\"}", NULL, CH_RETRY,
         "unavailable", 0, 0},
        {0, NULL, NULL, CH_RETRY, "unavailable", 0, 0},
        {400, "{\"code\":21602,\"message\":\"Message body is required.\",\"status\":400}", NULL,
         CH_PERMANENT, "21602: Message body is required.", 0, 0},
        {202, "0: Accepted for delivery", NULL, CH_SENT, "accepted", 0, 0},
        {202, "3: Queued for later delivery", NULL, CH_SENT, "queued", 0, 0},
        {503, "Temporal failure, try again later.", "60", CH_RETRY, "unavailable", 0, 60000},
        {403, "Authorization failed for sendsms", NULL, CH_PERMANENT, "auth", 0, 0},
        {400, "Missing receiver number, rejected", NULL, CH_PERMANENT,
         "HTTP 400: Missing receiver number, rejected", 0, 0},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(rows); i++) {
        const s_row *r = &rows[i];
        ch_result res;
        ch_sms_adapter.classify(r->status, r->body, r->body ? strlen(r->body) : 0, r->retry, &res);
        if (res.verdict != r->verdict || res.fallback != r->fallback ||
            res.retry_after_ms != r->retry_ms || res.token_error != 0 ||
            strcmp(res.reason, r->reason) != 0 ||
            (r->verdict == CH_SENT && r->body[0] == '{' &&
             strcmp(res.provider_id, "SM_SENT1") != 0))
            fail_msg("row %zu: verdict %d fallback %d retry %lld reason \"%s\" id \"%s\"", i,
                     res.verdict, res.fallback, (long long)res.retry_after_ms, res.reason,
                     res.provider_id);
    }
}

/* [sms] sender: a number, or a registered brandname of at most 11 plain characters. */
static void sender_brandname(void **state) {
    (void)state;
    const char *ok[] = {"UBND-HCM", "DVCQG", "BO CONG AN", "So.TuPhap_1", "+84900000001",
                        "8088",     ""};
    const char *bad[] = {"UBND PHUONG 1", "UBND-Q1 TPHCM", "Sở Tư pháp", "UBND!",
                         " UBND",         "+84 900 000",   "+"};
    char err[200];
    for (size_t i = 0; i < MC_ARRAY_LEN(ok); i++) {
        ch_settings s = t_kannel;
        s.sender = ok[i];
        if (ch_sms_adapter.validate(&s, err, sizeof err) != 0)
            fail_msg("sender \"%s\" refused: %s", ok[i], err);
    }
    for (size_t i = 0; i < MC_ARRAY_LEN(bad); i++) {
        ch_settings s = t_kannel;
        s.sender = bad[i];
        if (ch_sms_adapter.validate(&s, err, sizeof err) != MC_EINVAL)
            fail_msg("sender \"%s\" taken", bad[i]);
        assert_non_null(strstr(err, "brandname"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counting),         cmocka_unit_test(culprits),
        cmocka_unit_test(phones),           cmocka_unit_test(verify_twilio_vector),
        cmocka_unit_test(verify_twilio),    cmocka_unit_test(verify_kannel),
        cmocka_unit_test(parse_fixtures),   cmocka_unit_test(parse_twilio_cases),
        cmocka_unit_test(parse_statuses),   cmocka_unit_test(parse_refusals),
        cmocka_unit_test(render_twilio),    cmocka_unit_test(render_kannel),
        cmocka_unit_test(render_cut),       cmocka_unit_test(classify_table),
        cmocka_unit_test(sender_brandname),
    };
    return cmocka_run_group_tests_name("ch_sms", tests, NULL, NULL);
}
