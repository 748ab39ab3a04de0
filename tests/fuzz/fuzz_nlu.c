/*
 * tests/fuzz/fuzz_nlu.c — libFuzzer target over the whole understanding path of one
 * message: vn_normalize, vn_extract, nlu_classify, nlu_respond, and the conversation
 * context (nlu_context_decode / encode, nlu_converse).
 *
 * Big idea: besides "no crash, no leak, no undefined behaviour" (ASan + UBSan), every
 * output is checked against the promises of its header — plain is lower-case ASCII with
 * single spaces, entities have their canonical shapes, confidence is in [0,1], replies are
 * valid UTF-8, a decoded context encodes and decodes to itself — and a broken promise
 * aborts, so the fuzzer reports it like a crash.
 *
 * Input: the whole buffer is one message. When it holds a '\n', the bytes before the first
 * one are also tried as a stored context and the bytes after it as the next message of
 * that conversation.
 *
 * The engine is built once from MOTCUA_SERVER_SHARE_DIR (default ".", the repository) with
 * the model MOTCUA_NLU_MODEL when set. Built by `make fuzz` with clang -fsanitize=fuzzer,
 * and by the gcc builds with tests/fuzz/driver.c, which runs every file of
 * tests/fuzz/corpus/nlu/.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "intents/nlu.h"
#include "intents/nlu_dialog.h"
#include "vi-nlp/vn_entity.h"
#include "vi-nlp/vn_norm.h"
#include "vi-nlp/vn_utf8.h"
#include "fuzz_check.h"

#define FUZZ_NOW_MS 1763900000000LL /* a fixed clock: runs are reproducible */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nlu_engine *E;
static vn_normalizer *VN;
static vn_extractor *X;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (E)
        return 0;
    char err[512] = "", vdir[4096];
    const char *share = getenv("MOTCUA_SERVER_SHARE_DIR");
    const char *model = getenv("MOTCUA_NLU_MODEL");
    if (!share || !*share)
        share = ".";
    nlu_engine_opts o = {share, model && *model ? model : NULL};
    snprintf(vdir, sizeof vdir, "%s/vi-nlp/data", share);
    if (!(E = nlu_engine_new(&o, err, sizeof err)) || !(VN = vn_normalizer_new(err, sizeof err)) ||
        vn_normalizer_load(VN, vdir, err, sizeof err) != 0 ||
        !(X = vn_extractor_new(vdir, err, sizeof err))) {
        fprintf(stderr, "fuzz_nlu: cannot start: %s\n", err);
        abort();
    }
    return 0;
}

static void check_text(const vn_text *t) {
    CHECK(t->folded && t->plain);
    CHECK(strlen(t->folded) == t->folded_len && strlen(t->plain) == t->plain_len);
    CHECK(vn_utf8_valid(t->folded, t->folded_len, NULL));
    for (size_t i = 0; i < t->plain_len; i++) {
        unsigned char c = (unsigned char)t->plain[i];
        CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ' || c == '.' ||
              c == '-' || c == '_' || c == '+');
        CHECK(c != ' ' || (i > 0 && i + 1 < t->plain_len && t->plain[i + 1] != ' '));
    }
    for (size_t i = 0; i < t->folded_len; i++)
        CHECK(t->folded[i] != ' ' || (i > 0 && i + 1 < t->folded_len && t->folded[i + 1] != ' '));
}

static int all_digits(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* The shapes of intents.md: E.164 Vietnamese mobile, 12-digit CCCD, upper-case code
 * "agency-yymmdd-seq" without spaces. */
static void check_entities(const char *code, const char *phone, const char *cid) {
    size_t pl = strlen(phone), cl = strlen(cid), dl = strlen(code);
    CHECK(pl == 0 || (pl == 12 && !strncmp(phone, "+84", 3) && all_digits(phone + 3, 9)));
    CHECK(cl == 0 || (cl == 12 && all_digits(cid, 12)));
    for (size_t i = 0; i < dl; i++) {
        char c = code[i];
        CHECK((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-');
    }
    CHECK(dl == 0 || strchr(code, '-'));
}

static void check_reply(const nlu_reply *r) {
    CHECK(r->text && strlen(r->text) == r->text_len);
    CHECK(vn_utf8_valid(r->text, r->text_len, NULL));
    CHECK(r->n_quick <= NLU_MAX_QUICK);
    for (size_t i = 0; i < r->n_quick; i++)
        CHECK(r->quick[i].title && r->quick[i].payload &&
              vn_utf8_valid(r->quick[i].title, strlen(r->quick[i].title), NULL));
}

static void check_result(const nlu_result *r) {
    CHECK(r->intent != NULL);
    CHECK(isfinite(r->confidence) && r->confidence >= 0.0 && r->confidence <= 1.0);
    check_entities(r->dossier_code, r->phone, r->citizen_id);
    CHECK(r->age >= -1 && r->age <= 120); /* vi-nlp's VN_AGE_MAX */
    CHECK(r->foreign == 0 || r->foreign == 1);
}

static void one_message(const char *s, size_t n) {
    vn_text t;
    int rc = vn_normalize(VN, s, n, &t);
    int valid = vn_utf8_valid(s, n, NULL);
    CHECK(rc == 0 || rc == MC_EUTF8 || rc == MC_ETOOBIG);
    CHECK(rc != MC_EUTF8 || !valid);
    if (rc == 0) {
        check_text(&t);
        vn_entities ents;
        if (vn_extract(X, s, n, &t, &ents) == 0) {
            check_entities(ents.dossier_code, ents.phone, ents.citizen_id);
            CHECK(ents.ward >= -1 && (ents.ward < 0 || (size_t)ents.ward < vn_ward_count(X)));
            CHECK(ents.age >= -1 && ents.age <= 120);
            CHECK(ents.foreign == 0 || ents.foreign == 1);
        }
        vn_text_free(&t);
    }
    nlu_result r;
    int crc = nlu_classify(E, s, n, &r);
    CHECK(crc == rc); /* the engine normalizes the same way */
    if (crc == 0)
        check_result(&r);
    nlu_reply rep;
    if (nlu_respond(E, s, n, &r, &rep) == 0) {
        check_result(&r);
        check_reply(&rep);
        nlu_reply_free(&rep);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!E)
        LLVMFuzzerInitialize(NULL, NULL);
    const char *s = (const char *)data;
    one_message(s, size);

    const char *nl = memchr(s, '\n', size);
    if (!nl)
        return 0;
    size_t clen = (size_t)(nl - s);
    nlu_context ctx;
    if (nlu_context_decode(s, clen, &ctx) == 0) {
        char buf[NLU_CONTEXT_MAX];
        int n = nlu_context_encode(&ctx, buf, sizeof buf);
        CHECK(n >= 0 && (size_t)n < sizeof buf);
        nlu_context again;
        CHECK(nlu_context_decode(buf, (size_t)n, &again) == 0);
        CHECK(!strcmp(ctx.procedure, again.procedure) && !strcmp(ctx.intent, again.intent) &&
              !strcmp(ctx.pending, again.pending) && ctx.updated_ms == again.updated_ms);
    } else {
        memset(&ctx, 0, sizeof ctx);
    }
    nlu_result r;
    nlu_reply rep;
    if (nlu_converse(E, &ctx, FUZZ_NOW_MS, nl + 1, size - clen - 1, &r, &rep) == 0) {
        check_result(&r);
        check_reply(&rep);
        check_result(&rep.resolved);
        char buf[NLU_CONTEXT_MAX];
        CHECK(nlu_context_encode(&ctx, buf, sizeof buf) >= 0);
        nlu_reply_free(&rep);
    }
    return 0;
}
