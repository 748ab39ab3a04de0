/*
 * gw_router.c — longest-match routing over a small table.
 *
 * Big idea: with a few dozen routes a linear scan is cheaper than any tree,
 * and it makes the rule easy to read: exact beats prefix, a longer prefix
 * beats a shorter one, whatever the order of registration.
 */
#include "gateway/net/gw_router.h"

#include "core/mc.h"

#include <stdlib.h>
#include <string.h>

struct gw_router {
    gw_route routes[GW_ROUTER_MAX]; /* in the order added (irrelevant to matching) */
    size_t n;                       /* used entries */
};

gw_router *gw_router_new(void) {
    return calloc(1, sizeof(gw_router));
}

void gw_router_free(gw_router *r) {
    free(r);
}

int gw_router_add(gw_router *r, const char *path, const char *label, unsigned methods,
                  gw_route_fn *fn, void *priv) {
    size_t len = path ? strlen(path) : 0;
    if (len == 0 || path[0] != '/' || len >= GW_ROUTER_MAX_PATH || !fn)
        return MC_EINVAL;
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->routes[i].path, path))
            return MC_EINVAL;
    if (r->n >= GW_ROUTER_MAX)
        return MC_ETOOBIG;
    gw_route *rt = &r->routes[r->n++];
    memcpy(rt->path, path, len + 1);
    rt->label = label ? label : rt->path; /* the copy: path may be the caller's buffer */
    rt->methods = methods;
    rt->fn = fn;
    rt->priv = priv;
    return 0;
}

const gw_route *gw_router_match(const gw_router *r, const char *path) {
    const gw_route *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < r->n; i++) {
        const gw_route *rt = &r->routes[i];
        size_t l = strlen(rt->path);
        if (!strcmp(rt->path, path))
            return rt; /* an exact path beats every prefix */
        /* "/" is the page at the root, not a prefix of everything */
        if (l > 1 && rt->path[l - 1] == '/' && !strncmp(rt->path, path, l) && l > best_len) {
            best = rt;
            best_len = l;
        }
    }
    return best;
}
