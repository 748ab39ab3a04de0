/*
 * gw_resp.h — a command in Redis's wire format (RESP), built in one pass.
 *
 * The store hands hiredis commands already encoded (redisAsyncFormattedCommand):
 * hiredis's own encoders grow a string piece by piece and print every number through
 * snprintf (a quarter of a conversation turn's instructions went there). These give
 * the same bytes as redisFormatCommandArgv and redisvFormatCommand, for the format
 * directives the gateway uses; a format with any other directive is left to hiredis.
 */
#ifndef GW_RESP_H
#define GW_RESP_H

#include <stdarg.h>
#include <stddef.h>

#define GW_RESP_STACK 2048 /* bytes a command may take before it needs the heap */
#define GW_RESP_OTHER 1    /* gw_resp_fmt: a directive left to hiredis */

/* An encoded command: the bytes, in `stack` when they fit, else on the heap. */
typedef struct gw_resp {
    char *p;                   /* the command; NULL after a failure */
    size_t len;                /* its bytes */
    char stack[GW_RESP_STACK]; /* small commands stay here */
} gw_resp;

/* Encodes argc arguments (argvlen NULL: NUL-terminated). 0, or MC_ENOMEM / MC_EINVAL
 * (argc < 1). gw_resp_clear frees what it took. */
int gw_resp_argv(gw_resp *r, int argc, const char **argv, const size_t *argvlen);

/* Encodes a hiredis format ("HSET %s f %b", arguments split at spaces): %s, %b (pointer
 * and size_t), %%, and the integers %d %i %u %ld %li %lu %lld %lli %llu %zu %zd.
 * 0; GW_RESP_OTHER for any other directive (flags, widths, %x, floats: nothing taken,
 * ap untouched, the caller asks hiredis); MC_ENOMEM; MC_EINVAL (no argument, or more
 * than this file encodes: hiredis may). */
int gw_resp_fmt(gw_resp *r, const char *fmt, va_list ap);

/* Frees what gw_resp_argv or gw_resp_fmt took from the heap. */
void gw_resp_clear(gw_resp *r);

#endif
