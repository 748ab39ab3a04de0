/*
 * intents/nlu_data.h — the one reader of intents' data files (internal to intents/).
 *
 * Every data file here has the same shape: '#' comments, blank lines, "[section]"
 * headers and "key = value" lines. The reader hands out one line at a time with its
 * number, so each loader can say "file:line: what is wrong".
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

/* Reads path into d (checks size and UTF-8). Returns 0 or MC_EIO/MC_ETOOBIG/MC_EUTF8/
 * MC_ENOMEM with a message "path:line: ..." in err. Free with nlu_data_close. */
int nlu_data_open(nlu_data *d, const char *path, char *err, size_t errlen);
void nlu_data_close(nlu_data *d);
/* Next meaningful line (comments and blank lines skipped). Lines are edited in place. */
nlu_line nlu_data_next(nlu_data *d, char *err, size_t errlen);
/* Writes "path:line: <msg>" into err. */
void nlu_data_err(const nlu_data *d, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
