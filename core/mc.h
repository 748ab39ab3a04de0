/*
 * core/mc.h — the bottom of the tree: error codes shared by every module.
 *
 * Functions across motcua return 0 on success and a negative MC_E* code on
 * failure; the detail for a human goes into an error buffer the caller passes.
 * This header depends on nothing and everything may include it.
 */
#ifndef MC_H
#define MC_H

#include <stddef.h>

typedef enum mc_err {
    MC_OK = 0,
    MC_ENOMEM = -1,    /* allocation failed */
    MC_EINVAL = -2,    /* caller passed something malformed */
    MC_EUTF8 = -3,     /* input is not valid UTF-8 */
    MC_ETOOBIG = -4,   /* input exceeds a named limit */
    MC_EIO = -5,       /* file or socket error */
    MC_EPARSE = -6,    /* a data or config file does not parse */
    MC_ENOTFOUND = -7, /* lookup found nothing */
    MC_EUNAVAIL = -8,  /* a dependency (Redis, provider) is not reachable */
    MC_EICU = -9,      /* ICU reported an error */
} mc_err;

/* Returns a static English description of an MC_E* code (never NULL). */
static inline const char *mc_strerror(int err) {
    switch (err) {
    case MC_OK: return "ok";
    case MC_ENOMEM: return "out of memory";
    case MC_EINVAL: return "invalid argument";
    case MC_EUTF8: return "invalid UTF-8";
    case MC_ETOOBIG: return "input too large";
    case MC_EIO: return "I/O error";
    case MC_EPARSE: return "parse error";
    case MC_ENOTFOUND: return "not found";
    case MC_EUNAVAIL: return "service unavailable";
    case MC_EICU: return "ICU error";
    }
    return "unknown error";
}

#define MC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
