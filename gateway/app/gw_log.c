/*
 * gw_log.c — JSON log lines with personal data masked.
 *
 * Big idea: callers describe fields with jansson's pack format; before the
 * object is written, every string value is rewritten by gw_mask_pii. Masking
 * at the single exit point means a forgotten call site cannot leak a phone
 * number. Message texts are logged only at debug (callers' policy), but even
 * then the numbers inside them are masked.
 */
#include "gateway/app/gw_log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static gw_log_level min_level = GW_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error"};

void gw_log_set_level(const char *name) {
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, level_names[i]))
            min_level = (gw_log_level)i;
}

int gw_log_enabled(gw_log_level lvl) {
    return lvl >= min_level;
}

static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

static int is_sep(char c) {
    return c == ' ' || c == '.' || c == '-';
}

size_t gw_mask_pii(const char *in, size_t len, char *out, size_t outlen) {
    size_t o = 0;
    if (outlen == 0)
        return 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o + 1 < outlen)                                                                        \
            out[o++] = (c);                                                                        \
    } while (0)
    size_t i = 0;
    while (i < len) {
        if (!is_digit(in[i]) && !(in[i] == '+' && i + 1 < len && is_digit(in[i + 1]))) {
            PUT(in[i]);
            i++;
            continue;
        }
        /* A candidate number: digits with single separators between them. */
        size_t start = i, end = i, ndig = 0;
        if (in[i] == '+')
            end = ++i;
        while (i < len) {
            if (is_digit(in[i])) {
                ndig++;
                end = ++i;
            } else if (is_sep(in[i]) && i + 1 < len && is_digit(in[i + 1])) {
                i++;
            } else {
                break;
            }
        }
        /* Digits glued to letters (a dossier code's "H29") are not a phone. */
        if (ndig < 9) {
            for (size_t k = start; k < end; k++)
                PUT(in[k]);
            i = end;
            continue;
        }
        size_t seen = 0;
        if (in[start] == '+')
            PUT('+');
        for (size_t k = start; k < end; k++) {
            if (!is_digit(in[k]))
                continue;
            seen++;
            if (seen <= 4 || seen > ndig - 3)
                PUT(in[k]);
            else if (seen == 5) {
                PUT('*');
                PUT('*');
                PUT('*');
                PUT('*');
            }
        }
        i = end;
    }
#undef PUT
    out[o] = '\0';
    return o;
}

static void mask_strings(json_t *obj) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (json_is_string(v)) {
            size_t len = json_string_length(v);
            size_t cap = len + 8;
            char *buf = malloc(cap);
            if (!buf)
                continue;
            size_t n = gw_mask_pii(json_string_value(v), len, buf, cap);
            json_string_setn_nocheck(v, buf, n);
            free(buf);
        } else if (json_is_object(v)) {
            mask_strings(v);
        }
    }
}

void gw_log(gw_log_level lvl, const char *event, const char *fmt, ...) {
    if (lvl < min_level)
        return;
    json_t *fields = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        json_error_t jerr;
        fields = json_vpack_ex(&jerr, 0, fmt, ap);
        va_end(ap);
    }
    json_t *line = json_object();
    if (!line) {
        json_decref(fields);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tbuf[64];
    snprintf(tbuf, sizeof tbuf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    json_object_set_new(line, "ts", json_string(tbuf));
    json_object_set_new(line, "level", json_string(level_names[lvl]));
    json_object_set_new(line, "event", json_string(event));
    if (fields && json_is_object(fields)) {
        mask_strings(fields);
        json_object_update(line, fields);
    }
    json_decref(fields);
    char *s = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(4));
    if (s) {
        fprintf(stderr, "%s\n", s);
        free(s);
    }
    json_decref(line);
}
