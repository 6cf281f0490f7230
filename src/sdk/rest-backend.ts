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
import type { Distance } from '../data/validate/distances.js';
import type { Dataset } from '../store/ports/datasets.js';
import type { ModelVersion, RegisteredModel } from '../store/ports/registry.js';
import type { Experiment, Metric, Run, RunInfo } from '../store/ports/tracking.js';
import type { ArtifactInfo } from '../store/artifact-store.js';
import { trainResult, type Backend, type DatasetAddOptions, type DatasetVersionInfo, type SkewResult, type TrainOptions, type TrainResult, type ValidationResult } from './backend.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const kv = (list: { key: string; value: string }[] | undefined): Record<string, string> =>
  Object.fromEntries((list ?? []).map((t) => [t.key, t.value]));
const num = (v: unknown): number => (v === 'NaN' ? Number.NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : Number(v));
const wireNum = (v: number): number | string => (Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v);

function experiment(e: Json): Experiment {
  return {
    experimentId: e.experiment_id, name: e.name, artifactLocation: e.artifact_location, lifecycleStage: e.lifecycle_stage,
    creationTime: e.creation_time, lastUpdateTime: e.last_update_time, tags: kv(e.tags),
  };
}

function runInfo(i: Json): RunInfo {
  const info: RunInfo = {
    runId: i.run_id, runName: i.run_name, experimentId: i.experiment_id, userId: i.user_id, status: i.status,
    startTime: i.start_time, artifactUri: i.artifact_uri, lifecycleStage: i.lifecycle_stage,
  };
  if (i.end_time !== undefined && i.end_time !== null) info.endTime = i.end_time;
  return info;
}

const metric = (m: Json): Metric => ({ key: m.key, value: num(m.value), timestamp: m.timestamp, step: m.step ?? 0 });

function run(r: Json): Run {
  return {
    info: runInfo(r.info),
    data: { metrics: (r.data?.metrics ?? []).map(metric), params: kv(r.data?.params), tags: kv(r.data?.tags) },
    inputs: {
      datasetInputs: (r.inputs?.dataset_inputs ?? []).map((d: Json) => ({
        tags: kv(d.tags),
        dataset: { name: d.dataset.name, digest: d.dataset.digest, sourceType: d.dataset.source_type, source: d.dataset.source, schema: d.dataset.schema, profile: d.dataset.profile },
      })),
    },
  };
}

function version(v: Json): ModelVersion {
  return {
    name: v.name, version: String(v.version), creationTimestamp: v.creation_timestamp, lastUpdatedTimestamp: v.last_updated_timestamp,
    userId: v.user_id, currentStage: v.current_stage, description: v.description, source: v.source, runId: v.run_id || undefined,
    runLink: v.run_link, status: v.status, statusMessage: v.status_message, tags: kv(v.tags), aliases: v.aliases ?? [],
  };
}

function model(m: Json): RegisteredModel {
  return {
    name: m.name, creationTimestamp: m.creation_timestamp, lastUpdatedTimestamp: m.last_updated_timestamp, userId: m.user_id,
    description: m.description, tags: kv(m.tags),
    aliases: Object.fromEntries((m.aliases ?? []).map((a: Json) => [a.alias, String(a.version)])),
    latestVersions: (m.latest_versions ?? []).map(version),
  };
}

function dataset(d: Json): Dataset {
  const out: Dataset = { name: d.name, creationTime: d.creation_time, lastUpdateTime: d.last_update_time };
  if (d.description != null) out.description = d.description;
  if (d.subject_column != null) out.subjectColumn = d.subject_column;
  if (d.latest_version != null) out.latestVersion = d.latest_version;
  return out;
}

function datasetVersion(v: Json): DatasetVersionInfo {
  const out: DatasetVersionInfo = {
    name: v.name, version: v.version, sha256: v.sha256, format: v.format, rows: v.rows, columns: v.columns, sizeBytes: v.size_bytes,
    source: v.source, artifactPath: v.artifact_path, createdBy: v.created_by, creationTime: v.creation_time, schema: v.schema, profile: v.profile,
  };
  if (v.lineage != null) out.lineage = v.lineage;
  return out;
}

function distance(d: Json): Distance {
  const out: Distance = {
    column: d.column, measure: d.measure, value: num(d.value), threshold: num(d.threshold),
    sampleSize: d.sample_size, referenceSize: d.reference_size, noise: num(d.noise),
  };
  if (d.category != null) out.category = d.category;
  return out;
}

function report(r: Json): ValidationResult {
  const out: ValidationResult = { ok: r.ok, rows: r.rows, anomalies: r.anomalies ?? [], distances: (r.distances ?? []).map(distance), against: r.against };
  if (r.environment != null) out.environment = r.environment;
  return out;
}

function diff(d: Json): DatasetDiff {
  return {
    a: d.a, b: d.b, identical: d.identical, schema: d.schema,
    columns: (d.columns ?? []).map((c: Json) => (c.distance ? { column: c.column, stats: c.stats, distance: distance(c.distance) } : { column: c.column, stats: c.stats })),
  };
}

/**
 * A Trellis server names its own code beside MLflow's (`trellis_code`); for other servers the
 * HTTP status picks the closest Trellis code. Either way callers can branch on `code`.
 */
function toTrellisError(status: number, body: Json, path: string): TrellisError {
  const message = `${body.message ?? body.error_code ?? `HTTP ${status}`}`;
  if (typeof body.trellis_code === 'string' && body.trellis_code in ERRORS) {
    return TrellisError.fromJSON({ code: body.trellis_code, message });
  }
  const code: ErrorCode = status === 404 ? 'TRELLIS_ENDPOINT_NOT_FOUND' : status === 503 ? 'TRELLIS_STORE_UNAVAILABLE' : status >= 500 ? 'TRELLIS_INTERNAL' : 'TRELLIS_INVALID_PARAMETER';
  return new TrellisError(code, { detail: `${path}: ${message}`, method: 'request', url: path }, { message: `${path}: ${message}` });
}

export class RestBackend implements Backend {
  readonly kind = 'remote';
  private readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(url: string, opts: { token?: string } = {}) {
    this.base = url.replace(/\/+$/, '');
    this.headers = { 'content-type': 'application/json' };
    if (opts.token) this.headers.authorization = `Bearer ${opts.token}`;
  }

  /** `path` is relative to `api`: MLflow's routes by default, `trellis` for the native ones. */
  private async call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: Json, api: 'mlflow' | 'trellis' = 'mlflow'): Promise<Json> {
    let url = `${this.base}/api/2.0/${api}/${path}`;
    const init: RequestInit = { method, headers: this.headers };
    if (method === 'GET' && body) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(body)) {
        if (v === undefined) continue;
        for (const x of Array.isArray(v) ? v : [v]) qs.append(k, String(x));
      }
      url += `?${qs}`;
    } else if (body) {
      init.body = JSON.stringify(body);
    }
    return this.send(url, init, path);
  }

  private async send(url: string, init: RequestInit, path: string): Promise<Json> {
    let res: Response;
    try {
      res = await fetch(url, init);
    } catch (e) {
      throw new TrellisError('TRELLIS_STORE_UNAVAILABLE', { detail: `cannot reach ${this.base}: ${(e as Error).message}` }, { cause: e });
    }
    const text = await res.text();
    let json: Json = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { message: text };
    }
    if (res.status !== 200) throw toTrellisError(res.status, json, path);
    return json;
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
    const r = await this.call('POST', 'experiments/create', { name, tags: Object.entries(tags ?? {}).map(([key, value]) => ({ key, value })) });
    return String(r.experiment_id);
  }
  async getExperimentByName(name: string) {
    return this.maybe(this.call('GET', 'experiments/get-by-name', { experiment_name: name }).then((r) => experiment(r.experiment)));
  }
  async getExperiment(id: string) { return experiment((await this.call('GET', 'experiments/get', { experiment_id: id })).experiment); }
  async createRun(input: Parameters<Backend['createRun']>[0]) {
    const r = await this.call('POST', 'runs/create', {
      experiment_id: input.experimentId, run_name: input.runName, start_time: input.startTime ?? Date.now(),
      tags: Object.entries(input.tags ?? {}).map(([key, value]) => ({ key, value })),
    });
    return run(r.run);
  }
  async getRun(runId: string) { return run((await this.call('GET', 'runs/get', { run_id: runId })).run); }
  async updateRun(runId: string, patch: Parameters<Backend['updateRun']>[1]) {
    return runInfo((await this.call('POST', 'runs/update', { run_id: runId, status: patch.status, end_time: patch.endTime, run_name: patch.runName })).run_info);
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
        tags: Object.entries(d.tags).map(([key, value]) => ({ key, value })),
        dataset: { name: d.dataset.name, digest: d.dataset.digest, source_type: d.dataset.sourceType, source: d.dataset.source, schema: d.dataset.schema, profile: d.dataset.profile },
      })),
    });
  }
  async getMetricHistory(runId: string, key: string) {
    return ((await this.call('GET', 'metrics/get-history', { run_id: runId, metric_key: key })).metrics ?? []).map(metric);
  }
  async searchRuns(q: Parameters<Backend['searchRuns']>[0]) {
    const r = await this.call('POST', 'runs/search', { experiment_ids: q.experimentIds, filter: q.filter, order_by: q.orderBy, max_results: q.maxResults, page_token: q.pageToken });
    return r.next_page_token ? { items: (r.runs ?? []).map(run), nextPageToken: r.next_page_token as string } : { items: (r.runs ?? []).map(run) };
  }
  private async artifactBase(runId: string): Promise<string> {
    const uri = (await this.getRun(runId)).info.artifactUri;
    const path = uri.replace(/^mlflow-artifacts:(\/\/[^/]*)?/, '').replace(/^\/+/, '');
    return `${this.base}/api/2.0/mlflow-artifacts/artifacts/${path}`;
  }
  async logArtifact(runId: string, path: string, data: Uint8Array | string) {
    const url = `${await this.artifactBase(runId)}/${path.split('/').map(encodeURIComponent).join('/')}`;
    const res = await fetch(url, { method: 'PUT', body: typeof data === 'string' ? data : Buffer.from(data) as unknown as BodyInit, headers: { 'content-type': 'application/octet-stream' } });
    if (res.status !== 200) throw toTrellisError(res.status, await res.json().catch(() => ({})), path);
  }
  async listArtifacts(runId: string, path?: string): Promise<ArtifactInfo[]> {
    const r = await this.call('GET', 'artifacts/list', { run_id: runId, path });
    return (r.files ?? []).map((f: Json) => ({ path: f.path, isDir: f.is_dir, size: f.file_size }));
  }
  async readArtifact(runId: string, path: string) {
    const res = await fetch(`${await this.artifactBase(runId)}/${path.split('/').map(encodeURIComponent).join('/')}`);
    if (res.status !== 200) throw toTrellisError(res.status, await res.json().catch(() => ({})), path);
    return Buffer.from(await res.arrayBuffer());
  }
  async getRegisteredModel(name: string) {
    return this.maybe(this.call('GET', 'registered-models/get', { name }).then((r) => model(r.registered_model)));
  }
  async createRegisteredModel(name: string, description?: string) {
    return model((await this.call('POST', 'registered-models/create', { name, description })).registered_model);
  }
  async createModelVersion(input: Parameters<Backend['createModelVersion']>[0]) {
    const r = await this.call('POST', 'model-versions/create', {
      name: input.name, source: input.source, run_id: input.runId, description: input.description,
      tags: Object.entries(input.tags ?? {}).map(([key, value]) => ({ key, value })),
    });
    return version(r.model_version);
  }
  async getModelVersion(name: string, v: string) { return version((await this.call('GET', 'model-versions/get', { name, version: v })).model_version); }
  async getVersionByAlias(name: string, alias: string) { return version((await this.call('GET', 'registered-models/alias', { name, alias })).model_version); }
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
    const r = await this.send(`${this.base}/api/2.0/trellis/datasets/versions?${qs}`, {
      method: 'POST', body, headers: { ...this.headers, 'content-type': 'application/octet-stream' },
    }, 'datasets/versions');
    return { version: datasetVersion(r.dataset_version), created: r.created === true };
  }
  async listDatasets() { return ((await this.call('GET', 'datasets', undefined, 'trellis')).datasets ?? []).map(dataset); }
  async datasetVersions(name: string) {
    return ((await this.call('GET', 'datasets/versions', { name }, 'trellis')).dataset_versions ?? []).map(datasetVersion);
  }
  async getDatasetVersion(ref: string) {
    // Parsed here with the embedded backend's grammar, so a bad reference fails the same way in both.
    const { name, version } = parseDatasetRef(ref);
    return datasetVersion((await this.call('GET', 'datasets/get', { name, version }, 'trellis')).dataset_version);
  }
  async diffDatasets(a: string, b: string) { return diff((await this.call('GET', 'datasets/diff', { a, b }, 'trellis')).diff); }
  async validateRecords(records: readonly object[], against: string, opts: { environment?: string }) {
    return report((await this.call('POST', 'datasets/validate', { records, against, environment: opts.environment }, 'trellis')).report);
  }
  async skew(records: readonly object[], against: string): Promise<SkewResult> {
    const s = (await this.call('POST', 'datasets/skew', { records, against }, 'trellis')).skew;
    return { against: s.against, distances: (s.distances ?? []).map(distance), skewed: s.skewed ?? [] };
  }
  async train(o: TrainOptions): Promise<TrainResult> {
    const params = Object.entries(o.params ?? {}).map(([key, value]) => ({ key, value: String(value) }));
    return trainResult(await this.call('POST', 'train', {
      data: o.data, target: o.target, algo: o.algo, params, experiment: o.experiment, register: o.register, cv: o.cv, search: o.search,
    }, 'trellis'));
  }
  async close() { /* nothing held open: fetch pools its own connections */ }
}
