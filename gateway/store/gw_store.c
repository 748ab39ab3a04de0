/*
 * gw_store.c — hiredis async connections on the libuv loop, and the cluster client.
 *
 * Big idea: a store is a list of nodes, one hiredis connection each. Any disconnect
 * (Redis stopped, socket error, a health PING unanswered for HEALTH_TIMEOUT_MS) drops a
 * node's connection and a timer reconnects it every RECONNECT_MS, so /healthz goes 503
 * when Redis is down and back to 200 when it returns, without a restart. A node is up
 * once a PING was answered after its scripts were sent: after a (re)connect, and while
 * Redis answers LOADING, it is down. Commands issued while the store is down fail at
 * once with MC_EUNAVAIL; hiredis calls the callbacks of commands in flight with a NULL
 * reply when the link drops.
 *
 * One Redis is one node, and a command goes straight to hiredis as it always did.
 *
 * A cluster is one node per primary (lane 0), found in the slot map that CLUSTER SHARDS
 * (CLUSTER SLOTS before Redis 7) of any connected node gives — the seeds of the URL at
 * first. A command is formatted once and kept with its callback (a `req`) until its
 * answer is final: MOVED updates the map, asks for a fresh one and sends again at once;
 * ASK sends ASKING and the command to the target; TRYAGAIN, CLUSTERDOWN and a target
 * that is not up yet send again after a doubling wait (RETRY_BASE_MS..RETRY_MAX_MS),
 * GW_STORE_MAX_TRIES sends in all. None of those errors ran the command, so sending it
 * again is safe; a lost link is not retried (the command may have run), exactly as on
 * one Redis. MULTI ... EXEC is held back as one req whose parts are sent together; their
 * answers are kept until EXEC's, so a redirect met by any part sends the whole again and
 * each caller's callback still runs once, in order. The map is read again on MOVED, on
 * CLUSTERDOWN, when a primary's link drops, every RECONNECT_MS while the store is down
 * (a failover: the replica that took over appears in the map) and every
 * CLUSTER_REFRESH_MS otherwise. Nodes that serve nothing any more are let go.
 */
#include "gateway/store/gw_store.h"

#include "core/mc.h"
#include "gateway/app/gw_log.h"
#include "gateway/store/gw_cluster.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_redis.h"
#include "gateway/store/gw_resp.h"
#include "gateway/store/gw_script.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_MS 250        /* delay between connection attempts */
#define HEALTH_EVERY_MS 1000    /* PING period while connected */
#define HEALTH_TIMEOUT_MS 3000  /* unanswered PING older than this → reconnect */
#define CLUSTER_REFRESH_MS 5000 /* slot map read again while everything is up */
#define RETRY_BASE_MS 10        /* first wait before a command is sent again */
#define RETRY_MAX_MS 1000       /* the wait doubles up to this */

typedef struct node node;
typedef struct req req;

/* One connection to one Redis server. */
struct node {
    gw_store *s;                  /* owner */
    node *next;                   /* the store's list */
    char host[GW_REDIS_HOST_MAX]; /* TCP host, or the unix socket path */
    int port;                     /* TCP port; 0 for the unix socket */
    unsigned lane;                /* 0: the node's main connection; > 0: a blocking lane */
    redisAsyncContext *ac;        /* current connection, NULL while down */
    int connected;                /* ac finished its connect */
    int up;                       /* a PING was answered since (not LOADING) */
    int retired;                  /* serves nothing any more: goes once its link is gone */
    int owns;                     /* cluster, lane 0: slots it serves in the map */
    uint64_t ping_sent;           /* loop time of the outstanding PING, 0 if none */
    uint64_t retired_at;          /* loop time it was let go */
    int scripts_refused;          /* a SCRIPT LOAD met LOADING: load again before up */
};

/* A part of a transaction: one command of MULTI ... EXEC with its caller's callback. */
typedef struct part {
    req *q;            /* the transaction */
    size_t idx;        /* its place */
    gw_store_cb *cb;   /* the caller's */
    void *priv;        /* its argument */
    char *cmd;         /* formatted, owned */
    size_t len;        /* bytes in cmd */
    redisReply *reply; /* its answer, held until EXEC's (a copy, owned) */
} part;

/* One command (or a whole transaction) until its answer is final. */
struct req {
    gw_store *s;
    gw_store_cb *cb;  /* the caller's (NULL for a transaction: its parts have theirs) */
    void *priv;       /* its argument */
    char *cmd;        /* cluster: the formatted command, owned (NULL on one Redis) */
    size_t len;       /* bytes in cmd */
    int slot;         /* its key's slot; -1 keyless (goes to slot 0's node) */
    unsigned lane;    /* 0, or the blocking lane */
    int tries;        /* sends so far */
    char *ask_host;   /* ASK target for the next send (owned), NULL when none */
    int ask_port;     /* its port */
    redisReply *err;  /* the last redirect error (a copy, owned): the answer if it gives up */
    int wait_n;       /* WAIT for this many replicas after the reply (0: no) */
    long wait_ms;     /* WAIT's timeout */
    redisReply *held; /* the reply kept while WAIT runs (a copy, owned) */
    uint64_t due;     /* loop time of the next send, while delayed */
    req *next_later;  /* the delayed list */
    struct txn *t;    /* a transaction's parts, NULL for one command */
};

/* What a transaction holds (apart from its req: one command costs no more). */
typedef struct txn {
    part *parts;     /* its commands (MULTI first, EXEC last) */
    size_t n, cap;   /* entries of parts, allocated */
    gw_redirect met; /* what a part's answer asked, in this send */
} txn;

struct gw_store {
    uv_loop_t *loop;             /* borrowed */
    gw_redis_addr addr;          /* where to connect */
    int cluster;                 /* addr is a cluster */
    node *nodes;                 /* every connection */
    node **slots;                /* cluster: the primary of each slot (NULL: unknown) */
    int covered;                 /* cluster: slots with a primary */
    int have_map;                /* cluster: a slot map was read */
    int up;                      /* as last reported */
    int closing;                 /* gw_store_free in progress */
    uv_timer_t retry;            /* reconnect timer */
    uv_timer_t health;           /* PING timer */
    uv_timer_t later;            /* delayed sends */
    gw_store_state_cb *state_cb; /* up/down observer */
    void *state_priv;            /* its argument */
    int handles_open;            /* timers not yet closed, for free */
    gw_script **scripts;         /* loaded on every connect: copies, owned */
    size_t n_scripts, cap_scripts;
    int refreshing;        /* a slot map request is in flight */
    int use_slots;         /* the nodes know CLUSTER SLOTS only */
    uint64_t last_refresh; /* loop time the last map request left */
    req *later_head;       /* delayed sends, by due time */
    req *txn;              /* MULTI being held until its EXEC */
    gw_store_stats stats;  /* counters */
    int in_short;          /* the callback running is of a write too few replicas have */
    long long short_acked; /* how many had it */
};

static void set_up(gw_store *s, int up) {
    if (s->up == up)
        return;
    s->up = up;
    gw_log(up ? GW_INFO : GW_WARN, up ? "redis.up" : "redis.down", "{s:s}", "addr", s->addr.host);
    if (s->state_cb)
        s->state_cb(s, up, s->state_priv);
}

/* One Redis: its node is up. A cluster: every slot has a primary that is up. */
static void update_up(gw_store *s) {
    if (s->closing)
        return;
    if (!s->cluster) {
        set_up(s, s->nodes && s->nodes->up);
        return;
    }
    int up = s->have_map && s->covered == GW_KEYS_SLOTS;
    for (node *n = s->nodes; up && n; n = n->next)
        if (n->owns > 0 && !n->up)
            up = 0;
    set_up(s, up);
}

static void on_retry(uv_timer_t *t);
static void load_scripts(node *n);
static void on_pong(redisAsyncContext *ac, void *r, void *privdata);
static void refresh(gw_store *s);
static void node_free(node *n);

static void schedule_retry(gw_store *s) {
    if (!s->closing && !uv_is_active((uv_handle_t *)&s->retry))
        uv_timer_start(&s->retry, on_retry, RECONNECT_MS, 0);
}

int gw_store_waited_short(const gw_store *s, long long *acked) {
    if (acked)
        *acked = s ? s->short_acked : 0;
    return s && s->in_short;
}

/* ---- nodes ---- */

static void on_connect(const redisAsyncContext *ac, int status) {
    node *n = ac->data;
    gw_store *s = n->s;
    if (status != REDIS_OK) {
        /* hiredis frees ac after this callback. */
        n->ac = NULL;
        n->connected = 0;
        n->up = 0;
        if (n->retired && !s->closing) {
            node_free(n);
            return;
        }
        update_up(s);
        schedule_retry(s);
        return;
    }
    n->connected = 1;
    n->scripts_refused = 0;
    if (n->lane == 0)
        load_scripts(n); /* before the PING: up means the scripts are there */
    /* Up only once Redis answers PING: a Redis still loading its AOF accepts
     * connections but refuses every command with LOADING, and commands sent then
     * would fail one by one (a MULTI's EXEC aborts, a wire mark never lands). */
    uint64_t now = uv_now(s->loop);
    n->ping_sent = now ? now : 1;
    if (redisAsyncCommand(n->ac, on_pong, n, "PING") != REDIS_OK)
        n->ping_sent = 0; /* the health timer tries again */
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    node *n = ac->data;
    gw_store *s = n->s;
    (void)status;
    int owned = n->owns > 0;
    n->ac = NULL;
    n->connected = 0;
    n->up = 0;
    n->ping_sent = 0;
    if (s->closing)
        return; /* gw_store_free frees the nodes */
    if (n->retired) {
        node_free(n);
        return;
    }
    update_up(s);
    schedule_retry(s);
    if (owned)
        refresh(s); /* a primary went away: maybe a failover */
}

static void on_auth(redisAsyncContext *ac, void *r, void *privdata) {
    (void)privdata;
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        gw_log(GW_ERROR, "redis.auth_failed", "{s:s}", "error", reply->str);
    (void)ac;
}

static void node_connect(node *n) {
    gw_store *s = n->s;
    redisAsyncContext *ac =
        n->port ? redisAsyncConnect(n->host, n->port) : redisAsyncConnectUnix(n->host);
    if (!ac) {
        schedule_retry(s);
        return;
    }
    if (ac->err) {
        /* Failed before any I/O (e.g. the socket file is gone while Redis is down). */
        redisAsyncFree(ac);
        schedule_retry(s);
        return;
    }
    ac->data = n;
    if (gw_redis_attach(ac, s->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_retry(s);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    n->ac = ac;
    /* AUTH and SELECT are queued now and sent as soon as the link is up. */
    if (s->addr.password[0])
        redisAsyncCommand(ac, on_auth, NULL, "AUTH %s", s->addr.password);
    if (s->addr.db)
        redisAsyncCommand(ac, on_auth, NULL, "SELECT %d", s->addr.db);
}

/* A new node, connecting; NULL on OOM. */
static node *node_add(gw_store *s, const char *host, int port, unsigned lane) {
    node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->s = s;
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    n->lane = lane;
    n->next = s->nodes;
    s->nodes = n;
    node_connect(n);
    return n;
}

/* Unlinks and frees a node without a connection. */
static void node_free(node *n) {
    gw_store *s = n->s;
    for (node **pp = &s->nodes; *pp; pp = &(*pp)->next)
        if (*pp == n) {
            *pp = n->next;
            break;
        }
    free(n);
}

/* The node of host:port and lane that is not let go, or NULL. */
static node *node_find(gw_store *s, const char *host, int port, unsigned lane) {
    for (node *n = s->nodes; n; n = n->next)
        if (!n->retired && n->port == port && n->lane == lane && !strcmp(n->host, host))
            return n;
    return NULL;
}

static node *node_get(gw_store *s, const char *host, int port, unsigned lane) {
    node *n = node_find(s, host, port, lane);
    return n ? n : node_add(s, host, port, lane);
}

/* Lets a node go: now if it has no link, else once the replies it owes came. */
static void node_retire(node *n) {
    if (n->retired)
        return;
    n->retired = 1;
    n->owns = 0;
    n->up = 0;
    n->retired_at = uv_now(n->s->loop);
    if (n->ac && n->connected) {
        redisAsyncDisconnect(n->ac); /* after the replies it owes; on_disconnect frees it */
        return;
    }
    if (n->ac) { /* still connecting: hiredis would not call on_disconnect */
        redisAsyncContext *ac = n->ac;
        n->ac = NULL;
        redisAsyncFree(ac); /* what was queued on it gets NULL */
    }
    node_free(n);
}

static void on_retry(uv_timer_t *t) {
    gw_store *s = t->data;
    if (s->closing)
        return;
    for (node *n = s->nodes; n; n = n->next)
        if (!n->ac && !n->retired)
            node_connect(n);
    if (s->cluster && !s->up) {
        refresh(s);
        schedule_retry(s); /* until the map names a primary for every slot again */
    }
}

static void on_pong(redisAsyncContext *ac, void *r, void *privdata) {
    (void)ac;
    node *n = privdata;
    gw_store *s = n->s;
    redisReply *reply = r;
    if (!reply)
        return; /* link dropped: on_disconnect handles it */
    n->ping_sent = 0;
    int up = reply->type != REDIS_REPLY_ERROR || strncmp(reply->str, "LOADING", 7);
    /* The scripts sent on connect met a Redis still loading its data and were refused:
     * load them again now, ahead of anything the up observers send on this connection,
     * or the first EVALSHAs fail with NOSCRIPT (inside an acknowledgement's MULTI the
     * EXEC still acknowledges the entry, and the notification's outcome is lost). */
    if (up && n->scripts_refused) {
        n->scripts_refused = 0;
        load_scripts(n);
    }
    if (n->retired)
        return;
    n->up = up;
    if (s->cluster && up && !s->have_map)
        refresh(s);
    update_up(s);
}

static void on_health(uv_timer_t *t) {
    gw_store *s = t->data;
    uint64_t now = uv_now(s->loop);
    for (node *n = s->nodes; n; n = n->next) {
        if (!n->ac || !n->connected)
            continue;
        if (n->retired) {
            /* still owes replies it may never send: let the link go */
            if (now - n->retired_at <= HEALTH_TIMEOUT_MS)
                continue;
            redisAsyncFree(n->ac); /* on_disconnect frees the node */
            break;                 /* the list changed: the others next time */
        }
        if (n->ping_sent && now - n->ping_sent > HEALTH_TIMEOUT_MS) {
            gw_log(GW_WARN, "redis.timeout", "{s:i, s:s, s:i}", "ms", (int)(now - n->ping_sent),
                   "host", n->host, "port", n->port);
            n->up = 0;
            update_up(s);
            redisAsyncDisconnect(n->ac); /* on_disconnect schedules the reconnect */
            continue;
        }
        if (!n->ping_sent) {
            n->ping_sent = now ? now : 1;
            redisAsyncCommand(n->ac, on_pong, n, "PING");
        }
    }
    if (s->cluster && s->up && now - s->last_refresh >= CLUSTER_REFRESH_MS)
        refresh(s);
}

/* ---- the slot map ---- */

static void on_map(redisAsyncContext *ac, void *r, void *privdata);

/* Asks a connected node for the slot map (one request at a time). With none connected,
 * the seeds are tried again. */
static void refresh(gw_store *s) {
    if (!s->cluster || s->closing || s->refreshing)
        return;
    node *pick = NULL;
    for (node *n = s->nodes; n; n = n->next)
        if (!n->retired && n->lane == 0 && n->connected && (!pick || (n->up && !pick->up)))
            pick = n;
    if (!pick) {
        for (int i = 0; i < s->addr.n_seeds; i++)
            if (!node_find(s, s->addr.seeds[i].host, s->addr.seeds[i].port, 0))
                node_add(s, s->addr.seeds[i].host, s->addr.seeds[i].port, 0);
        schedule_retry(s);
        return;
    }
    s->last_refresh = uv_now(s->loop);
    if (redisAsyncCommand(pick->ac, on_map, pick,
                          s->use_slots ? "CLUSTER SLOTS" : "CLUSTER SHARDS") == REDIS_OK)
        s->refreshing = 1;
}

/* Serves slots lo..hi by n in the map (owner counts kept). */
static void map_set(gw_store *s, int lo, int hi, node *n) {
    for (int i = lo; i <= hi; i++) {
        node *old = s->slots[i];
        if (old == n)
            continue;
        if (old)
            old->owns--;
        else
            s->covered++;
        s->slots[i] = n;
        if (n)
            n->owns++;
        else
            s->covered--;
    }
}

/* Replaces the map with the ranges read from node `from`; 1 when a slot changed hands. */
static int apply_map(gw_store *s, node *from, const gw_slot_range *rg, size_t nr) {
    node **old = malloc(GW_KEYS_SLOTS * sizeof *old);
    if (old)
        memcpy(old, s->slots, GW_KEYS_SLOTS * sizeof *old);
    memset(s->slots, 0, GW_KEYS_SLOTS * sizeof *s->slots);
    s->covered = 0;
    for (node *n = s->nodes; n; n = n->next)
        n->owns = 0;
    for (size_t i = 0; i < nr; i++) {
        node *n = node_get(s, rg[i].host[0] ? rg[i].host : from->host, rg[i].port, 0);
        if (n)
            map_set(s, rg[i].lo, rg[i].hi, n);
    }
    int changed = !old || !s->have_map || memcmp(old, s->slots, GW_KEYS_SLOTS * sizeof *old);
    free(old);
    s->have_map = 1;
    s->stats.refreshes++;
    s->stats.nodes = 0;
    /* Nodes that serve nothing go; lanes follow their primaries. */
    for (node *n = s->nodes, *next; n; n = next) {
        next = n->next;
        if (n->retired)
            continue;
        if (n->lane == 0) {
            if (n->owns)
                s->stats.nodes++;
            else
                node_retire(n);
        } else {
            node *primary = node_find(s, n->host, n->port, 0);
            if (!primary || !primary->owns)
                node_retire(n);
        }
    }
    return changed;
}

static void on_map(redisAsyncContext *ac, void *r, void *privdata) {
    (void)ac;
    node *from = privdata;
    gw_store *s = from->s;
    redisReply *reply = r;
    s->refreshing = 0;
    if (!reply || s->closing)
        return; /* the retry timer or the next redirect asks again */
    if (reply->type == REDIS_REPLY_ERROR) {
        if (!s->use_slots && strstr(reply->str, "nknown")) { /* before Redis 7 */
            s->use_slots = 1;
            refresh(s);
        } else
            gw_log(GW_WARN, "redis.cluster_map_refused", "{s:s}", "error", reply->str);
        return;
    }
    gw_slot_range *rg = NULL;
    size_t nr = 0;
    if (gw_cluster_map(reply, !s->use_slots, &rg, &nr)) {
        gw_log(GW_ERROR, "redis.cluster_map_unreadable", "{s:s, s:i}", "host", from->host, "port",
               from->port);
        return;
    }
    int changed = apply_map(s, from, rg, nr);
    free(rg);
    update_up(s);
    if (changed)
        gw_log(GW_INFO, "redis.cluster_map", "{s:i, s:i, s:s, s:i}", "primaries",
               (int)s->stats.nodes, "slots", s->covered, "from", from->host, "port", from->port);
}

/* ---- sending ---- */

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);
static void on_part(redisAsyncContext *ac, void *r, void *privdata);
static void later_add(req *q);

static void req_free(req *q) {
    if (q->t) {
        for (size_t i = 0; i < q->t->n; i++) {
            free(q->t->parts[i].cmd);
            gw_redis_reply_free(q->t->parts[i].reply);
        }
        free(q->t->parts);
        free(q->t);
    }
    free(q->cmd);
    free(q->ask_host);
    gw_redis_reply_free(q->err);
    gw_redis_reply_free(q->held);
    free(q);
}

/* The answer is final: the caller's callback(s), then the req goes. */
static void finish(req *q, redisReply *r) {
    if (q->t && q->t->n) {
        /* a transaction: each part gets the answer it was given, EXEC's last */
        txn *t = q->t;
        for (size_t i = 0; i + 1 < t->n; i++)
            if (t->parts[i].cb)
                t->parts[i].cb(q->s, t->parts[i].reply, t->parts[i].priv);
        part *last = &t->parts[t->n - 1];
        if (last->cb)
            last->cb(q->s, r, last->priv);
    } else if (q->cb) {
        q->cb(q->s, r, q->priv);
    }
    req_free(q);
}

/* The node a req goes to now: its ASK target, or its slot's primary (slot 0's for a
 * keyless command), on its lane; NULL when not known. */
static node *target(req *q) {
    gw_store *s = q->s;
    if (!s->cluster)
        return s->nodes;
    if (q->ask_host)
        return node_get(s, q->ask_host, q->ask_port, q->lane);
    node *p = s->slots ? s->slots[q->slot >= 0 ? q->slot : 0] : NULL;
    if (!p || q->lane == 0)
        return p;
    return node_get(s, p->host, p->port, q->lane);
}

/* A lane may queue behind its connect (it loads no scripts); lane 0 waits for up. */
static int ready(const node *n, unsigned lane) {
    return n && !n->retired && n->ac && (lane ? 1 : n->up);
}

/* Sends q (a command or a transaction) to its target; delays it when the target is not
 * ready. */
static void send_req(req *q) {
    gw_store *s = q->s;
    node *n = target(q);
    if (!ready(n, q->lane)) {
        later_add(q);
        return;
    }
    q->tries++;
    int rc = REDIS_OK;
    if (q->ask_host) {
        rc = redisAsyncCommand(n->ac, NULL, NULL, "ASKING");
        free(q->ask_host);
        q->ask_host = NULL;
    }
    if (q->t) {
        txn *t = q->t;
        memset(&t->met, 0, sizeof t->met);
        for (size_t i = 0; rc == REDIS_OK && i < t->n; i++)
            rc = redisAsyncFormattedCommand(n->ac, on_part, &t->parts[i], t->parts[i].cmd,
                                            t->parts[i].len);
    } else if (rc == REDIS_OK) {
        rc = redisAsyncFormattedCommand(n->ac, on_reply, q, q->cmd, q->len);
    }
    if (rc != REDIS_OK) /* the link is closing: its callbacks never come */
        later_add(q);
    (void)s;
}

/* ---- delayed sends ---- */

static void on_later(uv_timer_t *t) {
    gw_store *s = t->data;
    uint64_t now = uv_now(s->loop);
    while (s->later_head && s->later_head->due <= now) {
        req *q = s->later_head;
        s->later_head = q->next_later;
        q->next_later = NULL;
        send_req(q);
    }
    if (s->later_head)
        uv_timer_start(&s->later, on_later, s->later_head->due - now, 0);
}

/* Sends q again after a doubling wait, or gives its last error (or NULL) to its caller
 * once it was sent GW_STORE_MAX_TRIES times. */
static void later_add(req *q) {
    gw_store *s = q->s;
    if (s->closing || q->tries >= GW_STORE_MAX_TRIES) {
        redisReply *e = q->err;
        q->err = NULL;
        finish(q, e);
        gw_redis_reply_free(e);
        return;
    }
    s->stats.retried++;
    uint64_t wait = RETRY_BASE_MS;
    for (int i = 0; i < q->tries && wait < RETRY_MAX_MS; i++)
        wait *= 2;
    q->due = uv_now(s->loop) + (wait < RETRY_MAX_MS ? wait : RETRY_MAX_MS);
    q->tries++; /* a wait counts as a send: the whole is bounded */
    req **pp = &s->later_head;
    while (*pp && (*pp)->due <= q->due)
        pp = &(*pp)->next_later;
    q->next_later = *pp;
    *pp = q;
    if (s->later_head == q)
        uv_timer_start(&s->later, on_later, q->due - uv_now(s->loop), 0);
}

/*
 * What a redirect asks of q, met at node `at`: 1 when q was sent again (or will be),
 * 0 when r is q's answer.
 */
static int follow(req *q, node *at, const gw_redirect *rd, const redisReply *r) {
    gw_store *s = q->s;
    if (s->closing || rd->kind == GW_REDIRECT_NONE || q->tries >= GW_STORE_MAX_TRIES)
        return 0;
    redisReply *c = gw_redis_reply_copy(r); /* r may be q->err itself */
    gw_redis_reply_free(q->err);
    q->err = c;
    const char *host = rd->host[0] ? rd->host : at->host;
    switch (rd->kind) {
    case GW_REDIRECT_MOVED: {
        s->stats.moved++;
        node *n = node_get(s, host, rd->port, 0);
        if (n && rd->slot >= 0 && s->slots)
            map_set(s, rd->slot, rd->slot, n);
        refresh(s); /* more slots may have moved with it */
        update_up(s);
        send_req(q);
        return 1;
    }
    case GW_REDIRECT_ASK:
        s->stats.ask++;
        free(q->ask_host);
        if (!(q->ask_host = strdup(host)))
            return 0;
        q->ask_port = rd->port;
        send_req(q);
        return 1;
    case GW_REDIRECT_CLUSTERDOWN: refresh(s); /* fall through */
    case GW_REDIRECT_TRYAGAIN: later_add(q); return 1;
    case GW_REDIRECT_NONE: break;
    }
    return 0;
}

static void on_waited(redisAsyncContext *ac, void *r, void *privdata) {
    (void)ac;
    req *q = privdata;
    redisReply *reply = r;
    if (!reply) {
        finish(q, NULL);
        return;
    }
    long long acked = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
    if (acked >= q->wait_n) {
        finish(q, q->held);
        return;
    }
    /* the write's own reply, flagged while its callback runs (gw_store_waited_short) */
    gw_store *s = q->s;
    s->in_short = 1;
    s->short_acked = acked;
    finish(q, q->held);
    s->in_short = 0;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata) {
    req *q = privdata;
    node *n = ac->data;
    gw_store *s = q->s;
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        gw_redirect rd;
        if (s->cluster && gw_cluster_redirect(reply->str, reply->len, &rd) &&
            follow(q, n, &rd, reply))
            return;
        /* Redis lost our scripts (SCRIPT FLUSH): this command fails like any Redis error
         * and its caller tries again; load them all again for the next ones. */
        if (!strncmp(reply->str, "NOSCRIPT", 8) && n->ac && !s->closing) {
            gw_log(GW_WARN, "redis.noscript", "{s:s}", "addr", n->host);
            load_scripts(n);
        }
    } else if (reply && q->wait_n > 0 && !s->closing) {
        /* on the connection that ran it: WAIT counts the replicas that have this write */
        if ((q->held = gw_redis_reply_copy(reply)) &&
            redisAsyncCommand(ac, on_waited, q, "WAIT %d %ld", q->wait_n, q->wait_ms) == REDIS_OK)
            return;
        reply = NULL; /* the link is closing: as if it dropped before the answer */
    }
    finish(q, reply);
}

/* One part of a transaction answered; EXEC's answer decides for the whole. */
static void on_part(redisAsyncContext *ac, void *r, void *privdata) {
    part *pt = privdata;
    req *q = pt->q;
    txn *t = q->t;
    node *n = ac->data;
    redisReply *reply = r;
    gw_redirect rd;
    if (reply && reply->type == REDIS_REPLY_ERROR && !t->met.kind &&
        gw_cluster_redirect(reply->str, reply->len, &rd)) {
        t->met = rd;
        gw_redis_reply_free(q->err);
        q->err = gw_redis_reply_copy(reply);
    }
    if (pt->idx + 1 < t->n) {
        gw_redis_reply_free(pt->reply);
        pt->reply = pt->cb && reply ? gw_redis_reply_copy(reply) : NULL;
        return;
    }
    if (reply) {
        /* EXEC itself may be redirected (the transaction was discarded), or abort
         * because a queued command was */
        if (reply->type == REDIS_REPLY_ERROR && gw_cluster_redirect(reply->str, reply->len, &rd))
            t->met = rd;
        if (t->met.kind) {
            gw_redirect met = t->met;
            for (size_t i = 0; i < t->n; i++) {
                gw_redis_reply_free(t->parts[i].reply);
                t->parts[i].reply = NULL;
            }
            if (follow(q, n, &met, q->err ? q->err : reply))
                return;
        }
    }
    finish(q, reply);
}

/* ---- the public sending functions ---- */

/* Takes cmd (formatted, owned) for a cluster: held in the open transaction, or sent. */
static int cluster_submit(gw_store *s, unsigned lane, gw_store_cb *cb, void *priv, char *cmd,
                          size_t len, int wait_n, long wait_ms) {
    gw_cmd_route rt;
    if (gw_cluster_route(cmd, len, &rt)) {
        free(cmd);
        return MC_EINVAL;
    }
    req *q = s->txn;
    if (!q && rt.kind == GW_CMD_MULTI && lane == 0) {
        if (!(q = calloc(1, sizeof *q)) || !(q->t = calloc(1, sizeof *q->t))) {
            free(q);
            free(cmd);
            return MC_ENOMEM;
        }
        q->s = s;
        q->slot = -1;
        s->txn = q;
    }
    if (q) { /* a part of the transaction held until EXEC */
        txn *t = q->t;
        if (t->n == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : 8;
            part *v = realloc(t->parts, cap * sizeof *v);
            if (!v) {
                free(cmd);
                return MC_ENOMEM;
            }
            t->parts = v;
            t->cap = cap;
        }
        t->parts[t->n] = (part){q, t->n, cb, priv, cmd, len, NULL};
        t->n++;
        if (rt.kind == GW_CMD_KEYED && q->slot < 0)
            q->slot = rt.slot;
        if (rt.kind == GW_CMD_EXEC) {
            s->txn = NULL;
            send_req(q);
        }
        return 0;
    }
    if (!(q = calloc(1, sizeof *q))) {
        free(cmd);
        return MC_ENOMEM;
    }
    *q = (req){.s = s,
               .cb = cb,
               .priv = priv,
               .cmd = cmd,
               .len = len,
               .slot = rt.slot,
               .lane = lane,
               .wait_n = wait_n,
               .wait_ms = wait_ms};
    send_req(q);
    return 0;
}

static int accepting(const gw_store *s, unsigned lane) {
    if (!s || s->closing)
        return 0;
    if (s->cluster)
        return s->up || (lane > 0 && s->have_map); /* a lane only needs its node */
    return s->nodes && s->nodes->ac && s->nodes->connected && s->up;
}

/* One Redis: the command goes straight to hiredis (no copy kept). */
static req *single_req(gw_store *s, gw_store_cb *cb, void *priv, int wait_n, long wait_ms) {
    req *q = malloc(sizeof *q);
    if (q)
        *q = (req){.s = s, .cb = cb, .priv = priv, .wait_n = wait_n, .wait_ms = wait_ms};
    return q;
}

static int cmd_argv(gw_store *s, unsigned lane, gw_store_cb *cb, void *priv, int argc,
                    const char **argv, const size_t *argvlen, int wait_n, long wait_ms) {
    if (!accepting(s, lane))
        return MC_EUNAVAIL;
    if (s->cluster) {
        char *cmd = NULL;
        int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
        if (len < 0 || !cmd)
            return MC_ENOMEM;
        return cluster_submit(s, lane, cb, priv, cmd, (size_t)len, wait_n, wait_ms);
    }
    req *q = single_req(s, cb, priv, wait_n, wait_ms);
    if (!q)
        return MC_ENOMEM;
    gw_resp r;
    int rc = gw_resp_argv(&r, argc, argv, argvlen);
    if (!rc && redisAsyncFormattedCommand(s->nodes->ac, on_reply, q, r.p, r.len) != REDIS_OK)
        rc = MC_EUNAVAIL;
    gw_resp_clear(&r);
    if (rc)
        free(q);
    return rc;
}

int gw_store_cmd(gw_store *s, gw_store_cb *cb, void *priv, int argc, const char **argv,
                 const size_t *argvlen) {
    return cmd_argv(s, 0, cb, priv, argc, argv, argvlen, 0, 0);
}

int gw_store_cmdf(gw_store *s, gw_store_cb *cb, void *priv, const char *fmt, ...) {
    if (!accepting(s, 0))
        return MC_EUNAVAIL;
    va_list ap;
    va_start(ap, fmt);
    int rc;
    if (s->cluster) {
        char *cmd = NULL;
        int len = redisvFormatCommand(&cmd, fmt, ap);
        rc = len < 0 || !cmd ? MC_ENOMEM : cluster_submit(s, 0, cb, priv, cmd, (size_t)len, 0, 0);
    } else {
        req *q = single_req(s, cb, priv, 0, 0);
        gw_resp r;
        int enc = q ? gw_resp_fmt(&r, fmt, ap) : MC_ENOMEM, sent = 0;
        if (enc == 0)
            sent = redisAsyncFormattedCommand(s->nodes->ac, on_reply, q, r.p, r.len) == REDIS_OK;
        else if (q && enc != MC_ENOMEM) /* a directive, or a length, of hiredis's alone */
            sent = redisvAsyncCommand(s->nodes->ac, on_reply, q, fmt, ap) == REDIS_OK;
        if (q)
            gw_resp_clear(&r);
        rc = sent ? 0 : enc == MC_ENOMEM ? MC_ENOMEM : MC_EUNAVAIL;
        if (!sent)
            free(q);
    }
    va_end(ap);
    return rc;
}

/* ---- scripts ---- */

static void on_loaded(redisAsyncContext *ac, void *r, void *privdata) {
    const char *name = privdata; /* static */
    redisReply *reply = r;
    if (!reply || reply->type != REDIS_REPLY_ERROR)
        return;
    if (!strncmp(reply->str, "LOADING", 7)) {
        node *n = ac->data;
        n->scripts_refused = 1; /* on_pong loads them once Redis has its data */
        return;
    }
    gw_log(GW_ERROR, "redis.script_load_failed", "{s:s, s:s}", "script", name, "error", reply->str);
}

static void load_scripts(node *n) {
    gw_store *s = n->s;
    for (size_t i = 0; n->ac && i < s->n_scripts; i++)
        redisAsyncCommand(n->ac, on_loaded, (void *)s->scripts[i]->name, "SCRIPT LOAD %b",
                          s->scripts[i]->text, s->scripts[i]->len);
}

int gw_store_load(gw_store *s, const gw_script *script) {
    if (s->n_scripts == s->cap_scripts) {
        size_t cap = s->cap_scripts ? 2 * s->cap_scripts : 16;
        gw_script **v = realloc(s->scripts, cap * sizeof *v);
        if (!v)
            return MC_ENOMEM;
        s->scripts = v;
        s->cap_scripts = cap;
    }
    /* a copy: the store reloads it on every reconnect, whoever registered it may be gone */
    gw_script *c = malloc(sizeof *c);
    if (!c || !(c->text = malloc(script->len + 1))) {
        free(c);
        return MC_ENOMEM;
    }
    memcpy(c->text, script->text, script->len + 1);
    c->len = script->len;
    c->name = script->name;
    memcpy(c->sha, script->sha, sizeof c->sha);
    s->scripts[s->n_scripts++] = c;
    for (node *n = s->nodes; n; n = n->next)
        if (n->ac && n->connected && n->lane == 0 && !n->retired)
            redisAsyncCommand(n->ac, on_loaded, (void *)c->name, "SCRIPT LOAD %b", c->text, c->len);
    return 0;
}

static void free_scripts(gw_store *s) {
    for (size_t i = 0; i < s->n_scripts; i++) {
        free(s->scripts[i]->text);
        free(s->scripts[i]);
    }
    free(s->scripts);
}

/* ---- the store ---- */

gw_store *gw_store_new(uv_loop_t *loop, const gw_redis_addr *addr) {
    gw_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->addr = *addr;
    s->cluster = addr->kind == GW_REDIS_CLUSTER;
    if (s->cluster && !(s->slots = calloc(GW_KEYS_SLOTS, sizeof *s->slots))) {
        free(s);
        return NULL;
    }
    uv_timer_init(loop, &s->retry);
    uv_timer_init(loop, &s->health);
    uv_timer_init(loop, &s->later);
    s->retry.data = s->health.data = s->later.data = s;
    s->handles_open = 3;
    uv_timer_start(&s->health, on_health, HEALTH_EVERY_MS, HEALTH_EVERY_MS);
    if (s->cluster) {
        /* the seeds: the first map names the primaries, and those that are not go */
        for (int i = 0; i < addr->n_seeds; i++)
            if (!node_find(s, addr->seeds[i].host, addr->seeds[i].port, 0))
                node_add(s, addr->seeds[i].host, addr->seeds[i].port, 0);
    } else {
        node_add(s, addr->host, addr->kind == GW_REDIS_UNIX ? 0 : addr->port, 0);
    }
    return s;
}

void gw_store_on_state(gw_store *s, gw_store_state_cb *cb, void *priv) {
    s->state_cb = cb;
    s->state_priv = priv;
}

int gw_store_up(const gw_store *s) {
    return s && s->up;
}

int gw_store_cluster(const gw_store *s) {
    return s && s->cluster;
}

int gw_argv_send_wait(gw_store *s, gw_argv *a, int replicas, long timeout_ms, gw_store_cb *cb,
                      void *priv) {
    if (a->oom || a->n == 0 || a->n > INT_MAX)
        return MC_ENOMEM;
    if (replicas < 0 || timeout_ms < 0)
        return MC_EINVAL;
    return cmd_argv(s, 0, cb, priv, (int)a->n, a->v, a->l, replicas, timeout_ms);
}

int gw_argv_send_lane(gw_store *s, unsigned lane, gw_argv *a, gw_store_cb *cb, void *priv) {
    if (a->oom || a->n == 0 || a->n > INT_MAX)
        return MC_ENOMEM;
    return cmd_argv(s, s && s->cluster ? lane : 0, cb, priv, (int)a->n, a->v, a->l, 0, 0);
}

int gw_store_slot_addr(const gw_store *s, unsigned slot, char *host, size_t cap, int *port) {
    if (!s || s->closing)
        return MC_EUNAVAIL;
    const node *n = s->cluster ? (slot < GW_KEYS_SLOTS ? s->slots[slot] : NULL) : s->nodes;
    if (!n || !n->up || (size_t)snprintf(host, cap, "%s", n->host) >= cap)
        return MC_EUNAVAIL;
    *port = n->port;
    return 0;
}

void gw_store_get_stats(const gw_store *s, gw_store_stats *out) {
    if (s)
        *out = s->stats;
    else
        memset(out, 0, sizeof *out);
}

static void on_timer_closed(uv_handle_t *h) {
    gw_store *s = h->data;
    if (--s->handles_open == 0) {
        free_scripts(s);
        free(s->slots);
        free(s);
    }
}

void gw_store_free(gw_store *s) {
    if (!s)
        return;
    s->closing = 1;
    s->state_cb = NULL;
    /* pending callbacks run with NULL replies: hiredis's for what is in flight, ours for
     * what waits (a delayed send, a transaction not ended) */
    for (node *n = s->nodes; n; n = n->next)
        if (n->ac) {
            redisAsyncContext *ac = n->ac;
            n->ac = NULL;
            redisAsyncFree(ac);
        }
    while (s->later_head) {
        req *q = s->later_head;
        s->later_head = q->next_later;
        gw_redis_reply_free(q->err);
        q->err = NULL;
        finish(q, NULL);
    }
    if (s->txn) {
        req *q = s->txn;
        s->txn = NULL;
        finish(q, NULL);
    }
    while (s->nodes) {
        node *n = s->nodes;
        s->nodes = n->next;
        free(n);
    }
    uv_timer_stop(&s->retry);
    uv_timer_stop(&s->health);
    uv_timer_stop(&s->later);
    uv_close((uv_handle_t *)&s->retry, on_timer_closed);
    uv_close((uv_handle_t *)&s->health, on_timer_closed);
    uv_close((uv_handle_t *)&s->later, on_timer_closed);
}
