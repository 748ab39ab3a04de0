/*
 * zns.h — the Zalo Notification Service adapter (../shared/spec/channels.md, "ZNS";
 * ../shared/research/channel-facts.md §1.8): approved template messages to a citizen's
 * phone number, outside any chat window, sent with the Zalo OA's access token. A channel
 * of its own in the adapter table (its recipient is a phone, its policy, price and errors
 * are its own) that lives inside Zalo's configuration section and account.
 */
#ifndef CH_ZNS_H
#define CH_ZNS_H

#include "channels/ch.h"

#define ZNS_TRACKING_MAX 48         /* bytes of a tracking_id (our notification id) */
#define ZNS_MAX_DATA 8192           /* bytes of a prepared template message (ch_outgoing.data) */
#define ZNS_UTC_OFFSET_MIN (7 * 60) /* Asia/Ho_Chi_Minh: the daily quota resets at midnight */
#define ZNS_NIGHT_END_HOUR 6        /* -133: nothing is sent 22:00-06:00 */

extern const ch_adapter ch_zns_adapter;

/* The channel's name, for the Zalo adapter: a delivery event that carries a tracking_id
 * is a ZNS message's, and Zalo's citizens are reached by phone through it. */
extern const char ch_zns_channel[];

#endif
