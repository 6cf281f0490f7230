/**
 * runs/search with a metric filter and an order_by over 100,000 runs × 20 metrics × 10 params, on
 * SQLite and on PostgreSQL, through the HTTP API of a `trellis server` (and in-process beside it).
 * Goal: p95 ≤ 100 ms. MLflow's own published measure: about 1 s on far smaller stores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlStores, type SqlStores } from '../src/store/sql/sql-stores.js';
import { SqliteDriver } from '../src/store/sqlite/sqlite-driver.js';
import { PostgresDriver } from '../src/store/postgres/postgres-driver.js';
import { createTestDatabase } from '../src/store/test-helpers/postgres.js';
import { parseRunFilter, parseRunOrderBy } from '../src/tracking/search/search-filter.js';
import { fmt, rssMiB, startServer, summarize } from './lib.js';
import { populate } from './populate.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 100_000);
const QUERIES = [
  { filter: 'metrics.m1 > 0.5', order_by: ['metrics.m2 DESC'], max_results: 100 },
  { filter: 'metrics.m3 < 0.2 and params.p1 = \'3\'', order_by: ['metrics.m4 ASC'], max_results: 100 },
  { filter: 'metrics.m5 >= 0.9', order_by: ['metrics.m0 DESC'], max_results: 1000 },
];
const REPS = Number(process.env.BENCH_REPS ?? 40);

export interface SearchResult { backend: string; query: string; inProcess: ReturnType<typeof summarize>; http: ReturnType<typeof summarize>; rows: number; serverRssMiB: number }

async function measure(label: string, storeUri: string, store: SqlStores, expId: string, port: number, dir: string): Promise<SearchResult[]> {
  const out: SearchResult[] = [];
  const server = await startServer({ store: storeUri, artifacts: `file:${join(dir, 'artifacts')}`, port });
  try {
    for (const q of QUERIES) {
      const inProc: number[] = [];
      const http: number[] = [];
      let rows = 0;
      for (let i = 0; i < REPS + 3; i++) {
        const t0 = performance.now();
        const r = await store.tracking.searchRuns({ experimentIds: [expId], filter: parseRunFilter(q.filter), orderBy: parseRunOrderBy(q.order_by), maxResults: q.max_results });
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
      const res = { backend: label, query: `${q.filter} | ${q.order_by.join(',')} | max ${q.max_results}`, inProcess: summarize(inProc), http: summarize(http), rows, serverRssMiB: await rssMiB(server.child.pid!) };
      out.push(res);
      console.log(`  ${label.padEnd(8)} ${res.query.padEnd(62)} rows ${String(rows).padStart(4)}  in-process p50 ${fmt(res.inProcess.p50)} p95 ${fmt(res.inProcess.p95)} ms   HTTP p50 ${fmt(res.http.p50)} p95 ${fmt(res.http.p95)} ms   server RSS ${fmt(res.serverRssMiB, 0)} MiB`);
    }
  } finally {
    await server.stop();
  }
  return out;
}

export async function runSearchBench(): Promise<SearchResult[]> {
  console.log(`\nruns/search over ${RUNS.toLocaleString()} runs × 20 metrics × 10 params (${REPS} repetitions per query)`);
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-search-'));
  const results: SearchResult[] = [];
  try {
    const sqliteUri = `sqlite:${join(dir, 'bench.db')}`;
    const sqlite = await openSqlStores(SqliteDriver.open(join(dir, 'bench.db')));
    const exp1 = await populate(sqlite, { runs: RUNS, metrics: 20, params: 10, label: 'SQLite' });
    results.push(...(await measure('SQLite', sqliteUri, sqlite, exp1, 5101, dir)));
    await sqlite.close();

    const pgdb = await createTestDatabase('trellis_bench');
    try {
      const pgStore = await openSqlStores(await PostgresDriver.open(pgdb.uri));
      const exp2 = await populate(pgStore, { runs: RUNS, metrics: 20, params: 10, label: 'PostgreSQL' });
      results.push(...(await measure('Postgres', pgdb.uri, pgStore, exp2, 5102, dir)));
      await pgStore.close();
    } finally {
      await pgdb.drop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await runSearchBench();
