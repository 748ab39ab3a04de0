/*
 * gw_router.h — the table of HTTP routes: which handler answers a path.
 *
 * A route is an exact path ("/healthz") or a prefix ending in '/'
 * ("/api/v1/dossiers/" answers every path below it). The answer does not
 * depend on the order routes were added: an exact match wins, otherwise the
 * longest prefix that matches. Two routes with the same path are refused when
 * added, so a hidden override cannot happen. Each route carries the pointer
 * of the module that added it; its handler gets it back (hiredis's privdata).
 * Pure data: no sockets, so the unit tests drive it directly.
 */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <stddef.h>

#define GW_ROUTER_MAX 64      /* routes of one server */
#define GW_ROUTER_MAX_PATH 96 /* bytes of a route's path, NUL included */

#define GW_M_GET 1u /* GET and HEAD */
#define GW_M_POST 2u
#define GW_M_PUT 4u
#define GW_M_DELETE 8u

struct gw_req;

/* Called once the request and its body are complete; priv is the route's. */
typedef void gw_route_fn(struct gw_req *rq, void *priv);

typedef struct gw_route {
    char path[GW_ROUTER_MAX_PATH]; /* exact, or a prefix when it ends with '/' */
    const char *label;             /* route label in /metrics (static; NULL: the path) */
    unsigned methods;              /* GW_M_* mask */
    gw_route_fn *fn;               /* the handler */
    void *priv;                    /* the module that added the route, borrowed */
} gw_route;

typedef struct gw_router gw_router;

gw_router *gw_router_new(void);
void gw_router_free(gw_router *r);

/*
 * Adds a route. 0; MC_EINVAL for a path that does not start with '/', is too
 * long, or is already in the table; MC_ETOOBIG past GW_ROUTER_MAX.
 */
int gw_router_add(gw_router *r, const char *path, const char *label, unsigned methods,
                  gw_route_fn *fn, void *priv);

/* The route that answers path (NUL-terminated, without the query), or NULL. */
const gw_route *gw_router_match(const gw_router *r, const char *path);

#endif
