// Integration tests on a Redis Cluster with two gateways: one citizen in order across
// them (partition leases on a cluster), then a primary killed with kill -9 while
// messages flow (issue 15's fault test, the inbound side). A real cluster of three primaries and three
// replicas (short cluster-node-timeout) on loopback ports, two gateways (`--role
// gateway`, partition leases) and one dispatcher, `[redis] wait_replicas = 1`.
//
// First, one citizen sends 50 messages through both gateways, 8 webhooks in flight: the
// 50 replies quote them in the order the primary of the citizen's partition accepted
// them (its MONITOR), once each.
//
// Then 20 Zalo citizens send messages in rounds through both gateways (8 webhooks in flight);
// after the second round the primary serving the first citizen's partition is killed
// with kill -9, its replica is promoted by the cluster, and the rounds go on; once it
// is, the killed node is started again and comes back as the new primary's replica
// (until then that primary has no replica: its citizens' webhooks are stored but
// answered 503 "replicas", as wait_replicas = 1 promises). Then:
// - both gateways and the dispatcher are still the same processes (no restart);
// - every message answered 200 was answered to its citizen (a reply quoting it): none
//   lost; a reply sent twice is counted and printed (a turn committed on the dead primary
//   but not yet copied to its replica runs again on the new one: the crash rule);
// - every webhook of the last rounds (replica back) is answered 200;
// - the seconds during which webhooks were refused (503 unavailable: a slot without a
//   primary) and stored without a replica (503 replicas) are printed.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { makeTempDir, startRedisCluster, startMotcua, startDispatcher, httpRequest, stopAll, waitFor, sleep } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { key, partOf, PARTITIONS } from '../lib/keys.mjs';
import { zaloSignature } from '../lib/sign.mjs';
import { ZALO, providerEnv } from '../lib/providers-env.mjs';

const CITIZENS = 20;
const ROUNDS = 14;
const LAST = 3; // rounds after the replica is back: all 200
const CLAIM_IDLE_MS = 2000;

let seq = 0;
const uid = (p) => `${p}${Date.now().toString(36)}${(seq++).toString(36)}`;

function postZalo(mc, user, text, msgId) {
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
    return httpRequest(`${mc.url}/webhook/zalo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-zevent-signature': zaloSignature(ZALO.appId, raw, ts, ZALO.oaKey) },
        body: raw,
        timeoutMs: 10000,
    }).catch((e) => ({ status: 0, body: String(e) }));
}

describe('two gateways on a Redis Cluster: order, and a primary killed while messages flow', { timeout: 240000 }, () => {
    let dir, cluster, fakes, a, b, d;
    const env = (consumer) =>
        providerEnv(fakes.url, {
            MOTCUA_WORKER_CONSUMER: consumer,
            MOTCUA_WORKER_CLAIM_IDLE_MS: String(CLAIM_IDLE_MS),
            MOTCUA_REDIS_WAIT_REPLICAS: '1',
        });

    before(async () => {
        dir = makeTempDir('motcua-cf-');
        cluster = await startRedisCluster(path.join(dir, 'cluster'), { primaries: 3, replicas: 1, nodeTimeoutMs: 1000 });
        fakes = await startFakes({ zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh } });
        d = await startDispatcher({ redisUrl: cluster.url, env: env('it-cf-d'), consumer: 'it-cf-d' });
        a = await startMotcua({ redisUrl: cluster.url, args: ['--role', 'gateway'], env: env('it-cf-a') });
        b = await startMotcua({ redisUrl: cluster.url, args: ['--role', 'gateway'], env: env('it-cf-b') });
    });

    after(async () => {
        await stopAll({ procs: [a, b, d], fakes, redis: cluster, dir });
    });

    const holders = async () => Promise.all(Array.from({ length: PARTITIONS }, (_, p) => cluster.cli('GET', key('lease', p))));
    const quotesTo = (user) =>
        fakes
            .requests('zalo')
            .filter((q) => q.body && q.body.recipient && q.body.recipient.user_id === user)
            .map((q) => q.body.message.quote_message_id);

    it('one citizen, 50 messages through both gateways → 50 replies in order, once each', async () => {
        assert.ok(
            await waitFor(async () => {
                const hs = await holders();
                return hs.filter((h) => h === 'it-cf-a').length === PARTITIONS / 2 && hs.filter((h) => h === 'it-cf-b').length === PARTITIONS / 2;
            }, 20000, 200),
            `holders: ${JSON.stringify(await holders())}`,
        );
        const user = uid('co');
        const node = await cluster.primaryOf(key('inbound', partOf(`zalo:${user}`)));
        const mon = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(node.port), 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
        let seen = '';
        mon.stdout.on('data', (c) => (seen += c));
        try {
            await sleep(200);
            const ids = Array.from({ length: 50 }, () => uid('m'));
            let next = 0;
            await Promise.all(Array.from({ length: 8 }, async () => {
                while (next < ids.length) {
                    const i = next++;
                    const r = await postZalo(i % 2 ? b : a, user, `xin chao lan ${i + 1}`, ids[i]);
                    assert.equal(r.status, 200, r.body);
                }
            }));
            assert.ok(await waitFor(() => quotesTo(user).length >= ids.length, 30000, 50), `replies: ${quotesTo(user).length}`);
            await sleep(500);
            const at = new Map();
            seen.split('\n').forEach((l, n) => {
                for (const id of ids) if (!at.has(id) && l.includes(`"${id}"`)) at.set(id, n);
            });
            assert.equal(at.size, ids.length, 'MONITOR saw every message');
            assert.deepEqual(quotesTo(user), [...at.keys()].sort((x, y) => at.get(x) - at.get(y)));
        } finally {
            process.kill(mon.pid, 'SIGTERM');
        }
    });

    it('a primary killed: the gateways carry on without a restart; every message answered 200 is answered', async () => {
        // the leases settle (each gateway its 8) before the flow starts
        assert.ok(
            await waitFor(async () => {
                const hs = await holders();
                return hs.filter((h) => h === 'it-cf-a').length === PARTITIONS / 2 && hs.filter((h) => h === 'it-cf-b').length === PARTITIONS / 2;
            }, 20000, 200),
            `holders: ${JSON.stringify(await holders())}`,
        );
        const users = Array.from({ length: CITIZENS }, () => uid('cf'));
        const victim = await cluster.primaryOf(key('inbound', partOf(`zalo:${users[0]}`)));
        assert.ok(victim, 'the primary of the first citizen\'s partition');
        const accepted = new Map(); // msgId → user, answered 200
        const refusedAt = [];
        let killedAt = 0;
        let backAt = 0;
        const unavailableAt = [];
        const noReplicaAt = [];
        const statuses = [];
        for (let round = 0; round < ROUNDS; round++) {
            if (round === 2) {
                await victim.kill();
                killedAt = Date.now();
            }
            if (round > 2 && !backAt) {
                const now = await cluster.primaryOf(key('inbound', partOf(`zalo:${users[0]}`))).catch(() => null);
                if (now && now !== victim) {
                    await victim.restart(); // back as the promoted primary's replica
                    assert.ok(
                        await waitFor(async () => (await cluster.cli('-p', victim.port, 'ROLE').catch(() => '')).split('\n')[3] === 'connected', 20000, 100),
                        'the restarted node replicates',
                    );
                    backAt = Date.now();
                }
            }
            if (round === ROUNDS - LAST) assert.ok(backAt, 'the replica came back before the last rounds');
            const jobs = users.map((u, i) => async () => {
                const id = uid('m');
                const r = await postZalo((i + round) % 2 ? b : a, u, `xin chao lan ${round + 1}`, id);
                if (r.status === 200) accepted.set(id, u);
                else {
                    refusedAt.push(Date.now());
                    statuses.push(`${round}:${r.status}:${String(r.body).slice(0, 40)}`);
                    if (/"replicas"/.test(r.body)) noReplicaAt.push(Date.now());
                    else unavailableAt.push(Date.now());
                }
            });
            let next = 0;
            await Promise.all(Array.from({ length: 8 }, async () => {
                while (next < jobs.length) await jobs[next++]();
            }));
            await sleep(500);
        }
        const quoted = () => fakes.requests('zalo').map((q) => q.body && q.body.message && q.body.message.quote_message_id);
        const missing = () => [...accepted.keys()].filter((id) => !quoted().includes(id));
        const ok = await waitFor(() => missing().length === 0, 30000, 200);
        await sleep(1500);
        const counts = new Map();
        for (const q of quoted()) if (accepted.has(q)) counts.set(q, (counts.get(q) || 0) + 1);
        const twice = [...counts.values()].filter((n) => n > 1).length;
        const span = (ts) => (ts.length ? `${((Math.min(...ts) - killedAt) / 1000).toFixed(1)}-${((Math.max(...ts) - killedAt) / 1000).toFixed(1)} s after the kill` : 'none');
        console.log(
            `# cluster fault: ${accepted.size} of ${CITIZENS * ROUNDS} webhooks answered 200; 503 unavailable: ${unavailableAt.length} (${span(unavailableAt)}); ` +
                `503 replicas: ${noReplicaAt.length} (${span(noReplicaAt)}); replica back ${((backAt - killedAt) / 1000).toFixed(1)} s after the kill; replies sent twice: ${twice}`,
        );
        if (statuses.some((x) => !/"(unavailable|replicas)"/.test(x))) console.log(`# other refusals: ${statuses.filter((x) => !/"(unavailable|replicas)"/.test(x)).slice(0, 5).join(' | ')}`);
        assert.ok(ok, `messages answered 200 but never answered: ${missing().length}`);
        assert.ok(a.alive() && b.alive() && d.alive(), 'no process died or was restarted');
        const lastRounds = statuses.filter((x) => Number(x.split(':')[0]) >= ROUNDS - LAST);
        assert.deepEqual(lastRounds, [], 'with the replica back, every webhook is answered 200');
        // and the gateways still answer after the failover
        const late = uid('late');
        assert.equal((await postZalo(a, users[0], 'xin chao', late)).status, 200);
        assert.ok(await waitFor(() => quoted().includes(late), 15000, 100), 'answered after the failover');
    });
});
