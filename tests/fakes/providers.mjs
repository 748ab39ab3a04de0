// Fake Zalo, Facebook, Twilio and Kannel on loopback — one node:http server
// that serves the production paths of shared/spec/channels.md and checks every
// request strictly, answering with the provider's real error shape when
// something is wrong, so that our bugs show in tests instead of in production.
//
//   import { startFakes } from '../fakes/providers.mjs';
//   const f = await startFakes({ fbToken, zalo: {...}, twilio: {...}, kannel: {...} });
//   ... point motcua's api_base at f.url ...
//   await f.waitFor('facebook', 1, 5000); f.requests('facebook'); f.fail('zalo', { code: -230 });
//   await f.stop();
//
// CLI (benchmark, other processes):
//   node tests/fakes/providers.mjs --port 0 [--config '<json>' | --config @file.json]
// prints {"port":N} on one stdout line and serves the same paths plus control
// endpoints (loopback peers only): POST /_fake/fail {"name",...spec},
// GET /_fake/requests?name=, POST /_fake/reset, GET /_fake/zalo/tokens.
//
// Provider names (for requests/waitFor/fail): facebook, zalo (OA messages),
// zalo-oauth (token refresh), zns, twilio, kannel; unknown paths count as 'unknown'.
//
// The hot path does no synchronous I/O and no logging: the benchmark measures
// how many sends per second the fake takes. Records are capped per provider
// (maxRecords); counts are not.
//
// Provider facts, from shared/spec/channels.md and shared/research/channel-facts.md
// (2025): Graph errors {"error":{message,type,code,error_subcode,fbtrace_id}} with
// HTTP 400, code 10 / subcode 2018278 outside the window, 100 bad parameter, 190
// bad token; Zalo answers HTTP 200 with {"error":<negative>,"message"} (-216 token
// invalid, -201 bad parameters, -230 no interaction in 7 days...); ZNS phone
// "84..." without '+'; Twilio 201 {"sid":"SM..","status":"queued"} and errors
// {"code","message","more_info","status"} (20003 auth, 21211 bad To, 21602 no
// Body, 21603 no From, 21617 Body over 1600); Kannel 202 "0: Accepted for
// delivery", 403 "Authorization failed for sendsms", 503 "Temporal failure,
// try again later". The Zalo OAuth error body (error -14014 with error_name/
// error_reason) is second-hand and unconfirmed.

import http from 'node:http';
import fs from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';

export const PROVIDERS = ['facebook', 'zalo', 'zalo-oauth', 'zns', 'zns-info', 'twilio', 'kannel', 'unknown'];

const MAX_BODY = 1 << 20; // request bytes accepted before 413
const DEFAULT_MAX_RECORDS = 10000; // records kept per provider
const FB_TEXT_MAX = 2000; // code points
const FB_QUICK_MAX = 13;
const FB_QUICK_TITLE_MAX = 20; // code points
const FB_PAYLOAD_MAX = 1000;
const FB_TAGS = new Set(['CONFIRMED_EVENT_UPDATE', 'POST_PURCHASE_UPDATE', 'ACCOUNT_UPDATE', 'HUMAN_AGENT']);
const FB_TYPES = new Set(['RESPONSE', 'UPDATE', 'MESSAGE_TAG']);
const ZALO_TEXT_MAX = 2000; // code points
const ZNS_TRACKING_MAX = 48;
const TWILIO_BODY_MAX = 1600; // characters
const E164 = /^\+[1-9][0-9]{6,14}$/;
const ZNS_PHONE = /^84[0-9]{9,10}$/;
const KANNEL_TO = /^\+?[0-9]{6,15}$/;
// GSM 03.38 default alphabet and its extension table (extension characters cost 2).
const GSM7 = new Set(
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXT = new Set('^{}\\[~]|€\f');

const cpLen = (s) => {
    let n = 0;
    for (const _ of s) n++;
    return n;
};
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const nonEmptyString = (v) => typeof v === 'string' && v.length > 0;
const hex = (n) => randomBytes(n).toString('hex');

/* --------------------------------------------------------- error shapes */

const FB_ERRORS = {
    10: { message: '(#10) This message is sent outside of allowed window.', subcode: 2018278 },
    2: { message: 'An unexpected error has occurred. Please retry your request later.', transient: true },
    4: { message: '(#4) Application request limit reached', transient: true },
    32: { message: '(#32) Page request limit reached', transient: true },
    100: { message: '(#100) Invalid parameter' },
    190: { message: 'Invalid OAuth access token - Cannot parse access token' },
    551: { message: '(#551) This person isn\'t available right now.', subcode: 1545041 },
    613: { message: '(#613) Calls to this api have exceeded the rate limit.', transient: true },
};

let traceSeq = 0;
function fbError(code, message, subcode) {
    const known = FB_ERRORS[code] || {};
    const e = { message: message || known.message || `(#${code}) Error`, type: 'OAuthException', code };
    const sub = subcode ?? known.subcode;
    if (sub !== undefined) e.error_subcode = sub;
    if (known.transient) e.is_transient = true;
    e.fbtrace_id = `Fake${(++traceSeq).toString(36)}`;
    return { error: e };
}

const ZALO_ERRORS = {
    '-32': 'Exceeded the rate limit',
    '-201': 'Parameters are invalid',
    '-211': 'Out of quota',
    '-213': 'User has not followed OA',
    '-216': 'Access token is invalid',
    '-217': 'User has blocked invitations from this OA',
    '-218': 'Out of quota receive',
    '-220': 'Access token has expired or been removed',
    '-227': 'User was banned or has been inactive for more than 45 days',
    '-230': 'User has not interacted with the OA in the past 7 days',
    '-232': 'User has not interacted with the OA or the interaction has expired',
    '-234': 'Broadcast messages cannot be sent between 22h and 6h',
    '-244': 'User has restricted this message type',
};
const zaloError = (code, message) => ({ error: code, message: message || ZALO_ERRORS[String(code)] || 'Error' });

const ZNS_ERRORS = {
    '-100': 'Application error',
    '-108': 'Phone number is invalid',
    '-109': 'ID of ZNS template is invalid',
    '-111': 'Template data is empty',
    '-112': 'Tracking id is invalid',
    '-114': 'User is not receiving ZNS: inactive, blocked or not using Zalo',
    '-118': 'Zalo account does not exist or has been disabled',
    '-124': 'Access token is invalid',
    '-131': 'ZNS template is not approved or has been disabled',
    '-144': 'OA has exceeded the daily quota',
};
const znsError = (code, message) => ({ error: code, message: message || ZNS_ERRORS[String(code)] || 'Error' });

const TWILIO_ERRORS = {
    20003: { status: 401, message: 'Authenticate' },
    20404: { status: 404, message: 'The requested resource was not found' },
    20429: { status: 429, message: 'Too Many Requests' },
    21211: { status: 400, message: "The 'To' number is not a valid phone number." },
    21602: { status: 400, message: 'Message body is required.' },
    21603: { status: 400, message: "A 'From' phone number is required." },
    21609: { status: 400, message: "Invalid 'StatusCallback'" },
    21610: { status: 400, message: 'Attempt to send to unsubscribed recipient' },
    21617: { status: 400, message: 'The concatenated message body exceeds the 1600 character limit.' },
};
function twilioError(code, message, status) {
    const known = TWILIO_ERRORS[code] || {};
    const st = status || known.status || 400;
    return {
        status: st,
        body: {
            code,
            message: message || known.message || 'Error',
            more_info: `https://www.twilio.com/docs/errors/${code}`,
            status: st,
        },
    };
}

/* ------------------------------------------------------------ answers */

// An answer: { status, body (object → JSON, string → text), headers }.
const json = (status, body, headers) => ({ status, body, headers });
const text = (status, body, headers) => ({ status, body: String(body), headers });

function send(res, a) {
    const isText = typeof a.body === 'string';
    const payload = isText ? a.body : JSON.stringify(a.body ?? {});
    const headers = {
        'Content-Type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(payload),
        ...(a.headers || {}),
    };
    res.writeHead(a.status, headers);
    res.end(payload);
}

// The default answer of a provider to a programmed failure without body or code.
function defaultFailure(name, status) {
    switch (name) {
        case 'facebook':
            return json(status, fbError(status === 429 ? 613 : 2));
        case 'zalo':
        case 'zalo-oauth':
            return json(status, zaloError(status === 429 ? -32 : -1, status === 429 ? undefined : 'Internal error'));
        case 'zns':
            return json(status, znsError(-100));
        case 'twilio':
            return json(status, twilioError(status === 429 ? 20429 : 20500, status === 429 ? undefined : 'Internal Server Error', status).body);
        case 'kannel':
            return text(status, status === 503 ? 'Temporal failure, try again later' : 'Internal error');
        default:
            return text(status, 'error');
    }
}

// The provider's error shape for a programmed `code`.
function codedFailure(name, spec) {
    switch (name) {
        case 'facebook':
            return json(spec.status || 400, fbError(spec.code, spec.message, spec.subcode));
        case 'zalo':
        case 'zalo-oauth':
            return json(spec.status || 200, zaloError(spec.code, spec.message));
        case 'zns':
            return json(spec.status || 200, znsError(spec.code, spec.message));
        case 'twilio': {
            const t = twilioError(spec.code, spec.message, spec.status);
            return json(t.status, t.body);
        }
        default:
            return text(spec.status || 500, spec.message || `error ${spec.code}`);
    }
}

/* ------------------------------------------------------------ parsing */

function parseForm(raw) {
    const out = {};
    for (const [k, v] of new URLSearchParams(raw)) {
        if (k in out) out[k] = [].concat(out[k], v);
        else out[k] = v;
    }
    return out;
}

function basicAuth(h) {
    if (typeof h !== 'string' || !h.startsWith('Basic ')) return null;
    const s = Buffer.from(h.slice(6), 'base64').toString('utf8');
    const i = s.indexOf(':');
    return i < 0 ? null : { user: s.slice(0, i), pass: s.slice(i + 1) };
}

const isJsonType = (h) => typeof h === 'string' && /^application\/json\b/i.test(h);
const isFormType = (h) => typeof h === 'string' && /^application\/x-www-form-urlencoded\b/i.test(h);
const isHttpUrl = (s) => typeof s === 'string' && /^https?:\/\/[^\s/]+/i.test(s);

/* ---------------------------------------------------------- providers */

// Each handler gets (rec, st) — the record with parsed parts, the fake's state — and
// returns an answer. A handler sets rec.valid = true when the request was well formed
// (only those consume programmed failures).

function handleFacebook(rec, st) {
    const token = rec.query.access_token;
    if (token === undefined || token === '')
        return json(400, fbError(2500, 'An active access token must be used to query information about the current user.'));
    if (token !== st.cfg.fbToken) return json(400, fbError(190));
    if (!isJsonType(rec.headers['content-type']))
        return json(400, fbError(100, '(#100) Content-Type must be application/json'));
    const b = rec.body;
    if (!isObj(b)) return json(400, fbError(100, '(#100) Request body is not valid JSON'));
    if (!isObj(b.recipient) || !nonEmptyString(b.recipient.id))
        return json(400, fbError(100, '(#100) The parameter recipient is required'));
    if (!FB_TYPES.has(b.messaging_type))
        return json(400, fbError(100, '(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}'));
    if (b.messaging_type === 'MESSAGE_TAG') {
        if (!nonEmptyString(b.tag)) return json(400, fbError(100, '(#100) Param tag is required for messaging_type MESSAGE_TAG'));
        if (!FB_TAGS.has(b.tag))
            return json(400, fbError(100, `(#100) Param tag must be one of {${[...FB_TAGS].join(', ')}}`));
    } else if (b.tag !== undefined) {
        return json(400, fbError(100, '(#100) Param tag is only allowed with messaging_type MESSAGE_TAG'));
    }
    const m = b.message;
    if (!isObj(m)) return json(400, fbError(100, '(#100) The parameter message is required'));
    if (!nonEmptyString(m.text)) return json(400, fbError(100, '(#100) Param message[text] must be a non-empty UTF-8 encoded string'));
    if (cpLen(m.text) > FB_TEXT_MAX)
        return json(400, fbError(100, `(#100) Length of param message[text] must be less than or equal to ${FB_TEXT_MAX}`));
    if (m.quick_replies !== undefined) {
        const q = m.quick_replies;
        if (!Array.isArray(q) || q.length === 0) return json(400, fbError(100, '(#100) param message[quick_replies] must be a non-empty array'));
        if (q.length > FB_QUICK_MAX)
            return json(400, fbError(100, `(#100) param message[quick_replies] must have at most ${FB_QUICK_MAX} elements`));
        for (const [i, r] of q.entries()) {
            if (!isObj(r) || r.content_type !== 'text')
                return json(400, fbError(100, `(#100) param message[quick_replies][${i}][content_type] must be text`));
            if (!nonEmptyString(r.title)) return json(400, fbError(100, `(#100) param message[quick_replies][${i}][title] is required`));
            if (cpLen(r.title) > FB_QUICK_TITLE_MAX)
                return json(400, fbError(100, `(#100) param message[quick_replies][${i}][title] must be at most ${FB_QUICK_TITLE_MAX} characters`));
            if (!nonEmptyString(r.payload)) return json(400, fbError(100, `(#100) param message[quick_replies][${i}][payload] is required`));
            if (cpLen(r.payload) > FB_PAYLOAD_MAX)
                return json(400, fbError(100, `(#100) param message[quick_replies][${i}][payload] must be at most ${FB_PAYLOAD_MAX} characters`));
        }
    }
    rec.valid = true;
    return json(200, { recipient_id: b.recipient.id, message_id: `m_${++st.seq.facebook}` });
}

function zaloToken(rec, st) {
    const t = rec.headers.access_token;
    return typeof t === 'string' && t === st.zalo.accessToken;
}

function handleZalo(rec, st) {
    if (!zaloToken(rec, st)) return json(200, zaloError(-216));
    if (!isJsonType(rec.headers['content-type'])) return json(200, zaloError(-201, 'Content-Type must be application/json'));
    const b = rec.body;
    if (!isObj(b)) return json(200, zaloError(-201, 'Body is not valid JSON'));
    if (!isObj(b.recipient) || !nonEmptyString(b.recipient.user_id)) return json(200, zaloError(-201, 'recipient.user_id is required'));
    if (!isObj(b.message) || !nonEmptyString(b.message.text)) return json(200, zaloError(-201, 'message.text is required'));
    if (cpLen(b.message.text) > ZALO_TEXT_MAX) return json(200, zaloError(-210, `message.text is longer than ${ZALO_TEXT_MAX} characters`));
    rec.valid = true;
    const id = `${hex(8)}${(++st.seq.zalo).toString(16).padStart(8, '0')}`;
    return json(200, { error: 0, message: 'Success', data: { message_id: id, user_id: b.recipient.user_id } });
}

function oauthError(reason) {
    return { error_name: 'Invalid parameter', error_reason: reason, ref_doc: '', error_description: reason, error: -14014 };
}

function handleZaloOauth(rec, st) {
    const z = st.zalo;
    if (rec.headers.secret_key !== z.secretKey) return json(200, oauthError('Invalid secret_key'));
    if (!isFormType(rec.headers['content-type'])) return json(200, oauthError('Content-Type must be application/x-www-form-urlencoded'));
    const f = rec.body || {};
    if (f.app_id !== z.appId) return json(200, oauthError('Invalid app_id'));
    if (f.grant_type !== 'refresh_token') return json(200, oauthError('grant_type must be refresh_token'));
    if (!nonEmptyString(f.refresh_token)) return json(200, oauthError('refresh_token is required'));
    if (f.refresh_token !== z.refreshToken) {
        // Single use: an old refresh token (or a made-up one) is refused and records nothing.
        const used = z.usedRefresh.has(f.refresh_token);
        return json(200, oauthError(used ? 'Refresh token has already been used' : 'Invalid refresh token'));
    }
    rec.valid = true;
    return null; // the rotation happens after programmed failures had their say (see serve)
}

function rotateZalo(st) {
    const z = st.zalo;
    z.usedRefresh.add(z.refreshToken);
    z.oldAccess.add(z.accessToken);
    z.generation++;
    z.accessToken = `${z.baseAccess}-${z.generation}-${hex(4)}`;
    z.refreshToken = `${z.baseRefresh}-${z.generation}-${hex(4)}`;
    z.refreshes.push({ time: Date.now(), accessToken: z.accessToken, refreshToken: z.refreshToken });
    return json(200, { access_token: z.accessToken, refresh_token: z.refreshToken, expires_in: String(z.expiresIn) });
}

// ZNS's template info (GET /template/info/v2?template_id=): the templates of the
// config's znsTemplates {id: {status, params: [{name, maxLength, require}]}}.
function handleZnsInfo(rec, st) {
    if (!zaloToken(rec, st)) return json(200, znsError(-124));
    const t = st.znsTemplates[rec.query.template_id];
    if (!t) return json(200, znsError(-109));
    rec.valid = true;
    return json(200, {
        error: 0,
        message: 'Success',
        data: {
            templateId: Number(rec.query.template_id) || rec.query.template_id,
            templateName: t.name || 'template',
            status: t.status || 'ENABLE',
            listParams: (t.params || []).map((p) => ({ name: p.name, require: p.require ?? true, type: 'STRING', maxLength: p.maxLength ?? 30, minLength: 0, acceptNull: false })),
            price: '200',
        },
    });
}

// The delivery event of a ZNS message, as Zalo posts it to the OA's webhook (channel-facts
// §1.8): user_received_message with msg_id and tracking_id, the OA as sender and the phone
// as recipient, signed like every OA event (X-ZEvent-Signature: mac=sha256(app_id + body +
// timestamp + OA secret key)).
function znsDelivery(st, phone, msgId, trackingId) {
    const w = st.cfg.znsWebhook;
    const ts = String(Date.now() + (w.clockOffsetMs || 0));
    const body = JSON.stringify({
        app_id: w.appId,
        event_name: 'user_received_message',
        sender: { id: w.oaId || '998877' },
        recipient: { id: phone },
        message: { msg_id: msgId, tracking_id: trackingId, delivery_time: ts },
        timestamp: ts,
    });
    const mac = createHash('sha256').update(w.appId + body + ts + w.oaKey).digest('hex');
    const u = new URL(w.url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'Content-Type': 'application/json', 'X-ZEvent-Signature': `mac=${mac}`, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
        st.znsDeliveries.push({ phone, msgId, trackingId, status: res.statusCode });
        res.resume();
    });
    req.on('error', (e) => st.znsDeliveries.push({ phone, msgId, trackingId, error: String(e.message) }));
    req.end(body);
}

function handleZns(rec, st) {
    if (!zaloToken(rec, st)) return json(200, znsError(-124));
    if (!isJsonType(rec.headers['content-type'])) return json(200, znsError(-100, 'Content-Type must be application/json'));
    const b = rec.body;
    if (!isObj(b)) return json(200, znsError(-100, 'Body is not valid JSON'));
    if (typeof b.phone !== 'string' || !ZNS_PHONE.test(b.phone)) return json(200, znsError(-108));
    if (!(nonEmptyString(b.template_id) || Number.isInteger(b.template_id))) return json(200, znsError(-109));
    if (!isObj(b.template_data) || Object.keys(b.template_data).length === 0) return json(200, znsError(-111));
    if (!nonEmptyString(b.tracking_id) || b.tracking_id.length > ZNS_TRACKING_MAX) return json(200, znsError(-112));
    // The on-demand states (znsState): a phone not on Zalo, a disabled template, a spent quota.
    const t = st.znsTemplates[String(b.template_id)];
    if (st.znsNotOnZalo.has(b.phone)) return json(200, znsError(-118));
    if (t && t.status && t.status !== 'ENABLE') return json(200, znsError(-131));
    if (t && t.params) {
        const want = t.params.map((p) => p.name).sort().join(',');
        if (Object.keys(b.template_data).sort().join(',') !== want) return json(200, znsError(-111, 'Template data does not match the template'));
    }
    if (st.znsQuota.remaining <= 0) return json(200, znsError(-144));
    rec.valid = true;
    st.znsQuota.remaining = Math.max(0, st.znsQuota.remaining - 1);
    const msgId = `${hex(8)}${(++st.seq.zns).toString(16).padStart(8, '0')}`;
    rec.znsDeliver = { phone: b.phone, msgId, trackingId: b.tracking_id }; // sent once answered (serve)
    return json(200, {
        error: 0,
        message: 'Success',
        data: {
            msg_id: msgId,
            sent_time: String(Date.now()),
            quota: { dailyQuota: String(st.znsQuota.daily), remainingQuota: String(st.znsQuota.remaining) },
        },
    });
}

function handleTwilio(rec, st, sid) {
    const t = st.cfg.twilio;
    const auth = basicAuth(rec.headers.authorization);
    if (!auth || auth.user !== t.sid || auth.pass !== t.token) {
        const e = twilioError(20003);
        return json(e.status, e.body, { 'WWW-Authenticate': 'Basic realm="Twilio API"' });
    }
    if (sid !== t.sid) {
        const e = twilioError(20404, `The requested resource /2010-04-01/Accounts/${sid}/Messages.json was not found`);
        return json(e.status, e.body);
    }
    if (!isFormType(rec.headers['content-type'])) {
        const e = twilioError(21602, 'Content-Type must be application/x-www-form-urlencoded');
        return json(e.status, e.body);
    }
    const f = rec.body || {};
    const bad = (code, msg) => {
        const e = twilioError(code, msg);
        return json(e.status, e.body);
    };
    if (typeof f.To !== 'string' || !E164.test(f.To)) return bad(21211, `The 'To' number ${f.To ?? ''} is not a valid phone number.`);
    if (!nonEmptyString(f.From)) return bad(21603);
    if (!nonEmptyString(f.Body)) return bad(21602);
    if (cpLen(f.Body) > TWILIO_BODY_MAX) return bad(21617);
    if (f.StatusCallback !== undefined && !isHttpUrl(f.StatusCallback)) return bad(21609);
    rec.valid = true;
    const msid = `SM${hex(12)}${(++st.seq.twilio).toString(16).padStart(8, '0')}`;
    const now = new Date().toUTCString().replace('GMT', '+0000');
    const gsm = [...f.Body].every((ch) => GSM7.has(ch) || GSM7_EXT.has(ch));
    const units = gsm ? [...f.Body].reduce((n, ch) => n + (GSM7_EXT.has(ch) ? 2 : 1), 0) : f.Body.length;
    const single = gsm ? 160 : 70;
    const part = gsm ? 153 : 67;
    const segments = units <= single ? 1 : Math.ceil(units / part);
    return json(201, {
        account_sid: t.sid,
        api_version: '2010-04-01',
        body: f.Body,
        date_created: now,
        date_sent: null,
        date_updated: now,
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from: f.From,
        messaging_service_sid: null,
        num_media: '0',
        num_segments: String(segments),
        price: null,
        price_unit: 'USD',
        sid: msid,
        status: 'queued',
        to: f.To,
        uri: `/2010-04-01/Accounts/${t.sid}/Messages/${msid}.json`,
    });
}

function handleKannel(rec, st) {
    const k = st.cfg.kannel;
    const q = rec.query;
    if (q.username !== k.username || q.password !== k.password) return text(403, 'Authorization failed for sendsms');
    if (!nonEmptyString(q.to) || !q.to.split(' ').every((n) => KANNEL_TO.test(n))) return text(400, 'Missing receiver number, rejected');
    if (!nonEmptyString(q.from)) return text(400, 'Missing sender number, rejected');
    if (typeof q.text !== 'string' || q.text === '') return text(400, 'Missing text, rejected');
    if (q.charset !== undefined && !/^(UTF-8|UTF-16BE|ISO-8859-1|WINDOWS-1252)$/i.test(q.charset))
        return text(400, `Unknown charset ${q.charset}, rejected`);
    if (q.coding !== undefined && !/^[012]$/.test(q.coding)) return text(400, 'Invalid coding value, rejected');
    if ((q.coding ?? '0') === '0' && ![...q.text].every((ch) => GSM7.has(ch) || GSM7_EXT.has(ch)))
        // Real Kannel would mangle the text rather than refuse it; the fake refuses so the bug shows.
        return text(400, 'fake kannel: text has characters outside GSM 03.38 with coding=0 (use coding=2)');
    if (q['dlr-mask'] !== undefined) {
        if (!/^[0-9]+$/.test(q['dlr-mask']) || Number(q['dlr-mask']) > 31) return text(400, 'Invalid dlr-mask value, rejected');
        if (Number(q['dlr-mask']) > 0 && !isHttpUrl(q['dlr-url'])) return text(400, 'dlr-mask set without a valid dlr-url, rejected');
    }
    rec.valid = true;
    st.seq.kannel++;
    return text(202, '0: Accepted for delivery');
}

/* -------------------------------------------------------------- routing */

const FB_PATH = /^\/(v[0-9]+\.[0-9]+)\/me\/messages$/;
const TWILIO_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;

// → [name, handler] for method + path.
function route(method, path) {
    if (method === 'POST') {
        if (path === '/v3.0/oa/message/cs') return ['zalo', handleZalo];
        if (path === '/v4/oa/access_token') return ['zalo-oauth', handleZaloOauth];
        if (path === '/message/template') return ['zns', handleZns];
        if (FB_PATH.test(path)) return ['facebook', handleFacebook];
        const m = TWILIO_PATH.exec(path);
        if (m) return ['twilio', (rec, st) => handleTwilio(rec, st, decodeURIComponent(m[1]))];
    } else if (method === 'GET' && path === '/cgi-bin/sendsms') {
        return ['kannel', handleKannel];
    } else if (method === 'GET' && path === '/template/info/v2') {
        return ['zns-info', handleZnsInfo];
    }
    return ['unknown', null];
}

/* ---------------------------------------------------------------- state */

function normalizeConfig(c = {}) {
    return {
        fbToken: c.fbToken ?? 'fake-page-token',
        zalo: {
            appId: c.zalo?.appId ?? 'fake-zalo-app',
            secretKey: c.zalo?.secretKey ?? 'fake-zalo-secret',
            accessToken: c.zalo?.accessToken ?? 'fake-zalo-access',
            refreshToken: c.zalo?.refreshToken ?? 'fake-zalo-refresh',
            expiresIn: c.zalo?.expiresIn ?? 90000,
        },
        twilio: { sid: c.twilio?.sid ?? 'ACfake0000000000000000000000000000', token: c.twilio?.token ?? 'fake-twilio-token' },
        kannel: { username: c.kannel?.username ?? 'fake-kannel', password: c.kannel?.password ?? 'fake-kannel-pass' },
        znsDailyQuota: c.znsDailyQuota ?? 500,
        // {id: {status, params: [{name, maxLength, require}]}}: what template info answers
        znsTemplates: c.znsTemplates ?? {},
        // {url, appId, oaKey, oaId, clockOffsetMs, delayMs}: where delivery events go, or null
        znsWebhook: c.znsWebhook ?? null,
        maxRecords: c.maxRecords ?? DEFAULT_MAX_RECORDS,
    };
}

function freshState(cfg) {
    const z = cfg.zalo;
    return {
        cfg,
        seq: { facebook: 0, zalo: 0, zns: 0, twilio: 0, kannel: 0 },
        zalo: {
            appId: z.appId,
            secretKey: z.secretKey,
            baseAccess: z.accessToken,
            baseRefresh: z.refreshToken,
            accessToken: z.accessToken,
            refreshToken: z.refreshToken,
            expiresIn: z.expiresIn,
            generation: 0,
            usedRefresh: new Set(),
            oldAccess: new Set(),
            refreshes: [],
        },
        znsQuota: { daily: cfg.znsDailyQuota, remaining: cfg.znsDailyQuota },
        znsTemplates: JSON.parse(JSON.stringify(cfg.znsTemplates)),
        znsNotOnZalo: new Set(),
        znsDeliveries: [],
        records: Object.fromEntries(PROVIDERS.map((p) => [p, []])),
        counts: Object.fromEntries(PROVIDERS.map((p) => [p, 0])),
        failures: Object.fromEntries(PROVIDERS.map((p) => [p, []])),
        waiters: [],
    };
}

function checkName(name) {
    if (!PROVIDERS.includes(name)) throw new Error(`unknown fake provider '${name}' (one of ${PROVIDERS.join(', ')})`);
}

function validateSpec(spec) {
    if (!isObj(spec)) throw new Error('fail(): spec must be an object');
    const s = { times: 1, ...spec };
    if (!(s.times === Infinity || (Number.isInteger(s.times) && s.times > 0))) throw new Error('fail(): times must be a positive integer');
    if (s.status !== undefined && !(Number.isInteger(s.status) && s.status >= 100 && s.status <= 599))
        throw new Error('fail(): status must be an HTTP status');
    if (s.delayMs !== undefined && !(Number.isFinite(s.delayMs) && s.delayMs >= 0)) throw new Error('fail(): delayMs must be >= 0');
    if (s.status === undefined && s.code === undefined && s.body === undefined && s.delayMs === undefined)
        throw new Error('fail(): give status, code, body or delayMs');
    return s;
}

/* ---------------------------------------------------------------- server */

/**
 * Starts the fakes on 127.0.0.1 (port 0 = a free one). Resolves
 * { url, port, requests(name), count(name), waitFor(name, n, timeoutMs), fail(name, spec),
 *   reset(), stop(), zaloTokens(), zaloRefreshes() }.
 */
export async function startFakes(config = {}, { port = 0, host = '127.0.0.1' } = {}) {
    const cfg = normalizeConfig(config);
    let st = freshState(cfg);
    const sockets = new Set();
    const timers = new Set();

    const laterFn = (ms, fn) => {
        const t = setTimeout(() => {
            timers.delete(t);
            fn();
        }, ms);
        timers.add(t);
    };
    const later = laterFn;

    function record(rec) {
        const name = rec.name;
        st.counts[name]++;
        const list = st.records[name];
        if (list.length < cfg.maxRecords) list.push(rec);
        if (st.waiters.length) {
            for (const w of st.waiters.slice()) {
                if (w.name === name && st.counts[name] >= w.n) {
                    st.waiters.splice(st.waiters.indexOf(w), 1);
                    clearTimeout(w.timer);
                    w.resolve(list.slice(0, w.n));
                }
            }
        }
    }

    function control(req, res, path, query, raw) {
        const ra = req.socket.remoteAddress || '';
        if (!(ra === '127.0.0.1' || ra === '::1' || ra === '::ffff:127.0.0.1')) return send(res, text(403, 'loopback only'));
        try {
            if (req.method === 'POST' && path === '/_fake/fail') {
                const b = JSON.parse(raw || '{}');
                const { name, ...spec } = b;
                api.fail(name, spec);
                return send(res, json(200, { ok: true }));
            }
            if (req.method === 'GET' && path === '/_fake/requests') {
                const name = query.get('name');
                checkName(name);
                return send(res, json(200, { name, count: st.counts[name], requests: st.records[name].map(publicRecord) }));
            }
            if (req.method === 'POST' && path === '/_fake/reset') {
                api.reset();
                return send(res, json(200, { ok: true }));
            }
            if (req.method === 'GET' && path === '/_fake/zalo/tokens') {
                return send(res, json(200, { ...api.zaloTokens(), refreshes: st.zalo.refreshes.length }));
            }
        } catch (e) {
            return send(res, json(400, { error: String(e.message || e) }));
        }
        return send(res, text(404, 'unknown control endpoint'));
    }

    function serve(req, res, raw) {
        const q = req.url.indexOf('?');
        const path = q < 0 ? req.url : req.url.slice(0, q);
        const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
        if (path.startsWith('/_fake/')) return control(req, res, path, new URLSearchParams(rawQuery), raw.toString('utf8'));

        const [name, handler] = route(req.method, path);
        const rawBody = raw.toString('utf8');
        const ctype = req.headers['content-type'];
        let body = null;
        if (rawBody.length) {
            if (isJsonType(ctype)) {
                try {
                    body = JSON.parse(rawBody);
                } catch {
                    body = undefined; // unparsable: handlers refuse it
                }
            } else if (isFormType(ctype)) body = parseForm(rawBody);
        }
        const rec = {
            name,
            method: req.method,
            path,
            rawQuery,
            query: parseForm(rawQuery),
            headers: req.headers,
            rawBody,
            body,
            time: Date.now(),
            valid: false,
            status: 0,
            response: null,
        };
        let answer = handler ? handler(rec, st) : text(404, `fake: no provider serves ${req.method} ${path}`);
        const finish = (a) => {
            rec.status = a.status;
            rec.response = a.body;
            send(res, a);
        };
        // Programmed failures apply to well-formed requests only: a malformed one is our bug.
        const queue = st.failures[name];
        if (rec.valid && queue.length) {
            const spec = queue[0];
            if (--spec.times <= 0) queue.shift();
            rec.failed = true;
            let a;
            if (spec.body !== undefined) a = typeof spec.body === 'string' ? text(spec.status || 500, spec.body) : json(spec.status || 500, spec.body);
            else if (spec.code !== undefined) a = codedFailure(name, spec);
            else if (spec.status !== undefined) a = defaultFailure(name, spec.status);
            else a = answer || rotateZalo(st); // delay only: the normal answer, late
            if (spec.retryAfter !== undefined) a = { ...a, headers: { ...(a.headers || {}), 'Retry-After': String(spec.retryAfter) } };
            record(rec);
            if (spec.delayMs) later(spec.delayMs, () => !res.destroyed && finish(a));
            else finish(a);
            return;
        }
        if (answer === null) answer = rotateZalo(st); // a good refresh, not failed
        record(rec);
        finish(answer);
        const d = rec.znsDeliver;
        if (d && st.cfg.znsWebhook) {
            const s0 = st;
            laterFn(st.cfg.znsWebhook.delayMs ?? 50, () => znsDelivery(s0, d.phone, d.msgId, d.trackingId));
        }
    }

    const server = http.createServer((req, res) => {
        const chunks = [];
        let size = 0;
        let tooBig = false;
        req.on('data', (c) => {
            size += c.length;
            if (size > MAX_BODY) tooBig = true;
            else chunks.push(c);
        });
        req.on('end', () => {
            if (tooBig) return send(res, text(413, 'request body too large'));
            serve(req, res, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
        });
    });
    server.keepAliveTimeout = 65000; // keep connections across a benchmark's pauses
    server.headersTimeout = 66000;
    server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
            server.off('error', reject);
            resolve();
        });
    });
    const actualPort = server.address().port;

    const api = {
        url: `http://${host}:${actualPort}`,
        port: actualPort,
        /** Recorded requests of a provider (oldest first, capped at maxRecords). */
        requests(name) {
            checkName(name);
            return st.records[name].slice();
        },
        /** How many requests reached a provider (not capped). */
        count(name) {
            checkName(name);
            return st.counts[name];
        },
        /** Resolves the first n records once n requests reached `name`; rejects after timeoutMs. */
        waitFor(name, n, timeoutMs = 5000) {
            checkName(name);
            if (st.counts[name] >= n) return Promise.resolve(st.records[name].slice(0, n));
            return new Promise((resolve, reject) => {
                const w = { name, n, resolve, reject };
                w.timer = setTimeout(() => {
                    const i = st.waiters.indexOf(w);
                    if (i >= 0) st.waiters.splice(i, 1);
                    reject(new Error(`fake ${name}: ${st.counts[name]} of ${n} requests within ${timeoutMs} ms`));
                }, timeoutMs);
                st.waiters.push(w);
            });
        },
        /**
         * Programs the next `times` (default 1) well-formed requests of `name`:
         * { status, times, retryAfter, body, delayMs, code, subcode, message }.
         * Specs queue up in order.
         */
        fail(name, spec) {
            checkName(name);
            st.failures[name].push(validateSpec(spec));
        },
        /** Forgets records, counts, failures and token rotations; pending waitFor calls reject. */
        reset() {
            for (const w of st.waiters) {
                clearTimeout(w.timer);
                w.reject(new Error(`fake ${w.name}: reset while waiting`));
            }
            st = freshState(cfg);
        },
        /**
         * ZNS on demand: { notOnZalo: [phones '84...'] added, quotaLeft: n, template: {id, status,
         * params} set }. Every later ZNS request sees the new state.
         */
        znsState({ notOnZalo, quotaLeft, template } = {}) {
            for (const p of notOnZalo || []) st.znsNotOnZalo.add(p);
            if (quotaLeft !== undefined) st.znsQuota.remaining = quotaLeft;
            if (template) st.znsTemplates[String(template.id)] = { ...(st.znsTemplates[String(template.id)] || {}), ...template };
        },
        /** The ZNS delivery events posted so far: [{ phone, msgId, trackingId, status | error }]. */
        znsDeliveries() {
            return st.znsDeliveries.slice();
        },
        /** The current Zalo token pair. */
        zaloTokens() {
            return { accessToken: st.zalo.accessToken, refreshToken: st.zalo.refreshToken };
        },
        /** Every successful Zalo refresh so far: [{ time, accessToken, refreshToken }]. */
        zaloRefreshes() {
            return st.zalo.refreshes.slice();
        },
        /** Closes the server, every connection and held answer. */
        stop() {
            for (const t of timers) clearTimeout(t);
            timers.clear();
            for (const w of st.waiters) {
                clearTimeout(w.timer);
                w.reject(new Error(`fake ${w.name}: stopped while waiting`));
            }
            st.waiters = [];
            return new Promise((resolve) => {
                server.close(() => resolve());
                for (const s of sockets) s.destroy();
            });
        },
    };
    return api;
}

/** A record without the parts that do not serialize well. */
function publicRecord(r) {
    const { name, method, path, rawQuery, query, headers, rawBody, body, time, valid, status, response, failed } = r;
    return { name, method, path, rawQuery, query, headers, rawBody, body, time, valid, status, response, failed: !!failed };
}

/* ------------------------------------------------------------------- CLI */

async function main(argv) {
    let port = 0;
    let config = {};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--port') port = Number(argv[++i]);
        else if (a === '--config') {
            const v = argv[++i] ?? '';
            config = JSON.parse(v.startsWith('@') ? fs.readFileSync(v.slice(1), 'utf8') : v);
        } else if (a === '--help' || a === '-h') {
            process.stdout.write('usage: node tests/fakes/providers.mjs --port N [--config JSON | --config @file.json]\n');
            return;
        } else throw new Error(`unknown argument ${a}`);
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be 0..65535');
    const f = await startFakes(config, { port });
    process.stdout.write(`${JSON.stringify({ port: f.port })}\n`);
    const quit = () => f.stop().then(() => process.exit(0));
    process.once('SIGTERM', quit);
    process.once('SIGINT', quit);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
    main(process.argv.slice(2)).catch((e) => {
        process.stderr.write(`providers.mjs: ${e.message}\n`);
        process.exit(2);
    });
}
