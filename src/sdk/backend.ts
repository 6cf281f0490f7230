/**
 * What the SDK needs from a workspace, whichever way it is reached: straight to the stores
 * (embedded) or over the MLflow-compatible REST API of a `trellis server` (remote). Both
 * implementations pass the same SDK test suite.
 */
import type { DatasetDiff } from '../data/diff.js';
import type { ColumnProfile } from '../data/profile/profile.js';
import type { DataFormat } from '../data/readers/index.js';
import type { DatasetSchema } from '../data/schema/schema.js';
import type { TrainingOutcome } from '../ml/training-workflow.js';
import type { Distance } from '../data/validate/distances.js';
import type { ValidationReport } from '../data/validate/validate.js';
import type { ParsedRef } from '../core/refs.js';
import type { HistoryInterval } from '../registry/history.js';
import type { LineageGraph } from '../registry/lineage.js';
import type { AuditVerification } from '../store/audit-chain.js';
import type { AuditEvent, AuditQuery } from '../store/ports/audit.js';
import type { Page, Tags, ViewType } from '../store/ports/common.js';
import type { Dataset, DatasetSchemaDoc, DatasetVersion } from '../store/ports/datasets.js';
import type { LabelledEntry } from '../store/ports/predictions.js';
import type { Deployment, DeploymentRevision } from '../store/ports/deployments.js';
import type { DeploymentRequest } from '../serving/deployment-service.js';
import type { ModelVersion, RegisteredModel, Stage } from '../store/ports/registry.js';
import type { DatasetInput, Experiment, Metric, Run, RunInfo, RunStatus } from '../store/ports/tracking.js';
import type { ArtifactInfo } from '../store/artifact-store.js';

export interface SearchRunsOptions {
  experimentIds: string[];
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
  /** Default `ACTIVE_ONLY`. */
  viewType?: ViewType;
}

/** A search with MLflow's grammar: `filter` and `orderBy` as MLflow clients write them. */
export interface SearchOptions {
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
}

/** What a file is checked against: a dataset version's contract, a schema document, or both. */
export interface ValidateFileOptions {
  /** A dataset version (`name`, `name@3`). */
  against?: string;
  /** A schema document (`trellis.schema/v1`), instead of the version's contract. */
  schema?: unknown;
  environment?: string;
  /** Needed only when the file's extension does not name the format. */
  format?: DataFormat;
}

export interface DatasetAddOptions {
  /** Needed only when the file's extension does not name the format. */
  format?: DataFormat;
  description?: string;
  /** A column of data-subject ids, indexed for erasure requests. */
  subjectColumn?: string;
  /** Columns present only in some environments, e.g. `{ cnt: ['training'] }`. */
  environments?: Record<string, string[]>;
}

/** A profile without its mergeable sketches: the statistics people and reports read. */
export interface ProfileSummary {
  rows: number;
  columns: Omit<ColumnProfile, 'sketch'>[];
}

/** A dataset version as the SDK returns it, the same from either backend: the profile is summarized. */
export interface DatasetVersionInfo extends Omit<DatasetVersion, 'schema' | 'profile'> {
  schema: DatasetSchema;
  profile: ProfileSummary;
}

export interface DatasetAddResult {
  version: DatasetVersionInfo;
  /** False when this exact content already was a version of the dataset. */
  created: boolean;
  /** Columns read as strings because a value did not fit the type the column started with: the first such value. */
  typeBreaks: { column: string; line: number; value: string; reason: string }[];
}

export type ValidationResult = ValidationReport & {
  /** What the records were checked against, e.g. `bike@1 (inferred schema and profile)`. */
  against: string;
};

export interface SkewResult {
  against: string;
  distances: Distance[];
  /** The columns whose distance is above their threshold. */
  skewed: string[];
  /** The columns not compared, and why (`role id`, `role time`, `drift: false`). */
  excludedFromDrift: ValidationReport['excludedFromDrift'];
}

/** What to train: the options of `trellis train`. */
export interface TrainOptions {
  /** A dataset version (`name`, `name@3`, `name@latest`); embedded, a data file path too. */
  data: string;
  target: string;
  /** Default `linear`. */
  algo?: 'linear' | 'gbdt' | 'forest';
  /** Columns the model must not see: identifiers, columns that give the target away. */
  exclude?: string[];
  /** Trainer parameters, e.g. `{ l2: 0.5, seed: 7, test_size: 0.25 }`. */
  params?: Record<string, string | number | boolean>;
  /** Default `Default` (created if missing). */
  experiment?: string;
  /** Register the model as a new version of this model. */
  register?: string;
  /** `k` folds, or `time:k[:column]`. */
  cv?: string;
  search?: { strategy: 'grid' | 'random'; space: string[]; trials?: number; objective?: string };
  /** Also return the summary and the report `trellis train` prints. */
  report?: boolean;
}

/** What `trellis train` prints beyond its `--json` summary: the rows, the folds and the trials. */
export interface TrainingReport {
  task: string;
  positiveClass?: string;
  trainRows: number;
  testRows: number;
  metrics: Record<string, number>;
  cv?: { folds: number; time: boolean; mean: Record<string, number>; std: Record<string, number> };
  /** Trials best first, with the searched parameters' values. */
  search?: { metric: string; direction: string; names: string[]; trials: { index: number; params: Record<string, string | number | boolean>; objective: number }[] };
  warnings: string[];
}

/** The report of a training outcome (the server sends the same, snake_case, when asked). */
export function trainingReport(o: TrainingOutcome): TrainingReport {
  const r: TrainingReport = { task: o.task, trainRows: o.trainRows, testRows: o.testRows, metrics: o.metrics, warnings: o.warnings };
  if (o.positiveClass !== undefined) r.positiveClass = o.positiveClass;
  if (o.cv) r.cv = { folds: o.cv.folds.length, time: o.cv.scheme.kind === 'time', mean: o.cv.mean, std: o.cv.std };
  if (o.search) {
    const found = o.search;
    r.search = { metric: found.objective.metric, direction: found.objective.direction, names: Object.keys(found.best.params), trials: found.trials.map((t) => ({ index: t.index, params: t.params, objective: t.objective })) };
  }
  return r;
}

/** A training run as recorded, the same from either backend. */
export interface TrainResult {
  runId: string;
  model: string | null;
  version: string | null;
  /** The final model's hold-out metrics (empty when it was trained on every row). */
  metrics: Record<string, number>;
  /** Cross-validation and search figures, as `trellis train --json` prints them (snake_case). */
  details: Record<string, unknown>;
  /** With `report: true`: the summary as `trellis train --json` prints it, and what its tables show. */
  summary?: Record<string, unknown>;
  report?: TrainingReport;
}

/** The JSON of `trellis train --json` and of `POST /api/2.0/trellis/train`, as the SDK returns it. */
export function trainResult(summary: Record<string, unknown>): TrainResult {
  const { run_id: runId, model, version, metrics, ...details } = summary;
  return { runId: String(runId), model: (model as string | null) ?? null, version: (version as string | null) ?? null, metrics: (metrics ?? {}) as Record<string, number>, details };
}

/** A finished run written at once (as `trellis predict` and `trellis evaluate` record theirs): artifacts first, then the rest. */
export interface RecordRunInput {
  runName?: string;
  startTime?: number;
  tags?: Tags;
  params?: { key: string; value: string }[];
  metrics?: Metric[];
  inputs?: DatasetInput[];
  artifacts?: { path: string; data: Uint8Array | string }[];
}

/** Which entries of an endpoint's prediction log to read. */
export interface PredictionsOptions {
  /** Milliseconds since the epoch: entries from then on. */
  since?: number;
  /** Milliseconds since the epoch: entries before then. */
  until?: number;
  /** Only this route: `primary`, `canary`, `arm:<name>`, `shadow`. */
  route?: string;
  /** Only entries with feedback. */
  withLabels?: boolean;
  /** At most this many, oldest first (default 100, at most 1000). */
  limit?: number;
}

export interface Backend {
  readonly kind: 'embedded' | 'remote';
  createExperiment(name: string, tags?: Tags): Promise<string>;
  getExperimentByName(name: string): Promise<Experiment | undefined>;
  getExperiment(id: string): Promise<Experiment>;
  searchExperiments(q: SearchOptions & { viewType?: ViewType }): Promise<Page<Experiment>>;
  deleteExperiment(id: string): Promise<void>;
  restoreExperiment(id: string): Promise<void>;
  createRun(input: { experimentId: string; runName?: string; tags?: Tags; startTime?: number }): Promise<Run>;
  getRun(runId: string): Promise<Run>;
  /** Records a finished run in an experiment: embedded in one transaction, remote as a sequence of calls ending with the run's end. */
  recordRun(experimentId: string, r: RecordRunInput): Promise<Run>;
  deleteRun(runId: string): Promise<void>;
  restoreRun(runId: string): Promise<void>;
  updateRun(runId: string, patch: { status?: RunStatus; endTime?: number; runName?: string }): Promise<RunInfo>;
  logBatch(runId: string, batch: { metrics?: Metric[]; params?: { key: string; value: string }[]; tags?: { key: string; value: string }[] }): Promise<void>;
  logInputs(runId: string, datasets: DatasetInput[]): Promise<void>;
  getMetricHistory(runId: string, key: string): Promise<Metric[]>;
  searchRuns(q: SearchRunsOptions): Promise<Page<Run>>;
  logArtifact(runId: string, path: string, data: Uint8Array | string): Promise<void>;
  listArtifacts(runId: string, path?: string): Promise<ArtifactInfo[]>;
  readArtifact(runId: string, path: string): Promise<Buffer>;
  getRegisteredModel(name: string): Promise<RegisteredModel | undefined>;
  searchModels(q: SearchOptions): Promise<Page<RegisteredModel>>;
  searchModelVersions(q: SearchOptions): Promise<Page<ModelVersion>>;
  /** A model, and the version its reference selects (`name@3`, `name@champion`, `name@latest`, `name/3`); a bare name selects none. */
  /**
   * A file under a model version's source, e.g. `model.json`, refused with
   * TRELLIS_MODEL_DIGEST_MISMATCH when its bytes differ from those recorded with the version.
   */
  readModelFile(v: Pick<ModelVersion, 'name' | 'version' | 'source'>, path: string): Promise<Buffer>;
  lookupModel(ref: string): Promise<{ model: RegisteredModel; version?: ModelVersion }>;
  /** The version a reference names; a bare name is its latest version. */
  resolveModelVersion(ref: string | ParsedRef): Promise<ModelVersion>;
  createRegisteredModel(name: string, description?: string): Promise<RegisteredModel>;
  createModelVersion(input: { name: string; source: string; runId?: string; description?: string; tags?: Tags }): Promise<ModelVersion>;
  getModelVersion(name: string, version: string): Promise<ModelVersion>;
  getVersionByAlias(name: string, alias: string): Promise<ModelVersion>;
  setAlias(name: string, alias: string, version: string): Promise<void>;
  deleteAlias(name: string, alias: string): Promise<void>;
  transitionStage(name: string, version: string, stage: Stage, archiveExisting: boolean): Promise<ModelVersion>;
  /** Which version held each alias and stage, from when to when, and who moved it. */
  modelHistory(name: string, o?: { alias?: string; stage?: string }): Promise<HistoryInterval[]>;
  addDataset(name: string, file: string, opts: DatasetAddOptions): Promise<DatasetAddResult>;
  listDatasets(): Promise<Dataset[]>;
  datasetVersions(name: string): Promise<DatasetVersionInfo[]>;
  getDatasetVersion(ref: string): Promise<DatasetVersionInfo>;
  /** The stored bytes of a version, exactly as added. */
  datasetBytes(ref: string): Promise<{ version: DatasetVersionInfo; data: Buffer }>;
  diffDatasets(a: string, b: string): Promise<DatasetDiff>;
  validateRecords(records: readonly object[], against: string | undefined, opts: { environment?: string; schema?: unknown }): Promise<ValidationResult>;
  skew(records: readonly object[], against: string): Promise<SkewResult>;
  /** A data file on this machine checked like {@link validateRecords}; remote, its rows are sent as records. */
  validateFile(file: string, o: ValidateFileOptions): Promise<ValidationResult>;
  /** Train/serve skew of a data file on this machine against a training version. */
  skewFile(file: string, against: string, o?: { format?: DataFormat }): Promise<SkewResult>;
  /** The pinned schema document of a dataset, or a numbered one; undefined when none was stored. */
  getDatasetSchema(name: string, schemaVersion?: number): Promise<DatasetSchemaDoc | undefined>;
  /** Stores a schema document as the dataset's next one; `pin` makes it the contract validation uses. */
  putDatasetSchema(name: string, schema: unknown, pin: boolean): Promise<DatasetSchemaDoc>;
  /** Where a model version or dataset version came from and what was made from it (`bike-demand@champion`, `bike@3`, `model:x@1`). */
  lineage(ref: string, o?: { depth?: number }): Promise<LineageGraph>;
  /** Audit events, newest first when asked. */
  auditEvents(q: AuditQuery): Promise<AuditEvent[]>;
  /** Walks the audit hash chain. */
  verifyAudit(): Promise<AuditVerification>;
  train(o: TrainOptions): Promise<TrainResult>;
  /** Labels for a request an endpoint answered, one per row; given again, they replace the earlier ones. */
  feedback(endpoint: string, requestId: string, labels: readonly (string | number | null)[]): Promise<{ rows: number }>;
  /** An endpoint's prediction log in time order, with labels where feedback came. */
  predictions(endpoint: string, o: PredictionsOptions): Promise<LabelledEntry[]>;
  listDeployments(): Promise<Deployment[]>;
  getDeployment(name: string): Promise<Deployment>;
  deploymentHistory(name: string, limit?: number): Promise<DeploymentRevision[]>;
  createDeployment(name: string, req: DeploymentOptions, reason?: string): Promise<Deployment>;
  setTraffic(name: string, change: TrafficChange, reason?: string): Promise<Deployment>;
  promoteDeployment(name: string, o: { arm?: string; reason?: string }): Promise<Deployment>;
  rollbackDeployment(name: string, o: { reason?: string }): Promise<Deployment>;
  startRollout(name: string, o: RolloutOptions): Promise<Deployment>;
  deleteDeployment(name: string): Promise<void>;
  close(): Promise<void>;
}

/** An endpoint as `trellis deployments create` makes it: a primary (or A/B arms), a canary, a shadow. */
export type DeploymentOptions = DeploymentRequest;

/** What `setTraffic` changes; what it leaves out stays. `canary: null` (or share 0) removes the canary, `shadow: null` the shadow. */
export interface TrafficChange {
  canary?: { model: string; share: number } | null;
  shadow?: string | null;
  ab?: { model: string; share: number; arm?: string }[];
  stickyKey?: string;
  public?: boolean;
}

/** A progressive rollout: steps in percent, the hold per step in ms, SLO checks as written (`error_rate<0.01, p99_ms<50`). */
export interface RolloutOptions {
  model: string;
  steps?: number[];
  holdMs?: number;
  slo: string;
  minRequests?: number;
  minLabels?: number;
}
