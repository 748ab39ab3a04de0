// Integration tests: one citizen in order across gateways (issue 15). Two gateways
// (`--role gateway`) and one dispatcher on one Redis; each inbound partition is read by
// one gateway at a time under a lease (gateway/store/gw_lease.h), so a citizen's
// messages are answered in the order they came whichever gateway took the webhook.
//
// - the 16 partitions settle at 8 + 8 (each gateway's fair share);
// - one Zalo citizen sends 50 messages as fast as possible (8 webhooks in flight at
//   once, alternating between the two gateways) → 50 replies, each quoting its
//   message, in the order Redis accepted the messages (read from MONITOR), once each;
// - the same with the gateway holding the citizen's partition killed with kill -9 after
//   the 20th message → the other takes the partition over (within claim_idle_ms) and
//   the 50 replies still come in order, none lost, none twice; it then holds all 16;
// - a third gateway joins (8 + 8 again), then stops with SIGTERM: its leases are gone
//   the moment it exited (given back, not left to expire), it left the live set, and it
//   exited cleanly (no sanitizer report).
// Without the leases the second point fails (both gateways run turns of the citizen at
// once and their replies cross).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { makeTempDir, startRedis, startMotcua, startDispatcher, httpRequest, redisCli, stopAll, waitFor, sleep, assertCleanExit } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { key, ownKey, partOf, PARTITIONS } from '../lib/keys.mjs';
import { zaloSignature } from '../lib/sign.mjs';
import { ZALO, providerEnv } from '../lib/providers-env.mjs';

const CLAIM_IDLE_MS = 2000; // a lease's life: the takeover's bound
const N = 50;

let seq = 0;
const uid = (p) => `${p}${Date.now().toString(36)}${(seq++).toString(36)}`;

function zaloBody(user, text, msgId) {
    const ts = String(Date.now());
    const raw = JSON.stringify({
        app_id: ZALO.appId,
        user_id_by_app: `app-${user}`,
        event_name: 'user_send_text',
        timestamp: ts,
        sender: { id: user },
        recipient: { id: ZALO.oaId },
        message: { text, msg_id: msgId },
    });
    return { raw, ts };
}

function postZalo(mc, user, text, msgId) {
    const { raw, ts } = zaloBody(user, text, msgId);
    return httpRequest(`${mc.url}/webhook/zalo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-zevent-signature': zaloSignature(ZALO.appId, raw, ts, ZALO.oaKey) },
        body: raw,
    });
}

/** redis-cli MONITOR on sock: lines() is what Redis ran, in order; stop() ends it. */
function monitor(sock) {
    const proc = spawn('redis-cli', ['-s', sock, 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let buf = '';
    proc.stdout.on('data', (c) => (buf += c));
    return {
        lines: () => buf.split('\n'),
        stop: () => new Promise((r) => (proc.exitCode !== null ? r() : (proc.once('exit', r), process.kill(proc.pid, 'SIGTERM')))),
    };
}

/** The ids in the order Redis accepted them (the first command naming each). */
function acceptedOrder(lines, ids) {
    const seen = new Map();
    lines.forEach((l, n) => {
        for (const id of ids) if (!seen.has(id) && l.includes(`"${id}"`)) seen.set(id, n);
    });
    return [...seen.keys()].sort((x, y) => seen.get(x) - seen.get(y));
}

/** Posts the messages with at most `width` webhooks in flight; each answer must be 200. */
async function postAll(jobs, width = 8) {
    let next = 0;
    const worker = async () => {
        while (next < jobs.length) {
            const r = await jobs[next++]();
            assert.equal(r.status, 200, r.body);
        }
    };
    await Promise.all(Array.from({ length: width }, worker));
}

describe('one citizen in order across two gateways (partition leases)', { timeout: 180000 }, () => {
    let dir, redis, fakes, a, b, d;
    let aliveName; // the gateway left after the kill
    const env = (consumer) =>
        providerEnv(fakes.url, { MOTCUA_WORKER_CONSUMER: consumer, MOTCUA_WORKER_CLAIM_IDLE_MS: String(CLAIM_IDLE_MS) });
    const gateway = (consumer) => startMotcua({ redisUrl: redis.url, args: ['--role', 'gateway'], env: env(consumer) });

    /** Who holds each partition's lease. */
    async function holders() {
        const out = [];
        for (let p = 0; p < PARTITIONS; p++) out.push(await redisCli(redis.sock, 'GET', key('lease', p)));
        return out;
    }
    const count = (hs, who) => hs.filter((h) => h === who).length;

    /** The quoted message ids of the replies the citizen got, in the order they left. */
    const quotes = (user) =>
        fakes
            .requests('zalo')
            .filter((q) => q.body && q.body.recipient && q.body.recipient.user_id === user)
            .map((q) => q.body.message.quote_message_id);

    before(async () => {
        dir = makeTempDir('motcua-ls-');
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes({ zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh } });
        d = await startDispatcher({ redisUrl: redis.url, env: env('it-ls-d'), consumer: 'it-ls-d' });
        a = await gateway('it-ls-a');
        b = await gateway('it-ls-b');
    });

    after(async () => {
        await stopAll({ procs: [a, b, d], fakes, redis, dir });
    });

    it('the 16 partitions settle at 8 + 8; the dispatcher holds none', async () => {
        const ok = await waitFor(async () => {
            const hs = await holders();
            return count(hs, 'it-ls-a') === PARTITIONS / 2 && count(hs, 'it-ls-b') === PARTITIONS / 2;
        }, 15000, 100);
        assert.ok(ok, `holders: ${JSON.stringify(await holders())}`);
        const live = await redisCli(redis.sock, 'ZRANGE', ownKey('gateways'), '0', '-1');
        assert.deepEqual(live.split('\n').filter(Boolean).sort(), ['it-ls-a', 'it-ls-b']);
    });

    it('50 messages of one citizen through both gateways → 50 replies in order, once each', async () => {
        fakes.reset();
        const user = uid('zo');
        const ids = Array.from({ length: N }, () => uid('zm'));
        const mon = monitor(redis.sock);
        await sleep(200);
        await postAll(ids.map((id, i) => () => postZalo(i % 2 ? b : a, user, `xin chao lan ${i + 1}`, id)));
        assert.ok(await waitFor(() => quotes(user).length >= N, 30000, 50), `replies: ${quotes(user).length}`);
        await sleep(500);
        await mon.stop();
        const order = acceptedOrder(mon.lines(), ids);
        assert.equal(order.length, N, 'MONITOR saw every message');
        assert.deepEqual(quotes(user), order, 'every reply quotes its message, in the order they came');
    });

    it('the holder of the citizen\'s partition killed with kill -9 after 20 messages → still in order, none lost, none twice', async () => {
        fakes.reset();
        const user = uid('zk');
        const p = partOf(`zalo:${user}`);
        const holder = await redisCli(redis.sock, 'GET', key('lease', p));
        assert.ok(holder === 'it-ls-a' || holder === 'it-ls-b', `partition ${p} held: ${holder}`);
        const [victim, survivor, survivorName] = holder === 'it-ls-a' ? [a, b, 'it-ls-b'] : [b, a, 'it-ls-a'];
        const ids = Array.from({ length: N }, () => uid('zm'));
        const mon = monitor(redis.sock);
        await sleep(200);
        const post = (to) => (id, i) => () => postZalo(to(i), user, `xin chao lan ${i + 1}`, id);
        await postAll(ids.slice(0, 20).map(post((i) => (i % 2 ? b : a))));
        await victim.kill(); // replies of the first 20 are still being made
        const killedAt = Date.now();
        await postAll(ids.slice(20).map((id, i) => post(() => survivor)(id, i + 20)));
        assert.ok(await waitFor(() => quotes(user).length >= N, 30000, 50), `replies: ${quotes(user).length} of ${N}`);
        const took = Date.now() - killedAt;
        await sleep(1500); // a reply sent twice would show now
        await mon.stop();
        const order = acceptedOrder(mon.lines(), ids);
        assert.equal(order.length, N, 'MONITOR saw every message');
        assert.deepEqual(quotes(user), order, 'in order, none lost, none twice');
        // the survivor took the partition over and, alone now, every partition
        assert.ok(
            await waitFor(async () => count(await holders(), survivorName) === PARTITIONS, 3 * CLAIM_IDLE_MS, 100),
            `holders: ${JSON.stringify(await holders())}`,
        );
        assert.ok(took < 30000);
        const lines = survivor.stderrLines.filter((l) => l.includes('"lease.taken"'));
        assert.ok(lines.length >= PARTITIONS / 2 + 1, 'the survivor logged its takeovers');
        aliveName = survivorName;
    });

    it('a gateway joins, then stops in order: its partitions are given back at once', async () => {
        const c = await gateway('it-ls-c');
        try {
            assert.ok(
                await waitFor(async () => count(await holders(), 'it-ls-c') === PARTITIONS / 2, 15000, 100),
                `holders: ${JSON.stringify(await holders())}`,
            );
            assertCleanExit(await c.stop(), c.stderrLines, 'gateway c');
            assert.equal(count(await holders(), 'it-ls-c'), 0, 'no lease of the stopped gateway left');
            assert.equal(await redisCli(redis.sock, 'ZRANGE', ownKey('gateways'), '0', '-1'), aliveName, 'it left the live set');
        } finally {
            if (c.alive()) await c.kill();
        }
    });
});
