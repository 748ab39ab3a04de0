/*
 * ch.c — the channel core: the adapter table and the owned-memory helpers of
 * ch.h. A channel exists for the gateway when its adapter is listed here; the
 * gateway never names a provider itself.
 */
#include "ch.h"

#include <stdlib.h>
#include <string.h>

static const ch_adapter *const ch_adapters[] = {
    NULL,
};

const ch_adapter *ch_adapter_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; ch_adapters[i] != NULL; i++)
        if (strcmp(ch_adapters[i]->name, name) == 0)
            return ch_adapters[i];
    return NULL;
}

void ch_message_clear(ch_message *m)
{
    if (m == NULL)
        return;
    free(m->text);
    free(m->payload);
    memset(m, 0, sizeof(*m));
}

void ch_http_clear(ch_http *h)
{
    if (h == NULL)
        return;
    free(h->url);
    for (size_t i = 0; i < h->n_headers && i < CH_MAX_HEADERS; i++)
        free(h->headers[i]);
    free(h->body);
    memset(h, 0, sizeof(*h));
}
