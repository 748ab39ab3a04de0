/*
 * gw_serve.h — `motcua serve`: one process, one loop, the modules of its role
 * opened in order from one table and closed in reverse on every path.
 */
#ifndef GW_SERVE_H
#define GW_SERVE_H

#include "gateway/app/gw_config.h"

/* Which modules a process runs. */
#define GW_ROLE_GATEWAY 1u    /* HTTP, webhooks, web chat, conversations, department API */
#define GW_ROLE_DISPATCHER 2u /* scheduler and sender, no HTTP */
#define GW_ROLE_ALL (GW_ROLE_GATEWAY | GW_ROLE_DISPATCHER)

/*
 * Runs until SIGINT or SIGTERM (orderly stop: nothing new is taken, requests
 * already with a provider get their answer, then every module closes). cfg is
 * borrowed; share is the data folder (gw_boot_share_dir). Returns the exit
 * status: 0 after an orderly stop, 1 when the process could not run, 2 for a
 * configuration the modules refused.
 */
int gw_serve(const gw_config *cfg, const char *share, unsigned roles, const char *role_name);

#endif
