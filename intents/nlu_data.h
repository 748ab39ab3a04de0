/*
 * intents/nlu_data.h — the one reader of intents' data files (internal to intents/).
 *
 * Every data file here has the same shape: '#' comments, blank lines, "[section]"
 * headers and "key = value" lines. The reader hands out one line at a time with its
 * number, so each loader can say "file:line: what is wrong". The loop over the lines is
 * here too (nlu_data_parse): a loader says only what its sections and keys mean.
 */
#ifndef NLU_DATA_H
#define NLU_DATA_H

#include <stddef.h>

/* Largest data file read at start-up, and the longest line in it. */
#define NLU_DATA_MAX_FILE (1024 * 1024)
#define NLU_DATA_MAX_LINE 4096

typedef enum nlu_line_kind {
    NLU_LINE_END,     /* no more lines */
    NLU_LINE_SECTION, /* "[name]": key holds name */
    NLU_LINE_KV,      /* "key = value": both trimmed, value may be empty */
    NLU_LINE_BAD,     /* anything else: err holds why */
} nlu_line_kind;

typedef struct nlu_data {
    char *buf;        /* whole file, NUL-terminated, owned */
    size_t len;       /* bytes in buf */
    size_t pos;       /* next byte to read */
    const char *path; /* borrowed, for messages */
    int lineno;       /* number of the line last returned (1-based) */
} nlu_data;

typedef struct nlu_line {
    nlu_line_kind kind;
    const char *key;   /* points into a buffer of nlu_data; valid until the next call */
    const char *value; /* NULL for a section */
} nlu_line;

/* A loader's part in nlu_data_parse: what the sections and lines of its file mean. Every
 * hook returns 0 (section: a number >= 0) or a negative MC_E* code with err written
 * through nlu_data_err; the first failure ends the parse with that code. */
typedef struct nlu_data_hooks {
    /* "[name]": the section's number, handed to kv with each line of the section. */
    int (*section)(void *priv, const nlu_data *d, const char *name, char *err, size_t errlen);
    /* "key = value" in section number sec. */
    int (*kv)(void *priv, const nlu_data *d, int sec, const nlu_line *l, char *err, size_t errlen);
    /* After the last line (d->lineno at least 1, so that a message names a line): checks
     * what the file must have held. NULL when nothing is required. */
    int (*end)(void *priv, const nlu_data *d, char *err, size_t errlen);
    /* The end of the message for a "key = value" before any section: "'key' <outside>". */
    const char *outside;
} nlu_data_hooks;

/* Reads path whole (checks size and UTF-8) and hands its lines, in order, to the hooks
 * with priv. Returns 0, MC_EIO/MC_ETOOBIG/MC_EUTF8/MC_ENOMEM (unreadable file), MC_EPARSE
 * (a malformed line, or a line before any section) or the code of the first failing
 * hook, with a message "path:line: ..." in err. */
int nlu_data_parse(const char *path, const nlu_data_hooks *h, void *priv, char *err, size_t errlen);
/* Writes "path:line: <msg>" into err. */
void nlu_data_err(const nlu_data *d, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
