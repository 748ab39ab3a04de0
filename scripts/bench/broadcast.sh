#!/usr/bin/env bash
# scripts/bench/broadcast.sh — a broadcast to BC_BENCH_N (default 100,000) ward
# subscribers on zalo, facebook and sms, fanned out and sent by `motcua serve --role
# dispatcher` (normal build) to the fake providers of tests/fakes/providers.mjs (their
# own process; they answer at once), with a private Redis (AOF on) on a unix socket.
# Prints measured figures only, in three steps:
#
#   1. scheduling: the dispatcher's scheduler runs with every channel's rate limit at
#      (almost) zero, so the fan-out writes all notifications and they stay scheduled
#      (status scheduled, on mc:due): the time to enqueue every recipient
#      (fan_started_ms → fan_done_ms in the broadcast's hash) and the Redis memory per
#      scheduled notification (INFO used_memory after the fan-out minus just before it,
#      divided by the notifications on mc:due; MEMORY USAGE of one notification hash
#      and of the mc:due entries for the breakdown). Before that, the memory per
#      subscriber: the ward set's growth while the audience is loaded.
#   2. sending: a dispatcher without rate limits takes over and sends them all: the
#      sustained send rate (requests the fakes counted, from the first to the last, polled
#      every 50 ms) and the time from its start to the broadcast's `done`.
#   3. the raw rate the same fake provider process takes from wrk (Debian's package,
#      installed if missing): the three requests the dispatcher sent (one per provider,
#      as the fake recorded them: method, path, query, headers, body) replayed round
#      robin with as many connections as the dispatcher keeps in flight (gw_httpc: 8
#      per provider × 3), for BC_BENCH_WRK_SECONDS (10).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export LC_ALL=C.UTF-8
export MOTCUA_BIN=${MOTCUA_BIN:-build/motcua} # the normal build (make bench builds it)
[ -x "$MOTCUA_BIN" ] || { echo "broadcast bench: $MOTCUA_BIN missing (make)" >&2; exit 1; }
if ! command -v wrk >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || { echo "broadcast bench: wrk missing; as root: apt-get install --no-install-recommends wrk" >&2; exit 1; }
    echo "installing Debian's wrk" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
export BC_BENCH_N=${BC_BENCH_N:-100000}
export BC_BENCH_WRK_SECONDS=${BC_BENCH_WRK_SECONDS:-10}
export BC_BENCH_DIR=var/bench/broadcast
rm -rf "$BC_BENCH_DIR"
mkdir -p "$BC_BENCH_DIR"

node --input-type=module - <<'EOF'
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { ROOT, TEST_INI, makeTempDir, removeTempDir, startRedis, motcuaBin, redisCli, waitFor, sleep } from './tests/lib/harness.mjs';

const N = Number(process.env.BC_BENCH_N);
const WRK_SECONDS = Number(process.env.BC_BENCH_WRK_SECONDS);
const OUT = path.resolve(process.env.BC_BENCH_DIR);
const CH = ['zalo', 'facebook', 'sms'];
const FAKE_NAMES = { zalo: 'zalo', facebook: 'facebook', sms: 'twilio' };
const WRK_CONNS = 24; // gw_httpc's default in-flight limit: 8 per provider pool, 3 providers
const TEXT = 'Thông báo: phường Bến Thành tạm ngừng cấp điện từ 8:00 đến 16:00 ngày 25/11 để bảo trì lưới điện.';
const HOUR = 3600000;
const local12 = () => {
    const now = Date.now();
    const day = Math.floor((now + 7 * HOUR) / (24 * HOUR)) * 24 * HOUR;
    let t = day + 12 * HOUR - 7 * HOUR;
    if (t <= now) t += 24 * HOUR;
    return t - now;
};
const pipe = (sock, cmds) => new Promise((resolve, reject) => {
    const enc = (a) => `*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(String(x))}\r\n${x}\r\n`).join('')}`;
    const p = execFile('redis-cli', ['-s', sock, '--pipe'], { timeout: 300000, maxBuffer: 1 << 26 }, (e, out) => (e ? reject(e) : resolve(out)));
    p.stdin.end(cmds.map(enc).join(''));
});
const getJson = (url) => new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (r) => {
        let b = '';
        r.setEncoding('utf8');
        r.on('data', (c) => (b += c));
        r.on('end', () => {
            try {
                resolve(JSON.parse(b));
            } catch (e) {
                reject(e);
            }
        });
    }).on('error', reject);
});
const fmt = (x) => Math.round(x).toLocaleString('en-US');

const dir = makeTempDir('motcua-bcb-');
const redis = await startRedis(path.join(dir, 'redis'));
const memory = async () => Number(/used_memory:(\d+)/.exec(await redisCli(redis.sock, 'INFO', 'memory'))[1]);

// the fake providers in their own process, as a provider would be
const fakeProc = spawn(process.execPath, ['tests/fakes/providers.mjs', '--port', '0', '--config', JSON.stringify({
    fbToken: 'PAGE', zalo: { appId: '1', secretKey: 'zs', accessToken: 'ZA', refreshToken: 'ZR' },
    twilio: { sid: 'AC0123456789abcdef0123456789abcdef', token: 'tw' }, maxRecords: 1,
})], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
const fakePort = await new Promise((resolve, reject) => {
    let buf = '';
    fakeProc.stdout.setEncoding('utf8');
    fakeProc.stdout.on('data', (c) => {
        buf += c;
        const m = /\{"port":(\d+)\}/.exec(buf);
        if (m) resolve(Number(m[1]));
    });
    fakeProc.once('exit', (code) => reject(new Error(`fake providers exited (${code})`)));
});
const fakeUrl = `http://127.0.0.1:${fakePort}`;
const fakeRequests = (name) => getJson(`${fakeUrl}/_fake/requests?name=${name}`);
const sentCount = async () => (await Promise.all(CH.map((c) => fakeRequests(FAKE_NAMES[c])))).reduce((a, r) => a + r.count, 0);

const offset = local12();
const dispatcherEnv = (rate) => ({
    ...process.env, MOTCUA_LOG_LEVEL: 'warn',
    MOTCUA_FACEBOOK_ENABLED: 'true', MOTCUA_FACEBOOK_APP_SECRET: 's', MOTCUA_FACEBOOK_VERIFY_TOKEN: 'v',
    MOTCUA_FACEBOOK_PAGE_ACCESS_TOKEN: 'PAGE', MOTCUA_FACEBOOK_API_BASE: fakeUrl,
    MOTCUA_ZALO_ENABLED: 'true', MOTCUA_ZALO_APP_ID: '1', MOTCUA_ZALO_OA_SECRET_KEY: 'k', MOTCUA_ZALO_APP_SECRET: 'zs',
    MOTCUA_ZALO_ACCESS_TOKEN: 'ZA', MOTCUA_ZALO_REFRESH_TOKEN: 'ZR', MOTCUA_ZALO_API_BASE: fakeUrl, MOTCUA_ZALO_OAUTH_BASE: fakeUrl,
    MOTCUA_SMS_ENABLED: 'true', MOTCUA_SMS_PROVIDER: 'twilio', MOTCUA_SMS_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
    MOTCUA_SMS_AUTH_TOKEN: 'tw', MOTCUA_SMS_SENDER: '+84900000001', MOTCUA_SMS_API_BASE: fakeUrl,
    MOTCUA_SCHEDULER_RATE_SMS: rate, MOTCUA_SCHEDULER_RATE_FACEBOOK: rate, MOTCUA_SCHEDULER_RATE_ZALO: rate,
    MOTCUA_SERVER_TEST_CLOCK: 'true', MOTCUA_TEST_CLOCK_OFFSET_MS: String(offset),
});
const procs = [];
async function dispatcher(rate, consumer) {
    const p = spawn(motcuaBin(), ['serve', '--config', TEST_INI, '--listen', '127.0.0.1:1', '--redis', redis.url, '--role', 'dispatcher'], {
        cwd: ROOT, stdio: ['ignore', 'ignore', fs.openSync(path.join(OUT, `${consumer}.log`), 'w')],
        env: { ...dispatcherEnv(rate), MOTCUA_WORKER_CONSUMER: consumer },
    });
    procs.push(p);
    p.stopped = new Promise((r) => p.once('exit', r));
    await sleep(1500); // connected, groups created, token seeded: nothing else writes
    if (p.exitCode !== null) throw new Error(`dispatcher exited (${p.exitCode}); see ${OUT}/${consumer}.log`);
    return p;
}
const bc = (f) => redisCli(redis.sock, 'HGET', 'mc:bc:bench', f);

try {
    // the audience: ward subscriptions, then the chat windows of zalo/facebook citizens
    const now = Date.now() + offset;
    const members = [];
    for (let i = 0; i < N; i++) {
        const c = CH[i % 3];
        members.push(`${c}:${c === 'sms' ? `+849${String(i).padStart(8, '0')}` : `u${i}`}`);
    }
    const mem0 = await memory();
    const subs = [];
    for (let i = 0; i < N; i += 1000) subs.push(['SADD', 'mc:sub:ward:bench', ...members.slice(i, i + 1000)]);
    await pipe(redis.sock, subs);
    const perSubscriber = ((await memory()) - mem0) / N;
    await pipe(redis.sock, members.filter((m) => !m.startsWith('sms:')).map((m) => {
        const [c, id] = m.split(':');
        return ['HSET', `mc:conv:${c}:${id}`, 'last_in_ms', String(now - HOUR)];
    }));
    // no token in any channel's bucket: the scheduler keeps every notification due
    await pipe(redis.sock, CH.map((c) => ['HSET', `mc:rate:${c}`, 'tokens', '0', 'ts', String(now)]));

    // 1. scheduling
    const d1 = await dispatcher('0.000001', 'bench-schedule');
    const memBefore = await memory();
    const due = Date.now() + offset;
    const count = CH.flatMap((c, i) => [`count:${c}`, String(Math.floor(N / 3) + (i < N % 3 ? 1 : 0))]);
    await pipe(redis.sock, [
        ['HSET', 'mc:bc:bench', 'dept', 'bench', 'status', 'scheduled', 'text', TEXT, 'wards', 'bench',
            'channels', CH.join(','), 'tags', '', 'priority', 'normal', 'send_at_ms', String(due), 'not_after_ms', '0',
            'created_ms', String(due), 'recipients', String(N), ...count],
        ['ZADD', 'mc:bc:due', String(due), 'bench'],
    ]);
    if (!(await waitFor(async () => (await bc('fan_done_ms')) !== '', 10 * 60000, 50))) throw new Error('the fan-out did not end');
    const enq = Number(await bc('fan_done_ms')) - Number(await bc('fan_started_ms'));
    const memAfter = await memory();
    const scheduled = Number(await redisCli(redis.sock, 'ZCARD', 'mc:due'));
    const early = await sentCount();
    const hashBytes = Number(await redisCli(redis.sock, 'MEMORY', 'USAGE', 'mc:notif:bench-1', 'SAMPLES', '0'));
    const hashEnc = await redisCli(redis.sock, 'OBJECT', 'ENCODING', 'mc:notif:bench-1');
    const dueBytes = Number(await redisCli(redis.sock, 'MEMORY', 'USAGE', 'mc:due', 'SAMPLES', '0'));
    d1.kill('SIGTERM');
    await d1.stopped;

    // 2. sending
    const t0 = Date.now();
    const d2 = await dispatcher('0', 'bench-send');
    let first = 0, firstCount = 0, last = 0;
    const ok = await waitFor(async () => {
        const n = await sentCount();
        if (!first && n > early) {
            first = Date.now();
            firstCount = n;
        }
        if (!last && n >= early + scheduled) last = Date.now();
        return last && (await bc('status')) === 'done';
    }, 30 * 60000, 50);
    const doneAt = Date.now();
    if (!ok) throw new Error(`not done: ${await bc('status')}, ${await sentCount()} sent`);
    const sent = (await sentCount()) - early;
    const sendRate = (early + scheduled - firstCount) / ((last - first) / 1000);

    // 3. the raw rate of the same fake, from wrk, with the dispatcher's own requests
    const samples = [];
    for (const c of CH) {
        const r = (await fakeRequests(FAKE_NAMES[c])).requests[0];
        if (!r || !r.valid) throw new Error(`no valid ${c} request recorded by the fake`);
        samples.push(r);
    }
    const lstr = (s) => {
        let eq = '=';
        while (s.includes(`]${eq}]`)) eq += '=';
        return `[${eq}[${s}]${eq}]`; // Lua long string: bytes as they are
    };
    const skip = new Set(['host', 'content-length', 'connection', 'expect', 'transfer-encoding']);
    const lua = [
        'local reqs = {}',
        'function init(args)',
        ...samples.map((r) => {
            const h = Object.entries(r.headers).filter(([k]) => !skip.has(k)).map(([k, v]) => `[ ${lstr(k)} ] = ${lstr(String(v))}`).join(', ');
            const p = r.path + (r.rawQuery ? `?${r.rawQuery}` : '');
            return `    reqs[#reqs + 1] = wrk.format(${lstr(r.method)}, ${lstr(p)}, { ${h} }, ${lstr(r.rawBody)})`;
        }),
        'end',
        'local i = 0',
        'function request()',
        '    i = i % #reqs + 1',
        '    return reqs[i]',
        'end',
        'function done(summary, latency, requests)',
        '    local e = summary.errors',
        '    io.write(string.format("RESULT %d %d %d %d\\n", summary.requests, summary.duration, e.status,',
        '        e.connect + e.read + e.write + e.timeout))',
        'end',
    ].join('\n');
    fs.writeFileSync(path.join(OUT, 'replay.lua'), `${lua}\n`);
    const before = await sentCount();
    const w = spawnSync('wrk', ['-t2', `-c${WRK_CONNS}`, `-d${WRK_SECONDS}s`, '-s', path.join(OUT, 'replay.lua'), fakeUrl], { encoding: 'utf8' });
    fs.writeFileSync(path.join(OUT, 'wrk.txt'), `${w.stdout}${w.stderr}`);
    const m = /^RESULT (\d+) (\d+) (\d+) (\d+)$/m.exec(w.stdout || '');
    if (!m) throw new Error(`wrk: ${w.stdout}${w.stderr}`);
    const [wReq, wUs, wBad, wSock] = m.slice(1).map(Number);
    const rawRate = wReq / (wUs / 1e6);
    const counted = (await sentCount()) - before;

    const row = (k, v) => console.log(`${k.padEnd(58)} ${v}`);
    console.log(`\nbroadcast of ${fmt(N)} recipients (zalo/facebook/sms), one dispatcher, fakes answering at once`);
    row('time to enqueue (fan-out: notifications written, due)', `${fmt(enq)} ms (${fmt(N / (enq / 1000))} recipients/s)`);
    row('Redis memory per scheduled notification', `${fmt((memAfter - memBefore) / scheduled)} bytes (used_memory +${((memAfter - memBefore) / 1048576).toFixed(1)} MB for ${fmt(scheduled)})`);
    row('  of which: its hash (MEMORY USAGE, key included)', `${fmt(hashBytes)} bytes (${hashEnc}; the ${Buffer.byteLength(TEXT)}-byte text is kept once, in the broadcast)`);
    row('  of which: its entry in mc:due', `${fmt(dueBytes / scheduled)} bytes`);
    row('Redis memory per subscriber (ward set member)', `${fmt(perSubscriber)} bytes`);
    row('sustained send rate, motcua → fakes (first → last)', `${fmt(sendRate)} messages/s (${fmt(sent)} requests)`);
    row(`raw rate of the same fakes from wrk (${WRK_CONNS} conns, ${WRK_SECONDS} s)`, `${fmt(rawRate)} requests/s (same 3 requests; non-2xx ${wBad}, socket errors ${wSock}, counted ${fmt(counted)})`);
    row('motcua / raw', `${(100 * sendRate / rawRate).toFixed(0)}%`);
    row('dispatcher start → broadcast done', `${fmt(doneAt - t0)} ms`);
    d2.kill('SIGTERM');
    await d2.stopped;
} finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    if (fakeProc.exitCode === null) fakeProc.kill('SIGTERM');
    await redis.stop();
    removeTempDir(dir);
}
EOF
