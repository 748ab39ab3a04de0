/*
 * gw_channels.h — the gateway's view of the provider channels: which exist (the
 * adapter table of channels/), which are on, and their settings from the
 * configuration. The gateway never names a channel: it asks this table.
 */
#ifndef GW_CHANNELS_H
#define GW_CHANNELS_H

#include "channels/ch.h"
#include "gateway/app/gw_config.h"

#include <stddef.h>

/* The provider channels, in the adapter table's order: i < gw_channel_count(). */
size_t gw_channel_count(void);
const char *gw_channel_name(size_t i);
/* The index of a channel name, or -1. */
int gw_channel_index(const char *name);

/* 1 for a provider channel or the web chat. */
int gw_channel_known(const char *name);

/* The channel that reaches a citizen known only by a phone number (SMS): the first of
 * the table whose recipients are phone numbers; NULL when none. */
const char *gw_channel_for_phone(void);
/* 1 when the channel's recipients are phone numbers (E.164). */
int gw_channel_phone_recipient(const char *name);

/* 1 when [name] enabled = true. */
int gw_channel_enabled(const gw_config *c, const char *name);

/* 1 when the channel has what sending needs (tokens); otherwise outbound goes to
 * the outbox when [outbox] dir is set. */
int gw_channel_can_send(const gw_config *c, const char *name);

/* The channel's settings (borrowed from the configuration), or NULL. */
const ch_settings *gw_channel_conf(const gw_config *c, const char *name);

/* Fills s from the configuration (borrowed strings, "" when unset). */
void gw_channel_settings(const gw_config *c, const char *name, ch_settings *s);

#endif
