/*
 * intents/nlu.c — the understanding engine: loading every table once, then classifying a
 * message into an intent of shared/spec/intents.md with its entities.
 *
 * Big idea: vi-nlp turns whatever the citizen typed (accents or not, teencode, NFD, CAPS,
 * emoji) into one ASCII key; everything else is a lookup on that key. The intent is the
 * trained model's calibrated probability when a model is given, else the sum of the
 * weights of rules.txt phrases found (an n-gram hash over the key's syllables, so the cost
 * does not grow with the number of rules). A handful of precise rules ([override]: SMS
 * keywords, "TRA <code>", a bare dossier code) beat both because they are exact, and so
 * does a bare mention (a procedure named with nothing asked: a clarifying question). Below
 * a confidence threshold the answer is out_of_scope — or, when a procedure is named, the
 * clarifying question. Entities come from vi-nlp's extractor and vn_dict phrase
 * dictionaries (procedure aliases, issue keywords; ward names and filler words tell a bare
 * mention). Procedure names are also matched with one typo per syllable
 * (vn_dict_match_fuzzy); of several named, the one asked about wins over the ones named as
 * context (focus_score, cues of rules.txt). Two precise afterthoughts: a procedure's words
 * near a pet, a plane or a party ([not_public]) are out of scope, and a status question
 * that also asks to be told later carries notify.subscribe as its second request. The
 * per-message path allocates only the normalized text.
 *
 * All wording and tuning is data in intents/data/, validated at start-up with file:line.
 */
#include "intents/nlu.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "core/mc_mem.h"
#include "intents/nlu_data.h"
#include "intents/nlu_internal.h"

const char *const nlu_intent_ids[NLU_N_INTENTS] = {
    "procedure.documents",
    "procedure.fee",
    "procedure.duration",
    "procedure.location",
    "procedure.online",
    "dossier.status",
    "notify.subscribe",
    "notify.unsubscribe",
    "report.issue",
    "office.hours",
    "handoff.human",
    "greeting",
    "goodbye",
    "thanks",
    "out_of_scope",
};

const char *const nlu_issue_ids[NLU_N_ISSUES] = {
    "rac_thai", "ngap_nuoc", "duong_hu", "den_duong", "tieng_on", "lan_chiem", "cay_xanh", "khac",
};

int nlu_intent_index(const char *id) {
    for (int i = 0; id && i < NLU_N_INTENTS; i++)
        if (strcmp(id, nlu_intent_ids[i]) == 0)
            return i;
    return -1;
}

int nlu_is_procedure_intent(int i) {
    return i >= NLU_I_DOCUMENTS && i <= NLU_I_ONLINE;
}

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- the rule hash: phrase (plain key) -> rules --------------------------------------- */

#define FNV_OFF 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = FNV_OFF;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

/* Adds the weights of every rule whose phrase is s[0..n) (hash h), each rule once. */
static void rule_hit(const nlu_engine *e, uint64_t h, const char *s, size_t n, double *score,
                     uint64_t *seen) {
    for (size_t k = (size_t)h & e->rule_mask;; k = (k + 1) & e->rule_mask) {
        uint32_t v = e->rule_tab[k];
        if (v == 0)
            return;
        const nlu_rule *r = &e->rules[v - 1];
        if (r->len == n && memcmp(r->plain, s, n) == 0 &&
            !(seen[(v - 1) / 64] >> ((v - 1) % 64) & 1)) {
            seen[(v - 1) / 64] |= 1ULL << ((v - 1) % 64);
            score[r->intent] += r->weight;
        }
    }
}

/* Scores every intent by the rules whose phrase occurs in the key on syllable boundaries:
 * each syllable start is extended by up to max_tokens syllables and looked up. */
static void rule_scores(const nlu_engine *e, const char *p, size_t n, double *score) {
    uint64_t seen[(NLU_MAX_RULES + 63) / 64] = {0};
    size_t s = 0;
    while (s < n) {
        uint64_t h = FNV_OFF;
        size_t end = s;
        for (int k = 0; k < e->max_tokens && end < n; k++) {
            if (k) {
                h = (h ^ (unsigned char)' ') * FNV_PRIME;
                end++;
            }
            while (end < n && p[end] != ' ')
                h = (h ^ (unsigned char)p[end++]) * FNV_PRIME;
            rule_hit(e, h, p + s, end - s, score, seen);
        }
        while (s < n && p[s] != ' ')
            s++;
        s++;
    }
}

/* ---- precise rules -------------------------------------------------------------------- */

static int is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* 1 when s[0..n) holds exactly the letters and digits of code, whatever separates them
 * (citizens write the code with spaces, '_' or '.' for '-'). */
static int only_code(const char *s, size_t n, const char *code) {
    size_t i = 0;
    for (const char *c = code; *c; c++) {
        if (!is_alnum(*c))
            continue;
        while (i < n && !is_alnum(s[i]))
            i++;
        if (i == n || lower(s[i]) != lower(*c))
            return 0;
        i++;
    }
    while (i < n && !is_alnum(s[i]))
        i++;
    return i == n;
}

/* The first precise rule the message matches, or -1. */
static int match_override(const nlu_engine *e, const vn_text *t, const char *code) {
    for (size_t i = 0; i < e->n_over; i++) {
        const nlu_override *o = &e->over[i];
        if (!o->with_code) {
            if (t->plain_len == o->len && memcmp(t->plain, o->plain, o->len) == 0)
                return (int)i;
            continue;
        }
        if (!code[0])
            continue;
        size_t skip = 0;
        if (o->len) {
            if (t->plain_len <= o->len || memcmp(t->plain, o->plain, o->len) != 0 ||
                t->plain[o->len] != ' ')
                continue;
            skip = o->len + 1;
        }
        if (only_code(t->plain + skip, t->plain_len - skip, code))
            return (int)i;
    }
    return -1;
}

/* ---- classification ------------------------------------------------------------------- */

/* Tokens after a procedure alias within which a citizen ID makes the alias its cue
 * ("số CCCD của tôi là 0791...": CCCD names the card, not the procedure asked about). */
#define NLU_CUE_WINDOW 4

/* 1 when one of the NLU_CUE_WINDOW tokens from token i on is the citizen ID. */
static int cue_of_id(const vn_text *t, size_t i, const char *id) {
    size_t n = strlen(id);
    for (size_t k = i; n && k < t->ntok && k < i + NLU_CUE_WINDOW; k++)
        if (t->tok[k].p_len == n && memcmp(t->plain + t->tok[k].p_off, id, n) == 0)
            return 1;
    return 0;
}

/* 1 when a clause ends between tokens k-1 and k: the source text between them holds
 * , . ; : ? ! or a line break (*qmark is set when it holds a '?'), or token k starts a
 * [clause] phrase of c[0..nc). Tokens of one expansion share their source. */
static int clause_break(const nlu_engine *e, const vn_text *t, const char *text, size_t len,
                        const vn_match *c, size_t nc, size_t k, int *qmark) {
    if (k == 0 || k >= t->ntok) {
        if (k >= t->ntok && qmark && k > 0)
            for (size_t i = t->tok[k - 1].src_off + t->tok[k - 1].src_len; i < len; i++)
                *qmark |= text[i] == '?';
        return 1;
    }
    size_t a = t->tok[k - 1].src_off + t->tok[k - 1].src_len, b = t->tok[k].src_off;
    int brk = 0;
    for (size_t i = a; i < b && i < len; i++) {
        char ch = text[i];
        if (ch == ',' || ch == '.' || ch == ';' || ch == '?' || ch == '!' || ch == ':' ||
            ch == '\n')
            brk = 1;
        if (ch == '?' && qmark)
            *qmark = 1;
    }
    for (size_t i = 0; i < nc && !brk; i++)
        brk = e->cue_w[c[i].value][NLU_CUE_BREAK] > 0 && c[i].tok_start == k;
    return brk;
}

/* How much the message asks about the procedure named at m[i] (its focus), from the cues
 * of rules.txt (c[0..nc)): a focus verb before, opening or straddling the start of the
 * name adds; a context word ending at (or inside) its start, or starting right after it,
 * or opening its clause ("để ..., vì ...") subtracts (none across a clause break); the strongest
 * question word (or a '?') of its clause adds — of its clause and of the clauses after it that name
 * no procedure ("..., ngân hàng đòi giấy độc thân, xin ở đâu?" asks about the paper named last). */
static double focus_score(const nlu_engine *e, const vn_text *t, const char *text, size_t len,
                          const vn_match *m, size_t nm, size_t i, const vn_match *c, size_t nc) {
    size_t a = m[i].tok_start, b = m[i].tok_end;
    while (!clause_break(e, t, text, len, c, nc, a, NULL))
        a--;
    int qmark = 0;
    while (!clause_break(e, t, text, len, c, nc, b, &qmark))
        b++;
    /* A short clause after it that names no procedure ("xin ở đâu?") still speaks of it. */
    while (b < t->ntok) {
        size_t nb = b + 1;
        int q2 = 0;
        while (!clause_break(e, t, text, len, c, nc, nb, &q2))
            nb++;
        int named = 0;
        for (size_t j = 0; j < nm && !named; j++)
            named = m[j].tok_start >= b && m[j].tok_start < nb;
        if (named || nb - b > NLU_FOCUS_TAIL_MAX)
            break;
        b = nb;
        qmark |= q2;
    }
    size_t s0 = m[i].tok_start, s1 = m[i].tok_end;
    /* A cue across a clause break says nothing about the name. */
    int open_before = s0 > a, open_after = !clause_break(e, t, text, len, c, nc, s1, NULL);
    double s = 0, q = qmark ? e->qmark_w : 0;
    for (size_t k = 0; k < nc; k++) {
        const double *w = e->cue_w[c[k].value];
        int before =
            c[k].tok_start < s0 && c[k].tok_end >= s0 && (open_before || c[k].tok_end > s0);
        if ((before || c[k].tok_start == s0) && c[k].tok_end <= s1)
            s += w[NLU_CUE_FOCUS];
        if (before)
            s -= w[NLU_CUE_CONTEXT];
        if (c[k].tok_start == a && c[k].tok_end <= s0)
            s -= w[NLU_CUE_CLAUSE];
        if (c[k].tok_start == s1 && open_after)
            s -= w[NLU_CUE_AFTER];
        if (c[k].tok_start >= a && c[k].tok_start < b && w[NLU_CUE_QUESTION] > q)
            q = w[NLU_CUE_QUESTION];
    }
    return s + q;
}

/* The named procedure: vn_dict resolves overlapping aliases (the longest, then the exact
 * one wins). Of several procedures, the one named where focus_score is highest is the one
 * asked about ("đang thuê trọ ở Gò Vấp, muốn đăng ký kết hôn thì làm ở đâu" asks about
 * kết hôn); on a tie, the first named. An alias that only introduces the citizen's ID
 * number does not count. */
static const nlu_procedure *find_procedure(const nlu_engine *e, const vn_text *t, const char *text,
                                           size_t len, const vn_match *m, size_t n,
                                           const char *citizen_id, const vn_match **at) {
    int first = -1, several = 0;
    if (n > NLU_MAX_MATCHES)
        n = NLU_MAX_MATCHES;
    for (size_t i = 0; i < n; i++) {
        if (cue_of_id(t, m[i].tok_end, citizen_id))
            continue;
        if (first < 0)
            first = (int)i;
        else if (m[i].value != m[first].value)
            several = 1;
    }
    if (first < 0)
        return NULL;
    if (several) {
        vn_match c[NLU_MAX_CUE_MATCHES];
        size_t nc = vn_dict_match(e->cues, t, c, NLU_MAX_CUE_MATCHES);
        if (nc > NLU_MAX_CUE_MATCHES)
            nc = NLU_MAX_CUE_MATCHES;
        double best = focus_score(e, t, text, len, m, n, (size_t)first, c, nc);
        for (size_t i = (size_t)first + 1; i < n; i++) {
            if (cue_of_id(t, m[i].tok_end, citizen_id))
                continue;
            double s = focus_score(e, t, text, len, m, n, i, c, nc);
            if (s > best) {
                best = s;
                first = (int)i;
            }
        }
    }
    *at = &m[first];
    return nlu_catalog_at(e->cat, (size_t)m[first].value);
}

static void cover(unsigned char *cov, size_t ntok, const vn_match *m, size_t n, size_t max) {
    for (size_t i = 0; i < n && i < max; i++)
        for (size_t k = m[i].tok_start; k < m[i].tok_end && k < ntok; k++)
            cov[k] = 1;
}

/* 1 when the message is nothing but procedure names, ward names and [filler] words
 * ("khai sinh", "còn kết hôn thì sao?", "phường Bến Thành ạ"): it names something and
 * asks nothing about it, whatever a model trained on questions makes of it. */
static int bare_mention(const nlu_engine *e, const vn_text *t, const vn_match *pm, size_t npm,
                        int ward) {
    unsigned char cov[NLU_BARE_MAX_TOKENS] = {0};
    vn_match m[NLU_BARE_MAX_TOKENS];
    if (t->ntok == 0 || t->ntok > NLU_BARE_MAX_TOKENS)
        return 0;
    cover(cov, t->ntok, pm, npm, NLU_MAX_MATCHES);
    cover(cov, t->ntok, m, vn_dict_match(e->filler, t, m, NLU_BARE_MAX_TOKENS),
          NLU_BARE_MAX_TOKENS);
    if (ward)
        cover(cov, t->ntok, m, vn_dict_match(e->wards, t, m, NLU_BARE_MAX_TOKENS),
              NLU_BARE_MAX_TOKENS);
    for (size_t k = 0; k < t->ntok; k++)
        if (!cov[k])
            return 0;
    return 1;
}

/* 1 when a [not_public] phrase of rules.txt is in the message and, when a procedure is
 * named at pm, within NLU_NOTPUB_NEAR tokens of it in the same clause: "khai sinh cho mèo
 * cưng" asks for the cat, "làm tiệc cưới xong rồi, giờ đăng ký kết hôn cần gì" asks about
 * the marriage. */
static int not_public(const nlu_engine *e, const vn_text *t, const char *text, size_t len,
                      const vn_match *pm) {
    vn_match m[NLU_MAX_MATCHES];
    size_t n = vn_dict_match(e->notpub, t, m, NLU_MAX_MATCHES);
    for (size_t i = 0; i < n && i < NLU_MAX_MATCHES; i++) {
        if (!m[i].exact && m[i].value != 0)
            continue; /* an "accented" phrase typed without its diacritics */
        if (!pm)
            return 1;
        size_t a = m[i].tok_end < pm->tok_start ? m[i].tok_end : pm->tok_end;
        size_t b = m[i].tok_end < pm->tok_start ? pm->tok_start : m[i].tok_start;
        int near = b <= a || b - a <= NLU_NOTPUB_NEAR;
        for (size_t k = a; near && k <= b && k < t->ntok; k++)
            near = !clause_break(e, t, text, len, NULL, 0, k, NULL);
        if (near)
            return 1;
    }
    return 0;
}

static int find_issue(const nlu_engine *e, const vn_text *t) {
    vn_match m[NLU_MAX_MATCHES];
    return vn_dict_match(e->issues, t, m, NLU_MAX_MATCHES) > 0 ? m[0].value : -1;
}

/* Intent probabilities from the rules: the best intent's confidence grows with its score
 * and shrinks with the runner-up's (score / (score + runner-up)). */
static double rule_conf(const nlu_engine *e, const double *score, int best) {
    double second = 0;
    for (int i = 0; i < NLU_N_INTENTS; i++)
        if (i != best && score[i] > second)
            second = score[i];
    return (1.0 - exp(-score[best] / e->scale)) * (score[best] / (score[best] + second));
}

/* A report ticket in text[0..len): "PA", an optional separator (-, _, . or a space), the
 * six digits of the day, a separator, the number (1..6 digits), standing apart from the
 * letters and digits around it; written "PA-yymmdd-nnnn" (the number zero-padded to 4)
 * into out. 1 found, 0 not. The tickets are ours (gateway/conv/gw_turn.c), so their shape
 * is fixed; citizens type them in lower case and with spaces. */
static int find_ticket(const char *text, size_t len, char *out, size_t n) {
#define IS_ALNUM(c) (((c) >= '0' && (c) <= '9') || (((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'z'))
#define IS_SEP(c) ((c) == '-' || (c) == '_' || (c) == '.' || (c) == ' ')
    for (size_t i = 0; i + 10 <= len; i++) { /* "pa", 6 digits, a separator, a digit */
        if ((text[i] | 0x20) != 'p' || i + 1 >= len || (text[i + 1] | 0x20) != 'a' ||
            (i > 0 && (IS_ALNUM(text[i - 1]) || (unsigned char)text[i - 1] >= 0x80)))
            continue;
        size_t p = i + 2;
        if (p < len && IS_SEP(text[p]))
            p++;
        size_t d0 = p;
        while (p < len && p - d0 < 7 && text[p] >= '0' && text[p] <= '9')
            p++;
        if (p - d0 != 6 || p >= len || !IS_SEP(text[p]))
            continue;
        size_t day = d0;
        p++;
        size_t n0 = p;
        while (p < len && p - n0 < 7 && text[p] >= '0' && text[p] <= '9')
            p++;
        size_t nl = p - n0;
        if (nl < 1 || nl > 6 || (p < len && (IS_ALNUM(text[p]) || (unsigned char)text[p] >= 0x80)))
            continue;
        snprintf(out, n, "PA-%.6s-%s%.*s", text + day,
                 nl >= 4   ? ""
                 : nl == 3 ? "0"
                 : nl == 2 ? "00"
                           : "000",
                 (int)nl, text + n0);
        return 1;
    }
#undef IS_ALNUM
#undef IS_SEP
    return 0;
}

/* The decision shared by the model and the rules, from each intent's confidence c[]: the
 * likeliest intent; below the threshold th out_of_scope — unless a procedure is named
 * (named), then the likeliest procedure question with *clarify set. A bare mention of a
 * procedure (bare) asks nothing: it reads as the general question, procedure.documents,
 * with *clarify set. Ties go to the first intent in nlu_intent_ids. */
static int decide(const double *c, double th, int bare, int named, int *clarify) {
    int best = 0;
    for (int i = 1; i < NLU_N_INTENTS; i++)
        if (c[i] > c[best])
            best = i;
    if (bare) {
        *clarify = 1;
        return NLU_I_DOCUMENTS;
    }
    if (named && c[best] < th) {
        if (!nlu_is_procedure_intent(best)) {
            best = NLU_I_DOCUMENTS;
            for (int i = NLU_I_DOCUMENTS; i <= NLU_I_ONLINE; i++)
                if (c[i] > c[best])
                    best = i;
        }
        *clarify = 1;
        return best;
    }
    return c[best] < th ? NLU_I_OOS : best;
}

int nlu_classify(nlu_engine *e, const char *text, size_t len, nlu_result *out) {
    vn_text t;
    vn_entities ent;
    if (!out)
        return MC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!e)
        return MC_EINVAL;
    int rc = vn_normalize(e->vn, text, len, &t);
    if (rc != 0)
        return rc;
    memset(&ent, 0, sizeof(ent));
    rc = vn_extract(e->x, text, len, &t, &ent);
    if (rc != 0)
        goto done;
    snprintf(out->dossier_code, sizeof(out->dossier_code), "%s", ent.dossier_code);
    snprintf(out->phone, sizeof(out->phone), "%s", ent.phone);
    snprintf(out->citizen_id, sizeof(out->citizen_id), "%s", ent.citizen_id);
    out->age = ent.age;
    out->foreign = ent.foreign;
    if (ent.ward >= 0) {
        out->ward_id = vn_ward_id(e->x, ent.ward);
        out->ward_name = vn_ward_name(e->x, ent.ward);
    }
    vn_match pm[NLU_MAX_MATCHES];
    size_t npm = vn_dict_match_fuzzy(e->procs, e->vn, &t, pm, NLU_MAX_MATCHES);
    const vn_match *pat = NULL; /* where p is named */
    const nlu_procedure *p = find_procedure(e, &t, text, len, pm, npm, out->citizen_id, &pat);
    out->procedure = p ? p->id : NULL;
    int issue = find_issue(e, &t);
    out->bare = (p || out->ward_id) && bare_mention(e, &t, pm, npm, out->ward_id != NULL);

    int best;
    double conf;
    double score[NLU_N_INTENTS] = {0};
    int scored = 0; /* score[] holds the rule scores */
    int ov = match_override(e, &t, out->dossier_code);
    if (ov >= 0) {
        best = e->over[ov].intent;
        conf = e->override_conf;
        out->overridden = 1;
        if (e->over[ov].with_code && e->over[ov].len == 0)
            out->bare = 1;
    } else {
        double c[NLU_N_INTENTS] = {0}, th, oos;
        if (e->model) {
            float probs[NLU_MAX_CLASSES];
            int k = nlu_model_predict(e->model, &t, probs);
            if (k < 0) {
                rc = k;
                goto done;
            }
            for (size_t i = 0; i < e->n_classes; i++)
                c[e->class_intent[i]] += probs[i];
            th = e->min_conf_model;
            /* Nothing likely enough: the chance that the best guess is wrong. */
            oos = 1.0 - c[e->class_intent[k]];
        } else {
            double top = 0;
            rule_scores(e, t.plain, t.plain_len, score);
            scored = 1;
            /* The mentions count for the intent, not as phrases (score keeps those). */
            double sc[NLU_N_INTENTS];
            memcpy(sc, score, sizeof(sc));
            if (p)
                sc[NLU_I_DOCUMENTS] += e->mention;
            if (out->dossier_code[0])
                sc[NLU_I_STATUS] += e->code_mention;
            if (issue >= 0)
                sc[NLU_I_REPORT] += e->issue_mention;
            for (int i = 0; i < NLU_I_OOS; i++) {
                c[i] = sc[i] >= e->min_score ? rule_conf(e, sc, i) : 0;
                top = sc[i] > top ? sc[i] : top;
            }
            th = e->min_conf_rules;
            /* The rules cover only what they cover: an empty match is not proof that the
             * message is out of scope, hence the cap. */
            oos = e->oos_max * exp(-top / e->scale);
        }
        best = decide(c, th, p && out->bare, p != NULL, &out->clarify);
        conf = best == NLU_I_OOS ? oos : c[best];
        /* Worded like a procedure, asked about something no office handles. */
        if ((nlu_is_procedure_intent(best) || out->procedure || best == NLU_I_OOS) &&
            not_public(e, &t, text, len, out->procedure ? pat : NULL)) {
            if (best != NLU_I_OOS)
                conf = e->override_conf;
            best = NLU_I_OOS;
            out->procedure = NULL;
            out->clarify = out->bare = 0;
            out->not_public = 1;
        }
        /* A status question that also asks to be told later: both, status first. */
        if (best == NLU_I_STATUS || best == NLU_I_SUBSCRIBE) {
            if (!scored)
                rule_scores(e, t.plain, t.plain_len, score);
            if (score[NLU_I_STATUS] >= e->multi_min && score[NLU_I_SUBSCRIBE] >= e->multi_min) {
                conf = c[NLU_I_STATUS] + c[NLU_I_SUBSCRIBE]; /* one of the two, surely */
                best = NLU_I_STATUS;
                out->also = nlu_intent_ids[NLU_I_SUBSCRIBE];
            }
        }
    }
    /* A report ticket named: where it stands ("phản ánh PA-251203-0001 tới đâu rồi"), unless
     * the message clearly asks something else. */
    if (find_ticket(text, len, out->report_ticket, sizeof(out->report_ticket)) &&
        (best == NLU_I_REPORT || best == NLU_I_STATUS || best == NLU_I_OOS ||
         (nlu_is_procedure_intent(best) && !out->procedure))) {
        if (best != NLU_I_STATUS)
            conf = e->override_conf;
        best = NLU_I_STATUS;
        out->clarify = out->bare = 0;
        out->also = NULL;
        out->not_public = 0;
    }
    out->intent = nlu_intent_ids[best];
    out->confidence = conf < 0 ? 0 : conf > 1 ? 1 : conf;
    if (best == NLU_I_REPORT)
        out->issue_category = nlu_issue_ids[issue >= 0 ? issue : NLU_ISSUE_KHAC];
    rc = 0;
done:
    vn_text_free(&t);
    if (rc) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* ---- loading: rules.txt --------------------------------------------------------------- */

static int parse_num(const char *s, double lo, double hi, double *w) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > lo) || v > hi)
        return -1;
    *w = v;
    return 0;
}

/* Normalizes a phrase of a data file to its plain key (caller frees *plain). */
static int plain_key(nlu_engine *e, const char *s, char **plain, size_t *len) {
    vn_text t;
    int rc = vn_normalize(e->vn, s, strlen(s), &t);
    if (rc != 0)
        return rc;
    free(t.folded);
    *plain = t.plain;
    *len = t.plain_len;
    return 0;
}

static int count_tokens(const char *s, size_t n) {
    int k = n > 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == ' ';
    return k;
}

static int build_rule_table(nlu_engine *e, char *err, size_t errlen) {
    size_t size = 64;
    while (size < e->n_rules * 2)
        size *= 2;
    e->rule_tab = calloc(size, sizeof(*e->rule_tab));
    if (!e->rule_tab) {
        errf(err, errlen, "nlu: out of memory");
        return MC_ENOMEM;
    }
    e->rule_mask = size - 1;
    for (size_t i = 0; i < e->n_rules; i++) {
        size_t k = (size_t)fnv(e->rules[i].plain, e->rules[i].len) & e->rule_mask;
        while (e->rule_tab[k])
            k = (k + 1) & e->rule_mask;
        e->rule_tab[k] = (uint32_t)i + 1;
    }
    return 0;
}

/* The weight of a "phrase = weight" line: a number in (0, 100]. */
static int line_weight(const nlu_data *d, const nlu_line *l, double *w, char *err, size_t errlen) {
    if (parse_num(l->value, 0, 100, w) == 0)
        return 0;
    nlu_data_err(d, err, errlen, "'%s' is not a number in (0, 100]", l->value);
    return -1;
}

/* The unaccented key of a line's phrase, which must have letters (`what` names the phrase
 * in the message). The caller frees *plain; it is NULL on failure. */
static int phrase_key(nlu_engine *e, const nlu_data *d, const nlu_line *l, const char *what,
                      char **plain, size_t *len, char *err, size_t errlen) {
    if (plain_key(e, l->key, plain, len) == 0 && *len > 0)
        return 0;
    free(*plain);
    *plain = NULL;
    nlu_data_err(d, err, errlen, "%s '%s' has no letters", what, l->key);
    return -1;
}

/* One "[settings]" line. */
static int set_setting(nlu_engine *e, const nlu_data *d, const nlu_line *l, char *err,
                       size_t errlen) {
    static const struct {
        const char *key;
        size_t off;
        double hi;
    } keys[] = {
        {"min_score", offsetof(nlu_engine, min_score), 100},
        {"scale", offsetof(nlu_engine, scale), 100},
        {"procedure_mention", offsetof(nlu_engine, mention), 100},
        {"code_mention", offsetof(nlu_engine, code_mention), 100},
        {"issue_mention", offsetof(nlu_engine, issue_mention), 100},
        {"out_of_scope_max", offsetof(nlu_engine, oos_max), 1},
        {"min_confidence", offsetof(nlu_engine, min_conf_rules), 1},
        {"model_min_confidence", offsetof(nlu_engine, min_conf_model), 1},
        {"override_confidence", offsetof(nlu_engine, override_conf), 1},
        {"question_mark", offsetof(nlu_engine, qmark_w), 100},
        {"multi_request", offsetof(nlu_engine, multi_min), 100},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(keys); i++) {
        if (strcmp(l->key, keys[i].key) != 0)
            continue;
        double *dst = (double *)((char *)e + keys[i].off);
        if (*dst > 0) {
            nlu_data_err(d, err, errlen, "duplicate setting '%s'", l->key);
            return -1;
        }
        if (parse_num(l->value, 0, keys[i].hi, dst) != 0) {
            nlu_data_err(d, err, errlen, "'%s' must be a number in (0, %g]", l->key, keys[i].hi);
            return -1;
        }
        return 0;
    }
    nlu_data_err(d, err, errlen, "unknown setting '%s'", l->key);
    return -1;
}

/* One "[override]" line: "pattern = intent", the pattern possibly ending in
 * {dossier_code}. */
static int add_override(nlu_engine *e, const nlu_data *d, const nlu_line *l, char *err,
                        size_t errlen) {
    static const char ph[] = "{dossier_code}";
    int intent = nlu_intent_index(l->value);
    if (intent < 0) {
        nlu_data_err(d, err, errlen, "unknown intent '%s'", l->value);
        return -1;
    }
    if (e->n_over == NLU_MAX_OVERRIDES) {
        nlu_data_err(d, err, errlen, "more than %d precise rules", NLU_MAX_OVERRIDES);
        return -1;
    }
    char buf[NLU_DATA_MAX_LINE + 1];
    snprintf(buf, sizeof(buf), "%s", l->key);
    char *at = strstr(buf, ph);
    int with_code = at != NULL;
    if (at) {
        if (at[sizeof(ph) - 1] != '\0') {
            nlu_data_err(d, err, errlen, "%s may only end a pattern", ph);
            return -1;
        }
        *at = '\0';
    } else if (strchr(buf, '{')) {
        nlu_data_err(d, err, errlen, "unknown placeholder in '%s' (only %s)", l->key, ph);
        return -1;
    }
    nlu_override *o = &e->over[e->n_over];
    if (plain_key(e, buf, &o->plain, &o->len) != 0) {
        nlu_data_err(d, err, errlen, "pattern '%s' is not valid text", l->key);
        return -1;
    }
    if (o->len == 0 && !with_code) {
        free(o->plain);
        o->plain = NULL;
        nlu_data_err(d, err, errlen, "pattern '%s' has no letters", l->key);
        return -1;
    }
    o->with_code = with_code;
    o->intent = intent;
    e->n_over++;
    return 0;
}

static int add_rule(nlu_engine *e, const nlu_data *d, const nlu_line *l, int intent, char *err,
                    size_t errlen) {
    double w;
    if (line_weight(d, l, &w, err, errlen) != 0)
        return -1;
    if (e->n_rules == NLU_MAX_RULES) {
        nlu_data_err(d, err, errlen, "more than %d rules", NLU_MAX_RULES);
        return -1;
    }
    nlu_rule *r = &e->rules[e->n_rules];
    if (phrase_key(e, d, l, "phrase", &r->plain, &r->len, err, errlen) != 0)
        return -1;
    int k = count_tokens(r->plain, r->len);
    for (size_t i = 0; i < e->n_rules; i++)
        if (e->rules[i].intent == intent && e->rules[i].len == r->len &&
            memcmp(e->rules[i].plain, r->plain, r->len) == 0) {
            nlu_data_err(d, err, errlen,
                         "phrase '%s' is already in [%s] (same unaccented "
                         "key '%s')",
                         l->key, nlu_intent_ids[intent], r->plain);
            free(r->plain);
            r->plain = NULL;
            return -1;
        }
    if (k > NLU_MAX_RULE_TOKENS) {
        nlu_data_err(d, err, errlen, "phrase longer than %d syllables", NLU_MAX_RULE_TOKENS);
        free(r->plain);
        r->plain = NULL;
        return -1;
    }
    if (k > e->max_tokens)
        e->max_tokens = k;
    r->intent = intent;
    r->weight = w;
    e->n_rules++;
    return 0;
}

/* One line of [focus], [context], [context.after], [context.clause], [question] or
 * [clause]: "phrase = weight". A phrase may be listed in several sections (để is context
 * right before a name and opening a clause); each gives it its weight there. */
static int add_cue(nlu_engine *e, const nlu_data *d, const nlu_line *l, int kind, char *err,
                   size_t errlen) {
    double w;
    char msg[256] = "", *plain = NULL;
    size_t plen = 0;
    if (line_weight(d, l, &w, err, errlen) != 0 ||
        phrase_key(e, d, l, "cue", &plain, &plen, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < e->n_cues; i++)
        if (strcmp(e->cue_plain[i], plain) == 0) {
            free(plain);
            if (e->cue_w[i][kind] > 0) {
                nlu_data_err(d, err, errlen, "cue '%s' listed twice in this section", l->key);
                return -1;
            }
            e->cue_w[i][kind] = w;
            return 0;
        }
    if (e->n_cues == NLU_MAX_CUES) {
        free(plain);
        nlu_data_err(d, err, errlen, "more than %d focus cues", NLU_MAX_CUES);
        return -1;
    }
    if (vn_dict_add(e->cues, e->vn, l->key, strlen(l->key), (int)e->n_cues, msg, sizeof(msg))) {
        free(plain);
        nlu_data_err(d, err, errlen, "cue '%s': %s", l->key, msg);
        return -1;
    }
    e->cue_plain[e->n_cues] = plain;
    e->cue_w[e->n_cues++][kind] = w;
    return 0;
}

/* One "[ward_desk]" line: "ward|police|none|catalog = id, id" (catalog ids). */
static int add_desk(nlu_engine *e, const nlu_data *d, const nlu_line *l, char *err, size_t errlen) {
    static const char *const names[NLU_N_DESKS] = {"none", "ward", "police", "catalog"};
    int desk = -1;
    for (int i = 0; i < NLU_N_DESKS; i++)
        if (strcmp(l->key, names[i]) == 0)
            desk = i;
    if (desk < 0) {
        nlu_data_err(d, err, errlen, "unknown desk '%s' (none, ward, police or catalog)", l->key);
        return -1;
    }
    for (const char *s = l->value; *s;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        char id[NLU_CAT_MAX_ID];
        const nlu_procedure *p = NULL;
        if (n && n < sizeof(id)) {
            memcpy(id, s, n);
            id[n] = '\0';
            p = nlu_catalog_get(e->cat, id);
        }
        if (!p) {
            nlu_data_err(d, err, errlen, "'%.*s' is not a procedure of the catalog", (int)n, s);
            return -1;
        }
        for (size_t i = 0; i < nlu_catalog_count(e->cat); i++)
            if (nlu_catalog_at(e->cat, i) == p)
                e->ward_desk[i] = (uint8_t)desk;
        s = comma ? comma + 1 : s + strlen(s);
        while (*s == ' ' || *s == '\t')
            s++;
    }
    return 0;
}

/* One "[filler]" or "[not_public]" line: "words = a, b, c", phrases added to dict. */
static int add_words(nlu_engine *e, vn_dict *dict, const nlu_data *d, const nlu_line *l, char *err,
                     size_t errlen) {
    /* [not_public] also takes "accented = ...": phrases that count only typed with their
     * diacritics (typed without, they spell everyday words: "phi cong" is phí công). */
    int value = strcmp(l->key, "words") == 0                           ? 0
                : dict == e->notpub && strcmp(l->key, "accented") == 0 ? 1
                                                                       : -1;
    if (value < 0) {
        nlu_data_err(d, err, errlen, "unknown key '%s' (words%s)", l->key,
                     dict == e->notpub ? " or accented" : "");
        return -1;
    }
    for (const char *s = l->value; *s;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n) {
            char msg[256] = "";
            if (vn_dict_add(dict, e->vn, s, n, value, msg, sizeof(msg)) != 0) {
                nlu_data_err(d, err, errlen, "phrase '%.*s': %s", (int)n, s, msg);
                return -1;
            }
        }
        s = comma ? comma + 1 : s + strlen(s);
        while (*s == ' ' || *s == '\t')
            s++;
    }
    return 0;
}

/* The sections of rules.txt besides the intents', numbered after them: five of their own,
 * then one per cue kind (in the order of NLU_N_CUE_KINDS). */
enum { SEC_SETTINGS = NLU_N_INTENTS, SEC_OVERRIDE, SEC_FILLER, SEC_NOTPUB, SEC_DESK, SEC_CUE0 };
static const char *const rule_sections[] = {
    "settings", "override",      "filler",         "not_public", "ward_desk", "focus",
    "context",  "context.after", "context.clause", "question",   "clause"};
_Static_assert(MC_ARRAY_LEN(rule_sections) == SEC_CUE0 - SEC_SETTINGS + NLU_N_CUE_KINDS,
               "one name per section of rules.txt");

static int rules_section(void *priv, const nlu_data *d, const char *name, char *err,
                         size_t errlen) {
    (void)priv;
    for (size_t k = 0; k < MC_ARRAY_LEN(rule_sections); k++)
        if (strcmp(name, rule_sections[k]) == 0)
            return SEC_SETTINGS + (int)k;
    int intent = nlu_intent_index(name);
    if (intent < 0)
        nlu_data_err(d, err, errlen,
                     "unknown section '%s' (an intent id, settings, override, "
                     "filler, not_public, ward_desk, focus, context, "
                     "context.after, context.clause, question or clause)",
                     name);
    else if (intent == NLU_I_OOS)
        nlu_data_err(d, err, errlen,
                     "out_of_scope has no phrases: it is what is "
                     "left when nothing else is likely");
    return intent < 0 || intent == NLU_I_OOS ? MC_EPARSE : intent;
}

static int rules_kv(void *priv, const nlu_data *d, int sec, const nlu_line *l, char *err,
                    size_t errlen) {
    nlu_engine *e = priv;
    int bad = sec == SEC_SETTINGS   ? set_setting(e, d, l, err, errlen)
              : sec == SEC_OVERRIDE ? add_override(e, d, l, err, errlen)
              : sec == SEC_FILLER   ? add_words(e, e->filler, d, l, err, errlen)
              : sec == SEC_NOTPUB   ? add_words(e, e->notpub, d, l, err, errlen)
              : sec == SEC_DESK     ? add_desk(e, d, l, err, errlen)
              : sec >= SEC_CUE0     ? add_cue(e, d, l, sec - SEC_CUE0, err, errlen)
                                    : add_rule(e, d, l, sec, err, errlen);
    return bad ? MC_EPARSE : 0;
}

static int rules_end(void *priv, const nlu_data *d, char *err, size_t errlen) {
    const nlu_engine *e = priv;
    if (e->n_rules == 0 || e->min_score <= 0 || e->scale <= 0 || e->mention <= 0 ||
        e->code_mention <= 0 || e->issue_mention <= 0 || e->oos_max <= 0 ||
        e->min_conf_rules <= 0 || e->min_conf_model <= 0 || e->override_conf <= 0 ||
        e->qmark_w <= 0 || e->multi_min <= 0) {
        nlu_data_err(d, err, errlen,
                     "needs phrases and every [settings] key: min_score, scale, "
                     "procedure_mention, code_mention, issue_mention, out_of_scope_max, "
                     "min_confidence, model_min_confidence, override_confidence, "
                     "question_mark, multi_request");
        return MC_EPARSE;
    }
    return 0;
}

static int load_rules(nlu_engine *e, const char *path, char *err, size_t errlen) {
    static const nlu_data_hooks hooks = {rules_section, rules_kv, rules_end, "outside a section"};
    int rc = nlu_data_parse(path, &hooks, e, err, errlen);
    return rc ? rc : build_rule_table(e, err, errlen);
}

/* ---- loading: issue_categories.txt, procedure aliases --------------------------------- */

/* What load_issues keeps between lines. */
typedef struct issues_load {
    nlu_engine *e;
    int has_kw[NLU_N_ISSUES]; /* the category got a keyword */
} issues_load;

static int issues_section(void *priv, const nlu_data *d, const char *name, char *err,
                          size_t errlen) {
    (void)priv;
    for (int i = 0; i < NLU_N_ISSUES; i++)
        if (strcmp(name, nlu_issue_ids[i]) == 0)
            return i;
    nlu_data_err(d, err, errlen, "unknown issue category '%s'", name);
    return MC_EPARSE;
}

static int issues_kv(void *priv, const nlu_data *d, int cur, const nlu_line *l, char *err,
                     size_t errlen) {
    issues_load *s = priv;
    nlu_engine *e = s->e;
    if (*l->value == '\0') {
        nlu_data_err(d, err, errlen, "empty value for '%s'", l->key);
        return MC_EPARSE;
    }
    if (strcmp(l->key, "name") == 0) {
        if (e->issue_name[cur]) {
            nlu_data_err(d, err, errlen, "duplicate name of [%s]", nlu_issue_ids[cur]);
            return MC_EPARSE;
        }
        if (!(e->issue_name[cur] = strdup(l->value))) {
            nlu_data_err(d, err, errlen, "out of memory");
            return MC_ENOMEM;
        }
    } else if (strcmp(l->key, "keyword") == 0) {
        char msg[256] = "";
        if (cur == NLU_ISSUE_KHAC) {
            nlu_data_err(d, err, errlen, "[khac] takes no keywords: it is the default");
            return MC_EPARSE;
        }
        int arc = vn_dict_add(e->issues, e->vn, l->value, strlen(l->value), cur, msg, sizeof(msg));
        if (arc != 0) {
            nlu_data_err(d, err, errlen, "keyword '%s': %s", l->value, msg);
            return arc;
        }
        s->has_kw[cur] = 1;
    } else {
        nlu_data_err(d, err, errlen, "unknown key '%s' (name or keyword)", l->key);
        return MC_EPARSE;
    }
    return 0;
}

static int issues_end(void *priv, const nlu_data *d, char *err, size_t errlen) {
    const issues_load *s = priv;
    for (int i = 0; i < NLU_N_ISSUES; i++)
        if (!s->e->issue_name[i] || (!s->has_kw[i] && i != NLU_ISSUE_KHAC)) {
            nlu_data_err(d, err, errlen, "[%s] needs a name%s", nlu_issue_ids[i],
                         i == NLU_ISSUE_KHAC ? "" : " and keywords");
            return MC_EPARSE;
        }
    return 0;
}

static int load_issues(nlu_engine *e, const char *path, char *err, size_t errlen) {
    static const nlu_data_hooks hooks = {issues_section, issues_kv, issues_end,
                                         "outside a [category] section"};
    issues_load s = {e, {0}};
    return nlu_data_parse(path, &hooks, &s, err, errlen);
}

static int load_aliases(nlu_engine *e, const char *path, char *err, size_t errlen) {
    for (size_t i = 0; i < nlu_catalog_count(e->cat); i++) {
        const nlu_procedure *p = nlu_catalog_at(e->cat, i);
        for (size_t a = 0; a < p->n_aliases; a++) {
            char msg[256] = "";
            int rc = vn_dict_add(e->procs, e->vn, p->aliases[a], strlen(p->aliases[a]), (int)i, msg,
                                 sizeof(msg));
            if (rc != 0) {
                errf(err, errlen, "%s:%d: alias '%s' of [%s]: %s", path, p->alias_lines[a],
                     p->aliases[a], p->id, msg);
                return rc;
            }
        }
    }
    return 0;
}

/* The ward names of the extractor, to tell a message that is only a ward name. */
static int load_wards(nlu_engine *e, const char *vdir, char *err, size_t errlen) {
    for (size_t i = 0; i < vn_ward_count(e->x); i++) {
        const char *name = vn_ward_name(e->x, (int)i);
        char msg[256] = "";
        int rc = name ? vn_dict_add(e->wards, e->vn, name, strlen(name), (int)i, msg, sizeof(msg))
                      : MC_EINVAL;
        if (rc != 0) {
            errf(err, errlen, "%s: ward %zu: %s", vdir, i, msg);
            return rc;
        }
    }
    return 0;
}

static int load_model(nlu_engine *e, const char *path, char *err, size_t errlen) {
    if (!(e->model = nlu_model_load(path, err, errlen)))
        return MC_EPARSE;
    e->n_classes = nlu_model_classes(e->model);
    if (e->n_classes < 2 || e->n_classes > NLU_MAX_CLASSES) {
        errf(err, errlen, "%s: %zu classes (want 2..%d)", path, e->n_classes, NLU_MAX_CLASSES);
        return MC_EPARSE;
    }
    for (size_t i = 0; i < e->n_classes; i++) {
        const char *id = nlu_model_class(e->model, i);
        int k = nlu_intent_index(id);
        if (k < 0) {
            errf(err, errlen, "%s: class '%s' is not an intent of the contract", path,
                 id ? id : "(null)");
            return MC_EPARSE;
        }
        e->class_intent[i] = k;
    }
    return 0;
}

/* ---- engine --------------------------------------------------------------------------- */

void nlu_engine_free(nlu_engine *e) {
    if (!e)
        return;
    nlu_replies_free(e);
    for (size_t i = 0; i < e->n_rules; i++)
        free(e->rules[i].plain);
    for (size_t i = 0; i < e->n_over; i++)
        free(e->over[i].plain);
    for (int i = 0; i < NLU_N_ISSUES; i++)
        free(e->issue_name[i]);
    for (size_t i = 0; i < e->n_cues; i++)
        free(e->cue_plain[i]);
    nlu_model_free(e->model);
    vn_dict *const dicts[] = {e->issues, e->filler, e->wards, e->cues, e->notpub, e->procs};
    for (size_t i = 0; i < MC_ARRAY_LEN(dicts); i++)
        vn_dict_free(dicts[i]);
    nlu_catalog_free(e->cat);
    vn_extractor_free(e->x);
    vn_normalizer_free(e->vn);
    MC_FREE_ALL(e->rules, e->rule_tab, e->cue_plain, e->cue_w, e);
}

const struct nlu_catalog *nlu_engine_catalog(const nlu_engine *e) {
    return e->cat;
}

const struct vn_extractor *nlu_engine_extractor(const nlu_engine *e) {
    return e->x;
}

const struct vn_normalizer *nlu_engine_normalizer(const nlu_engine *e) {
    return e->vn;
}

size_t nlu_issue_count(void) {
    return NLU_N_ISSUES;
}

const char *nlu_issue_id(size_t i) {
    return i < NLU_N_ISSUES ? nlu_issue_ids[i] : NULL;
}

const char *nlu_engine_issue_name(const nlu_engine *e, const char *id) {
    for (size_t i = 0; id && i < NLU_N_ISSUES; i++)
        if (strcmp(id, nlu_issue_ids[i]) == 0)
            return e->issue_name[i];
    return NULL;
}

nlu_engine *nlu_engine_new(const nlu_engine_opts *o, char *err, size_t errlen) {
    char vdir[NLU_MAX_PATH], path[NLU_MAX_PATH + 32];
    const char *share = o ? o->share_dir : NULL;
    nlu_engine *e = calloc(1, sizeof(*e));
    if (!e || !share) {
        errf(err, errlen, "nlu: %s", e ? "no share directory" : "out of memory");
        goto fail;
    }
    if (snprintf(vdir, sizeof(vdir), "%s/vi-nlp/data", share) >= (int)sizeof(vdir) ||
        snprintf(e->replies_path, sizeof(e->replies_path), "%s/intents/data/replies.txt", share) >=
            (int)sizeof(e->replies_path)) {
        errf(err, errlen, "nlu: share directory path too long");
        goto fail;
    }
    if (!(e->vn = vn_normalizer_new(err, errlen)))
        goto fail;
    if (vn_normalizer_load(e->vn, vdir, err, errlen) != 0)
        goto fail;
    if (!(e->x = vn_extractor_new_shared(vdir, e->vn, err, errlen)))
        goto fail;
    if (!(e->rules = calloc(NLU_MAX_RULES, sizeof(*e->rules))) || !(e->procs = vn_dict_new()) ||
        !(e->issues = vn_dict_new()) || !(e->filler = vn_dict_new()) ||
        !(e->wards = vn_dict_new()) || !(e->cues = vn_dict_new()) || !(e->notpub = vn_dict_new()) ||
        !(e->cue_w = calloc(NLU_MAX_CUES, sizeof(*e->cue_w))) ||
        !(e->cue_plain = calloc(NLU_MAX_CUES, sizeof(*e->cue_plain)))) {
        errf(err, errlen, "nlu: out of memory");
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/intents/data/procedures.txt", share);
    if (!(e->cat = nlu_catalog_load_shared(path, e->vn, err, errlen)))
        goto fail;
    if (load_aliases(e, path, err, errlen) != 0)
        goto fail;
    if (vn_dict_typo_index(e->procs) != 0) {
        errf(err, errlen, "nlu: out of memory");
        goto fail;
    }
    if (load_wards(e, vdir, err, errlen) != 0)
        goto fail;
    snprintf(path, sizeof(path), "%s/intents/data/issue_categories.txt", share);
    if (load_issues(e, path, err, errlen) != 0)
        goto fail;
    snprintf(path, sizeof(path), "%s/intents/data/rules.txt", share);
    if (load_rules(e, path, err, errlen) != 0)
        goto fail;
    if (o->model_path && load_model(e, o->model_path, err, errlen) != 0)
        goto fail;
    if (nlu_replies_load(e, e->replies_path, err, errlen) != 0)
        goto fail;
    if (nlu_replies_check(e, err, errlen) != 0)
        goto fail;
    return e;
fail:
    nlu_engine_free(e);
    return NULL;
}
