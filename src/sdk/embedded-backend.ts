import { defaultUser } from '../core/user.js';
import { isSkewed } from '../data/validate/distances.js';
import { summaryOf, type Profile } from '../data/profile/profile.js';
import type { DatasetSchema } from '../data/schema/schema.js';
import type { Actor } from '../store/ports/common.js';
import type { DatasetVersion } from '../store/ports/datasets.js';
import { Workspace, type WorkspaceOptions } from '../workspace/workspace.js';
import { parseSpace } from '../ml/search.js';
import { parseCvSpec } from '../ml/training-workflow.js';
import type { ParsedRef } from '../core/refs.js';
import type { AuditQuery } from '../store/ports/audit.js';
import type { ModelVersion, Stage } from '../store/ports/registry.js';
import type { DataFormat } from '../data/readers/index.js';
import { trainResult, trainingReport, type Backend, type DatasetAddOptions, type DatasetVersionInfo, type DeploymentOptions, type PredictionsOptions, type RecordRunInput, type RolloutOptions, type SearchOptions, type TrafficChange, type TrainOptions, type ValidateFileOptions } from './backend.js';
import { parseSlo, parseSteps, sloText } from '../serving/rollout.js';

/** The stored profile keeps its sketches for monitors; SDK callers get what the REST API returns. */
const versionInfo = (v: DatasetVersion): DatasetVersionInfo => ({ ...v, schema: v.schema as DatasetSchema, profile: summaryOf(v.profile as Profile) });

/** The workspace's services in this process: no server. */
export class EmbeddedBackend implements Backend {
  readonly kind = 'embedded';
  private constructor(readonly ws: Workspace, private readonly who: Actor) {}

  static async open(opts: WorkspaceOptions & { user?: string } = {}): Promise<EmbeddedBackend> {
    return new EmbeddedBackend(await Workspace.open(opts), { actor: opts.user ?? defaultUser() });
  }

  createExperiment(name: string, tags?: Record<string, string>) { return this.ws.tracking.createExperiment(name, { tags }, this.who); }
  getExperimentByName(name: string) { return this.ws.tracking.findExperiment(name); }
  getExperiment(id: string) { return this.ws.tracking.getExperiment(id); }
  searchExperiments(q: Parameters<Backend['searchExperiments']>[0]) { return this.ws.tracking.searchExperiments(q); }
  deleteExperiment(id: string) { return this.ws.tracking.deleteExperiment(id, this.who); }
  restoreExperiment(id: string) { return this.ws.tracking.restoreExperiment(id, this.who); }
  createRun(input: Parameters<Backend['createRun']>[0]) { return this.ws.tracking.createRun({ ...input, userId: this.who.actor }, this.who); }
  getRun(runId: string) { return this.ws.tracking.getRun(runId); }
  async recordRun(experimentId: string, r: RecordRunInput) {
    return this.ws.tracking.recordRun(await this.ws.tracking.getExperiment(experimentId), r, this.who);
  }
  deleteRun(runId: string) { return this.ws.tracking.deleteRun(runId, this.who); }
  restoreRun(runId: string) { return this.ws.tracking.restoreRun(runId, this.who); }
  updateRun(runId: string, patch: Parameters<Backend['updateRun']>[1]) { return this.ws.tracking.updateRun(runId, patch, this.who); }
  logBatch(runId: string, batch: Parameters<Backend['logBatch']>[1]) { return this.ws.tracking.logBatch(runId, batch, this.who); }
  logInputs(runId: string, datasets: Parameters<Backend['logInputs']>[1]) { return this.ws.tracking.logInputs(runId, datasets, this.who); }
  async getMetricHistory(runId: string, key: string) { return (await this.ws.tracking.getMetricHistory(runId, key)).items; }
  searchRuns(q: Parameters<Backend['searchRuns']>[0]) { return this.ws.tracking.searchRuns(q); }
  async logArtifact(runId: string, path: string, data: Uint8Array | string) { await this.ws.tracking.logArtifact(runId, path, data); }
  async listArtifacts(runId: string, path?: string) { return (await this.ws.tracking.listArtifacts(runId, path)).files; }
  readArtifact(runId: string, path: string) { return this.ws.tracking.readArtifact(runId, path); }
  getRegisteredModel(name: string) { return this.ws.registry.findModel(name); }
  searchModels(q: SearchOptions) { return this.ws.registry.searchModels(q); }
  searchModelVersions(q: SearchOptions) { return this.ws.registry.searchVersions(q); }
  readModelFile(v: Pick<ModelVersion, 'name' | 'version' | 'source'>, path: string) { return this.ws.registry.readVersionFile(v, path); }
  lookupModel(ref: string) { return this.ws.registry.lookup(ref); }
  resolveModelVersion(ref: string | ParsedRef) { return this.ws.registry.resolve(ref); }
  createRegisteredModel(name: string, description?: string) { return this.ws.registry.createModel({ name, description }, this.who); }
  createModelVersion(input: Parameters<Backend['createModelVersion']>[0]) { return this.ws.registry.createVersion(input, this.who); }
  getModelVersion(name: string, version: string) { return this.ws.registry.getVersion(name, version); }
  getVersionByAlias(name: string, alias: string) { return this.ws.registry.getVersionByAlias(name, alias); }
  setAlias(name: string, alias: string, version: string) { return this.ws.registry.setAlias(name, alias, version, this.who); }
  deleteAlias(name: string, alias: string) { return this.ws.registry.deleteAlias(name, alias, this.who); }
  transitionStage(name: string, version: string, stage: Stage, archiveExisting: boolean) {
    return this.ws.registry.transitionStage(name, version, stage, archiveExisting, this.who);
  }
  modelHistory(name: string, o: { alias?: string; stage?: string } = {}) { return this.ws.registry.history(name, o); }
  async addDataset(name: string, file: string, opts: DatasetAddOptions) {
    const r = await this.ws.data.add(name, file, opts, this.who);
    const typeBreaks = r.inference.flatMap((i) => (i.typeBreak ? [{ column: i.name, line: i.typeBreak.line, value: i.typeBreak.value, reason: i.typeBreak.reason }] : []));
    return { version: versionInfo(r.version), created: r.created, typeBreaks };
  }
  listDatasets() { return this.ws.data.list(); }
  async datasetVersions(name: string) { return (await this.ws.data.versions(name)).map(versionInfo); }
  async getDatasetVersion(ref: string) { return versionInfo(await this.ws.data.get(ref)); }
  async datasetBytes(ref: string) {
    const { version, data } = await this.ws.data.bytes(ref);
    return { version: versionInfo(version), data };
  }
  diffDatasets(a: string, b: string) { return this.ws.data.diff(a, b); }
  validateRecords(records: readonly object[], against: string | undefined, opts: { environment?: string; schema?: unknown }) {
    return this.ws.data.validateRecords(records, { ref: against, schema: opts.schema, environment: opts.environment });
  }
  skew(records: readonly object[], against: string) { return this.ws.data.skew(records, against); }
  validateFile(file: string, o: ValidateFileOptions) {
    return this.ws.data.validateFile(file, { ref: o.against, schema: o.schema, environment: o.environment, read: { format: o.format } });
  }
  async skewFile(file: string, against: string, o: { format?: DataFormat } = {}) {
    const r = await this.validateFile(file, { against, environment: 'serving', format: o.format });
    return { against: r.against, distances: r.distances, skewed: r.distances.filter(isSkewed).map((d) => d.column), excludedFromDrift: r.excludedFromDrift };
  }
  getDatasetSchema(name: string, schemaVersion?: number) { return this.ws.data.getSchema(name, schemaVersion); }
  putDatasetSchema(name: string, schema: unknown, pin: boolean) { return this.ws.data.putSchema(name, schema, pin, this.who); }
  lineage(ref: string, o: { depth?: number } = {}) { return this.ws.pipelines.lineage(ref, o); }
  auditEvents(q: AuditQuery) { return this.ws.audit.events(q); }
  verifyAudit() { return this.ws.audit.verify(); }
  async train(o: TrainOptions) {
    const params = Object.fromEntries(Object.entries(o.params ?? {}).map(([k, v]) => [k, typeof v === 'boolean' ? v : String(v)]));
    const r = await this.ws.training.train({
      data: o.data, target: o.target, algo: o.algo ?? 'linear', params, exclude: o.exclude, experiment: o.experiment, register: o.register,
      cv: o.cv === undefined ? undefined : parseCvSpec(o.cv), search: o.search && { ...o.search, space: o.search.space.map(parseSpace) },
    }, this.who);
    return o.report ? { ...trainResult(r.summary), summary: r.summary, report: trainingReport(r.outcome) } : trainResult(r.summary);
  }
  async feedback(endpoint: string, requestId: string, labels: readonly (string | number | null)[]) {
    // The log keeps an endpoint under its deployment's spelling of the name.
    const name = (await this.ws.deployments.find(endpoint))?.name ?? endpoint;
    return this.ws.predictions.feedback(name, requestId, labels);
  }
  async predictions(endpoint: string, o: PredictionsOptions) {
    const d = await this.ws.deployments.get(endpoint);
    return this.ws.predictions.query({ ...o, endpoint: d.name, limit: o.limit ?? 100 });
  }
  listDeployments() { return this.ws.deployments.list(); }
  getDeployment(name: string) { return this.ws.deployments.get(name); }
  deploymentHistory(name: string, limit?: number) { return this.ws.deployments.history(name, limit); }
  createDeployment(name: string, req: DeploymentOptions, reason?: string) { return this.ws.deployments.create(name, req, this.who, reason); }
  setTraffic(name: string, change: TrafficChange, reason?: string) {
    const canary = change.canary && change.canary.share === 0 ? null : change.canary;
    return this.ws.deployments.setTraffic(name, { ...change, ...(canary !== undefined ? { canary } : {}) }, this.who, reason);
  }
  promoteDeployment(name: string, o: { arm?: string; reason?: string }) { return this.ws.deployments.promote(name, this.who, o); }
  rollbackDeployment(name: string, o: { reason?: string }) { return this.ws.deployments.rollback(name, this.who, o); }
  async startRollout(name: string, o: RolloutOptions) {
    const slo = parseSlo(o.slo);
    return this.ws.deployments.startRollout(name, {
      model: o.model, steps: parseSteps((o.steps ?? [5, 25, 50, 100]).join(',')), holdMs: o.holdMs ?? 600_000, slo, sloText: sloText(slo),
      minRequests: o.minRequests ?? 100, minLabels: o.minLabels ?? 50,
    }, this.who);
  }
  deleteDeployment(name: string) { return this.ws.deployments.delete(name, this.who); }
  close() { return this.ws.close(); }
}

