/**
 * The engine's services over a set of stores, for the places that open their own stores outside a
 * Workspace: a worker's execution thread and the CI dry run. The Workspace puts the same set
 * together from the services it already holds.
 */
import { DatasetService } from '../../data/datasets.js';
import { RegistryService } from '../../registry/registry-service.js';
import type { ArtifactStore } from '../../store/artifact-store.js';
import type { Stores } from '../../store/stores.js';
import { TrackingService } from '../../tracking/tracking-service.js';
import type { EngineServices } from './step-exec.js';

export function engineServicesOver(stores: Stores, artifacts: ArtifactStore): EngineServices {
  return {
    pipelines: stores.pipelines,
    triggers: stores.triggers,
    artifacts,
    tracking: new TrackingService(stores.tracking, artifacts, stores.registry),
    registry: new RegistryService(stores.registry, stores.tracking, stores.audit, artifacts),
    data: new DatasetService(stores.datasets, artifacts),
  };
}
