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

#define CH_MAX_ADAPTERS 8         /* provider channels in the adapter table, at most */
#define CH_MAX_ID 128             /* bytes in a provider id (PSID, user id, mid, E.164 phone) */
#define CH_MAX_MESSAGES 64        /* normalized messages one webhook request may carry */
#define CH_MAX_QUICK 13           /* quick replies a message may offer (Facebook's limit) */
#define CH_MAX_HEADERS 8          /* extra headers one outbound request may carry */
#define CH_MAX_BODY (1024 * 1024) /* bytes in a webhook body an adapter will look at */
#define CH_MAX_HEADER_VALUE 1024  /* bytes of an inbound header value an adapter reads */
#define CH_ID_PART 80             /* bytes of a provider id kept inside an id we make up */
#define CH_TPL_MAX_PARAMS 32      /* parameters of one provider template (ZNS) */
#define CH_TPL_PARAM_NAME 64      /* bytes of a provider template's parameter name */
#define CH_TPL_ID_MAX 64          /* bytes of a provider template's id */

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
 * the gateway validates and NFC-normalizes it. The ids are valid UTF-8: they go into
 * JSON logs and provider requests.
 */
typedef struct ch_message {
    const char *channel;         /* static: "facebook", "zalo", "sms" */
    ch_event kind;               /* what happened */
    char provider_id[CH_MAX_ID]; /* message id for dedup (mid, msg_id, MessageSid); for
                                    receipts the id of OUR message they refer to */
    char sender[CH_MAX_ID];      /* who wrote: PSID, Zalo user id, E.164 phone */
    char recipient[CH_MAX_ID];   /* page id, OA id, our number */
    int64_t ts_ms;               /* provider timestamp, ms since the epoch */
    char *text;                  /* message text, or NULL */
    size_t text_len;             /* bytes in text */
    char *payload;               /* quick-reply / postback payload, or NULL */
    char status[24];             /* CH_EV_STATUS: queued|sent|delivered|undelivered|failed */
    int64_t watermark_ms;        /* CH_EV_DELIVERY/READ without ids: all before this time */
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
    int enabled;                 /* [<channel>] enabled */
    const char *public_url;      /* base URL citizens' providers call (Twilio signature) */
    const char *api_base;        /* provider API base, e.g. https://graph.facebook.com */
    const char *api_version;     /* Facebook Graph version, e.g. v21.0 */
    const char *app_id;          /* Zalo app id */
    const char *app_secret;      /* Facebook app secret / Zalo OA secret key */
    const char *verify_token;    /* Facebook webhook verify token */
    const char *access_token;    /* page token / Zalo access token */
    const char *provider;        /* sms: "twilio" or "kannel" */
    const char *account_sid;     /* twilio */
    const char *auth_token;      /* twilio */
    const char *username;        /* kannel */
    const char *password;        /* kannel */
    const char *shared_secret;   /* kannel inbound secret */
    const char *sender;          /* sms From / brandname */
    const char *status_callback; /* sms delivery-report URL, or "" */
    long max_segments;           /* sms: cut longer texts */
    const char *oauth_base;      /* Zalo OAuth base, e.g. https://oauth.zaloapp.com */
    const char *oauth_secret;    /* Zalo APP secret key (token refresh), not the OA key */
    const char *allowed_addrs;   /* kannel: comma-separated peer addresses, "" = any */
    const char *more_text;       /* sms: appended after "…" when a text is cut */
    const char *refresh_token;   /* the first refresh token of a refreshable access token */
    const char *zns_api_base;    /* Zalo Notification Service API base */
    int unaccented;              /* send texts without diacritics (policy.unaccent channels) */
    const char *quiet_hours;     /* "HH:MM-HH:MM" local: updates wait unless urgent, or "" */
    const char *tx_quiet_hours;  /* the same for transaction notices (about the citizen's own
                                    dossier), "" = they go any time (vn-rules.md §6a, §6c) */
    long price_vnd;              /* what one unit (an SMS segment) costs, đồng; 0 = unknown */
    double rate;                 /* [scheduler] rate_<channel>: messages per second, 0 = none */
    const char *allowed_origins; /* web chat: origins allowed, comma-separated, "*" any */
    long unreachable_days;       /* a citizen the provider says it cannot reach is not tried
                                    again on this channel for this many days (ZNS) */
    long max_per_day;            /* sms: notifications to one number per local day, urgent
                                    ones not counted; 0 = no cap */
} ch_settings;

/* ---- configuration: each channel declares the keys of its [section] ---- */

typedef enum ch_key_type {
    CH_KT_STR,   /* any text */
    CH_KT_URL,   /* empty or http(s)://... */
    CH_KT_BOOL,  /* true/false/yes/no/on/off/1/0 */
    CH_KT_INT,   /* integer in [min, max] (a long field) */
    CH_KT_ENUM,  /* one of the '|' separated choices */
    CH_KT_HOURS, /* HH:MM-HH:MM, or "" (none) */
} ch_key_type;

/* One key of a channel's configuration section and the ch_settings field it fills. */
typedef struct ch_key {
    const char *key;     /* name in the section */
    ch_key_type type;    /* how the value is checked */
    const char *def;     /* default, as text */
    long min, max;       /* bounds of CH_KT_INT */
    const char *choices; /* choices of CH_KT_ENUM */
    size_t off;          /* offsetof(ch_settings, field): const char *, int or long */
} ch_key;

/* ---- policy: the channel's rules, as data the scheduler and the sender apply ---- */

typedef struct ch_policy {
    int64_t window_ms;   /* a chat channel reaches a citizen only this long after their
                            last message (Facebook 24 h, Zalo 7 days); 0 = no window */
    int quiet_hours;     /* 1: updates that are not urgent wait out [<channel>] quiet_hours, or
                            its transaction quiet hours for a dossier's own notices */
    int night_start_min; /* broadcasts are refused from this local minute ... */
    int night_end_min;   /* ... to this one (Zalo's 22:00-06:00); -1 = no such rule */
    int phone_recipient; /* 1: the recipient is the citizen's phone number (E.164) */
    int unaccent;        /* 1: texts go without diacritics when [<channel>] unaccented */
    double default_rate; /* [scheduler] rate_<channel> when not set: messages per second */
    int remembers;       /* 1: the sender remembers a citizen the provider cannot reach and a
                            channel out of its daily quota (ch_result.unreachable, hold_ms) and
                            checks both before the first request of a notification */
} ch_policy;

#define CH_PREVIEW_CULPRITS_MAX 97 /* 24 characters of 4 bytes at most, and a NUL */

/* What one text comes to on a channel, for a department's preview (no request is sent). */
typedef struct ch_preview {
    char *text;           /* the text as the provider would get it, owned; NULL: as given */
    size_t text_len;      /* its bytes */
    int parts;            /* messages the text goes as; 0 = the channel does not count them */
    const char *encoding; /* SMS: "GSM-7" or "UCS-2" (static); NULL otherwise */
    int units;            /* what the channel charges by, per recipient (SMS segments); 0 none */
    size_t chars;         /* code points of the text as sent (with units) */
    char warning[160];    /* why the text cannot go as it is, or "" */
    char culprits[CH_PREVIEW_CULPRITS_MAX]; /* SMS: the distinct characters that force UCS-2,
                                               in order of first use, UTF-8; "" for GSM-7 */
    int culprits_more;                      /* 1: more culprits than culprits holds */
} ch_preview;

void ch_preview_clear(ch_preview *p);

/* What a provider wants back once its webhook was accepted. */
typedef struct ch_ack {
    int status;        /* HTTP status */
    const char *ctype; /* content type (static) */
    const char *body;  /* body (static) */
} ch_ack;

#define CH_M_GET 1u /* webhook methods */
#define CH_M_POST 2u

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
    const char *reply_to; /* provider id of the citizen's message answered (Zalo quote), or NULL */
    const char *data;     /* a provider template message prepared when the notification was
                             accepted (ZNS: JSON {"template_id","template_data"}), or NULL */
    size_t data_len;      /* bytes in data */
} ch_outgoing;

/* One HTTP request to a provider, fully built. Owned strings; free with ch_http_clear. */
typedef struct ch_http {
    char method[8];                /* "POST" or "GET" */
    char *url;                     /* full URL incl. query */
    char *headers[CH_MAX_HEADERS]; /* "Name: value" lines */
    size_t n_headers;              /* used entries */
    char *body;                    /* request body, or NULL */
    size_t body_len;               /* bytes in body */
    int segments;                  /* sms: segments this text costs; 0 elsewhere */
    const char *encoding;          /* sms: "GSM-7" or "UCS-2"; NULL elsewhere */
} ch_http;

void ch_http_clear(ch_http *h);

/* What a provider's answer means. */
typedef enum ch_verdict {
    CH_SENT,      /* accepted: provider_id set */
    CH_RETRY,     /* try again later: retry_after_ms set when the provider said when */
    CH_PERMANENT, /* will not succeed on this channel: reason set */
} ch_verdict;

typedef struct ch_result {
    ch_verdict verdict;          /* see above */
    char provider_id[CH_MAX_ID]; /* CH_SENT: the provider's message id */
    int64_t retry_after_ms;      /* CH_RETRY: delay the provider asked for, 0 if none */
    char reason[160];            /* machine-readable-ish reason: "outside_window", "token", ... */
    int fallback;                /* CH_PERMANENT: 1 when another channel should be tried */
    int token_error;             /* 1 when the access token is invalid/expired: refresh */
    char detail[160];            /* the provider's own code and message, log-safe, or "" */
    int unreachable;             /* CH_PERMANENT: this citizen cannot be reached on this channel
                                    (not on Zalo): remembered for [..] unreachable_days */
    int64_t hold_ms;             /* CH_PERMANENT: the whole channel is out (its daily quota) for
                                    this long: no notification tries it before; 0 none */
    int final;                   /* CH_PERMANENT: no other channel may carry it either (its
                                    provider template is disabled): the notification is dead */
} ch_result;

/* What a provider says of one of its message templates (ZNS template info). */
typedef struct ch_tpl_param {
    char name[CH_TPL_PARAM_NAME]; /* the parameter's exact name */
    long max_len;                 /* code points its value may hold; 0 = no limit given */
    int required;                 /* 1: a value must be given */
} ch_tpl_param;

typedef struct ch_tpl_info {
    int usable;                             /* 1: the provider sends it (status ENABLE) */
    char status[32];                        /* the provider's status word, log-safe */
    size_t n_params;                        /* entries of params */
    ch_tpl_param params[CH_TPL_MAX_PARAMS]; /* its parameters, in the provider's order */
} ch_tpl_info;

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
    int (*parse)(const ch_settings *s, const ch_request *req, ch_message *out, size_t *n, char *err,
                 size_t errlen);

    /* Builds the request(s) for one outgoing message into out[0..*n) (capacity max_out):
     * more than one when the text must be split (Facebook's 2000 characters). */
    int (*render)(const ch_settings *s, const ch_outgoing *msg, ch_http *out, size_t max_out,
                  size_t *n, char *err, size_t errlen);

    /* Classifies the provider's answer: HTTP status (0 for a transport failure or timeout),
     * body, and the Retry-After header value or NULL. */
    void (*classify)(int status, const char *body, size_t body_len, const char *retry_after,
                     ch_result *out);

    /* Its configuration section: keys, and the problems of a whole section (a key that
     * needs another one); validate may be NULL. 0, or MC_EINVAL with err. */
    const ch_key *keys;
    size_t n_keys;
    int (*validate)(const ch_settings *s, char *err, size_t errlen);
    /* 1 when the settings hold what sending needs (credentials); otherwise the gateway
     * writes to its outbox when one is configured. */
    int (*can_send)(const ch_settings *s);
    const ch_policy *policy;

    /* The webhook: which methods it takes (CH_M_*) with these settings; a GET that is
     * a subscription handshake (Facebook's) answers challenge instead of carrying
     * messages (handshake may be NULL: GET carries messages); ack is what the provider
     * expects back once the events are stored. */
    unsigned (*methods)(const ch_settings *s);
    int (*handshake)(const ch_settings *s, const ch_request *req, char *out, size_t cap, char *err,
                     size_t errlen);
    void (*ack)(const ch_settings *s, const char *method, ch_ack *out);

    /* The console's preview of a text (already unaccented when the policy says so);
     * NULL when the channel has nothing to add. 0 or MC_ENOMEM; clear with
     * ch_preview_clear. */
    int (*preview)(const ch_settings *s, const char *text, size_t len, ch_preview *out);

    /* A refreshable access token (Zalo's): the request that trades the refresh token
     * for a new pair, and its answer. Both NULL for channels whose token is fixed. */
    int (*token_render)(const ch_settings *s, const char *refresh_token, ch_http *out, char *err,
                        size_t errlen);
    int (*token_parse)(const char *body, size_t len, char *access, size_t alen, char *refresh,
                       size_t rlen, int64_t *expires_in_s, char *err, size_t errlen);

    /* A channel that lives inside another's configuration and account (ZNS inside Zalo's):
     * section is the [section] its keys are read from (NULL: its name), token_of the channel
     * whose refreshable token it sends with (NULL: its own). by_phone, on the other side,
     * names the channel that reaches this channel's citizens by their phone number (Zalo's:
     * ZNS), or NULL. */
    const char *section;
    const char *token_of;
    const char *by_phone;

    /* A channel whose messages are provider templates (ZNS): the request that asks the
     * provider about one template, and its answer (status 0: no answer). Both NULL for
     * channels that send free text. The gateway links a department's template to one
     * (its JSON field is the channel's name) and prepares ch_outgoing.data from it. */
    int (*tpl_info_render)(const ch_settings *s, const char *template_id, ch_http *out, char *err,
                           size_t errlen);
    int (*tpl_info_parse)(int status, const char *body, size_t len, ch_tpl_info *out, char *err,
                          size_t errlen);
} ch_adapter;

/* The adapter for a channel name, or NULL. */
const ch_adapter *ch_adapter_find(const char *name);
/* The provider channels, in a fixed order: i < ch_adapter_count(). */
size_t ch_adapter_count(void);
const ch_adapter *ch_adapter_at(size_t i);

/* Checks v against k; 0, or MC_EINVAL with a reason in err. Stores nothing. */
int ch_key_check(const ch_key *k, const char *v, char *err, size_t errlen);
/* 1 when v is a boolean written as true/false/yes/no/on/off/1/0 (into *out). */
int ch_parse_bool(const char *v, int *out);

/* ---- Helpers shared by the adapters (pure, length-carrying, allocation-light) ---- */

/* A growable byte string. Errors are sticky: check `oom` once at the end. */
typedef struct ch_buf {
    char *p;    /* bytes, NUL-terminated when non-NULL */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    int oom;    /* 1 once an allocation failed */
} ch_buf;

void ch_buf_put(ch_buf *b, const char *s, size_t n);
void ch_buf_puts(ch_buf *b, const char *s);
/* Appends s percent-encoded: RFC 3986 unreserved bytes kept, every other byte %XX. */
void ch_buf_urlenc(ch_buf *b, const char *s, size_t n);
/* Hands the bytes over (caller frees; "" when empty) or NULL after OOM; resets b. */
char *ch_buf_take(ch_buf *b, size_t *len);
void ch_buf_free(ch_buf *b);

/* 1 when a and b hold the same bytes; time depends on the lengths only. */
int ch_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void ch_hex(const unsigned char *in, size_t n, char *out);
/* Standard base64 with padding into out; returns the length or MC_ETOOBIG. */
int ch_base64(const unsigned char *in, size_t n, char *out, size_t cap);

/* One name=value pair of a form body or query string, raw (still encoded). */
typedef struct ch_pair {
    const char *name;  /* raw name */
    size_t name_len;   /* its bytes */
    const char *value; /* raw value ("" when the pair has no '=') */
    size_t value_len;  /* its bytes */
} ch_pair;

/* Next pair from *cur (advanced) up to end: 1 when one was read, 0 at the end. */
int ch_form_next(const char **cur, const char *end, ch_pair *out);
/* Decodes %XX and '+' (space) into out (NUL-terminated); MC_EINVAL for a bad escape,
 * MC_ETOOBIG when out is too small. */
int ch_url_decode(const char *in, size_t len, char *out, size_t cap, size_t *outlen);
/* The decoded value of the first pair called `name`: 0, MC_ENOTFOUND, MC_EINVAL, MC_ETOOBIG. */
int ch_form_get(const char *form, size_t len, const char *name, char *out, size_t cap,
                size_t *outlen);

/* 1 when s is well-formed UTF-8 (no overlongs, surrogates or NUL). */
int ch_utf8_valid(const char *s, size_t len);
/* Code points in valid UTF-8. */
size_t ch_utf8_count(const char *s, size_t len);
/* Bytes taken by the first max_cp code points of valid UTF-8. */
size_t ch_utf8_prefix(const char *s, size_t len, size_t max_cp);
/* Bytes of the longest prefix of valid UTF-8 s that fits in max_bytes and ends on a code
 * point boundary. */
size_t ch_utf8_floor(const char *s, size_t len, size_t max_bytes);
/*
 * Where to cut s so that the first part holds at most max_cp code points: after the
 * last sentence end (. ! ? … or a line break) in the window when it lies in its second
 * half, else at the last space, else at a code point boundary. Returns the bytes of the
 * part (trailing spaces trimmed); *rest is where the remainder starts (leading spaces
 * skipped). When s fits, returns len and *rest = len.
 */
size_t ch_text_cut(const char *s, size_t len, size_t max_cp, size_t *rest);
/* Copies provider text for logs and reasons: control bytes become spaces, invalid
 * UTF-8 becomes '?', runs of 7 or more digits (phone numbers, ids; '+', spaces, dots
 * or dashes between digits included) are masked as "+8491****678", cut on a code
 * point boundary; always NUL-terminates. */
void ch_safe_copy(char *dst, size_t cap, const char *src, size_t len);

/* A Retry-After value (delay-seconds or IMF-fixdate) as a delay in ms from now_ms;
 * 0 when absent or unparsable, capped at CH_MAX_RETRY_AFTER_MS. */
#define CH_MAX_RETRY_AFTER_MS (24LL * 3600 * 1000)
int64_t ch_retry_after_ms(const char *value, int64_t now_ms);
/* Milliseconds from now_ms until the next hour:00 at a fixed UTC offset (minutes). */
int64_t ch_ms_until_local_hour(int64_t now_ms, int utc_offset_min, int hour);
/* Wall clock in ms since the epoch (classify has no request clock). */
int64_t ch_now_ms(void);

/* Appends "Name: value" to h; MC_EINVAL for CR/LF in value, MC_ETOOBIG when full. */
int ch_http_header(ch_http *h, const char *name, const char *value);
/* An inbound header's value and length (bounded by CH_MAX_HEADER_VALUE), or NULL. */
const char *ch_req_header(const ch_request *req, const char *name, size_t *len);
/*
 * The hex digits of a signature header "<prefix><ndigits hex digits>" (Facebook's
 * "sha256=...", Zalo's "mac=..."), lower-cased into out[ndigits] (not NUL-terminated):
 * 0, or MC_EINVAL with err when the header is missing, of another shape, or not hex.
 */
int ch_sig_header(const ch_request *req, const char *name, const char *prefix, size_t ndigits,
                  char *out, char *err, size_t errlen);

/* ---- What the adapters' functions share (the gateway needs none of it) ---- */

/* Writes the printf-style message into err (when there is one) and returns rc. */
__attribute__((format(printf, 4, 5))) int ch_fail(char *err, size_t errlen, int rc, const char *fmt,
                                                  ...);
/* 1 when s is NULL or "" (an unset setting). */
static inline int ch_empty(const char *s) {
    return s == NULL || *s == '\0';
}
/* Bytes of leading white space (space, tab, CR, LF) in s[0..len). */
size_t ch_space_prefix(const char *s, size_t len);
/* Appends a configured base URL without its trailing slashes. */
void ch_buf_base(ch_buf *b, const char *base);

/* The next message of out[0..*n) (capacity CH_MAX_MESSAGES), zeroed, of `channel`; NULL
 * with MC_ETOOBIG in err when the request carries more. */
ch_message *ch_message_next(ch_message *out, size_t *n, const char *channel, char *err,
                            size_t errlen);
/* Clears out[0..*n) and sets *n to 0: what a parse that failed leaves. */
void ch_messages_clear(ch_message *out, size_t *n);
/* The same for the requests of a render that failed. */
void ch_https_clear(ch_http *out, size_t *n);

/* Renders one provider request of the text part t[0..len); last is 1 for the final part. */
typedef int ch_part_fn(void *ctx, const char *t, size_t len, int last, ch_http *out, char *err,
                       size_t errlen);
/*
 * Splits a text (valid UTF-8) into parts of at most max_cp code points (ch_text_cut) and
 * renders each with part into out[0..*n) (capacity max_out): 0, MC_EINVAL when the text
 * is only white space, MC_ETOOBIG when it needs more than max_out parts, or part's error;
 * on failure nothing is left to clear.
 */
int ch_render_parts(const char *t, size_t len, size_t max_cp, ch_part_fn *part, void *ctx,
                    ch_http *out, size_t max_out, size_t *n, char *err, size_t errlen);

/* Classify's answer when the provider took nothing (status 0: no answer, 5xx, 429): CH_RETRY
 * with the Retry-After delay (and ch_result_status_detail), returning 1; 0 for any other
 * status (out untouched). */
int ch_classify_transport(int status, const char *retry_after, ch_result *out);
/* out->detail, unless the answer gave one already: "HTTP <status>" or "no answer ...". */
void ch_result_status_detail(ch_result *out, int status);

/* JSON (jansson's json_t) of the adapters whose provider speaks it. */
struct json_t;
/* The body of a webhook request as JSON: 0, MC_ETOOBIG or MC_EINVAL with err. Caller decrefs. */
int ch_json_body(const ch_request *req, struct json_t **root, char *err, size_t errlen);
/* One choice as the provider's JSON object, from its title (already cut) and its payload;
 * NULL when out of memory. */
typedef struct json_t *ch_choice_fn(const char *title, size_t tlen, const char *payload,
                                    size_t plen);
/*
 * The choices of msg as a JSON array of make's objects, each title cut after max_title code
 * points. NULL with MC_EINVAL in err ("<noun> <i> ...") when a choice lacks its title or
 * payload, is not UTF-8 or has a payload longer than max_payload bytes; NULL with "out of
 * memory" when an object cannot be made (err untouched when the array itself cannot).
 * Caller decrefs.
 */
struct json_t *ch_json_choices(const ch_outgoing *msg, const char *noun, size_t max_title,
                               size_t max_payload, ch_choice_fn *make, char *err, size_t errlen);
/* Makes h a POST of root as compact JSON, Content-Type application/json, to the URL in url
 * (taken, even on failure): 0 or MC_ENOMEM; the caller clears h on failure. */
int ch_http_post_json(ch_http *h, struct json_t *root, ch_buf *url);
/* A provider's answer as JSON, or NULL when absent, larger than CH_MAX_BODY or not JSON. */
struct json_t *ch_json_answer(const char *body, size_t len);
/*
 * The start of classifying a JSON provider's answer: for a 2xx status, CH_SENT with the id
 * in the string member id_field of 1..CH_MAX_ID-1 bytes, else CH_PERMANENT "bad_response"
 * (an accepted message is never sent again), and 1; for any other status 0 with the
 * answer in *root (ch_json_answer) for the provider's error codes. Caller decrefs *root.
 */
int ch_classify_json(int status, const char *body, size_t len, const char *id_field, ch_result *out,
                     struct json_t **root);
/* A JSON string (no NUL inside) or integer as text into dst[cap]: 0, or MC_EINVAL with err
 * naming `path` when v is missing, null, empty, too long or another type. */
int ch_json_text(struct json_t *v, const char *path, char *dst, size_t cap, char *err,
                 size_t errlen);
/* A malloc'd copy of a JSON string without NUL inside (and its length when len is not NULL);
 * *out NULL when v is NULL. 0, MC_EINVAL naming `path` or MC_ENOMEM. */
int ch_json_dup(struct json_t *v, const char *path, char **out, size_t *len, char *err,
                size_t errlen);
/* A provider's message (a JSON string, else "") made safe for logs with ch_safe_copy. */
void ch_json_safe(struct json_t *v, char *dst, size_t cap);

#endif
