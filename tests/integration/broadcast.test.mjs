// Integration tests of the broadcast fan-out (issue 5): a broadcast is written
// into Redis in the shape POST /api/v1/broadcasts stores (hash bc:<id> and bc_due
// in the partition its id names), its wards' subscriber sets sub_ward:<ward> hold
// "<channel>:<id>" members, each in the member's own partition, and real
// dispatchers (`motcua serve --role dispatcher`) fan it out partition by partition
// (gateway/dispatch/gw_fanout.c: bc_part:<id> and notifications <q>-<id>-<n> in
// every partition q) and send (gateway/dispatch/gw_sender.c) to the fake providers
// of tests/fakes/providers.mjs. Every test counts, per recipient, the requests the
// fakes received. Keys: tests/lib/keys.mjs (the partitioned keyspace).
//
// A dispatcher killed while its requests are on the wire must not make the
// survivor send them again: each request leaves only after its wire mark
// (wire:<channel> of the stream's partition, gateway/dispatch/gw_marks.c) is in
// Redis, and an entry claimed with a mark counts as sent. The last describe block tests the marks one by
// one (claimed with and without a mark, a restart while the provider holds the
// request, a mark taken back after a 500) and the per-channel notification
// metrics.
//
// Contracts: shared/spec/admin-api.md (Broadcasts), gateway/gw_sched.h (shapes).

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeTempDir, removeTempDir, startRedis, startMotcua, redisCli, redisPipe, httpRequest, metricValue, waitFor, sleep, startDispatcher, assertCleanExit, stopAll } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { FB, ZALO, TW, HOUR, HCM_OFFSET, offsetTo, providerEnv } from '../lib/providers-env.mjs';
import { CHANNELS, broadcastCmds, broadcastId, cancelBroadcast, broadcastState, broadcastNotifs, auditNotifs, received, totalSent as total } from '../lib/broadcasts.mjs';
import { PARTITIONS, key, everyPart, idKey, citizenKey, partOf, partOfId, partitionedId, wardSubCmds } from '../lib/keys.mjs';
import { sumEveryPart, findEntries } from '../lib/parts.mjs';

const N = 10000; // subscribers per broadcast
// A dead dispatcher's pending entries are claimed after this; it must exceed the time
// a live dispatcher holds an entry (a 10,000-message backlog), or live work is taken.
const CLAIM_IDLE_MS = 5000;
// Provider answer time in the kill test: enough to keep dozens of requests of the
// killed dispatcher in flight at any moment.
const SLOW_MS = 40;


function env(fakesUrl, offsetMs) {
    return providerEnv(fakesUrl, {
        MOTCUA_SCHEDULER_RATE_SMS: '0',
        MOTCUA_SCHEDULER_RATE_FACEBOOK: '0',
        MOTCUA_SCHEDULER_RATE_ZALO: '0',
        MOTCUA_WORKER_CLAIM_IDLE_MS: String(CLAIM_IDLE_MS),
        MOTCUA_SERVER_TEST_CLOCK: 'true',
        MOTCUA_TEST_CLOCK_OFFSET_MS: String(offsetMs),
    });
}


/**
 * Subscribers of a broadcast tagged `tag` (one letter a-z): n recipients spread
 * over zalo/facebook/sms, in two wards that overlap by a fifth (a recipient in
 * both wards must still hear it once), plus webchat members the broadcast does
 * not address. Zalo and Facebook recipients wrote recently (their windows are open).
 */
function audience(tag, n, nowMs) {
    const w1 = `phuong-test-${tag}-1`;
    const w2 = `phuong-test-${tag}-2`;
    const members = [];
    const conv = [];
    for (let i = 0; i < n; i++) {
        const ch = CHANNELS[i % 3];
        const id = ch === 'sms' ? `+849${tag.charCodeAt(0) % 10}${String(i).padStart(7, '0')}` : `${tag}u${i}`;
        members.push(`${ch}:${id}`);
        if (ch !== 'sms') conv.push(['HSET', citizenKey('conv', ch, id), 'last_in_ms', String(nowMs - HOUR)]);
    }
    const cmds = [...conv];
    const inW1 = members.filter((_, i) => i < 0.6 * n);
    const inW2 = members.filter((_, i) => i >= 0.4 * n);
    cmds.push(...wardSubCmds(w1, inW1), ...wardSubCmds(w2, inW2));
    const decoys = Array.from({ length: 50 }, (_, i) => `webchat:${tag}w${i}`);
    cmds.push(...wardSubCmds(w1, decoys));
    return { wards: [w1, w2], members, cmds };
}

/** The broadcast's status as GET /api/v1/broadcasts/{id} derives it from every partition. */
const bcStatus = async (redis, id) => (await broadcastState(redis.sock, id)).status;
/** Recipients fanned out so far, over every partition. */
const bcFanned = async (redis, id) => (await broadcastState(redis.sock, id)).n('fanned');
/** How many log lines of dispatcher `d` carry event `ev`. */
const events = (d, ev) => d.lines.filter((l) => l.includes(`"${ev}"`)).length;

/**
 * Recipients ("<channel>:<id>") of the entries `consumer` held unacknowledged in
 * out:<channel> of every partition (read from Redis right after that consumer was
 * killed); with `wiredOnly`, only those that carry a wire mark (wire:<channel> of the
 * same partition): their requests may have reached the provider. KEYS: every
 * partition's stream, then every partition's marks.
 */
async function pendingTo(redis, consumer, wiredOnly) {
    const out = new Set();
    for (const c of CHANNELS) {
        const raw = await redisCli(redis.sock, 'EVAL',
            "local P=#KEYS/2 local r={} for q=1,P do local s,w=KEYS[q],KEYS[P+q] " +
            "if redis.call('EXISTS',s)==1 then " +
            "for _,p in ipairs(redis.call('XPENDING',s,'motcua','-','+',1000000,ARGV[1])) do " +
            "if ARGV[2]=='0' or redis.call('HEXISTS',w,p[1])==1 then local e=redis.call('XRANGE',s,p[1],p[1]) " +
            "if e[1] then local f=e[1][2] for i=1,#f,2 do if f[i]=='to' then r[#r+1]=f[i+1] end end end end end end end return r",
            String(2 * PARTITIONS), ...everyPart('out', c), ...everyPart('wire', c), consumer, wiredOnly ? '1' : '0');
        for (const to of raw ? raw.split('\n') : []) out.add(`${c}:${to}`);
    }
    return out;
}
const heldBy = (redis, consumer) => pendingTo(redis, consumer, false);
const wiredBy = (redis, consumer) => pendingTo(redis, consumer, true);

/**
 * Checks one message per member (`inFlight`: recipients whose message a killed
 * dispatcher held unacknowledged, the only ones allowed a second copy; `cut`:
 * recipients whose request a killed dispatcher had marked but not yet written
 * when it died, the only ones allowed none) and the broadcast's record.
 */
async function checkExactlyOnce(redis, fakes, id, members, text, inFlight = new Set(), cut = new Set()) {
    await sleep(1500); // anything sent twice would show now
    const fb = fakes.requests('facebook').find((r) => r.body?.message?.text);
    assert.equal(fb.body.message.text, text, 'the broadcast text');
    const bs = await broadcastState(redis.sock, id);
    assert.equal(bs.status, 'done', 'done: every partition is');
    assert.equal(bs.bc.status, 'sending', "the broadcast's own record says sending; done is derived from its partitions");
    assert.equal(bs.bc.text, undefined, "after the fan-out the text lives in the partitions' copies only");
    assert.deepEqual(bs.parts.map((p) => p.status), Array(PARTITIONS).fill('done'), 'every partition done');
    assert.ok(bs.parts.every((p) => p.text === text), 'every partition holds a copy of the text');
    assert.equal(bs.n('fanned'), members.length);
    assert.equal(bs.n('finished'), members.length, 'every notification finished once');
    // each recipient counted once, in the partition it lives in
    const perPart = Array(PARTITIONS).fill(0);
    for (const m of members) perPart[partOf(m)]++;
    assert.deepEqual(bs.parts.map((p) => Number(p.fanned || 0)), perPart, 'fanned per partition: its own members');
    for (const c of CHANNELS) {
        const want = members.filter((m) => m.startsWith(`${c}:`)).length;
        assert.equal(bs.n(`fanned:${c}`), want, `fanned:${c}`);
    }
    const sent = CHANNELS.map((c) => bs.n(`st:sent:${c}`));
    assert.equal(sent.reduce((a, v) => a + v, 0), members.length, 'per-channel sent counts add up');
    assert.equal(bs.seen, 0, 'the seen sets are gone');
    const audit = auditNotifs(await broadcastNotifs(redis.sock, id), members);
    assert.deepEqual(audit.problems, [], 'one notification <q>-<id>-<n> per member, in its partition q, and no more of them');
    assert.deepEqual(audit.byStatus, { sent: members.length }, 'every notification sent');
    const per = received(fakes);
    const missing = members.filter((m) => !per.has(m) && !cut.has(m));
    const cutOff = members.filter((m) => !per.has(m) && cut.has(m)).length;
    const doubledAll = members.filter((m) => per.get(m) > 1);
    const doubled = doubledAll.filter((m) => !inFlight.has(m) || per.get(m) > 2);
    if (inFlight.size) console.log(`# ${doubledAll.length} recipients got a second copy; ${inFlight.size} entries were unacknowledged at the crash`);
    const stray = [...per.keys()].filter((k) => !members.includes(k));
    const dead = await redisCli(redis.sock, 'EVAL',
        "local n=0 for _,k in ipairs(KEYS) do for _,e in ipairs(redis.call('XRANGE',k,'-','+')) do local f=e[2] " +
        "for i=1,#f,2 do if f[i]=='notif' and string.find(f[i+1],'-'..ARGV[1]..'-',1,true) then n=n+1 end end end end return n",
        String(PARTITIONS), ...everyPart('dead'), id);
    assert.equal(dead, '0', 'nothing of this broadcast in any partition\'s dead list');
    for (const c of CHANNELS) assert.equal(await sumEveryPart(redis.sock, 'HLEN', 'wire', c), 0, `no wire mark left on ${c}`);
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} recipients got nothing`);
    assert.deepEqual(doubled.slice(0, 10), [], `${doubled.length} recipients got more than one`);
    assert.deepEqual(stray.slice(0, 10), [], 'nobody outside the audience (webchat decoys) was sent to');
    assert.equal(total(fakes), members.length - cutOff + doubledAll.length, 'one request per recipient (plus the in-flight re-sends)');
}

describe('broadcast fan-out', { timeout: 600000 }, () => {
    let dir, redis, fakes, offset;
    const T = () => Date.now() + offset;

    before(async () => {
        dir = makeTempDir('motcua-bc-');
        redis = await startRedis(path.join(dir, 'redis'), { args: ['--enable-debug-command', 'local'] });
        fakes = await startFakes({
            fbToken: FB.pageToken,
            zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh },
            twilio: { sid: TW.sid, token: TW.token },
            maxRecords: 3 * N,
        });
        offset = offsetTo(12);
    });

    beforeEach(() => fakes.reset());

    after(async () => {
        await stopAll({ fakes, redis, dir });
    });

    async function prepare(tag) {
        const a = audience(tag, N, T());
        await redisPipe(redis.sock, a.cmds);
        return a;
    }

    async function launch(id, a, text) {
        await redisPipe(redis.sock, broadcastCmds(id, { wards: a.wards, text, dueMs: T() - 10, n: N }));
    }

    /**
     * The marked recipients of a killed dispatcher that never reached the fakes
     * (after the broadcast is done): killed between writing the mark and writing
     * the request. One thread writes both in one go, so at most one such
     * request can exist at the instant of a kill; it counts as sent (at most
     * once for what was in flight, gateway/gw_sender.c).
     */
    async function cutByKill(wired) {
        await sleep(1000);
        const lost = [...wired].filter((m) => !received(fakes).has(m));
        if (lost.length) console.log(`# marked but never at the fakes: ${lost.join(' ')} (killed between the mark and the request)`);
        assert.ok(lost.length <= 1, `at most one request between its mark and its write at the kill, not ${lost.length}`);
        return new Set(lost);
    }

    const untilDone = (id) => waitFor(async () => (await bcStatus(redis, id)) === 'done', 240000, 50);

    /**
     * The audience `tag`, providers answering after SLOW_MS (each dispatcher keeps
     * its pools full: 8 requests per channel) and two dispatchers <name>-1, <name>-2.
     */
    async function slowPair(tag, name) {
        const a = await prepare(tag);
        const e = env(fakes.url, offset);
        for (const p of ['zalo', 'facebook', 'twilio']) fakes.fail(p, { delayMs: SLOW_MS, times: Infinity });
        const d1 = await startDispatcher({ redisUrl: redis.url, env: e, consumer: `${name}-1` });
        const d2 = await startDispatcher({ redisUrl: redis.url, env: e, consumer: `${name}-2` });
        return { a, d1, d2 };
    }

    it(`${N} subscribers on zalo, facebook and sms, one dispatcher → exactly one message each; progress recorded`, async () => {
        const a = await prepare('a');
        const d = await startDispatcher({ redisUrl: redis.url, env: env(fakes.url, offset), consumer: 'bc-one' });
        try {
            const id = broadcastId('bc0001');
            const text = 'Thông báo cúp điện phường A';
            const t0 = Date.now();
            await launch(id, a, text);
            const seen = new Set();
            await waitFor(async () => {
                const st = await bcStatus(redis, id);
                seen.add(st);
                return st === 'done';
            }, 240000, 20);
            console.log(`# ${N} recipients fanned out and sent in ${Date.now() - t0} ms; statuses seen ${[...seen].join(' → ')}`);
            await checkExactlyOnce(redis, fakes, id, a.members, text);
        } finally {
            assertCleanExit(await d.stop(), d.lines, 'dispatcher');
        }
    });

    it('two dispatchers share one broadcast → exactly one message each', async () => {
        const a = await prepare('b');
        const e = env(fakes.url, offset);
        const d1 = await startDispatcher({ redisUrl: redis.url, env: e, consumer: 'bc-two-1' });
        const d2 = await startDispatcher({ redisUrl: redis.url, env: e, consumer: 'bc-two-2' });
        try {
            const id = broadcastId('bc0002');
            const text = 'Ngập nước tuyến đường phường B';
            await launch(id, a, text);
            await untilDone(id);
            await checkExactlyOnce(redis, fakes, id, a.members, text);
            console.log(`# dispatcher 1 sent ${events(d1, 'send.sent')}, dispatcher 2 sent ${events(d2, 'send.sent')}`);
        } finally {
            assertCleanExit(await d1.stop(), d1.lines, 'dispatcher 1');
            assertCleanExit(await d2.stop(), d2.lines, 'dispatcher 2');
        }
    });

    it('two dispatchers, one killed with kill -9 halfway while its requests are on the wire → the other finishes: exactly one message each', async () => {
        const { a, d1, d2 } = await slowPair('c', 'bc-kill');
        try {
            const id = broadcastId('bc0003');
            const text = 'Lịch tiêm chủng phường C';
            await launch(id, a, text);
            assert.ok(await waitFor(() => total(fakes) >= N / 2, 240000, 5), 'half sent');
            const at = total(fakes);
            await d1.kill9();
            const held = await heldBy(redis, 'bc-kill-1');
            const wired = await wiredBy(redis, 'bc-kill-1');
            const reached = [...wired].filter((m) => received(fakes).has(m)).length;
            const sentBy1 = events(d1, 'send.sent');
            console.log(`# dispatcher 1 killed after ${at} of ${N} requests (${sentBy1} answered to it, ${events(d1, 'send.deferred')} deferred for want of a mark), holding ${held.size} unacknowledged entries, ${wired.size} of them with a wire mark (${reached} already at the fakes)`);
            assert.ok(sentBy1 > 0, 'the killed dispatcher was sending');
            assert.ok(wired.size > 0, 'it was killed with requests on the wire');
            await untilDone(id);
            const lost = await cutByKill(wired);
            await checkExactlyOnce(redis, fakes, id, a.members, text, new Set(), lost);
            // every marked entry of the dead one was acknowledged without a second request
            const unconfirmed = events(d2, 'send.unconfirmed');
            console.log(`# the survivor acknowledged ${unconfirmed} marked entries without sending them again`);
            assert.equal(unconfirmed, wired.size, 'one unconfirmed acknowledgement per marked entry');
        } finally {
            await d1.kill9();
            assertCleanExit(await d2.stop(), d2.lines, 'dispatcher 2');
        }
    });

    it('two dispatchers, one killed with kill -9 while Redis is busy and owes it replies → exactly one message each', async () => {
        // What a client wrote to Redis's socket is not yet a command Redis ran.
        // Redis is held busy (DEBUG SLEEP) while the dispatcher goes on sending,
        // so its marks wait unread in Redis's socket when it is killed; woken up,
        // Redis first writes the replies it owes to that client, fails (the
        // client is gone) and closes it without running the rest of its input.
        // Marks must not travel on a connection that is owed replies.
        const { a, d1, d2 } = await slowPair('f', 'bc-busy');
        try {
            const id = broadcastId('bc0006');
            const text = 'Lịch cắt nước phường F';
            await launch(id, a, text);
            assert.ok(await waitFor(() => total(fakes) >= N / 3, 240000, 5), 'a third sent');
            const answered = events(d1, 'send.sent');
            const busy = redisCli(redis.sock, 'DEBUG', 'SLEEP', '0.6'); // under the health check's 3 s
            await sleep(300);
            const atKill = total(fakes);
            await d1.kill9();
            assert.equal(await busy, 'OK');
            const wired = await wiredBy(redis, 'bc-busy-1');
            console.log(`# Redis busy for 600 ms; dispatcher 1 killed 300 ms into it, after ${atKill} of ${N} requests (${answered} answered to it before)`);
            assert.ok(answered > 0, 'the killed dispatcher was sending');
            await untilDone(id);
            await checkExactlyOnce(redis, fakes, id, a.members, text, new Set(), await cutByKill(wired));
            console.log(`# the survivor acknowledged ${events(d2, 'send.unconfirmed')} marked entries without sending them again`);
        } finally {
            await d1.kill9();
            assertCleanExit(await d2.stop(), d2.lines, 'dispatcher 2');
        }
    });

    it('cancelled while sending → the fan-out stops and the notifications not yet on their way are cancelled', async () => {
        const a = await prepare('e');
        // slow sending (rate limits) so that most notifications are still due when it is cancelled
        const e = { ...env(fakes.url, offset), MOTCUA_SCHEDULER_RATE_SMS: '20', MOTCUA_SCHEDULER_RATE_FACEBOOK: '20', MOTCUA_SCHEDULER_RATE_ZALO: '20' };
        const d = await startDispatcher({ redisUrl: redis.url, env: e, consumer: 'bc-cancel' });
        try {
            const id = broadcastId('bc0005');
            await launch(id, a, 'Thông báo bị huỷ');
            assert.ok(await waitFor(() => total(fakes) >= 30, 60000, 10), 'sending began');
            // what DELETE /api/v1/broadcasts/{id} does (gateway/api/gw_broadcasts.c)
            await cancelBroadcast(redis.sock, id);
            const fanned = (await broadcastState(redis.sock, id)).n('fanned');
            const settled = async () => {
                const bs = await broadcastState(redis.sock, id);
                let n = 0;
                for (const st of ['sent', 'cancelled', 'dead', 'expired']) for (const c of CHANNELS) n += bs.n(`st:${st}:${c}`);
                return n;
            };
            assert.ok(await waitFor(async () => (await settled()) === fanned, 30000, 100), 'every fanned notification settled');
            await sleep(1000);
            const sent = total(fakes);
            const bs = await broadcastState(redis.sock, id);
            let cancelled = 0;
            for (const c of CHANNELS) cancelled += bs.n(`st:cancelled:${c}`);
            console.log(`# cancelled after ${fanned} fanned: ${sent} sent, ${cancelled} cancelled`);
            assert.ok(sent < N / 2, `sending stopped (${sent} sent)`);
            assert.ok(cancelled > 0 && cancelled + sent === fanned, 'what was not sent is cancelled');
            assert.equal(bs.status, 'cancelled');
            assert.equal(bs.bc.text, undefined, 'the text went with the cancel');
            // a partition whose recipients had all finished stays done; none goes on
            assert.ok(bs.parts.every((p) => p.status === 'cancelled' || p.status === 'done'), `every partition cancelled: ${bs.parts.map((p) => p.status)}`);
            assert.ok(bs.parts.some((p) => p.status === 'cancelled'));
            assert.equal(bs.n('fanned'), fanned, 'the fan-out stopped');
            // every notification of it that did not leave is cancelled, none left due
            const notifs = await broadcastNotifs(redis.sock, id);
            assert.equal(notifs.length, fanned);
            const byStatus = {};
            for (const x of notifs) byStatus[x.status] = (byStatus[x.status] || 0) + 1;
            assert.deepEqual(byStatus, { sent, cancelled }, 'each notification sent or cancelled');
            const due = await redisCli(redis.sock, 'EVAL',
                "local n=0 for _,k in ipairs(KEYS) do for _,m in ipairs(redis.call('ZRANGE',k,0,-1)) do " +
                "if string.find(m,'-'..ARGV[1]..'-',1,true) then n=n+1 end end end return n",
                String(PARTITIONS), ...everyPart('due'), id);
            assert.equal(due, '0', 'nothing left due');
        } finally {
            assertCleanExit(await d.stop(), d.lines, 'dispatcher');
        }
    });

    it('the only dispatcher killed with kill -9 during the fan-out → restarted, it resumes from the cursor; exactly one each', async () => {
        const a = await prepare('d');
        const e = env(fakes.url, offset);
        let d = await startDispatcher({ redisUrl: redis.url, env: e, consumer: 'bc-crash' });
        try {
            const id = broadcastId('bc0004');
            const text = 'Thông báo phường D';
            await launch(id, a, text);
            // kill it as soon as the fan-out has begun (a few batches written, cursor stored)
            assert.ok(await waitFor(async () => (await bcFanned(redis, id)) > 0, 60000, 1), 'fan-out began');
            await d.kill9();
            const { status: st, n } = await broadcastState(redis.sock, id);
            const fanned = n('fanned');
            console.log(`# killed with status ${st}, ${fanned} of ${N} fanned, ${total(fakes)} sent`);
            d = await startDispatcher({ redisUrl: redis.url, env: e, consumer: 'bc-crash' });
            await untilDone(id);
            await checkExactlyOnce(redis, fakes, id, a.members, text);
        } finally {
            assertCleanExit(await d.stop(), d.lines, 'restarted dispatcher');
        }
    });
});

describe('wire marks: what may have reached the provider is not sent again', { timeout: 180000 }, () => {
    let dir, redis, fakes, offset;
    const T = () => Date.now() + offset;
    const procs = [];

    before(async () => {
        dir = makeTempDir('motcua-wm-');
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes({
            fbToken: FB.pageToken,
            zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh },
            twilio: { sid: TW.sid, token: TW.token },
        });
        offset = offsetTo(12);
    });

    beforeEach(() => fakes.reset());

    after(async () => {
        if (process.env.WM_DEBUG) for (const p of procs) console.log(`# --- ${p.pid}\n` + p.stderrLines.filter((l) => /send\.|worker\./.test(l)).join('\n'));
        try {
            for (const p of procs) if (p.alive()) assertCleanExit(await p.stop(), p.stderrLines, 'motcua');
        } finally {
            await fakes.stop();
            await redis.stop();
            removeTempDir(dir);
        }
    });

    /** `motcua serve` (role all, so /metrics answers) as consumer `consumer`. */
    async function serve(consumer, extra = {}) {
        const mc = await startMotcua({
            redisUrl: redis.url,
            env: providerEnv(fakes.url, {
                MOTCUA_SCHEDULER_RATE_SMS: '0',
                MOTCUA_SCHEDULER_RATE_FACEBOOK: '0',
                MOTCUA_SCHEDULER_RATE_ZALO: '0',
                MOTCUA_SCHEDULER_BACKOFF_BASE_MS: '200',
                MOTCUA_SCHEDULER_BACKOFF_MAX_MS: '400',
                MOTCUA_WORKER_CLAIM_IDLE_MS: '1000',
                MOTCUA_WORKER_CONSUMER: consumer,
                MOTCUA_SERVER_TEST_CLOCK: 'true',
                MOTCUA_TEST_CLOCK_OFFSET_MS: String(offset),
                ...extra,
            }),
        });
        procs.push(mc);
        return mc;
    }

    const fbTo = (psid) => fakes.requests('facebook').filter((r) => r.body?.recipient?.id === psid);
    const smsTo = (to) => fakes.requests('twilio').filter((r) => r.valid && r.body?.To === to);
    /** A notification id "<partition>-<name>" (the partition of the name, as the API picks it). */
    const nid = (name) => partitionedId(name);
    const status = (id) => redisCli(redis.sock, 'HGET', idKey('notif', id), 'status');
    async function attempts(id) {
        const raw = await redisCli(redis.sock, 'LRANGE', idKey('attempts', id), '0', '-1');
        return raw ? raw.split('\n').map((l) => JSON.parse(l)) : [];
    }
    const openWindow = (psid) => redisCli(redis.sock, 'HSET', citizenKey('conv', 'facebook', psid), 'last_in_ms', String(T() - HOUR));
    /** A notification in the shape the department API writes, due now (in the partition its id names). */
    const putNotif = (id, to, channels, text = 'Hồ sơ của bạn đã có kết quả') =>
        redisPipe(redis.sock, [
            ['HSET', idKey('notif', id), 'dept', 'test-dept', 'status', 'scheduled', 'text', text, 'to', JSON.stringify(to),
                'channels', channels, 'idx', '0', 'send_at_ms', String(T()), 'not_after_ms', '0', 'priority', 'normal',
                'created_ms', String(T())],
            ['ZADD', key('due', partOfId(id)), String(T()), id],
        ]);
    /** The out:facebook entry of notification `id` (while it is there): on its partition's stream, where the scheduler put it. */
    async function entryOf(id) {
        const found = await findEntries(redis.sock, everyPart('out', 'facebook'), 'notif', id);
        assert.ok(found.length <= 1, `one entry at most: ${found}`);
        if (found.length) assert.equal(found[0].split(' ')[0], key('out', partOfId(id), 'facebook'), "on the stream of the notification's partition");
        return found.length ? found[0].split(' ')[1] : '';
    }
    const wireKey = (id, ch = 'facebook') => key('wire', partOfId(id), ch);
    const outLeft = (ch) => sumEveryPart(redis.sock, 'XLEN', 'out', ch);
    const wireLeft = async () => (await sumEveryPart(redis.sock, 'HLEN', 'wire', 'facebook')) + (await sumEveryPart(redis.sock, 'HLEN', 'wire', 'sms'));
    const metrics = async (mc) => (await httpRequest(`${mc.url}/metrics`)).body;

    it('entries claimed from a dead dispatcher: with a mark → acknowledged as sent without sending; without → sent; a long reply goes on after its marked part', async () => {
        const ps = { a: 'wm-a', b: 'wm-b', n1: 'wm-n1', n2: 'wm-n2', l: 'wm-l' };
        for (const p of Object.values(ps)) await openWindow(p);
        const long = 'Một. '.repeat(300) + 'Hai. '.repeat(200); // 2500 characters: two Facebook messages
        const n1 = nid('wm-n1'), n2 = nid('wm-n2');
        const fbNotif = (id, psid) => ['HSET', idKey('notif', id), 'dept', 'test-dept', 'status', 'sending', 'text', 'Thông báo',
            'to', JSON.stringify({ channel: 'facebook', user_id: psid }), 'channels', 'facebook', 'idx', '0', 'channel', 'facebook'];
        // each entry on the stream of its partition: a reply in the citizen's, a
        // notification in the one its id names (where the turn and the scheduler put them)
        const part = { a: partOf(`facebook:${ps.a}`), b: partOf(`facebook:${ps.b}`), l: partOf(`facebook:${ps.l}`), n1: partOfId(n1), n2: partOfId(n2) };
        const streams = [...new Set(Object.values(part))].map((q) => key('out', q, 'facebook'));
        await redisPipe(redis.sock, [
            ...streams.map((k) => ['XGROUP', 'CREATE', k, 'motcua', '$', 'MKSTREAM']),
            fbNotif(n1, ps.n1),
            fbNotif(n2, ps.n2),
        ]);
        const add = (who, ...f) => redisCli(redis.sock, 'XADD', key('out', part[who], 'facebook'), '*', ...f);
        const ids = {
            a: await add('a', 'to', ps.a, 'text', 'Trả lời A', 'purpose', 'reply', 'ref', 'm_a'),
            b: await add('b', 'to', ps.b, 'text', 'Trả lời B', 'purpose', 'reply', 'ref', 'm_b'),
            n1: await add('n1', 'to', ps.n1, 'text', 'Thông báo', 'purpose', 'update', 'notif', n1),
            n2: await add('n2', 'to', ps.n2, 'text', 'Thông báo', 'purpose', 'update', 'notif', n2),
            l: await add('l', 'to', ps.l, 'text', long, 'purpose', 'reply', 'ref', 'm_l'),
        };
        // a dispatcher read them all, marked three as on the wire (the long reply's
        // first part only: the marks of its stream's partition) and died
        const read = await redisCli(redis.sock, 'XREADGROUP', 'GROUP', 'motcua', 'wm-dead', 'COUNT', '10', 'STREAMS', ...streams, ...streams.map(() => '>'));
        for (const id of Object.values(ids)) assert.ok(read.includes(id), `the dead one read ${id}`);
        for (const who of ['a', 'n1', 'l']) await redisCli(redis.sock, 'HSET', key('wire', part[who], 'facebook'), ids[who], '0');
        const mc = await serve('wm-live');
        try {
            const settled = async () => (await outLeft('facebook')) === 0;
            assert.ok(await waitFor(settled, 30000, 50), 'every claimed entry acknowledged');
            await sleep(500);
            assert.equal(fbTo(ps.a).length, 0, 'marked reply: not sent again');
            assert.equal(fbTo(ps.n1).length, 0, 'marked notification: not sent again');
            assert.equal(fbTo(ps.b).length, 1, 'unmarked reply: sent');
            assert.equal(fbTo(ps.n2).length, 1, 'unmarked notification: sent');
            const lr = fbTo(ps.l);
            assert.equal(lr.length, 1, 'long reply: only the part after the marked one');
            assert.match(lr[0].body.message.text, /^Hai\./);
            assert.ok(!lr[0].body.message.text.includes('Một'), 'the marked first part is not sent again');
            assert.ok(long.endsWith(lr[0].body.message.text), 'the second part, whole');
            assert.equal(await wireLeft(), 0, 'the acknowledgements took the marks away');
            assert.equal(await status(n1), 'sent');
            assert.equal(await status(n2), 'sent');
            const a1 = await attempts(n1);
            assert.deepEqual(a1.map((x) => [x.channel, x.result]), [['facebook', 'sent']]);
            assert.match(a1[0].note, /^unconfirmed: the dispatcher stopped during the request/);
            const a2 = await attempts(n2);
            assert.deepEqual(a2.map((x) => [x.channel, x.result, x.note]), [['facebook', 'sent', undefined]]);
            assert.equal(mc.stderrLines.filter((l) => l.includes('"send.unconfirmed"')).length, 2);
            assert.equal(mc.stderrLines.filter((l) => l.includes('"send.resume"')).length, 3);
            assert.equal(metricValue(await metrics(mc), 'motcua_notifications_total', { channel: 'facebook', result: 'sent' }), 2);
        } finally {
            assertCleanExit(await mc.stop(), mc.stderrLines, 'motcua');
        }
    });

    it('killed while the provider holds the request → restarted, it does not send it again', async () => {
        const psid = 'wm-crash';
        await openWindow(psid);
        fakes.fail('facebook', { delayMs: 4000 }); // the provider takes its time to answer
        let mc = await serve('wm-crash');
        try {
            await putNotif(nid('wm-n3'), { channel: 'facebook', user_id: psid }, 'facebook');
            await fakes.waitFor('facebook', 1, 10000);
            // the mark was in Redis before the request reached the provider
            const entry = await entryOf(nid('wm-n3'));
            assert.ok(entry, 'the entry is still unacknowledged');
            assert.equal(await redisCli(redis.sock, 'HGET', wireKey(nid('wm-n3')), entry), '0', 'marked before the provider had it');
            await mc.kill();
            mc = await serve('wm-crash'); // its own pending list, read again
            assert.ok(await waitFor(async () => (await status(nid('wm-n3'))) === 'sent', 10000, 50), 'sent');
            await sleep(1000);
            assert.equal(fbTo(psid).length, 1, 'the provider got it once');
            const at = await attempts(nid('wm-n3'));
            assert.deepEqual(at.map((x) => x.result), ['sent']);
            assert.match(at[0].note, /^unconfirmed/);
            assert.equal(await wireLeft(), 0);
            assert.equal(await outLeft('facebook'), 0);
        } finally {
            if (mc.alive()) assertCleanExit(await mc.stop(), mc.stderrLines, 'motcua');
        }
    });

    it('stopped with SIGTERM while the provider holds the request → it waits for the answer and records it; restarted, nothing is sent again', async () => {
        const psid = 'wm-term';
        await openWindow(psid);
        fakes.fail('facebook', { delayMs: 1500 }); // an answer that takes its time
        let mc = await serve('wm-term');
        try {
            await putNotif(nid('wm-t1'), { channel: 'facebook', user_id: psid }, 'facebook');
            await fakes.waitFor('facebook', 1, 10000);
            const entry = await entryOf(nid('wm-t1'));
            assert.ok(entry, 'on the wire, not acknowledged yet');
            assertCleanExit(await mc.stop(), mc.stderrLines, 'motcua'); // SIGTERM
            // the answer came in before the exit: a confirmed send, not an unconfirmed one
            assert.equal(await status(nid('wm-t1')), 'sent');
            assert.deepEqual((await attempts(nid('wm-t1'))).map((x) => [x.result, x.note]), [['sent', undefined]]);
            assert.equal(await wireLeft(), 0, 'no mark left behind');
            assert.equal(await outLeft('facebook'), 0);
            mc = await serve('wm-term');
            await sleep(1500);
            assert.equal(fbTo(psid).length, 1, 'the provider got it once');
            assert.equal(mc.stderrLines.filter((l) => l.includes('"send.unconfirmed"')).length, 0);
        } finally {
            if (mc.alive()) assertCleanExit(await mc.stop(), mc.stderrLines, 'motcua');
        }
    });

    it('a cancelled broadcast: its recipients still waiting on the outbound stream are cancelled, not sent', async () => {
        const bc = broadcastId('bcq1');
        // A dispatcher holds at most 512 entries, then one more read: an XREADGROUP brings
        // up to 64 entries of EACH stream it names, one per partition (gw_reader.c).
        const READ = 64 * PARTITIONS;
        const HELD = 512 + READ;
        const n = HELD + READ + 1000; // more than a dispatcher can have taken when the cancel comes
        const text = 'Thông báo sẽ bị huỷ';
        fakes.fail('twilio', { delayMs: 50, times: Infinity }); // slow enough to be caught mid-way
        // as the fan-out leaves it: the record sending without its text, each partition's
        // copy (bc_part, with the text) sending, recipient i as <q>-<bc>-<k> in its partition q
        const per = Array(PARTITIONS).fill(0);
        const cmds = [['HSET', idKey('bc', bc), 'dept', 'test-dept', 'status', 'sending', 'channels', 'sms', 'fan_done_ms', String(T())]];
        for (let i = 1; i <= n; i++) {
            const phone = `+8490${String(1000000 + i)}`;
            const q = partOf(`sms:${phone}`);
            const id = `${q}-${bc}-${++per[q]}`;
            cmds.push(['HSET', idKey('notif', id), 'dept', 'test-dept', 'status', 'scheduled',
                'to', JSON.stringify({ channel: 'sms', user_id: phone }), 'channels', 'sms', 'idx', '0',
                'send_at_ms', String(T()), 'not_after_ms', '0', 'priority', 'urgent', 'created_ms', String(T()), 'broadcast', bc]);
            cmds.push(['ZADD', key('due', q), String(T()), id]);
        }
        per.forEach((k, q) => cmds.push(['HSET', key('bc_part', q, bc), 'status', k ? 'sending' : 'done', 'text', text, 'dept', 'test-dept',
            'fanned', String(k), 'fanned:sms', String(k), 'fan_done_ms', String(T())]));
        await redisPipe(redis.sock, cmds);
        const mc = await serve('wm-cancel');
        try {
            await fakes.waitFor('twilio', 20, 20000);
            // every recipient routed: what is cancelled now is cancelled by the sender
            assert.ok(await waitFor(async () => (await sumEveryPart(redis.sock, 'ZCARD', 'due')) === 0, 20000, 20), 'every recipient is on the outbound streams');
            // what DELETE /api/v1/broadcasts/{id} does (gateway/api/gw_broadcasts.c)
            await cancelBroadcast(redis.sock, bc);
            const before = fakes.count('twilio');
            const count = async () => {
                const c = { sent: 0, cancelled: 0 };
                for (const x of await broadcastNotifs(redis.sock, bc)) c[x.status] = (c[x.status] || 0) + 1;
                return c;
            };
            assert.ok(await waitFor(async () => { const c = await count(); return c.sent + c.cancelled === n; }, 60000, 200), 'every recipient settled');
            const { sent, cancelled } = await count();
            console.log(`# cancel with ${n} on the stream: ${sent} sent, ${cancelled} cancelled`);
            // sent: what the dispatcher held when the cancel came (at most 512 + one read,
            // refilled by what had already left, plus one more read in flight)
            assert.ok(cancelled > 0 && sent <= HELD + before + READ, `what waited on the stream is cancelled (${sent} sent, ${before} before the cancel)`);
            assert.equal(fakes.requests('twilio').filter((r) => r.valid).length, sent, 'the provider got exactly the sent ones');
            const bs = await broadcastState(redis.sock, bc);
            assert.equal(bs.n('st:cancelled:sms'), cancelled, 'broadcast counts (every partition)');
            assert.equal(bs.n('st:sent:sms'), sent);
            assert.equal(bs.status, 'cancelled');
            assert.equal(await outLeft('sms'), 0, 'nothing left on the streams');
            assert.equal(metricValue(await metrics(mc), 'motcua_notifications_total', { channel: 'sms', result: 'cancelled' }), cancelled);
        } finally {
            fakes.reset();
            assertCleanExit(await mc.stop(), mc.stderrLines, 'motcua');
        }
    });

    it('provider answers 500 → the mark is taken back: killed during the backoff, restarted, it sends again; sent/retried/failed/dead counted by channel', async () => {
        const psid = 'wm-500';
        await openWindow(psid);
        fakes.fail('facebook', { status: 500, times: 1 });
        // a long backoff: time to kill it while it waits to retry
        let mc = await serve('wm-retry', { MOTCUA_SCHEDULER_BACKOFF_BASE_MS: '20000', MOTCUA_SCHEDULER_BACKOFF_MAX_MS: '20000' });
        try {
            await putNotif(nid('wm-n4'), { channel: 'facebook', user_id: psid }, 'facebook');
            // the retry is recorded after the mark was taken back (same connection, in order)
            assert.ok(await waitFor(async () => (await attempts(nid('wm-n4'))).some((x) => x.result === 'retry'), 10000, 20), 'a retry recorded');
            const entry = await entryOf(nid('wm-n4'));
            assert.ok(entry, 'the entry waits for its retry');
            assert.equal(await redisCli(redis.sock, 'HEXISTS', wireKey(nid('wm-n4')), entry), '0', 'no mark after a definite no');
            assert.equal(metricValue(await metrics(mc), 'motcua_notifications_total', { channel: 'facebook', result: 'retried' }), 1);
            await mc.kill();
            mc = await serve('wm-retry');
            assert.ok(await waitFor(async () => (await status(nid('wm-n4'))) === 'sent', 10000, 50), 'sent after the restart');
            assert.equal(fbTo(psid).length, 2, 'the 500, then the one that was accepted');
            assert.deepEqual((await attempts(nid('wm-n4'))).map((x) => [x.result, x.note]), [['retry', undefined], ['sent', undefined]]);

            // a permanent refusal with a channel left → failed on facebook, sent on SMS;
            // with none left → dead
            const phone = '+84912000555';
            fakes.fail('facebook', { code: 10, times: 2 });
            await putNotif(nid('wm-n5'), { channel: 'facebook', user_id: psid, phone }, 'facebook,sms');
            await openWindow('wm-dead1');
            await putNotif(nid('wm-n6'), { channel: 'facebook', user_id: 'wm-dead1' }, 'facebook');
            assert.ok(await waitFor(async () => (await status(nid('wm-n5'))) === 'sent' && (await status(nid('wm-n6'))) === 'dead', 10000, 50));
            assert.equal(smsTo(phone).length, 1);
            const m = await metrics(mc);
            const v = (channel, result) => metricValue(m, 'motcua_notifications_total', { channel, result });
            // this process: n4 sent, n5 failed on facebook then sent on SMS, n6 dead
            assert.deepEqual([v('facebook', 'sent'), v('facebook', 'failed'), v('facebook', 'dead'), v('sms', 'sent'), v('facebook', 'retried')],
                [1, 1, 1, 1, null]);
            assert.equal(await wireLeft(), 0, 'no mark left behind by failures');
        } finally {
            if (mc.alive()) assertCleanExit(await mc.stop(), mc.stderrLines, 'motcua');
        }
    });
});
