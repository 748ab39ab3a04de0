// Integration tests of ZNS (issue 14): a department template linked to an approved ZNS
// template (checked with the template-info call when saved), a notification to a
// citizen known by phone sent by ZNS with our notification id as tracking_id, the
// delivery event on the OA webhook, and every error path of the channel table (token →
// refresh and retry once; quota → SMS and ZNS left alone until the quota resets; phone
// not on Zalo → SMS and remembered; template disabled → dead). The real binary against
// a real Redis and the fake providers (tests/fakes/providers.mjs), its clock at 12:00
// local so that quiet hours do not depend on when the tests run.
//
// Contracts: shared/spec/channels.md ("ZNS"), shared/research/channel-facts.md §1.8,
// shared/spec/admin-api.md ("Templates and ZNS").

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, startRedis, startMotcua, httpRequest, redisCli, waitFor, sleep, stopAll } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { FB, ZALO, TW, offsetTo, providerEnv } from '../lib/providers-env.mjs';
import { idKey, citizenKey, ownKey } from '../lib/keys.mjs';

const TPL = '231456'; // the approved ZNS template of the fake
const PARAMS = [
    { name: 'ma_ho_so', maxLength: 30 },
    { name: 'trang_thai', maxLength: 20 },
];
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
let phoneSeq = 0;
const phone = () => `+8491${String(process.pid % 1000).padStart(3, '0')}${String(phoneSeq++).padStart(4, '0')}`;
const zns84 = (p) => p.slice(1);

describe('ZNS: templates linked, sending, delivery, errors (clock at 12:00 local)', { timeout: 120000 }, () => {
    let dir, redis, fakes, mc, offset;
    const token = crypto.randomBytes(18).toString('base64url');
    const hook = { url: 'http://127.0.0.1:1/unset', appId: ZALO.appId, oaKey: ZALO.oaKey, oaId: ZALO.oaId, clockOffsetMs: 0, delayMs: 30 };

    async function api(method, p, body) {
        const r = await httpRequest(`${mc.url}/api/v1/${p}`, {
            method,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        let json = null;
        try {
            json = JSON.parse(r.body);
        } catch {
            /* not JSON */
        }
        return { status: r.status, json };
    }
    const R = (...a) => redisCli(redis.sock, ...a);
    const status = (id) => R('HGET', idKey('notif', id), 'status');
    async function attempts(id) {
        const raw = await R('LRANGE', idKey('attempts', id), '0', '-1');
        return raw ? raw.split('\n').map((l) => JSON.parse(l)) : [];
    }
    const znsTo = (p) => fakes.requests('zns').filter((r) => r.body && r.body.phone === zns84(p));
    const smsTo = (p) => fakes.requests('twilio').filter((r) => r.valid && r.body.To === p);
    const notify = (to, data = { code: 'HS-0001', status: 'Đã có kết quả' }) =>
        api('POST', 'notifications', { to: { phone: to }, template: { id: 'ket_qua', data } });

    before(async () => {
        dir = makeTempDir('motcua-zns-');
        const tokens = path.join(dir, 'tokens.txt');
        fs.writeFileSync(tokens, `so-tu-phap ${sha256(token)} dossiers:write,notify,read *\n`);
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes({
            fbToken: FB.pageToken,
            zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh },
            twilio: { sid: TW.sid, token: TW.token },
            znsTemplates: { [TPL]: { status: 'ENABLE', params: PARAMS }, 777: { status: 'PENDING_REVIEW', params: PARAMS } },
            znsWebhook: hook,
        });
        offset = offsetTo(12);
        hook.clockOffsetMs = offset;
        mc = await startMotcua({
            redisUrl: redis.url,
            env: providerEnv(fakes.url, {
                MOTCUA_ZALO_ZNS_API_BASE: fakes.url,
                MOTCUA_ZALO_PRICE_PER_ZNS_VND: '200',
                MOTCUA_SMS_PRICE_PER_SEGMENT_VND: '350',
                MOTCUA_ADMIN_TOKENS_FILE: tokens,
                MOTCUA_SCHEDULER_RATE_SMS: '0',
                MOTCUA_SCHEDULER_BACKOFF_BASE_MS: '200',
                MOTCUA_SCHEDULER_BACKOFF_MAX_MS: '1600',
                MOTCUA_SERVER_TEST_CLOCK: 'true',
                MOTCUA_TEST_CLOCK_OFFSET_MS: String(offset),
            }),
        });
        hook.url = `${mc.url}/webhook/zalo`;
    });

    after(async () => {
        await stopAll({ procs: [mc], fakes, redis, dir });
    });

    it('a link is checked with template info when it is saved: 400 for a mismatch, 201 when exact', async () => {
        const body = (zns) => ({ name: 'Kết quả hồ sơ', text: 'Hồ sơ ((code)): ((status))', zns });
        let r = await api('PUT', 'templates/ket_qua', body({ template_id: TPL, params: { ma_ho_so: '((code))' } }));
        assert.equal(r.status, 400, JSON.stringify(r.json));
        assert.equal(r.json.field, 'zns.params');
        assert.match(r.json.message, /trang_thai/);
        r = await api('PUT', 'templates/ket_qua', body({ template_id: TPL, params: { ma_ho_so: '((code))', trang_thai: '((status))', ngay: 'x' } }));
        assert.equal(r.status, 400);
        assert.match(r.json.message, /no parameter ngay/);
        r = await api('PUT', 'templates/ket_qua', body({ template_id: '777', params: { ma_ho_so: '((code))', trang_thai: '((status))' } }));
        assert.equal(r.status, 400);
        assert.equal(r.json.field, 'zns.template_id');
        assert.match(r.json.message, /PENDING_REVIEW/);
        r = await api('PUT', 'templates/ket_qua', body({ template_id: '404404', params: { ma_ho_so: '((code))', trang_thai: '((status))' } }));
        assert.equal(r.status, 400);
        assert.match(r.json.message, /-109/);
        r = await api('PUT', 'templates/ket_qua', body({ template_id: TPL, params: { ma_ho_so: '((nope))', trang_thai: '((status))' } }));
        assert.equal(r.status, 400);
        assert.equal(r.json.field, 'zns.params.ma_ho_so');
        const before = fakes.count('zns-info');
        r = await api('PUT', 'templates/ket_qua', body({ template_id: TPL, params: { ma_ho_so: '((code))', trang_thai: '((status))' } }));
        assert.equal(r.status, 201, JSON.stringify(r.json));
        assert.equal(fakes.count('zns-info'), before + 1, 'asked the provider once');
        const info = fakes.requests('zns-info').at(-1);
        assert.equal(info.headers.access_token, ZALO.access);
        assert.deepEqual(r.json.zns.max, { ma_ho_so: 30, trang_thai: 20 });
        r = await api('GET', 'templates/ket_qua');
        assert.equal(r.json.zns.template_id, TPL);
    });

    it('a phone-only citizen gets the linked template by ZNS (tracking_id = our id), delivered by the event', async () => {
        const to = phone();
        const r = await notify(to);
        assert.equal(r.status, 202, JSON.stringify(r.json));
        const id = r.json.id;
        assert.equal(await R('HGET', idKey('notif', id), 'channels'), 'zns,sms', 'ZNS first, then SMS');
        await waitFor(async () => znsTo(to).length === 1, 10000);
        const req = znsTo(to)[0];
        assert.deepEqual(req.body, { phone: zns84(to), template_id: TPL, template_data: { ma_ho_so: 'HS-0001', trang_thai: 'Đã có kết quả' }, tracking_id: id });
        assert.equal(req.headers.access_token, ZALO.access);
        await waitFor(async () => (await status(id)) === 'delivered', 10000);
        const at = await attempts(id);
        assert.deepEqual(at.map((a) => [a.channel, a.result]), [['zns', 'sent'], ['zns', 'delivered']]);
        assert.equal(smsTo(to).length, 0, 'no SMS');
        const d = fakes.znsDeliveries().find((x) => x.trackingId === id);
        assert.equal(d.status, 200, 'the webhook took the signed event');
    });

    it('a value longer than the ZNS parameter allows is a 400 when the notification is posted', async () => {
        const r = await notify(phone(), { code: 'HS-0001', status: 'x'.repeat(21) });
        assert.equal(r.status, 400);
        assert.equal(r.json.field, 'template.data.status');
        assert.match(r.json.message, /21 characters; the template allows 20/);
    });

    it('a text cannot be sent by ZNS: 400', async () => {
        const r = await api('POST', 'notifications', { to: { phone: phone() }, text: 'Xin chào', channels: ['zns', 'sms'] });
        assert.equal(r.status, 400);
        assert.equal(r.json.field, 'channels');
    });

    it('an expired token is refreshed and the message sent once more', async () => {
        const to = phone();
        const refreshes = fakes.zaloRefreshes().length;
        fakes.fail('zns', { code: -124 });
        const r = await notify(to);
        await waitFor(async () => (await status(r.json.id)) === 'delivered', 15000);
        assert.equal(fakes.zaloRefreshes().length, refreshes + 1, 'one refresh');
        assert.equal(znsTo(to).length, 2, 'refused once, then sent');
        assert.equal(znsTo(to)[1].headers.access_token, fakes.zaloTokens().accessToken, 'with the new token');
        assert.equal(smsTo(to).length, 0);
    });

    it('a phone not on Zalo falls back to SMS and is remembered: the next notification skips ZNS', async () => {
        const to = phone();
        fakes.znsState({ notOnZalo: [zns84(to)] });
        let r = await notify(to);
        await waitFor(async () => (await status(r.json.id)) === 'sent', 15000);
        assert.deepEqual((await attempts(r.json.id)).map((a) => [a.channel, a.result, a.error]), [
            ['zns', 'failed', 'not_on_zalo'],
            ['sms', 'sent', undefined],
        ]);
        assert.equal(await R('GET', citizenKey('unreach', 'zns', to)), 'not_on_zalo');
        const ttl = Number(await R('TTL', citizenKey('unreach', 'zns', to)));
        assert.ok(ttl > 29 * 86400 && ttl <= 30 * 86400, `remembered 30 days (${ttl} s)`);
        const zns = znsTo(to).length;
        r = await notify(to);
        await waitFor(async () => (await status(r.json.id)) === 'sent', 15000);
        assert.equal(znsTo(to).length, zns, 'no second ZNS request');
        assert.deepEqual((await attempts(r.json.id)).map((a) => [a.channel, a.result, a.error]), [
            ['zns', 'skipped', 'unreachable'],
            ['sms', 'sent', undefined],
        ]);
        assert.equal(smsTo(to).length, 2);
    });

    it('a spent daily quota sends by SMS and leaves ZNS alone until the quota resets', async () => {
        fakes.znsState({ quotaLeft: 0 });
        const a = phone(), b = phone();
        let r = await notify(a);
        await waitFor(async () => (await status(r.json.id)) === 'sent', 15000);
        assert.deepEqual((await attempts(r.json.id)).map((x) => [x.channel, x.result, x.error]), [
            ['zns', 'failed', 'quota'],
            ['sms', 'sent', undefined],
        ]);
        const pttl = Number(await R('PTTL', ownKey('hold', 'zns')));
        assert.ok(pttl > 0 && pttl <= 24 * 3600 * 1000, `held until local midnight (${pttl} ms)`);
        const before = fakes.count('zns');
        r = await notify(b);
        await waitFor(async () => (await status(r.json.id)) === 'sent', 15000);
        assert.equal(fakes.count('zns'), before, 'ZNS not asked while held');
        assert.deepEqual((await attempts(r.json.id)).map((x) => [x.channel, x.result, x.error]), [
            ['zns', 'skipped', 'quota'],
            ['sms', 'sent', undefined],
        ]);
        fakes.znsState({ quotaLeft: 500 });
        await R('DEL', ownKey('hold', 'zns'));
    });

    it('a disabled template makes the notification dead with the reason, no SMS', async () => {
        fakes.znsState({ template: { id: TPL, status: 'DISABLE' } });
        const to = phone();
        const r = await notify(to);
        await waitFor(async () => (await status(r.json.id)) === 'dead', 15000);
        assert.deepEqual((await attempts(r.json.id)).map((x) => [x.channel, x.result, x.error]), [['zns', 'failed', 'template_disabled']]);
        await sleep(300);
        assert.equal(smsTo(to).length, 0, 'SMS not tried');
        assert.ok([...mc.stdoutLines, ...mc.stderrLines].some((l) => l.includes('send.notification_dead') && l.includes('template_disabled')), 'a log event');
        fakes.znsState({ template: { id: TPL, status: 'ENABLE' } });
    });
});
