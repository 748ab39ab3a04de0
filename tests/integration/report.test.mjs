// Integration tests of the console's reports (issue 6, gateway/gw_report.c): the daily
// outcome counters (GET /api/v1/stats), the dead letters of a department (GET
// /api/v1/dead, POST /api/v1/dead/{id}/retry) and retention ([scheduler]
// retention_days). The real binary (role all) runs against a private Redis and the fake
// providers; notifications are posted through the department API with tokens of two
// departments, receipts come back through the signed webhooks, and the gateway's clock
// ([server] test_clock) starts at 12:00 local time (no SMS quiet hours) and is moved 8
// days ahead for retention by restarting motcua with a new offset.
//
// Contracts: /work/wip/briefs/console-api.md ("Owned by helper D2"), gateway/gw_sched.h
// (Redis shapes), shared/spec/admin-api.md (errors). Redis keys are the partitioned
// keyspace's (tests/lib/keys.mjs, gateway/store/gw_keys.c): a notification's hash,
// attempts, due entry, dead letter, retention index and counters live in the partition
// its id names; a broadcast's text, once fanned out, in each partition's bc_part.

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeTempDir, startRedis, startMotcua, httpRequest, redisCli, redisPipe, waitFor } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { FB, ZALO, TW, HOUR, PUBLIC_URL, offsetTo, providerEnv } from '../lib/providers-env.mjs';
import { fbSignature, twilioSignature } from '../lib/sign.mjs';
import { PARTITIONS, key, partOf, partOfId, idKey, citizenKey, wardSubCmds, everyPart } from '../lib/keys.mjs';
import { sumEveryPart } from '../lib/parts.mjs';

const DAY = 24 * HOUR;
const A = 'phong-a';
const B = 'phong-b';
const OUTCOMES = ['sent', 'delivered', 'failed', 'dead', 'expired'];
const CHANNELS = ['zalo', 'facebook', 'sms'];

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const newToken = () => crypto.randomBytes(18).toString('base64url');
let phoneSeq = 0;
const phone = () => `+8493${String(process.pid % 1000).padStart(3, '0')}${String(phoneSeq++).padStart(4, '0')}`;
const masked = (p) => `${p.slice(0, 5)}****${p.slice(-3)}`;
/** yyyy-mm-dd in Asia/Ho_Chi_Minh of ms. */
const localDate = (ms) => new Date(ms + 7 * HOUR).toISOString().slice(0, 10);

function env(fakesUrl, offsetMs, tokensFile) {
    return providerEnv(fakesUrl, {
        MOTCUA_SCHEDULER_BACKOFF_BASE_MS: '200',
        MOTCUA_SCHEDULER_BACKOFF_MAX_MS: '1600',
        MOTCUA_SCHEDULER_RATE_SMS: '0',
        MOTCUA_SCHEDULER_RATE_FACEBOOK: '0',
        MOTCUA_SCHEDULER_RATE_ZALO: '0',
        MOTCUA_SCHEDULER_RETENTION_SWEEP_MS: '200',
        MOTCUA_SERVER_TEST_CLOCK: 'true',
        MOTCUA_TEST_CLOCK_OFFSET_MS: String(offsetMs),
        MOTCUA_ADMIN_TOKENS_FILE: tokensFile,
        MOTCUA_WORKER_CONSUMER: 'it-report',
    });
}

function assertCleanExit(r, lines, what) {
    const bad = lines.filter((l) => /Sanitizer|runtime error/.test(l));
    assert.deepEqual(bad, [], `${what}: clean sanitizer output`);
    assert.equal(r.code, 0, `${what}: clean exit on SIGTERM: ${lines.slice(-20).join('\n')}`);
}

describe('console reports: /stats, /dead, retry, retention', { timeout: 180000 }, () => {
    let dir, redis, fakes, mc, offset, tokensFile;
    const tok = { a: newToken(), b: newToken(), reader: newToken() };
    const T = () => Date.now() + offset; // the gateway's clock
    const logs = []; // stderr of every motcua run
    const ids = {}; // name → notification id
    const phones = {}; // name → phone
    let today = ''; // the local date of the first run

    const R = (...a) => redisCli(redis.sock, ...a);
    const status = (id) => R('HGET', idKey('notif', id), 'status');
    /** Every partition's dead-letter stream, one after the other. */
    const deadStreams = async () => {
        const all = [];
        for (const k of everyPart('dead')) all.push(await R('XRANGE', k, '-', '+'));
        return all.join('\n');
    };

    async function api(method, p, { token, body } = {}) {
        const headers = { 'content-type': 'application/json' };
        if (token) headers.authorization = `Bearer ${token}`;
        const r = await httpRequest(`${mc.url}/api/v1/${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        let json = null;
        try {
            json = JSON.parse(r.body);
        } catch {
            /* not JSON */
        }
        return { status: r.status, json, body: r.body };
    }

    async function notify(token, body) {
        const r = await api('POST', 'notifications', { token, body });
        assert.equal(r.status, 202, r.body);
        return r.json.id;
    }

    async function postTwilio(params) {
        const sig = twilioSignature(TW.token, `${PUBLIC_URL}/webhook/sms`, params);
        const r = await httpRequest(`${mc.url}/webhook/sms`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sig },
            body: new URLSearchParams(params).toString(),
        });
        assert.equal(r.status, 200, r.body);
    }

    async function smsReceipt(id, messageStatus) {
        const sid = await R('HGET', idKey('notif', id), 'provider_id');
        assert.match(sid, /^SM/, 'the provider id is recorded');
        await postTwilio({ MessageSid: sid, MessageStatus: messageStatus, AccountSid: TW.sid, To: phones[id], From: TW.from });
    }

    async function fbDelivered(psid, mid) {
        const raw = JSON.stringify({
            object: 'page',
            entry: [{ id: FB.pageId, time: Date.now(), messaging: [{ sender: { id: psid }, recipient: { id: FB.pageId }, timestamp: Date.now(), delivery: { mids: [mid], watermark: Date.now() } }] }],
        });
        const r = await httpRequest(`${mc.url}/webhook/facebook`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-hub-signature-256': fbSignature(FB.appSecret, raw) },
            body: raw,
        });
        assert.equal(r.status, 200, r.body);
    }

    const until = async (what, fn, ms = 10000) => assert.ok(await waitFor(fn, ms), `timed out waiting for ${what}`);
    const smsCount = (p) => fakes.requests('twilio').filter((r) => r.valid && r.body.To === p).length;
    const dayOf = (days, date) => days.find((d) => d.date === date);
    const zeros = () => Object.fromEntries(OUTCOMES.map((o) => [o, 0]));

    async function start(off) {
        offset = off;
        mc = await startMotcua({ redisUrl: redis.url, env: env(fakes.url, offset, tokensFile) });
        // startMotcua returns once /healthz answers at all; the store may still be connecting
        await until('the store connected', async () => (await httpRequest(`${mc.url}/healthz`)).status === 200);
    }
    async function stop() {
        if (!mc) return;
        const r = await mc.stop();
        logs.push(...mc.stderrLines);
        assertCleanExit(r, mc.stderrLines, 'motcua');
        mc = null;
    }

    before(async () => {
        dir = makeTempDir('motcua-rep-');
        tokensFile = path.join(dir, 'tokens.txt');
        fs.writeFileSync(
            tokensFile,
            [
                `${A} ${sha256(tok.a)} notify,read *`,
                `${B} ${sha256(tok.b)} notify,read *`,
                `${A} ${sha256(tok.reader)} read *`,
                '',
            ].join('\n'),
        );
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes({
            fbToken: FB.pageToken,
            zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh },
            twilio: { sid: TW.sid, token: TW.token },
        });
        await start(offsetTo(12));
        today = localDate(T());
    });

    beforeEach(() => {
        if (mc && !mc.alive()) throw new Error(`motcua died:\n${mc.stderrLines.slice(-40).join('\n')}`);
    });

    after(async () => {
        try {
            if (mc && mc.alive()) await stop();
        } finally {
            await fakes.stop();
            await redis.stop();
            removeTempDir(dir);
        }
        const log = logs.join('\n');
        for (const p of Object.values(phones)) assert.ok(!log.includes(p), `phone ${masked(p)} is masked in the logs`);
    });

    it('outcomes are counted per department, channel and local day', async () => {
        for (const n of ['s1', 's2', 's3']) {
            phones[n] = phone();
            ids[n] = await notify(tok.a, { to: { phone: phones[n] }, text: `Hồ sơ ${n} đã có kết quả` });
            phones[ids[n]] = phones[n];
        }
        phones.b1 = phone();
        ids.b1 = await notify(tok.b, { to: { phone: phones.b1 }, text: 'Thông báo của phòng B' });
        const psid = `psid${Date.now()}`;
        await R('HSET', citizenKey('conv', 'facebook', psid), 'last_in_ms', String(T() - HOUR));
        ids.f1 = await notify(tok.a, { to: { channel: 'facebook', user_id: psid }, text: 'Mời nhận kết quả' });
        for (const n of ['s1', 's2', 's3', 'b1', 'f1']) await until(`${n} sent`, async () => (await status(ids[n])) === 'sent');

        await smsReceipt(ids.s2, 'delivered');
        await smsReceipt(ids.s3, 'undelivered');
        await fbDelivered(psid, await R('HGET', idKey('notif', ids.f1), 'provider_id'));
        await until('s2 delivered', async () => (await status(ids.s2)) === 'delivered');
        await until('s3 failed', async () => (await status(ids.s3)) === 'failed');
        await until('f1 delivered', async () => (await status(ids.f1)) === 'delivered');

        // the provider refuses the number for good (HTTP 400, Twilio 21211) → dead
        phones.d1 = phone();
        fakes.fail('twilio', { status: 400, code: 21211 });
        ids.d1 = await notify(tok.a, { to: { phone: phones.d1 }, text: 'Không gửi được' });
        phones[ids.d1] = phones.d1;
        await until('d1 dead', async () => (await status(ids.d1)) === 'dead');

        // not_after passed before it came due → expired (written as the API does: in the
        // partition its id names, with its due entry)
        const e1 = `exp${Date.now()}`;
        ids.e1 = `${partOf(e1)}-${e1}`;
        await redisPipe(redis.sock, [
            ['HSET', idKey('notif', ids.e1), 'dept', A, 'status', 'scheduled', 'text', 'Hết hạn', 'to', JSON.stringify({ phone: phone() }),
                'channels', 'sms', 'idx', '0', 'send_at_ms', String(T() - 2000), 'not_after_ms', String(T() - 1000),
                'priority', 'normal', 'created_ms', String(T() - 2000)],
            ['ZADD', key('due', partOfId(ids.e1)), String(T() - 2000), ids.e1],
        ]);
        await until('e1 expired', async () => (await status(ids.e1)) === 'expired');

        const r = await api('GET', 'stats', { token: tok.a });
        assert.equal(r.status, 200, r.body);
        assert.equal(r.json.days.length, 7, 'seven days by default');
        const dates = r.json.days.map((d) => d.date);
        assert.equal(dates[6], today, 'the last day is today (Asia/Ho_Chi_Minh, the gateway clock)');
        for (let i = 0; i < 7; i++) assert.equal(dates[i], localDate(T() - (6 - i) * DAY), 'oldest first, consecutive');
        const d = dayOf(r.json.days, today).channels;
        assert.deepEqual(d.sms, { sent: 3, delivered: 1, failed: 1, dead: 1, expired: 1 });
        assert.deepEqual(d.facebook, { sent: 1, delivered: 1, failed: 0, dead: 0, expired: 0 });
        assert.deepEqual(d.zalo, zeros());
        for (const day of r.json.days.slice(0, 6)) for (const c of CHANNELS) assert.deepEqual(day.channels[c], zeros(), `${day.date} ${c}`);

        const rb = await api('GET', 'stats?days=1', { token: tok.b });
        assert.equal(rb.status, 200, rb.body);
        assert.deepEqual(rb.json.days.map((x) => x.date), [today]);
        assert.deepEqual(rb.json.days[0].channels.sms, { ...zeros(), sent: 1 }, 'department B sees only its own');
        assert.deepEqual(rb.json.days[0].channels.facebook, zeros());

        assert.equal((await api('GET', 'stats?days=31', { token: tok.reader })).json.days.length, 31);
        for (const q of ['days=0', 'days=32', 'days=abc', 'days=']) {
            const e = await api('GET', `stats?${q}`, { token: tok.a });
            assert.equal(e.status, 400, `${q}: ${e.body}`);
            assert.equal(e.json.field, 'days');
        }
        assert.equal((await api('GET', 'stats')).status, 401);
        assert.equal((await api('GET', 'stats', { token: newToken() })).status, 401);
        // the counters of a notification are kept in its own partition, each expiring in 40 days
        const holding = new Set(['s1', 's2', 's3', 'f1', 'd1', 'e1'].map((n) => partOfId(ids[n])));
        const statKeys = everyPart('stats', A, today);
        for (const [p, k] of statKeys.entries()) {
            const ttl = Number(await R('TTL', k));
            if (!holding.has(p)) {
                assert.equal(ttl, -2, `no counters of ${A} in partition ${p}`);
                continue;
            }
            assert.ok(ttl > 39 * 86400 && ttl <= 40 * 86400, `the day's counters in partition ${p} expire in 40 days (${ttl} s)`);
        }
    });

    it('/dead lists the department\'s dead notifications, newest first, masked', async () => {
        phones.d2 = phone();
        fakes.fail('twilio', { status: 400, code: 21211 });
        ids.d2 = await notify(tok.a, { to: { phone: phones.d2 }, text: 'Không gửi được lần nữa' });
        await until('d2 dead', async () => (await status(ids.d2)) === 'dead');

        const r = await api('GET', 'dead', { token: tok.reader });
        assert.equal(r.status, 200, r.body);
        assert.deepEqual(r.json.dead.map((x) => x.id), [ids.d2, ids.d1], 'newest first');
        const e = r.json.dead[1];
        assert.equal(e.channel, 'sms');
        assert.equal(e.to, masked(phones.d1));
        assert.equal(e.reason, 'invalid_number');
        assert.equal(e.reason, await R('HGET', idKey('notif', ids.d1), 'dead_reason'));
        const stream = await R('XRANGE', key('dead', partOfId(ids.d1)), '-', '+');
        assert.ok(stream.includes(ids.d1) && stream.includes('invalid_number'), 'the dead-letter stream of its partition has it with the reason');
        assert.match(e.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$/);
        assert.equal(e.at.slice(0, 10), today);
        assert.equal(e.attempts, 1);
        assert.equal(e.retryable, true);
        assert.ok(!('broadcast' in e), 'not a broadcast');
        assert.ok(!r.body.includes(phones.d1) && !r.body.includes(phones.d2), 'no raw phone in the answer');

        assert.deepEqual((await api('GET', 'dead', { token: tok.b })).json, { dead: [] }, 'department B has none');
        assert.deepEqual((await api('GET', 'dead?limit=1', { token: tok.a })).json.dead.map((x) => x.id), [ids.d2]);
        for (const q of ['limit=0', 'limit=201', 'limit=x']) {
            const b = await api('GET', `dead?${q}`, { token: tok.a });
            assert.equal(b.status, 400, `${q}: ${b.body}`);
            assert.equal(b.json.field, 'limit');
        }
        assert.equal((await api('GET', 'dead')).status, 401);
    });

    it('retry: 202 and sent from the first channel; 404, 403, 409 otherwise', async () => {
        const id = ids.d1;
        const other = await api('POST', `dead/${id}/retry`, { token: tok.b });
        assert.equal(other.status, 403, other.body);
        assert.equal(other.json.error, 'forbidden');
        const scope = await api('POST', `dead/${id}/retry`, { token: tok.reader });
        assert.equal(scope.status, 403, 'read-only token');
        assert.equal((await api('POST', `dead/${id}/retry`)).status, 401);
        const none = await api('POST', 'dead/nosuchnotification/retry', { token: tok.a });
        assert.equal(none.status, 404, none.body);
        assert.equal(none.json.error, 'not_found');
        const absent = await api('POST', 'dead/0-nosuchnotification/retry', { token: tok.a }); // a partition, no such id there
        assert.equal(absent.status, 404, absent.body);
        assert.equal(absent.json.error, 'not_found');
        assert.equal((await api('POST', `dead/${id}/again`, { token: tok.a })).status, 404);
        assert.equal((await api('POST', 'dead/a%2Fb/retry', { token: tok.a })).status, 404);
        assert.equal((await api('GET', `dead/${id}/retry`, { token: tok.a })).status, 405);
        const expired = await api('POST', `dead/${ids.e1}/retry`, { token: tok.a });
        assert.equal(expired.status, 409, expired.body);
        assert.equal(expired.json.error, 'not_retryable');
        assert.equal(await status(id), 'dead', 'refused retries change nothing');

        const before = smsCount(phones.d1);
        const ok = await api('POST', `dead/${id}/retry`, { token: tok.a });
        assert.equal(ok.status, 202, ok.body);
        assert.deepEqual(ok.json, { id, status: 'scheduled' });
        await until('d1 sent after the retry', async () => (await status(id)) === 'sent');
        assert.equal(smsCount(phones.d1), before + 1, 'the provider got it again');
        const attempts = (await R('LRANGE', idKey('attempts', id), '0', '-1')).split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(attempts.map((a) => a.result), ['failed', 'requeued', 'sent']);
        assert.deepEqual((await api('GET', 'dead', { token: tok.a })).json.dead.map((x) => x.id), [ids.d2], 'no longer dead');
        const again = await api('POST', `dead/${id}/retry`, { token: tok.a });
        assert.equal(again.status, 409, 'not dead any more');
        const s = dayOf((await api('GET', 'stats?days=1', { token: tok.a })).json.days, today).channels.sms;
        assert.deepEqual(s, { sent: 4, delivered: 1, failed: 1, dead: 2, expired: 1 }, 'the retried one counts as sent too');

        // dead with a not_after: retryable until it passes
        phones.d3 = phone();
        fakes.fail('twilio', { status: 400, code: 21211 });
        const notAfter = T() + 2500;
        ids.d3 = await notify(tok.a, {
            to: { phone: phones.d3 },
            text: 'Có hạn',
            not_after: new Date(notAfter).toISOString(),
        });
        await until('d3 dead', async () => (await status(ids.d3)) === 'dead');
        const listed = async () => (await api('GET', 'dead', { token: tok.a })).json.dead.find((x) => x.id === ids.d3);
        assert.equal((await listed()).retryable, true);
        await until('not_after passed', () => T() > notAfter + 100);
        assert.equal((await listed()).retryable, false);
        const late = await api('POST', `dead/${ids.d3}/retry`, { token: tok.a });
        assert.equal(late.status, 409, late.body);
        assert.match(late.json.message, /not_after/);
    });

    it('retention: 8 days later texts and recipients are gone, statuses and counts stay', async () => {
        // scheduled 30 days ahead: not final, never stripped
        phones.future = phone();
        ids.future = await notify(tok.a, { to: { phone: phones.future }, text: 'Lịch hẹn tháng sau', send_at: new Date(T() + 30 * DAY).toISOString() });
        const old = ['s1', 's2', 's3', 'b1', 'f1', 'd1', 'd2', 'd3', 'e1'].map((n) => ids[n]);
        const statuses = {};
        for (const id of old) statuses[id] = await status(id);
        assert.deepEqual(
            old.map((id) => statuses[id]),
            ['sent', 'delivered', 'failed', 'sent', 'delivered', 'sent', 'dead', 'dead', 'expired'],
        );
        // each finished one is in the retention index of its partition
        for (const id of old) assert.notEqual(await R('ZSCORE', key('final', partOfId(id)), id), '', `${id} indexed for retention`);
        assert.equal(await R('HGET', idKey('notif', ids.s1), 'text'), 'Hồ sơ s1 đã có kết quả', 'kept within the retention');
        const deadBefore = await sumEveryPart(redis.sock, 'XLEN', 'dead');
        const dayBefore = (await api('GET', 'stats?days=1', { token: tok.a })).json.days[0];

        await stop();
        await start(offset + 8 * DAY);
        await until('the sweeper stripped them', async () => {
            for (const id of old) if ((await R('HEXISTS', idKey('notif', id), 'text')) !== '0') return false;
            return true;
        }, 15000);
        for (const id of old) {
            const h = await R('HGETALL', idKey('notif', id));
            const f = Object.fromEntries(h.split('\n').reduce((a, v, i, arr) => (i % 2 ? a : [...a, [v, arr[i + 1]]]), []));
            assert.ok(!('text' in f) && !('to' in f), `${id}: no text, no recipient`);
            assert.equal(f.text_removed, '1');
            assert.equal(f.status, statuses[id], `${id}: status kept`);
            assert.equal(f.dept, id === ids.b1 ? B : A, 'department kept');
            assert.equal(await R('ZSCORE', key('final', partOfId(id)), id), '', `${id} left the retention index`);
        }
        assert.ok(!(await R('HGETALL', idKey('notif', ids.s1))).includes(phones.s1));
        // the one still scheduled keeps everything
        assert.equal(await status(ids.future), 'scheduled');
        assert.equal(await R('HGET', idKey('notif', ids.future), 'text'), 'Lịch hẹn tháng sau');
        assert.equal(JSON.parse(await R('HGET', idKey('notif', ids.future), 'to')).phone, phones.future);
        assert.equal(await R('HEXISTS', idKey('notif', ids.future), 'text_removed'), '0');

        // dead letters: the same entries, without text and recipient
        await until('dead letters redacted', async () => {
            const all = await deadStreams();
            return [phones.d1, phones.d2, phones.d3].every((p) => !all.includes(p));
        });
        assert.equal(await sumEveryPart(redis.sock, 'XLEN', 'dead'), deadBefore, 'every dead letter is still there');
        const raw = await deadStreams();
        for (const p of [phones.d1, phones.d2, phones.d3]) assert.ok(!raw.includes(p), 'no phone left in the dead-letter streams');
        assert.ok(!raw.includes('Không gửi được'), 'no text left in the dead-letter streams');
        for (const n of ['d1', 'd2', 'd3']) assert.ok(raw.includes(ids[n]), `${n}: its dead letter remains`);
        assert.ok(raw.includes('invalid_number') && raw.includes('redacted_ms'));

        // counters survive; the console's GET shows text_removed
        const st = await api('GET', 'stats?days=10', { token: tok.a });
        assert.equal(st.json.days[9].date, localDate(T()));
        const was = dayOf(st.json.days, today);
        assert.ok(was, `${today} is among the last 10 days`);
        assert.deepEqual(was, dayBefore, 'the counters of that day are unchanged');
        assert.deepEqual(was.channels.sms, { sent: 4, delivered: 1, failed: 1, dead: 3, expired: 1 });
        const g = await api('GET', `notifications/${ids.s1}`, { token: tok.a });
        assert.equal(g.status, 200, g.body);
        assert.equal(g.json.status, 'sent');
        assert.equal(g.json.text_removed, true);
        const gf = await api('GET', `notifications/${ids.future}`, { token: tok.a });
        assert.ok(!gf.json.text_removed, 'not removed from the scheduled one');

        // a dead one whose text is gone is no longer listed nor retryable
        assert.deepEqual((await api('GET', 'dead', { token: tok.a })).json.dead, []);
        const r = await api('POST', `dead/${ids.d2}/retry`, { token: tok.a });
        assert.equal(r.status, 409, r.body);
        assert.match(r.json.message, /retention/);
    });

    it('broadcast recipients use their broadcast\'s text: sent with it, a dead one retryable; retention takes each partition\'s copy with its last recipient', async () => {
        // written as the department API does; the scheduler fans it out to three SMS
        // subscribers: two of them in one partition, the third in another (when there are)
        const hex = crypto.randomBytes(16).toString('hex');
        const bc = `${partOf(hex)}-${hex}`; // the API's ids: "<partition>-<32 hex>"
        const TEXT = 'Thong bao chung cua phuong ve lich cat dien cuoi tuan, moi ba con theo doi.'; // as the SMS leaves (unaccented)
        const p = [phone()];
        const partOfPhone = (x) => partOf(`sms:${x}`);
        while (p.length < 2) {
            const x = phone();
            if (partOfPhone(x) === partOfPhone(p[0])) p.push(x);
        }
        while (p.length < 3) {
            const x = phone();
            if (partOfPhone(x) !== partOfPhone(p[0]) || PARTITIONS === 1) p.push(x);
        }
        p.forEach((x, i) => (phones[`bc${i}`] = x));
        // recipients "<q>-<bc>-<n>": q the citizen's partition, n counting in q
        const inPart = new Map();
        for (const x of p) inPart.set(partOfPhone(x), (inPart.get(partOfPhone(x)) || 0) + 1);
        const rid = [...inPart].flatMap(([q, n]) => Array.from({ length: n }, (_, i) => `${q}-${bc}-${i + 1}`));
        fakes.fail('twilio', { status: 400, code: 21211 }); // the first of the three dies
        const due = T() - 10;
        await redisPipe(redis.sock, [
            ...wardSubCmds('w-rep', p.map((x) => `sms:${x}`)),
            ['HSET', idKey('bc', bc), 'dept', A, 'status', 'scheduled', 'text', TEXT, 'wards', 'w-rep', 'channels', 'sms', 'tags', '',
                'priority', 'normal', 'send_at_ms', String(due), 'not_after_ms', '0', 'created_ms', String(due), 'recipients', '3', 'count:sms', '3'],
            ['ZADD', key('bc_due', partOfId(bc)), String(due), bc],
        ]);
        await until('every recipient final', async () => {
            const st = [];
            for (const id of rid) st.push(await status(id));
            st.sort();
            return st.join() === 'dead,sent,sent';
        });
        let dead = '';
        for (const id of rid) if ((await status(id)) === 'dead') dead = id;
        for (const id of rid) {
            assert.equal(await R('HGET', idKey('notif', id), 'broadcast'), bc);
            assert.equal(await R('HEXISTS', idKey('notif', id), 'text'), '0', `${id}: no text of its own`);
            const to = JSON.parse(await R('HGET', idKey('notif', id), 'to'));
            assert.equal(partOfPhone(to.user_id), partOfId(id), `${id} is in its citizen's partition`);
        }
        const sent = fakes.requests('twilio').filter((x) => x.valid && p.includes(x.body.To));
        assert.equal(sent.length, 3, 'one request per recipient');
        assert.deepEqual(sent.map((x) => x.body.To).sort(), [...p].sort());
        for (const x of sent) assert.equal(x.body.Body, TEXT, 'the broadcast\'s text');

        const d = (await api('GET', 'dead', { token: tok.a })).json.dead.find((x) => x.id === dead);
        assert.ok(d, 'the dead recipient is listed');
        assert.equal(d.broadcast, bc);
        assert.equal(d.retryable, true, 'its broadcast has the text');
        const r = await api('POST', `dead/${dead}/retry`, { token: tok.a });
        assert.equal(r.status, 202, r.body);
        await until('the retried recipient sent', async () => (await status(dead)) === 'sent');
        const again = fakes.requests('twilio').filter((x) => x.valid && p.includes(x.body.To));
        assert.equal(again.length, 4);
        assert.equal(again[3].body.Body, TEXT, 'sent again with the broadcast\'s text');
        const bcGet = () => api('GET', `broadcasts/${bc}`, { token: tok.a });
        await until('the broadcast done', async () => (await bcGet()).json.status === 'done');
        // fanned out: the broadcast's own hash lets go of the text, each partition with
        // recipients keeps a copy (within the retention) and is done
        assert.equal(await R('HGET', idKey('bc', bc), 'status'), 'sending', 'done is derived from the partitions');
        assert.equal(await R('HEXISTS', idKey('bc', bc), 'text'), '0');
        for (const [q, n] of inPart) {
            const part = key('bc_part', q, bc);
            assert.equal(await R('HGET', part, 'text'), TEXT, `kept within the retention in partition ${q}`);
            assert.equal(await R('HGET', part, 'status'), 'done');
            assert.equal(await R('HGET', part, 'fanned'), String(n));
        }

        await stop();
        await start(offset + 8 * DAY);
        await until('every copy of the broadcast\'s text removed', async () => {
            for (const q of inPart.keys()) if ((await R('HEXISTS', key('bc_part', q, bc), 'text')) !== '0') return false;
            return true;
        }, 15000);
        for (const id of rid) assert.equal(await R('HGET', idKey('notif', id), 'text_removed'), '1');
        for (const [q, n] of inPart) {
            const part = key('bc_part', q, bc);
            assert.equal(await R('HGET', part, 'text_removed'), '1');
            assert.equal(await R('HGET', part, 'stripped'), String(n), `partition ${q}: each recipient counted once`);
            assert.equal(await R('HGET', part, 'status'), 'done');
        }
        // no partition keeps a copy, with recipients or without
        for (const k of everyPart('bc_part', bc)) assert.equal(await R('HEXISTS', k, 'text'), '0', `${k} holds no text`);
        assert.equal(await R('HEXISTS', idKey('bc', bc), 'text'), '0');
        const g = await bcGet();
        assert.equal(g.status, 200, g.body);
        assert.equal(g.json.text_removed, true);
        assert.equal(g.json.status, 'done');
        assert.ok(!('stripped' in g.json), 'the retention counter stays internal');
    });
});
