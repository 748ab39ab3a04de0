/*
 * gw_tpl.c — the template language (gw_tpl.h): names, ids, scanning ((name))
 * with errors a person can act on, and rendering.
 *
 * Big idea: one walk over the text (tpl_walk) finds the literal pieces and the
 * placeholders and says what is wrong with the first bad one; scanning and
 * rendering are two callbacks of that walk, so what is accepted when a
 * template is saved is exactly what is rendered when it is used. Positions in
 * errors are counted in characters, not bytes: the console shows them to
 * people typing Vietnamese.
 */
#include "gateway/api/gw_tpl.h"

#include "channels/ch.h"
#include "core/mc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_SHOWN 40 /* code points of a bad name quoted in an error */
#define NUM_MAX 64    /* a number value written in decimal, bytes */

/* One code point of valid-looking UTF-8 at s[0..len): its length, or 0. */
static size_t utf8_next(const unsigned char *s, size_t len, unsigned *cp) {
    if (len == 0)
        return 0;
    unsigned c = s[0];
    size_t n;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, c &= 0x07;
    } else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

/* Letters of Vietnamese and its neighbours: ASCII, Latin-1 letters, Latin
 * Extended-A/B (đ ơ ư), Latin Extended Additional (ạ ả ấ ... ỹ), and combining
 * marks after a first letter (names typed in decomposed form). */
static bool name_cp_ok(unsigned cp, bool first) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
        cp == '_')
        return true;
    if (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7)
        return true;
    if (cp >= 0x1E00 && cp <= 0x1EFF)
        return true;
    return !first && cp >= 0x300 && cp <= 0x36F;
}

bool gw_tpl_name_ok(const char *s, size_t len) {
    if (len == 0 || len > GW_TPL_NAME_BYTES)
        return false;
    size_t chars = 0;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        if (!n || !name_cp_ok(cp, i == 0))
            return false;
        i += n;
        chars++;
    }
    return chars <= GW_TPL_NAME_CHARS;
}

bool gw_tpl_id_ok(const char *s, size_t len) {
    if (len == 0 || len > GW_TPL_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

/* Called for each piece of a template: the text before a placeholder (lit) and
 * the placeholder's name (NULL after the last piece). 0, or MC_ENOMEM to stop the walk. */
typedef int piece_fn(void *ctx, const char *lit, size_t lit_len, const char *name, size_t name_len);

static int tpl_walk(const char *t, size_t len, piece_fn *fn, void *ctx, char *err, size_t errlen) {
    size_t i = 0, lit = 0;
    while (i + 1 < len) {
        if (t[i] != '(' || t[i + 1] != '(') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && t[j] == '(')
            j++;
        size_t open = j - 2, close = 0; /* a run of '(': the last two open */
        for (size_t k = j; k + 1 < len && !close; k++)
            if (t[k] == ')' && t[k + 1] == ')')
                close = k;
        if (!close && !(j + 1 < len && t[j] == ')' && t[j + 1] == ')')) {
            snprintf(err, errlen, "(( at character %zu is not closed", ch_utf8_count(t, open) + 1);
            return MC_EINVAL;
        }
        if (!close)
            close = j; /* "(())": an empty name */
        size_t nl = close - j;
        if (!gw_tpl_name_ok(t + j, nl)) {
            size_t shown = ch_utf8_prefix(t + j, nl, NAME_SHOWN);
            snprintf(err, errlen,
                     "bad placeholder name ((%.*s%s)): 1..%d letters, digits or _, no spaces",
                     (int)shown, t + j, shown < nl ? "…" : "", GW_TPL_NAME_CHARS);
            return MC_EINVAL;
        }
        if (fn(ctx, t + lit, open - lit, t + j, nl)) {
            snprintf(err, errlen, "out of memory");
            return MC_ENOMEM;
        }
        i = lit = close + 2;
    }
    if (fn(ctx, t + lit, len - lit, NULL, 0)) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    return 0;
}

typedef struct scan_ctx {
    gw_tpl_vars *vars; /* filled */
    bool too_many;     /* a 33rd name was met */
} scan_ctx;

bool gw_tpl_vars_has(const gw_tpl_vars *v, const char *name, size_t len) {
    for (size_t i = 0; i < v->n; i++)
        if (strlen(v->name[i]) == len && !memcmp(v->name[i], name, len))
            return true;
    return false;
}

static int scan_piece(void *ctx, const char *lit, size_t lit_len, const char *name,
                      size_t name_len) {
    (void)lit, (void)lit_len;
    scan_ctx *c = ctx;
    if (!name || gw_tpl_vars_has(c->vars, name, name_len))
        return 0;
    if (c->vars->n == GW_TPL_MAX_VARS) {
        c->too_many = true;
        return 0;
    }
    memcpy(c->vars->name[c->vars->n], name, name_len);
    c->vars->name[c->vars->n++][name_len] = '\0';
    return 0;
}

int gw_tpl_scan(const char *text, size_t len, gw_tpl_vars *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    scan_ctx c = {out, false};
    int rc = tpl_walk(text, len, scan_piece, &c, err, errlen);
    if (rc)
        return rc;
    if (c.too_many) {
        snprintf(err, errlen, "more than %d placeholders", GW_TPL_MAX_VARS);
        return MC_EINVAL;
    }
    return 0;
}

typedef struct render_ctx {
    const json_t *data; /* name → value */
    ch_buf out;         /* the text so far */
    bool missing;       /* a placeholder had no usable value */
} render_ctx;

static int render_piece(void *ctx, const char *lit, size_t lit_len, const char *name,
                        size_t name_len) {
    render_ctx *c = ctx;
    ch_buf_put(&c->out, lit, lit_len);
    if (!name)
        return c->out.oom ? MC_ENOMEM : 0;
    char key[GW_TPL_NAME_BYTES + 1];
    memcpy(key, name, name_len);
    key[name_len] = '\0';
    json_t *v = c->data ? json_object_get(c->data, key) : NULL;
    char num[NUM_MAX];
    if (json_is_string(v))
        ch_buf_put(&c->out, json_string_value(v), json_string_length(v));
    else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        ch_buf_puts(&c->out, num);
    } else if (json_is_real(v)) {
        snprintf(num, sizeof num, "%.15g", json_real_value(v));
        ch_buf_puts(&c->out, num);
    } else
        c->missing = true;
    return c->out.oom ? MC_ENOMEM : 0;
}

char *gw_tpl_render(const char *text, size_t len, const json_t *data, size_t *out_len) {
    render_ctx c = {data, {0}, false};
    char err[160];
    if (tpl_walk(text, len, render_piece, &c, err, sizeof err) || c.missing || c.out.oom) {
        ch_buf_free(&c.out);
        return NULL;
    }
    size_t n = 0;
    char *s = ch_buf_take(&c.out, &n);
    if (s && out_len)
        *out_len = n;
    return s;
}
