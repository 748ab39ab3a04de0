/*
 * webchat.h — the web chat channel's wire format (protocol "motcua.v1",
 * ../shared/spec/channels.md): client frames parsed into a struct, server
 * frames rendered to JSON text. No sockets here: the gateway owns those.
 */
#ifndef WEBCHAT_H
#define WEBCHAT_H

#include "channels/ch.h"

#include <stddef.h>

#define WEBCHAT_CHANNEL "webchat" /* the channel's name (metrics, conversation keys) */
#define WEBCHAT_SUBPROTOCOL "motcua.v1"
#define WEBCHAT_MAX_FRAME 4096      /* bytes in one client frame */
#define WEBCHAT_MAX_TEXT_CHARS 2000 /* code points in a message text */
#define WEBCHAT_MAX_ID 64           /* bytes in a client message id */
#define WEBCHAT_SESSION_HEX 32      /* a session token is 128 bits in hex */

typedef enum webchat_kind { WEBCHAT_HELLO, WEBCHAT_MESSAGE, WEBCHAT_QUICK_REPLY } webchat_kind;

/* The keys of its configuration section [webchat] (fields of ch_settings). */
extern const ch_key webchat_keys[];
extern const size_t webchat_n_keys;
/* [scheduler] rate_webchat when not set (messages per second). */
#define WEBCHAT_DEFAULT_RATE 200.0

/* One parsed client frame. */
typedef struct webchat_frame {
    webchat_kind kind;                     /* which frame */
    char session[WEBCHAT_SESSION_HEX + 1]; /* hello: the token to resume, "" for none */
    long long last_seq;                    /* hello: last seq the client saw */
    char id[WEBCHAT_MAX_ID + 1];           /* message/quick_reply: the client's id */
    char *text;                            /* message text or quick-reply payload, owned */
    size_t text_len;                       /* its length in bytes */
} webchat_frame;

/* A button under a message. */
typedef struct webchat_quick {
    const char *title;   /* shown to the citizen */
    const char *payload; /* sent back when pressed */
} webchat_quick;

/*
 * Parses one client frame (buf must be valid UTF-8: the caller checks). On
 * failure returns MC_EINVAL or MC_ETOOBIG (MC_ENOMEM with "internal") and sets
 * *code to the protocol error code ("too_large", "bad_json", "bad_frame",
 * "unknown_type", "too_long", "empty", "internal") and writes a human explanation
 * into msg; out then owns nothing. On success the caller frees with
 * webchat_frame_clear.
 */
int webchat_parse(const char *buf, size_t len, webchat_frame *out, const char **code, char *msg,
                  size_t msglen);
void webchat_frame_clear(webchat_frame *f);

/* Renderers: each returns a malloc'd JSON text (length in *len) or NULL on OOM. */
char *webchat_render_welcome(const char *session, long long seq, size_t *len);
char *webchat_render_ack(const char *id, size_t *len);
char *webchat_render_error(const char *code, const char *message, size_t *len);
char *webchat_render_message(long long seq, const char *text, size_t text_len,
                             const webchat_quick *quick, size_t n_quick, const char *reply_to,
                             size_t *len);

#endif
