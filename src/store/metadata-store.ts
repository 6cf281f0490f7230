/**
 * The metadata port: everything Trellis records about experiments, runs and models, and the audit
 * trail of every change to them. Engines and the API talk only to this interface; the SQL
 * implementation (`sql/sql-metadata-store.ts`) runs it on SQLite and on PostgreSQL, and
 * `metadata-store.contract.ts` is the behaviour every implementation must show.
 *
 * The store owns the invariants that need a transaction: params are write-once, writes to deleted
 * runs fail, versions number 1, 2, 3 within a model, an alias points at one version, batches are
 * all-or-nothing within MLflow's size limits, and each change appends its audit event in the same
 * transaction as the change.
 */
import type { Clause, OrderKey, Page, ViewType } from './search-types.js';

export type LifecycleStage = 'active' | 'deleted';
export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
export type Stage = 'None' | 'Staging' | 'Production' | 'Archived';
export type Tags = Record<string, string>;

/** Who made a change: a user name, a token id, or `trellis` for the platform's own decisions. */
export interface Actor {
  actor: string;
}

export interface Experiment {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: LifecycleStage;
  creationTime: number;
  lastUpdateTime: number;
  tags: Tags;
}

export interface RunInfo {
  runId: string;
  runName: string;
  experimentId: string;
  userId: string;
  status: RunStatus;
  startTime: number;
  endTime?: number;
  artifactUri: string;
  lifecycleStage: LifecycleStage;
}

export interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface DatasetInput {
  dataset: { name: string; digest: string; sourceType: string; source: string; schema?: string; profile?: string };
  tags: Tags;
}

export interface Run {
  info: RunInfo;
  data: { metrics: Metric[]; params: Record<string, string>; tags: Tags };
  inputs: { datasetInputs: DatasetInput[] };
}

export interface RegisteredModel {
  name: string;
  creationTimestamp: number;
  lastUpdatedTimestamp: number;
  userId?: string;
  description?: string;
  tags: Tags;
  aliases: Record<string, string>;
  latestVersions: ModelVersion[];
}

export type ModelVersionStatus = 'PENDING_REGISTRATION' | 'FAILED_REGISTRATION' | 'READY';

export interface ModelVersion {
  name: string;
  version: string;
  creationTimestamp: number;
  lastUpdatedTimestamp: number;
  userId?: string;
  currentStage: Stage;
  description?: string;
  source: string;
  runId?: string;
  runLink?: string;
  status: ModelVersionStatus;
  statusMessage?: string;
  tags: Tags;
  aliases: string[];
}

export interface AuditEvent {
  seq: number;
  time: number;
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  before: unknown;
  after: unknown;
  prevHash: string;
  hash: string;
}

export interface SearchQuery {
  filter?: Clause[];
  orderBy?: OrderKey[];
  maxResults?: number;
  pageToken?: string;
}

export interface CreateRunInput {
  experimentId: string;
  userId?: string;
  runName?: string;
  startTime?: number;
  tags?: Tags;
}

export interface LogBatchInput {
  metrics?: Metric[];
  params?: { key: string; value: string }[];
  tags?: { key: string; value: string }[];
}

export interface Dataset {
  name: string;
  creationTime: number;
  lastUpdateTime: number;
  description?: string;
  /** The column holding data-subject ids, indexed so that erasure can find every version holding a subject. */
  subjectColumn?: string;
  latestVersion?: number;
}

export interface DatasetVersion {
  name: string;
  version: number;
  /** sha256 of the stored file: the version's identity. */
  sha256: string;
  format: string;
  rows: number;
  columns: number;
  sizeBytes: number;
  /** Where the bytes came from (a path or URI), for people; the artifact is the truth. */
  source: string;
  /** Artifact-store path of the content. */
  artifactPath: string;
  createdBy: string;
  creationTime: number;
  /** The inferred schema (a JSON document). */
  schema: unknown;
  /** The profile (a JSON document). */
  profile: unknown;
  /** Upstream lineage: e.g. the run or dataset version this one was derived from. */
  lineage?: Record<string, string>;
}

/** What a new version records; the store adds its number, creator and time. */
export interface CreateDatasetVersionInput extends Omit<DatasetVersion, 'version' | 'createdBy' | 'creationTime'> {
  description?: string;
  subjectColumn?: string;
  /** Distinct subject ids found in the subject column. */
  subjects?: string[];
}

export interface DatasetSchemaDoc {
  name: string;
  /** Schema documents are numbered per dataset: 1, 2, 3 … */
  schemaVersion: number;
  schema: unknown;
  pinned: boolean;
  createdBy: string;
  creationTime: number;
}

export interface CreateModelVersionInput {
  name: string;
  source: string;
  runId?: string;
  runLink?: string;
  description?: string;
  tags?: Tags;
}

/** A published pipeline: its package (IR and code bundle) stored as an artifact, numbered 1, 2, … per name. */
export interface PipelineVersion {
  name: string;
  version: number;
  /** The IR's own `version` field (a label the author chose). */
  irVersion: string;
  /** sha256 of the package: the identity of the version within its pipeline. */
  packageSha256: string;
  irHash: string;
  /** Artifact-store path of the package JSON. */
  location: string;
  /** The IR's `triggers` (trigger specs as the pipeline declares them). */
  triggers: unknown[];
  /** The IR's concurrency policy: `skip`, `queue` or `cancel-previous`. */
  concurrency: string;
  createdBy: string;
  createdAt: number;
}

export interface CreatePipelineVersionInput {
  name: string;
  irVersion: string;
  packageSha256: string;
  irHash: string;
  location: string;
  triggers?: unknown[];
  concurrency?: string;
}

export type TriggerKind = 'cron' | 'dataset' | 'pipeline' | 'api' | 'record';
export type TriggerStatus = 'pending' | 'running' | 'finished' | 'failed' | 'skipped' | 'cancelled';
export type TriggerParams = Record<string, string | number | boolean>;

/**
 * A request to run a pipeline and what became of it: written by the scheduler (a cron time, a new
 * dataset version, an upstream run), by the API, or by another part of the platform (`record`).
 */
export interface TriggerRecord {
  id: number;
  pipeline: string;
  kind: TriggerKind;
  reason: string;
  params: TriggerParams;
  /** Unique when set: the event it stands for, so that the same event never makes two records. */
  dedupeKey?: string;
  status: TriggerStatus;
  createdAt: number;
  updatedAt: number;
  requestedBy: string;
  /** The scheduler that took it (pending → running). */
  claimedBy?: string;
  claimedAt?: number;
  /** The claiming scheduler's last sign of life while the run goes on. */
  heartbeatAt?: number;
  /** The pipeline version that ran. */
  version?: number;
  /** The pipeline run it started. */
  runId?: string;
  /** Why it is in its status: the reason for a skip, the error of a failure, … */
  detail?: string;
}

export interface CreateTriggerInput {
  pipeline: string;
  kind: TriggerKind;
  reason?: string;
  params?: TriggerParams;
  dedupeKey?: string;
}

export interface ClaimTriggersQuery {
  /** Who claims: recorded as `claimedBy`. */
  claimer: string;
  /** Only this pipeline's triggers (default: every pipeline's). */
  pipeline?: string;
  /** Only these triggers. */
  ids?: number[];
  /** At most this many (default 1). */
  limit?: number;
  /**
   * At most one per pipeline, and none of a pipeline that has a trigger `running`: for policies
   * under which a pipeline runs once at a time, decided in the same transaction as the claim.
   */
  exclusive?: boolean;
}

export interface TriggerPatch {
  status?: TriggerStatus;
  detail?: string;
  runId?: string;
  version?: number;
  /** Apply the patch only when the record is in one of these statuses (a compare-and-set). */
  expectStatus?: TriggerStatus[];
}

export interface ListTriggersQuery {
  pipeline?: string;
  status?: TriggerStatus | TriggerStatus[];
  claimedBy?: string;
  /** Default 100. */
  limit?: number;
  /** Oldest first (default: newest first). */
  oldestFirst?: boolean;
}

export interface MetadataStore {
  /** A short name of the backend (`sqlite`, `postgres`) for logs and `/version`. */
  readonly kind: string;
  /** The schema version the database is at after migrations ran. */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;

  // Experiments
  createExperiment(input: { name: string; artifactLocation?: string; tags?: Tags }, who: Actor): Promise<string>;
  getExperiment(id: string): Promise<Experiment>;
  getExperimentByName(name: string): Promise<Experiment>;
  searchExperiments(q: SearchQuery & { viewType?: ViewType }): Promise<Page<Experiment>>;
  renameExperiment(id: string, newName: string, who: Actor): Promise<void>;
  deleteExperiment(id: string, who: Actor): Promise<void>;
  restoreExperiment(id: string, who: Actor): Promise<void>;
  setExperimentTag(id: string, key: string, value: string, who: Actor): Promise<void>;
  deleteExperimentTag(id: string, key: string, who: Actor): Promise<void>;

  // Runs
  createRun(input: CreateRunInput, who: Actor): Promise<Run>;
  getRun(runId: string): Promise<Run>;
  updateRun(runId: string, patch: { status?: RunStatus; endTime?: number; runName?: string }, who: Actor): Promise<RunInfo>;
  deleteRun(runId: string, who: Actor): Promise<void>;
  restoreRun(runId: string, who: Actor): Promise<void>;
  /** All-or-nothing; enforces MLflow's limits and write-once params. */
  logBatch(runId: string, batch: LogBatchInput, who: Actor): Promise<void>;
  deleteRunTag(runId: string, key: string, who: Actor): Promise<void>;
  logInputs(runId: string, datasets: DatasetInput[], who: Actor): Promise<void>;
  getMetricHistory(runId: string, key: string, page?: { maxResults?: number; pageToken?: string }): Promise<Page<Metric>>;
  searchRuns(q: SearchQuery & { experimentIds: string[]; viewType?: ViewType }): Promise<Page<Run>>;

  // Registered models
  createRegisteredModel(input: { name: string; description?: string; tags?: Tags }, who: Actor): Promise<RegisteredModel>;
  getRegisteredModel(name: string): Promise<RegisteredModel>;
  searchRegisteredModels(q: SearchQuery): Promise<Page<RegisteredModel>>;
  renameRegisteredModel(name: string, newName: string, who: Actor): Promise<RegisteredModel>;
  updateRegisteredModel(name: string, description: string, who: Actor): Promise<RegisteredModel>;
  deleteRegisteredModel(name: string, who: Actor): Promise<void>;
  setRegisteredModelTag(name: string, key: string, value: string, who: Actor): Promise<void>;
  deleteRegisteredModelTag(name: string, key: string, who: Actor): Promise<void>;
  getLatestVersions(name: string, stages?: string[]): Promise<ModelVersion[]>;

  // Model versions
  createModelVersion(input: CreateModelVersionInput, who: Actor): Promise<ModelVersion>;
  getModelVersion(name: string, version: string): Promise<ModelVersion>;
  updateModelVersion(name: string, version: string, description: string, who: Actor): Promise<ModelVersion>;
  deleteModelVersion(name: string, version: string, who: Actor): Promise<void>;
  searchModelVersions(q: SearchQuery): Promise<Page<ModelVersion>>;
  transitionStage(name: string, version: string, stage: Stage, archiveExisting: boolean, who: Actor): Promise<ModelVersion>;
  setModelVersionTag(name: string, version: string, key: string, value: string, who: Actor): Promise<void>;
  deleteModelVersionTag(name: string, version: string, key: string, who: Actor): Promise<void>;
  setAlias(name: string, alias: string, version: string, who: Actor): Promise<void>;
  deleteAlias(name: string, alias: string, who: Actor): Promise<void>;
  getVersionByAlias(name: string, alias: string): Promise<ModelVersion>;

  // Datasets
  /**
   * Records a dataset version. The same content (sha256) under the same name is the same version:
   * the existing one is returned with `created: false`, and nothing is written.
   */
  createDatasetVersion(input: CreateDatasetVersionInput, who: Actor): Promise<{ version: DatasetVersion; created: boolean }>;
  getDataset(name: string): Promise<Dataset>;
  listDatasets(): Promise<Dataset[]>;
  listDatasetVersions(name: string): Promise<DatasetVersion[]>;
  /** A version by number, or the latest when `version` is undefined. */
  getDatasetVersion(name: string, version?: number): Promise<DatasetVersion>;
  /** Every dataset version that holds this subject id. */
  findSubject(subject: string): Promise<{ name: string; version: number }[]>;
  /** Stores an edited schema as the dataset's next schema document; `pin` makes it the contract. */
  putDatasetSchema(name: string, schema: unknown, pin: boolean, who: Actor): Promise<DatasetSchemaDoc>;
  /** The pinned schema document, or a numbered one; undefined when none was stored. */
  getDatasetSchema(name: string, schemaVersion?: number): Promise<DatasetSchemaDoc | undefined>;

  // Pipelines and their triggers
  /**
   * Records a published package as the pipeline's next version. The same package (sha256) under
   * the same name is the same version: the existing one is returned with `created: false`.
   */
  createPipelineVersion(input: CreatePipelineVersionInput, who: Actor): Promise<{ version: PipelineVersion; created: boolean }>;
  /** A version by number, or the latest when `version` is undefined. */
  getPipelineVersion(name: string, version?: number): Promise<PipelineVersion>;
  /** Oldest first. */
  listPipelineVersions(name: string): Promise<PipelineVersion[]>;
  /** Every pipeline with a version, by name, each as its latest version. */
  listPipelines(): Promise<PipelineVersion[]>;
  /** Writes a trigger record (pending); with a `dedupeKey` seen before, returns that record with `created: false`. */
  createTrigger(input: CreateTriggerInput, who: Actor): Promise<{ trigger: TriggerRecord; created: boolean }>;
  getTrigger(id: number): Promise<TriggerRecord>;
  /** Moves pending records to running for `claimer`, atomically: two schedulers never claim one record. */
  claimTriggers(q: ClaimTriggersQuery, who: Actor): Promise<TriggerRecord[]>;
  /** The record after the patch, or undefined when `expectStatus` did not hold (nothing written). */
  updateTrigger(id: number, patch: TriggerPatch, who: Actor): Promise<TriggerRecord | undefined>;
  /** Marks the claimer alive on its running records (not audited: a sign of life changes no state). */
  touchTriggers(claimer: string): Promise<number>;
  listTriggers(q?: ListTriggersQuery): Promise<TriggerRecord[]>;

  // Audit
  /** Events in commit order, from `afterSeq` (exclusive), optionally for one entity. */
  listAuditEvents(q?: { afterSeq?: number; limit?: number; entityType?: string; entityId?: string; entityIdPrefix?: string; action?: string }): Promise<AuditEvent[]>;
}
