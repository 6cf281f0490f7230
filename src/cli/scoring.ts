/**
 * What the model commands (`predict`, `evaluate`, `explain`, `fairness`) read and write, through
 * the SDK's Backend: on the local stores, or over a server's API. The model and the data are read
 * here and scored on this machine; a scoring run is recorded where the model is.
 */
import { readTableWithInference, type DataFormat } from '../data/readers/index.js';
import type { Table } from '../data/table.js';
import { loadModel, type TrellisModel } from '../ml/model.js';
import type { Backend } from '../sdk/backend.js';
import type { Actor } from '../store/ports/common.js';
import type { DatasetVersion } from '../store/ports/datasets.js';
import type { ModelVersion } from '../store/ports/registry.js';
import type { Run } from '../store/ports/tracking.js';
import { readScoringData, recordScoringRun, type ScoringData, type ScoringRunRequest, type ScoringTracking } from '../workspace/scoring-runs.js';

/** A registered model version by reference (`name@alias`, `name@3`, `name/3`, `name@latest`), with its model document (checked against its recorded digest). */
export async function loadModelVia(b: Backend, ref: string): Promise<{ model: TrellisModel; name: string; version: string; modelVersion: ModelVersion }> {
  const v = await b.resolveModelVersion(ref);
  const model = loadModel(await b.readModelFile(v, 'model.json'));
  return { model, name: v.name, version: v.version, modelVersion: v };
}

/** A data file on this machine, or a dataset version (`name@3`, `name@latest`) read from the workspace, with what it is. */
export function loadDataVia(b: Backend, ref: string): Promise<ScoringData> {
  return readScoringData({
    // The version as the data service gives it; reading it needs only its stored name and format.
    get: (r: string) => b.getDatasetVersion(r),
    loadVersion: async (v: DatasetVersion): Promise<Table> => {
      const { data } = await b.datasetBytes(`${v.name}@${v.version}`);
      return (await readTableWithInference({ bytes: data, name: v.artifactPath }, { format: v.format as DataFormat })).table;
    },
  }, ref);
}

/** Records a predict or evaluate run, as `recordScoringRun` does on the local stores. */
export function recordScoringRunVia(b: Backend, req: ScoringRunRequest, who: Actor): Promise<Run> {
  const tracking: ScoringTracking = {
    getRun: (id) => b.getRun(id),
    getExperiment: (id) => b.getExperiment(id),
    ensureExperiment: async (name) => {
      const found = await b.getExperimentByName(name);
      if (found) return found;
      try {
        return await b.getExperiment(await b.createExperiment(name));
      } catch (e) {
        // Another writer may have created it between the look-up and the create.
        const now = await b.getExperimentByName(name);
        if (now) return now;
        throw e;
      }
    },
    recordRun: async (experiment, r) => {
      const artifacts = (r.artifacts ?? []).map((a) => {
        if (typeof a.data !== 'string' && !(a.data instanceof Uint8Array)) throw new Error(`artifact ${a.path}: a stream cannot be recorded here`);
        return { path: a.path, data: a.data };
      });
      return b.recordRun(experiment.experimentId, { runName: r.runName, startTime: r.startTime, tags: r.tags, params: r.params, metrics: r.metrics, inputs: r.inputs, artifacts });
    },
  };
  return recordScoringRun(tracking, req, who);
}
