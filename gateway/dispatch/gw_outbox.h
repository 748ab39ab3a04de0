/*
 * gw_outbox.h — the outbox: for a channel without sending credentials, what
 * the provider would have received is appended as one JSON line to
 * <dir>/<channel>.jsonl ([outbox] dir), so that a demo or a test can read it.
 * Writes go through libuv's file requests: the loop never blocks on the disk.
 */
#ifndef GW_OUTBOX_H
#define GW_OUTBOX_H

#include <stddef.h>
#include <uv.h>

typedef struct gw_outbox gw_outbox;

/* Called once per write: rc 0 when the whole line was written, MC_EIO when not. */
typedef void gw_outbox_done_fn(void *arg, int rc);

/*
 * Creates the folder `dir` and its missing parents (start-up only: mkdir is
 * blocking) and an outbox writing into it on `loop` (borrowed). 0 and *out,
 * MC_EINVAL when the folder cannot be created (reason in err: a configuration
 * problem), MC_ENOMEM.
 */
int gw_outbox_open(uv_loop_t *loop, const char *dir, gw_outbox **out, char *err, size_t errlen);

/*
 * Appends line[0..len) to the file of channel number `channel` (an index in
 * gw_channel_index), opening it on first use. Takes `line` (malloc'd, freed
 * here on every path). 0: done(arg, rc) is called once the write ended, never
 * from inside this call. Else done is not called: MC_EUNAVAIL (the file cannot
 * be opened: tried again next time), MC_ENOMEM, MC_EIO (libuv did not start
 * the write).
 */
int gw_outbox_append(gw_outbox *o, int channel, char *line, size_t len, gw_outbox_done_fn *done,
                     void *arg);

/* Closes the files and frees the outbox, once the writes in flight have called
 * back (their done still runs, first). Not from inside a done callback. */
void gw_outbox_free(gw_outbox *o);

#endif
