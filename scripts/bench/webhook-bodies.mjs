// Writes N signed Facebook webhook bodies (one new message id each) for
// scripts/bench/webhook.sh, one "signature<TAB>body" line each.
import { signedWebhook } from './lib/webhooks.mjs';

const [secret, nArg] = process.argv.slice(2);
const n = Number(nArg || 100000);
const out = [];
for (let i = 1; i <= n; i++) {
    const w = signedWebhook(secret, i, `m_bench_${process.pid}_${i}`, `psid${i % 5000}`);
    out.push(`${w.signature}\t${w.body}\n`);
}
process.stdout.write(out.join(''));
