/**
 * The conversion half of migration 5: pipeline runs and step runs that earlier versions recorded
 * only as MLflow runs with trellis.* tags become rows of `pipeline_runs`, `pipeline_step_runs`,
 * `pipeline_step_edges` and `pipeline_step_leases`, read back exactly as the engine of schema 4
 * read those tags:
 *
 * - a pipeline run is an active run tagged `trellis.pipeline` with no `mlflow.parentRunId`; its
 *   parameters, folder, runner and end state come from its `trellis.pipeline.*`, `trellis.runner.*`,
 *   `trellis.failed_step`, `trellis.error` and `trellis.skipped` tags;
 * - a step run is an active run tagged `trellis.step`; its cache key and key parts, outputs, cache
 *   source, error and cancel request come from tags, its metrics from its latest metrics; a RUNNING
 *   step that a worker had taken (`trellis.worker`, `trellis.heartbeat`, `trellis.deliveries`) keeps
 *   that worker's lease, at epoch 1, expiring one default lease after its last heartbeat;
 * - the edges that tags alone tell are written here: every output, and the dataset version or file
 *   an ingest step read. Which upstream step fed which input, and which version a register step
 *   registered, are in the run's `pipeline.json` and the step's outputs, which live in the artifact
 *   store a migration cannot read: those runs are left `edges_complete = 0`, and lineage fills them
 *   in the first time it meets them (`completePipelineRunEdges`).
 *
 * A tag that does not parse (a value clipped at its size limit) converts to "not recorded", as the
 * engine of schema 4 read it. Deleted runs, which nothing of schema 4 could see, are not converted.
 */
import type { Row, SqlExecutor, SqlValue } from './sql-driver.js';

/** A worker's lease at schema 4: three heartbeats of 2 s. */
const LEGACY_LEASE_MS = 6000;
const CHUNK = 500;

const parseJson = <T>(text: string | undefined, check: (v: unknown) => boolean): T | undefined => {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return check(v) ? (v as T) : undefined;
  } catch {
    return undefined;
  }
};
const isObject = (v: unknown) => !!v && typeof v === 'object' && !Array.isArray(v);
const numberOr = (v: string | undefined, fallback: number) => (v !== undefined && Number.isFinite(Number(v)) && v.trim() !== '' ? Number(v) : fallback);
const statusOf = (s: unknown) => (s === 'FINISHED' || s === 'FAILED' || s === 'KILLED' ? s : 'RUNNING');

interface OutputEntry { type?: unknown; sha256?: unknown; run?: unknown; name?: unknown; kind?: unknown; meta?: Record<string, unknown> }

async function inChunks<T>(ids: string[], fn: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) out.push(...(await fn(ids.slice(i, i + CHUNK))));
  return out;
}

const marks = (n: number) => new Array<string>(n).fill('?').join(',');

export async function convertTaggedPipelineRuns(tx: SqlExecutor): Promise<void> {
  const runs = await tx.query(
    `SELECT r.run_uuid, r.experiment_id, r.user_id, r.status, r.start_time, r.end_time FROM runs r
     WHERE r.lifecycle_stage = 'active' AND EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key IN ('trellis.pipeline', 'trellis.step'))
     ORDER BY r.start_time, r.run_uuid`,
  );
  if (!runs.length) return;
  const ids = runs.map((r) => String(r.run_uuid));
  const tags = new Map<string, Record<string, string>>();
  for (const t of await inChunks(ids, (c) => tx.query(`SELECT run_uuid, key, value FROM tags WHERE run_uuid IN (${marks(c.length)})`, c))) {
    const m = tags.get(String(t.run_uuid)) ?? {};
    m[String(t.key)] = String(t.value);
    tags.set(String(t.run_uuid), m);
  }
  const tagsOf = (r: Row) => tags.get(String(r.run_uuid)) ?? {};
  const pipelineRuns = runs.filter((r) => tagsOf(r)['trellis.pipeline'] !== undefined && tagsOf(r)['mlflow.parentRunId'] === undefined);
  const pipelineIds = new Set(pipelineRuns.map((r) => String(r.run_uuid)));
  const stepRuns = runs.filter((r) => tagsOf(r)['trellis.step'] !== undefined && !pipelineIds.has(String(r.run_uuid)));

  const params = new Map<string, Record<string, string>>();
  for (const p of await inChunks([...pipelineIds], (c) => tx.query(`SELECT run_uuid, key, value FROM params WHERE run_uuid IN (${marks(c.length)})`, c))) {
    const m = params.get(String(p.run_uuid)) ?? {};
    m[String(p.key)] = String(p.value);
    params.set(String(p.run_uuid), m);
  }
  const metrics = new Map<string, Record<string, number>>();
  for (const m of await inChunks(stepRuns.map((r) => String(r.run_uuid)), (c) => tx.query(`SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN (${marks(c.length)})`, c))) {
    if (Number(m.is_nan)) continue; // JSON has no NaN; the engine never records one
    const o = metrics.get(String(m.run_uuid)) ?? {};
    o[String(m.key)] = Number(m.value);
    metrics.set(String(m.run_uuid), o);
  }

  const pipelineRows: SqlValue[][] = pipelineRuns.map((r) => {
    const t = tagsOf(r);
    const id = String(r.run_uuid);
    // The parameters' JSON tag may have been clipped: the run's params then say what they were, as text.
    const ps = parseJson<Record<string, unknown>>(t['trellis.pipeline.params'], isObject) ?? params.get(id) ?? {};
    const start = Number(r.start_time);
    return [
      id, t['trellis.pipeline']!, t['trellis.pipeline.version'] ?? '', t['trellis.pipeline.hash'] ?? '', String(r.experiment_id), statusOf(r.status),
      JSON.stringify(ps), t['trellis.pipeline.dir'] ?? '', t['trellis.no_cache'] === 'true' ? 1 : 0,
      t['trellis.runner.host'] ?? '', numberOr(t['trellis.runner.pid'], 0), numberOr(t['trellis.runner.heartbeat'], start),
      t['trellis.failed_step'] ?? null, t['trellis.error'] ?? null, JSON.stringify(t['trellis.skipped'] ? t['trellis.skipped'].split(',') : []),
      String(r.user_id), start, r.end_time === null || r.end_time === undefined ? null : Number(r.end_time),
      t['trellis.resumed'] !== undefined ? numberOr(t['trellis.resumed'], start) : null, id,
    ];
  });
  await tx.runMany(
    `INSERT INTO pipeline_runs (id, pipeline, pipeline_version, ir_hash, experiment_id, status, params_json, base_dir, no_cache,
       runner_host, runner_pid, runner_heartbeat, failed_step, error, skipped_json, created_by, start_time, end_time, resumed_at, mlflow_run_id, edges_complete)
     VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)`,
    pipelineRows,
  );

  const attempts = new Map<string, number>();
  const stepRows: SqlValue[][] = [];
  const edgeRows = new Map<string, SqlValue[]>();
  const leaseRows: SqlValue[][] = [];
  const edge = (stepRunId: string, role: string, name: string, kind: string, ref: string, sha256: string | null) => {
    edgeRows.set(JSON.stringify([stepRunId, role, name, kind, ref]), [stepRunId, role, name, kind, ref, null, null, sha256]);
  };
  for (const r of stepRuns) {
    const t = tagsOf(r);
    const id = String(r.run_uuid);
    const parent = t['mlflow.parentRunId'];
    // A step whose pipeline run is gone (deleted) still served cache hits at schema 4: keep it, on its own.
    const pipelineRunId = parent !== undefined && pipelineIds.has(parent) ? parent : null;
    const step = t['trellis.step']!;
    const attemptKey = `${pipelineRunId ?? id}\u0000${step}`;
    const attempt = (attempts.get(attemptKey) ?? 0) + 1;
    attempts.set(attemptKey, attempt);
    const outputs = parseJson<Record<string, OutputEntry>>(t['trellis.outputs'], isObject);
    const keyParts = parseJson<Record<string, unknown>>(t['trellis.cache_key_parts'], isObject);
    const status = statusOf(r.status);
    const start = Number(r.start_time);
    stepRows.push([
      id, pipelineRunId, String(r.experiment_id), step, t['trellis.component'] ?? '', status, attempt,
      t['trellis.cache_key'] ?? null, keyParts ? JSON.stringify(keyParts) : null, outputs ? JSON.stringify(outputs) : null,
      JSON.stringify(metrics.get(id) ?? {}), t['trellis.cached'] === 'true' ? 1 : 0, t['trellis.cache_source'] ?? null, t['trellis.error'] ?? null,
      t['trellis.cancel_requested'] !== undefined ? numberOr(t['trellis.cancel_requested'], start) : null,
      String(r.user_id), start, r.end_time === null || r.end_time === undefined ? null : Number(r.end_time), id,
    ]);
    for (const [name, e] of Object.entries(outputs ?? {})) {
      if (!e || typeof e !== 'object') continue;
      edge(id, 'output', name, 'artifact', typeof e.run === 'string' && e.run ? e.run : id, typeof e.sha256 === 'string' ? e.sha256 : null);
      if (t['trellis.component'] === 'ingest@1') {
        if (typeof e.meta?.dataset === 'string') edge(id, 'input', 'dataset', 'dataset', e.meta.dataset, null);
        else if (typeof e.meta?.file === 'string') edge(id, 'input', 'dataset', 'file', e.meta.file, null);
      }
    }
    if (status === 'RUNNING' && t['trellis.worker']) {
      const beat = numberOr(t['trellis.heartbeat'], start);
      leaseRows.push([id, t['trellis.worker'], 1, beat, beat, beat + LEGACY_LEASE_MS, numberOr(t['trellis.deliveries'], 1)]);
    }
  }
  await tx.runMany(
    `INSERT INTO pipeline_step_runs (id, pipeline_run_id, experiment_id, step, component, status, attempt, cache_key, key_parts_json, outputs_json,
       metrics_json, cached, cache_source, error, cancel_requested_at, created_by, start_time, end_time, mlflow_run_id)
     VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    stepRows,
  );
  await tx.runMany('INSERT INTO pipeline_step_edges (step_run_id, role, name, kind, ref, output, holder, sha256) VALUES (?,?,?,?,?,?,?,?)', [...edgeRows.values()]);
  await tx.runMany('INSERT INTO pipeline_step_leases (step_run_id, owner, epoch, acquired_at, heartbeat_at, expires_at, deliveries) VALUES (?,?,?,?,?,?,?)', leaseRows);
}
