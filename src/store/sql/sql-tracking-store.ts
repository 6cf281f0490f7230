/**
 * {@link TrackingStore} in SQL: experiments, runs and what runs log. Each write is one
 * {@link UnitOfWork.write} with its audit event. `runRow` is exported for the registry, which
 * checks a version's run inside its own transaction.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import { newRunId, randomRunName } from '../../core/ids.js';
import { LIMITS, checkKey, checkListLength, checkMaxResults, checkName, checkValueSize, excerpt } from '../limits.js';
import type { Actor, Page, SearchQuery, Tags, ViewType } from '../ports/common.js';
import {
  LOG_MODEL_HISTORY_TAG, decodeRun, runArtifactUri,
  type ArtifactChange, type CreateRunInput, type DatasetInput, type EncodedRun, type Experiment, type LogBatchInput, type LoggedModel, type Metric, type RecordRunInput, type Run,
  type RunInfo, type RunOutcome, type RunStatus, type TrackingStore,
} from '../ports/tracking.js';
import { encodedData, insertRunData, refreshRunData, type RunDataPart } from './run-data.js';
import { jsonCol, nameTakenFolded, num, optNum, optStr, page, placeholders } from './rows.js';
import type { Row, SqlDialect, SqlExecutor, SqlValue } from './sql-driver.js';
import { pageTokens } from './page-tokens.js';
import { decodePageToken, planRunSearch, runSearchSetCandidates, simpleFilterSql, simpleOrderSql } from './sql-search.js';
import { PLATFORM, type UnitOfWork } from './unit-of-work.js';

const RUN_STATUSES: readonly RunStatus[] = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'];

/**
 * A filter that matches fewer runs than this many per row a search wants is read once as a set
 * (see `runSearchSetCandidates`): building the set then costs less than the index probes the walk
 * would spend on the runs the filter refuses.
 */
const SET_MATCHES_PER_ROW = 20;
/**
 * And never more than this many: PostgreSQL hashes a subplan only when its estimated size fits in
 * hash memory (8 MB by default, about 250,000 keys); past that it would run the subquery again for
 * every row of the walk.
 */
const SET_MATCHES_MAX = 50_000;

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
  if (!rows[0]) throw new TrellisError('TRELLIS_RUN_NOT_FOUND', { id: excerpt(runId) });
  return rows[0];
}

async function activeRunRow(ex: SqlExecutor, runId: string): Promise<Row> {
  const row = await runRow(ex, runId);
  if (row.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_RUN_NOT_ACTIVE', { id: excerpt(runId), state: String(row.lifecycle_stage) });
  return row;
}

/**
 * A run as its writes name it: the public id for errors and audit events, the integer key for the
 * rows it logs (metrics, params, tags and inputs refer to their run by `run_key`).
 */
interface RunRef {
  id: string;
  key: number;
}

const refOf = (row: Row): RunRef => ({ id: String(row.run_uuid), key: num(row.run_key) });

/** Runs by key with what they logged, as the JSON texts `run_data` keeps ({@link EncodedRun}). */
const RUN_COLUMNS = 'r.run_key, r.run_uuid, r.name, r.experiment_id, r.user_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage';

function encodedRunsSql(keys: number): string {
  return `SELECT ${RUN_COLUMNS}, d.metrics_json, d.params_json, d.tags_json FROM runs r JOIN run_data d ON d.run_key = r.run_key WHERE r.run_key IN (${placeholders(keys)})`;
}

/**
 * A page of one search part with its runs' data, in one statement. The part selects the run's
 * columns itself (`select: RUN_COLUMNS`; a join back to `runs` after the LIMIT was planned as a hash
 * join over the whole table); its rows are numbered in the order the part yields them (`n`: the join
 * to the data may reorder them, the caller sorts by it), then joined to their data, with whether the
 * run has dataset inputs (rare: read afterwards, only for the runs that have them).
 * Binds: the part's, then LIMIT and OFFSET.
 */
function pagedRunsSql(part: string): string {
  return `SELECT s.*, d.metrics_json, d.params_json, d.tags_json, EXISTS (SELECT 1 FROM run_inputs i WHERE i.run_key = s.run_key) AS has_inputs
    FROM (SELECT q.*, row_number() OVER () AS n FROM (${part} LIMIT ? OFFSET ?) q) s
    JOIN run_data d ON d.run_key = s.run_key`;
}

/** The dataset inputs of the runs `keys`, in chunks under every driver's bound-parameter limit (read at once where the driver can). */
async function inputRows(ex: SqlExecutor, keys: readonly number[]): Promise<Row[]> {
  const chunks: number[][] = [];
  for (let i = 0; i < keys.length; i += 500) chunks.push(keys.slice(i, i + 500));
  const got = await Promise.all(chunks.map((c) => ex.query(`SELECT * FROM run_inputs WHERE run_key IN (${placeholders(c.length)}) ORDER BY run_key, name, digest`, c)));
  return got.flat();
}

function encodedRun(r: Row): EncodedRun {
  return { info: runInfo(r), data: encodedData(r), inputs: { datasetInputs: [] } };
}

function expId(id: string): number {
  const n = Number(id);
  if (typeof id !== 'string' && typeof id !== 'number') throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'experiment_id' });
  if (String(id).trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new TrellisError('TRELLIS_EXPERIMENT_NOT_FOUND', { id: excerpt(String(id)) });
  }
  return n;
}

/**
 * Experiment names are unique regardless of case (the check runs in the write transaction, and
 * writers are serialised): `name` is refused when another experiment, `except` aside, holds it in
 * any case. Deleted experiments keep their names, as in MLflow.
 */
async function refuseTakenExperimentName(tx: SqlExecutor, name: string, except?: number): Promise<void> {
  const taken = await nameTakenFolded(tx, 'experiments', 'experiment_id', name, except);
  if (taken === undefined) return;
  if (taken === name) throw new TrellisError('TRELLIS_EXPERIMENT_EXISTS', { name });
  throw new TrellisError('TRELLIS_EXPERIMENT_EXISTS', { name }, {
    message: `Experiment(name=${name}) already exists as '${taken}': experiment names are unique regardless of case.`,
  });
}

async function experimentRow(ex: SqlExecutor, id: string): Promise<Row> {
  const rows = await ex.query('SELECT * FROM experiments WHERE experiment_id = ?', [expId(id)]);
  if (!rows[0]) throw new TrellisError('TRELLIS_EXPERIMENT_NOT_FOUND', { id: excerpt(id) });
  return rows[0];
}

export class SqlTrackingStore implements TrackingStore {
  private readonly artifactRoot: string;

  constructor(private readonly uow: UnitOfWork, opts: SqlTrackingStoreOptions = {}) {
    this.artifactRoot = (opts.defaultArtifactRoot ?? 'mlflow-artifacts:').replace(/\/+$/, '');
    // The page-token key is settled when the store opens: a bad TRELLIS_PAGE_TOKEN_KEY stops the start, not a search.
    pageTokens();
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
    const name = checkName('Experiment', input.name, { slash: true });
    const tags = Object.entries(input.tags ?? {});
    for (const [k, v] of tags) { checkKey('tag', k); checkValueSize('Experiment tag', k, v, LIMITS.experimentTagValueBytes); }
    return this.uow.write(who, async (tx, audit) => {
      await refuseTakenExperimentName(tx, name);
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
    const byName = (n: string) => this.uow.read.query("SELECT * FROM experiments WHERE name = ? ORDER BY CASE WHEN lifecycle_stage = 'active' THEN 0 ELSE 1 END LIMIT 1", [n]);
    let rows = await byName(name);
    // Then as names are stored (NFC, trimmed), so what was created under a name is found by it;
    // the exact name first, for names stored before they were normalised.
    const stored = typeof name === 'string' && name.length <= 4 * LIMITS.nameLength ? name.normalize('NFC').trim() : name;
    if (!rows[0] && stored !== name && stored) rows = await byName(stored);
    if (!rows[0]) throw new TrellisError('TRELLIS_EXPERIMENT_NAME_NOT_FOUND', { name: excerpt(name) });
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
    const name = checkName('Experiment', newName, { param: 'new_name', slash: true });
    await this.uow.write(who, async (tx, audit) => {
      const row = await experimentRow(tx, id);
      if (row.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_EXPERIMENT_NOT_ACTIVE', { id: excerpt(id), state: String(row.lifecycle_stage) });
      if (row.name === name) return;
      await refuseTakenExperimentName(tx, name, row.experiment_id as number);
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
      if (row.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_EXPERIMENT_NOT_ACTIVE', { id: excerpt(id), state: String(row.lifecycle_stage) });
      const old = await tx.query('SELECT value FROM experiment_tags WHERE experiment_id = ? AND key = ?', [row.experiment_id as number, key]);
      await tx.run('INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?,?,?) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value', [row.experiment_id as number, key, value]);
      await audit('set_experiment_tag', 'experiment', id, old[0] ? { [key]: old[0].value } : null, { [key]: value });
    });
  }

  async deleteExperimentTag(id: string, key: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const row = await experimentRow(tx, id);
      const old = await tx.query('SELECT value FROM experiment_tags WHERE experiment_id = ? AND key = ?', [row.experiment_id as number, key]);
      if (!old[0]) throw new TrellisError('TRELLIS_TAG_NOT_FOUND', { key: excerpt(key), entity: `experiment ${excerpt(id)}` });
      await tx.run('DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?', [row.experiment_id as number, key]);
      await audit('delete_experiment_tag', 'experiment', id, { [key]: old[0].value }, null);
    });
  }

  // ------------------------------------------------------------------ runs

  async createRun(input: CreateRunInput, who: Actor): Promise<Run> {
    const run = checkNewRun(input, this.uow.now(), newRunId(), who);
    await this.uow.write(who, async (tx, audit) => {
      await insertRun(tx, this.uow.dialect, run);
      await audit('create_run', 'run', run.runId, null, { experimentId: run.experimentId, runName: run.runName, userId: run.userId, startTime: run.startTime, tags: run.tags });
    });
    return this.getRun(run.runId);
  }

  /** Runs by key, in the order of `keys`, with what they logged as JSON text. */
  private async loadEncoded(keys: readonly number[], ex: SqlExecutor = this.uow.read): Promise<EncodedRun[]> {
    // Chunks keep the bound-parameter count under every driver's limit; PostgreSQL reads them on
    // separate connections at once (SQLite's driver runs them one after the other).
    const chunks: number[][] = [];
    for (let i = 0; i < keys.length; i += 500) chunks.push(keys.slice(i, i + 500));
    const [rows, inputs] = await Promise.all([Promise.all(chunks.map((c) => ex.query(encodedRunsSql(c.length), c))), inputRows(ex, keys)]);
    const runs = new Map<number, EncodedRun>();
    for (const r of rows.flat()) runs.set(num(r.run_key), encodedRun(r));
    return this.withInputs(keys, runs, inputs);
  }

  /** Runs read with their data by {@link pagedRunsSql}, in page order, with their dataset inputs. */
  private async encodePage(rows: readonly Row[]): Promise<EncodedRun[]> {
    const runs = new Map<number, EncodedRun>();
    const withInputs: number[] = [];
    for (const r of rows) {
      const key = num(r.run_key);
      runs.set(key, encodedRun(r));
      if (r.has_inputs === true || r.has_inputs === 1) withInputs.push(key);
    }
    return this.withInputs(rows.map((r) => num(r.run_key)), runs, withInputs.length ? await inputRows(this.uow.read, withInputs) : []);
  }

  private withInputs(keys: readonly number[], runs: Map<number, EncodedRun>, inputs: readonly Row[]): EncodedRun[] {
    for (const d of inputs) {
      const dataset: DatasetInput['dataset'] = { name: String(d.name), digest: String(d.digest), sourceType: String(d.source_type), source: String(d.source) };
      const schema = optStr(d.schema_json);
      const profile = optStr(d.profile_json);
      if (schema !== undefined) dataset.schema = schema;
      if (profile !== undefined) dataset.profile = profile;
      runs.get(num(d.run_key))?.inputs.datasetInputs.push({ dataset, tags: jsonCol<Tags>(d.tags_json) });
    }
    return keys.map((k) => {
      const run = runs.get(k);
      if (!run) throw new Error(`run key ${k} read as nothing`);
      return run;
    });
  }

  async getRun(runId: string): Promise<Run> {
    return this.runIn(this.uow.read, runId);
  }

  async getRunInfo(runId: string): Promise<RunInfo> {
    return runInfo(await runRow(this.uow.read, runId));
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
      const key = num(row.run_key);
      await tx.run('UPDATE runs SET status = ?, end_time = ?, name = ? WHERE run_key = ?', [after.status as string, after.endTime, after.runName as string, key]);
      if (patch.runName) {
        await tx.run("INSERT INTO tags (run_key, key, value) VALUES (?, 'mlflow.runName', ?) ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value", [key, patch.runName]);
        await refreshRunData(tx, this.uow.dialect, key, new Set(['tags']));
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
    const b = checkBatch(batch);
    await this.uow.write(who, async (tx, audit) => {
      await writeBatch(tx, this.uow.dialect, refOf(await activeRunRow(tx, runId)), b);
      await audit('log_batch', 'run', runId, null, batchAudit(b));
    });
  }

  async deleteRunTag(runId: string, key: string, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      const run = refOf(await activeRunRow(tx, runId));
      const old = await tx.query('SELECT value FROM tags WHERE run_key = ? AND key = ?', [run.key, key]);
      if (!old[0]) throw new TrellisError('TRELLIS_TAG_NOT_FOUND', { key: excerpt(key), entity: `run ${excerpt(runId)}` });
      await tx.run('DELETE FROM tags WHERE run_key = ? AND key = ?', [run.key, key]);
      await refreshRunData(tx, this.uow.dialect, run.key, new Set(['tags']));
      await audit('delete_run_tag', 'run', runId, { [key]: old[0].value }, null);
    });
  }

  async logInputs(runId: string, datasets: DatasetInput[], who: Actor): Promise<void> {
    checkInputs(datasets);
    await this.uow.write(who, async (tx, audit) => {
      await writeInputs(tx, refOf(await activeRunRow(tx, runId)), datasets);
      await audit('log_inputs', 'run', runId, null, { datasets: datasets.map((d) => ({ name: d.dataset.name, digest: d.dataset.digest })) });
    });
  }

  async getMetricHistory(runId: string, key: string, p: { maxResults?: number; pageToken?: string } = {}): Promise<Page<Metric>> {
    const run = refOf(await runRow(this.uow.read, runId));
    if (!key) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'metric_key' });
    const offset = decodePageToken(p.pageToken);
    const max = p.maxResults === undefined ? undefined : checkMaxResults(p.maxResults, 25000, Number.MAX_SAFE_INTEGER);
    const rows = await this.uow.read.query(
      `SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_key = ? AND key = ? ORDER BY step, timestamp, value${max ? ' LIMIT ? OFFSET ?' : ''}`,
      max ? [run.key, key, max + 1, offset] : [run.key, key],
    );
    const items = rows.slice(0, max ?? rows.length).map((m) => ({ key: String(m.key), value: metricValue(m), timestamp: num(m.timestamp), step: num(m.step) }));
    return page(items, max !== undefined && rows.length > max, offset + (max ?? 0));
  }

  async searchRuns(q: SearchQuery & { experimentIds: string[]; viewType?: ViewType }): Promise<Page<Run>> {
    const p = await this.searchRunsEncoded(q);
    return { ...p, items: p.items.map(decodeRun) };
  }

  async searchRunsEncoded(q: SearchQuery & { experimentIds: string[]; viewType?: ViewType }): Promise<Page<EncodedRun>> {
    const max = checkMaxResults(q.maxResults, LIMITS.searchMaxResultsDefault, LIMITS.searchMaxResults);
    const offset = decodePageToken(q.pageToken);
    if (!q.experimentIds.length) return { items: [] };
    checkListLength('experiment_ids', q.experimentIds.length, LIMITS.experimentIds);
    const expIds = q.experimentIds.map((id) => {
      const n = Number(id);
      if (!Number.isInteger(n) || n < 0 || String(id).trim() === '') throw invalid(`Invalid experiment id '${excerpt(id)}' in experiment_ids`);
      return n;
    });
    const filter = q.filter ?? [];
    const orderBy = q.orderBy ?? [];
    // Matches are counted over every experiment: a store of many experiments overcounts and keeps
    // probing, which is the plan that was always used.
    const cap = Math.min(SET_MATCHES_MAX, SET_MATCHES_PER_ROW * (offset + max + 1));
    const sets = new Set<number>();
    for (const c of runSearchSetCandidates(this.uow.dialect, { filter, orderBy })) {
      const [n] = await this.uow.read.query(c.count.text, [...c.count.params, cap]);
      if (num(n?.n) < cap) sets.add(c.index);
    }
    const parts = planRunSearch(this.uow.dialect, { experimentIds: expIds, viewWhere: viewTypeSql('r', q.viewType), filter, orderBy, sets, select: RUN_COLUMNS });
    // Pages run across the parts: skip `offset` rows of their concatenation, take max + 1.
    const rows: Row[] = [];
    let skip = offset;
    for (const [i, part] of parts.entries()) {
      if (rows.length > max) break;
      const got = await this.uow.read.query(pagedRunsSql(part.sql.text), [...part.sql.params, max + 1 - rows.length, skip]);
      rows.push(...got.sort((a, b) => num(a.n) - num(b.n)));
      if (rows.length > max || i === parts.length - 1) break;
      if (got.length > 0) skip = 0;
      else if (skip > 0) {
        const n = Number((await this.uow.read.query<{ n: number }>(part.count.text, part.count.params))[0]?.n ?? 0);
        skip = Math.max(0, skip - n);
      }
    }
    return page(await this.encodePage(rows.slice(0, max)), rows.length > max, offset + max);
  }

  // ------------------------------------------------------------------ runs written at their end

  async completeRun(runId: string, outcome: RunOutcome, who: Actor): Promise<Run> {
    const o = checkOutcome(outcome, this.uow.now());
    return this.uow.write(who, async (tx, audit) => {
      const row = await activeRunRow(tx, runId);
      await writeOutcome(tx, this.uow.dialect, refOf(row), o);
      await audit('complete_run', 'run', runId, { status: row.status, endTime: optNum(row.end_time) ?? null }, outcomeAudit(o));
      return this.runIn(tx, runId);
    });
  }

  async recordRun(input: RecordRunInput, who: Actor): Promise<Run> {
    if (input.runId !== undefined && !/^[0-9a-f]{32}$/.test(input.runId)) throw invalid(`Invalid run id '${input.runId}': a run id is 32 lowercase hex characters`);
    const run = checkNewRun(input, this.uow.now(), input.runId ?? newRunId(), who);
    const o = checkOutcome({ ...input, tags: [] }, this.uow.now());
    return this.uow.write(who, async (tx, audit) => {
      if ((await tx.query('SELECT 1 AS x FROM runs WHERE run_uuid = ?', [run.runId])).length) throw invalid(`Run id '${run.runId}' is already taken`);
      await writeOutcome(tx, this.uow.dialect, await insertRun(tx, this.uow.dialect, run), o);
      await audit('record_run', 'run', run.runId, null, {
        experimentId: run.experimentId, runName: run.runName, userId: run.userId, startTime: run.startTime, tags: run.tags, ...outcomeAudit(o),
      });
      return this.runIn(tx, run.runId);
    });
  }

  async recordArtifactChange(change: ArtifactChange, who: Actor): Promise<void> {
    const what = {
      path: change.path, ...(change.runId !== undefined ? { runId: change.runId } : {}),
      ...(change.sha256 !== undefined ? { sha256: change.sha256 } : {}), ...(change.size !== undefined ? { size: change.size } : {}),
    };
    await this.uow.write(who, async (_tx, audit) => {
      if (change.kind === 'put') await audit('put_artifact', 'artifact', change.path, null, what);
      else await audit('delete_artifact', 'artifact', change.path, what, null);
    });
  }

  async appendLoggedModel(runId: string, model: LoggedModel, who: Actor): Promise<void> {
    await this.uow.write(who, async (tx, audit) => {
      await appendModels(tx, this.uow.dialect, refOf(await activeRunRow(tx, runId)), [model]);
      await audit('log_model', 'run', runId, null, { model: modelAudit(model) });
    });
  }

  /** A run read through `ex`: the store's reader, or the transaction that wrote it. */
  private async runIn(ex: SqlExecutor, runId: string): Promise<Run> {
    const [run] = await this.loadEncoded([num((await runRow(ex, runId)).run_key)], ex);
    if (!run) throw new TrellisError('TRELLIS_RUN_NOT_FOUND', { id: excerpt(runId) });
    return decodeRun(run);
  }
}

interface NewRun {
  runId: string;
  experimentId: string;
  runName: string;
  userId: string;
  startTime: number;
  tags: Tags;
}

function checkNewRun(input: CreateRunInput, now: number, runId: string, who: Actor): NewRun {
  const tags = { ...(input.tags ?? {}) };
  for (const [k, v] of Object.entries(tags)) { checkKey('tag', k); checkValueSize('Tag', k, v, LIMITS.runTagValueBytes); }
  const runName = input.runName || tags['mlflow.runName'] || randomRunName();
  tags['mlflow.runName'] = runName;
  const userId = input.userId || tags['mlflow.user'] || who.actor;
  const startTime = input.startTime ?? now;
  if (!Number.isInteger(startTime) || startTime < 0) throw invalid(`Invalid value ${input.startTime} for parameter 'start_time' supplied.`);
  const experimentId = input.experimentId === undefined || input.experimentId === '' ? '0' : String(input.experimentId);
  return { runId, experimentId, runName, userId, startTime, tags };
}

/** Inserts a RUNNING run into an active experiment. */
async function insertRun(tx: SqlExecutor, d: SqlDialect, run: NewRun): Promise<RunRef> {
  const exp = await experimentRow(tx, run.experimentId);
  if (exp.lifecycle_stage !== 'active') throw new TrellisError('TRELLIS_EXPERIMENT_NOT_ACTIVE', { id: run.experimentId, state: String(exp.lifecycle_stage) });
  const artifactUri = runArtifactUri(String(exp.artifact_location), run.runId);
  const [row] = await tx.query(
    "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, artifact_uri, lifecycle_stage) VALUES (?,?,?,?,'RUNNING',?,?,'active') RETURNING run_key",
    [run.runId, run.runName, exp.experiment_id as number, run.userId, run.startTime, artifactUri],
  );
  if (!row) throw new Error('INSERT … RETURNING returned no row');
  const ref = { id: run.runId, key: num(row.run_key) };
  await tx.runMany('INSERT INTO tags (run_key, key, value) VALUES (?,?,?)', Object.entries(run.tags).map(([k, v]) => [ref.key, k, v]));
  await insertRunData(tx, d, ref.key);
  return ref;
}

/** A batch checked against MLflow's limits, before any transaction opens. */
interface CheckedBatch {
  metrics: Metric[];
  params: { key: string; value: string }[];
  tags: { key: string; value: string }[];
  paramMap: Map<string, string>;
  latest: Map<string, Metric>;
}

function checkBatch(batch: LogBatchInput): CheckedBatch {
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
    if (typeof m.value !== 'number') throw invalid(`Got invalid value ${String(m.value)} for metric '${m.key}' (timestamp=${m.timestamp}). Please specify value as a valid double (64-bit floating point)`);
    if (!Number.isInteger(m.timestamp)) throw invalid(`Invalid value ${m.timestamp} for parameter 'timestamp' of metric '${m.key}': must be an integer (ms)`);
    if (!Number.isInteger(m.step)) throw invalid(`Invalid value ${m.step} for parameter 'step' of metric '${m.key}': must be an integer`);
    const cur = latest.get(m.key);
    if (!cur || newerMetric(m, cur)) latest.set(m.key, m);
  }
  return { metrics, params: params.map((p) => ({ key: p.key, value: String(p.value ?? '') })), tags: tags.map((t) => ({ key: t.key, value: String(t.value ?? '') })), paramMap, latest };
}

/**
 * Writes a checked batch into an active run: params write-once, metrics with their latest, tags
 * upserted; then the run's data texts it changed.
 */
async function writeBatch(tx: SqlExecutor, d: SqlDialect, run: RunRef, b: CheckedBatch): Promise<void> {
  const changed = new Set<RunDataPart>();
  const paramMap = new Map(b.paramMap);
  if (paramMap.size) {
    const keys = [...paramMap.keys()];
    const existing = await tx.query(`SELECT key, value FROM params WHERE run_key = ? AND key IN (${placeholders(keys.length)})`, [run.key, ...keys]);
    for (const e of existing) {
      const v = paramMap.get(String(e.key));
      if (String(e.value) !== v) {
        throw new TrellisError('TRELLIS_PARAM_CHANGED', { key: excerpt(String(e.key)), old: excerpt(String(e.value)), new: excerpt(String(v)), runId: run.id });
      }
      paramMap.delete(String(e.key));
    }
    await tx.runMany('INSERT INTO params (run_key, key, value) VALUES (?,?,?)', [...paramMap].map(([k, v]) => [run.key, k, v]));
    if (paramMap.size) changed.add('params');
  }
  if (b.metrics.length) {
    // An exact repeat of a logged point is recorded once, as in MLflow.
    await tx.runMany('INSERT INTO metrics (run_key, key, value, is_nan, timestamp, step) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING',
      b.metrics.map((m) => metricRow(run.key, m)));
    await tx.runMany(
      `INSERT INTO latest_metrics (run_key, key, value, is_nan, timestamp, step) VALUES (?,?,?,?,?,?)
       ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan, timestamp = excluded.timestamp, step = excluded.step
       WHERE excluded.step > latest_metrics.step
          OR (excluded.step = latest_metrics.step AND excluded.timestamp > latest_metrics.timestamp)
          OR (excluded.step = latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp AND excluded.is_nan = 0 AND (latest_metrics.is_nan = 1 OR excluded.value > latest_metrics.value))`,
      [...b.latest.values()].map((m) => metricRow(run.key, m)),
    );
    changed.add('metrics');
  }
  const tagRows = b.tags.map((t) => [run.key, t.key, t.value] as SqlValue[]);
  await tx.runMany('INSERT INTO tags (run_key, key, value) VALUES (?,?,?) ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value', tagRows);
  const nameTag = [...b.tags].reverse().find((t) => t.key === 'mlflow.runName');
  if (nameTag) await tx.run('UPDATE runs SET name = ? WHERE run_key = ?', [nameTag.value, run.key]);
  if (b.tags.length) changed.add('tags');
  await refreshRunData(tx, d, run.key, changed);
}

function batchAudit(b: CheckedBatch): object {
  return {
    params: Object.fromEntries(b.params.map((p) => [p.key, p.value])),
    tags: Object.fromEntries(b.tags.map((t) => [t.key, t.value])),
    metrics: b.metrics.length ? { count: b.metrics.length, keys: [...b.latest.keys()].sort(), sha256: metricsDigest(b.metrics) } : undefined,
  };
}

function checkInputs(datasets: readonly DatasetInput[]): void {
  for (const d of datasets) {
    for (const f of ['name', 'digest', 'sourceType', 'source'] as const) {
      if (typeof d.dataset?.[f] !== 'string' || !d.dataset[f]) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: `dataset.${f}` });
    }
  }
}

async function writeInputs(tx: SqlExecutor, run: RunRef, datasets: readonly DatasetInput[]): Promise<void> {
  await tx.runMany(
    'INSERT INTO run_inputs (run_key, name, digest, source_type, source, schema_json, profile_json, tags_json) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (run_key, name, digest) DO UPDATE SET tags_json = excluded.tags_json',
    datasets.map((d) => [run.key, d.dataset.name, d.dataset.digest, d.dataset.sourceType, d.dataset.source, d.dataset.schema ?? null, d.dataset.profile ?? null, JSON.stringify(d.tags ?? {})]),
  );
}

const END_STATUSES: readonly RunOutcome['status'][] = ['FINISHED', 'FAILED', 'KILLED'];

interface CheckedOutcome {
  batch: CheckedBatch;
  inputs: DatasetInput[];
  models: LoggedModel[];
  status: RunOutcome['status'];
  endTime: number;
}

function checkOutcome(o: RunOutcome, now: number): CheckedOutcome {
  if (!END_STATUSES.includes(o.status)) throw invalid(`Invalid value ${String(o.status)} for the status a run ends with: must be one of ${END_STATUSES.join(', ')}`);
  const endTime = o.endTime ?? now;
  if (!Number.isInteger(endTime) || endTime < 0) throw invalid(`Invalid value ${o.endTime} for parameter 'end_time' supplied.`);
  const inputs = o.inputs ?? [];
  checkInputs(inputs);
  const models = o.loggedModels ?? [];
  for (const m of models) {
    if (!m || typeof m !== 'object' || Array.isArray(m)) throw invalid('A logged model must be a JSON object');
  }
  return { batch: checkBatch(o), inputs, models, status: o.status, endTime };
}

async function writeOutcome(tx: SqlExecutor, d: SqlDialect, run: RunRef, o: CheckedOutcome): Promise<void> {
  await writeBatch(tx, d, run, o.batch);
  if (o.inputs.length) await writeInputs(tx, run, o.inputs);
  if (o.models.length) await appendModels(tx, d, run, o.models);
  await tx.run('UPDATE runs SET status = ?, end_time = ? WHERE run_key = ?', [o.status, o.endTime, run.key]);
}

function outcomeAudit(o: CheckedOutcome): object {
  return {
    status: o.status, endTime: o.endTime, ...batchAudit(o.batch),
    ...(o.inputs.length ? { datasets: o.inputs.map((d) => ({ name: d.dataset.name, digest: d.dataset.digest })) } : {}),
    ...(o.models.length ? { models: o.models.map(modelAudit) } : {}),
  };
}

function modelAudit(m: LoggedModel): object {
  return { artifactPath: m.artifact_path ?? null, sha256: sha256Hex(JSON.stringify(m)) };
}

/**
 * Appends to the log-model history tag inside the caller's transaction: the read and the write
 * are serialised with every other writer, so no concurrent append is lost.
 */
async function appendModels(tx: SqlExecutor, d: SqlDialect, run: RunRef, models: readonly LoggedModel[]): Promise<void> {
  const [row] = await tx.query('SELECT value FROM tags WHERE run_key = ? AND key = ?', [run.key, LOG_MODEL_HISTORY_TAG]);
  let history: unknown[] = [];
  if (row) {
    let v: unknown;
    try {
      v = JSON.parse(String(row.value));
    } catch {
      v = undefined;
    }
    if (!Array.isArray(v)) throw invalid(`The run tag '${LOG_MODEL_HISTORY_TAG}' is not a JSON list; delete or fix it before logging a model`);
    history = v;
  }
  const value = JSON.stringify([...history, ...models]);
  checkValueSize('Tag', LOG_MODEL_HISTORY_TAG, value, LIMITS.runTagValueBytes);
  await tx.run('INSERT INTO tags (run_key, key, value) VALUES (?,?,?) ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value', [run.key, LOG_MODEL_HISTORY_TAG, value]);
  await refreshRunData(tx, d, run.key, new Set(['tags']));
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

function metricRow(runKey: number, m: Metric): SqlValue[] {
  // NaN is kept as a flag beside a 0 (as MLflow's SQL store does): it has no SQL value that sorts.
  const nan = Number.isNaN(m.value);
  return [runKey, m.key, nan ? 0 : m.value, nan ? 1 : 0, m.timestamp, m.step];
}
