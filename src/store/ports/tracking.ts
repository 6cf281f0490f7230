/**
 * The tracking port: experiments and their runs, with what a run logs (metrics, params, tags,
 * dataset inputs). The line is drawn where MLflow draws its tracking store: everything a training
 * script writes while it runs, and nothing about what is later done with its outputs (the registry,
 * datasets and pipelines are ports of their own that refer to runs by id).
 *
 * Invariants the adapter owns, each inside one transaction with its audit event:
 * - params are write-once (the same value again is accepted, a different one is refused);
 * - writes to a deleted run, or a run in a deleted experiment, fail;
 * - a batch is all-or-nothing within MLflow's size limits (`limits.ts`);
 * - deleting an experiment deletes its active runs, and restoring it restores exactly those;
 * - the `Default` experiment `0` exists once the store is open;
 * - a run's latest metric per key is the one with the highest step, then timestamp, then value.
 */
import type { Actor, LifecycleStage, Page, SearchQuery, Tags, ViewType } from './common.js';

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

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

/**
 * A run as a search page reads it for a caller that forwards it without looking inside: its info,
 * and what it logged still as the JSON text the store built while reading, so that a page of a
 * thousand runs costs no object per metric. Each text is a JSON array: metrics of
 * `{"key", "value", "timestamp", "step"}` with NaN and the infinities as the strings "NaN",
 * "Infinity" and "-Infinity" (protobuf's JSON mapping, as MLflow sends them), params and tags of
 * `{"key", "value"}`, each array in the code-point order of its keys. {@link decodeRun} reads one.
 */
export interface EncodedRun {
  info: RunInfo;
  data: { metrics: string; params: string; tags: string };
  inputs: { datasetInputs: DatasetInput[] };
}

/** The {@link Run} an {@link EncodedRun} holds. */
export function decodeRun(e: EncodedRun): Run {
  const metrics = (JSON.parse(e.data.metrics) as { key: string; value: number | string; timestamp: number; step: number }[])
    .map((m) => ({ key: m.key, value: Number(m.value), timestamp: m.timestamp, step: m.step }));
  return { info: e.info, data: { metrics, params: keyValueMap(e.data.params), tags: keyValueMap(e.data.tags) }, inputs: e.inputs };
}

function keyValueMap(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, value } of JSON.parse(text) as { key: string; value: string }[]) out[key] = value;
  return out;
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

/** A model logged to a run, as MLflow's `model_json` holds it (`artifact_path`, `flavors`, `utc_time_created`, `run_id`, …). */
export type LoggedModel = Record<string, unknown>;

/** The run tag where MLflow keeps the JSON list of models logged to a run. */
export const LOG_MODEL_HISTORY_TAG = 'mlflow.log-model.history';

/** What a run still has to log when it ends, and how it ended: written in one transaction. */
export interface RunOutcome extends LogBatchInput {
  inputs?: DatasetInput[];
  /** Appended to the run's log-model history (the `mlflow.log-model.history` tag). */
  loggedModels?: LoggedModel[];
  status: 'FINISHED' | 'FAILED' | 'KILLED';
  /** Default: now. */
  endTime?: number;
}

/** A run written whole: its creation (tags as at creation) and its outcome in one transaction. */
export interface RecordRunInput extends CreateRunInput, Omit<RunOutcome, 'tags'> {
  /**
   * Chosen by the caller (32 lowercase hex characters), so that the run's artifacts can be written
   * under {@link runArtifactUri} before the run is recorded; default: a new id.
   */
  runId?: string;
}

/** Where a run's artifacts live: `<experiment artifact location>/<run id>/artifacts`. */
export function runArtifactUri(experimentArtifactLocation: string, runId: string): string {
  return `${experimentArtifactLocation.replace(/\/+$/, '')}/${runId}/artifacts`;
}

/**
 * A write or a delete of stored bytes through the artifact proxy: the bytes live in the artifact
 * store; the change is recorded here, as an audit event naming the path and the bytes' sha256.
 */
export interface ArtifactChange {
  kind: 'put' | 'delete';
  /** The store path (`<exp>/<run>/artifacts/model/model.json`). */
  path: string;
  /** The run whose artifacts the path is in, when it is in one. */
  runId?: string;
  /** Of the bytes written, or of the file deleted (absent when a directory or nothing was deleted). */
  sha256?: string;
  size?: number;
}

export interface TrackingStore {
  // Experiments
  createExperiment(input: { name: string; artifactLocation?: string; tags?: Tags }, who: Actor): Promise<string>;
  getExperiment(id: string): Promise<Experiment>;
  getExperimentByName(name: string): Promise<Experiment>;
  searchExperiments(q: SearchQuery & { viewType?: ViewType }): Promise<Page<Experiment>>;
  renameExperiment(id: string, newName: string, who: Actor): Promise<void>;
  /** Also deletes the experiment's active runs, in the same transaction. */
  deleteExperiment(id: string, who: Actor): Promise<void>;
  /** Restores the runs its deletion deleted, not runs deleted on their own. */
  restoreExperiment(id: string, who: Actor): Promise<void>;
  setExperimentTag(id: string, key: string, value: string, who: Actor): Promise<void>;
  deleteExperimentTag(id: string, key: string, who: Actor): Promise<void>;

  // Runs
  createRun(input: CreateRunInput, who: Actor): Promise<Run>;
  getRun(runId: string): Promise<Run>;
  /** A run's info alone (no metrics, params, tags or inputs): what artifact access needs. */
  getRunInfo(runId: string): Promise<RunInfo>;
  updateRun(runId: string, patch: { status?: RunStatus; endTime?: number; runName?: string }, who: Actor): Promise<RunInfo>;
  deleteRun(runId: string, who: Actor): Promise<void>;
  restoreRun(runId: string, who: Actor): Promise<void>;
  /** All-or-nothing; enforces MLflow's limits and write-once params. */
  logBatch(runId: string, batch: LogBatchInput, who: Actor): Promise<void>;
  deleteRunTag(runId: string, key: string, who: Actor): Promise<void>;
  logInputs(runId: string, datasets: DatasetInput[], who: Actor): Promise<void>;
  getMetricHistory(runId: string, key: string, page?: { maxResults?: number; pageToken?: string }): Promise<Page<Metric>>;
  searchRuns(q: SearchQuery & { experimentIds: string[]; viewType?: ViewType }): Promise<Page<Run>>;
  /** {@link searchRuns}, each run's data left as the JSON text the store read it as. */
  searchRunsEncoded(q: SearchQuery & { experimentIds: string[]; viewType?: ViewType }): Promise<Page<EncodedRun>>;

  // Runs written at their end
  /**
   * Ends an active run: its remaining metrics, params, tags, inputs and logged models, and its
   * final status, all-or-nothing in one transaction with one audit event (MLflow's batch limits
   * apply to the metrics, params and tags together). Returns the run as it now is.
   */
  completeRun(runId: string, outcome: RunOutcome, who: Actor): Promise<Run>;
  /** Creates a run already ended ({@link completeRun}'s effect included), in one transaction with one audit event. */
  recordRun(input: RecordRunInput, who: Actor): Promise<Run>;
  /**
   * Appends a model to the run's log-model history inside one transaction, so that concurrent
   * appends all land. A history tag that is not a JSON list is refused, not replaced.
   */
  appendLoggedModel(runId: string, model: LoggedModel, who: Actor): Promise<void>;

  // Artifacts
  /** Records a change made through the artifact proxy as its audit event (`put_artifact`, `delete_artifact`). */
  recordArtifactChange(change: ArtifactChange, who: Actor): Promise<void>;
}
