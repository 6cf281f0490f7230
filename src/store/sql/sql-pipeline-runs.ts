/**
 * {@link PipelineRunStore} in SQL: pipeline runs, step runs, their lineage edges and step leases.
 * State transitions are one {@link UnitOfWork.write} each, with their audit event; signs of life
 * (`touchPipelineRun`, `touchStepLease`) are one unaudited write each.
 *
 * Every change of status is a compare-and-set in its UPDATE's WHERE clause (`status = 'RUNNING'`,
 * the lease epoch, the runner epoch) and checks the row count, so that correctness does not rest on
 * writers being serialised — which they are (SQLite's one writer, PostgreSQL's advisory write lock),
 * and which also keeps a claim's read and its write free of any other writer in between.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import { excerpt } from '../limits.js';
import type { Actor } from '../ports/common.js';
import type {
  CachedStepRunInput, CreatePipelineRunInput, EndPipelineRunInput, FailStepRunInput, FinishStepRunInput, LeaseFence, ListStepEdgesQuery,
  ListPipelineRunsQuery, ListStepRunsQuery, PipelineParamValue, PipelineRunRecord, PipelineRunStatus, PipelineRunStore, StartStepRunInput, StepClaim, StepEdge,
  StepEdgeRecord, StepLease, StepOutputRecord, StepRunRecord, StepRunStatus,
} from '../ports/pipelines.js';
import { jsonCol, num, optJsonCol, optNum, optStr, placeholders } from './rows.js';
import type { Row, SqlExecutor, SqlValue } from './sql-driver.js';
import type { UnitOfWork } from './unit-of-work.js';

const MAX_ID = 255;
const MAX_TEXT = 8000;
const MAX_JSON = 256 * 1024;
const SHA256 = /^[0-9a-f]{64}$/;
const PIPELINE_STATUSES: readonly PipelineRunStatus[] = ['RUNNING', 'FINISHED', 'FAILED', 'KILLED'];
const EDGE_KINDS: readonly StepEdge['kind'][] = ['step', 'dataset', 'model', 'file', 'artifact'];

// ------------------------------------------------------------------ checks: bad input is named

function text(field: string, v: unknown, max = MAX_ID): string {
  if (typeof v !== 'string' || !v) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: field });
  if (v.length > max) throw invalid(`Invalid ${field}: longer than ${max} characters`);
  return v;
}

function optText(field: string, v: unknown, max = MAX_TEXT): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw invalid(`Invalid ${field}: expected a string`);
  // An error message or a path may be long; keep what fits rather than refuse to record the end.
  return v.length > max ? `${v.slice(0, max)}…` : v;
}

function time(field: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(`Invalid ${field} '${JSON.stringify(v)}': expected milliseconds since the epoch`);
  return v;
}

function positive(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw invalid(`Invalid ${field} '${String(v)}': expected a positive whole number`);
  return v;
}

function json(field: string, v: unknown): string {
  const s = JSON.stringify(v);
  if (s.length > MAX_JSON) throw invalid(`Invalid ${field}: larger than ${MAX_JSON} bytes as JSON`);
  return s;
}

function checkParams(v: unknown): Record<string, PipelineParamValue> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid('Invalid pipeline run params: expected an object of parameter values');
  for (const [k, x] of Object.entries(v)) {
    if (!['string', 'number', 'boolean'].includes(typeof x) || (typeof x === 'number' && !Number.isFinite(x))) {
      throw invalid(`Invalid value for pipeline parameter '${k}': expected a string, a finite number or a boolean`);
    }
  }
  return v as Record<string, PipelineParamValue>;
}

function checkOutputs(v: unknown): Record<string, StepOutputRecord> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid('Invalid step outputs: expected an object of outputs by name');
  for (const [k, o] of Object.entries(v as Record<string, Partial<StepOutputRecord>>)) {
    if (!o || typeof o !== 'object') throw invalid(`Invalid step output '${k}': expected an object`);
    if (typeof o.type !== 'string' || !o.type) throw invalid(`Invalid step output '${k}': 'type' must be a non-empty string`);
    if (typeof o.sha256 !== 'string' || !SHA256.test(o.sha256)) throw invalid(`Invalid step output '${k}': 'sha256' must be 64 hex digits`);
    if (typeof o.run !== 'string' || !o.run) throw invalid(`Invalid step output '${k}': 'run' must name the run holding its bytes`);
    if (o.kind !== 'file' && o.kind !== 'dir') throw invalid(`Invalid step output '${k}': 'kind' must be 'file' or 'dir'`);
  }
  return v as Record<string, StepOutputRecord>;
}

function checkMetrics(v: unknown): Record<string, number> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid('Invalid step metrics: expected an object of numbers by name');
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'number' || !Number.isFinite(x)) throw invalid(`Invalid step metric '${k}': expected a finite number`);
  return v as Record<string, number>;
}

function checkEdges(v: unknown): StepEdge[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalid('Invalid lineage edges: expected a list');
  return v.map((e: Partial<StepEdge>, i) => {
    if (!e || typeof e !== 'object') throw invalid(`Invalid lineage edge ${i}: expected an object`);
    if (e.role !== 'input' && e.role !== 'output') throw invalid(`Invalid lineage edge ${i}: 'role' must be 'input' or 'output'`);
    if (!EDGE_KINDS.includes(e.kind as StepEdge['kind'])) throw invalid(`Invalid lineage edge ${i}: 'kind' must be one of ${EDGE_KINDS.join(', ')}`);
    text(`lineage edge ${i} name`, e.name);
    text(`lineage edge ${i} ref`, e.ref, 4096);
    if (e.sha256 !== undefined && !SHA256.test(String(e.sha256))) throw invalid(`Invalid lineage edge ${i}: 'sha256' must be 64 hex digits`);
    return e as StepEdge;
  });
}

function checkFence(f: LeaseFence | undefined): LeaseFence | undefined {
  if (f === undefined) return undefined;
  text('lease owner', f.owner);
  positive('lease epoch', f.epoch);
  return f;
}

// ------------------------------------------------------------------ rows

function pipelineRunRow(r: Row): PipelineRunRecord {
  const out: PipelineRunRecord = {
    id: String(r.id), pipeline: String(r.pipeline), pipelineVersion: String(r.pipeline_version), irHash: String(r.ir_hash),
    experimentId: String(r.experiment_id), status: String(r.status) as PipelineRunStatus, params: jsonCol(r.params_json),
    baseDir: String(r.base_dir), noCache: num(r.no_cache) === 1,
    runner: { host: String(r.runner_host), pid: num(r.runner_pid), heartbeatAt: num(r.runner_heartbeat), epoch: num(r.runner_epoch) },
    skipped: jsonCol(r.skipped_json), createdBy: String(r.created_by), startTime: num(r.start_time), mlflowRunId: String(r.mlflow_run_id),
    edgesComplete: num(r.edges_complete) === 1,
  };
  const failedStep = optStr(r.failed_step);
  const error = optStr(r.error);
  const endTime = optNum(r.end_time);
  const resumedAt = optNum(r.resumed_at);
  if (failedStep !== undefined) out.failedStep = failedStep;
  if (error !== undefined) out.error = error;
  if (endTime !== undefined) out.endTime = endTime;
  if (resumedAt !== undefined) out.resumedAt = resumedAt;
  return out;
}

function stepRunRow(r: Row): StepRunRecord {
  return {
    id: String(r.id), pipelineRunId: optStr(r.pipeline_run_id) ?? null, experimentId: String(r.experiment_id), step: String(r.step),
    component: String(r.component), status: String(r.status) as StepRunStatus, attempt: num(r.attempt),
    cacheKey: optStr(r.cache_key) ?? null, keyParts: optJsonCol(r.key_parts_json), outputs: optJsonCol(r.outputs_json),
    metrics: jsonCol(r.metrics_json), cached: num(r.cached) === 1, cacheSource: optStr(r.cache_source) ?? null, error: optStr(r.error) ?? null,
    cancelRequested: r.cancel_requested_at !== null && r.cancel_requested_at !== undefined, createdBy: String(r.created_by),
    startTime: num(r.start_time), endTime: optNum(r.end_time) ?? null, mlflowRunId: String(r.mlflow_run_id),
  };
}

function leaseRow(r: Row): StepLease {
  return {
    stepRunId: String(r.step_run_id), owner: String(r.owner), epoch: num(r.epoch), acquiredAt: num(r.acquired_at),
    heartbeatAt: num(r.heartbeat_at), expiresAt: num(r.expires_at), deliveries: num(r.deliveries),
  };
}

function edgeRow(r: Row): StepEdgeRecord {
  const e: StepEdgeRecord = { stepRunId: String(r.step_run_id), role: String(r.role) as StepEdge['role'], name: String(r.name), kind: String(r.kind) as StepEdge['kind'], ref: String(r.ref) };
  const output = optStr(r.output);
  const holder = optStr(r.holder);
  const sha256 = optStr(r.sha256);
  if (output !== undefined) e.output = output;
  if (holder !== undefined) e.holder = holder;
  if (sha256 !== undefined) e.sha256 = sha256;
  return e;
}

/** What an audit event says of outputs: their names and hashes, not their metadata. */
const outputHashes = (o: Record<string, StepOutputRecord>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.sha256]));

async function insertEdges(tx: SqlExecutor, stepRunId: string, edges: readonly StepEdge[]): Promise<void> {
  if (!edges.length) return;
  // The same edge twice (a resume recording what a step consumed again) is one edge.
  await tx.runMany(
    `INSERT INTO pipeline_step_edges (step_run_id, role, name, kind, ref, output, holder, sha256) VALUES (?,?,?,?,?,?,?,?)
     ON CONFLICT (step_run_id, role, name, kind, ref) DO NOTHING`,
    edges.map((e) => [stepRunId, e.role, e.name, e.kind, e.ref, e.output ?? null, e.holder ?? null, e.sha256 ?? null]),
  );
}

export class SqlPipelineRuns implements PipelineRunStore {
  constructor(protected readonly uow: UnitOfWork) {}

  // ------------------------------------------------------------------ pipeline runs

  async createPipelineRun(input: CreatePipelineRunInput, who: Actor): Promise<PipelineRunRecord> {
    const id = text('pipeline run id', input.id);
    const pipeline = text('pipeline', input.pipeline);
    const version = optText('pipeline version', input.pipelineVersion, MAX_ID) ?? '';
    const irHash = text('IR hash', input.irHash);
    const experimentId = text('experiment id', input.experimentId);
    const params = checkParams(input.params ?? {});
    const baseDir = optText('base dir', input.baseDir, 4096) ?? '';
    const host = optText('runner host', input.runner?.host, MAX_ID) ?? '';
    const pid = input.runner?.pid ?? 0;
    if (!Number.isSafeInteger(pid) || pid < 0) throw invalid(`Invalid runner pid '${String(pid)}': expected a process id`);
    return this.uow.write(who, async (tx, audit) => {
      const now = this.uow.now();
      const start = time('start time', input.startTime, now);
      await tx.run(
        `INSERT INTO pipeline_runs (id, pipeline, pipeline_version, ir_hash, experiment_id, status, params_json, base_dir, no_cache,
           runner_host, runner_pid, runner_heartbeat, runner_epoch, created_by, start_time, mlflow_run_id)
         VALUES (?,?,?,?,?,'RUNNING',?,?,?,?,?,?,1,?,?,?)`,
        [id, pipeline, version, irHash, experimentId, json('params', params), baseDir, input.noCache ? 1 : 0, host, pid, now, who.actor, start, id],
      );
      await audit('start_pipeline_run', 'pipeline_run', id, null, { pipeline, version, irHash, experimentId, params, noCache: !!input.noCache, runner: { host, pid } });
      return pipelineRunRow((await tx.query('SELECT * FROM pipeline_runs WHERE id = ?', [id]))[0]!);
    });
  }

  async getPipelineRun(id: string): Promise<PipelineRunRecord> {
    const rows = await this.uow.read.query('SELECT * FROM pipeline_runs WHERE id = ?', [text('pipeline run id', id)]);
    if (!rows[0]) throw new TrellisError('TRELLIS_PIPELINE_RUN_NOT_FOUND', { id: excerpt(id) });
    return pipelineRunRow(rows[0]);
  }

  async listPipelineRuns(q: ListPipelineRunsQuery = {}): Promise<PipelineRunRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (q.pipeline !== undefined) { where.push('pipeline = ?'); params.push(text('pipeline', q.pipeline)); }
    if (q.status !== undefined) {
      if (!PIPELINE_STATUSES.includes(q.status)) throw invalid(`Invalid pipeline run status '${String(q.status)}': must be one of ${PIPELINE_STATUSES.join(', ')}`);
      where.push('status = ?');
      params.push(q.status);
    }
    if (q.experimentId !== undefined) { where.push('experiment_id = ?'); params.push(text('experiment id', q.experimentId)); }
    if (q.endedAfter !== undefined) {
      if (!Number.isFinite(q.endedAfter)) throw invalid(`Invalid endedAfter ${String(q.endedAfter)}: expected a time in milliseconds`);
      where.push('end_time > ?');
      params.push(q.endedAfter);
    }
    // A literal, so that the partial index of incomplete runs serves the upgrade's query.
    if (q.edgesComplete !== undefined) where.push(q.edgesComplete ? 'edges_complete = 1' : 'edges_complete = 0');
    const order = q.order ?? 'started';
    if (order !== 'started' && order !== 'ended') throw invalid(`Invalid order '${String(order)}': must be started or ended`);
    const limit = q.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw invalid(`Invalid limit ${limit}: must be an integer from 1 to 100000`);
    // Runs still running have no end time: after those that ended, on both databases.
    const orderBy = order === 'ended' ? 'CASE WHEN end_time IS NULL THEN 1 ELSE 0 END, end_time DESC, id DESC' : 'start_time DESC, id DESC';
    const rows = await this.uow.read.query(
      `SELECT * FROM pipeline_runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${orderBy} LIMIT ?`, [...params, limit],
    );
    return rows.map(pipelineRunRow);
  }

  async endPipelineRun(id: string, end: EndPipelineRunInput, who: Actor): Promise<PipelineRunRecord | undefined> {
    text('pipeline run id', id);
    if (!['FINISHED', 'FAILED', 'KILLED'].includes(end.status)) throw invalid(`Invalid end status '${String(end.status)}': must be FINISHED, FAILED or KILLED`);
    const failedStep = optText('failed step', end.failedStep, MAX_ID);
    const error = optText('error', end.error);
    const skipped = end.skipped ?? [];
    if (!Array.isArray(skipped) || skipped.some((s) => typeof s !== 'string')) throw invalid('Invalid skipped steps: expected a list of step names');
    if (end.epoch !== undefined) positive('runner epoch', end.epoch);
    return this.uow.write(who, async (tx, audit) => {
      const now = this.uow.now();
      const r = await tx.run(
        `UPDATE pipeline_runs SET status = ?, failed_step = ?, error = ?, skipped_json = ?, end_time = ?
         WHERE id = ? AND status = 'RUNNING'${end.epoch !== undefined ? ' AND runner_epoch = ?' : ''}`,
        [end.status, failedStep, error, json('skipped steps', skipped), now, id, ...(end.epoch !== undefined ? [end.epoch] : [])],
      );
      if (r.changes !== 1) {
        await this.pipelineRunIn(tx, id);
        return undefined;
      }
      await audit('end_pipeline_run', 'pipeline_run', id, { status: 'RUNNING' }, { status: end.status, failedStep, error, skipped });
      return this.pipelineRunIn(tx, id);
    });
  }

  async resumePipelineRun(id: string, o: { runner: { host: string; pid: number }; expectEpoch: number }, who: Actor): Promise<PipelineRunRecord | undefined> {
    text('pipeline run id', id);
    const host = optText('runner host', o.runner.host, MAX_ID) ?? '';
    if (!Number.isSafeInteger(o.runner.pid) || o.runner.pid < 0) throw invalid(`Invalid runner pid '${String(o.runner.pid)}': expected a process id`);
    const expect = positive('runner epoch', o.expectEpoch);
    return this.uow.write(who, async (tx, audit) => {
      const before = await this.pipelineRunIn(tx, id);
      const now = this.uow.now();
      const r = await tx.run(
        `UPDATE pipeline_runs SET status = 'RUNNING', runner_host = ?, runner_pid = ?, runner_heartbeat = ?, runner_epoch = runner_epoch + 1,
           resumed_at = ?, end_time = NULL WHERE id = ? AND runner_epoch = ?`,
        [host, o.runner.pid, now, now, id, expect],
      );
      if (r.changes !== 1) return undefined;
      await audit('resume_pipeline_run', 'pipeline_run', id,
        { status: before.status, runner: { host: before.runner.host, pid: before.runner.pid, epoch: before.runner.epoch } },
        { status: 'RUNNING', runner: { host, pid: o.runner.pid, epoch: expect + 1 } });
      return this.pipelineRunIn(tx, id);
    });
  }

  async touchPipelineRun(id: string, epoch: number): Promise<boolean> {
    text('pipeline run id', id);
    positive('runner epoch', epoch);
    return this.uow.writeUnaudited(async (tx) => (await tx.run(
      "UPDATE pipeline_runs SET runner_heartbeat = ? WHERE id = ? AND runner_epoch = ? AND status = 'RUNNING'", [this.uow.now(), id, epoch],
    )).changes === 1);
  }

  private async pipelineRunIn(ex: SqlExecutor, id: string): Promise<PipelineRunRecord> {
    const rows = await ex.query('SELECT * FROM pipeline_runs WHERE id = ?', [id]);
    if (!rows[0]) throw new TrellisError('TRELLIS_PIPELINE_RUN_NOT_FOUND', { id: excerpt(id) });
    return pipelineRunRow(rows[0]);
  }

  // ------------------------------------------------------------------ step runs

  private checkStart(input: StartStepRunInput) {
    return {
      id: text('step run id', input.id),
      pipelineRunId: input.pipelineRunId === null ? null : text('pipeline run id', input.pipelineRunId),
      experimentId: text('experiment id', input.experimentId),
      step: text('step', input.step),
      component: text('component', input.component),
      cacheKey: input.cacheKey === undefined ? null : text('cache key', input.cacheKey),
      keyParts: input.keyParts === undefined ? null : json('cache key parts', input.keyParts),
      edges: checkEdges(input.edges),
    };
  }

  /** Inserts a step run; its attempt is one more than the runs of the same step in the same pipeline run. */
  private async insertStep(tx: SqlExecutor, c: ReturnType<SqlPipelineRuns['checkStart']>, who: Actor, start: number, extra: {
    status: StepRunStatus; cached: boolean; cacheSource: string | null; outputs: string | null; metrics: string; endTime: number | null;
  }): Promise<number> {
    if (c.pipelineRunId !== null) await this.pipelineRunIn(tx, c.pipelineRunId);
    const [prev] = c.pipelineRunId === null ? [] : await tx.query<{ n: number }>(
      'SELECT COUNT(*) AS n FROM pipeline_step_runs WHERE pipeline_run_id = ? AND step = ?', [c.pipelineRunId, c.step],
    );
    const attempt = Number(prev?.n ?? 0) + 1;
    await tx.run(
      `INSERT INTO pipeline_step_runs (id, pipeline_run_id, experiment_id, step, component, status, attempt, cache_key, key_parts_json, outputs_json,
         metrics_json, cached, cache_source, created_by, start_time, end_time, mlflow_run_id)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
      [c.id, c.pipelineRunId, c.experimentId, c.step, c.component, extra.status, attempt, c.cacheKey, c.keyParts, extra.outputs,
        extra.metrics, extra.cached ? 1 : 0, extra.cacheSource, who.actor, start, extra.endTime, c.id],
    );
    await insertEdges(tx, c.id, c.edges);
    return attempt;
  }

  async startStepRun(input: StartStepRunInput, who: Actor): Promise<StepRunRecord> {
    const c = this.checkStart(input);
    return this.uow.write(who, async (tx, audit) => {
      const start = time('start time', input.startTime, this.uow.now());
      const attempt = await this.insertStep(tx, c, who, start, { status: 'RUNNING', cached: false, cacheSource: null, outputs: null, metrics: '{}', endTime: null });
      await audit('start_step_run', 'step_run', c.id, null, {
        pipelineRunId: c.pipelineRunId, step: c.step, component: c.component, attempt, cacheKey: c.cacheKey,
      });
      return this.stepRunIn(tx, c.id);
    });
  }

  async recordCachedStepRun(input: CachedStepRunInput, who: Actor): Promise<StepRunRecord> {
    const c = this.checkStart(input);
    if (c.cacheKey === null) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'cache key' });
    const source = text('cache source', input.cacheSource);
    const outputs = checkOutputs(input.outputs);
    const metrics = checkMetrics(input.metrics);
    const produced: StepEdge[] = Object.entries(outputs).map(([name, o]) => ({ role: 'output', name, kind: 'artifact', ref: o.run, sha256: o.sha256 }));
    return this.uow.write(who, async (tx, audit) => {
      const now = this.uow.now();
      const start = time('start time', input.startTime, now);
      const attempt = await this.insertStep(tx, { ...c, edges: [...c.edges, ...produced] }, who, start, {
        status: 'FINISHED', cached: true, cacheSource: source, outputs: json('step outputs', outputs), metrics: json('step metrics', metrics), endTime: now,
      });
      await audit('cache_hit_step_run', 'step_run', c.id, null, {
        pipelineRunId: c.pipelineRunId, step: c.step, component: c.component, attempt, cacheKey: c.cacheKey, cacheSource: source, outputs: outputHashes(outputs),
      });
      return this.stepRunIn(tx, c.id);
    });
  }

  /** The WHERE clause that makes ending a step a compare-and-set: RUNNING, and still the fence's when one is given. */
  private static endable(fence: LeaseFence | undefined): { sql: string; params: SqlValue[] } {
    if (!fence) return { sql: "id = ? AND status = 'RUNNING'", params: [] };
    return {
      sql: "id = ? AND status = 'RUNNING' AND EXISTS (SELECT 1 FROM pipeline_step_leases l WHERE l.step_run_id = pipeline_step_runs.id AND l.owner = ? AND l.epoch = ?)",
      params: [fence.owner, fence.epoch],
    };
  }

  async finishStepRun(id: string, input: FinishStepRunInput, who: Actor): Promise<StepRunRecord | undefined> {
    text('step run id', id);
    const outputs = checkOutputs(input.outputs);
    const metrics = checkMetrics(input.metrics);
    const edges = checkEdges(input.edges);
    const fence = checkFence(input.fence);
    const produced: StepEdge[] = Object.entries(outputs).map(([name, o]) => ({ role: 'output', name, kind: 'artifact', ref: o.run, sha256: o.sha256 }));
    return this.uow.write(who, async (tx, audit) => {
      const w = SqlPipelineRuns.endable(fence);
      const r = await tx.run(
        `UPDATE pipeline_step_runs SET status = 'FINISHED', outputs_json = ?, metrics_json = ?, end_time = ? WHERE ${w.sql}`,
        [json('step outputs', outputs), json('step metrics', metrics), this.uow.now(), id, ...w.params],
      );
      if (r.changes !== 1) {
        await this.stepRunIn(tx, id);
        return undefined;
      }
      await insertEdges(tx, id, [...edges, ...produced]);
      await audit('finish_step_run', 'step_run', id, { status: 'RUNNING' }, { status: 'FINISHED', outputs: outputHashes(outputs), ...(fence ? { by: fence } : {}) });
      return this.stepRunIn(tx, id);
    });
  }

  async failStepRun(id: string, input: FailStepRunInput, who: Actor): Promise<StepRunRecord | undefined> {
    text('step run id', id);
    if (input.status !== 'FAILED' && input.status !== 'KILLED') throw invalid(`Invalid step end status '${String(input.status)}': must be FAILED or KILLED`);
    const error = optText('error', input.error) ?? '';
    const fence = checkFence(input.fence);
    return this.uow.write(who, async (tx, audit) => {
      const w = SqlPipelineRuns.endable(fence);
      const r = await tx.run(`UPDATE pipeline_step_runs SET status = ?, error = ?, end_time = ? WHERE ${w.sql}`, [input.status, error, this.uow.now(), id, ...w.params]);
      if (r.changes !== 1) {
        await this.stepRunIn(tx, id);
        return undefined;
      }
      await audit('fail_step_run', 'step_run', id, { status: 'RUNNING' }, { status: input.status, error, ...(fence ? { by: fence } : {}) });
      return this.stepRunIn(tx, id);
    });
  }

  async requestStepCancel(id: string, who: Actor): Promise<boolean> {
    text('step run id', id);
    return this.uow.write(who, async (tx, audit) => {
      const r = await tx.run("UPDATE pipeline_step_runs SET cancel_requested_at = ? WHERE id = ? AND status = 'RUNNING' AND cancel_requested_at IS NULL", [this.uow.now(), id]);
      if (r.changes !== 1) {
        const run = await this.stepRunIn(tx, id);
        return run.status === 'RUNNING';
      }
      await audit('cancel_step_run', 'step_run', id, null, { cancelRequested: true });
      return true;
    });
  }

  async getStepRun(id: string): Promise<StepRunRecord> {
    return this.stepRunIn(this.uow.read, text('step run id', id));
  }

  private async stepRunIn(ex: SqlExecutor, id: string): Promise<StepRunRecord> {
    const rows = await ex.query('SELECT * FROM pipeline_step_runs WHERE id = ?', [id]);
    if (!rows[0]) throw new TrellisError('TRELLIS_STEP_RUN_NOT_FOUND', { id: excerpt(id) });
    return stepRunRow(rows[0]);
  }

  async listStepRuns(q: ListStepRunsQuery): Promise<StepRunRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (q.pipelineRunId !== undefined) { where.push('pipeline_run_id = ?'); params.push(text('pipeline run id', q.pipelineRunId)); }
    if (q.experimentId !== undefined) { where.push('experiment_id = ?'); params.push(text('experiment id', q.experimentId)); }
    if (q.step !== undefined) { where.push('step = ?'); params.push(text('step', q.step)); }
    if (q.cacheSource !== undefined) { where.push('cache_source = ?'); params.push(text('cache source', q.cacheSource)); }
    if (q.ids !== undefined) {
      if (!q.ids.length) return [];
      if (q.ids.length > 10_000) throw invalid('Invalid step run ids: at most 10000 at once');
      where.push(`id IN (${placeholders(q.ids.length)})`);
      params.push(...q.ids.map((x) => text('step run id', x)));
    }
    if (!where.length) throw invalid('Listing step runs needs a pipeline run, an experiment, a cache source or ids');
    const dir = q.oldestFirst ? 'ASC' : 'DESC';
    const rows = await this.uow.read.query(`SELECT * FROM pipeline_step_runs WHERE ${where.join(' AND ')} ORDER BY start_time ${dir}, id ${dir}`, params);
    return rows.map(stepRunRow);
  }

  async findCacheEntry(experimentId: string, cacheKey: string, o: { notBefore?: number } = {}): Promise<StepRunRecord | undefined> {
    const notBefore = o.notBefore === undefined || o.notBefore === -Infinity ? 0 : o.notBefore;
    if (!Number.isFinite(notBefore)) throw invalid(`Invalid notBefore '${String(o.notBefore)}': expected milliseconds since the epoch`);
    // The conditions of the partial index `pipeline_step_runs_cache`, as literals, so that both planners use it.
    const rows = await this.uow.read.query(
      `SELECT * FROM pipeline_step_runs WHERE experiment_id = ? AND cache_key = ? AND cached = 0 AND status = 'FINISHED' AND outputs_json IS NOT NULL
         AND COALESCE(end_time, start_time) >= ? ORDER BY start_time DESC LIMIT 1`,
      [text('experiment id', experimentId), text('cache key', cacheKey), notBefore],
    );
    return rows[0] ? stepRunRow(rows[0]) : undefined;
  }

  // ------------------------------------------------------------------ lineage edges

  async listStepEdges(q: ListStepEdgesQuery): Promise<StepEdgeRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (q.stepRunIds !== undefined) {
      if (!q.stepRunIds.length) return [];
      if (q.stepRunIds.length > 10_000) throw invalid('Invalid step run ids: at most 10000 at once');
      where.push(`step_run_id IN (${placeholders(q.stepRunIds.length)})`);
      params.push(...q.stepRunIds.map((x) => text('step run id', x)));
    }
    if (q.role !== undefined) {
      if (q.role !== 'input' && q.role !== 'output') throw invalid(`Invalid edge role '${String(q.role)}': must be input or output`);
      where.push('role = ?');
      params.push(q.role);
    }
    if (q.kind !== undefined) {
      if (!EDGE_KINDS.includes(q.kind)) throw invalid(`Invalid edge kind '${String(q.kind)}': must be one of ${EDGE_KINDS.join(', ')}`);
      where.push('kind = ?');
      params.push(q.kind);
    }
    for (const [col, v] of [['ref', q.ref], ['holder', q.holder], ['sha256', q.sha256], ['name', q.name]] as const) {
      if (v === undefined) continue;
      where.push(`${col} = ?`);
      params.push(text(`edge ${col}`, v, 4096));
    }
    if (!where.length) throw invalid('Listing lineage edges needs step runs, a ref, a holder or a sha256');
    const rows = await this.uow.read.query(`SELECT * FROM pipeline_step_edges WHERE ${where.join(' AND ')} ORDER BY step_run_id, role, name, kind, ref`, params);
    return rows.map(edgeRow);
  }

  async completePipelineRunEdges(id: string, edges: StepEdgeRecord[]): Promise<void> {
    text('pipeline run id', id);
    const checked = checkEdges(edges).map((e, i) => ({ ...e, stepRunId: text(`lineage edge ${i} step run`, edges[i]!.stepRunId) }));
    await this.uow.writeUnaudited(async (tx) => {
      await this.pipelineRunIn(tx, id);
      const mine = new Set((await tx.query('SELECT id FROM pipeline_step_runs WHERE pipeline_run_id = ?', [id])).map((r) => String(r.id)));
      const stray = checked.find((e) => !mine.has(e.stepRunId));
      if (stray) throw invalid(`Invalid lineage edge: step run ${stray.stepRunId} is not a step of pipeline run ${id}`);
      for (const sid of mine) await insertEdges(tx, sid, checked.filter((e) => e.stepRunId === sid));
      await tx.run('UPDATE pipeline_runs SET edges_complete = 1 WHERE id = ?', [id]);
    });
  }

  // ------------------------------------------------------------------ step leases

  async claimStepLease(stepRunId: string, o: { owner: string; ttlMs: number }, who: Actor): Promise<StepClaim> {
    const id = text('step run id', stepRunId);
    const owner = text('lease owner', o.owner);
    const ttl = positive('lease time-to-live (ms)', o.ttlMs);
    return this.uow.write(who, async (tx, audit) => {
      const stepRun = await this.stepRunIn(tx, id);
      if (stepRun.status !== 'RUNNING') return { outcome: 'ended', stepRun };
      const now = this.uow.now();
      const [row] = await tx.query('SELECT * FROM pipeline_step_leases WHERE step_run_id = ?', [id]);
      if (!row) {
        const r = await tx.run(
          `INSERT INTO pipeline_step_leases (step_run_id, owner, epoch, acquired_at, heartbeat_at, expires_at, deliveries) VALUES (?,?,1,?,?,?,1)
           ON CONFLICT (step_run_id) DO NOTHING`,
          [id, owner, now, now, now + ttl],
        );
        if (r.changes === 1) {
          await audit('claim_step', 'step_run', id, null, { owner, epoch: 1 });
          return { outcome: 'claimed', lease: { stepRunId: id, owner, epoch: 1, acquiredAt: now, heartbeatAt: now, expiresAt: now + ttl, deliveries: 1 }, stepRun };
        }
        const [other] = await tx.query('SELECT * FROM pipeline_step_leases WHERE step_run_id = ?', [id]);
        return { outcome: 'held', lease: leaseRow(other!), stepRun };
      }
      const held = leaseRow(row);
      const mine = held.owner === owner;
      if (!mine && held.expiresAt > now) return { outcome: 'held', lease: held, stepRun };
      const r = await tx.run(
        `UPDATE pipeline_step_leases SET owner = ?, epoch = epoch + 1, acquired_at = ?, heartbeat_at = ?, expires_at = ?, deliveries = deliveries + 1
         WHERE step_run_id = ? AND epoch = ?`,
        [owner, now, now, now + ttl, id, held.epoch],
      );
      if (r.changes !== 1) {
        const [other] = await tx.query('SELECT * FROM pipeline_step_leases WHERE step_run_id = ?', [id]);
        return { outcome: 'held', lease: leaseRow(other!), stepRun };
      }
      const lease: StepLease = { stepRunId: id, owner, epoch: held.epoch + 1, acquiredAt: now, heartbeatAt: now, expiresAt: now + ttl, deliveries: held.deliveries + 1 };
      if (mine) await audit('claim_step', 'step_run', id, { owner, epoch: held.epoch }, { owner, epoch: lease.epoch });
      else await audit('take_over_step', 'step_run', id, { owner: held.owner, epoch: held.epoch, expiredAt: held.expiresAt }, { owner, epoch: lease.epoch });
      return { outcome: mine ? 'claimed' : 'taken-over', lease, stepRun };
    });
  }

  async touchStepLease(stepRunId: string, fence: LeaseFence, ttlMs: number): Promise<{ held: boolean; cancelRequested: boolean }> {
    const id = text('step run id', stepRunId);
    checkFence(fence);
    const ttl = positive('lease time-to-live (ms)', ttlMs);
    return this.uow.writeUnaudited(async (tx) => {
      const now = this.uow.now();
      const r = await tx.run(
        `UPDATE pipeline_step_leases SET heartbeat_at = ?, expires_at = ? WHERE step_run_id = ? AND owner = ? AND epoch = ?
           AND EXISTS (SELECT 1 FROM pipeline_step_runs s WHERE s.id = pipeline_step_leases.step_run_id AND s.status = 'RUNNING')`,
        [now, now + ttl, id, fence.owner, fence.epoch],
      );
      const [s] = await tx.query('SELECT cancel_requested_at FROM pipeline_step_runs WHERE id = ?', [id]);
      return { held: r.changes === 1, cancelRequested: !!s && s.cancel_requested_at !== null && s.cancel_requested_at !== undefined };
    });
  }

  async getStepLease(stepRunId: string): Promise<StepLease | undefined> {
    const rows = await this.uow.read.query('SELECT * FROM pipeline_step_leases WHERE step_run_id = ?', [text('step run id', stepRunId)]);
    return rows[0] ? leaseRow(rows[0]) : undefined;
  }
}
