// The fake providers' credentials and the motcua environment that points every
// channel at them — shared by the channel, notification and broadcast tests.

export const FB = { appSecret: 'fb-app-secret-test', verifyToken: 'verify-me', pageToken: 'PAGE-TOKEN-1', pageId: '1122334455' };
export const ZALO = { appId: '4455667788', oaKey: 'zalo-oa-secret-test', appSecret: 'zalo-app-secret', access: 'ZA-1', refresh: 'ZR-1', oaId: '998877' };
export const TW = { sid: 'AC0123456789abcdef0123456789abcdef', token: 'twilio-auth-token', from: '+84900000001' };
export const PUBLIC_URL = 'https://motcua.test.example';

export const HOUR = 3600 * 1000;
export const HCM_OFFSET = 7 * HOUR; // Asia/Ho_Chi_Minh has no daylight saving time

/** Real-time offset that puts the gateway's clock at the next HH:MM local time. */
export function offsetTo(hour, minute = 0) {
    const now = Date.now();
    const day = Math.floor((now + HCM_OFFSET) / (24 * HOUR)) * 24 * HOUR;
    let target = day + hour * HOUR + minute * 60000 - HCM_OFFSET;
    if (target <= now) target += 24 * HOUR;
    return target - now;
}

/** MOTCUA_* variables enabling Facebook, Zalo and SMS (Twilio) against the fakes at fakesUrl. */
export function providerEnv(fakesUrl, extra = {}) {
    return {
        MOTCUA_FACEBOOK_ENABLED: 'true',
        MOTCUA_FACEBOOK_APP_SECRET: FB.appSecret,
        MOTCUA_FACEBOOK_VERIFY_TOKEN: FB.verifyToken,
        MOTCUA_FACEBOOK_PAGE_ACCESS_TOKEN: FB.pageToken,
        MOTCUA_FACEBOOK_API_BASE: fakesUrl,
        MOTCUA_ZALO_ENABLED: 'true',
        MOTCUA_ZALO_APP_ID: ZALO.appId,
        MOTCUA_ZALO_OA_SECRET_KEY: ZALO.oaKey,
        MOTCUA_ZALO_APP_SECRET: ZALO.appSecret,
        MOTCUA_ZALO_ACCESS_TOKEN: ZALO.access,
        MOTCUA_ZALO_REFRESH_TOKEN: ZALO.refresh,
        MOTCUA_ZALO_API_BASE: fakesUrl,
        MOTCUA_ZALO_OAUTH_BASE: fakesUrl,
        MOTCUA_SMS_ENABLED: 'true',
        MOTCUA_SMS_PROVIDER: 'twilio',
        MOTCUA_SMS_ACCOUNT_SID: TW.sid,
        MOTCUA_SMS_AUTH_TOKEN: TW.token,
        MOTCUA_SMS_SENDER: TW.from,
        MOTCUA_SMS_API_BASE: fakesUrl,
        MOTCUA_SERVER_PUBLIC_URL: PUBLIC_URL,
        ...extra,
    };
}
