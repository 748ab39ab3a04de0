/*
 * gw_log.h — structured logs: one JSON object per line on standard error with
 * `ts`, `level`, `event` and fields. Every string field is passed through
 * gw_mask_pii, so phone numbers and citizen IDs never reach a log unmasked.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stddef.h>

typedef enum gw_log_level { GW_DEBUG, GW_INFO, GW_WARN, GW_ERROR } gw_log_level;

/* Sets the lowest level written; "debug"|"info"|"warn"|"error". Unknown → info. */
void gw_log_set_level(const char *name);
int gw_log_enabled(gw_log_level lvl);

/*
 * Writes one log line. `fmt` is a jansson json_pack object format for the extra
 * fields (e.g. "{s:s, s:i}", "route", r, "status", 200) or NULL for none.
 */
void gw_log(gw_log_level lvl, const char *event, const char *fmt, ...);

/*
 * Copies in[0..len) to out (capacity outlen, always NUL-terminated), masking every
 * run of 9 or more digits (spaces, dots and dashes between digits allowed, an
 * optional leading '+'): the first 4 digits and the last 3 stay, the middle
 * becomes "****" — "+84912345678" → "+8491****678". Returns the length written.
 */
size_t gw_mask_pii(const char *in, size_t len, char *out, size_t outlen);

#endif
