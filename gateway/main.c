/*
 * main.c — the motcua command line: serve, classify, ask, check-config, train, keys,
 * officer.
 *
 * The command table below is the list of commands; each takes its own flags.
 * Exit status: 0 success, 1 runtime failure, 2 usage or configuration error
 * (../shared/spec/operations.md). Errors go to stderr, one line each.
 */
#include "channels/ch.h"
#include "channels/webchat.h"
#include "core/mc.h"
#include "gateway/app/gw_clock.h"
#include "gateway/app/gw_config.h"
#include "gateway/app/gw_log.h"
#include "gateway/gw_boot.h"
#include "gateway/gw_officer_cli.h"
#include "gateway/gw_serve.h"
#include "gateway/store/gw_keys.h"
#include "intents/nlu.h"
#include "intents/nlu_model.h"
#include "vi-nlp/vn_norm.h"
#include "vi-nlp/vn_utf8.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MOTCUA_VERSION
#define MOTCUA_VERSION "0.0.0"
#endif

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static const char *prog = "motcua";

typedef struct opts {
    const char *config;  /* --config FILE */
    const char *listen;  /* --listen HOST:PORT */
    const char *redis;   /* --redis URL */
    const char *role;    /* --role */
    const char *channel; /* --channel (ask) */
    const char *data;    /* --data FILE (train) */
    const char *out;     /* --out FILE (train) */
} opts;

static gw_config *load_config(const opts *o) {
    gw_boot_opts b = {o->config, o->listen, o->redis};
    return gw_boot_config(&b, prog);
}

/* The understanding engine of share folder; NULL with the reason printed. */
/* The share folder into share (PATH_MAX bytes): 0, or MC_ENOTFOUND once said, for the
 * command cmd ("" for the top). */
static int find_share(const gw_config *c, char *share, const char *cmd) {
    if (!gw_boot_share_dir(c, share, PATH_MAX))
        return 0;
    fprintf(stderr,
            "%s%s%s: cannot find intents/data (set [server] share_dir or "
            "MOTCUA_SERVER_SHARE_DIR)\n",
            prog, *cmd ? " " : "", cmd);
    return MC_ENOTFOUND;
}

static nlu_engine *open_nlu(const gw_config *c) {
    char share[PATH_MAX];
    return find_share(c, share, "") ? NULL : gw_boot_nlu(c, share, prog);
}

/* ---- serve ---- */

static int cmd_serve(const opts *o) {
    static const struct {
        const char *name;
        unsigned roles;
    } roles[] = {
        {"all", GW_ROLE_ALL}, {"gateway", GW_ROLE_GATEWAY}, {"dispatcher", GW_ROLE_DISPATCHER}};
    const char *role = o->role ? o->role : "all";
    unsigned mask = 0;
    for (size_t i = 0; i < MC_ARRAY_LEN(roles); i++)
        if (!strcmp(role, roles[i].name))
            mask = roles[i].roles;
    if (!mask) {
        fprintf(stderr, "%s serve: --role must be all, gateway or dispatcher\n", prog);
        return EXIT_USAGE;
    }
    gw_config *cfg = load_config(o);
    if (!cfg)
        return EXIT_USAGE;
    if (cfg->server_test_clock && gw_clock_shift_str(getenv(GW_CLOCK_OFFSET_ENV))) {
        fprintf(stderr, "%s serve: %s must be whole milliseconds\n", prog, GW_CLOCK_OFFSET_ENV);
        gw_config_free(cfg);
        return EXIT_USAGE;
    }
    gw_log_set_level(cfg->log_level);
    signal(SIGPIPE, SIG_IGN);
    char share[PATH_MAX];
    int rc = EXIT_USAGE;
    if (!find_share(cfg, share, "serve"))
        rc = gw_serve(cfg, share, mask, role);
    gw_config_free(cfg);
    return rc;
}

/* ---- classify ---- */

static void emit(json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(4));
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(o);
}

/* One output line of classify, written straight into a buffer reused from line to
 * line: building jansson objects and dumping them was a third of a classified
 * message's instructions. The bytes are jansson's (JSON_COMPACT,
 * JSON_REAL_PRECISION(4)): keys in this order, strings escaped as it escapes them, the
 * confidence as "%.4g" with ".0" when that has no point. */
typedef struct jline {
    char *p;         /* the line */
    size_t len, cap; /* bytes used, allocated */
    int oom;         /* a growth failed: the line is dropped */
} jline;

#define JLINE_FIRST 1024 /* bytes first taken for a line */

static void jl_put(jline *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : JLINE_FIRST;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void jl_lit(jline *b, const char *s) {
    jl_put(b, s, strlen(s));
}

/* A JSON string of valid UTF-8 s: '"', '\\' and the controls escaped, as jansson does. */
static void jl_str(jline *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF"; /* jansson: \\u%04X */
    jl_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jl_put(b, s + run, i - run);
        run = i + 1;
        char e[6] = {'\\', 0};
        size_t el = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            el = 6;
        }
        jl_put(b, e, el);
    }
    jl_put(b, s + run, n - run);
    jl_put(b, "\"", 1);
}

/* ,"key":"value" (or {"key":"value" first). */
static void jl_field(jline *b, int *first, const char *key, const char *v) {
    jl_put(b, *first ? "{" : ",", 1);
    *first = 0;
    jl_str(b, key, strlen(key));
    jl_put(b, ":", 1);
    jl_str(b, v, strlen(v));
}

/* The classification of `line` as its output line. */
static void classify_line(jline *b, const char *line, size_t len, const nlu_result *r) {
    char num[40];
    b->len = 0;
    b->oom = 0;
    jl_lit(b, "{\"text\":");
    jl_str(b, line, len);
    jl_lit(b, ",\"intent\":");
    jl_str(b, r->intent, strlen(r->intent));
    /* jansson's real: %.4g, then ".0" when it reads as an integer */
    int n = snprintf(num, sizeof num, "%.4g", round(r->confidence * 100.0) / 100.0);
    if (n > 0 && !strpbrk(num, ".eE") && (size_t)n + 2 < sizeof num)
        memcpy(num + n, ".0", 3);
    jl_lit(b, ",\"confidence\":");
    jl_lit(b, num);
    jl_lit(b, ",\"entities\":");
    int first = 1;
    if (r->procedure)
        jl_field(b, &first, "procedure", r->procedure);
    if (r->dossier_code[0])
        jl_field(b, &first, "dossier_code", r->dossier_code);
    if (r->report_ticket[0])
        jl_field(b, &first, "report_ticket", r->report_ticket);
    if (r->phone[0])
        jl_field(b, &first, "phone", r->phone);
    if (r->citizen_id[0])
        jl_field(b, &first, "citizen_id", r->citizen_id);
    if (r->issue_category)
        jl_field(b, &first, "issue_category", r->issue_category);
    if (r->age >= 0) { /* an extension of the contract: the catalog's age rules */
        jl_lit(b, first ? "{\"age\":" : ",\"age\":");
        first = 0;
        snprintf(num, sizeof num, "%d", r->age);
        jl_lit(b, num);
    }
    if (r->ward_id && r->ward_name) { /* an extension of the contract, for notify.subscribe */
        jl_lit(b, first ? "{\"ward\":" : ",\"ward\":");
        first = 0;
        int wf = 1;
        jl_field(b, &wf, "id", r->ward_id);
        jl_field(b, &wf, "name", r->ward_name);
        jl_lit(b, "}");
    }
    jl_lit(b, first ? "{}}\n" : "}}\n");
}

static int cmd_classify(const opts *o) {
    gw_config *cfg = load_config(o);
    if (!cfg)
        return EXIT_USAGE;
    nlu_engine *e = open_nlu(cfg);
    gw_config_free(cfg);
    if (!e)
        return EXIT_RUNTIME;
    int interactive = isatty(STDIN_FILENO);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    jline out = {0};
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (!vn_utf8_valid(line, len, NULL)) {
            emit(json_pack("{s:s, s:i}", "error", "invalid_utf8", "line", (json_int_t)lineno));
            goto next;
        }
        nlu_result r;
        int rc = nlu_classify(e, line, len, &r);
        if (rc) {
            emit(json_pack("{s:s, s:s%, s:i}", "error",
                           rc == MC_ETOOBIG ? "too_long"
                           : rc == MC_EUTF8 ? "invalid_utf8"
                                            : "internal",
                           "text", line, rc == MC_ETOOBIG ? (size_t)0 : len, "line",
                           (json_int_t)lineno));
            goto next;
        }
        classify_line(&out, line, len, &r);
        if (!out.oom)
            fwrite(out.p, 1, out.len, stdout);
    next:
        if (interactive)
            fflush(stdout);
    }
    free(line);
    free(out.p);
    nlu_engine_free(e);
    return fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
}

/* ---- ask ---- */

static int cmd_ask(const opts *o, int argc, char **argv) {
    if (o->channel && strcmp(o->channel, WEBCHAT_CHANNEL) && !ch_adapter_find(o->channel)) {
        fprintf(stderr, "%s ask: --channel must be %s", prog, WEBCHAT_CHANNEL);
        for (size_t i = 0; i < ch_adapter_count(); i++)
            fprintf(stderr, "%s%s", i + 1 < ch_adapter_count() ? ", " : " or ",
                    ch_adapter_at(i)->name);
        fprintf(stderr, "\n");
        return EXIT_USAGE;
    }
    if (argc == 0) {
        fprintf(stderr, "%s ask: say something, e.g. %s ask lam khai sinh can giay to gi\n", prog,
                prog);
        return EXIT_USAGE;
    }
    size_t total = 0;
    for (int i = 0; i < argc; i++)
        total += strlen(argv[i]) + 1;
    char *text = malloc(total + 1);
    if (!text)
        return EXIT_RUNTIME;
    text[0] = '\0';
    for (int i = 0; i < argc; i++) {
        if (i)
            strcat(text, " ");
        strcat(text, argv[i]);
    }
    gw_config *cfg = load_config(o);
    nlu_engine *e = cfg ? open_nlu(cfg) : NULL;
    gw_config_free(cfg);
    int rc = cfg ? EXIT_RUNTIME : EXIT_USAGE;
    if (!e)
        goto out;
    nlu_reply rep;
    int r = nlu_respond(e, text, strlen(text), NULL, &rep);
    if (r) {
        fprintf(stderr, "%s ask: %s\n", prog, mc_strerror(r));
        rc = r == MC_EUTF8 || r == MC_ETOOBIG ? EXIT_USAGE : EXIT_RUNTIME;
        goto out;
    }
    printf("%.*s\n", (int)rep.text_len, rep.text);
    for (size_t i = 0; i < rep.n_quick; i++)
        printf("  [%s]\n", rep.quick[i].title);
    nlu_reply_free(&rep);
    rc = 0;
out:
    nlu_engine_free(e);
    free(text);
    return rc;
}

/* ---- check-config ---- */

static int cmd_check_config(const opts *o) {
    gw_config *c = load_config(o);
    if (!c)
        return EXIT_USAGE;
    printf("%s: configuration OK (listen %s, redis %s)\n", o->config ? o->config : "(defaults)",
           c->listen, c->redis_url);
    gw_config_free(c);
    return 0;
}

/* ---- train ---- */

#define TRAIN_DEFAULT_DATA "intents/data/train.tsv" /* under the share folder */
#define TRAIN_DEFAULT_OUT "build/nlu.model"         /* under the working directory */

/* Trains the intent model (intents/nlu_model.h) on --data with the same normalizer the
 * engine uses (vi-nlp/data tables loaded), prints progress on stdout, writes --out. */
static int cmd_train(const opts *o) {
    gw_config *cfg = load_config(o);
    if (!cfg)
        return EXIT_USAGE;
    char share[PATH_MAX], vdir[PATH_MAX + 16], data[PATH_MAX + 32], err[512];
    int rc = EXIT_RUNTIME;
    vn_normalizer *vn = NULL;
    if (find_share(cfg, share, "train"))
        goto out;
    snprintf(vdir, sizeof vdir, "%s/vi-nlp/data", share);
    snprintf(data, sizeof data, "%s/%s", share, TRAIN_DEFAULT_DATA);
    if (!(vn = vn_normalizer_new(err, sizeof err)) ||
        vn_normalizer_load(vn, vdir, err, sizeof err) != 0) {
        fprintf(stderr, "%s train: %s\n", prog, err);
        goto out;
    }
    nlu_train_opts to = {.log = stdout};
    const char *outp = o->out ? o->out : TRAIN_DEFAULT_OUT;
    if (nlu_model_train(vn, o->data ? o->data : data, &to, outp, err, sizeof err) != 0) {
        fprintf(stderr, "%s train: %s\n", prog, err);
        goto out;
    }
    rc = fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
out:
    vn_normalizer_free(vn);
    gw_config_free(cfg);
    return rc;
}

/* ---- keys ---- */

/* With no word: the keyspace table (store/gw_keys.c), one family per line. With a family
 * and its partition (a number, or an identity such as "zalo:u1" or "dept:tuphap") and its
 * parts: that key, for an operator's redis-cli. */
static int cmd_keys(const opts *o, int argc, char **argv) {
    gw_config *cfg = load_config(o);
    if (!cfg)
        return EXIT_USAGE;
    int rc = EXIT_USAGE;
    gw_keyspace *ks = gw_keyspace_new((unsigned)cfg->redis_partitions);
    size_t n;
    const gw_key_spec *t = gw_keys_table(&n);
    if (!ks) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    if (argc == 0) {
        printf("family\tparts\ttype\tpartition\twritten by\texpiry\n");
        for (size_t i = 0; i < n; i++)
            printf("%s\t%d\t%s\t%s\t%s\t%s\n", t[i].family, t[i].arity, t[i].type, t[i].tag,
                   t[i].writers, t[i].expiry);
        rc = 0;
        goto out;
    }
    const gw_key_spec *k = NULL;
    for (size_t i = 0; i < n && !k; i++)
        if (!strcmp(t[i].family, argv[0]))
            k = &t[i];
    int given = argc - 1 - (k && !k->own_tag); /* parts after the partition */
    if (!k || given != k->arity || k->arity > 3) {
        fprintf(stderr, "%s keys: %s\n", prog,
                !k ? "unknown family (motcua keys lists them)"
                   : "give the partition (unless the family has its own tag), then its parts");
        goto out;
    }
    unsigned part = GW_KEY_OWN;
    if (!k->own_tag) {
        char *end;
        unsigned long p = strtoul(argv[1], &end, 10);
        part = *argv[1] && !*end ? (unsigned)p : gw_keyspace_part_of(ks, argv[1], strlen(argv[1]));
    }
    char **parts = argv + argc - given;
    char key[GW_KEYS_MAX];
    if (gw_key(ks, key, sizeof key, k->id, part, given > 0 ? parts[0] : "",
               given > 1 ? parts[1] : "", given > 2 ? parts[2] : "") < 0) {
        fprintf(stderr, "%s keys: no such partition, or the key is too long\n", prog);
        goto out;
    }
    printf("%s\n", key);
    rc = 0;
out:
    gw_keyspace_free(ks);
    gw_config_free(cfg);
    return rc;
}

/* ---- the command table ---- */

typedef struct command {
    const char *name;  /* as typed */
    const char *usage; /* one line of flags */
    const char *help;  /* what it does */
} command;

static const command commands[] = {
    {"serve", "[--config FILE] [--listen HOST:PORT] [--redis URL] [--role all|gateway|dispatcher]",
     "run the gateway: web chat, HTTP endpoints, Redis-backed sessions"},
    {"classify", "[--config FILE]",
     "read one message per line on stdin, print one JSON classification per line"},
    {"ask", "[--config FILE] [--channel NAME] TEXT...", "print the reply the assistant would give"},
    {"check-config", "[--config FILE]", "validate a configuration; one line per problem"},
    {"train", "[--config FILE] [--data FILE] [--out FILE]",
     "train the intent model (default intents/data/train.tsv -> build/nlu.model)"},
    {"keys", "[--config FILE] [FAMILY [PARTITION|IDENTITY] [PART...]]",
     "list the Redis keyspace, or print one key (for redis-cli)"},
    {"officer",
     "add|list|disable|enable|reset --dept DEPT [--user USER] [--role admin|officer|viewer] "
     "[--areas W1,W2|*] [--config FILE] [--redis URL]",
     "officers' console accounts: add prints a one-time password and a TOTP URI"},
};

static void usage(FILE *f) {
    fprintf(f, "motcua %s — citizen assistant and notification gateway\n\nUsage:\n",
            MOTCUA_VERSION);
    for (size_t i = 0; i < MC_ARRAY_LEN(commands); i++)
        fprintf(f, "  motcua %s %s\n      %s\n", commands[i].name, commands[i].usage,
                commands[i].help);
    fprintf(f,
            "  motcua --version | --help | COMMAND --help\n\n"
            "Every configuration key can be set as MOTCUA_<SECTION>_<KEY> in the environment.\n");
}

static const command *find_command(const char *name) {
    for (size_t i = 0; i < MC_ARRAY_LEN(commands); i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("motcua %s\n", MOTCUA_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    const command *cmd = find_command(argv[1]);
    if (!cmd) {
        fprintf(stderr, "%s: unknown command '%s' (try motcua --help)\n", prog, argv[1]);
        return EXIT_USAGE;
    }
    if (!strcmp(cmd->name, "officer")) /* its own flags: --dept, --user, ... */
        return gw_officer_cli(argc - 2, argv + 2, prog);
    static const struct option long_opts[] = {{"config", required_argument, NULL, 'c'},
                                              {"listen", required_argument, NULL, 'l'},
                                              {"redis", required_argument, NULL, 'r'},
                                              {"role", required_argument, NULL, 'R'},
                                              {"channel", required_argument, NULL, 'C'},
                                              {"help", no_argument, NULL, 'h'},
                                              {"data", required_argument, NULL, 'd'},
                                              {"out", required_argument, NULL, 'o'},
                                              {NULL, 0, NULL, 0}};
    opts o = {0};
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    int ch;
    opterr = 0;
    /* "+" stops at the first non-option, so `ask` keeps its words. */
    while ((ch = getopt_long(sub_argc, sub_argv, "+c:h", long_opts, NULL)) != -1) {
        switch (ch) {
        case 'c': o.config = optarg; break;
        case 'l': o.listen = optarg; break;
        case 'r': o.redis = optarg; break;
        case 'R': o.role = optarg; break;
        case 'C': o.channel = optarg; break;
        case 'd': o.data = optarg; break;
        case 'o': o.out = optarg; break;
        case 'h': printf("Usage: motcua %s %s\n  %s\n", cmd->name, cmd->usage, cmd->help); return 0;
        default:
            fprintf(stderr, "%s %s: unknown or incomplete option '%s'\nUsage: motcua %s %s\n", prog,
                    cmd->name, sub_argv[optind - 1], cmd->name, cmd->usage);
            return EXIT_USAGE;
        }
    }
    int is_ask = !strcmp(cmd->name, "ask"), is_keys = !strcmp(cmd->name, "keys");
    if ((o.listen || o.redis || o.role) && strcmp(cmd->name, "serve")) {
        fprintf(stderr, "%s %s: --listen, --redis and --role belong to serve\n", prog, cmd->name);
        return EXIT_USAGE;
    }
    if (o.channel && !is_ask) {
        fprintf(stderr, "%s %s: --channel belongs to ask\n", prog, cmd->name);
        return EXIT_USAGE;
    }
    if ((o.data || o.out) && strcmp(cmd->name, "train")) {
        fprintf(stderr, "%s %s: --data and --out belong to train\n", prog, cmd->name);
        return EXIT_USAGE;
    }
    if (!is_ask && !is_keys && optind < sub_argc) {
        fprintf(stderr, "%s %s: unexpected argument '%s'\n", prog, cmd->name, sub_argv[optind]);
        return EXIT_USAGE;
    }
    if (!strcmp(cmd->name, "serve"))
        return cmd_serve(&o);
    if (!strcmp(cmd->name, "classify"))
        return cmd_classify(&o);
    if (is_ask)
        return cmd_ask(&o, sub_argc - optind, sub_argv + optind);
    if (!strcmp(cmd->name, "train"))
        return cmd_train(&o);
    if (is_keys)
        return cmd_keys(&o, sub_argc - optind, sub_argv + optind);
    return cmd_check_config(&o);
}
