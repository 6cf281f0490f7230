/**
 * The objects routes act on, read from their parameters for the access check (access.ts): an
 * experiment by id (a run by its experiment), a registered model, a dataset or a pipeline by name.
 * A run never moves to another experiment, so the run → experiment lookup is cached.
 */
import { parseRef } from '../core/refs.js';
import type { ObjectRef } from '../governance/policy.js';
import type { Workspace } from '../workspace/workspace.js';
import type { ObjectResolver } from './request-auth.js';
import type { Params } from './params.js';

const RUN_CACHE = 50_000;
const runExperiments = new WeakMap<Workspace, Map<string, string>>();

/** The experiment `runId` belongs to (404 for an unknown run). */
export async function experimentOfRun(ws: Workspace, runId: string): Promise<string> {
  let cache = runExperiments.get(ws);
  if (!cache) runExperiments.set(ws, (cache = new Map<string, string>()));
  const hit = cache.get(runId);
  if (hit !== undefined) return hit;
  const id = (await ws.tracking.getRun(runId)).info.experimentId;
  if (cache.size >= RUN_CACHE) cache.clear();
  cache.set(runId, id);
  return id;
}

export const experimentObj = (id: string): ObjectRef => ({ type: 'experiment', id });
export const modelObj = (name: string): ObjectRef => ({ type: 'model', id: name });
export const datasetObj = (name: string): ObjectRef => ({ type: 'dataset', id: name });
export const pipelineObj = (name: string): ObjectRef => ({ type: 'pipeline', id: name });

/** The experiment named by an id parameter; `fallback` when the parameter is absent (runs/create's default experiment). */
export const byExperimentId = (param = 'experiment_id', fallback?: string): ObjectResolver =>
  (_req, p) => {
    const id = fallback === undefined ? p.requireId(param) : p.optionalId(param) || fallback;
    return experimentObj(id);
  };

export const byExperimentName = (ws: Workspace, param: string): ObjectResolver =>
  async (_req, p) => experimentObj((await ws.tracking.getExperimentByName(p.requireString(param))).experimentId);

/** The experiment of the run in `run_id` (or MLflow 1.x's `run_uuid`). */
export const byRun = (ws: Workspace): ObjectResolver => async (_req, p) => experimentObj(await experimentOfRun(ws, p.runId()));

export const byModel = (param = 'name'): ObjectResolver => (_req, p) => modelObj(p.requireString(param));

/** A dataset by name; a `name@version` reference names its dataset. */
export const byDataset = (param = 'name') => (_req: unknown, p: Params): ObjectRef => datasetObj(refName(p, param));

export const byPipeline = (param = 'name'): ObjectResolver => (_req, p) => pipelineObj(refName(p, param));

function refName(p: Params, param: string): string {
  const v = p.requireString(param);
  return v.includes('@') || v.includes('/') ? parseRef(v).name : v;
}

/** The experiment named by `param` (default: `Default`); undefined when there is none yet (creating one needs a global grant). */
export const byExperimentNameIfAny = (ws: Workspace, param: string): ObjectResolver =>
  async (_req, p) => {
    const name = p.optionalString(param) || 'Default';
    const e = await ws.tracking.getExperimentByName(name).catch(() => undefined);
    return e ? experimentObj(e.experimentId) : undefined;
  };

/**
 * The object an artifact-store path belongs to: `datasets/<name>/…` a dataset, `pipelines/<name>/…`
 * a pipeline, `<experiment id>/…` (the default artifact locations) an experiment. Anything else
 * names no object, and needs a global grant.
 */
export function artifactObject(path: string): ObjectRef | undefined {
  const [first, second] = path.split('/');
  if (first === 'datasets' && second) return datasetObj(second);
  if (first === 'pipelines' && second) return pipelineObj(second);
  if (first && /^\d{1,18}$/.test(first)) return experimentObj(first);
  return undefined;
}

/** The model or dataset a lineage request starts from (`ref`, `model` or `dataset`). */
export const byLineageStart: ObjectResolver = (_req, p) => {
  const ref = p.optionalString('ref');
  if (ref !== undefined) {
    const kind = /^(model|dataset):/.exec(ref)?.[1];
    const name = parseRef(kind ? ref.slice(kind.length + 1) : ref).name;
    return kind === 'model' ? modelObj(name) : kind === 'dataset' ? datasetObj(name) : undefined;
  }
  const model = p.optionalString('model');
  const dataset = p.optionalString('dataset');
  return model ? modelObj(model) : dataset ? datasetObj(dataset) : undefined;
};
