/**
 * runs/search with a metric filter and an order_by over 100,000 runs × 20 metrics × 10 params, on
 * SQLite and on PostgreSQL, through the HTTP API of a `trellis server` (the client's time includes
 * parsing the response), and in-process beside it (the store's part: the call the server makes).
 * Goal: p95 ≤ 100 ms. MLflow's own published measure: about 1 s on far smaller stores.
 *
 * Environment:
 *   BENCH_RUNS=100000  BENCH_REPS=40    size of the store, repetitions per query
 *   BENCH_STORES=sqlite,postgres        which stores to measure
 *   BENCH_BASE=<dir>                    a source tree of an earlier Trellis (`git archive <commit> src
 *                                       package.json | tar -x -C <dir>`, node_modules linked in): it
 *                                       populates the store and is measured first; the same data is then
 *                                       upgraded by this tree's migrations (timed) and measured again,
 *                                       so "before" and "after" come from one invocation
 *   BENCH_KEEP=<dir>                    keep the populated databases (a SQLite file in <dir>, a PostgreSQL
 *                                       database trellis_bench_keep_…) and reuse them; every measurement
 *                                       runs on a copy, so a kept database is never upgraded in place
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import type { SqlStores } from '../src/store/sql/sql-stores.js';
import { PG_ADMIN_URI } from '../src/store/test-helpers/postgres.js';
import { fmt, rssMiB, startServer, summarize } from './lib.js';
import { populate } from './populate.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 100_000);
const QUERIES = [
  { filter: 'metrics.m1 > 0.5', order_by: ['metrics.m2 DESC'], max_results: 100 },
  { filter: 'metrics.m3 < 0.2 and params.p1 = \'3\'', order_by: ['metrics.m4 ASC'], max_results: 100 },
  { filter: 'metrics.m5 >= 0.9', order_by: ['metrics.m0 DESC'], max_results: 1000 },
];
const REPS = Number(process.env.BENCH_REPS ?? 40);
const STORES = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',').map((s) => s.trim().toLowerCase());
const EXPERIMENT = 'bench-search';

export interface SearchResult {
  backend: string;
  /** Which source tree served it: `before` (BENCH_BASE) or `after` (this tree). */
  code: string;
  query: string;
  inProcess: ReturnType<typeof summarize>;
  http: ReturnType<typeof summarize>;
  rows: number;
  serverRssMiB: number;
}

export interface UpgradeResult { backend: string; migrateMs: number; analyzeMs: number }

/** The parts of a source tree the benchmark drives, loaded from that tree. */
interface CodeTree {
  label: string;
  cli: string;
  schemaVersion: number;
  openSqlStores: typeof import('../src/store/sql/sql-stores.js').openSqlStores;
  SqliteDriver: typeof import('../src/store/sqlite/sqlite-driver.js').SqliteDriver;
  PostgresDriver: typeof import('../src/store/postgres/postgres-driver.js').PostgresDriver;
  parseRunFilter: typeof import('../src/tracking/search/search-filter.js').parseRunFilter;
  parseRunOrderBy: typeof import('../src/tracking/search/search-filter.js').parseRunOrderBy;
}

async function loadTree(label: string, root: string): Promise<CodeTree> {
  const imp = (p: string) => import(pathToFileURL(join(root, p)).href);
  const stores = (await imp('src/store/sql/sql-stores.ts')) as typeof import('../src/store/sql/sql-stores.js');
  const sqlite = (await imp('src/store/sqlite/sqlite-driver.ts')) as typeof import('../src/store/sqlite/sqlite-driver.js');
  const postgres = (await imp('src/store/postgres/postgres-driver.ts')) as typeof import('../src/store/postgres/postgres-driver.js');
  const search = (await imp('src/tracking/search/search-filter.ts')) as typeof import('../src/tracking/search/search-filter.js');
  const migrations = (await imp('src/store/sql/migrations.ts')) as typeof import('../src/store/sql/migrations.js');
  return {
    label, cli: join(root, 'src/cli/main.ts'), schemaVersion: migrations.SCHEMA_VERSION, openSqlStores: stores.openSqlStores,
    SqliteDriver: sqlite.SqliteDriver, PostgresDriver: postgres.PostgresDriver, parseRunFilter: search.parseRunFilter, parseRunOrderBy: search.parseRunOrderBy,
  };
}

async function experimentId(store: SqlStores): Promise<string> {
  const rows = await store.driver.query('SELECT experiment_id FROM experiments WHERE name = ?', [EXPERIMENT]);
  if (!rows[0]) throw new Error(`the benchmark store has no experiment '${EXPERIMENT}'`);
  return String(rows[0].experiment_id);
}

async function measure(tree: CodeTree, label: string, storeUri: string, store: SqlStores, port: number, dir: string): Promise<SearchResult[]> {
  const expId = await experimentId(store);
  const out: SearchResult[] = [];
  const server = await startServer({ store: storeUri, artifacts: `file:${join(dir, 'artifacts')}`, port, cli: tree.cli });
  try {
    for (const q of QUERIES) {
      const inProc: number[] = [];
      const http: number[] = [];
      let rows = 0;
      for (let i = 0; i < REPS + 3; i++) {
        const t0 = performance.now();
        const args = { experimentIds: [expId], filter: tree.parseRunFilter(q.filter), orderBy: tree.parseRunOrderBy(q.order_by), maxResults: q.max_results };
        // In-process is the store's part of a request: the call the server makes (runs as JSON text
        // where the tree has it, run objects before).
        const r = 'searchRunsEncoded' in store.tracking ? await store.tracking.searchRunsEncoded(args) : await (store.tracking as SqlStores['tracking']).searchRuns(args);
        const t1 = performance.now();
        const res = await fetch(`${server.url}/api/2.0/mlflow/runs/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ experiment_ids: [expId], ...q }) });
        const body = (await res.json()) as { runs?: unknown[] };
        const t2 = performance.now();
        if (res.status !== 200) throw new Error(`search failed: ${JSON.stringify(body)}`);
        rows = body.runs?.length ?? 0;
        if (r.items.length !== rows) throw new Error(`in-process and HTTP disagree: ${r.items.length} vs ${rows}`);
        if (i >= 3) {
          inProc.push(t1 - t0);
          http.push(t2 - t1);
        }
      }
      const res = { backend: label, code: tree.label, query: `${q.filter} | ${q.order_by.join(',')} | max ${q.max_results}`, inProcess: summarize(inProc), http: summarize(http), rows, serverRssMiB: await rssMiB(server.child.pid!) };
      out.push(res);
      console.log(`  ${label.padEnd(8)} ${tree.label.padEnd(6)} ${res.query.padEnd(62)} rows ${String(rows).padStart(4)}  in-process p50 ${fmt(res.inProcess.p50)} p95 ${fmt(res.inProcess.p95)} ms   HTTP p50 ${fmt(res.http.p50)} p95 ${fmt(res.http.p95)} ms   server RSS ${fmt(res.serverRssMiB, 0)} MiB`);
    }
  } finally {
    await server.stop();
  }
  return out;
}

/** Opens a copy of the populated store with `tree`, timing the migrations it runs. */
async function openTimed(tree: CodeTree, open: () => Promise<SqlStores>, label: string, upgrades: UpgradeResult[]): Promise<SqlStores> {
  const t0 = performance.now();
  const store = await open();
  const migrateMs = performance.now() - t0;
  if (migrateMs > 1000) {
    // A migration that rewrites tables leaves them without planner statistics (and PostgreSQL's
    // visibility map empty until autovacuum passes): the benchmark analyzes at once, as populating
    // does, and says how long it took.
    const analyze = store.kind === 'postgres' ? 'VACUUM ANALYZE' : 'ANALYZE';
    const t1 = performance.now();
    // VACUUM cannot run in a transaction; SQLite's ANALYZE writes, so it goes through the writer.
    if (store.kind === 'postgres') await store.driver.query(analyze);
    else await store.driver.exec(analyze);
    const u: UpgradeResult = { backend: label, migrateMs, analyzeMs: performance.now() - t1 };
    upgrades.push(u);
    console.log(`  ${label.padEnd(8)} ${tree.label.padEnd(6)} opening the store upgraded it in ${fmt(migrateMs / 1000)} s (then ${analyze} ${fmt(u.analyzeMs / 1000)} s)`);
  }
  return store;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URI });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const pgUri = (db: string) => PG_ADMIN_URI.replace(/\/[^/]*$/, `/${db}`);

async function benchSqlite(trees: CodeTree[], dir: string, keep: string | undefined, upgrades: UpgradeResult[]): Promise<SearchResult[]> {
  const populater = trees[0]!;
  const source = join(keep ?? dir, `search-${RUNS}-v${populater.schemaVersion}.db`);
  if (!existsSync(source)) {
    const tmp = `${source}.${process.pid}.tmp`;
    const store = await populater.openSqlStores(populater.SqliteDriver.open(tmp));
    await populate(store, { runs: RUNS, metrics: 20, params: 10, label: 'SQLite', experiment: EXPERIMENT });
    await store.close();
    renameSync(tmp, source);
  }
  const results: SearchResult[] = [];
  for (const [i, tree] of trees.entries()) {
    const path = join(dir, `${tree.label}.db`);
    copyFileSync(source, path);
    const store = await openTimed(tree, () => tree.openSqlStores(tree.SqliteDriver.open(path)), 'SQLite', upgrades);
    try {
      results.push(...(await measure(tree, 'SQLite', `sqlite:${path}`, store, 5101 + 2 * i, dir)));
    } finally {
      await store.close();
      rmSync(path, { force: true });
    }
  }
  return results;
}

async function benchPostgres(trees: CodeTree[], dir: string, keep: boolean, upgrades: UpgradeResult[]): Promise<SearchResult[]> {
  const populater = trees[0]!;
  const tag = `${RUNS}_v${populater.schemaVersion}`;
  const source = keep ? `trellis_bench_keep_${tag}` : `trellis_bench_src_${process.pid}`;
  const exists = await admin(async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [source])).rowCount === 1);
  if (!exists) {
    await admin((c) => c.query(`CREATE DATABASE ${source}`));
    try {
      const store = await populater.openSqlStores(await populater.PostgresDriver.open(pgUri(source)));
      await populate(store, { runs: RUNS, metrics: 20, params: 10, label: 'PostgreSQL', experiment: EXPERIMENT });
      await store.close();
    } catch (e) {
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${source} WITH (FORCE)`));
      throw e;
    }
  }
  const results: SearchResult[] = [];
  try {
    for (const [i, tree] of trees.entries()) {
      const copy = `trellis_bench_${tree.label}_${process.pid}`;
      await admin((c) => c.query(`CREATE DATABASE ${copy} TEMPLATE ${source}`));
      try {
        const store = await openTimed(tree, async () => tree.openSqlStores(await tree.PostgresDriver.open(pgUri(copy))), 'Postgres', upgrades);
        try {
          results.push(...(await measure(tree, 'Postgres', pgUri(copy), store, 5102 + 2 * i, dir)));
        } finally {
          await store.close();
        }
      } finally {
        await admin((c) => c.query(`DROP DATABASE IF EXISTS ${copy} WITH (FORCE)`));
      }
    }
  } finally {
    if (!keep) await admin((c) => c.query(`DROP DATABASE IF EXISTS ${source} WITH (FORCE)`));
  }
  return results;
}

export async function runSearchBench(): Promise<{ results: SearchResult[]; upgrades: UpgradeResult[] }> {
  const trees: CodeTree[] = [];
  if (process.env.BENCH_BASE) trees.push(await loadTree('before', resolve(process.env.BENCH_BASE)));
  trees.push(await loadTree(process.env.BENCH_BASE ? 'after' : 'now', fileURLToPath(new URL('..', import.meta.url))));
  const keep = process.env.BENCH_KEEP ? resolve(process.env.BENCH_KEEP) : undefined;
  if (keep) mkdirSync(keep, { recursive: true });
  console.log(`\nruns/search over ${RUNS.toLocaleString()} runs × 20 metrics × 10 params (${REPS} repetitions per query)`);
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-search-'));
  const results: SearchResult[] = [];
  const upgrades: UpgradeResult[] = [];
  try {
    if (STORES.includes('sqlite')) results.push(...(await benchSqlite(trees, dir, keep, upgrades)));
    if (STORES.includes('postgres')) results.push(...(await benchPostgres(trees, dir, keep !== undefined, upgrades)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { results, upgrades };
}

if (import.meta.url === `file://${process.argv[1]}`) await runSearchBench();
