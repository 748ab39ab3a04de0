// Signatures that providers put on the webhooks they send us, computed the way
// shared/spec/channels.md defines them, so integration tests can sign inbound
// requests exactly as Facebook, Zalo and Twilio do.
//
//   fbSignature(appSecret, rawBody)                       → "sha256=<hex>"
//   zaloSignature(appId, rawBody, timestamp, oaSecretKey) → "mac=<hex>"
//   twilioSignature(authToken, fullUrl, params)           → "<base64>"
//
// rawBody is the exact bytes sent (a Buffer or a string, taken as UTF-8).

import { createHash, createHmac } from 'node:crypto';

const bytes = (v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8'));

/** X-Hub-Signature-256: HMAC-SHA256 keyed with the app secret over the raw body, lower-case hex. */
export function fbSignature(appSecret, rawBody) {
    return `sha256=${createHmac('sha256', bytes(appSecret)).update(bytes(rawBody)).digest('hex')}`;
}

/**
 * X-ZEvent-Signature: plain SHA-256 (not an HMAC) of app_id + raw body + timestamp +
 * OA secret key, lower-case hex. app_id and timestamp are the values in the body.
 */
export function zaloSignature(appId, rawBody, timestamp, oaSecretKey) {
    const h = createHash('sha256');
    h.update(bytes(appId));
    h.update(bytes(rawBody));
    h.update(bytes(timestamp));
    h.update(bytes(oaSecretKey));
    return `mac=${h.digest('hex')}`;
}

/**
 * X-Twilio-Signature: base64(HMAC-SHA1(auth token, full URL as called + every POST
 * parameter's name and value concatenated, parameters sorted by name)). params is
 * an object (a value may be an array for a repeated name: its values are sorted
 * too), a URLSearchParams, or an array of [name, value] pairs; {} for a GET.
 */
export function twilioSignature(authToken, fullUrl, params = {}) {
    let pairs;
    if (params instanceof URLSearchParams || Array.isArray(params)) pairs = [...params];
    else
        pairs = Object.entries(params).flatMap(([k, v]) =>
            Array.isArray(v) ? v.map((x) => [k, String(x)]) : [[k, String(v)]],
        );
    // Byte order of the names (Twilio sorts the names; values of a repeated name sorted too).
    const cmp = (a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
    pairs.sort((a, b) => cmp(a[0], b[0]) || cmp(a[1], b[1]));
    let data = String(fullUrl);
    for (const [k, v] of pairs) data += k + v;
    return createHmac('sha1', bytes(authToken)).update(Buffer.from(data, 'utf8')).digest('base64');
}
