// Tests of the fake providers themselves (tests/fakes/providers.mjs) and of the
// webhook signing helpers (tests/lib/sign.mjs): every production path accepted,
// malformed requests refused with the provider's real error shape, programmed
// failures, Zalo token rotation, waitFor, and the CLI mode with its control
// endpoints. Everything listens on 127.0.0.1 and is stopped by the test.

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT, httpRequest } from '../lib/harness.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { fbSignature, zaloSignature, twilioSignature } from '../lib/sign.mjs';

const CFG = {
    fbToken: 'page-token-xyz',
    zalo: { appId: '4291763606161179100', secretKey: 'zalo-app-secret', accessToken: 'zat-0', refreshToken: 'zrt-0' },
    twilio: { sid: 'AC0123456789abcdef0123456789abcdef', token: 'tw-auth-token' },
    kannel: { username: 'motcua', password: 'kannel-pass' },
};
const JSON_CT = { 'Content-Type': 'application/json' };
const FORM_CT = { 'Content-Type': 'application/x-www-form-urlencoded' };

/** POST JSON; resolves {status, headers, body, json}. */
async function postJson(url, obj, headers = {}, opts = {}) {
    const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
    const r = await httpRequest(url, { method: 'POST', headers: { ...JSON_CT, ...headers }, body, ...opts });
    return { ...r, json: safeJson(r.body) };
}

async function postForm(url, params, headers = {}) {
    const body = new URLSearchParams(params).toString();
    const r = await httpRequest(url, { method: 'POST', headers: { ...FORM_CT, ...headers }, body });
    return { ...r, json: safeJson(r.body) };
}

function safeJson(s) {
    try {
        return JSON.parse(s);
    } catch {
        return undefined;
    }
}

/** Asserts Graph's error shape and returns the error object. */
function assertFbError(r, code) {
    assert.equal(r.status, 400, r.body);
    const e = r.json?.error;
    assert.ok(e, `no error object: ${r.body}`);
    assert.equal(typeof e.message, 'string');
    assert.equal(e.type, 'OAuthException');
    assert.equal(e.code, code, r.body);
    assert.equal(typeof e.fbtrace_id, 'string');
    return e;
}

const fbMsg = (over = {}) => ({
    recipient: { id: '6543210987654321' },
    messaging_type: 'RESPONSE',
    message: { text: 'Hồ sơ của bạn đã có kết quả.' },
    ...over,
});

describe('fake providers', { timeout: 60000 }, () => {
    let f;
    let fbUrl, zaloUrl, oauthUrl, znsUrl, twilioUrl, kannelUrl;

    before(async () => {
        f = await startFakes(CFG);
        fbUrl = `${f.url}/v21.0/me/messages?access_token=${CFG.fbToken}`;
        zaloUrl = `${f.url}/v3.0/oa/message/cs`;
        oauthUrl = `${f.url}/v4/oa/access_token`;
        znsUrl = `${f.url}/message/template`;
        twilioUrl = `${f.url}/2010-04-01/Accounts/${CFG.twilio.sid}/Messages.json`;
        kannelUrl = `${f.url}/cgi-bin/sendsms`;
    });
    after(async () => {
        await f.stop();
    });
    beforeEach(() => f.reset());

    const twAuth = (sid = CFG.twilio.sid, tok = CFG.twilio.token) => ({
        Authorization: `Basic ${Buffer.from(`${sid}:${tok}`).toString('base64')}`,
    });
    const kannelQuery = (over = {}) =>
        new URLSearchParams({
            username: CFG.kannel.username,
            password: CFG.kannel.password,
            from: 'UBND-HCM',
            to: '84901234567',
            text: 'Ho so cua ban da co ket qua',
            charset: 'UTF-8',
            coding: '0',
            'dlr-mask': '31',
            'dlr-url': 'http://127.0.0.1:9/webhook/sms/dlr?id=42&status=%d',
            ...over,
        }).toString();

    describe('facebook', () => {
        it('accepts a send and records it', async () => {
            const quick = [
                { content_type: 'text', title: 'Khai sinh', payload: 'P_KS' },
                { content_type: 'text', title: 'Tra cứu hồ sơ', payload: 'P_TRA' },
            ];
            const r = await postJson(fbUrl, fbMsg({ message: { text: 'Chọn thủ tục', quick_replies: quick } }));
            assert.equal(r.status, 200, r.body);
            assert.deepEqual(r.json, { recipient_id: '6543210987654321', message_id: 'm_1' });
            const r2 = await postJson(fbUrl, fbMsg({ messaging_type: 'MESSAGE_TAG', tag: 'ACCOUNT_UPDATE' }));
            assert.equal(r2.json.message_id, 'm_2');
            const recs = f.requests('facebook');
            assert.equal(recs.length, 2);
            assert.equal(recs[0].method, 'POST');
            assert.equal(recs[0].path, '/v21.0/me/messages');
            assert.equal(recs[0].query.access_token, CFG.fbToken);
            assert.equal(recs[0].headers['content-type'], 'application/json');
            assert.deepEqual(recs[0].body.message.quick_replies, quick);
            assert.equal(JSON.parse(recs[0].rawBody).message.text, 'Chọn thủ tục');
            assert.equal(recs[0].status, 200);
            assert.equal(typeof recs[0].time, 'number');
            assert.equal(f.count('facebook'), 2);
        });

        it('counts text and titles in code points', async () => {
            const ok = 'ệ'.repeat(1999) + '😀'; // 2000 code points, 4001 UTF-16 units, 6002 bytes
            assert.equal((await postJson(fbUrl, fbMsg({ message: { text: ok } }))).status, 200);
            const e = assertFbError(await postJson(fbUrl, fbMsg({ message: { text: `${ok}.` } })), 100);
            assert.match(e.message, /2000/);
            const title20 = 'Đăng ký thường trú!!'; // 20 code points
            assert.equal([...title20].length, 20);
            const qr = (title) => ({ text: 'x', quick_replies: [{ content_type: 'text', title, payload: 'P' }] });
            assert.equal((await postJson(fbUrl, fbMsg({ message: qr(title20) }))).status, 200);
            assertFbError(await postJson(fbUrl, fbMsg({ message: qr(`${title20}x`) })), 100);
        });

        it('refuses malformed sends with the Graph error shape', async () => {
            const bad = async (url, obj, code, re, headers) => {
                const e = assertFbError(await postJson(url, obj, headers), code);
                if (re) assert.match(e.message, re);
            };
            await bad(`${f.url}/v21.0/me/messages?access_token=wrong`, fbMsg(), 190);
            await bad(`${f.url}/v21.0/me/messages`, fbMsg(), 2500);
            await bad(fbUrl, fbMsg({ recipient: {} }), 100, /recipient/);
            await bad(fbUrl, fbMsg({ messaging_type: 'NON_PROMOTIONAL_SUBSCRIPTION' }), 100, /messaging_type/);
            await bad(fbUrl, fbMsg({ messaging_type: 'MESSAGE_TAG' }), 100, /tag/);
            await bad(fbUrl, fbMsg({ messaging_type: 'MESSAGE_TAG', tag: 'APPLICATION_UPDATE' }), 100, /tag/);
            await bad(fbUrl, fbMsg({ tag: 'ACCOUNT_UPDATE' }), 100, /tag/);
            await bad(fbUrl, fbMsg({ message: {} }), 100, /text/);
            await bad(fbUrl, fbMsg({ message: undefined }), 100, /message/);
            const many = Array.from({ length: 14 }, (_, i) => ({ content_type: 'text', title: `T${i}`, payload: `P${i}` }));
            await bad(fbUrl, fbMsg({ message: { text: 'x', quick_replies: many } }), 100, /13/);
            await bad(fbUrl, fbMsg({ message: { text: 'x', quick_replies: [{ content_type: 'location' }] } }), 100, /content_type/);
            await bad(fbUrl, fbMsg({ message: { text: 'x', quick_replies: [{ content_type: 'text', title: 'A' }] } }), 100, /payload/);
            await bad(fbUrl, '{"recipient":', 100, /JSON/);
            await bad(fbUrl, fbMsg(), 100, /Content-Type/, { 'Content-Type': 'text/plain' });
            // Refused requests are recorded too (with what was answered) and consume nothing.
            const recs = f.requests('facebook');
            assert.equal(recs.length, 14);
            assert.ok(recs.every((r) => r.status === 400 && r.valid === false));
        });

        it('serves only the production path', async () => {
            const r = await postJson(`${f.url}/me/messages?access_token=${CFG.fbToken}`, fbMsg());
            assert.equal(r.status, 404);
            assert.equal(f.count('facebook'), 0);
            assert.equal(f.count('unknown'), 1);
        });
    });

    describe('zalo', () => {
        const zaloMsg = { recipient: { user_id: '2468013579' }, message: { text: 'Xin chào, tôi có thể giúp gì?' } };

        it('accepts a consultation message with the current token', async () => {
            const r = await postJson(zaloUrl, zaloMsg, { access_token: CFG.zalo.accessToken });
            assert.equal(r.status, 200);
            assert.equal(r.json.error, 0);
            assert.equal(r.json.message, 'Success');
            assert.equal(r.json.data.user_id, '2468013579');
            assert.match(r.json.data.message_id, /^[0-9a-f]{24}$/);
            const [rec] = f.requests('zalo');
            assert.equal(rec.headers.access_token, CFG.zalo.accessToken);
            assert.deepEqual(rec.body, zaloMsg);
        });

        it('answers errors with HTTP 200 and a negative code, as Zalo does', async () => {
            let r = await postJson(zaloUrl, zaloMsg, { access_token: 'nope' });
            assert.equal(r.status, 200);
            assert.deepEqual(r.json, { error: -216, message: 'Access token is invalid' });
            r = await postJson(zaloUrl, zaloMsg);
            assert.equal(r.json.error, -216);
            r = await postJson(zaloUrl, { message: zaloMsg.message }, { access_token: CFG.zalo.accessToken });
            assert.equal(r.status, 200);
            assert.equal(r.json.error, -201);
            r = await postJson(zaloUrl, { recipient: zaloMsg.recipient, message: {} }, { access_token: CFG.zalo.accessToken });
            assert.equal(r.json.error, -201);
        });

        it('rotates both tokens on refresh; the refresh token is single use', async () => {
            const refresh = (rt, headers = { secret_key: CFG.zalo.secretKey }, over = {}) =>
                postForm(oauthUrl, { app_id: CFG.zalo.appId, grant_type: 'refresh_token', refresh_token: rt, ...over }, headers);
            let r = await refresh(CFG.zalo.refreshToken);
            assert.equal(r.status, 200, r.body);
            const { access_token: at1, refresh_token: rt1, expires_in } = r.json;
            assert.equal(expires_in, '90000');
            assert.notEqual(at1, CFG.zalo.accessToken);
            assert.notEqual(rt1, CFG.zalo.refreshToken);
            assert.deepEqual(f.zaloTokens(), { accessToken: at1, refreshToken: rt1 });
            assert.equal(f.zaloRefreshes().length, 1);

            // The old access token is now invalid, the new one works.
            r = await postJson(zaloUrl, { recipient: { user_id: '1' }, message: { text: 'a' } }, { access_token: CFG.zalo.accessToken });
            assert.equal(r.json.error, -216);
            r = await postJson(zaloUrl, { recipient: { user_id: '1' }, message: { text: 'a' } }, { access_token: at1 });
            assert.equal(r.json.error, 0);

            // Reusing the burnt refresh token fails and changes nothing.
            r = await refresh(CFG.zalo.refreshToken);
            assert.equal(r.status, 200);
            assert.equal(r.json.error, -14014);
            assert.match(r.json.error_reason, /already been used/);
            assert.equal(r.json.access_token, undefined);
            assert.deepEqual(f.zaloTokens(), { accessToken: at1, refreshToken: rt1 });

            // Wrong secret, app or grant: refused.
            assert.equal((await refresh(rt1, { secret_key: 'bad' })).json.error, -14014);
            assert.equal((await refresh(rt1, undefined, { app_id: '1' })).json.error, -14014);
            assert.equal((await refresh(rt1, undefined, { grant_type: 'authorization_code' })).json.error, -14014);

            // The second refresh with the new token works again.
            r = await refresh(rt1);
            assert.ok(r.json.access_token && r.json.access_token !== at1);
            assert.equal(f.zaloRefreshes().length, 2);
            assert.equal(f.count('zalo-oauth'), 6);
        });

        it('accepts a ZNS template message and checks its fields', async () => {
            const zns = { phone: '84901234567', template_id: '231456', template_data: { ma_ho_so: 'HS-2025-0001' }, tracking_id: 'n-77' };
            let r = await postJson(znsUrl, zns, { access_token: CFG.zalo.accessToken });
            assert.equal(r.json.error, 0, r.body);
            assert.match(r.json.data.msg_id, /^[0-9a-f]+$/);
            assert.equal(r.json.data.quota.remainingQuota, '499');
            const bad = async (over, code, token = CFG.zalo.accessToken) => {
                const x = await postJson(znsUrl, { ...zns, ...over }, { access_token: token });
                assert.equal(x.status, 200);
                assert.equal(x.json.error, code, x.body);
            };
            await bad({ phone: '+84901234567' }, -108);
            await bad({ phone: '0901234567' }, -108);
            await bad({ template_id: '' }, -109);
            await bad({ template_data: {} }, -111);
            await bad({ tracking_id: undefined }, -112);
            await bad({}, -124, 'stale');
            assert.equal(f.count('zns'), 7);
        });
    });

    describe('twilio', () => {
        const form = { To: '+84901234567', From: '+15005550006', Body: 'Hồ sơ HS-1 đã có kết quả', StatusCallback: 'http://127.0.0.1:9/webhook/sms/status' };

        it('accepts a message with Basic auth', async () => {
            const r = await postForm(twilioUrl, form, twAuth());
            assert.equal(r.status, 201, r.body);
            assert.match(r.json.sid, /^SM[0-9a-f]{32}$/);
            assert.equal(r.json.status, 'queued');
            assert.equal(r.json.to, form.To);
            assert.equal(r.json.num_segments, '1');
            const [rec] = f.requests('twilio');
            assert.deepEqual(rec.body, form);
        });

        it('refuses bad auth, numbers and bodies with Twilio error objects', async () => {
            const bad = async (params, headers, status, code) => {
                const r = await postForm(twilioUrl, params, headers);
                assert.equal(r.status, status, r.body);
                assert.equal(r.json.code, code);
                assert.equal(r.json.status, status);
                assert.equal(typeof r.json.message, 'string');
                assert.match(r.json.more_info, new RegExp(`${code}$`));
            };
            await bad(form, {}, 401, 20003);
            await bad(form, twAuth(CFG.twilio.sid, 'wrong'), 401, 20003);
            await bad({ ...form, To: '0901234567' }, twAuth(), 400, 21211);
            await bad({ ...form, From: '' }, twAuth(), 400, 21603);
            await bad({ ...form, Body: '' }, twAuth(), 400, 21602);
            await bad({ ...form, Body: 'x'.repeat(1601) }, twAuth(), 400, 21617);
            await bad({ ...form, StatusCallback: 'ftp://x' }, twAuth(), 400, 21609);
            const r = await postJson(twilioUrl, form, twAuth());
            assert.equal(r.status, 400);
            const other = await postForm(`${f.url}/2010-04-01/Accounts/ACother/Messages.json`, form, twAuth());
            assert.equal(other.status, 404);
        });
    });

    describe('kannel', () => {
        it('accepts sendsms with 202', async () => {
            const r = await httpRequest(`${kannelUrl}?${kannelQuery()}`);
            assert.equal(r.status, 202);
            assert.equal(r.body, '0: Accepted for delivery');
            const accented = await httpRequest(`${kannelUrl}?${kannelQuery({ text: 'Hồ sơ đã có kết quả', coding: '2' })}`);
            assert.equal(accented.status, 202);
            const [rec] = f.requests('kannel');
            assert.equal(rec.method, 'GET');
            assert.equal(rec.query.to, '84901234567');
            assert.equal(rec.query['dlr-mask'], '31');
        });

        it('refuses bad credentials and parameters', async () => {
            const bad = async (over, status, re) => {
                const r = await httpRequest(`${kannelUrl}?${kannelQuery(over)}`);
                assert.equal(r.status, status, r.body);
                assert.match(r.body, re);
            };
            await bad({ password: 'x' }, 403, /^Authorization failed for sendsms$/);
            await bad({ to: '' }, 400, /receiver/);
            await bad({ text: '' }, 400, /text/);
            await bad({ coding: '7' }, 400, /coding/);
            await bad({ text: 'Hồ sơ', coding: '0' }, 400, /GSM/);
            await bad({ 'dlr-url': '' }, 400, /dlr-url/);
            const post = await httpRequest(`${kannelUrl}?${kannelQuery()}`, { method: 'POST', body: '' });
            assert.equal(post.status, 404);
        });
    });

    describe('fail()', () => {
        it('answers 500 for the next `times` sends, then normally', async () => {
            f.fail('facebook', { status: 500, times: 2 });
            const a = await postJson(fbUrl, fbMsg());
            const b = await postJson(fbUrl, fbMsg());
            const c = await postJson(fbUrl, fbMsg());
            assert.equal(a.status, 500);
            assert.equal(a.json.error.is_transient, true);
            assert.equal(b.status, 500);
            assert.equal(c.status, 200);
            assert.deepEqual(f.requests('facebook').map((r) => r.failed), [true, true, undefined]);
        });

        it('answers 429 with Retry-After', async () => {
            f.fail('twilio', { status: 429, retryAfter: 3 });
            const r = await postForm(twilioUrl, { To: '+84901234567', From: 'X', Body: 'a' }, twAuth());
            assert.equal(r.status, 429);
            assert.equal(r.headers['retry-after'], '3');
            assert.equal(r.json.code, 20429);
        });

        it('gives Facebook\'s outside-window error exactly', async () => {
            f.fail('facebook', { code: 10 });
            const r = await postJson(fbUrl, fbMsg({ messaging_type: 'UPDATE' }));
            const e = assertFbError(r, 10);
            assert.equal(e.message, '(#10) This message is sent outside of allowed window.');
            assert.equal(e.error_subcode, 2018278);
        });

        it('gives Zalo error codes with HTTP 200', async () => {
            f.fail('zalo', { code: -230 });
            f.fail('zalo', { code: -32 });
            const msg = { recipient: { user_id: '1' }, message: { text: 'a' } };
            const h = { access_token: CFG.zalo.accessToken };
            const a = await postJson(zaloUrl, msg, h);
            const b = await postJson(zaloUrl, msg, h);
            const c = await postJson(zaloUrl, msg, h);
            assert.equal(a.status, 200);
            assert.deepEqual(a.json, { error: -230, message: 'User has not interacted with the OA in the past 7 days' });
            assert.equal(b.json.error, -32);
            assert.equal(c.json.error, 0);
        });

        it('holds an answer past the client timeout', async () => {
            f.fail('kannel', { delayMs: 1500 });
            const t0 = Date.now();
            await assert.rejects(httpRequest(`${kannelUrl}?${kannelQuery()}`, { timeoutMs: 200 }), /timeout/);
            assert.ok(Date.now() - t0 < 1000);
            assert.equal(f.count('kannel'), 1);
            const r = await httpRequest(`${kannelUrl}?${kannelQuery()}`);
            assert.equal(r.status, 202);
        });

        it('delays a normal answer when only delayMs is given', async () => {
            f.fail('facebook', { delayMs: 300 });
            const t0 = Date.now();
            const r = await postJson(fbUrl, fbMsg());
            assert.ok(Date.now() - t0 >= 280);
            assert.equal(r.status, 200);
            assert.equal(r.json.message_id, 'm_1');
        });

        it('passes a given body through and is not consumed by malformed requests', async () => {
            f.fail('zns', { status: 503, body: 'upstream down' });
            const bad = await postJson(znsUrl, { phone: '+849' }, { access_token: CFG.zalo.accessToken });
            assert.equal(bad.json.error, -108);
            const good = await postJson(
                znsUrl,
                { phone: '84901234567', template_id: '1', template_data: { a: 'b' }, tracking_id: 't' },
                { access_token: CFG.zalo.accessToken },
            );
            assert.equal(good.status, 503);
            assert.equal(good.body, 'upstream down');
        });

        it('fails a refresh without rotating the tokens', async () => {
            f.fail('zalo-oauth', { status: 500 });
            const form = { app_id: CFG.zalo.appId, grant_type: 'refresh_token', refresh_token: CFG.zalo.refreshToken };
            const r = await postForm(oauthUrl, form, { secret_key: CFG.zalo.secretKey });
            assert.equal(r.status, 500);
            assert.deepEqual(f.zaloTokens(), { accessToken: CFG.zalo.accessToken, refreshToken: CFG.zalo.refreshToken });
            const again = await postForm(oauthUrl, form, { secret_key: CFG.zalo.secretKey });
            assert.ok(again.json.access_token);
            assert.equal(f.zaloRefreshes().length, 1);
        });

        it('rejects nonsense specs and names', () => {
            assert.throws(() => f.fail('facebook', {}), /status, code, body or delayMs/);
            assert.throws(() => f.fail('facebook', { status: 42 }), /HTTP status/);
            assert.throws(() => f.fail('telegram', { status: 500 }), /unknown fake provider/);
        });
    });

    describe('waitFor', () => {
        it('resolves when n requests arrived', async () => {
            const w = f.waitFor('facebook', 2, 3000);
            await postJson(fbUrl, fbMsg());
            await postJson(fbUrl, fbMsg({ recipient: { id: '2' } }));
            const recs = await w;
            assert.equal(recs.length, 2);
            assert.equal(recs[1].body.recipient.id, '2');
            assert.equal((await f.waitFor('facebook', 1, 10)).length, 1); // already there
        });

        it('rejects on timeout', async () => {
            await postJson(fbUrl, fbMsg());
            await assert.rejects(f.waitFor('facebook', 3, 150), /1 of 3 requests within 150 ms/);
        });
    });
});

describe('fake providers CLI', { timeout: 30000 }, () => {
    it('prints its port, serves the providers and the control endpoints, stops on SIGTERM', async () => {
        const script = path.join(ROOT, 'tests', 'fakes', 'providers.mjs');
        const child = spawn(process.execPath, [script, '--port', '0', '--config', JSON.stringify({ fbToken: 'cli-token' })], {
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        try {
            const line = await new Promise((resolve, reject) => {
                let buf = '';
                const t = setTimeout(() => reject(new Error(`no port line; got ${buf}`)), 10000);
                child.stdout.on('data', (c) => {
                    buf += c;
                    const i = buf.indexOf('\n');
                    if (i >= 0) {
                        clearTimeout(t);
                        resolve(buf.slice(0, i));
                    }
                });
                child.once('exit', (code) => reject(new Error(`exited ${code}`)));
            });
            const { port } = JSON.parse(line);
            assert.ok(Number.isInteger(port) && port > 0);
            const base = `http://127.0.0.1:${port}`;
            const send = () => postJson(`${base}/v21.0/me/messages?access_token=cli-token`, fbMsg());

            assert.equal((await send()).status, 200);
            let r = await httpRequest(`${base}/_fake/requests?name=facebook`);
            let j = JSON.parse(r.body);
            assert.equal(j.count, 1);
            assert.equal(j.requests[0].body.recipient.id, '6543210987654321');

            r = await postJson(`${base}/_fake/fail`, { name: 'facebook', code: 10 });
            assert.equal(r.status, 200);
            r = await send();
            assert.equal(r.status, 400);
            assert.equal(r.json.error.error_subcode, 2018278);
            assert.equal((await postJson(`${base}/_fake/fail`, { name: 'nope', status: 500 })).status, 400);

            r = await httpRequest(`${base}/_fake/zalo/tokens`);
            assert.equal(JSON.parse(r.body).refreshes, 0);

            assert.equal((await httpRequest(`${base}/_fake/reset`, { method: 'POST' })).status, 200);
            j = JSON.parse((await httpRequest(`${base}/_fake/requests?name=facebook`)).body);
            assert.equal(j.count, 0);
        } finally {
            const exited = new Promise((resolve) => {
                if (child.exitCode !== null) resolve(child.exitCode);
                else child.once('exit', (code) => resolve(code));
            });
            process.kill(child.pid, 'SIGTERM');
            assert.equal(await exited, 0);
        }
    });

    it('refuses unknown arguments', async () => {
        const script = path.join(ROOT, 'tests', 'fakes', 'providers.mjs');
        const child = spawn(process.execPath, [script, '--bogus'], { stdio: ['ignore', 'pipe', 'pipe'] });
        const code = await new Promise((resolve) => child.once('exit', resolve));
        assert.equal(code, 2);
    });
});

describe('webhook signatures (tests/lib/sign.mjs)', () => {
    it('computes Twilio\'s published example', () => {
        const params = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
        const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
        assert.equal(twilioSignature('12345', url, params), 'RSOYDt4T1cUTdK1PDd93/VVr8B8=');
        assert.equal(twilioSignature('12345', url, new URLSearchParams(Object.entries(params).reverse())), 'RSOYDt4T1cUTdK1PDd93/VVr8B8=');
        assert.notEqual(twilioSignature('12345', url, { ...params, Digits: '9' }), 'RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    });

    // Expected values computed with Python's hmac/hashlib over the same bytes.
    it('signs Facebook webhooks with HMAC-SHA256 over the raw body', () => {
        const body = '{"object":"page","entry":[{"id":"PAGE","messaging":[{"message":{"text":"Xin chào"}}]}]}';
        const want = 'sha256=86ef9b92c40db91593dcf013ed13d75a30bada50a982ac5c3cdaa613d3ef558d';
        assert.equal(fbSignature('app-secret-123', body), want);
        assert.equal(fbSignature('app-secret-123', Buffer.from(body, 'utf8')), want);
        assert.notEqual(fbSignature('app-secret-124', body), want);
    });

    it('signs Zalo webhooks with plain SHA-256 of app_id + body + timestamp + OA secret', () => {
        const body = '{"app_id":"4291763606161179100","event_name":"user_send_text","timestamp":"1677721200000","message":{"text":"Tôi cần làm CCCD"}}';
        assert.equal(
            zaloSignature('4291763606161179100', body, '1677721200000', 'oa-secret-xyz'),
            'mac=f466b42afcdf04fbc9942a694bb2be9d4ad99d6439d3cdd908c97c58c79b2563',
        );
        assert.notEqual(
            zaloSignature('4291763606161179100', body, '1677721200001', 'oa-secret-xyz'),
            'mac=f466b42afcdf04fbc9942a694bb2be9d4ad99d6439d3cdd908c97c58c79b2563',
        );
    });
});
