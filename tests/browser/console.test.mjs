// Browser test: the officers' console (gateway/www/console.html served at GET /console)
// in Debian's Chromium, driven by playwright-core, against the real motcua (role all:
// API, scheduler and sender), a private Redis and the fake providers of
// tests/fakes/providers.mjs. Never downloads a browser; every request off loopback is
// aborted; any uncaught error in the page fails the test.
//
//   node --test tests/browser/console.test.mjs         (from the repo root)
//
// Issue 6, "Done when": sign in; mark a dossier ready_for_pickup and see the
// subscriber's notification arrive at the fake Zalo; create a template; upload a 50-row
// CSV with 3 bad rows and see exactly those 3 reported; send a broadcast to a ward
// after checking the SMS segment count of the preview (computed here, independently,
// from the text); watch progress reach 100%; a token without `broadcast` sees the
// section disabled and the API answers 403; a wrong token cannot sign in; the page fits
// 375 px. Screenshots: var/test/console-*.png. Page hooks: the top comment of the page.
//
// The gateway's clock is set to 12:00 in Asia/Ho_Chi_Minh ([server] test_clock) so that
// SMS quiet hours never hold a message whatever the time the test runs.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, makeTempDir, removeTempDir, startRedis, startMotcua, httpRequest, waitFor, sleep, redisCli } from '../lib/harness.mjs';
import { key, partOf } from '../lib/keys.mjs';
import { startFakes } from '../fakes/providers.mjs';
import { FB, ZALO, TW, HOUR, HCM_OFFSET, offsetTo, providerEnv } from '../lib/providers-env.mjs';
import { zaloSignature } from '../lib/sign.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'var', 'test');
const DEPT = 'ubnd-ben-thanh';
const WARD = '26743'; // Bến Thành, vi-nlp/data/wards.csv
const OTHER_WARD = '26740'; // Sài Gòn: not in the token's areas
const CODE = '000.00.25.H29-251120-0042';
const DOSSIER_PHONE = '+84987650042';
const WARD_PHONES = ['+84911000001', '+84911000002', '+84911000003'];
const ZUSER = `zc${process.pid}${Date.now().toString(36)}`;
const TPL = { id: 'nhan-ket-qua', name: 'Mời nhận kết quả', text: 'Chào ((ten)), hồ sơ ((ma)) đã có kết quả, mời đến nhận.' };
// ≈200 characters: 2 SMS segments unaccented (GSM-7), 3 if it were sent accented (UCS-2).
const BC_TEXT =
    'Thông báo của UBND phường Bến Thành: ngày 25/11 tạm ngừng cấp điện từ 8 giờ đến 17 giờ để bảo trì lưới điện. ' +
    'Đề nghị người dân chủ động sắp xếp sinh hoạt. Xin cảm ơn bà con!';

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const newToken = () => crypto.randomBytes(18).toString('base64url');

/* ---------------------------------------------- SMS facts, computed here on purpose */

// GSM 03.38 default alphabet and its extension table (an extension character costs 2).
const GSM7 = new Set(
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXT = new Set('^{}\\[~]|€\f');

/** Vietnamese without diacritics: NFD, combining marks dropped, đ → d. */
const unaccent = (s) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/đ/g, 'd').replace(/Đ/g, 'D');

/** {encoding, segments} of an SMS body: GSM-7 160 / 153 per part, else UCS-2 70 / 67. */
function smsSegments(text) {
    let septets = 0;
    let gsm = true;
    for (const ch of text) {
        if (GSM7.has(ch)) septets += 1;
        else if (GSM7_EXT.has(ch)) septets += 2;
        else gsm = false;
    }
    if (gsm) return { encoding: 'GSM-7', segments: septets <= 160 ? 1 : Math.ceil(septets / 153) };
    const units = text.length; // UTF-16 code units
    return { encoding: 'UCS-2', segments: units <= 70 ? 1 : Math.ceil(units / 67) };
}

/* ------------------------------------------------------------------ the CSV */

const BAD_ROWS = new Map([
    [8, { phone: 'abc', channel: 'sms' }], // not a phone number
    [22, { phone: '+84912000020', channel: 'fax' }], // no such channel
    [42, { phone: '+12025550140', channel: 'sms' }], // not a Vietnamese mobile
]);

/**
 * 50 data rows (spreadsheet rows 2..51) with a UTF-8 BOM, CRLF line ends, quoted
 * fields holding commas and doubled quotes; rows 8, 22 and 42 are bad. Returns the
 * file's bytes and the phones of the good rows.
 */
function bulkCsv() {
    const q = (s) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const lines = ['phone,channel,ten,ma'];
    const good = [];
    for (let i = 0; i < 50; i++) {
        const row = i + 2; // the header is row 1
        const ten = i % 5 === 0 ? `Nguyễn, Văn "Tư" ${i}` : `Trần Thị ${i}`;
        const ma = `HS-${String(i).padStart(3, '0')}`;
        const bad = BAD_ROWS.get(row);
        const phone = bad ? bad.phone : `+849120000${String(i).padStart(2, '0')}`;
        if (!bad) good.push(phone);
        lines.push([phone, bad ? bad.channel : 'sms', q(ten), ma].join(','));
    }
    return { bytes: Buffer.from(`\ufeff${lines.join('\r\n')}\r\n`, 'utf8'), good };
}

/* -------------------------------------------------------------------- test */

describe('officers console in Chromium', { timeout: 120000 }, () => {
    let dir, redis, fakes, mc, browser, offset;
    const tok = { full: newToken(), nobc: newToken() };
    const offLoopback = []; // requests a page tried to make off 127.0.0.1
    const pageErrors = []; // uncaught exceptions in a page
    let context, page; // the full token's session, shared by the steps in order

    async function api(method, p, { token = tok.full, body } = {}) {
        const headers = { authorization: `Bearer ${token}` };
        if (body !== undefined) headers['content-type'] = 'application/json';
        const r = await httpRequest(`${mc.url}/api/v1/${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        let json = null;
        try {
            json = JSON.parse(r.body);
        } catch {
            /* not JSON */
        }
        return { status: r.status, json, body: r.body };
    }

    async function newPage(viewport) {
        const ctx = await browser.newContext({ viewport, locale: 'vi-VN', timezoneId: 'Asia/Ho_Chi_Minh' });
        await ctx.route('**/*', (route) => {
            const u = new URL(route.request().url());
            if (u.hostname === '127.0.0.1' || u.protocol === 'data:' || u.protocol === 'blob:') return route.continue();
            offLoopback.push(u.href);
            return route.abort();
        });
        const pg = await ctx.newPage();
        pg.on('pageerror', (e) => pageErrors.push(String(e)));
        pg.on('dialog', (d) => d.accept());
        pg.setDefaultTimeout(10000);
        return { ctx, pg };
    }

    async function signIn(pg, token) {
        const resp = await pg.goto(`${mc.url}/console`, { waitUntil: 'load' });
        assert.equal(resp.status(), 200, 'GET /console serves the page');
        await pg.fill('#signin-token', token);
        await pg.click('#signin-submit');
        await pg.waitForSelector('#app:not([hidden])');
    }

    const shot = (pg, name, opts = {}) => pg.screenshot({ path: path.join(SHOTS, `console-${name}.png`), ...opts });
    const sent = (name, pred) => fakes.requests(name).filter((r) => r.valid && !r.failed && r.status < 300 && pred(r));
    const smsTo = (to) => sent('twilio', (r) => r.body.To === to);

    /** A signed Zalo webhook from `user` at the gateway's time (opens the 7-day window). */
    async function zaloFrom(user, text) {
        const ts = String(Date.now() + offset);
        const raw = JSON.stringify({
            app_id: ZALO.appId,
            user_id_by_app: `app-${user}`,
            event_name: 'user_send_text',
            timestamp: ts,
            sender: { id: user },
            recipient: { id: ZALO.oaId },
            message: { text, msg_id: `m${Date.now()}` },
        });
        return httpRequest(`${mc.url}/webhook/zalo`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-zevent-signature': zaloSignature(ZALO.appId, raw, ts, ZALO.oaKey) },
            body: raw,
        });
    }

    before(async () => {
        fs.mkdirSync(SHOTS, { recursive: true });
        dir = makeTempDir('motcua-console-');
        const tokens = path.join(dir, 'tokens.txt');
        fs.writeFileSync(
            tokens,
            [
                `${DEPT} ${sha256(tok.full)} dossiers:write,notify,broadcast,read ${WARD}`,
                `${DEPT} ${sha256(tok.nobc)} dossiers:write,notify,read ${WARD}  # no broadcast`,
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
        mc = await startMotcua({
            redisUrl: redis.url,
            env: providerEnv(fakes.url, {
                MOTCUA_ADMIN_TOKENS_FILE: tokens,
                MOTCUA_SMS_UNACCENTED: 'true',
                MOTCUA_SCHEDULER_RATE_SMS: '0',
                MOTCUA_SCHEDULER_RATE_FACEBOOK: '0',
                MOTCUA_SCHEDULER_RATE_ZALO: '0',
                MOTCUA_SERVER_TEST_CLOCK: 'true',
                MOTCUA_TEST_CLOCK_OFFSET_MS: String(offset),
                MOTCUA_WORKER_CONSUMER: 'br-console',
                MOTCUA_CONSOLE_TOKEN_SIGN_IN: 'true', // this test signs in with tokens
            }),
        });
        browser = await chromium.launch({
            executablePath: CHROMIUM,
            headless: true,
            args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        });

        // A dossier, a citizen on Zalo who wrote to the OA (window open) and subscribes to
        // it and to the ward, and three SMS subscribers of the ward — all through the API.
        const put = await api('PUT', `dossiers/${CODE}`, { body: { procedure: 'khai_sinh', status: 'received', phone: DOSSIER_PHONE, expected_at: '2026-12-01' } });
        assert.equal(put.status, 201, put.body);
        assert.equal((await zaloFrom(ZUSER, 'xin chào')).status, 200);
        await waitFor(() => fakes.requests('zalo').some((r) => r.body?.recipient?.user_id === ZUSER), 10000);
        for (const body of [
            { channel: 'zalo', user_id: ZUSER, dossier: CODE },
            { channel: 'zalo', user_id: ZUSER, ward: WARD },
            ...WARD_PHONES.map((phone) => ({ phone, ward: WARD })),
        ]) {
            const r = await api('POST', 'subscriptions', { body });
            assert.ok(r.status === 200 || r.status === 201, `subscription ${JSON.stringify(body)}: ${r.status} ${r.body}`);
        }
        ({ ctx: context, pg: page } = await newPage({ width: 1280, height: 900 }));
    });

    after(async () => {
        try {
            if (browser) await browser.close();
        } finally {
            try {
                if (mc) {
                    const alive = mc.alive();
                    const r = await mc.stop();
                    const bad = mc.stderrLines.filter((l) => /Sanitizer|runtime error/.test(l));
                    assert.deepEqual(bad, [], 'clean sanitizer output');
                    if (alive) assert.equal(r.code, 0, `clean exit: ${mc.stderrLines.slice(-20).join('\n')}`);
                }
            } finally {
                try {
                    if (fakes) await fakes.stop();
                    if (redis) await redis.stop();
                } finally {
                    if (dir) removeTempDir(dir);
                }
            }
        }
        assert.deepEqual(offLoopback, [], 'the pages load nothing from outside');
        assert.deepEqual(pageErrors, [], 'no uncaught errors in the pages');
    });

    it('a wrong token cannot sign in; the department token can (GET /me), kept in sessionStorage only', async () => {
        const resp = await page.goto(`${mc.url}/console`, { waitUntil: 'load' });
        assert.equal(resp.status(), 200);
        assert.match(resp.headers()['content-type'], /^text\/html/);
        assert.match(resp.headers()['content-security-policy'] || '', /default-src 'none'/);
        await page.fill('#signin-token', newToken());
        await page.click('#signin-submit');
        await page.waitForFunction(() => document.querySelector('#signin-error').textContent.trim() !== '');
        assert.match(await page.textContent('#signin-error'), /không đúng|wrong/i);
        assert.equal(await page.isHidden('#app'), true, 'still signed out');
        assert.equal(await page.evaluate(() => sessionStorage.length + localStorage.length), 0, 'nothing stored');
        await shot(page, 'signin-wrong');

        await page.fill('#signin-token', tok.full);
        await page.click('#signin-submit');
        await page.waitForSelector('#app:not([hidden])');
        assert.equal(await page.textContent('#me-dept'), DEPT);
        const scopes = await page.$$eval('#me-scopes [data-scope]', (l) => l.map((e) => e.dataset.scope).sort());
        assert.deepEqual(scopes, ['broadcast', 'dossiers:write', 'notify', 'read']);
        assert.equal(await page.evaluate(() => sessionStorage.getItem('motcua.console.token')), tok.full);
        assert.equal(await page.evaluate(() => localStorage.length), 0, 'never in localStorage');
        await page.reload({ waitUntil: 'load' });
        await page.waitForSelector('#app:not([hidden])'); // the session survives a reload of the tab
    });

    it('dossier: search, history, who is notified; ready_for_pickup reaches the Zalo subscriber', async () => {
        await page.click('#tab-dossiers');
        await page.fill('#dossier-q', '251120-0042'.toLowerCase());
        await page.click('#dossier-search');
        await page.waitForSelector(`#dossier-detail[data-code="${CODE}"]:not([hidden])`);
        await page.waitForSelector('#dossier-notify li[data-channel="zalo"]');
        const notify = await page.$$eval('#dossier-notify li[data-channel]', (l) => l.map((e) => ({ ch: e.dataset.channel, text: e.textContent })));
        assert.ok(notify.some((n) => n.ch === 'sms'), `the dossier's phone by SMS: ${JSON.stringify(notify)}`);
        assert.ok(!notify.some((n) => n.text.includes(ZUSER) || n.text.includes(DOSSIER_PHONE)), 'recipients are masked');

        await page.selectOption('#dossier-status', 'ready_for_pickup');
        await page.fill('#dossier-note', 'Mang theo CCCD bản chính');
        await page.click('#dossier-post');
        await page.waitForSelector('#dossier-sent li[data-id]');
        const zaloGot = () => sent('zalo', (r) => r.body?.recipient?.user_id === ZUSER && String(r.body?.message?.text || '').includes(CODE));
        await waitFor(() => zaloGot().length > 0, 15000); // an empty list would be truthy
        await sleep(300); // room for a second copy, which must not come
        const toZalo = zaloGot();
        assert.equal(toZalo.length, 1, 'the Zalo subscriber got the status change once');
        assert.match(toZalo[0].body.message.text, /Mang theo CCCD bản chính/);
        await waitFor(() => smsTo(DOSSIER_PHONE).length, 15000);
        assert.equal(smsTo(DOSSIER_PHONE).length, 1, 'and the dossier phone by SMS');
        // the page follows the notifications to the provider
        await page.waitForFunction(() => {
            const l = [...document.querySelectorAll('#dossier-sent li[data-id]')];
            return l.length >= 2 && l.every((e) => ['sent', 'delivered'].includes(e.dataset.status));
        }, null, { timeout: 15000 });
        await page.waitForSelector('#dossier-history li[data-status="ready_for_pickup"]');
        assert.equal(await page.getAttribute('#dossier-status-now', 'data-status'), 'ready_for_pickup');
        await shot(page, 'dossier', { fullPage: true });
    });

    it('templates: an API error is shown next to its field; the template is created', async () => {
        await page.click('#tab-templates');
        await page.fill('#tpl-id', TPL.id);
        await page.fill('#tpl-name', TPL.name);
        await page.fill('#tpl-text', TPL.text);
        await page.fill('#tpl-placeholders', 'ten'); // ((ma)) is used but not declared
        await page.click('#tpl-save');
        await page.waitForFunction(() => document.querySelector('#tpl-err-text').textContent.trim() !== '');
        assert.match(await page.textContent('#tpl-err-text'), /\(\(ma\)\)/, 'the unknown placeholder is named under the text');
        assert.equal((await api('GET', `templates/${TPL.id}`)).status, 404, 'nothing saved');

        await page.fill('#tpl-placeholders', '');
        await page.click('#tpl-save');
        await page.waitForSelector(`#tpl-list li[data-id="${TPL.id}"]`);
        assert.equal(await page.textContent('#tpl-err-text'), '', 'the error is gone');
        const t = await api('GET', `templates/${TPL.id}`);
        assert.equal(t.status, 200, t.body);
        assert.equal(t.json.text, TPL.text);
        assert.deepEqual([...t.json.placeholders].sort(), ['ma', 'ten']);
        await shot(page, 'templates', { fullPage: true });
    });

    it('bulk send: a 50-row CSV with 3 bad rows → exactly those rows reported; nothing sent before the officer confirms', async () => {
        const { bytes, good } = bulkCsv();
        const before = fakes.requests('twilio').length;
        await page.click('#tab-bulk');
        await page.check('#bulk-mode-template');
        await page.selectOption('#bulk-template', TPL.id);
        await page.setInputFiles('#bulk-file', { name: 'danh-sach.csv', mimeType: 'text/csv', buffer: bytes });
        await page.waitForSelector('#bulk-check:not([disabled])');
        await page.click('#bulk-check');
        await page.waitForSelector('#bulk-result:not([hidden])', { timeout: 15000 });
        const rows = await page.$$eval('#bulk-errors tr[data-row]', (l) => [...new Set(l.map((e) => Number(e.dataset.row)))]);
        assert.deepEqual(rows.sort((a, b) => a - b), [...BAD_ROWS.keys()], 'exactly the bad rows, by spreadsheet row number');
        assert.equal(await page.getAttribute('#bulk-result', 'data-valid'), '47');
        assert.equal(await page.getAttribute('#bulk-result', 'data-invalid'), '3');
        assert.equal(await page.textContent('#bulk-preview'), 'Chào Nguyễn, Văn "Tư" 0, hồ sơ HS-000 đã có kết quả, mời đến nhận.', 'quoted fields parsed');
        // what the send will cost, by channel (issue 14): the 47 valid rows go by SMS first
        const costs = await page.$$eval('#bulk-cost li', (l) => l.map((e) => [e.dataset.testid, e.textContent]));
        assert.equal(costs.length, 1, JSON.stringify(costs));
        assert.equal(costs[0][0], 'bulk-cost-sms');
        assert.match(costs[0][1], /: 47 tin \/ messages, 0 ₫$/, costs[0][1]);
        await shot(page, 'bulk-check', { fullPage: true });

        await page.click('#bulk-send');
        await page.waitForSelector('#bulk-confirm-box:not([hidden])');
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(fakes.requests('twilio').length, before, 'nothing sent by the check or before the confirmation');
        await page.click('#bulk-abort');
        assert.equal(await page.isHidden('#bulk-confirm-box'), true);

        fakes.fail('twilio', { code: 21211 }); // one of them dies: the dead letter of the next step
        await page.click('#bulk-send');
        await page.click('#bulk-confirm');
        await page.waitForSelector('#bulk-sent[data-count="47"]', { timeout: 15000 });
        const all = await waitFor(
            () => good.every((p) => fakes.requests('twilio').some((r) => r.body?.To === p)),
            20000,
        );
        assert.ok(all, 'every good row went out to the SMS provider');
        for (const p of good) assert.ok(fakes.requests('twilio').filter((r) => r.body?.To === p).length === 1, `${p} once`);
        for (const { phone } of BAD_ROWS.values()) assert.equal(fakes.requests('twilio').filter((r) => r.body?.To === phone).length, 0);
    });

    it('delivery overview: 7-day chart drawn by the page, the dead letter with its reason, retry', async () => {
        const failed = fakes.requests('twilio').find((r) => r.failed);
        assert.ok(failed, 'the programmed failure happened');
        await page.click('#tab-delivery');
        await page.waitForSelector('#stats-chart svg[data-days="7"]');
        // the dead letter shows once the sender gave up on it
        const row = await waitFor(async () => {
            await page.click('#stats-refresh');
            return page.waitForSelector('#dead-list tr[data-id]', { timeout: 1500 }).catch(() => null);
        }, 15000);
        assert.ok(row, 'a dead letter is listed');
        const reason = await page.textContent('#dead-list tr[data-id] td:nth-child(4)');
        assert.ok(reason.trim().length > 0, 'with its reason');
        const last = await page.$$eval('#stats-chart svg g[data-channel="sms"]', (l) => {
            const g = l[l.length - 1];
            return Number(g.dataset.good) + Number(g.dataset.bad);
        });
        assert.ok(last >= 47, `today's SMS bar counts the bulk send (${last})`);
        await shot(page, 'delivery', { fullPage: true });

        const id = await page.getAttribute('#dead-list tr[data-id]', 'data-id');
        await page.click(`.dead-retry[data-id="${id}"]`);
        await page.waitForFunction(() => /retry|gửi lại/i.test(document.querySelector('#dead-msg').textContent));
        const resent = await waitFor(() => smsTo(failed.body.To).length === 1, 15000);
        assert.ok(resent, 'the retried notification reached the provider');
    });

    it('broadcast: SMS segments in the preview as computed from the text, send, progress to 100%', async () => {
        await page.click('#tab-broadcast');
        await page.waitForSelector(`#bc-wards input[value="${WARD}"]`);
        assert.equal(await page.isDisabled(`#bc-wards input[value="${OTHER_WARD}"]`), true, 'a ward outside the areas cannot be chosen');
        await page.fill('#bc-ward-q', 'ben thanh'); // searched without diacritics
        assert.equal(await page.isVisible(`#bc-wards input[value="${OTHER_WARD}"]`), false, 'the list is filtered');
        await page.check(`#bc-wards input[value="${WARD}"]`);
        await page.check('#bc-mode-text');
        await page.fill('#bc-text', BC_TEXT);
        assert.equal(await page.isDisabled('#bc-send'), true, 'no sending before a preview');
        await page.click('#bc-preview');
        await page.waitForSelector('#bc-preview-out[data-state="fresh"] [data-testid="preview-sms-segments"]');

        const want = smsSegments(unaccent(BC_TEXT));
        assert.equal(want.encoding, 'GSM-7');
        assert.equal(want.segments, 2, 'the text is chosen to need 2 segments unaccented');
        assert.equal(smsSegments(BC_TEXT).segments, 3, 'and 3 if it were sent with its diacritics');
        const smsText = await page.textContent('[data-testid="preview-sms-text"]');
        assert.equal(smsText, unaccent(BC_TEXT), 'the SMS rendering is unaccented');
        assert.equal(Number(await page.textContent('[data-testid="preview-sms-segments"]')), want.segments, 'segment count');
        assert.equal(await page.textContent('[data-testid="preview-sms-encoding"]'), want.encoding);
        assert.equal(Number(await page.textContent('[data-testid="preview-sms-recipients"]')), WARD_PHONES.length);
        assert.equal(Number(await page.textContent('[data-testid="preview-zalo-recipients"]')), 1);
        assert.equal(await page.textContent('[data-testid="preview-zalo-text"]'), BC_TEXT);
        assert.equal(Number((await page.textContent('#bc-prev-recipients')).replace(/\D/g, '')), WARD_PHONES.length + 1);
        await shot(page, 'broadcast-preview', { fullPage: true });

        // a change after the preview needs a new preview
        await page.selectOption('#bc-priority', 'urgent');
        assert.equal(await page.isDisabled('#bc-send'), true, 'stale preview: no sending');
        await page.selectOption('#bc-priority', 'normal');
        await page.click('#bc-preview');
        await page.waitForSelector('#bc-preview-out[data-state="fresh"]');
        await page.waitForSelector('#bc-send:not([disabled])');
        // the zalo user wrote a minute ago: inside the window, no warning; 12:00: nothing waits
        assert.equal(await page.$('[data-testid="preview-zalo-window"]'), null);
        assert.equal(await page.$('[data-testid="preview-sms-waits"]'), null);
        // a test to one phone first: the text as written, now
        await page.fill('#bc-test-to', '0911000099');
        await page.click('#bc-test-send');
        await page.waitForFunction(() => /Đã gửi thử/.test(document.querySelector('#bc-test-msg').textContent));
        await waitFor(() => smsTo('+84911000099').length === 1, 10000);
        assert.equal(smsTo('+84911000099')[0].body.Body, smsText, 'the test is the previewed SMS');
        // Send asks first, with the count (and the cost, when SMS has a price)
        await page.click('#bc-send');
        await page.waitForSelector('#bc-confirm-box:not([hidden])');
        const ask = await page.textContent('#bc-confirm-text');
        assert.match(ask, new RegExp(`^Gửi cho ${WARD_PHONES.length + 1} người nhận\\?`), ask); // no SMS price here: no cost
        assert.equal(await page.$('#bc-progress[data-id]:not([hidden])'), null, 'nothing sent before the confirmation');
        await shot(page, 'broadcast-confirm', { fullPage: true });
        await page.click('#bc-confirm');
        await page.waitForSelector('#bc-progress[data-id]:not([hidden])');
        await page.waitForSelector('#bc-progress[data-done="true"]', { timeout: 30000 });
        assert.equal(await page.textContent('#bc-progress-pct'), '100%');
        assert.equal(await page.getAttribute('#bc-progress-bar', 'aria-valuenow'), '100');
        const smsRow = await page.$$eval('#bc-progress-table tr[data-channel="sms"] td[data-status]', (l) =>
            Object.fromEntries(l.map((e) => [e.dataset.status, Number(e.textContent.replace(/\D/g, ''))])),
        );
        assert.equal(smsRow.scheduled, 0);
        assert.equal(smsRow.sent + smsRow.delivered, WARD_PHONES.length, JSON.stringify(smsRow));
        for (const p of WARD_PHONES) {
            const got = smsTo(p);
            assert.equal(got.length, 1, `${p} got the broadcast once`);
            assert.equal(got[0].body.Body, smsText, 'the provider got exactly the previewed SMS text');
        }
        assert.equal(sent('zalo', (r) => r.body?.recipient?.user_id === ZUSER && r.body?.message?.text === BC_TEXT).length, 1);
        await shot(page, 'broadcast-done', { fullPage: true });
    });

    it('broadcast: a later send time, then cancel before anything leaves', async () => {
        const sms = () => WARD_PHONES.map((p) => fakes.requests('twilio').filter((r) => r.body?.To === p).length);
        const smsBefore = sms();
        const firstId = await page.getAttribute('#bc-progress', 'data-id');
        // two hours after the gateway's now, as the officer types it: Asia/Ho_Chi_Minh wall time
        // 22:30 today (the gateway's clock is at 12:00): SMS quiet hours, so it would wait until 07:00
        const at = `${new Date(Date.now() + offset + HCM_OFFSET).toISOString().slice(0, 10)}T22:30`;
        await page.fill('#bc-send-at', at);
        await page.click('#bc-preview');
        await page.waitForSelector('#bc-send:not([disabled])');
        const waits = await page.textContent('[data-testid="preview-sms-waits"]');
        assert.match(waits, /07:00/, waits);
        await page.click('#bc-send');
        assert.match(await page.textContent('#bc-confirm-text'), /chờ tới: .*SMS 07:00/);
        await page.click('#bc-confirm');
        await page.waitForFunction(
            (id) => {
                const p = document.querySelector('#bc-progress');
                return p.dataset.id && p.dataset.id !== id && p.dataset.status === 'scheduled';
            },
            firstId,
        );
        const id = await page.getAttribute('#bc-progress', 'data-id');
        const g = await api('GET', `broadcasts/${id}`);
        assert.equal(g.json.status, 'scheduled', g.body);
        assert.equal(g.json.send_at_ms, Date.parse(`${at}:00+07:00`), 'the send time is read as Vietnam time');
        await page.click('#bc-cancel'); // the page asks to confirm; the dialog is accepted
        await page.waitForSelector('#bc-progress[data-status="cancelled"][data-done="true"]', { timeout: 10000 });
        assert.equal((await api('GET', `broadcasts/${id}`)).json.status, 'cancelled');
        const cancelled = await page.textContent('#bc-progress-table tr[data-channel="sms"] td[data-status="cancelled"]');
        assert.equal(Number(cancelled), WARD_PHONES.length, 'the SMS recipients are counted cancelled');
        assert.deepEqual(sms(), smsBefore, 'nothing more was sent');
        await page.fill('#bc-send-at', '');
    });

    it('message log: a phone\'s notifications with their attempts; reports inbox: filter, open, a status change with a note', async () => {
        await page.click('#tab-msglog');
        await page.fill('#log-q', `0${WARD_PHONES[0].slice(3)}`); // as the citizen says it
        await page.click('#log-search');
        await page.waitForSelector('#log-list tr[data-id]');
        const rows = await page.$$eval('#log-list tr[data-id]', (l) => l.map((r) => ({ status: r.dataset.status, text: r.textContent })));
        assert.ok(rows.some((r) => r.text.includes(unaccent(BC_TEXT).slice(0, 20)) || r.text.includes(BC_TEXT.slice(0, 20))), JSON.stringify(rows));
        assert.ok(rows.some((r) => /SMS · .* · (sent|delivered)/.test(r.text)), 'an attempt with channel, time and result');
        await shot(page, 'message-log', { fullPage: true });

        const id = `PA-261203-${String(process.pid % 10000).padStart(4, '0')}`;
        const now = String(Date.now() + offset);
        await redisCli(redis.sock, 'HSET', key('report', partOf(id), id), 'id', id, 'category', 'rac_thai', 'ward', WARD, 'status', 'received',
            'depts', DEPT, 'created_ms', now, 'updated_ms', now, 'ch', 'sms', 'user', WARD_PHONES[1], 'text', 'Rác ở hẻm 12', 'place', 'hẻm 12');
        await redisCli(redis.sock, 'ZADD', key('dept_reports', partOf(`dept:${DEPT}`), DEPT), now, id);
        await page.click('#tab-reports');
        await page.selectOption('#rep-status', 'received');
        await page.click('#rep-filter');
        await page.waitForSelector(`#rep-list tr[data-id="${id}"][data-status="received"]`);
        await page.click(`#rep-list tr[data-id="${id}"] .rep-open`);
        await page.waitForSelector(`#rep-detail[data-id="${id}"]:not([hidden])`);
        assert.match(await page.textContent('#rep-detail-text'), /hẻm 12/);
        await page.selectOption('#rep-new-status', 'resolved');
        await page.fill('#rep-note', 'Đã thu gom');
        await page.click('#rep-post');
        await page.waitForFunction(() => /Đã cập nhật/.test(document.querySelector('#rep-msg').textContent));
        const got = await api('GET', `reports/${id}`);
        assert.equal(got.json.status, 'resolved', got.body);
        await shot(page, 'reports', { fullPage: true });
    });

    it('the page reads CSV as spreadsheets write it: BOM, CRLF or CR, quotes, line breaks in quotes', async () => {
        const r = await page.evaluate(() => {
            const p = (t, sep = ',') => window.motcuaConsole.parseCsv(t, sep);
            return {
                bom: p('\ufeffa,b\r\n1,2\r\n'),
                quoted: p('a,b\n"x, ""y""",2\n"line\r\nbreak",3\n\n4,5'),
                cr: p('a;b\r1;"2;3"', ';'),
                empty: p('a,b\n,\n"",x\n'),
                open: p('a,b\n"oops,1\n'),
            };
        });
        const rec = (n, ...fields) => ({ n, fields });
        assert.deepEqual(r.bom, { records: [rec(1, 'a', 'b'), rec(2, '1', '2')], error: null }, 'the BOM is not part of the first header');
        assert.deepEqual(r.quoted.records, [rec(1, 'a', 'b'), rec(2, 'x, "y"', '2'), rec(3, 'line\r\nbreak', '3'), rec(5, '4', '5')], 'row numbers as a spreadsheet shows them');
        assert.deepEqual(r.cr.records, [rec(1, 'a', 'b'), rec(2, '1', '2;3')]);
        assert.deepEqual(r.empty.records, [rec(1, 'a', 'b'), rec(2, '', ''), rec(3, '', 'x')], 'empty fields are kept');
        assert.ok(r.open.error, 'an unclosed quote is reported');
    });

    it('sign out clears the token and whatever the officer typed or loaded', async () => {
        await page.$eval('#dossier-q', (e) => { e.value = '251120'; });
        await page.$eval('#bc-text', (e) => { e.value = 'Bản nháp'; });
        await page.click('#signout');
        await page.waitForSelector('#signin:not([hidden])');
        assert.equal(await page.isHidden('#app'), true);
        for (const sel of ['#dossier-q', '#bc-text', '#bc-test-to', '#bulk-file', '#log-q']) assert.equal(await page.inputValue(sel), '', `${sel} emptied`);
        assert.equal(await page.$$eval('#log-list tbody tr, #rep-list tbody tr', (l) => l.length), 0, 'no message log or report rows left');
        assert.equal(await page.$$eval('#bulk-errors tr[data-row]', (l) => l.length), 0, 'no CSV row left');
        assert.equal(await page.evaluate(() => sessionStorage.getItem('motcua.console.token')), null);
        await page.reload({ waitUntil: 'load' });
        assert.equal(await page.isHidden('#app'), true, 'still signed out after a reload');
        await context.close();
    });

    it('a token without broadcast scope: the broadcast section is disabled and the API answers 403', async () => {
        const { ctx, pg } = await newPage({ width: 1280, height: 900 });
        try {
            await signIn(pg, tok.nobc);
            await pg.click('#tab-broadcast');
            assert.equal(await pg.getAttribute('#sec-broadcast', 'data-disabled'), 'true');
            assert.equal(await pg.getAttribute('#tab-broadcast', 'data-disabled'), 'true');
            assert.equal(await pg.isVisible('#sec-broadcast [data-scope-note="broadcast"]'), true, 'a note says why');
            assert.equal(await pg.isDisabled('#bc-preview'), true);
            assert.equal(await pg.isDisabled('#bc-send'), true);
            assert.equal(await pg.isDisabled('#bc-text'), true);
            await shot(pg, 'no-broadcast');
            // the other sections stay usable
            assert.equal(await pg.getAttribute('#sec-bulk', 'data-disabled'), 'false');
            assert.equal(await pg.isDisabled('#dossier-status'), false);
            const body = { audience: { wards: [WARD], channels: ['sms'] }, text: 'Thử' };
            const r = await api('POST', 'broadcasts', { token: tok.nobc, body });
            assert.equal(r.status, 403, r.body);
            assert.equal((await api('POST', 'broadcasts/preview', { token: tok.nobc, body })).status, 403);
        } finally {
            await ctx.close();
        }
    });

    it('fits a 375-pixel-wide screen: no horizontal scrolling in any section', async () => {
        const { ctx, pg } = await newPage({ width: 375, height: 740 });
        try {
            await pg.goto(`${mc.url}/console`, { waitUntil: 'load' });
            assert.ok((await pg.evaluate(() => document.documentElement.scrollWidth)) <= 375, 'sign-in fits');
            await pg.fill('#signin-token', tok.full);
            await pg.click('#signin-submit');
            await pg.waitForSelector('#app:not([hidden])');
            for (const tab of ['dossiers', 'templates', 'broadcast', 'bulk', 'delivery']) {
                await pg.click(`#tab-${tab}`);
                if (tab === 'broadcast') {
                    await pg.waitForSelector(`#bc-wards input[value="${WARD}"]`);
                    await pg.check(`#bc-wards input[value="${WARD}"]`);
                    await pg.fill('#bc-text', BC_TEXT);
                    await pg.click('#bc-preview');
                    await pg.waitForSelector('[data-testid="preview-sms-segments"]');
                }
                if (tab === 'delivery') await pg.waitForSelector('#stats-chart svg');
                const w = await pg.evaluate(() => document.documentElement.scrollWidth);
                assert.ok(w <= 375, `${tab}: scrollWidth ${w} <= 375`);
                if (tab === 'broadcast') await shot(pg, '375', { fullPage: true });
                if (tab === 'delivery') await shot(pg, '375-delivery');
            }
        } finally {
            await ctx.close();
        }
    });
});
