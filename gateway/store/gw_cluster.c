/*
 * gw_cluster.c — the Redis Cluster protocol as data (gw_cluster.h): the table of where a
 * command's key is, the reading of redirect errors, and the slot map of CLUSTER SHARDS /
 * CLUSTER SLOTS. Everything here reads untrusted bytes (a command we formatted, a reply
 * from the network) with lengths, and refuses what it cannot read.
 */
#include "gateway/store/gw_cluster.h"

#include "core/mc.h"
#include "gateway/store/gw_keys.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CMD_NAME_MAX 24 /* bytes of the longest command name of the table, and then some */

/* Where a command's routing key is. */
typedef enum key_at {
    AT_ARG1,    /* argument 1 (most commands: not in the table) */
    AT_ARG2,    /* argument 2, after a subcommand (XGROUP CREATE <key>, OBJECT ENCODING...) */
    AT_NUMKEYS, /* EVAL family: argument 2 is numkeys, the keys follow */
    AT_STREAMS, /* XREAD family: the first name after STREAMS */
    AT_NONE,    /* keyless */
    AT_MULTI,   /* MULTI */
    AT_EXEC,    /* EXEC, DISCARD */
} key_at;

typedef struct cmd_row {
    const char *name; /* upper case */
    key_at at;        /* where its key is */
} cmd_row;

/* The commands whose key is not argument 1. Anything else is routed by argument 1. */
static const cmd_row cmd_table[] = {
    {"EVAL", AT_NUMKEYS},       {"EVALSHA", AT_NUMKEYS},    {"EVAL_RO", AT_NUMKEYS},
    {"EVALSHA_RO", AT_NUMKEYS}, {"FCALL", AT_NUMKEYS},      {"FCALL_RO", AT_NUMKEYS},
    {"XREAD", AT_STREAMS},      {"XREADGROUP", AT_STREAMS}, {"XGROUP", AT_ARG2},
    {"XINFO", AT_ARG2},         {"OBJECT", AT_ARG2},        {"MEMORY", AT_ARG2},
    {"MULTI", AT_MULTI},        {"EXEC", AT_EXEC},          {"DISCARD", AT_EXEC},
    {"PING", AT_NONE},          {"ECHO", AT_NONE},          {"AUTH", AT_NONE},
    {"HELLO", AT_NONE},         {"SELECT", AT_NONE},        {"INFO", AT_NONE},
    {"TIME", AT_NONE},          {"WAIT", AT_NONE},          {"SCRIPT", AT_NONE},
    {"FUNCTION", AT_NONE},      {"CLIENT", AT_NONE},        {"CLUSTER", AT_NONE},
    {"ASKING", AT_NONE},        {"READONLY", AT_NONE},      {"READWRITE", AT_NONE},
    {"DBSIZE", AT_NONE},        {"FLUSHALL", AT_NONE},      {"FLUSHDB", AT_NONE},
    {"CONFIG", AT_NONE},        {"COMMAND", AT_NONE},       {"ROLE", AT_NONE},
    {"SLOWLOG", AT_NONE},       {"LATENCY", AT_NONE},       {"DEBUG", AT_NONE},
    {"KEYS", AT_NONE},          {"SCAN", AT_NONE},          {"RANDOMKEY", AT_NONE},
    {"PUBLISH", AT_NONE},       {"ACL", AT_NONE},           {"QUIT", AT_NONE},
    {"RESET", AT_NONE},
};

/* ---- RESP commands ---- */

/* Reads a decimal number ending in "\r\n" at *p (< end); moves *p past it. 0 or -1. */
static int read_num(const char **p, const char *end, long *out) {
    const char *q = *p;
    long v = 0;
    if (q >= end || *q < '0' || *q > '9')
        return -1;
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        if (v > (LONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*q - '0');
    }
    if (end - q < 2 || q[0] != '\r' || q[1] != '\n')
        return -1;
    *p = q + 2;
    *out = v;
    return 0;
}

/* One bulk string "$<len>\r\n<bytes>\r\n" at *p: *arg, *alen; *p moved past it. 0 or -1. */
static int read_arg(const char **p, const char *end, const char **arg, size_t *alen) {
    long l;
    if (*p >= end || **p != '$')
        return -1;
    (*p)++;
    if (read_num(p, end, &l) || l > end - *p - 2 || (*p)[l] != '\r' || (*p)[l + 1] != '\n')
        return -1;
    *arg = *p;
    *alen = (size_t)l;
    *p += l + 2;
    return 0;
}

static int arg_is(const char *a, size_t len, const char *word) {
    return strlen(word) == len && !strncasecmp(a, word, len);
}

static key_at key_place(const char *name, size_t len) {
    if (len >= CMD_NAME_MAX)
        return AT_ARG1;
    for (size_t i = 0; i < sizeof cmd_table / sizeof cmd_table[0]; i++)
        if (arg_is(name, len, cmd_table[i].name))
            return cmd_table[i].at;
    return AT_ARG1;
}

int gw_cluster_route(const char *cmd, size_t len, gw_cmd_route *out) {
    const char *p = cmd, *end = cmd + len, *a, *key = NULL;
    size_t al, kl = 0;
    long argc;
    out->kind = GW_CMD_KEYLESS;
    out->slot = -1;
    if (len < 1 || *p != '*')
        return MC_EPARSE;
    p++;
    if (read_num(&p, end, &argc) || argc < 1 || read_arg(&p, end, &a, &al))
        return MC_EPARSE;
    key_at at = key_place(a, al);
    switch (at) {
    case AT_MULTI: out->kind = GW_CMD_MULTI; return 0;
    case AT_EXEC: out->kind = GW_CMD_EXEC; return 0;
    case AT_NONE: return 0;
    case AT_ARG1:
        if (argc >= 2 && !read_arg(&p, end, &key, &kl))
            break;
        return argc >= 2 ? MC_EPARSE : 0;
    case AT_ARG2:
        if (argc < 3)
            return 0; /* XINFO HELP and the like */
        if (read_arg(&p, end, &a, &al) || read_arg(&p, end, &key, &kl))
            return MC_EPARSE;
        break;
    case AT_NUMKEYS: {
        long nk = 0;
        if (argc < 3 || read_arg(&p, end, &a, &al) || read_arg(&p, end, &a, &al))
            return MC_EPARSE;
        for (size_t i = 0; i < al; i++) {
            if (a[i] < '0' || a[i] > '9' || nk > 100000000)
                return MC_EPARSE;
            nk = nk * 10 + (a[i] - '0');
        }
        if (al == 0)
            return MC_EPARSE;
        if (nk == 0)
            return 0; /* a script without keys */
        if (argc < 4 || read_arg(&p, end, &key, &kl))
            return MC_EPARSE;
        break;
    }
    case AT_STREAMS:
        for (long i = 1; i < argc; i++) {
            if (read_arg(&p, end, &a, &al))
                return MC_EPARSE;
            if (arg_is(a, al, "STREAMS")) {
                if (i + 1 >= argc || read_arg(&p, end, &key, &kl))
                    return MC_EPARSE;
                break;
            }
        }
        if (!key)
            return MC_EPARSE;
        break;
    }
    out->kind = GW_CMD_KEYED;
    out->slot = (int)gw_keys_slot(key, kl);
    return 0;
}

/* ---- redirects ---- */

static int starts(const char *s, size_t len, const char *word) {
    size_t wl = strlen(word);
    return len >= wl && !memcmp(s, word, wl) && (len == wl || s[wl] == ' ');
}

/* "<slot> <host>:<port>" of a MOVED or ASK error, after its word. 0 or -1. */
static int read_target(const char *s, size_t len, gw_redirect *out) {
    const char *end = s + len, *p = s;
    long slot = 0;
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    for (; p < end && *p >= '0' && *p <= '9'; p++)
        if ((slot = slot * 10 + (*p - '0')) >= GW_KEYS_SLOTS)
            return -1;
    if (p >= end || *p != ' ')
        return -1;
    p++;
    const char *colon = NULL; /* the last one: an IPv6 address has its own */
    for (const char *q = p; q < end; q++)
        if (*q == ':')
            colon = q;
    if (!colon || (size_t)(colon - p) >= sizeof out->host || colon + 1 >= end)
        return -1;
    long port = 0;
    for (const char *q = colon + 1; q < end; q++) {
        if (*q < '0' || *q > '9' || (port = port * 10 + (*q - '0')) > 65535)
            return -1;
    }
    if (port == 0)
        return -1;
    size_t hl = (size_t)(colon - p);
    if (hl == 1 && *p == '?')
        hl = 0; /* unknown endpoint: the node that answered */
    memcpy(out->host, p, hl);
    out->host[hl] = '\0';
    out->slot = (int)slot;
    out->port = (int)port;
    return 0;
}

gw_redirect_kind gw_cluster_redirect(const char *err, size_t len, gw_redirect *out) {
    memset(out, 0, sizeof *out);
    out->slot = -1;
    if (!err)
        return GW_REDIRECT_NONE;
    if (len > 6 && starts(err, len, "MOVED") && !read_target(err + 6, len - 6, out))
        out->kind = GW_REDIRECT_MOVED;
    else if (len > 4 && starts(err, len, "ASK") && !read_target(err + 4, len - 4, out))
        out->kind = GW_REDIRECT_ASK;
    else if (starts(err, len, "TRYAGAIN"))
        out->kind = GW_REDIRECT_TRYAGAIN;
    else if (starts(err, len, "CLUSTERDOWN"))
        out->kind = GW_REDIRECT_CLUSTERDOWN;
    else
        memset(out, 0, sizeof *out);
    return out->kind;
}

/* ---- slot maps ---- */

static int is_str(const redisReply *r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* An integer reply, or a string of digits (some versions answer numbers as strings). */
static int as_int(const redisReply *r, long *out) {
    if (r && r->type == REDIS_REPLY_INTEGER) {
        *out = (long)r->integer;
        return 0;
    }
    if (!is_str(r) || r->len == 0 || r->len > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9')
            return -1;
        v = v * 10 + (r->str[i] - '0');
    }
    *out = v;
    return 0;
}

typedef struct ranges {
    gw_slot_range *v;
    size_t n, cap;
} ranges;

static int add_range(ranges *rs, long lo, long hi, const char *host, size_t hl, long port) {
    if (lo < 0 || hi < lo || hi >= GW_KEYS_SLOTS || port <= 0 || port > 65535 ||
        hl >= GW_REDIS_HOST_MAX)
        return MC_EPARSE;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        gw_slot_range *v = realloc(rs->v, cap * sizeof *v);
        if (!v)
            return MC_ENOMEM;
        rs->v = v;
        rs->cap = cap;
    }
    gw_slot_range *g = &rs->v[rs->n++];
    g->lo = (int)lo;
    g->hi = (int)hi;
    if (hl == 1 && host[0] == '?')
        hl = 0;
    memcpy(g->host, host, hl);
    g->host[hl] = '\0';
    g->port = (int)port;
    return 0;
}

/* The value of field name in a flat [name, value, ...] array, or NULL. */
static const redisReply *field(const redisReply *m, const char *name) {
    if (!m || m->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < m->elements; i += 2)
        if (is_str(m->element[i]) && arg_is(m->element[i]->str, m->element[i]->len, name))
            return m->element[i + 1];
    return NULL;
}

/* One shard of CLUSTER SHARDS: its primary's ranges. */
static int shard_ranges(const redisReply *sh, ranges *rs) {
    const redisReply *slots = field(sh, "slots"), *nodes = field(sh, "nodes");
    if (!slots || slots->type != REDIS_REPLY_ARRAY || slots->elements % 2 || !nodes ||
        nodes->type != REDIS_REPLY_ARRAY)
        return MC_EPARSE;
    const redisReply *primary = NULL;
    for (size_t i = 0; i < nodes->elements && !primary; i++) {
        const redisReply *role = field(nodes->element[i], "role");
        if (is_str(role) && arg_is(role->str, role->len, "master"))
            primary = nodes->element[i];
    }
    if (!primary || slots->elements == 0)
        return 0; /* no primary (or no slots): its slots stay unserved */
    const redisReply *ep = field(primary, "endpoint"), *ip = field(primary, "ip");
    const redisReply *host =
        is_str(ep) && ep->len && !(ep->len == 1 && ep->str[0] == '?') ? ep : ip;
    long port;
    if (!is_str(host) || as_int(field(primary, "port"), &port))
        return MC_EPARSE;
    for (size_t i = 0; i < slots->elements; i += 2) {
        long lo, hi;
        int rc;
        if (as_int(slots->element[i], &lo) || as_int(slots->element[i + 1], &hi))
            return MC_EPARSE;
        if ((rc = add_range(rs, lo, hi, host->str, host->len, port)))
            return rc;
    }
    return 0;
}

/* One entry of CLUSTER SLOTS: [lo, hi, [host, port, id...], replicas...]. */
static int slots_range(const redisReply *e, ranges *rs) {
    long lo, hi, port;
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 3 || as_int(e->element[0], &lo) ||
        as_int(e->element[1], &hi))
        return MC_EPARSE;
    const redisReply *n = e->element[2];
    if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 || !is_str(n->element[0]) ||
        as_int(n->element[1], &port))
        return MC_EPARSE;
    return add_range(rs, lo, hi, n->element[0]->str, n->element[0]->len, port);
}

int gw_cluster_map(const redisReply *r, int shards, gw_slot_range **out, size_t *n) {
    ranges rs = {0};
    *out = NULL;
    *n = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return MC_EPARSE;
    for (size_t i = 0; i < r->elements; i++) {
        int rc = shards ? shard_ranges(r->element[i], &rs) : slots_range(r->element[i], &rs);
        if (rc) {
            free(rs.v);
            return rc;
        }
    }
    *out = rs.v;
    *n = rs.n;
    return 0;
}
