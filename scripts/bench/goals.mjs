// scripts/bench/goals.mjs FIGURES — the goals of issue 16 next to the figures this run of
// `make bench` measured (FIGURES: "key<TAB>value" lines the sections appended), met or
// not, and for a goal not met the measured limit that stands in its way where this run
// measured one. Nothing here is estimated: a missing figure prints as "not measured".

import fs from 'node:fs';

const f = new Map();
for (const l of fs.readFileSync(process.argv[2], 'utf8').split('\n')) {
    const [k, v] = l.split('\t');
    if (k && v !== undefined && v !== '') f.set(k, Number(v));
}
const has = (...ks) => ks.every((k) => Number.isFinite(f.get(k)));
const g = (k) => f.get(k);
const int = (x) => Math.round(x).toLocaleString('en-US');
const pct = (a, b) => `${((100 * a) / b).toFixed(0)}%`;

const rows = [];
function row(path, measured, goal, met, limit) {
    rows.push([path, measured ?? 'not measured', goal, measured === undefined ? '?' : met ? 'met' : 'NOT MET', met ? '' : limit || '-']);
}

row('signed webhook ingest (converse = false) vs nginx static 200, 50 conns',
    has('wh.ingest_rps', 'wh.nginx_rps') ? `${int(g('wh.ingest_rps'))} vs ${int(g('wh.nginx_rps'))} req/s = ${pct(g('wh.ingest_rps'), g('wh.nginx_rps'))}` : undefined,
    '>= 50%', has('wh.ingest_rps', 'wh.nginx_rps') && g('wh.ingest_rps') >= 0.5 * g('wh.nginx_rps'),
    has('wh.redis_ingest_rps', 'wh.nginx_rps')
        ? `Redis alone, ingest script shape: ${int(g('wh.redis_ingest_rps'))}/s = ${pct(g('wh.redis_ingest_rps'), g('wh.nginx_rps'))} (pipelined: ${int(g('wh.redis_ingest_rps_pipelined'))}/s = ${pct(g('wh.redis_ingest_rps_pipelined'), g('wh.nginx_rps'))})`
        : '');
row('full pipeline in one process (accept + understand + reply) vs nginx',
    has('wh.full_rps', 'wh.nginx_rps') ? `${int(g('wh.full_rps'))} req/s = ${pct(g('wh.full_rps'), g('wh.nginx_rps'))}` : undefined,
    '>= 25%', has('wh.full_rps', 'wh.nginx_rps') && g('wh.full_rps') >= 0.25 * g('wh.nginx_rps'),
    has('cl.rate', 'wh.nginx_rps') ? `classification alone, 1 core: ${int(g('cl.rate'))} msg/s = ${pct(g('cl.rate'), g('wh.nginx_rps'))}` : '');
row('end to end webhook → reply at the fake Send API, 1,000 msg/s for 10 s',
    has('e2e.p99_ms', 'e2e.max_ms') ? `p99 ${g('e2e.p99_ms')} ms, max ${g('e2e.max_ms')} ms${g('e2e.lost') ? `, ${g('e2e.lost')} lost` : ''}` : undefined,
    'p99 <= 10 ms', has('e2e.p99_ms') && g('e2e.p99_ms') <= 10 && !g('e2e.lost'),
    has('wh.full_replies_rate') ? `replies the full pipeline sent under wrk: ${int(g('wh.full_replies_rate'))}/s` : '');
row(`broadcast ${has('bc.recipients') ? int(g('bc.recipients')) : '100,000'} recipients: enqueue (fan-out)`,
    has('bc.enqueue_ms') ? `${(g('bc.enqueue_ms') / 1000).toFixed(2)} s` : undefined,
    '<= 1.0 s', has('bc.enqueue_ms') && g('bc.enqueue_ms') <= 1000,
    has('bc.redis_fanout_rate', 'bc.recipients')
        ? `Redis alone, fan-out writes in batches of 500: ${(g('bc.recipients') / g('bc.redis_fanout_rate')).toFixed(2)} s (${int(g('bc.redis_fanout_rate'))} recipients/s)`
        : '');
row('broadcast: sustained send, against the nginx stand-in',
    has('bc.send_rate') ? `${int(g('bc.send_rate'))} msg/s` : undefined,
    '>= 20,000 msg/s', has('bc.send_rate') && g('bc.send_rate') >= 20000,
    has('bc.standin_ceiling') ? `stand-in's own ceiling (wrk): ${int(g('bc.standin_ceiling'))} req/s` : '');
row(`${has('wc.conns') ? int(g('wc.conns')) : '10,000'} idle web chat connections (hello done)`,
    has('wc.kb_per_conn') ? `${g('wc.kb_per_conn').toFixed(2)} KB each` : undefined,
    '<= 5 KB each', has('wc.kb_per_conn') && g('wc.kb_per_conn') <= 5, '');
row('motcua classify, one core',
    has('cl.rate') ? `${int(g('cl.rate'))} msg/s` : undefined,
    '>= 150,000 msg/s', has('cl.rate') && g('cl.rate') >= 150000, '');

const head = ['path (issue 16)', 'measured in this run', 'goal', '', 'measured limit (goals not met)'];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (r) => r.map((c, i) => String(c).padEnd(w[i])).join(' | ').trimEnd();
console.log('\ngoals (issue 16) and this run\'s figures');
console.log(line(head));
console.log(w.map((n) => '-'.repeat(n)).join('-+-'));
for (const r of rows) console.log(line(r));
if (has('cost.webhook.ir')) {
    const c = (k) => (has(`cost.${k}.ir`) ? `${int(g(`cost.${k}.ir`))} instr${has(`cost.${k}.redis`) ? `, ${g(`cost.${k}.redis`).toFixed(2)} Redis cmds` : ''}` : 'not measured');
    console.log(`per unit (the figures to compare across commits): webhook ${c('webhook')}; turn ${c('turn')}; notification (API → sent) ${c('notification')}; broadcast recipient ${c('recipient')}; classified message ${c('classify')}`);
}
