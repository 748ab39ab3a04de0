/*
 * gw_channels.h — the gateway's view of the provider channels: which are on,
 * and the adapter settings copied from the configuration.
 */
#ifndef GW_CHANNELS_H
#define GW_CHANNELS_H

#include "channels/ch.h"
#include "gateway/app/gw_config.h"

/* The provider channels the gateway serves, in a fixed order. */
#define GW_N_CHANNELS 3
extern const char *const gw_channel_names[GW_N_CHANNELS]; /* "facebook", "zalo", "sms" */

/* 1 when [name] enabled = true. */
int gw_channel_enabled(const gw_config *c, const char *name);

/* 1 when the channel has what sending needs (tokens); otherwise outbound goes to
 * the outbox when [outbox] dir is set. */
int gw_channel_can_send(const gw_config *c, const char *name);

/* Fills s from the configuration (borrowed strings, "" when unset). */
void gw_channel_settings(const gw_config *c, const char *name, ch_settings *s);

#endif
