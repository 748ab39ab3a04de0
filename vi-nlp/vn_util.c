/*
 * vi-nlp/vn_util.c — small shared machinery of vi-nlp: a string -> int map, the data-file
 * reader and UTF-8 helpers.
 *
 * The map is open addressing with linear probing over a power-of-two table, keys copied
 * into one growing arena; it is built at start-up and only read afterwards, so lookups
 * touch no lock and allocate nothing. The file reader loads a whole data file, validates
 * it once (UTF-8, no NUL), then hands out lines with their numbers so every loader can
 * say "path:LINE: reason".
 */
#include "vi-nlp/vn_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "core/mc_mem.h"
#include "vi-nlp/vn_utf8.h"

/* Initial number of slots (a power of two); the table doubles past 1/2 full. */
#define SMAP_MIN_SLOTS 64
/* First capacity of the key arena, in bytes. */
#define SMAP_FIRST_ARENA 1024

typedef struct smap_slot {
    uint64_t hash; /* full hash, 0 = empty slot (hashes are forced non-zero) */
    uint32_t off;  /* key in the arena */
    uint32_t len;  /* key length */
    int32_t val;   /* the value */
} smap_slot;

struct vn_smap {
    smap_slot *slots;  /* nslots entries */
    size_t nslots;     /* power of two */
    size_t count;      /* used slots */
    char *arena;       /* key bytes */
    size_t alen, acap; /* used and allocated bytes of arena */
};

/* 1 when slot s holds key[0..len) (an empty key has no arena bytes to compare). */
static int slot_is(const vn_smap *m, const smap_slot *s, uint64_t h, const char *key, size_t len) {
    return s->hash == h && s->len == len && (len == 0 || memcmp(m->arena + s->off, key, len) == 0);
}

uint64_t vn_hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ? h : 1;
}

vn_smap *vn_smap_new(void) {
    vn_smap *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->slots = calloc(SMAP_MIN_SLOTS, sizeof(smap_slot));
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->nslots = SMAP_MIN_SLOTS;
    return m;
}

void vn_smap_free(vn_smap *m) {
    if (!m)
        return;
    MC_FREE_ALL(m->slots, m->arena, m);
}

static int smap_grow(vn_smap *m) {
    size_t n = m->nslots * 2;
    smap_slot *s = calloc(n, sizeof(smap_slot));
    if (!s)
        return MC_ENOMEM;
    for (size_t i = 0; i < m->nslots; i++) {
        if (!m->slots[i].hash)
            continue;
        size_t j = (size_t)m->slots[i].hash & (n - 1);
        while (s[j].hash)
            j = (j + 1) & (n - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->nslots = n;
    return 0;
}

int vn_smap_put(vn_smap *m, const char *key, size_t len, int32_t val, int32_t *old) {
    if (len > UINT32_MAX / 2)
        return MC_ETOOBIG;
    uint64_t h = vn_hash(key, len);
    size_t mask = m->nslots - 1, j = (size_t)h & mask;
    while (m->slots[j].hash) {
        smap_slot *s = &m->slots[j];
        if (slot_is(m, s, h, key, len)) {
            if (old)
                *old = s->val;
            return 1;
        }
        j = (j + 1) & mask;
    }
    if (m->alen + len > UINT32_MAX) /* keys are found by 32-bit offsets */
        return MC_ETOOBIG;
    if (vn_grow((void **)&m->arena, &m->acap, m->alen + len, 1, SMAP_FIRST_ARENA) != 0)
        return MC_ENOMEM;
    if (len)
        memcpy(m->arena + m->alen, key, len);
    m->slots[j] = (smap_slot){h, (uint32_t)m->alen, (uint32_t)len, val};
    m->alen += len;
    m->count++;
    if (m->count * 2 > m->nslots)
        return smap_grow(m);
    return 0;
}

int32_t vn_smap_get(const vn_smap *m, const char *key, size_t len) {
    return vn_smap_get_h(m, key, len, vn_hash(key, len));
}

int32_t vn_smap_get_h(const vn_smap *m, const char *key, size_t len, uint64_t h) {
    size_t mask = m->nslots - 1, j = (size_t)h & mask;
    while (m->slots[j].hash) {
        const smap_slot *s = &m->slots[j];
        if (slot_is(m, s, h, key, len))
            return s->val;
        j = (j + 1) & mask;
    }
    return -1;
}

size_t vn_smap_count(const vn_smap *m) {
    return m->count;
}

/* ---- data files ------------------------------------------------------------------------ */

int vn_file_open(vn_file *f, const char *dir, const char *name, char *err, size_t errlen) {
    memset(f, 0, sizeof(*f));
    int n = dir ? snprintf(f->path, sizeof(f->path), "%s/%s", dir, name)
                : snprintf(f->path, sizeof(f->path), "%s", name);
    if (n < 0 || (size_t)n >= sizeof(f->path)) {
        if (err && errlen)
            snprintf(err, errlen, "%s: path too long", name);
        return MC_ETOOBIG;
    }
    FILE *fp = fopen(f->path, "rb");
    if (!fp) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", f->path, strerror(errno));
        return MC_EIO;
    }
    int rc = MC_ENOMEM;
    size_t cap = 4096;
    f->buf = malloc(cap);
    if (!f->buf)
        goto fail;
    for (;;) {
        if (f->len == cap) {
            if (cap >= VN_DATA_MAX_BYTES) {
                rc = MC_ETOOBIG;
                if (err && errlen)
                    snprintf(err, errlen, "%s: larger than %d bytes", f->path, VN_DATA_MAX_BYTES);
                goto fail;
            }
            char *b = realloc(f->buf, cap * 2);
            if (!b)
                goto fail;
            f->buf = b;
            cap *= 2;
        }
        size_t got = fread(f->buf + f->len, 1, cap - f->len, fp);
        f->len += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        rc = MC_EIO;
        if (err && errlen)
            snprintf(err, errlen, "%s: read error", f->path);
        goto fail;
    }
    fclose(fp);
    fp = NULL;
    size_t bad = 0;
    int valid = vn_utf8_valid(f->buf, f->len, &bad);
    const char *nul = memchr(f->buf, '\0', f->len);
    if (!valid || nul) {
        size_t at = !valid ? bad : (size_t)(nul - f->buf);
        if (nul && (size_t)(nul - f->buf) < at)
            at = (size_t)(nul - f->buf);
        int line = 1;
        for (size_t i = 0; i < at; i++)
            line += f->buf[i] == '\n';
        f->lineno = line;
        vn_file_err(f, err, errlen, "%s", !valid ? "invalid UTF-8" : "NUL byte");
        free(f->buf);
        f->buf = NULL;
        return MC_EPARSE;
    }
    /* A UTF-8 byte-order mark at the start is tolerated. */
    if (f->len >= 3 && memcmp(f->buf, "\xEF\xBB\xBF", 3) == 0)
        f->pos = 3;
    return 0;
fail:
    if (fp)
        fclose(fp);
    free(f->buf);
    f->buf = NULL;
    if (rc == MC_ENOMEM && err && errlen)
        snprintf(err, errlen, "%s: out of memory", f->path);
    return rc;
}

int vn_file_line(vn_file *f, const char **line, size_t *len) {
    if (!f->buf || f->pos >= f->len)
        return 0;
    const char *s = f->buf + f->pos;
    const char *nl = memchr(s, '\n', f->len - f->pos);
    size_t n = nl ? (size_t)(nl - s) : f->len - f->pos;
    f->pos += n + (nl ? 1 : 0);
    if (n > 0 && s[n - 1] == '\r')
        n--;
    f->lineno++;
    *line = s;
    *len = n;
    return 1;
}

void vn_file_sections(vn_file *f, const char *const *names, int n) {
    f->sections = names;
    f->nsections = n < VN_FILE_MAX_SECTIONS ? n : VN_FILE_MAX_SECTIONS;
    f->sec = -1;
}

int vn_file_next(vn_file *f, const char **line, size_t *len, char *err, size_t errlen) {
    const char *s;
    size_t n;
    while (vn_file_line(f, &s, &n)) {
        n = vn_uncomment(s, n);
        s = vn_trim(s, &n);
        if (n == 0)
            continue;
        if (!f->sections) {
            *line = s;
            *len = n;
            return 1;
        }
        if (s[0] == '[') {
            int k = 0;
            while (k < f->nsections && !(n == strlen(f->sections[k]) + 2 && s[n - 1] == ']' &&
                                         memcmp(s + 1, f->sections[k], n - 2) == 0))
                k++;
            if (k == f->nsections)
                return vn_file_err(f, err, errlen, "unknown section %.*s", (int)n, s);
            f->sec = k;
            f->seen |= 1u << k;
            continue;
        }
        if (f->sec < 0)
            return vn_file_err(f, err, errlen, "line outside a section");
        *line = s;
        *len = n;
        return 1;
    }
    return 0;
}

void vn_file_close(vn_file *f) {
    free(f->buf);
    f->buf = NULL;
}

int vn_file_err(const vn_file *f, char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        int n = snprintf(err, errlen, "%s:%d: ", f->path, f->lineno);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return MC_EPARSE;
}

const char *vn_trim(const char *s, size_t *len) {
    size_t n = *len;
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *len = n;
    return s;
}

size_t vn_uncomment(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (s[i] == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t'))
            return i;
    return len;
}

int vn_next_word(const char *s, size_t len, size_t *i, const char **w, size_t *wl) {
    while (*i < len && (s[*i] == ' ' || s[*i] == '\t'))
        (*i)++;
    if (*i == len)
        return 0;
    size_t j = *i;
    while (j < len && s[j] != ' ' && s[j] != '\t')
        j++;
    *w = s + *i;
    *wl = j - *i;
    *i = j;
    return 1;
}

int vn_resize(void **p, size_t n, size_t elem) {
    void *q = realloc(*p, n * elem);
    if (!q)
        return MC_ENOMEM;
    *p = q;
    return 0;
}

int vn_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first) {
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : first;
    while (c < need)
        c *= 2;
    if (vn_resize(p, c, elem) != 0)
        return MC_ENOMEM;
    *cap = c;
    return 0;
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

size_t vn_utf8_put(char *p, int32_t c) {
    if (c < 0x80) {
        p[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        p[0] = (char)(0xC0 | (c >> 6));
        p[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        p[0] = (char)(0xE0 | (c >> 12));
        p[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        p[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    p[0] = (char)(0xF0 | (c >> 18));
    p[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    p[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    p[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

int32_t vn_utf8_next(const char *s, size_t len, size_t *i) {
    const unsigned char *p = (const unsigned char *)s;
    size_t k = *i;
    unsigned char c = p[k];
    if (c < 0x80) {
        *i = k + 1;
        return c;
    }
    if (c < 0xE0 && k + 1 < len) {
        *i = k + 2;
        return ((int32_t)(c & 0x1F) << 6) | (p[k + 1] & 0x3F);
    }
    if (c < 0xF0 && k + 2 < len) {
        *i = k + 3;
        return ((int32_t)(c & 0x0F) << 12) | ((int32_t)(p[k + 1] & 0x3F) << 6) | (p[k + 2] & 0x3F);
    }
    if (k + 3 < len) {
        *i = k + 4;
        return ((int32_t)(c & 0x07) << 18) | ((int32_t)(p[k + 1] & 0x3F) << 12) |
               ((int32_t)(p[k + 2] & 0x3F) << 6) | (p[k + 3] & 0x3F);
    }
    *i = len; /* truncated: only on invalid input, which callers have rejected */
    return 0xFFFD;
}
