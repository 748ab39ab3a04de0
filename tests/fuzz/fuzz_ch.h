/*
 * tests/fuzz/fuzz_ch.h — what the channel fuzz targets (fuzz_zalo.c, fuzz_facebook.c,
 * fuzz_twilio.c, fuzz_kannel.c) share: how an input becomes a ch_request, the run of
 * verify + parse or of classify (fz_webhook, fz_main), and the checks of ch.h's promises
 * on what they give back. The request, its header table, the form decoder and the UTF-8
 * check are the unit tests' (tests/unit/test_ch_util.h), so both judge alike.
 *
 * Big idea: the input decides everything about the request in a fixed, documented way,
 * so a saved input replays the same request forever:
 *
 *   byte 0     flags
 *     bits 0-1   signature: 0 or 1 computed right by the target (parse is reached),
 *                2 computed right then one character changed (verify must refuse),
 *                3 taken from the input: the first line (no header when it is empty)
 *     bit 2      call parse even when verify refused (the gateway never does, but parse
 *                promises to cope with any body on its own)
 *     bit 3      classify mode: the rest is "STATUS[ RETRY-AFTER]\n" then the provider's
 *                answer body (no body at all when there is no '\n')
 *     bits 4-7   the target's own (see each target's header comment)
 *   then       the lines and body the target reads, in order; the last field runs to the end
 *
 * Every field is copied into its own exact-size allocation, so ASan sees a read past any
 * field's end, not only past the input's. A broken promise aborts with the line of the
 * check, and libFuzzer saves the input like any crash. Header-only (static inline) so
 * that each target links alone with libch.a.
 */
#ifndef FUZZ_CH_H
#define FUZZ_CH_H

#include "channels/ch.h"
#include "core/mc.h"
#include "fuzz_check.h"
#include "tests/unit/test_ch_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The gateway's clock in every target: 1.5 s after the captured events of tests/unit/data. */
#define FZ_NOW_MS 1763880001500LL

#define FZ_SIG_MASK 0x03u     /* bits 0-1: how the signature is made */
#define FZ_SIG_WRONG 0x02u    /* ... computed, then one character changed */
#define FZ_SIG_INPUT 0x03u    /* ... taken from the input's first line */
#define FZ_PARSE_ALWAYS 0x04u /* parse even when verify refused */
#define FZ_CLASSIFY 0x08u     /* the rest is a provider answer for classify */
#define FZ_OWN_1 0x10u        /* bit 4: the target's own */
#define FZ_OWN_2 0x20u        /* bit 5: the target's own */
#define FZ_OWN_3 0x40u        /* bit 6: the target's own */
#define FZ_MAX_STATUS 999     /* largest HTTP status an answer line is read as */
/* Bytes of a header value taken from the input: a little past what adapters read, so the
 * too-long header is tried too. */
#define FZ_MAX_SIG (CH_MAX_HEADER_VALUE + 16)

/* The input, consumed front to back. */
typedef struct fz_input {
    unsigned flags; /* byte 0 */
    const char *p;  /* what is left */
    size_t n;       /* its bytes */
} fz_input;

/* 0 for an empty input (nothing to do), else 1 with the flags read. */
static inline int fz_start(fz_input *in, const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    in->flags = data[0];
    in->p = (const char *)data + 1;
    in->n = size - 1;
    return 1;
}

/* A field in its own allocation of exactly len bytes plus a NUL that the code under
 * test must not rely on for length-carrying fields (free with free()). */
static inline char *fz_dup(const char *s, size_t len) {
    char *c = malloc(len + 1);
    CHECK(c != NULL);
    if (len)
        memcpy(c, s, len);
    c[len] = '\0';
    return c;
}

/* An exact-size copy without a terminating NUL (bodies: reads past len are caught). */
static inline char *fz_exact(const char *s, size_t len) {
    char *c = malloc(len ? len : 1);
    CHECK(c != NULL);
    if (len)
        memcpy(c, s, len);
    return c;
}

/* The next line (without its '\n'); the whole rest when there is no '\n'. Returns 1 when
 * the line ended with '\n'. */
static inline int fz_line(fz_input *in, const char **s, size_t *len) {
    const char *nl = memchr(in->p, '\n', in->n);
    *s = in->p;
    if (nl == NULL) {
        *len = in->n;
        in->p += in->n;
        in->n = 0;
        return 0;
    }
    *len = (size_t)(nl - in->p);
    in->n -= *len + 1;
    in->p = nl + 1;
    return 1;
}

/* The header value of signature mode 3: the first line, as a C string (a header cannot
 * hold a NUL, so the value stops at the first one); NULL when the line is empty.
 * Caller frees. */
static inline char *fz_sig_from_input(fz_input *in) {
    const char *s;
    size_t len;
    fz_line(in, &s, &len);
    const char *nul = memchr(s, '\0', len);
    if (nul != NULL)
        len = (size_t)(nul - s);
    if (len > FZ_MAX_SIG)
        len = FZ_MAX_SIG;
    return len ? fz_dup(s, len) : NULL;
}

/* Changes the character at pos to another digit, so the value keeps its shape (hex or
 * base64) and only its content is wrong. */
static inline void fz_spoil(char *sig, size_t pos) {
    sig[pos] = sig[pos] == '0' ? '1' : '0';
}

/*
 * The signature header a webhook gets: in signature mode 3 sig (read by fz_sig_from_input
 * before the body), otherwise a copy of right (the signature computed by the target),
 * in mode 2 with the character at spoil_at changed when right has one there. Caller
 * frees.
 */
static inline char *fz_signature(const fz_input *in, char *sig, const char *right,
                                 size_t spoil_at) {
    if ((in->flags & FZ_SIG_MASK) == FZ_SIG_INPUT)
        return sig;
    sig = fz_dup(right, strlen(right));
    if ((in->flags & FZ_SIG_MASK) == FZ_SIG_WRONG && spoil_at < strlen(right))
        fz_spoil(sig, spoil_at);
    return sig;
}

/* A fixed-size field holds a NUL-terminated, valid UTF-8 string. */
static inline void fz_check_field(const char *f, size_t cap) {
    const char *nul = memchr(f, '\0', cap);
    CHECK(nul != NULL);
    CHECK(t_utf8_ok(f, (size_t)(nul - f)));
}

/* An owned string of the message: NUL-terminated, no NUL inside, valid UTF-8. */
static inline void fz_check_owned(const char *s, size_t len) {
    CHECK(strlen(s) == len);
    CHECK(t_utf8_ok(s, len));
}

static inline int fz_status_word(const char *s) {
    static const char *const words[] = {"queued", "sent", "delivered", "undelivered", "failed"};
    for (size_t i = 0; i < MC_ARRAY_LEN(words); i++)
        if (strcmp(s, words[i]) == 0)
            return 1;
    return 0;
}

/* ch.h's promises on one parsed message. */
static inline void fz_check_message(const ch_message *m, const char *channel) {
    CHECK(m->channel != NULL && strcmp(m->channel, channel) == 0);
    CHECK(m->kind >= CH_EV_TEXT && m->kind <= CH_EV_STATUS);
    fz_check_field(m->provider_id, sizeof m->provider_id);
    fz_check_field(m->sender, sizeof m->sender);
    fz_check_field(m->recipient, sizeof m->recipient);
    fz_check_field(m->status, sizeof m->status);
    CHECK(m->ts_ms >= 0 && m->watermark_ms >= 0);
    if (m->text != NULL)
        fz_check_owned(m->text, m->text_len);
    else
        CHECK(m->text_len == 0);
    if (m->payload != NULL)
        fz_check_owned(m->payload, strlen(m->payload));
    /* What each kind carries. */
    CHECK(m->kind == CH_EV_STATUS ? fz_status_word(m->status) : m->status[0] == '\0');
    CHECK(m->kind != CH_EV_TEXT || m->text != NULL);
    CHECK((m->kind != CH_EV_QUICK_REPLY && m->kind != CH_EV_POSTBACK) || m->payload != NULL);
    /* Dedup needs an id for everything a citizen does; receipts may carry a watermark. */
    if (m->kind != CH_EV_DELIVERY && m->kind != CH_EV_READ && m->kind != CH_EV_UNSUPPORTED)
        CHECK(m->provider_id[0] != '\0');
    CHECK(m->kind == CH_EV_STATUS || m->sender[0] != '\0');
}

/* Checks a parse call's outcome, then clears every message (and checks the clearing). */
static inline void fz_check_parse(int rc, ch_message *out, size_t n, const char *err,
                                  const char *channel) {
    if (rc != 0) {
        CHECK(rc == MC_EINVAL || rc == MC_ETOOBIG || rc == MC_ENOMEM || rc == MC_EUTF8);
        CHECK(n == 0); /* a refused request leaves nothing to clear */
        CHECK(err[0] != '\0');
        return;
    }
    CHECK(n <= CH_MAX_MESSAGES);
    for (size_t i = 0; i < n; i++)
        fz_check_message(&out[i], channel);
    for (size_t i = 0; i < n; i++) {
        ch_message_clear(&out[i]);
        CHECK(out[i].text == NULL && out[i].payload == NULL && out[i].text_len == 0);
    }
}

/* A verify call's outcome that holds for every adapter. */
static inline void fz_check_verify(int rc, const char *err) {
    CHECK(rc == 0 || rc == MC_EINVAL || rc == MC_ETOOBIG || rc == MC_ENOMEM);
    CHECK(rc == 0 || err[0] != '\0');
}

/* A provider answer in classify mode: "STATUS[ RETRY-AFTER]\n" then the body. */
typedef struct fz_answer {
    int status;        /* 0..FZ_MAX_STATUS: the leading digits of the line */
    char *retry_after; /* the line after the first space (NUL-terminated), or NULL */
    char *body;        /* exact-size copy, or NULL when the input has no '\n' */
    size_t body_len;   /* its bytes */
} fz_answer;

static inline void fz_answer_read(fz_input *in, fz_answer *a) {
    memset(a, 0, sizeof *a);
    const char *s;
    size_t len, i = 0;
    int has_body = fz_line(in, &s, &len);
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        if (a->status <= FZ_MAX_STATUS / 10)
            a->status = a->status * 10 + (s[i] - '0');
    if (a->status > FZ_MAX_STATUS)
        a->status = FZ_MAX_STATUS;
    if (i < len && s[i] == ' ') {
        const char *v = s + i + 1;
        size_t vl = len - i - 1;
        const char *nul = memchr(v, '\0', vl);
        a->retry_after = fz_dup(v, nul ? (size_t)(nul - v) : vl);
    }
    if (has_body) {
        a->body = fz_exact(in->p, in->n);
        a->body_len = in->n;
    }
}

static inline void fz_answer_free(fz_answer *a) {
    free(a->retry_after);
    free(a->body);
}

/* ch.h's promises on a classified answer. */
static inline void fz_check_result(const ch_result *r) {
    CHECK(r->verdict == CH_SENT || r->verdict == CH_RETRY || r->verdict == CH_PERMANENT);
    fz_check_field(r->provider_id, sizeof r->provider_id);
    fz_check_field(r->reason, sizeof r->reason);
    fz_check_field(r->detail, sizeof r->detail);
    /* reason and detail go to logs: no control bytes. */
    for (const char *p = r->reason; *p; p++)
        CHECK((unsigned char)*p >= 0x20 && *p != 0x7F);
    for (const char *p = r->detail; *p; p++)
        CHECK((unsigned char)*p >= 0x20 && *p != 0x7F);
    CHECK(r->retry_after_ms >= 0 && r->retry_after_ms <= CH_MAX_RETRY_AFTER_MS);
    CHECK(r->retry_after_ms == 0 || r->verdict == CH_RETRY);
    CHECK(r->fallback == 0 || (r->fallback == 1 && r->verdict == CH_PERMANENT));
    CHECK(r->token_error == 0 || (r->token_error == 1 && r->verdict == CH_PERMANENT));
    CHECK(r->verdict == CH_SENT || r->reason[0] != '\0');
}

/*
 * A webhook through adapter a: verify, then parse when verify accepted or the input asks
 * for it (FZ_PARSE_ALWAYS), both checked against ch.h's promises. Returns verify's code;
 * *prc is parse's (1 when parse did not run) and *n the messages it gave.
 */
static inline int fz_webhook(const fz_input *in, const ch_adapter *a, const ch_settings *s,
                             const ch_request *req, int *prc, size_t *n) {
    char err[256] = "";
    int rc = a->verify(s, req, err, sizeof err);
    fz_check_verify(rc, err);
    *prc = 1;
    *n = 0;
    if (rc == 0 || (in->flags & FZ_PARSE_ALWAYS)) {
        ch_message out[CH_MAX_MESSAGES];
        err[0] = '\0';
        *prc = a->parse(s, req, out, n, err, sizeof err);
        fz_check_parse(*prc, out, *n, err, a->name);
    }
    return rc;
}

/* A signed JSON webhook POST (Messenger, Zalo): [the signature line in mode 3] the body. */
typedef struct fz_post {
    unsigned mode; /* the signature mode (FZ_SIG_*) */
    char *sig;     /* the signature header sent (NULL: none); owned */
    char *body;    /* the body, an exact-size copy; owned */
    size_t len;    /* its bytes */
} fz_post;

static inline void fz_post_read(fz_input *in, fz_post *p) {
    p->mode = in->flags & FZ_SIG_MASK;
    p->sig = p->mode == FZ_SIG_INPUT ? fz_sig_from_input(in) : NULL;
    p->body = fz_exact(in->p, in->n);
    p->len = in->n;
}

/* Sends p to a's webhook (/webhook/<name>) with the signature header `header` made by
 * fz_signature from right, through fz_webhook: verify's code. */
static inline int fz_post_send(const fz_input *in, fz_post *p, const ch_adapter *a,
                               const ch_settings *s, const char *header, const char *right,
                               size_t spoil_at) {
    char path[64];
    snprintf(path, sizeof path, "/webhook/%s", a->name);
    p->sig = fz_signature(in, p->sig, right, spoil_at);
    t_headers h = {{header}, {p->sig}, 1};
    ch_request req = t_request("POST", path, "", 0, p->body, p->len, &h, FZ_NOW_MS);
    int prc;
    size_t n;
    return fz_webhook(in, a, s, &req, &prc, &n);
}

static inline void fz_post_free(fz_post *p) {
    free(p->sig);
    free(p->body);
}

/* What a target checks beyond fz_check_result on a classified answer (may be NULL). */
typedef void fz_answer_fn(const fz_input *in, const fz_answer *ans, const ch_result *r);

/*
 * The body of every channel target's LLVMFuzzerTestOneInput: an empty input does nothing;
 * in classify mode the rest is an answer classified by a and checked (then by more, when
 * given); otherwise request(in) handles the input.
 */
static inline int fz_main(const uint8_t *data, size_t size, const ch_adapter *a,
                          void (*request)(fz_input *in), fz_answer_fn *more) {
    fz_input in;
    if (!fz_start(&in, data, size))
        return 0;
    if (!(in.flags & FZ_CLASSIFY)) {
        request(&in);
        return 0;
    }
    fz_answer ans;
    fz_answer_read(&in, &ans);
    ch_result r;
    a->classify(ans.status, ans.body, ans.body_len, ans.retry_after, &r);
    fz_check_result(&r);
    if (more != NULL)
        more(&in, &ans, &r);
    fz_answer_free(&ans);
    return 0;
}

/* A sent answer carries the provider's message id (Messenger, Zalo: fz_main's `more`). */
static inline void fz_check_sent_id(const fz_input *in, const fz_answer *ans, const ch_result *r) {
    (void)in;
    (void)ans;
    CHECK(r->verdict != CH_SENT || r->provider_id[0] != '\0');
}

#endif
