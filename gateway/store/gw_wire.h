/*
 * gw_wire.h — a write-only Redis connection for records that must hold once
 * write() returned, even if this process is killed right after (gw_sender's
 * wire marks).
 *
 * Why not the store's connection: Redis executes what a client sent only when
 * it gets to read it, and a client that died with replies still owed to it is
 * closed when Redis fails to write them, its unread input dropped unexecuted.
 * A busy connection always has replies owed. This one has none: after AUTH,
 * SELECT and a PING it switches replies off (CLIENT REPLY OFF), so Redis reads
 * and executes everything that reached its socket, also after this process is
 * gone. The price: no answer per command, so nothing here says whether Redis
 * accepted a command, only that the bytes left this process.
 *
 * In a Redis Cluster there is one such connection per primary, opened when a command
 * first needs it; a command goes to the primary the store's slot map names for its
 * first key. A node that no longer serves the slot drops the command silently (its
 * MOVED is a reply, and replies are off): between a slot's move and the store learning
 * of it (its next command there, or its periodic map), a command written here can be
 * lost — like one written while Redis holds writes back for a failover.
 */
#ifndef GW_WIRE_H
#define GW_WIRE_H

#include "gateway/app/gw_config.h"
#include "gateway/store/gw_store.h"

#include <uv.h>

typedef struct gw_wire gw_wire;

/* Starts connecting at once and keeps reconnecting. route (borrowed, may be NULL for one
 * Redis) is the store whose slot map a cluster's commands follow. NULL on OOM, or for a
 * cluster without route. */
gw_wire *gw_wire_new(uv_loop_t *loop, const gw_redis_addr *addr, const gw_store *route);

/* Closes the connection; the memory goes once the loop has closed its handles. */
void gw_wire_free(gw_wire *w);

/*
 * Drops the connection and opens a new one now. For when the store's own
 * connection came back after a loss: a link that has nothing to read never
 * notices a peer that vanished without a reset (a failover to another
 * machine, a network cut) and would go on filling its socket buffer. In a cluster
 * every node's connection goes; each opens again when a command needs it.
 */
void gw_wire_reset(gw_wire *w);

/* 1 when the connection is open, authenticated and has replies off (a cluster: some
 * node's is). */
int gw_wire_ready(const gw_wire *w);

/*
 * Writes one command (hiredis format: %s, %d, %b) to the socket now. 0: the
 * command and everything before it are in the kernel's socket buffer.
 * MC_EUNAVAIL: nothing queued (not ready, or earlier bytes still wait for the
 * socket; a cluster: also no primary known for the key, or its connection just
 * opening). MC_EIO: queued, but not all of it could be written now (socket
 * buffer full): the rest leaves when the socket takes it, so Redis may still
 * execute it later. MC_EINVAL: a cluster's command without a key. Never blocks,
 * never calls back.
 */
int gw_wire_cmdf(gw_wire *w, const char *fmt, ...);

#endif
