// Integration tests of the message log and of the notification bugs of issue 13
// (shared/spec/officers.md "Message log"): GET /api/v1/notifications?recipient= answers
// how an officer replies to "I never got the SMS" — the department's own notifications to
// that phone or chat user, newest first, with every attempt (channel, time, result,
// provider error, the fallback taken) and why one waits (quiet hours); the phone asked
// about in clear, others masked. Then the bugs: a dead letter names the real reason on
// each channel tried and is counted once; the same dossier status posted twice within a
// minute is refused (409) and sends nothing unless "repeat": true.
//
// The real binary (role all) against a private Redis and the fake providers; the
// gateway's clock ([server] test_clock) at 12:00 local time, and a second process at 23:00
// (SMS quiet hours).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, startRedis, startMotcua, httpRequest, redisCli, waitFor, stopAll } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { FB, ZALO, TW, HOUR, offsetTo, providerEnv } from '../lib/providers-env.mjs';
import { key, idKey, citizenKey, partOfId } from '../lib/keys.mjs';

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const newToken = () => crypto.randomBytes(18).toString('base64url');
let seq = 0;
const uid = (p) => `${p}${Date.now().toString(36)}${(seq++).toString(36)}`;
let phoneSeq = 0;
const phone = () => `+8491${String(process.pid % 1000).padStart(3, '0')}${String(5000 + phoneSeq++).padStart(4, '0')}`;
const local = (p) => `0${p.slice(3)}`; // +8491... → 091...

function env(fakesUrl, offsetMs, tokensFile, extra = {}) {
    return providerEnv(fakesUrl, {
        MOTCUA_SCHEDULER_RATE_SMS: '0',
        MOTCUA_SCHEDULER_RATE_ZALO: '0',
        MOTCUA_SERVER_TEST_CLOCK: 'true',
        MOTCUA_TEST_CLOCK_OFFSET_MS: String(offsetMs),
        MOTCUA_ADMIN_TOKENS_FILE: tokensFile,
        ...extra,
    });
}

describe('the message log and the dead letters (issue 13)', { timeout: 180000 }, () => {
    let dir, redis, fakes, mc, night, offset, tokensFile;
    const tok = { a: newToken(), b: newToken() };
    const T = () => Date.now() + offset;
    const R = (...a) => redisCli(redis.sock, ...a);
    const pending = []; // notifications still on their way to the fake SMS provider

    async function api(method, p, { token = tok.a, body, target = mc } = {}) {
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
        const r = await httpRequest(`${target.url}/api/v1/${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        let json = null;
        try {
            json = JSON.parse(r.body);
        } catch {
            /* not JSON */
        }
        return { status: r.status, json, body: r.body };
    }
    const status = (id) => R('HGET', idKey('notif', id), 'status');
    const smsTo = (to) => fakes.requests('twilio').filter((x) => x.body.To === to).map((x) => x.body.Body);
    const logOf = async (recipient, q = '', opts = {}) => {
        const r = await api('GET', `notifications?recipient=${encodeURIComponent(recipient)}${q}`, opts);
        assert.equal(r.status, 200, r.body);
        return r.json.notifications;
    };

    before(async () => {
        dir = makeTempDir('motcua-log-');
        tokensFile = path.join(dir, 'tokens.txt');
        fs.writeFileSync(tokensFile, [`ubnd-ben-thanh ${sha256(tok.a)} notify,read,dossiers:write *`, `so-tu-phap ${sha256(tok.b)} notify,read *`, ''].join('\n'));
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes({
            fbToken: FB.pageToken,
            zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh },
            twilio: { sid: TW.sid, token: TW.token },
        });
        offset = offsetTo(12);
        mc = await startMotcua({ redisUrl: redis.url, env: env(fakes.url, offset, tokensFile, { MOTCUA_WORKER_CONSUMER: 'it-log-1' }) });
        await waitFor(async () => (await httpRequest(`${mc.url}/healthz`)).status === 200, 10000);
    });

    after(async () => {
        await stopAll({ procs: [mc, night].filter(Boolean), fakes, redis, dir });
        const log = [mc, night].filter(Boolean).flatMap((m) => m.stderrLines).join('\n');
        assert.doesNotMatch(log, /Sanitizer|runtime error/);
    });

    it('a phone asked about (as +84… or 09…): each notification with its attempts, newest first; only the department\'s own', async () => {
        const p = phone();
        const first = await api('POST', 'notifications', { body: { to: { phone: p }, text: 'Lần một' } });
        assert.equal(first.status, 202, first.body);
        assert.ok(await waitFor(async () => (await status(first.json.id)) === 'sent', 10000));
        const second = await api('POST', 'notifications', { body: { to: { phone: p }, text: 'Lần hai' } });
        assert.equal(second.status, 202, second.body);
        assert.ok(await waitFor(async () => (await status(second.json.id)) === 'sent', 10000));
        const other = await api('POST', 'notifications', { token: tok.b, body: { to: { phone: p }, text: 'Của sở khác' } });
        assert.equal(other.status, 202, other.body);
        const someoneElse = await api('POST', 'notifications', { body: { to: { phone: phone() }, text: 'Người khác' } });
        assert.equal(someoneElse.status, 202);

        for (const asked of [p, local(p)]) {
            const list = await logOf(asked);
            assert.deepEqual(list.map((n) => n.id), [second.json.id, first.json.id], `${asked}: newest first, the department's own`);
            const n = list[1];
            assert.equal(n.status, 'sent');
            assert.equal(n.text, 'Lần một');
            assert.equal(n.to.phone, p, 'the phone asked about in clear');
            assert.deepEqual(n.channels, ['sms']);
            assert.deepEqual(n.attempts.map((a) => [a.channel, a.result]), [['sms', 'sent']]);
            assert.match(n.attempts[0].at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$/);
        }
        assert.deepEqual((await logOf(p, '', { token: tok.b })).map((n) => n.id), [other.json.id], 'the other department sees its own only');
        assert.deepEqual((await logOf(p, '&status=dead')), []);
        assert.equal((await logOf(p, '&status=sent')).length, 2);
        assert.equal((await logOf(p, `&since=${new Date(T() + 24 * HOUR).toISOString().slice(0, 10)}`)).length, 0);
        for (const bad of ['', '?recipient=hello', '?recipient=telegram:u1', `?recipient=${encodeURIComponent(p)}&status=lost`, `?recipient=${encodeURIComponent(p)}&since=hom-qua`]) {
            const r = await api('GET', `notifications${bad}`);
            assert.equal(r.status, 400, `${bad}: ${r.body}`);
        }
    });

    it('a Zalo user outside the window: the skip, its reason, the fallback taken; found by the chat user and by the phone (the other masked)', async () => {
        const user = uid('zu');
        const p = phone();
        await R('HSET', citizenKey('conv', 'zalo', user), 'last_in_ms', String(T() - 8 * 24 * HOUR));
        const r = await api('POST', 'notifications', { body: { to: { channel: 'zalo', user_id: user, phone: p }, channels: ['zalo', 'sms'], text: 'Mời nhận kết quả' } });
        assert.equal(r.status, 202, r.body);
        assert.ok(await waitFor(async () => (await status(r.json.id)) === 'sent', 10000));
        const [byUser] = await logOf(`zalo:${user}`);
        assert.equal(byUser.id, r.json.id);
        assert.deepEqual(byUser.attempts.map((a) => [a.channel, a.result, a.error ?? null, a.fallback ?? null]), [
            ['zalo', 'skipped', 'outside_window', 'sms'],
            ['sms', 'sent', null, null],
        ]);
        assert.equal(byUser.channel, 'sms');
        assert.equal(byUser.to.user_id, user);
        assert.notEqual(byUser.to.phone, p, 'the phone not asked about is masked');
        assert.match(byUser.to.phone, /\*{4}/);
        const [byPhone] = await logOf(p);
        assert.equal(byPhone.id, r.json.id);
        assert.equal(byPhone.to.phone, p);
        assert.notEqual(byPhone.to.user_id, user);
    });

    it('a batch\'s rows are in their recipients\' logs', async () => {
        const p = phone();
        const b = await api('POST', 'notifications/batch', { body: { text: 'Thông báo lô', rows: [{ phone: local(p) }, { phone: phone() }] } });
        assert.equal(b.status, 202, b.body);
        const [n] = await logOf(p);
        assert.equal(n.id, b.json.ids[0]);
        assert.equal(n.batch, b.json.batch);
        pending.push(...b.json.ids);
    });

    it('bulk rows: an empty placeholder is a row error; a local 09… number is accepted, a bad one named in both forms, not "E.164"', async () => {
        assert.equal((await api('PUT', 'templates/han-nop', { body: { name: 'Hạn nộp', text: 'Vui lòng nộp hồ sơ trước ngày ((ngay)).' } })).status, 201);
        const rows = [
            { row: 2, phone: local(phone()), data: { ngay: '05/12/2026' } },
            { row: 3, phone: phone(), data: { ngay: '' } },
            { row: 4, phone: phone(), data: { ngay: '  ' } },
            { row: 5, phone: '12345', data: { ngay: '05/12/2026' } },
        ];
        const dry = await api('POST', 'notifications/batch', { body: { dry_run: true, template: { id: 'han-nop' }, rows } });
        assert.equal(dry.status, 200, dry.body);
        assert.equal(dry.json.valid, 1);
        assert.deepEqual(dry.json.errors.map((e) => [e.row, e.field]), [[3, 'data.ngay'], [4, 'data.ngay'], [5, 'phone']]);
        assert.match(dry.json.errors[0].message, /ngay.*empty/);
        assert.match(dry.json.errors[2].message, /0912345678/);
        assert.doesNotMatch(JSON.stringify(dry.json.errors), /E\.164/);
        assert.equal(dry.json.preview.text, 'Vui lòng nộp hồ sơ trước ngày 05/12/2026.');
        const sent = await api('POST', 'notifications/batch', { body: { template: { id: 'han-nop' }, rows } });
        assert.equal(sent.status, 400, 'nothing is written while a row is wrong');
    });

    it('dead: the reason names each channel tried and its error; counted dead once; the log shows it', async () => {
        const user = uid('zu');
        const p = phone();
        await R('HSET', citizenKey('conv', 'zalo', user), 'last_in_ms', String(T() - 8 * 24 * HOUR));
        // the programmed failure is for this message: the batch's SMS go first
        for (const id of pending) assert.ok(await waitFor(async () => (await status(id)) === 'sent', 10000), id);
        fakes.fail('twilio', { status: 400, code: 21211 });
        const r = await api('POST', 'notifications', { body: { to: { channel: 'zalo', user_id: user, phone: p }, channels: ['zalo', 'sms'], text: 'Không tới' } });
        assert.equal(r.status, 202, r.body);
        const id = r.json.id;
        assert.ok(await waitFor(async () => (await status(id)) === 'dead', 10000));
        const dead = await api('GET', 'dead?limit=50');
        assert.equal(dead.status, 200, dead.body);
        const d = dead.json.dead.find((x) => x.id === id);
        assert.ok(d, dead.body);
        assert.match(d.reason, /^zalo: outside_window; sms: .+/, `the reason per channel: ${d.reason}`);
        assert.doesNotMatch(d.reason, /no channel left/);
        const stream = await R('XRANGE', key('dead', partOfId(id)), '-', '+');
        assert.equal(stream.split('\n').filter((l) => l === id).length, 1, 'one dead letter for the message');
        const [n] = await logOf(`zalo:${user}`);
        assert.equal(n.status, 'dead');
        assert.equal(n.dead_reason, d.reason);
        assert.deepEqual(n.attempts.map((a) => [a.channel, a.result]), [['zalo', 'skipped'], ['sms', 'failed']]);
    });

    it('the same dossier status twice within a minute: 409, one history row, one SMS; "repeat": true posts it', async () => {
        const p = phone();
        const code = `000.00.25.H29-261203-${String(Date.now() % 10000).padStart(4, '0')}`;
        assert.equal((await api('PUT', `dossiers/${code}`, { body: { procedure: 'khai_sinh', status: 'received', phone: p } })).status, 201);
        const ev = { status: 'ready_for_pickup', note: 'Mời đến nhận' };
        const one = await api('POST', `dossiers/${code}/events`, { body: ev });
        assert.equal(one.status, 202, one.body);
        const twice = await api('POST', `dossiers/${code}/events`, { body: ev });
        assert.equal(twice.status, 409, twice.body);
        assert.equal(twice.json.error, 'repeated');
        assert.match(twice.json.message, /repeat/);
        const other = await api('POST', `dossiers/${code}/events`, { body: { ...ev, note: 'Mời đến nhận trước 17:00' } });
        assert.equal(other.status, 202, 'another note is another event');
        assert.ok(await waitFor(() => smsTo(p).length === 2, 10000));
        await new Promise((res) => setTimeout(res, 800));
        assert.equal(smsTo(p).length, 2, 'the double click sent nothing');
        const d = await api('GET', `dossiers/${code}`);
        assert.equal(d.json.history.length, 2, 'no second identical history row');
        const meant = await api('POST', `dossiers/${code}/events`, { body: { ...ev, note: 'Mời đến nhận trước 17:00', repeat: true } });
        assert.equal(meant.status, 202, meant.body);
        assert.ok(await waitFor(() => smsTo(p).length === 3, 10000), 'a meant repeat is sent');
        assert.equal((await api('POST', `dossiers/${code}/events`, { body: { ...ev, repeat: 'yes' } })).status, 400);
    });

    it('an SMS at 23:00 waits for the end of quiet hours, and the log says so', async () => {
        const noff = offsetTo(23);
        night = await startMotcua({ redisUrl: redis.url, env: env(fakes.url, noff, tokensFile, { MOTCUA_WORKER_CONSUMER: 'it-log-2' }) });
        await waitFor(async () => (await httpRequest(`${night.url}/healthz`)).status === 200, 10000);
        const p = phone();
        const r = await api('POST', 'notifications', { target: night, body: { to: { phone: p }, text: 'Ban đêm' } });
        assert.equal(r.status, 202, r.body);
        const n = await waitFor(async () => {
            const [x] = await logOf(p, '', { target: night });
            return x && x.waiting ? x : null;
        }, 10000);
        assert.ok(n, 'the notification is waiting');
        assert.equal(n.status, 'scheduled');
        assert.equal(n.waiting.reason, 'quiet_hours');
        assert.match(n.waiting.until, /T07:00:00\+07:00$/, n.waiting.until);
        assert.equal(smsTo(p).length, 0);
    });
});
