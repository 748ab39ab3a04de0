/*
 * vi-nlp/vn_entity.c — dossier codes, mobile phones, citizen IDs and HCMC wards in a
 * citizen message, each in its canonical form.
 *
 * Everything works on the normalized text (vn_text): its plain key has ASCII digits
 * (full-width and other digits already mapped), lower-case letters, single spaces and the
 * in-token '.', '-', '_', '+', which is exactly what citizens vary when they type a code.
 *
 * Rules, in the order they run (a span used by one is not seen by the next):
 *  1. Dossier code (PCRE2): an agency code of 1-5 groups of 2-3 letters or digits with a
 *     digit among them (000, 25, G01, A1B: a group of letters only would be a word), then
 *     a letter with 2 digits (H29, G01; groups separated by '.', '_', '-' or a space), then
 *     yymmdd, then a sequence of 4-10 digits, each after an optional '-', '_', '.' or
 *     space. The date must exist (20yy, leap years). The letter+2 digits group and the
 *     date keep phones, IDs, dates and amounts out (none has a letter there). Canonical:
 *     upper case, groups joined by '.', 000.00.25.H29-231122-0001, G01.34.12.H29-240305-0123.
 *  2. Citizen ID with a cue: 12 digits, possibly in groups (079 203 001 234), whose first
 *     token comes at most VN_CCCD_CUE_WINDOW tokens after a cue (cccd, căn cước, số định
 *     danh, ...), with a valid province code and century digit (entities.txt).
 *  3. Mobile phone: digit groups (PCRE2 finds runs of digits joined by ' ', '.', '-', with an
 *     optional leading '+'); from any group start, whole groups adding up to 0 + 9 digits,
 *     84 + 9 digits, +84 + 9 digits or +84 + 0 + 9 digits, whose national number starts with
 *     a mobile prefix (entities.txt). Landlines (02x), 1800/1900 numbers, wrong lengths and
 *     digits glued to letters are rejected. Canonical: +84912345678.
 *  4. Citizen ID without a cue: one bare group of exactly 12 digits with a valid province
 *     code and a century digit 0-3 (born 1900-2099).
 *  5. Ward (a vn_dict of the 168 names): a name right after a prefix (phường, xã, đặc khu, p,
 *     f, x) or a place cue (ở, tại, thuộc, khu vực, địa bàn, ...) is taken with or without
 *     diacritics, unless, typed without them, it is ambiguous (Thanh An / Thạnh An). A bare
 *     name is taken only when typed with its exact diacritics (and the message shows the
 *     writer types diacritics: "an long" alone could be anything), not listed in [ward-stop]
 *     (names that usually mean a former district, the city, or ordinary words), and not
 *     right after a word of [ward-not-before] (quận, đường, a pronoun, a family name: "chị
 *     Xuân Hòa" is a person). Typed without diacritics a bare name is too ambiguous
 *     ("gia dinh" is "gia đình", family, far more often than "Gia Định").
 */
#include "vi-nlp/vn_entity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/mc.h"
#include "core/mc_mem.h"
#include "vi-nlp/vn_dict.h"
#include "vi-nlp/vn_internal.h"

/* Tokens allowed between a CCCD cue and the number ("cccd của em là 0792..." = 4). */
#define VN_CCCD_CUE_WINDOW 5
/* Digit groups, and digits per group, considered in one message. */
#define VN_MAX_GROUPS 64
#define VN_GROUP_DIGITS 16
/* Cue and ward matches considered in one message. */
#define VN_MAX_CUES 64
#define VN_MAX_WARD_MATCHES 16
/* Ward table limits. */
#define VN_MAX_WARDS 1024
#define WARD_ID_MAX 16
#define WARD_NAME_MAX 96
#define WARDS_COLUMNS 7
/* Age rule: largest age taken, and how many tokens before the number an [age-cue] counts. */
#define VN_AGE_MAX 120
#define VN_AGE_CUE_WINDOW 3
#define VN_AGE_MAX_CUES 32
/* Agency groups before the letter+2 digits group of a dossier code (the canonical form
 * then holds at most 5 * 4 + 4 + 1 + 6 + 1 + 10 bytes, within vn_entities.dossier_code). */
#define CODE_MAX_GROUPS 5
#define STR_(x) #x
#define STR(x) STR_(x)

enum { CUE_CCCD, CUE_PREFIX, CUE_PLACE, CUE_NOT, N_CUE };
/* Values in the dictionary of words about the person (its own: "con" is a ward-rule cue
 * too). */
enum { AGE_CUE, AGE_NOT, FOREIGN };

typedef struct ward {
    char id[WARD_ID_MAX];     /* GSO code, "27316" */
    char name[WARD_NAME_MAX]; /* "An Đông" */
    char slug[WARD_NAME_MAX]; /* "an-dong-27316" (name.slug of wards.csv) */
    uint8_t stop;             /* not taken bare */
    uint8_t ambig;            /* another ward has the same plain name */
} ward;

struct vn_extractor {
    vn_normalizer *n;       /* normalizer loaded from the same data_dir */
    int own_n;              /* 1: n is ours to free (vn_extractor_new); 0: borrowed */
    pcre2_code *re_code;    /* dossier code on the plain key */
    pcre2_code *re_run;     /* runs of digit groups on the plain key */
    uint8_t mobile[100];    /* "0XY" is a mobile prefix: mobile[XY] */
    uint8_t province[1000]; /* valid CCCD province codes */
    vn_dict *cues;          /* CUE_* phrases */
    vn_dict *person;        /* AGE_CUE / AGE_NOT / FOREIGN phrases */
    vn_dict *wards;         /* ward names -> index */
    ward *w;                /* nwards entries */
    size_t nwards;
};

static const char *const section_names[] = {
    "mobile-prefix",   "cccd-province", "cccd-cue", "ward-prefix",   "ward-cue",
    "ward-not-before", "ward-stop",     "age-cue",  "age-not-after", "foreign"};
enum {
    SEC_MOBILE,
    SEC_PROVINCE,
    SEC_CCCD_CUE,
    SEC_PREFIX,
    SEC_PLACE,
    SEC_NOT,
    SEC_STOP,
    SEC_AGE_CUE,
    SEC_AGE_NOT,
    SEC_FOREIGN,
    N_SEC
};
_Static_assert(MC_ARRAY_LEN(section_names) == N_SEC, "one name per section");
/* The sections about the person came later: a data directory without them still loads (no
 * "Nt" ages, no thresholds, no foreign element), so older deployments and test fixtures
 * keep working. */
static const uint8_t section_optional[N_SEC] = {
    [SEC_AGE_CUE] = 1, [SEC_AGE_NOT] = 1, [SEC_FOREIGN] = 1};

void vn_extractor_free(vn_extractor *x) {
    if (!x)
        return;
    if (x->own_n)
        vn_normalizer_free(x->n);
    pcre2_code_free(x->re_code);
    pcre2_code_free(x->re_run);
    vn_dict_free(x->cues);
    vn_dict_free(x->person);
    vn_dict_free(x->wards);
    MC_FREE_ALL(x->w, x);
}

size_t vn_ward_count(const vn_extractor *x) {
    return x ? x->nwards : 0;
}

const char *vn_ward_id(const vn_extractor *x, int i) {
    return (x && i >= 0 && (size_t)i < x->nwards) ? x->w[i].id : NULL;
}

const char *vn_ward_name(const vn_extractor *x, int i) {
    return (x && i >= 0 && (size_t)i < x->nwards) ? x->w[i].name : NULL;
}

const char *vn_ward_slug(const vn_extractor *x, int i) {
    return (x && i >= 0 && (size_t)i < x->nwards) ? x->w[i].slug : NULL;
}

static pcre2_code *compile(const char *pat, char *err, size_t errlen) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        if (err && errlen)
            snprintf(err, errlen, "vn_extractor: pattern at %zu: %s", (size_t)eo, (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    return re;
}

/* Finds a ward by exact name (after normalization) for [ward-stop]. */
static int ward_by_name(const vn_extractor *x, const char *s, size_t len) {
    vn_text t;
    int found = -1;
    if (vn_normalize(x->n, s, len, &t) != 0)
        return -1;
    vn_match m;
    if (vn_dict_match(x->wards, &t, &m, 1) == 1 && m.exact && m.tok_start == 0 &&
        m.tok_end == t.ntok)
        found = m.value;
    vn_text_free(&t);
    return found;
}

static int load_entities(vn_extractor *x, const char *dir, char *err, size_t errlen) {
    vn_file f;
    int rc = vn_file_open(&f, dir, "entities.txt", err, errlen);
    if (rc != 0)
        return rc;
    const char *line;
    size_t len;
    vn_file_sections(&f, section_names, N_SEC);
    while ((rc = vn_file_next(&f, &line, &len, err, errlen)) > 0) {
        int sec = f.sec;
        if (sec == SEC_MOBILE || sec == SEC_PROVINCE) {
            for (size_t i = 0; i < len;) {
                while (i < len && (line[i] == ' ' || line[i] == '\t'))
                    i++;
                size_t j = i;
                while (j < len && line[j] >= '0' && line[j] <= '9')
                    j++;
                if (j - i != 3 || (j < len && line[j] != ' ' && line[j] != '\t') ||
                    (sec == SEC_MOBILE && line[i] != '0')) {
                    rc = vn_file_err(&f, err, errlen, "expected 3-digit codes%s",
                                     sec == SEC_MOBILE ? " starting with 0" : "");
                    goto fail;
                }
                int v = (line[i] - '0') * 100 + (line[i + 1] - '0') * 10 + (line[i + 2] - '0');
                if (sec == SEC_MOBILE)
                    x->mobile[v] = 1;
                else
                    x->province[v] = 1;
                i = j;
            }
            continue;
        }
        if (sec == SEC_STOP) {
            int k = ward_by_name(x, line, len);
            if (k < 0) {
                rc = vn_file_err(&f, err, errlen, "'%.*s' is not a ward of wards.csv", (int)len,
                                 line);
                goto fail;
            }
            x->w[k].stop = 1;
            continue;
        }
        static const int cue_of[N_SEC] = {-1,      -1, CUE_CCCD, CUE_PREFIX, CUE_PLACE,
                                          CUE_NOT, -1, AGE_CUE,  AGE_NOT,    FOREIGN};
        vn_dict *d = sec >= SEC_AGE_CUE ? x->person : x->cues;
        char e2[256];
        if ((rc = vn_dict_add(d, x->n, line, len, cue_of[sec], e2, sizeof(e2))) != 0) {
            rc = vn_file_err(&f, err, errlen, "%s", e2);
            goto fail;
        }
    }
    if (rc < 0)
        goto fail;
    for (int s = 0; s < N_SEC; s++)
        if (!(f.seen & (1u << s)) && !section_optional[s]) {
            f.lineno = 0;
            rc = vn_file_err(&f, err, errlen, "missing section [%s]", section_names[s]);
            goto fail;
        }
    vn_file_close(&f);
    return 0;
fail:
    vn_file_close(&f);
    return rc;
}

/* Reads wards.csv: header "id,name.local,...", then 7 plain comma-separated columns. */
static int load_wards(vn_extractor *x, const char *dir, char *err, size_t errlen) {
    vn_file f;
    vn_smap *plain = NULL;
    int rc = vn_file_open(&f, dir, "wards.csv", err, errlen);
    if (rc != 0)
        return rc;
    rc = MC_ENOMEM;
    x->w = calloc(VN_MAX_WARDS, sizeof(ward));
    plain = vn_smap_new();
    if (!x->w || !plain)
        goto fail;
    const char *line;
    size_t len;
    int header = 1;
    while (vn_file_line(&f, &line, &len)) {
        if (len == 0)
            continue;
        const char *col[WARDS_COLUMNS];
        size_t cl[WARDS_COLUMNS];
        int nc = 0;
        for (size_t i = 0; nc < WARDS_COLUMNS;) {
            size_t j = i;
            while (j < len && line[j] != ',')
                j++;
            col[nc] = line + i;
            cl[nc++] = j - i;
            if (j >= len)
                break;
            i = j + 1;
            if (nc == WARDS_COLUMNS) {
                nc++; /* too many columns */
                break;
            }
        }
        if (memchr(line, '"', len)) {
            rc = vn_file_err(&f, err, errlen, "quoted fields are not supported");
            goto fail;
        }
        if (nc != WARDS_COLUMNS) {
            rc = vn_file_err(&f, err, errlen, "expected %d columns", WARDS_COLUMNS);
            goto fail;
        }
        if (header) {
            if (cl[0] != 2 || memcmp(col[0], "id", 2) || cl[1] != 10 ||
                memcmp(col[1], "name.local", 10)) {
                rc = vn_file_err(&f, err, errlen, "expected the header id,name.local,...");
                goto fail;
            }
            header = 0;
            continue;
        }
        if (x->nwards == VN_MAX_WARDS) {
            rc = vn_file_err(&f, err, errlen, "more than %d wards", VN_MAX_WARDS);
            goto fail;
        }
        int digits = cl[0] > 0 && cl[0] < WARD_ID_MAX;
        for (size_t i = 0; i < cl[0]; i++)
            digits &= col[0][i] >= '0' && col[0][i] <= '9';
        if (!digits) {
            rc = vn_file_err(&f, err, errlen, "id '%.*s' is not a number", (int)cl[0], col[0]);
            goto fail;
        }
        size_t nl = cl[1];
        const char *name = vn_trim(col[1], &nl);
        if (nl == 0 || nl >= WARD_NAME_MAX) {
            rc = vn_file_err(&f, err, errlen, "name empty or longer than %d bytes",
                             WARD_NAME_MAX - 1);
            goto fail;
        }
        if (cl[3] == 0 || cl[3] >= WARD_NAME_MAX) {
            rc = vn_file_err(&f, err, errlen, "name.slug empty or longer than %d bytes",
                             WARD_NAME_MAX - 1);
            goto fail;
        }
        ward *w = &x->w[x->nwards];
        memcpy(w->id, col[0], cl[0]);
        memcpy(w->name, name, nl);
        memcpy(w->slug, col[3], cl[3]);
        int idx = (int)x->nwards;
        if (ward_by_name(x, name, nl) >= 0) {
            rc = vn_file_err(&f, err, errlen, "ward '%.*s' listed twice", (int)nl, name);
            goto fail;
        }
        char e2[256];
        if ((rc = vn_dict_add(x->wards, x->n, name, nl, idx, e2, sizeof(e2))) != 0) {
            rc = vn_file_err(&f, err, errlen, "%s", e2);
            goto fail;
        }
        vn_text t;
        if ((rc = vn_normalize(x->n, name, nl, &t)) != 0)
            goto fail;
        int32_t other = -1;
        int put = vn_smap_put(plain, t.plain, t.plain_len, idx, &other);
        vn_text_free(&t);
        if (put < 0) {
            rc = put;
            goto fail;
        }
        if (put == 1) {
            w->ambig = 1;
            x->w[other].ambig = 1;
        }
        x->nwards++;
    }
    if (x->nwards == 0) {
        f.lineno = 0;
        rc = vn_file_err(&f, err, errlen, "no wards");
        goto fail;
    }
    vn_smap_free(plain);
    vn_file_close(&f);
    return 0;
fail:
    vn_smap_free(plain);
    vn_file_close(&f);
    return rc < 0 ? rc : MC_EPARSE;
}

vn_extractor *vn_extractor_new(const char *data_dir, char *err, size_t errlen) {
    return vn_extractor_new_shared(data_dir, NULL, err, errlen);
}

vn_extractor *vn_extractor_new_shared(const char *data_dir, vn_normalizer *n, char *err,
                                      size_t errlen) {
    vn_extractor *x = calloc(1, sizeof(*x));
    if (!x || !data_dir) {
        if (err && errlen)
            snprintf(err, errlen, "vn_extractor: %s", x ? "no data directory" : "out of memory");
        free(x);
        return NULL;
    }
    x->n = n;
    if (!x->n) {
        x->own_n = 1;
        if (!(x->n = vn_normalizer_new(err, errlen)))
            goto fail;
        if (vn_normalizer_load(x->n, data_dir, err, errlen) != 0)
            goto fail;
    }
    /* Agency groups (2-3 letters or digits, at least one digit among the first three, so a
     * word is never a group), the letter+2 digits group, yymmdd, sequence; see the top
     * comment. */
    x->re_code = compile("(?<![0-9a-z.])((?:(?=[a-z]{0,2}[0-9])[0-9a-z]{2,3}[-._ ]){1," STR(
                             CODE_MAX_GROUPS) "})([a-z][0-9]{2})[-._ ]?"
                                              "([0-9]{6})[-._ ]?([0-9]{4,10})(?![0-9a-z])",
                         err, errlen);
    /* A run starts a token: after '.', '-' or '_' it is the tail of a longer code. */
    x->re_run = compile("(?<![0-9a-z+._-])\\+?[0-9]+(?:[ .-][0-9]+)*", err, errlen);
    if (!x->re_code || !x->re_run)
        goto fail;
    x->cues = vn_dict_new();
    x->person = vn_dict_new();
    x->wards = vn_dict_new();
    if (!x->cues || !x->person || !x->wards) {
        if (err && errlen)
            snprintf(err, errlen, "vn_extractor: out of memory");
        goto fail;
    }
    if (load_wards(x, data_dir, err, errlen) != 0)
        goto fail;
    if (load_entities(x, data_dir, err, errlen) != 0)
        goto fail;
    return x;
fail:
    vn_extractor_free(x);
    return NULL;
}

/* ---- extraction ------------------------------------------------------------------------ */

static int days_in_month(int y, int m) {
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

static int two(const char *s) {
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static int is_code_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

/* Finds the first dossier code in plain; writes it canonical and marks its span. */
static void find_code(const vn_extractor *x, const char *p, size_t plen, pcre2_match_data *md,
                      vn_entities *out, size_t *span_s, size_t *span_e) {
    PCRE2_SIZE start = 0;
    while (start < plen && pcre2_match(x->re_code, (PCRE2_SPTR)p, plen, start, 0, md, NULL) >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        const char *date = p + ov[6];
        int yy = two(date), mm = two(date + 2), dd = two(date + 4);
        if (mm >= 1 && mm <= 12 && dd >= 1 && dd <= days_in_month(2000 + yy, mm)) {
            char buf[sizeof(out->dossier_code)];
            size_t o = 0;
            /* Agency groups: the letter/digit runs of group 1, upper case, joined by '.'. */
            for (PCRE2_SIZE i = ov[2]; i < ov[3];) {
                while (i < ov[3] && !is_code_char(p[i]))
                    i++;
                size_t o0 = o;
                while (i < ov[3] && is_code_char(p[i])) {
                    char c = p[i++];
                    buf[o++] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
                }
                if (o > o0)
                    buf[o++] = '.';
            }
            buf[o++] = (char)(p[ov[4]] - 'a' + 'A');
            buf[o++] = p[ov[4] + 1];
            buf[o++] = p[ov[4] + 2];
            buf[o++] = '-';
            memcpy(buf + o, date, 6);
            o += 6;
            buf[o++] = '-';
            memcpy(buf + o, p + ov[8], ov[9] - ov[8]);
            o += ov[9] - ov[8];
            buf[o] = '\0';
            memcpy(out->dossier_code, buf, o + 1);
            *span_s = ov[0];
            *span_e = ov[1];
            return;
        }
        start = ov[0] + 1;
    }
}

/* The key dossier codes are matched on: the plain key, unless a teencode rule or a VNI
 * repair rewrote a token typed with a digit. Agency groups typed with spaces look like
 * teencode ("T05 01 H29 240305 0123": t05 reads "thứ 05", p12 "phường 12", q11 "quận 11"),
 * so then the key is rebuilt with those tokens as typed (ASCII, lower case) and tok_at maps
 * each of its bytes back to the first token of its source. */
typedef struct code_key {
    const char *k;    /* the key: t->plain, or buf */
    size_t len;       /* bytes in k */
    char *buf;        /* owned when rebuilt, else NULL */
    uint32_t *tok_at; /* rebuilt only: per byte of buf, a token index */
} code_key;

/* 1 when every byte of the token's source is an ASCII letter, digit or . - _ and one is a
 * digit: a source the code key may take as typed. */
static int code_source(const char *in, const vn_tok *tk) {
    int digit = 0;
    for (uint32_t i = 0; i < tk->src_len; i++) {
        char c = in[tk->src_off + i];
        if (c >= '0' && c <= '9')
            digit = 1;
        else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' ||
                   c == '_'))
            return 0;
    }
    return digit;
}

static int rewritten(const vn_tok *tk) {
    return (tk->flags & (VN_TOK_EXPANDED | VN_TOK_REPAIRED)) != 0;
}

/* Fills ck for t (input in[0..len)). Returns 0 or MC_ENOMEM. */
static int code_key_make(const vn_text *t, const char *in, size_t len, code_key *ck) {
    memset(ck, 0, sizeof(*ck));
    ck->k = t->plain;
    ck->len = t->plain_len;
    int need = 0;
    for (size_t i = 0; i < t->ntok && !need && in; i++)
        need = rewritten(&t->tok[i]) && t->tok[i].src_off + t->tok[i].src_len <= len &&
               code_source(in, &t->tok[i]);
    if (!need)
        return 0;
    size_t cap = t->plain_len + len + 1;
    ck->buf = malloc(cap);
    ck->tok_at = malloc(cap * sizeof(uint32_t));
    if (!ck->buf || !ck->tok_at) {
        free(ck->buf);
        free(ck->tok_at);
        memset(ck, 0, sizeof(*ck));
        return MC_ENOMEM;
    }
    size_t o = 0;
    for (size_t i = 0; i < t->ntok;) {
        const vn_tok *tk = &t->tok[i];
        size_t j = i + 1; /* tokens [i, j) come from one source token */
        while (j < t->ntok && t->tok[j].src_off == tk->src_off)
            j++;
        if (o) {
            ck->tok_at[o] = (uint32_t)i;
            ck->buf[o++] = ' ';
        }
        if (rewritten(tk) && tk->src_off + tk->src_len <= len && code_source(in, tk)) {
            for (uint32_t b = 0; b < tk->src_len; b++) {
                char c = in[tk->src_off + b];
                ck->tok_at[o] = (uint32_t)i;
                ck->buf[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
            }
        } else {
            for (size_t k = i; k < j; k++) {
                if (k > i) {
                    ck->tok_at[o] = (uint32_t)k;
                    ck->buf[o++] = ' ';
                }
                memcpy(ck->buf + o, t->plain + t->tok[k].p_off, t->tok[k].p_len);
                for (uint32_t b = 0; b < t->tok[k].p_len; b++)
                    ck->tok_at[o + b] = (uint32_t)k;
                o += t->tok[k].p_len;
            }
        }
        i = j;
    }
    ck->buf[o] = '\0';
    ck->k = ck->buf;
    ck->len = o;
    return 0;
}

/* The plain-key span of the key bytes [s, e) (e > s). */
static void code_key_span(const vn_text *t, const code_key *ck, size_t *s, size_t *e) {
    if (!ck->buf)
        return;
    size_t a = ck->tok_at[*s], b = ck->tok_at[*e - 1];
    while (b + 1 < t->ntok && t->tok[b + 1].src_off == t->tok[b].src_off)
        b++;
    *s = t->tok[a].p_off;
    *e = t->tok[b].p_off + t->tok[b].p_len;
}

static void code_key_free(code_key *ck) {
    free(ck->buf);
    free(ck->tok_at);
}

typedef struct dgroup {
    size_t s, e;             /* bytes [s, e) of the plain key, digits only */
    char d[VN_GROUP_DIGITS]; /* the digits (truncated past VN_GROUP_DIGITS) */
    int nd;                  /* number of digits */
    int run;                 /* groups of one run may be joined */
    int plus;                /* a '+' precedes it */
    int glued;               /* a letter follows it directly */
    int used;                /* taken by an entity */
    size_t tok;              /* its token index */
} dgroup;

static size_t tok_of(const vn_text *t, size_t poff) {
    size_t lo = 0, hi = t->ntok;
    while (lo + 1 < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->tok[mid].p_off <= poff)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int is_lower_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (unsigned char)c >= 0x80;
}

/* Splits the digit runs of plain (outside [skip_s, skip_e)) into groups. */
static size_t find_groups(const vn_extractor *x, const vn_text *t, pcre2_match_data *md,
                          size_t skip_s, size_t skip_e, dgroup *g) {
    const char *p = t->plain;
    size_t plen = t->plain_len, ng = 0;
    PCRE2_SIZE start = 0;
    int run = 0;
    while (start < plen && ng < VN_MAX_GROUPS &&
           pcre2_match(x->re_run, (PCRE2_SPTR)p, plen, start, 0, md, NULL) >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        start = e > s ? e : s + 1;
        if (s < skip_e && e > skip_s)
            continue; /* inside the dossier code */
        int plus = 0;
        for (size_t i = s; i < e && ng < VN_MAX_GROUPS;) {
            if (p[i] == '+') {
                plus = 1;
                i++;
                continue;
            }
            if (p[i] < '0' || p[i] > '9') {
                i++;
                continue;
            }
            dgroup *d = &g[ng];
            memset(d, 0, sizeof(*d));
            d->s = i;
            while (i < e && p[i] >= '0' && p[i] <= '9') {
                if (d->nd < VN_GROUP_DIGITS)
                    d->d[d->nd] = p[i];
                d->nd++;
                i++;
            }
            d->e = i;
            d->run = run;
            d->plus = plus;
            d->glued = i < plen && is_lower_alpha(p[i]);
            d->tok = tok_of(t, d->s);
            plus = 0;
            ng++;
        }
        run++;
    }
    return ng;
}

/* Joins groups [s, e] (same run, unused, none glued but the last is checked) into digits;
 * returns the digit count, or -1 when they cannot be joined. */
static int join(const dgroup *g, size_t s, size_t e, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t k = s; k <= e; k++) {
        if (g[k].run != g[s].run || g[k].used || g[k].nd > VN_GROUP_DIGITS)
            return -1;
        if (k > s && g[k].plus)
            return -1;
        if (k < e && g[k].glued)
            return -1;
        if (o + (size_t)g[k].nd > cap)
            return -1;
        memcpy(buf + o, g[k].d, (size_t)g[k].nd);
        o += (size_t)g[k].nd;
    }
    return (int)o;
}

static int cccd_ok(const vn_extractor *x, const char *d) {
    int prov = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    return x->province[prov] && d[3] >= '0' && d[3] <= '3';
}

static int cue_before(const vn_match *cues, size_t nc, int kind, size_t tok, size_t window) {
    for (size_t i = 0; i < nc; i++)
        if (cues[i].value == kind && cues[i].tok_end <= tok && tok - cues[i].tok_end <= window)
            return 1;
    return 0;
}

static void find_numbers(const vn_extractor *x, dgroup *g, size_t ng, const vn_match *cues,
                         size_t nc, vn_entities *out) {
    char buf[VN_GROUP_DIGITS * 2];
    /* 2. Citizen ID after a cue, groups allowed. */
    for (size_t s = 0; s < ng && !out->citizen_id[0]; s++) {
        if (!cue_before(cues, nc, CUE_CCCD, g[s].tok, VN_CCCD_CUE_WINDOW) || g[s].plus)
            continue;
        for (size_t e = s; e < ng; e++) {
            int nd = join(g, s, e, buf, sizeof(buf));
            if (nd < 0 || nd > 12)
                break;
            if (nd == 12 && !g[e].glued && cccd_ok(x, buf)) {
                memcpy(out->citizen_id, buf, 12);
                out->citizen_id[12] = '\0';
                for (size_t k = s; k <= e; k++)
                    g[k].used = 1;
                break;
            }
        }
    }
    /* 3. Mobile phone. */
    for (size_t s = 0; s < ng && !out->phone[0]; s++) {
        for (size_t e = s; e < ng; e++) {
            int nd = join(g, s, e, buf, sizeof(buf));
            if (nd < 0 || nd > 12)
                break;
            if (g[e].glued)
                continue;
            const char *nat = NULL; /* the 9 national digits */
            if (g[s].plus) {
                if (nd == 11 && buf[0] == '8' && buf[1] == '4')
                    nat = buf + 2;
                else if (nd == 12 && buf[0] == '8' && buf[1] == '4' && buf[2] == '0')
                    nat = buf + 3;
            } else if (nd == 10 && buf[0] == '0') {
                nat = buf + 1;
            } else if (nd == 11 && buf[0] == '8' && buf[1] == '4') {
                nat = buf + 2;
            }
            if (!nat)
                continue;
            if (x->mobile[two(nat)]) {
                memcpy(out->phone, "+84", 3);
                memcpy(out->phone + 3, nat, 9);
                out->phone[12] = '\0';
                for (size_t k = s; k <= e; k++)
                    g[k].used = 1;
            }
            break; /* the right length was reached: this start is decided */
        }
    }
    /* 4. Citizen ID without a cue: one bare 12-digit group. */
    for (size_t s = 0; s < ng && !out->citizen_id[0]; s++)
        if (!g[s].used && !g[s].plus && !g[s].glued && g[s].nd == 12 && cccd_ok(x, g[s].d)) {
            memcpy(out->citizen_id, g[s].d, 12);
            out->citizen_id[12] = '\0';
            g[s].used = 1;
        }
}

/* 1 when the writer typed diacritics somewhere (a token accented as typed, not through an
 * expansion or a repair): then a name matched exactly was meant with its diacritics, even a
 * name that has none ("phường Thanh An" is not "Thạnh An"). */
static int typed_accents(const vn_text *t) {
    for (size_t i = 0; i < t->ntok; i++)
        if ((t->tok[i].flags & (VN_TOK_ACCENTED | VN_TOK_EXPANDED | VN_TOK_REPAIRED)) ==
            VN_TOK_ACCENTED)
            return 1;
    return 0;
}

static void find_ward(const vn_extractor *x, const vn_text *t, const vn_match *cues, size_t nc,
                      vn_entities *out) {
    vn_match wm[VN_MAX_WARD_MATCHES];
    size_t nw = vn_dict_match(x->wards, t, wm, VN_MAX_WARD_MATCHES);
    if (nw > VN_MAX_WARD_MATCHES)
        nw = VN_MAX_WARD_MATCHES;
    int accents = nw ? typed_accents(t) : 0;
    for (size_t i = 0; i < nw; i++) {
        const ward *w = &x->w[wm[i].value];
        size_t s = wm[i].tok_start;
        int prefix = 0, place = 0, notb = 0;
        for (size_t c = 0; c < nc; c++) {
            if (cues[c].tok_end != s)
                continue;
            if (cues[c].value == CUE_PREFIX)
                prefix = 1;
            else if (cues[c].value == CUE_PLACE)
                place = 1;
            else if (cues[c].value == CUE_NOT)
                notb = 1;
        }
        int strong = wm[i].exact && accents;
        int ok = (prefix || place) ? (strong || !w->ambig) : (strong && !w->stop && !notb);
        if (ok) {
            out->ward = wm[i].value;
            return;
        }
    }
}

/* 1 when token i of t is the plain word w. */
static int tok_is(const vn_text *t, size_t i, const char *w) {
    size_t n = strlen(w);
    return i < t->ntok && t->tok[i].p_len == n && memcmp(t->plain + t->tok[i].p_off, w, n) == 0;
}

/* 1 when token i came from a bare "t" typed alone, which teencode reads as "tôi" ("bé 5 t"
 * is "bé 5 tuổi" only after a number; the age rule checks that). */
static int bare_t(const char *in, const vn_text *t, size_t i) {
    const vn_tok *k = &t->tok[i];
    return (k->flags & VN_TOK_EXPANDED) && k->src_len == 1 &&
           (in[k->src_off] == 't' || in[k->src_off] == 'T');
}

/* Rules 6 and 7: the first age stated in t (in is the input t was made from) and whether a
 * foreign element is named. */
static void find_person(const vn_extractor *x, const char *in, const vn_text *t, vn_entities *out) {
    vn_match m[VN_AGE_MAX_CUES];
    size_t nm = vn_dict_match(x->person, t, m, VN_AGE_MAX_CUES);
    if (nm > VN_AGE_MAX_CUES)
        nm = VN_AGE_MAX_CUES;
    for (size_t c = 0; c < nm; c++)
        if (m[c].value == FOREIGN)
            out->foreign = 1;
    for (size_t i = 0; i < t->ntok; i++) {
        const vn_tok *k = &t->tok[i];
        if (!(k->flags & VN_TOK_DIGIT))
            continue;
        const char *p = t->plain + k->p_off;
        size_t d = 0;
        int n = 0;
        while (d < k->p_len && d < 4 && p[d] >= '0' && p[d] <= '9')
            n = n * 10 + (p[d++] - '0');
        if (d == 0 || d > 3)
            continue;
        const char *rest = p + d;
        size_t rl = k->p_len - d;
        int years = -1, needs_cue = 0;
        if (rl == 0) {
            if (tok_is(t, i + 1, "tuoi"))
                years = n;
            else if (tok_is(t, i + 1, "thang") && tok_is(t, i + 2, "tuoi"))
                years = n / 12; /* "10 tháng tuổi": a baby, 0 years */
            else if (i + 1 < t->ntok && bare_t(in, t, i + 1)) {
                years = n;
                needs_cue = 1;
            }
        } else if (rl == 4 && memcmp(rest, "tuoi", 4) == 0) {
            years = n;
        } else if (rl == 1 && rest[0] == 't') {
            years = n;
            needs_cue = 1;
        }
        if (years < 0 || years > VN_AGE_MAX)
            continue;
        int cue = 0, threshold = 0;
        for (size_t c = 0; c < nm; c++) {
            if (m[c].tok_end > i)
                break; /* matches come in text order */
            if (m[c].value == AGE_NOT && m[c].tok_end == i)
                threshold = 1;
            if (m[c].value == AGE_CUE && i - m[c].tok_end <= VN_AGE_CUE_WINDOW)
                cue = 1;
        }
        if (threshold || (needs_cue && !cue))
            continue;
        out->age = years;
        return;
    }
}

int vn_extract(const vn_extractor *x, const char *in, size_t len, const vn_text *t,
               vn_entities *out) {
    vn_text own;
    int rc = 0;
    if (!out)
        return MC_EINVAL;
    memset(out, 0, sizeof(*out));
    out->ward = -1;
    out->age = -1;
    if (!x)
        return MC_EINVAL;
    if (!t) {
        if ((rc = vn_normalize(x->n, in, len, &own)) != 0)
            return rc;
        t = &own;
    }
    vn_match cues[VN_MAX_CUES];
    size_t nc = vn_dict_match(x->cues, t, cues, VN_MAX_CUES);
    if (nc > VN_MAX_CUES)
        nc = VN_MAX_CUES;
    /* Numbers only when the text has a digit (most messages have none). */
    int digit = 0;
    for (size_t i = 0; i < t->plain_len && !digit; i++)
        digit = t->plain[i] >= '0' && t->plain[i] <= '9';
    if (digit) {
        pcre2_match_data *md = pcre2_match_data_create(12, NULL);
        if (!md) {
            rc = MC_ENOMEM;
            goto done;
        }
        size_t cs = 0, ce = 0;
        code_key ck;
        if ((rc = code_key_make(t, in, len, &ck)) != 0) {
            pcre2_match_data_free(md);
            goto done;
        }
        find_code(x, ck.k, ck.len, md, out, &cs, &ce);
        if (ce > cs)
            code_key_span(t, &ck, &cs, &ce);
        code_key_free(&ck);
        dgroup g[VN_MAX_GROUPS];
        size_t ng = find_groups(x, t, md, cs, ce, g);
        find_numbers(x, g, ng, cues, nc, out);
        pcre2_match_data_free(md);
    }
    find_person(x, in, t, out);
    find_ward(x, t, cues, nc, out);
done:
    if (t == &own)
        vn_text_free(&own);
    return rc;
}
