// Integration tests of the department API (/api/v1, shared/spec/admin-api.md): the real
// motcua binary against a private Redis, tokens from a temp [admin] tokens_file.
//
//   node --test tests/integration/admin.test.mjs      (from the repo root)
//
// motcua runs with --role gateway (no scheduler), so what the API puts on the due sets
// stays there for the test to see; the web chat worker still answers citizens. Redis keys
// are the partitioned keyspace's (tests/lib/keys.mjs, gateway/store/gw_keys.c).

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TEST_INI, makeTempDir, removeTempDir, startRedis, startMotcua, runMotcua, redisCli, wsConnect, httpRequest, sleep, stopAll } from '../lib/harness.mjs';
import { key, partOf, partOfId, idKey, citizenKey, wardSubCmds, everyPart } from '../lib/keys.mjs';
import { sumEveryPart } from '../lib/parts.mjs';

const CODE = '000.00.25.H29-231122-0001';
const OTHER_CODE = '000.00.25.H29-231122-0002';
const BEN_THANH = '26743'; // vi-nlp/data/wards.csv
const SAI_GON = '26740';

/** A dossier's keys live in the partition of its code. */
const dossierKey = (code) => key('dossier', partOf(code), code);
/** The subscription sets of a citizen "<channel>:<user>": in the citizen's partition. */
const subWard = (member, ward) => key('sub_ward', partOf(member), ward);
const subWardTag = (member, ward, tag) => key('sub_ward_tag', partOf(member), ward, tag);

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const newToken = () => crypto.randomBytes(18).toString('base64url');

/** Reads gateway/api/data/statuses.txt: status id → wording (the test trusts the data file). */
function statusWording(id) {
    const text = fs.readFileSync(new URL('../../gateway/api/data/statuses.txt', import.meta.url), 'utf8');
    const m = text.match(new RegExp(`^status ${id} = (.+)$`, 'm'));
    assert.ok(m, `statuses.txt has ${id}`);
    return m[1].trim();
}

describe('department API /api/v1', { timeout: 120000 }, () => {
    let dir, redis, mc;
    const tok = { tuphap: newToken(), phuong: newToken(), reader: newToken() };

    async function api(method, p, { token, body, raw } = {}) {
        const headers = { 'content-type': 'application/json' };
        if (token) headers.authorization = `Bearer ${token}`;
        const r = await httpRequest(`${mc.url}/api/v1/${p}`, {
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
    }
    const R = (...a) => redisCli(redis.sock, ...a);
    /** Notifications queued, over every partition's due set. */
    const dueCount = () => sumEveryPart(redis.sock, 'ZCARD', 'due');

    before(async () => {
        dir = makeTempDir('motcua-admin-');
        const tokens = path.join(dir, 'tokens.txt');
        fs.writeFileSync(
            tokens,
            [
                '# test departments',
                `so-tu-phap ${sha256(tok.tuphap)} dossiers:write,notify,read *`,
                `ubnd-ben-thanh ${sha256(tok.phuong)} dossiers:write,notify,broadcast,read ${BEN_THANH}  # one ward`,
                `chi-doc ${sha256(tok.reader)} read *`,
                '',
            ].join('\n'),
        );
        redis = await startRedis(path.join(dir, 'redis'));
        mc = await startMotcua({
            redisUrl: redis.url,
            args: ['--role', 'gateway'],
            env: { MOTCUA_ADMIN_TOKENS_FILE: tokens },
        });
    });

    beforeEach(() => {
        if (mc && !mc.alive()) throw new Error(`motcua died:\n${mc.stderrLines.slice(-40).join('\n')}`);
    });

    after(async () => {
        await stopAll({ procs: [mc], redis, dir });
        const log = mc ? mc.stderrLines.join('\n') : '';
        assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error:/.test(log), `sanitizer report:\n${log}`);
        // personal data is masked in the logs
        assert.ok(!log.includes('+84901234567') && !log.includes('+84987654321'), 'phones are masked in the logs');
    });

    it('no token → 401, wrong token → 401, nothing written', async () => {
        const body = { procedure: 'khai_sinh', status: 'received' };
        const a = await api('PUT', `dossiers/${CODE}`, { body });
        assert.equal(a.status, 401, a.body);
        assert.equal(a.json.error, 'unauthorized');
        const b = await api('PUT', `dossiers/${CODE}`, { body, token: newToken() });
        assert.equal(b.status, 401, b.body);
        const c = await api('GET', `dossiers/${CODE}`, { token: tok.tuphap.slice(0, -1) });
        assert.equal(c.status, 401, c.body);
        assert.equal(await R('EXISTS', dossierKey(CODE)), '0');
    });

    it('a token without the scope → 403', async () => {
        const r = await api('PUT', `dossiers/${CODE}`, {
            token: tok.reader,
            body: { procedure: 'khai_sinh', status: 'received' },
        });
        assert.equal(r.status, 403, r.body);
        assert.equal(r.json.error, 'forbidden');
        const n = await api('POST', 'notifications', { token: tok.reader, body: { to: { phone: '+84901234567' }, text: 'x' } });
        assert.equal(n.status, 403, n.body);
        assert.equal(await R('EXISTS', dossierKey(CODE)), '0');
    });

    it('PUT creates (201), PUT again replaces (200), GET answers the dossier', async () => {
        const body = { procedure: 'khai_sinh', status: 'received', phone: '+84901234567', expected_at: '2026-12-01' };
        const a = await api('PUT', `dossiers/${CODE}`, { token: tok.tuphap, body });
        assert.equal(a.status, 201, a.body);
        const b = await api('PUT', `dossiers/${CODE}`, { token: tok.tuphap, body: { ...body, status: 'processing' } });
        assert.equal(b.status, 200, b.body);
        const g = await api('GET', `dossiers/${CODE}`, { token: tok.tuphap });
        assert.equal(g.status, 200, g.body);
        assert.equal(g.json.code, CODE);
        assert.equal(g.json.procedure, 'khai_sinh');
        assert.equal(g.json.status, 'processing');
        assert.equal(g.json.status_text, statusWording('processing'));
        assert.equal(g.json.phone, '+84901234567');
        assert.equal(g.json.expected_at, '2026-12-01');
        assert.equal(g.json.agency, 'so-tu-phap');
        assert.match(g.json.updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$/);
        assert.deepEqual(g.json.history, []);
        // what the chat worker reads
        assert.equal(await R('HGET', dossierKey(CODE), 'status_text'), statusWording('processing'));
        // the code is case-insensitive in the path, stored canonical
        const l = await api('GET', `dossiers/${CODE.toLowerCase()}`, { token: tok.tuphap });
        assert.equal(l.status, 200, l.body);
        assert.equal(l.json.code, CODE);
    });

    it("another department's dossier → 403 (PUT, event, GET), unchanged", async () => {
        const put = await api('PUT', `dossiers/${CODE}`, { token: tok.phuong, body: { procedure: 'khai_tu', status: 'received' } });
        assert.equal(put.status, 403, put.body);
        const ev = await api('POST', `dossiers/${CODE}/events`, { token: tok.phuong, body: { status: 'rejected' } });
        assert.equal(ev.status, 403, ev.body);
        const get = await api('GET', `dossiers/${CODE}`, { token: tok.phuong });
        assert.equal(get.status, 403, get.body);
        assert.equal(await R('HGET', dossierKey(CODE), 'procedure'), 'khai_sinh');
        assert.equal(await R('HGET', dossierKey(CODE), 'status'), 'processing');
        const none = await api('GET', `dossiers/${OTHER_CODE}`, { token: tok.phuong });
        assert.equal(none.status, 404, none.body);
    });

    it('malformed JSON → 400; each bad field → 400 naming it; nothing written', async () => {
        const bad = await api('PUT', `dossiers/${OTHER_CODE}`, { token: tok.tuphap, raw: '{"procedure": "khai_sinh",' });
        assert.equal(bad.status, 400, bad.body);
        assert.equal(bad.json.error, 'bad_json');
        const ok = { procedure: 'khai_sinh', status: 'received' };
        const cases = [
            [{ ...ok, procedure: 'lam_giay_to' }, 'procedure'],
            [{ ...ok, status: 'lost' }, 'status'],
            [{ ...ok, phone: '0901234567' }, 'phone'],
            [{ ...ok, phone: '+84201234567' }, 'phone'],
            [{ ...ok, phone: '+849012345678' }, 'phone'],
            [{ ...ok, expected_at: '2026-02-30' }, 'expected_at'],
            [{ ...ok, colour: 'blue' }, 'colour'],
            [{ status: 'received' }, 'procedure'],
        ];
        for (const [body, field] of cases) {
            const r = await api('PUT', `dossiers/${OTHER_CODE}`, { token: tok.tuphap, body });
            assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.body}`);
            assert.equal(r.json.field, field, r.body);
            assert.ok(r.json.message, r.body);
        }
        const code = await api('PUT', 'dossiers/000-00-25-H29', { token: tok.tuphap, body: ok });
        assert.equal(code.status, 400, code.body);
        assert.equal(code.json.field, 'code');
        assert.equal(await R('EXISTS', dossierKey(OTHER_CODE)), '0');
    });

    it('an event: history, one notification per subscriber and the phone, on the due set of its partition; a chat citizen sees the new status', async () => {
        // a citizen follows the dossier from the web chat: the department subscribes a zalo user
        const sub = await api('POST', 'subscriptions', { token: tok.tuphap, body: { channel: 'zalo', user_id: 'zl-777', dossier: CODE } });
        assert.equal(sub.status, 201, sub.body);
        assert.equal(await R('SISMEMBER', key('sub_dossier', partOf(CODE), CODE), 'zalo:zl-777'), '1');
        assert.equal(await R('SISMEMBER', citizenKey('subs', 'zalo', 'zl-777'), `dossier:${CODE}`), '1');

        const r = await api('POST', `dossiers/${CODE}/events`, {
            token: tok.tuphap,
            body: { status: 'ready_for_pickup', note: 'mang theo CCCD' },
        });
        assert.equal(r.status, 202, r.body);
        const ids = r.json.notifications;
        assert.equal(ids.length, 2, r.body); // zalo subscriber + the dossier's phone by sms
        const wording = statusWording('ready_for_pickup');
        const byChannel = {};
        for (const id of ids) {
            // an event's notifications live with the dossier: "<P(code)>-<24 hex>-<n>"
            assert.match(id, /^\d+-[0-9a-f]{24}-\d+$/);
            assert.equal(partOfId(id), partOf(CODE), `${id} is in the dossier's partition`);
            assert.notEqual(await R('ZSCORE', key('due', partOfId(id)), id), '', `the due set holds ${id}`);
            const h = await R('HGET', idKey('notif', id), 'channels');
            byChannel[h] = id;
            assert.equal(await R('HGET', idKey('notif', id), 'status'), 'scheduled');
            assert.equal(await R('HGET', idKey('notif', id), 'dept'), 'so-tu-phap');
            assert.equal(await R('HGET', idKey('notif', id), 'idx'), '0');
            const text = await R('HGET', idKey('notif', id), 'text');
            assert.ok(text.includes(CODE) && text.includes(wording) && text.includes('mang theo CCCD'), text);
        }
        assert.deepEqual(Object.keys(byChannel).sort(), ['sms', 'zalo']);
        assert.deepEqual(JSON.parse(await R('HGET', idKey('notif', byChannel.sms), 'to')), { phone: '+84901234567' });
        assert.deepEqual(JSON.parse(await R('HGET', idKey('notif', byChannel.zalo), 'to')), { channel: 'zalo', user_id: 'zl-777' });

        const g = await api('GET', `dossiers/${CODE}`, { token: tok.tuphap });
        assert.equal(g.json.status, 'ready_for_pickup');
        assert.equal(g.json.history.length, 1);
        assert.equal(g.json.history[0].status, 'ready_for_pickup');
        assert.equal(g.json.history[0].note, 'mang theo CCCD');

        const n = await api('GET', `notifications/${ids[0]}`, { token: tok.tuphap });
        assert.equal(n.status, 200, n.body);
        assert.deepEqual(n.json, { id: ids[0], status: 'scheduled', attempts: [] });
        const other = await api('GET', `notifications/${ids[0]}`, { token: tok.phuong });
        assert.equal(other.status, 403, other.body);

        // the citizen asks in the web chat
        const c = await wsConnect(mc.wsUrl, { origin: mc.url });
        try {
            c.send({ type: 'hello', session: null, last_seq: 0 });
            await c.next('welcome', 5000);
            c.send({ type: 'message', id: 'q1', text: `tra hồ sơ ${CODE}` });
            const m = await c.next((f) => f.type === 'message' && f.reply_to === 'q1', 10000);
            assert.ok(m.text.includes(CODE), m.text);
            assert.ok(m.text.includes(wording), `the reply shows "${wording}":\n${m.text}`);
        } finally {
            c.terminate();
        }
    });

    it('an event for a dossier that does not exist → 404; an unknown status → 400', async () => {
        const r = await api('POST', `dossiers/${OTHER_CODE}/events`, { token: tok.tuphap, body: { status: 'approved' } });
        assert.equal(r.status, 404, r.body);
        const s = await api('POST', `dossiers/${CODE}/events`, { token: tok.tuphap, body: { status: 'teleported' } });
        assert.equal(s.status, 400, s.body);
        assert.equal(s.json.field, 'status');
    });

    it('notifications: stored for the scheduler; same idempotency key and body → same id; other body → 409', async () => {
        const body = {
            to: { channel: 'zalo', user_id: 'zl-1', phone: '+84912345678' },
            text: 'Mời anh/chị đến nhận kết quả.',
            send_at: '2030-01-02T08:00:00+07:00',
            not_after: '2030-01-02T20:00:00+07:00',
            priority: 'urgent',
            idempotency_key: 'order-42',
        };
        const a = await api('POST', 'notifications', { token: tok.tuphap, body });
        assert.equal(a.status, 202, a.body);
        assert.equal(a.json.status, 'scheduled');
        const id = a.json.id;
        // "<p>-<32 hex>", p the partition of the department's idempotency key
        assert.match(id, /^\d+-[0-9a-f]{32}$/);
        assert.equal(partOfId(id), partOf('idem:so-tu-phap:order-42'));
        assert.equal(await R('EXISTS', key('idem', partOfId(id), 'so-tu-phap', 'order-42')), '1');
        const sendAt = Date.parse(body.send_at);
        assert.equal(await R('ZSCORE', key('due', partOfId(id)), id), String(sendAt));
        const h = JSON.parse(
            await R('EVAL', "return cjson.encode(redis.call('HGETALL',KEYS[1]))", '1', idKey('notif', id)),
        );
        const f = {};
        for (let i = 0; i < h.length; i += 2) f[h[i]] = h[i + 1];
        assert.equal(f.dept, 'so-tu-phap');
        assert.equal(f.status, 'scheduled');
        assert.equal(f.text, body.text);
        assert.deepEqual(JSON.parse(f.to), body.to);
        assert.equal(f.channels, 'zalo,sms'); // the recipient's channel, then sms (a phone is known)
        assert.equal(f.idx, '0');
        assert.equal(f.send_at_ms, String(sendAt));
        assert.equal(f.not_after_ms, String(Date.parse(body.not_after)));
        assert.equal(f.priority, 'urgent');
        assert.ok(Math.abs(Number(f.created_ms) - Date.now()) < 60000, f.created_ms);

        // the same body with its keys in another order is the same request
        const reordered = Object.fromEntries(Object.entries(body).reverse());
        const b = await api('POST', 'notifications', { token: tok.tuphap, body: reordered });
        assert.equal(b.status, 202, b.body);
        assert.equal(b.json.id, id);
        assert.equal(await dueCount(), 3); // 2 from the event + this one, no duplicate

        const c = await api('POST', 'notifications', { token: tok.tuphap, body: { ...body, text: 'Khác' } });
        assert.equal(c.status, 409, c.body);
        assert.equal(c.json.error, 'conflict');
        // another department may use the same key
        const d = await api('POST', 'notifications', { token: tok.phuong, body });
        assert.equal(d.status, 202, d.body);
        assert.notEqual(d.json.id, id);
    });

    it('notifications: every bad field → 400 naming it', async () => {
        const ok = { to: { phone: '+84901234567' }, text: 'x' };
        const cases = [
            [{ ...ok, to: { phone: '+1 555 0100' } }, 'to.phone'],
            [{ ...ok, to: { channel: 'zalo' } }, 'to.user_id'],
            [{ ...ok, to: { channel: 'telegram', user_id: 'a' } }, 'to.channel'],
            [{ ...ok, to: undefined }, 'to'],
            [{ ...ok, text: '' }, 'text'],
            [{ ...ok, text: 'x'.repeat(5000) }, 'text'],
            [{ ...ok, channels: ['zalo'] }, 'channels[0]'],
            [{ ...ok, channels: ['sms', 'sms'] }, 'channels[1]'],
            [{ ...ok, send_at: 'tomorrow' }, 'send_at'],
            [{ ...ok, send_at: '2030-01-02T08:00:00+07:00', not_after: '2030-01-01T08:00:00+07:00' }, 'not_after'],
            [{ ...ok, priority: 'high' }, 'priority'],
            [{ ...ok, idempotency_key: 7 }, 'idempotency_key'],
            [{ ...ok, extra: 1 }, 'extra'],
        ];
        const before = await dueCount();
        for (const [body, field] of cases) {
            const r = await api('POST', 'notifications', { token: tok.tuphap, body });
            assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 200)}: ${r.body}`);
            assert.equal(r.json.field, field, r.body);
        }
        const bad = await api('POST', 'notifications', { token: tok.tuphap, raw: 'not json' });
        assert.equal(bad.status, 400, bad.body);
        assert.equal(await dueCount(), before);
        // an id naming no partition, and one naming a partition that does not hold it
        const missing = await api('GET', 'notifications/0123456789abcdef', { token: tok.tuphap });
        assert.equal(missing.status, 404, missing.body);
        const absent = await api('GET', 'notifications/0-0123456789abcdef', { token: tok.tuphap });
        assert.equal(absent.status, 404, absent.body);
    });

    it('subscriptions: ward inside the areas (201, then DELETE), outside → 403', async () => {
        const SMS = 'sms:+84987654321'; // the subscriber: its sets are in its partition
        const a = await api('POST', 'subscriptions', { token: tok.phuong, body: { phone: '+84987654321', ward: BEN_THANH, tags: ['flood-alert'] } });
        assert.equal(a.status, 201, a.body);
        assert.equal(await R('SISMEMBER', subWard(SMS, BEN_THANH), SMS), '1');
        assert.equal(await R('SISMEMBER', citizenKey('subs', 'sms', '+84987654321'), `ward:${BEN_THANH}`), '1');
        // its tags: a membership of the ward x tag set, listed in the reverse index
        assert.equal(await R('SISMEMBER', subWardTag(SMS, BEN_THANH, 'flood-alert'), SMS), '1');
        assert.equal(await R('SISMEMBER', citizenKey('subs', 'sms', '+84987654321'), `ward:${BEN_THANH}:tag:flood-alert`), '1');
        // a POST states the subscription's tags: another list replaces them, none drops them
        const retag = await api('POST', 'subscriptions', { token: tok.phuong, body: { phone: '+84987654321', ward: BEN_THANH, tags: ['heat', 'flood-alert'] } });
        assert.equal(retag.status, 200, retag.body);
        assert.equal(await R('SISMEMBER', subWardTag(SMS, BEN_THANH, 'heat'), SMS), '1');
        assert.equal(await R('SISMEMBER', subWardTag(SMS, BEN_THANH, 'flood-alert'), SMS), '1');
        const again = await api('POST', 'subscriptions', { token: tok.phuong, body: { phone: '+84987654321', ward: BEN_THANH } });
        assert.equal(again.status, 200, again.body);
        assert.equal(await R('EXISTS', subWardTag(SMS, BEN_THANH, 'heat'), subWardTag(SMS, BEN_THANH, 'flood-alert')), '0');
        assert.deepEqual((await R('SMEMBERS', citizenKey('subs', 'sms', '+84987654321'))).split('\n'), [`ward:${BEN_THANH}`]);
        const tagged = await api('POST', 'subscriptions', { token: tok.phuong, body: { phone: '+84987654321', ward: BEN_THANH, tags: ['flood-alert', 'heat'] } });
        assert.equal(tagged.status, 200, tagged.body);
        assert.equal(await R('SCARD', citizenKey('subs', 'sms', '+84987654321')), '3');
        const out = await api('POST', 'subscriptions', { token: tok.phuong, body: { phone: '+84987654321', ward: SAI_GON } });
        assert.equal(out.status, 403, out.body);
        assert.equal(await sumEveryPart(redis.sock, 'EXISTS', 'sub_ward', SAI_GON), 0, 'in no partition');
        const notMine = await api('POST', 'subscriptions', { token: tok.phuong, body: { channel: 'zalo', user_id: 'z', dossier: CODE } });
        assert.equal(notMine.status, 403, notMine.body);
        const badWard = await api('POST', 'subscriptions', { token: tok.phuong, body: { channel: 'zalo', user_id: 'z', ward: 'atlantis' } });
        assert.equal(badWard.status, 400, badWard.body);
        assert.equal(badWard.json.field, 'ward');

        const del = await api('DELETE', `subscriptions?phone=%2B84987654321&ward=${BEN_THANH}`, { token: tok.phuong });
        assert.equal(del.status, 200, del.body);
        assert.equal(await R('SISMEMBER', subWard(SMS, BEN_THANH), SMS), '0');
        assert.equal(await R('SISMEMBER', citizenKey('subs', 'sms', '+84987654321'), `ward:${BEN_THANH}`), '0');
        // DELETE takes the ward's tag memberships with it
        assert.equal(await R('EXISTS', subWardTag(SMS, BEN_THANH, 'heat'), subWardTag(SMS, BEN_THANH, 'flood-alert')), '0');
        assert.equal(await R('EXISTS', citizenKey('subs', 'sms', '+84987654321')), '0');
        const del2 = await api('DELETE', `subscriptions?phone=%2B84987654321&ward=${BEN_THANH}`, { token: tok.phuong });
        assert.equal(del2.status, 404, del2.body);
    });

    it('broadcasts: recipients counted from the ward sets, recorded, queued; areas and scope enforced; cancel', async () => {
        // each subscriber in its own partition's sets, as POST /subscriptions writes them
        const subs = [
            ...wardSubCmds(BEN_THANH, ['zalo:bt-1', 'facebook:bt-2', 'sms:+84911111111', 'webchat:bt-4']),
            ...wardSubCmds(SAI_GON, ['zalo:sg-1', 'zalo:bt-1']),
            // tagged flood-alert in Bến Thành (what POST /subscriptions with tags writes); not webchat:bt-4
            ...wardSubCmds(BEN_THANH, ['zalo:bt-1', 'facebook:bt-2', 'sms:+84911111111'], 'flood-alert'),
            ...wardSubCmds(SAI_GON, ['zalo:sg-1'], 'flood-alert'),
        ];
        for (const c of subs) await R(...c);
        const body = {
            audience: { wards: [BEN_THANH], channels: ['zalo', 'sms'], tags: ['flood-alert'] },
            text: 'Cảnh báo triều cường tối nay.',
            send_at: '2030-06-01T17:00:00+07:00',
            priority: 'urgent',
            idempotency_key: 'flood-1',
        };
        const a = await api('POST', 'broadcasts', { token: tok.phuong, body });
        assert.equal(a.status, 202, a.body);
        assert.equal(a.json.recipients, 2, a.body); // zalo:bt-1 and sms:+849111..., not facebook/webchat
        const id = a.json.id;
        // "<p>-<32 hex>", p the partition of the department's idempotency key
        assert.match(id, /^\d+-[0-9a-f]{32}$/);
        assert.equal(partOfId(id), partOf('idem:ubnd-ben-thanh:bc:flood-1'));
        assert.equal(await R('ZSCORE', key('bc_due', partOfId(id)), id), String(Date.parse(body.send_at)));
        assert.equal(await R('HGET', idKey('bc', id), 'wards'), BEN_THANH);
        assert.equal(await R('HGET', idKey('bc', id), 'channels'), 'zalo,sms');
        assert.equal(await R('HGET', idKey('bc', id), 'text'), body.text);
        const again = await api('POST', 'broadcasts', { token: tok.phuong, body });
        assert.equal(again.status, 202, again.body);
        assert.deepEqual(again.json, a.json);
        const conflict = await api('POST', 'broadcasts', { token: tok.phuong, body: { ...body, text: 'khác' } });
        assert.equal(conflict.status, 409, conflict.body);

        // every channel by default; a ward outside the areas is refused
        const all = await api('POST', 'broadcasts', { token: tok.phuong, body: { audience: { wards: ['ben-thanh-26743'] }, text: 't' } });
        assert.equal(all.status, 202, all.body);
        assert.equal(all.json.recipients, 4, all.body);
        const out = await api('POST', 'broadcasts', { token: tok.phuong, body: { audience: { wards: [BEN_THANH, SAI_GON] }, text: 't' } });
        assert.equal(out.status, 403, out.body);
        assert.equal(out.json.field, 'audience.wards[1]');
        const noScope = await api('POST', 'broadcasts', { token: tok.tuphap, body: { audience: { wards: [BEN_THANH] }, text: 't' } });
        assert.equal(noScope.status, 403, noScope.body);
        const badCh = await api('POST', 'broadcasts', { token: tok.phuong, body: { audience: { wards: [BEN_THANH], channels: ['fax'] }, text: 't' } });
        assert.equal(badCh.status, 400, badCh.body);
        assert.equal(badCh.json.field, 'audience.channels[0]');

        const g = await api('GET', `broadcasts/${id}`, { token: tok.phuong });
        assert.equal(g.status, 200, g.body);
        assert.equal(g.json.status, 'scheduled');
        assert.equal(g.json.recipients, 2);
        assert.deepEqual(g.json.counts, { scheduled: { zalo: 1, sms: 1 } });
        const other = await api('GET', `broadcasts/${id}`, { token: tok.tuphap });
        assert.equal(other.status, 403, other.body);

        // a partition caught fanning with no recipient yet: its text copy must not outlive the cancel
        const fanning = everyPart('bc_part', id)[3];
        await R('HSET', fanning, 'status', 'fanning', 'text', 'bản sao', 'fanned', '0');
        const del = await api('DELETE', `broadcasts/${id}`, { token: tok.phuong });
        assert.equal(del.status, 200, del.body);
        assert.equal(await R('HEXISTS', fanning, 'text'), '0', 'a partition without recipients lets go of its text');
        assert.equal(del.json.status, 'cancelled');
        assert.equal(await R('ZSCORE', key('bc_due', partOfId(id)), id), '');
        assert.equal(await R('HGET', idKey('bc', id), 'status'), 'cancelled');
        assert.equal(await R('HEXISTS', idKey('bc', id), 'text'), '0', 'the text goes with the cancel');
        // every partition's part is cancelled, so a fan-out that comes later skips it
        for (const k of everyPart('bc_part', id)) assert.equal(await R('HGET', k, 'status'), 'cancelled', k);
        const gone = await api('GET', `broadcasts/${id}`, { token: tok.phuong });
        assert.equal(gone.json.status, 'cancelled', gone.body);
        const del2 = await api('DELETE', `broadcasts/${id}`, { token: tok.phuong });
        assert.equal(del2.status, 409, del2.body);
    });

    it('Redis down → 503, and nothing is written once it is back', async () => {
        await redis.stop();
        try {
            for (let i = 0; i < 100 && (await httpRequest(`${mc.url}/healthz`)).status !== 503; i++) await sleep(50);
            const r = await api('PUT', `dossiers/${OTHER_CODE}`, { token: tok.tuphap, body: { procedure: 'khai_sinh', status: 'received' } });
            assert.equal(r.status, 503, r.body);
            assert.equal(r.json.error, 'unavailable');
        } finally {
            redis = await startRedis(path.join(dir, 'redis'));
        }
        assert.equal(await R('EXISTS', dossierKey(OTHER_CODE)), '0');
    });
});

describe('[admin] tokens_file errors stop the start-up', { timeout: 30000 }, () => {
    it('a bad line → exit 2 with "file:LINE: reason"', async () => {
        const dir = makeTempDir('motcua-admin-bad-');
        try {
            const tokens = path.join(dir, 'tokens.txt');
            fs.writeFileSync(tokens, `# ok\nso-a ${sha256('a')} read *\nso-b ${sha256('b')} write *\n`);
            const r = await runMotcua(['serve', '--config', TEST_INI, '--listen', '127.0.0.1:0', '--redis', `unix:${dir}/none.sock`], {
                env: { MOTCUA_ADMIN_TOKENS_FILE: tokens },
            });
            assert.equal(r.code, 2, r.stderr);
            assert.ok(r.stderr.includes(`${tokens}:3: unknown scope "write"`), r.stderr);
            fs.writeFileSync(tokens, `so-a ${sha256('a')} read phuong-khong-co\n`);
            const r2 = await runMotcua(['serve', '--config', TEST_INI, '--listen', '127.0.0.1:0', '--redis', `unix:${dir}/none.sock`], {
                env: { MOTCUA_ADMIN_TOKENS_FILE: tokens },
            });
            assert.equal(r2.code, 2, r2.stderr);
            assert.ok(r2.stderr.includes(`${tokens}:1: unknown area`), r2.stderr);
        } finally {
            removeTempDir(dir);
        }
    });
});
