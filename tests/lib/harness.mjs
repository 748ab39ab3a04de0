// Shared helpers for motcua's integration and browser tests.
//
// Every server a test needs is started here, on 127.0.0.1 or a unix socket in a
// private temp dir, and stopped by pid: each test file stops what it started in
// finally/after hooks, and a process 'exit' hook (plus SIGINT/SIGTERM) kills
// whatever is still alive so that a crashed or timed-out test leaves nothing.
// Runs on Node 18.19+ (node:test, ws, child_process only).

import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TEST_INI = path.join(ROOT, 'tests', 'integration', 'test.ini');
export const TEST_ORIGIN_INI = path.join(ROOT, 'tests', 'integration', 'test-origin.ini');

/* ---------------------------------------------------------------- cleanup */

const liveProcs = new Set(); // child processes not yet seen exiting
const liveDirs = new Set(); // temp dirs to remove at exit

function killAllSync() {
    for (const p of liveProcs) {
        try {
            process.kill(p.pid, 'SIGKILL');
        } catch {
            /* already gone */
        }
    }
    liveProcs.clear();
    for (const d of liveDirs) {
        try {
            fs.rmSync(d, { recursive: true, force: true });
        } catch {
            /* best effort */
        }
    }
    liveDirs.clear();
}

process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
        killAllSync();
        process.exit(128 + (os.constants.signals[sig] || 1));
    });
}

function track(child) {
    liveProcs.add(child);
    child.once('exit', () => liveProcs.delete(child));
    return child;
}

/** Resolves the binary under test: $MOTCUA_BIN, else build/asan/motcua, else build/motcua. */
export function motcuaBin() {
    const want = process.env.MOTCUA_BIN;
    if (want) return path.isAbsolute(want) ? want : path.join(ROOT, want);
    const asan = path.join(ROOT, 'build', 'asan', 'motcua');
    if (fs.existsSync(asan)) return asan;
    return path.join(ROOT, 'build', 'motcua');
}

/** A private temp dir (short path: unix socket paths are limited to 107 bytes). */
export function makeTempDir(prefix = 'motcua-test-') {
    const base = fs.existsSync('/tmp') ? '/tmp' : os.tmpdir();
    const d = fs.mkdtempSync(path.join(base, prefix));
    liveDirs.add(d);
    return d;
}

export function removeTempDir(d) {
    liveDirs.delete(d);
    fs.rmSync(d, { recursive: true, force: true });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

/** Waits for a child to exit; resolves {code, signal}; SIGKILLs it after `ms`. */
function waitExit(child, ms) {
    if (child.exitCode !== null || child.signalCode !== null) {
        return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
    }
    return new Promise((resolve) => {
        const t = setTimeout(() => {
            try {
                process.kill(child.pid, 'SIGKILL');
            } catch {
                /* gone */
            }
        }, ms);
        child.once('exit', (code, signal) => {
            clearTimeout(t);
            resolve({ code, signal });
        });
    });
}

/** Sends `sig` to a child by pid unless it already exited; resolves {code, signal}. */
function signalAndWait(child, sig, ms = 5000) {
    if (child.exitCode === null && child.signalCode === null) {
        try {
            process.kill(child.pid, sig);
        } catch {
            /* gone */
        }
    }
    return waitExit(child, ms);
}

function lineCollector(stream, lines, onLine) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            lines.push(line);
            if (onLine) onLine(line);
        }
    });
    stream.on('end', () => {
        if (buf) lines.push(buf);
        buf = '';
    });
}

/* ------------------------------------------------------------------ redis */

/** Runs redis-cli against a unix socket; resolves its trimmed stdout. */
export function redisCli(sock, ...args) {
    return new Promise((resolve, reject) => {
        execFile('redis-cli', ['-s', sock, ...args.map(String)], { timeout: 5000 }, (err, stdout, stderr) => {
            if (err) {
                err.message += `\n${stderr}`;
                reject(err);
            } else resolve(stdout.trim());
        });
    });
}

/** Sends raw RESP commands through `redis-cli --pipe` (fast bulk writes). */
export function redisPipe(sock, cmds) {
    const enc = (a) => `*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(String(x))}\r\n${x}\r\n`).join('')}`;
    const input = cmds.map(enc).join('');
    return new Promise((resolve, reject) => {
        const p = execFile('redis-cli', ['-s', sock, '--pipe'], { timeout: 60000 }, (err, stdout, stderr) => {
            if (err) reject(new Error(`${err.message}\n${stderr}`));
            else if (!/errors: 0,/.test(stdout)) reject(new Error(`redis-cli --pipe: ${stdout}`));
            else resolve(stdout);
        });
        p.stdin.end(input);
    });
}

/**
 * Starts a private redis-server in `dir` (created if needed) listening only on
 * DIR/redis.sock, with AOF on and RDB snapshots off. Resolves when it answers PING.
 * `args` adds redis-server options (e.g. ['--appendfsync', 'always']).
 * Returns {sock, url, pid, proc, dir, stop(), kill()}; stop() sends SIGTERM and
 * waits for the exit, kill() sends SIGKILL.
 */
export async function startRedis(dir, { timeoutMs = 10000, args: extraArgs = [] } = {}) {
    fs.mkdirSync(dir, { recursive: true });
    const sock = path.join(dir, 'redis.sock');
    const args = [
        '--port', '0',
        '--unixsocket', sock,
        '--unixsocketperm', '700',
        '--dir', dir,
        '--appendonly', 'yes',
        '--save', '',
        '--daemonize', 'no',
        ...extraArgs,
    ];
    const proc = track(spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
    const output = [];
    lineCollector(proc.stdout, output);
    lineCollector(proc.stderr, output);
    let exited = null;
    proc.once('exit', (code, signal) => (exited = { code, signal }));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        if (exited) throw new Error(`redis-server exited early (${JSON.stringify(exited)}):\n${output.join('\n')}`);
        try {
            if ((await redisCli(sock, 'ping')) === 'PONG') break;
        } catch {
            /* not up yet */
        }
        if (Date.now() > deadline) {
            process.kill(proc.pid, 'SIGKILL');
            throw new Error(`redis-server did not answer PING within ${timeoutMs} ms:\n${output.join('\n')}`);
        }
        await sleep(50);
    }
    return {
        sock,
        url: `unix:${sock}`,
        pid: proc.pid,
        proc,
        dir,
        output,
        alive: () => proc.exitCode === null && proc.signalCode === null,
        stop: () => signalAndWait(proc, 'SIGTERM'),
        kill: () => signalAndWait(proc, 'SIGKILL'),
    };
}

/** Runs redis-cli against the TCP node 127.0.0.1:port of a cluster, following MOVED and
 * ASK (-c); resolves its trimmed stdout. */
export function clusterCli(port, ...args) {
    return new Promise((resolve, reject) => {
        execFile('redis-cli', ['-c', '-h', '127.0.0.1', '-p', String(port), ...args.map(String)], { timeout: 5000 }, (err, stdout, stderr) => {
            if (err) {
                err.message += `\n${stderr}`;
                reject(err);
            } else resolve(stdout.trim());
        });
    });
}

async function freePorts(n) {
    const ports = new Set();
    while (ports.size < n) ports.add(await freePort());
    return [...ports];
}

/**
 * Starts a private Redis Cluster in `dir` on loopback: `primaries` primaries with
 * `replicas` replicas each, every node on a free client port and a free bus port
 * (--cluster-port), AOF off; joined with `redis-cli --cluster create` (slots spread evenly)
 * and waited for until every node says cluster_state:ok and every replica is in sync.
 * Returns {url (redis-cluster://127.0.0.1:<port>,...), nodes: [{port, pid, proc, dir,
 * alive(), stop(), kill(), restart()}] (restart: the same node again, after kill or stop), cli(...args) (redis-cli -c on a live node), primaryOf(key)
 * (the node serving key's slot), stop()}: stop() ends every node (SIGTERM, then waits).
 */
export async function startRedisCluster(dir, { primaries = 3, replicas = 0, nodeTimeoutMs = 2000, timeoutMs = 30000 } = {}) {
    fs.mkdirSync(dir, { recursive: true });
    const total = primaries * (1 + replicas);
    const ports = await freePorts(2 * total);
    const nodes = [];
    const stopNodes = async () => {
        for (const n of nodes) if (n.alive()) await n.stop();
    };
    try {
        for (let i = 0; i < total; i++) {
            const port = ports[2 * i];
            const ndir = path.join(dir, `node${port}`);
            fs.mkdirSync(ndir, { recursive: true });
            const args = [
                '--port', String(port),
                '--bind', '127.0.0.1',
                '--cluster-enabled', 'yes',
                '--cluster-port', String(ports[2 * i + 1]),
                '--cluster-config-file', path.join(ndir, 'nodes.conf'),
                '--cluster-node-timeout', String(nodeTimeoutMs),
                '--dir', ndir,
                '--appendonly', 'no',
                '--save', '',
                '--daemonize', 'no',
            ];
            const output = [];
            const node = { port, dir: ndir, output };
            // (re)starts the node with the same ports and nodes.conf: a killed primary
            // comes back as a replica of the one promoted in its place
            const spawnNode = () => {
                const proc = track(spawn('redis-server', args, { cwd: ndir, stdio: ['ignore', 'pipe', 'pipe'] }));
                lineCollector(proc.stdout, output);
                lineCollector(proc.stderr, output);
                Object.assign(node, {
                    pid: proc.pid,
                    proc,
                    alive: () => proc.exitCode === null && proc.signalCode === null,
                    stop: () => signalAndWait(proc, 'SIGTERM'),
                    kill: () => signalAndWait(proc, 'SIGKILL'),
                });
            };
            spawnNode();
            node.restart = async () => {
                if (node.alive()) throw new Error(`node ${port} is running`);
                spawnNode();
                const deadline = Date.now() + timeoutMs;
                while (!(await clusterCli(port, 'PING').catch(() => '')).includes('PONG')) {
                    if (Date.now() > deadline) throw new Error(`node ${port} did not come back`);
                    await sleep(50);
                }
            };
            nodes.push(node);
        }
        const deadline = Date.now() + timeoutMs;
        const until = async (what, fn) => {
            for (;;) {
                try {
                    if (await fn()) return;
                } catch {
                    /* not yet */
                }
                if (Date.now() > deadline) throw new Error(`cluster: ${what} within ${timeoutMs} ms`);
                await sleep(50);
            }
        };
        for (const n of nodes) await until(`node ${n.port} did not answer PING`, async () => (await clusterCli(n.port, 'PING')) === 'PONG');
        await new Promise((resolve, reject) => {
            execFile(
                'redis-cli',
                ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
                { timeout: timeoutMs },
                (err, stdout, stderr) => (err ? reject(new Error(`redis-cli --cluster create: ${err.message}\n${stdout}\n${stderr}`)) : resolve()),
            );
        });
        for (const n of nodes)
            await until(`node ${n.port} is not ok`, async () => {
                const info = await clusterCli(n.port, 'CLUSTER', 'INFO');
                return info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${total}`);
            });
        for (const n of nodes)
            await until(`node ${n.port} is not in sync`, async () => {
                const role = (await clusterCli(n.port, 'ROLE')).split('\n');
                return role[0] === 'master' || role[3] === 'connected';
            });
    } catch (e) {
        await stopNodes();
        throw e;
    }
    const live = () => nodes.find((n) => n.alive());
    return {
        url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
        nodes,
        dir,
        cli: (...args) => clusterCli(live().port, ...args),
        async primaryOf(key) {
            const slot = Number(await clusterCli(live().port, 'CLUSTER', 'KEYSLOT', key));
            for (const line of (await clusterCli(live().port, 'CLUSTER', 'NODES')).split('\n')) {
                const f = line.split(' ');
                if (!f[2] || !f[2].includes('master') || f[2].includes('fail')) continue;
                for (const r of f.slice(8)) {
                    const [lo, hi = lo] = r.split('-').map(Number);
                    if (slot >= lo && slot <= hi) return nodes.find((n) => n.port === Number(f[1].split(':')[1].split('@')[0]));
                }
            }
            return null;
        },
        stop: stopNodes,
    };
}

/* ----------------------------------------------------------------- motcua */

/** Runs `motcua ARGS...` to completion; resolves {code, signal, stdout, stderr}. */
export function runMotcua(args, { input, env, timeoutMs = 20000 } = {}) {
    return new Promise((resolve, reject) => {
        const proc = track(
            spawn(motcuaBin(), args, {
                cwd: ROOT,
                env: { ...process.env, ...env },
                stdio: ['pipe', 'pipe', 'pipe'],
            }),
        );
        const out = [];
        const err = [];
        proc.stdout.on('data', (c) => out.push(c));
        proc.stderr.on('data', (c) => err.push(c));
        const t = setTimeout(() => {
            try {
                process.kill(proc.pid, 'SIGKILL');
            } catch {
                /* gone */
            }
        }, timeoutMs);
        proc.on('error', (e) => {
            clearTimeout(t);
            reject(e);
        });
        proc.on('close', (code, signal) => {
            clearTimeout(t);
            resolve({
                code,
                signal,
                stdout: Buffer.concat(out).toString('utf8'),
                stderr: Buffer.concat(err).toString('utf8'),
            });
        });
        proc.stdin.on('error', () => {}); // EPIPE when the binary exits early
        if (input !== undefined) proc.stdin.end(input);
        else proc.stdin.end();
    });
}

/** GET/POST on loopback without keep-alive; resolves {status, headers, body}. */
export function httpRequest(url, { method = 'GET', headers = {}, body, timeoutMs = 5000 } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method, headers, agent: false, timeout: timeoutMs }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () =>
                resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
            );
            res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
        req.on('error', reject);
        if (body !== undefined) req.end(body);
        else req.end();
    });
}

/**
 * Starts `motcua serve --config CONFIG --listen 127.0.0.1:PORT --redis URL ARGS...`
 * and waits until GET /healthz answers (any status) within `timeoutMs`.
 * Returns {port, url, wsUrl, proc, pid, stderrLines, stdoutLines, stop(), kill()}.
 * stop() sends SIGTERM and resolves {code, signal} (SIGKILL after 5 s).
 */
export async function startMotcua({ redisUrl, env = {}, args = [], config = TEST_INI, timeoutMs = 15000 } = {}) {
    const bin = motcuaBin();
    if (!fs.existsSync(bin)) throw new Error(`motcua binary not found at ${bin} (build it, or set MOTCUA_BIN)`);
    const port = await freePort();
    const outbox = makeTempDir('motcua-outbox-');
    const argv = ['serve', '--config', config, '--listen', `127.0.0.1:${port}`];
    if (redisUrl) argv.push('--redis', redisUrl);
    argv.push(...args);
    const proc = track(
        spawn(bin, argv, {
            cwd: ROOT,
            // Outbound messages of channels without credentials go to a private dir.
            env: { ...process.env, MOTCUA_OUTBOX_DIR: outbox, ...env },
            stdio: ['ignore', 'pipe', 'pipe'],
        }),
    );
    const stderrLines = [];
    const stdoutLines = [];
    lineCollector(proc.stderr, stderrLines);
    lineCollector(proc.stdout, stdoutLines);
    let exited = null;
    let spawnError = null;
    proc.once('exit', (code, signal) => (exited = { code, signal }));
    proc.once('error', (e) => (spawnError = e));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        if (spawnError) throw spawnError;
        if (exited) {
            await sleep(50); // let the last stderr lines arrive
            throw new Error(
                `motcua exited early (${JSON.stringify(exited)}): ${bin} ${argv.join(' ')}\n${stderrLines.join('\n')}`,
            );
        }
        try {
            await httpRequest(`${url}/healthz`, { timeoutMs: 1000 });
            break;
        } catch {
            /* not listening yet */
        }
        if (Date.now() > deadline) {
            try {
                process.kill(proc.pid, 'SIGKILL');
            } catch {
                /* gone */
            }
            removeTempDir(outbox);
            throw new Error(`motcua did not answer /healthz within ${timeoutMs} ms\n${stderrLines.join('\n')}`);
        }
        await sleep(50);
    }
    const finish = async (sig) => {
        const r = await signalAndWait(proc, sig);
        await sleep(20);
        removeTempDir(outbox);
        return r;
    };
    return {
        port,
        url,
        wsUrl: `ws://127.0.0.1:${port}/ws`,
        proc,
        pid: proc.pid,
        outbox,
        stderrLines,
        stdoutLines,
        alive: () => proc.exitCode === null && proc.signalCode === null,
        stop: () => finish('SIGTERM'),
        kill: () => finish('SIGKILL'),
    };
}

/* -------------------------------------------------------------- websocket */

/**
 * Opens a WebSocket with subprotocol motcua.v1. Resolves a client once open;
 * rejects if the handshake fails (err.statusCode holds the HTTP status when the
 * server answered something other than 101).
 *
 * client.next(type | predicate, timeoutMs) resolves the first not-yet-taken
 * frame of that type (or matching the predicate), waiting for it if needed;
 * frames of other types stay queued. client.send(obj) sends JSON (or a string
 * as is). client.close() resolves when closed. client.frames is every frame
 * received, in order; client.closed resolves {code, reason} on close.
 */
export function wsConnect(url, { origin, protocol = 'motcua.v1', timeoutMs = 5000, headers } = {}) {
    return new Promise((resolve, reject) => {
        const opts = { handshakeTimeout: timeoutMs, perMessageDeflate: false };
        if (origin) opts.origin = origin;
        if (headers) opts.headers = headers;
        const ws = new WebSocket(url, protocol ? [protocol] : [], opts);
        const frames = [];
        const queue = [];
        const waiters = [];
        let isOpen = false;
        let closeInfo = null;
        let resolveClosed;
        const closed = new Promise((r) => (resolveClosed = r));

        const matches = (want, f) => (typeof want === 'function' ? want(f) : want === undefined || f.type === want);
        const describe = (want) => (typeof want === 'function' ? 'matching frame' : `'${want}' frame`);

        ws.on('unexpected-response', (req, res) => {
            const e = new Error(`WebSocket handshake refused: HTTP ${res.statusCode}`);
            e.statusCode = res.statusCode;
            res.resume();
            req.destroy();
            reject(e);
        });
        ws.on('error', (e) => {
            if (!isOpen) reject(e);
        });
        ws.on('open', () => {
            isOpen = true;
            resolve(client);
        });
        ws.on('message', (data, isBinary) => {
            const raw = isBinary ? data : data.toString('utf8');
            let f;
            try {
                f = JSON.parse(raw);
            } catch {
                f = { type: '__unparsable__', raw: String(raw) };
            }
            frames.push(f);
            const i = waiters.findIndex((w) => matches(w.want, f));
            if (i >= 0) {
                const [w] = waiters.splice(i, 1);
                clearTimeout(w.timer);
                w.resolve(f);
            } else queue.push(f);
        });
        ws.on('close', (code, reason) => {
            closeInfo = { code, reason: reason.toString() };
            if (!isOpen) {
                const e = new Error(`WebSocket closed before open (code ${code})`);
                e.closeCode = code;
                reject(e);
            }
            resolveClosed(closeInfo);
            for (const w of waiters.splice(0)) {
                clearTimeout(w.timer);
                w.reject(
                    new Error(
                        `connection closed (code ${code}) while waiting for ${describe(w.want)}; frames so far: ${JSON.stringify(frames)}`,
                    ),
                );
            }
        });

        const client = {
            ws,
            frames,
            closed,
            get protocol() {
                return ws.protocol;
            },
            get isOpen() {
                return ws.readyState === WebSocket.OPEN;
            },
            get closeInfo() {
                return closeInfo;
            },
            send(obj) {
                ws.send(typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj));
            },
            next(want, ms = 5000) {
                const i = queue.findIndex((f) => matches(want, f));
                if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
                if (closeInfo) {
                    return Promise.reject(
                        new Error(`connection already closed (code ${closeInfo.code}); no ${describe(want)}; frames: ${JSON.stringify(frames)}`),
                    );
                }
                return new Promise((res, rej) => {
                    const w = { want, resolve: res, reject: rej };
                    w.timer = setTimeout(() => {
                        waiters.splice(waiters.indexOf(w), 1);
                        rej(new Error(`no ${describe(want)} within ${ms} ms; frames so far: ${JSON.stringify(frames)}`));
                    }, ms);
                    waiters.push(w);
                });
            },
            /** Frames received and not yet taken by next(). */
            pending() {
                return queue.slice();
            },
            /** Drops every queued frame. */
            drain() {
                queue.length = 0;
            },
            close() {
                if (closeInfo) return Promise.resolve(closeInfo);
                const t = setTimeout(() => ws.terminate(), 2000);
                ws.close(1000);
                return closed.then((c) => {
                    clearTimeout(t);
                    return c;
                });
            },
            terminate() {
                ws.terminate();
                return closed;
            },
        };
    });
}

/* ---------------------------------------------------------------- metrics */

/**
 * Sums the samples of a Prometheus counter/gauge whose labels include every
 * label of `want` (other labels ignored). Returns null when no series matches.
 */
export function metricValue(text, name, want = {}) {
    let sum = null;
    const re = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/;
    for (const line of text.split('\n')) {
        if (line.startsWith('#')) continue;
        const m = re.exec(line);
        if (!m || m[1] !== name) continue;
        const labels = {};
        for (const lm of (m[3] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
            labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
        }
        if (Object.entries(want).every(([k, v]) => labels[k] === v)) sum = (sum ?? 0) + Number(m[4]);
    }
    return sum;
}

/** Polls fn() until it returns a truthy value or `ms` passes; returns the last value. */
export async function waitFor(fn, ms, stepMs = 100) {
    const deadline = Date.now() + ms;
    let v;
    for (;;) {
        try {
            v = await fn();
        } catch (e) {
            v = undefined;
            if (Date.now() > deadline) throw e;
        }
        if (v) return v;
        if (Date.now() > deadline) return v;
        await sleep(stepMs);
    }
}

/* ------------------------------------------------------------ dispatchers */

/**
 * `motcua serve --role dispatcher` (no HTTP; --listen only names the default
 * consumer) as consumer `consumer`; ready when the scheduler logged its start.
 * Tracked like every child here, so a test that times out before its `finally`
 * does not leave it running. stop() sends SIGTERM (SIGKILL after 5 s), kill9()
 * SIGKILL; both resolve {code, signal}. `lines` is its stderr, line by line.
 */
export async function startDispatcher({ redisUrl, env = {}, consumer }) {
    const proc = track(
        spawn(motcuaBin(), ['serve', '--config', TEST_INI, '--listen', '127.0.0.1:1', '--redis', redisUrl, '--role', 'dispatcher'], {
            cwd: ROOT,
            env: { ...process.env, ...env, MOTCUA_WORKER_CONSUMER: consumer },
            stdio: ['ignore', 'ignore', 'pipe'],
        }),
    );
    const lines = [];
    lineCollector(proc.stderr, lines);
    let exited = null;
    proc.once('exit', (code, signal) => (exited = { code, signal }));
    const end = (sig) => {
        if (exited) return Promise.resolve(exited);
        const done = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
        const t = sig === 'SIGKILL' ? null : setTimeout(() => process.kill(proc.pid, 'SIGKILL'), 5000);
        process.kill(proc.pid, sig);
        return done.then((r) => {
            clearTimeout(t);
            return r;
        });
    };
    const ok = await waitFor(() => exited || lines.some((l) => l.includes('"sched.started"')), 15000, 50);
    if (!ok || exited) {
        await end('SIGKILL');
        throw new Error(`dispatcher did not start (${JSON.stringify(exited)}):\n${lines.join('\n')}`);
    }
    return { proc, pid: proc.pid, lines, stop: () => end('SIGTERM'), kill9: () => end('SIGKILL'), alive: () => !exited };
}

/** A stopped motcua printed no sanitizer report and exited 0 (on SIGTERM). */
export function assertCleanExit(r, lines, what) {
    const bad = lines.filter((l) => /Sanitizer|runtime error/.test(l));
    assert.deepEqual(bad, [], `${what}: clean sanitizer output`);
    assert.equal(r.code, 0, `${what}: clean exit on SIGTERM: ${lines.slice(-20).join('\n')}`);
}

/**
 * Stops what a suite started, in order — the motcua processes still alive, the fake
 * providers, Redis — then removes its folder. Every step runs even when one before it
 * threw; the first error is thrown at the end.
 */
export async function stopAll({ procs = [], fakes, redis, dir }) {
    let first = null;
    const step = async (fn) => {
        try {
            await fn();
        } catch (e) {
            first ??= e;
        }
    };
    for (const p of procs) if (p && p.alive()) await step(() => p.stop());
    if (fakes) await step(() => fakes.stop());
    if (redis) await step(() => redis.stop());
    if (dir) await step(() => removeTempDir(dir));
    if (first) throw first;
}

/** What every suite checks of a motcua's log at the end: no sanitizer report, and each of
 * `phones` masked wherever it appears. */
export function assertCleanLog(mc, phones = []) {
    const log = mc ? mc.stderrLines.join('\n') : '';
    if (/AddressSanitizer|LeakSanitizer|runtime error:/.test(log)) throw new Error(`sanitizer report:\n${log}`);
    for (const p of phones) if (log.includes(p)) throw new Error(`${p} is not masked in the logs`);
}
