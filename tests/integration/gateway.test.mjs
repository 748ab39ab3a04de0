// Integration tests: the real motcua binary against a private, real Redis.
//
//   node --test tests/integration/          (from the repo root)
//   MOTCUA_BIN=build/motcua node --test tests/integration/
//
// Contracts: shared/spec/operations.md (commands, config, logs, metrics,
// healthz), shared/spec/channels.md "Web chat", shared/spec/intents.md (classify).
// Every server is started here on 127.0.0.1 or a unix socket and stopped by pid.

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as keys from '../lib/keys.mjs';
import {
    ROOT,
    TEST_INI,
    TEST_ORIGIN_INI,
    makeTempDir,
    removeTempDir,
    startRedis,
    startMotcua,
    runMotcua,
    wsConnect,
    httpRequest,
    metricValue,
    waitFor,
    sleep,
} from '../lib/harness.mjs';

const HEX128 = /^[0-9a-fA-F]{32}$/;
const Q_KHAI_SINH = 'Làm giấy khai sinh cần giấy tờ gì?';
const Q_KHAI_SINH_PLAIN = 'lam giay khai sinh can giay to gi';

/** Case-insensitive, normalization-insensitive "contains". */
function containsCI(haystack, needle) {
    return haystack.normalize('NFC').toLowerCase().includes(needle.normalize('NFC').toLowerCase());
}

/** Asserts that a reply lists papers: mentions the procedure and has lines "1." and "2.". */
function assertListsPapers(text, procedureWords) {
    assert.equal(typeof text, 'string', 'reply text must be a string');
    assert.ok(containsCI(text, procedureWords), `reply should mention "${procedureWords}":\n${text}`);
    assert.match(text, /(^|\n)[ \t]*1\.\s/, `reply should have a numbered line "1.":\n${text}`);
    assert.match(text, /(^|\n)[ \t]*2\.\s/, `reply should have a numbered line "2.":\n${text}`);
}

/** Asserts that a command's stderr holds no sanitizer report (ASan build). */
function assertNoSanitizer(stderr) {
    assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error:/.test(stderr), `sanitizer report:\n${stderr}`);
}

/** Opens /ws and says hello; resolves {c, welcome}. */
async function hello(wsUrl, session = null, lastSeq = 0, opts = {}) {
    const c = await wsConnect(wsUrl, opts);
    c.send({ type: 'hello', session, last_seq: lastSeq });
    const welcome = await c.next('welcome');
    return { c, welcome };
}

/** Sends a message; resolves {ack, reply} (the reply is the message frame replying to id). */
async function ask(c, id, text, ms = 10000) {
    c.send({ type: 'message', id, text });
    const ack = await c.next((f) => f.type === 'ack' && f.id === id, ms);
    const reply = await c.next((f) => f.type === 'message' && f.reply_to === id, ms);
    return { ack, reply };
}

describe('motcua serve (web chat, health, metrics, logs)', { timeout: 120000 }, () => {
    let dir; // temp dir for Redis (socket, AOF)
    let redis; // current Redis (replaced by the Redis-down test)
    let mc; // motcua serve
    const sockets = []; // every ws client opened, closed in after()
    const conv = {}; // state shared by the web chat tests (session, first reply)

    const track = (c) => (sockets.push(c), c);

    before(async () => {
        dir = makeTempDir('motcua-it-');
        redis = await startRedis(path.join(dir, 'redis'));
        mc = await startMotcua({ redisUrl: redis.url });
    });

    // A crash of motcua would otherwise show up as ECONNREFUSED in every later test.
    beforeEach(() => {
        if (mc && !mc.alive() && !mc.stopping) {
            const tail = mc.stderrLines.slice(-40).join('\n');
            throw new Error(`motcua died earlier (exit ${mc.proc.exitCode}, signal ${mc.proc.signalCode}); stderr tail:\n${tail}`);
        }
    });

    after(async () => {
        for (const c of sockets) c.terminate();
        try {
            if (mc) await mc.stop();
        } finally {
            try {
                if (redis) await redis.stop();
            } finally {
                if (dir) removeTempDir(dir);
            }
        }
    });

    it('GET /healthz is 200 {"status":"ok","redis":"ok"}', async () => {
        const r = await httpRequest(`${mc.url}/healthz`);
        assert.equal(r.status, 200, r.body);
        assert.match(String(r.headers['content-type']), /^application\/json/);
        assert.deepEqual(JSON.parse(r.body), { status: 'ok', redis: 'ok' });
    });

    it('web chat: hello, question with and without diacritics, same answer', async () => {
        const { c, welcome } = await hello(mc.wsUrl);
        track(c);
        assert.equal(c.protocol, 'motcua.v1', 'server must select the motcua.v1 subprotocol');
        assert.match(String(welcome.session), HEX128, `session token must be 128 bits as 32 hex chars: ${welcome.session}`);
        assert.equal(welcome.seq, 0);

        c.send({ type: 'message', id: 'c1', text: Q_KHAI_SINH });
        const ack = await c.next('ack', 5000);
        assert.equal(ack.id, 'c1');
        const m1 = await c.next('message', 10000);
        assert.ok(c.frames.indexOf(ack) < c.frames.indexOf(m1), 'ack comes before the reply');
        assert.equal(m1.seq, 1);
        assert.equal(m1.reply_to, 'c1');
        assertListsPapers(m1.text, 'khai sinh');
        if (m1.quick_replies !== undefined) assert.ok(Array.isArray(m1.quick_replies), 'quick_replies is an array');

        c.send({ type: 'message', id: 'c2', text: Q_KHAI_SINH_PLAIN });
        const ack2 = await c.next('ack', 5000);
        assert.equal(ack2.id, 'c2');
        const m2 = await c.next('message', 10000);
        assert.equal(m2.seq, 2);
        assert.equal(m2.reply_to, 'c2');
        assert.equal(m2.text, m1.text, 'the unaccented question gets exactly the same answer');

        Object.assign(conv, { session: welcome.session, text: m1.text });
        await c.close();
    });

    it('GET /metrics: Prometheus text with request and message counters', async () => {
        await httpRequest(`${mc.url}/healthz`);
        const r = await httpRequest(`${mc.url}/metrics`);
        assert.equal(r.status, 200);
        assert.match(String(r.headers['content-type']), /^text\/plain/);
        assert.ok(r.body.includes('# TYPE motcua_http_requests_total counter'), 'TYPE line for motcua_http_requests_total');
        const n = metricValue(r.body, 'motcua_http_requests_total', { route: '/healthz', status: '200' });
        assert.ok(n !== null && n >= 1, `motcua_http_requests_total{route="/healthz",status="200"} >= 1, got ${n}`);

        // One more web chat message so this test stands on its own.
        const { c } = await hello(mc.wsUrl);
        track(c);
        await ask(c, 'm1', Q_KHAI_SINH);
        await c.close();
        const labels = { channel: 'webchat', intent: 'procedure.documents' };
        const got = await waitFor(async () => {
            const m = await httpRequest(`${mc.url}/metrics`);
            const v = metricValue(m.body, 'motcua_messages_in_total', labels);
            return v !== null && v >= 1 ? v : null;
        }, 3000);
        assert.ok(got >= 1, `motcua_messages_in_total{channel="webchat",intent="procedure.documents"} >= 1`);
        const after2 = await httpRequest(`${mc.url}/metrics`);
        const n2 = metricValue(after2.body, 'motcua_http_requests_total', { route: '/healthz', status: '200' });
        assert.ok(n2 >= n, `a counter never goes down (${n} then ${n2})`);
    });

    it('web chat: a session resumes and replays messages after last_seq', async () => {
        assert.ok(conv.session, 'needs the session of the round-trip test');
        const { c, welcome } = await hello(mc.wsUrl, conv.session, 1);
        track(c);
        assert.equal(welcome.session, conv.session, 'same session resumed');
        assert.equal(welcome.seq, 2, 'welcome carries the latest seq');
        const replay = await c.next('message', 5000);
        assert.equal(replay.seq, 2);
        assert.equal(replay.text, conv.text);
        await sleep(300);
        const more = c.pending().filter((f) => f.type === 'message');
        assert.deepEqual(more, [], 'only messages after last_seq are replayed');
        await c.close();

        const unknown = 'a'.repeat(32);
        const { c: c2, welcome: w2 } = await hello(mc.wsUrl, unknown, 0);
        track(c2);
        assert.match(String(w2.session), HEX128);
        assert.notEqual(w2.session, unknown, 'an unknown token gets a new session');
        assert.notEqual(w2.session, conv.session);
        assert.equal(w2.seq, 0);
        await c2.close();
    });

    it('web chat: protocol errors answer an error frame and keep the connection', async () => {
        const c = track(await wsConnect(mc.wsUrl));
        c.send({ type: 'message', id: 'early', text: 'xin chào' });
        const e1 = await c.next('error');
        assert.equal(e1.error, 'hello_required');

        c.send('this is {not json');
        const e2 = await c.next('error');
        assert.equal(e2.error, 'bad_json');

        c.send({ type: 'hello', session: null, last_seq: 0 });
        const w = await c.next('welcome');
        assert.match(String(w.session), HEX128);

        c.send({ type: 'message', id: 'long', text: 'a'.repeat(2001) });
        const e3 = await c.next('error');
        assert.equal(e3.error, 'too_long');
        assert.equal(
            c.frames.filter((f) => f.type === 'ack' && f.id === 'long').length,
            0,
            'a refused message is not acked',
        );

        // 2000 characters is the limit itself: accepted.
        c.send({ type: 'message', id: 'max', text: 'a'.repeat(2000) });
        const ack = await c.next((f) => f.type === 'ack' && f.id === 'max' || f.type === 'error');
        assert.equal(ack.type, 'ack', `a 2000-character text is accepted: ${JSON.stringify(ack)}`);
        assert.equal(ack.id, 'max');

        // lws hands a frame over in pieces of 512 bytes: one past 4 KiB is refused whole,
        // and a 3,000-byte one (pieces cut inside its 3-byte letters) is put back together.
        c.send({ type: 'message', id: 'huge', text: 'ệ'.repeat(1400) });
        const e4 = await c.next('error');
        assert.equal(e4.error, 'too_large');
        await sleep(1100); // past the 5-frames-per-second limit of the frames above
        c.send({ type: 'message', id: 'pieces', text: 'ệ'.repeat(1000) });
        const ack2 = await c.next((f) => (f.type === 'ack' && f.id === 'pieces') || f.type === 'error');
        assert.equal(ack2.type, 'ack', `a 3,000-byte frame is accepted: ${JSON.stringify(ack2)}`);
        assert.ok(c.isOpen, 'connection still open after errors');
        await c.close();
    });

    it('web chat: more than 5 messages per second are rate limited, the connection stays', async () => {
        const { c } = await hello(mc.wsUrl);
        track(c);
        const ids = Array.from({ length: 8 }, (_, i) => `r${i}`);
        for (const id of ids) c.send({ type: 'message', id, text: `chào ${id}` });
        const count = () => {
            const acks = c.frames.filter((f) => f.type === 'ack' && ids.includes(f.id)).length;
            const limited = c.frames.filter((f) => f.type === 'error' && f.error === 'rate_limited').length;
            return { acks, limited };
        };
        await waitFor(() => {
            const { acks, limited } = count();
            return acks + limited >= ids.length;
        }, 3000);
        const { acks, limited } = count();
        assert.ok(limited >= 1, `at least one rate_limited error, got ${limited}; frames ${JSON.stringify(c.frames)}`);
        assert.ok(acks >= 1 && acks <= 5, `between 1 and 5 of the burst accepted, got ${acks}`);
        assert.ok(c.isOpen, 'connection still open');

        await sleep(1100);
        c.drain();
        c.send({ type: 'message', id: 'later', text: 'chào' });
        const ack = await c.next((f) => (f.type === 'ack' && f.id === 'later') || f.type === 'error', 5000);
        assert.equal(ack.type, 'ack', `a message after 1.1 s is accepted again: ${JSON.stringify(ack)}`);
        assert.equal(ack.id, 'later');
        await c.close();
    });

    it('web chat: Origin is checked against allowed_origins', async () => {
        const strict = await startMotcua({ redisUrl: redis.url, config: TEST_ORIGIN_INI });
        try {
            let refused = false;
            let how = '';
            try {
                const c = await wsConnect(strict.wsUrl, { origin: 'http://evil.example' });
                track(c);
                c.send({ type: 'hello', session: null, last_seq: 0 });
                const r = await Promise.race([
                    c.closed.then(() => 'closed'),
                    c.next('welcome', 3000).then(
                        () => 'welcome',
                        () => 'no answer',
                    ),
                ]);
                refused = r === 'closed';
                how = `opened, then ${r}`;
            } catch (e) {
                if (e.statusCode !== undefined) {
                    assert.equal(e.statusCode, 403, 'a refused handshake answers 403');
                }
                refused = true;
                how = e.message;
            }
            assert.ok(refused, `a foreign Origin must be refused (${how})`);

            const { c, welcome } = await hello(strict.wsUrl, null, 0, { origin: 'http://allowed.example' });
            track(c);
            assert.match(String(welcome.session), HEX128);
            await c.close();
        } finally {
            await strict.stop();
        }
    });

    it('Redis down and back: /healthz 503 then 200, chat works again without restart', async () => {
        const healthz = async () => {
            const r = await httpRequest(`${mc.url}/healthz`, { timeoutMs: 2000 });
            let body = null;
            try {
                body = JSON.parse(r.body);
            } catch {
                /* checked below */
            }
            return { status: r.status, body, raw: r.body };
        };
        const redisDir = redis.dir;
        const stopped = await redis.stop();
        assert.notEqual(stopped.signal, 'SIGKILL', 'Redis stopped on SIGTERM');
        redis = null;

        const down = await waitFor(async () => {
            const h = await healthz();
            return h.status === 503 && h.body && h.body.redis === 'down' ? h : null;
        }, 5000);
        assert.ok(down, 'within 5 s of Redis stopping, /healthz is 503 with "redis":"down"');
        assert.ok(mc.alive(), 'motcua keeps running while Redis is down');

        redis = await startRedis(redisDir);
        const up = await waitFor(async () => {
            const h = await healthz();
            return h.status === 200 && h.body && h.body.redis === 'ok' ? h : null;
        }, 10000);
        const last = await healthz();
        assert.ok(up, `within 10 s of Redis coming back, /healthz is 200 again (last: ${last.status} ${last.raw})`);
        assert.ok(mc.alive(), 'motcua was not restarted');

        const { c } = await hello(mc.wsUrl);
        track(c);
        const { reply } = await ask(c, 'back1', Q_KHAI_SINH_PLAIN);
        assertListsPapers(reply.text, 'khai sinh');
        await c.close();
    });

    it('web chat: a session survives a Redis restart (AOF)', async () => {
        assert.ok(conv.session, 'needs the session of the round-trip test');
        const { c, welcome } = await hello(mc.wsUrl, conv.session, 0);
        track(c);
        assert.equal(welcome.session, conv.session, 'the session was persisted in Redis');
        assert.ok(welcome.seq >= 2, `seq kept (${welcome.seq})`);
        const first = await c.next((f) => f.type === 'message' && f.seq === 1, 5000);
        assert.equal(first.text, conv.text);
        await c.close();
    });

    /** Asserts every non-empty line is a JSON object with ts, level and event. */
    function assertJsonLogLines(lines) {
        assert.ok(lines.length >= 1, 'motcua logs something to stderr');
        for (const line of lines) {
            let o;
            assert.doesNotThrow(() => (o = JSON.parse(line)), `stderr line is not JSON: ${line}`);
            assert.ok(o !== null && typeof o === 'object' && !Array.isArray(o), `stderr line is not a JSON object: ${line}`);
            for (const k of ['ts', 'level', 'event']) assert.ok(k in o, `log line lacks "${k}": ${line}`);
        }
    }

    /** Asserts no line holds the phone number or citizen ID of PII_TEXT unmasked. */
    function assertMasked(lines) {
        for (const line of lines) {
            for (const pii of ['0912345678', '912345678', '0912 345 678', '079123456789']) {
                assert.ok(!line.includes(pii), `unmasked "${pii}" in the log: ${line}`);
            }
        }
    }

    const PII_TEXT = 'Tôi muốn đăng ký nhận thông báo hồ sơ, số điện thoại 0912345678, CCCD 079123456789';
    const PII_TEXT2 = 'sdt cua toi la 0912 345 678, cho toi gap can bo';

    it('logs: JSON lines with ts/level/event; message texts not logged at the default level', async () => {
        const { c } = await hello(mc.wsUrl);
        track(c);
        await ask(c, 'p1', PII_TEXT);
        await ask(c, 'p2', PII_TEXT2);
        await c.close();
        await sleep(300);
        const lines = mc.stderrLines.filter((l) => l.trim() !== '');
        assertJsonLogLines(lines);
        assertMasked(lines);
        for (const line of lines) {
            assert.ok(!line.includes('đăng ký nhận thông báo'), `message text logged above debug level: ${line}`);
        }
    });

    it('logs at debug level: message texts logged with phone numbers and citizen IDs masked', async () => {
        // [log] level (gateway/gw_config.h), through the MOTCUA_<SECTION>_<KEY> rule.
        const dbg = await startMotcua({ redisUrl: redis.url, env: { MOTCUA_LOG_LEVEL: 'debug' } });
        try {
            const { c } = await hello(dbg.wsUrl);
            track(c);
            await ask(c, 'd1', PII_TEXT);
            await ask(c, 'd2', PII_TEXT2);
            await c.close();
            await sleep(300);
            const lines = dbg.stderrLines.filter((l) => l.trim() !== '');
            assertJsonLogLines(lines);
            assert.ok(
                lines.some((l) => l.includes('đăng ký nhận thông báo')),
                `at debug level the message text is logged (so masking is really exercised):\n${lines.join('\n')}`,
            );
            assertMasked(lines);
        } finally {
            await dbg.stop();
        }
    });

    it('stops on SIGTERM without sanitizer reports', async () => {
        mc.stopping = true;
        const r = await mc.stop();
        assert.notEqual(r.signal, 'SIGKILL', 'motcua stopped within 5 s of SIGTERM');
        assertNoSanitizer(mc.stderrLines.join('\n'));
    });
});

describe('motcua command line', { timeout: 60000 }, () => {
    it('--version exits 0 and prints the version', async () => {
        const r = await runMotcua(['--version']);
        assertNoSanitizer(r.stderr);
        assert.equal(r.code, 0, r.stderr);
        const want = fs.readFileSync(path.join(ROOT, 'VERSION'), 'utf8').trim();
        assert.ok(r.stdout.includes(want), `--version prints ${want}: ${JSON.stringify(r.stdout)}`);
    });

    it('check-config reports every problem with its line and exits 2; a good file exits 0', async () => {
        const d = makeTempDir('motcua-cfg-');
        try {
            const bad = path.join(d, 'bad.ini');
            fs.writeFileSync(
                bad,
                [
                    '[server', //                 1: unterminated section header
                    '[server]', //                2: fine
                    'listen 127.0.0.1', //        3: no '='
                    'max_body_bytes = -5', //     4: negative size
                    '[nosuch]', //                5: unknown section
                    'foo = bar', //               6: key of the unknown section
                    '',
                ].join('\n'),
            );
            const r = await runMotcua(['check-config', '--config', bad]);
            assertNoSanitizer(r.stderr);
            assert.equal(r.code, 2, `exit status 2 for a bad file; stdout ${r.stdout} stderr ${r.stderr}`);
            const out = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
            const numbered = out
                .map((l) => /(?::(\d+):|\bline (\d+))/i.exec(l))
                .filter(Boolean)
                .map((m) => Number(m[1] || m[2]));
            assert.ok(numbered.length >= 3, `at least 3 problems with line numbers, got:\n${out.join('\n')}`);
            const distinct = new Set(numbered);
            assert.ok(distinct.size >= 3, `problems on at least 3 different lines, got:\n${out.join('\n')}`);
            for (const n of distinct) {
                assert.ok([1, 3, 4, 5, 6].includes(n), `line ${n} has no problem, yet is reported:\n${out.join('\n')}`);
            }
            assert.ok(distinct.has(4), `the negative max_body_bytes (line 4) is reported:\n${out.join('\n')}`);

            const good = await runMotcua(['check-config', '--config', TEST_INI]);
            assert.equal(good.code, 0, `tests/integration/test.ini is valid: ${good.stdout} ${good.stderr}`);
            const good2 = await runMotcua(['check-config', '--config', TEST_ORIGIN_INI]);
            assert.equal(good2.code, 0, `tests/integration/test-origin.ini is valid: ${good2.stdout} ${good2.stderr}`);
        } finally {
            removeTempDir(d);
        }
    });

    it('classify: one JSON line per input line, invalid UTF-8 reported in place', async () => {
        const ESCAPED = 'hỏi "lệ phí" \\ a\\b / c\td\u0001e\u001f\u007f';
        const input = Buffer.concat([
            Buffer.from('lam khai sinh can giay to gi\n'),
            Buffer.from([0xff, 0xfe, 0x0a]),
            Buffer.from(`${Q_KHAI_SINH}\n`),
            Buffer.from(ESCAPED + '\n'),
        ]);
        const r = await runMotcua(['classify'], { input, env: { MOTCUA_REDIS_URL: 'unix:/nonexistent/redis.sock' } });
        assertNoSanitizer(r.stderr);
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 4, `four output lines:\n${r.stdout}`);
        const [a, b, c, d] = lines.map((l) => JSON.parse(l));
        assert.equal(d.text, ESCAPED, 'quotes, backslashes and control characters come back as sent');
        assert.deepEqual(Object.keys(d), ['text', 'intent', 'confidence', 'entities']);
        for (const [o, text] of [
            [a, 'lam khai sinh can giay to gi'],
            [c, Q_KHAI_SINH],
        ]) {
            assert.equal(o.intent, 'procedure.documents', JSON.stringify(o));
            assert.equal(o.entities?.procedure, 'khai_sinh', JSON.stringify(o));
            assert.equal(typeof o.confidence, 'number');
            assert.ok(o.confidence >= 0 && o.confidence <= 1, `confidence in [0,1]: ${o.confidence}`);
            assert.equal(o.text.normalize('NFC'), text.normalize('NFC'), 'text echoed');
        }
        assert.equal(b.error, 'invalid_utf8', JSON.stringify(b));
    });

    it('ask answers a procedure question without Redis', async () => {
        const r = await runMotcua(['ask', 'lam', 'ket', 'hon', 'can', 'giay', 'to', 'gi'], {
            env: { MOTCUA_REDIS_URL: 'unix:/nonexistent/redis.sock' },
        });
        assertNoSanitizer(r.stderr);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(containsCI(r.stdout, 'kết hôn'), `reply mentions "kết hôn":\n${r.stdout}`);
    });

    it('keys lists the keyspace and prints the keys the tests\' mirror builds', async () => {
        const t = await runMotcua(['keys']);
        assertNoSanitizer(t.stderr);
        assert.equal(t.code, 0, t.stderr);
        const rows = t.stdout.trim().split('\n').map((l) => l.split('\t'));
        assert.deepEqual(rows[0], ['family', 'parts', 'type', 'partition', 'written by', 'expiry']);
        const fams = rows.slice(1).map((r) => r[0]);
        for (const f of ['inbound', 'notif', 'due', 'bc_part', 'token']) assert.ok(fams.includes(f), f);
        for (const r of rows.slice(1)) assert.equal(r.length, 6, r.join('|'));
        const one = async (...args) => {
            const r = await runMotcua(['keys', ...args]);
            assert.equal(r.code, 0, r.stderr);
            return r.stdout.trim();
        };
        assert.equal(await one('notif', '3', '3-abc'), keys.key('notif', 3, '3-abc'));
        assert.equal(await one('conv', 'zalo:u1', 'zalo', 'u1'), keys.key('conv', keys.partOf('zalo:u1'), 'zalo', 'u1'));
        assert.equal(await one('token', 'zalo'), keys.ownKey('token', 'zalo'));
        for (const bad of [['nope'], ['due'], ['notif', '3'], ['token', '1', 'zalo']]) {
            const r = await runMotcua(['keys', ...bad]);
            assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stdout}`);
            assert.match(r.stderr, /motcua keys: /);
        }
    });
});
