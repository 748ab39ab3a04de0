// Broadcast fixtures shared by the broadcast and Redis-restart tests: the record
// POST /api/v1/broadcasts stores, the wards' subscriber sets, what DELETE does, the
// broadcast's progress added up over every partition as GET /api/v1/broadcasts/{id}
// does, its notifications, and what reached the fake providers. Keys: the partitioned
// keyspace (tests/lib/keys.mjs, gateway/store/gw_keys.c).

import { redisCli, redisPipe } from './harness.mjs';
import { PARTITIONS, key, everyPart, idKey, partOf, partOfId, partitionedId } from './keys.mjs';

/** The channels these tests address, in the order subscribers are spread over them. */
export const CHANNELS = ['zalo', 'facebook', 'sms'];

/** A broadcast id as the API makes them, "<partition>-<rest>" (rest: a readable name here). */
export const broadcastId = (name) => partitionedId(name);

/** The record POST /api/v1/broadcasts writes (hash bc:<id> and bc_due in the id's partition), due at dueMs. */
export function broadcastCmds(id, { wards, text, dueMs, n }) {
    return [
        ['HSET', idKey('bc', id), 'dept', 'test-dept', 'status', 'scheduled', 'text', text, 'wards', wards.join(','),
            'channels', CHANNELS.join(','), 'tags', '', 'priority', 'normal', 'send_at_ms', String(dueMs),
            'not_after_ms', '0', 'created_ms', String(dueMs), 'recipients', String(n),
            ...CHANNELS.flatMap((c, i) => [`count:${c}`, String(Math.floor(n / 3) + (i < n % 3 ? 1 : 0))])],
        ['ZADD', key('bc_due', partOfId(id)), String(dueMs), id],
    ];
}

const CANCEL_PART_LUA =
    "if redis.call('HGET',KEYS[1],'status')=='done' then return 0 end " +
    "redis.call('HSET',KEYS[1],'status','cancelled') redis.call('DEL',KEYS[2]) return 1";

/**
 * What DELETE /api/v1/broadcasts/{id} does (gateway/api/gw_broadcasts.c bc_cancel_lua,
 * then bc_cancel_part_lua in every partition): the broadcast cancelled, its text and its
 * due entry gone, then every partition's bc_part not done yet cancelled and its seen set
 * deleted, one partition after the other.
 */
export async function cancelBroadcast(sock, id) {
    const bk = idKey('bc', id);
    await redisCli(sock, 'EVAL',
        "redis.call('HSET',KEYS[1],'status','cancelled') redis.call('HDEL',KEYS[1],'text') " +
        "redis.call('ZREM',KEYS[2],ARGV[1]) return 1", '2', bk, key('bc_due', partOfId(id)), id);
    await redisPipe(sock, Array.from({ length: PARTITIONS }, (_, q) =>
        ['EVAL', CANCEL_PART_LUA, '2', key('bc_part', q, id), key('bc_seen', q, id)]));
}

const STATE_LUA =
    "local P=tonumber(ARGV[1]) " +
    "local function h(k) local a=redis.call('HGETALL',k) local t={} for i=1,#a,2 do t[a[i]]=a[i+1] end return t end " +
    "local parts,seen={},0 for i=2,P+1 do parts[#parts+1]=h(KEYS[i]) end " +
    "for i=P+2,2*P+1 do seen=seen+redis.call('EXISTS',KEYS[i]) end " +
    "return cjson.encode({bc=h(KEYS[1]),parts=parts,seen=seen})";

/**
 * A broadcast's state: its own hash (bc), every partition's bc_part (parts, indexed by
 * partition), how many partitions still hold a seen set, and the counters of the parts
 * added up (`n(field)`: fanned, finished, fanned:<ch>, st:<status>:<ch>). `status` is
 * the one GET /api/v1/broadcasts/{id} answers: "done" once the record says sending and
 * every partition is done (or cancelled), else the record's own.
 */
export async function broadcastState(sock, id) {
    const raw = await redisCli(sock, 'EVAL', STATE_LUA, String(1 + 2 * PARTITIONS), idKey('bc', id),
        ...everyPart('bc_part', id), ...everyPart('bc_seen', id), String(PARTITIONS));
    const { bc, parts, seen } = JSON.parse(raw);
    const sums = {};
    for (const p of parts) {
        for (const [k, v] of Object.entries(p)) {
            if (k === 'fanned' || k === 'finished' || k.startsWith('fanned:') || k.startsWith('st:')) sums[k] = (sums[k] || 0) + Number(v);
        }
    }
    const settled = parts.every((p) => p.status === 'done' || p.status === 'cancelled');
    const status = bc.status === 'sending' && settled ? 'done' : bc.status ?? '';
    return { status, bc, parts, seen, sums, n: (k) => sums[k] || 0 };
}

const NOTIFS_LUA =
    "local id,r=ARGV[1],{} " +
    "for q=0,#KEYS-1 do local pre=ARGV[2+q] " +
    "local f=tonumber(redis.call('HGET',KEYS[q+1],'fanned') or '0') or 0 " +
    "for n=1,f do local h=redis.call('HMGET',pre..q..'-'..id..'-'..n,'status','to') " +
    "local ok,to=pcall(cjson.decode,h[2] or '') local who='?' " +
    "if ok and type(to)=='table' then who=(to.channel or '')..':'..(to.user_id or to.phone or '') end " +
    "r[#r+1]=q..'\\t'..n..'\\t'..(h[1] or 'missing')..'\\t'..who end " +
    "if redis.call('EXISTS',pre..q..'-'..id..'-'..(f+1))==1 then r[#r+1]=q..'\\t'..(f+1)..'\\textra\\t?' end " +
    "end return r";

/**
 * The notifications the fan-out wrote for broadcast `id`: in every partition q,
 * <q>-<id>-1 .. <q>-<id>-<fanned of q's bc_part>, each {part, id, status, who}
 * ("<channel>:<user>" of its recipient); a notification numbered past q's count comes
 * back with status "extra", a number with no hash with status "missing".
 */
export async function broadcastNotifs(sock, id) {
    const raw = await redisCli(sock, 'EVAL', NOTIFS_LUA, String(PARTITIONS), ...everyPart('bc_part', id), id,
        ...Array.from({ length: PARTITIONS }, (_, q) => key('notif', q, '')));
    return (raw ? raw.split('\n') : []).map((l) => {
        const [q, n, status, who] = l.split('\t');
        return { part: Number(q), id: `${q}-${id}-${n}`, status, who };
    });
}

/**
 * Checks the notifications of a broadcast against its audience: one per member, in
 * the member's partition, none for anyone else, none past a partition's count. Returns
 * {problems (the first few, for an assertion message), byStatus, of (member → id)}.
 */
export function auditNotifs(notifs, members) {
    const want = new Set(members);
    const of = new Map();
    const problems = [];
    const byStatus = {};
    for (const x of notifs) {
        byStatus[x.status] = (byStatus[x.status] || 0) + 1;
        if (x.status === 'extra' || x.status === 'missing') problems.push(`${x.id}: ${x.status}`);
        else if (!want.has(x.who)) problems.push(`${x.id}: to ${x.who}, not in the audience`);
        else if (of.has(x.who)) problems.push(`${x.id}: ${x.who} already has ${of.get(x.who)}`);
        else if (partOf(x.who) !== x.part) problems.push(`${x.id}: ${x.who} lives in partition ${partOf(x.who)}`);
        if (!of.has(x.who)) of.set(x.who, x.id);
    }
    const missing = members.filter((m) => !of.has(m));
    if (missing.length) problems.push(`${missing.length} members without a notification, e.g. ${missing.slice(0, 3).join(' ')}`);
    return { problems: problems.slice(0, 10), byStatus, of };
}

/** Requests per recipient ("<channel>:<id>") that reached the fakes. */
export function received(fakes) {
    const per = new Map();
    const add = (k) => per.set(k, (per.get(k) || 0) + 1);
    for (const r of fakes.requests('zalo')) if (r.body?.recipient?.user_id) add(`zalo:${r.body.recipient.user_id}`);
    for (const r of fakes.requests('facebook')) if (r.body?.recipient?.id) add(`facebook:${r.body.recipient.id}`);
    for (const r of fakes.requests('twilio')) if (r.valid && r.body?.To) add(`sms:${r.body.To}`);
    return per;
}

/** Requests the Zalo, Facebook and Twilio fakes took, all counted. */
export const totalSent = (fakes) => fakes.count('zalo') + fakes.count('facebook') + fakes.count('twilio');
