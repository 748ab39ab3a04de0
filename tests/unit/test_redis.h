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
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
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
#define REDIS_ARGS_MAX 24   /* redis-server's arguments, NULL included */
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
 * (password may be NULL); 0 once it answers PING. Spawned, not forked: the test may
 * run threads (curl's, libuv's) whose locks a forked child would inherit. */
static inline int redis_start(redis_proc *r, const char *password) {
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

#endif
