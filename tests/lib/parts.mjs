// Reading a family over every partition (tests/lib/keys.mjs) in one round trip: the
// stream lengths, set sizes, pending counts... that a test used to read from one key.

import { redisCli } from './harness.mjs';
import { everyPart } from './keys.mjs';

const SUM_LUA =
    "local n=0 for _,k in ipairs(KEYS) do if redis.call('EXISTS',k)==1 then " +
    "n=n+redis.call(ARGV[1],k) end end return n";

/** The sum of `cmd` (XLEN, ZCARD, HLEN, SCARD, LLEN, EXISTS...) over `keys` (missing keys count 0). */
export async function sumOver(sock, cmd, keys) {
    return Number(await redisCli(sock, 'EVAL', SUM_LUA, String(keys.length), ...keys, cmd));
}

/** The sum of `cmd` over the family's key in every partition. */
export const sumEveryPart = (sock, cmd, family, ...parts) => sumOver(sock, cmd, everyPart(family, ...parts));

const PENDING_LUA =
    "local n=0 for _,k in ipairs(KEYS) do if redis.call('EXISTS',k)==1 then " +
    "local ok,p=pcall(redis.call,'XPENDING',k,ARGV[1]) if ok then n=n+p[1] end end end return n";

/** Entries of consumer group `group` read and not acknowledged, over the streams `keys`. */
export async function pendingOver(sock, keys, group = 'motcua') {
    return Number(await redisCli(sock, 'EVAL', PENDING_LUA, String(keys.length), ...keys, group));
}

const FIND_LUA =
    "local r={} for _,k in ipairs(KEYS) do if redis.call('EXISTS',k)==1 then " +
    "for _,e in ipairs(redis.call('XRANGE',k,'-','+')) do local f=e[2] " +
    "for i=1,#f,2 do if f[i]==ARGV[1] and f[i+1]==ARGV[2] then r[#r+1]=k..' '..e[1] end end end end end return r";

/** "<stream> <entry id>" of every entry whose field `field` is `value`, over the streams `keys`. */
export async function findEntries(sock, keys, field, value) {
    const raw = await redisCli(sock, 'EVAL', FIND_LUA, String(keys.length), ...keys, field, value);
    return raw ? raw.split('\n') : [];
}
