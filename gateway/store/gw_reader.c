/*
 * gw_reader.c — consumer-group reading of the work streams (gw_reader.h).
 *
 * Big idea: one XREADGROUP reads every stream of a group that has room, on a
 * connection that may block. Two passes alternate: after a (re)connect the
 * pending pass re-reads this consumer's own unacknowledged entries (cursor per
 * stream: entries after the last one taken, so none is taken twice) until a
 * read brings nothing; then new entries (">", blocking). Every claim_idle_ms/2
 * an XAUTOCLAIM per stream takes over what another consumer left idle. Entries
 * this process already holds (a re-read after a reconnect, our own entry
 * claimed back) are skipped: the feed's `has` says so.
 *
 * A group is the streams one XREADGROUP may name. On one Redis that is every stream:
 * one read for all, as it always was. A Redis Cluster refuses a command naming keys
 * of several slots, so there a group is the streams of one slot — of one partition,
 * whose streams share its tag — each group with its own pending pass and its own
 * blocking read on a lane of the reader's store (a connection of its own to the
 * group's node).
 *
 * A leased feed's stream (an inbound partition) is read only while this process holds
 * its partition's lease (gw_lease): `held` from the lease keeper's word on, `open` once
 * the takeover claim (XAUTOCLAIM with no idle minimum, looped to the end of the
 * pending list) handed over, in order, what the previous holder left. An entry a read
 * brings for a stream no longer held is not handed over: it stays pending for the
 * next holder's takeover. Blocking reads then last a quarter of a lease at most, so a
 * holder that stopped renewing stops reading long before the lease expires.
 */
#include "gateway/store/gw_reader.h"

#include "core/mc.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_lease.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_COUNT 64       /* entries per XREADGROUP / XAUTOCLAIM */
#define READ_BLOCK_MS 2000L /* how long one read waits for new entries (at most) */
#define LEASE_TTL_MS 60000L /* a lease's life when claim_idle_ms is 0 (claims off) */
#define TICK_MS 500         /* retries after a failure, and claim checks */
#define MAX_FEEDS 4         /* modules reading through one reader */
#define CURSOR_MAX 48       /* bytes of a stream entry id */

typedef struct rstream {
    char name[GW_READER_STREAM_MAX]; /* the stream */
    int feed;                        /* index of its feed */
    size_t group;                    /* index of its group */
    char cursor[CURSOR_MAX];         /* pending pass: entries after this id */
    int part;                        /* leased: its partition; -1: read by every process */
    int held;                        /* leased: its partition's lease is ours */
    int open;                        /* leased: held and taken over: read it */
    int need_takeover;               /* leased: held, its takeover claim still to do */
    int taking_over;                 /* leased: a takeover XAUTOCLAIM is in flight */
} rstream;

/* The streams one read names, and that read's state. */
typedef struct rgroup {
    struct gw_reader *r; /* owner */
    size_t index;        /* its place in groups (and its lane) */
    int slot;            /* cluster: the slot of its streams; -1 on one Redis */
    int reading;         /* an XREADGROUP is in flight */
    int pending_pass;    /* re-reading our own pending entries */
} rgroup;

struct gw_reader {
    gw_reader_opts o;         /* options (consumer copied) */
    char consumer[128];       /* our consumer name */
    gw_store *rd;             /* the blocking reader connection, owned */
    gw_feed feeds[MAX_FEEDS]; /* registered feeds */
    size_t n_feeds;           /* used entries */
    rstream *streams;         /* every stream of every feed, owned */
    size_t n_streams;         /* used entries */
    rgroup **groups;          /* the reads (each allocated: a read in flight points to it) */
    size_t n_groups;          /* used entries */
    int groups_ready;         /* XGROUP CREATE sent since the last connect */
    uv_timer_t timer;         /* retries and periodic claims */
    uint64_t last_claim;      /* loop time of the last claim round, ms */
    int closing;              /* free in progress */
    int paused;               /* gw_reader_pause */
    gw_lease *lease;          /* the leased feed's partitions, owned (NULL: none) */
    long block_ms;            /* how long a read blocks */
};

static void read_more(gw_reader *r);
static void read_group(gw_reader *r, rgroup *g, const int *full);

void gw_reader_ack(gw_store *st, const char *stream, const char *id) {
    gw_store_cmdf(st, NULL, NULL, "XACK %s " GW_GROUP " %s", stream, id);
    gw_store_cmdf(st, NULL, NULL, "XDEL %s %s", stream, id);
}

static int feed_full(const gw_reader *r, int f) {
    return r->feeds[f].full && r->feeds[f].full(r->feeds[f].priv);
}

static rstream *find_stream(gw_reader *r, const char *name) {
    for (size_t i = 0; i < r->n_streams; i++)
        if (!strcmp(r->streams[i].name, name))
            return &r->streams[i];
    return NULL;
}

/* An entry [id, fields] that no feed holds yet goes to its stream's feed. */
static void hand_over(gw_reader *r, const rstream *s, const redisReply *e, int redelivered) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return;
    const gw_feed *f = &r->feeds[s->feed];
    if (s->part >= 0 && !s->held)
        return; /* not ours (any more): pending for the partition's holder */
    if (f->has && f->has(f->priv, s->name, e->element[0]->str))
        return;
    f->take(f->priv, s->name, e, redelivered);
}

static void after_taking(gw_reader *r) {
    for (size_t i = 0; i < r->n_feeds; i++)
        if (r->feeds[i].taken)
            r->feeds[i].taken(r->feeds[i].priv);
}

/* [[stream, [[id, fields]...]]...]: hands the entries over; returns how many came
 * and, during the pending pass, moves each stream's cursor past its last entry. */
static size_t take_streams(gw_reader *r, const rgroup *g, const redisReply *rep) {
    size_t n = 0;
    if (rep->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *sr = rep->element[i];
        if (sr->type != REDIS_REPLY_ARRAY || sr->elements < 2 ||
            sr->element[0]->type != REDIS_REPLY_STRING || sr->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        rstream *s = find_stream(r, sr->element[0]->str);
        const redisReply *list = sr->element[1];
        if (!s)
            continue;
        n += list->elements;
        for (size_t j = 0; j < list->elements; j++)
            hand_over(r, s, list->element[j], g->pending_pass);
        const redisReply *last = list->elements ? list->element[list->elements - 1] : NULL;
        if (g->pending_pass && last && last->type == REDIS_REPLY_ARRAY && last->elements >= 1 &&
            last->element[0]->type == REDIS_REPLY_STRING)
            snprintf(s->cursor, sizeof s->cursor, "%s", last->element[0]->str);
    }
    return n;
}

static void feeds_full(const gw_reader *r, int *full) {
    for (size_t f = 0; f < r->n_feeds; f++)
        full[f] = feed_full(r, (int)f);
}

static void on_read(gw_store *st, redisReply *rep, void *priv) {
    (void)st;
    rgroup *g = priv;
    gw_reader *r = g->r;
    g->reading = 0;
    if (r->closing || r->paused)
        return; /* what was read stays pending: the next pass takes it */
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        if (rep && rep->str && strstr(rep->str, "NOGROUP"))
            r->groups_ready = 0;
        return; /* the timer reads again */
    }
    size_t n = take_streams(r, g, rep);
    if (g->pending_pass && n == 0)
        g->pending_pass = 0; /* our own backlog is done: now new entries */
    after_taking(r);
    int full[MAX_FEEDS];
    feeds_full(r, full);
    read_group(r, g, full);
}

/* One XAUTOCLAIM in flight: which stream it was for. */
typedef struct claim {
    gw_reader *r;
    size_t stream; /* index into streams */
} claim;

static void on_claimed(gw_store *st, redisReply *rep, void *priv) {
    (void)st;
    claim *c = priv;
    gw_reader *r = c->r;
    /* XAUTOCLAIM answers [next, [[id, fields]...], [deleted ids]] */
    if (!r->closing && !r->paused && rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 &&
        rep->element[1]->type == REDIS_REPLY_ARRAY) {
        const rstream *s = &r->streams[c->stream];
        const redisReply *list = rep->element[1];
        for (size_t j = 0; j < list->elements; j++)
            hand_over(r, s, list->element[j], 1);
        if (list->elements)
            gw_log(GW_INFO, "worker.claimed", "{s:s, s:I}", "stream", s->name, "entries",
                   (json_int_t)list->elements);
        after_taking(r);
    }
    free(c);
}

/* Takes over entries another consumer left idle (it died), and our own lost ones. */
static void claim_idle(gw_reader *r) {
    for (size_t i = 0; i < r->n_streams; i++) {
        if (feed_full(r, r->streams[i].feed) || (r->streams[i].part >= 0 && !r->streams[i].open))
            continue;
        claim *c = calloc(1, sizeof *c);
        if (!c)
            return;
        c->r = r;
        c->stream = i;
        if (gw_store_cmdf(r->o.store, on_claimed, c,
                          "XAUTOCLAIM %s " GW_GROUP " %s %ld 0-0 COUNT %d", r->streams[i].name,
                          r->consumer, r->o.claim_idle_ms, READ_COUNT))
            free(c);
    }
}

static void create_groups(gw_reader *r) {
    for (size_t i = 0; i < r->n_streams; i++)
        gw_store_cmdf(r->rd, NULL, NULL, "XGROUP CREATE %s " GW_GROUP " 0 MKSTREAM",
                      r->streams[i].name);
    r->groups_ready = 1;
}

/* 1 when s goes in its group's next read. */
static int readable(const rstream *s, const int *full) {
    return !full[s->feed] && (s->part < 0 || s->open);
}

/* One group's read, of its streams whose feed has room (full: per feed). */
static void read_group(gw_reader *r, rgroup *g, const int *full) {
    if (g->reading || r->closing || r->paused || !gw_store_up(r->rd))
        return;
    size_t n_open = 0;
    for (size_t i = 0; i < r->n_streams; i++)
        n_open += r->streams[i].group == g->index && readable(&r->streams[i], full);
    if (n_open == 0)
        return; /* back-pressure: read again when a feed kicks */
    if (!r->groups_ready)
        create_groups(r);
    gw_argv a = {0};
    gw_argv_adds(&a, "XREADGROUP");
    gw_argv_adds(&a, "GROUP");
    gw_argv_adds(&a, GW_GROUP);
    gw_argv_adds(&a, r->consumer);
    gw_argv_adds(&a, "COUNT");
    gw_argv_addf(&a, "%d", READ_COUNT);
    if (!g->pending_pass) {
        gw_argv_adds(&a, "BLOCK");
        gw_argv_addf(&a, "%ld", r->block_ms);
    }
    gw_argv_adds(&a, "STREAMS");
    for (size_t i = 0; i < r->n_streams; i++)
        if (r->streams[i].group == g->index && readable(&r->streams[i], full))
            gw_argv_adds(&a, r->streams[i].name);
    for (size_t i = 0; i < r->n_streams; i++)
        if (r->streams[i].group == g->index && readable(&r->streams[i], full))
            gw_argv_adds(&a, g->pending_pass ? r->streams[i].cursor : ">");
    /* The pending pass may bring back entries this process is acknowledging right
     * now. It goes on the main connection, behind the acknowledgements queued
     * there, so that its answer never holds an entry acknowledged (and gone from
     * the feed) meanwhile, which the `has` check would miss and take again; it
     * never blocks. The reader's own connection would race them. A blocking read
     * has its group's lane (in a cluster: a connection of its own, so that one group's
     * block holds up neither the others nor the XGROUP commands on lane 0). */
    int rc = g->pending_pass ? gw_argv_send(r->o.store, &a, on_read, g)
                             : gw_argv_send_lane(r->rd, (unsigned)g->index + 1, &a, on_read, g);
    if (!rc)
        g->reading = 1;
    gw_argv_free(&a);
}

static void read_more(gw_reader *r) {
    if (r->closing || r->paused || !gw_store_up(r->rd) || r->n_streams == 0)
        return;
    int full[MAX_FEEDS];
    feeds_full(r, full);
    for (size_t i = 0; i < r->n_groups; i++)
        read_group(r, r->groups[i], full);
}

void gw_reader_kick(gw_reader *r) {
    read_more(r);
}

/* ---- leased partitions ---- */

static void takeovers(gw_reader *r);

/* One takeover XAUTOCLAIM in flight. */
typedef struct takeover {
    gw_reader *r;
    size_t stream; /* index into streams */
} takeover;

static void send_takeover(gw_reader *r, size_t i, const char *from);

/* XAUTOCLAIM answers [next, [[id, fields]...], [deleted ids]]: hands the entries over
 * and goes on until next is 0-0; then the stream is read. */
static void on_taken_over(gw_store *st, redisReply *rep, void *priv) {
    (void)st;
    takeover *t = priv;
    gw_reader *r = t->r;
    rstream *s = &r->streams[t->stream];
    size_t i = t->stream;
    free(t);
    s->taking_over = 0;
    if (r->closing || r->paused || !s->held || !s->need_takeover)
        return;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_ARRAY)
        return; /* the timer tries again */
    const redisReply *list = rep->element[1];
    for (size_t j = 0; j < list->elements; j++)
        hand_over(r, s, list->element[j], 1);
    if (list->elements) {
        gw_log(GW_INFO, "worker.taken_over", "{s:s, s:I}", "stream", s->name, "entries",
               (json_int_t)list->elements);
        after_taking(r);
    }
    if (strcmp(rep->element[0]->str, "0-0")) {
        send_takeover(r, i, rep->element[0]->str);
        return;
    }
    s->need_takeover = 0;
    s->open = 1;
    read_more(r);
}

static void send_takeover(gw_reader *r, size_t i, const char *from) {
    takeover *t = malloc(sizeof *t);
    if (!t)
        return;
    *t = (takeover){r, i};
    if (gw_store_cmdf(r->o.store, on_taken_over, t, "XAUTOCLAIM %s " GW_GROUP " %s 0 %s COUNT %d",
                      r->streams[i].name, r->consumer, from, READ_COUNT)) {
        free(t);
        return;
    }
    r->streams[i].taking_over = 1;
}

/* What a new holder does first: take every entry pending in its new streams. Also
 * creates the group (a new holder may be the first reader of the stream). */
static void takeovers(gw_reader *r) {
    if (r->closing || r->paused || !gw_store_up(r->o.store))
        return;
    for (size_t i = 0; i < r->n_streams; i++) {
        rstream *s = &r->streams[i];
        if (!s->need_takeover || s->taking_over)
            continue;
        gw_store_cmdf(r->o.store, NULL, NULL, "XGROUP CREATE %s " GW_GROUP " 0 MKSTREAM", s->name);
        send_takeover(r, i, "0-0");
    }
}

static void on_lease_changed(void *priv, unsigned part, int held) {
    gw_reader *r = priv;
    for (size_t i = 0; i < r->n_streams; i++) {
        rstream *s = &r->streams[i];
        if (s->part != (int)part)
            continue;
        s->held = held;
        s->open = 0;
        s->need_takeover = held;
        const gw_feed *f = &r->feeds[s->feed];
        if (!held && f->drop)
            f->drop(f->priv, s->name);
    }
    if (held)
        takeovers(r);
}

static int on_lease_busy(void *priv, unsigned part) {
    gw_reader *r = priv;
    for (size_t i = 0; i < r->n_streams; i++) {
        const rstream *s = &r->streams[i];
        const gw_feed *f = &r->feeds[s->feed];
        if (s->part == (int)part && f->busy && f->busy(f->priv, s->name))
            return 1;
    }
    return 0;
}

struct gw_lease *gw_reader_lease(const gw_reader *r) {
    return r ? r->lease : NULL;
}

static void on_timer(uv_timer_t *t) {
    gw_reader *r = t->data;
    takeovers(r);
    read_more(r);
    uint64_t now = uv_now(r->o.loop);
    if (!r->paused && r->o.claim_idle_ms > 0 &&
        now - r->last_claim >= (uint64_t)r->o.claim_idle_ms / 2 && gw_store_up(r->o.store)) {
        r->last_claim = now;
        claim_idle(r);
    }
}

static void start_pending_pass(gw_reader *r) {
    for (size_t i = 0; i < r->n_groups; i++)
        r->groups[i]->pending_pass = 1;
    for (size_t i = 0; i < r->n_streams; i++)
        snprintf(r->streams[i].cursor, sizeof r->streams[i].cursor, "0");
}

static void on_reader_state(gw_store *s, int up, void *priv) {
    gw_reader *r = priv;
    if (up) {
        r->groups_ready = 0;
        start_pending_pass(r); /* after a reconnect, first our own unacknowledged entries */
        read_more(r);
    } else if (!gw_store_cluster(s)) {
        /* the one connection is gone with its read; in a cluster the lanes of the nodes
         * still up keep theirs, and every read answers (NULL when its link drops) */
        for (size_t i = 0; i < r->n_groups; i++)
            r->groups[i]->reading = 0;
    }
}

gw_reader *gw_reader_new(const gw_reader_opts *o) {
    gw_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->o = *o;
    r->block_ms = READ_BLOCK_MS;
    snprintf(r->consumer, sizeof r->consumer, "%s", o->consumer);
    r->o.consumer = r->consumer;
    r->rd = gw_store_new(o->loop, o->addr);
    if (!r->rd) {
        free(r);
        return NULL;
    }
    gw_store_on_state(r->rd, on_reader_state, r);
    uv_timer_init(o->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_timer, TICK_MS, TICK_MS);
    return r;
}

/* The group of a stream: the one group on one Redis, its slot's in a cluster (made when
 * new); the index, or -1 on OOM. */
static long group_of(gw_reader *r, const char *name) {
    int slot = gw_store_cluster(r->rd) ? (int)gw_keys_slot(name, strlen(name)) : -1;
    for (size_t i = 0; i < r->n_groups; i++)
        if (r->groups[i]->slot == slot)
            return (long)i;
    rgroup **v = realloc(r->groups, (r->n_groups + 1) * sizeof *v);
    if (!v)
        return -1;
    r->groups = v;
    rgroup *g = calloc(1, sizeof *g);
    if (!g)
        return -1;
    *g = (rgroup){r, r->n_groups, slot, 0, 1};
    r->groups[r->n_groups++] = g;
    return (long)g->index;
}

/* The lease keeper of a leased feed; a lease lasts claim_idle_ms, a read a quarter of it. */
static int start_leases(gw_reader *r) {
    long ttl = r->o.claim_idle_ms > 0 ? r->o.claim_idle_ms : LEASE_TTL_MS;
    if (ttl < GW_LEASE_MIN_TTL_MS)
        ttl = GW_LEASE_MIN_TTL_MS;
    gw_lease_opts lo = {r->o.loop, r->o.store,       r->o.keys,     r->consumer,
                        ttl,       on_lease_changed, on_lease_busy, r};
    if (!(r->lease = gw_lease_new(&lo)))
        return MC_ENOMEM;
    if (r->block_ms > ttl / 4)
        r->block_ms = ttl / 4;
    return 0;
}

int gw_reader_add(gw_reader *r, const gw_feed *f) {
    if (r->n_feeds == MAX_FEEDS || r->n_streams + f->n_streams > GW_READER_MAX_STREAMS)
        return MC_ETOOBIG;
    if (f->parts && (!r->o.keys || r->lease))
        return MC_EINVAL;
    for (size_t i = 0; f->parts && i < f->n_streams; i++)
        if (f->parts[i] >= gw_keyspace_partitions(r->o.keys))
            return MC_EINVAL;
    for (size_t i = 0; i < f->n_streams; i++)
        if (strlen(f->streams[i]) >= GW_READER_STREAM_MAX)
            return MC_EINVAL;
    rstream *grown = realloc(r->streams, (r->n_streams + f->n_streams) * sizeof *grown);
    if (!grown && r->n_streams + f->n_streams)
        return MC_ENOMEM;
    r->streams = grown;
    int fi = (int)r->n_feeds;
    for (size_t i = 0; i < f->n_streams; i++) {
        long g = group_of(r, f->streams[i]);
        if (g < 0)
            return MC_ENOMEM; /* the streams added so far are not counted */
        rstream *s = &r->streams[r->n_streams + i];
        snprintf(s->name, sizeof s->name, "%s", f->streams[i]);
        s->feed = fi;
        s->group = (size_t)g;
        snprintf(s->cursor, sizeof s->cursor, "0");
        s->part = f->parts ? (int)f->parts[i] : -1;
        s->held = s->open = s->need_takeover = s->taking_over = 0;
    }
    r->n_streams += f->n_streams;
    r->feeds[r->n_feeds++] = *f;
    r->feeds[fi].streams = NULL; /* the names live in streams[] now */
    r->feeds[fi].parts = NULL;   /* and the partitions too */
    r->groups_ready = 0;
    return f->parts ? start_leases(r) : 0;
}

void gw_reader_pause(gw_reader *r, void (*done)(void *arg), void *arg) {
    if (!r) {
        if (done)
            done(arg);
        return;
    }
    r->paused = 1;
    gw_lease_release_all(r->lease, done, arg);
}

static void on_timer_closed(uv_handle_t *h) {
    gw_reader *r = h->data;
    for (size_t i = 0; i < r->n_groups; i++)
        free(r->groups[i]);
    free(r->groups);
    free(r->streams);
    free(r);
}

void gw_reader_free(gw_reader *r) {
    if (!r)
        return;
    r->closing = 1;
    gw_lease_free(r->lease);
    r->lease = NULL;
    gw_store_free(r->rd);
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}
