/*
 * gw_webchat.h — web chat connections: the motcua.v1 WebSocket protocol
 * driven over Redis (sessions, history, replay) and the understanding path.
 */
#ifndef GW_WEBCHAT_H
#define GW_WEBCHAT_H

#include <libwebsockets.h>

/* The lws protocol entry for "motcua.v1"; its user data is unused. */
int gw_webchat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len);

/* Per-connection storage lws allocates for us. */
typedef struct gw_webchat_pss {
    struct wc_conn *conn; /* our refcounted connection state */
} gw_webchat_pss;

#endif
