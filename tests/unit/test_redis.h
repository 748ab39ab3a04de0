/*
 * test_redis.h — a real redis-server for the unit tests that need one: started on
 * a unix socket in a temporary folder (and a TCP port of 127.0.0.1 when asked),
 * with an append-only file fsynced at every write when asked (so that a kill -9
 * and a restart in the same folder keep the data), stopped by pid, read back
 * through hiredis's plain synchronous API. Included by one test file each
 * (static functions): every unit test that starts a redis-server does it here.
 */
#ifndef TEST_REDIS_H
#define TEST_REDIS_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef WAIT_MS
#define WAIT_MS 5000 /* longest wait for a condition (a test file may ask for more) */
#endif
#define REDIS_ARGS_MAX 48   /* redis-server's arguments, NULL included */
#define REDIS_PATH_MAX 256  /* bytes of a path below the test's folder */
#define REDIS_POLL_US 10000 /* between two PINGs while it starts */

extern char **environ;

typedef struct redis_proc {
    char dir[64];
    char sock[128];
    int port; /* TCP port too when > 0 */
    int aof;  /* 1: append-only file, fsynced at every write: a restart keeps the data */
    pid_t pid;
} redis_proc;

/* A link to r's server, authenticated (password may be NULL) and on database db;
 * NULL when it cannot connect. The caller frees it (redisFree). */
static inline redisContext *redis_link(const redis_proc *r, const char *password, int db) {
    redisContext *c = redisConnectUnix(r->sock);
    if (!c || c->err) {
        redisFree(c);
        return NULL;
    }
    if (password)
        freeReplyObject(redisCommand(c, "AUTH %s", password));
    if (db)
        freeReplyObject(redisCommand(c, "SELECT %d", db));
    return c;
}

/* 1 once the server answers PING: +PONG, or NOAUTH (up, behind a password); not while
 * it is still loading its append-only file. */
static inline int redis_answers(const redis_proc *r) {
    redisContext *c = redis_link(r, NULL, 0);
    redisReply *rep = c ? redisCommand(c, "PING") : NULL;
    int up = rep && !(rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "LOADING", 7));
    freeReplyObject(rep);
    redisFree(c);
    return up;
}

/* Starts (or restarts, on the data of r->dir when r->aof) redis-server on dir/r.sock
 * (password may be NULL) with the NULL-terminated extra arguments (may be NULL); 0
 * once it answers PING. Spawned, not forked: the test may run threads (curl's,
 * libuv's) whose locks a forked child would inherit. */
static inline int redis_start_args(redis_proc *r, const char *password, const char *const *extra) {
    const char *argv[REDIS_ARGS_MAX];
    char port[16];
    int n = 0;
    snprintf(port, sizeof port, "%d", r->port);
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--unixsocket";
    argv[n++] = r->sock;
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = r->aof ? "yes" : "no";
    argv[n++] = "--appendfsync";
    argv[n++] = "always";
    if (password) {
        argv[n++] = "--requirepass";
        argv[n++] = password;
    }
    for (int i = 0; extra && extra[i] && n < REDIS_ARGS_MAX - 1; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&r->pid, "redis-server", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        r->pid = 0;
        return -1;
    }
    for (int i = 0; i < WAIT_MS * 1000 / REDIS_POLL_US; i++) {
        if (redis_answers(r))
            return 0;
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
            r->pid = 0;
            return -1;
        }
        usleep(REDIS_POLL_US);
    }
    return -1;
}

static inline int redis_start(redis_proc *r, const char *password) {
    return redis_start_args(r, password, NULL);
}

/* A TCP port of 127.0.0.1 that was free a moment ago. */
static inline int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) &&
        !getsockname(fd, (struct sockaddr *)&a, &len))
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Kills the server (SIGKILL: what it has not written is lost) and waits for it. */
static inline void redis_stop(redis_proc *r) {
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = 0;
    unlink(r->sock);
}

/* The string value of a command's reply ("" for nil, NULL when it failed). */
static inline char *redis_get(const redis_proc *r, const char *password, int db, const char *cmd) {
    redisContext *c = redis_link(r, password, db);
    redisReply *rep = c ? redisCommand(c, cmd) : NULL;
    char *out = NULL;
    if (rep && rep->type == REDIS_REPLY_STRING)
        out = strdup(rep->str);
    else if (rep && rep->type == REDIS_REPLY_NIL)
        out = strdup("");
    freeReplyObject(rep);
    redisFree(c);
    return out;
}

/* The integer value of a command's reply (-1 for any other reply, or when it failed). */
static inline long long redis_int(const redis_proc *r, const char *password, int db,
                                  const char *cmd) {
    redisContext *c = redis_link(r, password, db);
    redisReply *rep = c ? redisCommand(c, cmd) : NULL;
    long long v = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    redisFree(c);
    return v;
}

/* Makes a fresh temporary folder for r (prefix: the test's name); 0 or -1. */
static inline int redis_dir(redis_proc *r, const char *name) {
    snprintf(r->dir, sizeof r->dir, "/tmp/%s_XXXXXX", name);
    if (!mkdtemp(r->dir))
        return -1;
    snprintf(r->sock, sizeof r->sock, "%s/r.sock", r->dir);
    return 0;
}

/* Removes path and everything below it (no link is followed); 0 or -1. */
static inline int redis_rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st))
        return -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char sub[REDIS_PATH_MAX];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub ||
            redis_rm_tree(sub))
            rc = -1;
    }
    closedir(d);
    return rmdir(path) ? -1 : rc;
}

/* Stops the server and removes its folder with what it wrote there (the append-only
 * file, a test's own files); the end of every test that called redis_dir. */
static inline void redis_clear(redis_proc *r) {
    redis_stop(r);
    if (*r->dir && redis_rm_tree(r->dir))
        fprintf(stderr, "could not remove %s\n", r->dir);
}

/* ---- a Redis Cluster on loopback ---- */

#define CLUSTER_MAX_NODES 9          /* nodes of one test cluster */
#define CLUSTER_URL_MAX 512          /* bytes of its redis-cluster:// URL */
#define CLUSTER_ID_MAX 48            /* bytes of a node id, NUL included */
#define CLUSTER_CREATE_WAIT_MS 30000 /* redis-cli --cluster create, and the nodes agreeing */

/* A cluster of `primaries` primaries with `replicas` replicas each, every node a
 * redis_proc (TCP port and its own unix socket) in a folder of dir. */
typedef struct redis_cluster {
    char dir[64];                       /* parent folder of the nodes' folders */
    int n;                              /* nodes started */
    redis_proc node[CLUSTER_MAX_NODES]; /* the nodes */
    int bus[CLUSTER_MAX_NODES];         /* their cluster bus ports */
    char url[CLUSTER_URL_MAX];          /* redis-cluster://127.0.0.1:<port>,... */
} redis_cluster;

/* The reply of cmd on node i (the caller frees it), or NULL. */
static inline redisReply *cluster_cmd(const redis_cluster *c, int i, const char *fmt, ...) {
    redisContext *ctx = redis_link(&c->node[i], NULL, 0);
    if (!ctx)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    redisFree(ctx);
    return rep;
}

/* 1 when node i says cluster_state:ok and knows want nodes. */
static inline int cluster_node_ok(const redis_cluster *c, int i, int want) {
    redisReply *rep = cluster_cmd(c, i, "CLUSTER INFO");
    int ok = 0;
    if (rep && rep->type == REDIS_REPLY_STRING) {
        char known[48];
        snprintf(known, sizeof known, "cluster_known_nodes:%d\r", want);
        ok = strstr(rep->str, "cluster_state:ok") && strstr(rep->str, known);
    }
    freeReplyObject(rep);
    return ok;
}

/* 0 once every live node says cluster_state:ok and knows all n nodes, within ms. */
static inline int cluster_wait_ok(const redis_cluster *c, int ms) {
    for (int t = 0; t < ms * 1000 / REDIS_POLL_US; t++) {
        int all = 1;
        for (int i = 0; i < c->n && all; i++)
            if (c->node[i].pid > 0 && !cluster_node_ok(c, i, c->n))
                all = 0;
        if (all)
            return 0;
        usleep(REDIS_POLL_US);
    }
    return -1;
}

/* 1 when node i is a replica whose link to its primary is up (ROLE: slave ... connected),
 * or a primary. */
static inline int cluster_node_synced(const redis_cluster *c, int i) {
    redisReply *rep = cluster_cmd(c, i, "ROLE");
    int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
             (!strcmp(rep->element[0]->str, "master") ||
              (rep->elements >= 4 && rep->element[3]->type == REDIS_REPLY_STRING &&
               !strcmp(rep->element[3]->str, "connected")));
    freeReplyObject(rep);
    return ok;
}

/* 0 once every live replica has finished its first sync, within ms. */
static inline int cluster_wait_synced(const redis_cluster *c, int ms) {
    for (int t = 0; t < ms * 1000 / REDIS_POLL_US; t++) {
        int all = 1;
        for (int i = 0; i < c->n && all; i++)
            if (c->node[i].pid > 0 && !cluster_node_synced(c, i))
                all = 0;
        if (all)
            return 0;
        usleep(REDIS_POLL_US);
    }
    return -1;
}

/* Node i's id into out (CLUSTER_ID_MAX); 0 or -1. */
static inline int cluster_node_id(const redis_cluster *c, int i, char *out) {
    redisReply *rep = cluster_cmd(c, i, "CLUSTER MYID");
    int rc = rep && rep->type == REDIS_REPLY_STRING && rep->len < CLUSTER_ID_MAX ? 0 : -1;
    if (!rc)
        snprintf(out, CLUSTER_ID_MAX, "%s", rep->str);
    freeReplyObject(rep);
    return rc;
}

/* The node (index) whose TCP port is port, or -1. */
static inline int cluster_node_of_port(const redis_cluster *c, int port) {
    for (int i = 0; i < c->n; i++)
        if (c->node[i].port == port)
            return i;
    return -1;
}

/* Starts node i of c in its own folder, cluster mode on, its bus on c->bus[i]. */
static inline int cluster_spawn(redis_cluster *c, int i, int node_timeout_ms) {
    redis_proc *r = &c->node[i];
    char sub[sizeof r->dir], bus[16], timeout[16];
    if (snprintf(sub, sizeof sub, "%s/n%d", c->dir, i) >= (int)sizeof sub ||
        strlen(sub) + sizeof "/r.sock" > sizeof r->sock)
        return -1;
    if (mkdir(sub, 0700) && errno != EEXIST)
        return -1;
    memcpy(r->dir, sub, sizeof sub);
    memcpy(r->sock, sub, strlen(sub));
    memcpy(r->sock + strlen(sub), "/r.sock", sizeof "/r.sock");
    snprintf(bus, sizeof bus, "%d", c->bus[i]);
    snprintf(timeout, sizeof timeout, "%d", node_timeout_ms);
    const char *extra[] = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                           "--cluster-port", bus, "--cluster-node-timeout", timeout,
                           /* a replica may take over however far behind it is */
                           "--cluster-replica-validity-factor", "0", NULL};
    return redis_start_args(r, NULL, extra);
}

/* Stops every node and removes the folder. */
static inline void redis_cluster_clear(redis_cluster *c) {
    for (int i = 0; i < c->n; i++)
        redis_stop(&c->node[i]);
    if (*c->dir && redis_rm_tree(c->dir))
        fprintf(stderr, "could not remove %s\n", c->dir);
    c->n = 0;
}

/*
 * Starts primaries * (1 + replicas) nodes on free loopback ports (folder /tmp/<name>_XXXXXX),
 * joins them with redis-cli --cluster create (the slots spread evenly over the
 * primaries, `replicas` replicas each) and waits until every node says the cluster is ok
 * and every replica has its primary's data.
 * node_timeout_ms is cluster-node-timeout (how soon a dead primary is replaced). 0, or -1
 * with everything started stopped again.
 */
static inline int redis_cluster_start(redis_cluster *c, const char *name, int primaries,
                                      int replicas, int node_timeout_ms) {
    memset(c, 0, sizeof *c);
    int total = primaries * (1 + replicas);
    if (total > CLUSTER_MAX_NODES || primaries < 1)
        return -1;
    snprintf(c->dir, sizeof c->dir, "/tmp/%s_XXXXXX", name);
    if (!mkdtemp(c->dir))
        return -1;
    size_t ul = (size_t)snprintf(c->url, sizeof c->url, "redis-cluster://");
    const char *argv[CLUSTER_MAX_NODES + 8];
    char addrs[CLUSTER_MAX_NODES][32], reps[8];
    int n = 0;
    argv[n++] = "redis-cli";
    argv[n++] = "--cluster";
    argv[n++] = "create";
    for (int i = 0; i < total; i++) {
        /* two distinct free ports: the client port and the cluster bus */
        do {
            c->node[i].port = free_port();
            c->bus[i] = free_port();
        } while (c->node[i].port <= 0 || c->bus[i] <= 0 || c->node[i].port == c->bus[i]);
        if (cluster_spawn(c, i, node_timeout_ms))
            goto fail;
        c->n = i + 1;
        snprintf(addrs[i], sizeof addrs[i], "127.0.0.1:%d", c->node[i].port);
        argv[n++] = addrs[i];
        ul += (size_t)snprintf(c->url + ul, sizeof c->url - ul, "%s%s", i ? "," : "", addrs[i]);
    }
    snprintf(reps, sizeof reps, "%d", replicas);
    argv[n++] = "--cluster-replicas";
    argv[n++] = reps;
    argv[n++] = "--cluster-yes";
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, "redis-cli", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    if (rc || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
        goto fail;
    if (cluster_wait_ok(c, CLUSTER_CREATE_WAIT_MS) ||
        cluster_wait_synced(c, CLUSTER_CREATE_WAIT_MS))
        goto fail;
    return 0;
fail:
    redis_cluster_clear(c);
    return -1;
}

#endif
