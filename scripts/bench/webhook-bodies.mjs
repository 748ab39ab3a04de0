// Writes N signed Facebook webhook bodies (one new message id each) for
// scripts/bench/webhook.sh, one "signature<TAB>body" line each.
import { createHmac } from 'node:crypto';

const [secret, nArg] = process.argv.slice(2);
const n = Number(nArg || 100000);
const texts = ['lam khai sinh can giay to gi', 'đăng ký tạm trú online được không', 'le phi lam ho chieu bao nhieu', 'cho hỏi hồ sơ 000.00.25.H29-231122-0001'];
const out = [];
for (let i = 1; i <= n; i++) {
    const now = 1763900000000 + i;
    const body = JSON.stringify({
        object: 'page',
        entry: [{ id: '1000', time: now, messaging: [{ sender: { id: `psid${i % 5000}` }, recipient: { id: '1000' }, timestamp: now, message: { mid: `m_bench_${process.pid}_${i}`, text: texts[i % texts.length] } }] }],
    });
    const sig = 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
    out.push(`${sig}\t${body}\n`);
}
process.stdout.write(out.join(''));
