#!/usr/bin/env bash
# scripts/bench/broadcast.sh — a broadcast to BC_BENCH_N (default 100,000) ward
# subscribers on zalo, facebook and sms, fanned out and sent by one `motcua serve
# --role dispatcher` (normal build) to the fake providers of tests/fakes/providers.mjs,
# which answer at once, with a private Redis (AOF on) on a unix socket.
#
# Prints measured figures only: the time to enqueue every recipient (fan_started_ms
# to fan_done_ms in the broadcast's hash: notifications written and on mc:due), the
# sustained send rate (requests the fakes received / time from the first to the last),
# and the time from due to `done`. No rate limits ([scheduler] rate_* = 0).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export LC_ALL=C.UTF-8
[ -x build/motcua ] || { echo "broadcast bench: build/motcua missing (make)" >&2; exit 1; }
export MOTCUA_BIN=build/motcua
export BC_BENCH_N=${BC_BENCH_N:-100000}

node --input-type=module - <<'EOF'
import path from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { ROOT, TEST_INI, makeTempDir, removeTempDir, startRedis, motcuaBin, redisCli, waitFor } from './tests/lib/harness.mjs';
import { startFakes } from './tests/fakes/providers.mjs';

const N = Number(process.env.BC_BENCH_N);
const CH = ['zalo', 'facebook', 'sms'];
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

const dir = makeTempDir('motcua-bcb-');
const redis = await startRedis(path.join(dir, 'redis'));
const fakes = await startFakes({
    fbToken: 'PAGE', zalo: { appId: '1', secretKey: 'zs', accessToken: 'ZA', refreshToken: 'ZR' },
    twilio: { sid: 'AC0123456789abcdef0123456789abcdef', token: 'tw' }, maxRecords: 1,
});
const offset = local12();
let proc;
try {
    const now = Date.now() + offset;
    const cmds = [];
    let batch = [];
    for (let i = 0; i < N; i++) {
        const c = CH[i % 3];
        const id = c === 'sms' ? `+849${String(i).padStart(8, '0')}` : `u${i}`;
        if (c !== 'sms') cmds.push(['HSET', `mc:conv:${c}:${id}`, 'last_in_ms', String(now - HOUR)]);
        batch.push(`${c}:${id}`);
        if (batch.length === 1000) cmds.push(['SADD', 'mc:sub:ward:bench', ...batch.splice(0)]);
    }
    if (batch.length) cmds.push(['SADD', 'mc:sub:ward:bench', ...batch]);
    await pipe(redis.sock, cmds);
    proc = spawn(motcuaBin(), ['serve', '--config', TEST_INI, '--listen', '127.0.0.1:1', '--redis', redis.url, '--role', 'dispatcher'], {
        cwd: ROOT, stdio: ['ignore', 'ignore', 'ignore'],
        env: {
            ...process.env, MOTCUA_LOG_LEVEL: 'warn',
            MOTCUA_FACEBOOK_ENABLED: 'true', MOTCUA_FACEBOOK_APP_SECRET: 's', MOTCUA_FACEBOOK_VERIFY_TOKEN: 'v',
            MOTCUA_FACEBOOK_PAGE_ACCESS_TOKEN: 'PAGE', MOTCUA_FACEBOOK_API_BASE: fakes.url,
            MOTCUA_ZALO_ENABLED: 'true', MOTCUA_ZALO_APP_ID: '1', MOTCUA_ZALO_OA_SECRET_KEY: 'k', MOTCUA_ZALO_APP_SECRET: 'zs',
            MOTCUA_ZALO_ACCESS_TOKEN: 'ZA', MOTCUA_ZALO_REFRESH_TOKEN: 'ZR', MOTCUA_ZALO_API_BASE: fakes.url, MOTCUA_ZALO_OAUTH_BASE: fakes.url,
            MOTCUA_SMS_ENABLED: 'true', MOTCUA_SMS_PROVIDER: 'twilio', MOTCUA_SMS_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
            MOTCUA_SMS_AUTH_TOKEN: 'tw', MOTCUA_SMS_SENDER: '+84900000001', MOTCUA_SMS_API_BASE: fakes.url,
            MOTCUA_SCHEDULER_RATE_SMS: '0', MOTCUA_SCHEDULER_RATE_FACEBOOK: '0', MOTCUA_SCHEDULER_RATE_ZALO: '0',
            MOTCUA_SERVER_TEST_CLOCK: 'true', MOTCUA_TEST_CLOCK_OFFSET_MS: String(offset), MOTCUA_WORKER_CONSUMER: 'bench',
        },
    });
    await new Promise((r) => setTimeout(r, 1500));
    const due = Date.now() + offset;
    const count = CH.flatMap((c) => [`count:${c}`, String(Math.floor(N / 3) + (CH.indexOf(c) < N % 3 ? 1 : 0))]);
    await pipe(redis.sock, [
        ['HSET', 'mc:bc:bench', 'dept', 'bench', 'status', 'scheduled', 'text', 'Thông báo mất điện ngày mai', 'wards', 'bench',
            'channels', CH.join(','), 'tags', '', 'priority', 'normal', 'send_at_ms', String(due), 'not_after_ms', '0',
            'created_ms', String(due), 'recipients', String(N), ...count],
        ['ZADD', 'mc:bc:due', String(due), 'bench'],
    ]);
    const t0 = Date.now();
    const sent = () => fakes.count('zalo') + fakes.count('facebook') + fakes.count('twilio');
    let first = 0;
    const ok = await waitFor(async () => {
        if (!first && sent() > 0) first = Date.now();
        return (await redisCli(redis.sock, 'HGET', 'mc:bc:bench', 'status')) === 'done';
    }, 30 * 60000, 20);
    const last = Date.now();
    if (!ok) throw new Error(`not done: ${await redisCli(redis.sock, 'HGETALL', 'mc:bc:bench')}`);
    const h = (f) => redisCli(redis.sock, 'HGET', 'mc:bc:bench', f);
    const enq = Number(await h('fan_done_ms')) - Number(await h('fan_started_ms'));
    const n = sent();
    console.log('figure                                   value');
    console.log(`recipients (zalo/facebook/sms)           ${N}`);
    console.log(`requests at the fakes                    ${n}`);
    console.log(`time to enqueue all recipients           ${enq} ms (${Math.round(N / (enq / 1000))} recipients/s)`);
    console.log(`sustained send rate (first→last)         ${Math.round(n / ((last - first) / 1000))} messages/s`);
    console.log(`due → done                               ${last - t0} ms`);
} finally {
    if (proc && proc.exitCode === null) proc.kill('SIGTERM');
    await fakes.stop();
    await redis.stop();
    removeTempDir(dir);
}
EOF
