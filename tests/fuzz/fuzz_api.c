/*
 * tests/fuzz/fuzz_api.c — libFuzzer target over the department API's body checks: every
 * endpoint that takes a JSON body (gw_api_body_check of gateway/api/gw_api_int.h:
 * notification, batch, broadcast, subscription, dossier, dossier event, template), judged
 * as the endpoint judges it, for a token of every ward and for a token of two wards.
 *
 * Input: byte 0 chooses the endpoint (low 3 bits, modulo their number) and the token (bit
 * 3); the rest is the request body. Like the server (gw_api_body), a body that is not a
 * JSON object, or repeats a key, is answered 400 before any check and stops here.
 *
 * Checks of the header's promises: the check answers 0 with no error set, or MC_EINVAL
 * with an error of status 400..499, a non-empty code and message, message and field valid
 * UTF-8 without NUL, and an error JSON ({"error","message"[,"field"]}) that parses back to
 * the same code; nothing the check made is left behind (LeakSanitizer).
 *
 * FUZZ_API_VERBOSE=1 prints each input's endpoint and answer (to read a corpus).
 * The API module is built once: wards and procedures from the understanding engine of
 * MOTCUA_SERVER_SHARE_DIR (default ".", the repository) as serve builds them, statuses
 * from gateway/api/data, and a tokens file written to a temporary file and removed.
 * Built by `make fuzz` with clang -fsanitize=fuzzer, and by the gcc builds with
 * tests/fuzz/driver.c, which replays tests/fuzz/corpus/api/.
 */
#include "core/mc.h"
#include "gateway/api/gw_api_int.h"
#include "intents/nlu.h"
#include "vi-nlp/vn_utf8.h"
#include "fuzz_check.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FZ_TOKEN_BIT 0x08u /* byte 0: the two-ward token instead of the all-ward one */
#define FZ_PATH_MAX 64     /* the temporary tokens file's path */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const gw_api_body_check *const checks[] = {
    &gw_notification_body, &gw_batch_body,         &gw_broadcast_body, &gw_subscription_body,
    &gw_dossier_body,      &gw_dossier_event_body, &gw_template_body,
};

static nlu_engine *E;
static gw_shared *S;
static gw_api *A;
static const gw_api_token *T[2]; /* every ward; two wards */

static void sha_hex(const char *s, char out[65]) {
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, strlen(s), h);
    for (size_t i = 0; i < sizeof h; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (A)
        return 0;
    char err[512] = "", path[FZ_PATH_MAX] = "/tmp/fuzz_api_XXXXXX", ha[65], hb[65];
    const char *share = getenv("MOTCUA_SERVER_SHARE_DIR");
    if (!share || !*share)
        share = ".";
    nlu_engine_opts o = {share, NULL};
    sha_hex("fz-all", ha);
    sha_hex("fz-two", hb);
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f) {
        fprintf(f, "so-all %s dossiers:write,notify,broadcast,read *\n", ha);
        fprintf(f, "ubnd-two %s dossiers:write,notify,broadcast,read 26743,sai-gon-26740\n", hb);
        fclose(f);
    }
    if (!f || !(E = nlu_engine_new(&o, err, sizeof err)) ||
        !(S = gw_shared_new(E, err, sizeof err)) ||
        gw_api_new(S, path, share, &A, err, sizeof err)) {
        fprintf(stderr, "fuzz_api: cannot start: %s\n", *err ? err : "no temporary file");
        abort();
    }
    unlink(path);
    T[0] = gw_api_token_find(A, "Bearer fz-all");
    T[1] = gw_api_token_find(A, "Bearer fz-two");
    CHECK(T[0] && T[1]);
    return 0;
}

static int utf8_text(const char *s) {
    size_t n = strlen(s);
    return vn_utf8_valid(s, n, NULL);
}

static void check_error(const gw_api_err *e) {
    CHECK(e->status >= 400 && e->status <= 499);
    CHECK(e->code[0] && e->message[0]);
    CHECK(utf8_text(e->code) && utf8_text(e->message) && utf8_text(e->field));
    char *js = gw_api_err_json(e);
    CHECK(js);
    json_t *o = json_loads(js, 0, NULL);
    CHECK(json_is_object(o));
    CHECK(!strcmp(json_string_value(json_object_get(o, "error")), e->code));
    CHECK(json_is_string(json_object_get(o, "message")));
    CHECK(!e->field[0] || json_is_string(json_object_get(o, "field")));
    json_decref(o);
    free(js);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    const gw_api_body_check *c = checks[(data[0] & 0x07u) % MC_ARRAY_LEN(checks)];
    const gw_api_token *t = T[(data[0] & FZ_TOKEN_BIT) ? 1 : 0];
    json_t *body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) { /* answered 400 bad_json before any check */
        json_decref(body);
        return 0;
    }
    gw_api_err e = {0};
    int rc = gw_api_check_body(A, t, c, body, &e);
    CHECK(rc == 0 || rc == MC_EINVAL);
    if (getenv("FUZZ_API_VERBOSE")) /* what each input got: to read a corpus */
        fprintf(stderr, "fuzz_api: %s: %d %s %s\n", c->name, rc ? e.status : 0, e.code, e.field);
    if (rc)
        check_error(&e);
    else
        CHECK(e.status == 0);
    json_decref(body);
    return 0;
}
