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
import { idKey, citizenKey, ownKey, key, partOf } from '../lib/keys.mjs';

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

    it("a dossier's status change reaches its phone by ZNS with the department's dossier_status template", async () => {
        const code = `000.00.25.H29-231122-${String(process.pid % 10000).padStart(4, '0')}`;
        const to = phone();
        let r = await api('PUT', `dossiers/${code}`, { procedure: 'khai_sinh', status: 'received', phone: to });
        assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.json));
        r = await api('POST', 'subscriptions', { channel: 'zalo', user_id: 'zu-dossier-1', dossier: code });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        const text = 'Hồ sơ ((code)) (((procedure))) ((status)), ngày ((date)). ((note))';
        r = await api('PUT', 'templates/dossier_status', {
            name: 'Trạng thái hồ sơ',
            text,
            zns: { template_id: TPL, params: { ma_ho_so: '((code))', trang_thai: '((status))' } },
        });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        r = await api('POST', `dossiers/${code}/events`, { status: 'approved', note: 'Mời nhận kết quả' });
        assert.equal(r.status, 202, JSON.stringify(r.json));
        const ids = r.json.notifications;
        assert.equal(ids.length, 2, 'the Zalo subscriber and the dossier phone');
        const byTo = {};
        for (const id of ids) byTo[JSON.parse(await R('HGET', idKey('notif', id), 'to')).phone ? 'phone' : 'zalo'] = id;
        assert.equal(await R('HGET', idKey('notif', byTo.phone), 'channels'), 'zns,sms', 'ZNS first for the phone');
        assert.equal(await R('HGET', idKey('notif', byTo.zalo), 'channels'), 'zalo', 'a Zalo user keeps its chat channel');
        assert.equal(await R('HGET', idKey('notif', byTo.zalo), 'data:zns'), '', 'no template message for a chat user');
        const sent = await R('HGET', idKey('notif', byTo.phone), 'text');
        assert.match(sent, new RegExp(`^Hồ sơ ${code.replace(/\./g, '\\.')} \\(Đăng ký khai sinh\\) đã được phê duyệt, ngày \\d\\d/\\d\\d/\\d{4}\\. Mời nhận kết quả$`));
        await waitFor(async () => znsTo(to).length === 1, 10000);
        assert.deepEqual(znsTo(to)[0].body, {
            phone: zns84(to),
            template_id: TPL,
            template_data: { ma_ho_so: code, trang_thai: 'đã được phê duyệt' },
            tracking_id: byTo.phone,
        });
        await waitFor(async () => (await status(byTo.phone)) === 'delivered', 10000);
        assert.equal(smsTo(to).length, 0, 'no SMS');

        // a status whose wording is longer than the ZNS parameter allows: the change is not
        // refused, the phone gets the template's text by SMS
        r = await api('POST', `dossiers/${code}/events`, { status: 'ready_for_pickup' });
        assert.equal(r.status, 202, JSON.stringify(r.json));
        let ph = null;
        for (const id of r.json.notifications) if (JSON.parse(await R('HGET', idKey('notif', id), 'to')).phone) ph = id;
        assert.equal(await R('HGET', idKey('notif', ph), 'channels'), 'sms');
        assert.match(await R('HGET', idKey('notif', ph), 'text'), /^Hồ sơ .* đã có kết quả, mời anh\/chị đến nhận, ngày /);
        await waitFor(async () => smsTo(to).length === 1, 10000);
        const logged = [...mc.stdoutLines, ...mc.stderrLines].filter((l) => l.includes('admin.dossier_template'));
        assert.ok(logged.some((l) => /trang_thai is 35 characters; the template allows 20/.test(l)), `logged: ${logged.join('\n')}`);

        // without the template: statuses.txt's text, by SMS as before
        r = await api('DELETE', 'templates/dossier_status');
        assert.equal(r.status, 204);
        r = await api('POST', `dossiers/${code}/events`, { status: 'processing' });
        for (const id of r.json.notifications) if (JSON.parse(await R('HGET', idKey('notif', id), 'to')).phone) ph = id;
        assert.equal(await R('HGET', idKey('notif', ph), 'channels'), 'sms');
        assert.doesNotMatch(await R('HGET', idKey('notif', ph), 'text'), /ngày \d\d\//);
    });

    it('subscriptions by phone take channel zalo or sms, or a channels order; a dossier event follows it', async () => {
        const code = `000.00.25.H29-231123-${String(process.pid % 10000).padStart(4, '0')}`;
        let r = await api('PUT', `dossiers/${code}`, { procedure: 'khai_sinh', status: 'received' });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        r = await api('PUT', 'templates/dossier_status', {
            name: 'Trạng thái hồ sơ',
            text: 'Hồ sơ ((code)): ((status))',
            zns: { template_id: TPL, params: { ma_ho_so: '((code))', trang_thai: '((status))' } },
        });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        const who = { dflt: phone(), sms: phone(), zalo: phone(), order: phone() };
        const bodies = {
            dflt: { phone: who.dflt },
            sms: { phone: who.sms, channel: 'sms' },
            zalo: { phone: who.zalo, channel: 'zalo' },
            order: { phone: who.order, channels: ['sms', 'zalo'] },
        };
        for (const [k, b] of Object.entries(bodies)) {
            r = await api('POST', 'subscriptions', { ...b, dossier: code });
            assert.equal(r.status, 201, `${k}: ${JSON.stringify(r.json)}`);
        }
        // the citizen is its phone's SMS identity whatever carries it: its own HUY finds it
        const members = (await R('SMEMBERS', key('sub_dossier', partOf(code), code))).split('\n').sort();
        assert.deepEqual(members, Object.values(who).map((p) => `sms:${p}`).sort());

        const bad = [
            [{ phone: phone(), channel: 'facebook', dossier: code }, 'channel', /cannot reach a phone/],
            [{ phone: phone(), channels: ['zalo', 'nope'], dossier: code }, 'channels[1]', /cannot reach a phone/],
            [{ phone: phone(), channel: 'sms', channels: ['sms'], dossier: code }, 'channels', /not both/],
            [{ channel: 'zalo', user_id: 'u1', channels: ['zalo'], dossier: code }, 'channels', /with a phone/],
            [{ phone: phone(), channel: 'zalo', ward: '26743' }, 'channel', /free text/],
        ];
        for (const [b, field, msg] of bad) {
            r = await api('POST', 'subscriptions', b);
            assert.equal(r.status, 400, JSON.stringify(b));
            assert.equal(r.json.field, field, JSON.stringify(r.json));
            assert.match(r.json.message, msg);
        }
        r = await api('POST', 'subscriptions', { phone: phone(), channel: 'sms', ward: '26743' });
        assert.equal(r.status, 201, JSON.stringify(r.json));

        r = await api('POST', `dossiers/${code}/events`, { status: 'approved' });
        assert.equal(r.status, 202, JSON.stringify(r.json));
        const chans = {};
        for (const id of r.json.notifications) {
            const to = JSON.parse(await R('HGET', idKey('notif', id), 'to')).phone;
            const k = Object.keys(who).find((x) => who[x] === to);
            chans[k] = [await R('HGET', idKey('notif', id), 'channels'), (await R('HGET', idKey('notif', id), 'data:zns')) !== ''];
        }
        assert.deepEqual(chans, {
            dflt: ['zns,sms', true],
            sms: ['sms', false],
            zalo: ['zns', true],
            order: ['sms,zns', true],
        });

        // DELETE forgets the order: subscribed again without one, the default applies
        r = await httpRequest(`${mc.url}/api/v1/subscriptions?phone=${encodeURIComponent(who.sms)}&dossier=${code}`, {
            method: 'DELETE',
            headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(r.status, 200, r.body);
        r = await api('POST', 'subscriptions', { phone: who.sms, dossier: code });
        assert.equal(r.status, 201);
        r = await api('POST', `dossiers/${code}/events`, { status: 'processing' });
        for (const id of r.json.notifications)
            if (JSON.parse(await R('HGET', idKey('notif', id), 'to')).phone === who.sms)
                assert.equal(await R('HGET', idKey('notif', id), 'channels'), 'zns,sms');
        await api('DELETE', 'templates/dossier_status');
    });

    it('a link is checked again before its first use: disabled meanwhile → SMS and a log line; usable → marked used, not asked again', async () => {
        const body = { name: 'Lần đầu', text: 'Hồ sơ ((code)): ((status))', zns: { template_id: TPL, params: { ma_ho_so: '((code))', trang_thai: '((status))' } } };
        let r = await api('PUT', 'templates/lan_dau', body);
        assert.equal(r.status, 201, JSON.stringify(r.json));
        const send = () => api('POST', 'notifications', { to: { phone: phone() }, template: { id: 'lan_dau', data: { code: 'HS-9', status: 'Đã xong' } } });
        let asked = fakes.count('zns-info');
        fakes.znsState({ template: { id: TPL, status: 'DISABLE' } });
        r = await send();
        assert.equal(r.status, 202, JSON.stringify(r.json));
        assert.equal(fakes.count('zns-info'), asked + 1, 'asked before the first use');
        assert.equal(await R('HGET', idKey('notif', r.json.id), 'channels'), 'sms', 'not by ZNS: its template is disabled');
        await waitFor(async () => [...mc.stdoutLines, ...mc.stderrLines].some((l) => l.includes('admin.template_first_use') && l.includes('refused')), 5000);
        assert.equal((await api('GET', 'templates/lan_dau')).json.zns.used_at, undefined);
        fakes.znsState({ template: { id: TPL, status: 'ENABLE' } });
        r = await send();
        assert.equal(fakes.count('zns-info'), asked + 2, 'asked again: never used yet');
        assert.equal(await R('HGET', idKey('notif', r.json.id), 'channels'), 'zns,sms');
        assert.match((await api('GET', 'templates/lan_dau')).json.zns.used_at, /^\d{4}-\d\d-\d\dT/);
        r = await send();
        assert.equal(r.status, 202);
        assert.equal(fakes.count('zns-info'), asked + 2, 'used: not asked again');
        // saved again: the save checks it, and its first use after that is checked once more
        r = await api('PUT', 'templates/lan_dau', body);
        assert.equal(r.status, 200, JSON.stringify(r.json));
        asked = fakes.count('zns-info');
        r = await send();
        assert.equal(fakes.count('zns-info'), asked + 1);
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
    it('what it costs: a bulk send by channel before it is sent (ZNS 200 đ, SMS 350 đ a segment), and GET /stats after', async () => {
        const data = (c) => ({ code: c, status: 'Đã có kết quả' });
        const r = await api('POST', 'notifications/batch', {
            dry_run: true,
            template: { id: 'ket_qua' },
            rows: [
                { phone: phone(), data: data('HS-1') },
                { phone: phone(), data: data('HS-2') },
                { phone: phone(), channel: 'sms', data: data('HS-3') },
            ],
        });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.valid, 3);
        assert.deepEqual(r.json.cost, {
            zns: { recipients: 2, units: 2, cost_vnd: 400 },
            sms: { recipients: 1, units: 1, cost_vnd: 350 },
        });
        assert.equal(r.json.cost_vnd, 750);

        // what was sent by the tests above, priced: every ZNS message sent and SMS segment counted
        const st = await api('GET', 'stats?days=1');
        assert.equal(st.status, 200, JSON.stringify(st.json));
        const day = st.json.days.at(-1);
        const zns = day.cost.zns, sms = day.cost.sms;
        assert.equal(zns.units, day.channels.zns.sent, 'one unit per ZNS message sent');
        assert.ok(zns.units >= 5, JSON.stringify(day));
        assert.equal(zns.cost_vnd, zns.units * 200);
        assert.ok(sms.units >= day.channels.sms.sent && sms.units > 0, JSON.stringify(day));
        assert.equal(sms.cost_vnd, sms.units * 350);
        assert.deepEqual(st.json.cost_vnd, { zns: zns.cost_vnd, sms: sms.cost_vnd });
    });
});

describe('ZNS without credentials (make run): the link is kept unchecked, a send lands in the outbox', { timeout: 60000 }, () => {
    let dir, redis, mc;
    const token = crypto.randomBytes(18).toString('base64url');
    const api = async (method, p, body) => {
        const r = await httpRequest(`${mc.url}/api/v1/${p}`, {
            method,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: r.status, json: r.body ? JSON.parse(r.body) : null };
    };
    const outbox = (ch) => {
        const f = path.join(mc.outbox, `${ch}.jsonl`);
        return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
    };

    before(async () => {
        dir = makeTempDir('motcua-zns-ob-');
        const tokens = path.join(dir, 'tokens.txt');
        fs.writeFileSync(tokens, `so-tu-phap ${sha256(token)} dossiers:write,notify,read *\n`);
        redis = await startRedis(path.join(dir, 'redis'));
        mc = await startMotcua({
            redisUrl: redis.url,
            env: {
                MOTCUA_ADMIN_TOKENS_FILE: tokens,
                MOTCUA_ZALO_ENABLED: 'true',
                MOTCUA_ZALO_APP_ID: ZALO.appId,
                MOTCUA_ZALO_OA_SECRET_KEY: ZALO.oaKey,
                MOTCUA_ZALO_ZNS_API_BASE: 'http://127.0.0.1:9', // never asked: no token
                MOTCUA_SMS_ENABLED: 'true',
                MOTCUA_SMS_AUTH_TOKEN: 'demo',
                MOTCUA_SERVER_TEST_CLOCK: 'true',
                MOTCUA_TEST_CLOCK_OFFSET_MS: String(offsetTo(12)),
            },
        });
    });

    after(async () => {
        await stopAll({ procs: [mc], redis, dir });
    });

    it('a dossier event to a phone goes to the ZNS outbox with its template message', async () => {
        let r = await api('PUT', 'templates/dossier_status', {
            name: 'Trạng thái hồ sơ',
            text: 'Hồ sơ ((code)): ((status))',
            zns: { template_id: 'demo-231456', params: { ma_ho_so: '((code))', trang_thai: '((status))' } },
        });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        assert.equal(r.json.zns.unchecked, 'outbox');
        const code = '000.00.25.H29-231122-0001', to = '+84901234567';
        r = await api('PUT', `dossiers/${code}`, { procedure: 'khai_sinh', status: 'received', phone: to });
        assert.equal(r.status, 201, JSON.stringify(r.json));
        r = await api('POST', `dossiers/${code}/events`, { status: 'approved' });
        assert.equal(r.status, 202, JSON.stringify(r.json));
        await waitFor(async () => outbox('zns').length === 1, 10000);
        const [line] = outbox('zns');
        assert.equal(line.to, to);
        assert.deepEqual(line.template, { template_id: 'demo-231456', template_data: { ma_ho_so: code, trang_thai: 'đã được phê duyệt' } });
        assert.equal(outbox('sms').length, 0, 'ZNS first: the outbox took it');
    });
});
