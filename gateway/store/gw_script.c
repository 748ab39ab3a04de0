/*
 * gw_script.c — a Lua script with its prelude and SHA1 (gw_script.h).
 */
#include "gateway/store/gw_script.h"

#include "core/mc.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gw_script_init(gw_script *s, const char *name, const gw_keyspace *ks, const char *body) {
    const char *pre = gw_keys_lua_prelude(ks);
    size_t pl = strlen(pre), bl = strlen(body);
    memset(s, 0, sizeof *s);
    s->name = name;
    if (!(s->text = malloc(pl + bl + 1)))
        return MC_ENOMEM;
    memcpy(s->text, pre, pl);
    memcpy(s->text + pl, body, bl + 1);
    s->len = pl + bl;
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s->text, s->len, md);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int gw_script_load(gw_script *s, gw_store *st, const char *name, const gw_keyspace *ks,
                   const char *body) {
    if (gw_script_init(s, name, ks, body))
        return MC_ENOMEM;
    if (gw_store_load(st, s)) {
        gw_script_clear(s);
        return MC_ENOMEM;
    }
    return 0;
}

void gw_script_clear(gw_script *s) {
    free(s->text);
    memset(s, 0, sizeof *s);
}

void gw_argv_evalsha(gw_argv *a, const gw_script *s) {
    gw_argv_adds(a, "EVALSHA");
    gw_argv_add(a, s->sha, GW_SCRIPT_SHA_HEX - 1);
}

void gw_argv_eval(gw_argv *a, const gw_script *s) {
    gw_argv_adds(a, "EVAL");
    gw_argv_add(a, s->text, s->len);
}
