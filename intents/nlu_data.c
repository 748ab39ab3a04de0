/*
 * intents/nlu_data.c — line reader shared by the catalog, rules and replies loaders.
 *
 * Files are read whole, once, at start-up; the reader splits them into lines in place,
 * classifies each line and hands it to the loader's hooks (nlu_data_parse). It knows
 * nothing about what sections or keys mean.
 */
#include "intents/nlu_data.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "vi-nlp/vn_utf8.h"

void nlu_data_err(const nlu_data *d, char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen)
        return;
    int k = snprintf(err, errlen, "%s:%d: ", d->path, d->lineno);
    if (k < 0 || (size_t)k >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
    va_end(ap);
}

/* Reads path into d (checks size and UTF-8). Returns 0 or MC_EIO/MC_ETOOBIG/MC_EUTF8/
 * MC_ENOMEM with a message "path:line: ..." in err. Free with data_close. */
static int data_open(nlu_data *d, const char *path, char *err, size_t errlen) {
    memset(d, 0, sizeof(*d));
    d->path = path;
    int rc = MC_EIO;
    FILE *f = fopen(path, "rb");
    if (!f) {
        nlu_data_err(d, err, errlen, "cannot open: %s", strerror(errno));
        return MC_EIO;
    }
    d->buf = malloc(NLU_DATA_MAX_FILE + 1);
    if (!d->buf) {
        rc = MC_ENOMEM;
        nlu_data_err(d, err, errlen, "out of memory");
        goto fail;
    }
    d->len = fread(d->buf, 1, NLU_DATA_MAX_FILE + 1, f);
    if (ferror(f)) {
        nlu_data_err(d, err, errlen, "read error");
        goto fail;
    }
    if (d->len > NLU_DATA_MAX_FILE) {
        rc = MC_ETOOBIG;
        nlu_data_err(d, err, errlen, "file larger than %d bytes", NLU_DATA_MAX_FILE);
        goto fail;
    }
    d->buf[d->len] = '\0';
    size_t bad;
    if (!vn_utf8_valid(d->buf, d->len, &bad) || memchr(d->buf, '\0', d->len)) {
        rc = MC_EUTF8;
        if (memchr(d->buf, '\0', d->len))
            bad = (size_t)((char *)memchr(d->buf, '\0', d->len) - d->buf);
        d->lineno = 1;
        for (size_t i = 0; i < bad; i++)
            d->lineno += d->buf[i] == '\n';
        nlu_data_err(d, err, errlen, "invalid UTF-8 or NUL byte");
        goto fail;
    }
    fclose(f);
    return 0;
fail:
    fclose(f);
    free(d->buf);
    d->buf = NULL;
    return rc;
}

static void data_close(nlu_data *d) {
    free(d->buf);
    d->buf = NULL;
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char *trim(char *s, char *e) {
    while (s < e && is_space(*s))
        s++;
    while (e > s && is_space(e[-1]))
        e--;
    *e = '\0';
    return s;
}

/* Next meaningful line (comments and blank lines skipped). Lines are edited in place. */
static nlu_line data_next(nlu_data *d, char *err, size_t errlen) {
    nlu_line l = {NLU_LINE_END, NULL, NULL};
    while (d->pos < d->len) {
        char *s = d->buf + d->pos;
        char *nl = memchr(s, '\n', d->len - d->pos);
        char *e = nl ? nl : d->buf + d->len;
        d->pos = (size_t)(e - d->buf) + (nl ? 1 : 0);
        d->lineno++;
        if (e - s > NLU_DATA_MAX_LINE) {
            l.kind = NLU_LINE_BAD;
            nlu_data_err(d, err, errlen, "line longer than %d bytes", NLU_DATA_MAX_LINE);
            return l;
        }
        if (d->lineno == 1 && e - s >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
            s += 3; /* a BOM left by a Windows editor */
        s = trim(s, e);
        if (*s == '\0' || *s == '#')
            continue;
        size_t n = strlen(s);
        if (s[0] == '[') {
            if (s[n - 1] != ']' || n < 3) {
                l.kind = NLU_LINE_BAD;
                nlu_data_err(d, err, errlen, "section header must look like [name]");
                return l;
            }
            l.kind = NLU_LINE_SECTION;
            l.key = trim(s + 1, s + n - 1);
            return l;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            l.kind = NLU_LINE_BAD;
            nlu_data_err(d, err, errlen, "expected 'key = value'");
            return l;
        }
        l.kind = NLU_LINE_KV;
        l.value = trim(eq + 1, s + n);
        l.key = trim(s, eq);
        if (*l.key == '\0') {
            l.kind = NLU_LINE_BAD;
            nlu_data_err(d, err, errlen, "empty key before '='");
        }
        return l;
    }
    return l;
}

int nlu_data_parse(const char *path, const nlu_data_hooks *h, void *priv, char *err,
                   size_t errlen) {
    nlu_data d;
    int sec = -1;
    int rc = data_open(&d, path, err, errlen);
    if (rc)
        return rc;
    while (rc == 0) {
        nlu_line l = data_next(&d, err, errlen);
        if (l.kind == NLU_LINE_END)
            break;
        if (l.kind == NLU_LINE_BAD) {
            rc = MC_EPARSE;
        } else if (l.kind == NLU_LINE_SECTION) {
            sec = h->section(priv, &d, l.key, err, errlen);
            rc = sec < 0 ? sec : 0;
        } else if (sec < 0) {
            nlu_data_err(&d, err, errlen, "'%s' %s", l.key, h->outside);
            rc = MC_EPARSE;
        } else {
            rc = h->kv(priv, &d, sec, &l, err, errlen);
        }
    }
    if (rc == 0 && h->end) {
        if (d.lineno == 0)
            d.lineno = 1; /* an empty file */
        rc = h->end(priv, &d, err, errlen);
    }
    data_close(&d);
    return rc;
}
