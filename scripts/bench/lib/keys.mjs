// scripts/bench/lib/keys.mjs — the only place where the bench names motcua's Redis keys.
//
// Everything else in scripts/bench/ goes through motcua itself (webhooks, the department
// API: POST /api/v1/broadcasts, GET /api/v1/broadcasts/{id}) or through key-free Redis
// figures (INFO memory, INFO commandstats). What is left needs raw keys because no API
// does it: loading 100,000 ward subscribers quickly, opening their chat windows (as if
// each had written an hour ago), emptying the channels' rate buckets, and the memory
// breakdown of one scheduled notification.
//
// The names come from tests/lib/keys.mjs, the tests' mirror of the keyspace table of
// gateway/store/gw_keys.c ("mc:{<tag>}:<family>:..."): a ward's subscribers are spread
// over the partitions of their "<channel>:<user>", as the subscriptions API stores them.

import { execFile } from 'node:child_process';
import { PARTITIONS, key, ownKey, partOf, wardSubCmds } from '../../../tests/lib/keys.mjs';

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
    const cmds = wardSubCmds(ward, members, undefined, SADD_CHUNK);
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
        return ['HSET', key('conv', partOf(m), m.slice(0, i), m.slice(i + 1)), 'last_in_ms', String(lastInMs)];
    });
    if (windows.length) await pipe(sock, windows);
}

/** Empties each channel's token bucket (gw_sched's rate limiter) at nowMs. */
export async function emptyRateBuckets(sock, channels, nowMs) {
    await pipe(sock, channels.map((c) => ['HSET', ownKey('rate', c), 'tokens', '0', 'ts', String(nowMs)]));
}

/**
 * Memory of one scheduled notification of broadcast `bcId` (the first recipient of the
 * first partition that has one: bytes and encoding of its hash) and of the due sets of
 * every partition ({bytes, members}, summed).
 */
export async function notificationMemory(sock, bcId) {
    let one = null;
    let dueBytes = 0, dueMembers = 0;
    for (let p = 0; p < PARTITIONS; p++) {
        const k = key('notif', p, `${p}-${bcId}-1`);
        if (!one && (await cli(sock, 'EXISTS', k)) === '1') one = k;
        const members = Number(await cli(sock, 'ZCARD', key('due', p)));
        if (members) {
            dueMembers += members;
            dueBytes += Number(await cli(sock, 'MEMORY', 'USAGE', key('due', p), 'SAMPLES', '0'));
        }
    }
    return {
        hashBytes: one ? Number(await cli(sock, 'MEMORY', 'USAGE', one, 'SAMPLES', '0')) : 0,
        hashEncoding: one ? await cli(sock, 'OBJECT', 'ENCODING', one) : 'none',
        dueBytes,
        dueMembers,
    };
}
