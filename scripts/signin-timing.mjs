#!/usr/bin/env node
// signin-timing.mjs — how long a failed console sign-in takes, by what was wrong (issue
// 12: a wrong user, a wrong password and a wrong code must look the same from outside).
// Starts a private Redis and motcua (build/motcua unless MOTCUA_BIN says otherwise) on
// loopback, adds one officer, then signs in TRIES times each with an unknown user, the
// right user and a wrong password, and the right user and password with a wrong code,
// the three cases interleaved so that the machine's load falls on all alike. Prints the
// median, 10th and 90th percentile of each, in milliseconds. The lockout is raised for
// the run ([console] max_failures); nothing here is a pass/fail test.
//
//   node scripts/signin-timing.mjs [TRIES]          (default 200)

import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT, makeTempDir, removeTempDir, startRedis, startMotcua, httpRequest, waitFor } from '../tests/lib/harness.mjs';
import { addOfficer, totp } from '../tests/lib/officers.mjs';

const TRIES = Number(process.argv[2] || 200);
process.env.MOTCUA_BIN ||= path.join(ROOT, 'build', 'motcua');

const pct = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const dir = makeTempDir('motcua-timing-');
const redis = await startRedis(path.join(dir, 'redis'));
const tokens = path.join(dir, 'tokens.txt');
(await import('node:fs')).writeFileSync(tokens, '');
const mc = await startMotcua({
    redisUrl: redis.url,
    args: ['--role', 'gateway'],
    env: { MOTCUA_ADMIN_TOKENS_FILE: tokens, MOTCUA_CONSOLE_MAX_FAILURES: '1000000' },
});
try {
    await waitFor(async () => (await httpRequest(`${mc.url}/healthz`)).status === 200, 10000, 50);
    const off = await addOfficer(redis.url, { dept: 'do-thoi-gian', user: 'do.thoi.gian', role: 'viewer' });
    const wrongCode = () => {
        const c = totp(off.secret);
        return c === '000000' ? '000001' : '000000';
    };
    const cases = {
        'wrong user': () => ({ user: 'khong.co.ai', password: off.password, totp: totp(off.secret) }),
        'wrong password': () => ({ user: off.user, password: 'khong phai mat khau', totp: totp(off.secret) }),
        'wrong code': () => ({ user: off.user, password: off.password, totp: wrongCode() }),
    };
    const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
    const bodies = new Set();
    for (let i = 0; i < 5; i++) // warm-up: connections, scripts loaded, the dummy hash made
        for (const make of Object.values(cases))
            await httpRequest(`${mc.url}/console/api/session`, { method: 'POST', body: JSON.stringify(make()) });
    for (let i = 0; i < TRIES; i++) {
        for (const [name, make] of Object.entries(cases)) {
            const body = JSON.stringify(make());
            const t0 = performance.now();
            const r = await httpRequest(`${mc.url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, timeoutMs: 10000 });
            times[name].push(performance.now() - t0);
            if (r.status !== 401) throw new Error(`${name}: ${r.status} ${r.body}`);
            bodies.add(r.body);
        }
    }
    console.log(`console sign-in failures, ${TRIES} tries each, ms (motcua ${process.env.MOTCUA_BIN}):`);
    console.log('case             median    p10    p90');
    for (const [name, xs] of Object.entries(times))
        console.log(`${name.padEnd(15)} ${pct(xs, 50).toFixed(2).padStart(7)} ${pct(xs, 10).toFixed(2).padStart(6)} ${pct(xs, 90).toFixed(2).padStart(6)}`);
    console.log(`distinct answer bodies: ${bodies.size}`);
} finally {
    await mc.stop();
    await redis.stop();
    removeTempDir(dir);
}
