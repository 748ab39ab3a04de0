/*
 * gw_job.h — the sender's insides, shared by the files of dispatch/ and by
 * nothing else (other rooms see gw_sender.h only).
 *
 * A job is one entry of an outbound stream (out, one per partition and channel), from the moment
 * the reader hands it over (gw_sender_take) until it is acknowledged, dead, or
 * given back unsent (it then stays pending in Redis for another pass). The
 * files that move it along, each owning one job of the work:
 *
 *   gw_sender.c   the sender: the list of jobs, one recipient's jobs in order,
 *                 the tick, the orderly stop
 *   gw_job.c      the state machine: take, render, send part by part,
 *                 classify, retry with backoff, defer, resume after a token
 *   gw_marks.c    the wire marks: mark before a request leaves, take back,
 *                 look up when an entry comes back
 *   gw_ack.c      the outcome into Redis: the acknowledgement's MULTI, parking
 *                 while Redis is away, receipts (scripts in gw_ack_lua.c)
 *   gw_outbox.c   channels without credentials: a JSON line in a file
 *   gw_token.c    the provider token shared through Redis (Zalo's)
 */
#ifndef GW_JOB_H
#define GW_JOB_H

#include "channels/ch.h"
#include "gateway/app/gw_app.h"
#include "gateway/app/gw_channels.h"
#include "gateway/dispatch/gw_outbox.h"
#include "gateway/dispatch/gw_sender.h"
#include "gateway/dispatch/gw_token.h"
#include "gateway/net/gw_httpc.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_script.h"
#include "gateway/store/gw_store.h"
#include "gateway/store/gw_wire.h"

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <uv.h>

#define GW_JOB_MAX_PARTS 8 /* requests one message may need */
#define GW_SENDER_BUCKETS                                                                          \
    1024                      /* buckets of each job index: a power of two, above the              \
                                 jobs the reader hands over (gw_serve's MAX_OUT_BUSY) */
#define GW_JOB_MAX_TEXT 16384 /* bytes of an outbound text */
#define GW_UNCONFIRMED_NOTE "unconfirmed: the dispatcher stopped during the request"

typedef struct gw_job gw_job;

struct gw_job {
    gw_job *next, *prev;             /* the sender's list */
    gw_job *rnext, *rprev;           /* its chain of the sender's recipient index */
    gw_job *inext, *iprev;           /* its chain of the sender's entry index */
    unsigned rslot, islot;           /* the chains' buckets */
    int indexed;                     /* in both indexes (gw_sender_take) */
    gw_sender *s;                    /* owner */
    uint64_t seq;                    /* order of arrival in this process */
    int held;                        /* waits for an earlier message to the same recipient */
    char ch[16];                     /* channel */
    char id[48];                     /* stream entry id */
    char stream[GW_KEYS_MAX];        /* the outbound stream of ch in `partition` */
    unsigned partition;              /* the stream's partition (and its notification's) */
    char to[128];                    /* recipient */
    char ref[128];                   /* provider id of the message answered, or "" */
    char purpose[16];                /* reply | update */
    char tag[48];                    /* facebook tag or "" */
    char notif[64];                  /* notification id (gw_sched) or "" for a reply */
    char bc[48];                     /* its broadcast's id (gw_sched's `bc` field) or "" */
    char pid[128];                   /* provider id of the last part sent */
    char *text;                      /* owned */
    size_t text_len;                 /* bytes in text */
    char *quick;                     /* owned JSON array or NULL */
    char *data;                      /* owned: the provider template message (ZNS) or NULL */
    size_t data_len;                 /* bytes in data */
    ch_http parts[GW_JOB_MAX_PARTS]; /* rendered requests */
    size_t n_parts, part;            /* how many, the next to send */
    int mark;                        /* part our wire mark names in Redis, -1 none */
    int unsure;              /* an earlier attempt of this part may have reached the provider */
    int refused;             /* the before-send hook stopped the current attempt */
    int deferrals;           /* attempts stopped by the hook in a row */
    int looking;             /* a lookup (wire mark, broadcast status) is in flight */
    int unconfirmed;         /* acknowledged as sent from the mark alone */
    int in_http;             /* a request of it is with gw_httpc (queued or on the wire) */
    int bc_checked;          /* its broadcast's status was looked up before the first part */
    int window_checked;      /* the citizen's chat window was looked up before the first part */
    int remembered_checked;  /* the channel's memory (citizen unreachable, channel out of
                                quota) was looked up before the first part */
    int skipped;             /* outside the window, or remembered unreachable or out of quota:
                                acknowledged as skipped, not failed */
    int final;               /* its failure ends the notification (no next channel) */
    char urgent[4];          /* "1": an urgent notification (gw_sched's `urgent` field) */
    int day_checked;         /* its number's count of the day was taken before the first part */
    int64_t later_ms;        /* >0: acknowledged back to the due set for then (the number's
                                cap of the day reached), not failed */
    int cancelled;           /* its broadcast was cancelled before it left: acked as such */
    int acking;              /* its EXEC is in flight */
    int dead;                /* gw_job_ack records a failure */
    int parked;              /* its outcome waits for Redis to come back */
    int checking;            /* the parked job's XPENDING check is in flight */
    int ack_errors;          /* EXECs Redis refused in a row */
    char ack_reason[128];    /* the failure gw_job_ack records ("" when sent) */
    int attempts;            /* failed attempts of the current part */
    int token_retried;       /* a token error already led to one refresh */
    int waiting_token;       /* parked until the provider token is refreshed */
    int writing;             /* an outbox write holds it */
    uv_timer_t *timer;       /* retry timer, owned (closed asynchronously) */
    gw_sender_done_fn *done; /* tells the reader */
    void *done_arg;          /* its argument */
    int64_t t0;              /* taken at, ms */
};

struct gw_sender {
    gw_app *app;       /* borrowed */
    gw_httpc *http;    /* owned */
    gw_wire *wire;     /* the connection wire marks go on, owned */
    gw_outbox *outbox; /* files of the channels without credentials, owned; NULL: none */
    gw_token *tokens[CH_MAX_ADAPTERS];     /* refreshable tokens shared through Redis, by
                                              channel index; NULL for fixed tokens; owned */
    gw_script sc_sent, sc_fail, sc_cancel; /* the scripts that settle a notification */
    int store_ups;                         /* times the store came up */
    gw_job *jobs;                          /* all jobs, doubly linked */
    gw_job *by_rcpt[GW_SENDER_BUCKETS];    /* jobs by channel and recipient (order, holds) */
    gw_job *by_entry[GW_SENDER_BUCKETS];   /* jobs by stream and entry id (gw_sender_has) */
    uint64_t next_seq;                     /* arrival counter for jobs */
    size_t n_jobs;                         /* jobs in the list */
    uv_timer_t tick;         /* keeps our jobs claimed, records parked outcomes, checks the token */
    int closing;             /* gw_sender_free was called */
    int draining;            /* gw_sender_drain: nothing new leaves */
    uv_timer_t *drain_timer; /* checks whether the drain is over, owned */
    uint64_t drain_deadline; /* loop time, ms */
    gw_sender_done_fn *drained; /* called once */
    void *drained_arg;          /* its argument */
    int writes;                 /* outbox writes in flight: the sender outlives them */
    int tick_closed;            /* the tick's close callback ran */
};

/* ---- gw_sender.c: the list of jobs ---- */

/* The partition of a notification id (its stream's when the id names none). */
unsigned gw_job_notif_part(const gw_job *j);

/* The refreshable token of a channel, or NULL (its token is fixed). */
gw_token *gw_sender_token(const gw_sender *s, const char *channel);

/* Unlinks and frees j (its retry timer closes asynchronously). */
void gw_job_free(gw_job *j);

/* j is over (acknowledged, dead, or left pending in Redis for another pass):
 * freed, the next held job to the same recipient starts, the reader is told. */
void gw_job_finish(gw_job *j);

/* Starts j unless an earlier job to the same recipient is still here. */
void gw_job_go(gw_job *j);

/* The sender can go once its tick is closed and no outbox write holds a job. */
void gw_sender_release(gw_sender *s);

/* ---- gw_job.c: the state machine ---- */

/* A job for entry `id` of `channel` from its fields, linked into s; NULL on OOM.
 * *valid is 0 when the entry lacks a text or a recipient. */
gw_job *gw_job_new(gw_sender *s, const char *channel, const char *id, const redisReply *fields,
                   int *valid);

/* Sends j, or writes it to the outbox when its channel has no credentials;
 * a broadcast recipient first checks that its broadcast was not cancelled. */
void gw_job_start(gw_job *j);

/* Sends j's next part (rendering it first when needed). */
void gw_job_send(gw_job *j);

/* The provider token was reloaded: the jobs that waited for it render again. */
void gw_job_token_fresh(void *sender);

/* The answer to a lookup of j's (its mark, its broadcast's status) came: j, or
 * NULL when there is none and j was finished unsent (its entry stays pending). */
gw_job *gw_job_looked_up(void *priv, const redisReply *r);

/* The text the provider gets: SMS unaccented when [sms] unaccented is set.
 * *plain is NULL or the unaccented copy the caller frees. */
void gw_job_text(const gw_job *j, const char **text, size_t *len, char **plain);

/* ---- gw_marks.c: the wire marks ---- */

/* Asks Redis for the mark of a re-delivered entry; the parts up to it count as
 * sent, then gw_job_go. 0 or MC_EUNAVAIL / MC_ENOMEM (nothing asked). */
int gw_mark_lookup(gw_job *j);

/* gw_httpc's before-send hook (arg: the job): 0 once the mark of the current
 * part is out of this process, else a negative MC_E* and the request stays. */
int gw_mark_before_send(void *arg);

/* The current part certainly did not reach the provider: the mark goes back. */
void gw_mark_take_back(gw_job *j);

/* Queues on st (inside the acknowledgement's MULTI) the deletion of j's mark. */
void gw_mark_clear(gw_store *st, const gw_job *j);

/* ---- gw_ack.c: the outcome into Redis ---- */

/* Records j's outcome and acknowledges its entry in one transaction: sent when
 * dead_reason is NULL, else dead (or the next channel of a notification). */
void gw_job_ack(gw_job *j, const char *dead_reason);

/* Appends one attempts entry to j's notification (fire and forget). */
void gw_job_note(const gw_job *j, const char *result, const char *error);

/* Records the parked outcomes (after checking that each entry is still pending). */
void gw_sender_resume_parked(gw_sender *s);

/* ---- gw_outbox.c: channels without credentials ---- */

/* Writes j as one JSON line to its channel's outbox file, then acknowledges it
 * (or leaves it pending when the write failed). */
void gw_job_outbox(gw_job *j);

#endif
