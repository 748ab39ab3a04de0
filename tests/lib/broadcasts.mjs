// Broadcast fixtures shared by the broadcast and Redis-restart tests: the record
// POST /api/v1/broadcasts stores, and what reached the fake providers.

/** The channels these tests address, in the order subscribers are spread over them. */
export const CHANNELS = ['zalo', 'facebook', 'sms'];

/** The record POST /api/v1/broadcasts writes (hash mc:bc:<id>, sorted set mc:bc:due), due at dueMs. */
export function broadcastCmds(id, { wards, text, dueMs, n }) {
    return [
        ['HSET', `mc:bc:${id}`, 'dept', 'test-dept', 'status', 'scheduled', 'text', text, 'wards', wards.join(','),
            'channels', CHANNELS.join(','), 'tags', '', 'priority', 'normal', 'send_at_ms', String(dueMs),
            'not_after_ms', '0', 'created_ms', String(dueMs), 'recipients', String(n),
            ...CHANNELS.flatMap((c, i) => [`count:${c}`, String(Math.floor(n / 3) + (i < n % 3 ? 1 : 0))])],
        ['ZADD', 'mc:bc:due', String(dueMs), id],
    ];
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
