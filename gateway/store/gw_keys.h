/*
 * gw_keys.h — the Redis keyspace of motcua: every key family, in one place.
 *
 * Shapes (type, fields, writer, expiry) are described next to each family below.
 */
#ifndef GW_KEYS_H
#define GW_KEYS_H

#define GW_GROUP "motcua"         /* the consumer group on every work stream */
#define GW_INBOUND_STREAM "mc:in" /* every accepted provider event */
#define GW_DEDUP_TTL_S "604800"   /* provider ids remembered for 7 days */
#define GW_OUT_PREFIX "mc:out:"   /* outbound stream of a channel: mc:out:<channel> */
#define GW_CONV_TTL_S 691200L     /* conversation state kept 8 days (Zalo's window), seconds */
#define GW_DEAD_STREAM "mc:dead"  /* what could not be sent, with the reason */
#define GW_RETENTION_KEY "mc:retention" /* the retention sweeper's cursors (hash) */
#define GW_DUE_KEY "mc:due"             /* sorted set of due notification ids */
#define GW_NOTIF_PREFIX "mc:notif:"     /* hash of one notification */
#define GW_BC_DUE_KEY "mc:bc:due"       /* sorted set of due broadcast ids */
#define GW_BC_PREFIX "mc:bc:"           /* hash of one broadcast */

/* Daily outcome counters, dead-letter listing and retention (read by gw_report):
 *   hash   mc:stats:<dept>:<yyyy-mm-dd>  <channel>:<outcome> → count, the day in
 *                         Asia/Ho_Chi_Minh (UTC+7, no DST), kept GW_STATS_TTL_S
 *   zset   mc:dead:<dept> member notification id, score = when it died (ms)
 *   zset   mc:final       member notification id, score = ms of its last final
 *                         outcome; the retention sweeper strips what is older
 *   the notification hash gains dead_reason dead_ms dead_ch dead_attempts when it
 *   dies, and text_removed text_removed_ms when retention took text and to away.
 * Outcomes: sent (accepted by the provider; delivered and failed ones were sent
 * too), delivered, failed (receipts), dead, expired; cancelled is final but not
 * counted. */
#define GW_STATS_PREFIX "mc:stats:"    /* + <dept>:<yyyy-mm-dd> */
#define GW_DEAD_DEPT_PREFIX "mc:dead:" /* + <dept> */
#define GW_FINAL_KEY "mc:final"        /* notifications in a final state */
#define GW_STATS_TTL_S "3456000"       /* counters are kept 40 days (text: used in Lua) */

#endif
