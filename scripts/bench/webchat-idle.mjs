// scripts/bench/webchat-idle.mjs URL PID REDIS_SOCK COUNT — opens COUNT web chat
// connections to motcua (ws URL, subprotocol motcua.v1), each saying hello and waiting
// for its welcome, then measures motcua's resident memory (VmRSS of PID) and Redis's
// used_memory against the same figures taken before, after a warm-up of WARMUP
// connections that were opened, greeted and closed (so that buffers lws and the
// allocator keep after a first use are in "before"). Prints one JSON line.

import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

// `ws` is one of the test tools (tests/package.json, scripts/deps.sh --node)
const WebSocket = createRequire(new URL('../../tests/package.json', import.meta.url))('ws');

const [url, pidArg, sock, countArg] = process.argv.slice(2);
const COUNT = Number(countArg);
const WARMUP = 100; // connections opened, greeted and closed before "before"
const BATCH = 200; // handshakes in flight at once
const SETTLE_MS = 2000; // after the last welcome, before measuring
const TIMEOUT_MS = 20000; // one handshake + welcome

const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pidArg}/status`, 'utf8'))[1]);
const redisMem = () => Number(/used_memory:(\d+)/.exec(execFileSync('redis-cli', ['-s', sock, 'INFO', 'memory'], { encoding: 'utf8' }))[1]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Opens one connection and resolves it once the welcome frame arrived. */
function open() {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, ['motcua.v1'], { perMessageDeflate: false, origin: 'http://127.0.0.1', handshakeTimeout: TIMEOUT_MS });
        const t = setTimeout(() => {
            ws.terminate();
            reject(new Error('no welcome in time'));
        }, TIMEOUT_MS);
        ws.once('error', (e) => {
            clearTimeout(t);
            reject(e);
        });
        ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', session: null })));
        ws.on('message', (data) => {
            let f;
            try {
                f = JSON.parse(String(data));
            } catch {
                return;
            }
            if (f.type === 'welcome') {
                clearTimeout(t);
                resolve(ws);
            } else if (f.type === 'error') {
                clearTimeout(t);
                reject(new Error(`error frame: ${f.error}`));
            }
        });
    });
}

async function openMany(n) {
    const all = [];
    for (let i = 0; i < n; i += BATCH) {
        const batch = await Promise.all(Array.from({ length: Math.min(BATCH, n - i) }, open));
        all.push(...batch);
    }
    return all;
}

const warm = await openMany(WARMUP);
for (const ws of warm) ws.close();
await sleep(SETTLE_MS);
const rss0 = rssKb();
const mem0 = redisMem();
const t0 = Date.now();
const conns = await openMany(COUNT);
const openMs = Date.now() - t0;
await sleep(SETTLE_MS);
const rss1 = rssKb();
const mem1 = redisMem();
const stillOpen = conns.filter((ws) => ws.readyState === WebSocket.OPEN).length;
for (const ws of conns) ws.terminate();
console.log(JSON.stringify({ count: COUNT, open: stillOpen, openMs, rssBeforeKb: rss0, rssAfterKb: rss1, redisBefore: mem0, redisAfter: mem1 }));
