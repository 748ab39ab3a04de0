/*
 * gw_script.h — the Lua scripts of motcua as objects: the keyspace's prelude (key
 * helpers, store/gw_keys.h) followed by the script's body, and its SHA1, so that a
 * command sends EVALSHA <sha> (40 bytes) rather than the whole text every time.
 *
 * A store loads (SCRIPT LOAD) every script registered with gw_store_load on each
 * (re)connect, before it reports itself up, so EVALSHA finds them after a Redis
 * restart too. Should Redis lose them anyway (SCRIPT FLUSH), the command's callback
 * gets the NOSCRIPT error (callers treat it as any Redis error and try again) and the
 * store loads them all again at once.
 */
#ifndef GW_SCRIPT_H
#define GW_SCRIPT_H

#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_store.h"

#include <stddef.h>

#define GW_SCRIPT_SHA_HEX 41 /* SHA1 in hex, NUL included */

typedef struct gw_script {
    const char *name;            /* for logs (static) */
    char *text;                  /* prelude + body, owned */
    size_t len;                  /* bytes in text */
    char sha[GW_SCRIPT_SHA_HEX]; /* SHA1 of text, lower-case hex */
} gw_script;

/* Builds the script: ks's prelude, then body (static Lua text). 0, or MC_ENOMEM. */
int gw_script_init(gw_script *s, const char *name, const gw_keyspace *ks, const char *body);
void gw_script_clear(gw_script *s);
/* gw_script_init, then registered with the store st (gw_store_load). 0, or MC_ENOMEM (s
 * then empty). */
int gw_script_load(gw_script *s, gw_store *st, const char *name, const gw_keyspace *ks,
                   const char *body);

/* Starts "EVALSHA <sha>" in a; the caller adds numkeys, the keys, then the arguments. */
void gw_argv_evalsha(gw_argv *a, const gw_script *s);
/* Starts "EVAL <text>" in a (for a connection whose replies are off). */
void gw_argv_eval(gw_argv *a, const gw_script *s);

#endif
