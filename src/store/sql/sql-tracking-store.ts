/**
 * {@link TrackingStore} in SQL: experiments, runs and what runs log. Each write is one
 * {@link UnitOfWork.write} with its audit event. `runRow` is exported for the registry, which
 * checks a version's run inside its own transaction.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import { newRunId, randomRunName } from '../../core/ids.js';
import { LIMITS, checkKey, checkMaxResults, checkName, checkValueSize } from '../limits.js';
import type { Actor, Page, SearchQuery, Tags, ViewType } from '../ports/common.js';
import type {
  CreateRunInput, DatasetInput, Experiment, LogBatchInput, Metric, Run, RunInfo, RunStatus, TrackingStore,
} from '../ports/tracking.js';
import { jsonCol, num, optNum, optStr, page } from './rows.js';
import type { Row, SqlExecutor, SqlValue } from './sql-driver.js';
import { decodePageToken, planRunSearch, simpleFilterSql, simpleOrderSql } from './sql-search.js';
import { PLATFORM, type UnitOfWork } from './unit-of-work.js';

const RUN_STATUSES: readonly RunStatus[] = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'];

const EXPERIMENT_COLUMNS: Record<string, string> = {
  name: 'e.name', experiment_id: 'e.experiment_id', creation_time: 'e.creation_time', last_update_time: 'e.last_update_time',
};

export interface SqlTrackingStoreOptions {
  /** Root of experiment artifact locations; runs get `<root>/<experiment>/<run>/artifacts`. */
  defaultArtifactRoot?: string;
}

/** A run's row, or TRELLIS_RUN_NOT_FOUND. */
export async function runRow(ex: SqlExecutor, runId: string): Promise<Row> {
  if (typeof runId !== 'string' || !runId) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'run_id' });
  const rows = await ex.query('SELECT * FROM runs WHERE run_uuid = ?', [runId]);
  if (!rows[0]) throw new TrellisError('TRELLIS_RUN_NOT_FOUND', { id: runId });
  return rows[0];
}

async function activeRunRow(ex: SqlExecutor, runId: string): Promise<Row> {
  const row = await runRow(ex, runId);
  if (row.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_RUN_NOT_ACTIVE', { id: runId, state: String(row.lifecycle_stage) });
  return row;
}

function expId(id: string): number {
  const n = Number(id);
  if (typeof id !== 'string' && typeof id !== 'number') throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'experiment_id' });
  if (String(id).trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new TrellisError('TRELLIS_EXPERIMENT_NOT_FOUND', { id: String(id) });
  }
  return n;
}

async function experimentRow(ex: SqlExecutor, id: string): Promise<Row> {
  const rows = await ex.query('SELECT * FROM experiments WHERE experiment_id = ?', [expId(id)]);
  if (!rows[0]) throw new TrellisError('TRELLIS_EXPERIMENT_NOT_FOUND', { id });
  return rows[0];
}

export class SqlTrackingStore implements TrackingStore {
  private readonly artifactRoot: string;

  constructor(private readonly uow: UnitOfWork, opts: SqlTrackingStoreOptions = {}) {
    this.artifactRoot = (opts.defaultArtifactRoot ?? 'mlflow-artifacts:').replace(/\/+$/, '');
  }

  // ------------------------------------------------------------------ experiments

  /** Makes sure the `Default` experiment `0` exists (the platform creates it, audited, once). */
  async ensureDefaultExperiment(): Promise<void> {
    const rows = await this.uow.read.query('SELECT experiment_id FROM experiments WHERE experiment_id = 0');
    if (rows.length) return;
    await this.uow.write(PLATFORM, async (tx, audit) => {
      if ((await tx.query('SELECT experiment_id FROM experiments WHERE experiment_id = 0')).length) return;
      const now = this.uow.now();
      const location = `${this.artifactRoot}/0`;
      await tx.run(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (0, 'Default', ?, 'active', ?, ?)",
        [location, now, now],
      );
      await audit('create_experiment', 'experiment', '0', null, { name: 'Default', artifactLocation: location });
    });
  }

  async createExperiment(input: { name: string; artifactLocation?: string; tags?: Tags }, who: Actor): Promise<string> {
    const name = checkName('Experiment', input.name);
    const tags = Object.entries(input.tags ?? {});
    for (const [k, v] of tags) { checkKey('tag', k); checkValueSize('Experiment tag', k, v, LIMITS.experimentTagValueBytes); }
    return this.uow.write(who, async (tx, audit) => {
      if ((await tx.query('SELECT 1 FROM experiments WHERE name = ?', [name])).length) {
        throw new TrellisError('TRELLIS_EXPERIMENT_EXISTS', { name });
      }
      const now = this.uow.now();
      const [row] = await tx.query<{ id: number }>(
        "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, '', 'active', ?, ?) RETURNING experiment_id AS id",
        [name, now, now],
      );
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      const id = String(row.id);
      const location = input.artifactLocation || `${this.artifactRoot}/${id}`;
      await tx.run('UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?', [location, Number(id)]);
      for (const [k, v] of tags) {
        await tx.run('INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?,?,?)', [Number(id), k, v]);
      }
      await audit('create_experiment', 'experiment', id, null, { name, artifactLocation: location, tags: input.tags ?? {} });
      return id;
    });
  }

  private async loadExperiments(rows: Row[], ex: SqlExecutor = this.uow.read): Promise<Experiment[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => Number(r.experiment_id));
    const tagRows = await ex.query(`SELECT * FROM experiment_tags WHERE experiment_id IN (${ids.map(() => '?').join(',')})`, ids);
    const tags = new Map<number, Tags>();
    for (const t of tagRows) {
      const m = tags.get(Number(t.experiment_id)) ?? {};
      m[String(t.key)] = String(t.value);
      tags.set(Number(t.experiment_id), m);
    }
    return rows.map((r) => ({
      experimentId: String(r.experiment_id), name: String(r.name), artifactLocation: String(r.artifact_location),
      lifecycleStage: r.lifecycle_stage as Experiment['lifecycleStage'], creationTime: num(r.creation_time),
      lastUpdateTime: num(r.last_update_time), tags: tags.get(Number(r.experiment_id)) ?? {},
    }));
  }

  private async oneExperiment(row: Row): Promise<Experiment> {
    const [e] = await this.loadExperiments([row]);
    if (!e) throw new Error('an experiment row loaded as nothing');
    return e;
  }

  async getExperiment(id: string): Promise<Experiment> {
    return this.oneExperiment(await experimentRow(this.uow.read, id));
  }

  async getExperimentByName(name: string): Promise<Experiment> {
    const rows = await this.uow.read.query("SELECT * FROM experiments WHERE name = ? ORDER BY CASE WHEN lifecycle_stage = 'active' THEN 0 ELSE 1 END LIMIT 1", [name]);
    if (!rows[0]) throw new TrellisError('TRELLIS_EXPERIMENT_NAME_NOT_FOUND', { name });
    return this.oneExperiment(rows[0]);
  }

  async searchExperiments(q: SearchQuery & { viewType?: ViewType }): Promise<Page<Experiment>> {
    const max = checkMaxResults(q.maxResults, LIMITS.searchMaxResultsDefault, LIMITS.searchMaxResults);
    const offset = decodePageToken(q.pageToken);
    const f = simpleFilterSql(this.uow.dialect, q.filter ?? [], EXPERIMENT_COLUMNS, (a) => `experiment_tags ${a} WHERE ${a}.experiment_id = e.experiment_id`);
    const where = [viewTypeSql('e', q.viewType), ...f.where];
    const order = simpleOrderSql(q.orderBy ?? [], EXPERIMENT_COLUMNS, 'e.experiment_id DESC');
    const rows = await this.uow.read.query(
      `SELECT e.* FROM experiments e WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ? OFFSET ?`,
      [...f.params, max + 1, offset],
    );
    return page(await this.loadExperiments(rows.slice(0, max)), rows.length > max, offset + max);
  }

  async renameExperiment(id: string, newName: string, who: Actor): Promise<void> {
    const name = checkName('Experiment', newName);
    await this.uow.write(who, async (tx, audit) => {
      const row = await experimentRow(tx, id);
      if (row.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_EXPERIMENT_NOT_ACTIVE', { id, state: String(row.lifecycle_stage) });
      if (row.name === name) return;
      if ((await tx.query('SELECT 1 FROM experiments WHERE name = ?', [name])).length) {
        throw new TrellisError('TRELLIS_EXPERIMENT_EXISTS', { name });
      }
      await tx.run('UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?', [name, this.uow.now(), row.experiment_id as number]);
      await audit('rename_experiment', 'experiment', id, { name: row.name }, { name });
    });
  }

  async deleteExperiment(id: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const row = await experimentRow(tx, id);
      if (row.lifecycle_stage === 'deleted') return;
      const now = this.uow.now();
      await tx.run("UPDATE experiments SET lifecycle_stage = 'deleted', last_update_time = ? WHERE experiment_id = ?", [now, row.experiment_id as number]);
      const r = await tx.run("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ?, deleted_with_experiment = 1 WHERE experiment_id = ? AND lifecycle_stage = 'active'", [now, row.experiment_id as number]);
      await audit('delete_experiment', 'experiment', id, { lifecycleStage: 'active' }, { lifecycleStage: 'deleted', runsDeleted: r.changes });
    });
  }

  async restoreExperiment(id: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const row = await experimentRow(tx, id);
      if (row.lifecycle_stage === 'active') return;
      // Restores the runs that the experiment's deletion deleted, not runs deleted on their own.
      const r = await tx.run("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL, deleted_with_experiment = 0 WHERE experiment_id = ? AND lifecycle_stage = 'deleted' AND deleted_with_experiment = 1", [row.experiment_id as number]);
      await tx.run("UPDATE experiments SET lifecycle_stage = 'active', last_update_time = ? WHERE experiment_id = ?", [this.uow.now(), row.experiment_id as number]);
      await audit('restore_experiment', 'experiment', id, { lifecycleStage: 'deleted' }, { lifecycleStage: 'active', runsRestored: r.changes });
    });
  }

  async setExperimentTag(id: string, key: string, value: string, who: Actor): Promise<void> {
    checkKey('tag', key);
    checkValueSize('Experiment tag', key, value, LIMITS.experimentTagValueBytes);
    await this.uow.write(who, async (tx, audit) => {
      const row = await experimentRow(tx, id);
      if (row.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_EXPERIMENT_NOT_ACTIVE', { id, state: String(row.lifecycle_stage) });
      const old = await tx.query('SELECT value FROM experiment_tags WHERE experiment_id = ? AND key = ?', [row.experiment_id as number, key]);
      await tx.run('INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?,?,?) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value', [row.experiment_id as number, key, value]);
      await audit('set_experiment_tag', 'experiment', id, old[0] ? { [key]: old[0].value } : null, { [key]: value });
    });
  }

  async deleteExperimentTag(id: string, key: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const row = await experimentRow(tx, id);
      const old = await tx.query('SELECT value FROM experiment_tags WHERE experiment_id = ? AND key = ?', [row.experiment_id as number, key]);
      if (!old[0]) throw new TrellisError('TRELLIS_TAG_NOT_FOUND', { key, entity: `experiment ${id}` });
      await tx.run('DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?', [row.experiment_id as number, key]);
      await audit('delete_experiment_tag', 'experiment', id, { [key]: old[0].value }, null);
    });
  }

  // ------------------------------------------------------------------ runs

  async createRun(input: CreateRunInput, who: Actor): Promise<Run> {
    const tags = { ...(input.tags ?? {}) };
    for (const [k, v] of Object.entries(tags)) { checkKey('tag', k); checkValueSize('Tag', k, v, LIMITS.runTagValueBytes); }
    const runName = input.runName || tags['mlflow.runName'] || randomRunName();
    tags['mlflow.runName'] = runName;
    const userId = input.userId || tags['mlflow.user'] || who.actor;
    const startTime = input.startTime ?? this.uow.now();
    if (!Number.isInteger(startTime) || startTime < 0) throw invalid(`Invalid value ${input.startTime} for parameter 'start_time' supplied.`);
    const runId = newRunId();
    const experimentId = input.experimentId === undefined || input.experimentId === '' ? '0' : String(input.experimentId);
    await this.uow.write(who, async (tx, audit) => {
      const exp = await experimentRow(tx, experimentId);
      if (exp.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_EXPERIMENT_NOT_ACTIVE', { id: experimentId, state: String(exp.lifecycle_stage) });
      const artifactUri = `${String(exp.artifact_location).replace(/\/+$/, '')}/${runId}/artifacts`;
      await tx.run(
        "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, artifact_uri, lifecycle_stage) VALUES (?,?,?,?,'RUNNING',?,?,'active')",
        [runId, runName, exp.experiment_id as number, userId, startTime, artifactUri],
      );
      await tx.runMany('INSERT INTO tags (run_uuid, key, value) VALUES (?,?,?)', Object.entries(tags).map(([k, v]) => [runId, k, v]));
      await audit('create_run', 'run', runId, null, { experimentId, runName, userId, startTime, tags });
    });
    return this.getRun(runId);
  }

  private async loadRuns(rows: Row[], ex: SqlExecutor = this.uow.read): Promise<Run[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => String(r.run_uuid));
    const runs = new Map<string, Run>();
    for (const r of rows) {
      runs.set(String(r.run_uuid), { info: runInfo(r), data: { metrics: [], params: {}, tags: {} }, inputs: { datasetInputs: [] } });
    }
    const runOf = (id: unknown): Run => {
      const run = runs.get(String(id));
      if (!run) throw new Error(`a row of run ${String(id)} that was not asked for`);
      return run;
    };
    // Chunks keep the bound-parameter count under every driver's limit.
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const inList = chunk.map(() => '?').join(',');
      const dialect = this.uow.dialect;
      const grouped = (table: string, cols: string[]) =>
        ex.query<{ run_uuid: string; j: string }>(`SELECT run_uuid, ${dialect.jsonRows(cols)} AS j FROM ${table} WHERE run_uuid IN (${inList}) GROUP BY run_uuid`, chunk);
      for (const g of await grouped('latest_metrics', ['key', 'value', 'is_nan', 'timestamp', 'step'])) {
        const metrics = runOf(g.run_uuid).data.metrics;
        for (const [key, value, isNan, timestamp, step] of jsonCol<[string, number | string, number, number, number][]>(g.j)) {
          metrics.push({ key, value: Number(isNan) ? Number.NaN : Number(value), timestamp: Number(timestamp), step: Number(step) });
        }
      }
      for (const g of await grouped('params', ['key', 'value'])) {
        const params = runOf(g.run_uuid).data.params;
        for (const [key, value] of jsonCol<[string, string][]>(g.j)) params[key] = value;
      }
      for (const g of await grouped('tags', ['key', 'value'])) {
        const tags = runOf(g.run_uuid).data.tags;
        for (const [key, value] of jsonCol<[string, string][]>(g.j)) tags[key] = value;
      }
      for (const d of await ex.query(`SELECT * FROM run_inputs WHERE run_uuid IN (${inList})`, chunk)) {
        const dataset: DatasetInput['dataset'] = { name: String(d.name), digest: String(d.digest), sourceType: String(d.source_type), source: String(d.source) };
        const schema = optStr(d.schema_json);
        const profile = optStr(d.profile_json);
        if (schema !== undefined) dataset.schema = schema;
        if (profile !== undefined) dataset.profile = profile;
        runOf(d.run_uuid).inputs.datasetInputs.push({ dataset, tags: jsonCol<Tags>(d.tags_json) });
      }
    }
    for (const run of runs.values()) run.data.metrics.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return ids.map(runOf);
  }

  async getRun(runId: string): Promise<Run> {
    const [run] = await this.loadRuns([await runRow(this.uow.read, runId)]);
    if (!run) throw new TrellisError('TRELLIS_RUN_NOT_FOUND', { id: runId });
    return run;
  }

  async updateRun(runId: string, patch: { status?: RunStatus; endTime?: number; runName?: string }, who: Actor): Promise<RunInfo> {
    if (patch.status !== undefined && !RUN_STATUSES.includes(patch.status)) {
      throw invalid(`Invalid value ${patch.status} for parameter 'status' supplied. Must be one of ${RUN_STATUSES.join(', ')}`);
    }
    if (patch.endTime !== undefined && (!Number.isInteger(patch.endTime) || patch.endTime < 0)) {
      throw invalid(`Invalid value ${patch.endTime} for parameter 'end_time' supplied.`);
    }
    return this.uow.write(who, async (tx, audit) => {
      const row = await activeRunRow(tx, runId);
      const before = { status: row.status, endTime: optNum(row.end_time), runName: row.name };
      const after = {
        status: patch.status ?? row.status,
        endTime: patch.endTime ?? optNum(row.end_time) ?? null,
        runName: patch.runName || row.name,
      };
      await tx.run('UPDATE runs SET status = ?, end_time = ?, name = ? WHERE run_uuid = ?', [after.status as string, after.endTime, after.runName as string, runId]);
      if (patch.runName) {
        await tx.run("INSERT INTO tags (run_uuid, key, value) VALUES (?, 'mlflow.runName', ?) ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value", [runId, patch.runName]);
      }
      await audit('update_run', 'run', runId, before, after);
      return runInfo(await runRow(tx, runId));
    });
  }

  async deleteRun(runId: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const row = await runRow(tx, runId);
      if (row.lifecycle_stage === 'deleted') return;
      await tx.run("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? WHERE run_uuid = ?", [this.uow.now(), runId]);
      await audit('delete_run', 'run', runId, { lifecycleStage: 'active' }, { lifecycleStage: 'deleted' });
    });
  }

  async restoreRun(runId: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const row = await runRow(tx, runId);
      if (row.lifecycle_stage === 'active') return;
      await tx.run("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL, deleted_with_experiment = 0 WHERE run_uuid = ?", [runId]);
      await audit('restore_run', 'run', runId, { lifecycleStage: 'deleted' }, { lifecycleStage: 'active' });
    });
  }

  async logBatch(runId: string, batch: LogBatchInput, who: Actor): Promise<void> {
    const metrics = batch.metrics ?? [];
    const params = batch.params ?? [];
    const tags = batch.tags ?? [];
    checkBatchLimits(metrics.length, params.length, tags.length);
    const paramMap = new Map<string, string>();
    for (const p of params) {
      checkKey('param', p.key);
      const value = String(p.value ?? '');
      checkValueSize('Param', p.key, value, LIMITS.paramValueBytes);
      const seen = paramMap.get(p.key);
      if (seen !== undefined && seen !== value) {
        throw invalid(`Duplicate parameter keys have been submitted: '${p.key}' with different values in one batch`);
      }
      paramMap.set(p.key, value);
    }
    for (const t of tags) { checkKey('tag', t.key); checkValueSize('Tag', t.key, String(t.value ?? ''), LIMITS.runTagValueBytes); }
    const latest = new Map<string, Metric>();
    for (const m of metrics) {
      checkKey('metric', m.key);
      if (typeof m.value !== 'number') throw invalid(`Got invalid value ${m.value} for metric '${m.key}' (timestamp=${m.timestamp}). Please specify value as a valid double (64-bit floating point)`);
      if (!Number.isInteger(m.timestamp)) throw invalid(`Invalid value ${m.timestamp} for parameter 'timestamp' of metric '${m.key}': must be an integer (ms)`);
      if (!Number.isInteger(m.step)) throw invalid(`Invalid value ${m.step} for parameter 'step' of metric '${m.key}': must be an integer`);
      const cur = latest.get(m.key);
      if (!cur || newerMetric(m, cur)) latest.set(m.key, m);
    }
    await this.uow.write(who, async (tx, audit) => {
      await activeRunRow(tx, runId);
      if (paramMap.size) {
        const keys = [...paramMap.keys()];
        const existing = await tx.query(`SELECT key, value FROM params WHERE run_uuid = ? AND key IN (${keys.map(() => '?').join(',')})`, [runId, ...keys]);
        for (const e of existing) {
          const v = paramMap.get(String(e.key));
          if (String(e.value) !== v) {
            throw new TrellisError('TRELLIS_PARAM_CHANGED', { key: String(e.key), old: String(e.value), new: String(v), runId });
          }
          paramMap.delete(String(e.key));
        }
        await tx.runMany('INSERT INTO params (run_uuid, key, value) VALUES (?,?,?)', [...paramMap].map(([k, v]) => [runId, k, v]));
      }
      if (metrics.length) {
        // An exact repeat of a logged point is recorded once, as in MLflow.
        await tx.runMany('INSERT INTO metrics (run_uuid, key, value, is_nan, timestamp, step) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING',
          metrics.map((m) => metricRow(runId, m)));
        await tx.runMany(
          `INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step) VALUES (?,?,?,?,?,?)
           ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan, timestamp = excluded.timestamp, step = excluded.step
           WHERE excluded.step > latest_metrics.step
              OR (excluded.step = latest_metrics.step AND excluded.timestamp > latest_metrics.timestamp)
              OR (excluded.step = latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp AND excluded.is_nan = 0 AND (latest_metrics.is_nan = 1 OR excluded.value > latest_metrics.value))`,
          [...latest.values()].map((m) => metricRow(runId, m)),
        );
      }
      const tagRows = tags.map((t) => [runId, t.key, String(t.value ?? '')] as SqlValue[]);
      await tx.runMany('INSERT INTO tags (run_uuid, key, value) VALUES (?,?,?) ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value', tagRows);
      const nameTag = [...tags].reverse().find((t) => t.key === 'mlflow.runName');
      if (nameTag) await tx.run('UPDATE runs SET name = ? WHERE run_uuid = ?', [String(nameTag.value), runId]);
      await audit('log_batch', 'run', runId, null, {
        params: Object.fromEntries(params.map((p) => [p.key, String(p.value ?? '')])),
        tags: Object.fromEntries(tags.map((t) => [t.key, String(t.value ?? '')])),
        metrics: metrics.length ? { count: metrics.length, keys: [...latest.keys()].sort(), sha256: metricsDigest(metrics) } : undefined,
      });
    });
  }

  async deleteRunTag(runId: string, key: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      await activeRunRow(tx, runId);
      const old = await tx.query('SELECT value FROM tags WHERE run_uuid = ? AND key = ?', [runId, key]);
      if (!old[0]) throw new TrellisError('TRELLIS_TAG_NOT_FOUND', { key, entity: `run ${runId}` });
      await tx.run('DELETE FROM tags WHERE run_uuid = ? AND key = ?', [runId, key]);
      await audit('delete_run_tag', 'run', runId, { [key]: old[0].value }, null);
    });
  }

  async logInputs(runId: string, datasets: DatasetInput[], who: Actor): Promise<void> {
    for (const d of datasets) {
      for (const f of ['name', 'digest', 'sourceType', 'source'] as const) {
        if (typeof d.dataset?.[f] !== 'string' || !d.dataset[f]) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: `dataset.${f}` });
      }
    }
    await this.uow.write(who, async (tx, audit) => {
      await activeRunRow(tx, runId);
      await tx.runMany(
        'INSERT INTO run_inputs (run_uuid, name, digest, source_type, source, schema_json, profile_json, tags_json) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (run_uuid, name, digest) DO UPDATE SET tags_json = excluded.tags_json',
        datasets.map((d) => [runId, d.dataset.name, d.dataset.digest, d.dataset.sourceType, d.dataset.source, d.dataset.schema ?? null, d.dataset.profile ?? null, JSON.stringify(d.tags ?? {})]),
      );
      await audit('log_inputs', 'run', runId, null, { datasets: datasets.map((d) => ({ name: d.dataset.name, digest: d.dataset.digest })) });
    });
  }

  async getMetricHistory(runId: string, key: string, p: { maxResults?: number; pageToken?: string } = {}): Promise<Page<Metric>> {
    await runRow(this.uow.read, runId);
    if (!key) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'metric_key' });
    const offset = decodePageToken(p.pageToken);
    const max = p.maxResults === undefined ? undefined : checkMaxResults(p.maxResults, 25000, Number.MAX_SAFE_INTEGER);
    const rows = await this.uow.read.query(
      `SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? AND key = ? ORDER BY step, timestamp, value${max ? ' LIMIT ? OFFSET ?' : ''}`,
      max ? [runId, key, max + 1, offset] : [runId, key],
    );
    const items = rows.slice(0, max ?? rows.length).map((m) => ({ key: String(m.key), value: metricValue(m), timestamp: num(m.timestamp), step: num(m.step) }));
    return page(items, max !== undefined && rows.length > max, offset + (max ?? 0));
  }

  async searchRuns(q: SearchQuery & { experimentIds: string[]; viewType?: ViewType }): Promise<Page<Run>> {
    const max = checkMaxResults(q.maxResults, LIMITS.searchMaxResultsDefault, LIMITS.searchMaxResults);
    const offset = decodePageToken(q.pageToken);
    if (!q.experimentIds.length) return { items: [] };
    const expIds = q.experimentIds.map((id) => {
      const n = Number(id);
      if (!Number.isInteger(n) || n < 0 || String(id).trim() === '') throw invalid(`Invalid experiment id '${id}' in experiment_ids`);
      return n;
    });
    const parts = planRunSearch(this.uow.dialect, { experimentIds: expIds, viewWhere: viewTypeSql('r', q.viewType), filter: q.filter ?? [], orderBy: q.orderBy ?? [] });
    // Pages run across the parts: skip `offset` rows of their concatenation, take max + 1.
    const rows: Row[] = [];
    let skip = offset;
    for (const [i, part] of parts.entries()) {
      if (rows.length > max) break;
      const got = await this.uow.read.query(`${part.sql.text} LIMIT ? OFFSET ?`, [...part.sql.params, max + 1 - rows.length, skip]);
      rows.push(...got);
      if (rows.length > max || i === parts.length - 1) break;
      if (got.length > 0) skip = 0;
      else if (skip > 0) {
        const n = Number((await this.uow.read.query<{ n: number }>(part.count.text, part.count.params))[0]?.n ?? 0);
        skip = Math.max(0, skip - n);
      }
    }
    return page(await this.loadRuns(rows.slice(0, max)), rows.length > max, offset + max);
  }
}

function runInfo(r: Row): RunInfo {
  const info: RunInfo = {
    runId: String(r.run_uuid), runName: String(r.name), experimentId: String(r.experiment_id), userId: String(r.user_id),
    status: r.status as RunStatus, startTime: num(r.start_time), artifactUri: String(r.artifact_uri),
    lifecycleStage: r.lifecycle_stage as RunInfo['lifecycleStage'],
  };
  const end = optNum(r.end_time);
  if (end !== undefined) info.endTime = end;
  return info;
}

function metricValue(r: Row): number {
  return Number(r.is_nan) ? Number.NaN : Number(r.value);
}

function viewTypeSql(alias: string, viewType: ViewType | undefined): string {
  switch (viewType ?? 'ACTIVE_ONLY') {
    case 'ACTIVE_ONLY': return `${alias}.lifecycle_stage = 'active'`;
    case 'DELETED_ONLY': return `${alias}.lifecycle_stage = 'deleted'`;
    case 'ALL': return '1=1';
    default: throw invalid(`Invalid view type '${viewType}': must be ACTIVE_ONLY, DELETED_ONLY or ALL`);
  }
}

function checkBatchLimits(metrics: number, params: number, tags: number): void {
  const msg = (what: string, n: number, limit: number) =>
    `A batch logging request can contain at most ${limit} ${what}. Got ${n} ${what}. Please split up ${what} across multiple requests and try again.`;
  if (metrics > LIMITS.batchMetrics) throw new TrellisError('TRELLIS_LIMIT_EXCEEDED', { detail: msg('metrics', metrics, LIMITS.batchMetrics) });
  if (params > LIMITS.batchParams) throw new TrellisError('TRELLIS_LIMIT_EXCEEDED', { detail: msg('params', params, LIMITS.batchParams) });
  if (tags > LIMITS.batchTags) throw new TrellisError('TRELLIS_LIMIT_EXCEEDED', { detail: msg('tags', tags, LIMITS.batchTags) });
  const total = metrics + params + tags;
  if (total > LIMITS.batchTotal) {
    throw new TrellisError('TRELLIS_LIMIT_EXCEEDED', { detail: `A batch logging request can contain at most ${LIMITS.batchTotal} total metrics, params and tags. Got ${total}.` });
  }
}

function newerMetric(a: Metric, b: Metric): boolean {
  if (a.step !== b.step) return a.step > b.step;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  return a.value > b.value;
}

/** A digest of a batch's points for its audit event: the points themselves stay in the metrics table. */
function metricsDigest(metrics: readonly Metric[]): string {
  let text = '';
  for (const m of metrics) text += `${m.key}\t${m.value}\t${m.timestamp}\t${m.step}\n`;
  return sha256Hex(text);
}

function metricRow(runId: string, m: Metric): SqlValue[] {
  // NaN is kept as a flag beside a 0 (as MLflow's SQL store does): it has no SQL value that sorts.
  const nan = Number.isNaN(m.value);
  return [runId, m.key, nan ? 0 : m.value, nan ? 1 : 0, m.timestamp, m.step];
}
