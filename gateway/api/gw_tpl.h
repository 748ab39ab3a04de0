/*
 * gw_tpl.h — the template language of the department templates (pure; no
 * store, no request): what POST /notifications, /broadcasts, the preview and
 * batches fill in.
 *
 * A template is text with ((name)) placeholders; a name is 1..32 letters
 * (Vietnamese ones too), digits or _. A run of '(' before a name keeps all but
 * the last two as text: "(((x))" is "(" then ((x)). There is no escape: "((" must
 * open a placeholder. Values replace placeholders once (a value holding "((x))"
 * stays as it is).
 */
#ifndef GW_TPL_H
#define GW_TPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define GW_TPL_ID_MAX 48      /* a template id [a-z0-9_-], bytes */
#define GW_TPL_NAME_CHARS 32  /* code points of a placeholder name */
#define GW_TPL_NAME_BYTES 128 /* bytes of the longest name (4 per code point) */
#define GW_TPL_MAX_VARS 32    /* distinct placeholders of one template */

/* The placeholders of a template text, each once, in order of first use. */
typedef struct gw_tpl_vars {
    size_t n;                                          /* used entries */
    char name[GW_TPL_MAX_VARS][GW_TPL_NAME_BYTES + 1]; /* UTF-8 names */
} gw_tpl_vars;

/* true when s is a template id: 1..GW_TPL_ID_MAX of [a-z0-9_-]. */
bool gw_tpl_id_ok(const char *s, size_t len);
/* true when s is a placeholder name: 1..32 letters (Latin with marks included),
 * digits or _, valid UTF-8. */
bool gw_tpl_name_ok(const char *s, size_t len);
/* true when name[0..len) is one of v's names. */
bool gw_tpl_vars_has(const gw_tpl_vars *v, const char *name, size_t len);

/*
 * Reads the placeholders of text into out. 0, or MC_EINVAL with a reason for a
 * person in err: "(( at character N is not closed", "bad placeholder name ((x))",
 * "more than 32 placeholders" (MC_ENOMEM: "out of memory").
 */
int gw_tpl_scan(const char *text, size_t len, gw_tpl_vars *out, char *err, size_t errlen);

/*
 * text with each placeholder replaced by data's value (a string, or a number
 * written in decimal). Returns a new NUL-terminated string (caller frees) with
 * its length in *out_len, or NULL when the text does not scan, a placeholder
 * has no string or number in data, or memory runs out.
 */
char *gw_tpl_render(const char *text, size_t len, const json_t *data, size_t *out_len);

#endif
