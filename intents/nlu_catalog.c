/*
 * intents/nlu_catalog.c — loads the procedure catalog: what each procedure needs, where,
 * how much, how long, on what legal basis, and the names citizens give it.
 *
 * The file is data written by people who know the procedures, not by programmers, so the
 * loader is strict and says exactly which line is wrong: unknown keys, keys outside a
 * block, duplicate ids or keys, missing required fields and an empty catalog all fail
 * the start-up. Aliases are normalized here once (plain key) so matching never does it.
 */
#include "intents/nlu_catalog.h"

#include <stdlib.h>
#include <string.h>

#include "core/mc.h"
#include "intents/nlu_data.h"
#include "vi-nlp/vn_norm.h"

struct nlu_catalog {
    nlu_procedure procs[NLU_CAT_MAX_PROCEDURES]; /* file order */
    size_t n;                                    /* used entries */
};

/* Single-valued keys and where they live in nlu_procedure. */
static const struct {
    const char *key;
    size_t off;
} single_keys[] = {
    {"name", offsetof(nlu_procedure, name)},     {"agency", offsetof(nlu_procedure, agency)},
    {"fee", offsetof(nlu_procedure, fee)},       {"duration", offsetof(nlu_procedure, duration)},
    {"online", offsetof(nlu_procedure, online)}, {"legal", offsetof(nlu_procedure, legal)},
    {"source", offsetof(nlu_procedure, source)},
};

static const char **field(nlu_procedure *p, size_t i) {
    return (const char **)((char *)p + single_keys[i].off);
}

static void proc_free(nlu_procedure *p) {
    free((char *)p->id);
    for (size_t i = 0; i < MC_ARRAY_LEN(single_keys); i++)
        free((char *)*field(p, i));
    for (size_t i = 0; i < p->n_documents; i++)
        free((char *)p->documents[i]);
    for (size_t i = 0; i < p->n_aliases; i++) {
        free((char *)p->aliases[i]);
        free((char *)p->aliases_plain[i]);
    }
    memset(p, 0, sizeof(*p));
}

void nlu_catalog_free(nlu_catalog *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        proc_free(&c->procs[i]);
    free(c);
}

size_t nlu_catalog_count(const nlu_catalog *c) {
    return c ? c->n : 0;
}

const nlu_procedure *nlu_catalog_at(const nlu_catalog *c, size_t i) {
    return c && i < c->n ? &c->procs[i] : NULL;
}

const nlu_procedure *nlu_catalog_get(const nlu_catalog *c, const char *id) {
    if (!c || !id)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->procs[i].id, id) == 0)
            return &c->procs[i];
    return NULL;
}

static int valid_id(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= NLU_CAT_MAX_ID)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* Checks the block that just ended; reports at the line of its header. */
static int check_block(const nlu_procedure *p, int header_line, const nlu_data *d, char *err,
                       size_t errlen) {
    nlu_data tmp = *d;
    tmp.lineno = header_line;
    for (size_t i = 0; i < MC_ARRAY_LEN(single_keys); i++)
        if (!*field((nlu_procedure *)p, i)) {
            nlu_data_err(&tmp, err, errlen, "[%s] is missing '%s'", p->id, single_keys[i].key);
            return -1;
        }
    if (p->n_documents == 0) {
        nlu_data_err(&tmp, err, errlen, "[%s] has no 'document'", p->id);
        return -1;
    }
    if (p->n_aliases == 0) {
        nlu_data_err(&tmp, err, errlen, "[%s] has no 'alias'", p->id);
        return -1;
    }
    return 0;
}

nlu_catalog *nlu_catalog_load(const char *path, char *err, size_t errlen) {
    nlu_data d;
    nlu_catalog *c = NULL;
    vn_normalizer *vn = NULL;
    nlu_procedure *cur = NULL;
    int header_line = 0;

    if (nlu_data_open(&d, path, err, errlen) != 0)
        return NULL;
    c = calloc(1, sizeof(*c));
    vn = vn_normalizer_new(err, errlen);
    if (!c || !vn) {
        if (!c)
            nlu_data_err(&d, err, errlen, "out of memory");
        goto fail;
    }
    for (;;) {
        nlu_line l = nlu_data_next(&d, err, errlen);
        if (l.kind == NLU_LINE_END)
            break;
        if (l.kind == NLU_LINE_BAD)
            goto fail;
        if (l.kind == NLU_LINE_SECTION) {
            if (cur && check_block(cur, header_line, &d, err, errlen) != 0)
                goto fail;
            if (!valid_id(l.key)) {
                nlu_data_err(&d, err, errlen, "bad procedure id '%s' (use a-z, 0-9, _)", l.key);
                goto fail;
            }
            if (nlu_catalog_get(c, l.key)) {
                nlu_data_err(&d, err, errlen, "duplicate procedure id '%s'", l.key);
                goto fail;
            }
            if (c->n == NLU_CAT_MAX_PROCEDURES) {
                nlu_data_err(&d, err, errlen, "more than %d procedures", NLU_CAT_MAX_PROCEDURES);
                goto fail;
            }
            cur = &c->procs[c->n];
            if (!(cur->id = strdup(l.key)))
                goto nomem;
            c->n++;
            header_line = d.lineno;
            continue;
        }
        if (!cur) {
            nlu_data_err(&d, err, errlen, "'%s' outside a [procedure] block", l.key);
            goto fail;
        }
        if (*l.value == '\0') {
            nlu_data_err(&d, err, errlen, "empty value for '%s'", l.key);
            goto fail;
        }
        int done = 0;
        for (size_t i = 0; i < MC_ARRAY_LEN(single_keys) && !done; i++) {
            if (strcmp(l.key, single_keys[i].key) != 0)
                continue;
            if (*field(cur, i)) {
                nlu_data_err(&d, err, errlen, "duplicate key '%s' in [%s]", l.key, cur->id);
                goto fail;
            }
            if (!(*field(cur, i) = strdup(l.value)))
                goto nomem;
            done = 1;
        }
        if (done)
            continue;
        if (strcmp(l.key, "document") == 0) {
            if (cur->n_documents == NLU_CAT_MAX_DOCUMENTS) {
                nlu_data_err(&d, err, errlen, "more than %d documents", NLU_CAT_MAX_DOCUMENTS);
                goto fail;
            }
            if (!(cur->documents[cur->n_documents] = strdup(l.value)))
                goto nomem;
            cur->n_documents++;
        } else if (strcmp(l.key, "alias") == 0) {
            if (cur->n_aliases == NLU_CAT_MAX_ALIASES) {
                nlu_data_err(&d, err, errlen, "more than %d aliases", NLU_CAT_MAX_ALIASES);
                goto fail;
            }
            vn_text t;
            int rc = vn_normalize(vn, l.value, strlen(l.value), &t);
            if (rc != 0) {
                nlu_data_err(&d, err, errlen, "alias: %s", mc_strerror(rc));
                goto fail;
            }
            if (t.plain_len == 0) {
                vn_text_free(&t);
                nlu_data_err(&d, err, errlen, "alias '%s' has no letters", l.value);
                goto fail;
            }
            cur->aliases_plain[cur->n_aliases] = t.plain; /* ownership moves to the catalog */
            cur->alias_lines[cur->n_aliases] = d.lineno;
            free(t.folded);
            if (!(cur->aliases[cur->n_aliases] = strdup(l.value))) {
                free(t.plain);
                goto nomem;
            }
            cur->n_aliases++;
        } else {
            nlu_data_err(&d, err, errlen, "unknown key '%s'", l.key);
            goto fail;
        }
    }
    if (cur && check_block(cur, header_line, &d, err, errlen) != 0)
        goto fail;
    if (c->n == 0) {
        if (d.lineno == 0)
            d.lineno = 1;
        nlu_data_err(&d, err, errlen, "no procedures defined");
        goto fail;
    }
    vn_normalizer_free(vn);
    nlu_data_close(&d);
    return c;
nomem:
    nlu_data_err(&d, err, errlen, "out of memory");
fail:
    nlu_catalog_free(c);
    vn_normalizer_free(vn);
    nlu_data_close(&d);
    return NULL;
}
