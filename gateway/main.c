/*
 * main.c — the motcua command line: serve, classify, ask, check-config, train.
 *
 * The command table below is the list of commands; each takes its own flags.
 * Exit status: 0 success, 1 runtime failure, 2 usage or configuration error
 * (../shared/spec/operations.md). Errors go to stderr, one line each.
 */
#include "core/mc.h"
#include "gateway/gw_admin.h"
#include "gateway/gw_app.h"
#include "gateway/gw_config.h"
#include "gateway/gw_console.h"
#include "gateway/gw_http.h"
#include "gateway/gw_inbound.h"
#include "gateway/gw_clock.h"
#include "gateway/gw_report.h"
#include "gateway/gw_sched.h"
#include "gateway/gw_sender.h"
#include "gateway/gw_worker.h"
#include "gateway/gw_log.h"
#include "gateway/gw_metrics.h"
#include "gateway/gw_store.h"
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
#define MAX_PAGE_BYTES (1 << 20) /* the web chat and console pages are small files */

extern char **environ;

static const char *prog = "motcua";

/* ---- configuration ---- */

typedef struct opts {
    const char *config;  /* --config FILE */
    const char *listen;  /* --listen HOST:PORT */
    const char *redis;   /* --redis URL */
    const char *role;    /* --role */
    const char *channel; /* --channel (ask) */
    const char *data;    /* --data FILE (train) */
    const char *out;     /* --out FILE (train) */
} opts;

/* Loads file + environment + flags; prints every problem and returns NULL on any. */
static gw_config *load_config(const opts *o) {
    gw_config *c = gw_config_new();
    if (!c) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return NULL;
    }
    gw_errlist errs = {0};
    if (o->config)
        gw_config_load_file(c, o->config, &errs);
    gw_config_apply_env(c, environ, &errs);
    if (o->listen)
        gw_config_set(c, "server", "listen", o->listen, "--listen", &errs);
    if (o->redis)
        gw_config_set(c, "redis", "url", o->redis, "--redis", &errs);
    if (errs.n == 0)
        gw_config_validate(c, &errs);
    if (errs.n) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.lines[i]);
        gw_errlist_clear(&errs);
        gw_config_free(c);
        return NULL;
    }
    return c;
}

static int file_exists(const char *dir, const char *rel) {
    char p[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, rel) >= sizeof p)
        return 0;
    return stat(p, &st) == 0;
}

/*
 * Finds the folder holding intents/data and gateway/www: [server] share_dir
 * when set, else the working directory, the folders above the executable (a
 * build tree), then /usr/share/motcua (an installed one).
 */
static int find_share_dir(const gw_config *c, char *out, size_t n) {
    const char *probe = "intents/data/procedures.txt";
    if (*c->share_dir) {
        snprintf(out, n, "%s", c->share_dir);
        return file_exists(out, probe) ? 0 : MC_ENOTFOUND;
    }
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[l > 0 ? l : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    char c1[PATH_MAX + 8], c2[PATH_MAX + 8];
    snprintf(c1, sizeof c1, "%s/..", exe);
    snprintf(c2, sizeof c2, "%s/../..", exe);
    const char *cands[] = {".", c1, c2, "/usr/share/motcua"};
    for (size_t i = 0; i < MC_ARRAY_LEN(cands); i++)
        if (file_exists(cands[i], probe)) {
            snprintf(out, n, "%s", cands[i]);
            return 0;
        }
    return MC_ENOTFOUND;
}

/*
 * The trained intent model: [nlu] model (MOTCUA_NLU_MODEL) when set, which must then
 * exist; else nlu.model next to the executable (a build tree: build/motcua and
 * build/nlu.model); else <share>/intents/data/nlu.model (an installed tree). Returns 0 with
 * the path in out, MC_ENOTFOUND when there is none (the engine then runs on its phrase
 * rules), MC_EINVAL when the configured file is missing (message printed).
 */
static int find_model(const gw_config *c, const char *share, char *out, size_t n) {
    struct stat st;
    if (*c->nlu_model) {
        snprintf(out, n, "%s", c->nlu_model);
        if (stat(out, &st) == 0)
            return 0;
        fprintf(stderr, "%s: [nlu] model %s: %s\n", prog, c->nlu_model, strerror(errno));
        return MC_EINVAL;
    }
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[l > 0 ? l : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
        if ((size_t)snprintf(out, n, "%s/nlu.model", exe) < n && stat(out, &st) == 0)
            return 0;
    }
    if ((size_t)snprintf(out, n, "%s/intents/data/nlu.model", share) < n && stat(out, &st) == 0)
        return 0;
    return MC_ENOTFOUND;
}

static nlu_engine *open_nlu(const gw_config *c) {
    char share[PATH_MAX], model[PATH_MAX + 32], err[512];
    if (find_share_dir(c, share, sizeof share)) {
        fprintf(stderr,
                "%s: cannot find intents/data (set [server] share_dir or "
                "MOTCUA_SERVER_SHARE_DIR)\n",
                prog);
        return NULL;
    }
    int mrc = find_model(c, share, model, sizeof model);
    if (mrc == MC_EINVAL)
        return NULL;
    nlu_engine_opts eo = {share, mrc ? NULL : model}; /* no model: the phrase rules */
    nlu_engine *e = nlu_engine_new(&eo, err, sizeof err);
    if (!e)
        fprintf(stderr, "%s: %s\n", prog, err);
    return e;
}

/* Reads <share>/gateway/www/<name> (a page served as is); the caller frees it. */
static char *read_page(const gw_config *c, const char *name, size_t *len) {
    char share[PATH_MAX], path[PATH_MAX + 64];
    if (find_share_dir(c, share, sizeof share))
        return NULL;
    snprintf(path, sizeof path, "%s/gateway/www/%s", share, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_PAGE_BYTES);
    size_t n = buf ? fread(buf, 1, MAX_PAGE_BYTES, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n == MAX_PAGE_BYTES) {
        fprintf(stderr, "%s: %s is empty or larger than %d bytes\n", prog, path, MAX_PAGE_BYTES);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* ---- serve ---- */

/* How long a shutdown waits for the requests already with a provider. */
#define SHUTDOWN_DRAIN_MS 3000

typedef struct serve_ctx {
    gw_app app;                  /* what the server modules share */
    gw_sched *sched;             /* notification scheduler (roles all, dispatcher), owned */
    gw_report *report;           /* stats, dead letters, retention (with the admin API), owned */
    uv_signal_t sigint, sigterm; /* orderly shutdown */
    int stopping;                /* a signal arrived */
} serve_ctx;

/* The last step of a shutdown: everything goes; what is still in flight stays
 * pending in Redis for the next pass. */
static void finish_stop(void *arg) {
    serve_ctx *s = arg;
    /* The store first: its pending callbacks (NULL replies) still find the
     * worker and the sender; what was in flight stays pending in Redis. */
    gw_store_free(s->app.store);
    s->app.store = NULL;
    gw_worker_free(s->app.worker);
    s->app.worker = NULL;
    gw_sched_free(s->sched); /* after the store: no pass can answer any more */
    s->sched = NULL;
    gw_report_free(s->report);
    s->report = NULL;
    gw_sender_free(s->app.sender);
    s->app.sender = NULL;
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
}

/* SIGINT/SIGTERM: no new work is taken (HTTP, stream reads and claims, new
 * sends; the scheduler may still move due notifications onto the streams, where
 * they wait), the requests already with a provider are answered and recorded
 * (up to SHUTDOWN_DRAIN_MS), then everything is freed. */
static void on_signal(uv_signal_t *h, int signum) {
    serve_ctx *s = h->data;
    if (s->stopping)
        return;
    s->stopping = 1;
    gw_log(GW_INFO, "server.stopping", "{s:i}", "signal", signum);
    gw_http_stop(&s->app);
    gw_worker_pause(s->app.worker);
    if (s->app.sender)
        gw_sender_drain(s->app.sender, SHUTDOWN_DRAIN_MS, finish_stop, s);
    else
        finish_stop(s);
}

static void on_store_state(gw_store *st, int up, void *priv) {
    (void)st;
    gw_app *app = priv;
    gw_metrics_gauge_set(app->metrics, GW_G_REDIS_UP, up);
    if (up && app->sender)
        gw_sender_store_up(app->sender);
}

static int cmd_serve(const opts *o) {
    if (o->role && strcmp(o->role, "all") && strcmp(o->role, "gateway") &&
        strcmp(o->role, "dispatcher")) {
        fprintf(stderr, "%s serve: --role must be all, gateway or dispatcher\n", prog);
        return EXIT_USAGE;
    }
    /* gateway: webhooks + conversations; dispatcher: sender + scheduler, no HTTP */
    int http_role = !o->role || strcmp(o->role, "dispatcher");
    int send_role = !o->role || strcmp(o->role, "gateway");
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

    int rc = EXIT_RUNTIME;
    gw_admin *admin = NULL;     /* the department API, when [admin] tokens_file is set */
    gw_console *console = NULL; /* the console's endpoints, with the API */
    uv_loop_t loop;
    serve_ctx s;
    memset(&s, 0, sizeof s);
    uv_loop_init(&loop);
    s.app.loop = &loop;
    s.app.cfg = cfg;
    s.app.nlu = open_nlu(cfg);
    s.app.page = read_page(cfg, "index.html", &s.app.page_len);
    s.app.console = read_page(cfg, "console.html", &s.app.console_len);
    s.app.metrics = gw_metrics_new();
    if (!s.app.nlu || !s.app.page || !s.app.console || !s.app.metrics)
        goto out;
    char share[PATH_MAX], aerr[600] = "cannot find the share folder";
    /* the console's routes first: its paths are more specific than the API's prefixes */
    if (http_role && (find_share_dir(cfg, share, sizeof share) ||
                      gw_console_open(&s.app, share, &console, aerr, sizeof aerr) ||
                      gw_admin_open(&s.app, share, &admin, aerr, sizeof aerr) ||
                      (admin && gw_report_open(&s.app, &s.report, aerr, sizeof aerr)))) {
        fprintf(stderr, "%s serve: %s\n", prog, aerr);
        rc = EXIT_USAGE;
        goto out;
    }
    s.app.store = gw_store_new(&loop, &cfg->redis);
    if (!s.app.store)
        goto out;
    gw_store_on_state(s.app.store, on_store_state, &s.app);
    char err[256];
    if (send_role)
        s.app.sender = gw_sender_new(&s.app, err, sizeof err);
    if (send_role && s.app.sender)
        s.sched = gw_sched_new(&s.app, err, sizeof err);
    if (send_role && !s.sched) {
        fprintf(stderr, "%s serve: %s\n", prog, err);
        gw_store_free(s.app.store);
        s.app.store = NULL;
        gw_sender_free(s.app.sender);
        s.app.sender = NULL;
        uv_run(&loop, UV_RUN_DEFAULT);
        goto out;
    }
    char consumer[300];
    if (*cfg->worker_consumer)
        snprintf(consumer, sizeof consumer, "%s", cfg->worker_consumer);
    else {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(consumer, sizeof consumer, "%s:%d", host, cfg->listen_port);
    }
    snprintf(s.app.consumer, sizeof s.app.consumer, "%s", consumer);
    /* [worker] converse = false makes an ingest-only gateway: webhooks are
     * accepted and stored; other processes hold the conversations. */
    gw_worker_opts wo = {consumer, cfg->worker_claim_idle_ms, http_role && cfg->worker_converse,
                         send_role};
    s.app.worker = gw_worker_new(&s.app, &wo);
    snprintf(err, sizeof err, "cannot register the HTTP routes");
    if (!s.app.worker ||
        (http_role && (gw_inbound_register(&s.app) || gw_http_start(&s.app, err, sizeof err)))) {
        fprintf(stderr, "%s serve: %s\n", prog, s.app.worker ? err : "out of memory");
        gw_store_free(s.app.store);
        s.app.store = NULL;
        gw_worker_free(s.app.worker);
        s.app.worker = NULL;
        gw_sched_free(s.sched);
        s.sched = NULL;
        gw_sender_free(s.app.sender);
        s.app.sender = NULL;
        uv_run(&loop, UV_RUN_DEFAULT);
        goto out;
    }
    uv_signal_init(&loop, &s.sigint);
    uv_signal_init(&loop, &s.sigterm);
    s.sigint.data = s.sigterm.data = &s;
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    gw_log(GW_INFO, "server.listening", "{s:s, s:i, s:s, s:s, s:s}", "host", cfg->listen_host,
           "port", s.app.port, "redis", cfg->redis.host, "role", o->role ? o->role : "all",
           "version", MOTCUA_VERSION);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (s.app.lws)
        lws_context_destroy(s.app.lws);
    gw_log(GW_INFO, "server.stopped", NULL);
    rc = 0;
out:
    gw_report_free(s.report); /* when serving stopped early; on_signal freed it otherwise */
    s.report = NULL;
    if (uv_loop_close(&loop) == UV_EBUSY) {
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    nlu_engine_free(s.app.nlu);
    free(s.app.page);
    free(s.app.console);
    gw_metrics_free(s.app.metrics);
    gw_admin_free(admin);
    gw_console_free(console);
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
        json_t *ents = json_object();
        if (r.procedure)
            json_object_set_new(ents, "procedure", json_string(r.procedure));
        if (r.dossier_code[0])
            json_object_set_new(ents, "dossier_code", json_string(r.dossier_code));
        if (r.phone[0])
            json_object_set_new(ents, "phone", json_string(r.phone));
        if (r.citizen_id[0])
            json_object_set_new(ents, "citizen_id", json_string(r.citizen_id));
        if (r.issue_category)
            json_object_set_new(ents, "issue_category", json_string(r.issue_category));
        if (r.ward_id && r.ward_name) /* an extension of the contract, for notify.subscribe */
            json_object_set_new(ents, "ward",
                                json_pack("{s:s, s:s}", "id", r.ward_id, "name", r.ward_name));
        emit(json_pack("{s:s%, s:s, s:f, s:o}", "text", line, len, "intent", r.intent, "confidence",
                       round(r.confidence * 100.0) / 100.0, "entities", ents));
    next:
        if (interactive)
            fflush(stdout);
    }
    free(line);
    nlu_engine_free(e);
    return fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
}

/* ---- ask ---- */

static int cmd_ask(const opts *o, int argc, char **argv) {
    static const char *channels[] = {"webchat", "zalo", "facebook", "sms"};
    if (o->channel) {
        int ok = 0;
        for (size_t i = 0; i < MC_ARRAY_LEN(channels); i++)
            ok |= !strcmp(o->channel, channels[i]);
        if (!ok) {
            fprintf(stderr, "%s ask: --channel must be webchat, zalo, facebook or sms\n", prog);
            return EXIT_USAGE;
        }
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
    if (find_share_dir(cfg, share, sizeof share)) {
        fprintf(stderr,
                "%s train: cannot find intents/data (set [server] share_dir or "
                "MOTCUA_SERVER_SHARE_DIR)\n",
                prog);
        goto out;
    }
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
    int is_ask = !strcmp(cmd->name, "ask");
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
    if (!is_ask && optind < sub_argc) {
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
    return cmd_check_config(&o);
}
