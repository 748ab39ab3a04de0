/*
 * gw_resp.c — commands in Redis's wire format (gw_resp.h).
 *
 * Big idea: the size of the whole command is known before a byte is written (the
 * arguments' lengths, and the digits of those lengths), so it is written once into a
 * buffer of exactly that size: the stack one when it fits. A format is read twice for
 * that, the first time on a copy of the arguments: the lengths, and whether every
 * directive is one this file knows (else the caller leaves it to hiredis).
 */
#include "gateway/store/gw_resp.h"

#include "core/mc.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FMT_MAX_ARGS 64 /* arguments of one formatted command (more: hiredis's encoder) */
#define INT_DIGITS 24   /* an integer of 64 bits in decimal, with its sign */

static size_t digits(size_t v) {
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* v in decimal at p (room for INT_DIGITS); returns the bytes written. */
static size_t put_u(char *p, unsigned long long v) {
    char tmp[INT_DIGITS];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static size_t put_i(char *p, long long v) {
    if (v >= 0)
        return put_u(p, (unsigned long long)v);
    *p = '-';
    return 1 + put_u(p + 1, 0ULL - (unsigned long long)v);
}

/* The buffer for a command of len bytes: the stack one or the heap. */
static int take(gw_resp *r, size_t len) {
    r->len = len;
    r->p = len <= sizeof r->stack ? r->stack : malloc(len);
    return r->p ? 0 : MC_ENOMEM;
}

/* "<c><n>\r\n" at p; returns the bytes written. */
static size_t put_head(char *p, char c, size_t n) {
    p[0] = c;
    size_t k = 1 + put_u(p + 1, n);
    p[k] = '\r';
    p[k + 1] = '\n';
    return k + 2;
}

static size_t bulk_size(size_t len) {
    return 1 + digits(len) + 2 + len + 2;
}

int gw_resp_argv(gw_resp *r, int argc, const char **argv, const size_t *argvlen) {
    r->p = NULL;
    if (argc < 1)
        return MC_EINVAL;
    size_t total = 1 + digits((size_t)argc) + 2;
    for (int i = 0; i < argc; i++)
        total += bulk_size(argvlen ? argvlen[i] : strlen(argv[i]));
    if (take(r, total))
        return MC_ENOMEM;
    char *p = r->p;
    p += put_head(p, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t l = argvlen ? argvlen[i] : strlen(argv[i]);
        p += put_head(p, '$', l);
        if (l)
            memcpy(p, argv[i], l);
        p += l;
        *p++ = '\r';
        *p++ = '\n';
    }
    return 0;
}

/* The integer directives: the length modifier and conversion after '%', how many
 * bytes they take in the format, and how the argument is read. */
typedef enum { INT_NONE, INT_I, INT_U, INT_L, INT_UL, INT_LL, INT_ULL, INT_Z, INT_ZD } int_kind;

static int_kind int_directive(const char *c, size_t *skip) {
    static const struct {
        const char *spec;
        int_kind kind;
    } specs[] = {
        {"lld", INT_LL}, {"lli", INT_LL}, {"llu", INT_ULL}, {"ld", INT_L},
        {"li", INT_L},   {"lu", INT_UL},  {"zu", INT_Z},    {"zd", INT_ZD},
        {"d", INT_I},    {"i", INT_I},    {"u", INT_U},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        size_t n = strlen(specs[i].spec);
        if (!strncmp(c, specs[i].spec, n)) {
            *skip = n;
            return specs[i].kind;
        }
    }
    return INT_NONE;
}

/* The integer of kind k taken from ap, in decimal at p; returns its bytes. */
static size_t put_int(char *p, int_kind k, va_list *ap) {
    switch (k) {
    case INT_I: return put_i(p, va_arg(*ap, int));
    case INT_U: return put_u(p, va_arg(*ap, unsigned));
    case INT_L: return put_i(p, va_arg(*ap, long));
    case INT_UL: return put_u(p, va_arg(*ap, unsigned long));
    case INT_LL: return put_i(p, va_arg(*ap, long long));
    case INT_ULL: return put_u(p, va_arg(*ap, unsigned long long));
    case INT_Z: return put_u(p, va_arg(*ap, size_t));
    case INT_ZD: return put_i(p, (long long)va_arg(*ap, ptrdiff_t));
    default: return 0;
    }
}

/*
 * One reading of the format, as hiredis reads it: spaces end an argument (several in a
 * row count as one), a directive or any other byte belongs to the current one (so "%s"
 * of "" is an empty argument), a '%' last in the format is a byte. With out NULL it
 * measures: lens[] and *argc get each argument's bytes. Else it writes the arguments
 * (their lengths from lens[]) at out. 0, GW_RESP_OTHER or MC_EINVAL (too many arguments).
 */
static int walk(const char *fmt, va_list *ap, size_t *lens, int *argc, char *out) {
    int n = 0, touched = 0;
    size_t cur = 0;
    char *p = out;
    char num[INT_DIGITS];
    for (const char *c = fmt; *c; c++) {
        if (*c != '%' || c[1] == '\0') {
            if (*c == ' ') {
                if (touched) {
                    if (!out)
                        lens[n] = cur;
                    else {
                        *p++ = '\r';
                        *p++ = '\n';
                    }
                    n++;
                    cur = 0;
                    touched = 0;
                }
                continue;
            }
            if (!touched && out)
                p += put_head(p, '$', lens[n]);
            if (!touched && n == FMT_MAX_ARGS)
                return MC_EINVAL;
            touched = 1;
            if (out)
                *p++ = *c;
            cur++;
            continue;
        }
        /* a directive: c[1] is its first byte */
        if (!touched && n == FMT_MAX_ARGS)
            return MC_EINVAL;
        const char *s = NULL;
        size_t l = 0, skip = 1;
        int_kind k = INT_NONE;
        switch (c[1]) {
        case 's':
            s = va_arg(*ap, const char *);
            l = strlen(s);
            break;
        case 'b':
            s = va_arg(*ap, const char *);
            l = va_arg(*ap, size_t);
            break;
        case '%':
            s = "%";
            l = 1;
            break;
        default:
            if ((k = int_directive(c + 1, &skip)) == INT_NONE)
                return GW_RESP_OTHER;
            break;
        }
        if (!touched && out)
            p += put_head(p, '$', lens[n]);
        touched = 1;
        if (k != INT_NONE) {
            if (out)
                l = put_int(p, k, ap);
            else
                l = put_int(num, k, ap);
        } else if (out && l)
            memcpy(p, s, l);
        if (out)
            p += l;
        cur += l;
        c += skip;
    }
    if (touched) {
        if (!out)
            lens[n] = cur;
        else {
            *p++ = '\r';
            *p++ = '\n';
        }
        n++;
    }
    *argc = n;
    return 0;
}

int gw_resp_fmt(gw_resp *r, const char *fmt, va_list ap) {
    size_t lens[FMT_MAX_ARGS];
    int argc = 0;
    r->p = NULL;
    va_list m;
    va_copy(m, ap);
    int rc = walk(fmt, &m, lens, &argc, NULL);
    va_end(m);
    if (rc)
        return rc;
    if (argc == 0)
        return MC_EINVAL;
    size_t total = 1 + digits((size_t)argc) + 2;
    for (int i = 0; i < argc; i++)
        total += bulk_size(lens[i]);
    if (take(r, total))
        return MC_ENOMEM;
    size_t head = put_head(r->p, '*', (size_t)argc);
    int again = 0;
    va_list w;
    va_copy(w, ap);
    walk(fmt, &w, lens, &again, r->p + head);
    va_end(w);
    return 0;
}

void gw_resp_clear(gw_resp *r) {
    if (r->p && r->p != r->stack)
        free(r->p);
    r->p = NULL;
}
