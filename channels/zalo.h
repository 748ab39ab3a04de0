/*
 * zalo.h — the Zalo Official Account adapter (../shared/spec/channels.md):
 * X-ZEvent-Signature verification with replay protection, OA webhook events,
 * consultation ("cs") messages with buttons, the OA error table, and the OAuth v4
 * access-token refresh (render the request, parse the answer).
 */
#ifndef CH_ZALO_H
#define CH_ZALO_H

#include "channels/ch.h"

#include <stdint.h>

#define ZALO_MAX_TEXT_CHARS 2000           /* code points in one consultation text */
#define ZALO_MAX_BUTTONS 5                 /* buttons under one message; more → numbered list */
#define ZALO_MAX_BUTTON_TITLE 100          /* code points in a button title (longer is cut) */
#define ZALO_MAX_BUTTON_PAYLOAD 1000       /* bytes in a button payload */
#define ZALO_MAX_SKEW_MS (5LL * 60 * 1000) /* events further than this from now: replay */
#define ZALO_RATE_RETRY_MS (60LL * 1000)   /* -32 is a per-minute limit: wait one minute */
#define ZALO_UTC_OFFSET_MIN (7 * 60)       /* Asia/Ho_Chi_Minh, no daylight saving */
#define ZALO_QUOTA_RESET_HOUR 0            /* daily quotas reset at local midnight */
#define ZALO_CURFEW_END_HOUR 6             /* -234: broadcasts refused 22:00–06:00 */
#define ZALO_SIGNATURE_PREFIX "mac="

extern const ch_adapter ch_zalo_adapter;

/*
 * Builds the refresh request: POST {oauth_base}/v4/oa/access_token, header
 * secret_key: {oauth_secret}, form app_id, refresh_token, grant_type=refresh_token.
 * The caller frees out with ch_http_clear. MC_EINVAL when a setting is missing.
 */
int ch_zalo_refresh_render(const ch_settings *s, const char *refresh_token, ch_http *out, char *err,
                           size_t errlen);

/*
 * Reads the refresh answer {"access_token","refresh_token","expires_in"} (expires_in
 * as a string or a number). Copies both tokens (NUL-terminated) and the lifetime in
 * seconds. MC_EINVAL when Zalo answered an error or a field is missing (Zalo's
 * message in err), MC_ETOOBIG when a buffer is too small. The refresh token is
 * single-use: store the new pair before using the new access token.
 */
int ch_zalo_refresh_parse(const char *body, size_t len, char *access, size_t alen, char *refresh,
                          size_t rlen, int64_t *expires_in_s, char *err, size_t errlen);

#endif
