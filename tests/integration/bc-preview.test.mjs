// Integration tests of the broadcast preview's warnings and the test send (issue 13,
// "Broadcast safety"): POST /api/v1/broadcasts/preview says, per channel, when a text
// would wait (SMS quiet hours, unless urgent; Zalo's broadcast night) and when it leaves,
// how many chat recipients will be outside their window by then (and where they are
// reached instead: a broadcast recipient has only their subscription's channel), which
// characters make an SMS UCS-2; POST /api/v1/broadcasts/test sends the text to one phone or
// chat user now, audited (broadcast.test), at most 10 per department in 10 minutes.
//
// The real binary (role all) against a private Redis and the fake providers; the
// gateway's clock ([server] test_clock) at 12:00 local time, [sms] quiet_hours 21:00-07:00.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, startRedis, startMotcua, httpRequest, redisCli, waitFor, stopAll } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { FB, ZALO, TW, HOUR, HCM_OFFSET, offsetTo, providerEnv } from '../lib/providers-env.mjs';
import { citizenKey, idKey, wardSubCmds } from '../lib/keys.mjs';

const BEN_THANH = '26743'; // vi-nlp/data/wards.csv
const DAY = 24 * HOUR;
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const newToken = () => crypto.randomBytes(18).toString('base64url');

describe('broadcast preview warnings and the test send (issue 13)', { timeout: 120000 }, () => {
    let dir, redis, fakes, mc, offset;
    const tok = { a: newToken(), b: newToken() };
    const T = () => Date.now() + offset;
    const R = (...a) => redisCli(redis.sock, ...a);

    async function api(method, p, { token = tok.a, body } = {}) {
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
        const r = await httpRequest(`${mc.url}/api/v1/${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        let json = null;
        try {
            json = JSON.parse(r.body);
        } catch {
            /* not JSON */
        }
        return { status: r.status, json, body: r.body, headers: r.headers };
    }
    /** "yyyy-mm-dd" of the local day `days` after the gateway's today. */
    const localDay = (days) => new Date(T() + HCM_OFFSET + days * DAY).toISOString().slice(0, 10);

    before(async () => {
        dir = makeTempDir('motcua-bcpv-');
        const tokensFile = path.join(dir, 'tokens.txt');
        fs.writeFileSync(tokensFile, [`ubnd-ben-thanh ${sha256(tok.a)} broadcast,notify,read ${BEN_THANH}`, `so-tu-phap ${sha256(tok.b)} notify,read *`, ''].join('\n'));
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes({
            fbToken: FB.pageToken,
            zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh },
            twilio: { sid: TW.sid, token: TW.token },
        });
        offset = offsetTo(12);
        mc = await startMotcua({
            redisUrl: redis.url,
            env: providerEnv(fakes.url, {
                MOTCUA_SCHEDULER_RATE_SMS: '0',
                MOTCUA_SERVER_TEST_CLOCK: 'true',
                MOTCUA_TEST_CLOCK_OFFSET_MS: String(offset),
                MOTCUA_ADMIN_TOKENS_FILE: tokensFile,
                MOTCUA_SMS_QUIET_HOURS: '21:00-07:00',
                MOTCUA_SMS_UNACCENTED: 'true',
                MOTCUA_WORKER_CONSUMER: 'it-bcpv-1',
            }),
        });
        await waitFor(async () => (await httpRequest(`${mc.url}/healthz`)).status === 200, 10000);
        // the ward's subscribers: chat users with and without a recent message
        const members = ['zalo:z-recent', 'zalo:z-never', 'zalo:z-old', 'facebook:f-recent', 'facebook:f-old', 'sms:+84909100001', 'sms:+84909100002'];
        for (const c of wardSubCmds(BEN_THANH, members)) await R(...c);
        const last = { 'zalo:z-recent': HOUR, 'zalo:z-old': 8 * DAY, 'facebook:f-recent': 2 * HOUR, 'facebook:f-old': 30 * HOUR };
        for (const [m, ago] of Object.entries(last)) {
            const [ch, user] = m.split(':');
            await R('HSET', citizenKey('conv', ch, user), 'last_in_ms', String(T() - ago));
        }
    });

    after(async () => {
        await stopAll({ procs: [mc].filter(Boolean), fakes, redis, dir });
        assert.doesNotMatch(mc.stderrLines.join('\n'), /Sanitizer|runtime error/);
    });

    it('now (12:00): nothing waits; chat recipients outside their window counted per channel, reached nowhere else', async () => {
        const r = await api('POST', 'broadcasts/preview', { body: { audience: { wards: [BEN_THANH] }, text: 'Mất nước.' } });
        assert.equal(r.status, 200, r.body);
        const c = r.json.channels;
        assert.equal(r.json.recipients, 7);
        for (const ch of ['zalo', 'facebook', 'sms']) assert.equal(c[ch].waits, undefined, `${ch} leaves at once`);
        assert.equal(c.zalo.recipients, 3);
        assert.equal(c.zalo.outside_window, 2, 'never wrote, or 8 days ago (Zalo: 7 days)');
        assert.equal(c.facebook.outside_window, 1, '30 hours ago (Facebook: 24 hours)');
        assert.deepEqual(c.zalo.reached_instead, {});
        assert.equal(c.sms.outside_window, undefined, 'SMS has no window');
        assert.ok(r.json.send_at.startsWith(`${localDay(0)}T12:`), r.json.send_at);
        assert.equal(c.sms.ucs2_culprits, undefined, 'GSM-7 once unaccented');
    });

    it('at 22:30 tomorrow: SMS waits for the end of quiet hours (07:00 the day after), Zalo for the end of its night (06:00); urgent SMS does not wait', async () => {
        const at = `${localDay(1)}T22:30:00+07:00`;
        const body = { audience: { wards: [BEN_THANH], channels: ['zalo', 'sms'] }, text: 'Cúp điện.', send_at: at };
        const r = await api('POST', 'broadcasts/preview', { body });
        assert.equal(r.status, 200, r.body);
        const c = r.json.channels;
        assert.equal(r.json.send_at, at);
        assert.deepEqual(c.sms.waits, {
            reason: 'quiet_hours',
            from: '21:00',
            until: '07:00',
            leaves_at: `${localDay(2)}T07:00:00+07:00`,
            leaves_at_ms: Date.parse(`${localDay(2)}T07:00:00+07:00`),
        });
        assert.equal(c.zalo.waits.reason, 'night');
        assert.equal(c.zalo.waits.leaves_at, `${localDay(2)}T06:00:00+07:00`);
        // the window is judged when the text leaves: z-recent wrote an hour ago, still inside 7 days
        assert.equal(c.zalo.outside_window, 2);

        const urgent = await api('POST', 'broadcasts/preview', { body: { ...body, priority: 'urgent' } });
        assert.equal(urgent.status, 200, urgent.body);
        assert.equal(urgent.json.channels.sms.waits, undefined, 'urgent: no quiet hours');
        assert.equal(urgent.json.channels.zalo.waits.reason, 'night', "Zalo's night holds urgent broadcasts too");

        // a week on, z-recent's window (7 days) is closed by the time Zalo's night ends
        const later = await api('POST', 'broadcasts/preview', { body: { ...body, send_at: `${localDay(7)}T22:30:00+07:00` } });
        assert.equal(later.json.channels.zalo.outside_window, 3);
    });

    it('the characters that make an SMS UCS-2, each once, as the text goes (unaccented)', async () => {
        const r = await api('POST', 'broadcasts/preview', { body: { audience: { wards: [BEN_THANH], channels: ['sms'] }, text: '📢 Mất điện “khẩn” 📢' } });
        assert.equal(r.status, 200, r.body);
        const sms = r.json.channels.sms;
        assert.equal(sms.encoding, 'UCS-2');
        assert.equal(sms.text, '📢 Mat dien “khan” 📢');
        assert.equal(sms.ucs2_culprits, '📢“”');
        assert.equal(sms.ucs2_culprits_more, undefined);
    });

    it('POST /broadcasts/test: the text to one phone now, audited as broadcast.test; 400 for a bad body; 429 after 10 in the window', async () => {
        const p = '+84909100077';
        const r = await api('POST', 'broadcasts/test', { body: { to: { phone: p }, text: 'Thử: cúp điện 25/11.' } });
        assert.equal(r.status, 202, r.body);
        assert.equal(r.json.test, true);
        assert.ok(await waitFor(async () => (await R('HGET', idKey('notif', r.json.id), 'status')) === 'sent', 10000), 'sent');
        assert.ok(fakes.requests('twilio').some((x) => x.body.To === p && x.body.Body === 'Thu: cup dien 25/11.'), 'the SMS went (unaccented)');

        const audit = await api('GET', 'audit?action=broadcast.test');
        assert.equal(audit.status, 200, audit.body);
        const e = audit.json.entries.find((x) => x.target === r.json.id);
        assert.ok(e, audit.body);
        assert.equal(e.action, 'broadcast.test');
        assert.ok(!JSON.stringify(e).includes(p), 'the phone masked in the audit trail');

        // the message log finds it
        const log = await api('GET', `notifications?recipient=${encodeURIComponent(p)}`);
        assert.deepEqual(log.json.notifications.map((n) => n.id), [r.json.id]);

        for (const [body, field] of [
            [{ to: { phone: p } }, 'text'],
            [{ text: 'x' }, 'to'],
            [{ to: { phone: p }, text: 'x', audience: { wards: [BEN_THANH] } }, 'audience'],
            [{ to: { phone: p }, text: 'x', send_at: `${localDay(1)}T08:00:00+07:00` }, 'send_at'],
        ]) {
            const bad = await api('POST', 'broadcasts/test', { body });
            assert.equal(bad.status, 400, bad.body);
            assert.equal(bad.json.field, field, bad.body);
        }
        assert.equal((await api('POST', 'broadcasts/test', { token: tok.b, body: { to: { phone: p }, text: 'x' } })).status, 403, 'a token without broadcast');

        // a chat user, a local number; then the window's limit (1 + 9 = 10), then 429 with Retry-After, nothing written
        const chat = await api('POST', 'broadcasts/test', { body: { to: { channel: 'zalo', user_id: 'z-recent' }, text: 'Thử' } });
        assert.equal(chat.status, 202, chat.body);
        const local = await api('POST', 'broadcasts/test', { body: { to: { phone: '0909100077' }, text: 'Thử số 09…' } });
        assert.equal(local.status, 202, 'a local number as the officer types it');
        assert.equal(chat.status, 202, chat.body);
        for (let i = 0; i < 7; i++) assert.equal((await api('POST', 'broadcasts/test', { body: { to: { phone: p }, text: `Thử ${i}` } })).status, 202);
        const over = await api('POST', 'broadcasts/test', { body: { to: { phone: p }, text: 'Một lần nữa' } });
        assert.equal(over.status, 429, over.body);
        const retry = Number(over.headers['retry-after']);
        assert.ok(retry > 0 && retry <= 600, String(retry));
        const log2 = await api('GET', `notifications?recipient=${encodeURIComponent(p)}`);
        assert.equal(log2.json.notifications.length, 9, 'the refused test wrote nothing');
    });

    it("a broadcast's recipients are in their message logs (a phone, a chat user), with the broadcast's text", async () => {
        const b = await api('POST', 'broadcasts', { body: { audience: { wards: [BEN_THANH], channels: ['sms', 'zalo'] }, text: 'Thông báo mất nước.', priority: 'urgent' } });
        assert.equal(b.status, 202, b.body);
        const logOf = async (who) => (await api('GET', `notifications?recipient=${encodeURIComponent(who)}`)).json.notifications || [];
        const mine = (list) => list.filter((n) => n.broadcast === b.json.id);
        assert.ok(await waitFor(async () => mine(await logOf('+84909100002')).length === 1, 15000), 'the phone finds it');
        const [n] = mine(await logOf('0909100002'));
        assert.ok(n.id.endsWith(`-${b.json.id}-${n.id.split('-').pop()}`), n.id);
        assert.equal(n.text, 'Thông báo mất nước.');
        assert.equal(mine(await logOf('zalo:z-recent')).length, 1, 'the chat user finds it');
        assert.equal(mine(await logOf('facebook:f-recent')).length, 0, 'not addressed');
    });
});
