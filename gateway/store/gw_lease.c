/*
 * gw_lease.c — the lease keeper of the inbound partitions (gw_lease.h).
 *
 * Big idea: one timer round every ttl/4 beats (and learns how many gateways live),
 * renews what is held, gives back what is over the fair share once it is not busy, and
 * tries free partitions when under it. Two scripts do the Redis side, each on one key:
 * the lease script (take-or-renew when the value is ours or the key is free; drop when
 * ours) and the heartbeat script (by the Redis clock, so gateways' clocks need not
 * agree). A renewal counts from when it was SENT: Redis set the expiry after that.
 */
#include "gateway/store/gw_lease.h"

#include "core/mc.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_script.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OWNER_MAX 300    /* bytes of a consumer name */
#define ROUNDS 4         /* rounds per ttl: renewals, beats, tries */
#define STOP_TICK_MS 20  /* rounds while giving everything back (an orderly stop) */
#define STOP_MAX_MS 5000 /* the orderly stop waits for busy partitions this long at most */
#define QUICK_MS 200     /* the next round this soon while the last beat or a take failed */

/* KEYS[1] the lease; ARGV: owner, ttl ms, op ("take": take when free, renew when ours;
 * "drop": delete when ours). 1 when the lease is (or was) ours; when another's, take
 * answers -1 - (its time to live in ms) (not worth trying again before), drop 0. */
static const char LEASE_LUA[] = "local v = redis.call('GET', KEYS[1])\n"
                                "if ARGV[3] == 'drop' then\n"
                                "  if v == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end\n"
                                "  return 0\n"
                                "end\n"
                                "if v == ARGV[1] then\n"
                                "  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1\n"
                                "end\n"
                                "if v then return -1 - redis.call('PTTL', KEYS[1]) end\n"
                                "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
                                "return 1\n";

/* KEYS[1] the live set; ARGV: owner, ttl ms, op ("beat" or "leave"). The live count. */
static const char BEAT_LUA[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "if ARGV[3] == 'leave' then redis.call('ZREM', KEYS[1], ARGV[1]) return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "return redis.call('ZCARD', KEYS[1])\n";

typedef struct lpart {
    unsigned char st;  /* GW_LEASE_* */
    int renewing;      /* a renewal is in flight */
    uint64_t ok_sent;  /* loop time the last answered renewal (or take) was sent, ms */
    uint64_t retry_at; /* another's: loop time its lease may have expired, ms */
} lpart;

struct gw_lease {
    gw_lease_opts o;       /* options (owner copied) */
    char owner[OWNER_MAX]; /* our consumer name */
    unsigned n;            /* partitions */
    lpart *p;              /* their states, owned */
    unsigned char *st;     /* scratch: states for the plan */
    unsigned *take, *give; /* scratch: the plan */
    unsigned cursor;       /* where the next tries start */
    unsigned live;         /* gateways in the last beat's answer */
    char ttl[24];          /* ttl_ms as text */
    gw_script lease;       /* LEASE_LUA */
    gw_script beat;        /* BEAT_LUA */
    uv_timer_t timer;      /* the rounds */
    int beating;           /* a beat is in flight */
    int hurry;             /* the last beat or a take failed (Redis): next round soon */
    int stopping;          /* gw_lease_release_all */
    uint64_t stop_at;      /* loop time it was called, ms */
    void (*done)(void *);  /* then: called once everything went back (or STOP_MAX_MS) */
    void *done_arg;        /* its argument */
    unsigned drops;        /* drops (and the leave) sent with an answer awaited */
    long stop_max;         /* how long the orderly stop waits at most, ms */
    int closing;           /* gw_lease_free: memory goes when nothing is in flight */
    int timer_open;        /* the timer handle is not closed yet */
    unsigned inflight;     /* commands whose callbacks point here */
};

/* ---- the plan ---- */

unsigned gw_lease_share(unsigned parts, unsigned live) {
    if (live == 0)
        live = 1;
    return (parts + live - 1) / live;
}

void gw_lease_plan(const unsigned char *st, unsigned parts, unsigned live, unsigned *cursor,
                   unsigned *take, unsigned *give, size_t cap, size_t *n_take, size_t *n_give) {
    unsigned share = gw_lease_share(parts, live), mine = 0;
    *n_take = *n_give = 0;
    for (unsigned i = 0; i < parts; i++)
        mine += st[i] == GW_LEASE_HELD || st[i] == GW_LEASE_TRYING;
    if (parts == 0)
        return;
    if (mine < share) {
        unsigned start = *cursor % parts;
        for (unsigned k = 0; k < parts && *n_take < cap && mine + *n_take < share; k++) {
            unsigned i = (start + k) % parts;
            if (st[i] != GW_LEASE_FREE)
                continue;
            take[(*n_take)++] = i;
            *cursor = (i + 1) % parts;
        }
    } else if (mine > share) {
        for (unsigned i = parts; i-- > 0 && *n_give < cap && mine - *n_give > share;)
            if (st[i] == GW_LEASE_HELD)
                give[(*n_give)++] = i;
    }
}

/* ---- Redis ---- */

typedef struct op {
    gw_lease *l;
    unsigned part;
    uint64_t sent; /* loop time sent, ms */
} op;

static void maybe_release_memory(gw_lease *l);
static void soon(gw_lease *l);
static void on_timer(uv_timer_t *t);
static void plan_round(gw_lease *l);

static int lease_cmd(gw_lease *l, unsigned i, const char *verb, gw_store_cb *cb, op *o) {
    gw_argv a = {0};
    gw_argv_evalsha(&a, &l->lease);
    gw_argv_adds(&a, "1");
    gw_argv_addkey(&a, l->o.keys, GW_K_LEASE, i);
    gw_argv_adds(&a, l->owner);
    gw_argv_adds(&a, l->ttl);
    gw_argv_adds(&a, verb);
    int rc = gw_argv_send(l->o.store, &a, cb, o);
    gw_argv_free(&a);
    if (!rc && cb)
        l->inflight++;
    return rc;
}

static void set_state(gw_lease *l, unsigned i, unsigned char st) {
    unsigned char was = l->p[i].st;
    l->p[i].st = st;
    if (was != GW_LEASE_HELD && st == GW_LEASE_HELD) {
        gw_log(GW_INFO, "lease.taken", "{s:i, s:s}", "partition", (int)i, "owner", l->owner);
        l->o.changed(l->o.priv, i, 1);
    } else if (was == GW_LEASE_HELD && st != GW_LEASE_HELD) {
        gw_log(GW_INFO, st == GW_LEASE_RELEASING ? "lease.giving_back" : "lease.lost", "{s:i, s:s}",
               "partition", (int)i, "owner", l->owner);
        l->o.changed(l->o.priv, i, 0);
    }
}

static op *new_op(gw_lease *l, unsigned i) {
    op *o = malloc(sizeof *o);
    if (o)
        *o = (op){l, i, uv_now(l->o.loop)};
    return o;
}

/* Answer of a take (TRYING) or of a renewal (HELD, RELEASING). */
static void on_lease(gw_store *st, redisReply *rep, void *priv) {
    (void)st;
    op *o = priv;
    gw_lease *l = o->l;
    lpart *p = &l->p[o->part];
    l->inflight--;
    if (l->closing) {
        free(o);
        maybe_release_memory(l);
        return;
    }
    int ours = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    int theirs = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer < 0;
    if (p->st == GW_LEASE_TRYING) {
        if (ours) {
            p->ok_sent = o->sent;
            /* past the share meanwhile (more gateways): the next plan gives it back;
             * stopping meanwhile: nothing was read from it, it goes back now */
            set_state(l, o->part, l->stopping ? GW_LEASE_RELEASING : GW_LEASE_HELD);
        } else {
            p->st = GW_LEASE_FREE;
            if (!theirs) /* an error, not a refusal: try again soon */
                soon(l);
            if (theirs) /* -1 - pttl: skipped by the plans until it may have expired */
                p->retry_at = o->sent + (uint64_t)(-1 - rep->integer);
            if (theirs && !l->stopping && l->live)
                plan_round(l); /* the next candidate now, not a round later */
        }
    } else if (p->renewing && (p->st == GW_LEASE_HELD || p->st == GW_LEASE_RELEASING)) {
        p->renewing = 0;
        if (ours)
            p->ok_sent = o->sent;
        else if (theirs) /* another holder has it: stop now */
            set_state(l, o->part, GW_LEASE_FREE);
        /* an error or no answer: the round's deadline check decides */
    }
    free(o);
}

/* The orderly stop is over when nothing is ours or on its way back (or it took too long).
 * Checked by the timer only: done may free the store, never inside its reply callback. */
static void check_stopped(gw_lease *l) {
    if (!l->stopping || !l->done || l->closing)
        return;
    int left = l->drops > 0;
    for (unsigned i = 0; i < l->n && !left; i++)
        left = l->p[i].st != GW_LEASE_FREE;
    if (left && uv_now(l->o.loop) - l->stop_at < (uint64_t)l->stop_max)
        return;
    void (*done)(void *) = l->done;
    l->done = NULL;
    done(l->done_arg);
}

static void on_dropped(gw_store *st, redisReply *rep, void *priv) {
    (void)st;
    (void)rep;
    op *o = priv;
    gw_lease *l = o->l;
    l->inflight--;
    l->drops--;
    free(o);
    maybe_release_memory(l);
}

static void on_beat(gw_store *st, redisReply *rep, void *priv) {
    (void)st;
    gw_lease *l = priv;
    l->inflight--;
    l->beating = 0;
    if (l->closing) {
        maybe_release_memory(l);
        return;
    }
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        soon(l);
        return;
    }
    if (l->stopping)
        return;
    unsigned live = rep->integer > 0 ? (unsigned)rep->integer : 1;
    if (live != l->live)
        gw_log(GW_INFO, "lease.gateways", "{s:i, s:i}", "live", (int)live, "share",
               (int)gw_lease_share(l->n, live));
    l->live = live;
    plan_round(l);
}

/* Gives back what is over the share, tries free partitions when under it. */
static void plan_round(gw_lease *l) {
    size_t nt, ng;
    uint64_t now = uv_now(l->o.loop);
    for (unsigned i = 0; i < l->n; i++)
        l->st[i] =
            l->p[i].st == GW_LEASE_FREE && l->p[i].retry_at > now ? GW_LEASE_OTHERS : l->p[i].st;
    gw_lease_plan(l->st, l->n, l->live, &l->cursor, l->take, l->give, l->n, &nt, &ng);
    for (size_t k = 0; k < ng; k++)
        set_state(l, l->give[k], GW_LEASE_RELEASING); /* given back once not busy */
    for (size_t k = 0; k < nt; k++) {
        op *o = new_op(l, l->take[k]);
        if (!o)
            break;
        l->p[l->take[k]].st = GW_LEASE_TRYING;
        if (lease_cmd(l, l->take[k], "take", on_lease, o)) {
            l->p[l->take[k]].st = GW_LEASE_FREE;
            free(o);
        }
    }
}

static void send_beat(gw_lease *l, const char *verb) {
    gw_argv a = {0};
    gw_argv_evalsha(&a, &l->beat);
    gw_argv_adds(&a, "1");
    gw_argv_addkey(&a, l->o.keys, GW_K_GATEWAYS, GW_KEY_OWN);
    gw_argv_adds(&a, l->owner);
    gw_argv_adds(&a, l->ttl);
    gw_argv_adds(&a, verb);
    int beat = !strcmp(verb, "beat");
    op *o = beat ? NULL : new_op(l, 0);
    if (beat && !gw_argv_send(l->o.store, &a, on_beat, l)) {
        l->inflight++;
        l->beating = 1;
    } else if (!beat && o && !gw_argv_send(l->o.store, &a, on_dropped, o)) {
        l->inflight++;
        l->drops++;
    } else {
        free(o);
    }
    gw_argv_free(&a);
}

/* Gives partition i back now (it is not busy). */
static void drop(gw_lease *l, unsigned i, int wait_answer) {
    op *o = wait_answer ? new_op(l, i) : NULL;
    if (lease_cmd(l, i, "drop", o ? on_dropped : NULL, o))
        free(o);
    else if (o)
        l->drops++;
    gw_log(GW_INFO, "lease.given_back", "{s:i, s:s}", "partition", (int)i, "owner", l->owner);
    l->p[i].st = GW_LEASE_FREE;
    l->p[i].renewing = 0;
}

static void round_(gw_lease *l) {
    uint64_t now = uv_now(l->o.loop);
    uint64_t limit = (uint64_t)l->o.ttl_ms / 2;
    for (unsigned i = 0; i < l->n; i++) {
        lpart *p = &l->p[i];
        if (p->st != GW_LEASE_HELD && p->st != GW_LEASE_RELEASING)
            continue;
        if (now - p->ok_sent > limit) { /* unanswered too long: it may expire soon */
            set_state(l, i, GW_LEASE_FREE);
            continue;
        }
        if (p->st == GW_LEASE_RELEASING && !(l->o.busy && l->o.busy(l->o.priv, i))) {
            drop(l, i, 1);
            continue;
        }
        if (p->renewing || (l->stopping && now - p->ok_sent < (uint64_t)l->o.ttl_ms / ROUNDS))
            continue; /* (stopping: faster rounds, renewals as usual) */
        op *o = new_op(l, i);
        if (!o)
            continue;
        p->renewing = 1;
        if (lease_cmd(l, i, "take", on_lease, o)) {
            p->renewing = 0;
            free(o);
        }
    }
    if (!l->stopping && !l->beating)
        send_beat(l, "beat");
    check_stopped(l);
}

static uint64_t quick_ms(const gw_lease *l) {
    uint64_t every = (uint64_t)l->o.ttl_ms / ROUNDS;
    return every < QUICK_MS ? every : QUICK_MS;
}

/* Redis failed us: the next round soon (never later than planned). */
static void soon(gw_lease *l) {
    if (l->hurry || l->stopping || l->closing)
        return;
    l->hurry = 1;
    uv_timer_start(&l->timer, on_timer, quick_ms(l), 0);
}

/* A round every ttl/4; sooner while Redis failed us (a gateway starting before Redis
 * answers, or coming back after it was away, must not wait a quarter of a lease). */
static void on_timer(uv_timer_t *t) {
    gw_lease *l = t->data;
    l->hurry = 0;
    round_(l);
    if (l->stopping)
        return;
    if (!l->beating) /* the beat could not be sent */
        soon(l);
    else
        uv_timer_start(&l->timer, on_timer, (uint64_t)l->o.ttl_ms / ROUNDS, 0);
}

gw_lease *gw_lease_new(const gw_lease_opts *o) {
    if (!o->changed || o->ttl_ms < GW_LEASE_MIN_TTL_MS)
        return NULL;
    gw_lease *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->o = *o;
    snprintf(l->owner, sizeof l->owner, "%s", o->owner);
    l->o.owner = l->owner;
    snprintf(l->ttl, sizeof l->ttl, "%ld", o->ttl_ms);
    l->stop_max = o->ttl_ms / 2 < STOP_MAX_MS ? o->ttl_ms / 2 : STOP_MAX_MS;
    l->n = gw_keyspace_partitions(o->keys);
    l->p = calloc(l->n, sizeof *l->p);
    l->st = calloc(l->n, 1);
    l->take = calloc(l->n, sizeof *l->take);
    l->give = calloc(l->n, sizeof *l->give);
    /* each gateway starts its tries elsewhere: fewer collisions when they start together */
    l->cursor = gw_keys_crc16(l->owner, strlen(l->owner)) % (l->n ? l->n : 1);
    if (!l->p || !l->st || !l->take || !l->give ||
        gw_script_load(&l->lease, o->store, "lease", o->keys, LEASE_LUA))
        goto fail;
    if (gw_script_load(&l->beat, o->store, "lease_beat", o->keys, BEAT_LUA)) {
        gw_script_clear(&l->lease);
        goto fail;
    }
    uv_timer_init(o->loop, &l->timer);
    l->timer.data = l;
    l->timer_open = 1;
    uv_timer_start(&l->timer, on_timer, 0, 0);
    return l;
fail:
    free(l->p);
    free(l->st);
    free(l->take);
    free(l->give);
    free(l);
    return NULL;
}

int gw_lease_held(const gw_lease *l, unsigned part) {
    return l && part < l->n && l->p[part].st == GW_LEASE_HELD;
}

unsigned gw_lease_count(const gw_lease *l) {
    unsigned n = 0;
    for (unsigned i = 0; l && i < l->n; i++)
        n += l->p[i].st == GW_LEASE_HELD;
    return n;
}

unsigned gw_lease_live(const gw_lease *l) {
    return l ? l->live : 0;
}

void gw_lease_release_all(gw_lease *l, void (*done)(void *arg), void *arg) {
    if (!l || l->stopping) {
        if (done)
            done(arg);
        return;
    }
    l->stopping = 1;
    l->stop_at = uv_now(l->o.loop);
    l->done = done;
    l->done_arg = arg;
    for (unsigned i = 0; i < l->n; i++)
        if (l->p[i].st == GW_LEASE_HELD)
            set_state(l, i, GW_LEASE_RELEASING);
    send_beat(l, "leave");
    uv_timer_start(&l->timer, on_timer, STOP_TICK_MS, STOP_TICK_MS);
    round_(l); /* what is not busy goes back now */
}

static void maybe_release_memory(gw_lease *l) {
    if (!l->closing || l->inflight || l->timer_open)
        return;
    gw_script_clear(&l->lease);
    gw_script_clear(&l->beat);
    free(l->p);
    free(l->st);
    free(l->take);
    free(l->give);
    free(l);
}

static void on_timer_closed(uv_handle_t *h) {
    gw_lease *l = h->data;
    l->timer_open = 0;
    maybe_release_memory(l);
}

void gw_lease_free(gw_lease *l) {
    if (!l)
        return;
    for (unsigned i = 0; i < l->n; i++)
        if (l->p[i].st == GW_LEASE_HELD || l->p[i].st == GW_LEASE_RELEASING)
            drop(l, i, 0);
    if (!l->stopping)
        send_beat(l, "leave");
    l->closing = 1;
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->timer, on_timer_closed);
}
