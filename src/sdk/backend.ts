/**
 * What the SDK needs from a workspace, whichever way it is reached: straight to the stores
 * (embedded) or over the MLflow-compatible REST API of a `trellis server` (remote). Both
 * implementations pass the same SDK test suite.
 */
import type { DatasetDiff } from '../data/diff.js';
import type { ColumnProfile } from '../data/profile/profile.js';
import type { DataFormat } from '../data/readers/index.js';
import type { DatasetSchema } from '../data/schema/schema.js';
import type { Distance } from '../data/validate/distances.js';
import type { ValidationReport } from '../data/validate/validate.js';
import type { Page, Tags } from '../store/ports/common.js';
import type { Dataset, DatasetVersion } from '../store/ports/datasets.js';
import type { ModelVersion, RegisteredModel } from '../store/ports/registry.js';
import type { DatasetInput, Experiment, Metric, Run, RunInfo, RunStatus } from '../store/ports/tracking.js';
import type { ArtifactInfo } from '../store/artifact-store.js';

export interface SearchRunsOptions {
  experimentIds: string[];
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
}

export interface DatasetAddOptions {
  /** Needed only when the file's extension does not name the format. */
  format?: DataFormat;
  description?: string;
  /** A column of data-subject ids, indexed for erasure requests. */
  subjectColumn?: string;
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
  /** Trainer parameters, e.g. `{ l2: 0.5, seed: 7, test_size: 0.25 }`. */
  params?: Record<string, string | number | boolean>;
  /** Default `Default` (created if missing). */
  experiment?: string;
  /** Register the model as a new version of this model. */
  register?: string;
  /** `k` folds, or `time:k[:column]`. */
  cv?: string;
  search?: { strategy: 'grid' | 'random'; space: string[]; trials?: number; objective?: string };
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
}

/** The JSON of `trellis train --json` and of `POST /api/2.0/trellis/train`, as the SDK returns it. */
export function trainResult(summary: Record<string, unknown>): TrainResult {
  const { run_id: runId, model, version, metrics, ...details } = summary;
  return { runId: String(runId), model: (model as string | null) ?? null, version: (version as string | null) ?? null, metrics: (metrics ?? {}) as Record<string, number>, details };
}

export interface Backend {
  readonly kind: 'embedded' | 'remote';
  createExperiment(name: string, tags?: Tags): Promise<string>;
  getExperimentByName(name: string): Promise<Experiment | undefined>;
  getExperiment(id: string): Promise<Experiment>;
  createRun(input: { experimentId: string; runName?: string; tags?: Tags; startTime?: number }): Promise<Run>;
  getRun(runId: string): Promise<Run>;
  updateRun(runId: string, patch: { status?: RunStatus; endTime?: number; runName?: string }): Promise<RunInfo>;
  logBatch(runId: string, batch: { metrics?: Metric[]; params?: { key: string; value: string }[]; tags?: { key: string; value: string }[] }): Promise<void>;
  logInputs(runId: string, datasets: DatasetInput[]): Promise<void>;
  getMetricHistory(runId: string, key: string): Promise<Metric[]>;
  searchRuns(q: SearchRunsOptions): Promise<Page<Run>>;
  logArtifact(runId: string, path: string, data: Uint8Array | string): Promise<void>;
  listArtifacts(runId: string, path?: string): Promise<ArtifactInfo[]>;
  readArtifact(runId: string, path: string): Promise<Buffer>;
  getRegisteredModel(name: string): Promise<RegisteredModel | undefined>;
  createRegisteredModel(name: string, description?: string): Promise<RegisteredModel>;
  createModelVersion(input: { name: string; source: string; runId?: string; description?: string; tags?: Tags }): Promise<ModelVersion>;
  getModelVersion(name: string, version: string): Promise<ModelVersion>;
  getVersionByAlias(name: string, alias: string): Promise<ModelVersion>;
  setAlias(name: string, alias: string, version: string): Promise<void>;
  addDataset(name: string, file: string, opts: DatasetAddOptions): Promise<DatasetAddResult>;
  listDatasets(): Promise<Dataset[]>;
  datasetVersions(name: string): Promise<DatasetVersionInfo[]>;
  getDatasetVersion(ref: string): Promise<DatasetVersionInfo>;
  diffDatasets(a: string, b: string): Promise<DatasetDiff>;
  validateRecords(records: readonly object[], against: string, opts: { environment?: string }): Promise<ValidationResult>;
  skew(records: readonly object[], against: string): Promise<SkewResult>;
  train(o: TrainOptions): Promise<TrainResult>;
  close(): Promise<void>;
}
