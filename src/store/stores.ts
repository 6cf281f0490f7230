/**
 * Every metadata port over one database, as the composition root (`open-stores.ts`) hands them
 * out. The ports share one driver so that an adapter can keep a cross-concept invariant (a model
 * version's run exists, deleting an experiment deletes its runs) inside one transaction; callers
 * see only the ports.
 */
import type { AuditLog } from './ports/audit.js';
import type { DatasetStore } from './ports/datasets.js';
import type { DeploymentStore } from './ports/deployments.js';
import type { PredictionLog } from './ports/predictions.js';
import type { IdentityStore } from './ports/identities.js';
import type { PipelineStore } from './ports/pipelines.js';
import type { RegistryStore } from './ports/registry.js';
import type { TrackingStore } from './ports/tracking.js';
import type { TriggerStore } from './ports/triggers.js';

export interface Stores {
  /** A short name of the backend (`sqlite`, `postgres`) for logs and `/version`. */
  readonly kind: string;
  readonly tracking: TrackingStore;
  readonly registry: RegistryStore;
  readonly datasets: DatasetStore;
  readonly pipelines: PipelineStore;
  readonly triggers: TriggerStore;
  readonly identities: IdentityStore;
  readonly deployments: DeploymentStore;
  readonly predictions: PredictionLog;
  readonly audit: AuditLog;
  /** The schema version the database is at after migrations ran. */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}
