/*
 * gw_channels.c — maps configuration sections onto channel adapter settings, so
 * the adapters never see gw_config and the routes never see provider fields.
 */
#include "gateway/app/gw_channels.h"

#include <string.h>

const char *const gw_channel_names[GW_N_CHANNELS] = {"facebook", "zalo", "sms"};

int gw_channel_enabled(const gw_config *c, const char *name) {
    if (!strcmp(name, "facebook"))
        return c->facebook_enabled;
    if (!strcmp(name, "zalo"))
        return c->zalo_enabled;
    if (!strcmp(name, "sms"))
        return c->sms_enabled;
    return 0;
}

int gw_channel_can_send(const gw_config *c, const char *name) {
    if (!gw_channel_enabled(c, name))
        return 0;
    if (!strcmp(name, "facebook"))
        return *c->facebook_page_access_token != '\0';
    if (!strcmp(name, "zalo"))
        return *c->zalo_access_token != '\0' || *c->zalo_refresh_token != '\0';
    if (!strcmp(name, "sms")) {
        if (!strcmp(c->sms_provider, "kannel"))
            return *c->sms_username != '\0' && *c->sms_api_base != '\0';
        return *c->sms_account_sid != '\0' && *c->sms_auth_token != '\0';
    }
    return 0;
}

void gw_channel_settings(const gw_config *c, const char *name, ch_settings *s) {
    memset(s, 0, sizeof *s);
    s->public_url = c->public_url;
    s->api_base = s->api_version = s->app_id = s->app_secret = s->verify_token = "";
    s->access_token = s->provider = s->account_sid = s->auth_token = s->username = "";
    s->password = s->shared_secret = s->sender = s->status_callback = "";
    s->oauth_base = s->oauth_secret = s->allowed_addrs = s->more_text = "";
    if (!strcmp(name, "facebook")) {
        s->api_base = c->facebook_api_base;
        s->api_version = c->facebook_api_version;
        s->app_secret = c->facebook_app_secret;
        s->verify_token = c->facebook_verify_token;
        s->access_token = c->facebook_page_access_token;
    } else if (!strcmp(name, "zalo")) {
        s->api_base = c->zalo_api_base;
        s->app_id = c->zalo_app_id;
        s->app_secret = c->zalo_oa_secret_key;
        s->access_token = c->zalo_access_token;
        s->oauth_base = c->zalo_oauth_base;
        s->oauth_secret = c->zalo_app_secret;
    } else if (!strcmp(name, "sms")) {
        s->api_base = c->sms_api_base;
        s->provider = c->sms_provider;
        s->account_sid = c->sms_account_sid;
        s->auth_token = c->sms_auth_token;
        s->username = c->sms_username;
        s->password = c->sms_password;
        s->shared_secret = c->sms_shared_secret;
        s->sender = c->sms_sender;
        s->max_segments = (int)c->sms_max_segments;
        s->status_callback = c->sms_status_callback;
        s->allowed_addrs = c->sms_allowed_addrs;
        s->more_text = c->sms_more_text;
    }
}
