/*
 * test_redis.h — a real redis-server for the unit tests that need one: started on
 * a unix socket in a temporary folder (and a TCP port of 127.0.0.1 when asked),
 * stopped by pid, read back through hiredis's plain synchronous API. Included by
 * one test file each (static functions).
 */
#ifndef TEST_REDIS_H
#define TEST_REDIS_H

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 5000 /* longest wait for a condition */

typedef struct redis_proc {
    char dir[64];
    char sock[128];
    int port; /* TCP port too when > 0 */
    pid_t pid;
} redis_proc;

/* Starts redis-server on dir/r.sock (password may be NULL); 0 once it answers PING. */
static inline int redis_start(redis_proc *r, const char *password) {
    r->pid = fork();
    if (r->pid < 0)
        return -1;
    if (r->pid == 0) {
        const char *argv[16];
        int n = 0;
        argv[n++] = "redis-server";
        char port[16];
        snprintf(port, sizeof port, "%d", r->port);
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
        argv[n++] = "no";
        if (password) {
            argv[n++] = "--requirepass";
            argv[n++] = password;
        }
        argv[n] = NULL;
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < WAIT_MS / 10; i++) {
        redisContext *c = redisConnectUnix(r->sock);
        int ok = c && !c->err;
        if (ok) {
            redisReply *rep = redisCommand(c, "PING");
            ok = rep != NULL; /* +PONG, or NOAUTH: either way it is up */
            freeReplyObject(rep);
        }
        redisFree(c);
        if (ok)
            return 0;
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
            r->pid = 0;
            return -1;
        }
        usleep(10000);
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

static inline void redis_stop(redis_proc *r) {
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = 0;
    unlink(r->sock);
}

/* The string value of a command's reply ("" for nil, NULL when it failed). */
static inline char *redis_get(redis_proc *r, const char *password, int db, const char *cmd) {
    redisContext *c = redisConnectUnix(r->sock);
    char *out = NULL;
    if (!c || c->err)
        goto done;
    if (password)
        freeReplyObject(redisCommand(c, "AUTH %s", password));
    if (db)
        freeReplyObject(redisCommand(c, "SELECT %d", db));
    redisReply *rep = redisCommand(c, cmd);
    if (rep && rep->type == REDIS_REPLY_STRING)
        out = strdup(rep->str);
    else if (rep && rep->type == REDIS_REPLY_NIL)
        out = strdup("");
    freeReplyObject(rep);
done:
    redisFree(c);
    return out;
}

/* Makes a fresh temporary folder for r (prefix: the test's name); 0 or -1. */
static inline int redis_dir(redis_proc *r, const char *name) {
    snprintf(r->dir, sizeof r->dir, "/tmp/%s_XXXXXX", name);
    if (!mkdtemp(r->dir))
        return -1;
    snprintf(r->sock, sizeof r->sock, "%s/r.sock", r->dir);
    return 0;
}

#endif
