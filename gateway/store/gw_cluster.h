/*
 * gw_cluster.h — the Redis Cluster protocol as data, without I/O: which argument of a
 * command is the key it is routed by (so, its hash slot), what a redirect error says,
 * and the slot map of a CLUSTER SHARDS or CLUSTER SLOTS reply. gw_store does the
 * talking; this file only reads what goes out and what comes back.
 *
 * Routing follows the cluster specification: a command goes to the primary serving the
 * slot of its keys, and motcua's commands name keys of one tag each (store/gw_keys.h),
 * so the first key decides. A node that does not serve the slot answers
 *   MOVED <slot> <host>:<port>   the slot lives there now (update the map),
 *   ASK <slot> <host>:<port>     this key is being migrated there: send ASKING then the
 *                                command to that node, once (the map stays),
 *   TRYAGAIN ...                 a multi-key command during a migration: later,
 *   CLUSTERDOWN ...              no primary serves some slot (a failover): later;
 * none of these ran the command, so it may be sent again.
 */
#ifndef GW_CLUSTER_H
#define GW_CLUSTER_H

#include "gateway/app/gw_config.h"

#include <hiredis/hiredis.h>
#include <stddef.h>

/* What a command is to the router. */
typedef enum gw_cmd_kind {
    GW_CMD_KEYED,   /* has a key: goes to the primary of its slot */
    GW_CMD_KEYLESS, /* no key (PING, WAIT, SCRIPT...): the caller picks the node */
    GW_CMD_MULTI,   /* opens a transaction */
    GW_CMD_EXEC,    /* ends one (EXEC or DISCARD) */
} gw_cmd_kind;

typedef struct gw_cmd_route {
    gw_cmd_kind kind; /* as above */
    int slot;         /* the key's slot for GW_CMD_KEYED, else -1 */
} gw_cmd_route;

/*
 * Routes a command in RESP form ("*<n>\r\n$<len>\r\n<arg>\r\n...", as hiredis formats it):
 * the routing key is argument 1, except for EVAL/EVALSHA/FCALL (and their _RO forms:
 * the first key after numkeys, keyless when numkeys is 0), XREAD/XREADGROUP (the first
 * stream after STREAMS), XGROUP/XINFO/OBJECT/MEMORY (argument 2), and the keyless
 * commands of the table in gw_cluster.c. 0, or MC_EPARSE for a buffer that is not one
 * well-formed command.
 */
int gw_cluster_route(const char *cmd, size_t len, gw_cmd_route *out);

/* What an error reply asks of a cluster client. */
typedef enum gw_redirect_kind {
    GW_REDIRECT_NONE,        /* an error of the command itself */
    GW_REDIRECT_MOVED,       /* slot served elsewhere from now on */
    GW_REDIRECT_ASK,         /* key being migrated: ASKING at the target, once */
    GW_REDIRECT_TRYAGAIN,    /* multi-key command during a migration */
    GW_REDIRECT_CLUSTERDOWN, /* some slot has no primary */
} gw_redirect_kind;

typedef struct gw_redirect {
    gw_redirect_kind kind;        /* as above */
    int slot;                     /* MOVED/ASK: the slot */
    char host[GW_REDIS_HOST_MAX]; /* MOVED/ASK: the node ("" when Redis does not know its
                                     endpoint: the node that answered) */
    int port;                     /* MOVED/ASK: its port */
} gw_redirect;

/* Reads an error reply's text (err[0..len), without the leading '-'): the redirect it
 * is, GW_REDIRECT_NONE for any other error (or a MOVED/ASK that cannot be read). */
gw_redirect_kind gw_cluster_redirect(const char *err, size_t len, gw_redirect *out);

/* One range of slots and the primary serving it. */
typedef struct gw_slot_range {
    int lo, hi;                   /* slots lo..hi, inclusive */
    char host[GW_REDIS_HOST_MAX]; /* the primary's preferred endpoint ("" unknown) */
    int port;                     /* its port */
} gw_slot_range;

/*
 * The primaries' slot ranges of a CLUSTER SHARDS reply (shards = 1; Redis 7: an array of
 * shards, each a map "slots" [lo, hi, ...] and "nodes" [{id, ip, endpoint, port, role,
 * health...}...]) or of a CLUSTER SLOTS reply (shards = 0; [[lo, hi, [host, port, id],
 * replicas...]...]). *out (the caller frees it) holds *n ranges; a range whose primary is
 * not listed is left out (its slots stay unserved). 0, MC_EPARSE for a reply of another
 * shape, MC_ENOMEM.
 */
int gw_cluster_map(const redisReply *r, int shards, gw_slot_range **out, size_t *n);

#endif
