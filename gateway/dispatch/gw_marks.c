/*
 * gw_marks.c — wire marks: a pass that takes an entry again must not send
 * again what may already have reached the provider.
 *
 * Right before a part's request leaves (gw_httpc's before-send hook, on curl's
 * pre-request point) we write HSET <wire marks of the stream> <entry> <part> to Redis's
 * socket at once, on a connection of its own (gw_wire): from then on a kill -9
 * of this process cannot keep the mark from Redis. Not on the store's
 * connection: a client that dies while Redis still owes it replies is closed
 * when Redis fails to write them, and what Redis had not read from it yet is
 * dropped unexecuted (seen in CI: mark written, request sent, dispatcher
 * killed, no mark, the survivor sent the message again). gw_wire has replies
 * off, so Redis owes it nothing and reads it to the end. No mark (Redis or
 * that connection away, its socket full) → the request is stopped unsent and
 * tried again shortly (gw_job.c defers it). A definite "not accepted" (any
 * HTTP answer but success, or a failure before the request left) moves the
 * mark back to the previous part (or deletes it); an ambiguous one (timeout or
 * reset after it left) keeps it; the acknowledgement deletes it in its MULTI
 * (on the other connection, which Redis may read first: so a mark is only
 * written while its entry is still pending, wire_mark_lua).
 *
 * An entry taken again is looked up first (one pipelined HGET, only for
 * re-delivered entries: a fresh one cannot have a mark): parts up to the
 * marked one count as sent; if that was the last part the entry is
 * acknowledged as sent without sending — "unconfirmed: the dispatcher stopped
 * during the request" in the notification's attempts — else sending goes on
 * with the next part. So a kill between the provider's answer and our XACK (a
 * whole provider round trip, 100–500 ms with real providers) no longer doubles
 * a message.
 *
 * The price: whatever was on the wire at the kill counts as sent, also a
 * request the provider refused (429, 5xx) with an answer nobody read, and an
 * ambiguous failure followed by the kill; and a kill between the mark's
 * write() and curl's write() of the request (microseconds, no I/O wait in
 * between) loses that message. At most once for what was in flight at a
 * crash, instead of at least once. Not covered: Redis holding writes back
 * (CLIENT PAUSE WRITE, as a failover does) exactly when the dispatcher dies:
 * the marks it wrote meanwhile are postponed, then dropped with the client.
 * "In the kernel" is enough on a unix socket or loopback (the bytes are in
 * Redis's receive queue when write() returns); over a network, bytes not yet
 * transmitted are dropped if the kernel resets the connection at exit, so
 * there the mark is as good as the link's send queue is short.
 */
#include "core/mc.h"
#include "gateway/app/gw_log.h"
#include "gateway/dispatch/gw_job.h"
#include "gateway/store/gw_keys.h"

#include <jansson.h>
#include <stdlib.h>

/* KEYS: the outbound stream, its wire marks hash (the same partition); ARGV: entry
 * part. Sent with EVAL on a connection whose replies are off (a NOSCRIPT would go
 * unseen), without the keyspace prelude (its keys are given). Sets the mark only while
 * the entry is pending: the acknowledgement (its HDEL) travels on the store's
 * connection, and Redis may read that one first. A mark arriving after the
 * acknowledgement names a message already done and is not written. */
static const char wire_mark_lua[] =
    "if #redis.call('XPENDING',KEYS[1],'" GW_GROUP "',ARGV[1],ARGV[1],1)>0 then "
    "redis.call('HSET',KEYS[2],ARGV[1],ARGV[2]) end";

/* The wire marks hash of the job's stream. */
static const char *wire_key(const gw_job *j, char *buf, size_t n) {
    gw_key(j->s->app->keys, buf, n, GW_K_WIRE, j->partition, j->ch);
    return buf;
}

/* Writes mark `part` of the job's entry on the marks' connection (gw_wire_cmdf's codes). */
static int wire_mark(gw_job *j, int part) {
    char wk[GW_KEYS_MAX];
    return gw_wire_cmdf(j->s->wire, "EVAL %s 2 %s %s %s %d", wire_mark_lua, j->stream,
                        wire_key(j, wk, sizeof wk), j->id, part);
}

/* 1 when a gw_wire_cmdf code means the command is on its way to Redis (all of
 * it in the kernel, or queued behind a full socket: it may still land). */
static int queued(int rc) {
    return rc != MC_EUNAVAIL && rc != MC_ENOMEM;
}

/* The mark must be out of this process before the request is: no mark, no
 * request (gw_job.c then defers the attempt). Runs inside curl.
 * The store must be up too, or the outcome could not be recorded. A mark
 * behind a backlog on its connection is not even queued (gw_wire_cmdf),
 * because it would still reach Redis after a kill, naming a request that never
 * left (a lost message, not a saved duplicate). */
int gw_mark_before_send(void *arg) {
    gw_job *j = arg;
    gw_sender *s = j->s;
    int rc = MC_EUNAVAIL;
    if (!s->closing && !s->draining && gw_store_up(s->app->store))
        rc = wire_mark(j, (int)j->part);
    if (queued(rc))
        j->mark = (int)j->part; /* it reaches Redis even if not all of it left yet */
    if (rc)
        j->refused = 1;
    return rc;
}

void gw_mark_take_back(gw_job *j) {
    if (j->unsure || j->mark != (int)j->part)
        return; /* an earlier attempt of this part may have reached the provider */
    /* on the marks' connection: behind the mark it takes back */
    char wk[GW_KEYS_MAX];
    int rc = j->part == 0 ? gw_wire_cmdf(j->s->wire, "HDEL %s %s", wire_key(j, wk, sizeof wk), j->id)
                          : wire_mark(j, (int)j->part - 1);
    if (queued(rc)) /* else the next take-back, or the acknowledgement, does it */
        j->mark = (int)j->part - 1;
}

void gw_mark_clear(gw_store *st, const gw_job *j) {
    char wk[GW_KEYS_MAX];
    gw_store_cmdf(st, NULL, NULL, "HDEL %s %s", wire_key(j, wk, sizeof wk), j->id);
}

/* The wire mark of a re-delivered entry: the parts up to it count as sent. */
static void on_mark(gw_store *st, redisReply *r, void *priv) {
    (void)st;
    gw_job *j = gw_job_looked_up(priv, r);
    if (!j)
        return;
    if (r->type == REDIS_REPLY_STRING) {
        char *end = NULL;
        long k = strtol(r->str, &end, 10);
        if (end == r->str || *end || k < 0 || k >= GW_JOB_MAX_PARTS)
            k = GW_JOB_MAX_PARTS - 1; /* not ours to read: the safe side is "all of it left" */
        j->mark = (int)k;
        j->part = (size_t)k + 1;
        gw_log(GW_INFO, "send.resume", "{s:s, s:s, s:i}", "channel", j->ch, "entry", j->id,
               "marked_part", (int)k);
    }
    gw_job_go(j);
}

int gw_mark_lookup(gw_job *j) {
    char wk[GW_KEYS_MAX];
    int rc = gw_store_cmdf(j->s->app->store, on_mark, j, "HGET %s %s", wire_key(j, wk, sizeof wk),
                           j->id);
    if (!rc)
        j->looking = 1;
    return rc;
}
