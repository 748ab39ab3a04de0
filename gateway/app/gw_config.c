/*
 * gw_config.c — loading and validating motcua's configuration.
 *
 * Big idea: one table (`keys`) lists every section/key with its type, limits,
 * default and the field it fills. The file parser, the environment override
 * and the command-line flags all go through gw_config_set(), so a key is
 * validated the same way wherever it comes from.
 *
 * libinih does the INI tokenising. Debian's libinih is built without
 * INI_HANDLER_LINENO, so we feed it through our own line reader, which counts
 * lines (giving the handler the line number) and checks each line's shape, so
 * that every syntax error is reported, not only the first.
 */
#include "gateway/app/gw_config.h"

#include "channels/webchat.h"
#include "core/mc.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum key_type {
    KT_STR,      /* any text */
    KT_URL,      /* empty or http(s)://... */
    KT_BOOL,     /* true/false/yes/no/on/off/1/0 */
    KT_INT,      /* integer in [min, max] */
    KT_RATE,     /* non-negative decimal, messages per second */
    KT_HOSTPORT, /* HOST:PORT */
    KT_REDIS,    /* redis://, unix: or redis-cluster:// */
    KT_ENUM,     /* one of a '|' separated list in `choices` */
    KT_HOURS,    /* HH:MM-HH:MM */
} key_type;

typedef struct key_def {
    const char *section; /* INI section */
    const char *key;     /* key inside the section */
    key_type type;       /* how the value is checked and stored */
    const char *def;     /* default, as text */
    size_t off;          /* offset of the field in gw_config */
    long min, max;       /* bounds for KT_INT */
    const char *choices; /* for KT_ENUM */
} key_def;

#define F(field) offsetof(gw_config, field)
static const key_def keys[] = {
    {"server", "listen", KT_HOSTPORT, "127.0.0.1:8080", F(listen), 0, 0, NULL},
    {"server", "max_body_bytes", KT_INT, "65536", F(max_body_bytes), 256, 64L << 20, NULL},
    {"server", "public_url", KT_URL, "", F(public_url), 0, 0, NULL},
    {"server", "share_dir", KT_STR, "", F(share_dir), 0, 0, NULL},
    {"server", "test_clock", KT_BOOL, "false", F(server_test_clock), 0, 0, NULL},
    {"redis", "url", KT_REDIS, "redis://127.0.0.1:6379/0", F(redis_url), 0, 0, NULL},
    {"redis", "partitions", KT_INT, "16", F(redis_partitions), 1, 1024, NULL},
    {"redis", "wait_replicas", KT_INT, "0", F(redis_wait_replicas), 0, 64, NULL},
    {"redis", "wait_timeout_ms", KT_INT, "1000", F(redis_wait_timeout_ms), 1, 60000, NULL},
    {"log", "level", KT_ENUM, "info", F(log_level), 0, 0, "debug|info|warn|error"},
    {"scheduler", "timezone", KT_STR, "Asia/Ho_Chi_Minh", F(scheduler_timezone), 0, 0, NULL},
    {"scheduler", "max_attempts", KT_INT, "8", F(scheduler_max_attempts), 1, 100, NULL},
    {"scheduler", "backoff_base_ms", KT_INT, "1000", F(scheduler_backoff_base_ms), 1, 3600000,
     NULL},
    {"scheduler", "backoff_max_ms", KT_INT, "600000", F(scheduler_backoff_max_ms), 1, 86400000,
     NULL},
    {"scheduler", "retention_days", KT_INT, "7", F(scheduler_retention_days), 1, 3650, NULL},
    {"scheduler", "retention_sweep_ms", KT_INT, "60000", F(scheduler_retention_sweep_ms), 50,
     86400000, NULL},
    {"admin", "tokens_file", KT_STR, "", F(admin_tokens_file), 0, 0, NULL},
    {"admin", "departments_file", KT_STR, "", F(admin_departments_file), 0, 0, NULL},
    {"admin", "audit_days", KT_INT, "365", F(admin_audit_days), 1, 3650, NULL},
    {"console", "idle_minutes", KT_INT, "30", F(console_idle_minutes), 1, 1440, NULL},
    {"console", "max_hours", KT_INT, "12", F(console_max_hours), 1, 168, NULL},
    {"console", "token_sign_in", KT_BOOL, "false", F(console_token_sign_in), 0, 0, NULL},
    {"console", "max_failures", KT_INT, "5", F(console_max_failures), 1, 1000000, NULL},
    {"console", "lock_minutes", KT_INT, "15", F(console_lock_minutes), 1, 1440, NULL},
    {"outbox", "dir", KT_STR, "", F(outbox_dir), 0, 0, NULL},
    {"worker", "consumer", KT_STR, "", F(worker_consumer), 0, 0, NULL},
    {"worker", "converse", KT_BOOL, "true", F(worker_converse), 0, 0, NULL},
    {"worker", "claim_idle_ms", KT_INT, "60000", F(worker_claim_idle_ms), 100, 86400000, NULL},
    {"nlu", "model", KT_STR, "", F(nlu_model), 0, 0, NULL},
};
#undef F

#define MAX_LINE 4096 /* longest configuration line accepted */

void gw_errlist_add(gw_errlist *l, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **nl = realloc(l->lines, cap * sizeof *nl);
        if (!nl)
            return; /* out of memory: the error is lost, the caller still fails */
        l->lines = nl;
        l->cap = cap;
    }
    char *s = strdup(buf);
    if (s)
        l->lines[l->n++] = s;
}

void gw_errlist_clear(gw_errlist *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->lines[i]);
    free(l->lines);
    l->lines = NULL;
    l->n = l->cap = 0;
}

/* ---- channel sections: the keys come from channels/ ---- */

static gw_channel_cfg *find_channel(gw_config *c, const char *name) {
    for (size_t i = 0; i < c->n_channels; i++)
        if (!strcasecmp(c->channels[i].name, name))
            return &c->channels[i];
    return NULL;
}

const ch_settings *gw_config_channel(const gw_config *c, const char *name) {
    const gw_channel_cfg *ch = name ? find_channel((gw_config *)c, name) : NULL;
    return ch ? &ch->s : NULL;
}

/* Every channel reads the [server] public_url (Twilio signs over it). */
static void channels_public_url(gw_config *c) {
    for (size_t i = 0; i < c->n_channels; i++)
        c->channels[i].s.public_url = c->public_url;
}

/* 1 when some channel reads its keys from [section]. */
static int channel_section(const gw_config *c, const char *section) {
    for (size_t i = 0; i < c->n_channels; i++)
        if (!strcasecmp(c->channels[i].section, section))
            return 1;
    return 0;
}

static const ch_key *find_channel_key(const gw_channel_cfg *ch, const char *key, size_t *idx) {
    for (size_t i = 0; i < ch->n_keys; i++)
        if (!strcasecmp(ch->keys[i].key, key)) {
            *idx = i;
            return &ch->keys[i];
        }
    return NULL;
}

/* Stores a checked value into the channel's settings; 0 or MC_EINVAL/MC_ENOMEM with err. */
static int channel_store(gw_channel_cfg *ch, size_t i, const char *v, char *err, size_t errlen) {
    const ch_key *k = &ch->keys[i];
    if (ch_key_check(k, v, err, errlen))
        return MC_EINVAL;
    char *base = (char *)&ch->s;
    switch (k->type) {
    case CH_KT_BOOL: ch_parse_bool(v, (int *)(base + k->off)); return 0;
    case CH_KT_INT: *(long *)(base + k->off) = strtol(v, NULL, 10); return 0;
    default: break;
    }
    char *dup = strdup(v);
    if (!dup) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    free(ch->owned[i]);
    ch->owned[i] = dup;
    *(const char **)(base + k->off) = dup;
    return 0;
}

/* The channel sections, every key at its default. 0 or MC_ENOMEM. */
static int channels_init(gw_config *c) {
    for (size_t i = 0; i < ch_adapter_count() + 1 && i < GW_MAX_CHANNELS; i++) {
        gw_channel_cfg *ch = &c->channels[c->n_channels++];
        const ch_adapter *ad = ch_adapter_at(i);
        ch->ad = ad;
        ch->name = ad ? ad->name : WEBCHAT_CHANNEL;
        ch->section = ad && ad->section ? ad->section : ch->name;
        ch->keys = ad ? ad->keys : webchat_keys;
        ch->n_keys = ad ? ad->n_keys : webchat_n_keys;
        ch->s.rate = ad ? ad->policy->default_rate : WEBCHAT_DEFAULT_RATE;
        if (ch->n_keys > GW_CHANNEL_KEYS_MAX)
            return MC_ETOOBIG;
        /* every string field is "" until set */
        ch->s.public_url = ch->s.api_base = ch->s.api_version = ch->s.app_id = "";
        ch->s.app_secret = ch->s.verify_token = ch->s.access_token = ch->s.provider = "";
        ch->s.account_sid = ch->s.auth_token = ch->s.username = ch->s.password = "";
        ch->s.shared_secret = ch->s.sender = ch->s.status_callback = ch->s.oauth_base = "";
        ch->s.oauth_secret = ch->s.allowed_addrs = ch->s.more_text = ch->s.refresh_token = "";
        ch->s.zns_api_base = ch->s.quiet_hours = ch->s.allowed_origins = "";
        ch->s.tx_quiet_hours = "";
        ch->s.unreachable_days = ch->s.max_per_day = 0;
        for (size_t k = 0; k < ch->n_keys; k++) {
            char err[256];
            if (channel_store(ch, k, ch->keys[k].def, err, sizeof err))
                return MC_ENOMEM; /* a bad default is a programming error */
        }
    }
    return 0;
}

static void channels_free(gw_config *c) {
    for (size_t i = 0; i < c->n_channels; i++)
        for (size_t k = 0; k < GW_CHANNEL_KEYS_MAX; k++)
            free(c->channels[i].owned[k]);
}

/* [<channel>] key, or [scheduler] rate_<channel>: 1 when handled (rc set), 0 when the
 * section is not a channel's. */
static int channel_set(gw_config *c, const char *section, const char *key, const char *value,
                       const char *where, gw_errlist *errs, int *rc) {
    gw_channel_cfg *ch = NULL;
    char err[512];
    *rc = 0;
    if (!strcasecmp(section, "scheduler") && !strncasecmp(key, "rate_", 5)) {
        if (!(ch = find_channel(c, key + 5)))
            return 0;
        char *end;
        errno = 0;
        double x = strtod(value, &end);
        if (errno || end == value || *end || !(x >= 0) || x > 1e6) {
            gw_errlist_add(errs,
                           "%s: [scheduler] %s: expected messages per second "
                           "(0..1000000), got '%s'",
                           where, key, value);
            *rc = MC_EINVAL;
        } else
            ch->s.rate = x;
        return 1;
    }
    if (!channel_section(c, section))
        return 0;
    /* a section may feed several channels (ZNS's keys live in [zalo]): each channel that
     * declares the key gets it; the key is unknown when none does */
    int known = 0;
    for (size_t k = 0; k < c->n_channels; k++) {
        size_t i;
        ch = &c->channels[k];
        if (strcasecmp(ch->section, section) || !find_channel_key(ch, key, &i))
            continue;
        known++;
        if ((*rc = channel_store(ch, i, value, err, sizeof err))) {
            gw_errlist_add(errs, "%s: [%s] %s: %s", where, ch->section, ch->keys[i].key, err);
            return 1;
        }
    }
    if (!known) {
        gw_errlist_add(errs, "%s: unknown key '%s' in [%s]", where, key, section);
        *rc = MC_EINVAL;
    }
    return 1;
}

static const key_def *find_key(const char *section, const char *key) {
    for (size_t i = 0; i < MC_ARRAY_LEN(keys); i++)
        if (!strcasecmp(keys[i].section, section) && !strcasecmp(keys[i].key, key))
            return &keys[i];
    return NULL;
}

static int known_section(gw_config *c, const char *section) {
    for (size_t i = 0; i < MC_ARRAY_LEN(keys); i++)
        if (!strcasecmp(keys[i].section, section))
            return 1;
    return channel_section(c, section);
}

static int parse_bool(const char *v, int *out) {
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < MC_ARRAY_LEN(yes); i++) {
        if (!strcasecmp(v, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(v, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return MC_EINVAL;
}

static int parse_long(const char *v, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end)
        return MC_EINVAL;
    *out = x;
    return 0;
}

static int parse_hhmm(const char *s, int *minutes) {
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
        !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
        return MC_EINVAL;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59)
        return MC_EINVAL;
    *minutes = h * 60 + m;
    return 0;
}

static int enum_has(const char *choices, const char *v) {
    size_t vl = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && !strncmp(p, v, l))
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

int gw_hostport_parse(const char *s, char *host, size_t hostlen, int *port, char *err,
                      size_t errlen) {
    const char *colon;
    size_t hl;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') {
            snprintf(err, errlen, "expected [IPv6]:PORT, got '%s'", s);
            return MC_EINVAL;
        }
        colon = rb + 1;
        s++;
        hl = (size_t)(rb - s);
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(err, errlen, "expected HOST:PORT, got '%s'", s);
            return MC_EINVAL;
        }
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen) {
        snprintf(err, errlen, "host missing or too long in '%s'", s);
        return MC_EINVAL;
    }
    long p;
    if (parse_long(colon + 1, &p) || p < 0 || p > 65535) {
        snprintf(err, errlen, "port must be 0..65535, got '%s'", colon + 1);
        return MC_EINVAL;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

/* ":password@" at the start of p (the user name before ':' is ignored): copied into out,
 * *p moved past it. 0, or MC_EINVAL. */
static int url_password(const char **p, gw_redis_addr *out, char *err, size_t errlen) {
    const char *at = strchr(*p, '@');
    if (!at)
        return 0;
    const char *colon = memchr(*p, ':', (size_t)(at - *p));
    const char *pw = colon ? colon + 1 : *p;
    size_t pl = (size_t)(at - pw);
    if (pl >= sizeof out->password) {
        snprintf(err, errlen, "password too long in redis url");
        return MC_EINVAL;
    }
    memcpy(out->password, pw, pl);
    *p = at + 1;
    return 0;
}

/* redis-cluster://[:password@]host:port[,host:port...][/0] */
static int cluster_url(const char *url, gw_redis_addr *out, char *err, size_t errlen) {
    const char *p = url + strlen("redis-cluster://");
    if (url_password(&p, out, err, errlen))
        return MC_EINVAL;
    out->kind = GW_REDIS_CLUSTER;
    const char *slash = strchr(p, '/');
    if (slash && slash[1] && strcmp(slash + 1, "0")) {
        snprintf(err, errlen, "a Redis Cluster has database 0 only, got '%s'", slash + 1);
        return MC_EINVAL;
    }
    const char *end = slash ? slash : p + strlen(p);
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t l = comma ? (size_t)(comma - p) : (size_t)(end - p);
        char hp[GW_REDIS_HOST_MAX + 8];
        if (out->n_seeds == GW_REDIS_MAX_SEEDS) {
            snprintf(err, errlen, "more than %d seed nodes in '%s'", GW_REDIS_MAX_SEEDS, url);
            return MC_EINVAL;
        }
        if (l == 0 || l >= sizeof hp) {
            snprintf(err, errlen, "empty or too long seed node in '%s'", url);
            return MC_EINVAL;
        }
        memcpy(hp, p, l);
        hp[l] = '\0';
        gw_redis_seed *sd = &out->seeds[out->n_seeds];
        if (gw_hostport_parse(hp, sd->host, sizeof sd->host, &sd->port, err, errlen))
            return MC_EINVAL;
        if (sd->port == 0) {
            snprintf(err, errlen, "redis port must not be 0 in '%s'", hp);
            return MC_EINVAL;
        }
        out->n_seeds++;
        p += l + (comma ? 1 : 0);
        if (comma && p == end) {
            snprintf(err, errlen, "empty seed node in '%s'", url);
            return MC_EINVAL;
        }
    }
    if (out->n_seeds == 0) {
        snprintf(err, errlen, "no seed node in '%s'", url);
        return MC_EINVAL;
    }
    snprintf(out->host, sizeof out->host, "%s", out->seeds[0].host);
    out->port = out->seeds[0].port;
    return 0;
}

int gw_redis_addr_parse(const char *url, gw_redis_addr *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!strncmp(url, "unix:", 5)) {
        const char *path = url + 5;
        if (!strncmp(path, "//", 2))
            path += 2;
        if (!*path || strlen(path) >= sizeof out->host) {
            snprintf(err, errlen, "unix socket path missing or too long in '%s'", url);
            return MC_EINVAL;
        }
        out->kind = GW_REDIS_UNIX;
        strcpy(out->host, path);
        return 0;
    }
    if (!strncmp(url, "redis-cluster://", 16))
        return cluster_url(url, out, err, errlen);
    if (strncmp(url, "redis://", 8)) {
        snprintf(err, errlen,
                 "expected redis://host[:port][/db], unix:/path or "
                 "redis-cluster://host:port[,host:port...], got '%s'",
                 url);
        return MC_EINVAL;
    }
    const char *p = url + 8;
    if (url_password(&p, out, err, errlen))
        return MC_EINVAL;
    const char *slash = strchr(p, '/');
    size_t hp_len = slash ? (size_t)(slash - p) : strlen(p);
    char hp[300];
    if (hp_len == 0 || hp_len >= sizeof hp) {
        snprintf(err, errlen, "host missing or too long in '%s'", url);
        return MC_EINVAL;
    }
    memcpy(hp, p, hp_len);
    hp[hp_len] = '\0';
    out->kind = GW_REDIS_TCP;
    out->port = 6379;
    if (strchr(hp, ':')) {
        if (gw_hostport_parse(hp, out->host, sizeof out->host, &out->port, err, errlen))
            return MC_EINVAL;
        if (out->port == 0) {
            snprintf(err, errlen, "redis port must not be 0");
            return MC_EINVAL;
        }
    } else {
        strcpy(out->host, hp);
    }
    if (slash && slash[1]) {
        long db;
        if (parse_long(slash + 1, &db) || db < 0 || db > 1000) {
            snprintf(err, errlen, "database index must be 0..1000, got '%s'", slash + 1);
            return MC_EINVAL;
        }
        out->db = (int)db;
    }
    return 0;
}

/* Checks v against d and stores it; 0 or MC_EINVAL with err filled. */
static int store_value(gw_config *c, const key_def *d, const char *v, char *err, size_t errlen) {
    char *base = (char *)c;
    switch (d->type) {
    case KT_BOOL: {
        int b;
        if (parse_bool(v, &b)) {
            snprintf(err, errlen, "expected true or false, got '%s'", v);
            return MC_EINVAL;
        }
        *(int *)(base + d->off) = b;
        return 0;
    }
    case KT_INT: {
        long x;
        if (parse_long(v, &x) || x < d->min || x > d->max) {
            snprintf(err, errlen, "expected an integer in %ld..%ld, got '%s'", d->min, d->max, v);
            return MC_EINVAL;
        }
        *(long *)(base + d->off) = x;
        return 0;
    }
    case KT_RATE: {
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (errno || end == v || *end || !(x >= 0) || x > 1e6) {
            snprintf(err, errlen, "expected messages per second (0..1000000), got '%s'", v);
            return MC_EINVAL;
        }
        *(double *)(base + d->off) = x;
        return 0;
    }
    case KT_HOSTPORT:
        if (gw_hostport_parse(v, c->listen_host, sizeof c->listen_host, &c->listen_port, err,
                              errlen))
            return MC_EINVAL;
        break;
    case KT_REDIS:
        if (gw_redis_addr_parse(v, &c->redis, err, errlen))
            return MC_EINVAL;
        break;
    case KT_ENUM:
        if (!enum_has(d->choices, v)) {
            snprintf(err, errlen, "expected one of %s, got '%s'", d->choices, v);
            return MC_EINVAL;
        }
        break;
    case KT_HOURS: {
        int a, b;
        if (strlen(v) != 11 || v[5] != '-' || parse_hhmm(v, &a) || parse_hhmm(v + 6, &b)) {
            snprintf(err, errlen, "expected HH:MM-HH:MM, got '%s'", v);
            return MC_EINVAL;
        }
        break;
    }
    case KT_URL:
        if (*v && strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
            snprintf(err, errlen, "expected an http:// or https:// URL, got '%s'", v);
            return MC_EINVAL;
        }
        break;
    case KT_STR: break;
    }
    /* String-valued types keep their text. */
    char *dup = strdup(v);
    if (!dup) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    char **slot = (char **)(base + d->off);
    free(*slot);
    *slot = dup;
    return 0;
}

int gw_config_set(gw_config *c, const char *section, const char *key, const char *value,
                  const char *where, gw_errlist *errs) {
    int crc = 0;
    int chan = channel_set(c, section, key, value, where, errs, &crc);
    const key_def *d = find_key(section, key);
    if (chan)
        return crc; /* the channel's own table decided (and reported) */
    if (!d) {
        if (!known_section(c, section))
            gw_errlist_add(errs, "%s: unknown section [%s]", where, section);
        else
            gw_errlist_add(errs, "%s: unknown key '%s' in [%s]", where, key, section);
        return MC_EINVAL;
    }
    char err[512];
    if (store_value(c, d, value, err, sizeof err)) {
        gw_errlist_add(errs, "%s: [%s] %s: %s", where, d->section, d->key, err);
        return MC_EINVAL;
    }
    if (d->off == offsetof(gw_config, public_url))
        channels_public_url(c);
    return 0;
}

gw_config *gw_config_new(void) {
    gw_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    gw_errlist errs = {0};
    for (size_t i = 0; i < MC_ARRAY_LEN(keys); i++) {
        char err[256];
        if (store_value(c, &keys[i], keys[i].def, err, sizeof err)) {
            gw_config_free(c); /* a bad default is a programming error; OOM too */
            gw_errlist_clear(&errs);
            return NULL;
        }
    }
    if (channels_init(c)) {
        gw_config_free(c);
        return NULL;
    }
    channels_public_url(c);
    return c;
}

void gw_config_free(gw_config *c) {
    if (!c)
        return;
    for (size_t i = 0; i < MC_ARRAY_LEN(keys); i++) {
        switch (keys[i].type) {
        case KT_BOOL:
        case KT_INT:
        case KT_RATE: break;
        default: free(*(char **)((char *)c + keys[i].off));
        }
    }
    channels_free(c);
    free(c);
}

/* State shared by our line reader and the inih handler. */
typedef struct load_ctx {
    FILE *f;              /* the file being read */
    const char *path;     /* its name, for error lines */
    int line;             /* number of the line last handed to inih */
    int section_ok;       /* the current section is known */
    char section[128];    /* the current section as we saw it */
    gw_config *cfg;       /* being filled */
    gw_errlist *errs;     /* problems so far */
    size_t errs_at_start; /* to tell whether this load added any */
} load_ctx;

static void handler_at(load_ctx *lc, const char *name, const char *value);

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/*
 * inih's reader callback: returns the next line, counting lines and checking
 * their shape. A malformed line is reported here and handed to inih blank, so
 * inih neither reports it again nor stops.
 */
static char *reader(char *buf, int size, void *stream) {
    load_ctx *lc = stream;
    if (!fgets(buf, size, lc->f))
        return NULL;
    lc->line++;
    size_t len = strlen(buf);
    if (len == (size_t)size - 1 && buf[len - 1] != '\n' && !feof(lc->f)) {
        /* Longer than inih's buffer (Debian builds it with 200 bytes; long
         * access tokens need more): read the rest and set the key ourselves. */
        char big[MAX_LINE + 2];
        memcpy(big, buf, len);
        int ch;
        while ((ch = fgetc(lc->f)) != EOF && ch != '\n')
            if (len < MAX_LINE)
                big[len++] = (char)ch;
            else
                len = MAX_LINE + 1;
        buf[0] = '\n';
        buf[1] = '\0';
        if (len > MAX_LINE) {
            gw_errlist_add(lc->errs, "%s:%d: line longer than %d bytes", lc->path, lc->line,
                           MAX_LINE);
            return buf;
        }
        big[len] = '\0';
        char *eq = strchr(big, '=');
        if (!eq || lc->section[0] == '\0' || big[0] == '[') {
            gw_errlist_add(lc->errs, "%s:%d: expected 'key = value' inside a [section]", lc->path,
                           lc->line);
            return buf;
        }
        *eq = '\0';
        if (lc->section_ok)
            handler_at(lc, trim(big), trim(eq + 1));
        return buf;
    }
    char tmp[MAX_LINE + 2];
    snprintf(tmp, sizeof tmp, "%s", buf);
    char *t = trim(tmp);
    if (lc->line == 1 && !strncmp(t, "\xEF\xBB\xBF", 3))
        t = trim(t + 3);
    if (*t == '\0' || *t == '#' || *t == ';')
        return buf;
    if (*t == '[') {
        char *rb = strchr(t, ']');
        if (!rb || trim(rb + 1)[0] != '\0' || rb == t + 1) {
            gw_errlist_add(lc->errs, "%s:%d: malformed section header '%s' (expected [name])",
                           lc->path, lc->line, t);
            lc->section_ok = 0;
            lc->section[0] = '\0';
            buf[0] = '\n';
            buf[1] = '\0';
            return buf;
        }
        *rb = '\0';
        snprintf(lc->section, sizeof lc->section, "%s", trim(t + 1));
        lc->section_ok = known_section(lc->cfg, lc->section);
        if (!lc->section_ok)
            gw_errlist_add(lc->errs, "%s:%d: unknown section [%s]", lc->path, lc->line,
                           lc->section);
        return buf;
    }
    if (!strchr(t, '=')) {
        gw_errlist_add(lc->errs, "%s:%d: expected 'key = value', got '%s'", lc->path, lc->line, t);
        buf[0] = '\n';
        buf[1] = '\0';
        return buf;
    }
    if (lc->section[0] == '\0') {
        gw_errlist_add(lc->errs, "%s:%d: key outside of any [section]", lc->path, lc->line);
        buf[0] = '\n';
        buf[1] = '\0';
    }
    return buf;
}

static void handler_at(load_ctx *lc, const char *name, const char *value) {
    char where[1024];
    snprintf(where, sizeof where, "%s:%d", lc->path, lc->line);
    gw_config_set(lc->cfg, lc->section, name, value, where, lc->errs);
}

static int handler(void *user, const char *section, const char *name, const char *value) {
    load_ctx *lc = user;
    (void)section;      /* the same as lc->section, which the reader tracks */
    if (lc->section_ok) /* an unknown section was reported once, at its header */
        handler_at(lc, name, value);
    return 1;
}

int gw_config_load_file(gw_config *c, const char *path, gw_errlist *errs) {
    load_ctx lc = {.path = path, .cfg = c, .errs = errs, .errs_at_start = errs->n};
    lc.f = fopen(path, "r");
    if (!lc.f) {
        gw_errlist_add(errs, "%s: cannot open: %s", path, strerror(errno));
        return MC_EIO;
    }
    int rc = ini_parse_stream(reader, &lc, handler, &lc);
    fclose(lc.f);
    if (rc < 0) {
        gw_errlist_add(errs, "%s: cannot read (error %d)", path, rc);
        return MC_EIO;
    }
    /* rc > 0 is inih's first error line: ours already reported every such line. */
    return errs->n > lc.errs_at_start ? MC_EPARSE : 0;
}

/* MOTCUA_<SECTION>_<KEY>=value in envp applied to section/key; 1 when found. */
static int env_key(gw_config *c, char *const *envp, const char *section, const char *key,
                   gw_errlist *errs) {
    char name[160];
    size_t n = (size_t)snprintf(name, sizeof name, "MOTCUA_%s_%s", section, key);
    if (n >= sizeof name)
        return 0;
    for (size_t j = 0; j < n; j++)
        name[j] = (char)toupper((unsigned char)name[j]);
    for (char *const *e = envp; e && *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=') {
            gw_config_set(c, section, key, *e + n + 1, name, errs);
            return 1;
        }
    return 0;
}

int gw_config_apply_env(gw_config *c, char *const *envp, gw_errlist *errs) {
    size_t before = errs->n;
    for (size_t i = 0; i < c->n_channels; i++) {
        const gw_channel_cfg *ch = &c->channels[i];
        char rate[64];
        snprintf(rate, sizeof rate, "rate_%s", ch->name);
        for (size_t k = 0; k < ch->n_keys; k++) {
            /* a key of a shared section is applied once, by the first channel declaring it */
            size_t idx, first = i;
            for (size_t e = 0; e < i; e++)
                if (!strcasecmp(c->channels[e].section, ch->section) &&
                    find_channel_key(&c->channels[e], ch->keys[k].key, &idx)) {
                    first = e;
                    break;
                }
            if (first == i)
                env_key(c, envp, ch->section, ch->keys[k].key, errs);
        }
        env_key(c, envp, "scheduler", rate, errs);
    }
    for (size_t i = 0; i < MC_ARRAY_LEN(keys); i++) {
        /* channel sections and rates were applied above, from the channels' tables */
        if (channel_section(c, keys[i].section) ||
            (!strcasecmp(keys[i].section, "scheduler") && !strncmp(keys[i].key, "rate_", 5)))
            continue;
        env_key(c, envp, keys[i].section, keys[i].key, errs);
    }
    return errs->n > before ? MC_EINVAL : 0;
}

int gw_config_validate(const gw_config *c, gw_errlist *errs) {
    size_t before = errs->n;
    for (size_t i = 0; i < c->n_channels; i++) {
        const gw_channel_cfg *ch = &c->channels[i];
        char err[256];
        if (ch->ad && ch->ad->validate && ch->ad->validate(&ch->s, err, sizeof err))
            gw_errlist_add(errs, "[%s] %s", ch->name, err);
    }
    if (c->scheduler_backoff_base_ms > c->scheduler_backoff_max_ms)
        gw_errlist_add(errs, "[scheduler] backoff_base_ms must not exceed backoff_max_ms");
    return errs->n > before ? MC_EINVAL : 0;
}
