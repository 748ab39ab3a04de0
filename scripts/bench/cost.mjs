// scripts/bench/cost.mjs — instructions and Redis commands per unit of work, driven by
// scripts/bench/cost.sh (read its header for the method). Environment: REDIS_SOCK
// (private Redis), STANDIN_URL and STANDIN_DIR (nginx provider stand-in), COST_DIR
// (scratch), BENCH_FIGURES, MOTCUA_BIN (the normal build), COST_N_* (units per run).
// Prints one table; appends its figures to BENCH_FIGURES.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { ROOT, startMotcua, httpRequest, sleep } from '../../tests/lib/harness.mjs';
import { TEXTS, signedWebhook } from './lib/webhooks.mjs';
import { loadAudience, openChatWindows } from './lib/keys.mjs';

const SOCK = process.env.REDIS_SOCK;
const STANDIN = process.env.STANDIN_URL;
const STANDIN_DIR = process.env.STANDIN_DIR;
const OUT = path.resolve(process.env.COST_DIR);
const FIGURES = process.env.BENCH_FIGURES;
const BIN = path.resolve(ROOT, process.env.MOTCUA_BIN);
process.env.MOTCUA_BIN = BIN; // the harness's startMotcua runs it too

const num = (v, d) => (v ? Number(v) : d);
const N = {
    classify: num(process.env.COST_N_CLASSIFY, 2000),
    webhook: num(process.env.COST_N_WEBHOOK, 1000),
    turn: num(process.env.COST_N_TURN, 400),
    notification: num(process.env.COST_N_NOTIFICATION, 400),
    recipient: num(process.env.COST_N_RECIPIENT, 1500),
};
const MIN_WINDOW_MS = 8000; // ready → SIGTERM, at least
const WINDOW_SLACK = 0.3; // the window is the 2N run's busy time plus this share (and 2 s)
const WINDOW_PAD_MS = 2000;
const READY_TIMEOUT_MS = 120000; // start-up under callgrind
const UNIT_TIMEOUT_MS = 300000; // one run's work under callgrind
const STOP_TIMEOUT_MS = 60000;
const POLL_MS = 100;
const IN_FLIGHT = 8; // webhooks or API calls at once
const NOTIFY_RATE = 25; // notifications/s posted: well under what motcua sends under callgrind
const PSIDS = 100; // citizens the webhooks come from (turns build up conversations)
const SECRET = 'bench-app-secret';
const TOKEN = 'bench-cost-token';
const WARD = '26743'; // Bến Thành (vi-nlp/data/wards.csv)
const CH = ['zalo', 'facebook', 'sms'];
const SID = 'AC0123456789abcdef0123456789abcdef';
const LOG_LINE = 19; // bytes of one stand-in access log line
const HOUR = 3600000;
const HCM_OFFSET = 7 * HOUR;
const TOP_COMMANDS = 6; // per unit, in the breakdown

const noon = (() => {
    const now = Date.now();
    const day = Math.floor((now + HCM_OFFSET) / (24 * HOUR)) * 24 * HOUR;
    let t = day + 12 * HOUR - HCM_OFFSET;
    if (t <= now) t += 24 * HOUR;
    return t - now;
})();
fs.writeFileSync(path.join(OUT, 'tokens.txt'),
    `bench ${createHash('sha256').update(TOKEN).digest('hex')} notify,broadcast,read ${WARD}\n`);
const ENV = {
    ...process.env, MOTCUA_LOG_LEVEL: 'warn', MOTCUA_OUTBOX_DIR: path.join(OUT, 'outbox'),
    MOTCUA_FACEBOOK_ENABLED: 'true', MOTCUA_FACEBOOK_APP_SECRET: SECRET, MOTCUA_FACEBOOK_VERIFY_TOKEN: 'v',
    MOTCUA_FACEBOOK_PAGE_ACCESS_TOKEN: 'PAGE', MOTCUA_FACEBOOK_API_BASE: STANDIN,
    MOTCUA_ZALO_ENABLED: 'true', MOTCUA_ZALO_APP_ID: '1', MOTCUA_ZALO_OA_SECRET_KEY: 'k', MOTCUA_ZALO_APP_SECRET: 'zs',
    MOTCUA_ZALO_ACCESS_TOKEN: 'ZA', MOTCUA_ZALO_REFRESH_TOKEN: 'ZR', MOTCUA_ZALO_API_BASE: STANDIN, MOTCUA_ZALO_OAUTH_BASE: STANDIN,
    MOTCUA_SMS_ENABLED: 'true', MOTCUA_SMS_PROVIDER: 'twilio', MOTCUA_SMS_ACCOUNT_SID: SID,
    MOTCUA_SMS_AUTH_TOKEN: 'tw', MOTCUA_SMS_SENDER: '+84900000001', MOTCUA_SMS_API_BASE: STANDIN,
    MOTCUA_SCHEDULER_RATE_SMS: '0', MOTCUA_SCHEDULER_RATE_FACEBOOK: '0', MOTCUA_SCHEDULER_RATE_ZALO: '0',
    MOTCUA_SERVER_TEST_CLOCK: 'true', MOTCUA_TEST_CLOCK_OFFSET_MS: String(noon),
    MOTCUA_ADMIN_TOKENS_FILE: path.join(OUT, 'tokens.txt'),
};

/* ------------------------------------------------------------- helpers */

const redis = (...args) => execFileSync('redis-cli', ['-s', SOCK, ...args.map(String)], { encoding: 'utf8' });
/** INFO commandstats as a Map command → calls (script and MULTI commands included). */
function cmdstats() {
    const m = new Map();
    for (const l of redis('INFO', 'commandstats').split('\n')) {
        const r = /^cmdstat_([^:]+):calls=(\d+),/.exec(l.trim());
        if (r) m.set(r[1], Number(r[2]));
    }
    return m;
}
/** Calls between two snapshots, without the INFO calls the bench itself makes. */
function cmddiff(a, b) {
    const d = new Map();
    for (const [k, v] of b) if (k !== 'info' && v - (a.get(k) || 0) > 0) d.set(k, v - (a.get(k) || 0));
    return d;
}
const sum = (m) => [...m.values()].reduce((a, x) => a + x, 0);

function callgrindTotal(file) {
    const m = /^totals:\s+(\d+)/m.exec(fs.readFileSync(file, 'utf8'));
    if (!m) throw new Error(`no totals in ${file}`);
    return Number(m[1]);
}

function standinCount(names = ['facebook', 'zalo', 'twilio']) {
    return names.reduce((n, f) => {
        const p = path.join(STANDIN_DIR, 'logs', `${f}.log`);
        return n + (fs.existsSync(p) ? Math.floor(fs.statSync(p).size / LOG_LINE) : 0);
    }, 0);
}
async function standinRotate() {
    for (const f of fs.readdirSync(path.join(STANDIN_DIR, 'logs'))) fs.rmSync(path.join(STANDIN_DIR, 'logs', f));
    process.kill(Number(fs.readFileSync(path.join(STANDIN_DIR, 'nginx.pid'), 'utf8')), 'SIGUSR1');
    await sleep(200);
}

async function until(what, fn, ms) {
    const end = Date.now() + ms;
    while (!(await fn())) {
        if (Date.now() > end) throw new Error(`timed out: ${what}`);
        await sleep(POLL_MS);
    }
}

/** Runs `jobs` (async functions) with at most IN_FLIGHT at once. */
async function pool(jobs) {
    let next = 0;
    const worker = async () => {
        while (next < jobs.length) await jobs[next++]();
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, jobs.length) }, worker));
}

/* ---------------------------------------------------------------- runs */

/**
 * One `motcua serve` under callgrind: prepare(n) (before the snapshot), start, wait for
 * /healthz, drive(n, url), keep it up until `windowMs` after ready (null: decide from
 * this run's busy time; a paced drive's busy time is its pace), SIGTERM, wait for the
 * exit. Returns the run's instructions, Redis commands, busy time and window.
 */
async function serveRun(label, n, windowMs, { converse, prepare, drive, paced }) {
    await standinRotate();
    redis('FLUSHALL');
    if (prepare) await prepare(n);
    const before = cmdstats();
    const port = await freePort();
    const out = path.join(OUT, `${label}-${n}.callgrind`);
    const proc = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, BIN, 'serve', '--config', 'config/demo.ini',
        '--listen', `127.0.0.1:${port}`, '--redis', `unix:${SOCK}`], {
        cwd: ROOT, env: { ...ENV, MOTCUA_WORKER_CONVERSE: String(converse), MOTCUA_WORKER_CONSUMER: `cost-${label}` },
        stdio: ['ignore', 'ignore', fs.openSync(path.join(OUT, `${label}-${n}.log`), 'w')],
    });
    const exited = new Promise((r) => proc.once('exit', r));
    try {
        const url = `http://127.0.0.1:${port}`;
        await until(`${label}: motcua ready`, async () => {
            if (proc.exitCode !== null) throw new Error(`${label}: motcua exited (${proc.exitCode}); see ${OUT}/${label}-${n}.log`);
            try {
                return (await httpRequest(`${url}/healthz`, { timeoutMs: 5000 })).status === 200;
            } catch {
                return false;
            }
        }, READY_TIMEOUT_MS);
        const ready = Date.now();
        await drive(n, url);
        const busy = Date.now() - ready;
        const win = windowMs ?? Math.max(MIN_WINDOW_MS, Math.round(busy * (paced ? 1 : 1 + WINDOW_SLACK)) + WINDOW_PAD_MS);
        const left = ready + win - Date.now();
        if (left > 0) await sleep(left);
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
        const code = await exited;
        clearTimeout(t);
        if (code !== 0) throw new Error(`${label}: motcua exited ${code} on SIGTERM; see ${OUT}/${label}-${n}.log`);
        return { ir: callgrindTotal(out), cmds: cmddiff(before, cmdstats()), busy, win };
    } finally {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
}

function freePort() {
    return new Promise((resolve) => {
        const s = http.createServer().listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

/** Posts webhooks first..first+n-1 (the same texts and citizens in every run). */
async function postWebhooks(url, label, n) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
    let bad = 0;
    const jobs = Array.from({ length: n }, (_, i) => async () => {
        const w = signedWebhook(SECRET, i, `m_cost_${label}_${String(i).padStart(7, '0')}`, `psid${String(i % PSIDS).padStart(3, '0')}`);
        const status = await new Promise((resolve) => {
            const rq = http.request(`${url}/webhook/facebook`, {
                method: 'POST', agent,
                headers: { 'content-type': 'application/json', 'x-hub-signature-256': w.signature },
            }, (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode));
            });
            rq.on('error', () => resolve(0));
            rq.end(w.body);
        });
        if (status !== 200) bad++;
    });
    await pool(jobs);
    agent.destroy();
    if (bad) throw new Error(`${bad} of ${n} webhooks not answered 200`);
}

/** The department API of the motcua at `url`, with the bench's token. */
const apiOf = (url) => async (method, p, body) => {
    const r = await httpRequest(`${url}${p}`, {
        method, timeoutMs: 60000, body: JSON.stringify(body),
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    });
    if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
};

/** A normal-build gateway with the department API, for work created before a run. */
async function withGateway(fn) {
    const gw = await startMotcua({ redisUrl: `unix:${SOCK}`, env: ENV, args: ['--role', 'gateway'] });
    try {
        return await fn(apiOf(gw.url));
    } finally {
        await gw.stop();
    }
}

const recipients = (n) => Array.from({ length: n }, (_, i) => {
    const c = CH[i % 3];
    return `${c}:${c === 'sms' ? `+849${String(i).padStart(8, '0')}` : `u${i}`}`;
});
const BC_TEXT = 'Thông báo: phường Bến Thành tạm ngừng cấp điện từ 8:00 đến 16:00 ngày 25/11 để bảo trì lưới điện.';

const UNITS = [
    {
        key: 'webhook', what: 'accepted webhook (converse = false)', converse: false,
        drive: (n, url) => postWebhooks(url, 'webhook', n),
    },
    {
        key: 'turn', what: 'conversation turn (webhook → reply sent)', converse: true,
        drive: async (n, url) => {
            await postWebhooks(url, 'turn', n);
            await until('turn: every reply at the stand-in', () => standinCount(['facebook']) >= n, UNIT_TIMEOUT_MS);
        },
        check: (n) => `${(standinCount(['facebook']) / n).toFixed(2)} replies per turn`,
    },
    {
        key: 'notification', what: 'notification (API POST → sent)', converse: false, paced: true,
        prepare: (n) => openChatWindows(SOCK, recipients(n), Date.now() + noon - HOUR),
        // paced, so that the sender's backlog stays small and does not depend on timing
        drive: async (n, url) => {
            const api = apiOf(url);
            const t0 = Date.now();
            await pool(recipients(n).map((m, i) => async () => {
                const wait = t0 + (1000 * i) / NOTIFY_RATE - Date.now();
                if (wait > 0) await sleep(wait);
                const c = m.slice(0, m.indexOf(':'));
                await api('POST', '/api/v1/notifications', { to: { channel: c, user_id: m.slice(c.length + 1) }, text: `${TEXTS[i % TEXTS.length]} (${i})`, channels: [c] });
            }));
            await until('notification: every request at the stand-in', () => standinCount() >= n, UNIT_TIMEOUT_MS);
        },
        check: (n) => `${standinCount()} of ${n} at the stand-in, ${NOTIFY_RATE}/s`,
    },
    {
        key: 'recipient', what: 'broadcast recipient (fan-out + send)', converse: false,
        prepare: async (n) => {
            await loadAudience(SOCK, WARD, recipients(n), Date.now() + noon - HOUR);
            await withGateway(async (api) => {
                const r = await api('POST', '/api/v1/broadcasts', { audience: { wards: [WARD], channels: CH }, text: BC_TEXT });
                if (r.recipients !== n) throw new Error(`broadcast of ${r.recipients}, not ${n}`);
            });
        },
        drive: (n) => until('recipient: every request at the stand-in', () => standinCount() >= n, UNIT_TIMEOUT_MS),
        check: (n) => `${standinCount()} of ${n} at the stand-in; a burst: moves with the sender's backlog`,
    },
];

/* ---------------------------------------------------------------- main */

const ONLY = process.env.COST_UNITS ? process.env.COST_UNITS.split(/[\s,]+/) : null; // e.g. "webhook turn"
const wanted = (k) => !ONLY || ONLY.includes(k);
const rows = [];
const fmt = (x) => Math.round(x).toLocaleString('en-US');

// per classified message: `motcua classify` over N and 2N lines of the dev texts
if (wanted('classify')) {
    const texts = fs.readFileSync(path.join(ROOT, 'intents/data/dev.tsv'), 'utf8').split('\n')
        .filter((l) => l.trim() && !l.startsWith('#')).map((l) => l.split('\t')[1]);
    const lines = (n) => Array.from({ length: n }, (_, i) => texts[i % texts.length]).join('\n') + '\n';
    const run = (n) => {
        const out = path.join(OUT, `classify-${n}.callgrind`);
        fs.writeFileSync(path.join(OUT, `classify-${n}.txt`), lines(n));
        execFileSync('sh', ['-c', `valgrind --tool=callgrind --callgrind-out-file="$1" "$2" classify <"$3" >/dev/null 2>"$4"`, 'sh',
            out, BIN, path.join(OUT, `classify-${n}.txt`), path.join(OUT, `classify-${n}.log`)], { cwd: ROOT });
        return callgrindTotal(out);
    };
    // whole passes over the texts, so that the N more lines of the 2N run are the same mix
    const n = Math.max(1, Math.round(N.classify / texts.length)) * texts.length;
    const i2 = run(2 * n);
    const i1 = run(n);
    rows.push({ key: 'classify', what: 'classified message (motcua classify)', n, ir: (i2 - i1) / n, redis: null, note: `dev texts; I(N) ${fmt(i1)}` });
}

for (const u of UNITS.filter((x) => wanted(x.key))) {
    const n = N[u.key];
    const r2 = await serveRun(u.key, 2 * n, null, u);
    const note2 = u.check ? u.check(2 * n) : '';
    const r1 = await serveRun(u.key, n, r2.win, u);
    const cmds = new Map();
    for (const [k, v] of r2.cmds) cmds.set(k, (v - (r1.cmds.get(k) || 0)) / n);
    const top = [...cmds].filter(([, v]) => v >= 0.005).sort((a, b) => b[1] - a[1]).slice(0, TOP_COMMANDS)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
    const over = [r1, r2].filter((r) => r.busy > r.win).length;
    rows.push({
        key: u.key, what: u.what, n, ir: (r2.ir - r1.ir) / n, redis: (sum(r2.cmds) - sum(r1.cmds)) / n,
        note: `${top}${note2 ? `; ${note2}` : ''}; window ${(r2.win / 1000).toFixed(1)} s, busy ${(r1.busy / 1000).toFixed(1)}/${(r2.busy / 1000).toFixed(1)} s${over ? ' (OVERRUN: idle not matched)' : ''}`,
    });
}

const git = (...a) => {
    try {
        return execFileSync('git', a, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
        return '';
    }
};
const commit = git('rev-parse', '--short', 'HEAD') || 'unknown commit';
const dirty = git('status', '--porcelain', '--untracked-files=no') ? ', with uncommitted changes' : '';
const version = execFileSync(BIN, ['--version'], { encoding: 'utf8' }).trim();
console.log(`\ncost per unit of work: ${path.relative(ROOT, BIN)} (${version}, commit ${commit}${dirty}) under valgrind --tool=callgrind`);
console.log(`(instructions: (I(2N) - I(N)) / N; Redis: INFO commandstats, calls inside Lua scripts and MULTI included)`);
console.log(`${'unit'.padEnd(42)} ${'N'.padStart(6)} ${'instructions/unit'.padStart(18)} ${'Redis cmds/unit'.padStart(16)}  per-unit Redis commands, notes`);
for (const r of rows) {
    console.log(`${r.what.padEnd(42)} ${String(r.n).padStart(6)} ${fmt(r.ir).padStart(18)} ${(r.redis === null ? '-' : r.redis.toFixed(2)).padStart(16)}  ${r.note}`);
    fs.appendFileSync(FIGURES, `cost.${r.key}.ir\t${Math.round(r.ir)}\n${r.redis === null ? '' : `cost.${r.key}.redis\t${r.redis.toFixed(2)}\n`}`);
}
