/**
 * What authentication costs: the same `trellis server` on SQLite with auth off and with `--auth`,
 * side by side in one invocation, reported as ratios on ÷ off. With auth on, requests carry a
 * Bearer token of a global admin (`admin`: the policy answers from the grant alone) or of a user
 * holding contributor on one experiment only (`scoped`: log-batch resolves its run's experiment
 * for the per-object check; runs/search filters the experiments asked for). Users and tokens are
 * made with the CLI on the store before the server starts, as an operator would.
 *
 * (a) Metric ingest: runs/log-batch, 1,000 metrics per request, 4 concurrent clients, as
 *     bench/ingest.ts; each mode on a fresh copy of the same empty store, one server at a time,
 *     the modes' order reversed every round (off, admin, scoped, then scoped, admin, off, …) so the
 *     machine's drift cancels. Points/s is the median of the rounds; batch latencies are pooled.
 * (b) runs/search with a metric filter and an order_by (bench/search.ts's queries) over a store
 *     populated by bench/populate.ts: one server per mode, all up at once on copies of the store,
 *     plus a control (a second server with auth off, whose ratio to the first is the noise between
 *     two identical servers); every repetition sends the same query to each in turn, in every order
 *     in turn, so all are measured under the same conditions; samples are pooled over the rounds.
 *     Both parts also read each server's CPU time (/proc) per request: the cost without the noise
 *     of waiting.
 * (c) In-process, the checking itself: Authenticator.authenticate on a Bearer token (record cached)
 *     and the policy's answer, per request, in microseconds.
 * Goals: auth on costs at most 10% of ingest throughput and at most 5% of search p95.
 *
 * Environment: BENCH_AUTH_ROUNDS=4 (even: each mode as often first as last), BENCH_RUNS=20000
 * (runs in the search store), BENCH_REPS=100 (per query, mode and round), BENCH_BATCHES=400
 * (log-batch requests per ingest).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg as osLoadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RequestAuth } from '../src/api/request-auth.js';
import { Authenticator } from '../src/governance/identities.js';
import { openSqlStores } from '../src/store/sql/sql-stores.js';
import { SqliteDriver } from '../src/store/sqlite/sqlite-driver.js';
import { fmt, percentile, progress, startServer, summarize } from './lib.js';
import { populate } from './populate.js';

const ROUNDS = Number(process.env.BENCH_AUTH_ROUNDS ?? 4);
const RUNS = Number(process.env.BENCH_RUNS ?? 20_000);
const REPS = Number(process.env.BENCH_REPS ?? 100);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 400);
const WARMUP = 25;
const CLIENTS = 4;
const PER_BATCH = 1000;
const QUERIES = [
  { filter: 'metrics.m1 > 0.5', order_by: ['metrics.m2 DESC'], max_results: 100 },
  { filter: 'metrics.m3 < 0.2 and params.p1 = \'3\'', order_by: ['metrics.m4 ASC'], max_results: 100 },
  { filter: 'metrics.m5 >= 0.9', order_by: ['metrics.m0 DESC'], max_results: 1000 },
];
const MODES = ['off', 'admin', 'scoped'] as const;
type Mode = (typeof MODES)[number];
type OnMode = Exclude<Mode, 'off'>;
/**
 * The search adds a control: a second server with auth off (`off2`). Its ratio to `off` is what two
 * identical servers differ by, the noise a ratio of the others must be read against.
 */
const SEARCH_MODES = ['off', 'off2', 'admin', 'scoped'] as const;
type SearchMode = (typeof SEARCH_MODES)[number];
const permutations = <T>(xs: readonly T[]): T[][] => (xs.length <= 1 ? [[...xs]] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest])));
/** Every order of the search's modes (24). */
const ORDERS = permutations(SEARCH_MODES);
interface SearchSamples { ms: Record<SearchMode, number[][]>; cpuMs: Record<SearchMode, number[]> }
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

interface Tokens { admin: string; scoped: string }

export interface AuthIngestFigures { pointsPerSecond: number; perRound: number[]; p50BatchMs: number; p95BatchMs: number; /** The server's CPU time per log-batch request. */ serverCpuMsPerBatch: number }
export interface AuthSearchFigures { query: string; rows: number; http: ReturnType<typeof summarize>; /** The server's CPU time per request. */ serverCpuMs: number }
/** Microseconds per request of checking a token and asking the policy, in-process (no HTTP). */
export interface AuthCheckFigures { admin: number; scoped: number }
export interface AuthResult {
  rounds: number;
  check: AuthCheckFigures;
  runs: number;
  /** 1, 5 and 15 minutes at the start and end; the 1-minute figure's range while measuring. */
  loadAverage: { start: number[]; end: number[]; oneMinuteMin: number; oneMinuteMax: number };
  ingest: Record<Mode, AuthIngestFigures>;
  search: Record<SearchMode, AuthSearchFigures[]>;
  /** On ÷ off: ingest's from the medians (and each round's own), search's per query. */
  ratios: Record<'ingestPointsPerSecond' | 'ingestBatchP95' | 'ingestServerCpu', Record<OnMode, number>> & { ingestPointsPerSecondPerRound: Record<OnMode, number[]> }
    & Record<'searchP50' | 'searchP95' | 'searchServerCpu', Record<Exclude<SearchMode, 'off'>, number[]>>;
}

/** Runs the CLI on a local store, as `trellis --store sqlite:<db> …` would. */
function cli(db: string, dir: string, args: string[]): string {
  const env = { ...process.env, TRELLIS_LOG_LEVEL: 'warn' };
  delete env.TRELLIS_TRACKING_URI;
  delete env.MLFLOW_TRACKING_URI;
  delete env.TRELLIS_TOKEN;
  return execFileSync(process.execPath, ['--import', 'tsx', CLI, '--store', `sqlite:${db}`, '--artifacts', `file:${join(dir, 'artifacts')}`, ...args], { env, encoding: 'utf8' });
}

/** A global admin `bench` and a `reader` holding contributor on experiment `expId` only, with a token each. */
function addPrincipals(db: string, dir: string, expId: string): Tokens {
  cli(db, dir, ['users', 'create', 'bench', '--role', 'admin']);
  cli(db, dir, ['users', 'create', 'reader', '--role', `contributor:experiment/${expId}`]);
  const token = (user: string) => (JSON.parse(cli(db, dir, ['tokens', 'create', user, '--json'])) as { token: string }).token;
  return { admin: token('bench'), scoped: token('reader') };
}

function headersFor(mode: SearchMode, tokens: Tokens): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  if (mode === 'admin' || mode === 'scoped') h.authorization = `Bearer ${tokens[mode]}`;
  return h;
}

/** The order of the modes in round `r`: reversed every other round. */
const orderOf = (r: number): Mode[] => (r % 2 === 0 ? [...MODES] : [...MODES].reverse());

async function ingestOnce(mode: Mode, template: string, expId: string, tokens: Tokens, dir: string, port: number): Promise<{ pointsPerSecond: number; latencies: number[]; cpuMs: number }> {
  const db = join(dir, `ingest-${mode}.db`);
  copyFileSync(template, db);
  const server = await startServer({ store: `sqlite:${db}`, artifacts: `file:${join(dir, 'artifacts')}`, port, serverArgs: mode === 'off' ? [] : ['--auth'] });
  try {
    const headers = headersFor(mode, tokens);
    const post = (path: string, body: string) => fetch(`${server.url}/api/2.0/mlflow/${path}`, { method: 'POST', headers, body });
    if (mode !== 'off') {
      // Auth is really on: without a token the same request is refused.
      const anon = await fetch(`${server.url}/api/2.0/mlflow/runs/create`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ experiment_id: expId }) });
      if (anon.status !== 401) throw new Error(`expected 401 without a token, got ${anon.status}`);
    }
    const runIds: string[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      const res = await post('runs/create', JSON.stringify({ experiment_id: expId }));
      if (res.status !== 200) throw new Error(`runs/create (${mode}) failed: ${res.status} ${await res.text()}`);
      runIds.push(((await res.json()) as { run: { info: { run_id: string } } }).run.info.run_id);
    }
    // Bodies are built before the clock starts: the client's JSON encoding is not the server's cost.
    const bodies = Array.from({ length: BATCHES }, (_, b) => JSON.stringify({
      run_id: runIds[b % CLIENTS],
      metrics: Array.from({ length: PER_BATCH }, (_, i) => ({ key: `metric_${i % 50}`, value: Math.sin(b * PER_BATCH + i), timestamp: 1_700_000_000_000 + b, step: Math.floor(b / CLIENTS) * 20 + Math.floor(i / 50) })),
    }));
    const latencies: number[] = [];
    let next = 0;
    let done = 0;
    const cpu0 = await cpuMs(server.child.pid!);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      for (;;) {
        const b = next++;
        if (b >= BATCHES) return;
        const s = performance.now();
        const res = await post('runs/log-batch', bodies[b]!);
        if (res.status !== 200) throw new Error(`log-batch (${mode}) failed: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
        latencies.push(performance.now() - s);
        progress(`ingest ${mode.padEnd(6)} batches`, ++done, BATCHES);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    return { pointsPerSecond: (BATCHES * PER_BATCH) / seconds, latencies, cpuMs: (await cpuMs(server.child.pid!)) - cpu0 };
  } finally {
    await server.stop();
    rmSync(db, { force: true });
    rmSync(`${db}-wal`, { force: true });
    rmSync(`${db}-shm`, { force: true });
  }
}

async function searchRound(r: number, dbs: Record<SearchMode, string>, expId: string, tokens: Tokens, dir: string, acc: SearchSamples, rows: number[]): Promise<void> {
  // One server per mode, all up at once; which starts first rotates with the rounds.
  const starting = SEARCH_MODES.map((_, k) => SEARCH_MODES[(k + r) % SEARCH_MODES.length]!);
  const servers: Partial<Record<SearchMode, Awaited<ReturnType<typeof startServer>>>> = {};
  try {
    for (const m of starting) servers[m] = await startServer({ store: `sqlite:${dbs[m]}`, artifacts: `file:${join(dir, 'artifacts')}`, port: 5121 + SEARCH_MODES.indexOf(m), serverArgs: m === 'off' || m === 'off2' ? [] : ['--auth'] });
    const search = async (mode: SearchMode, body: string): Promise<{ ms: number; rows: number }> => {
      const t0 = performance.now();
      const res = await fetch(`${servers[mode]!.url}/api/2.0/mlflow/runs/search`, { method: 'POST', headers: headersFor(mode, tokens), body });
      const parsed = (await res.json()) as { runs?: unknown[] };
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`search (${mode}) failed: ${res.status} ${JSON.stringify(parsed)}`);
      return { ms, rows: parsed.runs?.length ?? 0 };
    };
    if (r === 0) {
      // The filtered path does filter: the scoped user sees nothing of an experiment it holds no grant on.
      const other = await search('scoped', JSON.stringify({ experiment_ids: ['0'], max_results: 10 }));
      const all = await search('admin', JSON.stringify({ experiment_ids: [expId, '0'], max_results: 10 }));
      if (other.rows !== 0 || all.rows === 0) throw new Error(`the scoped user's search is not filtered (${other.rows} rows of experiment 0)`);
    }
    for (const [qi, q] of QUERIES.entries()) {
      const body = JSON.stringify({ experiment_ids: [expId], ...q });
      // Warm-up, not measured: a fresh server's first requests run code the engine has not optimised yet.
      for (let i = 0; i < WARMUP; i++) for (const m of SEARCH_MODES) await search(m, body);
      const cpu0 = await Promise.all(SEARCH_MODES.map((m) => cpuMs(servers[m]!.child.pid!)));
      for (let i = 0; i < REPS; i++) {
        // Every order of the modes in turn, so that none always follows another.
        for (const mode of ORDERS[(i + r) % ORDERS.length]!) {
          const { ms, rows: n } = await search(mode, body);
          if (rows[qi] === undefined) rows[qi] = n;
          else if (rows[qi] !== n) throw new Error(`modes disagree on query ${qi + 1}: ${rows[qi]} vs ${n} rows (${mode})`);
          acc.ms[mode][qi]!.push(ms);
        }
        progress(`search round ${r + 1} query ${qi + 1}`, i + 1, REPS);
      }
      const cpu1 = await Promise.all(SEARCH_MODES.map((m) => cpuMs(servers[m]!.child.pid!)));
      SEARCH_MODES.forEach((m, k) => { acc.cpuMs[m][qi] = (acc.cpuMs[m][qi] ?? 0) + cpu1[k]! - cpu0[k]!; });
    }
  } finally {
    for (const m of starting) await servers[m]?.stop();
  }
}

/** CPU time (user + system) a process has used, in ms, from /proc (Linux; 100 ticks a second). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const loadavg = (): number[] => osLoadavg().map((x) => Math.round(x * 100) / 100);
/**
 * What the two hooks of src/api/access.ts do for a request, timed in-process: authenticate the
 * Bearer header (the token's record cached, as from a request's second on) and the policy's answer
 * (admin: the route's action anywhere; scoped: that fails, then the action on the run's experiment).
 */
async function checkCost(db: string, expId: string, tokens: Tokens): Promise<AuthCheckFigures> {
  const stores = await openSqlStores(SqliteDriver.open(db));
  try {
    const auth = new Authenticator(stores.identities);
    const per = async (mode: 'admin' | 'scoped'): Promise<number> => {
      const header = `Bearer ${tokens[mode]}`;
      const obj = { type: 'experiment' as const, id: expId };
      const once = async (): Promise<void> => {
        const found = await auth.authenticate(header, '127.0.0.1');
        const a = new RequestAuth(found!.subject, found!.via);
        if (!a.can('write')) a.require('write', obj);
      };
      for (let i = 0; i < 2_000; i++) await once();
      const n = 50_000;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await once();
      return ((performance.now() - t0) * 1000) / n;
    };
    return { admin: await per('admin'), scoped: await per('scoped') };
  } finally {
    await stores.close();
  }
}

const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);

export async function runAuthBench(): Promise<AuthResult> {
  const startLoad = loadavg();
  console.log(`\nauthentication: the same server with auth off and --auth (admin token; token of a user with a grant on one experiment), ${ROUNDS} rounds, SQLite (load average ${startLoad.join(', ')})`);
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-auth-'));
  const loads: number[] = [];
  const sampler = setInterval(() => loads.push(loadavg()[0]!), 5000);
  try {
    // The stores, with their users and tokens, made once; every measurement runs on a copy.
    const ingestTemplate = join(dir, 'ingest-template.db');
    const ingestStore = await openSqlStores(SqliteDriver.open(ingestTemplate));
    const ingestExp = await ingestStore.tracking.createExperiment({ name: 'bench-auth-ingest' }, { actor: 'bench' });
    await ingestStore.close();
    const ingestTokens = addPrincipals(ingestTemplate, dir, ingestExp);

    const searchTemplate = join(dir, 'search-template.db');
    const searchStore = await openSqlStores(SqliteDriver.open(searchTemplate));
    const searchExp = await populate(searchStore, { runs: RUNS, metrics: 20, params: 10, label: 'SQLite', experiment: 'bench-auth-search' });
    await searchStore.close();
    const searchTokens = addPrincipals(searchTemplate, dir, searchExp);
    const check = await checkCost(ingestTemplate, ingestExp, ingestTokens);
    console.log(`  checking a token and the policy in-process: admin ${fmt(check.admin, 2)} µs, scoped ${fmt(check.scoped, 2)} µs per request`);
    const searchDbs = Object.fromEntries(SEARCH_MODES.map((m) => [m, join(dir, `search-${m}.db`)])) as Record<SearchMode, string>;
    for (const m of SEARCH_MODES) copyFileSync(searchTemplate, searchDbs[m]);

    const ingestRuns = Object.fromEntries(MODES.map((m) => [m, { pps: [] as number[], latencies: [] as number[], cpuMs: 0 }])) as Record<Mode, { pps: number[]; latencies: number[]; cpuMs: number }>;
    const searchSamples: SearchSamples = {
      ms: Object.fromEntries(SEARCH_MODES.map((m) => [m, QUERIES.map(() => [] as number[])])) as Record<SearchMode, number[][]>,
      cpuMs: Object.fromEntries(SEARCH_MODES.map((m) => [m, QUERIES.map(() => 0)])) as Record<SearchMode, number[]>,
    };
    const rows: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const order = orderOf(r);
      for (const mode of order) {
        const res = await ingestOnce(mode, ingestTemplate, ingestExp, ingestTokens, dir, 5124);
        ingestRuns[mode].pps.push(res.pointsPerSecond);
        ingestRuns[mode].latencies.push(...res.latencies);
        ingestRuns[mode].cpuMs += res.cpuMs;
        console.log(`  round ${r + 1} ingest ${mode.padEnd(6)} ${fmt(res.pointsPerSecond, 0)} points/s`);
      }
      await searchRound(r, searchDbs, searchExp, searchTokens, dir, searchSamples, rows);
      const line = SEARCH_MODES.map((m) => `${m} ${QUERIES.map((_, qi) => fmt(percentile([...searchSamples.ms[m][qi]!].sort((a, b) => a - b), 95))).join(' / ')}`).join('   ');
      console.log(`  round ${r + 1} search p95 so far (ms, queries 1 / 2 / 3): ${line}`);
    }
    const endLoad = loadavg();
    loads.push(endLoad[0]!);
    const loadAverage = { start: startLoad, end: endLoad, oneMinuteMin: Math.min(...loads), oneMinuteMax: Math.max(...loads) };

    const ingest = Object.fromEntries(MODES.map((m) => {
      const s = summarize(ingestRuns[m].latencies);
      return [m, { pointsPerSecond: median(ingestRuns[m].pps), perRound: ingestRuns[m].pps, p50BatchMs: s.p50, p95BatchMs: s.p95, serverCpuMsPerBatch: ingestRuns[m].cpuMs / (ROUNDS * BATCHES) }];
    })) as Record<Mode, AuthIngestFigures>;
    const search = Object.fromEntries(SEARCH_MODES.map((m) => [m, QUERIES.map((q, qi) => ({
      query: `${q.filter} | ${q.order_by.join(',')} | max ${q.max_results}`, rows: rows[qi] ?? 0, http: summarize(searchSamples.ms[m][qi]!), serverCpuMs: searchSamples.cpuMs[m][qi]! / (ROUNDS * REPS),
    }))])) as Record<SearchMode, AuthSearchFigures[]>;
    const on = ['admin', 'scoped'] as const;
    const each = <T>(f: (m: OnMode) => T): Record<OnMode, T> => ({ admin: f('admin'), scoped: f('scoped') });
    const perQuery = (f: (s: AuthSearchFigures) => number) => ({ off2: search.off2.map((s, i) => f(s) / f(search.off[i]!)), ...each((m) => search[m].map((s, i) => f(s) / f(search.off[i]!))) });
    const ratios: AuthResult['ratios'] = {
      ingestPointsPerSecond: each((m) => ingest[m].pointsPerSecond / ingest.off.pointsPerSecond),
      ingestPointsPerSecondPerRound: each((m) => ingest[m].perRound.map((x, r) => x / ingest.off.perRound[r]!)),
      ingestBatchP95: each((m) => ingest[m].p95BatchMs / ingest.off.p95BatchMs),
      ingestServerCpu: each((m) => ingest[m].serverCpuMsPerBatch / ingest.off.serverCpuMsPerBatch),
      searchP50: perQuery((s) => s.http.p50),
      searchP95: perQuery((s) => s.http.p95),
      searchServerCpu: perQuery((s) => s.serverCpuMs),
    };

    console.log(`\n  log-batch ingest (${BATCHES} × ${PER_BATCH} metrics, ${CLIENTS} clients; median of ${ROUNDS} rounds, batch latencies pooled)`);
    for (const m of MODES) {
      const f = ingest[m];
      const ratio = m === 'off' ? '' : `   on ÷ off: points/s ${fmt(ratios.ingestPointsPerSecond[m], 3)} (rounds ${ratios.ingestPointsPerSecondPerRound[m].map((x) => fmt(x, 2)).join(', ')}), batch p95 ${fmt(ratios.ingestBatchP95[m], 3)}, server CPU ${fmt(ratios.ingestServerCpu[m], 3)}`;
      console.log(`    ${m.padEnd(6)} ${fmt(f.pointsPerSecond, 0).padStart(9)} points/s (rounds: ${f.perRound.map((x) => fmt(x, 0)).join(', ')})  batch p50 ${fmt(f.p50BatchMs)} p95 ${fmt(f.p95BatchMs)} ms, server CPU ${fmt(f.serverCpuMsPerBatch, 2)} ms/batch${ratio}`);
    }
    console.log(`  runs/search over ${RUNS.toLocaleString('en-US')} runs (HTTP, ${REPS} × ${ROUNDS} repetitions per query and mode)`);
    for (const qi of QUERIES.keys()) {
      console.log(`    ${search.off[qi]!.query} (${rows[qi]} rows)`);
      for (const m of SEARCH_MODES) {
        const h = search[m][qi]!.http;
        const ratio = m === 'off' ? '' : `   ÷ off: p50 ${fmt(ratios.searchP50[m][qi]!, 3)}, p95 ${fmt(ratios.searchP95[m][qi]!, 3)}, server CPU ${fmt(ratios.searchServerCpu[m][qi]!, 3)}`;
        console.log(`      ${m.padEnd(6)} p50 ${fmt(h.p50).padStart(6)} p95 ${fmt(h.p95).padStart(6)} ms, server CPU ${fmt(search[m][qi]!.serverCpuMs, 2)} ms/request${ratio}`);
      }
    }
    const worstIngest = Math.min(...on.map((m) => ratios.ingestPointsPerSecond[m]));
    const worstSearch = Math.max(...on.flatMap((m) => ratios.searchP95[m]));
    console.log(`  goals: ingest throughput on ÷ off ≥ 0.90: ${fmt(worstIngest, 3)} ${worstIngest >= 0.9 ? 'met' : 'MISSED'}; search p95 on ÷ off ≤ 1.05: ${fmt(worstSearch, 3)} ${worstSearch <= 1.05 ? 'met' : 'MISSED'}`
      + ` (the control, a second server with auth off: p95 ÷ off ${ratios.searchP95.off2.map((x) => fmt(x, 3)).join(', ')})`);
    console.log(`  load average at the start ${startLoad.join(', ')}, at the end ${endLoad.join(', ')}; 1-minute ${fmt(loadAverage.oneMinuteMin, 2)}–${fmt(loadAverage.oneMinuteMax, 2)} while measuring`);
    return { rounds: ROUNDS, check, runs: RUNS, loadAverage, ingest, search, ratios };
  } finally {
    clearInterval(sampler);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runAuthBench();
