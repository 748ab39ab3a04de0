/*
 * gw_ack_lua.h — the texts of the scripts that settle a notification
 * (gw_ack_lua.c). Bodies for gw_script_init: the keyspace prelude goes first. KEYS[1]
 * is always the notification's hash; the settling scripts also take KEYS[2] the stream
 * the notification left by and KEYS[3] its wire marks, and acknowledge the entry (the
 * last of ARGV).
 */
#ifndef GW_ACK_LUA_H
#define GW_ACK_LUA_H

/* ARGV: id channel provider_id now tz note entry → 0 unknown notification, 1 recorded. */
extern const char gw_lua_notif_sent[];

/* ARGV: id channel reason now entry to text attempts tz result entry → 1 re-routed, 2 dead. */
extern const char gw_lua_notif_fail[];

/* ARGV: id channel now tz entry → 0 not sending any more, 1 cancelled. */
extern const char gw_lua_notif_cancel[];

/* ARGV: id channel receipt_status at tz → 0 nothing to do, 1 moved on. */
extern const char gw_lua_receipt[];

#endif
