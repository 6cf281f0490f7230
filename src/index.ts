export { Trellis, ActiveRun, type ParamValue } from './sdk/trellis.js';
export type { SearchRunsOptions, DatasetAddOptions, DatasetAddResult, DatasetVersionInfo, ProfileSummary, ValidationResult, SkewResult, TrainOptions, TrainResult } from './sdk/backend.js';
export { TrellisData } from './sdk/data.js';
export { Workspace, type WorkspaceOptions } from './workspace/workspace.js';
export { TrellisError, ERRORS, type ErrorCode } from './core/errors.js';
export type {
  Experiment, Run, RunInfo, RunStatus, Metric, RegisteredModel, ModelVersion, Stage, Tags, AuditEvent, MetadataStore,
} from './store/metadata-store.js';
export type { ArtifactStore, ArtifactInfo } from './store/artifact-store.js';
