/*
 * gw_channels.c — the provider channels as the gateway sees them: the adapter
 * table of channels/ and the settings of their configuration sections.
 */
#include "gateway/app/gw_channels.h"

#include "channels/webchat.h"

#include <string.h>

size_t gw_channel_count(void) {
    return ch_adapter_count();
}

const char *gw_channel_name(size_t i) {
    const ch_adapter *ad = ch_adapter_at(i);
    return ad ? ad->name : NULL;
}

int gw_channel_index(const char *name) {
    for (size_t i = 0; name && i < ch_adapter_count(); i++)
        if (!strcmp(ch_adapter_at(i)->name, name))
            return (int)i;
    return -1;
}

int gw_channel_known(const char *name) {
    return name && (gw_channel_index(name) >= 0 || !strcmp(name, WEBCHAT_CHANNEL));
}

int gw_channel_phone_recipient(const char *name) {
    const ch_adapter *ad = ch_adapter_find(name);
    return ad && ad->policy && ad->policy->phone_recipient;
}

const char *gw_channel_for_phone(void) {
    for (size_t i = 0; i < ch_adapter_count(); i++)
        if (gw_channel_phone_recipient(ch_adapter_at(i)->name))
            return ch_adapter_at(i)->name;
    return NULL;
}

const ch_settings *gw_channel_conf(const gw_config *c, const char *name) {
    return ch_adapter_find(name) ? gw_config_channel(c, name) : NULL;
}

int gw_channel_enabled(const gw_config *c, const char *name) {
    const ch_settings *s = gw_channel_conf(c, name);
    return s && s->enabled;
}

int gw_channel_can_send(const gw_config *c, const char *name) {
    const ch_adapter *ad = ch_adapter_find(name);
    const ch_settings *s = gw_channel_conf(c, name);
    return ad && s && ad->can_send && ad->can_send(s);
}

void gw_channel_settings(const gw_config *c, const char *name, ch_settings *s) {
    const ch_settings *cs = gw_channel_conf(c, name);
    if (cs)
        *s = *cs;
    else {
        memset(s, 0, sizeof *s);
        s->public_url = c->public_url;
    }
}
