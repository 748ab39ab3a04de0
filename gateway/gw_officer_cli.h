/*
 * gw_officer_cli.h — `motcua officer add|list|disable|enable|reset` (shared/spec/
 * officers.md): an operator's way to make the first admin of a department, and to list,
 * disable, enable or reset its officers, against the same Redis the gateway uses.
 */
#ifndef GW_OFFICER_CLI_H
#define GW_OFFICER_CLI_H

/* Runs the command: argv[0] is the action, then its flags (--config, --redis, --dept,
 * --user, --role, --areas). Exit status: 0, 1 (runtime: Redis, the officer exists or
 * not), 2 (usage or configuration). */
int gw_officer_cli(int argc, char **argv, const char *prog);

#endif
