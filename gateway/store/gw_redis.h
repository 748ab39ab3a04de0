/*
 * gw_redis.h — hiredis glue for the store: the libuv event adapter and reply copies.
 */
#ifndef MOTCUA_GW_REDIS_H
#define MOTCUA_GW_REDIS_H

#include <hiredis/async.h>
#include <uv.h>

/* Serves ac's reads and writes on loop: reads through a uv_poll, writes deferred to a
 * uv_check so that every command of one loop iteration leaves in one write().
 * REDIS_OK, or REDIS_ERR (already attached, out of memory, a bad socket). The adapter is
 * freed when hiredis lets the context go. */
int gw_redis_attach(redisAsyncContext *ac, uv_loop_t *loop);

/* A deep copy of r (hiredis frees its own when the callback returns), or NULL. */
redisReply *gw_redis_reply_copy(const redisReply *r);

/* Frees a copy made by gw_redis_reply_copy; NULL is ignored. */
void gw_redis_reply_free(redisReply *r);

#endif
