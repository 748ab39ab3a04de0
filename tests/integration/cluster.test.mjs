// Integration tests: the real motcua binary against a real Redis Cluster (three primaries,
// one replica each) started here on loopback ports (tests/lib/harness.mjs
// startRedisCluster), every node stopped by pid at the end.
//
// What runs on a cluster: /healthz, a Facebook message answered at the Send API (the
// webhook's script on its partition's node, the reader's read per partition, the worker,
// the outbound stream, the sender), a web chat answer, a department API write, and
// `motcua officer` (its synchronous client follows MOVED) whose officer then signs in.
// [redis] wait_replicas: 1 acknowledged by the replicas (200), 2 cannot be (503
// {"error":"replicas"}) and the write stays done.

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, startRedisCluster, startMotcua, httpRequest, wsConnect, stopAll, assertCleanLog } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { key, partOf } from '../lib/keys.mjs';
import { fbSignature } from '../lib/sign.mjs';
import { FB, providerEnv } from '../lib/providers-env.mjs';
import { addOfficer, firstSignIn } from '../lib/officers.mjs';

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
let seq = 0;
const uid = (p) => `${p}${Date.now().toString(36)}${(seq++).toString(36)}`;

function fbBody(psid, text) {
    return JSON.stringify({
        object: 'page',
        entry: [{ id: FB.pageId, time: Date.now(), messaging: [{ sender: { id: psid }, recipient: { id: FB.pageId }, timestamp: Date.now(), message: { mid: uid('m_'), text } }] }],
    });
}

const postFb = (mc, raw) =>
    httpRequest(`${mc.url}/webhook/facebook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': fbSignature(FB.appSecret, raw) },
        body: raw,
    });

describe('motcua on a Redis Cluster (3 primaries, 1 replica each)', { timeout: 180000 }, () => {
    let dir, cluster, fakes, mc, strict;
    const token = crypto.randomBytes(18).toString('base64url');

    async function api(server, method, p, body) {
        const r = await httpRequest(`${server.url}/api/v1/${p}`, {
            method,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: r.status, body: r.body, json: r.body ? JSON.parse(r.body) : null };
    }

    before(async () => {
        dir = makeTempDir('motcua-cl-');
        const tokens = path.join(dir, 'tokens.txt');
        fs.writeFileSync(tokens, `so-tu-phap ${sha256(token)} dossiers:write,notify,read *\n`);
        cluster = await startRedisCluster(path.join(dir, 'cluster'), { primaries: 3, replicas: 1 });
        fakes = await startFakes({ fbToken: FB.pageToken });
        const env = providerEnv(fakes.url, { MOTCUA_ADMIN_TOKENS_FILE: tokens, MOTCUA_REDIS_WAIT_REPLICAS: '1' });
        mc = await startMotcua({ redisUrl: cluster.url, env: { ...env, MOTCUA_WORKER_CONSUMER: 'it-cluster' } });
    });

    beforeEach(() => {
        fakes.reset();
        if (mc && !mc.alive()) throw new Error(`motcua died:\n${mc.stderrLines.slice(-40).join('\n')}`);
    });

    after(async () => {
        try {
            assertCleanLog(mc);
            assertCleanLog(strict);
        } finally {
            await stopAll({ procs: [strict, mc], fakes, redis: cluster, dir });
        }
    });

    it('GET /healthz is 200 once every slot has a primary', async () => {
        let r;
        for (let i = 0; i < 100; i++) {
            r = await httpRequest(`${mc.url}/healthz`);
            if (r.status === 200) break;
            await new Promise((res) => setTimeout(res, 100));
        }
        assert.equal(r.status, 200, r.body);
        assert.equal(JSON.parse(r.body).redis, 'ok');
    });

    it('facebook: a message is answered at the Send API, its replies acknowledged by a replica', async () => {
        const psid = uid('psid');
        const r = await postFb(mc, fbBody(psid, 'lam giay khai sinh can giay to gi'));
        assert.equal(r.status, 200, r.body);
        const [req] = await fakes.waitFor('facebook', 1, 15000);
        assert.equal(req.body.recipient.id, psid);
        assert.match(req.body.message.text, /khai sinh/i);
    });

    it('web chat: a question is answered', async () => {
        const c = await wsConnect(mc.wsUrl);
        try {
            c.send({ type: 'hello', session: null, last_seq: 0 });
            await c.next('welcome');
            c.send({ type: 'message', id: 'q1', text: 'Làm giấy khai sinh cần giấy tờ gì?' });
            const reply = await c.next((f) => f.type === 'message' && f.reply_to === 'q1', 15000);
            assert.match(reply.text, /khai sinh/i);
        } finally {
            c.close();
        }
    });

    it('department API: a dossier is written on the primary of its slot', async () => {
        const code = '000.00.25.H29-231122-0101';
        const a = await api(mc, 'PUT', `dossiers/${code}`, { procedure: 'khai_sinh', status: 'received', phone: '+84901234567' });
        assert.equal(a.status, 201, a.body);
        const g = await api(mc, 'GET', `dossiers/${code}`);
        assert.equal(g.status, 200, g.body);
        assert.equal(g.json.status, 'received');
        assert.equal(await cluster.cli('HGET', key('dossier', partOf(code), code), 'procedure'), 'khai_sinh');
    });

    it('motcua officer add on a cluster; the officer signs in at the console', async () => {
        const off = await addOfficer(cluster.url, { dept: 'so-tu-phap', user: 'cluster.an', role: 'officer' });
        assert.match(off.password, /^[a-z2-9]{16}$/);
        await firstSignIn(mc.url, off); // throws unless sign-in and password change are 200
    });

    it('wait_replicas 2 with one replica per primary: 503 {"error":"replicas"}, the write stays done', async () => {
        strict = await startMotcua({
            redisUrl: cluster.url,
            args: ['--role', 'gateway'],
            env: providerEnv(fakes.url, {
                MOTCUA_ADMIN_TOKENS_FILE: path.join(dir, 'tokens.txt'),
                MOTCUA_REDIS_WAIT_REPLICAS: '2',
                MOTCUA_REDIS_WAIT_TIMEOUT_MS: '200',
            }),
        });
        for (let i = 0; i < 100 && (await httpRequest(`${strict.url}/healthz`)).status !== 200; i++) await new Promise((res) => setTimeout(res, 100));
        const psid = uid('psid');
        const w = await postFb(strict, fbBody(psid, 'lam giay khai sinh can giay to gi'));
        assert.equal(w.status, 503, w.body);
        assert.equal(JSON.parse(w.body).error, 'replicas');
        // stored all the same: the other process's worker answers it
        const [req] = await fakes.waitFor('facebook', 1, 15000);
        assert.equal(req.body.recipient.id, psid);
        const code = '000.00.25.H29-231122-0102';
        const a = await api(strict, 'PUT', `dossiers/${code}`, { procedure: 'khai_sinh', status: 'received' });
        assert.equal(a.status, 503, a.body);
        assert.equal(a.json.error, 'replicas');
        assert.equal(await cluster.cli('HGET', key('dossier', partOf(code), code), 'procedure'), 'khai_sinh', 'not rolled back');
    });
});
