// tests/fuzz/seeds.mjs — writes the hand-made seeds of the channel and API fuzz targets into
// tests/fuzz/corpus/<target>/ (files named after what they hold; `found-*` files and the
// nlu corpus are left alone). Run it from the repository root after changing a seed:
//
//   node tests/fuzz/seeds.mjs
//
// Seeds are the captured payloads of the tests (tests/unit/data/ch_*, the bodies built in
// tests/unit/test_ch_*.c, tests/unit/test_webchat.c, tests/integration/*.mjs and the
// answers of tests/fakes/providers.mjs) plus edge cases. The first byte of a channel seed
// is the flag byte of tests/fuzz/fuzz_ch.h; the signature itself is computed by the target.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;
const DATA = join(ROOT, 'tests/unit/data');
const CORPUS = join(ROOT, 'tests/fuzz/corpus');

// Flag bits (tests/fuzz/fuzz_ch.h).
const SIG_RIGHT = 0x00;
const SIG_WRONG = 0x02;
const SIG_INPUT = 0x03;
const PARSE_ALWAYS = 0x04;
const CLASSIFY = 0x08;
const OWN1 = 0x10;
const OWN2 = 0x20;
const OWN3 = 0x40;

const data = (name) => readFileSync(join(DATA, name));
const seeds = {};

function seed(target, name, flags, ...parts) {
    const bytes = Buffer.concat([
        flags === null ? Buffer.alloc(0) : Buffer.from([flags]),
        ...parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(String(p), 'utf8'))),
    ]);
    (seeds[target] ??= []).push([name, bytes]);
}

const json = (v) => JSON.stringify(v);

/* ------------------------------------------------------------------ zalo */

const ZALO_APP = '360846524940903967';
const ZTS = '1763880000000'; // the captured events' time; the targets' clock is 1.5 s later
for (const f of ['text', 'follow', 'unfollow', 'image', 'no_text', 'other', 'received', 'seen'])
    seed('zalo', `${f}-signed`, SIG_RIGHT, data(`ch_zalo_${f}.json`));
seed('zalo', 'text-wrong-signature', SIG_WRONG, data('ch_zalo_text.json'));
seed('zalo', 'text-signature-zeros', SIG_INPUT, `mac=${'0'.repeat(64)}\n`, data('ch_zalo_text.json'));
seed('zalo', 'text-signature-missing', SIG_INPUT, '\n', data('ch_zalo_text.json'));
seed('zalo', 'text-signature-upper-hex', SIG_INPUT, `mac=${'ABCDEF0123'.repeat(6)}ABCD\n`, data('ch_zalo_text.json'));
seed('zalo', 'unsigned-parsed-anyway', SIG_INPUT | PARSE_ALWAYS, '\n', data('ch_zalo_text.json'));
const zalo = (o) => json({ app_id: ZALO_APP, timestamp: ZTS, ...o });
const zuser = { sender: { id: '246845883529197922' }, recipient: { id: '388613280878808645' } };
seed('zalo', 'text-integer-ids', SIG_RIGHT, json({ app_id: Number(ZALO_APP.slice(0, 15)), event_name: 'user_send_text', timestamp: Number(ZTS), sender: { id: 246845883529197 }, recipient: { id: 388613280878808 }, message: { msg_id: 42, text: 'alo' } }));
seed('zalo', 'text-stale-timestamp', SIG_RIGHT, zalo({ timestamp: '1763879000000', event_name: 'user_send_text', ...zuser, message: { msg_id: 'm1', text: 'cũ' } }));
seed('zalo', 'text-future-timestamp', SIG_RIGHT, zalo({ timestamp: '1763880400000', event_name: 'user_send_text', ...zuser, message: { msg_id: 'm1', text: 'sau' } }));
seed('zalo', 'text-leading-zero-timestamp', SIG_RIGHT, zalo({ timestamp: '0001763880000000', event_name: 'user_send_text', ...zuser, message: { msg_id: 'm1', text: 'x' } }));
seed('zalo', 'text-other-app', SIG_RIGHT, zalo({ app_id: '1', event_name: 'user_send_text', ...zuser, message: { msg_id: 'm1', text: 'x' } }));
seed('zalo', 'text-no-timestamp', SIG_INPUT | PARSE_ALWAYS, '\n', json({ app_id: ZALO_APP, event_name: 'user_send_text', ...zuser, message: { msg_id: 'm1', text: 'x' } }));
seed('zalo', 'text-empty', SIG_RIGHT, zalo({ event_name: 'user_send_text', ...zuser, message: { msg_id: 'm1', text: '' } }));
seed('zalo', 'text-escapes', SIG_RIGHT, zalo({ event_name: 'user_send_text', ...zuser, message: { msg_id: 'm\u00e9', text: 'a\u0007b\ud83d\ude00\u2028' } }));
seed('zalo', 'text-long-ids', SIG_RIGHT, zalo({ event_name: 'user_send_text', sender: { id: 'ư'.repeat(63) }, recipient: { id: '9'.repeat(127) }, message: { msg_id: 'x'.repeat(127), text: 'x' } }));
seed('zalo', 'text-id-too-long', SIG_RIGHT, zalo({ event_name: 'user_send_text', ...zuser, message: { msg_id: 'x'.repeat(128), text: 'x' } }));
seed('zalo', 'follow-long-follower', SIG_RIGHT, zalo({ event_name: 'follow', oa_id: '388613280878808645', follower: { id: 'ư'.repeat(60) } }));
seed('zalo', 'follow-no-follower', SIG_RIGHT, zalo({ event_name: 'follow', follower: {} }));
seed('zalo', 'follow-no-timestamp', SIG_INPUT | PARSE_ALWAYS, '\n', json({ app_id: ZALO_APP, event_name: 'follow', follower: { id: '1' } }));
seed('zalo', 'seen-many-ids', SIG_RIGHT, zalo({ event_name: 'user_seen_message', sender: { id: 'oa' }, recipient: { id: 'u' }, message: { msg_ids: Array.from({ length: 65 }, (_, i) => `m${i}`) } }));
seed('zalo', 'seen-64-ids', SIG_RIGHT, zalo({ event_name: 'user_seen_message', sender: { id: 'oa' }, recipient: { id: 'u' }, message: { msg_ids: Array.from({ length: 64 }, (_, i) => i) } }));
seed('zalo', 'seen-ids-not-array', SIG_RIGHT, zalo({ event_name: 'user_seen_message', sender: { id: '1' }, recipient: { id: '2' }, message: { msg_ids: 'x' } }));
seed('zalo', 'received-no-id', SIG_RIGHT, zalo({ event_name: 'user_received_message', sender: { id: 'oa' }, recipient: { id: 'u' }, message: {} }));
seed('zalo', 'sticker', SIG_RIGHT, zalo({ event_name: 'user_send_sticker', ...zuser, message: { attachments: [] } }));
seed('zalo', 'not-json', SIG_RIGHT, '{"event_name":"user_send_text",');
seed('zalo', 'no-event-name', SIG_RIGHT, zalo({}));
seed('zalo', 'bad-timestamp', SIG_INPUT | PARSE_ALWAYS, '\n', '{"event_name":"user_send_text","timestamp":"17x","sender":{"id":"1"}}');
seed('zalo', 'array-body', SIG_INPUT | PARSE_ALWAYS, '\n', '[1,2]');
seed('zalo', 'empty-body', SIG_RIGHT);
// Answers of the Send API (classify) and of the OAuth refresh.
seed('zalo', 'answer-sent', CLASSIFY, '200\n', json({ error: 0, message: 'Success', data: { message_id: 'z_SENT1', user_id: '246845883529197922' } }));
seed('zalo', 'answer-sent-numeric-id', CLASSIFY, '200\n', json({ error: 0, message: 'Success', data: { message_id: 123456789 } }));
seed('zalo', 'answer-success-without-id', CLASSIFY, '200\n', json({ error: 0, message: 'Success' }));
for (const [code, message] of Object.entries({ '-216': 'Access token is invalid', '-220': 'Access token has expired or been removed', '-32': 'Exceeded the rate limit', '-211': 'Out of quota', '-218': 'Out of quota receive', '-234': 'Broadcast messages cannot be sent between 22h and 6h', '-100': 'Application error', '-213': 'User has not followed OA', '-217': 'User has blocked invitations from this OA', '-227': 'User was banned or has been inactive for more than 45 days', '-244': 'User has restricted this message type', '-230': 'User has not interacted with the OA in the past 7 days', '-232': 'User has not interacted with the OA or the interaction has expired', '-320': 'Require Zalo Cloud Account', '-321': 'Zalo Cloud Account out of money', '-201': 'Parameters are invalid' }))
    seed('zalo', `answer-error${code}`, CLASSIFY, '200\n', json({ error: Number(code), message }));
seed('zalo', 'answer-error-phone-in-message', CLASSIFY, '200\n', json({ error: -201, message: 'phone 0912345678 is invalid\nline' }));
seed('zalo', 'answer-500', CLASSIFY, '500\n', json({ error: -1, message: 'Internal error' }));
seed('zalo', 'answer-429-retry-after', CLASSIFY, '429 120\n', json({ error: -32, message: 'Exceeded the rate limit' }));
seed('zalo', 'answer-503-retry-date', CLASSIFY, '503 Sun, 06 Nov 2044 08:49:37 GMT\n', 'busy');
seed('zalo', 'answer-timeout', CLASSIFY, '0');
seed('zalo', 'answer-404', CLASSIFY, '404\n', json({ error: -1 }));
seed('zalo', 'answer-not-json', CLASSIFY, '200\n', '<html>');
seed('zalo', 'refresh-ok', CLASSIFY, '200\n', json({ access_token: 'AT-new', refresh_token: 'RT-new', expires_in: '90000' }));
seed('zalo', 'refresh-ok-number', CLASSIFY, '200\n', json({ access_token: 'A', refresh_token: 'R', expires_in: 3600 }));
seed('zalo', 'refresh-token-too-long', CLASSIFY | OWN1, '200\n', json({ access_token: 'A'.repeat(40), refresh_token: 'R', expires_in: '1' }));
seed('zalo', 'refresh-refused', CLASSIFY, '200\n', json({ error_name: 'Invalid parameter', error_reason: 'x', ref_doc: '', error_description: 'refresh_token is invalid', error: -14014 }));
seed('zalo', 'refresh-no-refresh-token', CLASSIFY, '200\n', json({ access_token: 'A', expires_in: '1' }));
seed('zalo', 'refresh-negative-lifetime', CLASSIFY, '200\n', json({ access_token: 'A', refresh_token: 'R', expires_in: '-5' }));

/* -------------------------------------------------------------- facebook */

for (const f of ['batch', 'receipts', 'missing_sender'])
    seed('facebook', `${f}-signed`, SIG_RIGHT, data(`ch_fb_${f}.json`));
seed('facebook', 'batch-wrong-signature', SIG_WRONG, data('ch_fb_batch.json'));
seed('facebook', 'batch-signature-sha1', SIG_INPUT, `sha1=${'0'.repeat(40)}\n`, data('ch_fb_batch.json'));
seed('facebook', 'batch-signature-missing-parsed', SIG_INPUT | PARSE_ALWAYS, '\n', data('ch_fb_batch.json'));
const fb = (items) => json({ object: 'page', entry: [{ id: '106273849501234', time: 1763880000500, messaging: items }] });
const fbh = { sender: { id: '6789012345678901' }, recipient: { id: '106273849501234' }, timestamp: 1763880000123 };
seed('facebook', 'text', SIG_RIGHT, fb([{ ...fbh, message: { mid: 'm_1', text: 'lam giay khai sinh can giay to gi' } }]));
seed('facebook', 'echo', SIG_RIGHT, fb([{ ...fbh, message: { mid: 'm_E', text: 'x', is_echo: true } }]));
seed('facebook', 'quick-reply', SIG_RIGHT, fb([{ ...fbh, message: { mid: 'm_Q', text: 'Khai sinh', quick_reply: { payload: 'PROC_KHAI_SINH' } } }]));
seed('facebook', 'quick-reply-no-payload', SIG_RIGHT, fb([{ ...fbh, message: { mid: 'm_Q', quick_reply: {} } }]));
seed('facebook', 'postback-no-mid', SIG_RIGHT, fb([{ ...fbh, sender: { id: 'ư'.repeat(60) }, postback: { title: 'Tra cứu', payload: 'TRA' } }]));
seed('facebook', 'postback-no-payload', SIG_RIGHT, fb([{ ...fbh, postback: { title: 'x' } }]));
seed('facebook', 'delivery-no-mids', SIG_RIGHT, fb([{ ...fbh, delivery: { watermark: 1763880010500 } }]));
seed('facebook', 'read-no-watermark', SIG_RIGHT, fb([{ ...fbh, read: {} }]));
seed('facebook', 'timestamp-string', SIG_RIGHT, fb([{ ...fbh, timestamp: 'soon', read: { watermark: 1 } }]));
seed('facebook', 'timestamp-negative', SIG_RIGHT, fb([{ ...fbh, timestamp: -1, message: { mid: 'm', text: 'x' } }]));
seed('facebook', 'no-sender', SIG_RIGHT, '{"object":"page","entry":[{"messaging":[{"sender":{"id":"1"},"recipient":{"id":"2"},"message":{"text":"hi"}}]}]}');
seed('facebook', 'integer-ids', SIG_RIGHT, fb([{ sender: { id: 6789012345678901 }, recipient: { id: 106273849501234 }, message: { mid: 7, text: 'x' } }]));
seed('facebook', 'optin-only', SIG_RIGHT, fb([{ ...fbh, optin: { ref: 'landing' } }]));
seed('facebook', 'standby', SIG_RIGHT, '{"object":"page","entry":[{"id":"1","standby":[]}]}');
seed('facebook', 'instagram', SIG_RIGHT, '{"object":"instagram","entry":[]}');
seed('facebook', 'entry-object', SIG_RIGHT, '{"object":"page","entry":{}}');
seed('facebook', 'truncated', SIG_RIGHT, '{"object":"page","entry":[');
seed('facebook', 'too-many', SIG_RIGHT, fb(Array.from({ length: 65 }, (_, i) => ({ sender: { id: '1' }, recipient: { id: '2' }, timestamp: i, message: { mid: `m${i}`, text: 't' } }))));
seed('facebook', 'delivery-many-mids', SIG_RIGHT, fb([{ ...fbh, delivery: { mids: Array.from({ length: 64 }, (_, i) => `m${i}`), watermark: 1 } }]));
seed('facebook', 'empty-body', SIG_RIGHT);
// The GET handshake.
seed('facebook', 'handshake-ok', OWN1, 'hub.mode=subscribe&hub.verify_token=motcua+verify%2Btoken%261&hub.challenge=1158201444');
seed('facebook', 'handshake-wrong-token', OWN1, 'hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444');
seed('facebook', 'handshake-markup', OWN1, 'hub.mode=subscribe&hub.verify_token=motcua+verify%2Btoken%261&hub.challenge=%3Cscript%3E');
seed('facebook', 'handshake-challenge-129', OWN1, `hub.mode=subscribe&hub.verify_token=motcua+verify%2Btoken%261&hub.challenge=${'a'.repeat(129)}`);
seed('facebook', 'handshake-small-buffer', OWN1 | OWN2, 'hub.mode=subscribe&hub.verify_token=motcua+verify%2Btoken%261&hub.challenge=1158201444');
seed('facebook', 'handshake-encoded-names', OWN1, 'hub%2Emode=subscribe&hub.verify%5Ftoken=motcua+verify%2Btoken%261&hub.challenge=x&&');
// Send API answers.
seed('facebook', 'answer-sent', CLASSIFY, '200\n', json({ recipient_id: '6789', message_id: 'm_SENT1' }));
seed('facebook', 'answer-no-message-id', CLASSIFY, '200\n', json({ recipient_id: '6789' }));
for (const [code, e] of Object.entries({ 10: { message: '(#10) This message is sent outside of allowed window.', error_subcode: 2018278 }, 2: { message: 'An unexpected error has occurred. Please retry your request later.', is_transient: true }, 4: { message: '(#4) Application request limit reached' }, 17: { message: 'User request limit reached' }, 32: { message: '(#32) Page request limit reached' }, 100: { message: '(#100) Invalid parameter', error_subcode: 2018001 }, 190: { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException' }, 551: { message: "(#551) This person isn't available right now.", error_subcode: 1545041 }, 613: { message: '(#613) Calls to this api have exceeded the rate limit.' }, 1200: { message: 'Temporary send message failure.' } }))
    seed('facebook', `answer-error-${code}`, CLASSIFY, '400\n', json({ error: { ...e, type: e.type ?? 'OAuthException', code: Number(code), fbtrace_id: 'Fake1' } }));
seed('facebook', 'answer-outside-window-2534022', CLASSIFY, '400\n', json({ error: { message: 'x', code: 10, error_subcode: 2534022 } }));
seed('facebook', 'answer-control-bytes', CLASSIFY, '400\n', '{"error":{"code":100,"message":"line1\\nline2\\u0007 +84 912 345 678"}}');
seed('facebook', 'answer-500-retry-after', CLASSIFY, '500 30\n', 'Internal Server Error');
seed('facebook', 'answer-429-retry-date', CLASSIFY, '429 Sun, 06 Nov 1994 08:49:37 GMT\n', json({ error: { code: 613 } }));
seed('facebook', 'answer-timeout', CLASSIFY, '0');

/* ---------------------------------------------------------------- twilio */

seed('twilio', 'inbound-signed', SIG_RIGHT, data('ch_twilio_inbound.txt'));
seed('twilio', 'status-signed', SIG_RIGHT, data('ch_twilio_status.txt'));
seed('twilio', 'inbound-wrong-signature', SIG_WRONG, data('ch_twilio_inbound.txt'));
seed('twilio', 'inbound-signature-garbage', SIG_INPUT, 'not-base64 \t\n', data('ch_twilio_inbound.txt'));
seed('twilio', 'inbound-unsigned-parsed', SIG_INPUT | PARSE_ALWAYS, '\n', data('ch_twilio_inbound.txt'));
seed('twilio', 'inbound-with-query', SIG_RIGHT | OWN1, 'tenant=hcm&x=%20\n', data('ch_twilio_inbound.txt'));
seed('twilio', 'integration-short', SIG_RIGHT, 'MessageSid=SMx&From=%2B84912345678&To=x&Body=hi');
seed('twilio', 'local-number', SIG_RIGHT, 'MessageSid=SM1&From=0912+345+678&To=8079&Body=TRA+000.00.25.H29-231122-0001');
seed('twilio', 'mms-without-words', SIG_RIGHT, 'MessageSid=SM2&From=%2B84912345678&To=%2B84287300000&Body=&NumMedia=1');
for (const st of ['queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'read', 'accepted', 'scheduled', 'canceled', 'received', 'partially_delivered'])
    seed('twilio', `status-${st}`, SIG_RIGHT, `MessageSid=SM3&MessageStatus=${st}&To=%2B84912345678&From=%2B84287300000`);
seed('twilio', 'repeated-names', SIG_RIGHT, 'MessageSid=SM4&From=%2B84912345678&To=1&Body=b&Body=a&x&&=y');
seed('twilio', 'bad-escape', SIG_RIGHT, 'MessageSid=SM5&From=%zz&To=1&Body=x');
seed('twilio', 'truncated-escape', SIG_RIGHT, 'MessageSid=SM5&From=1&To=1&Body=x%4');
seed('twilio', 'nul-in-body', SIG_RIGHT, 'MessageSid=SM6&From=1&To=1&Body=a%00b');
seed('twilio', 'invalid-utf8', SIG_RIGHT, 'MessageSid=SM6&From=1&To=1&Body=%C3%28');
seed('twilio', 'params-65', SIG_RIGHT, Array.from({ length: 65 }, (_, i) => `p${i}=${i}`).join('&'));
seed('twilio', 'params-64', SIG_RIGHT, ['MessageSid=SM7', 'From=1', 'To=2', 'Body=x', ...Array.from({ length: 60 }, (_, i) => `p${i}=${i}`)].join('&'));
seed('twilio', 'sid-too-long', SIG_RIGHT, `MessageSid=${'S'.repeat(300)}&From=1&To=2&Body=x`);
seed('twilio', 'empty-body', SIG_RIGHT);
seed('twilio', 'method-put', SIG_RIGHT | PARSE_ALWAYS | OWN2, data('ch_twilio_inbound.txt'));
// Messages API answers.
seed('twilio', 'answer-created', CLASSIFY, '201\n', json({ account_sid: 'ACfake', body: 'x', sid: 'SM0123456789abcdef0123456789abcdef', status: 'queued' }));
seed('twilio', 'answer-no-sid', CLASSIFY, '201\n', json({ status: 'queued' }));
for (const [code, status, message] of [[21211, 400, "The 'To' number is not a valid phone number."], [21614, 400, 'To number is not a mobile number'], [21610, 400, 'Attempt to send to unsubscribed recipient'], [21612, 400, 'not currently reachable'], [21408, 400, 'Permission to send an SMS has not been enabled'], [20003, 401, 'Authenticate'], [21606, 400, 'From is not valid'], [20429, 429, 'Too Many Requests'], [21617, 400, 'The concatenated message body exceeds the 1600 character limit.']])
    seed('twilio', `answer-error-${code}`, CLASSIFY, `${status}\n`, json({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
seed('twilio', 'answer-500', CLASSIFY, '500\n', json({ code: 20500, message: 'Internal Server Error', status: 500 }));
seed('twilio', 'answer-leading-space-json', CLASSIFY, '400\n', ' \r\n{"code":"21211"}');

/* ---------------------------------------------------------------- kannel */

seed('kannel', 'inbound-as-captured', SIG_INPUT, data('ch_kannel_inbound.txt'));
seed('kannel', 'dlr-as-captured', SIG_INPUT, data('ch_kannel_dlr.txt'));
const noSecret = (b) => b.toString('utf8').replace(/&?secret=[^&]*/, '');
seed('kannel', 'inbound', SIG_RIGHT, noSecret(data('ch_kannel_inbound.txt')));
seed('kannel', 'inbound-wrong-secret', SIG_WRONG, noSecret(data('ch_kannel_inbound.txt')));
seed('kannel', 'inbound-peer-refused', SIG_RIGHT | OWN1, noSecret(data('ch_kannel_inbound.txt')));
seed('kannel', 'inbound-any-peer', SIG_RIGHT | OWN1 | OWN2, noSecret(data('ch_kannel_inbound.txt')));
seed('kannel', 'inbound-unverified-parsed', SIG_INPUT | PARSE_ALWAYS, 'from=1&to=2&text=x&id=3');
seed('kannel', 'inbound-no-secret', SIG_INPUT, 'from=0912345678&to=8079&text=HUY&id=1');
seed('kannel', 'inbound-encoded-secret-name', SIG_INPUT, 'secre%74=k4nnel-s3cret&from=%2B84912345678&to=8079&text=TRA+x&id=2');
seed('kannel', 'inbound-brandname', SIG_RIGHT, 'from=UBND-HCM&to=8079&text=STOP&id=4');
seed('kannel', 'inbound-empty-text', SIG_RIGHT, 'from=0912345678&to=8079&text=&id=5');
seed('kannel', 'inbound-no-text', SIG_RIGHT, 'from=0912345678&to=8079&id=5');
seed('kannel', 'inbound-latin1-text', SIG_RIGHT, 'from=0912345678&to=8079&text=Hu%FD&id=6');
for (const st of [1, 2, 4, 8, 16, 3, 32, 0])
    seed('kannel', `dlr-status-${st}`, SIG_RIGHT, `type=dlr&id=notif-42&status=${st}&ts=1763880100&to=%2B84912345678`);
seed('kannel', 'dlr-no-ts', SIG_RIGHT, 'type=dlr&id=notif-42&status=1');
seed('kannel', 'dlr-bad-ts', SIG_RIGHT, 'type=dlr&id=notif-42&status=1&ts=soon');
seed('kannel', 'dlr-unfilled-escapes', SIG_RIGHT, 'type=dlr&id=notif-42&status=%d&ts=%T');
seed('kannel', 'dlr-local-to', SIG_RIGHT, 'type=dlr&id=n&status=2&ts=1&to=0912.345.678');
seed('kannel', 'long-name-skipped', SIG_RIGHT, `${'n'.repeat(70)}=1&from=1&to=2&text=x&id=3`);
seed('kannel', 'empty-query', SIG_RIGHT);
seed('kannel', 'method-head', SIG_RIGHT | PARSE_ALWAYS | OWN3, noSecret(data('ch_kannel_inbound.txt')));
// sendsms answers.
seed('kannel', 'answer-accepted', CLASSIFY, '202\n', '0: Accepted for delivery');
seed('kannel', 'answer-queued', CLASSIFY, '202\n', '3: Queued for later delivery');
seed('kannel', 'answer-temporal-failure', CLASSIFY, '503\n', 'Temporal failure, try again later');
seed('kannel', 'answer-auth', CLASSIFY, '403\n', 'Authorization failed for sendsms');
seed('kannel', 'answer-rejected', CLASSIFY, '400\n', 'Missing receiver number, rejected');
seed('kannel', 'answer-number-in-text', CLASSIFY, '400\n', 'receiver 0912 345 678 rejected\r\n');
seed('kannel', 'answer-timeout', CLASSIFY, '0');

/* --------------------------------------------------------------- webchat */

const W = (name, v) => seed('webchat', name, null, typeof v === 'string' ? v : json(v));
W('hello-new', { type: 'hello', session: null, last_seq: 0 });
W('hello-resume', { type: 'hello', session: '0123456789abcdef0123456789abcdef', last_seq: 7 });
W('hello-session-upper', { type: 'hello', session: '0123456789ABCDEF0123456789ABCDEF' });
W('hello-session-path', { type: 'hello', session: '../../etc' });
W('hello-negative-seq', { type: 'hello', last_seq: -1 });
W('hello-seq-real', { type: 'hello', last_seq: 1.5 });
W('hello-seq-huge', '{"type":"hello","last_seq":9223372036854775807}');
W('hello-session-number', { type: 'hello', session: 5 });
W('message', { type: 'message', id: 'c1', text: 'Làm khai sinh cần gì?' });
W('message-teencode', { type: 'message', id: 'c2', text: 'đk tạm trú onl dc ko ad' });
W('quick-reply', { type: 'quick_reply', id: 'q', payload: 'Kết hôn' });
W('message-2000', { type: 'message', id: 'max', text: 'ạ'.repeat(2000) });
W('message-2001', { type: 'message', id: 'long', text: 'a'.repeat(2001) });
W('message-blank', { type: 'message', id: '1', text: '  \n' });
W('message-nul', '{"type":"message","id":"1","text":"a\\u0000b"}');
W('message-id-number', { type: 'message', id: 1, text: 'x' });
W('message-id-64', { type: 'message', id: 'i'.repeat(64), text: 'x' });
W('message-id-65', { type: 'message', id: 'i'.repeat(65), text: 'x' });
W('message-no-id', { type: 'message', text: 'x' });
W('message-no-text', { type: 'message', id: '1' });
W('message-duplicate-keys', '{"type":"message","id":"a","id":"b","text":"x"}');
W('message-escapes', '{"type":"message","id":"\\ud83d\\ude00","text":"\\u2028<script>\\"\\\\"}');
W('unknown-type', { type: 'dance' });
W('type-number', { type: 1 });
W('not-object', '["hello"]');
W('bad-json', '{"type":"message",');
W('empty', '');
W('frame-4097', json({ type: 'message', id: 'big', text: 'a'.repeat(4097 - 39) }));
W('frame-4096', json({ type: 'message', id: 'big', text: ' '.repeat(4096 - 39) }));

/* ------------------------------------------------------------------- api */

// Byte 0 of an api seed: the endpoint (tests/fuzz/fuzz_api.c's table) and bit 3, the token
// of two wards (26743 and 26740) instead of every ward.
const EP = { notification: 0, batch: 1, broadcast: 2, subscription: 3, dossier: 4, event: 5, template: 6 };
const TWO = 0x08;
const A = (name, ep, v, flags = 0) => seed('api', name, EP[ep] | flags, typeof v === 'string' ? v : json(v));
const at = '2026-11-23T08:00:00+07:00';
A('notif-phone', 'notification', { to: { phone: '+84901234567' }, text: 'Hồ sơ của bạn đã có kết quả' });
A('notif-chat-fallback', 'notification', { to: { channel: 'zalo', user_id: 'zl-777', phone: '+84987654321' }, text: 'x', channels: ['zalo', 'sms'], priority: 'urgent', send_at: at, not_after: '2036-11-24T08:00:00Z', idempotency_key: 'k-1' });
A('notif-template', 'notification', { to: { phone: '+84901234567' }, template: { id: 'nhac_lich', data: { ten: 'An', gio: '8:00' } } });
A('notif-send-at-far', 'notification', { to: { phone: '+84901234567' }, text: 'x', send_at: '2036-01-01T00:00:00+07:00' });
A('notif-bad-phone', 'notification', { to: { phone: '0901234567' }, text: 'x' });
A('notif-both-text-template', 'notification', { to: { phone: '+84901234567' }, text: 'x', template: { id: 't' } });
A('notif-unknown-field', 'notification', { to: { phone: '+84901234567' }, text: 'x', colour: 'đỏ' });
A('notif-not-after-before', 'notification', { to: { phone: '+84901234567' }, text: 'x', send_at: at, not_after: '2026-11-22T08:00:00Z' });
A('notif-channels-empty', 'notification', { to: { channel: 'facebook', user_id: '1' }, text: 'x', channels: [] });
A('batch-text', 'batch', { text: 'Lịch tiếp dân', rows: [{ row: 1, phone: '+84901234567' }, { row: 2, channel: 'zalo', user_id: 'zl-1' }] });
A('batch-template-dry', 'batch', { dry_run: true, template: { id: 'nhac_lich', data: { gio: '8:00' } }, rows: [{ phone: '+84901234567', data: { ten: 'Bình' } }] });
A('batch-bad-rows', 'batch', { text: 'x', rows: [{ phone: 'abc' }, { channel: 'zalo' }, 7] });
A('batch-no-rows', 'batch', { text: 'x', rows: [] });
A('bc-wards', 'broadcast', { audience: { wards: ['26743'] }, text: 'Cắt điện cuối tuần' });
A('bc-wards-two-token', 'broadcast', { audience: { wards: ['26743', 'sai-gon-26740'], channels: ['sms', 'zalo'], tags: ['flood-alert'] }, text: 'x', send_at: at }, TWO);
A('bc-outside-areas', 'broadcast', { audience: { wards: ['27316'] }, text: 'x' }, TWO);
A('bc-ward-twice', 'broadcast', { audience: { wards: ['26743', '26743'] }, text: 'x' });
A('bc-unknown-channel', 'broadcast', { audience: { wards: ['26743'], channels: ['telegram'] }, text: 'x' });
A('bc-audience-array', 'broadcast', { audience: ['26743'], text: 'x' });
A('sub-ward-tags', 'subscription', { phone: '+84987654321', ward: '26743', tags: ['flood-alert', 'dien'] }, TWO);
A('sub-dossier-chat', 'subscription', { channel: 'zalo', user_id: 'zl-777', dossier: '000.00.25.h29-231122-0001' });
A('sub-both', 'subscription', { phone: '+84987654321', ward: '26743', dossier: '000.00.25.H29-231122-0001' });
A('sub-bad-tag', 'subscription', { phone: '+84987654321', ward: '26743', tags: ['có dấu'] });
A('dossier-put', 'dossier', { procedure: 'khai_sinh', status: 'received', phone: '+84901234567', expected_at: '2026-12-01' });
A('dossier-bad-date', 'dossier', { procedure: 'khai_sinh', status: 'received', expected_at: '2026-02-30' });
A('dossier-unknown-procedure', 'dossier', { procedure: 'bay_len_troi', status: 'received' });
A('event-note', 'event', { status: 'ready_for_pickup', note: 'mang theo CCCD' });
A('event-unknown-status', 'event', { status: 'teleported' });
A('template', 'template', { name: 'Thông báo cúp điện', text: 'Phường ((phuong)) cúp điện ngày ((ngay)).', placeholders: ['phuong', 'ngay'] });
A('template-derived', 'template', { name: 'Nhắc lịch hẹn', text: 'Chào ((ten)), mời đến lúc ((gio)).' });
A('template-unused-placeholder', 'template', { name: 'x', text: 'Chào ((ten))', placeholders: ['ten', 'gio'] });
A('template-unclosed', 'template', { name: 'x', text: 'Chào ((ten' });
A('template-blank-name', 'template', { name: '   ', text: 'x' });
A('not-object', 'notification', '["x"]');
A('duplicate-key', 'notification', '{"text":"a","text":"b"}');

/* ------------------------------------------------------------------ write */

for (const [target, list] of Object.entries(seeds)) {
    const dir = join(CORPUS, target);
    mkdirSync(dir, { recursive: true });
    const names = new Set();
    for (const [name, bytes] of list) {
        if (names.has(name)) throw new Error(`${target}/${name}: two seeds with one name`);
        names.add(name);
        writeFileSync(join(dir, name), bytes);
    }
    console.log(`${target}: ${list.length} seeds`);
}
