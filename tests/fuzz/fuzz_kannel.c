/*
 * tests/fuzz/fuzz_kannel.c — libFuzzer target over the SMS adapter's Kannel side: verify +
 * parse of a GET on our get-url (an inbound text) or dlr-url (a delivery report), and
 * classify of a sendsms answer.
 *
 * Input (fuzz_ch.h has the common layout): byte 0 flags, then
 *   webhook mode:  the raw query string (the whole rest); the "signature" is the shared
 *                  secret parameter: bits 0-1 = 0 or 1 put "secret=<right>&" in front,
 *                  2 the same with one character changed, 3 leave the query as it is;
 *                  bit 4 = the peer is not in allowed_addrs; bit 5 = allowed_addrs empty
 *                  (every peer allowed); bit 6 = method HEAD (the gateway routes it like
 *                  GET, the adapter must refuse it)
 *   classify mode: "STATUS[ RETRY-AFTER]\n" body
 *
 * Checks beyond fuzz_ch.h's: the right secret from an allowed peer is accepted; a changed
 * secret, a peer not allowed or a HEAD is refused; a parsed GET is one event.
 */
#include "channels/sms.h"
#include "fuzz_ch.h"

#define FZ_SECRET "k4nnel-s3cret"
#define FZ_PEER_OK "127.0.0.1"
#define FZ_PEER_BAD "203.0.113.9"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ch_settings with_list = {
    .api_base = "http://127.0.0.1:9",
    .provider = "kannel",
    .username = "motcua",
    .password = "p@ss word",
    .shared_secret = FZ_SECRET,
    .allowed_addrs = "10.0.0.7, 127.0.0.1",
};

static const ch_settings any_peer = {
    .api_base = "http://127.0.0.1:9",
    .provider = "kannel",
    .username = "motcua",
    .password = "p@ss word",
    .shared_secret = FZ_SECRET,
    .allowed_addrs = "",
};

static void webhook(fz_input *in) {
    unsigned mode = in->flags & FZ_SIG_MASK;
    const ch_settings *s = (in->flags & FZ_OWN_2) ? &any_peer : &with_list;
    int peer_ok = (in->flags & FZ_OWN_2) || !(in->flags & FZ_OWN_1);
    int is_head = (in->flags & FZ_OWN_3) != 0;
    static const char head[] = "secret=" FZ_SECRET "&";
    size_t hl = mode == FZ_SIG_INPUT ? 0 : sizeof head - 1;
    char *query = malloc(hl + in->n > 0 ? hl + in->n : 1); /* exact: ASan sees past its end */
    CHECK(query != NULL);
    memcpy(query, head, hl);
    if (in->n)
        memcpy(query + hl, in->p, in->n);
    if (mode == FZ_SIG_WRONG)
        fz_spoil(query, strlen("secret=") + in->n % strlen(FZ_SECRET));
    fz_header h = {"X-Unused", NULL};
    ch_request req = {.method = is_head ? "HEAD" : "GET",
                      .path = "/webhook/sms",
                      .query = query,
                      .query_len = hl + in->n,
                      .body = NULL,
                      .body_len = 0,
                      .header = fz_header_fn,
                      .header_ctx = &h,
                      .remote_addr = (in->flags & FZ_OWN_1) ? FZ_PEER_BAD : FZ_PEER_OK,
                      .now_ms = FZ_NOW_MS};
    char err[256] = "";
    int rc = ch_sms_adapter.verify(s, &req, err, sizeof err);
    fz_check_verify(rc, err);
    CHECK(mode != FZ_SIG_WRONG || rc != 0);
    CHECK(peer_ok || rc != 0);
    CHECK(!is_head || rc != 0);
    if (mode < FZ_SIG_WRONG && peer_ok && !is_head)
        CHECK(rc == 0);

    if (rc == 0 || (in->flags & FZ_PARSE_ALWAYS)) {
        ch_message out[CH_MAX_MESSAGES];
        size_t n = 0;
        err[0] = '\0';
        int prc = ch_sms_adapter.parse(s, &req, out, &n, err, sizeof err);
        CHECK(prc != 0 || n == 1); /* one GET, one event */
        CHECK(!is_head || prc != 0);
        fz_check_parse(prc, out, n, err, "sms");
    }
    free(query);
}

static void answer(fz_input *in) {
    fz_answer a;
    fz_answer_read(in, &a);
    ch_result r;
    ch_sms_adapter.classify(a.status, a.body, a.body_len, a.retry_after, &r);
    fz_check_result(&r);
    fz_answer_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_input in;
    if (!fz_start(&in, data, size))
        return 0;
    if (in.flags & FZ_CLASSIFY)
        answer(&in);
    else
        webhook(&in);
    return 0;
}
