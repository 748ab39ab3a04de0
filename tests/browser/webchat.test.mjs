// Browser test: the web chat page (gateway/www/index.html served at GET /) in
// Debian's Chromium, driven by playwright-core, against the real motcua and a
// private Redis. Never downloads a browser; every request off loopback is aborted.
//
//   node --test tests/browser/              (from the repo root)
//
// Page hooks: #chat-input #chat-send #chat-log #chat-status[data-state]
// .msg.bot .msg.user .quick button. Screenshots go to var/test/.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, makeTempDir, removeTempDir, startRedis, startMotcua } from '../lib/harness.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'var', 'test');

const ANSWER = (t) => /(^|\n)[ \t]*1\./.test(t) && /khai sinh/i.test(t);

describe('web chat page in Chromium', { timeout: 90000 }, () => {
    let dir, redis, mc, browser;
    const offLoopback = []; // requests the page tried to make off 127.0.0.1
    const pageErrors = []; // uncaught exceptions in the page

    before(async () => {
        dir = makeTempDir('motcua-br-');
        redis = await startRedis(path.join(dir, 'redis'));
        mc = await startMotcua({ redisUrl: redis.url });
        browser = await chromium.launch({
            executablePath: CHROMIUM,
            headless: true,
            args: [
                '--no-sandbox',
                '--disable-gpu',
                '--disable-quic',
                '--no-first-run',
                '--disable-background-networking',
                '--disable-component-update',
                '--disable-sync',
            ],
        });
    });

    after(async () => {
        try {
            if (browser) await browser.close();
        } finally {
            try {
                if (mc) await mc.stop();
            } finally {
                try {
                    if (redis) await redis.stop();
                } finally {
                    if (dir) removeTempDir(dir);
                }
            }
        }
    });

    /** Texts of the bot bubbles that answer the khai sinh question. */
    const botAnswers = (page) =>
        page.$$eval('.msg.bot', (els) =>
            els
                .filter((e) => e.offsetParent !== null || e.getClientRects().length > 0)
                .map((e) => (e.querySelector('.text') || e).innerText),
        ).then((ts) => ts.filter(ANSWER));

    async function waitAnswers(page, n, timeout = 15000) {
        await page.waitForFunction(
            (want) =>
                [...document.querySelectorAll('.msg.bot')]
                    .filter((e) => e.getClientRects().length > 0)
                    .map((e) => (e.querySelector('.text') || e).innerText)
                    .filter((t) => /(^|\n)[ \t]*1\./.test(t) && /khai sinh/i.test(t)).length >= want,
            n,
            { timeout },
        );
    }

    it('asks twice, gets the same numbered answer, survives a reload', async () => {
        const context = await browser.newContext({ viewport: { width: 375, height: 740 }, locale: 'vi-VN' });
        try {
            await context.route('**/*', (route) => {
                const u = new URL(route.request().url());
                if (u.hostname === '127.0.0.1' || u.protocol === 'data:' || u.protocol === 'blob:') return route.continue();
                offLoopback.push(u.href);
                return route.abort();
            });
            const page = await context.newPage();
            page.on('pageerror', (e) => pageErrors.push(String(e)));
            const hellos = []; // session of every hello the page sends
            const welcomes = []; // session of every welcome the server answers
            const parse = (f) => {
                try {
                    return JSON.parse(String(f.payload));
                } catch {
                    return {};
                }
            };
            page.on('websocket', (ws) => {
                ws.on('framesent', (f) => {
                    const o = parse(f);
                    if (o.type === 'hello') hellos.push(o.session);
                });
                ws.on('framereceived', (f) => {
                    const o = parse(f);
                    if (o.type === 'welcome') welcomes.push(o.session);
                });
            });

            const resp = await page.goto(`${mc.url}/`, { waitUntil: 'load' });
            assert.equal(resp.status(), 200, 'GET / serves the page');
            await page.waitForSelector('#chat-status[data-state="online"]', { timeout: 10000 });

            await page.fill('#chat-input', 'lam khai sinh can giay to gi');
            await page.press('#chat-input', 'Enter');
            await page.waitForSelector('.msg.user', { timeout: 5000 });
            await waitAnswers(page, 1);
            assert.equal(await page.inputValue('#chat-input'), '', 'the input is cleared after sending');

            await page.fill('#chat-input', 'Làm giấy khai sinh cần giấy tờ gì?');
            await page.click('#chat-send');
            await waitAnswers(page, 2);
            const answers = await botAnswers(page);
            assert.equal(answers.length, 2, `two answers: ${JSON.stringify(answers)}`);
            assert.match(answers[0], /(^|\n)[ \t]*2\./, 'the answer lists at least two papers');
            assert.equal(answers[1], answers[0], 'the same question with diacritics gets the same answer');
            assert.ok((await page.$$('.msg.user')).length >= 2, 'both questions are shown');

            // The page fits a phone: nothing wider than the viewport.
            const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
            assert.ok(overflow <= 0, `no horizontal scrolling at 375 px (overflow ${overflow} px)`);

            fs.mkdirSync(SHOTS, { recursive: true });
            await page.screenshot({ path: path.join(SHOTS, 'webchat.png') });
            await page.setViewportSize({ width: 1280, height: 800 });
            await page.screenshot({ path: path.join(SHOTS, 'webchat-desktop.png') });
            await page.setViewportSize({ width: 375, height: 740 });

            // Reload: same session (from localStorage), conversation shown again.
            const firstSession = welcomes[0];
            assert.match(String(firstSession), /^[0-9a-fA-F]{32}$/, 'the server welcomed the page with a session');
            await page.reload({ waitUntil: 'load' });
            await page.waitForSelector('#chat-status[data-state="online"]', { timeout: 10000 });
            await waitAnswers(page, 2, 10000);
            const again = await botAnswers(page);
            assert.ok(again.length >= 2, `at least the 2 answers visible after reload: ${JSON.stringify(again)}`);
            assert.equal(again[0], answers[0]);
            assert.ok(hellos.length >= 2, 'the reloaded page said hello again');
            assert.equal(hellos[hellos.length - 1], firstSession, 'the reloaded page resumes its session');
            assert.equal(welcomes[welcomes.length - 1], firstSession, 'the server resumed the same session');

            assert.deepEqual(offLoopback, [], 'the page loads nothing from outside');
            assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
        } finally {
            await context.close();
        }
    });
});
