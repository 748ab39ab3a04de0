// Integration tests of officers, console sessions, API keys and the audit trail (issue
// 12, shared/spec/officers.md) against the real binary and a private Redis: `motcua
// officer`, sign-in with user, password and a TOTP code computed here, the first password
// change, the cookie's flags, and the security list of the issue — session fixation,
// CSRF, expired and signed-out sessions, a disabled officer's live session, a revoked key
// (in another process too), brute force, a viewer's write, an officer outside their areas
// — then the audit trail (filters, paging, CSV, retention, nothing in clear) and who made
// each change in dossier histories and broadcasts.
//
//   node --test tests/integration/officers.test.mjs      (from the repo root)

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
    makeTempDir,
    removeTempDir,
    startRedis,
    startMotcua,
    redisCli,
    httpRequest,
    waitFor,
} from '../lib/harness.mjs';
import { key, partOf } from '../lib/keys.mjs';
import {
    totp,
    officerCli,
    parseSecrets,
    addOfficer,
    signIn,
    sessionRequest,
    firstSignIn,
} from '../lib/officers.mjs';

const BEN_THANH = '26743'; // vi-nlp/data/wards.csv
const SAI_GON = '26740';
const DEPT = 'so-tu-phap';
const WARD_DEPT = 'ubnd-ben-thanh';
const CODE = '000.00.25.H29-231122-0042';
const PHONE = '+84901234567';

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const newToken = () => crypto.randomBytes(18).toString('base64url');

function writeTokens(dir, tok) {
    const file = path.join(dir, 'tokens.txt');
    fs.writeFileSync(
        file,
        [
            `${DEPT} ${sha256(tok.dept)} dossiers:write,notify,read *`,
            `${WARD_DEPT} ${sha256(tok.ward)} dossiers:write,notify,broadcast,read ${BEN_THANH}`,
            '',
        ].join('\n'),
    );
    return file;
}

async function bearer(url, token, method, p, body) {
    const headers = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await httpRequest(`${url}/api/v1/${p}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json = null;
    try {
        json = JSON.parse(r.body);
    } catch {
        /* not JSON */
    }
    return { ...r, json };
}

async function storeUp(mc) {
    const up = await waitFor(async () => (await httpRequest(`${mc.url}/healthz`)).status === 200, 10000, 50);
    assert.ok(up, 'the store is connected');
}

function assertCleanLog(mc, secrets) {
    const log = mc.stderrLines.join('\n');
    assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error:/.test(log), `sanitizer report:\n${log}`);
    for (const s of secrets) assert.ok(!log.includes(s), `a secret or phone in the log: ${s}`);
}

describe('officers, sessions, API keys and the audit trail', { timeout: 300000 }, () => {
    let dir, redis, mc, tokens;
    const tok = { dept: newToken(), ward: newToken() };
    const secrets = []; // passwords, TOTP secrets and keys that must never reach the log
    const env = () => ({ MOTCUA_ADMIN_TOKENS_FILE: tokens, MOTCUA_SERVER_TEST_CLOCK: 'true' });
    const R = (...a) => redisCli(redis.sock, ...a);
    const add = async (o) => {
        const off = await addOfficer(redis.url, o);
        secrets.push(off.password, off.secret);
        return off;
    };
    const req = (s, method, p, opts) => sessionRequest(mc.url, s, method, p, opts);

    before(async () => {
        dir = makeTempDir('motcua-officers-');
        tokens = writeTokens(dir, tok);
        redis = await startRedis(path.join(dir, 'redis'));
        mc = await startMotcua({ redisUrl: redis.url, args: ['--role', 'gateway'], env: env() });
        await storeUp(mc);
    });

    beforeEach(() => {
        if (mc && !mc.alive()) throw new Error(`motcua died:\n${mc.stderrLines.slice(-40).join('\n')}`);
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
        assertCleanLog(mc, [...secrets, PHONE]);
    });

    it('motcua officer add|list|disable|enable|reset: lines, exit codes, the store', async () => {
        const r = await officerCli(redis.url, ['add', '--dept', DEPT, '--user', 'cli.an', '--role', 'officer', '--areas', `${BEN_THANH},${SAI_GON}`]);
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.trim().split('\n');
        assert.equal(lines.length, 2, r.stdout);
        const s = parseSecrets(r.stdout);
        secrets.push(s.password, s.secret);
        assert.match(s.password, /^[a-z2-9]{16}$/);
        assert.match(lines[1], /^totp: otpauth:\/\/totp\/motcua:cli\.an\?secret=[A-Z2-7]{32}&issuer=motcua$/);
        // only the hash is stored, an Argon2id one
        const rec = await R('HGET', key('officer', partOf(`dept:${DEPT}`), DEPT, 'cli.an'), 'pw');
        assert.match(rec, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
        assert.ok(!rec.includes(s.password));
        // the same again: exists (1); another department taking the name: refused (1)
        assert.equal((await officerCli(redis.url, ['add', '--dept', DEPT, '--user', 'cli.an', '--role', 'officer'])).code, 1);
        assert.equal((await officerCli(redis.url, ['add', '--dept', WARD_DEPT, '--user', 'cli.an', '--role', 'viewer'])).code, 1);
        // usage errors (2)
        assert.equal((await officerCli(redis.url, ['add', '--dept', DEPT, '--user', 'x', '--role', 'root'])).code, 2);
        assert.equal((await officerCli(redis.url, ['add', '--dept', DEPT, '--user', 'y', '--role', 'viewer', '--areas', '99999'])).code, 2);
        assert.equal((await officerCli(redis.url, ['add', '--dept', DEPT, '--user', 'Bad User', '--role', 'viewer'])).code, 2);
        assert.equal((await officerCli(redis.url, ['add', '--user', 'z', '--role', 'viewer'])).code, 2);
        assert.equal((await officerCli(redis.url, ['frob', '--dept', DEPT])).code, 2);
        // list
        const l = await officerCli(redis.url, ['list', '--dept', DEPT]);
        assert.equal(l.code, 0, l.stderr);
        assert.match(l.stdout, /^cli\.an\tofficer\t26743,26740\tenabled\tyes$/m);
        // disable, enable, reset; an unknown officer: 1
        const d = await officerCli(redis.url, ['disable', '--dept', DEPT, '--user', 'cli.an']);
        assert.equal(d.code, 0, d.stderr);
        assert.match((await officerCli(redis.url, ['list', '--dept', DEPT])).stdout, /^cli\.an\tofficer\t\S+\tdisabled/m);
        assert.equal((await officerCli(redis.url, ['enable', '--dept', DEPT, '--user', 'cli.an'])).code, 0);
        const rs = await officerCli(redis.url, ['reset', '--dept', DEPT, '--user', 'cli.an']);
        assert.equal(rs.code, 0, rs.stderr);
        const s2 = parseSecrets(rs.stdout);
        secrets.push(s2.password, s2.secret);
        assert.notEqual(s2.password, s.password);
        assert.notEqual(s2.secret, s.secret);
        assert.equal((await officerCli(redis.url, ['reset', '--dept', DEPT, '--user', 'nobody'])).code, 1);
        // the trail notes the command line's writes
        const trail = await R('XRANGE', key('audit', partOf(`dept:${DEPT}`), DEPT), '-', '+');
        for (const action of ['officer.add', 'officer.disable', 'officer.enable', 'officer.reset'])
            assert.ok(trail.includes(action), `${action} in the trail`);
        assert.ok(trail.includes('cli:'), 'the actor is the command line');
    });

    it('sign-in: cookie flags, the answer, the first password change before anything else', async () => {
        const off = await add({ dept: DEPT, user: 'an.nguyen', role: 'admin' });
        const s = await signIn(mc.url, off.user, off.password, totp(off.secret));
        assert.equal(s.status, 200, s.body);
        const cookie = [].concat(s.headers['set-cookie']).find((c) => c.startsWith('motcua_session='));
        assert.match(cookie, /^motcua_session=[0-9a-f]{32}; HttpOnly; SameSite=Strict; Path=\/$/);
        assert.equal(s.json.user, 'an.nguyen');
        assert.equal(s.json.dept, DEPT);
        assert.equal(s.json.role, 'admin');
        assert.match(s.json.csrf, /^[0-9a-f]{32}$/);
        assert.equal(s.json.must_change_password, true);
        // the session is stored under the hash of its id: the cookie is not in Redis
        const keys = await R('KEYS', '*session*');
        assert.ok(!keys.includes(s.sid), 'no session id in a key name');
        assert.ok(keys.includes(sha256(s.sid)));
        // everything but the password change and the session itself: 403
        for (const [m, p] of [['GET', '/api/v1/me'], ['GET', '/api/v1/dossiers?q=0'], ['GET', '/api/v1/officers']]) {
            const r = await req(s, m, p);
            assert.equal(r.status, 403, `${m} ${p}: ${r.body}`);
            assert.equal(r.json.error, 'password_change_required');
        }
        assert.equal((await req(s, 'GET', '/console/api/session')).status, 200);
        // the new password's rules
        const short = await req(s, 'POST', '/console/api/password', { body: { old: off.password, new: 'ngan qua' } });
        assert.equal(short.status, 400, short.body);
        assert.equal(short.json.field, 'new');
        const same = await req(s, 'POST', '/console/api/password', { body: { old: off.password, new: off.password } });
        assert.equal(same.status, 400, same.body);
        const wrong = await req(s, 'POST', '/console/api/password', { body: { old: 'khong phai mat khau', new: 'mật khẩu mới đủ dài' } });
        assert.equal(wrong.status, 400, wrong.body);
        assert.equal(wrong.json.field, 'old');
        const ok = await req(s, 'POST', '/console/api/password', { body: { old: off.password, new: 'mật khẩu mới đủ dài' } });
        assert.equal(ok.status, 200, ok.body);
        secrets.push('mật khẩu mới đủ dài');
        const me = await req(s, 'GET', '/api/v1/me');
        assert.equal(me.status, 200, me.body);
        assert.deepEqual(me.json, {
            department: DEPT,
            scopes: ['dossiers:write', 'notify', 'broadcast', 'read'],
            areas: ['*'],
            user: 'an.nguyen',
            role: 'admin',
        });
        // the one-time password no longer works; the new one does (next code: one use each)
        const old = await signIn(mc.url, off.user, off.password, totp(off.secret, Date.now() / 1000 + 30));
        assert.equal(old.status, 401);
        const again = await signIn(mc.url, off.user, 'mật khẩu mới đủ dài', totp(off.secret, Date.now() / 1000 + 30));
        assert.equal(again.status, 200, again.body);
        assert.equal(again.json.must_change_password, undefined);
    });

    it('a wrong user, password or code: one answer; a code is used once', async () => {
        const off = await add({ dept: DEPT, user: 'binh.le', role: 'viewer' });
        const code = totp(off.secret);
        const answers = [
            await signIn(mc.url, 'khong.co.ai', off.password, code),
            await signIn(mc.url, off.user, 'sai mat khau roi nhe', code),
            await signIn(mc.url, off.user, off.password, code === '000000' ? '000001' : '000000'),
            await signIn(mc.url, '{bad user}', off.password, code),
        ];
        for (const a of answers) {
            assert.equal(a.status, 401, a.body);
            assert.equal(a.body, answers[0].body, 'the same body');
            assert.equal(a.sid, null, 'no cookie');
        }
        assert.deepEqual(answers[0].json, { error: 'unauthorized', message: 'wrong user, password or code' });
        const first = await signIn(mc.url, off.user, off.password, code);
        assert.equal(first.status, 200, first.body);
        const replay = await signIn(mc.url, off.user, off.password, code);
        assert.equal(replay.status, 401, 'the same code twice');
        assert.equal(replay.body, answers[0].body);
        // a failure of a known user is in its department's trail, with the reason
        const trail = await R('XRANGE', key('audit', partOf(`dept:${DEPT}`), DEPT), '-', '+');
        assert.ok(trail.includes('session.failed'));
        assert.ok(trail.includes('code_used'));
    });

    it('session fixation: a cookie the browser had before sign-in is not the session', async () => {
        const off = await add({ dept: DEPT, user: 'chi.tran', role: 'officer' });
        const planted = 'motcua_session=0123456789abcdef0123456789abcdef';
        const s = await signIn(mc.url, off.user, off.password, totp(off.secret), { headers: { cookie: planted } });
        assert.equal(s.status, 200, s.body);
        assert.notEqual(s.sid, '0123456789abcdef0123456789abcdef');
        const r = await sessionRequest(mc.url, { cookie: planted, csrf: s.csrf }, 'GET', '/console/api/session');
        assert.equal(r.status, 401, r.body);
        assert.equal((await req(s, 'GET', '/console/api/session')).status, 200);
    });

    it('CSRF: a write without the header, or with another, is 403 and writes nothing', async () => {
        const off = await add({ dept: DEPT, user: 'dung.pham', role: 'officer' });
        const s = await firstSignIn(mc.url, off);
        secrets.push(off.password);
        const body = { procedure: 'khai_sinh', status: 'received', phone: PHONE };
        const none = await req(s, 'PUT', `/api/v1/dossiers/${CODE}`, { body, csrf: false });
        assert.equal(none.status, 403, none.body);
        assert.equal(none.json.error, 'csrf');
        const other = await req(s, 'PUT', `/api/v1/dossiers/${CODE}`, { body, csrf: 'ffffffffffffffffffffffffffffffff' });
        assert.equal(other.status, 403, other.body);
        const dossierKey = key('dossier', partOf(CODE), CODE);
        assert.equal(await R('EXISTS', dossierKey), '0', 'nothing written');
        // a read needs no header; the write with it goes through
        assert.equal((await req(s, 'GET', `/api/v1/dossiers/${CODE}`)).status, 404);
        const ok = await req(s, 'PUT', `/api/v1/dossiers/${CODE}`, { body });
        assert.equal(ok.status, 201, ok.body);
        // a bearer token needs no CSRF header (a system, not a browser)
        const ev = await bearer(mc.url, tok.dept, 'POST', `dossiers/${CODE}/events`, { status: 'processing' });
        assert.equal(ev.status, 202, ev.body);
    });

    it('signed-out sessions: 401; sign-out is the server\'s', async () => {
        const off = await add({ dept: DEPT, user: 'em.vo', role: 'viewer' });
        const s = await firstSignIn(mc.url, off);
        secrets.push(off.password);
        assert.equal((await req(s, 'GET', '/api/v1/me')).status, 200);
        const out = await req(s, 'DELETE', '/console/api/session');
        assert.equal(out.status, 200, out.body);
        assert.match([].concat(out.headers['set-cookie']).join(';'), /motcua_session=; Max-Age=0/);
        const after = await req(s, 'GET', '/api/v1/me');
        assert.equal(after.status, 401, after.body);
        assert.equal((await R('KEYS', `*session:${sha256(s.sid)}`)), '', 'the session is gone from the store');
    });

    it('a disabled officer\'s live session: 401 at once; a reset one\'s too', async () => {
        const admin = await add({ dept: DEPT, user: 'giang.admin', role: 'admin' });
        const as = await firstSignIn(mc.url, admin);
        secrets.push(admin.password);
        const off = await add({ dept: DEPT, user: 'hoa.do', role: 'officer' });
        const s = await firstSignIn(mc.url, off);
        secrets.push(off.password);
        assert.equal((await req(s, 'GET', '/api/v1/me')).status, 200);
        const d = await req(as, 'POST', '/api/v1/officers/hoa.do/disable', { body: {} });
        assert.equal(d.status, 200, d.body);
        assert.deepEqual(d.json, { user: 'hoa.do', state: 'disabled', changed: true });
        const r = await req(s, 'GET', '/api/v1/me');
        assert.equal(r.status, 401, r.body);
        // enabled again: the old session stays ended (the officer signs in again)
        assert.equal((await req(as, 'POST', '/api/v1/officers/hoa.do/enable', { body: {} })).status, 200);
        assert.equal((await req(s, 'GET', '/api/v1/me')).status, 401);
        // an admin does not disable themselves
        const self = await req(as, 'POST', '/api/v1/officers/giang.admin/disable', { body: {} });
        assert.equal(self.status, 403, self.body);
        // the command line disables too, at once
        const s2 = await signIn(mc.url, off.user, off.password, totp(off.secret, Date.now() / 1000 + 30));
        assert.equal(s2.status, 200, s2.body);
        assert.equal((await req(s2, 'GET', '/api/v1/me')).status, 200);
        assert.equal((await officerCli(redis.url, ['disable', '--dept', DEPT, '--user', off.user])).code, 0);
        assert.equal((await req(s2, 'GET', '/api/v1/me')).status, 401);
        // a reset through the API: new secrets shown once with their QR code, sessions end
        const rs = await req(as, 'POST', '/api/v1/officers/hoa.do/reset', { body: {} });
        assert.equal(rs.status, 200, rs.body);
        secrets.push(rs.json.password, rs.json.totp_secret);
        assert.match(rs.json.totp, /^otpauth:\/\/totp\/motcua:hoa\.do\?secret=[A-Z2-7]{32}&issuer=motcua$/);
        assert.match(rs.json.qr_svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    });

    it('API keys: made (shown once), listed with last use, revoked at once — in another process too', async () => {
        const admin = await add({ dept: WARD_DEPT, user: 'khanh.admin', role: 'admin', areas: BEN_THANH });
        const as = await firstSignIn(mc.url, admin);
        secrets.push(admin.password);
        // areas beyond the admin's own: 403; a bad scope: 400; a reserved name: 400
        assert.equal((await req(as, 'POST', '/api/v1/keys', { body: { name: 'x', scopes: ['read'], areas: ['*'] } })).status, 403);
        assert.equal((await req(as, 'POST', '/api/v1/keys', { body: { name: 'x', scopes: ['root'], areas: [BEN_THANH] } })).status, 400);
        assert.equal((await req(as, 'POST', '/api/v1/keys', { body: { name: 'file-1', scopes: ['read'], areas: [BEN_THANH] } })).status, 400);
        const k = await req(as, 'POST', '/api/v1/keys', { body: { name: 'he-thong-mot-cua', scopes: ['read', 'notify'], areas: [BEN_THANH] } });
        assert.equal(k.status, 201, k.body);
        secrets.push(k.json.token);
        assert.match(k.json.token, /^mck1\.ubnd-ben-thanh\.[0-9a-f]{64}$/);
        assert.equal(k.json.created_by, 'officer:khanh.admin');
        const dup = await req(as, 'POST', '/api/v1/keys', { body: { name: 'he-thong-mot-cua', scopes: ['read'], areas: [BEN_THANH] } });
        assert.equal(dup.status, 409, dup.body);
        // only its hash is stored
        const idx = await R('HGETALL', key('apikeys', partOf(`dept:${WARD_DEPT}`), WARD_DEPT));
        assert.ok(idx.includes(sha256(k.json.token)));
        assert.ok(!idx.includes(k.json.token));
        // it works, within its scopes
        const me = await bearer(mc.url, k.json.token, 'GET', 'me');
        assert.equal(me.status, 200, me.body);
        assert.deepEqual(me.json, { department: WARD_DEPT, scopes: ['notify', 'read'], areas: [BEN_THANH], key: 'he-thong-mot-cua' });
        assert.equal((await bearer(mc.url, k.json.token, 'POST', 'broadcasts', {})).status, 403);
        assert.equal((await bearer(mc.url, k.json.token, 'GET', 'keys')).status, 403, 'keys are for people');
        // a second process on the same store
        const mc2 = await startMotcua({ redisUrl: redis.url, args: ['--role', 'gateway'], env: env() });
        try {
            await storeUp(mc2);
            assert.equal((await bearer(mc2.url, k.json.token, 'GET', 'me')).status, 200);
            const list = await req(as, 'GET', '/api/v1/keys');
            assert.equal(list.status, 200, list.body);
            const mine = list.json.keys.find((x) => x.name === 'he-thong-mot-cua');
            assert.equal(mine.source, 'api');
            assert.deepEqual(mine.scopes, ['read', 'notify']);
            assert.ok(mine.last_used, 'last use noted');
            assert.ok(!JSON.stringify(list.json).includes(k.json.token), 'never shown again');
            // the file's token of this department, listed as such, keeps working
            const file = list.json.keys.find((x) => x.source === 'tokens_file');
            assert.ok(file, JSON.stringify(list.json));
            assert.match(file.name, /^file-[0-9a-f]{8}$/);
            assert.equal((await bearer(mc.url, tok.ward, 'GET', 'me')).status, 200);
            // revoked on one process: the next request on either is 401
            const del = await req(as, 'DELETE', '/api/v1/keys/he-thong-mot-cua');
            assert.equal(del.status, 200, del.body);
            assert.equal((await bearer(mc.url, k.json.token, 'GET', 'me')).status, 401);
            assert.equal((await bearer(mc2.url, k.json.token, 'GET', 'me')).status, 401);
            assert.equal((await req(as, 'DELETE', '/api/v1/keys/he-thong-mot-cua')).status, 404);
            assert.equal((await req(as, 'DELETE', `/api/v1/keys/${file.name}`)).status, 409);
        } finally {
            await mc2.stop();
            assertCleanLog(mc2, secrets);
        }
    });

    it('brute force: five failures lock the user (429, Retry-After), not the address, and it is logged', async () => {
        const off = await add({ dept: DEPT, user: 'khoa.ngo', role: 'viewer' });
        const other = await add({ dept: DEPT, user: 'lan.ho', role: 'viewer' });
        for (let i = 0; i < 5; i++) {
            const r = await signIn(mc.url, off.user, `sai mat khau ${i} nhe`, totp(off.secret));
            assert.equal(r.status, 401, `try ${i}: ${r.body}`);
        }
        const locked = await signIn(mc.url, off.user, off.password, totp(off.secret));
        assert.equal(locked.status, 429, locked.body);
        const ra = Number(locked.headers['retry-after']);
        assert.ok(ra > 800 && ra <= 900, `Retry-After ${locked.headers['retry-after']}`);
        assert.equal(locked.sid, null);
        assert.ok(mc.stderrLines.some((l) => l.includes('"console.signin_locked"') && l.includes('khoa.ngo')));
        // the same address signs another user in
        const ok = await signIn(mc.url, other.user, other.password, totp(other.secret));
        assert.equal(ok.status, 200, ok.body);
        // an unknown user is locked the same way (nothing tells it apart)
        for (let i = 0; i < 5; i++) await signIn(mc.url, 'khong.ton.tai', 'mat khau bat ky', '123456');
        assert.equal((await signIn(mc.url, 'khong.ton.tai', 'mat khau bat ky', '123456')).status, 429);
    });

    it('roles and areas: a viewer\'s write and an officer outside their areas are 403', async () => {
        const viewer = await add({ dept: WARD_DEPT, user: 'minh.viewer', role: 'viewer', areas: BEN_THANH });
        const vs = await firstSignIn(mc.url, viewer);
        secrets.push(viewer.password);
        const put = await req(vs, 'PUT', `/api/v1/dossiers/${CODE.replace('0042', '0043')}`, { body: { procedure: 'khai_sinh', status: 'received' } });
        assert.equal(put.status, 403, put.body);
        assert.equal(put.json.error, 'forbidden');
        assert.equal((await req(vs, 'GET', '/api/v1/dossiers?q=000')).status, 200);
        const officer = await add({ dept: WARD_DEPT, user: 'nam.officer', role: 'officer', areas: BEN_THANH });
        const os = await firstSignIn(mc.url, officer);
        secrets.push(officer.password);
        const sub = { channel: 'zalo', user_id: 'u-officers-1', ward: SAI_GON };
        const out = await req(os, 'POST', '/api/v1/subscriptions', { body: sub });
        assert.equal(out.status, 403, out.body);
        const inside = await req(os, 'POST', '/api/v1/subscriptions', { body: { ...sub, ward: BEN_THANH } });
        assert.equal(inside.status, 201, inside.body);
        // an officer may not broadcast (admins do)
        const bc = await req(os, 'POST', '/api/v1/broadcasts', { body: { audience: { wards: [BEN_THANH] }, text: 'Thử' } });
        assert.equal(bc.status, 403, bc.body);
        // the admin changes the officer's role: it applies to the live session at once
        const admin = await add({ dept: WARD_DEPT, user: 'oanh.admin', role: 'admin', areas: BEN_THANH });
        const as = await firstSignIn(mc.url, admin);
        secrets.push(admin.password);
        const up = await req(as, 'PUT', '/api/v1/officers/nam.officer', { body: { role: 'viewer' } });
        assert.equal(up.status, 200, up.body);
        assert.equal((await req(os, 'POST', '/api/v1/subscriptions', { body: { ...sub, ward: BEN_THANH, user_id: 'u-officers-2' } })).status, 403);
        // an admin of one ward gives no more than that ward
        const wide = await req(as, 'POST', '/api/v1/officers', { body: { user: 'phuc.x', role: 'viewer', areas: ['*'] } });
        assert.equal(wide.status, 403, wide.body);
        const own = await req(as, 'PUT', '/api/v1/officers/oanh.admin', { body: { role: 'viewer' } });
        assert.equal(own.status, 403, 'no demoting oneself');
    });

    it('the audit trail: who, what, when, where; filters, paging, CSV; no text or phone in clear', async () => {
        const admin = await add({ dept: WARD_DEPT, user: 'quang.admin', role: 'admin', areas: BEN_THANH });
        const as = await firstSignIn(mc.url, admin);
        secrets.push(admin.password);
        const code = CODE.replace('0042', '0044');
        assert.equal((await req(as, 'PUT', `/api/v1/dossiers/${code}`, { body: { procedure: 'khai_sinh', status: 'received', phone: PHONE } })).status, 201);
        assert.equal((await req(as, 'POST', `/api/v1/dossiers/${code}/events`, { body: { status: 'ready_for_pickup', note: 'mời đến nhận' } })).status, 202);
        const n = await req(as, 'POST', '/api/v1/notifications', { body: { to: { phone: PHONE }, text: 'Nội dung bí mật của tin nhắn' } });
        assert.equal(n.status, 202, n.body);
        const bc = await req(as, 'POST', '/api/v1/broadcasts', { body: { audience: { wards: [BEN_THANH] }, text: 'Thông báo cúp nước' } });
        assert.equal(bc.status, 202, bc.body);
        assert.equal((await req(as, 'DELETE', `/api/v1/broadcasts/${bc.json.id}`)).status, 200);
        assert.equal((await req(as, 'PUT', '/api/v1/templates/mau-1', { body: { name: 'Mẫu một', text: 'Xin chào ((ten))' } })).status, 201);
        assert.equal((await bearer(mc.url, tok.ward, 'DELETE', 'templates/mau-1')).status, 204);
        // the dossier's history and the broadcast say who
        const d = await req(as, 'GET', `/api/v1/dossiers/${code}`);
        assert.equal(d.json.history.at(-1).by, 'officer:quang.admin');
        assert.equal(d.json.updated_by, 'officer:quang.admin');
        const b = await req(as, 'GET', `/api/v1/broadcasts/${bc.json.id}`);
        assert.equal(b.json.created_by, 'officer:quang.admin');
        assert.equal(b.json.cancelled_by, 'officer:quang.admin');

        const all = await req(as, 'GET', '/api/v1/audit?limit=200');
        assert.equal(all.status, 200, all.body);
        const entries = all.json.entries;
        const text = JSON.stringify(entries);
        assert.ok(!text.includes(PHONE), 'no phone in clear');
        assert.ok(!text.includes('bí mật') && !text.includes('cúp nước') && !text.includes('Xin chào'), 'no message text');
        const ev = entries.find((e) => e.action === 'dossier.event' && e.target === code);
        assert.equal(ev.actor, 'officer:quang.admin');
        assert.equal(ev.ip, '127.0.0.1');
        assert.deepEqual(ev.changes.status, { from: 'received', to: 'ready_for_pickup' });
        assert.match(ev.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$/);
        const created = entries.find((e) => e.action === 'dossier.create' && e.target === code);
        assert.match(created.changes.phone, /^\+8490\*{4}567$/);
        assert.ok(entries.some((e) => e.action === 'notification.create' && e.target === n.json.id && /\*{4}/.test(e.changes.to)));
        const bcEntry = entries.find((e) => e.action === 'broadcast.create' && e.target === bc.json.id);
        assert.equal(bcEntry.changes.wards, BEN_THANH);
        assert.equal(typeof bcEntry.changes.recipients, 'number');
        assert.ok(entries.some((e) => e.action === 'broadcast.cancel' && e.target === bc.json.id));
        assert.ok(entries.some((e) => e.action === 'template.create' && e.target === 'mau-1'));
        const tdel = entries.find((e) => e.action === 'template.delete');
        assert.match(tdel.actor, /^key:file-[0-9a-f]{8}$/);
        assert.ok(entries.some((e) => e.action === 'key.revoke' || e.action === 'officer.add'));
        // newest first
        for (let i = 1; i < entries.length; i++) assert.ok(entries[i - 1].id > entries[i].id || entries[i - 1].id.length > entries[i].id.length);
        // filters: actor, action (exact and family), target
        const byKey = await req(as, 'GET', `/api/v1/audit?actor=${encodeURIComponent(tdel.actor)}`);
        assert.ok(byKey.json.entries.length >= 1 && byKey.json.entries.every((e) => e.actor === tdel.actor));
        const fam = await req(as, 'GET', '/api/v1/audit?action=dossier');
        assert.ok(fam.json.entries.length >= 2 && fam.json.entries.every((e) => e.action.startsWith('dossier.')));
        const tgt = await req(as, 'GET', `/api/v1/audit?target=${encodeURIComponent(code)}`);
        assert.deepEqual(tgt.json.entries.map((e) => e.action), ['dossier.event', 'dossier.create']);
        // paging with the cursor gives every entry once
        const seen = [];
        let cursor = null;
        for (let page = 0; page < 100; page++) {
            const r = await req(as, 'GET', `/api/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
            assert.equal(r.status, 200, r.body);
            seen.push(...r.json.entries.map((e) => e.id));
            cursor = r.json.next;
            if (!cursor) break;
        }
        assert.deepEqual(seen, entries.map((e) => e.id));
        // since/until
        const future = await req(as, 'GET', `/api/v1/audit?since=${encodeURIComponent(new Date(Date.now() + 3600e3).toISOString())}`);
        assert.deepEqual(future.json.entries, []);
        assert.equal((await req(as, 'GET', '/api/v1/audit?since=yesterday')).status, 400);
        // CSV
        const csv = await req(as, 'GET', `/api/v1/audit?format=csv&target=${encodeURIComponent(code)}`);
        assert.equal(csv.status, 200);
        assert.match(csv.headers['content-type'], /^text\/csv/);
        assert.match(csv.headers['content-disposition'], /attachment; filename="audit-ubnd-ben-thanh\.csv"/);
        const rows = csv.body.replace(/^\uFEFF/, '').trim().split('\r\n');
        assert.equal(rows[0], '"ts","actor","action","target","ip","changes"');
        assert.equal(rows.length, 3);
        assert.match(rows[1], /"officer:quang\.admin","dossier\.event","000\.00\.25\.H29-231122-0044","127\.0\.0\.1"/);
        // who may read it: admins and tokens with read; not viewers, not another department's
        const viewer = await add({ dept: WARD_DEPT, user: 'rang.viewer', role: 'viewer', areas: BEN_THANH });
        const vs = await firstSignIn(mc.url, viewer);
        secrets.push(viewer.password);
        assert.equal((await req(vs, 'GET', '/api/v1/audit')).status, 403);
        assert.equal((await bearer(mc.url, tok.ward, 'GET', 'audit')).status, 200);
        const otherDept = await bearer(mc.url, tok.dept, 'GET', `audit?target=${encodeURIComponent(code)}`);
        assert.deepEqual(otherDept.json.entries, [], 'each department reads its own trail');
    });

    it('expiry: idle and absolute limits end sessions, also across a restart; Secure with https', async () => {
        const off = await add({ dept: DEPT, user: 'son.idle', role: 'viewer' });
        const s = await firstSignIn(mc.url, off);
        secrets.push(off.password);
        const off2 = await add({ dept: DEPT, user: 'tam.abs', role: 'viewer' });
        await mc.stop();
        // sessions live in Redis: a restarted gateway keeps them
        mc = await startMotcua({ redisUrl: redis.url, args: ['--role', 'gateway'], env: { ...env(), MOTCUA_CONSOLE_IDLE_MINUTES: '1440', MOTCUA_SERVER_PUBLIC_URL: 'https://motcua.example.test' } });
        await storeUp(mc);
        assert.equal((await req(s, 'GET', '/api/v1/me')).status, 200);
        const s2 = await firstSignIn(mc.url, off2);
        secrets.push(off2.password);
        const cookie = await signIn(mc.url, off2.user, off2.password, totp(off2.secret, Date.now() / 1000 + 30));
        assert.match([].concat(cookie.headers['set-cookie']).join(''), /; Path=\/; Secure$/);
        await mc.stop();
        // 31 minutes later (the test clock): the first session idled out; with idle_minutes
        // 1440, 11 hours are fine and 12 hours end it (absolute)
        mc = await startMotcua({ redisUrl: redis.url, args: ['--role', 'gateway'], env: { ...env(), MOTCUA_TEST_CLOCK_OFFSET_MS: String(31 * 60e3) } });
        await storeUp(mc);
        const idle = await req(s, 'GET', '/api/v1/me');
        assert.equal(idle.status, 401, idle.body);
        await mc.stop();
        mc = await startMotcua({ redisUrl: redis.url, args: ['--role', 'gateway'], env: { ...env(), MOTCUA_CONSOLE_IDLE_MINUTES: '1440', MOTCUA_TEST_CLOCK_OFFSET_MS: String(11 * 3600e3) } });
        await storeUp(mc);
        assert.equal((await req(s2, 'GET', '/api/v1/me')).status, 200, 'within 12 hours');
        await mc.stop();
        mc = await startMotcua({ redisUrl: redis.url, args: ['--role', 'gateway'], env: { ...env(), MOTCUA_CONSOLE_IDLE_MINUTES: '1440', MOTCUA_TEST_CLOCK_OFFSET_MS: String(12 * 3600e3 + 60e3) } });
        await storeUp(mc);
        assert.equal((await req(s2, 'GET', '/api/v1/me')).status, 401, 'past 12 hours');
    });

    it('audit retention: entries older than [admin] audit_days are not read back', async () => {
        // entries written now; read 2 days later with audit_days = 1: gone from the answer
        assert.equal((await bearer(mc.url, tok.dept, 'PUT', `dossiers/${CODE.replace('0042', '0045')}`, { procedure: 'khai_sinh', status: 'received' })).status, 201);
        await mc.stop();
        mc = await startMotcua({ redisUrl: redis.url, args: ['--role', 'gateway'], env: { ...env(), MOTCUA_ADMIN_AUDIT_DAYS: '1', MOTCUA_TEST_CLOCK_OFFSET_MS: String(2 * 86400e3) } });
        await storeUp(mc);
        const r = await bearer(mc.url, tok.dept, 'GET', 'audit');
        assert.equal(r.status, 200, r.body);
        assert.deepEqual(r.json.entries, []);
        // a new write is kept, and its append trims what is past retention
        assert.equal((await bearer(mc.url, tok.dept, 'PUT', `dossiers/${CODE.replace('0042', '0046')}`, { procedure: 'khai_sinh', status: 'received' })).status, 201);
        const r2 = await bearer(mc.url, tok.dept, 'GET', 'audit');
        assert.deepEqual(r2.json.entries.map((e) => e.action), ['dossier.create']);
    });
});
