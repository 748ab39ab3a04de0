/*
 * gw_turn.h — one conversation turn: a citizen's message in, the reply out,
 * the conversation state and the reply's lasting effects recorded in one MULTI.
 *
 * Both transports use it: the stream worker (Zalo, Facebook, SMS: the reply
 * goes on the outbound stream, the inbound entry is acknowledged in the same
 * MULTI) and the web chat (the reply goes back on the socket, the session's
 * history is written in the same MULTI). What differs is the transport's part
 * of the commit (gw_turn_ops.commit); everything else — the context, the
 * understanding, the dossier lookup, reports, subscriptions, hand-offs, the
 * wording — is this one function, so the two cannot drift apart.
 *
 * Steps, each from the previous one's Redis callback: read the context, understand
 * (nlu_converse), do the reply's action (look the dossier up, number the report,
 * read the citizen's subscriptions), commit. A failure before the commit commits
 * nothing: done(ok = 0), and the transport may run the turn again.
 */
#ifndef GW_TURN_H
#define GW_TURN_H

#include "gateway/app/gw_app.h"
#include "gateway/store/gw_store.h"
#include "intents/nlu.h"
#include "intents/nlu_dialog.h"

#include <stddef.h>
#include <stdint.h>

#define GW_TURN_TICKET_MAX 32 /* bytes of a report ticket, NUL included */

typedef struct gw_turn gw_turn;

/* The message. Strings are copied by gw_turn_start. */
typedef struct gw_turn_in {
    const char *channel;     /* the channel's name */
    const char *user;        /* the citizen's id on it (the web chat: its session) */
    const char *kind;        /* text, quick_reply, postback, unsupported, follow, unfollow */
    const char *text;        /* the citizen's words, or NULL */
    size_t text_len;         /* bytes in text */
    const char *payload;     /* a button's payload, or NULL (used instead of text) */
    const char *provider_id; /* the provider's message id, or "" */
    int64_t at_ms;           /* when it was accepted */
    const char *entry;       /* the stream entry it came from (for the hand-off record), or "" */
} gw_turn_in;

/* The transport's part. */
typedef struct gw_turn_ops {
    /* Adds the transport's commands to the turn's MULTI (the stream entry's
     * acknowledgement, the history of a web chat session). May be NULL. */
    void (*commit)(gw_store *st, const gw_turn *t, void *priv);
    /* Called exactly once, from a Redis callback: ok = 1 committed, ok = 0 nothing
     * was committed (Redis failed). The turn is the caller's to free. */
    void (*done)(gw_turn *t, int ok, void *priv);
    int reply_on_stream; /* 1: the reply is put on the channel's outbound stream in the
                            commit; 0: the transport delivers gw_turn_reply itself */
    int can_notify;      /* 0: subscriptions are answered "subscribe elsewhere" (a
                            closed browser tab cannot be reached) */
    long conv_ttl_s;     /* how long the conversation state is kept */
} gw_turn_ops;

/* Starts a turn; the ops and priv are borrowed until done. 0, or MC_ENOMEM (done
 * is then not called). */
int gw_turn_start(gw_app *app, const gw_turn_in *in, const gw_turn_ops *ops, void *priv,
                  gw_turn **out);

/* The reply as committed (text NULL when there is nothing to say). */
const nlu_reply *gw_turn_reply(const gw_turn *t);
/* The classification of the message alone (intent NULL when not understood). */
const nlu_result *gw_turn_result(const gw_turn *t);
/* The message, as given to gw_turn_start (copied). */
const gw_turn_in *gw_turn_input(const gw_turn *t);

void gw_turn_free(gw_turn *t);

#endif
