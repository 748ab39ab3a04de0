/*
 * gw_config.h — motcua's configuration: an INI file (libinih) whose every key
 * can be overridden by MOTCUA_<SECTION>_<KEY> in the environment, then by
 * command-line flags. The key table in gw_config.c is the single list of keys.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include "channels/ch.h"

#include <stddef.h>

#define GW_MAX_CHANNELS 8      /* channel sections: the provider adapters and the web chat */
#define GW_CHANNEL_KEYS_MAX 32 /* keys of one channel section */

/* One channel's section: the keys its channel declares, and their values. */
typedef struct gw_channel_cfg {
    const char *name;                 /* the channel's name */
    const char *section;              /* the [section] its keys are read from: its name, or
                                         the section of the channel it lives in (ZNS's) */
    const ch_adapter *ad;             /* its adapter; NULL for the web chat */
    const ch_key *keys;               /* the keys of its section */
    size_t n_keys;                    /* entries */
    ch_settings s;                    /* the values; strings owned by `owned` */
    char *owned[GW_CHANNEL_KEYS_MAX]; /* the string values, one per key (NULL: none) */
} gw_channel_cfg;

/* Problems found while loading, one human-readable line each ("file:12: ..."). */
typedef struct gw_errlist {
    char **lines; /* owned; each line owned */
    size_t n;     /* number of lines */
    size_t cap;   /* allocated slots */
} gw_errlist;

void gw_errlist_add(gw_errlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gw_errlist_clear(gw_errlist *l);

typedef enum gw_redis_kind {
    GW_REDIS_TCP,     /* redis://: one Redis over TCP */
    GW_REDIS_UNIX,    /* unix:: one Redis on a unix socket */
    GW_REDIS_CLUSTER, /* redis-cluster://: a Redis Cluster, reached through seed nodes */
} gw_redis_kind;

#define GW_REDIS_HOST_MAX 256 /* bytes of a host name or socket path, NUL included */
#define GW_REDIS_MAX_SEEDS 16 /* seed nodes of a redis-cluster:// URL */

/* One node of a cluster URL. */
typedef struct gw_redis_seed {
    char host[GW_REDIS_HOST_MAX]; /* TCP host */
    int port;                     /* TCP port */
} gw_redis_seed;

/*
 * A parsed Redis address: redis://[:password@]host[:port][/db], unix:/path, or
 * redis-cluster://[:password@]host:port[,host:port...] (the seeds: any nodes of the
 * cluster; the store asks one of them for the others). A cluster has database 0 only.
 */
typedef struct gw_redis_addr {
    gw_redis_kind kind;                      /* TCP, unix socket, or cluster */
    char host[GW_REDIS_HOST_MAX];            /* TCP host, socket path, or the first seed */
    int port;                                /* TCP port (the first seed's) */
    int db;                                  /* SELECT index, 0 by default */
    char password[128];                      /* AUTH password, empty for none */
    gw_redis_seed seeds[GW_REDIS_MAX_SEEDS]; /* cluster: the seed nodes */
    int n_seeds;                             /* cluster: entries of seeds */
} gw_redis_addr;

/*
 * The whole configuration, read-only after loading. Strings are owned by the
 * struct and never NULL (empty when unset).
 */
typedef struct gw_config {
    /* [server] */
    char *listen;          /* HOST:PORT the HTTP server binds */
    char listen_host[256]; /* host part of listen */
    int listen_port;       /* port part of listen; 0 picks a free port */
    long max_body_bytes;   /* request bodies above this get 413 */
    char *public_url;      /* externally visible base URL (signatures, links) */
    char *share_dir;       /* folder holding intents/data and gateway/www; empty = auto */
    int server_test_clock; /* tests only: honour MOTCUA_TEST_CLOCK_OFFSET_MS (gw_clock) */
    /* [redis] */
    char *redis_url;       /* as written */
    gw_redis_addr redis;   /* parsed redis_url */
    long redis_partitions; /* inbound/outbound partitions (store/gw_keys.h); fixed per deployment */
    long redis_wait_replicas;   /* webhooks and API writes wait for WAIT N (0: they do not) */
    long redis_wait_timeout_ms; /* how long that WAIT may take */
    /* [log] */
    char *log_level; /* debug|info|warn|error */
    /* [scheduler] */
    char *scheduler_timezone;
    long scheduler_max_attempts, scheduler_backoff_base_ms, scheduler_backoff_max_ms;
    long scheduler_retention_days;     /* texts and recipients of finished notifications kept */
    long scheduler_retention_sweep_ms; /* how often the retention sweeper looks */
    /* [admin] */
    char *admin_tokens_file;
    char *admin_departments_file; /* departments: names, wards, report categories ("" none) */
    long admin_audit_days; /* the audit trail keeps this many days */
    /* [console] officers' sessions (api/gw_console.c) */
    long console_idle_minutes; /* a session ends after this long without a request */
    long console_max_hours;    /* ... and this long after sign-in, whatever happens */
    int console_token_sign_in; /* the console also offers sign-in with a department token */
    long console_max_failures; /* failed sign-ins of one user before the lock */
    long console_lock_minutes; /* the window those failures are counted in, and the lock */
    /* [worker] */
    char *worker_consumer;     /* consumer name in the stream groups; "" = host:port */
    long worker_claim_idle_ms; /* take over work another process left idle this long */
    int worker_converse;       /* 0: ingest only, the conversations run elsewhere */
    /* [outbox] */
    char *outbox_dir;
    /* [nlu] */
    char *nlu_model; /* trained intent model file; empty = next to the binary, then share */
    /* [<channel>] sections, declared by channels/, and [scheduler] rate_<channel> */
    gw_channel_cfg channels[GW_MAX_CHANNELS];
    size_t n_channels;
} gw_config;

/* The settings of a channel's section, or NULL for no such channel. */
const ch_settings *gw_config_channel(const gw_config *c, const char *name);

/* A config holding every default. Caller frees with gw_config_free. NULL on OOM. */
gw_config *gw_config_new(void);
void gw_config_free(gw_config *c);

/*
 * Reads an INI file into c. Every problem (syntax, unknown section or key, bad
 * value) is appended to errs as "path:LINE: message"; reading goes on after a
 * problem so that all are reported at once. Returns 0 when errs gained nothing.
 */
int gw_config_load_file(gw_config *c, const char *path, gw_errlist *errs);

/* Applies MOTCUA_<SECTION>_<KEY> overrides found in envp (NULL-terminated). */
int gw_config_apply_env(gw_config *c, char *const *envp, gw_errlist *errs);

/*
 * Sets one key from any source; `where` names the source in error lines
 * ("--listen", "MOTCUA_SERVER_LISTEN"). Returns 0 or MC_EINVAL (error added).
 */
int gw_config_set(gw_config *c, const char *section, const char *key, const char *value,
                  const char *where, gw_errlist *errs);

/* Cross-key checks after all sources are applied (e.g. enabled channel lacks a secret). */
int gw_config_validate(const gw_config *c, gw_errlist *errs);

/* Parses a Redis URL; 0 or MC_EINVAL with a reason in err. */
int gw_redis_addr_parse(const char *url, gw_redis_addr *out, char *err, size_t errlen);

/* Parses HOST:PORT or [v6]:PORT; 0 or MC_EINVAL with a reason in err. */
int gw_hostport_parse(const char *s, char *host, size_t hostlen, int *port, char *err,
                      size_t errlen);

#endif
