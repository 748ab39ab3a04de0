// scripts/bench/broadcast.mjs — the broadcast bench driven by scripts/bench/broadcast.sh
// (read its header for the method). Environment: BC_BENCH_N, BC_BENCH_WRK_SECONDS,
// BC_BENCH_DIR (scratch), REDIS_SOCK (private Redis, empty), STANDIN_URL and STANDIN_DIR
// (the nginx provider stand-in, lib/common.sh), BENCH_FIGURES (figures file), MOTCUA_BIN.
// Prints one table; appends its figures to BENCH_FIGURES.

import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { ROOT, TEST_INI, startMotcua, httpRequest, redisCli, waitFor, sleep } from '../../tests/lib/harness.mjs';
import { loadAudience, emptyRateBuckets, notificationMemory } from './lib/keys.mjs';

const N = Number(process.env.BC_BENCH_N);
const WRK_SECONDS = Number(process.env.BC_BENCH_WRK_SECONDS);
const OUT = path.resolve(process.env.BC_BENCH_DIR);
const SOCK = process.env.REDIS_SOCK;
const STANDIN = process.env.STANDIN_URL;
const STANDIN_LOGS = path.join(process.env.STANDIN_DIR, 'logs');
const FIGURES = process.env.BENCH_FIGURES;

const CH = ['zalo', 'facebook', 'sms'];
const STANDIN_LOG = { zalo: 'zalo', facebook: 'facebook', sms: 'twilio' }; // access log per channel
const WRK_CONNS = 24; // gw_httpc's default in-flight limit: 8 per provider pool, 3 providers
const WARD = '26743'; // Bến Thành (vi-nlp/data/wards.csv)
const DEPT = 'bench';
const TOKEN = 'bench-broadcast-token';
const TEXT = 'Thông báo: phường Bến Thành tạm ngừng cấp điện từ 8:00 đến 16:00 ngày 25/11 để bảo trì lưới điện.';
const HOUR = 3600000;
const HCM_OFFSET = 7 * HOUR; // Asia/Ho_Chi_Minh, no daylight saving
const SLOW_RATE = '0.000001'; // messages/s: the fan-out runs, nothing leaves
const SETTLE_MS = 1500; // a dispatcher connected, groups created, token seeded
const POLL_MS = 100;
const FAN_TIMEOUT_MS = 10 * 60000;
const SEND_TIMEOUT_MS = 30 * 60000;
const LOG_LINE = 19; // bytes of one stand-in access log line ("$msec $status\n")
const SID = 'AC0123456789abcdef0123456789abcdef';

const fmt = (x) => Math.round(x).toLocaleString('en-US');
const figure = (k, v) => fs.appendFileSync(FIGURES, `${k}\t${v}\n`);
const memory = async () => Number(/used_memory:(\d+)/.exec(await redisCli(SOCK, 'INFO', 'memory'))[1]);

/** The gateway's clock at the next 12:00 in Ho Chi Minh City: no quiet hours, no night rule. */
function noonOffset() {
    const now = Date.now();
    const day = Math.floor((now + HCM_OFFSET) / (24 * HOUR)) * 24 * HOUR;
    let t = day + 12 * HOUR - HCM_OFFSET;
    if (t <= now) t += 24 * HOUR;
    return t - now;
}
const offset = noonOffset();

const env = (rate) => ({
    ...process.env, MOTCUA_LOG_LEVEL: 'warn',
    MOTCUA_FACEBOOK_ENABLED: 'true', MOTCUA_FACEBOOK_APP_SECRET: 's', MOTCUA_FACEBOOK_VERIFY_TOKEN: 'v',
    MOTCUA_FACEBOOK_PAGE_ACCESS_TOKEN: 'PAGE', MOTCUA_FACEBOOK_API_BASE: STANDIN,
    MOTCUA_ZALO_ENABLED: 'true', MOTCUA_ZALO_APP_ID: '1', MOTCUA_ZALO_OA_SECRET_KEY: 'k', MOTCUA_ZALO_APP_SECRET: 'zs',
    MOTCUA_ZALO_ACCESS_TOKEN: 'ZA', MOTCUA_ZALO_REFRESH_TOKEN: 'ZR', MOTCUA_ZALO_API_BASE: STANDIN, MOTCUA_ZALO_OAUTH_BASE: STANDIN,
    MOTCUA_SMS_ENABLED: 'true', MOTCUA_SMS_PROVIDER: 'twilio', MOTCUA_SMS_ACCOUNT_SID: SID,
    MOTCUA_SMS_AUTH_TOKEN: 'tw', MOTCUA_SMS_SENDER: '+84900000001', MOTCUA_SMS_API_BASE: STANDIN,
    MOTCUA_SCHEDULER_RATE_SMS: rate, MOTCUA_SCHEDULER_RATE_FACEBOOK: rate, MOTCUA_SCHEDULER_RATE_ZALO: rate,
    MOTCUA_SERVER_TEST_CLOCK: 'true', MOTCUA_TEST_CLOCK_OFFSET_MS: String(offset),
    MOTCUA_ADMIN_TOKENS_FILE: path.join(OUT, 'tokens.txt'),
});

const procs = [];
process.on('exit', () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});
function dispatcher(rate, consumer) {
    const p = spawn(process.env.MOTCUA_BIN, ['serve', '--config', TEST_INI, '--listen', '127.0.0.1:1', '--redis', `unix:${SOCK}`, '--role', 'dispatcher'], {
        cwd: ROOT, stdio: ['ignore', 'ignore', fs.openSync(path.join(OUT, `${consumer}.log`), 'w')],
        env: { ...env(rate), MOTCUA_WORKER_CONSUMER: consumer },
    });
    procs.push(p);
    p.stopped = new Promise((r) => p.once('exit', r));
    return p;
}
async function stop(p) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await p.stopped;
}

/** Requests the stand-in answered for a channel: their times (s) and statuses. */
function standinLog(ch) {
    const f = path.join(STANDIN_LOGS, `${STANDIN_LOG[ch]}.log`);
    if (!fs.existsSync(f)) return [];
    return fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => {
        const [t, s] = l.split(' ');
        return { t: Number(t), status: Number(s) };
    });
}
const standinCount = () => CH.reduce((n, c) => {
    const f = path.join(STANDIN_LOGS, `${STANDIN_LOG[c]}.log`);
    return n + (fs.existsSync(f) ? Math.floor(fs.statSync(f).size / LOG_LINE) : 0);
}, 0);

// the department API: one token for the bench's department, Bến Thành only
fs.writeFileSync(path.join(OUT, 'tokens.txt'),
    `${DEPT} ${createHash('sha256').update(TOKEN).digest('hex')} broadcast,read ${WARD}\n`);
let gw;
const api = async (method, p, body) => {
    const r = await httpRequest(`${gw.url}${p}`, {
        method, timeoutMs: 60000,
        headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
    });
    if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
};

try {
    // the audience: N ward subscribers over zalo/facebook/sms, windows open an hour ago
    const members = [];
    for (let i = 0; i < N; i++) {
        const c = CH[i % 3];
        members.push(`${c}:${c === 'sms' ? `+849${String(i).padStart(8, '0')}` : `u${i}`}`);
    }
    const now = Date.now() + offset;
    const mem0 = await memory();
    await loadAudience(SOCK, WARD, members, now - HOUR);
    const perSubscriber = ((await memory()) - mem0) / N; // set member and its window
    await emptyRateBuckets(SOCK, CH, now);

    // 1. scheduling: no rate left, so the fan-out writes every notification and they stay due
    gw = await startMotcua({ redisUrl: `unix:${SOCK}`, env: env(SLOW_RATE), args: ['--role', 'gateway'] });
    const d1 = dispatcher(SLOW_RATE, 'bench-schedule');
    await sleep(SETTLE_MS);
    if (d1.exitCode !== null) throw new Error(`dispatcher exited (${d1.exitCode}); see ${OUT}/bench-schedule.log`);
    const memBefore = await memory();
    const created = await api('POST', '/api/v1/broadcasts', { audience: { wards: [WARD], channels: CH }, text: TEXT });
    if (created.recipients !== N) throw new Error(`the broadcast counts ${created.recipients} recipients, not ${N}`);
    const id = created.id;
    const status = () => api('GET', `/api/v1/broadcasts/${id}`);
    let b = await waitFor(async () => {
        const s = await status();
        return s.fan_done_ms ? s : null;
    }, FAN_TIMEOUT_MS, POLL_MS);
    if (!b) throw new Error('the fan-out did not end');
    const enq = b.fan_done_ms - b.fan_started_ms;
    const memAfter = await memory();
    const scheduled = Object.values(b.counts.scheduled || {}).reduce((a, x) => a + x, 0);
    const early = standinCount();
    const m = await notificationMemory(SOCK, id);
    await stop(d1);

    // 2. sending: a dispatcher without rate limits sends them all to the stand-in
    const t0 = Date.now();
    const d2 = dispatcher('0', 'bench-send');
    b = await waitFor(async () => {
        const s = await status();
        return s.status === 'done' ? s : null;
    }, SEND_TIMEOUT_MS, POLL_MS);
    const doneAt = Date.now();
    if (!b) throw new Error(`not done: ${JSON.stringify(await status())}`);
    await stop(d2);
    const sentApi = Object.fromEntries(CH.map((c) => [c, b.counts.sent?.[c] || 0]));
    const logs = CH.flatMap(standinLog);
    const okStatus = logs.filter((r) => r.status >= 200 && r.status < 300).length;
    const times = logs.map((r) => r.t).sort((a, c) => a - c);
    const sendSeconds = times.length > 1 ? times[times.length - 1] - times[0] : 0;
    const sendRate = sendSeconds > 0 ? (times.length - 1) / sendSeconds : 0;
    const perCh = CH.map((c) => `${c} ${fmt(standinLog(c).length)}/${fmt(sentApi[c])}`).join(', ');
    const allSent = CH.every((c) => standinLog(c).length === sentApi[c]) && times.length === N && okStatus === N;

    // 3. the stand-in's own ceiling: wrk with requests of the dispatcher's shape
    const form = (o) => Object.entries(o).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
    const basic = `Basic ${Buffer.from(`${SID}:tw`).toString('base64')}`;
    const reqs = [
        ['POST', '/v21.0/me/messages?access_token=PAGE', { 'Content-Type': 'application/json' },
            JSON.stringify({ recipient: { id: 'u1' }, messaging_type: 'MESSAGE_TAG', tag: 'ACCOUNT_UPDATE', message: { text: TEXT } })],
        ['POST', '/v3.0/oa/message/cs', { 'Content-Type': 'application/json', access_token: 'ZA' },
            JSON.stringify({ recipient: { user_id: 'u0' }, message: { text: TEXT } })],
        ['POST', `/2010-04-01/Accounts/${SID}/Messages.json`, { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic },
            form({ To: '+84900000002', From: '+84900000001', Body: TEXT })],
    ];
    const lstr = (s) => {
        let eq = '=';
        while (s.includes(`]${eq}]`)) eq += '=';
        return `[${eq}[${s}]${eq}]`;
    };
    const lua = [
        'local reqs = {}',
        'function init(args)',
        ...reqs.map(([mth, p, h, body]) => `    reqs[#reqs + 1] = wrk.format(${lstr(mth)}, ${lstr(p)}, { ${Object.entries(h).map(([k, v]) => `[ ${lstr(k)} ] = ${lstr(v)}`).join(', ')} }, ${lstr(body)})`),
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
    const before = standinCount();
    const w = spawnSync('wrk', ['-t2', `-c${WRK_CONNS}`, `-d${WRK_SECONDS}s`, '-s', path.join(OUT, 'replay.lua'), STANDIN], { encoding: 'utf8' });
    fs.writeFileSync(path.join(OUT, 'wrk.txt'), `${w.stdout}${w.stderr}`);
    const mm = /^RESULT (\d+) (\d+) (\d+) (\d+)$/m.exec(w.stdout || '');
    if (!mm) throw new Error(`wrk: ${w.stdout}${w.stderr}`);
    const [wReq, wUs, wBad, wSock] = mm.slice(1).map(Number);
    const rawRate = wReq / (wUs / 1e6);
    const counted = standinCount() - before;

    const row = (k, v) => console.log(`${k.padEnd(58)} ${v}`);
    console.log(`\nbroadcast of ${fmt(N)} recipients (zalo/facebook/sms), one dispatcher, nginx stand-in for the providers`);
    row('time to enqueue (fan-out: notifications written, due)', `${fmt(enq)} ms (${fmt(N / (enq / 1000))} recipients/s)`);
    row('Redis memory per scheduled notification', `${fmt((memAfter - memBefore) / scheduled)} bytes (used_memory +${((memAfter - memBefore) / 1048576).toFixed(1)} MB for ${fmt(scheduled)})`);
    row('  of which: its hash (MEMORY USAGE, key included)', `${fmt(m.hashBytes)} bytes (${m.hashEncoding}; the ${Buffer.byteLength(TEXT)}-byte text is kept once, in the broadcast)`);
    row('  of which: its entry in the due set', `${fmt(m.dueBytes / Math.max(1, m.dueMembers))} bytes`);
    row('Redis memory per subscriber (set member + chat window)', `${fmt(perSubscriber)} bytes`);
    row('sustained send rate, motcua → stand-in (first → last)', `${fmt(sendRate)} messages/s (${fmt(times.length)} requests in ${sendSeconds.toFixed(2)} s, nginx's clock)`);
    row('  stand-in requests / sent per the API, by channel', `${perCh}; 2xx ${fmt(okStatus)}; sent before the send phase ${early}`);
    row(`stand-in's own ceiling from wrk (${WRK_CONNS} conns, ${WRK_SECONDS} s)`, `${fmt(rawRate)} requests/s (the 3 request shapes; non-2xx ${wBad}, socket errors ${wSock}, logged ${fmt(counted)})`);
    row('motcua / stand-in ceiling', `${(100 * sendRate / rawRate).toFixed(0)}%`);
    row('dispatcher start → broadcast done (API status)', `${fmt(doneAt - t0)} ms`);
    if (!allSent) throw new Error(`the stand-in did not get exactly one 2xx request per recipient (${perCh}; ${times.length} of ${N})`);

    figure('bc.recipients', N);
    figure('bc.enqueue_ms', enq);
    figure('bc.send_rate', sendRate.toFixed(0));
    figure('bc.standin_ceiling', rawRate.toFixed(0));
    figure('bc.bytes_per_notification', ((memAfter - memBefore) / scheduled).toFixed(0));
} finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    if (gw) await gw.stop();
}
