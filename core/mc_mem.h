/*
 * core/mc_mem.h — freeing the plain buffers of an object in one call.
 *
 * A destructor first frees what has its own *_free (maps, dictionaries, sub-objects),
 * then the plain heap buffers and the object itself. MC_FREE_ALL(o->a, o->b, o) says the
 * second part in one line, every buffer still named, in the order given. Depends on the C
 * library only.
 */
#ifndef MC_MEM_H
#define MC_MEM_H

#include <stddef.h>
#include <stdlib.h>

/* Frees each of blocks[0..n) (free skips the NULL ones). */
static inline void mc_free_each(void *const *blocks, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
}

/* mc_free_each over its arguments: pointers from malloc, calloc or realloc, or NULL. */
#define MC_FREE_ALL(...)                                                                           \
    mc_free_each((void *const[]){__VA_ARGS__},                                                     \
                 sizeof((void *const[]){__VA_ARGS__}) / sizeof(void *))

#endif
