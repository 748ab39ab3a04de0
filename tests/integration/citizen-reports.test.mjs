// Integration tests of citizens' reports (issue 13, shared/spec/officers.md "Citizens'
// reports"): the conversation asks where when the report does not say, files ONE ticket
// per issue (later words are added to it), numbers it PA-yymmdd-nnnn uniquely across
// processes, routes it to the departments whose areas and categories take it
// (tests/integration/departments.txt); the department API lists, shows and moves it
// (GET /api/v1/reports, GET /reports/{id}, POST /reports/{id}/events), each change tells
// the citizen on their channel (a notification: fallback, windows and quiet hours apply),
// the same status twice within a minute is refused; "phản ánh PA-… tới đâu rồi" answers
// with the status and, to the citizen who filed it only, the officer's last note; closed
// tickets lose their personal data after [scheduler] retention_days.
//
// The real binary (role all) against a private Redis and the fake providers; the
// gateway's clock ([server] test_clock) at 12:00 local time (no SMS quiet hours).

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, startRedis, startMotcua, httpRequest, redisCli, waitFor, stopAll, wsConnect } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { FB, ZALO, TW, HOUR, PUBLIC_URL, offsetTo, providerEnv } from '../lib/providers-env.mjs';
import { twilioSignature, zaloSignature } from '../lib/sign.mjs';
import { key, partOf, idKey } from '../lib/keys.mjs';

const DAY = 24 * HOUR;
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const newToken = () => crypto.randomBytes(18).toString('base64url');
let seq = 0;
const uid = (p) => `${p}${Date.now().toString(36)}${(seq++).toString(36)}`;
const localDate = (ms) => new Date(ms + 7 * HOUR).toISOString().slice(0, 10);
const yymmdd = (ms) => localDate(ms).slice(2).replace(/-/g, '');

function env(fakesUrl, offsetMs, tokensFile, extra = {}) {
    return providerEnv(fakesUrl, {
        MOTCUA_SCHEDULER_RATE_SMS: '0',
        MOTCUA_SCHEDULER_RATE_ZALO: '0',
        MOTCUA_SCHEDULER_RETENTION_SWEEP_MS: '200',
        MOTCUA_SERVER_TEST_CLOCK: 'true',
        MOTCUA_TEST_CLOCK_OFFSET_MS: String(offsetMs),
        MOTCUA_ADMIN_TOKENS_FILE: tokensFile,
        ...extra,
    });
}

describe("citizens' reports: the conversation, the API, the citizen told", { timeout: 240000 }, () => {
    let dir, redis, fakes, mc, mc2, offset, tokensFile;
    const tok = { phuong: newToken(), xd: newToken(), tp: newToken(), narrow: newToken(), reader: newToken() };
    const T = () => Date.now() + offset;
    const R = (...a) => redisCli(redis.sock, ...a);
    const ids = {};

    async function api(method, p, { token, body } = {}) {
        const headers = { 'content-type': 'application/json' };
        if (token) headers.authorization = `Bearer ${token}`;
        const r = await httpRequest(`${mc.url}/api/v1/${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        let json = null;
        try {
            json = JSON.parse(r.body);
        } catch {
            /* not JSON */
        }
        return { status: r.status, json, body: r.body };
    }

    /** Sends an SMS from `from` and resolves the text of the reply it gets. */
    async function sms(from, text, target = mc) {
        const before = fakes.requests('twilio').filter((r) => r.body.To === from).length;
        const params = { MessageSid: uid('SM'), From: from, To: TW.from, Body: text, AccountSid: TW.sid };
        const r = await httpRequest(`${target.url}/webhook/sms`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(TW.token, `${PUBLIC_URL}/webhook/sms`, params) },
            body: new URLSearchParams(params).toString(),
        });
        assert.equal(r.status, 200, r.body);
        const got = await waitFor(() => {
            const l = fakes.requests('twilio').filter((x) => x.body.To === from);
            return l.length > before ? l[l.length - 1] : null;
        }, 15000);
        assert.ok(got, `a reply to "${text}"`);
        return got.body.Body;
    }
    const smsTo = (to) => fakes.requests('twilio').filter((x) => x.body.To === to).map((x) => x.body.Body);

    async function zalo(user, text) {
        const before = fakes.requests('zalo').filter((r) => r.body?.recipient?.user_id === user).length;
        const ts = String(T());
        const raw = JSON.stringify({
            app_id: ZALO.appId, user_id_by_app: `app-${user}`, event_name: 'user_send_text', timestamp: ts,
            sender: { id: user }, recipient: { id: ZALO.oaId }, message: { text, msg_id: uid('zm') },
        });
        const r = await httpRequest(`${mc.url}/webhook/zalo`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-zevent-signature': zaloSignature(ZALO.appId, raw, ts, ZALO.oaKey) },
            body: raw,
        });
        assert.equal(r.status, 200, r.body);
        const got = await waitFor(() => {
            const l = fakes.requests('zalo').filter((x) => x.body?.recipient?.user_id === user);
            return l.length > before ? l[l.length - 1] : null;
        }, 15000);
        assert.ok(got, `a Zalo reply to "${text}"`);
        return got.body.message.text;
    }
    const zaloTo = (user) => fakes.requests('zalo').filter((x) => x.body?.recipient?.user_id === user).map((x) => x.body.message.text);

    const ticketOf = (text) => (text.match(/PA-\d{6}-\d{4}/) || [])[0];
    const reportsOf = async (token, q = '') => {
        const r = await api('GET', `reports${q}`, { token });
        assert.equal(r.status, 200, r.body);
        return r.json.reports;
    };

    before(async () => {
        dir = makeTempDir('motcua-pa-');
        tokensFile = path.join(dir, 'tokens.txt');
        fs.writeFileSync(
            tokensFile,
            [
                `ubnd-ben-thanh ${sha256(tok.phuong)} notify,read 26743`,
                `so-xay-dung ${sha256(tok.xd)} notify,read *`,
                `so-tu-phap ${sha256(tok.tp)} notify,read *`,
                `ubnd-ben-thanh ${sha256(tok.narrow)} notify,read 26740`,
                `ubnd-ben-thanh ${sha256(tok.reader)} read 26743`,
                '',
            ].join('\n'),
        );
        redis = await startRedis(path.join(dir, 'redis'));
        fakes = await startFakes({
            fbToken: FB.pageToken,
            zalo: { appId: ZALO.appId, secretKey: ZALO.appSecret, accessToken: ZALO.access, refreshToken: ZALO.refresh },
            twilio: { sid: TW.sid, token: TW.token },
        });
        offset = offsetTo(12);
        mc = await startMotcua({ redisUrl: redis.url, env: env(fakes.url, offset, tokensFile, { MOTCUA_WORKER_CONSUMER: 'it-pa-1' }) });
        await waitFor(async () => (await httpRequest(`${mc.url}/healthz`)).status === 200, 10000);
    });

    beforeEach(() => {
        if (mc && !mc.alive()) throw new Error(`motcua died:\n${mc.stderrLines.slice(-40).join('\n')}`);
    });

    after(async () => {
        await stopAll({ procs: [mc, mc2].filter(Boolean), fakes, redis, dir });
        const log = [mc, mc2].filter(Boolean).flatMap((m) => m.stderrLines).join('\n');
        assert.doesNotMatch(log, /Sanitizer|runtime error/);
        assert.ok(!log.includes('+84911300001'), 'the citizen\'s phone is masked in the logs');
    });

    it('a complaint without a place asks where; the answers complete ONE ticket; later words are added to it', async () => {
        const me = '+84911300001';
        const a1 = await sms(me, 'toi muon khieu nai ve rac thai o hem 12');
        assert.equal(ticketOf(a1), undefined, `nothing filed yet: ${a1}`);
        assert.match(a1, /phuong\/xa|phường\/xã/i, a1);
        assert.equal((await reportsOf(tok.phuong)).length, 0, 'no ticket before the place is known');
        // an address without a ward: asked once more, still no ticket
        const a2 = await sms(me, 'hem 12 duong Le Loi');
        assert.equal(ticketOf(a2), undefined, a2);
        assert.match(a2, /phuong|phường/i);
        const a3 = await sms(me, 'phuong Ben Thanh');
        const ticket = ticketOf(a3);
        assert.ok(ticket, `a ticket once the ward is known: ${a3}`);
        assert.match(ticket, new RegExp(`^PA-${yymmdd(T())}-\\d{4}$`));
        assert.match(a3, /Ben Thanh|Bến Thành/, 'the reply names who handles it');
        // more words about the same issue: the same ticket, not a second one
        const a4 = await sms(me, 'rac de ca tuan roi, boc mui lam');
        assert.equal(ticketOf(a4), ticket, a4);
        const list = await reportsOf(tok.phuong);
        assert.equal(list.length, 1, JSON.stringify(list));
        const t = list[0];
        assert.equal(t.id, ticket);
        assert.equal(t.category, 'rac_thai');
        assert.equal(t.ward, '26743');
        assert.equal(t.ward_name, 'Bến Thành');
        assert.equal(t.status, 'received');
        assert.equal(t.channel, 'sms');
        assert.match(t.place, /hem 12/);
        assert.match(t.place, /Ben Thanh/);
        assert.deepEqual(t.departments.map((d) => d.id), ['ubnd-ben-thanh']);
        assert.equal(t.departments[0].name, 'Ủy ban nhân dân phường Bến Thành');
        const full = await api('GET', `reports/${ticket}`, { token: tok.phuong });
        assert.equal(full.status, 200, full.body);
        for (const w of ['rac thai o hem 12', 'hem 12 duong Le Loi', 'phuong Ben Thanh', 'boc mui']) assert.ok(full.json.text.includes(w), `${w} in ${full.json.text}`);
        assert.equal(full.json.citizen, '+8491****001', 'the citizen masked');
        assert.deepEqual(full.json.history.filter((h) => h.kind === 'citizen').length, 2, 'the filing and the added words');
        // the department of another category, and one without reports, do not see it
        assert.equal((await reportsOf(tok.xd)).length, 0);
        assert.equal((await reportsOf(tok.tp)).length, 0);
        assert.equal((await api('GET', `reports/${ticket}`, { token: tok.xd })).status, 403);
        // a token of the department narrowed to another ward does not see it either
        assert.equal((await reportsOf(tok.narrow)).length, 0);
        ids.sms = ticket;
    });

    it('filters: status, ward, category, since', async () => {
        const t = ids.sms;
        assert.deepEqual((await reportsOf(tok.phuong, '?status=received')).map((x) => x.id), [t]);
        assert.equal((await reportsOf(tok.phuong, '?status=resolved')).length, 0);
        assert.deepEqual((await reportsOf(tok.phuong, '?ward=26743&category=rac_thai')).map((x) => x.id), [t]);
        assert.deepEqual((await reportsOf(tok.phuong, '?ward=ben-thanh-26743')).map((x) => x.id), [t], 'a ward slug names the ward');
        assert.equal((await reportsOf(tok.phuong, '?category=ngap_nuoc')).length, 0);
        assert.equal((await reportsOf(tok.phuong, `?since=${localDate(T() + DAY)}`)).length, 0);
        assert.equal((await reportsOf(tok.phuong, `?since=${localDate(T())}`)).length, 1);
        for (const bad of ['?status=done', '?ward=99999', '?category=rac', '?since=yesterday', '?limit=0']) {
            const r = await api('GET', `reports${bad}`, { token: tok.phuong });
            assert.equal(r.status, 400, `${bad}: ${r.body}`);
        }
        assert.equal((await api('GET', 'reports/PA-12', { token: tok.phuong })).status, 404);
        assert.equal((await api('GET', 'reports/PA-991231-0001', { token: tok.phuong })).status, 404);
    });

    it('a status change with a note reaches the citizen by SMS; the same one again is refused (409) and sends nothing', async () => {
        const me = '+84911300001';
        const t = ids.sms;
        const before = smsTo(me).length;
        const r = await api('POST', `reports/${t}/events`, { token: tok.phuong, body: { status: 'in_progress', note: 'Đã cử tổ vệ sinh đến hẻm 12' } });
        assert.equal(r.status, 202, r.body);
        assert.match(r.json.notification, /^\d+-[0-9a-f]+$/);
        const got = await waitFor(() => smsTo(me).length > before && smsTo(me).at(-1), 15000);
        assert.ok(got, 'the citizen got an SMS');
        assert.match(got, new RegExp(t));
        assert.match(got, /đang được xử lý|dang duoc xu ly/i);
        assert.match(got, /hẻm 12|hem 12/, 'the officer\'s note goes with it');
        const n = await api('GET', `notifications/${r.json.notification}`, { token: tok.phuong });
        assert.equal(n.status, 200, n.body);
        // the double click
        const again = await api('POST', `reports/${t}/events`, { token: tok.phuong, body: { status: 'in_progress', note: 'Đã cử tổ vệ sinh đến hẻm 12' } });
        assert.equal(again.status, 409, again.body);
        assert.equal(again.json.error, 'repeated');
        await new Promise((res) => setTimeout(res, 1500));
        assert.equal(smsTo(me).length, before + 1, 'nothing more was sent');
        // unless it is meant
        const meant = await api('POST', `reports/${t}/events`, { token: tok.phuong, body: { status: 'in_progress', note: 'Đã cử tổ vệ sinh đến hẻm 12', repeat: true } });
        assert.equal(meant.status, 202, meant.body);
        assert.ok(await waitFor(() => smsTo(me).length === before + 2, 15000), 'the repeat was sent');
        // refused: another department, a read-only token, a bad body
        assert.equal((await api('POST', `reports/${t}/events`, { token: tok.xd, body: { status: 'resolved' } })).status, 403);
        assert.equal((await api('POST', `reports/${t}/events`, { token: tok.reader, body: { status: 'resolved' } })).status, 403);
        for (const body of [{ status: 'received' }, { status: 'done' }, { status: 'resolved', note: 5 }, { status: 'resolved', extra: 1 }, { status: 'resolved', repeat: 'yes' }]) {
            const b = await api('POST', `reports/${t}/events`, { token: tok.phuong, body });
            assert.equal(b.status, 400, `${JSON.stringify(body)}: ${b.body}`);
        }
        const full = await api('GET', `reports/${t}`, { token: tok.phuong });
        assert.equal(full.json.status, 'in_progress');
        assert.equal(full.json.note, 'Đã cử tổ vệ sinh đến hẻm 12');
        assert.equal(full.json.history.filter((h) => h.kind === 'status').length, 3, 'received, in_progress, in_progress (repeat)');
        // the audit trail: who moved it, from what to what; the note's words stay out of it
        const au = await api('GET', `audit?action=report&target=${t}`, { token: tok.phuong });
        assert.equal(au.status, 200, au.body);
        const evs = au.json.entries.filter((e) => e.action === 'report.event' && e.target === t);
        assert.equal(evs.length, 2, 'the two changes made, not the refused repeat');
        assert.deepEqual(evs.at(-1).changes.status, { from: 'received', to: 'in_progress' });
        assert.equal(evs.at(-1).changes.note, true);
        assert.equal(evs.at(-1).changes.notified, true);
        assert.match(evs.at(-1).actor, /^key:/);
        assert.ok(!JSON.stringify(au.json).includes('tổ vệ sinh'), 'no message text in the audit');
    });

    it('"phản ánh PA-… tới đâu rồi": the status and, to the citizen who filed it, the last note', async () => {
        const t = ids.sms;
        const mine = await sms('+84911300001', `phan anh ${t.toLowerCase()} toi dau roi`);
        assert.match(mine, new RegExp(t));
        assert.match(mine, /dang duoc xu ly|đang được xử lý/i);
        assert.match(mine, /hem 12|hẻm 12/, `the note: ${mine}`);
        assert.match(mine, /\d{2}:\d{2} ngay \d{2}\/\d{2}\/\d{4}|\d{2}:\d{2} ngày \d{2}\/\d{2}\/\d{4}/, `a date a person reads: ${mine}`);
        const stranger = await sms('+84911300002', `phản ánh ${t} tới đâu rồi`);
        assert.match(stranger, /dang duoc xu ly|đang được xử lý/i);
        assert.doesNotMatch(stranger, /hem 12|hẻm 12/, `no note to a stranger: ${stranger}`);
        const none = await sms('+84911300002', 'phản ánh PA-000101-0001 tới đâu rồi');
        assert.match(none, /chua tim thay|chưa tìm thấy/i, none);
    });

    it('a road report from Zalo with its ward goes to the ward and to the department of roads; a change is told on Zalo', async () => {
        const user = uid('zu');
        const a = await zalo(user, 'đường bị hư có ổ gà lớn ở phường Bến Thành, xe máy té mấy lần rồi');
        const ticket = ticketOf(a);
        assert.ok(ticket, a);
        assert.match(a, /Bến Thành/);
        assert.match(a, /Sở Xây dựng/);
        const mine = (await reportsOf(tok.xd)).map((x) => x.id);
        assert.ok(mine.includes(ticket), 'so-xay-dung sees it');
        assert.ok((await reportsOf(tok.phuong)).map((x) => x.id).includes(ticket), 'the ward sees it');
        const r = await api('POST', `reports/${ticket}/events`, { token: tok.xd, body: { status: 'resolved', note: 'Đã vá ổ gà' } });
        assert.equal(r.status, 202, r.body);
        const got = await waitFor(() => zaloTo(user).find((x) => x.includes('Đã vá ổ gà')), 15000);
        assert.ok(got, 'the Zalo citizen was told');
        assert.match(got, /đã được xử lý xong/);
        ids.zalo = ticket;
    });

    it('a place that never names a ward is filed without one after two questions: the city-wide department of its category takes it', async () => {
        const me = '+84911300003';
        assert.equal(ticketOf(await sms(me, 'den duong hu het roi toi om')), undefined);
        assert.equal(ticketOf(await sms(me, 'gan cho')), undefined);
        const a = await sms(me, 'khong nho ten phuong');
        const ticket = ticketOf(a);
        assert.ok(ticket, a);
        const t = (await reportsOf(tok.xd)).find((x) => x.id === ticket);
        assert.ok(t, 'so-xay-dung (every ward, street lights) has it');
        assert.equal(t.ward, undefined);
        assert.equal(t.category, 'den_duong');
        assert.ok(!(await reportsOf(tok.phuong)).some((x) => x.id === ticket), 'no ward, no ward committee');
    });

    it('ticket numbers are unique across processes filing at once', async () => {
        mc2 = await startMotcua({ redisUrl: redis.url, env: env(fakes.url, offset, tokensFile, { MOTCUA_WORKER_CONSUMER: 'it-pa-2' }) });
        const chat = async (target, i) => {
            const c = await wsConnect(target.wsUrl, { origin: target.url });
            try {
                c.send({ type: 'hello', session: null, last_seq: 0 });
                await c.next('welcome', 5000);
                c.send({ type: 'message', id: `m${i}`, text: `cây xanh đổ chắn ngang đường ở phường Bến Thành số ${i}` });
                const m = await c.next((f) => f.type === 'message' && f.reply_to === `m${i}`, 15000);
                return ticketOf(m.text);
            } finally {
                c.terminate();
            }
        };
        const got = await Promise.all(Array.from({ length: 8 }, (_, i) => chat(i % 2 ? mc2 : mc, i)));
        assert.ok(got.every(Boolean), JSON.stringify(got));
        assert.equal(new Set(got).size, got.length, `distinct: ${got.join(' ')}`);
        // the web chat cannot be told later: its tickets say nothing of a message to come
        const r = await api('POST', `reports/${got[0]}/events`, { token: tok.phuong, body: { status: 'assigned' } });
        assert.equal(r.status, 202, r.body);
        assert.equal(r.json.notification, null);
        const r2 = await mc2.stop();
        assert.equal(r2.code, 0);
        mc2 = null;
    });

    it('closed tickets lose the citizen\'s words, place and identity after retention_days; the ticket and its counts stay', async () => {
        const closed = ids.zalo; // resolved above
        const open = ids.sms; // in progress
        const r = await mc.stop();
        assert.equal(r.code, 0);
        offset += 8 * DAY;
        mc = await startMotcua({ redisUrl: redis.url, env: env(fakes.url, offset, tokensFile, { MOTCUA_WORKER_CONSUMER: 'it-pa-1' }) });
        await waitFor(async () => (await httpRequest(`${mc.url}/healthz`)).status === 200, 10000);
        const stripped = await waitFor(async () => {
            const g = await api('GET', `reports/${closed}`, { token: tok.xd });
            return g.json && g.json.text_removed ? g.json : null;
        }, 10000);
        assert.ok(stripped, 'the closed ticket was stripped');
        assert.equal(stripped.text, undefined);
        assert.equal(stripped.place, undefined);
        assert.equal(stripped.citizen, undefined);
        assert.equal(stripped.status, 'resolved');
        assert.equal(stripped.category, 'duong_hu');
        assert.ok(stripped.history.filter((h) => h.kind === 'citizen').every((h) => h.text === undefined), 'the words are gone from the history');
        const h = await R('HMGET', key('report', partOf(closed), closed), 'user', 'phone', 'text', 'place');
        assert.equal(h.trim(), '', `nothing personal left: ${h}`);
        // still listed (the department's counts), the open one untouched
        assert.ok((await reportsOf(tok.xd)).some((x) => x.id === closed));
        const still = await api('GET', `reports/${open}`, { token: tok.phuong });
        assert.ok(still.json.text, 'an open ticket keeps what is needed to answer the citizen');
    });
});
