/*
 * gw_lease.h — leases on the partitions of the inbound stream: each partition is read by
 * one gateway at a time, so a citizen's messages (all in the citizen's partition) are
 * answered in order however many gateways run.
 *
 * A lease is one key per partition (GW_K_LEASE, in that partition's tag, so it lives on
 * the node of the stream it guards) holding the holder's consumer name, set with NX and
 * an expiry of ttl_ms ([worker] claim_idle_ms) and renewed every ttl/4 by its holder only
 * (a script renews when the value is still ours). A holder whose renewal was refused
 * loses the partition at once; one whose renewals went unanswered for ttl/2 gives it up
 * then, long before the key can expire (the reader's blocking read lasts ttl/4 at most),
 * so the next holder never reads beside it. A holder that died is replaced once its key
 * expired: at most ttl after its last renewal, plus one round.
 *
 * Live gateways beat in one sorted set (GW_K_GATEWAYS, a tag of its own; score: the
 * beat's expiry by the Redis clock). Each aims for its fair share ceil(partitions /
 * live): below it, it tries free partitions (not those it saw another holding, until
 * that lease could have expired); above it, it gives partitions back — after
 * the feed finished the work of that partition it had started (busy), so the next holder
 * never takes over an entry still running here.
 */
#ifndef GW_LEASE_H
#define GW_LEASE_H

#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_store.h"

#include <stddef.h>
#include <uv.h>

#define GW_LEASE_MIN_TTL_MS 100 /* shortest lease ([worker] claim_idle_ms's floor) */

/* A partition as one keeper sees it (gw_lease_plan's input). */
enum {
    GW_LEASE_FREE,      /* not ours (free or another's) */
    GW_LEASE_TRYING,    /* a take is in flight */
    GW_LEASE_HELD,      /* ours: read it */
    GW_LEASE_RELEASING, /* ours, being given back: not read, renewed until not busy */
    GW_LEASE_OTHERS,    /* another's, whose lease cannot have expired yet: not tried */
};

typedef struct gw_lease gw_lease;

/* held 1: partition part is ours now (read it: take over what its last holder left
 * first); held 0: it is not (stop reading it now, forget what was not started). */
typedef void gw_lease_cb(void *priv, unsigned part, int held);
/* 1 while this process still runs work it took from partition part. */
typedef int gw_lease_busy_cb(void *priv, unsigned part);

typedef struct gw_lease_opts {
    uv_loop_t *loop;         /* borrowed */
    gw_store *store;         /* where the leases are, borrowed */
    const gw_keyspace *keys; /* the partitions and their keys, borrowed */
    const char *owner;       /* this process's consumer name (copied) */
    long ttl_ms;             /* a lease's life without renewal (>= GW_LEASE_MIN_TTL_MS) */
    gw_lease_cb *changed;    /* called on the loop */
    gw_lease_busy_cb *busy;  /* optional: never busy */
    void *priv;              /* theirs */
} gw_lease_opts;

/* Starts beating and taking at once. NULL on OOM or a bad option. */
gw_lease *gw_lease_new(const gw_lease_opts *o);

/* 1 when partition part is ours and read (GW_LEASE_HELD). */
int gw_lease_held(const gw_lease *l, unsigned part);
/* Partitions held; live gateways in the last heartbeat's answer (0 before it). */
unsigned gw_lease_count(const gw_lease *l);
unsigned gw_lease_live(const gw_lease *l);

/* The orderly stop: takes nothing more, gives every partition back (each once not busy),
 * leaves the heartbeat set; done (may be NULL) is called once Redis confirmed all that,
 * or after min(ttl/2, 5 s) at most (what is still held then expires by itself); at once
 * for NULL or a second call. */
void gw_lease_release_all(gw_lease *l, void (*done)(void *arg), void *arg);

/* Stops; what is still held is given back (sent, not waited for). */
void gw_lease_free(gw_lease *l);

/* ---- the decisions, without Redis (unit-tested) ---- */

/* The fair share of one of `live` gateways: ceil(parts / live); live 0 counts as 1. */
unsigned gw_lease_share(unsigned parts, unsigned live);

/*
 * One round's plan from the states st[0..parts) (GW_LEASE_*) and the live count: mine
 * are the HELD and TRYING ones. Below the share, up to share - mine FREE partitions to
 * try go in take[] (at most cap), looked for from *cursor on, round the ring (*cursor
 * then moves past the last one chosen, so rounds spread their tries); above it,
 * mine - share HELD partitions, the highest first, go in give[] (at most cap). Sets
 * *n_take and *n_give.
 */
void gw_lease_plan(const unsigned char *st, unsigned parts, unsigned live, unsigned *cursor,
                   unsigned *take, unsigned *give, size_t cap, size_t *n_take, size_t *n_give);

#endif
