/*
 * gw_boot.h — what every command of the binary starts from: the configuration
 * (file, then environment, then flags), the folder of the data files, and the
 * understanding engine with its trained model.
 */
#ifndef GW_BOOT_H
#define GW_BOOT_H

#include "gateway/app/gw_config.h"
#include "intents/nlu.h"

#include <stddef.h>

/* Where the configuration comes from; NULL fields are not given. */
typedef struct gw_boot_opts {
    const char *config; /* --config FILE */
    const char *listen; /* --listen HOST:PORT */
    const char *redis;  /* --redis URL */
} gw_boot_opts;

/* Loads file + environment + flags and validates; prints every problem on stderr
 * (one line each) and returns NULL on any. Free with gw_config_free. */
gw_config *gw_boot_config(const gw_boot_opts *o, const char *prog);

/*
 * The folder holding intents/data, vi-nlp/data and gateway/: [server] share_dir
 * when set, else the working directory, the folders above the executable (a build
 * tree), then /usr/share/motcua (an installed one). 0, or MC_ENOTFOUND.
 */
int gw_boot_share_dir(const gw_config *c, char *out, size_t n);

/* The understanding engine over share (the model of gw_boot_model when there is
 * one, the phrase rules otherwise); NULL with the reason printed on stderr. */
nlu_engine *gw_boot_nlu(const gw_config *c, const char *share, const char *prog);

#endif
