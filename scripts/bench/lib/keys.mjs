// scripts/bench/lib/keys.mjs — the only place where the bench names motcua's Redis keys.
//
// Everything else in scripts/bench/ goes through motcua itself (webhooks, the department
// API: POST /api/v1/broadcasts, GET /api/v1/broadcasts/{id}) or through key-free Redis
// figures (INFO memory, INFO commandstats). What is left needs raw keys because no API
// does it: loading 100,000 ward subscribers quickly, opening their chat windows (as if
// each had written an hour ago), emptying the channels' rate buckets, and the memory
// breakdown of one scheduled notification.
//
// The names follow gateway/store/gw_keys.h as it is today (mc:sub:ward:<ward>,
// mc:conv:<channel>:<user>, mc:rate:<channel>, mc:notif:<id>, mc:due). When the
// partitioned keyspace lands ("mc:{<tag>}:<family>:...", gw_keys.c), this file is the
// one to update: each function below says what it stands for.

import { execFile } from 'node:child_process';

const RESP_TIMEOUT_MS = 300000; // one bulk load through redis-cli --pipe
const PIPE_MAX_BUFFER = 1 << 26;
const SADD_CHUNK = 1000; // members per SADD

const enc = (a) => `*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(String(x))}\r\n${x}\r\n`).join('')}`;

/** Sends commands through `redis-cli --pipe`; rejects on any error reply. */
function pipe(sock, cmds) {
    return new Promise((resolve, reject) => {
        const p = execFile('redis-cli', ['-s', sock, '--pipe'], { timeout: RESP_TIMEOUT_MS, maxBuffer: PIPE_MAX_BUFFER }, (e, out) => {
            if (e) reject(e);
            else if (!/errors: 0,/.test(out)) reject(new Error(`redis-cli --pipe: ${out}`));
            else resolve(out);
        });
        p.stdin.end(cmds.map(enc).join(''));
    });
}

function cli(sock, ...args) {
    return new Promise((resolve, reject) => {
        execFile('redis-cli', ['-s', sock, ...args.map(String)], { timeout: 10000 }, (e, out) => (e ? reject(e) : resolve(out.trim())));
    });
}

/**
 * Ward subscribers, as the subscriptions API stores them ("<channel>:<user>" members of
 * the ward's set), with their chat windows opened at lastInMs (openChatWindows).
 */
export async function loadAudience(sock, ward, members, lastInMs) {
    const cmds = [];
    for (let i = 0; i < members.length; i += SADD_CHUNK) cmds.push(['SADD', `mc:sub:ward:${ward}`, ...members.slice(i, i + SADD_CHUNK)]);
    await pipe(sock, cmds);
    await openChatWindows(sock, members, lastInMs);
}

/**
 * Chat windows of the zalo/facebook members ("<channel>:<user>") as if each had written
 * at lastInMs (the conversation hash's last_in_ms), so that the scheduler may message
 * them; sms members have none.
 */
export async function openChatWindows(sock, members, lastInMs) {
    const windows = members.filter((m) => !m.startsWith('sms:')).map((m) => {
        const i = m.indexOf(':');
        return ['HSET', `mc:conv:${m.slice(0, i)}:${m.slice(i + 1)}`, 'last_in_ms', String(lastInMs)];
    });
    if (windows.length) await pipe(sock, windows);
}

/** Empties each channel's token bucket (gw_sched's rate limiter) at nowMs. */
export async function emptyRateBuckets(sock, channels, nowMs) {
    await pipe(sock, channels.map((c) => ['HSET', `mc:rate:${c}`, 'tokens', '0', 'ts', String(nowMs)]));
}

/**
 * Memory of one scheduled notification of broadcast `bcId` (its first recipient's hash:
 * bytes and encoding) and of the due set ({bytes, members}).
 */
export async function notificationMemory(sock, bcId) {
    const key = `mc:notif:${bcId}-1`;
    return {
        hashBytes: Number(await cli(sock, 'MEMORY', 'USAGE', key, 'SAMPLES', '0')),
        hashEncoding: await cli(sock, 'OBJECT', 'ENCODING', key),
        dueBytes: Number(await cli(sock, 'MEMORY', 'USAGE', 'mc:due', 'SAMPLES', '0')),
        dueMembers: Number(await cli(sock, 'ZCARD', 'mc:due')),
    };
}
