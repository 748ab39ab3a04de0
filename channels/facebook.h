/*
 * facebook.h — the Facebook Messenger adapter (../shared/spec/channels.md):
 * X-Hub-Signature-256 verification, the GET verification handshake, webhook
 * parsing (several entries × several messaging items), Send API rendering with
 * the 2000-character split, and the Graph error table.
 */
#ifndef CH_FACEBOOK_H
#define CH_FACEBOOK_H

#include "channels/ch.h"

#define FB_MAX_TEXT_CHARS 2000    /* code points in one Send API text */
#define FB_MAX_QUICK_TITLE 20     /* code points in a quick-reply title (longer is cut) */
#define FB_MAX_QUICK_PAYLOAD 1000 /* bytes in a quick-reply payload */
#define FB_MAX_CHALLENGE 128      /* bytes in a hub.challenge we echo back */
#define FB_SIGNATURE_PREFIX "sha256="

extern const ch_adapter ch_facebook_adapter;

/*
 * The webhook verification handshake (GET ?hub.mode=subscribe&hub.verify_token=T
 * &hub.challenge=C), on the raw query string. Returns 0 and copies the decoded
 * challenge into challenge (answer 200 with it as the body) when the mode is
 * "subscribe" and T equals s->verify_token (constant time); MC_EINVAL (answer 403)
 * otherwise, with the reason in err. The challenge is refused unless it is 1..128
 * bytes of [A-Za-z0-9._-], so the echo can never carry markup.
 */
int ch_facebook_challenge(const ch_settings *s, const char *query, size_t query_len,
                          char *challenge, size_t clen, char *err, size_t errlen);

#endif
