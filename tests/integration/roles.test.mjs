// Every route × every role (issue 12): officers signed in to the console (viewer, officer,
// admin), API keys a department admin made (one with read only, one with every scope) and
// a token of [admin] tokens_file each call every route of the API and of the console; the
// route answers its success status when the role or scope allows it and 403 otherwise.
// The table below is checked against the route table of gateway/api/gw_api.c, so a route
// added there without a row here fails this test.
//
//   node --test tests/integration/roles.test.mjs      (from the repo root)

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, makeTempDir, removeTempDir, startRedis, startMotcua, httpRequest, waitFor, redisCli } from '../lib/harness.mjs';
import { key, partOf } from '../lib/keys.mjs';
import { addOfficer, firstSignIn, sessionRequest } from '../lib/officers.mjs';

const BEN_THANH = '26743';
const DEPT = 'ubnd-ben-thanh';
const CODE = '000.00.25.H29-231122-0777';
const ROLES = { viewer: 1, officer: 2, admin: 3 };
let seq = 0;
const uniq = (p) => `${p}${++seq}`;

/*
 * One row per route and method: the path and body (from the fixtures of ctx, made fresh by
 * prep when the call consumes something), the least role an officer needs, the scopes one
 * of which a key needs ([] = any key; null = no key, people only), and the success status.
 */
const ROUTES = [
    ['GET', '/api/v1/dossiers', () => 'dossiers?q=000', null, 'viewer', ['read'], 200],
    ['GET', '/api/v1/dossiers/{code}', () => `dossiers/${CODE}`, null, 'viewer', ['read'], 200],
    ['PUT', '/api/v1/dossiers/{code}', () => `dossiers/${CODE}`, () => ({ procedure: 'khai_sinh', status: 'received' }), 'officer', ['dossiers:write'], 200],
    ['POST', '/api/v1/dossiers/{code}', () => `dossiers/${CODE}/events`, () => ({ status: 'processing', repeat: true }), 'officer', ['dossiers:write'], 202],
    ['POST', '/api/v1/notifications', () => 'notifications', () => ({ to: { channel: 'zalo', user_id: 'u-roles' }, text: 'Thử quyền' }), 'officer', ['notify'], 202],
    ['GET', '/api/v1/notifications/{id}', (c) => `notifications/${c.notif}`, null, 'viewer', ['read'], 200],
    ['POST', '/api/v1/broadcasts', () => 'broadcasts', () => ({ audience: { wards: [BEN_THANH], channels: ['zalo'] }, text: 'Thử quyền' }), 'admin', ['broadcast'], 202],
    ['GET', '/api/v1/broadcasts/{id}', (c) => `broadcasts/${c.bc}`, null, 'viewer', ['read'], 200],
    ['DELETE', '/api/v1/broadcasts/{id}', (c) => `broadcasts/${c.fresh}`, null, 'admin', ['broadcast'], 200, 'broadcast'],
    ['POST', '/api/v1/subscriptions', () => 'subscriptions', () => ({ channel: 'zalo', user_id: uniq('u-sub-'), ward: BEN_THANH }), 'officer', ['notify'], 201],
    ['DELETE', '/api/v1/subscriptions', (c) => `subscriptions?channel=zalo&user_id=${c.fresh}&ward=${BEN_THANH}`, null, 'officer', ['notify'], 200, 'subscription'],
    ['GET', '/api/v1/me', () => 'me', null, 'viewer', [], 200],
    ['GET', '/api/v1/wards', () => 'wards', null, 'viewer', [], 200],
    ['GET', '/api/v1/templates', () => 'templates', null, 'viewer', ['read'], 200],
    ['GET', '/api/v1/templates/{id}', () => 'templates/mau-co-dinh', null, 'viewer', ['read'], 200],
    ['PUT', '/api/v1/templates/{id}', () => 'templates/mau-co-dinh', () => ({ name: 'Mẫu cố định', text: 'Chào ((ten))' }), 'admin', ['notify', 'broadcast'], 200],
    ['DELETE', '/api/v1/templates/{id}', (c) => `templates/${c.fresh}`, null, 'admin', ['notify', 'broadcast'], 204, 'template'],
    ['POST', '/api/v1/broadcasts/preview', () => 'broadcasts/preview', () => ({ audience: { wards: [BEN_THANH] }, text: 'Thử' }), 'admin', ['broadcast'], 200],
    ['POST', '/api/v1/notifications/batch', () => 'notifications/batch', () => ({ dry_run: true, text: 'Thử', rows: [{ phone: '+84912340007' }] }), 'officer', ['notify'], 200],
    ['GET', '/api/v1/stats', () => 'stats?days=1', null, 'viewer', ['read'], 200],
    ['GET', '/api/v1/dead', () => 'dead', null, 'viewer', ['read'], 200],
    ['POST', '/api/v1/dead/{id}/retry', () => 'dead/0-00000000000000000000000000000000/retry', () => ({}), 'officer', ['notify'], 404],
    ['GET', '/api/v1/officers', () => 'officers', null, 'admin', null, 200],
    ['POST', '/api/v1/officers', () => 'officers', () => ({ user: uniq('moi.'), role: 'viewer', areas: [BEN_THANH] }), 'admin', null, 201],
    ['PUT', '/api/v1/officers/{user}', () => 'officers/muc.tieu', () => ({ areas: [BEN_THANH] }), 'admin', null, 200],
    ['POST', '/api/v1/officers/{user}', () => 'officers/muc.tieu/enable', () => ({}), 'admin', null, 200],
    ['GET', '/api/v1/keys', () => 'keys', null, 'admin', null, 200],
    ['POST', '/api/v1/keys', () => 'keys', () => ({ name: uniq('khoa-'), scopes: ['read'], areas: [BEN_THANH] }), 'admin', null, 201],
    ['DELETE', '/api/v1/keys/{name}', (c) => `keys/${c.fresh}`, null, 'admin', null, 200, 'key'],
    ['GET', '/api/v1/audit', () => 'audit', null, 'admin', ['read'], 200],
    // the message log and citizens' reports (issue 13)
    ['GET', '/api/v1/notifications', () => 'notifications?recipient=zalo:u-roles', null, 'viewer', ['read'], 200],
    ['GET', '/api/v1/reports', () => 'reports?status=received', null, 'viewer', ['read'], 200],
    ['GET', '/api/v1/reports/{id}', (c) => `reports/${c.ticket}`, null, 'viewer', ['read'], 200],
    ['POST', '/api/v1/reports/{id}', (c) => `reports/${c.fresh}/events`, () => ({ status: 'assigned', note: 'Tổ 3' }), 'officer', ['notify'], 202, 'report'],
    // the console's own
    ['GET', '/console/api/session', () => '/console/api/session', null, 'viewer', null, 200],
];

/** The (label, method) pairs of the route table of gateway/api/gw_api.c. */
function cRoutes() {
    const src = fs.readFileSync(path.join(ROOT, 'gateway', 'api', 'gw_api.c'), 'utf8');
    const out = [];
    const re = /\{P "[^"]*", P "([^"]+)",\s*((?:GW_M_[A-Z]+\s*\|?\s*)+),/g;
    for (let m; (m = re.exec(src)); ) {
        for (const meth of m[2].match(/GW_M_[A-Z]+/g)) out.push(`${meth.slice(5)} /api/v1/${m[1]}`);
    }
    return out;
}

async function call(url, who, method, p, body) {
    const full = p.startsWith('/') ? p : `/api/v1/${p}`;
    if (who.session) return sessionRequest(url, who.session, method, full, { body });
    const headers = { authorization: `Bearer ${who.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return httpRequest(`${url}${full}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

describe('every route × every role: 2xx when allowed, 403 otherwise', { timeout: 300000 }, () => {
    let dir, redis, mc;
    const file = crypto.randomBytes(18).toString('base64url');
    const who = {}; // name → {session} or {token}, and what it is
    const ctx = {};
    const asFile = (method, p, body) => call(mc.url, { token: file }, method, p, body);

    before(async () => {
        dir = makeTempDir('motcua-roles-');
        const tokens = path.join(dir, 'tokens.txt');
        const h = crypto.createHash('sha256').update(file).digest('hex');
        fs.writeFileSync(tokens, `${DEPT} ${h} dossiers:write,notify,broadcast,read ${BEN_THANH}\n`);
        redis = await startRedis(path.join(dir, 'redis'));
        mc = await startMotcua({ redisUrl: redis.url, args: ['--role', 'gateway'], env: { MOTCUA_ADMIN_TOKENS_FILE: tokens } });
        assert.ok(await waitFor(async () => (await httpRequest(`${mc.url}/healthz`)).status === 200, 10000, 50));
        for (const role of Object.keys(ROLES)) {
            const off = await addOfficer(redis.url, { dept: DEPT, user: `${role}.roles`, role, areas: BEN_THANH });
            who[role] = { session: await firstSignIn(mc.url, off), role };
        }
        await addOfficer(redis.url, { dept: DEPT, user: 'muc.tieu', role: 'viewer', areas: BEN_THANH });
        for (const [name, scopes] of [['key-read', ['read']], ['key-all', ['dossiers:write', 'notify', 'broadcast', 'read']]]) {
            const r = await sessionRequest(mc.url, who.admin.session, 'POST', '/api/v1/keys', { body: { name, scopes, areas: [BEN_THANH] } });
            assert.equal(r.status, 201, r.body);
            who[name] = { token: r.json.token, scopes };
        }
        who.file = { token: file, scopes: ['dossiers:write', 'notify', 'broadcast', 'read'] };
        // fixtures
        assert.equal((await asFile('PUT', `dossiers/${CODE}`, { procedure: 'khai_sinh', status: 'received' })).status, 201);
        const n = await asFile('POST', 'notifications', { to: { channel: 'zalo', user_id: 'u-roles' }, text: 'Thử' });
        ctx.notif = JSON.parse(n.body).id;
        const bc = await asFile('POST', 'broadcasts', { audience: { wards: [BEN_THANH] }, text: 'Thử' });
        ctx.bc = JSON.parse(bc.body).id;
        assert.equal((await asFile('PUT', 'templates/mau-co-dinh', { name: 'Mẫu cố định', text: 'Chào ((ten))' })).status, 201);
        ctx.ticket = await ticket();
    });

    after(async () => {
        try {
            if (mc && mc.alive()) await mc.stop();
        } finally {
            try {
                if (redis) await redis.stop();
            } finally {
                removeTempDir(dir);
            }
        }
        const log = mc.stderrLines.join('\n');
        assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error:/.test(log), `sanitizer report:\n${log}`);
    });

    /** Something a call consumes, made fresh with the file's token. */
    async function prep(kind) {
        if (kind === 'broadcast') {
            const r = await asFile('POST', 'broadcasts', { audience: { wards: [BEN_THANH] }, text: 'Thử' });
            return JSON.parse(r.body).id;
        }
        if (kind === 'subscription') {
            const u = uniq('u-del-');
            assert.equal((await asFile('POST', 'subscriptions', { channel: 'zalo', user_id: u, ward: BEN_THANH })).status, 201);
            return u;
        }
        if (kind === 'template') {
            const id = uniq('mau-xoa-');
            assert.equal((await asFile('PUT', `templates/${id}`, { name: 'Xoá', text: 'x' })).status, 201);
            return id;
        }
        if (kind === 'key') {
            const name = uniq('khoa-xoa-');
            const r = await sessionRequest(mc.url, who.admin.session, 'POST', '/api/v1/keys', { body: { name, scopes: ['read'], areas: [BEN_THANH] } });
            assert.equal(r.status, 201, r.body);
            return name;
        }
        if (kind === 'report') return ticket();
        return null;
    }

    /** A citizen's report routed to the department, written as the conversation files it. */
    async function ticket() {
        const id = `PA-261203-${String(++seq).padStart(4, '0')}`;
        const now = String(Date.now());
        await redisCli(redis.sock, 'HSET', key('report', partOf(id), id), 'id', id, 'category', 'rac_thai', 'ward', BEN_THANH,
            'status', 'received', 'depts', DEPT, 'created_ms', now, 'updated_ms', now, 'ch', 'webchat', 'user', '', 'text', 'Rác', 'place', 'hẻm 12');
        return id;
    }

    it('the table covers every route of gw_api.c', () => {
        const have = new Set(ROUTES.map((r) => `${r[0]} ${r[1]}`));
        const missing = cRoutes().filter((r) => !have.has(r));
        assert.ok(cRoutes().length >= 25, 'the route table was read');
        assert.deepEqual(missing, []);
    });

    for (const [method, label, pathOf, bodyOf, role, scopes, ok, consumes] of ROUTES) {
        it(`${method} ${label}`, async () => {
            const results = [];
            for (const [name, w] of Object.entries(who)) {
                const allowed = w.session ? ROLES[w.role] >= ROLES[role] : scopes !== null && (scopes.length === 0 || scopes.some((s) => w.scopes.includes(s)));
                const fresh = consumes ? await prep(consumes) : null;
                const r = await call(mc.url, w, method, pathOf({ ...ctx, fresh }), bodyOf ? bodyOf() : undefined);
                const want = allowed ? ok : 403;
                const got = method === 'PUT' && ok === 200 && r.status === 201 ? 200 : r.status; // created or replaced
                results.push(`${name}:${got}`);
                assert.equal(got, want, `${name} (${allowed ? 'allowed' : 'refused'}) → ${r.status} ${r.body}`);
            }
            assert.equal(results.length, 6);
        });
    }
});
