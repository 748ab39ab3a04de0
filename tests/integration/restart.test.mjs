// Redis restarted in the middle of a broadcast (issue 5): nothing lost, nothing
// doubled.
//
// A broadcast is written into Redis in the shape POST /api/v1/broadcasts stores
// (hash bc:<id> and bc_due in the partition its id names; the wards' subscriber sets
// in each member's partition: tests/lib/keys.mjs) for subscribers of two overlapping
// wards on zalo, facebook and sms, and one real dispatcher (`motcua serve --role
// dispatcher`) fans it out over every partition (gateway/dispatch/gw_fanout.c) and
// sends it (gateway/dispatch/gw_sender.c) to the fake providers of
// tests/fakes/providers.mjs. Redis goes away while that
// runs and comes back on the same unix socket and data directory, reloading its
// AOF slowly enough that the dispatcher meets a Redis answering LOADING:
//
//   1. SIGTERM during the fan-out (a clean restart, e.g. an upgrade), then
//      SIGKILL during the sending (a crash);
//   2. SIGSTOP during the sending (a stall: the dispatcher's acknowledgements and
//      wire marks back up in its socket, so its Redis adapter waits for
//      writability), then SIGKILL: the end of the connection arrives together with
//      writability. Before gateway/gw_store.c checked for that, the dispatcher
//      aborted in libuv (uv_poll_start on a closing handle) and the broadcast never
//      reached `done`: the "hang" of the first version of this test.
//
// Redis runs with AOF on and `appendfsync always`: every write is fsynced before
// Redis answers it, so whatever the dispatcher was told is done is on disk, even
// after SIGKILL or a power cut. With `everysec` a clean SIGTERM loses nothing
// either (shutdown fsyncs) and a killed Redis process rarely does (its writes are
// in the kernel), but up to a second of acknowledged writes is lost when the
// machine goes down, or up to two when Redis was holding writes back behind a slow
// fsync: a notification marked sent, or an XACK, could come back as not done, so
// "nothing lost" would not hold.
//
// Every recipient must get exactly one message (the dispatcher keeps the outcome
// of what it sent while Redis was away and records it once Redis answers again,
// instead of sending it again), the broadcast must reach `done` (every partition's
// bc_part done, as GET /api/v1/broadcasts/{id} derives it) with its counts adding up,
// and nothing may go to any partition's dead-letter stream.
//
// Contracts: shared/spec/admin-api.md (Broadcasts), gateway/gw_sched.h (shapes).
// Debugging: RESTART_TEST_LOG=/some/path writes each dispatcher's log to /some/path-<tag>.

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, removeTempDir, startRedis, redisCli, redisPipe, waitFor, sleep, startDispatcher } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { FB, ZALO, TW, HOUR, offsetTo, providerEnv } from '../lib/providers-env.mjs';
import { CHANNELS, broadcastCmds, broadcastId, broadcastState, broadcastNotifs, auditNotifs, received, totalSent as total } from '../lib/broadcasts.mjs';
import { PARTITIONS, everyPart, idKey, citizenKey, partOf, wardSubCmds } from '../lib/keys.mjs';
import { sumEveryPart, pendingOver } from '../lib/parts.mjs';

const N = 4500; // recipients of the broadcast
const REDIS_ARGS = ['--appendfsync', 'always'];
// Restarted, Redis reloads its AOF slowly (a 1 µs pause at every 8th command on
// average), as a production Redis with its data does: for a while it accepts
// connections and answers LOADING to everything.
const RELOAD_ARGS = [...REDIS_ARGS, '--key-load-delay', '-8'];
const CLAIM_IDLE_MS = 5000;

/**
 * n recipients over zalo/facebook/sms in two wards that overlap by a fifth (a
 * recipient in both still hears it once), plus webchat members the broadcast does
 * not address. Zalo and Facebook recipients wrote an hour ago (windows open).
 */
function audience(tag, n, nowMs) {
    const w1 = `phuong-restart-${tag}-1`;
    const w2 = `phuong-restart-${tag}-2`;
    const members = [];
    const cmds = [];
    for (let i = 0; i < n; i++) {
        const ch = CHANNELS[i % 3];
        // numbers of their own per test: a message of another test can never pass for one of ours
        const id = ch === 'sms' ? `+8497${tag.charCodeAt(0) % 10}${String(i).padStart(6, '0')}` : `${tag}r${i}`;
        members.push(`${ch}:${id}`);
        if (ch !== 'sms') cmds.push(['HSET', citizenKey('conv', ch, id), 'last_in_ms', String(nowMs - HOUR)]);
    }
    const inW1 = members.filter((_, i) => i < 0.6 * n);
    const inW2 = members.filter((_, i) => i >= 0.4 * n);
    cmds.push(...wardSubCmds(w1, inW1), ...wardSubCmds(w2, inW2));
    cmds.push(...wardSubCmds(w1, Array.from({ length: 50 }, (_, i) => `webchat:${tag}w${i}`)));
    return { wards: [w1, w2], members, cmds };
}


describe('Redis restarted mid-broadcast (AOF, appendfsync always)', { timeout: 150000 }, () => {
    let dir, redis, fakes, offset;
    let tStart = 0; // when the running test's broadcast was written
    let runs = 0; // each test has a Redis of its own (data directory redis-<n>)
    const T = () => Date.now() + offset;
    const rdir = () => path.join(dir, `redis-${runs}`);
    /** The broadcast's status (derived from every partition, as GET /broadcasts/{id} does) or a counter added up over the partitions. */
    const bc = async (id, f) => {
        const s = await broadcastState(redis.sock, id);
        return f === 'status' ? s.status : String(s.n(f));
    };

    before(async () => {
        dir = makeTempDir('motcua-rs-');
        fakes = await startFakes({
            fbToken: FB.pageToken,
            zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh },
            twilio: { sid: TW.sid, token: TW.token },
            maxRecords: 2 * N,
        });
        offset = offsetTo(12); // noon in Ho Chi Minh City: no SMS quiet hours, no Zalo night
    });

    beforeEach(async () => {
        fakes.reset();
        if (redis?.alive()) await redis.stop();
        runs++;
        redis = await startRedis(rdir(), { args: REDIS_ARGS });
    });

    after(async () => {
        await fakes?.stop();
        if (redis?.alive()) await redis.stop();
        if (dir) removeTempDir(dir);
    });

    /** Stops Redis with `signal`, starts it again on the same socket and AOF; returns a line for the log. */
    async function restartRedis(signal, id) {
        const at = Date.now() - tStart;
        const r = signal === 'SIGKILL' ? await redis.kill() : await redis.stop();
        assert.equal(r.signal ?? (r.code === 0 ? signal : `exit ${r.code}`), signal, 'Redis went away as asked');
        const sentWhileDown = total(fakes);
        const t0 = Date.now();
        redis = await startRedis(rdir(), { args: RELOAD_ARGS, timeoutMs: 30000 });
        const loadMs = Date.now() - t0;
        assert.equal(await redisCli(redis.sock, 'CONFIG', 'GET', 'appendfsync'), 'appendfsync\nalways');
        return `${signal} at +${at} ms: status ${await bc(id, 'status')}, ${await bc(id, 'fanned')} fanned, ${sentWhileDown} sent, reloaded in ${loadMs} ms`;
    }

    /**
     * A broadcast `id` to n recipients (ward tag `tag`) fanned out and sent by one
     * dispatcher while disrupt(id) does things to Redis; then every check of
     * "nothing lost, nothing doubled".
     */
    async function broadcastThrough(tag, id, n, disrupt) {
        const a = audience(tag, n, T());
        await redisPipe(redis.sock, a.cmds);
        const d = await startDispatcher({
            redisUrl: redis.url,
            consumer: `restart-${tag}`,
            env: providerEnv(fakes.url, {
                MOTCUA_SCHEDULER_RATE_SMS: '0',
                MOTCUA_SCHEDULER_RATE_FACEBOOK: '0',
                MOTCUA_SCHEDULER_RATE_ZALO: '0',
                MOTCUA_WORKER_CLAIM_IDLE_MS: String(CLAIM_IDLE_MS),
                MOTCUA_SERVER_TEST_CLOCK: 'true',
                MOTCUA_TEST_CLOCK_OFFSET_MS: String(offset),
            }),
        });
        const text = `Thông báo phường ${tag.toUpperCase()}: tạm ngừng cấp nước`;
        let exit;
        try {
            const t0 = Date.now();
            tStart = t0;
            await redisPipe(redis.sock, broadcastCmds(id, { wards: a.wards, text, dueMs: T() - 10, n }));
            const log = await disrupt(id);
            assert.notEqual(await bc(id, 'status'), 'done', 'the last disruption came before the end');

            // a dispatcher that died (e.g. an abort in the Redis adapter) fails at once, with its last words
            const done = await waitFor(async () => !d.alive() || (await bc(id, 'status')) === 'done', 60000, 50);
            assert.ok(d.alive(), `the dispatcher survived:\n${d.lines.slice(-10).join('\n')}`);
            log.push(`done after ${Date.now() - t0} ms`);
            console.log(`# ${log.join('; ')}`);
            if (!done) {
                const s = await broadcastState(redis.sock, id);
                const st = auditNotifs(await broadcastNotifs(redis.sock, id), a.members).byStatus;
                const pend = await Promise.all(CHANNELS.map(async (c) =>
                    `${c} ${await pendingOver(redis.sock, everyPart('out', c))} (${await sumEveryPart(redis.sock, 'XLEN', 'out', c)} on the streams)`));
                assert.fail(`not done: ${JSON.stringify(s.bc)}\nparts: ${s.parts.map((p, q) => `${q} ${p.status} ${p.finished}/${p.fanned}`).join(', ')}\n` +
                    `notifications: ${JSON.stringify(st)}\npending: ${pend.join(' | ')}\n` +
                    `due: ${await sumEveryPart(redis.sock, 'ZCARD', 'due')}\n${d.lines.slice(-30).join('\n')}`);
            }

            await sleep(1000); // a second copy would show now
            // nothing doubled, nobody missed, nobody outside the audience
            const per = received(fakes);
            const missing = a.members.filter((m) => !per.has(m));
            const doubled = a.members.filter((m) => per.get(m) > 1);
            const all = new Set(a.members);
            const stray = [...per.keys()].filter((k) => !all.has(k));
            assert.deepEqual(missing.slice(0, 10), [], `${missing.length} recipients got nothing`);
            let why = [];
            if (doubled.length) {
                // What Redis recorded for the first few (two "sent" attempts: one notification
                // sent twice; one: the second request left without being recorded), when the
                // fakes got them, and what the dispatcher logged about the disruption. This goes
                // into the assertion's actual value: CI prints that, not this file's console.
                const of = auditNotifs(await broadcastNotifs(redis.sock, id), a.members).of;
                const detail = (await Promise.all(doubled.slice(0, 3).filter((m) => of.has(m)).map(async (m) =>
                    `${of.get(m)} ${(await redisCli(redis.sock, 'LRANGE', idKey('attempts', of.get(m)), '0', '-1')).split('\n').join(' ')}`))).join('\n');
                const at = (m) => [...fakes.requests('zalo'), ...fakes.requests('facebook'), ...fakes.requests('twilio')]
                    .filter((r) => [r.body?.recipient?.user_id, r.body?.recipient?.id, r.body?.To].includes(m.slice(m.indexOf(':') + 1)))
                    .map((r) => r.time - t0);
                const byCh = CHANNELS.map((c) => `${c} ${doubled.filter((m) => m.startsWith(`${c}:`)).length}`).join(', ');
                const events = d.lines.filter((l) => /"(redis\.(up|down|timeout)|worker\.claimed|send\.(resume|unconfirmed))"/.test(l));
                why = [`${doubled.length} doubled (${byCh}); ${stray.length} stray; ${total(fakes)} requests for ${n}; ${log.join('; ')}`,
                    ...doubled.slice(0, 3).map((m) => `${m} received at +${at(m).join(', +')} ms`),
                    ...detail.split('\n'), ...events.slice(0, 16).map((l) => l.replace(/^.*"ts":"[^T]*T([^Z"]*)Z?".*"event":"([^"]*)".*$/, '$1 $2'))];
            }
            assert.deepEqual({ doubled: doubled.slice(0, 10), why }, { doubled: [], why: [] }, `${doubled.length} recipients got more than one message`);
            assert.deepEqual(stray, [], 'nobody outside the audience (webchat members are not addressed)');
            assert.equal(total(fakes), n, 'one request per recipient');
            const fb = fakes.requests('facebook').find((r) => r.body?.message?.text);
            assert.equal(fb.body.message.text, text, 'the broadcast text');

            // the broadcast's record adds up, partition by partition
            const s = await broadcastState(redis.sock, id);
            assert.deepEqual(s.parts.map((p) => p.status), Array(PARTITIONS).fill('done'), 'every partition done');
            assert.equal(s.bc.status, 'sending', "the record's own status; done is derived");
            assert.equal(s.n('fanned'), n);
            assert.equal(s.n('finished'), n, 'every notification finished once');
            const perPart = Array(PARTITIONS).fill(0);
            for (const m of a.members) perPart[partOf(m)]++;
            assert.deepEqual(s.parts.map((p) => Number(p.fanned || 0)), perPart, 'fanned per partition: its own members, once each');
            assert.deepEqual(s.parts.map((p) => Number(p.finished || 0)), perPart, 'finished per partition');
            for (const c of CHANNELS) {
                const want = a.members.filter((m) => m.startsWith(`${c}:`)).length;
                assert.equal(s.n(`fanned:${c}`), want, `fanned:${c}`);
                assert.equal(s.n(`st:sent:${c}`), want, `st:sent:${c}`);
                for (const st of ['dead', 'expired', 'cancelled']) assert.equal(s.n(`st:${st}:${c}`), 0, `no st:${st}:${c}`);
            }
            assert.equal(s.seen, 0, 'the seen sets are gone');
            const audit = auditNotifs(await broadcastNotifs(redis.sock, id), a.members);
            assert.deepEqual(audit.problems, [], 'one notification <q>-<id>-<k> per member, in its partition q, and no more of them');
            assert.deepEqual(audit.byStatus, { sent: n }, 'every notification sent');
            // nothing dead, nothing left behind, in any partition
            assert.equal(await sumEveryPart(redis.sock, 'XLEN', 'dead'), 0, 'no dead letters');
            assert.equal(await sumEveryPart(redis.sock, 'ZCARD', 'due'), 0, 'nothing left due');
            for (const c of CHANNELS) {
                assert.equal(await pendingOver(redis.sock, everyPart('out', c)), 0, `nothing unacknowledged on out:${c}`);
                // acknowledged entries are deleted: anything left was never read
                assert.equal(await sumEveryPart(redis.sock, 'XLEN', 'out', c), 0, `nothing left unread on out:${c}`);
                assert.equal(await sumEveryPart(redis.sock, 'HLEN', 'wire', c), 0, `no wire mark left on ${c}`);
            }
        } finally {
            exit = await d.stop();
            if (process.env.RESTART_TEST_LOG) fs.writeFileSync(`${process.env.RESTART_TEST_LOG}-${tag}`, d.lines.join('\n'));
        }
        const bad = d.lines.filter((l) => /Sanitizer|runtime error/.test(l));
        assert.deepEqual(bad, [], 'clean sanitizer output');
        assert.equal(exit.code, 0, `clean exit on SIGTERM: ${d.lines.slice(-20).join('\n')}`);
    }

    it(`${N} recipients; Redis stopped (SIGTERM) during the fan-out, killed (SIGKILL) during the sending → exactly one message each, counts add up, no dead letters`, async () => {
        await broadcastThrough('r', broadcastId('bcr001'), N, async (id) => {
            const log = [];
            // 1. a clean restart as soon as the fan-out has written its first batches
            assert.ok(await waitFor(async () => Number(await bc(id, 'fanned')) > 0, 30000, 1), 'fan-out began');
            log.push(await restartRedis('SIGTERM', id));
            // 2. a crash once a good part has been sent, with more on its way
            const sentAt = total(fakes);
            assert.ok(await waitFor(() => total(fakes) >= sentAt + N / 4, 60000, 2), 'sending went on after the first restart');
            log.push(await restartRedis('SIGKILL', id));
            return log;
        });
    });

    // Redis stalls (a slow disk under appendfsync always, a fork...) while the
    // dispatcher keeps writing acknowledgements and wire marks: its socket fills
    // up, so the adapter waits for writability, and then Redis dies: the end of
    // the connection arrives together with writability.
    it(`${N / 2} recipients; Redis frozen (SIGSTOP) during the sending until the dispatcher's writes back up, then killed and restarted → the dispatcher carries on: exactly one message each`, async () => {
        await broadcastThrough('s', broadcastId('bcr002'), N / 2, async (id) => {
            assert.ok(await waitFor(() => total(fakes) >= N / 8, 60000, 2), 'sending began');
            process.kill(redis.pid, 'SIGSTOP');
            const stoppedAt = Date.now() - tStart;
            // the dispatcher notices nothing comes back; sends stop or its writes pile up
            let last = -1;
            await waitFor(async () => {
                const now = total(fakes);
                const still = now === last;
                last = now;
                return still;
            }, 5000, 400);
            await sleep(500);
            const frozenAt = total(fakes);
            const line = await restartRedis('SIGKILL', id);
            return [`frozen at +${stoppedAt} ms, ${frozenAt} sent by then; ${line}`];
        });
    });
});
