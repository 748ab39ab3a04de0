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

#define FZ_PEER_OK "127.0.0.1"
#define FZ_PEER_BAD "203.0.113.9"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void webhook(fz_input *in) {
    unsigned mode = in->flags & FZ_SIG_MASK;
    ch_settings any_peer = t_kannel; /* t_kannel allows 10.0.0.7 and 127.0.0.1 */
    any_peer.allowed_addrs = "";
    const ch_settings *s = (in->flags & FZ_OWN_2) ? &any_peer : &t_kannel;
    int peer_ok = (in->flags & FZ_OWN_2) || !(in->flags & FZ_OWN_1);
    int is_head = (in->flags & FZ_OWN_3) != 0;
    static const char head[] = "secret=" T_KANNEL_SECRET "&";
    size_t hl = mode == FZ_SIG_INPUT ? 0 : sizeof head - 1;
    char *query = malloc(hl + in->n > 0 ? hl + in->n : 1); /* exact: ASan sees past its end */
    CHECK(query != NULL);
    memcpy(query, head, hl);
    if (in->n)
        memcpy(query + hl, in->p, in->n);
    if (mode == FZ_SIG_WRONG)
        fz_spoil(query, strlen("secret=") + in->n % strlen(T_KANNEL_SECRET));
    t_headers h = {{0}, {0}, 0}; /* no header: the secret is a parameter */
    ch_request req = t_request(is_head ? "HEAD" : "GET", "/webhook/sms", query, hl + in->n, NULL, 0,
                               &h, FZ_NOW_MS);
    req.remote_addr = (in->flags & FZ_OWN_1) ? FZ_PEER_BAD : FZ_PEER_OK;
    int prc;
    size_t n;
    int rc = fz_webhook(in, &ch_sms_adapter, s, &req, &prc, &n);
    CHECK(mode != FZ_SIG_WRONG || rc != 0);
    CHECK(peer_ok || rc != 0);
    CHECK(!is_head || (rc != 0 && prc != 0)); /* refused by verify, and by parse when it runs */
    if (mode < FZ_SIG_WRONG && peer_ok && !is_head)
        CHECK(rc == 0);
    CHECK(prc != 0 || n == 1); /* one GET, one event */
    free(query);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fz_main(data, size, &ch_sms_adapter, webhook, NULL);
}
