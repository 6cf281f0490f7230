/**
 * The TypeScript SDK.
 *
 * ```ts
 * import { Trellis } from 'trellis';
 *
 * const t = await Trellis.open();                       // embedded: ./.trellis (SQLite + files)
 * // const t = Trellis.connect('http://127.0.0.1:5000'); // remote: a `trellis server`
 * const run = await t.startRun({ experiment: 'bike-demand', name: 'ols' });
 * await run.logParams({ features: 'temp,hum', ridge: 0 });
 * await run.logMetrics({ rmse: 101.2, r2: 0.61 });
 * await run.logArtifact('model/model.json', JSON.stringify(model));
 * await run.end();
 * const v = await t.registerModel('bike-demand', `runs:/${run.id}/model`);
 * await t.setAlias('bike-demand', 'champion', v.version);
 * await t.data.add('bike', 'examples/data/bike_sharing_hourly.csv');  // dataset versions: see TrellisData
 * await t.close();
 * ```
 */
import { TrellisError } from '../core/errors.js';
import { parseModelRef, refErrors } from '../core/refs.js';
import type { HistoryInterval } from '../registry/history.js';
import type { LineageGraph } from '../registry/lineage.js';
import type { AuditVerification } from '../store/audit-chain.js';
import type { AuditEvent, AuditQuery } from '../store/ports/audit.js';
import type { Page, Tags, ViewType } from '../store/ports/common.js';
import type { LabelledEntry } from '../store/ports/predictions.js';
import type { ModelVersion, RegisteredModel, Stage } from '../store/ports/registry.js';
import type { DatasetInput, Experiment, Metric, Run, RunStatus } from '../store/ports/tracking.js';
import type { ArtifactInfo } from '../store/artifact-store.js';
import type { WorkspaceOptions } from '../workspace/workspace.js';
import type { Backend, DeploymentOptions, PredictionsOptions, RecordRunInput, RolloutOptions, SearchOptions, SearchRunsOptions, TrafficChange, TrainOptions, TrainResult } from './backend.js';
import type { Deployment, DeploymentRevision } from '../store/ports/deployments.js';
import { TrellisData } from './data.js';
import { EmbeddedBackend } from './embedded-backend.js';
import { RestBackend } from './rest-backend.js';

export type ParamValue = string | number | boolean;

export class Trellis {
  /** Dataset versions: add, list, versions, get, diff, validate, skew. */
  readonly data: TrellisData;

  private constructor(private readonly backend: Backend) {
    this.data = new TrellisData(backend);
  }

  /** An embedded workspace: the stores are opened in this process (default `./.trellis`). */
  static async open(opts: WorkspaceOptions & { user?: string } = {}): Promise<Trellis> {
    return new Trellis(await EmbeddedBackend.open(opts));
  }

  /** A remote workspace behind `trellis server` (or any MLflow-compatible tracking server). */
  static connect(url: string, opts: { token?: string } = {}): Trellis {
    return new Trellis(new RestBackend(url, opts));
  }

  get kind(): 'embedded' | 'remote' {
    return this.backend.kind;
  }

  /** The id of the experiment with this name, created if it does not exist yet. */
  async experiment(name: string, tags?: Tags): Promise<string> {
    const existing = await this.backend.getExperimentByName(name);
    if (existing) return existing.experimentId;
    return this.backend.createExperiment(name, tags);
  }

  getExperiment(id: string): Promise<Experiment> {
    return this.backend.getExperiment(id);
  }

  /** Experiments by MLflow's grammar: `t.searchExperiments({ filter: "name LIKE 'bike%'" })`. */
  searchExperiments(q: SearchOptions & { viewType?: ViewType } = {}): Promise<Page<Experiment>> {
    return this.backend.searchExperiments(q);
  }

  /** Deletes an experiment and its runs (restorable). */
  deleteExperiment(id: string): Promise<void> {
    return this.backend.deleteExperiment(id);
  }

  restoreExperiment(id: string): Promise<void> {
    return this.backend.restoreExperiment(id);
  }

  /** Deletes a run (restorable). */
  deleteRun(runId: string): Promise<void> {
    return this.backend.deleteRun(runId);
  }

  restoreRun(runId: string): Promise<void> {
    return this.backend.restoreRun(runId);
  }

  /** Starts a run in the named experiment (created if missing; `Default` when omitted). */
  async startRun(opts: { experiment?: string; name?: string; tags?: Tags } = {}): Promise<ActiveRun> {
    const experimentId = opts.experiment ? await this.experiment(opts.experiment) : '0';
    const run = await this.backend.createRun({ experimentId, runName: opts.name, tags: opts.tags });
    return new ActiveRun(this.backend, run);
  }

  /** Reattaches to an existing run, e.g. to log more to it. */
  async run(runId: string): Promise<ActiveRun> {
    return new ActiveRun(this.backend, await this.backend.getRun(runId));
  }

  getRun(runId: string): Promise<Run> {
    return this.backend.getRun(runId);
  }

  /**
   * Records a finished run at once — artifacts, params, metrics, inputs — in the named experiment
   * (created if missing; `Default` when omitted). Embedded it is one transaction; remote, a failure
   * part-way leaves the run marked FAILED.
   *
   * ```ts
   * const run = await t.recordRun({ experiment: 'scoring', runName: 'nightly', metrics: [{ key: 'rows', value: 1200, timestamp: Date.now(), step: 0 }] });
   * ```
   */
  async recordRun(r: RecordRunInput & { experiment?: string } = {}): Promise<Run> {
    const { experiment, ...record } = r;
    return this.backend.recordRun(await this.experiment(experiment ?? 'Default'), record);
  }

  searchRuns(q: SearchRunsOptions): Promise<Page<Run>> {
    return this.backend.searchRuns(q);
  }

  metricHistory(runId: string, key: string): Promise<Metric[]> {
    return this.backend.getMetricHistory(runId, key);
  }

  listArtifacts(runId: string, path?: string): Promise<ArtifactInfo[]> {
    return this.backend.listArtifacts(runId, path);
  }

  readArtifact(runId: string, path: string): Promise<Buffer> {
    return this.backend.readArtifact(runId, path);
  }

  /**
   * Registers a new version of `name` (creating the model on first use) from a run's artifacts:
   * `runs:/<run_id>/<path>`.
   */
  async registerModel(name: string, source: string, opts: { description?: string; tags?: Tags } = {}): Promise<ModelVersion> {
    if (!(await this.backend.getRegisteredModel(name))) {
      try {
        await this.backend.createRegisteredModel(name);
      } catch (e) {
        // Another writer may have created it between the check and the create.
        if (!(await this.backend.getRegisteredModel(name))) throw e;
      }
    }
    const runId = /^runs:\/([^/]+)/.exec(source)?.[1];
    return this.backend.createModelVersion({ name, source, runId, description: opts.description, tags: opts.tags });
  }

  /**
   * A version by reference, read as the CLI and the server read it: `name@alias`, `name@3`,
   * `name@v3`, `name@latest` or `name/3` (or the name and the version as separate arguments).
   */
  async modelVersion(ref: string, version?: string): Promise<ModelVersion> {
    if (version !== undefined) return this.backend.getModelVersion(ref, version);
    const { name, selector } = parseModelRef(ref);
    if (selector.kind === 'version') return this.backend.getModelVersion(name, String(selector.version));
    if (selector.kind === 'alias') return this.backend.getVersionByAlias(name, selector.alias);
    const model = await this.backend.getRegisteredModel(name);
    if (!model) throw refErrors.noModel(name);
    const newest = [...model.latestVersions].sort((a, b) => Number(b.version) - Number(a.version))[0];
    if (!newest) throw refErrors.noModelVersion(name, 'latest', []);
    return newest;
  }

  /** A file of a registered model version (`model.json` by default): `JSON.parse((await t.modelFile('bike-demand@champion')).toString())`. */
  async modelFile(ref: string, path = 'model.json'): Promise<Buffer> {
    const v = await this.modelVersion(ref);
    return this.backend.readModelFile(v, path);
  }

  setAlias(name: string, alias: string, version: string): Promise<void> {
    return this.backend.setAlias(name, alias, version);
  }

  deleteAlias(name: string, alias: string): Promise<void> {
    return this.backend.deleteAlias(name, alias);
  }

  /** Registered models by MLflow's grammar: `t.searchModels({ filter: "name LIKE 'bike%'" })`. */
  searchModels(q: SearchOptions = {}): Promise<Page<RegisteredModel>> {
    return this.backend.searchModels(q);
  }

  /** Model versions by MLflow's grammar: `t.searchModelVersions({ filter: "name = 'bike-demand'" })`. */
  searchModelVersions(q: SearchOptions = {}): Promise<Page<ModelVersion>> {
    return this.backend.searchModelVersions(q);
  }

  /** Moves a version to a stage (`None`, `Staging`, `Production`, `Archived`). */
  transitionStage(name: string, version: string, stage: Stage, opts: { archiveExisting?: boolean } = {}): Promise<ModelVersion> {
    return this.backend.transitionStage(name, version, stage, opts.archiveExisting ?? false);
  }

  /** Which version held each alias and stage of a model, from when to when, and who moved it. */
  modelHistory(name: string, opts: { alias?: string; stage?: string } = {}): Promise<HistoryInterval[]> {
    return this.backend.modelHistory(name, opts);
  }

  /** Where a model version or dataset version came from, and what was made from it: `t.lineage('bike-demand@champion')`. */
  lineage(ref: string, opts: { depth?: number } = {}): Promise<LineageGraph> {
    return this.backend.lineage(ref, opts);
  }

  /** The audit trail: `t.auditEvents({ newestFirst: true, limit: 20 })`. */
  auditEvents(q: AuditQuery = {}): Promise<AuditEvent[]> {
    return this.backend.auditEvents(q);
  }

  /** Walks the audit hash chain: `ok` is false when an event was altered, removed or reordered. */
  verifyAudit(): Promise<AuditVerification> {
    return this.backend.verifyAudit();
  }

  /**
   * Delayed labels for a request an endpoint answered, named by its `x-request-id`: one per row of
   * the request, in order (a string, a finite number or null); given again, they replace the
   * earlier ones. `t.feedback('churn', requestId, ['yes'])`.
   */
  feedback(endpoint: string, requestId: string, labels: readonly (string | number | null)[]): Promise<{ rows: number }> {
    return this.backend.feedback(endpoint, requestId, labels);
  }

  /**
   * Serving endpoints: `t.createDeployment('churn', { model: 'churn@champion', canary: { model: 'churn/4', share: 10 } })`;
   * `trellis serve` replicas follow every change within a second. Each change is an audited revision.
   */
  createDeployment(name: string, o: DeploymentOptions, reason?: string): Promise<Deployment> {
    return this.backend.createDeployment(name, o, reason);
  }

  listDeployments(): Promise<Deployment[]> {
    return this.backend.listDeployments();
  }

  getDeployment(name: string): Promise<Deployment> {
    return this.backend.getDeployment(name);
  }

  /** The revisions an endpoint went through, newest first, with who changed it and why. */
  deploymentHistory(name: string, limit?: number): Promise<DeploymentRevision[]> {
    return this.backend.deploymentHistory(name, limit);
  }

  /** Moves traffic: a canary's share (`{ canary: null }` removes it), the shadow, the A/B arms; what is left out stays. */
  setTraffic(name: string, change: TrafficChange, reason?: string): Promise<Deployment> {
    return this.backend.setTraffic(name, change, reason);
  }

  /** All the traffic to the canary (or to the named A/B arm). */
  promote(name: string, o: { arm?: string; reason?: string } = {}): Promise<Deployment> {
    return this.backend.promoteDeployment(name, o);
  }

  /** Drops the canary, or returns to the previous revision when there is none. */
  rollback(name: string, o: { reason?: string } = {}): Promise<Deployment> {
    return this.backend.rollbackDeployment(name, o);
  }

  /** Starts a progressive rollout, run by `trellis serve`: `t.rollout('churn', { model: 'churn/4', steps: [5, 25, 50], holdMs: 600_000, slo: 'error_rate<0.01, p99_ms<50' })`. */
  rollout(name: string, o: RolloutOptions): Promise<Deployment> {
    return this.backend.startRollout(name, o);
  }

  deleteDeployment(name: string): Promise<void> {
    return this.backend.deleteDeployment(name);
  }

  /** An endpoint's prediction log, oldest first: `t.predictions('churn', { since: Date.now() - 3_600_000, withLabels: true })`. */
  async predictions(endpoint: string, o: PredictionsOptions = {}): Promise<LabelledEntry[]> {
    if (o.limit !== undefined && !(Number.isSafeInteger(o.limit) && o.limit >= 1 && o.limit <= 1000)) {
      throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `'limit' must be a whole number from 1 to 1000, got ${o.limit}` });
    }
    return this.backend.predictions(endpoint, o);
  }

  /**
   * Trains a model with a built-in trainer, as `trellis train` does: the run is recorded (in one
   * write once training ends) and, with `register`, the model registered. Remote, the server
   * trains on a dataset version of its workspace.
   *
   * ```ts
   * const r = await t.train({ data: 'bike@1', target: 'cnt', algo: 'gbdt', params: { trees: 200 }, register: 'bike-demand' });
   * await t.setAlias('bike-demand', 'challenger', r.version!);
   * ```
   */
  train(o: TrainOptions): Promise<TrainResult> {
    return this.backend.train(o);
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

/** A run being logged to. Values are sent as they are logged; nothing is buffered. */
export class ActiveRun {
  constructor(private readonly backend: Backend, private run: Run) {}

  get id(): string {
    return this.run.info.runId;
  }
  get info(): Run['info'] {
    return this.run.info;
  }

  async logParams(params: Record<string, ParamValue>): Promise<void> {
    const list = Object.entries(params).map(([key, value]) => ({ key, value: String(value) }));
    for (let i = 0; i < list.length; i += 100) await this.backend.logBatch(this.id, { params: list.slice(i, i + 100) });
  }

  logParam(key: string, value: ParamValue): Promise<void> {
    return this.logParams({ [key]: value });
  }

  /** Logs several metrics at one step (default 0) and time (default now). */
  async logMetrics(metrics: Record<string, number>, opts: { step?: number; timestamp?: number } = {}): Promise<void> {
    const timestamp = opts.timestamp ?? Date.now();
    const list = Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp, step: opts.step ?? 0 }));
    for (let i = 0; i < list.length; i += 1000) await this.backend.logBatch(this.id, { metrics: list.slice(i, i + 1000) });
  }

  logMetric(key: string, value: number, opts: { step?: number; timestamp?: number } = {}): Promise<void> {
    return this.logMetrics({ [key]: value }, opts);
  }

  async setTags(tags: Tags): Promise<void> {
    await this.backend.logBatch(this.id, { tags: Object.entries(tags).map(([key, value]) => ({ key, value })) });
  }

  logArtifact(path: string, data: Uint8Array | string): Promise<void> {
    return this.backend.logArtifact(this.id, path, data);
  }

  /** Records the datasets the run read, e.g. with context tag `mlflow.data.context: training`. */
  logInputs(datasets: DatasetInput[]): Promise<void> {
    return this.backend.logInputs(this.id, datasets);
  }

  async end(status: RunStatus = 'FINISHED'): Promise<void> {
    this.run = { ...this.run, info: await this.backend.updateRun(this.id, { status, endTime: Date.now() }) };
  }
}
