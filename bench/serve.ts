/**
 * Online serving: `trellis serve` (the built CLI, a child process over a SQLite workspace) answering
 * single-row predictions of the Adult census GBDT (100 trees, `trellis train`, deployed as
 * `adult --model adult@champion`), real Adult rows cycled, against its peers in the same
 * invocation. Each figure is 30 s at 32 connections from a load generator in its own process
 * (autocannon for HTTP; for gRPC, 32 calls in flight on node:http2, each request encoded once before
 * the run, so that the generator's CPU goes to the calls rather than to protobuf): every server is
 * up for the whole comparison and driven one at a time, in three 10 s segments taken in turn (the
 * order reversed every other round, 3 s of warm-up before the first), so that other work on the
 * machine falls on all of them alike; latencies are pooled over the segments. On a 2-core machine
 * the generator shares the cores with the server, so every server is measured under the same
 * handicap; the server's CPU time (/proc) gives requests per CPU second beside requests/s.
 *
 *   Trellis OIP REST (POST /v2/models/adult/infer, one tensor per column), prediction log off
 *   (--log-sample 0) and at 100% (--log-sample 1; goal ≥ 80% of the throughput with it off); the
 *   same over gRPC (ModelInfer, raw_input_contents) and MLflow's /invocations (dataframe_split).
 *   Peers: FastAPI + uvicorn with scikit-learn's HistGradientBoostingClassifier(max_iter=100) fitted
 *   on the same rows (bench/serve_peer.py), one worker and two (goal: Trellis ≥ 30× one worker's
 *   requests/s); a bare node:http server answering a constant JSON (goal: Trellis ≥ 60% of its
 *   requests/s, and Trellis p99 ≤ 5 ms); for gRPC, a bare @grpc/grpc-js server answering a constant
 *   (bench/serve-grpc-peer.ts), what the gRPC library makes of the same calls before any inference,
 *   and a bare node:http2 server answering each call with Trellis's answer bytes, the floor under it.
 *   Hot swap: during a run, `trellis models alias adult champion` moves between two versions five
 *   times; failed requests (goal 0), p99 from the first move to the end against p99 before it (goal
 *   ≤ 2×), and the versions answering (x-model-version).
 *   Memory: resident set of a replica serving one model, then two (a second endpoint); the
 *   difference is one model's cost.
 *
 * Trellis runs from the build (`npm run build` first). BENCH_SERVE_SECONDS (default 30) per run;
 * BENCH_PYTHON (default /usr/bin/python3) with scikit-learn, FastAPI and uvicorn for the peer.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { createServer } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Autocannon from 'autocannon';
import { dataset } from '../src/data/readers/test-helpers/data-files.js';
import { fmt, percentile, rssMiB } from './lib.js';

const SELF = fileURLToPath(import.meta.url);
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/trellis.js', import.meta.url));
const PEER = fileURLToPath(new URL('./serve_peer.py', import.meta.url));
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const SECONDS = Number(process.env.BENCH_SERVE_SECONDS ?? 30);
const WARMUP_SECONDS = 3;
/** Segments per configuration, taken in turn (BENCH_SERVE_ROUNDS). */
const ROUNDS = Number(process.env.BENCH_SERVE_ROUNDS ?? 3);
const CONNECTIONS = 32;
/** `trellis serve --workers` (and node:http processes) in the multi-process figures: one per core. */
const WORKERS = availableParallelism();
/** Distinct Adult rows cycled through by the requests. */
const ROWS = 1000;
/** Seconds into the hot-swap run at which the alias moves, and the version it moves to. */
const SWAPS = [8, 12, 16, 20, 24].map((s, i) => ({ at: (s * SECONDS) / 30, to: i % 2 === 0 ? '2' : '1' }));

type Value = string | number;
interface Rows { columns: string[]; numeric: boolean[]; rows: Value[][] }

/** The first `n` rows of the Adult training file, without the target; numbers where the column is numeric. */
function adultRows(n: number): Rows {
  const [header, ...lines] = readFileSync(dataset('adult_train.csv'), 'utf8').split('\n').filter((l) => l.trim());
  const all = header!.split(',');
  const keep = all.map((c, i) => (c === 'income' ? -1 : i)).filter((i) => i >= 0);
  const cells = lines.slice(0, n).map((l) => l.split(',').map((s) => s.trim()));
  const numeric = keep.map((i) => cells.every((r) => /^-?\d+(\.\d+)?$/.test(r[i]!)));
  return { columns: keep.map((i) => all[i]!), numeric, rows: cells.map((r) => keep.map((i, k) => (numeric[k] ? Number(r[i]) : r[i]!))) };
}

const oipBody = (d: Rows, row: Value[]) => JSON.stringify({ inputs: d.columns.map((name, k) => ({ name, datatype: d.numeric[k] ? 'INT64' : 'BYTES', shape: [1], data: [row[k]] })) });
const mlflowBody = (d: Rows, row: Value[]) => JSON.stringify({ dataframe_split: { columns: d.columns, data: [row] } });
const peerBody = (d: Rows, row: Value[]) => JSON.stringify(Object.fromEntries(d.columns.map((c, k) => [c, row[k]])));

/** What a load child is asked to do; it writes its samples to `out`. */
interface LoadSpec {
  kind: 'http' | 'grpc';
  /** http: the base URL; grpc: host:port. */
  target: string;
  path?: string;
  bodies?: string[];
  headers?: Record<string, string>;
  /** grpc: channels (connections) the calls are spread over, 1 unless given; a `--workers` server hands each connection to one worker. */
  channels?: number;
  /** grpc: the rows to send as raw_input_contents. */
  rows?: Rows;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  /** Count the x-model-version of every answer, by time. */
  versions?: boolean;
  out: string;
}

/** A load child's answer: per response its end time (ms since the epoch) and latency (ms), in `out`. */
interface LoadReport { start: number; end: number; errors: number; non2xx: number; timeouts: number; cpuSeconds: number; versions?: { at: number; version: string }[] }

/** One gRPC frame (the 5-byte prefix, then the message) per row: a ModelInferRequest with one raw `[1]` tensor per column. */
async function grpcFrames(d: Rows): Promise<Buffer[]> {
  const { default: protobuf } = await import('protobufjs');
  const { INFERENCE_PROTO } = await import('../src/serving/grpc/inference-proto.js');
  const Request = protobuf.parse(INFERENCE_PROTO, { keepCase: true }).root.lookupType('inference.ModelInferRequest');
  const inputs = d.columns.map((name, k) => ({ name, datatype: d.numeric[k] ? 'INT64' : 'BYTES', shape: [1] }));
  const raw = (v: Value, numeric: boolean) => {
    if (numeric) { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(v)); return b; }
    const t = Buffer.from(String(v));
    const l = Buffer.alloc(4);
    l.writeUInt32LE(t.length);
    return Buffer.concat([l, t]);
  };
  return d.rows.map((row) => {
    const message = Request.encode(Request.fromObject({ model_name: 'adult', inputs, raw_input_contents: row.map((v, k) => raw(v, d.numeric[k]!)) })).finish();
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    return Buffer.concat([prefix, message]);
  });
}

/** The message (without its prefix) a gRPC server answers to the first row's ModelInfer call. */
async function grpcAnswer(target: string, d: Rows): Promise<Buffer> {
  const [frame] = await grpcFrames({ ...d, rows: d.rows.slice(0, 1) });
  const session = connect(`http://${target}`);
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelInfer', 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      stream.on('data', (b: Buffer) => chunks.push(b));
      stream.on('trailers', (t) => { if (t['grpc-status'] !== '0') reject(new Error(`ModelInfer failed: ${String(t['grpc-message'])}`)); });
      stream.on('end', () => resolve(Buffer.concat(chunks).subarray(5)));
      stream.on('error', reject);
      stream.end(frame);
    });
  } finally {
    session.close();
  }
}

/** The load generator, in its own process: autocannon for HTTP, node:http2 with pre-encoded calls for gRPC. */
async function loadChild(spec: LoadSpec): Promise<void> {
  const samples: number[] = [];
  const versions: { at: number; version: string }[] = [];
  let report: Omit<LoadReport, 'cpuSeconds'>;
  let cpu0: NodeJS.CpuUsage;
  if (spec.kind === 'http') {
    const { default: autocannon } = await import('autocannon');
    const requests = spec.bodies!.map((body) => ({
      method: 'POST' as const, path: spec.path!, body, headers: { 'content-type': 'application/json', ...spec.headers },
      ...(spec.versions ? { onResponse: (_s: number, _b: string, _c: object, h: Autocannon.Request['headers']) => { versions.push({ at: Date.now(), version: String(h?.['x-model-version'] ?? '') }); } } : {}),
    }));
    const run = (seconds: number, record: boolean) => new Promise<Autocannon.Result>((resolve, reject) => {
      const inst = autocannon({ url: spec.target, connections: spec.connections, duration: seconds, requests }, (err: unknown, res) => {
        if (err) reject(err instanceof Error ? err : new Error(JSON.stringify(err)));
        else resolve(res);
      });
      if (record) inst.on('response', (_c, status, _b, ms) => { if (status < 300) samples.push(Date.now(), ms); });
    });
    if (spec.warmupSeconds) await run(spec.warmupSeconds, false);
    versions.length = 0;
    cpu0 = process.cpuUsage();
    process.stdout.write('started\n');
    const start = Date.now();
    const r = await run(spec.seconds, true);
    report = { start, end: Date.now(), errors: r.errors, non2xx: r.non2xx, timeouts: r.timeouts };
  } else {
    // gRPC is HTTP/2 with length-prefixed protobuf messages: each ModelInferRequest is encoded once,
    // before the run, and sent as it is on node:http2 sessions, so that the generator spends its
    // CPU on the calls rather than on protobuf (@grpc/grpc-js as a client costs as much as the
    // server it loads). A call counts as answered when its grpc-status is 0 and a message came back.
    const frames = await grpcFrames(spec.rows!);
    // A session (one connection) of its own for each channel: a --workers server hands each connection to one worker.
    const sessions = Array.from({ length: spec.channels ?? 1 }, () => connect(`http://${spec.target}`));
    await Promise.all(sessions.map((s) => new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject))));
    const head = { ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelInfer', 'content-type': 'application/grpc', te: 'trailers' };
    const call = (session: ClientHttp2Session, frame: Buffer) => new Promise<boolean>((resolve) => {
      const stream = session.request(head);
      let status: unknown;
      let bytes = 0;
      stream.on('response', (h) => { status = h['grpc-status']; });
      stream.on('trailers', (t) => { status = t['grpc-status']; });
      stream.on('data', (b: Buffer) => { bytes += b.length; });
      stream.on('end', () => resolve(status === '0' && bytes > 5));
      stream.on('error', () => resolve(false));
      stream.end(frame);
    });
    let errors = 0;
    const run = async (seconds: number, record: boolean) => {
      const until = Date.now() + seconds * 1000;
      await Promise.all(Array.from({ length: spec.connections }, async (_, c) => {
        for (let i = c; Date.now() < until; i++) {
          const t = performance.now();
          const ok = await call(sessions[c % sessions.length]!, frames[i % frames.length]!);
          if (!record) continue;
          if (ok) samples.push(Date.now(), performance.now() - t);
          else errors++;
        }
      }));
    };
    await run(spec.warmupSeconds, false);
    cpu0 = process.cpuUsage();
    process.stdout.write('started\n');
    const start = Date.now();
    await run(spec.seconds, true);
    report = { start, end: Date.now(), errors, non2xx: 0, timeouts: 0 };
    for (const s of sessions) s.close();
  }
  const used = process.cpuUsage(cpu0);
  writeFileSync(spec.out, Buffer.from(new Float64Array(samples).buffer));
  writeFileSync(`${spec.out}.json`, JSON.stringify({ ...report, cpuSeconds: (used.user + used.system) / 1e6, ...(spec.versions ? { versions } : {}) }));
}

interface RunFigures {
  requests_per_s: number; p50_ms: number; p99_ms: number; ok: number;
  /** Connection errors, timeouts and non-2xx answers. */
  failed: number;
  /** CPU seconds per second of run: the server's (all its processes) and the load generator's. */
  server_cpu: number; loadgen_cpu: number;
  /** Requests answered per CPU second of the server: what other work on the machine moves less than the clock. */
  requests_per_server_cpu_s: number;
}

/** CPU seconds used so far by these processes (utime + stime, /proc). */
function cpuSeconds(pids: number[]): number {
  return pids.reduce((s, pid) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return s + (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return s;
    }
  }, 0);
}

/** A process and its children (uvicorn's workers). */
function tree(pid: number): number[] {
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return [pid, ...r.stdout.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0).flatMap(tree)];
}

/** One load run against one server: what it measured, before figures are made of one or more of them. */
interface Segment { ms: number[]; seconds: number; failed: number; serverCpu: number; loadgenCpu: number; samples: Float64Array; report: LoadReport }

/** Runs a load child against a server; `during(start)` runs beside it once measuring starts (the alias moves). */
async function drive(spec: Omit<LoadSpec, 'out'>, serverPid: number, dir: string, during?: (start: number) => Promise<void>): Promise<Segment> {
  const out = join(dir, `load-${Date.now()}.bin`);
  const specFile = `${out}.spec.json`;
  writeFileSync(specFile, JSON.stringify({ ...spec, out }));
  const pids = tree(serverPid);
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--load', specFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  let cpu0 = 0;
  let side: Promise<void> | undefined;
  child.stdout.on('data', (b: Buffer) => {
    if (!b.toString().includes('started')) return;
    cpu0 = cpuSeconds(pids);
    side = during?.(Date.now());
  });
  const code = await new Promise<number | null>((r) => child.once('close', r));
  const serverCpu = cpuSeconds(pids) - cpu0;
  await side;
  if (code !== 0) throw new Error(`the load generator failed (${code})`);
  const samples = new Float64Array(readFileSync(out).buffer.slice(0));
  const report = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as LoadReport;
  const ms = Array.from({ length: samples.length / 2 }, (_, i) => samples[2 * i + 1]!);
  return { ms, seconds: (report.end - report.start) / 1000, failed: report.errors + report.timeouts + report.non2xx, serverCpu, loadgenCpu: report.cpuSeconds, samples, report };
}

/** The figures of one configuration from its segments: latencies pooled, counts and CPU summed. */
function figures(segments: Segment[]): RunFigures & { requests_per_s_by_round: number[] } {
  const ms = segments.flatMap((x) => x.ms).sort((a, b) => a - b);
  const seconds = segments.reduce((t, x) => t + x.seconds, 0);
  const cpu = segments.reduce((t, x) => t + x.serverCpu, 0);
  return {
    requests_per_s: ms.length / seconds, p50_ms: percentile(ms, 50), p99_ms: percentile(ms, 99), ok: ms.length,
    failed: segments.reduce((t, x) => t + x.failed, 0), server_cpu: cpu / seconds, loadgen_cpu: segments.reduce((t, x) => t + x.loadgenCpu, 0) / seconds,
    requests_per_server_cpu_s: ms.length / cpu, requests_per_s_by_round: segments.map((x) => x.ms.length / x.seconds),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

interface Server { pid: number; child: ChildProcess; stop: () => Promise<void>; output?: () => string }

function stopper(child: ChildProcess): () => Promise<void> {
  return () => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ENV = { ...process.env, TRELLIS_USER: 'bench', TRELLIS_LOG_LEVEL: 'warn' };

function trellis(g: string[], args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...g, ...args], { encoding: 'utf8', env: ENV });
  if (r.status !== 0) throw new Error(`trellis ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** `trellis serve` from the build; resolves once it prints where it listens and is ready. */
async function startTrellis(g: string[], port: number, grpcPort: number, logSample: '0' | '1', workers = 1): Promise<Server> {
  const child = spawn(process.execPath, [BIN, ...g, 'serve', '--port', String(port), '--grpc-port', String(grpcPort), '--log-sample', logSample, '--workers', String(workers)], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...ENV, TRELLIS_LOG_FORMAT: 'json', TRELLIS_LOG_LEVEL: 'info' },
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  await until('trellis serve to listen', async () => {
    if (child.exitCode !== null) throw new Error(`trellis serve exited: ${out}`);
    return out.includes('REST on http://');
  }).catch((e: unknown) => { child.kill('SIGKILL'); throw new Error(`${(e as Error).message}\n${out}`); });
  await until('trellis serve to be ready', async () => (await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).ok);
  return { pid: child.pid!, child, stop: stopper(child), output: () => out };
}

const NODE_HTTP = `
const cluster = require('node:cluster');
const http = require('node:http');
const [port, body, workers] = [Number(process.argv[1]), process.argv[2], Number(process.argv[3])];
if (workers > 1 && cluster.isPrimary) for (let i = 0; i < workers; i++) cluster.fork();
else http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); });
}).listen(port, '127.0.0.1');
`;

/** A bare node:http server answering a constant; with `workers` > 1, that many node:cluster processes on one port. */
/**
 * A bare node:http2 server answering every stream as a gRPC server would answer a call (status
 * 200, one length-prefixed message, grpc-status 0 in the trailers) without reading it: the floor
 * under any gRPC server written for Node.
 */
const NODE_HTTP2 = `
const cluster = require('node:cluster');
const http2 = require('node:http2');
const [port, hex, workers] = [Number(process.argv[1]), process.argv[2], Number(process.argv[3])];
const message = Buffer.from(hex, 'hex');
const frame = Buffer.alloc(5 + message.length);
frame.writeUInt32BE(message.length, 1);
message.copy(frame, 5);
if (workers > 1 && cluster.isPrimary) for (let i = 0; i < workers; i++) cluster.fork();
else http2.createServer().on('stream', (stream) => {
  stream.resume();
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(frame);
  });
}).listen(port, '127.0.0.1');
`;

async function startNodeHttp2(port: number, answer: Buffer, workers = 1): Promise<Server> {
  const child = spawn(process.execPath, ['-e', NODE_HTTP2, String(port), answer.toString('hex'), String(workers)], { stdio: 'inherit' });
  await until('the node:http2 server', () => grpcAnswers(`127.0.0.1:${port}`));
  return { pid: child.pid!, child, stop: stopper(child) };
}

async function startNodeHttp(port: number, answer: string, workers = 1): Promise<Server> {
  const child = spawn(process.execPath, ['-e', NODE_HTTP, String(port), answer, String(workers)], { stdio: 'inherit' });
  await until('the node:http server', async () => (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' })).ok);
  return { pid: child.pid!, child, stop: stopper(child) };
}

/** The bare @grpc/grpc-js peer (bench/serve-grpc-peer.ts); up once a ModelInfer call through the load generator's path answers. */
async function startGrpcPeer(port: number, processes = 1): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('serve-grpc-peer.ts', import.meta.url)), String(port), String(processes)], { stdio: 'inherit' });
  await until('the grpc-js peer', () => grpcAnswers(`127.0.0.1:${port}`));
  return { pid: child.pid!, child, stop: stopper(child) };
}

/** Whether a gRPC server answers ServerLive (every server here implements it; the peer answers UNIMPLEMENTED, which is still an answer). */
function grpcAnswers(target: string): Promise<boolean> {
  return new Promise((resolve) => {
    const session = connect(`http://${target}`);
    session.on('error', () => resolve(false));
    const stream = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ServerLive', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('response', () => { session.close(); resolve(true); });
    stream.on('error', () => resolve(false));
    stream.end(Buffer.alloc(5));
  });
}

async function startPeer(model: string, port: number, workers: number, body: string): Promise<Server> {
  const child = spawn(PYTHON, ['-m', 'uvicorn', 'serve_peer:app', '--app-dir', fileURLToPath(new URL('.', import.meta.url)), '--workers', String(workers),
    '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning', '--no-access-log'], { stdio: 'inherit', env: { ...process.env, PEER_MODEL: model, OMP_NUM_THREADS: '1' } });
  await until('the FastAPI peer', async () => (await fetch(`http://127.0.0.1:${port}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).ok, 60_000);
  return { pid: child.pid!, child, stop: stopper(child) };
}

const pyVersion = (mod: string) => spawnSync(PYTHON, ['-c', `import ${mod}; print(${mod}.__version__)`], { encoding: 'utf8' }).stdout.trim() || null;

function line(label: string, f: RunFigures): void {
  console.log(`  ${label.padEnd(40)} ${fmt(f.requests_per_s, 0).padStart(8)} req/s  p50 ${fmt(f.p50_ms, 2)} ms  p99 ${fmt(f.p99_ms, 2)} ms  failed ${f.failed}  CPU server ${fmt(f.server_cpu, 2)} (${fmt(f.requests_per_server_cpu_s, 0)} req per CPU s) load ${fmt(f.loadgen_cpu, 2)}`);
}

export async function runServeBench(): Promise<unknown> {
  if (!existsSync(`${DIST}serving/engine.js`)) throw new Error('build Trellis first: npm run build');
  const hasPeer = spawnSync(PYTHON, ['-c', 'import sklearn, fastapi, uvicorn, pandas'], { stdio: 'ignore' }).status === 0;
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-serve-'));
  const running: Server[] = [];
  const up = async (s: Promise<Server>) => { const x = await s; running.push(x); return x; };
  const down = async (s: Server) => { await s.stop(); running.splice(running.indexOf(s), 1); };
  try {
    const g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    console.log(`\nonline serving: single-row Adult predictions (GBDT, 100 trees), ${SECONDS} s at ${CONNECTIONS} connections per figure`);
    process.stderr.write('  training two Adult GBDT versions (100 trees) and deploying adult@champion…\n');
    trellis(g, ['data', 'add', 'adult', dataset('adult_train.csv')]);
    trellis(g, ['train', '--data', 'adult@1', '--target', 'income', '--algo', 'gbdt', '--param', 'trees=100', 'test_size=0', '--register', 'adult']);
    trellis(g, ['train', '--data', 'adult@1', '--target', 'income', '--algo', 'gbdt', '--param', 'trees=100', 'learning_rate=0.05', 'seed=7', 'test_size=0', '--register', 'adult']);
    trellis(g, ['models', 'alias', 'adult', 'champion', '1']);
    trellis(g, ['deployments', 'create', 'adult', '--model', 'adult@champion']);
    const d = adultRows(ROWS);
    const oip = d.rows.map((r) => oipBody(d, r));
    const load0 = loadavg()[0]!;
    const [port, grpcPort, port1, grpcPort1, nodePort, peerPort1, peerPort2, portW, grpcPortW, nodePortW, grpcPeerPort, grpcPeerPortW, h2Port, h2PortW] = await Promise.all(Array.from({ length: 14 }, freePort));
    const base = `http://127.0.0.1:${port}`;
    const url = (p: number) => `http://127.0.0.1:${p}`;

    // Every server is up for the whole comparison; one at a time is driven.
    process.stderr.write('  starting the servers…\n');
    const rest0 = await up(startTrellis(g, port!, grpcPort!, '0'));
    const rest1 = await up(startTrellis(g, port1!, grpcPort1!, '1'));
    const rest0w = await up(startTrellis(g, portW!, grpcPortW!, '0', WORKERS));
    const constant = JSON.stringify({ model_name: 'adult', model_version: '1', outputs: [{ name: 'prediction', datatype: 'BYTES', shape: [1], data: ['<=50K'] }] });
    const node = await up(startNodeHttp(nodePort!, constant));
    const nodeW = await up(startNodeHttp(nodePortW!, constant, WORKERS));
    const grpcPeer = await up(startGrpcPeer(grpcPeerPort!));
    const grpcPeerW = await up(startGrpcPeer(grpcPeerPortW!, WORKERS));
    const h2Answer = Buffer.from(await grpcAnswer(`127.0.0.1:${grpcPort}`, d));
    const h2 = await up(startNodeHttp2(h2Port!, h2Answer));
    const h2W = await up(startNodeHttp2(h2PortW!, h2Answer, WORKERS));
    let sklearn: string | null = null;
    const peers: Server[] = [];
    if (hasPeer) {
      process.stderr.write('  fitting the scikit-learn peer…\n');
      const model = join(dir, 'peer.pkl');
      const fit = spawnSync(PYTHON, [PEER, 'fit', dataset('adult_train.csv'), model], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
      if (fit.status !== 0) throw new Error(`fitting the peer failed: ${fit.stderr}`);
      const first = peerBody(d, d.rows[0]!);
      peers.push(await up(startPeer(model, peerPort1!, 1, first)), await up(startPeer(model, peerPort2!, 2, first)));
      sklearn = pyVersion('sklearn');
    } else console.log(`  FastAPI peer: scikit-learn, FastAPI or uvicorn missing for ${PYTHON}; no peer in this run`);
    const http = (target: string, path: string, bodies: string[]) => ({ kind: 'http' as const, target, path, bodies, connections: CONNECTIONS });
    const configs: { name: string; label: string; server: Server; spec: Omit<LoadSpec, 'out' | 'seconds' | 'warmupSeconds'> }[] = [
      { name: 'trellis_rest_log0', label: 'Trellis OIP REST, --log-sample 0', server: rest0, spec: http(base, '/v2/models/adult/infer', oip) },
      { name: 'trellis_rest_log1', label: 'Trellis OIP REST, --log-sample 1', server: rest1, spec: http(url(port1!), '/v2/models/adult/infer', oip) },
      { name: 'trellis_grpc', label: 'Trellis OIP gRPC (raw_input_contents)', server: rest0, spec: { kind: 'grpc', target: `127.0.0.1:${grpcPort}`, rows: d, connections: CONNECTIONS } },
      { name: 'trellis_invocations', label: 'Trellis MLflow /invocations', server: rest0, spec: http(base, '/invocations', d.rows.map((r) => mlflowBody(d, r))) },
      { name: 'trellis_rest_log0_workers', label: `Trellis OIP REST, --log-sample 0 --workers ${WORKERS}`, server: rest0w, spec: http(url(portW!), '/v2/models/adult/infer', oip) },
      { name: 'trellis_grpc_workers', label: `Trellis OIP gRPC, --workers ${WORKERS}`, server: rest0w, spec: { kind: 'grpc', target: `127.0.0.1:${grpcPortW}`, rows: d, connections: CONNECTIONS, channels: WORKERS } },
      { name: 'trellis_invocations_workers', label: `Trellis MLflow /invocations, --workers ${WORKERS}`, server: rest0w, spec: http(url(portW!), '/invocations', d.rows.map((r) => mlflowBody(d, r))) },
      { name: 'node_http', label: 'node:http, constant JSON', server: node, spec: http(url(nodePort!), '/', oip) },
      { name: 'node_http_workers', label: `node:http, constant JSON, ${WORKERS} processes`, server: nodeW, spec: http(url(nodePortW!), '/', oip) },
      { name: 'node_http2', label: 'node:http2, constant gRPC answer', server: h2, spec: { kind: 'grpc', target: `127.0.0.1:${h2Port}`, rows: d, connections: CONNECTIONS } },
      { name: 'node_http2_workers', label: `node:http2, constant gRPC answer, ${WORKERS} processes`, server: h2W, spec: { kind: 'grpc', target: `127.0.0.1:${h2PortW}`, rows: d, connections: CONNECTIONS, channels: WORKERS } },
      { name: 'grpc_js', label: '@grpc/grpc-js, constant answer', server: grpcPeer, spec: { kind: 'grpc', target: `127.0.0.1:${grpcPeerPort}`, rows: d, connections: CONNECTIONS } },
      { name: 'grpc_js_workers', label: `@grpc/grpc-js, constant answer, ${WORKERS} processes`, server: grpcPeerW, spec: { kind: 'grpc', target: `127.0.0.1:${grpcPeerPortW}`, rows: d, connections: CONNECTIONS, channels: WORKERS } },
      ...peers.map((p, i) => ({ name: `fastapi_${i + 1}`, label: `FastAPI + uvicorn, ${i + 1} worker${i ? 's' : ''}`, server: p, spec: http(url(i ? peerPort2! : peerPort1!), '/predict', d.rows.map((r) => peerBody(d, r))) })),
    ];
    // ROUNDS segments per configuration, in turn, the order reversed every other round, so that
    // other work on the machine falls on all of them alike.
    const segments = new Map<string, Segment[]>(configs.map((c) => [c.name, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of r % 2 === 0 ? configs : [...configs].reverse()) {
        process.stderr.write(`  round ${r + 1} of ${ROUNDS}: ${c.label}…\n`);
        segments.get(c.name)!.push(await drive({ ...c.spec, seconds: SECONDS / ROUNDS, warmupSeconds: r === 0 ? WARMUP_SECONDS : 1 }, c.server.pid, dir));
      }
    }
    const runs: Record<string, ReturnType<typeof figures>> = {};
    for (const c of configs) {
      const f = figures(segments.get(c.name)!);
      runs[c.name] = f;
      line(c.label, f);
    }
    let memory: Record<string, number> = {
      after_load_mib: await rssMiB(rest0.pid),
      // The primary and its workers.
      workers_after_load_mib: (await Promise.all(tree(rest0w.pid).map(rssMiB))).reduce((a, b) => a + b, 0),
    };
    for (const s of [rest1, rest0w, node, nodeW, grpcPeer, grpcPeerW, h2, h2W, ...peers]) await down(s);
    const t = rest0;

    // Hot swap: the alias moves between versions 1 and 2 during the run.
    process.stderr.write('  hot swap under load…\n');
    const moves: { to: string; at: number; done: number }[] = [];
    const swap = await drive({ ...http(base, '/v2/models/adult/infer', oip), seconds: SECONDS, warmupSeconds: 1, versions: true }, t.pid, dir, async (start) => {
      for (const s of SWAPS) {
        await new Promise((r) => setTimeout(r, Math.max(0, start + s.at * 1000 - Date.now())));
        const at = Date.now();
        await new Promise<void>((resolve, reject) => {
          const c = spawn(process.execPath, [BIN, ...g, 'models', 'alias', 'adult', 'champion', s.to], { stdio: 'ignore', env: ENV });
          c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`trellis models alias failed (${code})`))));
        });
        moves.push({ to: s.to, at, done: Date.now() });
      }
    });
    const before: number[] = [];
    const after: number[] = [];
    for (let i = 0; i < swap.samples.length; i += 2) (swap.samples[i]! < moves[0]!.at ? before : after).push(swap.samples[i + 1]!);
    before.sort((a, b) => a - b);
    after.sort((a, b) => a - b);
    const versions: Record<string, number> = {};
    for (const v of swap.report.versions ?? []) versions[v.version] = (versions[v.version] ?? 0) + 1;
    // How soon after `trellis models alias` returned the new version answered (the replica polls the store).
    const seenAfter = moves.map((m) => {
      const first = (swap.report.versions ?? []).find((v) => v.at >= m.done && v.version === `adult/${m.to}`);
      return first ? first.at - m.done : null;
    });
    const hotSwap = {
      ...figures([swap]), moves: moves.length, p99_before_ms: percentile(before, 99), p99_during_ms: percentile(after, 99),
      p50_before_ms: percentile(before, 50), p50_during_ms: percentile(after, 50), p99_ratio: percentile(after, 99) / percentile(before, 99),
      versions, ms_to_new_version: seenAfter,
    };
    console.log(`  hot swap: ${moves.length} alias moves, ${hotSwap.failed} failed of ${hotSwap.ok + hotSwap.failed}; p99 ${fmt(hotSwap.p99_before_ms, 2)} ms before → ${fmt(hotSwap.p99_during_ms, 2)} ms during (${fmt(hotSwap.p99_ratio, 2)}×); answers by version ${JSON.stringify(versions)}; new version answering ${seenAfter.map((x) => (x === null ? '–' : `${x} ms`)).join(', ')} after the alias command returned`);

    await down(t);

    // Memory: a fresh replica serving one model, then a second endpoint on the other version.
    process.stderr.write('  resident memory with one model and with two…\n');
    trellis(g, ['models', 'alias', 'adult', 'champion', '1']);
    const m = await up(startTrellis(g, port!, grpcPort!, '0'));
    const warm = async (endpoint: string) => {
      for (const b of oip.slice(0, 300)) await (await fetch(`${base}/v2/models/${endpoint}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: b })).arrayBuffer();
    };
    // The median of five readings, two seconds after the last request.
    const settle = async () => {
      await new Promise((r) => setTimeout(r, 2000));
      const xs = [];
      for (let i = 0; i < 5; i++) {
        xs.push(await rssMiB(m.pid));
        await new Promise((r) => setTimeout(r, 200));
      }
      return xs.sort((x, y) => x - y)[2]!;
    };
    await warm('adult');
    const one = await settle();
    trellis(g, ['deployments', 'create', 'adult2', '--model', 'adult/2']);
    await until('the second endpoint', async () => (await fetch(`${base}/v2/models/adult2/ready`)).ok);
    await warm('adult2');
    await warm('adult');
    const two = await settle();
    // The model document's size, from the replica's 'loaded' log line.
    const kib = Number(/"event":"loaded"[^\n]*?"bytes":(\d+)/.exec(m.output!())?.[1] ?? Number.NaN) / 1024;
    memory = { ...memory, one_model_mib: one, two_models_mib: two, per_model_mib: two - one, model_document_kib: kib };
    console.log(`  resident memory: one model ${fmt(one, 0)} MiB, two ${fmt(two, 0)} MiB → ${fmt(two - one, 1)} MiB per model (the model document is ${fmt(kib, 0)} KiB); after the load runs ${fmt(memory.after_load_mib!, 0)} MiB`);
    await down(m);

    const rest = runs.trellis_rest_log0!;
    const ratios = {
      vs_fastapi_1: runs.fastapi_1 ? rest.requests_per_s / runs.fastapi_1.requests_per_s : null,
      vs_fastapi_2: runs.fastapi_2 ? rest.requests_per_s / runs.fastapi_2.requests_per_s : null,
      vs_node_http: rest.requests_per_s / runs.node_http!.requests_per_s,
      log_on_over_off: runs.trellis_rest_log1!.requests_per_s / rest.requests_per_s,
      per_server_cpu_s: {
        vs_fastapi_1: runs.fastapi_1 ? rest.requests_per_server_cpu_s / runs.fastapi_1.requests_per_server_cpu_s : null,
        vs_node_http: rest.requests_per_server_cpu_s / runs.node_http!.requests_per_server_cpu_s,
        log_on_over_off: runs.trellis_rest_log1!.requests_per_server_cpu_s / rest.requests_per_server_cpu_s,
      },
      grpc_over_rest: runs.trellis_grpc!.requests_per_s / rest.requests_per_s,
      invocations_over_rest: runs.trellis_invocations!.requests_per_s / rest.requests_per_s,
      // gRPC against what @grpc/grpc-js itself makes of the same calls, answering a constant.
      grpc_vs_grpc_js: runs.trellis_grpc!.requests_per_s / runs.grpc_js!.requests_per_s,
      grpc_vs_node_http2: runs.trellis_grpc!.requests_per_s / runs.node_http2!.requests_per_s,
      grpc_vs_fastapi_1: runs.fastapi_1 ? runs.trellis_grpc!.requests_per_s / runs.fastapi_1.requests_per_s : null,
    };
    // --workers: against the peers with as many processes, and against node:http's better figure
    // (on a machine whose cores the load generator shares, one node:http process can beat two).
    const restW = runs.trellis_rest_log0_workers!;
    const bestNode = Math.max(runs.node_http!.requests_per_s, runs.node_http_workers!.requests_per_s);
    const workerRatios = {
      workers: WORKERS,
      over_one_process: restW.requests_per_s / rest.requests_per_s,
      vs_fastapi_same_workers: runs[`fastapi_${WORKERS}`] ? restW.requests_per_s / runs[`fastapi_${WORKERS}`]!.requests_per_s : null,
      vs_fastapi_1: runs.fastapi_1 ? restW.requests_per_s / runs.fastapi_1.requests_per_s : null,
      vs_node_http_best: restW.requests_per_s / bestNode,
      grpc_over_rest: runs.trellis_grpc_workers!.requests_per_s / restW.requests_per_s,
      invocations_over_rest: runs.trellis_invocations_workers!.requests_per_s / restW.requests_per_s,
      grpc_vs_grpc_js_best: runs.trellis_grpc_workers!.requests_per_s / Math.max(runs.grpc_js!.requests_per_s, runs.grpc_js_workers!.requests_per_s),
    };
    const goals = {
      'requests/s ≥ 30× FastAPI (1 worker)': { value: ratios.vs_fastapi_1, met: ratios.vs_fastapi_1 === null ? null : ratios.vs_fastapi_1 >= 30 },
      'requests/s ≥ 60% of node:http': { value: ratios.vs_node_http, met: ratios.vs_node_http >= 0.6 },
      'p99 ≤ 5 ms': { value: rest.p99_ms, met: rest.p99_ms <= 5 },
      [`--workers ${WORKERS}: requests/s ≥ 30× FastAPI (${WORKERS} workers)`]: { value: workerRatios.vs_fastapi_same_workers, met: workerRatios.vs_fastapi_same_workers === null ? null : workerRatios.vs_fastapi_same_workers >= 30 },
      [`--workers ${WORKERS}: requests/s ≥ 60% of node:http (its better of 1 and ${WORKERS} processes)`]: { value: workerRatios.vs_node_http_best, met: workerRatios.vs_node_http_best >= 0.6 },
      [`--workers ${WORKERS}: p99 ≤ 5 ms`]: { value: restW.p99_ms, met: restW.p99_ms <= 5 },
      'MLflow /invocations p99 ≤ 5 ms': { value: runs.trellis_invocations!.p99_ms, met: runs.trellis_invocations!.p99_ms <= 5 },
      [`--workers ${WORKERS}: MLflow /invocations p99 ≤ 5 ms`]: { value: runs.trellis_invocations_workers!.p99_ms, met: runs.trellis_invocations_workers!.p99_ms <= 5 },
      'gRPC p99 ≤ 5 ms': { value: runs.trellis_grpc!.p99_ms, met: runs.trellis_grpc!.p99_ms <= 5 },
      [`--workers ${WORKERS}: gRPC p99 ≤ 5 ms`]: { value: runs.trellis_grpc_workers!.p99_ms, met: runs.trellis_grpc_workers!.p99_ms <= 5 },
      'log at 100% ≥ 80% of log off': { value: ratios.log_on_over_off, met: ratios.log_on_over_off >= 0.8 },
      'hot swap: 0 failed requests': { value: hotSwap.failed, met: hotSwap.failed === 0 },
      'hot swap: p99 during ≤ 2× before': { value: hotSwap.p99_ratio, met: hotSwap.p99_ratio <= 2 },
    };
    console.log(`  Trellis REST ÷ FastAPI 1 worker ${ratios.vs_fastapi_1 === null ? '–' : `${fmt(ratios.vs_fastapi_1, 1)}×`}, ÷ 2 workers ${ratios.vs_fastapi_2 === null ? '–' : `${fmt(ratios.vs_fastapi_2, 1)}×`}; ÷ node:http ${fmt(100 * ratios.vs_node_http, 0)}%; log on ÷ off ${fmt(100 * ratios.log_on_over_off, 0)}%`);
    console.log(`  --workers ${WORKERS}: ${fmt(workerRatios.over_one_process, 2)}× one process; ÷ FastAPI ${WORKERS} workers ${workerRatios.vs_fastapi_same_workers === null ? '–' : `${fmt(workerRatios.vs_fastapi_same_workers, 1)}×`}, ÷ 1 worker ${workerRatios.vs_fastapi_1 === null ? '–' : `${fmt(workerRatios.vs_fastapi_1, 1)}×`}; ÷ node:http (better of 1 and ${WORKERS} processes) ${fmt(100 * workerRatios.vs_node_http_best, 0)}%`);
    console.log(`  gRPC floor: node:http2 answering a constant ${fmt(runs.node_http2!.requests_per_s, 0)} calls/s, p99 ${fmt(runs.node_http2!.p99_ms, 1)} ms (${WORKERS} processes: ${fmt(runs.node_http2_workers!.requests_per_s, 0)} calls/s, p99 ${fmt(runs.node_http2_workers!.p99_ms, 1)} ms)`);
    console.log(`  gRPC: ÷ @grpc/grpc-js answering a constant ${fmt(100 * ratios.grpc_vs_grpc_js, 0)}% (--workers ${WORKERS}: ${fmt(100 * workerRatios.grpc_vs_grpc_js_best, 0)}% of its better layout); p99 ${fmt(runs.trellis_grpc!.p99_ms, 1)} ms against grpc-js's own ${fmt(runs.grpc_js!.p99_ms, 1)} ms (--workers ${WORKERS}: ${fmt(runs.trellis_grpc_workers!.p99_ms, 1)} against ${fmt(runs.grpc_js_workers!.p99_ms, 1)} ms)`);
    const c = ratios.per_server_cpu_s;
    console.log(`  per server CPU second: ÷ FastAPI 1 worker ${c.vs_fastapi_1 === null ? '–' : `${fmt(c.vs_fastapi_1, 1)}×`}; ÷ node:http ${fmt(100 * c.vs_node_http, 0)}%; log on ÷ off ${fmt(100 * c.log_on_over_off, 0)}%`);
    for (const [goal, x] of Object.entries(goals)) console.log(`  goal ${goal}: ${x.value === null ? '–' : fmt(x.value, 2)} → ${x.met === null ? 'no peer' : x.met ? 'met' : 'missed'}`);
    return {
      seconds: SECONDS, connections: CONNECTIONS, rows_cycled: ROWS,
      machine: { cpu: cpus()[0]?.model ?? '', cores: availableParallelism(), memory_gib: totalmem() / 2 ** 30, load_average: [load0, loadavg()[0]!] },
      peer_versions: { python: spawnSync(PYTHON, ['--version'], { encoding: 'utf8' }).stdout.trim(), sklearn, fastapi: hasPeer ? pyVersion('fastapi') : null, uvicorn: hasPeer ? pyVersion('uvicorn') : null },
      runs, hot_swap: { ...hotSwap, alias_moves: moves.map((m) => ({ to: m.to, at_s: (m.at - swap.report.start) / 1000, cli_ms: m.done - m.at })) }, memory, ratios, worker_ratios: workerRatios, goals,
    };
  } finally {
    for (const s of running) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--load' && process.argv[1] === SELF) await loadChild(JSON.parse(readFileSync(process.argv[3]!, 'utf8')) as LoadSpec);
