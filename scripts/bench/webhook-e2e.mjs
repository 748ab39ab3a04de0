// End-to-end latency: signed Facebook webhooks at a fixed rate into motcua;
// each reply's arrival at the fake Send API is matched to its webhook by the
// recipient id. Prints p50/p99 and what was lost (there should be nothing).
//
// node webhook-e2e.mjs MOTCUA_URL FAKE_URL SECRET RATE SECONDS [WARMUP_SECONDS]
// A warm-up at the same rate comes first and is not counted (default 1 s): the first
// half second of a fresh process, client and fake (connections, scripts, JIT) is
// slower than the steady state the figure is about.
import http from 'node:http';
import { createHmac } from 'node:crypto';

const [mcUrl, fakeUrl, secret, rateArg, secondsArg, warmArg] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const warmSeconds = Number(warmArg ?? 1);
const REPLY_POLLS = 120; // times 250 ms: how long replies are awaited
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const sent = new Map(); // psid -> send time (ms, wall clock)
let errors = 0;

function post(tag, i) {
    const psid = `e2e${process.pid}${tag}${i}`;
    const now = Date.now();
    const body = JSON.stringify({ object: 'page', entry: [{ id: '1000', time: now, messaging: [{ sender: { id: psid }, recipient: { id: '1000' }, timestamp: now, message: { mid: `m_e2e_${process.pid}_${tag}${i}`, text: 'lam khai sinh can giay to gi' } }] }] });
    const sig = 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
    sent.set(psid, performance.timeOrigin + performance.now());
    const req = http.request(`${mcUrl}/webhook/facebook`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig } }, (res) => {
        res.resume();
        if (res.statusCode !== 200) errors++;
    });
    req.on('error', () => errors++);
    req.end(body);
}

/** Posts rate × secs webhooks tagged `tag` at the fixed rate; resolves their psids and the time taken. */
function phase(tag, secs) {
    const total = Math.round(rate * secs);
    const t0 = performance.now();
    return new Promise((resolve) => {
        let i = 0;
        const timer = setInterval(() => {
            const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
            while (i < due) post(tag, i++);
            if (i >= total) {
                clearInterval(timer);
                resolve({ psids: Array.from({ length: total }, (_, k) => `e2e${process.pid}${tag}${k}`), secs: (performance.now() - t0) / 1000 });
            }
        }, 2);
    });
}

async function replies(want) {
    const r = await fetch(`${fakeUrl}/_fake/requests?name=facebook`);
    const j = await r.json();
    return j.requests.filter((q) => q.body && q.body.recipient && want.has(q.body.recipient.id));
}
async function awaitReplies(psids) {
    const want = new Set(psids);
    let got = [];
    for (let k = 0; k < REPLY_POLLS; k++) {
        got = await replies(want);
        if (got.length >= want.size) break;
        await new Promise((r) => setTimeout(r, 250));
    }
    return got;
}

if (warmSeconds > 0) await awaitReplies((await phase('w', warmSeconds)).psids);
errors = 0;
const m = await phase('x', seconds);
const got = await awaitReplies(m.psids);
const lat = got.map((q) => q.time - sent.get(q.body.recipient.id)).sort((a, b) => a - b);
const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))].toFixed(1) : 'n/a');
console.log(`end to end, webhook -> reply at the fake Send API, ${rate} msg/s for ${seconds} s (sent in ${m.secs.toFixed(1)} s, after a ${warmSeconds} s warm-up)`);
console.log(`  replies received          ${got.length} / ${m.psids.length}   webhook errors ${errors}`);
console.log(`  latency p50 (ms)          ${pct(50)}`);
console.log(`  latency p99 (ms)          ${pct(99)}`);
console.log(`  latency max (ms)          ${lat.length ? lat[lat.length - 1].toFixed(1) : 'n/a'}`);
agent.destroy();
