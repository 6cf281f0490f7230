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
import type { Stores } from './stores.js';

export type { Actor, LifecycleStage, SearchQuery, Tags } from './ports/common.js';
export type { AuditEvent, AuditLog, AuditQuery } from './ports/audit.js';
export type { CreateDatasetVersionInput, Dataset, DatasetSchemaDoc, DatasetStore, DatasetVersion } from './ports/datasets.js';
export type { CreatePipelineVersionInput, PipelineStore, PipelineVersion } from './ports/pipelines.js';
export type { CreateModelVersionInput, ModelVersion, ModelVersionStatus, RegisteredModel, RegistryStore, Stage } from './ports/registry.js';
export type { CreateRunInput, DatasetInput, Experiment, LogBatchInput, LoggedModel, Metric, RecordRunInput, Run, RunInfo, RunOutcome, RunStatus, TrackingStore } from './ports/tracking.js';
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

/**
 * The transitional door: one object with every port's methods, each bound to the port that owns
 * it, for the callers that still take a single `MetadataStore`. To be removed, with the
 * `MetadataStore` type, once every caller goes through the services.
 */
export function metadataStoreOver(stores: Stores): MetadataStore {
  const { tracking: t, registry: r, datasets: d, pipelines: p, triggers: g, audit: a } = stores;
  return {
    kind: stores.kind,
    schemaVersion: () => stores.schemaVersion(),
    close: () => stores.close(),

    createExperiment: t.createExperiment.bind(t),
    getExperiment: t.getExperiment.bind(t),
    getExperimentByName: t.getExperimentByName.bind(t),
    searchExperiments: t.searchExperiments.bind(t),
    renameExperiment: t.renameExperiment.bind(t),
    deleteExperiment: t.deleteExperiment.bind(t),
    restoreExperiment: t.restoreExperiment.bind(t),
    setExperimentTag: t.setExperimentTag.bind(t),
    deleteExperimentTag: t.deleteExperimentTag.bind(t),
    createRun: t.createRun.bind(t),
    getRun: t.getRun.bind(t),
    updateRun: t.updateRun.bind(t),
    deleteRun: t.deleteRun.bind(t),
    restoreRun: t.restoreRun.bind(t),
    logBatch: t.logBatch.bind(t),
    deleteRunTag: t.deleteRunTag.bind(t),
    logInputs: t.logInputs.bind(t),
    getMetricHistory: t.getMetricHistory.bind(t),
    searchRuns: t.searchRuns.bind(t),
    searchRunsEncoded: t.searchRunsEncoded.bind(t),
    completeRun: t.completeRun.bind(t),
    recordRun: t.recordRun.bind(t),
    appendLoggedModel: t.appendLoggedModel.bind(t),

    createRegisteredModel: r.createRegisteredModel.bind(r),
    getRegisteredModel: r.getRegisteredModel.bind(r),
    searchRegisteredModels: r.searchRegisteredModels.bind(r),
    renameRegisteredModel: r.renameRegisteredModel.bind(r),
    updateRegisteredModel: r.updateRegisteredModel.bind(r),
    deleteRegisteredModel: r.deleteRegisteredModel.bind(r),
    setRegisteredModelTag: r.setRegisteredModelTag.bind(r),
    deleteRegisteredModelTag: r.deleteRegisteredModelTag.bind(r),
    getLatestVersions: r.getLatestVersions.bind(r),
    createModelVersion: r.createModelVersion.bind(r),
    getModelVersion: r.getModelVersion.bind(r),
    updateModelVersion: r.updateModelVersion.bind(r),
    deleteModelVersion: r.deleteModelVersion.bind(r),
    searchModelVersions: r.searchModelVersions.bind(r),
    transitionStage: r.transitionStage.bind(r),
    setModelVersionTag: r.setModelVersionTag.bind(r),
    deleteModelVersionTag: r.deleteModelVersionTag.bind(r),
    setAlias: r.setAlias.bind(r),
    deleteAlias: r.deleteAlias.bind(r),
    getVersionByAlias: r.getVersionByAlias.bind(r),

    createDatasetVersion: d.createDatasetVersion.bind(d),
    getDataset: d.getDataset.bind(d),
    listDatasets: d.listDatasets.bind(d),
    listDatasetVersions: d.listDatasetVersions.bind(d),
    getDatasetVersion: d.getDatasetVersion.bind(d),
    findSubject: d.findSubject.bind(d),
    putDatasetSchema: d.putDatasetSchema.bind(d),
    getDatasetSchema: d.getDatasetSchema.bind(d),

    createPipelineVersion: p.createPipelineVersion.bind(p),
    getPipelineVersion: p.getPipelineVersion.bind(p),
    listPipelineVersions: p.listPipelineVersions.bind(p),
    listPipelines: p.listPipelines.bind(p),
    createPipelineRun: p.createPipelineRun.bind(p),
    getPipelineRun: p.getPipelineRun.bind(p),
    listPipelineRuns: p.listPipelineRuns.bind(p),
    endPipelineRun: p.endPipelineRun.bind(p),
    resumePipelineRun: p.resumePipelineRun.bind(p),
    touchPipelineRun: p.touchPipelineRun.bind(p),
    startStepRun: p.startStepRun.bind(p),
    recordCachedStepRun: p.recordCachedStepRun.bind(p),
    finishStepRun: p.finishStepRun.bind(p),
    failStepRun: p.failStepRun.bind(p),
    requestStepCancel: p.requestStepCancel.bind(p),
    getStepRun: p.getStepRun.bind(p),
    listStepRuns: p.listStepRuns.bind(p),
    findCacheEntry: p.findCacheEntry.bind(p),
    listStepEdges: p.listStepEdges.bind(p),
    completePipelineRunEdges: p.completePipelineRunEdges.bind(p),
    claimStepLease: p.claimStepLease.bind(p),
    touchStepLease: p.touchStepLease.bind(p),
    getStepLease: p.getStepLease.bind(p),

    createTrigger: g.createTrigger.bind(g),
    getTrigger: g.getTrigger.bind(g),
    claimTriggers: g.claimTriggers.bind(g),
    updateTrigger: g.updateTrigger.bind(g),
    touchTriggers: g.touchTriggers.bind(g),
    listTriggers: g.listTriggers.bind(g),

    listAuditEvents: a.listAuditEvents.bind(a),
  };
}
