import { defaultUser } from '../core/user.js';
import { isTrellisError } from '../core/errors.js';
import type { Actor } from '../store/metadata-store.js';
import { Workspace, type WorkspaceOptions } from '../workspace/workspace.js';
import type { Backend } from './backend.js';

const notFoundAsUndefined = async <T>(p: Promise<T>): Promise<T | undefined> => {
  try {
    return await p;
  } catch (e) {
    if (isTrellisError(e) && e.httpStatus === 404) return undefined;
    throw e;
  }
};

/** Straight to the stores: no server, the same process. */
export class EmbeddedBackend implements Backend {
  readonly kind = 'embedded';
  private constructor(readonly ws: Workspace, private readonly who: Actor) {}

  static async open(opts: WorkspaceOptions & { user?: string } = {}): Promise<EmbeddedBackend> {
    return new EmbeddedBackend(await Workspace.open(opts), { actor: opts.user ?? defaultUser() });
  }

  createExperiment(name: string, tags?: Record<string, string>) { return this.ws.tracking.createExperiment(name, { tags }, this.who); }
  getExperimentByName(name: string) { return notFoundAsUndefined(this.ws.meta.getExperimentByName(name)); }
  getExperiment(id: string) { return this.ws.meta.getExperiment(id); }
  createRun(input: Parameters<Backend['createRun']>[0]) { return this.ws.meta.createRun({ ...input, userId: this.who.actor }, this.who); }
  getRun(runId: string) { return this.ws.meta.getRun(runId); }
  updateRun(runId: string, patch: Parameters<Backend['updateRun']>[1]) { return this.ws.meta.updateRun(runId, patch, this.who); }
  logBatch(runId: string, batch: Parameters<Backend['logBatch']>[1]) { return this.ws.meta.logBatch(runId, batch, this.who); }
  logInputs(runId: string, datasets: Parameters<Backend['logInputs']>[1]) { return this.ws.meta.logInputs(runId, datasets, this.who); }
  async getMetricHistory(runId: string, key: string) { return (await this.ws.meta.getMetricHistory(runId, key)).items; }
  searchRuns(q: Parameters<Backend['searchRuns']>[0]) { return this.ws.tracking.searchRuns(q); }
  async logArtifact(runId: string, path: string, data: Uint8Array | string) { await this.ws.tracking.logArtifact(runId, path, data); }
  async listArtifacts(runId: string, path?: string) { return (await this.ws.tracking.listArtifacts(runId, path)).files; }
  readArtifact(runId: string, path: string) { return this.ws.tracking.readArtifact(runId, path); }
  getRegisteredModel(name: string) { return notFoundAsUndefined(this.ws.meta.getRegisteredModel(name)); }
  createRegisteredModel(name: string, description?: string) { return this.ws.meta.createRegisteredModel({ name, description }, this.who); }
  createModelVersion(input: Parameters<Backend['createModelVersion']>[0]) { return this.ws.registry.createVersion(input, this.who); }
  getModelVersion(name: string, version: string) { return this.ws.meta.getModelVersion(name, version); }
  getVersionByAlias(name: string, alias: string) { return this.ws.meta.getVersionByAlias(name, alias); }
  setAlias(name: string, alias: string, version: string) { return this.ws.meta.setAlias(name, alias, version, this.who); }
  close() { return this.ws.close(); }
}

