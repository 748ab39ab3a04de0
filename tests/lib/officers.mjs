// tests/lib/officers.mjs — officers for the tests: `motcua officer` on the command line,
// TOTP codes computed here (RFC 6238, HMAC-SHA1 from Node's crypto), console sign-in,
// the first password change, and requests with the session cookie and its CSRF token.

import crypto from 'node:crypto';
import { runMotcua, httpRequest, TEST_INI } from './harness.mjs';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The bytes of a base32 text (no padding). */
export function base32Decode(s) {
    let bits = '';
    for (const c of s.replace(/=+$/, '')) {
        const v = B32.indexOf(c.toUpperCase());
        if (v < 0) throw new Error(`not base32: ${s}`);
        bits += v.toString(2).padStart(5, '0');
    }
    const out = [];
    for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
    return Buffer.from(out);
}

/** The 6-digit TOTP code of secret (base32) at unix time `t` seconds (default now). */
export function totp(secret, t = Date.now() / 1000) {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(BigInt(Math.floor(t / 30)));
    const h = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
    const off = h[h.length - 1] & 15;
    return String((h.readUInt32BE(off) & 0x7fffffff) % 1000000).padStart(6, '0');
}

/** `motcua officer ARGS...` against the Redis at redisUrl; resolves {code, stdout, stderr}. */
export function officerCli(redisUrl, args, { config = TEST_INI, env = {} } = {}) {
    return runMotcua(['officer', ...args, '--config', config], {
        env: { MOTCUA_REDIS_URL: redisUrl, ...env },
    });
}

/** The two lines of `add` and `reset`: {password, uri, secret}. */
export function parseSecrets(stdout) {
    const pw = /^password: (\S+)$/m.exec(stdout);
    const uri = /^totp: (otpauth:\/\/totp\/motcua:[^?\s]+\?secret=([A-Z2-7]+)&issuer=motcua)$/m.exec(stdout);
    if (!pw || !uri) throw new Error(`no password or totp line in: ${stdout}`);
    return { password: pw[1], uri: uri[1], secret: uri[2] };
}

/** Adds an officer with the command line: {user, password, secret, uri}. */
export async function addOfficer(redisUrl, { dept, user, role, areas = '*' }) {
    const r = await officerCli(redisUrl, ['add', '--dept', dept, '--user', user, '--role', role, '--areas', areas]);
    if (r.code !== 0) throw new Error(`officer add ${user}: ${r.code} ${r.stderr}`);
    return { user, dept, role, ...parseSecrets(r.stdout) };
}

/** The session id of a Set-Cookie header (array or string), or null. */
export function sessionOf(setCookie) {
    for (const c of [].concat(setCookie || [])) {
        const m = /^motcua_session=([0-9a-f]{32});/.exec(c);
        if (m) return m[1];
    }
    return null;
}

/** POST /console/api/session; resolves {status, headers, json, cookie, csrf}. */
export async function signIn(url, user, password, code, { headers = {} } = {}) {
    const r = await httpRequest(`${url}/console/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ user, password, totp: code }),
        timeoutMs: 15000,
    });
    let json = null;
    try {
        json = JSON.parse(r.body);
    } catch {
        /* not JSON */
    }
    const sid = sessionOf(r.headers['set-cookie']);
    return { ...r, json, sid, cookie: sid ? `motcua_session=${sid}` : null, csrf: json?.csrf };
}

/** A session's request: cookie, CSRF header on writes (unless csrf: false). */
export async function sessionRequest(url, s, method, path, { body, csrf = true, headers = {} } = {}) {
    const h = { cookie: s.cookie, ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    if (csrf && method !== 'GET' && s.csrf) h['x-csrf-token'] = csrf === true ? s.csrf : csrf;
    const r = await httpRequest(`${url}${path}`, {
        method,
        headers: h,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        timeoutMs: 15000,
    });
    let json = null;
    try {
        json = JSON.parse(r.body);
    } catch {
        /* not JSON */
    }
    return { ...r, json };
}

/**
 * Signs an officer in for the first time and changes the one-time password: resolves the
 * session {cookie, csrf, sid, password} ready for every call. `step` picks the TOTP step
 * (0: now) so that two sign-ins in the same 30 s can use different codes.
 */
export async function firstSignIn(url, off, { newPassword = `mat khau moi ${off.user} 2026`, step = 0 } = {}) {
    const code = totp(off.secret, Date.now() / 1000 + step * 30);
    const s = await signIn(url, off.user, off.password, code);
    if (s.status !== 200) throw new Error(`sign-in of ${off.user}: ${s.status} ${s.body}`);
    const r = await sessionRequest(url, s, 'POST', '/console/api/password', {
        body: { old: off.password, new: newPassword },
    });
    if (r.status !== 200) throw new Error(`password change of ${off.user}: ${r.status} ${r.body}`);
    off.password = newPassword;
    return s;
}
