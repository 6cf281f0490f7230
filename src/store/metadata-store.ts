/**
 * The combined metadata port: every concept's port (`ports/`) as one type, for the callers that
 * still take a single store. New code takes the one port it needs (`TrackingStore`,
 * `RegistryStore`, …) or the `Stores` of `stores.ts`; this type and `openMetadataStore` are the
 * transitional door, to be removed once every caller goes through the services.
 *
 * The invariants each adapter owns are written on each port; the one they share is that each
 * change appends its audit event in the same transaction as the change.
 */
import type { AuditLog } from './ports/audit.js';
import type { DatasetStore } from './ports/datasets.js';
import type { PipelineStore } from './ports/pipelines.js';
import type { RegistryStore } from './ports/registry.js';
import type { TrackingStore } from './ports/tracking.js';
import type { TriggerStore } from './ports/triggers.js';

export type { Actor, LifecycleStage, SearchQuery, Tags } from './ports/common.js';
export type { AuditEvent, AuditLog, AuditQuery } from './ports/audit.js';
export type { CreateDatasetVersionInput, Dataset, DatasetSchemaDoc, DatasetStore, DatasetVersion } from './ports/datasets.js';
export type { CreatePipelineVersionInput, PipelineStore, PipelineVersion } from './ports/pipelines.js';
export type { CreateModelVersionInput, ModelVersion, ModelVersionStatus, RegisteredModel, RegistryStore, Stage } from './ports/registry.js';
export type { CreateRunInput, DatasetInput, Experiment, LogBatchInput, Metric, Run, RunInfo, RunStatus, TrackingStore } from './ports/tracking.js';
export type {
  ClaimTriggersQuery, CreateTriggerInput, ListTriggersQuery, TriggerKind, TriggerParams, TriggerPatch, TriggerRecord, TriggerStatus, TriggerStore,
} from './ports/triggers.js';

export type MetadataStore = TrackingStore & RegistryStore & DatasetStore & PipelineStore & TriggerStore & AuditLog & {
  /** A short name of the backend (`sqlite`, `postgres`) for logs and `/version`. */
  readonly kind: string;
  /** The schema version the database is at after migrations ran. */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
};
