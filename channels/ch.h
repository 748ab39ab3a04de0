/*
 * ch.h — the channel core: what every channel adapter (facebook, zalo, sms)
 * answers, behind one small interface (../shared/spec/channels.md):
 *   1. verify   — is this HTTP request really from the provider?
 *   2. parse    — raw request → zero or more normalized inbound messages
 *   3. render   — a reply or notification → the provider's HTTP request
 *   4. classify — the provider's HTTP answer → sent / retry later / permanent
 *
 * The gateway owns sockets, Redis and the loop; adapters are pure functions
 * over bytes, so each can be unit-tested with captured provider payloads. The
 * core knows nothing of Zalo: a channel is an entry in the adapter table.
 */
#ifndef CH_H
#define CH_H

#include <stddef.h>
#include <stdint.h>

#define CH_MAX_ID 128      /* bytes in a provider id (PSID, user id, mid, E.164 phone) */
#define CH_MAX_MESSAGES 64 /* normalized messages one webhook request may carry */
#define CH_MAX_QUICK 13    /* quick replies a message may offer (Facebook's limit) */
#define CH_MAX_HEADERS 8   /* extra headers one outbound request may carry */

/* What an inbound event is. */
typedef enum ch_event {
    CH_EV_TEXT,        /* a citizen wrote text: answer it */
    CH_EV_QUICK_REPLY, /* a citizen pressed a quick reply: payload set, answer it */
    CH_EV_POSTBACK,    /* a citizen pressed a button: payload set, answer it */
    CH_EV_UNSUPPORTED, /* image, sticker, file...: answer politely that only text is understood */
    CH_EV_FOLLOW,      /* the citizen followed the OA/page: record it */
    CH_EV_UNFOLLOW,    /* the citizen unfollowed: record it */
    CH_EV_DELIVERY,    /* provider receipt: our message(s) delivered; update status only */
    CH_EV_READ,        /* provider receipt: our message(s) seen/read; update status only */
    CH_EV_ECHO,        /* our own message echoed back: ignore */
    CH_EV_STATUS,      /* SMS status callback (Twilio MessageStatus, Kannel DLR) */
} ch_event;

/*
 * One normalized inbound message. Strings are NUL-terminated and owned by the
 * message (free with ch_message_clear). `text` is UTF-8 as the provider sent it;
 * the gateway validates and NFC-normalizes it.
 */
typedef struct ch_message {
    const char *channel;             /* static: "facebook", "zalo", "sms" */
    ch_event kind;                   /* what happened */
    char provider_id[CH_MAX_ID];     /* message id for dedup (mid, msg_id, MessageSid); for
                                        receipts the id of OUR message they refer to */
    char sender[CH_MAX_ID];          /* who wrote: PSID, Zalo user id, E.164 phone */
    char recipient[CH_MAX_ID];       /* page id, OA id, our number */
    int64_t ts_ms;                   /* provider timestamp, ms since the epoch */
    char *text;                      /* message text, or NULL */
    size_t text_len;                 /* bytes in text */
    char *payload;                   /* quick-reply / postback payload, or NULL */
    char status[24];                 /* CH_EV_STATUS: queued|sent|delivered|undelivered|failed */
    int64_t watermark_ms;            /* CH_EV_DELIVERY/READ without ids: all before this time */
} ch_message;

void ch_message_clear(ch_message *m);

/* Header lookup into the gateway's request: value of `name` (case-insensitive) or NULL. */
typedef const char *ch_header_fn(void *ctx, const char *name);

/* An inbound HTTP request as received, bytes untouched (signatures are over raw bodies). */
typedef struct ch_request {
    const char *method;      /* "GET" or "POST" */
    const char *path;        /* "/webhook/zalo" */
    const char *query;       /* raw query string without '?', or "" */
    size_t query_len;        /* bytes in query */
    const char *body;        /* raw body (not NUL-terminated) */
    size_t body_len;         /* bytes in body */
    ch_header_fn *header;    /* header lookup */
    void *header_ctx;        /* its context */
    const char *remote_addr; /* peer address, for Kannel's source check */
    int64_t now_ms;          /* the gateway's clock (tests control it) */
} ch_request;

/*
 * Settings an adapter reads: the gateway copies them from its configuration.
 * All borrowed; empty strings when unset.
 */
typedef struct ch_settings {
    const char *public_url;        /* base URL citizens' providers call (Twilio signature) */
    const char *api_base;          /* provider API base, e.g. https://graph.facebook.com */
    const char *api_version;       /* Facebook Graph version, e.g. v21.0 */
    const char *app_id;            /* Zalo app id */
    const char *app_secret;        /* Facebook app secret / Zalo OA secret key */
    const char *verify_token;      /* Facebook webhook verify token */
    const char *access_token;      /* page token / Zalo access token */
    const char *provider;          /* sms: "twilio" or "kannel" */
    const char *account_sid;       /* twilio */
    const char *auth_token;        /* twilio */
    const char *username;          /* kannel */
    const char *password;          /* kannel */
    const char *shared_secret;     /* kannel inbound secret */
    const char *sender;            /* sms From / brandname */
    const char *status_callback;   /* sms delivery-report URL, or "" */
    int max_segments;              /* sms: cut longer texts */
} ch_settings;

/* A button offered with a reply. */
typedef struct ch_quick {
    const char *title;   /* shown; adapters cut to the channel's limit */
    const char *payload; /* sent back when pressed */
} ch_quick;

/* Why we send: decides Facebook's messaging_type and whether a window applies. */
typedef enum ch_purpose {
    CH_PURPOSE_REPLY,  /* answer to the citizen's message (inside the window) */
    CH_PURPOSE_UPDATE, /* notification (dossier status, broadcast) */
} ch_purpose;

/* One outbound message to render. Borrowed strings. */
typedef struct ch_outgoing {
    const char *recipient;   /* PSID, Zalo user id, E.164 phone */
    const char *text;        /* UTF-8 text (for SMS already unaccented if configured) */
    size_t text_len;         /* bytes in text */
    const ch_quick *quick;   /* choices, may be NULL */
    size_t n_quick;          /* entries in quick */
    ch_purpose purpose;      /* reply or update */
    const char *tag;         /* Facebook message tag outside the window, or NULL */
    const char *tracking_id; /* our id for this message (idempotency, ZNS tracking_id) */
} ch_outgoing;

/* One HTTP request to a provider, fully built. Owned strings; free with ch_http_clear. */
typedef struct ch_http {
    char method[8];                  /* "POST" or "GET" */
    char *url;                       /* full URL incl. query */
    char *headers[CH_MAX_HEADERS];   /* "Name: value" lines */
    size_t n_headers;                /* used entries */
    char *body;                      /* request body, or NULL */
    size_t body_len;                 /* bytes in body */
    int segments;                    /* sms: segments this text costs; 0 elsewhere */
    const char *encoding;            /* sms: "GSM-7" or "UCS-2"; NULL elsewhere */
} ch_http;

void ch_http_clear(ch_http *h);

/* What a provider's answer means. */
typedef enum ch_verdict {
    CH_SENT,      /* accepted: provider_id set */
    CH_RETRY,     /* try again later: retry_after_ms set when the provider said when */
    CH_PERMANENT, /* will not succeed on this channel: reason set */
} ch_verdict;

typedef struct ch_result {
    ch_verdict verdict;            /* see above */
    char provider_id[CH_MAX_ID];   /* CH_SENT: the provider's message id */
    int64_t retry_after_ms;        /* CH_RETRY: delay the provider asked for, 0 if none */
    char reason[160];              /* machine-readable-ish reason: "outside_window", "token", ... */
    int fallback;                  /* CH_PERMANENT: 1 when another channel should be tried */
    int token_error;               /* 1 when the access token is invalid/expired: refresh */
} ch_result;

/*
 * The adapter interface. Every function returns 0 or a negative MC_E* code and
 * writes a human explanation into err. None keeps pointers to its inputs.
 */
typedef struct ch_adapter {
    const char *name; /* "facebook", "zalo", "sms" */

    /* MC_EINVAL (→ 401) when the signature is missing or wrong. */
    int (*verify)(const ch_settings *s, const ch_request *req, char *err, size_t errlen);

    /* Fills out[0..*n) (capacity CH_MAX_MESSAGES). MC_EINVAL (→ 400) for malformed bodies;
     * unknown event kinds are skipped, not errors. The caller clears each message. */
    int (*parse)(const ch_settings *s, const ch_request *req, ch_message *out, size_t *n,
                 char *err, size_t errlen);

    /* Builds the request(s) for one outgoing message into out[0..*n) (capacity max_out):
     * more than one when the text must be split (Facebook's 2000 characters). */
    int (*render)(const ch_settings *s, const ch_outgoing *msg, ch_http *out, size_t max_out,
                  size_t *n, char *err, size_t errlen);

    /* Classifies the provider's answer: HTTP status (0 for a transport failure or timeout),
     * body, and the Retry-After header value or NULL. */
    void (*classify)(int status, const char *body, size_t body_len, const char *retry_after,
                     ch_result *out);
} ch_adapter;

/* The adapter for a channel name, or NULL. */
const ch_adapter *ch_adapter_find(const char *name);

#endif
