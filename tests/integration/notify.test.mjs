// Integration tests of the notification scheduler and dispatcher (issue 5, second
// half): notifications are written straight into Redis in the shape the
// department API produces (hash notif:<id> and the due set of the partition the id
// "<p>-..." names, tests/lib/keys.mjs), the real binary routes them
// (gateway/dispatch/gw_sched.c) and sends them (gateway/dispatch/gw_sender.c) to the
// fake providers of tests/fakes/providers.mjs.
//
// The gateway's clock is moved with [server] test_clock and
// MOTCUA_TEST_CLOCK_OFFSET_MS so that quiet hours do not depend on when the
// tests run: every instance starts at a chosen local time in Asia/Ho_Chi_Minh.
//
// Contracts: shared/spec/channels.md (windows, quiet hours), shared/spec/admin-api.md
// (notification statuses and attempts), shared/DESIGN.md "Guarantees".

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { TEST_INI, makeTempDir, removeTempDir, startRedis, startMotcua, httpRequest, redisCli, waitFor, sleep, redisPipe, startDispatcher, assertCleanExit, stopAll } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { FB, ZALO, TW, HOUR, HCM_OFFSET, offsetTo, providerEnv } from '../lib/providers-env.mjs';
import { fbSignature } from '../lib/sign.mjs';
import { PARTITIONS, key, idKey, citizenKey, partOfId, partitionedId } from '../lib/keys.mjs';
import { sumEveryPart } from '../lib/parts.mjs';

const BACKOFF_BASE_MS = 200;


function env(fakesUrl, offsetMs, extra = {}) {
    return providerEnv(fakesUrl, {
        MOTCUA_SCHEDULER_BACKOFF_BASE_MS: String(BACKOFF_BASE_MS),
        MOTCUA_SCHEDULER_BACKOFF_MAX_MS: '1600',
        MOTCUA_SCHEDULER_RATE_SMS: '0',
        MOTCUA_SCHEDULER_RATE_FACEBOOK: '0',
        MOTCUA_SERVER_TEST_CLOCK: 'true',
        MOTCUA_TEST_CLOCK_OFFSET_MS: String(offsetMs),
        ...extra,
    });
}

let seq = 0;
const uid = (p) => `${p}${Date.now().toString(36)}${(seq++).toString(36)}`;
/** A notification id as the API makes them: "<partition>-<rest>". */
const nid = () => partitionedId(uid('n'));
let phoneSeq = 0;
const phone = () => `+8491${String(process.pid % 1000).padStart(3, '0')}${String(phoneSeq++).padStart(4, '0')}`;


/** The commands that create notification `id` due at `dueMs` (the API's shape), in the partition its id names. */
function notifCmds(id, { to, text, channels, dueMs, notAfterMs = 0, priority = 'normal', extra = [] }) {
    return [
        ['HSET', idKey('notif', id), 'dept', 'test-dept', 'status', 'scheduled', 'text', text, 'to', JSON.stringify(to),
            'channels', channels, 'idx', '0', 'send_at_ms', String(dueMs), 'not_after_ms', String(notAfterMs),
            'priority', priority, 'created_ms', String(dueMs), ...extra],
        ['ZADD', key('due', partOfId(id)), String(dueMs), id],
    ];
}

const putNotif = (redis, id, n) => redisPipe(redis.sock, notifCmds(id, n));
const status = (redis, id) => redisCli(redis.sock, 'HGET', idKey('notif', id), 'status');
/** The score of notification `id` in its partition's due set ('' when not due). */
const dueAt = (redis, id) => redisCli(redis.sock, 'ZSCORE', key('due', partOfId(id)), id);
/** A chat window: the citizen's last message at `ms` (conv, in the citizen's partition). */
const lastIn = (redis, ch, user, ms) => redisCli(redis.sock, 'HSET', citizenKey('conv', ch, user), 'last_in_ms', String(ms));
async function attempts(redis, id) {
    const raw = await redisCli(redis.sock, 'LRANGE', idKey('attempts', id), '0', '-1');
    return raw ? raw.split('\n').map((l) => JSON.parse(l)) : [];
}
const smsTo = (fakes, to) => fakes.requests('twilio').filter((r) => r.valid && r.body.To === to);
const fbTo = (fakes, psid) => fakes.requests('facebook').filter((r) => r.body && r.body.recipient && r.body.recipient.id === psid);

function fakeConfig() {
    return {
        fbToken: FB.pageToken,
        zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh },
        twilio: { sid: TW.sid, token: TW.token },
    };
}

describe('notifications: scheduler and sender (role all, clock at 12:00 local)', { timeout: 120000 }, () => {
    let dir, redis, fakes, mc, offset;
    const T = () => Date.now() + offset; // the gateway's clock

    before(async () => {
        dir = makeTempDir('motcua-nt-');
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes(fakeConfig());
        offset = offsetTo(12);
        mc = await startMotcua({
            redisUrl: redis.url,
            env: env(fakes.url, offset, { MOTCUA_SCHEDULER_RATE_ZALO: '4', MOTCUA_WORKER_CONSUMER: 'it-notify' }),
        });
    });

    after(async () => {
        try {
            if (mc && mc.alive()) assertCleanExit(await mc.stop(), mc.stderrLines, 'motcua');
        } finally {
            await fakes.stop();
            await redis.stop();
            removeTempDir(dir);
        }
    });

    it('a due SMS reaches the provider once and is marked sent', async () => {
        const id = nid();
        const to = phone();
        await putNotif(redis, id, { to: { phone: to }, text: 'Hồ sơ của bạn đã có kết quả', channels: 'sms', dueMs: T() - 10 });
        await fakes.waitFor('twilio', 1, 10000);
        await waitFor(async () => (await status(redis, id)) === 'sent', 5000);
        await sleep(800);
        const reqs = smsTo(fakes, to);
        assert.equal(reqs.length, 1, 'sent exactly once');
        assert.equal(reqs[0].body.Body, 'Ho so cua ban da co ket qua', 'SMS unaccented');
        assert.equal(await status(redis, id), 'sent');
        const at = await attempts(redis, id);
        assert.deepEqual(at.map((a) => [a.channel, a.result]), [['sms', 'sent']]);
        assert.equal(await dueAt(redis, id), '', 'left the due set');
    });

    it('a notification due later waits for its time', async () => {
        const id = nid();
        const to = phone();
        await putNotif(redis, id, { to: { phone: to }, text: 'Nhắc lịch hẹn', channels: 'sms', dueMs: T() + 1500 });
        await sleep(700);
        assert.equal(smsTo(fakes, to).length, 0, 'not before send_at');
        assert.equal(await status(redis, id), 'scheduled');
        await waitFor(async () => (await status(redis, id)) === 'sent', 5000);
        assert.equal(smsTo(fakes, to).length, 1);
    });

    it('provider 500 twice → sent on the third attempt with growing delays, then delivered by the receipt', async () => {
        const psid = uid('psid');
        const id = nid();
        await lastIn(redis, 'facebook', psid, T() - HOUR);
        fakes.fail('facebook', { status: 500, times: 2 });
        await putNotif(redis, id, { to: { channel: 'facebook', user_id: psid }, text: 'Hồ sơ đã được duyệt', channels: 'facebook,sms', dueMs: T() });
        await waitFor(async () => (await status(redis, id)) === 'sent', 10000);
        const reqs = fbTo(fakes, psid);
        assert.equal(reqs.length, 3, 'two failures then one success');
        assert.equal(reqs[2].body.messaging_type, 'UPDATE', 'a notification is an UPDATE');
        const d1 = reqs[1].time - reqs[0].time;
        const d2 = reqs[2].time - reqs[1].time;
        assert.ok(d1 >= BACKOFF_BASE_MS / 2, `first retry after backoff (${d1} ms)`);
        assert.ok(d2 > d1, `delays grow: ${d1} ms then ${d2} ms`);
        const at = await attempts(redis, id);
        assert.deepEqual(at.map((a) => a.result), ['retry', 'retry', 'sent']);
        // the provider's delivery receipt moves it to delivered
        const mid = (typeof reqs[2].response === 'string' ? JSON.parse(reqs[2].response) : reqs[2].response).message_id;
        assert.ok(mid, 'the fake answered a message id');
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
        assert.equal(await waitFor(async () => (await status(redis, id)) === 'delivered', 5000), true, 'delivered after the receipt');
    });

    it('facebook outside the 24-hour window → falls back to SMS without calling Facebook', async () => {
        const psid = uid('psid');
        const to = phone();
        const id = nid();
        await lastIn(redis, 'facebook', psid, T() - 25 * HOUR);
        await putNotif(redis, id, { to: { channel: 'facebook', user_id: psid, phone: to }, text: 'Mời nhận kết quả', channels: 'facebook,sms', dueMs: T() });
        await waitFor(async () => (await status(redis, id)) === 'sent', 10000);
        assert.equal(smsTo(fakes, to).length, 1, 'sent by SMS');
        assert.equal(fbTo(fakes, psid).length, 0, 'Facebook was not called');
        const at = await attempts(redis, id);
        assert.deepEqual(at.map((a) => [a.channel, a.result, a.error ?? null]), [['facebook', 'skipped', 'outside_window'], ['sms', 'sent', null]]);
        assert.equal(await redisCli(redis.sock, 'HGET', idKey('notif', id), 'channel'), 'sms');
    });

    it('facebook refuses (code 10) → the next channel; nothing left → dead with the reason', async () => {
        const psid = uid('psid');
        const to = phone();
        const id = nid();
        await lastIn(redis, 'facebook', psid, T() - HOUR);
        fakes.fail('facebook', { code: 10, times: 1 });
        await putNotif(redis, id, { to: { channel: 'facebook', user_id: psid, phone: to }, text: 'Thông báo', channels: 'facebook,sms', dueMs: T() });
        await waitFor(async () => (await status(redis, id)) === 'sent', 10000);
        assert.equal(fbTo(fakes, psid).length, 1);
        assert.equal(smsTo(fakes, to).length, 1, 'fell back to SMS');
        assert.deepEqual((await attempts(redis, id)).map((a) => [a.channel, a.result]), [['facebook', 'failed'], ['sms', 'sent']]);

        const id2 = nid();
        const psid2 = uid('psid');
        await lastIn(redis, 'facebook', psid2, T() - HOUR);
        fakes.fail('facebook', { code: 10, times: 1 });
        await putNotif(redis, id2, { to: { channel: 'facebook', user_id: psid2 }, text: 'Thông báo', channels: 'facebook', dueMs: T() });
        await waitFor(async () => (await status(redis, id2)) === 'dead', 10000);
        const dead = await redisCli(redis.sock, 'XRANGE', key('dead', partOfId(id2)), '-', '+');
        assert.ok(dead.includes(id2), "the dead-letter stream of the notification's partition names it");
        assert.equal(fbTo(fakes, psid2).length, 1, 'a permanent error is not retried');
    });

    it('not_after passed → expired, not sent', async () => {
        const id = nid();
        const to = phone();
        await putNotif(redis, id, { to: { phone: to }, text: 'Hết hạn', channels: 'sms', dueMs: T() - 2000, notAfterMs: T() - 1000 });
        await waitFor(async () => (await status(redis, id)) === 'expired', 5000);
        await sleep(500);
        assert.equal(await status(redis, id), 'expired');
        assert.equal(smsTo(fakes, to).length, 0, 'never sent');
        assert.deepEqual((await attempts(redis, id)).map((a) => a.result), ['expired']);
    });

    it('the per-channel rate limit spreads sends (rate_zalo = 4/s)', async () => {
        const users = Array.from({ length: 8 }, () => uid('zu'));
        const cmds = [];
        for (const u of users) {
            cmds.push(['HSET', citizenKey('conv', 'zalo', u), 'last_in_ms', String(T() - HOUR)]);
            cmds.push(...notifCmds(nid(), { to: { channel: 'zalo', user_id: u }, text: 'Lịch tiếp dân', channels: 'zalo', dueMs: T() }));
        }
        await redisPipe(redis.sock, cmds);
        const mine = () => fakes.requests('zalo').filter((r) => r.valid && users.includes(r.body.recipient.user_id));
        await waitFor(() => mine().length >= 8, 10000);
        const times = mine().map((r) => r.time);
        assert.equal(mine().length, 8, 'every one sent once');
        const span = Math.max(...times) - Math.min(...times);
        // a bucket of 4 tokens refilled at 4/s: the last 4 need about one second
        assert.ok(span >= 700, `8 sends at 4/s took ${span} ms`);
    });
});

describe('notifications: SMS quiet hours (controlled clock)', { timeout: 60000 }, () => {
    let dir, redis, fakes;

    before(async () => {
        dir = makeTempDir('motcua-nq-');
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes(fakeConfig());
    });

    after(async () => {
        await stopAll({ fakes, redis, dir });
    });

    it('an SMS due at 23:00 is held until 07:00; an urgent one goes at once', async () => {
        const off23 = offsetTo(23);
        const t23 = Date.now() + off23;
        const seven = t23 + 8 * HOUR; // 07:00 local the next morning
        const night = await startDispatcher({ redisUrl: redis.url, env: env(fakes.url, off23), consumer: 'it-night' });
        const id = nid();
        const urgent = nid();
        const to = phone();
        const toUrgent = phone();
        try {
            await putNotif(redis, id, { to: { phone: to }, text: 'Thông báo thường', channels: 'sms', dueMs: t23 - 1000 });
            await putNotif(redis, urgent, { to: { phone: toUrgent }, text: 'Khẩn: ngập', channels: 'sms', dueMs: t23 - 1000, priority: 'urgent' });
            // Zalo at 23:00: a message to one citizen goes, a broadcast waits for 06:00
            const zu = uid('zu');
            const zalo = nid();
            const bcast = nid();
            await lastIn(redis, 'zalo', zu, t23 - HOUR);
            await putNotif(redis, zalo, { to: { channel: 'zalo', user_id: zu }, text: 'Hồ sơ', channels: 'zalo', dueMs: t23 - 1000 });
            await putNotif(redis, bcast, { to: { channel: 'zalo', user_id: zu }, text: 'Thông báo chung', channels: 'zalo', dueMs: t23 - 1000, extra: ['broadcast', 'b1'] });
            await waitFor(async () => (await status(redis, urgent)) === 'sent', 10000);
            assert.equal(smsTo(fakes, toUrgent).length, 1, 'urgent ignores quiet hours');
            await waitFor(async () => (await status(redis, zalo)) === 'sent', 10000);
            const six = t23 + 7 * HOUR;
            assert.ok(await waitFor(async () => Number(await dueAt(redis, bcast)) === six, 5000),
                'a Zalo broadcast at night is held until 06:00');
            assert.equal(fakes.requests('zalo').filter((r) => r.valid && r.body.recipient.user_id === zu).length, 1);
            const score = await waitFor(async () => Number(await dueAt(redis, id)) === seven, 5000);
            assert.ok(score, `re-scored to 07:00 (${await dueAt(redis, id)} vs ${seven})`);
            await sleep(500);
            assert.equal(await status(redis, id), 'scheduled');
            assert.equal(smsTo(fakes, to).length, 0, 'held during quiet hours');
        } finally {
            assertCleanExit(await night.stop(), night.lines, 'dispatcher at 23:00');
        }
        // the morning: a dispatcher whose clock reads 07:00:01 sends it
        const morning = await startDispatcher({ redisUrl: redis.url, env: env(fakes.url, seven + 1000 - Date.now()), consumer: 'it-morning' });
        try {
            await waitFor(async () => (await status(redis, id)) === 'sent', 10000);
            assert.equal(smsTo(fakes, to).length, 1, 'sent once in the morning');
        } finally {
            assertCleanExit(await morning.stop(), morning.lines, 'dispatcher at 07:00');
        }
    });
});

describe('notifications: quiet hours by kind of notice (controlled clock)', { timeout: 60000 }, () => {
    let dir, redis, fakes;

    before(async () => {
        dir = makeTempDir('motcua-nk-');
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes(fakeConfig());
    });

    after(async () => {
        await stopAll({ fakes, redis, dir });
    });

    it("at 23:00 a notice about the citizen's own dossier goes by SMS at once, another waits; both windows are configuration", async () => {
        const off23 = offsetTo(23);
        const t23 = Date.now() + off23;
        const tx = nid(), other = nid();
        const toTx = phone(), toOther = phone();
        let d = await startDispatcher({ redisUrl: redis.url, env: env(fakes.url, off23), consumer: 'it-kind-1' });
        try {
            await putNotif(redis, tx, { to: { phone: toTx }, text: 'Hồ sơ đã có kết quả', channels: 'sms', dueMs: t23 - 1000, extra: ['dossier', '000.00.25.H29-231122-0001'] });
            await putNotif(redis, other, { to: { phone: toOther }, text: 'Thông báo chung', channels: 'sms', dueMs: t23 - 1000 });
            await waitFor(async () => (await status(redis, tx)) === 'sent', 10000);
            assert.equal(smsTo(fakes, toTx).length, 1, 'a transaction notice goes any time by default');
            assert.ok(await waitFor(async () => Number(await dueAt(redis, other)) === t23 + 8 * HOUR, 5000), 'the other waits for 07:00');
            assert.equal(smsTo(fakes, toOther).length, 0);
        } finally {
            assertCleanExit(await d.stop(), d.lines, 'dispatcher at 23:00');
        }
        // [sms] transaction_quiet_hours = 22:30-06:00 and quiet_hours = 23:30-07:00: now the
        // dossier's notice waits until 06:00 and a general one due at 23:00 goes
        const tx2 = nid(), other2 = nid();
        const toTx2 = phone(), toOther2 = phone();
        d = await startDispatcher({
            redisUrl: redis.url,
            env: env(fakes.url, off23, { MOTCUA_SMS_TRANSACTION_QUIET_HOURS: '22:30-06:00', MOTCUA_SMS_QUIET_HOURS: '23:30-07:00' }),
            consumer: 'it-kind-2',
        });
        try {
            await putNotif(redis, tx2, { to: { phone: toTx2 }, text: 'Hồ sơ cần bổ sung', channels: 'sms', dueMs: t23 - 1000, extra: ['dossier', '000.00.25.H29-231122-0002'] });
            await putNotif(redis, other2, { to: { phone: toOther2 }, text: 'Lịch tiếp dân', channels: 'sms', dueMs: t23 - 1000 });
            await waitFor(async () => (await status(redis, other2)) === 'sent', 10000);
            assert.ok(await waitFor(async () => Number(await dueAt(redis, tx2)) === t23 + 7 * HOUR, 5000), 'held until 06:00');
            assert.equal(smsTo(fakes, toTx2).length, 0);
        } finally {
            assertCleanExit(await d.stop(), d.lines, 'dispatcher with both windows set');
        }
    });
});

describe('notifications: [sms] max_per_number_per_day (controlled clock)', { timeout: 60000 }, () => {
    let dir, redis, fakes;

    before(async () => {
        dir = makeTempDir('motcua-nc-');
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes(fakeConfig());
    });

    after(async () => {
        await stopAll({ fakes, redis, dir });
    });

    it('the third notification of the day to one number waits for the next day; an urgent one is not counted', async () => {
        const off12 = offsetTo(12);
        const t12 = Date.now() + off12;
        const midnight = t12 + 12 * HOUR; // 00:00 local the next day
        const to = phone();
        const day = new Date(t12 + HCM_OFFSET).toISOString().slice(0, 10);
        const ids = [nid(), nid(), nid()];
        const urgent = nid();
        let d = await startDispatcher({ redisUrl: redis.url, env: env(fakes.url, off12, { MOTCUA_SMS_MAX_PER_NUMBER_PER_DAY: '2' }), consumer: 'it-cap-1' });
        let late;
        try {
            for (const [i, id] of ids.entries())
                await putNotif(redis, id, { to: { phone: to }, text: `Hồ sơ ${i}`, channels: 'sms', dueMs: t12 - 1000, extra: ['dossier', `000.00.25.H29-231122-000${i}`] });
            await putNotif(redis, urgent, { to: { phone: to }, text: 'Khẩn', channels: 'sms', dueMs: t12 - 1000, priority: 'urgent' });
            await waitFor(async () => (await status(redis, urgent)) === 'sent', 10000);
            await waitFor(async () => {
                const st = await Promise.all(ids.map((id) => status(redis, id)));
                return st.filter((x) => x === 'sent').length === 2 && (await Promise.all(ids.map((id) => dueAt(redis, id)))).some((x) => x !== '');
            }, 10000);
            late = (await Promise.all(ids.map(async (id) => [id, await dueAt(redis, id)]))).find(([, x]) => x !== '')[0];
            assert.equal(Number(await dueAt(redis, late)), midnight, 'due again at local midnight');
            assert.equal(await status(redis, late), 'scheduled');
            assert.deepEqual((await attempts(redis, late)).map((a) => [a.channel, a.result, a.error]), [['sms', 'later', 'per_number_day']]);
            assert.equal(smsTo(fakes, to).length, 3, 'two notices and the urgent one');
            const k = citizenKey('per_day', 'sms', to, day);
            assert.equal(await redisCli(redis.sock, 'GET', k), '3', 'counted in the citizen partition (the urgent one is not)');
            const ttl = Number(await redisCli(redis.sock, 'TTL', k));
            assert.ok(ttl > 0 && ttl <= 2 * 86400, `expires (${ttl} s)`);
        } finally {
            assertCleanExit(await d.stop(), d.lines, 'dispatcher at 12:00');
        }
        // the next day: a transaction notice may go at 00:00, and it does
        d = await startDispatcher({ redisUrl: redis.url, env: env(fakes.url, midnight + 1000 - Date.now(), { MOTCUA_SMS_MAX_PER_NUMBER_PER_DAY: '2' }), consumer: 'it-cap-2' });
        try {
            await waitFor(async () => (await status(redis, late)) === 'sent', 10000);
            assert.equal(smsTo(fakes, to).length, 4);
        } finally {
            assertCleanExit(await d.stop(), d.lines, 'dispatcher at 00:00');
        }
    });
});

describe('notifications: two dispatchers share the work', { timeout: 180000 }, () => {
    let dir, redis, fakes;
    const N = 1000;

    before(async () => {
        dir = makeTempDir('motcua-n2-');
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes({ ...fakeConfig(), maxRecords: 5000 });
    });

    after(async () => {
        await stopAll({ fakes, redis, dir });
    });

    it(`${N} notifications → each delivered exactly once`, async () => {
        const offset = offsetTo(12);
        const e = env(fakes.url, offset);
        const a = await startDispatcher({ redisUrl: redis.url, env: e, consumer: 'it-disp-a' });
        const b = await startDispatcher({ redisUrl: redis.url, env: e, consumer: 'it-disp-b' });
        try {
            const now = Date.now() + offset;
            const cmds = [];
            const phones = [];
            const ids = [];
            for (let i = 0; i < N; i++) {
                const to = `+8492${String(i).padStart(7, '0')}`;
                phones.push(to);
                ids.push(partitionedId(`bulk${i}`));
                cmds.push(...notifCmds(ids[i], { to: { phone: to }, text: `Thông báo số ${i}`, channels: 'sms', dueMs: now - 100 }));
            }
            const used = new Set(ids.map(partOfId));
            console.log(`# ${N} notifications in ${used.size} of ${PARTITIONS} partitions`);
            assert.ok(PARTITIONS === 1 || used.size > 1, 'the notifications are spread over the partitions');
            await redisPipe(redis.sock, cmds);
            await fakes.waitFor('twilio', N, 120000);
            await sleep(1500); // anything sent twice would show now
            const reqs = fakes.requests('twilio').filter((r) => r.valid);
            const per = new Map();
            for (const r of reqs) per.set(r.body.To, (per.get(r.body.To) || 0) + 1);
            assert.equal(reqs.length, N, `${reqs.length} sends for ${N} notifications`);
            assert.equal(per.size, N, 'every recipient got one');
            assert.ok([...per.values()].every((n) => n === 1), 'nobody got two');
            const counts = await redisCli(redis.sock, 'EVAL',
                "local n=0 for _,k in ipairs(KEYS) do if redis.call('HGET',k,'status')=='sent' then n=n+1 end end return n",
                String(N), ...ids.map((id) => idKey('notif', id)));
            assert.equal(Number(counts), N, 'every notification is marked sent');
            assert.equal(await sumEveryPart(redis.sock, 'ZCARD', 'due'), 0, 'no partition has anything due');
            const sentBy = (d) => d.lines.filter((l) => l.includes('"send.sent"')).length;
            // both processes took part (reported, not asserted: the split is up to Redis)
            console.log(`# dispatcher a sent ${sentBy(a)}, dispatcher b sent ${sentBy(b)}`);
            assert.equal(sentBy(a) + sentBy(b), N);
        } finally {
            assertCleanExit(await a.stop(), a.lines, 'dispatcher a');
            assertCleanExit(await b.stop(), b.lines, 'dispatcher b');
        }
    });
});

// The role flag and the test clock's guard.
describe('serve --role', { timeout: 60000 }, () => {
    it('a gateway does not send notifications; a dispatcher does, without listening', async () => {
        const dir = makeTempDir('motcua-nr-');
        const redis = await startRedis(path.join(dir, 'redis'));
        const fakes = await startFakes(fakeConfig());
        let gw = null;
        let disp = null;
        try {
            const offset = offsetTo(12);
            gw = await startMotcua({ redisUrl: redis.url, args: ['--role', 'gateway'], env: env(fakes.url, offset, { MOTCUA_WORKER_CONSUMER: 'it-gw' }) });
            const id = nid();
            const to = phone();
            await putNotif(redis, id, { to: { phone: to }, text: 'Vai trò', channels: 'sms', dueMs: Date.now() + offset - 10 });
            await sleep(1000);
            assert.equal(await status(redis, id), 'scheduled', 'the gateway role leaves notifications alone');
            assert.equal(smsTo(fakes, to).length, 0);
            assert.equal((await httpRequest(`${gw.url}/healthz`)).status, 200, 'the gateway serves HTTP');
            disp = await startDispatcher({ redisUrl: redis.url, env: env(fakes.url, offset), consumer: 'it-disp' });
            await waitFor(async () => (await status(redis, id)) === 'sent', 10000);
            assert.equal(smsTo(fakes, to).length, 1);
            assert.ok(!disp.lines.some((l) => l.includes('"server.listening"') && /"port":\s*[1-9]/.test(l)), 'the dispatcher binds no port');
        } finally {
            if (disp) assertCleanExit(await disp.stop(), disp.lines, 'dispatcher');
            if (gw) assertCleanExit(await gw.stop(), gw.stderrLines, 'gateway');
            await fakes.stop();
            await redis.stop();
            removeTempDir(dir);
        }
    });
    it('rejects an unknown role', async () => {
        const { runMotcua } = await import('../lib/harness.mjs');
        const r = await runMotcua(['serve', '--config', TEST_INI, '--role', 'nonsense']);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /--role must be all, gateway or dispatcher/);
    });
    it('a bad clock offset is refused when test_clock is on', async () => {
        const { runMotcua } = await import('../lib/harness.mjs');
        const r = await runMotcua(['serve', '--config', TEST_INI, '--redis', 'unix:/nonexistent'], {
            env: { MOTCUA_SERVER_TEST_CLOCK: 'true', MOTCUA_TEST_CLOCK_OFFSET_MS: '12abc' },
        });
        assert.equal(r.code, 2);
        assert.match(r.stderr, /MOTCUA_TEST_CLOCK_OFFSET_MS/);
    });
});
