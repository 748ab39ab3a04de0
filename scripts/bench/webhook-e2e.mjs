// End-to-end latency: signed Facebook webhooks at a fixed rate into motcua;
// each reply's arrival at the fake Send API is matched to its webhook by the
// recipient id. Prints p50/p99 and what was lost (there should be nothing).
import http from 'node:http';
import { createHmac } from 'node:crypto';

const [mcUrl, fakeUrl, secret, rateArg, secondsArg] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const total = rate * seconds;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const sent = new Map(); // psid -> send time (ms, hrtime)
const t0 = performance.now();
const epoch = Date.now() - t0; // performance.now() -> wall ms
let errors = 0;

function post(i) {
    const psid = `e2e${process.pid}x${i}`;
    const now = Date.now();
    const body = JSON.stringify({ object: 'page', entry: [{ id: '1000', time: now, messaging: [{ sender: { id: psid }, recipient: { id: '1000' }, timestamp: now, message: { mid: `m_e2e_${process.pid}_${i}`, text: 'lam khai sinh can giay to gi' } }] }] });
    const sig = 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
    sent.set(psid, performance.now() + epoch);
    const req = http.request(`${mcUrl}/webhook/facebook`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig } }, (res) => {
        res.resume();
        if (res.statusCode !== 200) errors++;
    });
    req.on('error', () => errors++);
    req.end(body);
}

await new Promise((resolve) => {
    let i = 0;
    const timer = setInterval(() => {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
        while (i < due) post(i++);
        if (i >= total) {
            clearInterval(timer);
            resolve();
        }
    }, 2);
});
const sendSeconds = (performance.now() - t0) / 1000;

async function replies() {
    const r = await fetch(`${fakeUrl}/_fake/requests?name=facebook`);
    const j = await r.json();
    return j.requests.filter((q) => q.body && q.body.recipient && sent.has(q.body.recipient.id));
}
let got = [];
for (let k = 0; k < 120; k++) {
    got = await replies();
    if (got.length >= total) break;
    await new Promise((r) => setTimeout(r, 250));
}
const lat = got.map((q) => q.time - sent.get(q.body.recipient.id)).sort((a, b) => a - b);
const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))].toFixed(1) : 'n/a');
console.log(`end to end, webhook -> reply at the fake Send API, ${rate} msg/s for ${seconds} s (sent in ${sendSeconds.toFixed(1)} s)`);
console.log(`  replies received          ${got.length} / ${total}   webhook errors ${errors}`);
console.log(`  latency p50 (ms)          ${pct(50)}`);
console.log(`  latency p99 (ms)          ${pct(99)}`);
console.log(`  latency max (ms)          ${lat.length ? lat[lat.length - 1].toFixed(1) : 'n/a'}`);
agent.destroy();
