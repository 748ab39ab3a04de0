// Browser test: officers in the console (issue 12) in Debian's Chromium, driven by
// playwright-core, against the real motcua and a private Redis. An admin made with
// `motcua officer add` signs in with user, password and a TOTP code computed here (Node's
// HMAC-SHA1), changes the one-time password, adds an officer (the one-time password and
// the TOTP QR code shown once), makes and revokes an API key, reads the audit trail,
// filters it and downloads it as CSV, and signs out (the session ends on the server). A
// viewer sees the admin sections disabled. No token sign-in here ([console]
// token_sign_in is off): the page does not offer it. Screenshots: var/test/officers-*.png.
//
//   node --test tests/browser/console-officers.test.mjs      (from the repo root)

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, makeTempDir, removeTempDir, startRedis, startMotcua, httpRequest, waitFor } from '../lib/harness.mjs';
import { addOfficer, totp, base32Decode } from '../lib/officers.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'var', 'test');
const DEPT = 'ubnd-ben-thanh';
const WARD = '26743';
const NEW_PASSWORD = 'Mật khẩu mới của chị Hà 2026';

describe('officers in the console, in Chromium', { timeout: 180000 }, () => {
    let dir, redis, mc, browser, ctx, page, admin;
    const offLoopback = [];
    const pageErrors = [];
    const shot = (pg, name, opts = {}) => pg.screenshot({ path: path.join(SHOTS, `officers-${name}.png`), ...opts });

    async function newPage() {
        const c = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'vi-VN', timezoneId: 'Asia/Ho_Chi_Minh', acceptDownloads: true });
        await c.route('**/*', (route) => {
            const u = new URL(route.request().url());
            if (u.hostname === '127.0.0.1' || u.protocol === 'data:' || u.protocol === 'blob:') return route.continue();
            offLoopback.push(u.href);
            return route.abort();
        });
        const pg = await c.newPage();
        pg.on('pageerror', (e) => pageErrors.push(String(e)));
        pg.on('dialog', (d) => d.accept());
        pg.setDefaultTimeout(15000);
        return { c, pg };
    }

    /** Types the sign-in form of the page with a code computed here `step` steps ahead. */
    async function typeSignIn(pg, off, password, step = 0) {
        await pg.fill('#login-user', off.user);
        await pg.fill('#login-password', password);
        await pg.fill('#login-code', totp(off.secret, Date.now() / 1000 + step * 30));
        await pg.click('#login-submit');
    }

    before(async () => {
        fs.mkdirSync(SHOTS, { recursive: true });
        dir = makeTempDir('motcua-br-officers-');
        const tokens = path.join(dir, 'tokens.txt');
        const file = crypto.randomBytes(18).toString('base64url');
        fs.writeFileSync(tokens, `${DEPT} ${crypto.createHash('sha256').update(file).digest('hex')} read ${WARD}\n`);
        redis = await startRedis(path.join(dir, 'redis'));
        mc = await startMotcua({ redisUrl: redis.url, args: ['--role', 'gateway'], env: { MOTCUA_ADMIN_TOKENS_FILE: tokens } });
        assert.ok(await waitFor(async () => (await httpRequest(`${mc.url}/healthz`)).status === 200, 10000, 50));
        admin = await addOfficer(redis.url, { dept: DEPT, user: 'ha.admin', role: 'admin', areas: WARD });
        browser = await chromium.launch({
            executablePath: CHROMIUM,
            headless: true,
            args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        });
        ({ c: ctx, pg: page } = await newPage());
    });

    after(async () => {
        try {
            if (browser) await browser.close();
        } finally {
            try {
                if (mc) {
                    const r = await mc.stop();
                    const bad = mc.stderrLines.filter((l) => /Sanitizer|runtime error/.test(l));
                    assert.deepEqual(bad, [], 'clean sanitizer output');
                    assert.equal(r.code, 0);
                    const log = mc.stderrLines.join('\n');
                    assert.ok(!log.includes(NEW_PASSWORD) && !log.includes(admin.secret), 'no secret in the log');
                }
            } finally {
                if (redis) await redis.stop();
                if (dir) removeTempDir(dir);
            }
        }
        assert.deepEqual(offLoopback, [], 'the page loads nothing from outside');
        assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
    });

    it('the sign-in page asks for user, password and code; no token field; a wrong code is refused', async () => {
        const resp = await page.goto(`${mc.url}/console`, { waitUntil: 'load' });
        assert.equal(resp.status(), 200);
        await page.waitForSelector('#login-user:focus');
        assert.equal(await page.isVisible('#login-password'), true);
        assert.equal(await page.getAttribute('#login-code', 'autocomplete'), 'one-time-code');
        assert.equal(await page.isHidden('#token-signin'), true, 'token sign-in is off');
        await page.fill('#login-user', admin.user);
        await page.fill('#login-password', admin.password);
        const code = totp(admin.secret);
        await page.fill('#login-code', code === '000000' ? '111111' : '000000');
        await page.click('#login-submit');
        await page.waitForFunction(() => document.querySelector('#login-error').textContent.trim() !== '');
        assert.match(await page.textContent('#login-error'), /không đúng|wrong/i);
        assert.equal(await page.isHidden('#app'), true);
        await shot(page, 'signin');
    });

    it('signs in with a TOTP code computed here, changes the one-time password, then works', async () => {
        assert.equal(base32Decode(admin.secret).length, 20, 'a 160-bit secret');
        await typeSignIn(page, admin, admin.password);
        await page.waitForSelector('#pwchange:not([hidden])');
        assert.equal(await page.isHidden('#app'), true, 'nothing else before the new password');
        const cookies = await ctx.cookies();
        const c = cookies.find((x) => x.name === 'motcua_session');
        assert.ok(c, 'the session cookie');
        assert.equal(c.httpOnly, true);
        assert.equal(c.sameSite, 'Strict');
        assert.equal(await page.evaluate(() => document.cookie.includes('motcua_session')), false, 'not readable by scripts');
        await page.fill('#pw-old', admin.password);
        await page.fill('#pw-new', 'ngắn');
        await page.fill('#pw-new2', 'ngắn');
        await page.click('#pw-submit');
        await page.waitForFunction(() => document.querySelector('#pw-error').textContent.trim() !== '');
        await page.fill('#pw-new', NEW_PASSWORD);
        await page.fill('#pw-new2', NEW_PASSWORD);
        await page.click('#pw-submit');
        await page.waitForSelector('#app:not([hidden])');
        assert.equal(await page.textContent('#me-dept'), DEPT);
        assert.match(await page.textContent('#me-user'), /ha\.admin · Quản trị \/ Admin/);
        admin.password = NEW_PASSWORD;
        // a reload keeps the session (the cookie), with no token in storage
        await page.reload({ waitUntil: 'load' });
        await page.waitForSelector('#app:not([hidden])');
        assert.equal(await page.evaluate(() => sessionStorage.length + localStorage.length), 0);
    });

    it('adds an officer: the one-time password and the TOTP QR code are shown once', async () => {
        await page.click('#tab-officers');
        await page.waitForSelector('#off-list tr[data-user="ha.admin"]');
        assert.equal(await page.getAttribute('#sec-officers', 'data-disabled'), 'false');
        assert.equal(await page.inputValue('#off-areas'), WARD, 'an admin of one ward gives that ward');
        await page.fill('#off-user', 'tuan.vien');
        await page.selectOption('#off-role', 'viewer');
        await page.click('#off-save');
        await page.waitForSelector('#off-secret:not([hidden])');
        const pw = (await page.textContent('#off-secret-password')).trim();
        const secret = (await page.textContent('#off-secret-totp')).trim();
        assert.match(pw, /^[a-z2-9]{16}$/);
        assert.match(secret, /^[A-Z2-7]{32}$/);
        const src = await page.getAttribute('#off-secret-qr', 'src');
        assert.match(src, /^data:image\/svg\+xml;base64,/);
        const svg = Buffer.from(src.split(',')[1], 'base64').toString('utf8');
        assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
        // the image really renders: a QR code is about as much black as white
        const box = await page.$eval('#off-secret-qr', (img) => ({ w: img.naturalWidth, h: img.naturalHeight, done: img.complete }));
        assert.ok(box.done && box.w > 100 && box.h > 100, JSON.stringify(box));
        await shot(page, 'new-officer');
        await page.click('#off-secret-done');
        assert.equal(await page.isHidden('#off-secret'), true);
        assert.equal((await page.textContent('#off-secret-password')).trim(), '', 'gone from the page');
        await page.waitForSelector('#off-list tr[data-user="tuan.vien"][data-role="viewer"][data-state="enabled"]');
        // that officer signs in with what was shown
        const { c, pg } = await newPage();
        try {
            await pg.goto(`${mc.url}/console`, { waitUntil: 'load' });
            await typeSignIn(pg, { user: 'tuan.vien', secret }, pw);
            await pg.waitForSelector('#pwchange:not([hidden])');
            await pg.fill('#pw-old', pw);
            await pg.fill('#pw-new', 'mật khẩu của Tuấn dài');
            await pg.fill('#pw-new2', 'mật khẩu của Tuấn dài');
            await pg.click('#pw-submit');
            await pg.waitForSelector('#app:not([hidden])');
            // a viewer: admin sections disabled, and the API says 403 anyway
            await pg.click('#tab-officers');
            assert.equal(await pg.getAttribute('#sec-officers', 'data-disabled'), 'true');
            assert.equal(await pg.isDisabled('#off-save'), true);
            assert.equal(await pg.getAttribute('#tab-keys', 'data-disabled'), 'true');
            assert.equal(await pg.getAttribute('#tab-audit', 'data-disabled'), 'true');
            assert.equal(await pg.isDisabled('#dossier-post'), true, 'no dossier changes for a viewer');
            await shot(pg, 'viewer');
        } finally {
            await c.close();
        }
        // the admin disables them from the list
        await page.click('#off-list tr[data-user="tuan.vien"] .off-disable');
        await page.waitForSelector('#off-list tr[data-user="tuan.vien"][data-state="disabled"]');
    });

    it('makes an API key (shown once), sees it listed, revokes it', async () => {
        await page.click('#tab-keys');
        await page.waitForSelector('#key-list tr[data-source="tokens_file"]');
        await page.fill('#key-name', 'phan-mem-mot-cua');
        await page.check('input[name=key-scope][value="notify"]');
        await page.click('#key-create');
        await page.waitForSelector('#key-token-box:not([hidden])');
        const token = (await page.textContent('#key-token')).trim();
        assert.match(token, /^mck1\.ubnd-ben-thanh\.[0-9a-f]{64}$/);
        const me = await httpRequest(`${mc.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(me.status, 200, me.body);
        await page.click('#key-token-done');
        await page.waitForSelector('#key-list tr[data-name="phan-mem-mot-cua"]');
        await shot(page, 'keys');
        await page.click('#key-list tr[data-name="phan-mem-mot-cua"] .key-revoke');
        await page.waitForFunction(() => !document.querySelector('#key-list tr[data-name="phan-mem-mot-cua"]'));
        const after = await httpRequest(`${mc.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(after.status, 401, 'revoked at once');
    });

    it('reads the audit trail, filters it, and downloads it as CSV', async () => {
        await page.click('#tab-audit');
        await page.waitForSelector('#audit-list tr[data-action="key.revoke"]');
        const actions = await page.$$eval('#audit-list tbody tr', (rows) => rows.map((r) => r.dataset.action));
        for (const a of ['key.revoke', 'key.create', 'officer.disable', 'officer.add', 'officer.password', 'session.create'])
            assert.ok(actions.includes(a), `${a} in ${actions}`);
        await page.selectOption('#audit-action', 'key');
        await page.click('#audit-filter');
        await page.waitForFunction(() => [...document.querySelectorAll('#audit-list tbody tr')].every((r) => r.dataset.action.startsWith('key.')));
        assert.equal(await page.$$eval('#audit-list tbody tr', (r) => r.length), 2);
        await shot(page, 'audit');
        const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#audit-csv')]);
        assert.equal(dl.suggestedFilename(), `audit-${DEPT}.csv`);
        const file = path.join(dir, 'audit.csv');
        await dl.saveAs(file);
        const rows = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '').trim().split('\r\n');
        assert.equal(rows[0], '"ts","actor","action","target","ip","changes"');
        assert.equal(rows.length, 3, rows.join('\n'));
        assert.ok(rows.slice(1).every((r) => r.includes('"officer:ha.admin","key.')));
    });

    it('sign out ends the session on the server', async () => {
        const sid = (await ctx.cookies()).find((x) => x.name === 'motcua_session').value;
        await page.click('#signout');
        await page.waitForSelector('#signin:not([hidden])');
        await waitFor(async () => (await httpRequest(`${mc.url}/console/api/session`, { headers: { cookie: `motcua_session=${sid}` } })).status === 401, 5000, 50);
        const r = await httpRequest(`${mc.url}/console/api/session`, { headers: { cookie: `motcua_session=${sid}` } });
        assert.equal(r.status, 401, 'the old cookie is dead');
        await page.reload({ waitUntil: 'load' });
        await page.waitForSelector('#login-user');
        assert.equal(await page.isHidden('#app'), true);
        await ctx.close();
    });
});
