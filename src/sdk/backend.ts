/**
 * What the SDK needs from a workspace, whichever way it is reached: straight to the stores
 * (embedded) or over the MLflow-compatible REST API of a `trellis server` (remote). Both
 * implementations pass the same SDK test suite.
 */
import type { DatasetInput, Experiment, Metric, ModelVersion, RegisteredModel, Run, RunInfo, RunStatus, Tags } from '../store/metadata-store.js';
import type { ArtifactInfo } from '../store/artifact-store.js';
import type { Page } from '../store/search-types.js';

export interface SearchRunsOptions {
  experimentIds: string[];
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
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
  close(): Promise<void>;
}
