// Integration tests of the console's endpoints on the department API (issue 6;
// gateway/gw_console.c and gateway/gw_admin.c): GET /me and /wards, templates, template use by
// notifications and broadcasts, the broadcast preview, batch notifications, the
// dossier list and who a status event notifies. The real motcua binary against a
// private Redis, tokens from a temp [admin] tokens_file.
//
//   node --test tests/integration/console-api.test.mjs      (from the repo root)
//
// The first suite runs motcua with --role gateway (no scheduler), so what the API
// writes stays in Redis for the test to read. SMS has (fake) Twilio credentials and
// an address nothing listens on: the preview renders SMS through the adapter exactly
// as the sender would, and nothing is ever sent. The second suite runs the whole
// chain (role all, channels without credentials → the outbox) to see rendered
// template texts leave. Redis keys are the partitioned keyspace's (tests/lib/keys.mjs,
// gateway/store/gw_keys.c).

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TEST_INI, ROOT, makeTempDir, removeTempDir, startRedis, startMotcua, runMotcua, redisCli, httpRequest, waitFor, sleep, stopAll, assertCleanLog } from '../lib/harness.mjs';
import { offsetTo, ZALO } from '../lib/providers-env.mjs';
import { zaloSignature } from '../lib/sign.mjs';
import { key, partOf, partOfId, idKey, citizenKey, wardSubCmds, everyPart } from '../lib/keys.mjs';
import { sumEveryPart } from '../lib/parts.mjs';

const BEN_THANH = '26743'; // vi-nlp/data/wards.csv
const SAI_GON = '26740';
const PRICE = 350; // MOTCUA_SMS_PRICE_PER_SEGMENT_VND of the instance

/** A department's templates: in the partition of "dept:<dept>". */
const tplKey = (dept) => key('tpl', partOf(`dept:${dept}`), dept);
/** A member's ward (or ward x tag) set: in the member's partition. */
const subWard = (member, ward) => key('sub_ward', partOf(member), ward);
const subWardTag = (member, ward, tag) => key('sub_ward_tag', partOf(member), ward, tag);

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const newToken = () => crypto.randomBytes(18).toString('base64url');

/** The rows of vi-nlp/data/wards.csv: {id, name, slug}. */
function wardsCsv() {
    const text = fs.readFileSync(path.join(ROOT, 'vi-nlp', 'data', 'wards.csv'), 'utf8');
    return text
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(','))
        .map((f) => ({ id: f[0], name: f[1], slug: f[3] }));
}

function writeTokens(dir, tok) {
    const file = path.join(dir, 'tokens.txt');
    fs.writeFileSync(
        file,
        [
            `ubnd-ben-thanh ${sha256(tok.phuong)} dossiers:write,notify,broadcast,read ${BEN_THANH}`,
            `so-tu-phap ${sha256(tok.tuphap)} dossiers:write,notify,read *`,
            `chi-doc ${sha256(tok.reader)} read *`,
            `ubnd-sai-gon ${sha256(tok.caster)} broadcast ${SAI_GON}`,
            '',
        ].join('\n'),
    );
    return file;
}

function makeApi(getUrl) {
    return async function api(method, p, { token, body, raw } = {}) {
        const headers = { 'content-type': 'application/json' };
        if (token) headers.authorization = `Bearer ${token}`;
        const r = await httpRequest(`${getUrl()}/api/v1/${p}`, {
            method,
            headers,
            body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
        });
        let json = null;
        try {
            json = JSON.parse(r.body);
        } catch {
            /* not JSON */
        }
        return { status: r.status, json, body: r.body };
    };
}

/** Waits until motcua's store is connected: startMotcua returns once /healthz answers at
 * all, and a busy machine may still be connecting (503, "nothing was written"). */
async function storeUp(mc) {
    const up = await waitFor(async () => (await httpRequest(`${mc.url}/healthz`)).status === 200, 10000, 50);
    assert.ok(up, 'the store is connected');
}


const TPL = {
    name: 'Thông báo cúp điện',
    text: 'Phường ((phuong)) cúp điện ngày ((ngay)).',
    placeholders: ['phuong', 'ngay'],
};
const TPL_DATA = { phuong: 'Bến Thành', ngay: '25/11' };
const RENDERED = 'Phường Bến Thành cúp điện ngày 25/11.';
const RENDERED_PLAIN = 'Phuong Ben Thanh cup dien ngay 25/11.';

describe('console API (/api/v1: me, wards, templates, preview, batch, dossiers)', { timeout: 180000 }, () => {
    let dir, redis, mc;
    const tok = { phuong: newToken(), tuphap: newToken(), reader: newToken(), caster: newToken() };
    const api = makeApi(() => mc.url);
    const R = (...a) => redisCli(redis.sock, ...a);
    // Every key name but the retention sweeper's cursors (gw_retention.c writes one per
    // partition on its own clock): what "writes nothing" compares.
    const cursors = new Set(everyPart('retention'));
    const keyNames = async () =>
        (await R('KEYS', '*'))
            .split('\n')
            .filter((k) => k && !cursors.has(k))
            .sort();
    /** Notifications and broadcasts queued, over every partition. */
    const dueCount = () => sumEveryPart(redis.sock, 'ZCARD', 'due');
    const bcDueCount = () => sumEveryPart(redis.sock, 'ZCARD', 'bc_due');

    before(async () => {
        dir = makeTempDir('motcua-console-');
        const tokens = writeTokens(dir, tok);
        redis = await startRedis(path.join(dir, 'redis'));
        mc = await startMotcua({
            redisUrl: redis.url,
            args: ['--role', 'gateway'],
            env: {
                MOTCUA_ADMIN_TOKENS_FILE: tokens,
                MOTCUA_SMS_ENABLED: 'true',
                MOTCUA_SMS_PROVIDER: 'twilio',
                MOTCUA_SMS_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
                MOTCUA_SMS_AUTH_TOKEN: 'twilio-auth-token',
                MOTCUA_SMS_SENDER: '+84900000001',
                MOTCUA_SMS_API_BASE: 'http://127.0.0.1:9', // never called: no sender in this role
                MOTCUA_SMS_UNACCENTED: 'true',
                MOTCUA_SMS_MAX_SEGMENTS: '3',
                MOTCUA_SMS_PRICE_PER_SEGMENT_VND: String(PRICE),
            },
        });
        await storeUp(mc);
    });

    beforeEach(() => {
        if (mc && !mc.alive()) throw new Error(`motcua died:\n${mc.stderrLines.slice(-40).join('\n')}`);
    });

    after(async () => {
        await stopAll({ procs: [mc], redis, dir });
        assertCleanLog(mc, ['+84901234567', '+84987654321', '+84912340007']);
    });

    it('GET /me: the token\'s department, scopes and areas; no or wrong token → 401', async () => {
        const a = await api('GET', 'me', { token: tok.phuong });
        assert.equal(a.status, 200, a.body);
        assert.deepEqual(a.json, {
            department: 'ubnd-ben-thanh',
            scopes: ['dossiers:write', 'notify', 'broadcast', 'read'],
            areas: [BEN_THANH],
        });
        const b = await api('GET', 'me', { token: tok.tuphap });
        assert.deepEqual(b.json, { department: 'so-tu-phap', scopes: ['dossiers:write', 'notify', 'read'], areas: ['*'] });
        const c = await api('GET', 'me', { token: tok.caster });
        assert.deepEqual(c.json, { department: 'ubnd-sai-gon', scopes: ['broadcast'], areas: [SAI_GON] });
        const none = await api('GET', 'me');
        assert.equal(none.status, 401, none.body);
        assert.equal(none.json.error, 'unauthorized');
        const wrong = await api('GET', 'me', { token: tok.phuong.slice(1) });
        assert.equal(wrong.status, 401, wrong.body);
        const post = await api('POST', 'me', { token: tok.phuong, body: {} });
        assert.equal(post.status, 405, post.body);
    });

    it('GET /wards: every ward of wards.csv, sorted by name the Vietnamese way, allowed per token', async () => {
        const csv = wardsCsv();
        const a = await api('GET', 'wards', { token: tok.phuong });
        assert.equal(a.status, 200, a.body);
        const w = a.json.wards;
        assert.equal(w.length, csv.length);
        assert.equal(w.length, 168);
        assert.deepEqual(
            w.map((x) => x.id).sort(),
            csv.map((x) => x.id).sort(),
        );
        const bt = w.find((x) => x.id === BEN_THANH);
        assert.deepEqual(bt, { id: BEN_THANH, name: 'Bến Thành', slug: 'ben-thanh-26743', allowed: true });
        assert.deepEqual(w.filter((x) => x.allowed).map((x) => x.id), [BEN_THANH]);
        for (const x of w) assert.equal(x.name, csv.find((c) => c.id === x.id).name);
        const coll = new Intl.Collator('vi');
        for (let i = 1; i < w.length; i++)
            assert.ok(coll.compare(w[i - 1].name, w[i].name) <= 0, `${w[i - 1].name} before ${w[i].name}`);
        const all = await api('GET', 'wards', { token: tok.tuphap });
        assert.ok(all.json.wards.every((x) => x.allowed));
        const none = await api('GET', 'wards');
        assert.equal(none.status, 401, none.body);
    });

    it('templates: PUT 201, GET, PUT again 200, list, DELETE 204, then 404; per department', async () => {
        const a = await api('PUT', 'templates/cup-dien', { token: tok.phuong, body: TPL });
        assert.equal(a.status, 201, a.body);
        assert.equal(a.json.id, 'cup-dien');
        assert.equal(a.json.name, TPL.name);
        assert.equal(a.json.text, TPL.text);
        assert.deepEqual(a.json.placeholders, ['phuong', 'ngay']);
        assert.match(a.json.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$/);
        assert.deepEqual(JSON.parse(await R('HGET', tplKey('ubnd-ben-thanh'), 'cup-dien')), a.json);

        const g = await api('GET', 'templates/cup-dien', { token: tok.phuong });
        assert.equal(g.status, 200, g.body);
        assert.deepEqual(g.json, a.json);

        // placeholders omitted: derived from the text, in order of first use
        const b = await api('PUT', 'templates/cup-dien', {
            token: tok.phuong,
            body: { name: TPL.name, text: 'Ngày ((ngay)), phường ((phuong)) cúp điện; ((ngay)) có điện lại.' },
        });
        assert.equal(b.status, 200, b.body);
        assert.deepEqual(b.json.placeholders, ['ngay', 'phuong']);
        const c = await api('PUT', 'templates/an-toan', { token: tok.phuong, body: { name: 'An toàn', text: 'Giữ an toàn.' } });
        assert.equal(c.status, 201, c.body);
        assert.deepEqual(c.json.placeholders, []);
        const d = await api('PUT', 'templates/bao', { token: tok.phuong, body: { name: 'Bão số 9', text: 'Bão ((ten)).' } });
        assert.equal(d.status, 201, d.body);

        const list = await api('GET', 'templates', { token: tok.phuong });
        assert.equal(list.status, 200, list.body);
        assert.deepEqual(list.json.templates.map((t) => t.name), ['An toàn', 'Bão số 9', 'Thông báo cúp điện']);
        assert.equal(list.json.templates[2].text, b.json.text);

        // another department sees none of them
        const other = await api('GET', 'templates', { token: tok.tuphap });
        assert.deepEqual(other.json, { templates: [] });
        const otherOne = await api('GET', 'templates/cup-dien', { token: tok.tuphap });
        assert.equal(otherOne.status, 404, otherOne.body);
        const otherDel = await api('DELETE', 'templates/cup-dien', { token: tok.tuphap });
        assert.equal(otherDel.status, 404, otherDel.body);

        const del = await api('DELETE', 'templates/bao', { token: tok.phuong });
        assert.equal(del.status, 204, del.body);
        assert.equal(del.body, '');
        assert.equal(await R('HEXISTS', tplKey('ubnd-ben-thanh'), 'bao'), '0');
        const gone = await api('GET', 'templates/bao', { token: tok.phuong });
        assert.equal(gone.status, 404, gone.body);
        const again = await api('DELETE', 'templates/bao', { token: tok.phuong });
        assert.equal(again.status, 404, again.body);

        // back to the text the other tests use
        const put = await api('PUT', 'templates/cup-dien', { token: tok.phuong, body: TPL });
        assert.equal(put.status, 200, put.body);
    });

    it('templates: scopes (read to read, notify or broadcast to write) and 401', async () => {
        const r1 = await api('PUT', 'templates/x', { token: tok.reader, body: { name: 'x', text: 'x' } });
        assert.equal(r1.status, 403, r1.body);
        assert.equal(r1.json.error, 'forbidden');
        const r2 = await api('DELETE', 'templates/cup-dien', { token: tok.reader });
        assert.equal(r2.status, 403, r2.body);
        const r3 = await api('GET', 'templates', { token: tok.caster });
        assert.equal(r3.status, 403, r3.body);
        const r4 = await api('PUT', 'templates/bc', { token: tok.caster, body: { name: 'x', text: 'x' } });
        assert.equal(r4.status, 201, r4.body); // broadcast scope may write templates
        assert.equal(await R('HEXISTS', tplKey('ubnd-sai-gon'), 'bc'), '1');
        const r5 = await api('GET', 'templates/cup-dien', { token: tok.reader });
        assert.equal(r5.status, 404, r5.body); // chi-doc has none
        const r6 = await api('GET', 'templates');
        assert.equal(r6.status, 401, r6.body);
        const r7 = await api('PUT', 'templates/x', { body: { name: 'x', text: 'x' } });
        assert.equal(r7.status, 401, r7.body);
    });

    it('templates: every bad field → 400 naming it; nothing written', async () => {
        const ok = { name: 'Mẫu', text: 'Xin chào ((ten)).', placeholders: ['ten'] };
        const cases = [
            [{ ...ok, text: '' }, 'text'],
            [{ ...ok, text: '  \n ' }, 'text'],
            [{ ...ok, text: 'x'.repeat(2001) }, 'text'],
            [{ ...ok, text: 7 }, 'text'],
            [{ name: 'Mẫu' }, 'text'],
            [{ ...ok, text: 'Xin chào ((ten).' }, 'text', /not closed/],
            [{ ...ok, text: 'Xin chào ((tên người)).', placeholders: undefined }, 'text', /bad placeholder name/],
            [{ ...ok, text: 'Xin chào ((ten)) ((ngay)).' }, 'text', /unknown placeholder \(\(ngay\)\)/],
            [{ ...ok, placeholders: ['ten', 'ngay'] }, 'placeholders', /\(\(ngay\)\) is not used/],
            [{ ...ok, placeholders: ['ten', 'ten'] }, 'placeholders[1]'],
            [{ ...ok, placeholders: ['tên người'] }, 'placeholders[0]'],
            [{ ...ok, placeholders: 'ten' }, 'placeholders'],
            [{ ...ok, name: undefined }, 'name'],
            [{ ...ok, name: '   ' }, 'name'],
            [{ ...ok, name: 'đ'.repeat(101) }, 'name'],
            [{ ...ok, id: 'khac' }, 'id'],
            [{ ...ok, colour: 'red' }, 'colour'],
        ];
        const before = await R('HLEN', tplKey('ubnd-ben-thanh'));
        for (const [body, field, msg] of cases) {
            const r = await api('PUT', 'templates/mau', { token: tok.phuong, body });
            assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 120)}: ${r.body}`);
            assert.equal(r.json.field, field, r.body);
            assert.ok(r.json.message, r.body);
            if (msg) assert.match(r.json.message, msg);
        }
        const bad = await api('PUT', 'templates/mau', { token: tok.phuong, raw: '{"name":' });
        assert.equal(bad.status, 400, bad.body);
        assert.equal(bad.json.error, 'bad_json');
        const badId = await api('PUT', 'templates/Mau%20Moi', { token: tok.phuong, body: ok });
        assert.equal(badId.status, 400, badId.body);
        assert.equal(badId.json.field, 'id');
        const longId = await api('PUT', `templates/${'a'.repeat(49)}`, { token: tok.phuong, body: ok });
        assert.equal(longId.status, 400, longId.body);
        assert.equal(await R('HLEN', tplKey('ubnd-ben-thanh')), before);
        assert.equal(await R('HEXISTS', tplKey('ubnd-ben-thanh'), 'mau'), '0');
        // a name of exactly 100 characters and 32-letter Vietnamese placeholders are fine
        const edge = await api('PUT', 'templates/mau', {
            token: tok.phuong,
            body: { name: 'đ'.repeat(100), text: `((${'ư'.repeat(32)})) và (((ngày_hẹn)))` },
        });
        assert.equal(edge.status, 201, edge.body);
        assert.deepEqual(edge.json.placeholders, ['ư'.repeat(32), 'ngày_hẹn']);
        assert.equal((await api('DELETE', 'templates/mau', { token: tok.phuong })).status, 204);
    });

    it('POST /notifications with a template: the rendered text is stored; every template mistake → 400 naming it', async () => {
        const body = { to: { phone: '+84901234567' }, template: { id: 'cup-dien', data: TPL_DATA }, idempotency_key: 'tpl-1' };
        const a = await api('POST', 'notifications', { token: tok.phuong, body });
        assert.equal(a.status, 202, a.body);
        assert.equal(await R('HGET', idKey('notif', a.json.id), 'text'), RENDERED);
        assert.equal(await R('HGET', idKey('notif', a.json.id), 'channels'), 'sms');
        assert.notEqual(await R('ZSCORE', key('due', partOfId(a.json.id)), a.json.id), '');
        const again = await api('POST', 'notifications', { token: tok.phuong, body });
        assert.equal(again.status, 202, again.body);
        assert.equal(again.json.id, a.json.id);
        const conflict = await api('POST', 'notifications', {
            token: tok.phuong,
            body: { ...body, template: { id: 'cup-dien', data: { ...TPL_DATA, ngay: '26/11' } } },
        });
        assert.equal(conflict.status, 409, conflict.body);

        // numbers are values too
        const n = await api('POST', 'notifications', {
            token: tok.phuong,
            body: { to: { phone: '+84901234567' }, template: { id: 'cup-dien', data: { phuong: 'Bến Thành', ngay: 25 } } },
        });
        assert.equal(n.status, 202, n.body);
        assert.equal(await R('HGET', idKey('notif', n.json.id), 'text'), 'Phường Bến Thành cúp điện ngày 25.');

        const to = { phone: '+84901234567' };
        const cases = [
            [{ to, template: { id: 'khong-co', data: TPL_DATA } }, 'template.id'],
            [{ to, template: { id: 'Cúp', data: TPL_DATA } }, 'template.id'],
            [{ to, template: { data: TPL_DATA } }, 'template.id'],
            [{ to, template: { id: 'cup-dien', data: { phuong: 'Bến Thành' } } }, 'template.data.ngay'],
            [{ to, template: { id: 'cup-dien' } }, 'template.data.phuong'],
            [{ to, template: { id: 'cup-dien', data: { ...TPL_DATA, gio: '8h' } } }, 'template.data.gio'],
            [{ to, template: { id: 'cup-dien', data: { ...TPL_DATA, ngay: 'x'.repeat(201) } } }, 'template.data.ngay'],
            [{ to, template: { id: 'cup-dien', data: { ...TPL_DATA, ngay: { d: 25 } } } }, 'template.data.ngay'],
            [{ to, template: { id: 'cup-dien', data: { ...TPL_DATA, ngay: null } } }, 'template.data.ngay'],
            [{ to, template: { id: 'cup-dien', data: [] } }, 'template.data'],
            [{ to, template: { id: 'cup-dien', data: TPL_DATA, lang: 'vi' } }, 'template.lang'],
            [{ to, template: 'cup-dien' }, 'template'],
            [{ to, text: 'x', template: { id: 'cup-dien', data: TPL_DATA } }, 'template'],
            [{ to }, 'text'],
        ];
        const before = await dueCount();
        for (const [b, field] of cases) {
            const r = await api('POST', 'notifications', { token: tok.phuong, body: b });
            assert.equal(r.status, 400, `${JSON.stringify(b).slice(0, 160)}: ${r.body}`);
            assert.equal(r.json.field, field, r.body);
        }
        // a value of exactly 200 bytes is fine
        const edge = await api('POST', 'notifications', {
            token: tok.phuong,
            body: { to, template: { id: 'cup-dien', data: { ...TPL_DATA, ngay: 'x'.repeat(200) } } },
        });
        assert.equal(edge.status, 202, edge.body);
        assert.equal(await dueCount(), before + 1);
        // another department cannot use this department's template
        const other = await api('POST', 'notifications', { token: tok.tuphap, body: { to, template: { id: 'cup-dien', data: TPL_DATA } } });
        assert.equal(other.status, 400, other.body);
        assert.equal(other.json.field, 'template.id');
    });

    it('POST /broadcasts with a template records the rendered text', async () => {
        const a = await api('POST', 'broadcasts', {
            token: tok.phuong,
            body: { audience: { wards: [BEN_THANH], channels: ['zalo'] }, template: { id: 'cup-dien', data: TPL_DATA }, send_at: '2030-06-01T17:00:00+07:00' },
        });
        assert.equal(a.status, 202, a.body);
        assert.equal(await R('HGET', idKey('bc', a.json.id), 'text'), RENDERED);
        const bad = await api('POST', 'broadcasts', {
            token: tok.phuong,
            body: { audience: { wards: [BEN_THANH] }, template: { id: 'cup-dien', data: { phuong: 'x' } } },
        });
        assert.equal(bad.status, 400, bad.body);
        assert.equal(bad.json.field, 'template.data.ngay');
        const both = await api('POST', 'broadcasts', {
            token: tok.phuong,
            body: { audience: { wards: [BEN_THANH] }, text: 't', template: { id: 'cup-dien', data: TPL_DATA } },
        });
        assert.equal(both.status, 400, both.body);
        assert.equal(both.json.field, 'template');
        assert.equal((await api('DELETE', `broadcasts/${a.json.id}`, { token: tok.phuong })).status, 200);
    });

    it('POST /broadcasts/preview: recipients per channel from the subscriptions, SMS as sent with its cost, nothing written', async () => {
        const subs = [
            { channel: 'zalo', user_id: 'zl-001' },
            { channel: 'zalo', user_id: 'zl-002' },
            { channel: 'zalo', user_id: 'zl-003' },
            { channel: 'facebook', user_id: 'fb-001' },
            { channel: 'facebook', user_id: 'fb-002' },
            { phone: '+84909000001' },
            { phone: '+84909000002' },
            { phone: '+84909000003' },
            { phone: '+84909000004' },
            { channel: 'webchat', user_id: 'wc-001' },
        ];
        for (const s of subs) {
            const r = await api('POST', 'subscriptions', { token: tok.phuong, body: { ...s, ward: BEN_THANH } });
            assert.equal(r.status, 201, r.body);
        }
        for (const c of wardSubCmds(SAI_GON, ['zalo:sg-1', 'sms:+84909000009'])) await R(...c); // another ward
        const keysBefore = await keyNames();
        const dueBefore = await bcDueCount();

        const body = { audience: { wards: [BEN_THANH], channels: ['zalo', 'facebook', 'sms'] }, template: { id: 'cup-dien', data: TPL_DATA } };
        const a = await api('POST', 'broadcasts/preview', { token: tok.phuong, body });
        assert.equal(a.status, 200, a.body);
        // the warnings (bc-preview.test.mjs tests them): this clock is the real one, so
        // quiet hours may or may not hold; no chat user here ever wrote (all outside)
        assert.ok(a.json.send_at, a.body);
        assert.equal(a.json.channels.zalo.outside_window, 3);
        assert.equal(a.json.channels.facebook.outside_window, 2);
        delete a.json.send_at;
        for (const c of Object.values(a.json.channels)) for (const f of ['waits', 'outside_window', 'reached_instead']) delete c[f];
        assert.deepEqual(a.json, {
            recipients: 9,
            text: RENDERED,
            channels: {
                zalo: { recipients: 3, text: RENDERED },
                facebook: { recipients: 2, text: RENDERED, parts: 1 },
                sms: {
                    recipients: 4,
                    text: RENDERED_PLAIN, // unaccented as the sender sends it
                    encoding: 'GSM-7',
                    segments: 1,
                    chars: 37,
                    segments_total: 4,
                    cost_vnd: 4 * PRICE,
                },
            },
            cost_vnd: 4 * PRICE, // every channel's cost added (gw_cost.c)
        });

        // all channels by default (webchat included)
        const all = await api('POST', 'broadcasts/preview', { token: tok.phuong, body: { audience: { wards: ['ben-thanh-26743'] }, text: 'Mất nước.' } });
        assert.equal(all.status, 200, all.body);
        assert.equal(all.json.recipients, 10);
        assert.deepEqual(Object.keys(all.json.channels).sort(), ['facebook', 'sms', 'webchat', 'zalo']);
        assert.deepEqual(all.json.channels.webchat, { recipients: 1, text: 'Mất nước.' }, 'no window, no quiet hours');
        assert.equal(all.json.channels.sms.text, 'Mat nuoc.');

        const sms = async (text) => {
            const r = await api('POST', 'broadcasts/preview', { token: tok.phuong, body: { audience: { wards: [BEN_THANH], channels: ['sms'] }, text } });
            assert.equal(r.status, 200, r.body);
            assert.deepEqual(Object.keys(r.json.channels), ['sms']);
            delete r.json.channels.sms.waits; // the real clock's quiet hours, or not
            return r.json.channels.sms;
        };
        // 200 GSM-7 characters: two parts of 153
        const two = await sms(`Thông báo: ${'a'.repeat(189)}`);
        assert.deepEqual(
            { ...two, text: undefined },
            { recipients: 4, text: undefined, encoding: 'GSM-7', segments: 2, chars: 200, segments_total: 8, cost_vnd: 8 * PRICE },
        );
        assert.equal(two.text, `Thong bao: ${'a'.repeat(189)}`);
        // exactly 160 GSM-7 characters fit one part; the euro sign costs two septets
        assert.equal((await sms('x'.repeat(160))).segments, 1);
        const euro = await sms(`${'x'.repeat(159)}€`);
        assert.equal(euro.chars, 160);
        assert.equal(euro.segments, 2);
        // an emoji makes it UCS-2: 70 units per single part, 67 per part beyond, a surrogate pair is 2
        const ucs = await sms('📢 Mất điện');
        assert.deepEqual(ucs, { recipients: 4, text: '📢 Mat dien', encoding: 'UCS-2', segments: 1, chars: 10, segments_total: 4, cost_vnd: 4 * PRICE, ucs2_culprits: '📢' });
        const ucs2 = await sms(`📢 ${'a'.repeat(68)}`); // 71 units
        assert.equal(ucs2.encoding, 'UCS-2');
        assert.equal(ucs2.chars, 70);
        assert.equal(ucs2.segments, 2);
        // longer than [sms] max_segments (3): cut on a word as the adapter cuts it
        const words = Array.from({ length: 80 }, (_, i) => `tin${i}`).join(' ');
        const cut = await sms(`Thông báo ${words}`);
        assert.equal(cut.encoding, 'GSM-7');
        assert.equal(cut.segments, 3);
        assert.equal(cut.segments_total, 12);
        assert.ok(cut.text.endsWith('...'), cut.text);
        assert.ok(`Thong bao ${words}`.startsWith(cut.text.slice(0, -3)), cut.text);
        assert.ok(cut.text.length > 153 * 2 && cut.text.length <= 153 * 3, String(cut.text.length));
        assert.equal(cut.chars, cut.text.length);

        assert.deepEqual(await keyNames(), keysBefore, 'the preview writes nothing');
        assert.equal(await bcDueCount(), dueBefore);
    });

    it('POST /broadcasts/preview: the same 400/403/401 as POST /broadcasts', async () => {
        const cases = [
            [tok.phuong, { audience: { wards: [SAI_GON] }, text: 't' }, 403, 'audience.wards[0]'],
            [tok.tuphap, { audience: { wards: [BEN_THANH] }, text: 't' }, 403, undefined],
            [tok.phuong, { text: 't' }, 400, 'audience'],
            [tok.phuong, { audience: { wards: [BEN_THANH], channels: ['fax'] }, text: 't' }, 400, 'audience.channels[0]'],
            [tok.phuong, { audience: { wards: [BEN_THANH] } }, 400, 'text'],
            [tok.phuong, { audience: { wards: [BEN_THANH] }, template: { id: 'khong-co' } }, 400, 'template.id'],
            [tok.phuong, { audience: { wards: [BEN_THANH] }, template: { id: 'cup-dien', data: { phuong: 'x' } } }, 400, 'template.data.ngay'],
            [tok.phuong, { audience: { wards: [BEN_THANH] }, text: 't', priority: 'high' }, 400, 'priority'],
        ];
        for (const [token, body, status, field] of cases) {
            const r = await api('POST', 'broadcasts/preview', { token, body });
            assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.body}`);
            assert.equal(r.json.field, field, r.body);
        }
        const none = await api('POST', 'broadcasts/preview', { body: { audience: { wards: [BEN_THANH] }, text: 't' } });
        assert.equal(none.status, 401, none.body);
        const get = await api('GET', 'broadcasts/preview', { token: tok.phuong });
        assert.notEqual(get.status, 200, get.body);
    });

    describe('POST /notifications/batch', () => {
        const TEXT = 'Chào ((ten)), phường ((phuong)) mời bạn đến nhận kết quả.';
        const phone = (i) => `+8491234${String(i).padStart(4, '0')}`;
        const rows = (n) => Array.from({ length: n }, (_, i) => ({ row: i + 2, phone: phone(i), channel: 'sms', data: { ten: `Dân ${i}` } }));
        const withBad = () => {
            const r = rows(50);
            r[5].phone = '090123456'; // row 7: one digit short (a local 0901234567 is accepted)
            r[18].channel = 'zalo'; // row 20: a phone is reached by SMS only
            r[31].data = {}; // row 33: no value for ((ten))
            return r;
        };
        const snapshot = async () => [await keyNames(), await dueCount()];

        before(async () => {
            const r = await api('PUT', 'templates/nhan-ket-qua', { token: tok.phuong, body: { name: 'Nhận kết quả', text: TEXT } });
            assert.equal(r.status, 201, r.body);
        });

        it('dry run: exactly the 3 bad rows of 50 reported, a preview of the first good row, nothing written', async () => {
            const before = await snapshot();
            const r = await api('POST', 'notifications/batch', {
                token: tok.phuong,
                body: { dry_run: true, template: { id: 'nhan-ket-qua', data: { phuong: 'Bến Thành' } }, idempotency_key: 'lo-1', rows: withBad() },
            });
            assert.equal(r.status, 200, r.body);
            assert.equal(r.json.valid, 47);
            assert.equal(r.json.invalid, 3);
            assert.deepEqual(
                r.json.errors.map((e) => [e.row, e.field]),
                [
                    [7, 'phone'],
                    [20, 'channel'],
                    [33, 'data.ten'],
                ],
            );
            for (const e of r.json.errors) assert.ok(e.message && !e.message.startsWith('to.'), e.message);
            assert.deepEqual(r.json.preview, { row: 2, text: 'Chào Dân 0, phường Bến Thành mời bạn đến nhận kết quả.' });
            // what the 47 good rows will cost by the channel each goes by first: one GSM-7 segment each
            assert.deepEqual(r.json.cost, { sms: { recipients: 47, units: 47, cost_vnd: 47 * PRICE } });
            assert.equal(r.json.cost_vnd, 47 * PRICE);
            assert.deepEqual(await snapshot(), before, 'a dry run writes nothing');
        });

        it('not a dry run: one bad row → 400 invalid_rows with the rows, nothing written', async () => {
            const before = await snapshot();
            const r = await api('POST', 'notifications/batch', {
                token: tok.phuong,
                body: { template: { id: 'nhan-ket-qua', data: { phuong: 'Bến Thành' } }, idempotency_key: 'lo-1', rows: withBad() },
            });
            assert.equal(r.status, 400, r.body);
            assert.equal(r.json.error, 'invalid_rows');
            assert.match(r.json.message, /3 of 50/);
            assert.deepEqual(r.json.errors.map((e) => e.row), [7, 20, 33]);
            assert.deepEqual(await snapshot(), before, 'nothing written, not even the idempotency key');
            assert.equal(await sumEveryPart(redis.sock, 'EXISTS', 'idem', 'ubnd-ben-thanh', 'batch:lo-1'), 0, 'in no partition');
        });

        it('not a dry run, all good: 50 notifications written at once with their rendered texts; same body → same answer; other body → 409', async () => {
            const due = await dueCount();
            const body = { template: { id: 'nhan-ket-qua', data: { phuong: 'Bến Thành' } }, priority: 'urgent', send_at: '2030-01-02T08:00:00+07:00', idempotency_key: 'lo-1', rows: rows(50) };
            const r = await api('POST', 'notifications/batch', { token: tok.phuong, body });
            assert.equal(r.status, 202, r.body);
            // "<p>-<32 hex>", p the partition of the department's idempotency key; its rows
            // "<batch>-<n>" live with it
            assert.match(r.json.batch, /^\d+-[0-9a-f]{32}$/);
            const p = partOfId(r.json.batch);
            assert.equal(p, partOf('idem:ubnd-ben-thanh:batch:lo-1'));
            assert.equal(await R('EXISTS', key('idem', p, 'ubnd-ben-thanh', 'batch:lo-1')), '1');
            assert.equal(r.json.count, 50);
            assert.equal(r.json.ids.length, 50);
            assert.equal(new Set(r.json.ids).size, 50);
            assert.equal(await dueCount(), due + 50);
            for (const [i, id] of r.json.ids.entries()) {
                assert.ok(id.startsWith(`${r.json.batch}-`), id);
                const h = JSON.parse(await R('EVAL', "return cjson.encode(redis.call('HGETALL',KEYS[1]))", '1', idKey('notif', id)));
                const f = {};
                for (let k = 0; k < h.length; k += 2) f[h[k]] = h[k + 1];
                assert.equal(f.text, `Chào Dân ${i}, phường Bến Thành mời bạn đến nhận kết quả.`);
                assert.deepEqual(JSON.parse(f.to), { phone: phone(i) });
                assert.equal(f.channels, 'sms');
                assert.equal(f.dept, 'ubnd-ben-thanh');
                assert.equal(f.status, 'scheduled');
                assert.equal(f.priority, 'urgent');
                assert.equal(f.batch, r.json.batch);
                assert.equal(f.send_at_ms, String(Date.parse(body.send_at)));
                assert.equal(await R('ZSCORE', key('due', p), id), String(Date.parse(body.send_at)));
            }
            assert.equal(await R('HGET', idKey('batch', r.json.batch), 'count'), '50');
            const n = await api('GET', `notifications/${r.json.ids[0]}`, { token: tok.phuong });
            assert.equal(n.status, 200, n.body);

            const again = await api('POST', 'notifications/batch', { token: tok.phuong, body: { ...body, rows: [...body.rows] } });
            assert.equal(again.status, 202, again.body);
            assert.deepEqual(again.json, r.json);
            const other = await api('POST', 'notifications/batch', { token: tok.phuong, body: { ...body, rows: rows(49) } });
            assert.equal(other.status, 409, other.body);
            assert.equal(other.json.field, 'idempotency_key');
            assert.equal(await dueCount(), due + 50);
        });

        it('text batches, row numbers by position, user ids, and every batch-level mistake → 400 naming it', async () => {
            const t = await api('POST', 'notifications/batch', {
                token: tok.phuong,
                body: {
                    dry_run: true,
                    text: 'Mời nhận kết quả.',
                    rows: [
                        { phone: '+84912340001' },
                        { phone: '+84912340002', data: { ten: 'An' } },
                        { channel: 'zalo', user_id: 'zl-9', phone: '+84912340003' },
                        { user_id: 'zl-9' },
                        { phone: '+84912340004', colour: 'red' },
                        { phone: '+84912340005', channel: 'fax' },
                        {},
                        'not a row',
                        { row: 0, phone: '+84912340006' },
                    ],
                },
            });
            assert.equal(t.status, 200, t.body);
            assert.deepEqual(
                t.json.errors.map((e) => [e.row, e.field]),
                [
                    [2, 'data'],
                    [4, 'channel'],
                    [5, 'colour'],
                    [6, 'channel'],
                    [7, 'phone'],
                    [8, 'row'],
                    [9, 'row'],
                ],
            );
            assert.equal(t.json.valid, 2);
            assert.deepEqual(t.json.preview, { row: 1, text: 'Mời nhận kết quả.' });

            const rows1 = [{ phone: '+84912340007' }];
            const cases = [
                [tok.phuong, { rows: rows1 }, 400, 'text'],
                [tok.phuong, { text: 't' }, 400, 'rows'],
                [tok.phuong, { text: 't', rows: [] }, 400, 'rows'],
                [tok.phuong, { text: 't', rows: rows(501) }, 400, 'rows'],
                [tok.phuong, { text: 't', rows: {} }, 400, 'rows'],
                [tok.phuong, { text: 't', rows: rows1, dry_run: 'yes' }, 400, 'dry_run'],
                [tok.phuong, { text: 't', template: { id: 'nhan-ket-qua' }, rows: rows1 }, 400, 'template'],
                [tok.phuong, { text: 't', rows: rows1, priority: 'high' }, 400, 'priority'],
                [tok.phuong, { text: 't', rows: rows1, send_at: 'mai' }, 400, 'send_at'],
                [tok.phuong, { text: 't', rows: rows1, to: { phone: '+84912340007' } }, 400, 'to'],
                [tok.phuong, { template: { id: 'khong-co' }, rows: rows1 }, 400, 'template.id'],
                [tok.phuong, { template: { id: 'nhan-ket-qua', data: { ngay: '1' } }, rows: rows1 }, 400, 'template.data.ngay'],
                [tok.reader, { text: 't', rows: rows1 }, 403, undefined],
                [undefined, { text: 't', rows: rows1 }, 401, undefined],
            ];
            const before = await snapshot();
            for (const [token, body, status, field] of cases) {
                const r = await api('POST', 'notifications/batch', { token, body });
                assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 120)}: ${r.body}`);
                assert.equal(r.json.field, field, r.body);
            }
            // 500 rows are fine in a dry run (the body limit of the test config allows it)
            const max = await api('POST', 'notifications/batch', { token: tok.phuong, body: { dry_run: true, text: 't', rows: rows(500).map(({ phone: p }) => ({ phone: p })) } });
            assert.equal(max.status, 200, max.body);
            assert.equal(max.json.valid, 500);
            assert.deepEqual(await snapshot(), before);
        });
    });

    it('GET /dossiers?q=: this department\'s dossiers containing q, newest first, limited', async () => {
        const put = (token, code, status = 'received') =>
            api('PUT', `dossiers/${code}`, { token, body: { procedure: 'khai_sinh', status, phone: '+84901234567' } });
        const codes = ['000.00.25.H29-231122-0101', '000.00.25.H29-231122-0102', '000.00.25.H29-231123-0103'];
        // the index orders by the millisecond of the last change: keep the changes apart
        for (const c of codes) {
            assert.equal((await put(tok.phuong, c)).status, 201);
            await sleep(3);
        }
        assert.equal((await put(tok.tuphap, '000.00.25.H29-231122-0104')).status, 201);
        await sleep(3);
        // an event makes the first one the newest
        const ev = await api('POST', `dossiers/${codes[0]}/events`, { token: tok.phuong, body: { status: 'processing' } });
        assert.equal(ev.status, 202, ev.body);

        const a = await api('GET', 'dossiers?q=h29-231122&limit=20', { token: tok.phuong });
        assert.equal(a.status, 200, a.body);
        assert.deepEqual(a.json.dossiers.map((d) => d.code), [codes[0], codes[1]]);
        const d0 = a.json.dossiers[0];
        assert.deepEqual(Object.keys(d0).sort(), ['code', 'procedure', 'status', 'status_text', 'updated']);
        assert.equal(d0.status, 'processing');
        assert.equal(d0.procedure, 'khai_sinh');
        assert.ok(d0.status_text.length > 0);
        assert.match(d0.updated, /\+07:00$/);

        const all = await api('GET', 'dossiers', { token: tok.phuong });
        assert.deepEqual(all.json.dossiers.map((d) => d.code), [codes[0], codes[2], codes[1]]);
        const lim = await api('GET', 'dossiers?limit=1', { token: tok.phuong });
        assert.deepEqual(lim.json.dossiers.map((d) => d.code), [codes[0]]);
        const none = await api('GET', 'dossiers?q=0104', { token: tok.phuong });
        assert.deepEqual(none.json, { dossiers: [] });
        const theirs = await api('GET', 'dossiers?q=0104', { token: tok.tuphap });
        assert.deepEqual(theirs.json.dossiers.map((d) => d.code), ['000.00.25.H29-231122-0104']);
        const reader = await api('GET', 'dossiers', { token: tok.reader });
        assert.deepEqual(reader.json, { dossiers: [] });

        for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=']) {
            const r = await api('GET', `dossiers?${q}`, { token: tok.phuong });
            assert.equal(r.status, 400, `${q}: ${r.body}`);
            assert.equal(r.json.field, 'limit');
        }
        const longQ = await api('GET', `dossiers?q=${'1'.repeat(49)}`, { token: tok.phuong });
        assert.equal(longQ.status, 400, longQ.body);
        assert.equal(longQ.json.field, 'q');
        assert.equal((await api('GET', 'dossiers')).status, 401);
        assert.equal((await api('GET', 'dossiers', { token: tok.caster })).status, 403);
    });

    it('GET /dossiers/{code} lists who a status event would notify, masked, in the event\'s words', async () => {
        const code = '000.00.25.H29-231124-0201';
        const p = await api('PUT', `dossiers/${code}`, { token: tok.phuong, body: { procedure: 'khai_sinh', status: 'received', phone: '+84901234567' } });
        assert.equal(p.status, 201, p.body);
        const g0 = await api('GET', `dossiers/${code}`, { token: tok.phuong });
        assert.deepEqual(g0.json.notify, [{ channel: 'sms', to: '+8490****567' }]);
        for (const s of [
            { channel: 'zalo', user_id: 'zl-12345678' },
            { channel: 'facebook', user_id: '1234567890123' },
            { phone: '+84987654321' },
            { phone: '+84901234567' }, // the dossier's own phone: once
        ]) {
            const r = await api('POST', 'subscriptions', { token: tok.phuong, body: { ...s, dossier: code } });
            assert.equal(r.status, 201, r.body);
        }
        const g = await api('GET', `dossiers/${code}`, { token: tok.phuong });
        assert.equal(g.status, 200, g.body);
        assert.deepEqual(g.json.notify, [
            { channel: 'facebook', to: '12****23' },
            { channel: 'sms', to: '+8490****567' },
            { channel: 'sms', to: '+8498****321' },
            { channel: 'zalo', to: 'zl****78' },
        ]);
        const raw = JSON.stringify(g.json.notify);
        for (const secret of ['zl-12345678', '1234567890123', '+84987654321']) assert.ok(!raw.includes(secret), raw);
        // the event notifies exactly those
        const ev = await api('POST', `dossiers/${code}/events`, { token: tok.phuong, body: { status: 'approved' } });
        assert.equal(ev.status, 202, ev.body);
        assert.equal(ev.json.notifications.length, g.json.notify.length);
        const chans = [];
        for (const id of ev.json.notifications) chans.push(await R('HGET', idKey('notif', id), 'channels'));
        assert.deepEqual(chans.sort(), g.json.notify.map((n) => n.channel).sort());
    });

    it('[sms] price_per_segment_vnd is checked by check-config', async () => {
        const run = (v) => runMotcua(['check-config', '--config', TEST_INI], { env: { MOTCUA_SMS_PRICE_PER_SEGMENT_VND: v } });
        const ok = await run('350');
        assert.equal(ok.code, 0, ok.stderr);
        for (const v of ['-1', 'abc', '100001', '3.5']) {
            const r = await run(v);
            assert.equal(r.code, 2, `${v}: ${r.stdout}${r.stderr}`);
            assert.match(r.stderr, /price_per_segment_vnd/i, r.stderr);
        }
        const demo = await runMotcua(['check-config', '--config', path.join(ROOT, 'config', 'demo.ini')]);
        assert.equal(demo.code, 0, demo.stderr);
        assert.match(fs.readFileSync(path.join(ROOT, 'config', 'demo.ini'), 'utf8'), /^price_per_segment_vnd = \d+$/m);
    });

    it('Redis down → 503 from the console endpoints, nothing written', async () => {
        await redis.stop();
        try {
            await waitFor(async () => (await httpRequest(`${mc.url}/healthz`)).status === 503, 5000, 50);
            const t = await api('PUT', 'templates/down', { token: tok.phuong, body: { name: 'x', text: 'x' } });
            assert.equal(t.status, 503, t.body);
            const p = await api('POST', 'broadcasts/preview', { token: tok.phuong, body: { audience: { wards: [BEN_THANH] }, text: 't' } });
            assert.equal(p.status, 503, p.body);
            const b = await api('POST', 'notifications/batch', { token: tok.phuong, body: { text: 't', rows: [{ phone: '+84912340008' }] } });
            assert.equal(b.status, 503, b.body);
        } finally {
            redis = await startRedis(path.join(dir, 'redis'));
        }
        assert.equal(await R('HEXISTS', tplKey('ubnd-ben-thanh'), 'down'), '0');
    });
});

describe('console API: rendered templates reach the outbox (role all, clock at 12:00 local)', { timeout: 120000 }, () => {
    let dir, redis, mc, offset;
    const tok = { phuong: newToken(), tuphap: newToken(), reader: newToken(), caster: newToken() };
    const api = makeApi(() => mc.url);
    const R = (...a) => redisCli(redis.sock, ...a);
    const outboxLines = (ch) => {
        try {
            return fs
                .readFileSync(path.join(mc.outbox, `${ch}.jsonl`), 'utf8')
                .trim()
                .split('\n')
                .filter(Boolean)
                .map((l) => JSON.parse(l));
        } catch {
            return [];
        }
    };

    before(async () => {
        dir = makeTempDir('motcua-console-out-');
        const tokens = writeTokens(dir, tok);
        redis = await startRedis(path.join(dir, 'redis'));
        offset = offsetTo(12);
        // channels on without sending credentials: what would be sent goes to the outbox
        mc = await startMotcua({
            redisUrl: redis.url,
            env: {
                MOTCUA_ADMIN_TOKENS_FILE: tokens,
                MOTCUA_SMS_ENABLED: 'true',
                MOTCUA_SMS_PROVIDER: 'twilio',
                MOTCUA_SMS_AUTH_TOKEN: 'twilio-auth-token',
                MOTCUA_ZALO_ENABLED: 'true',
                MOTCUA_ZALO_APP_ID: '4455667788',
                MOTCUA_ZALO_OA_SECRET_KEY: 'zalo-oa-secret-test',
                MOTCUA_SERVER_TEST_CLOCK: 'true',
                MOTCUA_TEST_CLOCK_OFFSET_MS: String(offset),
                MOTCUA_WORKER_CONSUMER: 'it-console',
            },
        });
        await storeUp(mc);
        const t = await api('PUT', 'templates/cup-dien', { token: tok.phuong, body: TPL });
        assert.equal(t.status, 201, t.body);
    });

    after(async () => {
        await stopAll({ procs: [mc], redis, dir });
        assertCleanLog(mc, ['+84912345001', '+84912345002', '+84912345003', '+84912345101', '+84912345104']);
    });

    it('a notification with a template leaves as its rendered text (SMS unaccented)', async () => {
        const r = await api('POST', 'notifications', { token: tok.phuong, body: { to: { phone: '+84912345001' }, template: { id: 'cup-dien', data: TPL_DATA } } });
        assert.equal(r.status, 202, r.body);
        const line = await waitFor(() => outboxLines('sms').find((l) => l.to === '+84912345001'), 15000);
        assert.ok(line, 'the SMS reached the outbox');
        assert.equal(line.text, RENDERED_PLAIN);
    });

    it('a broadcast with a template reaches its ward\'s subscribers with the rendered text', async () => {
        const now = Date.now() + offset;
        await R('HSET', citizenKey('conv', 'zalo', 'zl-bc-1'), 'last_in_ms', String(now - 3600 * 1000)); // inside Zalo's window
        const s = await api('POST', 'subscriptions', { token: tok.phuong, body: { channel: 'zalo', user_id: 'zl-bc-1', ward: BEN_THANH } });
        assert.equal(s.status, 201, s.body);
        const r = await api('POST', 'broadcasts', {
            token: tok.phuong,
            body: { audience: { wards: [BEN_THANH], channels: ['zalo'] }, template: { id: 'cup-dien', data: TPL_DATA } },
        });
        assert.equal(r.status, 202, r.body);
        assert.equal(r.json.recipients, 1);
        const line = await waitFor(() => outboxLines('zalo').find((l) => l.to === 'zl-bc-1'), 20000);
        assert.ok(line, 'the Zalo message reached the outbox');
        assert.equal(line.text, RENDERED);
        // the recipient "<q>-<bc>-<n>" lives in its citizen's partition q and references
        // the broadcast's text, which q's part of the broadcast holds, instead of a copy
        const q = partOf('zalo:zl-bc-1');
        const nid = `${q}-${r.json.id}-1`;
        assert.equal(await R('HGET', idKey('notif', nid), 'broadcast'), r.json.id);
        assert.equal(await R('HEXISTS', idKey('notif', nid), 'text'), '0', 'no text of its own');
        assert.equal(await R('HGET', key('bc_part', q, r.json.id), 'text'), RENDERED);
        assert.equal(await R('OBJECT', 'ENCODING', idKey('notif', nid)), 'listpack', 'a small hash');
        // fanned out: the broadcast's own hash lets go of the text (the parts have it)
        assert.ok(await waitFor(async () => (await R('HGET', idKey('bc', r.json.id), 'status')) === 'sending', 10000), 'fan-out finished');
        assert.equal(await R('HEXISTS', idKey('bc', r.json.id), 'text'), '0');
        const n = await api('GET', `notifications/${nid}`, { token: tok.phuong });
        assert.equal(n.status, 200, n.body);
        assert.ok(['sending', 'sent'].includes(n.json.status), n.body);
        assert.ok(!n.json.text_removed, n.body);
    });

    it('audience tags: only the wards\' subscribers with one of the tags, each once; no tags → all; HUY drops the tag memberships', async () => {
        const A = '+84912345101'; // flood-alert and heat: matches twice, sent once
        const B = '+84912345102'; // flood-alert
        const C = '+84912345103'; // no tags
        const D = '+84912345104'; // another tag
        for (const [phone, tags] of [[A, ['flood-alert', 'heat']], [B, ['flood-alert']], [C, undefined], [D, ['other']]]) {
            const r = await api('POST', 'subscriptions', { token: tok.phuong, body: { phone, ward: BEN_THANH, ...(tags ? { tags } : {}) } });
            assert.equal(r.status, 201, r.body);
        }
        // a tagged subscriber of another ward is not in the audience
        for (const c of [...wardSubCmds(SAI_GON, ['sms:+84912345109']), ...wardSubCmds(SAI_GON, ['sms:+84912345109'], 'flood-alert')])
            await R(...c);
        const audience = { wards: [BEN_THANH], channels: ['sms'], tags: ['flood-alert', 'heat'] };

        const pv = await api('POST', 'broadcasts/preview', { token: tok.phuong, body: { audience, text: 'Canh bao ngap.' } });
        assert.equal(pv.status, 200, pv.body);
        assert.equal(pv.json.recipients, 2, pv.body);
        assert.equal(pv.json.channels.sms.recipients, 2, pv.body);

        const sent = async (text) => {
            // finished: every recipient's notification is settled, so nothing more leaves
            const fin = await waitFor(async () => {
                const g = await api('GET', `broadcasts/${text.id}`, { token: tok.phuong });
                return g.json && g.json.status === 'done' ? g.json : null;
            }, 20000);
            assert.ok(fin, `broadcast ${text.id} finished`);
            return outboxLines('sms')
                .filter((l) => l.text === text.text)
                .map((l) => l.to)
                .sort();
        };
        const tagged = await api('POST', 'broadcasts', { token: tok.phuong, body: { audience, text: 'Canh bao ngap: tin mot.' } });
        assert.equal(tagged.status, 202, tagged.body);
        assert.equal(tagged.json.recipients, 2, tagged.body);
        assert.equal(await R('HGET', idKey('bc', tagged.json.id), 'count:sms'), '2');
        assert.deepEqual(await sent({ id: tagged.json.id, text: 'Canh bao ngap: tin mot.' }), [A, B]);

        const all = await api('POST', 'broadcasts', {
            token: tok.phuong,
            body: { audience: { wards: [BEN_THANH], channels: ['sms'] }, text: 'Thong bao chung: tin hai.' },
        });
        assert.equal(all.status, 202, all.body);
        assert.equal(all.json.recipients, 4, all.body);
        assert.deepEqual(await sent({ id: all.json.id, text: 'Thong bao chung: tin hai.' }), [A, B, C, D]);

        // HUY from the chat removes the ward subscription and its tag memberships
        const zl = 'zl-tag-1';
        const s = await api('POST', 'subscriptions', { token: tok.phuong, body: { channel: 'zalo', user_id: zl, ward: BEN_THANH, tags: ['flood-alert'] } });
        assert.equal(s.status, 201, s.body);
        assert.equal(await R('SISMEMBER', subWardTag(`zalo:${zl}`, BEN_THANH, 'flood-alert'), `zalo:${zl}`), '1');
        const ts = String(Date.now() + offset);
        const raw = JSON.stringify({
            app_id: ZALO.appId,
            user_id_by_app: `app-${zl}`,
            event_name: 'user_send_text',
            timestamp: ts,
            sender: { id: zl },
            recipient: { id: ZALO.oaId },
            message: { text: 'HUY', msg_id: `zm-${crypto.randomBytes(6).toString('hex')}` },
        });
        const h = await httpRequest(`${mc.url}/webhook/zalo`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-zevent-signature': zaloSignature(ZALO.appId, raw, ts, ZALO.oaKey) },
            body: raw,
        });
        assert.equal(h.status, 200, h.body);
        assert.ok(await waitFor(async () => (await R('EXISTS', citizenKey('subs', 'zalo', zl))) === '0', 15000), 'HUY processed');
        assert.equal(await R('SISMEMBER', subWardTag(`zalo:${zl}`, BEN_THANH, 'flood-alert'), `zalo:${zl}`), '0');
        assert.equal(await R('SISMEMBER', subWard(`zalo:${zl}`, BEN_THANH), `zalo:${zl}`), '0');
        assert.equal(await R('SISMEMBER', subWardTag(`sms:${B}`, BEN_THANH, 'flood-alert'), `sms:${B}`), '1', 'the others stay');
    });

    it('a batch\'s rows leave with their own rendered texts', async () => {
        const r = await api('POST', 'notifications/batch', {
            token: tok.phuong,
            body: {
                template: { id: 'cup-dien', data: { phuong: 'Bến Thành' } },
                rows: [
                    { phone: '+84912345002', data: { ngay: '1/12' } },
                    { phone: '+84912345003', data: { ngay: '2/12' } },
                ],
            },
        });
        assert.equal(r.status, 202, r.body);
        const got = await waitFor(() => {
            const l = outboxLines('sms').filter((x) => x.to === '+84912345002' || x.to === '+84912345003');
            return l.length === 2 ? l : null;
        }, 15000);
        assert.ok(got, 'both SMS reached the outbox');
        assert.deepEqual(
            Object.fromEntries(got.map((l) => [l.to, l.text])),
            { '+84912345002': 'Phuong Ben Thanh cup dien ngay 1/12.', '+84912345003': 'Phuong Ben Thanh cup dien ngay 2/12.' },
        );
    });
});
