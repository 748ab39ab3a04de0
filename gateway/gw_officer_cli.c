/*
 * gw_officer_cli.c — `motcua officer ...` (gw_officer_cli.h): the same scripts as the
 * API's officers' endpoints (api/gw_officer.h), sent with a plain blocking hiredis
 * connection — a command line has no loop to keep — and each write noted in the
 * department's audit trail as done by "cli:<login name>".
 *
 * add and reset print two lines, "password: <one-time password>" and "totp:
 * <otpauth:// URI>"; the officer changes the password at the first sign-in.
 *
 * A Redis Cluster (redis-cluster://) is reached through its seeds, the first that
 * answers; every script names keys of one slot, and a node that does not serve it says
 * where it is: MOVED moves the connection there, ASK sends ASKING and the script to the
 * node named, TRYAGAIN and CLUSTERDOWN wait a little (store/gw_cluster.h). EVAL carries
 * the script's text, so no node needs it loaded beforehand.
 */
#include "gateway/gw_officer_cli.h"

#include "core/mc.h"
#include "gateway/api/gw_officer.h"
#include "gateway/app/gw_shared.h"
#include "gateway/gw_boot.h"
#include "gateway/store/gw_cluster.h"
#include "gateway/store/gw_keys.h"
#include "gateway/store/gw_script.h"

#include <getopt.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define DEPT_MAX 64              /* a department id, bytes (as the tokens file's) */
#define AREAS_MAX 4096           /* areas, comma-separated */
#define AUDIT_DAYS_MS 86400000LL /* one day of [admin] audit_days */
#define CONNECT_TIMEOUT_S 5      /* Redis connection */
#define ACTOR_MAX 96             /* "cli:<login>" */
#define CLUSTER_TRIES 8          /* sends of one command to a cluster (redirects, waits) */
#define CLUSTER_WAIT_US 200000   /* before sending again after TRYAGAIN or CLUSTERDOWN */

typedef struct cli {
    const char *prog;                                        /* for messages */
    const char *action;                                      /* add, list, ... */
    const char *config, *redis, *dept, *user, *role, *areas; /* flags */
    gw_config *cfg;                                          /* loaded */
    gw_keyspace *ks;   /* the keyspace of [redis] partitions */
    redisContext *rc;  /* the connection */
    nlu_engine *nlu;   /* for the wards (areas) */
    gw_shared *shared; /* ... */
    char actor[ACTOR_MAX];
} cli;

static int64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static bool dept_ok(const char *d) {
    size_t n = strlen(d);
    if (n == 0 || n > DEPT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= '0' && d[i] <= '9') || strchr("_-.", d[i])))
            return false;
    return true;
}

/* The key of family f of the department, with its part (NULL: none) into out. */
static void dept_key(const cli *c, char *out, size_t n, gw_key_family f, const char *part) {
    char who[DEPT_MAX + 8];
    snprintf(who, sizeof who, "dept:%s", c->dept);
    unsigned p = gw_keyspace_part_of(c->ks, who, strlen(who));
    if (part)
        gw_key(c->ks, out, n, f, p, c->dept, part);
    else
        gw_key(c->ks, out, n, f, p, c->dept);
}

static redisContext *link_to(const cli *c, const char *host, int port);

/* The answer to argv: on one Redis as it comes; in a cluster after the redirects it asks
 * for (the connection follows MOVED). NULL when the link failed (c->rc says why). */
static redisReply *command(cli *c, int argc, const char **argv, const size_t *len) {
    redisReply *r = redisCommandArgv(c->rc, argc, argv, len);
    for (int tries = 1; c->cfg->redis.kind == GW_REDIS_CLUSTER && tries < CLUSTER_TRIES; tries++) {
        gw_redirect rd;
        if (!r || r->type != REDIS_REPLY_ERROR ||
            gw_cluster_redirect(r->str, r->len, &rd) == GW_REDIRECT_NONE)
            break;
        freeReplyObject(r);
        r = NULL;
        if (rd.kind == GW_REDIRECT_TRYAGAIN || rd.kind == GW_REDIRECT_CLUSTERDOWN) {
            usleep(CLUSTER_WAIT_US);
            r = redisCommandArgv(c->rc, argc, argv, len);
            continue;
        }
        redisContext *to = link_to(c, rd.host[0] ? rd.host : c->rc->tcp.host, rd.port);
        if (!to)
            break;
        if (rd.kind == GW_REDIRECT_MOVED) {
            redisFree(c->rc);
            c->rc = to;
            r = redisCommandArgv(c->rc, argc, argv, len);
            continue;
        }
        /* ASK: this command only, on the node importing the key */
        redisReply *ok = NULL;
        if (redisAppendCommand(to, "ASKING") == REDIS_OK &&
            redisAppendCommandArgv(to, argc, argv, len) == REDIS_OK &&
            redisGetReply(to, (void **)&ok) == REDIS_OK)
            redisGetReply(to, (void **)&r);
        freeReplyObject(ok);
        redisFree(to);
    }
    return r;
}

/* EVAL of body with the keys and arguments given (NULL-terminated lists): the reply
 * (caller frees) or NULL with the reason printed. */
static redisReply *eval(cli *c, const char *body, const char *name, const char *const *keys,
                        const char *const *args) {
    gw_script s;
    if (gw_script_init(&s, name, c->ks, body)) {
        fprintf(stderr, "%s officer: out of memory\n", c->prog);
        return NULL;
    }
    gw_argv av = {0};
    gw_argv_eval(&av, &s);
    int nk = 0;
    while (keys[nk])
        nk++;
    gw_argv_addf(&av, "%d", nk);
    for (int i = 0; i < nk; i++)
        gw_argv_adds(&av, keys[i]);
    for (int i = 0; args[i]; i++)
        gw_argv_adds(&av, args[i]);
    redisReply *r = av.oom ? NULL : command(c, (int)av.n, av.v, av.l);
    gw_argv_free(&av);
    gw_script_clear(&s);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "%s officer: redis: %s\n", c->prog,
                r                  ? r->str
                : c->rc->errstr[0] ? c->rc->errstr
                                   : "no answer");
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* One entry in the department's audit trail; a failure is said, not fatal. */
static void audit(cli *c, const char *action, const char *changes) {
    char key[GW_KEYS_MAX], now[24], oldest[24], ts[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int64_t ms = now_ms();
    snprintf(now, sizeof now, "%" PRId64, ms);
    snprintf(oldest, sizeof oldest, "%" PRId64,
             (int64_t)(ms - c->cfg->admin_audit_days * AUDIT_DAYS_MS));
    dept_key(c, key, sizeof key, GW_K_AUDIT, NULL);
    const char *keys[] = {key, NULL};
    const char *args[] = {
        now,    oldest,   "ts",    ts,   "actor", c->actor,  "action",
        action, "target", c->user, "ip", "",      "changes", changes ? changes : "{}",
        NULL};
    redisReply *r = eval(c, gw_off_audit_lua, "audit_lua", keys, args);
    if (!r)
        fprintf(stderr, "%s officer: the audit trail did not take the entry\n", c->prog);
    freeReplyObject(r);
}

/* The areas flag as canonical ward ids or "*" into out. 0, or EXIT_USAGE once said. */
static int areas_of(cli *c, char *out, size_t n) {
    const char *a = c->areas ? c->areas : "*";
    out[0] = '\0';
    if (!strcmp(a, "*")) {
        snprintf(out, n, "*");
        return 0;
    }
    char *copy = strdup(a);
    if (!copy)
        return EXIT_RUNTIME;
    int rc = 0;
    for (char *save = NULL, *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        const gw_ward *ward = gw_shared_ward_find(c->shared, w);
        if (!ward) {
            fprintf(stderr,
                    "%s officer: unknown ward \"%s\" (an id of vi-nlp/data/wards.csv, or *)\n",
                    c->prog, w);
            rc = EXIT_USAGE;
            break;
        }
        size_t used = strlen(out);
        if (used + strlen(ward->id) + 2 > n) {
            fprintf(stderr, "%s officer: too many areas\n", c->prog);
            rc = EXIT_USAGE;
            break;
        }
        if (used)
            out[used++] = ',';
        memcpy(out + used, ward->id, strlen(ward->id) + 1);
    }
    free(copy);
    return rc;
}

/* The one-time password and TOTP secret, printed as the spec says. */
static int print_secrets(const cli *c, const char *otp, const char *totp) {
    char uri[GW_OFF_TOTP_URI_MAX];
    if (gw_off_totp_uri(c->user, totp, uri, sizeof uri))
        return EXIT_RUNTIME;
    printf("password: %s\ntotp: %s\n", otp, uri);
    OPENSSL_cleanse(uri, sizeof uri);
    return fflush(stdout) ? EXIT_RUNTIME : 0;
}

/* ------------------------------------------------------------------ actions */

static int do_add(cli *c) {
    gw_off_role role = gw_off_role_parse(c->role);
    char areas[AREAS_MAX], otp[GW_OFF_OTP_LEN + 1], totp[GW_OFF_TOTP_B32_MAX],
        hash[GW_OFF_HASH_MAX], now[24], key[GW_KEYS_MAX], idx[GW_KEYS_MAX], login[GW_KEYS_MAX];
    if (!role) {
        fprintf(stderr, "%s officer add: --role is admin, officer or viewer\n", c->prog);
        return EXIT_USAGE;
    }
    int rc = areas_of(c, areas, sizeof areas);
    if (rc)
        return rc;
    gw_off_otp(otp);
    if (gw_off_totp_secret(totp) || gw_off_password_hash(otp, strlen(otp), hash)) {
        fprintf(stderr, "%s officer add: cannot make the secrets\n", c->prog);
        return EXIT_RUNTIME;
    }
    char who[GW_OFF_USER_MAX + 8];
    snprintf(who, sizeof who, "login:%s", c->user);
    gw_key(c->ks, login, sizeof login, GW_K_LOGIN, gw_keyspace_part_of(c->ks, who, strlen(who)),
           c->user);
    const char *lk[] = {login, NULL}, *la[] = {c->dept, NULL};
    redisReply *r = eval(c, gw_off_login_lua, "login_lua", lk, la);
    if (!r)
        return EXIT_RUNTIME;
    long long claimed = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    if (claimed != 1) {
        fprintf(stderr, "%s officer add: the user name %s belongs to another department\n", c->prog,
                c->user);
        return EXIT_RUNTIME;
    }
    dept_key(c, key, sizeof key, GW_K_OFFICER, c->user);
    dept_key(c, idx, sizeof idx, GW_K_OFFICERS, NULL);
    snprintf(now, sizeof now, "%" PRId64, now_ms());
    const char *keys[] = {key, idx, NULL};
    const char *args[] = {c->user, gw_off_role_name(role), areas, hash, totp, now, c->actor, NULL};
    r = eval(c, gw_off_add_lua, "add_lua", keys, args);
    if (!r)
        return EXIT_RUNTIME;
    long long made = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    if (made != 1) {
        fprintf(stderr, "%s officer add: the officer %s of %s exists (reset gives new secrets)\n",
                c->prog, c->user, c->dept);
        return EXIT_RUNTIME;
    }
    /* as the API writes it: {"areas":[...],"role":"..."} */
    json_t *arr = json_array();
    for (char *save = NULL, *w = strtok_r(areas, ",", &save); w; w = strtok_r(NULL, ",", &save))
        json_array_append_new(arr, json_string(w));
    json_t *ch = json_pack("{s:o, s:s}", "areas", arr, "role", gw_off_role_name(role));
    char *changes = ch ? json_dumps(ch, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(ch);
    audit(c, "officer.add", changes);
    free(changes);
    rc = print_secrets(c, otp, totp);
    OPENSSL_cleanse(otp, sizeof otp);
    OPENSSL_cleanse(totp, sizeof totp);
    return rc;
}

static int do_list(cli *c) {
    char idx[GW_KEYS_MAX];
    dept_key(c, idx, sizeof idx, GW_K_OFFICERS, NULL);
    const char *keys[] = {idx, NULL}, *args[] = {c->dept, NULL};
    redisReply *r = eval(c, gw_off_list_lua, "list_lua", keys, args);
    if (!r)
        return EXIT_RUNTIME;
    printf("user\trole\tareas\tstate\tmust_change_password\n");
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + GW_OFF_LIST_FIELDS <= r->elements;
         i += GW_OFF_LIST_FIELDS) {
        const char *f[GW_OFF_LIST_FIELDS];
        for (size_t k = 0; k < GW_OFF_LIST_FIELDS; k++)
            f[k] = r->element[i + k]->type == REDIS_REPLY_STRING ? r->element[i + k]->str : "";
        printf("%s\t%s\t%s\t%s\t%s\n", f[0], f[1], f[2], f[3], !strcmp(f[7], "1") ? "yes" : "no");
    }
    freeReplyObject(r);
    return fflush(stdout) ? EXIT_RUNTIME : 0;
}

static int do_state(cli *c, bool disable) {
    char key[GW_KEYS_MAX], now[24];
    dept_key(c, key, sizeof key, GW_K_OFFICER, c->user);
    snprintf(now, sizeof now, "%" PRId64, now_ms());
    const char *keys[] = {key, NULL}, *args[] = {disable ? "disabled" : "enabled", now, NULL};
    redisReply *r = eval(c, gw_off_state_lua, "state_lua", keys, args);
    if (!r)
        return EXIT_RUNTIME;
    long long head = r->type == REDIS_REPLY_ARRAY && r->elements ? r->element[0]->integer : -2;
    freeReplyObject(r);
    if (head == -2) {
        fprintf(stderr, "%s officer: no officer %s in %s\n", c->prog, c->user, c->dept);
        return EXIT_RUNTIME;
    }
    if (head == 1)
        audit(c, disable ? "officer.disable" : "officer.enable", NULL);
    printf("%s: %s%s\n", c->user, disable ? "disabled" : "enabled", head == 1 ? "" : " (already)");
    return fflush(stdout) ? EXIT_RUNTIME : 0;
}

static int do_reset(cli *c) {
    char key[GW_KEYS_MAX], now[24], otp[GW_OFF_OTP_LEN + 1], totp[GW_OFF_TOTP_B32_MAX],
        hash[GW_OFF_HASH_MAX];
    gw_off_otp(otp);
    if (gw_off_totp_secret(totp) || gw_off_password_hash(otp, strlen(otp), hash)) {
        fprintf(stderr, "%s officer reset: cannot make the secrets\n", c->prog);
        return EXIT_RUNTIME;
    }
    dept_key(c, key, sizeof key, GW_K_OFFICER, c->user);
    snprintf(now, sizeof now, "%" PRId64, now_ms());
    const char *keys[] = {key, NULL}, *args[] = {hash, totp, now, NULL};
    redisReply *r = eval(c, gw_off_reset_lua, "reset_lua", keys, args);
    if (!r)
        return EXIT_RUNTIME;
    long long head = r->type == REDIS_REPLY_ARRAY && r->elements ? r->element[0]->integer : -2;
    freeReplyObject(r);
    if (head != 1) {
        fprintf(stderr, "%s officer reset: no officer %s in %s\n", c->prog, c->user, c->dept);
        return EXIT_RUNTIME;
    }
    audit(c, "officer.reset", NULL);
    int rc = print_secrets(c, otp, totp);
    OPENSSL_cleanse(otp, sizeof otp);
    OPENSSL_cleanse(totp, sizeof totp);
    return rc;
}

/* ------------------------------------------------------------------ the rest */

/* A connection to host (a socket path when port is 0) with AUTH and SELECT done, or NULL
 * with the reason printed. */
static redisContext *link_to(const cli *c, const char *host, int port) {
    const gw_redis_addr *a = &c->cfg->redis;
    struct timeval tv = {CONNECT_TIMEOUT_S, 0};
    redisContext *rc =
        port ? redisConnectWithTimeout(host, port, tv) : redisConnectUnixWithTimeout(host, tv);
    redisReply *r = NULL;
    if (!rc || rc->err) {
        fprintf(stderr, "%s officer: cannot reach Redis at %s:%d: %s\n", c->prog, host, port,
                rc ? rc->errstr : "out of memory");
        goto fail;
    }
    redisSetTimeout(rc, tv);
    if (*a->password &&
        (!(r = redisCommand(rc, "AUTH %s", a->password)) || r->type == REDIS_REPLY_ERROR)) {
        fprintf(stderr, "%s officer: Redis refused the password\n", c->prog);
        goto fail;
    }
    freeReplyObject(r);
    r = NULL;
    if (a->db && (!(r = redisCommand(rc, "SELECT %d", a->db)) || r->type == REDIS_REPLY_ERROR)) {
        fprintf(stderr, "%s officer: Redis refused SELECT %d\n", c->prog, a->db);
        goto fail;
    }
    freeReplyObject(r);
    return rc;
fail:
    freeReplyObject(r);
    if (rc)
        redisFree(rc);
    return NULL;
}

/* The configured Redis, or in a cluster the first seed that answers. */
static int connect_redis(cli *c) {
    const gw_redis_addr *a = &c->cfg->redis;
    if (a->kind != GW_REDIS_CLUSTER)
        c->rc = link_to(c, a->host, a->kind == GW_REDIS_UNIX ? 0 : a->port);
    for (int i = 0; a->kind == GW_REDIS_CLUSTER && !c->rc && i < a->n_seeds; i++)
        c->rc = link_to(c, a->seeds[i].host, a->seeds[i].port);
    if (!c->rc) {
        fprintf(stderr, "%s officer: cannot reach Redis at %s\n", c->prog, c->cfg->redis_url);
        return EXIT_RUNTIME;
    }
    return 0;
}

static void usage(FILE *f, const char *prog) {
    fprintf(f,
            "Usage: %s officer add --dept DEPT --user USER --role admin|officer|viewer "
            "[--areas W1,W2|*]\n"
            "       %s officer list --dept DEPT\n"
            "       %s officer disable|enable|reset --dept DEPT --user USER\n"
            "  (every one also takes --config FILE and --redis URL)\n",
            prog, prog, prog);
}

int gw_officer_cli(int argc, char **argv, const char *prog) {
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"redis", required_argument, NULL, 'r'},
        {"dept", required_argument, NULL, 'd'},   {"user", required_argument, NULL, 'u'},
        {"role", required_argument, NULL, 'R'},   {"areas", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    cli c = {.prog = prog};
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        usage(argc < 1 ? stderr : stdout, prog);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    c.action = argv[0];
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': c.config = optarg; break;
        case 'r': c.redis = optarg; break;
        case 'd': c.dept = optarg; break;
        case 'u': c.user = optarg; break;
        case 'R': c.role = optarg; break;
        case 'a': c.areas = optarg; break;
        case 'h': usage(stdout, prog); return 0;
        default:
            fprintf(stderr, "%s officer: unknown or incomplete option '%s'\n", prog,
                    argv[optind - 1]);
            usage(stderr, prog);
            return EXIT_USAGE;
        }
    }
    static const char *const actions[] = {"add", "list", "disable", "enable", "reset"};
    size_t k = 0;
    while (k < MC_ARRAY_LEN(actions) && strcmp(actions[k], c.action))
        k++;
    if (k == MC_ARRAY_LEN(actions) || optind < argc) {
        fprintf(stderr, "%s officer: %s '%s'\n", prog,
                k == MC_ARRAY_LEN(actions) ? "unknown action" : "unexpected argument",
                k == MC_ARRAY_LEN(actions) ? c.action : argv[optind]);
        usage(stderr, prog);
        return EXIT_USAGE;
    }
    bool needs_user = strcmp(c.action, "list") != 0;
    if (!c.dept || !dept_ok(c.dept) ||
        (needs_user && (!c.user || !gw_off_user_ok(c.user, strlen(c.user)))) ||
        (!strcmp(c.action, "add") && !c.role) || ((c.role || c.areas) && strcmp(c.action, "add"))) {
        fprintf(stderr, "%s officer %s: %s\n", prog, c.action,
                !c.dept || !dept_ok(c.dept) ? "--dept DEPT is needed (a-z, 0-9, _, - and .)"
                : needs_user && (!c.user || !gw_off_user_ok(c.user, strlen(c.user)))
                    ? "--user USER is needed (a-z, 0-9, '.', '_', '-', '@'; at most 64)"
                : !strcmp(c.action, "add") ? "--role admin|officer|viewer is needed"
                                           : "--role and --areas belong to add");
        return EXIT_USAGE;
    }
    gw_boot_opts bo = {c.config, NULL, c.redis};
    if (!(c.cfg = gw_boot_config(&bo, prog)))
        return EXIT_USAGE;
    const struct passwd *pw = getpwuid(getuid());
    snprintf(c.actor, sizeof c.actor, "cli:%s", pw && pw->pw_name ? pw->pw_name : "unknown");
    int rc = EXIT_RUNTIME;
    char share[PATH_MAX], err[256];
    if (!(c.ks = gw_keyspace_new((unsigned)c.cfg->redis_partitions)))
        goto out;
    if (!strcmp(c.action, "add") && c.areas && strcmp(c.areas, "*")) {
        /* the wards are the understanding engine's (gw_shared): loaded only to check areas */
        if (gw_boot_share_dir(c.cfg, share, sizeof share)) {
            fprintf(stderr, "%s officer: cannot find the data folder (set [server] share_dir)\n",
                    prog);
            rc = EXIT_USAGE;
            goto out;
        }
        if (!(c.nlu = gw_boot_nlu(c.cfg, share, prog)) ||
            !(c.shared = gw_shared_new(c.nlu, err, sizeof err))) {
            if (c.nlu)
                fprintf(stderr, "%s officer: %s\n", prog, err);
            goto out;
        }
    }
    if ((rc = connect_redis(&c)))
        goto out;
    switch (k) {
    case 0: rc = do_add(&c); break;
    case 1: rc = do_list(&c); break;
    case 2: rc = do_state(&c, true); break;
    case 3: rc = do_state(&c, false); break;
    default: rc = do_reset(&c); break;
    }
out:
    if (c.rc)
        redisFree(c.rc);
    gw_shared_free(c.shared);
    nlu_engine_free(c.nlu);
    gw_keyspace_free(c.ks);
    gw_config_free(c.cfg);
    return rc;
}
