/*
 * gw_keys.h — the Redis keyspace of motcua: every key, in one table (gw_keys.c).
 *
 * Every key is "mc:{<tag>}:<family>[:<part>...]". The tag decides the Redis Cluster
 * hash slot, and the rule is simple: each Lua script and each MULTI touches the keys of
 * ONE tag. Most tags are partitions: a citizen's conversation, subscriptions, inbound
 * stream, outbound streams and wire marks live in the partition of "<channel>:<user>";
 * a notification lives in the partition its creator chose and its id names
 * ("<partition>-<rest>"), with its attempts, the due set and the stream it leaves
 * by, the department's daily counters and dead list of that partition, and the
 * broadcast's per-partition progress. A dossier and its subscribers live in the
 * partition of its code; a department's lists in the partition of "dept:<dept>". The
 * few process-wide keys (report numbering, provider tokens, the retention cursors)
 * have a tag of their own and are only ever used alone. Work that spans partitions
 * (a broadcast, the due pass, statistics) runs once per partition; an effect that must
 * land in another partition than the one a MULTI commits in (a citizen subscribing to
 * a dossier) is an idempotent step done before that commit, so a crash in between is
 * repaired by running the step again when the entry is read again.
 *
 * `[redis] partitions` (default 16) is fixed for the life of a deployment's data: a
 * key's partition is part of its name.
 */
#ifndef GW_KEYS_H
#define GW_KEYS_H

#include "gateway/store/gw_store.h"

#include <stddef.h>
#include <stdint.h>

#define GW_GROUP "motcua"           /* the consumer group on every work stream */
#define GW_KEYS_MAX_PARTITIONS 1024 /* [redis] partitions at most */
#define GW_KEYS_TAG_MAX 16          /* bytes of a tag, NUL included */
#define GW_KEYS_MAX 512             /* bytes of a key, NUL included */
#define GW_KEYS_SLOTS 16384         /* Redis Cluster hash slots */
#define GW_KEY_OWN UINT32_MAX       /* "partition" of the families with a tag of their own */

/* Expiries, in seconds. */
#define GW_CONV_TTL_S 691200L /* conversation state kept 8 days (Zalo's window) */

/* The families of keys; their rows are in gw_keys.c. */
typedef enum gw_key_family {
    GW_K_IN,           /* stream: accepted provider events of a partition ("inbound") */
    GW_K_DEDUP,        /* string: a provider message id seen (channel, kind, id) */
    GW_K_CONV,         /* hash: one conversation (channel, user) */
    GW_K_SUBS,         /* set: what one citizen follows (channel, user) */
    GW_K_SUB_WARD,     /* set: a ward's subscribers in this partition (ward) */
    GW_K_SUB_WARD_TAG, /* set: ... who chose a tag (ward, tag) */
    GW_K_OUT,          /* stream: messages to send on a channel (channel) */
    GW_K_WIRE,         /* hash: wire marks of a channel's stream (channel) */
    GW_K_HANDOFF,      /* stream: conversations waiting for an officer */
    GW_K_DLV,          /* hash: one sent message's delivery record (channel, provider id) */
    GW_K_NOTIF,        /* hash: one notification (id) */
    GW_K_ATTEMPTS,     /* list: its attempts (id) */
    GW_K_DUE,          /* zset: notifications by due time */
    GW_K_DEAD,         /* stream: dead letters */
    GW_K_DEAD_DEPT,    /* zset: a department's dead notifications (dept) */
    GW_K_FINAL,        /* zset: notifications in a final state, by when */
    GW_K_STATS,        /* hash: a department's outcomes of a day (dept, yyyy-mm-dd) */
    GW_K_RATE,         /* hash: a channel's token bucket (channel; own tag) */
    GW_K_BATCH,        /* hash: one batch of notifications (id) */
    GW_K_IDEM,         /* string: an idempotency key (dept, key) */
    GW_K_BC,           /* hash: one broadcast (id) */
    GW_K_BC_DUE,       /* zset: broadcasts by due time */
    GW_K_BC_PART,      /* hash: a broadcast's progress in one partition (id) */
    GW_K_BC_SEEN,      /* set: its recipients fanned in one partition (id) */
    GW_K_DOSSIER,      /* hash: one dossier (code) */
    GW_K_HISTORY,      /* list: its status events (code) */
    GW_K_SUB_DOSSIER,  /* set: its subscribers (code) */
    GW_K_DOSSIERS,     /* zset: a department's dossiers by last change (dept) */
    GW_K_TPL,          /* hash: a department's message templates (dept) */
    GW_K_WC_SESSION,   /* hash: a web chat session (token) */
    GW_K_WC_HISTORY,   /* zset: its last messages (token) */
    GW_K_WC_ID,        /* string: a client message id accepted (token, id) */
    GW_K_WC_IN,        /* stream: journal of accepted web chat messages */
    GW_K_REPORT_SEQ,   /* hash: a day's report ticket numbers (yymmdd; own tag) */
    GW_K_TOKEN,        /* hash: a provider's access token (channel; own tag) */
    GW_K_TOKEN_LOCK,   /* string: one token refresher at a time (channel; own tag) */
    GW_K_RETENTION,    /* hash: the retention sweeper's cursor in this partition */
    GW_K_REPORT,       /* hash: one citizen's report ticket (id) */
    GW_K_REPORT_LOG,   /* list: its history, the citizen's words and status changes (id) */
    GW_K_DEPT_REPORTS, /* zset: the tickets routed to a department, by filing time (dept) */
    GW_K_REPORT_FINAL, /* zset: tickets resolved or rejected, by when (retention) */
    GW_K_MSGLOG,       /* zset: a department's notifications to one recipient (dept, who) */
    GW_K_OFFICER,      /* hash: one officer's account (dept, user) */
    GW_K_OFFICERS,     /* zset: a department's officers by creation (dept) */
    GW_K_LOGIN,        /* string: the department of a user name (user) */
    GW_K_SIGNIN_FAIL,  /* string: a user's failed sign-ins of the window (user) */
    GW_K_SESSION,      /* hash: one console session (sha256 of its cookie) */
    GW_K_APIKEY,       /* hash: one API key of a department (dept, name) */
    GW_K_APIKEYS,      /* hash: a department's API keys, sha256 of the token → name (dept) */
    GW_K_AUDIT,        /* stream: a department's audit trail (dept) */
    GW_K_UNREACH,      /* string: a citizen a channel cannot reach, for a while (channel, user) */
    GW_K_HOLD, /* string: a channel out of its daily quota until it resets (channel; own tag) */
    GW_K_SUB_CHANS,  /* hash: a dossier's subscribers by phone → their channel order (code) */
    GW_K_PER_DAY,    /* string: notifications sent to one number on a local day (channel, user,
                        yyyy-mm-dd) */
    GW_K_LEASE,      /* string: the gateway reading this partition's inbound stream */
    GW_K_GATEWAYS,   /* zset: the gateways reading inbound streams, by heartbeat expiry (own tag) */
    GW_K_TEST_SENDS, /* string: a department's broadcast test sends of the window (dept) */
    GW_K__COUNT
} gw_key_family;

/* One row of the table: what a family is, for people and for the checks. */
typedef struct gw_key_spec {
    gw_key_family id;    /* its enum value (the table is in enum order) */
    const char *family;  /* the name in the key, also the Lua helper's name */
    int arity;           /* parts after the family */
    int own_tag;         /* 1: the family is its own tag (used alone, never with another) */
    const char *type;    /* Redis type */
    const char *tag;     /* which partition it lives in */
    const char *writers; /* who writes it */
    const char *expiry;  /* how long it lives */
} gw_key_spec;

/* The table, in enum order; *n gets GW_K__COUNT. */
const gw_key_spec *gw_keys_table(size_t *n);

/* ---- Redis Cluster's hashing (the cluster specification) ---- */

/* CRC16-CCITT (XMODEM) of s[0..len). */
uint16_t gw_keys_crc16(const char *s, size_t len);
/* The hash slot of a key: the CRC16 of its hash tag ("{...}", first non-empty one)
 * or of the whole key, modulo 16384. */
unsigned gw_keys_slot(const char *key, size_t len);

/* ---- partitions ---- */

typedef struct gw_keyspace gw_keyspace;

/* The keyspace of `partitions` partitions (1..GW_KEYS_MAX_PARTITIONS). Partition i's
 * tag is "p<i>.<k>" with the smallest k whose slot lies in the i-th of `partitions`
 * equal ranges of the 16384 slots, so that partitions spread evenly over any cluster
 * whose primaries own equal slot ranges. NULL for a bad count or OOM. */
gw_keyspace *gw_keyspace_new(unsigned partitions);
void gw_keyspace_free(gw_keyspace *ks);

/* The functions below take a NULL keyspace (a unit test without a store) as one of a
 * single partition whose keys cannot be built: gw_key answers MC_EINVAL. */
unsigned gw_keyspace_partitions(const gw_keyspace *ks);
/* The partition of an identity ("<channel>:<user>", "dept:<dept>", a dossier code...):
 * CRC16 modulo the partition count. */
unsigned gw_keyspace_part_of(const gw_keyspace *ks, const char *s, size_t len);
/* Partition i's tag (without braces); "" when out of range. */
const char *gw_keyspace_tag(const gw_keyspace *ks, unsigned part);

/*
 * The key of family f in partition `part` (GW_KEY_OWN for an own-tag family), with
 * the family's arity parts as `const char *` arguments, into out (capacity cap).
 * Returns its length, or MC_ETOOBIG / MC_EINVAL (out then "").
 */
int gw_key(const gw_keyspace *ks, char *out, size_t cap, gw_key_family f, unsigned part, ...);
/* The same, appended to an argument vector. */
void gw_argv_addkey(gw_argv *a, const gw_keyspace *ks, gw_key_family f, unsigned part, ...);

/*
 * The partition named by a partitioned id "<partition>-<rest>" (a notification, a
 * broadcast), or -1 when id does not start with a partition of ks.
 */
long gw_keyspace_part_of_id(const gw_keyspace *ks, const char *id);

/*
 * The Lua prelude every script starts with: `local P` is the "mc:{tag}:" prefix taken
 * from KEYS[1] (so a script runs on its partition's slot), and `K.<family>(parts...)`
 * builds the keys of that partition (its own-tag families are not offered). The same
 * text for every keyspace; owned by ks.
 */
const char *gw_keys_lua_prelude(const gw_keyspace *ks);

/* Expiries the scripts take as arguments, in seconds (text). */
#define GW_DEDUP_TTL_S "604800" /* provider message ids remembered for 7 days */

/* Outcomes kept per notification (store/gw_lua.h): the notification hash gains
 * dead_reason dead_ms dead_ch dead_attempts when it dies, and text_removed
 * text_removed_ms when retention took text and to away. Outcomes: sent (accepted by the
 * provider; delivered and failed ones were sent too), delivered, failed (receipts),
 * dead, expired; cancelled is final but not counted. */

#endif
