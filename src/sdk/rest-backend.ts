/**
 * Over the MLflow-compatible REST API of a `trellis server`: the same calls an MLflow client makes,
 * so the SDK also works against any server that speaks that API. Datasets use Trellis's native
 * routes (`/api/2.0/trellis/datasets/...`), which only a Trellis server has.
 */
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { TrellisError, type ErrorCode, ERRORS } from '../core/errors.js';
import { parseDatasetRef } from '../data/datasets.js';
import type { DatasetDiff } from '../data/diff.js';
import { openError } from '../data/readers/files.js';
import type { DatasetSchema } from '../data/schema/schema.js';
import type { Distance } from '../data/validate/distances.js';
import type { Anomaly } from '../data/validate/validate.js';
import { parseRef, refErrors, type ParsedRef } from '../core/refs.js';
import { readTableWithInference, type DataFormat } from '../data/readers/index.js';
import { rowAt } from '../data/table.js';
import type { HistoryInterval } from '../registry/history.js';
import type { LineageGraph } from '../registry/lineage.js';
import { resolveModelVersion, type ModelRefStore } from '../registry/registry-service.js';
import type { AuditVerification } from '../store/audit-chain.js';
import type { AuditEvent, AuditQuery } from '../store/ports/audit.js';
import type { LifecycleStage, Page } from '../store/ports/common.js';
import type { Dataset, DatasetSchemaDoc } from '../store/ports/datasets.js';
import type { LabelledEntry } from '../store/ports/predictions.js';
import { parseSlo } from '../serving/rollout.js';
import type { Deployment, DeploymentRevision, DeploymentRoute, Rollout } from '../store/ports/deployments.js';
import type { ModelVersion, ModelVersionStatus, RegisteredModel, Stage } from '../store/ports/registry.js';
import type { Experiment, Metric, Run, RunInfo, RunStatus } from '../store/ports/tracking.js';
import type { ArtifactInfo } from '../store/artifact-store.js';
import { trainResult, type Backend, type DatasetAddOptions, type PredictionsOptions, type DatasetVersionInfo, type DeploymentOptions, type RolloutOptions, type TrafficChange, type ProfileSummary, type RecordRunInput, type SkewResult, type SearchOptions, type TrainingReport, type TrainOptions, type TrainResult, type ValidateFileOptions, type ValidationResult } from './backend.js';

/*
 * The wire: what the routes send (`src/api/mlflow-json.ts`, `src/api/routes/datasets.ts`), field
 * for field. Proto2 leaves unset fields and empty repeated fields out, so those are optional here.
 * An answer is taken to have its route's shape once it is a JSON object (`send`); the remote SDK
 * runs the same test suite as the embedded one, which is what keeps these types and the server's
 * serializers in step.
 */
type WireKeyValues = { key: string; value: string }[];
/** NaN and the infinities travel as strings (protobuf's JSON mapping). */
type WireDouble = number | string;

interface WireExperiment {
  experiment_id: string; name: string; artifact_location: string; lifecycle_stage: LifecycleStage;
  creation_time: number; last_update_time: number; tags?: WireKeyValues;
}
interface WireRunInfo {
  run_id: string; run_name: string; experiment_id: string; user_id: string; status: RunStatus;
  start_time: number; end_time?: number | null; artifact_uri: string; lifecycle_stage: LifecycleStage;
}
interface WireMetric { key: string; value: WireDouble; timestamp: number; step?: number }
interface WireDatasetInput {
  tags?: WireKeyValues;
  dataset: { name: string; digest: string; source_type: string; source: string; schema?: string; profile?: string };
}
interface WireRun {
  info: WireRunInfo;
  data?: { metrics?: WireMetric[]; params?: WireKeyValues; tags?: WireKeyValues };
  inputs?: { dataset_inputs?: WireDatasetInput[] };
}
interface WireModelVersion {
  name: string; version: string | number; creation_timestamp: number; last_updated_timestamp: number; user_id?: string;
  current_stage: Stage; description?: string; source: string; run_id?: string; run_link?: string;
  status: ModelVersionStatus; status_message?: string; tags?: WireKeyValues; aliases?: string[];
}
interface WireRegisteredModel {
  name: string; creation_timestamp: number; last_updated_timestamp: number; user_id?: string; description?: string;
  tags?: WireKeyValues; aliases?: { alias: string; version: string | number }[]; latest_versions?: WireModelVersion[];
}
interface WireDataset {
  name: string; creation_time: number; last_update_time: number;
  description?: string | null; subject_column?: string | null; latest_version?: number | null;
}
interface WireDatasetVersion {
  name: string; version: number; sha256: string; format: string; rows: number; columns: number; size_bytes: number;
  source: string; artifact_path: string; created_by: string; creation_time: number;
  schema: DatasetSchema; profile: ProfileSummary; lineage?: Record<string, string> | null;
}
interface WireDistance {
  column: string; measure: Distance['measure']; value: WireDouble; threshold: WireDouble;
  sample_size: number; reference_size: number; noise: WireDouble; category?: string | null;
}
interface WireReport {
  ok: boolean; rows: number; environment?: string | null; against: string; anomalies?: Anomaly[]; distances?: WireDistance[];
  excluded_from_drift?: { column: string; reason: string }[];
}
interface WireDiff extends Omit<DatasetDiff, 'columns'> {
  columns?: { column: string; stats: DatasetDiff['columns'][number]['stats']; distance?: WireDistance | null }[];
}
interface WireHistory { kind: HistoryInterval['kind']; label: string; version: string; from: number; to?: number | null; set_by: string; ended_by?: string | null }
interface WireSchemaDoc { name: string; schema_version: number; schema: unknown; pinned: boolean; created_by: string; creation_time: number }
interface WireAuditEvent {
  seq: number; time: number; actor: string; action: string; entity_type: string; entity_id: string;
  before?: unknown; after?: unknown; prev_hash: string; hash: string;
}
interface WireTrainingReport {
  task: string; positive_class?: string | null; train_rows: number; test_rows: number; metrics?: Record<string, WireDouble>; warnings?: string[];
  cv?: { folds: number; time: boolean; mean: Record<string, WireDouble>; std: Record<string, WireDouble> } | null;
  search?: { metric: string; direction: string; names: string[]; trials: { index: number; params: Record<string, string | number | boolean>; objective: WireDouble }[] } | null;
}
interface WirePrediction {
  request_id: string; endpoint: string; time: number; model: string; version: string; route: string; shadow: boolean; latency_ms: number;
  inputs: Record<string, unknown>[]; predictions?: (string | number)[]; classes?: string[]; proba?: number[][]; error?: string;
  labels?: (string | number | null)[];
}
/** An error answer: MLflow's fields, and Trellis's own code beside them. */
interface WireError { error_code?: unknown; message?: unknown; trellis_code?: unknown }

const kv = (list: WireKeyValues | undefined): Record<string, string> =>
  Object.fromEntries((list ?? []).map((t) => [t.key, t.value]));
const num = (v: WireDouble): number => (v === 'NaN' ? Number.NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : Number(v));
const wireNum = (v: number): number | string => (Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v);
const wireTags = (tags: Record<string, string> | undefined): WireKeyValues => Object.entries(tags ?? {}).map(([key, value]) => ({ key, value }));

function experiment(e: WireExperiment): Experiment {
  return {
    experimentId: e.experiment_id, name: e.name, artifactLocation: e.artifact_location, lifecycleStage: e.lifecycle_stage,
    creationTime: e.creation_time, lastUpdateTime: e.last_update_time, tags: kv(e.tags),
  };
}

function runInfo(i: WireRunInfo): RunInfo {
  const info: RunInfo = {
    runId: i.run_id, runName: i.run_name, experimentId: i.experiment_id, userId: i.user_id, status: i.status,
    startTime: i.start_time, artifactUri: i.artifact_uri, lifecycleStage: i.lifecycle_stage,
  };
  if (i.end_time !== undefined && i.end_time !== null) info.endTime = i.end_time;
  return info;
}

const metric = (m: WireMetric): Metric => ({ key: m.key, value: num(m.value), timestamp: m.timestamp, step: m.step ?? 0 });

function run(r: WireRun): Run {
  return {
    info: runInfo(r.info),
    data: { metrics: (r.data?.metrics ?? []).map(metric), params: kv(r.data?.params), tags: kv(r.data?.tags) },
    inputs: {
      datasetInputs: (r.inputs?.dataset_inputs ?? []).map((d) => ({
        tags: kv(d.tags),
        dataset: { name: d.dataset.name, digest: d.dataset.digest, sourceType: d.dataset.source_type, source: d.dataset.source, schema: d.dataset.schema, profile: d.dataset.profile },
      })),
    },
  };
}

/** Optional fields last and only when set, in the order the stores give them: both backends print the same JSON. */
function version(v: WireModelVersion): ModelVersion {
  const out: ModelVersion = {
    name: v.name, version: String(v.version), creationTimestamp: v.creation_timestamp, lastUpdatedTimestamp: v.last_updated_timestamp,
    currentStage: v.current_stage, source: v.source, status: v.status, tags: kv(v.tags), aliases: v.aliases ?? [],
  };
  if (v.user_id) out.userId = v.user_id;
  if (v.description) out.description = v.description;
  if (v.run_id) out.runId = v.run_id;
  if (v.run_link) out.runLink = v.run_link;
  if (v.status_message) out.statusMessage = v.status_message;
  return out;
}

function model(m: WireRegisteredModel): RegisteredModel {
  const out: RegisteredModel = {
    name: m.name, creationTimestamp: m.creation_timestamp, lastUpdatedTimestamp: m.last_updated_timestamp, tags: kv(m.tags),
    aliases: Object.fromEntries((m.aliases ?? []).map((a) => [a.alias, String(a.version)])),
    latestVersions: (m.latest_versions ?? []).map(version),
  };
  if (m.user_id) out.userId = m.user_id;
  if (m.description) out.description = m.description;
  return out;
}

function dataset(d: WireDataset): Dataset {
  const out: Dataset = { name: d.name, creationTime: d.creation_time, lastUpdateTime: d.last_update_time };
  if (d.description != null) out.description = d.description;
  if (d.subject_column != null) out.subjectColumn = d.subject_column;
  if (d.latest_version != null) out.latestVersion = d.latest_version;
  return out;
}

function datasetVersion(v: WireDatasetVersion): DatasetVersionInfo {
  const out: DatasetVersionInfo = {
    name: v.name, version: v.version, sha256: v.sha256, format: v.format, rows: v.rows, columns: v.columns, sizeBytes: v.size_bytes,
    source: v.source, artifactPath: v.artifact_path, createdBy: v.created_by, creationTime: v.creation_time, schema: v.schema, profile: v.profile,
  };
  if (v.lineage != null) out.lineage = v.lineage;
  return out;
}

function distance(d: WireDistance): Distance {
  const out: Distance = {
    column: d.column, measure: d.measure, value: num(d.value), threshold: num(d.threshold),
    noise: num(d.noise), sampleSize: d.sample_size, referenceSize: d.reference_size,
  };
  if (d.category != null) out.category = d.category;
  return out;
}

function report(r: WireReport): ValidationResult {
  const out: ValidationResult = {
    ok: r.ok, rows: r.rows, anomalies: r.anomalies ?? [], distances: (r.distances ?? []).map(distance), excludedFromDrift: r.excluded_from_drift ?? [], against: r.against,
  };
  if (r.environment != null) out.environment = r.environment;
  return out;
}

function diff(d: WireDiff): DatasetDiff {
  return {
    a: d.a, b: d.b, identical: d.identical, schema: d.schema,
    columns: (d.columns ?? []).map((c) => (c.distance ? { column: c.column, stats: c.stats, distance: distance(c.distance) } : { column: c.column, stats: c.stats })),
  };
}

function history(h: WireHistory): HistoryInterval {
  const out: HistoryInterval = { kind: h.kind, label: h.label, version: h.version, from: h.from, setBy: h.set_by };
  if (h.to != null) out.to = h.to;
  if (h.ended_by != null) out.endedBy = h.ended_by;
  return out;
}

const schemaDoc = (d: WireSchemaDoc): DatasetSchemaDoc => ({
  name: d.name, schemaVersion: d.schema_version, schema: d.schema, pinned: d.pinned, createdBy: d.created_by, creationTime: d.creation_time,
});

const auditEvent = (e: WireAuditEvent): AuditEvent => ({
  seq: e.seq, time: e.time, actor: e.actor, action: e.action, entityType: e.entity_type, entityId: e.entity_id,
  before: e.before ?? null, after: e.after ?? null, prevHash: e.prev_hash, hash: e.hash,
});

const nums = (m: Record<string, WireDouble> | undefined): Record<string, number> => Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, num(v)]));

function trainingReport(w: WireTrainingReport): TrainingReport {
  const r: TrainingReport = { task: w.task, trainRows: w.train_rows, testRows: w.test_rows, metrics: nums(w.metrics), warnings: w.warnings ?? [] };
  if (w.positive_class != null) r.positiveClass = w.positive_class;
  if (w.cv) r.cv = { folds: w.cv.folds, time: w.cv.time, mean: nums(w.cv.mean), std: nums(w.cv.std) };
  if (w.search) r.search = { ...w.search, trials: w.search.trials.map((t) => ({ ...t, objective: num(t.objective) })) };
  return r;
}

function predictionEntry(w: WirePrediction): LabelledEntry {
  const e: LabelledEntry = {
    requestId: w.request_id, endpoint: w.endpoint, time: w.time, model: w.model, version: w.version, route: w.route, shadow: w.shadow,
    latencyMs: w.latency_ms, inputs: w.inputs,
  };
  if (w.predictions) e.predictions = w.predictions;
  if (w.classes) e.classes = w.classes;
  if (w.proba) e.proba = w.proba;
  if (w.error !== undefined) e.error = w.error;
  if (w.labels) e.labels = w.labels;
  return e;
}

const page = <T>(items: T[], token: string | undefined): Page<T> => (token ? { items, nextPageToken: token } : { items });

/** A file's rows as records, as a serving request would send them. */
async function fileRecords(file: string, format: DataFormat | undefined): Promise<Record<string, unknown>[]> {
  const { table } = await readTableWithInference(file, { format });
  return Array.from({ length: table.rowCount }, (_, i) => rowAt(table, i));
}

/**
 * A Trellis server names its own code beside MLflow's (`trellis_code`); for other servers the
 * HTTP status picks the closest Trellis code. Either way callers can branch on `code`.
 */
function toTrellisError(status: number, body: WireError, path: string): TrellisError {
  const said = body.message ?? body.error_code;
  const message = typeof said === 'string' ? said : said === undefined || said === null ? `HTTP ${status}` : JSON.stringify(said);
  if (typeof body.trellis_code === 'string' && body.trellis_code in ERRORS) {
    return TrellisError.fromJSON({ code: body.trellis_code, message });
  }
  const code: ErrorCode = status === 404 ? 'TRELLIS_ENDPOINT_NOT_FOUND' : status === 503 ? 'TRELLIS_STORE_UNAVAILABLE' : status >= 500 ? 'TRELLIS_INTERNAL' : 'TRELLIS_INVALID_PARAMETER';
  return new TrellisError(code, { detail: `${path}: ${message}`, method: 'request', url: path }, { message: `${path}: ${message}` });
}

/** The network failed before any answer: the URL, and the cause Node gives (e.g. `connect ECONNREFUSED 127.0.0.1:5000`). */
function unreachable(url: string, e: unknown): TrellisError {
  const cause = (e as { cause?: { message?: string } }).cause;
  const detail = cause?.message ?? (e as Error).message;
  return new TrellisError('TRELLIS_SERVER_UNREACHABLE', { url, detail }, { cause: e });
}

/** The body of a failed artifact transfer, which may not be JSON at all. */
async function errorBody(res: Response): Promise<WireError> {
  const body: unknown = await res.json().catch(() => ({}));
  return typeof body === 'object' && body !== null ? body : {};
}

/** The Authorization header for `token`, or for the credentials in the environment; undefined without any. */
export function credentialsHeader(token: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const bearer = token || env.TRELLIS_TOKEN || env.MLFLOW_TRACKING_TOKEN;
  if (bearer) return `Bearer ${bearer}`;
  const user = env.MLFLOW_TRACKING_USERNAME;
  const password = env.MLFLOW_TRACKING_PASSWORD;
  if (user && password) return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  return undefined;
}

export class RestBackend implements Backend {
  readonly kind = 'remote';
  private readonly base: string;
  private readonly headers: Record<string, string>;

  /**
   * `token` is sent as a Bearer token; without one, the credentials MLflow clients read from the
   * environment are used: `TRELLIS_TOKEN`, else `MLFLOW_TRACKING_TOKEN` (Bearer), else
   * `MLFLOW_TRACKING_USERNAME` with `MLFLOW_TRACKING_PASSWORD` (Basic).
   */
  constructor(url: string, opts: { token?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.base = url.replace(/\/+$/, '');
    this.headers = { 'content-type': 'application/json' };
    const authorization = credentialsHeader(opts.token, opts.env ?? process.env);
    if (authorization) this.headers.authorization = authorization;
  }

  /** `path` is relative to `api`: MLflow's routes by default, `trellis` for the native ones. */
  private async call<T extends object>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: Record<string, unknown>, api: 'mlflow' | 'trellis' = 'mlflow'): Promise<T> {
    let url = `${this.base}/api/2.0/${api}/${path}`;
    const init: RequestInit = { method, headers: this.headers };
    if (method === 'GET' && body) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(body)) {
        if (v === undefined) continue;
        for (const x of Array.isArray(v) ? (v as unknown[]) : [v]) qs.append(k, String(x));
      }
      url += `?${qs}`;
    } else if (body) {
      init.body = JSON.stringify(body);
    }
    return this.send<T>(url, init, path);
  }

  /** The answer as the route's wire type `T`: checked to be a JSON object, its fields taken as the route sends them. */
  private async send<T extends object>(url: string, init: RequestInit, path: string): Promise<T> {
    const res = await this.fetch(url, init);
    const text = await res.text();
    let json: unknown = {};
    let parsed = true;
    try {
      if (text) json = JSON.parse(text);
    } catch {
      parsed = false;
    }
    const isObject = parsed && typeof json === 'object' && json !== null && !Array.isArray(json);
    if (res.status !== 200) throw toTrellisError(res.status, isObject ? (json as WireError) : { message: text }, path);
    if (!isObject) {
      throw new TrellisError('TRELLIS_SERVER_REFUSED', { url, status: res.status, detail: `expected a JSON object, got ${text.slice(0, 200)}` });
    }
    return json as T;
  }

  private async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (e) {
      throw unreachable(this.base, e);
    }
  }

  private async maybe<T>(p: Promise<T>): Promise<T | undefined> {
    try {
      return await p;
    } catch (e) {
      if ((e as TrellisError).httpStatus === 404) return undefined;
      throw e;
    }
  }

  async createExperiment(name: string, tags?: Record<string, string>) {
    const r = await this.call<{ experiment_id: string }>('POST', 'experiments/create', { name, tags: wireTags(tags) });
    return String(r.experiment_id);
  }
  async getExperimentByName(name: string) {
    return this.maybe(this.call<{ experiment: WireExperiment }>('GET', 'experiments/get-by-name', { experiment_name: name }).then((r) => experiment(r.experiment)));
  }
  async getExperiment(id: string) { return experiment((await this.call<{ experiment: WireExperiment }>('GET', 'experiments/get', { experiment_id: id })).experiment); }
  async searchExperiments(q: SearchOptions & { viewType?: Parameters<Backend['searchExperiments']>[0]['viewType'] }) {
    const r = await this.call<{ experiments?: WireExperiment[]; next_page_token?: string }>('POST', 'experiments/search', {
      filter: q.filter, order_by: q.orderBy, max_results: q.maxResults, page_token: q.pageToken, view_type: q.viewType,
    });
    return page((r.experiments ?? []).map(experiment), r.next_page_token);
  }
  async deleteExperiment(id: string) { await this.call('POST', 'experiments/delete', { experiment_id: id }); }
  async restoreExperiment(id: string) { await this.call('POST', 'experiments/restore', { experiment_id: id }); }
  async deleteRun(runId: string) { await this.call('POST', 'runs/delete', { run_id: runId }); }
  async restoreRun(runId: string) { await this.call('POST', 'runs/restore', { run_id: runId }); }
  async createRun(input: Parameters<Backend['createRun']>[0]) {
    const r = await this.call<{ run: WireRun }>('POST', 'runs/create', {
      experiment_id: input.experimentId, run_name: input.runName, start_time: input.startTime ?? Date.now(), tags: wireTags(input.tags),
    });
    return run(r.run);
  }
  async getRun(runId: string) { return run((await this.call<{ run: WireRun }>('GET', 'runs/get', { run_id: runId })).run); }
  async updateRun(runId: string, patch: Parameters<Backend['updateRun']>[1]) {
    return runInfo((await this.call<{ run_info: WireRunInfo }>('POST', 'runs/update', { run_id: runId, status: patch.status, end_time: patch.endTime, run_name: patch.runName })).run_info);
  }
  async logBatch(runId: string, batch: Parameters<Backend['logBatch']>[1]) {
    await this.call('POST', 'runs/log-batch', {
      run_id: runId,
      metrics: (batch.metrics ?? []).map((m) => ({ ...m, value: wireNum(m.value) })),
      params: batch.params ?? [],
      tags: batch.tags ?? [],
    });
  }
  async logInputs(runId: string, datasets: Parameters<Backend['logInputs']>[1]) {
    await this.call('POST', 'runs/log-inputs', {
      run_id: runId,
      datasets: datasets.map((d) => ({
        tags: wireTags(d.tags),
        dataset: { name: d.dataset.name, digest: d.dataset.digest, source_type: d.dataset.sourceType, source: d.dataset.source, schema: d.dataset.schema, profile: d.dataset.profile },
      })),
    });
  }
  async getMetricHistory(runId: string, key: string) {
    return ((await this.call<{ metrics?: WireMetric[] }>('GET', 'metrics/get-history', { run_id: runId, metric_key: key })).metrics ?? []).map(metric);
  }
  async searchRuns(q: Parameters<Backend['searchRuns']>[0]) {
    const r = await this.call<{ runs?: WireRun[]; next_page_token?: string }>('POST', 'runs/search', {
      experiment_ids: q.experimentIds, filter: q.filter, order_by: q.orderBy, max_results: q.maxResults, page_token: q.pageToken, run_view_type: q.viewType,
    });
    return r.next_page_token ? { items: (r.runs ?? []).map(run), nextPageToken: r.next_page_token } : { items: (r.runs ?? []).map(run) };
  }
  private async artifactBase(runId: string): Promise<string> {
    return this.proxyUrl((await this.getRun(runId)).info.artifactUri);
  }
  /** The artifact proxy's address of an `mlflow-artifacts:` URI. */
  private proxyUrl(uri: string): string {
    if (!/^mlflow-artifacts:/.test(uri)) throw new TrellisError('TRELLIS_INVALID_PARAMETER', {}, { message: `'${uri}' is not an artifact of this server (mlflow-artifacts:/…)` });
    const path = uri.replace(/^mlflow-artifacts:(\/\/[^/]*)?/, '').replace(/^\/+/, '');
    return `${this.base}/api/2.0/mlflow-artifacts/artifacts/${path}`;
  }
  private async download(url: string, path: string): Promise<Buffer> {
    const { 'content-type': _, ...headers } = this.headers;
    const res = await this.fetch(url, { headers });
    if (res.status !== 200) throw toTrellisError(res.status, await errorBody(res), path);
    return Buffer.from(await res.arrayBuffer());
  }
  /** Through the server's registry, which checks the bytes against the version's recorded digests. */
  async readModelFile(v: Pick<ModelVersion, 'name' | 'version' | 'source'>, path: string) {
    const qs = new URLSearchParams({ name: v.name, version: v.version, path });
    return this.download(`${this.base}/api/2.0/trellis/model-versions/file?${qs}`, path);
  }
  /** Over the API as MLflow clients write a run: created, artifacts, values, inputs, then ended. */
  async recordRun(experimentId: string, r: RecordRunInput) {
    const created = await this.createRun({ experimentId, runName: r.runName, tags: r.tags, startTime: r.startTime });
    const runId = created.info.runId;
    try {
      for (const a of r.artifacts ?? []) await this.logArtifact(runId, a.path, a.data);
      const params = r.params ?? [];
      const metrics = r.metrics ?? [];
      for (let i = 0; i < Math.max(params.length, metrics.length); i += 100) {
        await this.logBatch(runId, { params: params.slice(i, i + 100), metrics: metrics.slice(i, i + 100) });
      }
      if (r.inputs?.length) await this.logInputs(runId, r.inputs);
      await this.updateRun(runId, { status: 'FINISHED', endTime: Date.now() });
    } catch (e) {
      // The run stays, marked failed, rather than looking as if it were still going.
      await this.updateRun(runId, { status: 'FAILED', endTime: Date.now() }).catch(() => undefined);
      throw e;
    }
    return this.getRun(runId);
  }
  async logArtifact(runId: string, path: string, data: Uint8Array | string) {
    const url = `${await this.artifactBase(runId)}/${path.split('/').map(encodeURIComponent).join('/')}`;
    const res = await this.fetch(url, { method: 'PUT', body: typeof data === 'string' ? data : Buffer.from(data), headers: { ...this.headers, 'content-type': 'application/octet-stream' } });
    if (res.status !== 200) throw toTrellisError(res.status, await errorBody(res), path);
  }
  async listArtifacts(runId: string, path?: string): Promise<ArtifactInfo[]> {
    const r = await this.call<{ files?: { path: string; is_dir: boolean; file_size?: number }[] }>('GET', 'artifacts/list', { run_id: runId, path });
    return (r.files ?? []).map((f) => ({ path: f.path, isDir: f.is_dir, size: f.file_size }));
  }
  async readArtifact(runId: string, path: string) {
    return this.download(`${await this.artifactBase(runId)}/${path.split('/').map(encodeURIComponent).join('/')}`, path);
  }
  async getRegisteredModel(name: string) {
    return this.maybe(this.call<{ registered_model: WireRegisteredModel }>('GET', 'registered-models/get', { name }).then((r) => model(r.registered_model)));
  }
  async searchModels(q: SearchOptions) {
    const r = await this.call<{ registered_models?: WireRegisteredModel[]; next_page_token?: string }>('GET', 'registered-models/search', {
      filter: q.filter, order_by: q.orderBy, max_results: q.maxResults, page_token: q.pageToken,
    });
    return page((r.registered_models ?? []).map(model), r.next_page_token);
  }
  async searchModelVersions(q: SearchOptions) {
    const r = await this.call<{ model_versions?: WireModelVersion[]; next_page_token?: string }>('GET', 'model-versions/search', {
      filter: q.filter, order_by: q.orderBy, max_results: q.maxResults, page_token: q.pageToken,
    });
    return page((r.model_versions ?? []).map(version), r.next_page_token);
  }
  /** The registry port the reference resolution reads, over the REST API: the same resolution and errors as embedded. */
  private refStore(): ModelRefStore {
    return {
      getRegisteredModel: async (name) => model((await this.call<{ registered_model: WireRegisteredModel }>('GET', 'registered-models/get', { name })).registered_model),
      getModelVersion: (name, v) => this.getModelVersion(name, v),
      getLatestVersions: async (name) => ((await this.call<{ model_versions?: WireModelVersion[] }>('GET', 'registered-models/get-latest-versions', { name })).model_versions ?? []).map(version),
      searchModelVersions: async (q) => {
        const name = q.filter?.find((c) => c.kind === 'attribute' && c.key === 'name')?.value;
        return this.searchModelVersions({ filter: typeof name === 'string' ? `name = '${name.replace(/'/g, "\\'")}'` : undefined, maxResults: q.maxResults });
      },
    };
  }
  /** As the registry service looks a reference up: the version first, then the model, whose absence is named as the embedded one names it. */
  async lookupModel(ref: string) {
    const p = parseRef(ref);
    const store = this.refStore();
    const selected = p.selector ? await resolveModelVersion(store, p) : undefined;
    const m = await this.getRegisteredModel(p.name);
    if (!m) throw refErrors.noModel(p.name);
    return selected ? { model: m, version: selected } : { model: m };
  }
  resolveModelVersion(ref: string | ParsedRef) { return resolveModelVersion(this.refStore(), ref); }
  async deleteAlias(name: string, alias: string) { await this.call('DELETE', 'registered-models/alias', { name, alias }); }
  async transitionStage(name: string, v: string, stage: Stage, archiveExisting: boolean) {
    return version((await this.call<{ model_version: WireModelVersion }>('POST', 'model-versions/transition-stage', {
      name, version: v, stage, archive_existing_versions: archiveExisting,
    })).model_version);
  }
  async modelHistory(name: string, o: { alias?: string; stage?: string } = {}) {
    return ((await this.call<{ history?: WireHistory[] }>('GET', 'registered-models/history', { name, alias: o.alias, stage: o.stage }, 'trellis')).history ?? []).map(history);
  }
  async createRegisteredModel(name: string, description?: string) {
    return model((await this.call<{ registered_model: WireRegisteredModel }>('POST', 'registered-models/create', { name, description })).registered_model);
  }
  async createModelVersion(input: Parameters<Backend['createModelVersion']>[0]) {
    const r = await this.call<{ model_version: WireModelVersion }>('POST', 'model-versions/create', {
      name: input.name, source: input.source, run_id: input.runId, description: input.description, tags: wireTags(input.tags),
    });
    return version(r.model_version);
  }
  async getModelVersion(name: string, v: string) { return version((await this.call<{ model_version: WireModelVersion }>('GET', 'model-versions/get', { name, version: v })).model_version); }
  async getVersionByAlias(name: string, alias: string) { return version((await this.call<{ model_version: WireModelVersion }>('GET', 'registered-models/alias', { name, alias })).model_version); }
  async setAlias(name: string, alias: string, v: string) { await this.call('POST', 'registered-models/alias', { name, alias, version: v }); }
  async addDataset(name: string, file: string, opts: DatasetAddOptions) {
    let body: Blob;
    try {
      // openAsBlob reports a missing file without its errno; stat names it like the embedded backend does.
      if ((await stat(file)).isDirectory()) throw Object.assign(new Error(`${file} is a directory`), { code: 'EISDIR' });
      // A file-backed Blob: fetch streams it with its length, so the server can refuse an oversized upload at once.
      body = await openAsBlob(file);
    } catch (e) {
      throw openError(e, file);
    }
    const qs = new URLSearchParams({ name, filename: basename(file) });
    if (opts.format) qs.set('format', opts.format);
    if (opts.description) qs.set('description', opts.description);
    if (opts.subjectColumn) qs.set('subject_column', opts.subjectColumn);
    if (opts.environments && Object.keys(opts.environments).length) qs.set('environments', JSON.stringify(opts.environments));
    const r = await this.send<{ dataset_version: WireDatasetVersion; created?: boolean; type_breaks?: { column: string; line: number; value: string; reason: string }[] }>(`${this.base}/api/2.0/trellis/datasets/versions?${qs}`, {
      method: 'POST', body, headers: { ...this.headers, 'content-type': 'application/octet-stream' },
    }, 'datasets/versions');
    return { version: datasetVersion(r.dataset_version), created: r.created === true, typeBreaks: r.type_breaks ?? [] };
  }
  async listDatasets() { return ((await this.call<{ datasets?: WireDataset[] }>('GET', 'datasets', undefined, 'trellis')).datasets ?? []).map(dataset); }
  async datasetVersions(name: string) {
    return ((await this.call<{ dataset_versions?: WireDatasetVersion[] }>('GET', 'datasets/versions', { name }, 'trellis')).dataset_versions ?? []).map(datasetVersion);
  }
  async getDatasetVersion(ref: string) {
    // Parsed here with the embedded backend's grammar, so a bad reference fails the same way in both.
    const { name, version } = parseDatasetRef(ref);
    return datasetVersion((await this.call<{ dataset_version: WireDatasetVersion }>('GET', 'datasets/get', { name, version }, 'trellis')).dataset_version);
  }
  async datasetBytes(ref: string) {
    const v = await this.getDatasetVersion(ref);
    const qs = new URLSearchParams({ name: v.name, version: String(v.version) });
    return { version: v, data: await this.download(`${this.base}/api/2.0/trellis/datasets/download?${qs}`, 'datasets/download') };
  }
  async diffDatasets(a: string, b: string) { return diff((await this.call<{ diff: WireDiff }>('GET', 'datasets/diff', { a, b }, 'trellis')).diff); }
  async validateRecords(records: readonly object[], against: string | undefined, opts: { environment?: string; schema?: unknown }) {
    return report((await this.call<{ report: WireReport }>('POST', 'datasets/validate', { records, against, schema: opts.schema, environment: opts.environment }, 'trellis')).report);
  }
  async validateFile(file: string, o: ValidateFileOptions) {
    return this.validateRecords(await fileRecords(file, o.format), o.against, { environment: o.environment, schema: o.schema });
  }
  async skewFile(file: string, against: string, o: { format?: DataFormat } = {}) {
    return this.skew(await fileRecords(file, o.format), against);
  }
  async getDatasetSchema(name: string, schemaVersion?: number) {
    const r = await this.call<{ dataset_schema?: WireSchemaDoc }>('GET', 'datasets/schema', { name, schema_version: schemaVersion }, 'trellis');
    return r.dataset_schema ? schemaDoc(r.dataset_schema) : undefined;
  }
  async putDatasetSchema(name: string, schema: unknown, pin: boolean) {
    return schemaDoc((await this.call<{ dataset_schema: WireSchemaDoc }>('POST', 'datasets/schema', { name, schema, pin }, 'trellis')).dataset_schema);
  }
  async lineage(ref: string, o: { depth?: number } = {}) {
    return this.call<LineageGraph>('GET', 'lineage', { ref, depth: o.depth }, 'trellis');
  }
  async auditEvents(q: AuditQuery) {
    const r = await this.call<{ events?: WireAuditEvent[] }>('GET', 'audit/events', {
      after_seq: q.afterSeq, limit: q.limit, since: q.since, newest_first: q.newestFirst, entity_type: q.entityType, entity_id: q.entityId,
      entity_id_prefix: q.entityIdPrefix, action: q.action,
    }, 'trellis');
    return (r.events ?? []).map(auditEvent);
  }
  async verifyAudit(): Promise<AuditVerification> {
    const r = await this.call<{ ok: boolean; checked: number; checkpoints?: number; first_bad?: AuditVerification['firstBad']; problems?: string[] }>('GET', 'audit/verify', undefined, 'trellis');
    return {
      ok: r.ok, checked: r.checked, ...(r.first_bad ? { firstBad: r.first_bad } : {}),
      ...(r.checkpoints !== undefined ? { checkpoints: r.checkpoints } : {}), ...(r.problems?.length ? { problems: r.problems } : {}),
    };
  }
  async skew(records: readonly object[], against: string): Promise<SkewResult> {
    const s = (await this.call<{ skew: { against: string; distances?: WireDistance[]; skewed?: string[]; excluded_from_drift?: { column: string; reason: string }[] } }>('POST', 'datasets/skew', { records, against }, 'trellis')).skew;
    return { against: s.against, distances: (s.distances ?? []).map(distance), skewed: s.skewed ?? [], excludedFromDrift: s.excluded_from_drift ?? [] };
  }
  async feedback(endpoint: string, requestId: string, labels: readonly (string | number | null)[]) {
    // JSON has no NaN or infinities: refused here as the server refuses them, rather than sent as null.
    labels.forEach((l, i) => {
      if (typeof l === 'number' && !Number.isFinite(l)) throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Label ${i + 1} is ${l}: a label is a string, a finite number or null` });
    });
    const r = await this.call<{ rows: number }>('POST', 'predictions/feedback', { endpoint, request_id: requestId, labels }, 'trellis');
    return { rows: r.rows };
  }
  async predictions(endpoint: string, o: PredictionsOptions) {
    const r = await this.call<{ predictions?: WirePrediction[] }>('GET', 'predictions/list', {
      endpoint, since: o.since, until: o.until, route: o.route, with_labels: o.withLabels, max_results: o.limit,
    }, 'trellis');
    return (r.predictions ?? []).map(predictionEntry);
  }
  async listDeployments() {
    return (await this.call<{ deployments?: WireDeployment[] }>('GET', 'deployments/list', undefined, 'trellis')).deployments?.map(deploymentOf) ?? [];
  }
  async getDeployment(name: string) {
    return deploymentOf((await this.call<{ deployment: WireDeployment }>('GET', 'deployments/get', { name }, 'trellis')).deployment);
  }
  async deploymentHistory(name: string, limit?: number): Promise<DeploymentRevision[]> {
    const r = await this.call<{ revisions?: WireRevision[] }>('GET', 'deployments/history', { name, max_results: limit }, 'trellis');
    return (r.revisions ?? []).map((x) => ({
      name, revision: x.revision, change: x.change, at: x.at, by: x.by, ...(x.reason ? { reason: x.reason } : {}),
      routes: x.routes, ...(x.sticky_key ? { stickyKey: x.sticky_key } : {}), public: x.public,
    }));
  }
  async createDeployment(name: string, req: DeploymentOptions, reason?: string) {
    return this.deploymentCall('create', {
      name, model: req.model, canary: req.canary, shadow: req.shadow, ab: req.ab, sticky_key: req.stickyKey, public: req.public, reason,
    });
  }
  async setTraffic(name: string, change: TrafficChange, reason?: string) {
    return this.deploymentCall('set-traffic', {
      name, canary: change.canary === null ? { share: 0 } : change.canary, shadow: change.shadow === null ? '' : change.shadow,
      ab: change.ab, sticky_key: change.stickyKey, public: change.public, reason,
    });
  }
  async promoteDeployment(name: string, o: { arm?: string; reason?: string }) {
    return this.deploymentCall('promote', { name, arm: o.arm, reason: o.reason });
  }
  async rollbackDeployment(name: string, o: { reason?: string }) {
    return this.deploymentCall('rollback', { name, reason: o.reason });
  }
  async startRollout(name: string, o: RolloutOptions) {
    return this.deploymentCall('rollout', {
      name, model: o.model, steps: o.steps?.join(','), hold_ms: o.holdMs, slo: o.slo, min_requests: o.minRequests, min_labels: o.minLabels,
    });
  }
  async deleteDeployment(name: string) {
    await this.call('POST', 'deployments/delete', { name }, 'trellis');
  }
  private async deploymentCall(verb: string, body: Record<string, unknown>): Promise<Deployment> {
    // Fields left undefined are not sent: JSON.stringify drops them.
    return deploymentOf((await this.call<{ deployment: WireDeployment }>('POST', `deployments/${verb}`, body, 'trellis')).deployment);
  }
  async train(o: TrainOptions): Promise<TrainResult> {
    const params = Object.entries(o.params ?? {}).map(([key, value]) => ({ key, value: String(value) }));
    const { report: wire, ...summary } = await this.call<Record<string, unknown> & { report?: WireTrainingReport }>('POST', 'train', {
      data: o.data, target: o.target, algo: o.algo, params, exclude: o.exclude, experiment: o.experiment, register: o.register, cv: o.cv, search: o.search, report: o.report || undefined,
    }, 'trellis');
    return o.report && wire ? { ...trainResult(summary), summary, report: trainingReport(wire) } : trainResult(summary);
  }
  async close() { /* nothing held open: fetch pools its own connections */ }
}

interface WireRollout {
  model: string; steps: number[]; step: number; slo: string; hold_ms: number; min_requests: number; min_labels: number;
  started_at: number; step_started_at: number; started_by: string;
}
interface WireDeployment {
  name: string; revision: number; routes: DeploymentRoute[]; sticky_key?: string; public: boolean; rollout?: WireRollout;
  created_at: number; created_by: string; updated_at: number; updated_by: string;
}
interface WireRevision { revision: number; change: string; at: number; by: string; reason?: string; routes: DeploymentRoute[]; sticky_key?: string; public: boolean }

/** A deployment as the REST routes write it, in the SDK's shape (the embedded backend's). */
function deploymentOf(w: WireDeployment): Deployment {
  const r = w.rollout;
  const rollout: Rollout | undefined = r && {
    model: r.model, steps: r.steps, step: r.step, holdMs: r.hold_ms, slo: parseSlo(r.slo), sloText: r.slo, minRequests: r.min_requests, minLabels: r.min_labels,
    startedAt: r.started_at, stepStartedAt: r.step_started_at, startedBy: r.started_by,
  };
  return {
    name: w.name, revision: w.revision, routes: w.routes, ...(w.sticky_key ? { stickyKey: w.sticky_key } : {}), public: w.public, ...(rollout ? { rollout } : {}),
    createdAt: w.created_at, createdBy: w.created_by, updatedAt: w.updated_at, updatedBy: w.updated_by,
  };
}
