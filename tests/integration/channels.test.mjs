// Integration tests of the provider channels (issue: every channel through one
// door): real-shaped, signed webhooks into the real motcua binary, a private
// Redis, and fake Facebook/Zalo/Twilio/Kannel servers on loopback that check
// the production paths and bodies (tests/fakes/providers.mjs).
//
// Contracts: shared/spec/channels.md, shared/DESIGN.md "Guarantees".

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeTempDir, startRedis, startMotcua, httpRequest, redisCli, redisPipe, waitFor, sleep, wsConnect, stopAll } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { everyPart, key, ownKey, citizenKey, partOf } from '../lib/keys.mjs';
import { fbSignature, zaloSignature, twilioSignature } from '../lib/sign.mjs';
import { FB, ZALO, TW, PUBLIC_URL, providerEnv } from '../lib/providers-env.mjs';

const KANNEL = { user: 'kuser', pass: 'kpass', secret: 'kannel-shared-secret' };

function channelEnv(fakesUrl, extra = {}) {
    return providerEnv(fakesUrl, {
        MOTCUA_SCHEDULER_BACKOFF_BASE_MS: '100',
        MOTCUA_SCHEDULER_BACKOFF_MAX_MS: '400',
        MOTCUA_WORKER_CONSUMER: 'it-channels',
        ...extra,
    });
}

let seq = 0;
const uid = (p) => `${p}${Date.now().toString(36)}${(seq++).toString(36)}`;

function fbBody(items) {
    // items: [{psid, text?, mid?, payload?, echo?}] grouped as one entry per 2 items
    const entries = [];
    for (let i = 0; i < items.length; i += 2) {
        entries.push({
            id: FB.pageId,
            time: Date.now(),
            messaging: items.slice(i, i + 2).map((it) => {
                const m = { sender: { id: it.psid }, recipient: { id: FB.pageId }, timestamp: Date.now() };
                if (it.delivery) m.delivery = { mids: [it.delivery], watermark: Date.now() };
                else m.message = { mid: it.mid || uid('m_'), text: it.text, ...(it.echo ? { is_echo: true } : {}) };
                return m;
            }),
        });
    }
    return JSON.stringify({ object: 'page', entry: entries });
}

async function postFb(mc, raw, { sign = true, signature } = {}) {
    const headers = { 'content-type': 'application/json' };
    if (sign) headers['x-hub-signature-256'] = signature || fbSignature(FB.appSecret, raw);
    return httpRequest(`${mc.url}/webhook/facebook`, { method: 'POST', headers, body: raw });
}

function zaloBody({ user, text, event = 'user_send_text', msgId = uid('zm'), ts = Date.now() }) {
    const b = {
        app_id: ZALO.appId,
        user_id_by_app: `app-${user}`,
        event_name: event,
        timestamp: String(ts),
        sender: { id: user },
        recipient: { id: ZALO.oaId },
        message: event === 'user_send_text' ? { text, msg_id: msgId } : { msg_id: msgId, attachments: [{ type: 'image', payload: { url: 'https://example.invalid/a.jpg' } }] },
    };
    return { raw: JSON.stringify(b), ts: String(ts) };
}

async function postZalo(mc, { raw, ts }, { signature } = {}) {
    return httpRequest(`${mc.url}/webhook/zalo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-zevent-signature': signature || zaloSignature(ZALO.appId, raw, ts, ZALO.oaKey) },
        body: raw,
    });
}

async function postTwilio(mc, params) {
    const body = new URLSearchParams(params).toString();
    const sig = twilioSignature(TW.token, `${PUBLIC_URL}/webhook/sms`, params);
    return httpRequest(`${mc.url}/webhook/sms`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sig },
        body,
    });
}

const xlen = async (redis, key) => Number(await redisCli(redis.sock, 'XLEN', key));
/* entries waiting in every partition's inbound stream */
const inboundLen = async (redis) => {
    let n = 0;
    for (const k of everyPart('inbound')) n += await xlen(redis, k);
    return n;
};
const textOf = (r) => (r.body && r.body.message && r.body.message.text) || '';

describe('provider channels end to end', { timeout: 180000 }, () => {
    let dir, redis, fakes, mc;

    before(async () => {
        dir = makeTempDir('motcua-ch-');
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes({
            fbToken: FB.pageToken,
            zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh },
            twilio: { sid: TW.sid, token: TW.token },
            kannel: { username: KANNEL.user, password: KANNEL.pass },
        });
        mc = await startMotcua({ redisUrl: redis.url, env: channelEnv(fakes.url) });
    });

    beforeEach(() => {
        fakes.reset();
        if (mc && !mc.alive()) throw new Error(`motcua died: ${mc.stderrLines.slice(-30).join('\n')}`);
    });

    after(async () => {
        try {
            if (mc && mc.alive()) {
                const r = await mc.stop();
                const bad = mc.stderrLines.filter((l) => /Sanitizer|runtime error|LeakSanitizer/.test(l));
                assert.deepEqual(bad, [], 'clean sanitizer output');
                assert.equal(r.code, 0, `clean exit on SIGTERM: ${mc.stderrLines.slice(-20).join('\n')}`);
            }
        } finally {
            await fakes.stop();
            await redis.stop();
            removeTempDir(dir);
        }
    });

    it('facebook: verification handshake', async () => {
        const ok = await httpRequest(`${mc.url}/webhook/facebook?hub.mode=subscribe&hub.verify_token=${FB.verifyToken}&hub.challenge=1158201444`);
        assert.equal(ok.status, 200);
        assert.equal(ok.body, '1158201444');
        const bad = await httpRequest(`${mc.url}/webhook/facebook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444`);
        assert.equal(bad.status, 403);
    });

    it('facebook: a signed message is answered in Vietnamese at the Send API', async () => {
        const psid = uid('psid');
        const r = await postFb(mc, fbBody([{ psid, text: 'lam giay khai sinh can giay to gi' }]));
        assert.equal(r.status, 200, r.body);
        const [req] = await fakes.waitFor('facebook', 1, 10000);
        assert.equal(req.body.recipient.id, psid);
        assert.equal(req.body.messaging_type, 'RESPONSE');
        assert.match(textOf(req), /khai sinh/i);
        assert.match(textOf(req), /chứng sinh/i, 'lists the birth certificate papers');
    });

    it('facebook: bad or missing signature → 401 and nothing stored', async () => {
        const before = await inboundLen(redis);
        const raw = fbBody([{ psid: uid('p'), text: 'xin chào' }]);
        const flipped = fbSignature(FB.appSecret, raw).replace(/.$/, (c) => (c === '0' ? '1' : '0'));
        const r1 = await postFb(mc, raw, { signature: flipped });
        assert.equal(r1.status, 401);
        assert.equal(JSON.parse(r1.body).error, 'bad_signature');
        const r2 = await postFb(mc, raw, { sign: false });
        assert.equal(r2.status, 401);
        const r3 = await postFb(mc, raw, { signature: fbSignature('another-secret', raw) });
        assert.equal(r3.status, 401);
        await sleep(300);
        assert.equal(await inboundLen(redis), before, 'nothing reached the stream');
        assert.equal(fakes.requests('facebook').length, 0, 'nothing was answered');
    });

    it('facebook: the same delivery twice is answered once', async () => {
        const psid = uid('psid');
        const raw = fbBody([{ psid, text: 'đăng ký kết hôn cần giấy tờ gì', mid: uid('mid.dup') }]);
        assert.equal((await postFb(mc, raw)).status, 200);
        assert.equal((await postFb(mc, raw)).status, 200);
        await fakes.waitFor('facebook', 1, 10000);
        await sleep(1000);
        assert.equal(fakes.requests('facebook').filter((q) => q.body.recipient.id === psid).length, 1);
    });

    it('facebook: two partitions\' entries with the same stream id are both answered', async () => {
        // Each partition's inbound stream makes its own ids: two citizens' messages of the
        // same millisecond in two partitions carry the same id. The worker must tell them
        // apart by stream too, or it skips one as "already held" until a claim, 60 s later.
        const a = uid('psidA');
        let b;
        do b = uid('psidB');
        while (partOf(`facebook:${b}`) === partOf(`facebook:${a}`));
        const id = `${Date.now() + 60000}-7`; // ahead of anything the streams hold
        for (const psid of [a, b]) {
            const now = String(Date.now());
            await redisCli(redis.sock, 'XADD', key('inbound', partOf(`facebook:${psid}`)), id,
                'ch', 'facebook', 'kind', 'text', 'pid', uid('mid.same'), 'from', psid, 'to', FB.pageId,
                'ts', now, 'status', '', 'at', now, 'text', 'lam khai sinh can giay to gi');
        }
        const both = await waitFor(() => [a, b].every((p) => fakes.requests('facebook').some((q) => q.body.recipient.id === p)), 10000);
        assert.ok(both, 'both citizens answered');
    });

    it('facebook: a batch of 3 messages gets 3 replies in order', async () => {
        const psid = uid('psid');
        const raw = fbBody([
            { psid, text: 'lam khai sinh can giay to gi' },
            { psid, text: 'đăng ký kết hôn cần những giấy tờ gì' },
            { psid, text: 'dang ky tam tru can giay to gi' },
        ]);
        assert.equal((await postFb(mc, raw)).status, 200);
        const reqs = await fakes.waitFor('facebook', 3, 15000);
        const mine = reqs.filter((q) => q.body.recipient.id === psid).map(textOf);
        assert.equal(mine.length, 3);
        assert.match(mine[0], /khai sinh/i);
        assert.match(mine[1], /kết hôn/i);
        assert.match(mine[2], /tạm trú/i);
    });

    it('facebook: echoes and delivery receipts are not answered', async () => {
        const raw = fbBody([
            { psid: uid('p'), text: 'our own words', echo: true },
            { psid: uid('p'), delivery: 'm_ours_1' },
        ]);
        assert.equal((await postFb(mc, raw)).status, 200);
        await sleep(800);
        assert.equal(fakes.requests('facebook').length, 0);
    });

    it('bad input: malformed JSON 400, invalid UTF-8 400, too large 413 — nothing stored', async () => {
        const before = await inboundLen(redis);
        const bad = '{"object":"page","entry":[{';
        const r1 = await postFb(mc, bad);
        assert.equal(r1.status, 400);
        assert.ok(JSON.parse(r1.body).message.length > 0, 'the error names the problem');
        const psid = uid('p');
        const utf = Buffer.concat([
            Buffer.from(`{"object":"page","entry":[{"id":"${FB.pageId}","time":1,"messaging":[{"sender":{"id":"${psid}"},"recipient":{"id":"${FB.pageId}"},"timestamp":1,"message":{"mid":"m1","text":"ab`),
            Buffer.from([0xc3, 0x28]),
            Buffer.from('"}}]}]}'),
        ]);
        const r2 = await httpRequest(`${mc.url}/webhook/facebook`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-hub-signature-256': fbSignature(FB.appSecret, utf) },
            body: utf,
        });
        assert.equal(r2.status, 400, r2.body);
        const huge = 'x'.repeat(70000);
        const r3 = await postFb(mc, huge).catch((e) => ({ status: 'reset', body: String(e) }));
        assert.ok(r3.status === 413 || r3.status === 'reset', `413 for a body over max_body_bytes: ${r3.status}`);
        assert.equal(await inboundLen(redis), before);
    });

    it('facebook: provider 500 twice → delivered on the third attempt', async () => {
        fakes.fail('facebook', { status: 500, times: 2 });
        const psid = uid('psid');
        assert.equal((await postFb(mc, fbBody([{ psid, text: 'làm hộ chiếu cần giấy tờ gì' }]))).status, 200);
        const reqs = await fakes.waitFor('facebook', 3, 15000);
        assert.equal(reqs.filter((q) => q.body.recipient.id === psid).length, 3, 'two failures then one success');
    });

    it('facebook: outside the 24-hour window → dead letter with the reason, nothing stalls', async () => {
        fakes.fail('facebook', { code: 10, times: 1 });
        const psid = uid('psid');
        // a reply's dead letter goes to the dead list of its stream's partition: the citizen's
        const dead = key('dead', partOf(`facebook:${psid}`));
        const deadBefore = await xlen(redis, dead);
        assert.equal((await postFb(mc, fbBody([{ psid, text: 'xin chào' }]))).status, 200);
        await waitFor(async () => (await xlen(redis, dead)) > deadBefore, 10000);
        const last = await redisCli(redis.sock, 'XREVRANGE', dead, '+', '-', 'COUNT', '1');
        assert.match(last, /outside_window/);
        assert.ok(last.includes(psid), 'the dead letter names the citizen');
        // the next message still goes through
        const psid2 = uid('psid');
        assert.equal((await postFb(mc, fbBody([{ psid: psid2, text: 'cảm ơn' }]))).status, 200);
        await waitFor(() => fakes.requests('facebook').some((q) => q.body.recipient.id === psid2), 10000);
    });

    it('zalo: a signed text is answered with a consultation message', async () => {
        const user = uid('zu');
        const r = await postZalo(mc, zaloBody({ user, text: 'đk tạm trú onl dc ko ad' }));
        assert.equal(r.status, 200, r.body);
        const [req] = await fakes.waitFor('zalo', 1, 10000);
        assert.equal(req.path, '/v3.0/oa/message/cs');
        assert.equal(req.headers.access_token, ZALO.access);
        assert.equal(req.body.recipient.user_id, user);
        assert.match(req.body.message.text, /tạm trú/i);
    });

    it('zalo: an image is answered politely; a bad or stale signature is refused', async () => {
        const user = uid('zu');
        assert.equal((await postZalo(mc, zaloBody({ user, event: 'user_send_image' }))).status, 200);
        const [req] = await fakes.waitFor('zalo', 1, 10000);
        assert.equal(req.body.recipient.user_id, user);
        assert.ok(req.body.message.text.length > 10);
        const before = await inboundLen(redis);
        const body = zaloBody({ user, text: 'alo' });
        assert.equal((await postZalo(mc, body, { signature: 'mac=' + '0'.repeat(64) })).status, 401);
        const stale = zaloBody({ user, text: 'alo', ts: Date.now() - 10 * 60 * 1000 });
        assert.equal((await postZalo(mc, stale)).status, 401);
        assert.equal(await inboundLen(redis), before);
    });

    it('zalo: the conversation state carries a follow-up across messages (Redis, 30 minutes)', async () => {
        const user = uid('zctx');
        // Only what Zalo accepted. (This test runs before the token refresh test: the
        // fakes' reset() puts the fake back on its first token pair.)
        const accepted = (q) => {
            const r = typeof q.response === 'string' ? JSON.parse(q.response || '{}') : q.response || {};
            return q.status === 200 && r.error === 0;
        };
        const mine = () => fakes.requests('zalo').filter((q) => q.body && q.body.recipient && q.body.recipient.user_id === user && accepted(q));
        assert.equal((await postZalo(mc, zaloBody({ user, text: 'lam ho chieu can giay to gi' }))).status, 200);
        await waitFor(() => mine().length >= 1, 10000);
        assert.equal((await postZalo(mc, zaloBody({ user, text: 'còn lệ phí bao nhiêu?' }))).status, 200);
        await waitFor(() => mine().length >= 2, 10000);
        const second = mine()[1].body.message.text;
        assert.match(second, /Lệ phí/);
        assert.match(second, /hộ chiếu/i, `the fee of the passport: ${second}`);
        const ctx = await redisCli(redis.sock, 'HGET', citizenKey('conv', 'zalo', user), 'ctx');
        assert.match(ctx, /ho_chieu/);
        const ttl = Number(await redisCli(redis.sock, 'TTL', citizenKey('conv', 'zalo', user)));
        assert.ok(ttl > 0, 'conversation state expires');
    });

    it('zalo: an unknown event kind is answered 200 and ignored', async () => {
        const before = await inboundLen(redis);
        const ts = String(Date.now());
        const raw = JSON.stringify({ app_id: ZALO.appId, event_name: 'oa_send_gif_to_partner_planet', timestamp: ts, sender: { id: ZALO.oaId }, recipient: { id: uid('zu') } });
        const r = await postZalo(mc, { raw, ts });
        assert.equal(r.status, 200, r.body);
        await sleep(300);
        assert.equal(await inboundLen(redis), before, 'nothing stored');
        assert.equal(fakes.requests('zalo').length, 0, 'nothing answered');
    });

    it('zalo: an expired access token is refreshed once and the message resent', async () => {
        fakes.fail('zalo', { code: -216, times: 1 });
        const user = uid('zu');
        assert.equal((await postZalo(mc, zaloBody({ user, text: 'cho hỏi làm căn cước cần gì' }))).status, 200);
        await waitFor(() => fakes.requests('zalo').filter((q) => q.path === '/v3.0/oa/message/cs' && q.body.recipient.user_id === user).length >= 2, 10000);
        assert.equal(fakes.requests('zalo-oauth').length, 1, 'exactly one refresh');
        const sends = fakes.requests('zalo').filter((q) => q.path === '/v3.0/oa/message/cs');
        assert.notEqual(sends[sends.length - 1].headers.access_token, ZALO.access, 'the resend used the new token');
        const stored = await redisCli(redis.sock, 'HGET', ownKey('token', 'zalo'), 'access');
        assert.equal(stored, sends[sends.length - 1].headers.access_token, 'the new token is in Redis');
    });

    it('sms: subscribe to a dossier from chat, then HUY removes it', async () => {
        const from = '+84912000111';
        const code = '000.00.25.H29-231122-0042';
        let r = await postTwilio(mc, { MessageSid: uid('SM'), From: from, To: TW.from, Body: `dang ky nhan thong bao ho so ${code}` });
        assert.equal(r.status, 200);
        await fakes.waitFor('twilio', 1, 10000);
        const subs = key('sub_dossier', partOf(code), code); // in the dossier's partition
        assert.equal(await redisCli(redis.sock, 'SISMEMBER', subs, `sms:${from}`), '1');
        r = await postTwilio(mc, { MessageSid: uid('SM'), From: from, To: TW.from, Body: 'HUY' });
        assert.equal(r.status, 200);
        await fakes.waitFor('twilio', 2, 10000);
        assert.equal(await redisCli(redis.sock, 'SISMEMBER', subs, `sms:${from}`), '0');
    });

    it('sms (twilio): a signed inbound SMS is answered unaccented through the Messages API', async () => {
        const r = await postTwilio(mc, { MessageSid: uid('SM'), From: '+84912345678', To: TW.from, Body: 'LAM KHAI SINH CAN GIAY TO GI' });
        assert.equal(r.status, 200, r.body);
        assert.match(r.body, /<Response\/>/);
        const [req] = await fakes.waitFor('twilio', 1, 10000);
        assert.equal(req.body.To, '+84912345678');
        assert.equal(req.body.From, TW.from);
        assert.match(req.body.Body, /khai sinh/i);
        assert.doesNotMatch(req.body.Body, /[À-ỹđĐ]/u, 'unaccented');
        const bad = await httpRequest(`${mc.url}/webhook/sms`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'AAAA' },
            body: 'MessageSid=SMx&From=%2B84912345678&To=x&Body=hi',
        });
        assert.equal(bad.status, 401);
    });

    it('crash: kill -9 after the 200 and before the reply → the reply is sent after restart, once', async () => {
        // The provider says "later" (429, Retry-After 5 s), so the reply waits,
        // unacknowledged, well past the kill.
        fakes.fail('facebook', { status: 429, retryAfter: 5, times: 1 });
        const psid = uid('crash');
        const from = mc.stderrLines.length;
        assert.equal((await postFb(mc, fbBody([{ psid, text: 'lam khai tu can giay to gi' }]))).status, 200);
        await fakes.waitFor('facebook', 1, 10000);
        // killed once the 429 is heard: killed while the request is out, the reply would
        // count as sent (its wire mark, gateway/gw_sender.c) and not be sent again
        assert.ok(await waitFor(() => mc.stderrLines.slice(from).some((l) => l.includes('"send.retry"')), 10000, 20), 'the 429 was heard');
        await mc.kill();
        fakes.reset();
        mc = await startMotcua({ redisUrl: redis.url, env: channelEnv(fakes.url) });
        await fakes.waitFor('facebook', 1, 15000);
        await sleep(1500);
        assert.equal(fakes.requests('facebook').filter((q) => q.body.recipient.id === psid).length, 1);
        // and right after the 200, before the worker ran at all
        const psid2 = uid('crash2');
        const p = postFb(mc, fbBody([{ psid: psid2, text: 'dang ky ket hon o dau' }]));
        assert.equal((await p).status, 200);
        await mc.kill();
        mc = await startMotcua({ redisUrl: redis.url, env: channelEnv(fakes.url) });
        await waitFor(() => fakes.requests('facebook').some((q) => q.body.recipient.id === psid2), 15000);
        await sleep(1500);
        assert.equal(fakes.requests('facebook').filter((q) => q.body.recipient.id === psid2).length, 1);
    });

    it('a dead consumer\'s work is claimed by another process (XAUTOCLAIM)', async () => {
        fakes.fail('facebook', { status: 429, retryAfter: 5, times: 1 });
        const psid = uid('claim');
        const from = mc.stderrLines.length;
        assert.equal((await postFb(mc, fbBody([{ psid, text: 'thủ tục chứng thực bản sao' }]))).status, 200);
        await fakes.waitFor('facebook', 1, 10000);
        assert.ok(await waitFor(() => mc.stderrLines.slice(from).some((l) => l.includes('"send.retry"')), 10000, 20), 'the 429 was heard');
        await mc.kill();
        fakes.reset();
        mc = await startMotcua({ redisUrl: redis.url, env: channelEnv(fakes.url, { MOTCUA_WORKER_CONSUMER: 'it-other', MOTCUA_WORKER_CLAIM_IDLE_MS: '500' }) });
        await waitFor(() => fakes.requests('facebook').some((q) => q.body.recipient.id === psid), 15000);
        await sleep(1000);
        assert.equal(fakes.requests('facebook').filter((q) => q.body.recipient.id === psid).length, 1);
    });
});

describe('sms via kannel', { timeout: 60000 }, () => {
    let dir, redis, fakes, mc;
    before(async () => {
        dir = makeTempDir('motcua-kn-');
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes({ kannel: { username: KANNEL.user, password: KANNEL.pass } });
        mc = await startMotcua({
            redisUrl: redis.url,
            env: {
                MOTCUA_SMS_ENABLED: 'true',
                MOTCUA_SMS_PROVIDER: 'kannel',
                MOTCUA_SMS_USERNAME: KANNEL.user,
                MOTCUA_SMS_PASSWORD: KANNEL.pass,
                MOTCUA_SMS_SHARED_SECRET: KANNEL.secret,
                MOTCUA_SMS_API_BASE: fakes.url,
                MOTCUA_SMS_SENDER: 'UBND',
                MOTCUA_WORKER_CONSUMER: 'it-kannel',
            },
        });
    });
    after(async () => {
        await stopAll({ procs: [mc], fakes, redis, dir });
    });

    it('kannel get-url with the shared secret is answered through sendsms; a wrong secret is 401', async () => {
        const q = new URLSearchParams({ from: '0912345678', to: '8088', text: 'dang ky tam tru can giay to gi', id: uid('k'), secret: KANNEL.secret });
        const r = await httpRequest(`${mc.url}/webhook/sms?${q}`);
        assert.equal(r.status, 200, r.body);
        const [req] = await fakes.waitFor('kannel', 1, 10000);
        assert.equal(req.query.to, '+84912345678');
        assert.equal(req.query.from, 'UBND', 'from the brandname of [sms] sender');
        assert.match(req.query.text, /tam tru/i);
        q.set('secret', 'nope');
        assert.equal((await httpRequest(`${mc.url}/webhook/sms?${q}`)).status, 401);
    });
});

describe('web chat conversation (context, typing, dossier lookup)', { timeout: 60000 }, () => {
    let dir, redis, mc;
    before(async () => {
        dir = makeTempDir('motcua-wc-');
        redis = await startRedis(path.join(dir, 'redis'));
        mc = await startMotcua({ redisUrl: redis.url });
    });
    after(async () => {
        await stopAll({ procs: [mc], redis, dir });
    });

    async function session() {
        const c = await wsConnect(mc.wsUrl, { origin: mc.url });
        c.send({ type: 'hello', session: null, last_seq: 0 });
        await c.next('welcome', 5000);
        return c;
    }

    it('a follow-up carries the procedure: papers of khai sinh, then "còn lệ phí thì sao?" → fee of khai sinh', async () => {
        const c = await session();
        try {
            c.send({ type: 'message', id: 'a1', text: 'lam khai sinh can giay to gi' });
            await c.next('ack', 5000);
            await c.next('typing', 5000);
            const m1 = await c.next('message', 10000);
            assert.match(m1.text, /khai sinh/i);
            c.send({ type: 'message', id: 'a2', text: 'còn lệ phí thì sao?' });
            const m2 = await c.next((f) => f.type === 'message' && f.reply_to === 'a2', 10000);
            assert.match(m2.text, /Lệ phí/);
            assert.match(m2.text, /khai sinh/i, `the fee of khai sinh: ${m2.text}`);
            // a new session knows nothing of it
            const d = await session();
            d.send({ type: 'message', id: 'b1', text: 'còn lệ phí thì sao?' });
            const n1 = await d.next('message', 10000);
            assert.doesNotMatch(n1.text, /khai sinh: /i);
            d.terminate();
        } finally {
            c.terminate();
        }
    });

    it('a report without its place is asked where, then gets a ticket; a subscription points to Zalo, Messenger or SMS', async () => {
        const c = await session();
        try {
            c.send({ type: 'message', id: 'r1', text: 'đường trước nhà tôi ngập nặng mấy ngày nay' });
            const m = await c.next((f) => f.type === 'message' && f.reply_to === 'r1', 10000);
            assert.doesNotMatch(m.text, /PA-\d{6}/, `no ticket before the place is known: ${m.text}`);
            assert.match(m.text, /phường\/xã/);
            c.send({ type: 'message', id: 'r2', text: 'hẻm 5 Lê Lợi, phường Bến Thành' });
            const m2 = await c.next((f) => f.type === 'message' && f.reply_to === 'r2', 10000);
            const ticket = (m2.text.match(/PA-\d{6}-\d{4}/) || [])[0];
            assert.ok(ticket, `a ticket in the reply: ${m2.text}`);
            // the ticket in the partition of its id (gateway/conv/gw_turn.c)
            const h = await redisCli(redis.sock, 'HMGET', key('report', partOf(ticket), ticket), 'category', 'ward', 'ch');
            assert.deepEqual(h.split('\n'), ['ngap_nuoc', '26743', 'webchat']);
            c.send({ type: 'message', id: 's1', text: 'đăng ký nhận thông báo hồ sơ 000.00.25.H29-231122-0001' });
            const n = await c.next((f) => f.type === 'message' && f.reply_to === 's1', 10000);
            assert.match(n.text, /Zalo/);
            assert.doesNotMatch(n.text, /đã đăng ký/);
        } finally {
            c.terminate();
        }
    });

    it('"tra hồ sơ <code>" answers with the status the department set, and not-found otherwise', async () => {
        const code = '000.00.25.H29-231122-0001';
        await redisCli(redis.sock, 'HSET', key('dossier', partOf(code), code), 'status', 'processing', 'status_text', 'đang được giải quyết', 'updated', '2026-11-23 09:00', 'agency', 'UBND phường Bến Thành');
        const c = await session();
        try {
            c.send({ type: 'message', id: 'd1', text: 'tra ho so 000.00.25.h29 231122 0001' });
            const m = await c.next('message', 10000);
            assert.match(m.text, /000\.00\.25\.H29-231122-0001/);
            assert.match(m.text, /đang được giải quyết/);
            c.send({ type: 'message', id: 'd2', text: 'TRA 000.00.25.H29-231122-0999' });
            const n = await c.next((f) => f.type === 'message' && f.reply_to === 'd2', 10000);
            assert.match(n.text, /000\.00\.25\.H29-231122-0999/);
            assert.doesNotMatch(n.text, /đang được giải quyết/);
        } finally {
            c.terminate();
        }
    });
});

describe('a retrying process keeps its work: no other process claims it', { timeout: 60000 }, () => {
    let dir, redis, fakes, a, b;
    before(async () => {
        dir = makeTempDir('motcua-rt-');
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes({ fbToken: FB.pageToken });
    });
    after(async () => {
        await stopAll({ procs: [a, b], fakes, redis, dir });
    });

    it('429 with Retry-After 3 s in process A while process B claims idle work after 0.5 s → one send', async () => {
        const env = (name) => channelEnv(fakes.url, { MOTCUA_WORKER_CONSUMER: name, MOTCUA_WORKER_CLAIM_IDLE_MS: '500' });
        a = await startMotcua({ redisUrl: redis.url, env: env('it-a') });
        fakes.fail('facebook', { status: 429, retryAfter: 3, times: 1 });
        const psid = uid('rt');
        assert.equal((await postFb(a, fbBody([{ psid, text: 'lam ho chieu mat bao lau' }]))).status, 200);
        await fakes.waitFor('facebook', 1, 10000); // A got the 429 and waits 3 s
        b = await startMotcua({ redisUrl: redis.url, env: env('it-b') });
        await waitFor(() => fakes.requests('facebook').length >= 2, 8000);
        await sleep(1500);
        const sends = fakes.requests('facebook').filter((q) => q.body.recipient.id === psid);
        assert.equal(sends.length, 2, 'the 429 and one successful resend, nothing more');
        assert.ok(sends[1].time - sends[0].time >= 2500, 'Retry-After was honoured');
    });
});

describe('outbox (a channel without sending credentials)', { timeout: 60000 }, () => {
    let dir, redis, mc;
    before(async () => {
        dir = makeTempDir('motcua-ob-');
        redis = await startRedis(path.join(dir, 'redis'));
        // SMS verifies Twilio signatures (auth_token) but has no account to send with.
        mc = await startMotcua({
            redisUrl: redis.url,
            env: { MOTCUA_SMS_ENABLED: 'true', MOTCUA_SMS_PROVIDER: 'twilio', MOTCUA_SMS_AUTH_TOKEN: TW.token, MOTCUA_SERVER_PUBLIC_URL: PUBLIC_URL },
        });
    });
    after(async () => {
        await stopAll({ procs: [mc], redis, dir });
    });

    it('the reply is written to <outbox>/sms.jsonl as the provider would get it (unaccented)', async () => {
        const r = await postTwilio(mc, { MessageSid: uid('SM'), From: '+84912345000', To: TW.from, Body: 'đăng ký kết hôn cần giấy tờ gì' });
        assert.equal(r.status, 200, r.body);
        const file = path.join(mc.outbox, 'sms.jsonl');
        const line = await waitFor(() => {
            try {
                return fs.readFileSync(file, 'utf8').trim().split('\n').pop();
            } catch {
                return undefined;
            }
        }, 10000);
        assert.ok(line, 'a line in the outbox');
        const m = JSON.parse(line);
        assert.equal(m.channel, 'sms');
        assert.equal(m.to, '+84912345000');
        assert.match(m.text, /ket hon/i);
        assert.doesNotMatch(m.text, /[À-ỹđĐ]/u, 'unaccented');
    });
});
