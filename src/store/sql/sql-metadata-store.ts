/**
 * The metadata store, written once in SQL for SQLite and PostgreSQL (dialect differences live in
 * the drivers). Each write is one transaction that also appends its audit event.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { canonicalJson, sha256Hex } from '../../core/hash.js';
import { newRunId, randomRunName } from '../../core/ids.js';
import { GENESIS_HASH, auditHash } from '../audit-chain.js';
import { LIMITS, checkKey, checkMaxResults, checkName, checkValueSize } from '../limits.js';
import type {
  Actor, AuditEvent, ClaimTriggersQuery, CreateDatasetVersionInput, CreateModelVersionInput, CreatePipelineVersionInput, CreateRunInput,
  CreateTriggerInput, Dataset, DatasetInput, DatasetSchemaDoc, DatasetVersion, Experiment, ListTriggersQuery, LogBatchInput,
  MetadataStore, Metric, ModelVersion, PipelineVersion, RegisteredModel, Run, RunInfo, RunStatus, SearchQuery, Stage, Tags,
  TriggerPatch, TriggerRecord,
} from '../metadata-store.js';
import { SqlPipelineRecords } from './sql-pipeline-records.js';
import type { Page, ViewType } from '../search-types.js';
import type { Row, SqlDriver, SqlExecutor, SqlValue } from './sql-driver.js';
import { SCHEMA_VERSION, currentVersion, migrate } from './migrations.js';
import {
  decodePageToken, encodePageToken, planRunSearch, simpleFilterSql, simpleOrderSql,
} from './sql-search.js';

const RUN_STATUSES: readonly RunStatus[] = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'];
const STAGES: readonly Stage[] = ['None', 'Staging', 'Production', 'Archived'];
const PLATFORM: Actor = { actor: 'trellis' };

export interface SqlMetadataStoreOptions {
  /** Root of experiment artifact locations; runs get `<root>/<experiment>/<run>/artifacts`. */
  defaultArtifactRoot?: string;
  clock?: Clock;
  /** Stop migrating at this version (tests that build old-schema fixtures). */
  migrateTo?: number;
}

export function canonicalStage(stage: string): Stage {
  const s = STAGES.find((x) => x.toLowerCase() === String(stage).toLowerCase());
  if (!s) throw invalid(`Invalid Model Version stage: ${stage}. Value must be one of ${STAGES.join(', ')}.`);
  return s;
}

function parseVersion(version: string | number): number {
  const n = typeof version === 'number' ? version : Number(version);
  if (!Number.isInteger(n) || n < 1 || String(version).trim() === '') {
    throw invalid(`Invalid model version number '${version}': must be a positive integer`);
  }
  return n;
}

const num = (v: unknown): number => Number(v);
const optNum = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
const optStr = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));

function metricValue(r: Row): number {
  return Number(r.is_nan) ? Number.NaN : Number(r.value);
}

export class SqlMetadataStore implements MetadataStore {
  readonly kind: string;
  private readonly clock: Clock;
  private readonly artifactRoot: string;

  private readonly pipelines: SqlPipelineRecords;

  private constructor(private readonly db: SqlDriver, opts: SqlMetadataStoreOptions) {
    this.kind = db.dialect.name;
    this.clock = opts.clock ?? systemClock;
    this.artifactRoot = (opts.defaultArtifactRoot ?? 'mlflow-artifacts:').replace(/\/+$/, '');
    this.pipelines = new SqlPipelineRecords(db, this.clock, (...args) => this.audit(...args));
  }

  /** Migrates the database and makes sure the `Default` experiment `0` exists. */
  static async open(db: SqlDriver, opts: SqlMetadataStoreOptions = {}): Promise<SqlMetadataStore> {
    await migrate(db, opts.migrateTo ?? SCHEMA_VERSION);
    const store = new SqlMetadataStore(db, opts);
    await store.ensureDefaultExperiment();
    return store;
  }

  get driver(): SqlDriver {
    return this.db;
  }

  async schemaVersion(): Promise<number> {
    return currentVersion(this.db);
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  // ------------------------------------------------------------------ audit

  private async audit(
    tx: SqlExecutor, who: Actor, action: string, entityType: string, entityId: string, before: unknown, after: unknown,
  ): Promise<void> {
    const last = await tx.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    const prevHash = last[0]?.hash ?? GENESIS_HASH;
    const seq = (last[0] ? Number(last[0].seq) : 0) + 1;
    const e = { seq, time: this.clock.now(), actor: who.actor, action, entityType, entityId, before: before ?? null, after: after ?? null };
    const hash = auditHash(prevHash, e);
    await tx.run(
      'INSERT INTO audit_events (seq, time, actor, action, entity_type, entity_id, before_json, after_json, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)',
      [seq, e.time, e.actor, action, entityType, entityId, canonicalJson(e.before), canonicalJson(e.after), prevHash, hash],
    );
  }

  async listAuditEvents(q: { afterSeq?: number; limit?: number; entityType?: string; entityId?: string; entityIdPrefix?: string; action?: string } = {}): Promise<AuditEvent[]> {
    const where = ['seq > ?'];
    const params: SqlValue[] = [q.afterSeq ?? 0];
    if (q.entityType) { where.push('entity_type = ?'); params.push(q.entityType); }
    if (q.entityId) { where.push('entity_id = ?'); params.push(q.entityId); }
    if (q.action) { where.push('action = ?'); params.push(q.action); }
    if (q.entityIdPrefix) { where.push('entity_id >= ? AND entity_id < ?'); params.push(q.entityIdPrefix, `${q.entityIdPrefix}\uffff`); }
    params.push(q.limit ?? 10000);
    const rows = await this.db.query(`SELECT * FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`, params);
    return rows.map((r) => ({
      seq: num(r.seq), time: num(r.time), actor: String(r.actor), action: String(r.action),
      entityType: String(r.entity_type), entityId: String(r.entity_id),
      before: r.before_json == null ? null : JSON.parse(String(r.before_json)),
      after: r.after_json == null ? null : JSON.parse(String(r.after_json)),
      prevHash: String(r.prev_hash), hash: String(r.hash),
    }));
  }

  // ------------------------------------------------------------------ experiments

  private async ensureDefaultExperiment(): Promise<void> {
    const rows = await this.db.query('SELECT experiment_id FROM experiments WHERE experiment_id = 0');
    if (rows.length) return;
    await this.db.transaction(async (tx) => {
      if ((await tx.query('SELECT experiment_id FROM experiments WHERE experiment_id = 0')).length) return;
      const now = this.clock.now();
      const location = `${this.artifactRoot}/0`;
      await tx.run(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (0, 'Default', ?, 'active', ?, ?)",
        [location, now, now],
      );
      await this.audit(tx, PLATFORM, 'create_experiment', 'experiment', '0', null, { name: 'Default', artifactLocation: location });
    });
  }

  async createExperiment(input: { name: string; artifactLocation?: string; tags?: Tags }, who: Actor): Promise<string> {
    const name = checkName('Experiment', input.name);
    const tags = Object.entries(input.tags ?? {});
    for (const [k, v] of tags) { checkKey('tag', k); checkValueSize('Experiment tag', k, v, LIMITS.experimentTagValueBytes); }
    return this.db.transaction(async (tx) => {
      if ((await tx.query('SELECT 1 FROM experiments WHERE name = ?', [name])).length) {
        throw new TrellisError('TRELLIS_EXPERIMENT_EXISTS', { name });
      }
      const now = this.clock.now();
      const [row] = await tx.query<{ id: number }>(
        "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, '', 'active', ?, ?) RETURNING experiment_id AS id",
        [name, now, now],
      );
      const id = String(row!.id);
      const location = input.artifactLocation || `${this.artifactRoot}/${id}`;
      await tx.run('UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?', [location, Number(id)]);
      for (const [k, v] of tags) {
        await tx.run('INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?,?,?)', [Number(id), k, v]);
      }
      await this.audit(tx, who, 'create_experiment', 'experiment', id, null, { name, artifactLocation: location, tags: input.tags ?? {} });
      return id;
    });
  }

  private expId(id: string): number {
    const n = Number(id);
    if (typeof id !== 'string' && typeof id !== 'number') throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'experiment_id' });
    if (String(id).trim() === '' || !Number.isInteger(n) || n < 0) {
      throw new TrellisError('TRELLIS_EXPERIMENT_NOT_FOUND', { id: String(id) });
    }
    return n;
  }

  private async loadExperiments(rows: Row[], ex: SqlExecutor = this.db): Promise<Experiment[]> {
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

  private async experimentRow(ex: SqlExecutor, id: string): Promise<Row> {
    const rows = await ex.query('SELECT * FROM experiments WHERE experiment_id = ?', [this.expId(id)]);
    if (!rows[0]) throw new TrellisError('TRELLIS_EXPERIMENT_NOT_FOUND', { id });
    return rows[0];
  }

  async getExperiment(id: string): Promise<Experiment> {
    return (await this.loadExperiments([await this.experimentRow(this.db, id)]))[0]!;
  }

  async getExperimentByName(name: string): Promise<Experiment> {
    const rows = await this.db.query("SELECT * FROM experiments WHERE name = ? ORDER BY CASE WHEN lifecycle_stage = 'active' THEN 0 ELSE 1 END LIMIT 1", [name]);
    if (!rows[0]) throw new TrellisError('TRELLIS_EXPERIMENT_NAME_NOT_FOUND', { name });
    return (await this.loadExperiments(rows))[0]!;
  }

  async searchExperiments(q: SearchQuery & { viewType?: ViewType }): Promise<Page<Experiment>> {
    const max = checkMaxResults(q.maxResults, LIMITS.searchMaxResultsDefault, LIMITS.searchMaxResults);
    const offset = decodePageToken(q.pageToken);
    const f = simpleFilterSql(this.db.dialect, q.filter ?? [], EXPERIMENT_COLUMNS, (a) => `experiment_tags ${a} WHERE ${a}.experiment_id = e.experiment_id`);
    const where = [viewTypeSql('e', q.viewType), ...f.where];
    const order = simpleOrderSql(q.orderBy ?? [], EXPERIMENT_COLUMNS, 'e.experiment_id DESC');
    const rows = await this.db.query(
      `SELECT e.* FROM experiments e WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ? OFFSET ?`,
      [...f.params, max + 1, offset],
    );
    return this.page(await this.loadExperiments(rows.slice(0, max)), rows.length > max, offset + max);
  }

  private page<T>(items: T[], more: boolean, nextOffset: number): Page<T> {
    return more ? { items, nextPageToken: encodePageToken(nextOffset) } : { items };
  }

  async renameExperiment(id: string, newName: string, who: Actor): Promise<void> {
    const name = checkName('Experiment', newName);
    await this.db.transaction(async (tx) => {
      const row = await this.experimentRow(tx, id);
      if (row.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_EXPERIMENT_NOT_ACTIVE', { id, state: String(row.lifecycle_stage) });
      if (row.name === name) return;
      if ((await tx.query('SELECT 1 FROM experiments WHERE name = ?', [name])).length) {
        throw new TrellisError('TRELLIS_EXPERIMENT_EXISTS', { name });
      }
      await tx.run('UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?', [name, this.clock.now(), row.experiment_id as number]);
      await this.audit(tx, who, 'rename_experiment', 'experiment', id, { name: row.name }, { name });
    });
  }

  async deleteExperiment(id: string, who: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const row = await this.experimentRow(tx, id);
      if (row.lifecycle_stage === 'deleted') return;
      const now = this.clock.now();
      await tx.run("UPDATE experiments SET lifecycle_stage = 'deleted', last_update_time = ? WHERE experiment_id = ?", [now, row.experiment_id as number]);
      const r = await tx.run("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ?, deleted_with_experiment = 1 WHERE experiment_id = ? AND lifecycle_stage = 'active'", [now, row.experiment_id as number]);
      await this.audit(tx, who, 'delete_experiment', 'experiment', id, { lifecycleStage: 'active' }, { lifecycleStage: 'deleted', runsDeleted: r.changes });
    });
  }

  async restoreExperiment(id: string, who: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const row = await this.experimentRow(tx, id);
      if (row.lifecycle_stage === 'active') return;
      // Restores the runs that the experiment's deletion deleted, not runs deleted on their own.
      const r = await tx.run("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL, deleted_with_experiment = 0 WHERE experiment_id = ? AND lifecycle_stage = 'deleted' AND deleted_with_experiment = 1", [row.experiment_id as number]);
      await tx.run("UPDATE experiments SET lifecycle_stage = 'active', last_update_time = ? WHERE experiment_id = ?", [this.clock.now(), row.experiment_id as number]);
      await this.audit(tx, who, 'restore_experiment', 'experiment', id, { lifecycleStage: 'deleted' }, { lifecycleStage: 'active', runsRestored: r.changes });
    });
  }

  async setExperimentTag(id: string, key: string, value: string, who: Actor): Promise<void> {
    checkKey('tag', key);
    checkValueSize('Experiment tag', key, value, LIMITS.experimentTagValueBytes);
    await this.db.transaction(async (tx) => {
      const row = await this.experimentRow(tx, id);
      if (row.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_EXPERIMENT_NOT_ACTIVE', { id, state: String(row.lifecycle_stage) });
      const old = await tx.query('SELECT value FROM experiment_tags WHERE experiment_id = ? AND key = ?', [row.experiment_id as number, key]);
      await tx.run('INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?,?,?) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value', [row.experiment_id as number, key, value]);
      await this.audit(tx, who, 'set_experiment_tag', 'experiment', id, old[0] ? { [key]: old[0].value } : null, { [key]: value });
    });
  }

  async deleteExperimentTag(id: string, key: string, who: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const row = await this.experimentRow(tx, id);
      const old = await tx.query('SELECT value FROM experiment_tags WHERE experiment_id = ? AND key = ?', [row.experiment_id as number, key]);
      if (!old[0]) throw new TrellisError('TRELLIS_TAG_NOT_FOUND', { key, entity: `experiment ${id}` });
      await tx.run('DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?', [row.experiment_id as number, key]);
      await this.audit(tx, who, 'delete_experiment_tag', 'experiment', id, { [key]: old[0].value }, null);
    });
  }

  // ------------------------------------------------------------------ runs

  async createRun(input: CreateRunInput, who: Actor): Promise<Run> {
    const tags = { ...(input.tags ?? {}) };
    for (const [k, v] of Object.entries(tags)) { checkKey('tag', k); checkValueSize('Tag', k, v, LIMITS.runTagValueBytes); }
    const runName = input.runName || tags['mlflow.runName'] || randomRunName();
    tags['mlflow.runName'] = runName;
    const userId = input.userId || tags['mlflow.user'] || who.actor;
    const startTime = input.startTime ?? this.clock.now();
    if (!Number.isInteger(startTime) || startTime < 0) throw invalid(`Invalid value ${input.startTime} for parameter 'start_time' supplied.`);
    const runId = newRunId();
    const experimentId = input.experimentId === undefined || input.experimentId === '' ? '0' : String(input.experimentId);
    await this.db.transaction(async (tx) => {
      const exp = await this.experimentRow(tx, experimentId);
      if (exp.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_EXPERIMENT_NOT_ACTIVE', { id: experimentId, state: String(exp.lifecycle_stage) });
      const artifactUri = `${String(exp.artifact_location).replace(/\/+$/, '')}/${runId}/artifacts`;
      await tx.run(
        "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, artifact_uri, lifecycle_stage) VALUES (?,?,?,?,'RUNNING',?,?,'active')",
        [runId, runName, exp.experiment_id as number, userId, startTime, artifactUri],
      );
      await tx.runMany('INSERT INTO tags (run_uuid, key, value) VALUES (?,?,?)', Object.entries(tags).map(([k, v]) => [runId, k, v]));
      await this.audit(tx, who, 'create_run', 'run', runId, null, { experimentId, runName, userId, startTime, tags });
    });
    return this.getRun(runId);
  }

  private async runRow(ex: SqlExecutor, runId: string): Promise<Row> {
    if (typeof runId !== 'string' || !runId) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'run_id' });
    const rows = await ex.query('SELECT * FROM runs WHERE run_uuid = ?', [runId]);
    if (!rows[0]) throw new TrellisError('TRELLIS_RUN_NOT_FOUND', { id: runId });
    return rows[0];
  }

  private async activeRunRow(ex: SqlExecutor, runId: string): Promise<Row> {
    const row = await this.runRow(ex, runId);
    if (row.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_RUN_NOT_ACTIVE', { id: runId, state: String(row.lifecycle_stage) });
    return row;
  }

  private runInfo(r: Row): RunInfo {
    const info: RunInfo = {
      runId: String(r.run_uuid), runName: String(r.name), experimentId: String(r.experiment_id), userId: String(r.user_id),
      status: r.status as RunStatus, startTime: num(r.start_time), artifactUri: String(r.artifact_uri),
      lifecycleStage: r.lifecycle_stage as RunInfo['lifecycleStage'],
    };
    const end = optNum(r.end_time);
    if (end !== undefined) info.endTime = end;
    return info;
  }

  private async loadRuns(rows: Row[], ex: SqlExecutor = this.db): Promise<Run[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => String(r.run_uuid));
    const runs = new Map<string, Run>();
    for (const r of rows) {
      runs.set(String(r.run_uuid), { info: this.runInfo(r), data: { metrics: [], params: {}, tags: {} }, inputs: { datasetInputs: [] } });
    }
    // Chunks keep the bound-parameter count under every driver's limit.
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const inList = chunk.map(() => '?').join(',');
      const dialect = this.db.dialect;
      const grouped = (table: string, cols: string[]) =>
        ex.query<{ run_uuid: string; j: string }>(`SELECT run_uuid, ${dialect.jsonRows(cols)} AS j FROM ${table} WHERE run_uuid IN (${inList}) GROUP BY run_uuid`, chunk);
      for (const g of await grouped('latest_metrics', ['key', 'value', 'is_nan', 'timestamp', 'step'])) {
        const metrics = runs.get(String(g.run_uuid))!.data.metrics;
        for (const [key, value, isNan, timestamp, step] of JSON.parse(g.j) as [string, number | string, number, number, number][]) {
          metrics.push({ key, value: Number(isNan) ? Number.NaN : Number(value), timestamp: Number(timestamp), step: Number(step) });
        }
      }
      for (const g of await grouped('params', ['key', 'value'])) {
        const params = runs.get(String(g.run_uuid))!.data.params;
        for (const [key, value] of JSON.parse(g.j) as [string, string][]) params[key] = value;
      }
      for (const g of await grouped('tags', ['key', 'value'])) {
        const tags = runs.get(String(g.run_uuid))!.data.tags;
        for (const [key, value] of JSON.parse(g.j) as [string, string][]) tags[key] = value;
      }
      for (const d of await ex.query(`SELECT * FROM run_inputs WHERE run_uuid IN (${inList})`, chunk)) {
        const dataset: DatasetInput['dataset'] = { name: String(d.name), digest: String(d.digest), sourceType: String(d.source_type), source: String(d.source) };
        const schema = optStr(d.schema_json);
        const profile = optStr(d.profile_json);
        if (schema !== undefined) dataset.schema = schema;
        if (profile !== undefined) dataset.profile = profile;
        runs.get(String(d.run_uuid))!.inputs.datasetInputs.push({ dataset, tags: JSON.parse(String(d.tags_json)) as Tags });
      }
    }
    for (const run of runs.values()) run.data.metrics.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return ids.map((id) => runs.get(id)!);
  }

  async getRun(runId: string): Promise<Run> {
    return (await this.loadRuns([await this.runRow(this.db, runId)]))[0]!;
  }

  async updateRun(runId: string, patch: { status?: RunStatus; endTime?: number; runName?: string }, who: Actor): Promise<RunInfo> {
    if (patch.status !== undefined && !RUN_STATUSES.includes(patch.status)) {
      throw invalid(`Invalid value ${patch.status} for parameter 'status' supplied. Must be one of ${RUN_STATUSES.join(', ')}`);
    }
    if (patch.endTime !== undefined && (!Number.isInteger(patch.endTime) || patch.endTime < 0)) {
      throw invalid(`Invalid value ${patch.endTime} for parameter 'end_time' supplied.`);
    }
    return this.db.transaction(async (tx) => {
      const row = await this.activeRunRow(tx, runId);
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
      await this.audit(tx, who, 'update_run', 'run', runId, before, after);
      return this.runInfo((await tx.query('SELECT * FROM runs WHERE run_uuid = ?', [runId]))[0]!);
    });
  }

  async deleteRun(runId: string, who: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const row = await this.runRow(tx, runId);
      if (row.lifecycle_stage === 'deleted') return;
      await tx.run("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? WHERE run_uuid = ?", [this.clock.now(), runId]);
      await this.audit(tx, who, 'delete_run', 'run', runId, { lifecycleStage: 'active' }, { lifecycleStage: 'deleted' });
    });
  }

  async restoreRun(runId: string, who: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const row = await this.runRow(tx, runId);
      if (row.lifecycle_stage === 'active') return;
      await tx.run("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL, deleted_with_experiment = 0 WHERE run_uuid = ?", [runId]);
      await this.audit(tx, who, 'restore_run', 'run', runId, { lifecycleStage: 'deleted' }, { lifecycleStage: 'active' });
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
    await this.db.transaction(async (tx) => {
      await this.activeRunRow(tx, runId);
      if (paramMap.size) {
        const keys = [...paramMap.keys()];
        const existing = await tx.query(`SELECT key, value FROM params WHERE run_uuid = ? AND key IN (${keys.map(() => '?').join(',')})`, [runId, ...keys]);
        for (const e of existing) {
          const v = paramMap.get(String(e.key))!;
          if (String(e.value) !== v) {
            throw new TrellisError('TRELLIS_PARAM_CHANGED', { key: String(e.key), old: String(e.value), new: v, runId });
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
      await this.audit(tx, who, 'log_batch', 'run', runId, null, {
        params: Object.fromEntries(params.map((p) => [p.key, String(p.value ?? '')])),
        tags: Object.fromEntries(tags.map((t) => [t.key, String(t.value ?? '')])),
        metrics: metrics.length ? { count: metrics.length, keys: [...latest.keys()].sort(), sha256: metricsDigest(metrics) } : undefined,
      });
    });
  }

  async deleteRunTag(runId: string, key: string, who: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.activeRunRow(tx, runId);
      const old = await tx.query('SELECT value FROM tags WHERE run_uuid = ? AND key = ?', [runId, key]);
      if (!old[0]) throw new TrellisError('TRELLIS_TAG_NOT_FOUND', { key, entity: `run ${runId}` });
      await tx.run('DELETE FROM tags WHERE run_uuid = ? AND key = ?', [runId, key]);
      await this.audit(tx, who, 'delete_run_tag', 'run', runId, { [key]: old[0].value }, null);
    });
  }

  async logInputs(runId: string, datasets: DatasetInput[], who: Actor): Promise<void> {
    for (const d of datasets) {
      for (const f of ['name', 'digest', 'sourceType', 'source'] as const) {
        if (typeof d.dataset?.[f] !== 'string' || !d.dataset[f]) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: `dataset.${f}` });
      }
    }
    await this.db.transaction(async (tx) => {
      await this.activeRunRow(tx, runId);
      await tx.runMany(
        'INSERT INTO run_inputs (run_uuid, name, digest, source_type, source, schema_json, profile_json, tags_json) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (run_uuid, name, digest) DO UPDATE SET tags_json = excluded.tags_json',
        datasets.map((d) => [runId, d.dataset.name, d.dataset.digest, d.dataset.sourceType, d.dataset.source, d.dataset.schema ?? null, d.dataset.profile ?? null, JSON.stringify(d.tags ?? {})]),
      );
      await this.audit(tx, who, 'log_inputs', 'run', runId, null, { datasets: datasets.map((d) => ({ name: d.dataset.name, digest: d.dataset.digest })) });
    });
  }

  async getMetricHistory(runId: string, key: string, page: { maxResults?: number; pageToken?: string } = {}): Promise<Page<Metric>> {
    await this.runRow(this.db, runId);
    if (!key) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'metric_key' });
    const offset = decodePageToken(page.pageToken);
    const max = page.maxResults === undefined ? undefined : checkMaxResults(page.maxResults, 25000, Number.MAX_SAFE_INTEGER);
    const rows = await this.db.query(
      `SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? AND key = ? ORDER BY step, timestamp, value${max ? ' LIMIT ? OFFSET ?' : ''}`,
      max ? [runId, key, max + 1, offset] : [runId, key],
    );
    const items = rows.slice(0, max ?? rows.length).map((m) => ({ key: String(m.key), value: metricValue(m), timestamp: num(m.timestamp), step: num(m.step) }));
    return this.page(items, max !== undefined && rows.length > max, offset + (max ?? 0));
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
    const parts = planRunSearch(this.db.dialect, { experimentIds: expIds, viewWhere: viewTypeSql('r', q.viewType), filter: q.filter ?? [], orderBy: q.orderBy ?? [] });
    // Pages run across the parts: skip `offset` rows of their concatenation, take max + 1.
    const rows: Row[] = [];
    let skip = offset;
    for (let i = 0; i < parts.length && rows.length <= max; i++) {
      const p = parts[i]!;
      const got = await this.db.query(`${p.sql.text} LIMIT ? OFFSET ?`, [...p.sql.params, max + 1 - rows.length, skip]);
      rows.push(...got);
      if (rows.length > max || i === parts.length - 1) break;
      if (got.length > 0) skip = 0;
      else if (skip > 0) {
        const n = Number((await this.db.query<{ n: number }>(p.count.text, p.count.params))[0]?.n ?? 0);
        skip = Math.max(0, skip - n);
      }
    }
    return this.page(await this.loadRuns(rows.slice(0, max)), rows.length > max, offset + max);
  }

  // ------------------------------------------------------------------ registered models

  private async modelRow(ex: SqlExecutor, name: string): Promise<Row> {
    if (typeof name !== 'string' || !name) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'name' });
    const rows = await ex.query('SELECT * FROM registered_models WHERE name = ?', [name]);
    if (!rows[0]) throw new TrellisError('TRELLIS_MODEL_NOT_FOUND', { name });
    return rows[0];
  }

  private async loadModels(rows: Row[], ex: SqlExecutor = this.db): Promise<RegisteredModel[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => Number(r.model_id));
    const inList = ids.map(() => '?').join(',');
    const tags = groupKv(await ex.query(`SELECT model_id AS id, key, value FROM registered_model_tags WHERE model_id IN (${inList})`, ids));
    const aliases = groupKv(await ex.query(`SELECT model_id AS id, alias AS key, version AS value FROM model_aliases WHERE model_id IN (${inList})`, ids));
    // The latest version in each stage, as MLflow's latest_versions.
    const latestRows = await ex.query(
      `SELECT v.* FROM model_versions v WHERE v.model_id IN (${inList}) AND v.version = (
         SELECT MAX(v2.version) FROM model_versions v2 WHERE v2.model_id = v.model_id AND v2.current_stage = v.current_stage)`, ids);
    const names = new Map(rows.map((r) => [Number(r.model_id), String(r.name)]));
    const latest = new Map<number, ModelVersion[]>();
    for (const v of await this.loadVersions(latestRows, names, ex)) {
      const id = Number(latestRows.find((r) => String(r.version) === v.version && names.get(Number(r.model_id)) === v.name)!.model_id);
      latest.set(id, [...(latest.get(id) ?? []), v]);
    }
    return rows.map((r) => {
      const id = Number(r.model_id);
      const m: RegisteredModel = {
        name: String(r.name), creationTimestamp: num(r.creation_timestamp), lastUpdatedTimestamp: num(r.last_updated_timestamp),
        tags: tags.get(id) ?? {}, aliases: aliases.get(id) ?? {},
        latestVersions: (latest.get(id) ?? []).sort((a, b) => Number(a.version) - Number(b.version)),
      };
      const user = optStr(r.user_id);
      const desc = optStr(r.description);
      if (user !== undefined) m.userId = user;
      if (desc !== undefined) m.description = desc;
      return m;
    });
  }

  private async loadVersions(rows: Row[], names?: Map<number, string>, ex: SqlExecutor = this.db): Promise<ModelVersion[]> {
    if (!rows.length) return [];
    const modelIds = [...new Set(rows.map((r) => Number(r.model_id)))];
    const inList = modelIds.map(() => '?').join(',');
    const nameMap = names ?? new Map((await ex.query(`SELECT model_id, name FROM registered_models WHERE model_id IN (${inList})`, modelIds)).map((r) => [Number(r.model_id), String(r.name)]));
    const tagRows = await ex.query(`SELECT * FROM model_version_tags WHERE model_id IN (${inList})`, modelIds);
    const aliasRows = await ex.query(`SELECT * FROM model_aliases WHERE model_id IN (${inList}) ORDER BY alias`, modelIds);
    return rows.map((r) => {
      const id = Number(r.model_id);
      const version = Number(r.version);
      const v: ModelVersion = {
        name: nameMap.get(id)!, version: String(version), creationTimestamp: num(r.creation_timestamp),
        lastUpdatedTimestamp: num(r.last_updated_timestamp), currentStage: r.current_stage as Stage, source: String(r.source),
        status: r.status as ModelVersion['status'],
        tags: Object.fromEntries(tagRows.filter((t) => Number(t.model_id) === id && Number(t.version) === version).map((t) => [String(t.key), String(t.value)])),
        aliases: aliasRows.filter((a) => Number(a.model_id) === id && Number(a.version) === version).map((a) => String(a.alias)),
      };
      for (const [field, col] of [['userId', 'user_id'], ['description', 'description'], ['runId', 'run_id'], ['runLink', 'run_link'], ['statusMessage', 'status_message']] as const) {
        const s = optStr(r[col]);
        if (s !== undefined) v[field] = s;
      }
      return v;
    });
  }

  async createRegisteredModel(input: { name: string; description?: string; tags?: Tags }, who: Actor): Promise<RegisteredModel> {
    const name = checkName('Registered model', input.name);
    for (const [k, v] of Object.entries(input.tags ?? {})) { checkKey('tag', k); checkValueSize('Tag', k, v, LIMITS.runTagValueBytes); }
    return this.db.transaction(async (tx) => {
      if ((await tx.query('SELECT 1 FROM registered_models WHERE name = ?', [name])).length) throw new TrellisError('TRELLIS_MODEL_EXISTS', { name });
      const now = this.clock.now();
      const [row] = await tx.query<{ id: number }>(
        'INSERT INTO registered_models (name, creation_timestamp, last_updated_timestamp, user_id, description) VALUES (?,?,?,?,?) RETURNING model_id AS id',
        [name, now, now, who.actor, input.description ?? null],
      );
      await tx.runMany('INSERT INTO registered_model_tags (model_id, key, value) VALUES (?,?,?)', Object.entries(input.tags ?? {}).map(([k, v]) => [row!.id, k, v]));
      await this.audit(tx, who, 'create_registered_model', 'registered_model', name, null, { name, description: input.description ?? null, tags: input.tags ?? {} });
      return (await this.loadModels(await tx.query('SELECT * FROM registered_models WHERE model_id = ?', [row!.id]), tx))[0]!;
    });
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    return (await this.loadModels([await this.modelRow(this.db, name)]))[0]!;
  }

  async searchRegisteredModels(q: SearchQuery): Promise<Page<RegisteredModel>> {
    const max = checkMaxResults(q.maxResults, 100, 1000);
    const offset = decodePageToken(q.pageToken);
    const f = simpleFilterSql(this.db.dialect, q.filter ?? [], MODEL_COLUMNS, (a) => `registered_model_tags ${a} WHERE ${a}.model_id = m.model_id`);
    const order = simpleOrderSql(q.orderBy ?? [], MODEL_COLUMNS, 'm.name ASC');
    const rows = await this.db.query(`SELECT m.* FROM registered_models m ${f.where.length ? `WHERE ${f.where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ? OFFSET ?`, [...f.params, max + 1, offset]);
    return this.page(await this.loadModels(rows.slice(0, max)), rows.length > max, offset + max);
  }

  async renameRegisteredModel(name: string, newName: string, who: Actor): Promise<RegisteredModel> {
    const target = checkName('Registered model', newName);
    return this.db.transaction(async (tx) => {
      const row = await this.modelRow(tx, name);
      if (name !== target) {
        if ((await tx.query('SELECT 1 FROM registered_models WHERE name = ?', [target])).length) throw new TrellisError('TRELLIS_MODEL_EXISTS', { name: target });
        await tx.run('UPDATE registered_models SET name = ?, last_updated_timestamp = ? WHERE model_id = ?', [target, this.clock.now(), row.model_id as number]);
        await this.audit(tx, who, 'rename_registered_model', 'registered_model', name, { name }, { name: target });
      }
      return (await this.loadModels(await tx.query('SELECT * FROM registered_models WHERE model_id = ?', [row.model_id as number]), tx))[0]!;
    });
  }

  async updateRegisteredModel(name: string, description: string, who: Actor): Promise<RegisteredModel> {
    return this.db.transaction(async (tx) => {
      const row = await this.modelRow(tx, name);
      await tx.run('UPDATE registered_models SET description = ?, last_updated_timestamp = ? WHERE model_id = ?', [description ?? null, this.clock.now(), row.model_id as number]);
      await this.audit(tx, who, 'update_registered_model', 'registered_model', name, { description: row.description ?? null }, { description: description ?? null });
      return (await this.loadModels(await tx.query('SELECT * FROM registered_models WHERE model_id = ?', [row.model_id as number]), tx))[0]!;
    });
  }

  async deleteRegisteredModel(name: string, who: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const row = await this.modelRow(tx, name);
      const id = row.model_id as number;
      const versions = await tx.query('SELECT version, current_stage, source FROM model_versions WHERE model_id = ? ORDER BY version', [id]);
      const aliases = await tx.query('SELECT alias, version FROM model_aliases WHERE model_id = ?', [id]);
      for (const t of ['model_aliases', 'model_version_tags', 'model_versions', 'registered_model_tags']) {
        await tx.run(`DELETE FROM ${t} WHERE model_id = ?`, [id]);
      }
      await tx.run('DELETE FROM registered_models WHERE model_id = ?', [id]);
      await this.audit(tx, who, 'delete_registered_model', 'registered_model', name, {
        versions: versions.map((v) => ({ version: String(v.version), stage: v.current_stage, source: v.source })),
        aliases: Object.fromEntries(aliases.map((a) => [String(a.alias), String(a.version)])),
      }, null);
    });
  }

  async setRegisteredModelTag(name: string, key: string, value: string, who: Actor): Promise<void> {
    checkKey('tag', key);
    checkValueSize('Tag', key, value, LIMITS.runTagValueBytes);
    await this.db.transaction(async (tx) => {
      const row = await this.modelRow(tx, name);
      const old = await tx.query('SELECT value FROM registered_model_tags WHERE model_id = ? AND key = ?', [row.model_id as number, key]);
      await tx.run('INSERT INTO registered_model_tags (model_id, key, value) VALUES (?,?,?) ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value', [row.model_id as number, key, value]);
      await this.audit(tx, who, 'set_registered_model_tag', 'registered_model', name, old[0] ? { [key]: old[0].value } : null, { [key]: value });
    });
  }

  async deleteRegisteredModelTag(name: string, key: string, who: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const row = await this.modelRow(tx, name);
      const old = await tx.query('SELECT value FROM registered_model_tags WHERE model_id = ? AND key = ?', [row.model_id as number, key]);
      if (!old[0]) throw new TrellisError('TRELLIS_TAG_NOT_FOUND', { key, entity: `registered model ${name}` });
      await tx.run('DELETE FROM registered_model_tags WHERE model_id = ? AND key = ?', [row.model_id as number, key]);
      await this.audit(tx, who, 'delete_registered_model_tag', 'registered_model', name, { [key]: old[0].value }, null);
    });
  }

  async getLatestVersions(name: string, stages?: string[]): Promise<ModelVersion[]> {
    const model = await this.getRegisteredModel(name);
    if (!stages || stages.length === 0) return model.latestVersions;
    const wanted = new Set(stages.map(canonicalStage));
    return model.latestVersions.filter((v) => wanted.has(v.currentStage));
  }

  // ------------------------------------------------------------------ model versions

  private async versionRow(ex: SqlExecutor, name: string, version: string): Promise<{ model: Row; row: Row }> {
    const model = await this.modelRow(ex, name);
    const v = parseVersion(version);
    const rows = await ex.query('SELECT * FROM model_versions WHERE model_id = ? AND version = ?', [model.model_id as number, v]);
    if (!rows[0]) throw new TrellisError('TRELLIS_MODEL_VERSION_NOT_FOUND', { name, version });
    return { model, row: rows[0] };
  }

  private async versionOf(ex: SqlExecutor, modelId: number, version: number): Promise<ModelVersion> {
    return (await this.loadVersions(await ex.query('SELECT * FROM model_versions WHERE model_id = ? AND version = ?', [modelId, version]), undefined, ex))[0]!;
  }

  async createModelVersion(input: CreateModelVersionInput, who: Actor): Promise<ModelVersion> {
    if (!input.source) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'source' });
    for (const [k, v] of Object.entries(input.tags ?? {})) { checkKey('tag', k); checkValueSize('Tag', k, v, LIMITS.runTagValueBytes); }
    return this.db.transaction(async (tx) => {
      const model = await this.modelRow(tx, input.name);
      const id = model.model_id as number;
      if (input.runId) await this.runRow(tx, input.runId);
      const version = Number(model.next_version);
      const now = this.clock.now();
      await tx.run(
        "INSERT INTO model_versions (model_id, version, creation_timestamp, last_updated_timestamp, user_id, current_stage, description, source, run_id, run_link, status) VALUES (?,?,?,?,?,'None',?,?,?,?,'READY')",
        [id, version, now, now, who.actor, input.description ?? null, input.source, input.runId ?? null, input.runLink ?? null],
      );
      await tx.run('UPDATE registered_models SET next_version = ?, last_updated_timestamp = ? WHERE model_id = ?', [version + 1, now, id]);
      await tx.runMany('INSERT INTO model_version_tags (model_id, version, key, value) VALUES (?,?,?,?)', Object.entries(input.tags ?? {}).map(([k, v]) => [id, version, k, v]));
      await this.audit(tx, who, 'create_model_version', 'model_version', `${input.name}/${version}`, null, {
        name: input.name, version: String(version), source: input.source, runId: input.runId ?? null, tags: input.tags ?? {},
      });
      return this.versionOf(tx, id, version);
    });
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    const { model, row } = await this.versionRow(this.db, name, version);
    return (await this.loadVersions([row], new Map([[Number(model.model_id), name]])))[0]!;
  }

  async updateModelVersion(name: string, version: string, description: string, who: Actor): Promise<ModelVersion> {
    return this.db.transaction(async (tx) => {
      const { model, row } = await this.versionRow(tx, name, version);
      await tx.run('UPDATE model_versions SET description = ?, last_updated_timestamp = ? WHERE model_id = ? AND version = ?', [description ?? null, this.clock.now(), model.model_id as number, row.version as number]);
      await this.audit(tx, who, 'update_model_version', 'model_version', `${name}/${row.version}`, { description: row.description ?? null }, { description: description ?? null });
      return this.versionOf(tx, model.model_id as number, Number(row.version));
    });
  }

  async deleteModelVersion(name: string, version: string, who: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const { model, row } = await this.versionRow(tx, name, version);
      const id = model.model_id as number;
      const v = Number(row.version);
      const aliases = await tx.query('SELECT alias FROM model_aliases WHERE model_id = ? AND version = ?', [id, v]);
      await tx.run('DELETE FROM model_aliases WHERE model_id = ? AND version = ?', [id, v]);
      await tx.run('DELETE FROM model_version_tags WHERE model_id = ? AND version = ?', [id, v]);
      await tx.run('DELETE FROM model_versions WHERE model_id = ? AND version = ?', [id, v]);
      await this.audit(tx, who, 'delete_model_version', 'model_version', `${name}/${v}`,
        { stage: row.current_stage, source: row.source, aliases: aliases.map((a) => String(a.alias)) }, null);
      for (const a of aliases) {
        await this.audit(tx, who, 'delete_alias', 'registered_model', name, { alias: String(a.alias), version: String(v) }, { alias: String(a.alias), version: null });
      }
    });
  }

  async searchModelVersions(q: SearchQuery): Promise<Page<ModelVersion>> {
    const max = checkMaxResults(q.maxResults, 10000, 200000);
    const offset = decodePageToken(q.pageToken);
    const f = simpleFilterSql(this.db.dialect, q.filter ?? [], VERSION_COLUMNS, (a) => `model_version_tags ${a} WHERE ${a}.model_id = v.model_id AND ${a}.version = v.version`);
    const order = simpleOrderSql(q.orderBy ?? [{ kind: 'attribute', key: 'last_updated_timestamp', ascending: false }], VERSION_COLUMNS, 'm.name ASC, v.version DESC');
    const rows = await this.db.query(
      `SELECT v.* FROM model_versions v JOIN registered_models m ON m.model_id = v.model_id ${f.where.length ? `WHERE ${f.where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ? OFFSET ?`,
      [...f.params, max + 1, offset],
    );
    return this.page(await this.loadVersions(rows.slice(0, max)), rows.length > max, offset + max);
  }

  async transitionStage(name: string, version: string, stage: Stage, archiveExisting: boolean, who: Actor): Promise<ModelVersion> {
    const target = canonicalStage(stage);
    return this.db.transaction(async (tx) => {
      const { model, row } = await this.versionRow(tx, name, version);
      const id = model.model_id as number;
      const v = Number(row.version);
      const now = this.clock.now();
      if (archiveExisting && (target === 'Staging' || target === 'Production')) {
        const others = await tx.query('SELECT version FROM model_versions WHERE model_id = ? AND current_stage = ? AND version <> ? ORDER BY version', [id, target, v]);
        for (const o of others) {
          await tx.run("UPDATE model_versions SET current_stage = 'Archived', last_updated_timestamp = ? WHERE model_id = ? AND version = ?", [now, id, o.version as number]);
          await this.audit(tx, who, 'transition_stage', 'model_version', `${name}/${o.version}`, { stage: target }, { stage: 'Archived', reason: `archive_existing_versions when version ${v} moved to ${target}` });
        }
      }
      await tx.run('UPDATE model_versions SET current_stage = ?, last_updated_timestamp = ? WHERE model_id = ? AND version = ?', [target, now, id, v]);
      await tx.run('UPDATE registered_models SET last_updated_timestamp = ? WHERE model_id = ?', [now, id]);
      await this.audit(tx, who, 'transition_stage', 'model_version', `${name}/${v}`, { stage: row.current_stage }, { stage: target });
      return this.versionOf(tx, id, v);
    });
  }

  async setModelVersionTag(name: string, version: string, key: string, value: string, who: Actor): Promise<void> {
    checkKey('tag', key);
    checkValueSize('Tag', key, value, LIMITS.runTagValueBytes);
    await this.db.transaction(async (tx) => {
      const { model, row } = await this.versionRow(tx, name, version);
      const args = [model.model_id as number, row.version as number, key];
      const old = await tx.query('SELECT value FROM model_version_tags WHERE model_id = ? AND version = ? AND key = ?', args);
      await tx.run('INSERT INTO model_version_tags (model_id, version, key, value) VALUES (?,?,?,?) ON CONFLICT (model_id, version, key) DO UPDATE SET value = excluded.value', [...args, value]);
      await this.audit(tx, who, 'set_model_version_tag', 'model_version', `${name}/${row.version}`, old[0] ? { [key]: old[0].value } : null, { [key]: value });
    });
  }

  async deleteModelVersionTag(name: string, version: string, key: string, who: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const { model, row } = await this.versionRow(tx, name, version);
      const args = [model.model_id as number, row.version as number, key];
      const old = await tx.query('SELECT value FROM model_version_tags WHERE model_id = ? AND version = ? AND key = ?', args);
      if (!old[0]) throw new TrellisError('TRELLIS_TAG_NOT_FOUND', { key, entity: `model version ${name}/${version}` });
      await tx.run('DELETE FROM model_version_tags WHERE model_id = ? AND version = ? AND key = ?', args);
      await this.audit(tx, who, 'delete_model_version_tag', 'model_version', `${name}/${row.version}`, { [key]: old[0].value }, null);
    });
  }

  async setAlias(name: string, alias: string, version: string, who: Actor): Promise<void> {
    checkAlias(alias);
    await this.db.transaction(async (tx) => {
      const { model, row } = await this.versionRow(tx, name, version);
      const id = model.model_id as number;
      const v = Number(row.version);
      const old = await tx.query('SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?', [id, alias]);
      const oldVersion = old[0] ? String(old[0].version) : null;
      if (oldVersion === String(v)) return;
      await tx.run('INSERT INTO model_aliases (model_id, alias, version) VALUES (?,?,?) ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version', [id, alias, v]);
      await this.audit(tx, who, 'set_alias', 'registered_model', name, { alias, version: oldVersion }, { alias, version: String(v) });
    });
  }

  async deleteAlias(name: string, alias: string, who: Actor): Promise<void> {
    checkAlias(alias);
    await this.db.transaction(async (tx) => {
      const model = await this.modelRow(tx, name);
      const old = await tx.query('SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?', [model.model_id as number, alias]);
      if (!old[0]) return;
      await tx.run('DELETE FROM model_aliases WHERE model_id = ? AND alias = ?', [model.model_id as number, alias]);
      await this.audit(tx, who, 'delete_alias', 'registered_model', name, { alias, version: String(old[0].version) }, { alias, version: null });
    });
  }

  async getVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    const model = await this.modelRow(this.db, name);
    const rows = await this.db.query('SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?', [model.model_id as number, alias]);
    if (!rows[0]) throw new TrellisError('TRELLIS_ALIAS_NOT_FOUND', { alias, name });
    return this.getModelVersion(name, String(rows[0].version));
  }

  // ------------------------------------------------------------------ datasets

  private async datasetRowOf(ex: SqlExecutor, name: string): Promise<Row> {
    if (typeof name !== 'string' || !name) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'name' });
    const rows = await ex.query('SELECT * FROM datasets WHERE name = ?', [name]);
    if (!rows[0]) throw new TrellisError('TRELLIS_DATASET_NOT_FOUND', { name });
    return rows[0];
  }

  async createDatasetVersion(input: CreateDatasetVersionInput, who: Actor): Promise<{ version: DatasetVersion; created: boolean }> {
    const name = checkName('Dataset', input.name);
    if (!/^[A-Za-z0-9][\w.-]*$/.test(name)) throw invalid(`Invalid dataset name '${name}': use letters, digits, '_', '-' and '.', starting with a letter or digit`);
    if (!/^[0-9a-f]{64}$/.test(input.sha256)) throw invalid(`Invalid sha256 '${input.sha256}' for dataset '${name}'`);
    return this.db.transaction(async (tx) => {
      const now = this.clock.now();
      let ds = (await tx.query('SELECT * FROM datasets WHERE name = ?', [name]))[0];
      if (!ds) {
        [ds] = await tx.query(
          'INSERT INTO datasets (name, creation_time, last_update_time, description, subject_column) VALUES (?,?,?,?,?) RETURNING *',
          [name, now, now, input.description ?? null, input.subjectColumn ?? null],
        );
        await this.audit(tx, who, 'create_dataset', 'dataset', name, null, { name, subjectColumn: input.subjectColumn ?? null });
      } else if ((input.subjectColumn ?? null) !== (ds.subject_column ?? null) && input.subjectColumn !== undefined) {
        throw invalid(`Dataset '${name}' declares subject column '${ds.subject_column ?? '(none)'}'; a version cannot declare '${input.subjectColumn}'`);
      }
      const id = Number(ds!.dataset_id);
      const same = await tx.query('SELECT * FROM dataset_versions WHERE dataset_id = ? AND sha256 = ?', [id, input.sha256]);
      if (same[0]) return { version: datasetVersionRow(name, same[0]), created: false };
      const version = Number(ds!.next_version);
      await tx.run(
        `INSERT INTO dataset_versions (dataset_id, version, sha256, format, row_count, column_count, size_bytes, source, artifact_path, created_by, creation_time, schema_json, profile_json, lineage_json)
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
        [id, version, input.sha256, input.format, input.rows, input.columns, input.sizeBytes, input.source, input.artifactPath, who.actor, now,
          JSON.stringify(input.schema), JSON.stringify(input.profile), input.lineage ? JSON.stringify(input.lineage) : null],
      );
      await tx.run('UPDATE datasets SET next_version = ?, last_update_time = ? WHERE dataset_id = ?', [version + 1, now, id]);
      if (input.subjects?.length) {
        await tx.runMany('INSERT INTO dataset_subjects (subject, dataset_id, version) VALUES (?,?,?) ON CONFLICT DO NOTHING', input.subjects.map((sub) => [sub, id, version]));
      }
      await this.audit(tx, who, 'create_dataset_version', 'dataset_version', `${name}@${version}`, null, {
        name, version, sha256: input.sha256, rows: input.rows, columns: input.columns, source: input.source, subjects: input.subjects?.length ?? 0,
      });
      const row = (await tx.query('SELECT * FROM dataset_versions WHERE dataset_id = ? AND version = ?', [id, version]))[0]!;
      return { version: datasetVersionRow(name, row), created: true };
    });
  }

  async getDataset(name: string): Promise<Dataset> {
    return datasetRow(await this.datasetRowOf(this.db, name));
  }

  async listDatasets(): Promise<Dataset[]> {
    return (await this.db.query('SELECT * FROM datasets ORDER BY name')).map(datasetRow);
  }

  async listDatasetVersions(name: string): Promise<DatasetVersion[]> {
    const ds = await this.datasetRowOf(this.db, name);
    return (await this.db.query('SELECT * FROM dataset_versions WHERE dataset_id = ? ORDER BY version', [ds.dataset_id as number])).map((r) => datasetVersionRow(name, r));
  }

  async getDatasetVersion(name: string, version?: number): Promise<DatasetVersion> {
    const ds = await this.datasetRowOf(this.db, name);
    if (version !== undefined && (!Number.isInteger(version) || version < 1)) throw invalid(`Invalid dataset version '${version}': must be a positive integer`);
    const rows = version === undefined
      ? await this.db.query('SELECT * FROM dataset_versions WHERE dataset_id = ? ORDER BY version DESC LIMIT 1', [ds.dataset_id as number])
      : await this.db.query('SELECT * FROM dataset_versions WHERE dataset_id = ? AND version = ?', [ds.dataset_id as number, version]);
    if (!rows[0]) throw new TrellisError('TRELLIS_DATASET_VERSION_NOT_FOUND', { name, version: version ?? 'latest' });
    return datasetVersionRow(name, rows[0]);
  }

  async findSubject(subject: string): Promise<{ name: string; version: number }[]> {
    const rows = await this.db.query('SELECT d.name, s.version FROM dataset_subjects s JOIN datasets d ON d.dataset_id = s.dataset_id WHERE s.subject = ? ORDER BY d.name, s.version', [subject]);
    return rows.map((r) => ({ name: String(r.name), version: num(r.version) }));
  }

  async putDatasetSchema(name: string, schema: unknown, pin: boolean, who: Actor): Promise<DatasetSchemaDoc> {
    if (schema === null || typeof schema !== 'object') throw invalid('A dataset schema must be a JSON object');
    return this.db.transaction(async (tx) => {
      const ds = await this.datasetRowOf(tx, name);
      const id = ds.dataset_id as number;
      const v = Number(ds.next_schema_version);
      const now = this.clock.now();
      if (pin) await tx.run('UPDATE dataset_schemas SET pinned = 0 WHERE dataset_id = ?', [id]);
      await tx.run('INSERT INTO dataset_schemas (dataset_id, schema_version, schema_json, pinned, created_by, creation_time) VALUES (?,?,?,?,?,?)', [id, v, JSON.stringify(schema), pin ? 1 : 0, who.actor, now]);
      await tx.run('UPDATE datasets SET next_schema_version = ?, last_update_time = ? WHERE dataset_id = ?', [v + 1, now, id]);
      await this.audit(tx, who, pin ? 'pin_dataset_schema' : 'put_dataset_schema', 'dataset', name, null, { schemaVersion: v, pinned: pin, sha256: sha256Hex(canonicalJson(schema)) });
      return { name, schemaVersion: v, schema, pinned: pin, createdBy: who.actor, creationTime: now };
    });
  }

  async getDatasetSchema(name: string, schemaVersion?: number): Promise<DatasetSchemaDoc | undefined> {
    const ds = await this.datasetRowOf(this.db, name);
    const rows = schemaVersion === undefined
      ? await this.db.query('SELECT * FROM dataset_schemas WHERE dataset_id = ? AND pinned = 1', [ds.dataset_id as number])
      : await this.db.query('SELECT * FROM dataset_schemas WHERE dataset_id = ? AND schema_version = ?', [ds.dataset_id as number, schemaVersion]);
    const r = rows[0];
    if (!r) return undefined;
    return { name, schemaVersion: num(r.schema_version), schema: JSON.parse(String(r.schema_json)), pinned: Number(r.pinned) === 1, createdBy: String(r.created_by), creationTime: num(r.creation_time) };
  }

  // ------------------------------------------------------------------ pipelines and triggers (sql-pipeline-records.ts)

  createPipelineVersion(input: CreatePipelineVersionInput, who: Actor): Promise<{ version: PipelineVersion; created: boolean }> {
    return this.pipelines.createPipelineVersion(input, who);
  }
  getPipelineVersion(name: string, version?: number): Promise<PipelineVersion> {
    return this.pipelines.getPipelineVersion(name, version);
  }
  listPipelineVersions(name: string): Promise<PipelineVersion[]> {
    return this.pipelines.listPipelineVersions(name);
  }
  listPipelines(): Promise<PipelineVersion[]> {
    return this.pipelines.listPipelines();
  }
  createTrigger(input: CreateTriggerInput, who: Actor): Promise<{ trigger: TriggerRecord; created: boolean }> {
    return this.pipelines.createTrigger(input, who);
  }
  getTrigger(id: number): Promise<TriggerRecord> {
    return this.pipelines.getTrigger(id);
  }
  claimTriggers(q: ClaimTriggersQuery, who: Actor): Promise<TriggerRecord[]> {
    return this.pipelines.claimTriggers(q, who);
  }
  updateTrigger(id: number, patch: TriggerPatch, who: Actor): Promise<TriggerRecord | undefined> {
    return this.pipelines.updateTrigger(id, patch, who);
  }
  touchTriggers(claimer: string): Promise<number> {
    return this.pipelines.touchTriggers(claimer);
  }
  listTriggers(q?: ListTriggersQuery): Promise<TriggerRecord[]> {
    return this.pipelines.listTriggers(q);
  }
}

function datasetRow(r: Row): Dataset {
  const d: Dataset = { name: String(r.name), creationTime: num(r.creation_time), lastUpdateTime: num(r.last_update_time) };
  const description = optStr(r.description);
  const subject = optStr(r.subject_column);
  if (description !== undefined) d.description = description;
  if (subject !== undefined) d.subjectColumn = subject;
  if (Number(r.next_version) > 1) d.latestVersion = Number(r.next_version) - 1;
  return d;
}

function datasetVersionRow(name: string, r: Row): DatasetVersion {
  const v: DatasetVersion = {
    name, version: num(r.version), sha256: String(r.sha256), format: String(r.format), rows: num(r.row_count),
    columns: num(r.column_count), sizeBytes: num(r.size_bytes), source: String(r.source), artifactPath: String(r.artifact_path),
    createdBy: String(r.created_by), creationTime: num(r.creation_time),
    schema: JSON.parse(String(r.schema_json)), profile: JSON.parse(String(r.profile_json)),
  };
  if (r.lineage_json != null) v.lineage = JSON.parse(String(r.lineage_json)) as Record<string, string>;
  return v;
}

const EXPERIMENT_COLUMNS: Record<string, string> = {
  name: 'e.name', experiment_id: 'e.experiment_id', creation_time: 'e.creation_time', last_update_time: 'e.last_update_time',
};
const MODEL_COLUMNS: Record<string, string> = {
  name: 'm.name', creation_timestamp: 'm.creation_timestamp', last_updated_timestamp: 'm.last_updated_timestamp',
};
const VERSION_COLUMNS: Record<string, string> = {
  name: 'm.name', version_number: 'v.version', run_id: 'v.run_id', source_path: 'v.source',
  creation_timestamp: 'v.creation_timestamp', last_updated_timestamp: 'v.last_updated_timestamp',
};

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

function checkAlias(alias: string): void {
  if (typeof alias !== 'string' || !alias) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'alias' });
  if (!/^[\w-]{1,255}$/.test(alias)) throw invalid(`Invalid alias name '${alias}': use letters, digits, '_' and '-'`);
  if (/^v\d+$/i.test(alias) || alias.toLowerCase() === 'latest') {
    throw invalid(`Invalid alias name '${alias}': 'latest' and 'v<number>' are reserved`);
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

function groupKv(rows: Row[]): Map<number, Record<string, string>> {
  const out = new Map<number, Record<string, string>>();
  for (const r of rows) {
    const m = out.get(Number(r.id)) ?? {};
    m[String(r.key)] = String(r.value);
    out.set(Number(r.id), m);
  }
  return out;
}
