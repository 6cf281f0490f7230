/**
 * Bulk-loads a store with N runs × M metrics × P params for the search benchmark, straight through
 * the SQL driver in large transactions (loading is not what is measured). Deterministic: the
 * values come from a seeded generator, so every run of the benchmark searches the same data.
 */
import type { SqlStores } from '../src/store/sql/sql-stores.js';
import type { SqlDriver, SqlValue } from '../src/store/sql/sql-driver.js';
import { runDataText } from '../src/store/sql/run-data.js';
import { progress } from './lib.js';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Whether a query runs: the schema of the store being filled (BENCH_BASE fills with older code). */
async function works(db: SqlDriver, sql: string): Promise<boolean> {
  try {
    await db.query(sql);
    return true;
  } catch {
    return false;
  }
}

export async function populate(store: SqlStores, opts: { runs: number; metrics: number; params: number; label: string; experiment?: string }): Promise<string> {
  const db: SqlDriver = store.driver;
  // Rows name their run by its integer key from schema 6 on; run_data keeps their JSON from 7 on.
  const keyed = await works(db, 'SELECT run_key FROM runs WHERE 1 = 0');
  const runData = await works(db, 'SELECT run_key FROM run_data WHERE 1 = 0');
  const exp = await store.tracking.createExperiment({ name: opts.experiment ?? `bench-${Date.now()}` }, { actor: 'bench' });
  const rand = mulberry32(42);
  const chunk = 2000;
  const t0 = 1_700_000_000_000;
  for (let start = 0; start < opts.runs; start += chunk) {
    const runs: SqlValue[][] = [];
    const metrics: SqlValue[][] = [];
    const params: SqlValue[][] = [];
    const tags: SqlValue[][] = [];
    for (let i = start; i < Math.min(opts.runs, start + chunk); i++) {
      const id = i.toString(16).padStart(32, '0');
      runs.push([id, `run-${i}`, Number(exp), 'bench', 'FINISHED', t0 + i, t0 + i + 1000, `mlflow-artifacts:/${exp}/${id}/artifacts`, 'active']);
      tags.push([id, 'mlflow.runName', `run-${i}`]);
      for (let m = 0; m < opts.metrics; m++) metrics.push([id, `m${m}`, rand(), 0, t0 + i, 0]);
      for (let p = 0; p < opts.params; p++) params.push([id, `p${p}`, String(Math.floor(rand() * 10))]);
    }
    await db.transaction(async (tx) => {
      await tx.runMany('INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage) VALUES (?,?,?,?,?,?,?,?,?)', runs);
      const ref = keyed ? 'run_key' : 'run_uuid';
      const keys = new Map<unknown, SqlValue>();
      if (keyed) {
        const ids = runs.map((r) => r[0]!);
        for (const r of await tx.query(`SELECT run_uuid, run_key FROM runs WHERE run_uuid IN (${ids.map(() => '?').join(',')})`, ids)) keys.set(r.run_uuid, r.run_key as SqlValue);
        for (const rows of [tags, metrics, params]) for (const r of rows) r[0] = keys.get(r[0]) ?? null;
      }
      await tx.runMany(`INSERT INTO tags (${ref}, key, value) VALUES (?,?,?)`, tags);
      await tx.runMany(`INSERT INTO metrics (${ref}, key, value, is_nan, timestamp, step) VALUES (?,?,?,?,?,?)`, metrics);
      await tx.runMany(`INSERT INTO latest_metrics (${ref}, key, value, is_nan, timestamp, step) VALUES (?,?,?,?,?,?)`, metrics);
      await tx.runMany(`INSERT INTO params (${ref}, key, value) VALUES (?,?,?)`, params);
      if (runData) {
        const d = db.dialect;
        await tx.run(`INSERT INTO run_data (run_key, metrics_json, params_json, tags_json)
          SELECT r.run_key, ${runDataText(d, 'metrics', 'r.run_key')}, ${runDataText(d, 'params', 'r.run_key')}, ${runDataText(d, 'tags', 'r.run_key')}
          FROM runs r WHERE r.run_key IN (${[...keys.values()].map(() => '?').join(',')})`, [...keys.values()]);
      }
    });
    progress(`loading ${opts.label}`, Math.min(opts.runs, start + chunk), opts.runs);
  }
  // PostgreSQL's index-only scans need the visibility map that VACUUM writes (autovacuum would, later).
  if (db.dialect.name === 'postgres') await db.query('VACUUM ANALYZE');
  else await db.exec('ANALYZE');
  return exp;
}
