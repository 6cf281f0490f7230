import { defaultUser } from '../core/user.js';
import { summaryOf, type Profile } from '../data/profile/profile.js';
import type { DatasetSchema } from '../data/schema/schema.js';
import type { Actor } from '../store/ports/common.js';
import type { DatasetVersion } from '../store/ports/datasets.js';
import { Workspace, type WorkspaceOptions } from '../workspace/workspace.js';
import { parseSpace } from '../ml/search.js';
import { parseCvSpec } from '../ml/training-workflow.js';
import { trainResult, type Backend, type DatasetAddOptions, type DatasetVersionInfo, type TrainOptions } from './backend.js';

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
  createRun(input: Parameters<Backend['createRun']>[0]) { return this.ws.tracking.createRun({ ...input, userId: this.who.actor }, this.who); }
  getRun(runId: string) { return this.ws.tracking.getRun(runId); }
  updateRun(runId: string, patch: Parameters<Backend['updateRun']>[1]) { return this.ws.tracking.updateRun(runId, patch, this.who); }
  logBatch(runId: string, batch: Parameters<Backend['logBatch']>[1]) { return this.ws.tracking.logBatch(runId, batch, this.who); }
  logInputs(runId: string, datasets: Parameters<Backend['logInputs']>[1]) { return this.ws.tracking.logInputs(runId, datasets, this.who); }
  async getMetricHistory(runId: string, key: string) { return (await this.ws.tracking.getMetricHistory(runId, key)).items; }
  searchRuns(q: Parameters<Backend['searchRuns']>[0]) { return this.ws.tracking.searchRuns(q); }
  async logArtifact(runId: string, path: string, data: Uint8Array | string) { await this.ws.tracking.logArtifact(runId, path, data); }
  async listArtifacts(runId: string, path?: string) { return (await this.ws.tracking.listArtifacts(runId, path)).files; }
  readArtifact(runId: string, path: string) { return this.ws.tracking.readArtifact(runId, path); }
  getRegisteredModel(name: string) { return this.ws.registry.findModel(name); }
  createRegisteredModel(name: string, description?: string) { return this.ws.registry.createModel({ name, description }, this.who); }
  createModelVersion(input: Parameters<Backend['createModelVersion']>[0]) { return this.ws.registry.createVersion(input, this.who); }
  getModelVersion(name: string, version: string) { return this.ws.registry.getVersion(name, version); }
  getVersionByAlias(name: string, alias: string) { return this.ws.registry.getVersionByAlias(name, alias); }
  setAlias(name: string, alias: string, version: string) { return this.ws.registry.setAlias(name, alias, version, this.who); }
  async addDataset(name: string, file: string, opts: DatasetAddOptions) {
    const r = await this.ws.data.add(name, file, opts, this.who);
    return { version: versionInfo(r.version), created: r.created };
  }
  listDatasets() { return this.ws.data.list(); }
  async datasetVersions(name: string) { return (await this.ws.data.versions(name)).map(versionInfo); }
  async getDatasetVersion(ref: string) { return versionInfo(await this.ws.data.get(ref)); }
  diffDatasets(a: string, b: string) { return this.ws.data.diff(a, b); }
  validateRecords(records: readonly object[], against: string, opts: { environment?: string }) {
    return this.ws.data.validateRecords(records, { ref: against, environment: opts.environment });
  }
  skew(records: readonly object[], against: string) { return this.ws.data.skew(records, against); }
  async train(o: TrainOptions) {
    const params = Object.fromEntries(Object.entries(o.params ?? {}).map(([k, v]) => [k, typeof v === 'boolean' ? v : String(v)]));
    const r = await this.ws.training.train({
      data: o.data, target: o.target, algo: o.algo ?? 'linear', params, experiment: o.experiment, register: o.register,
      cv: o.cv === undefined ? undefined : parseCvSpec(o.cv), search: o.search && { ...o.search, space: o.search.space.map(parseSpace) },
    }, this.who);
    return trainResult(r.summary);
  }
  close() { return this.ws.close(); }
}

