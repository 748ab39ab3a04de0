/*
 * gw_outbox.c — channels without credentials: a job becomes one JSON line in
 * <[outbox] dir>/<channel>.jsonl instead of a request to the provider, and is
 * acknowledged once the line is written (a failed write leaves it pending in
 * Redis for the next pass).
 *
 * The line shows what the provider would get (SMS unaccented when configured):
 * {channel, entry, to, text, purpose, at[, quick_replies][, template]}. One file per
 * channel, opened on first use and kept open; appends go through libuv's file
 * requests, so a slow disk never holds the loop. A write cannot be cancelled
 * once started, so the outbox, and the sender whose job it holds, outlive the
 * writes in flight.
 */
#include "gateway/dispatch/gw_outbox.h"

#include "core/mc.h"
#include "gateway/app/gw_channels.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_log.h"
#include "gateway/dispatch/gw_job.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUTBOX_MAX_PATH 1024 /* bytes of a file's path */
#define OUTBOX_DIR_MODE 0750
#define OUTBOX_FILE_MODE 0640

struct gw_outbox {
    uv_loop_t *loop;           /* borrowed */
    char dir[OUTBOX_MAX_PATH]; /* the folder */
    int fd[CH_MAX_ADAPTERS];   /* appended JSON lines, -1 until opened */
    int writes;                /* writes in flight: the outbox outlives them */
    int closing;               /* gw_outbox_free was called */
};

typedef struct outbox_write {
    uv_fs_t req; /* first: the request's data is the write */
    uv_buf_t buf;
    char *line;   /* owned */
    gw_outbox *o; /* owner */
    int channel;  /* index in the adapter table (gw_channel_name) */
    gw_outbox_done_fn *done;
    void *arg;
} outbox_write;

/* mkdir -p: the folder and any missing parent. 0 or MC_EINVAL (reason in err). */
static int mkdir_parents(const char *dir, char *err, size_t errlen) {
    char p[OUTBOX_MAX_PATH];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) {
        errno = ENAMETOOLONG;
        goto fail;
    }
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, OUTBOX_DIR_MODE) && errno != EEXIST)
            goto fail;
        p[i] = c;
    }
    return 0;
fail:
    snprintf(err, errlen, "cannot create outbox %s: %s", dir, strerror(errno));
    return MC_EINVAL;
}

int gw_outbox_open(uv_loop_t *loop, const char *dir, gw_outbox **out, char *err, size_t errlen) {
    *out = NULL;
    int rc = mkdir_parents(dir, err, errlen);
    if (rc)
        return rc;
    gw_outbox *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return MC_ENOMEM;
    }
    o->loop = loop;
    snprintf(o->dir, sizeof o->dir, "%s", dir);
    for (int i = 0; i < CH_MAX_ADAPTERS; i++)
        o->fd[i] = -1;
    *out = o;
    return 0;
}

static void outbox_release(gw_outbox *o) {
    for (int i = 0; i < CH_MAX_ADAPTERS; i++)
        if (o->fd[i] >= 0)
            close(o->fd[i]);
    free(o);
}

void gw_outbox_free(gw_outbox *o) {
    if (o && !(o->closing = o->writes > 0)) /* else the last write's callback releases it */
        outbox_release(o);
}

static void on_written(uv_fs_t *req) {
    outbox_write *w = req->data;
    gw_outbox *o = w->o;
    ssize_t result = req->result;
    if (result < 0 && !o->closing)
        gw_log(GW_ERROR, "outbox.write_failed", "{s:s, s:s}", "channel",
               gw_channel_name((size_t)w->channel), "error", uv_strerror((int)result));
    gw_outbox_done_fn *done = w->done;
    void *arg = w->arg;
    uv_fs_req_cleanup(req);
    free(w->line);
    free(w);
    o->writes--;
    int last = o->closing && !o->writes; /* done may not free o: decided before it runs */
    done(arg, result < 0 ? MC_EIO : 0);
    if (last)
        outbox_release(o);
}

/* The file of channel ci, opened on first use: 0 or MC_EUNAVAIL (tried again next time). */
static int outbox_fd(gw_outbox *o, int ci, int *fd) {
    if (o->fd[ci] < 0) {
        char path[OUTBOX_MAX_PATH + 32];
        snprintf(path, sizeof path, "%s/%s.jsonl", o->dir, gw_channel_name((size_t)ci));
        o->fd[ci] = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, OUTBOX_FILE_MODE);
    }
    *fd = o->fd[ci];
    return *fd < 0 ? MC_EUNAVAIL : 0;
}

int gw_outbox_append(gw_outbox *o, int channel, char *line, size_t len, gw_outbox_done_fn *done,
                     void *arg) {
    int fd = -1;
    outbox_write *w = NULL;
    int rc = channel < 0 || channel >= CH_MAX_ADAPTERS || !gw_channel_name((size_t)channel)
                 ? MC_EUNAVAIL
                 : outbox_fd(o, channel, &fd);
    if (rc)
        goto fail;
    if (!(w = calloc(1, sizeof *w))) {
        rc = MC_ENOMEM;
        goto fail;
    }
    *w = (outbox_write){.line = line, .o = o, .channel = channel, .done = done, .arg = arg};
    w->buf = uv_buf_init(line, (unsigned)len);
    w->req.data = w;
    if (uv_fs_write(o->loop, &w->req, fd, &w->buf, 1, -1, on_written)) {
        rc = MC_EIO;
        goto fail;
    }
    o->writes++;
    return 0;
fail:
    free(line);
    free(w);
    return rc;
}

/* ---- the job's side ---- */

static void on_job_written(void *arg, int rc) {
    gw_job *j = arg;
    gw_sender *s = j->s;
    s->writes--;
    j->writing = 0;
    if (s->closing) {
        gw_job_free(j);
        gw_sender_release(s);
        return;
    }
    if (rc) {
        gw_job_finish(j); /* not acknowledged: retried on the next pass */
        return;
    }
    gw_metrics_msg_out(s->app->metrics, j->ch);
    gw_job_ack(j, NULL);
}

/* The job as the outbox's JSON line, newline included; NULL on OOM. */
static char *job_line(const gw_job *j, size_t *len) {
    const char *text;
    size_t text_len;
    char *plain;
    gw_job_text(j, &text, &text_len, &plain);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s%, s:s, s:I}", "channel", j->ch, "entry", j->id, "to", j->to,
                  "text", text, text_len, "purpose", j->purpose, "at", (json_int_t)gw_now_ms());
    free(plain);
    if (o && j->quick) {
        json_t *q = json_loads(j->quick, 0, NULL);
        if (q)
            json_object_set_new(o, "quick_replies", q);
    }
    if (o && j->data) { /* a provider template message (ZNS): what the provider would get */
        json_t *d = json_loadb(j->data, j->data_len, 0, NULL);
        if (d)
            json_object_set_new(o, "template", d);
    }
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!line)
        return NULL;
    *len = strlen(line);
    line[(*len)++] = '\n'; /* json_dumps gave len+1 bytes: the NUL becomes the newline */
    return line;
}

void gw_job_outbox(gw_job *j) {
    gw_sender *s = j->s;
    size_t len = 0;
    char *line = s->outbox ? job_line(j, &len) : NULL;
    int rc =
        line ? gw_outbox_append(s->outbox, gw_channel_index(j->ch), line, len, on_job_written, j)
             : MC_ENOMEM;
    if (!rc) {
        j->writing = 1;
        s->writes++;
        return;
    }
    if (rc != MC_EIO) /* no file or no memory; a write libuv would not start goes unsaid */
        gw_log(GW_ERROR, "outbox.unavailable", "{s:s, s:s}", "channel", j->ch, "dir",
               s->app->cfg->outbox_dir);
    gw_job_finish(j);
}
