/*
 * gw_console.h — what the officers' console (issue 6) needs on top of the
 * department API (shared/spec/admin-api.md): who the token is
 * (GET /me), the wards (GET /wards), message templates (GET|PUT|DELETE
 * /templates), the broadcast preview (POST /broadcasts/preview) and batch
 * notifications (POST /notifications/batch); and the template language that
 * POST /notifications and POST /broadcasts use too.
 *
 * A template is text with ((name)) placeholders; a name is 1..32 letters
 * (Vietnamese ones too), digits or _. A run of '(' before a name keeps all but
 * the last two as text: "(((x))" is "(" then ((x)). There is no escape: "((" must
 * open a placeholder. Values replace placeholders once (a value holding "((x))"
 * stays as it is).
 *
 * Redis shapes:
 *   mc:tpl:<dept>   hash: template id → JSON {id,name,text,placeholders,updated_at}
 *   mc:batch:<id>   hash dept count ids (JSON array), kept as long as its
 *                   idempotency key (written by gw_admin_notif_argv)
 *   mc:idem:<dept>:batch:<key>  "<sha256 of the canonical body>|<batch id>"
 */
#ifndef GW_CONSOLE_H
#define GW_CONSOLE_H

#include "gateway/api/gw_admin.h"

#include <jansson.h>
#include <stddef.h>

#define GW_CONSOLE_TPL_NAME_CHARS 32   /* code points of a placeholder name */
#define GW_CONSOLE_TPL_NAME_BYTES 128  /* bytes of the longest name (4 per code point) */
#define GW_CONSOLE_TPL_MAX_VARS 32     /* distinct placeholders of one template */
#define GW_CONSOLE_TPL_TITLE_CHARS 100 /* code points of a template's name */
#define GW_CONSOLE_MAX_TEMPLATES 200   /* templates of one department */
#define GW_CONSOLE_BATCH_MAX_ROWS 500  /* rows of one batch */

typedef struct gw_console gw_console;

/*
 * Serve's one call once the API is loaded (admin; NULL when the API is not
 * served, and then *out is NULL too): adds the console's routes to app->router.
 * Their paths (/broadcasts/preview, /notifications/batch) sit below the API's
 * prefixes; the router's longest match sends them here whatever the order.
 * 0, or MC_E* with err.
 */
int gw_console_open(gw_app *app, const gw_admin *admin, gw_console **out, char *err, size_t errlen);
void gw_console_free(gw_console *c);

/* The placeholders of a template text, each once, in order of first use. */
typedef struct gw_console_tpl_vars {
    size_t n;                                                          /* used entries */
    char name[GW_CONSOLE_TPL_MAX_VARS][GW_CONSOLE_TPL_NAME_BYTES + 1]; /* UTF-8 names */
} gw_console_tpl_vars;

/* 1 when s is a template id: 1..GW_ADMIN_TPL_ID_MAX of [a-z0-9_-]. */
int gw_console_tpl_id_ok(const char *s, size_t len);
/* 1 when s is a placeholder name: 1..32 letters (Latin with marks included),
 * digits or _, valid UTF-8. */
int gw_console_tpl_name_ok(const char *s, size_t len);

/*
 * Reads the placeholders of text into out. 0, or MC_EINVAL with a reason for a
 * person in err: "(( at character N is not closed", "bad placeholder name ((x))",
 * "more than 32 placeholders".
 */
int gw_console_tpl_scan(const char *text, size_t len, gw_console_tpl_vars *out, char *err,
                        size_t errlen);

/*
 * text with each placeholder replaced by data's value (a string, or a number
 * written in decimal). Returns a new NUL-terminated string (caller frees) with
 * its length in *out_len, or NULL when the text does not scan, a placeholder
 * has no string or number in data, or memory runs out.
 */
char *gw_console_tpl_render(const char *text, size_t len, const json_t *data, size_t *out_len);

/* Asks the store for the department's template id: cb gets a string (the stored
 * record) or nil. 0, or MC_EUNAVAIL (cb not called). */
int gw_console_tpl_fetch(gw_store *st, const char *dept, const char *id, gw_store_cb *cb,
                         void *priv);

/*
 * Applies a fetched template (r, the answer of gw_console_tpl_fetch) to data:
 * nil → 400 template.id; a placeholder without a value → 400 <prefix><name>; a
 * value for no placeholder → 400 <prefix><key>; a result that is blank or longer
 * than GW_ADMIN_TEXT_MAX → 400 template. 0 with *out (caller frees) the text, or
 * -1 with e set.
 */
int gw_console_tpl_use(const redisReply *r, const json_t *data, const char *prefix, char **out,
                       gw_admin_err *e);

#endif
