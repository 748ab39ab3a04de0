// tests/lib/keys.mjs — the keyspace of gateway/store/gw_keys.c, for tests that look into
// Redis: "mc:{<tag>}:<family>[:<part>...]", the tag of partition i being "p<i>.<k>" with
// the smallest k whose CRC16 slot lies in the i-th of n equal slot ranges. The C table is
// the reference; test_gw_keys.c and these helpers check the same rules.

export const PARTITIONS = Number(process.env.MOTCUA_REDIS_PARTITIONS || 16);

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    TABLE[i] = c;
}

/** CRC16-CCITT (XMODEM) of a string's UTF-8 bytes, as Redis Cluster computes it. */
export function crc16(s) {
    let crc = 0;
    for (const b of Buffer.from(s, 'utf8')) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ b) & 0xff];
    return crc;
}

const tagCache = new Map();
/** The tag of partition i among n. */
export function tag(i, n = PARTITIONS) {
    const key = `${n}:${i}`;
    if (tagCache.has(key)) return tagCache.get(key);
    const lo = Math.floor((i * 16384) / n), hi = Math.floor(((i + 1) * 16384) / n);
    for (let k = 0; ; k++) {
        const t = `p${i}.${k}`;
        const slot = crc16(t) % 16384;
        if (slot >= lo && slot < hi) {
            tagCache.set(key, t);
            return t;
        }
    }
}

/** The partition of an identity ("<channel>:<user>", "dept:<dept>", a dossier code...). */
export function partOf(s, n = PARTITIONS) {
    return crc16(s) % n;
}

/** The partition a partitioned id ("<partition>-<rest>") names, or -1. */
export function partOfId(id) {
    const m = /^(0|[1-9][0-9]*)-/.exec(id);
    return m ? Number(m[1]) : -1;
}

/** The key of `family` in partition `part` with its parts. */
export function key(family, part, ...parts) {
    return [`mc:{${tag(part)}}:${family}`, ...parts].join(':');
}

/** An own-tag family's key ("report_seq", "token", ...). */
export function ownKey(family, ...parts) {
    return [`mc:{${family}}:${family}`, ...parts].join(':');
}

/** The same family's key in every partition. */
export function everyPart(family, ...parts) {
    return Array.from({ length: PARTITIONS }, (_, p) => key(family, p, ...parts));
}

/** The key of a citizen's family ("conv", "subs", "dlv"...): `<family>:<ch>:<user>[:parts]` in the citizen's partition. */
export function citizenKey(family, ch, user, ...parts) {
    return key(family, partOf(`${ch}:${user}`), ch, user, ...parts);
}

/** The key of a family named by a partitioned id ("notif", "attempts", "bc", "batch"...) in the partition the id names. */
export function idKey(family, id, ...parts) {
    const p = partOfId(id);
    if (p < 0 || p >= PARTITIONS) throw new Error(`idKey: ${id} names no partition`);
    return key(family, p, id, ...parts);
}

/** A partitioned id "<p>-<rest>": p is the partition of `rest` unless given. */
export function partitionedId(rest, p = partOf(rest)) {
    return `${p}-${rest}`;
}

/**
 * The SADD commands that subscribe members ("<channel>:<user>") to a ward as the API
 * does: each member in its own partition's sub_ward set, or with `tag` its sub_ward_tag
 * set; `chunk` members a command at most.
 */
export function wardSubCmds(ward, members, tag, chunk = 1000) {
    const by = new Map();
    for (const m of members) {
        const p = partOf(m);
        if (!by.has(p)) by.set(p, []);
        by.get(p).push(m);
    }
    const cmds = [];
    for (const [p, ms] of by) {
        const k = tag === undefined ? key('sub_ward', p, ward) : key('sub_ward_tag', p, ward, tag);
        for (let i = 0; i < ms.length; i += chunk) cmds.push(['SADD', k, ...ms.slice(i, i + chunk)]);
    }
    return cmds;
}
