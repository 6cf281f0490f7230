/**
 * Writes into a run: metrics, params, tags, dataset inputs and logged models (spec §1.4). Single
 * writes go through the store's batch call, so one set of limits and one audit shape cover them all.
 */
import { invalid } from '../../core/errors.js';
import { LIMITS } from '../../store/limits.js';
import type { DatasetInput, Metric } from '../../store/metadata-store.js';
import type { Workspace } from '../../workspace/workspace.js';
import { isPlainObject, type Params } from '../params.js';
import type { MlflowRouter } from '../router.js';

/** The run tag where MLflow keeps the JSON list of models logged to a run. */
export const LOG_MODEL_HISTORY_TAG = 'mlflow.log-model.history';
const MODEL_JSON_FIELDS = ['artifact_path', 'flavors', 'utc_time_created', 'run_id'];

export function runLoggingRoutes(r: MlflowRouter, ws: Workspace): void {
  r.post('/runs/log-metric', async ({ p, who }) => {
    await ws.meta.logBatch(p.runId(), { metrics: [metricOf(p)] }, who);
    return {};
  });

  r.post('/runs/log-parameter', async ({ p, who }) => {
    await ws.meta.logBatch(p.runId(), { params: [{ key: p.requireString('key'), value: p.optionalString('value') ?? '' }] }, who);
    return {};
  });

  r.post('/runs/set-tag', async ({ p, who }) => {
    await ws.meta.logBatch(p.runId(), { tags: [{ key: p.requireString('key'), value: p.optionalString('value') ?? '' }] }, who);
    return {};
  });

  r.post('/runs/delete-tag', async ({ p, who }) => {
    await ws.meta.deleteRunTag(p.runId(), p.requireString('key'), who);
    return {};
  });

  r.post('/runs/log-batch', async ({ p, who }) => {
    const runId = p.runId();
    await ws.meta.logBatch(runId, {
      metrics: p.optionalObjects('metrics')?.map(metricOf),
      params: p.optionalKeyValues('params'),
      tags: p.optionalKeyValues('tags'),
    }, who);
    return {};
  }, { maxBodyBytes: LIMITS.batchBytes });

  r.post('/runs/log-inputs', async ({ p, who }) => {
    const runId = p.runId();
    await ws.meta.logInputs(runId, p.optionalObjects('datasets')?.map(datasetInputOf) ?? [], who);
    return {};
  });

  r.post('/runs/log-model', async ({ p, who }) => {
    const runId = p.runId();
    const model = parseModelJson(p.requireString('model_json'));
    const run = await ws.meta.getRun(runId);
    const history = parseHistory(run.data.tags[LOG_MODEL_HISTORY_TAG]);
    history.push(model);
    await ws.meta.logBatch(runId, { tags: [{ key: LOG_MODEL_HISTORY_TAG, value: JSON.stringify(history) }] }, who);
    return {};
  });
}

function metricOf(m: Params): Metric {
  return { key: m.requireString('key'), value: m.requireDouble('value'), timestamp: m.requireInt('timestamp'), step: m.optionalInt('step') ?? 0 };
}

function datasetInputOf(d: Params): DatasetInput {
  const ds = d.requireObject('dataset');
  const dataset: DatasetInput['dataset'] = {
    name: ds.requireString('name'),
    digest: ds.requireString('digest'),
    sourceType: ds.requireString('source_type'),
    source: ds.requireString('source'),
  };
  const schema = ds.optionalString('schema');
  const profile = ds.optionalString('profile');
  if (schema !== undefined) dataset.schema = schema;
  if (profile !== undefined) dataset.profile = profile;
  return { dataset, tags: d.optionalTags('tags') ?? {} };
}

function parseModelJson(text: string): Record<string, unknown> {
  let model: unknown;
  try {
    model = JSON.parse(text);
  } catch {
    throw invalid("Invalid value for parameter 'model_json': it is not valid JSON");
  }
  if (!isPlainObject(model)) throw invalid("Invalid value for parameter 'model_json': it must be a JSON object");
  const missing = MODEL_JSON_FIELDS.filter((f) => !(f in model));
  if (missing.length) throw invalid(`Model json is missing mandatory fields: ${missing.join(', ')}`);
  return model;
}

/** A history tag overwritten with something else is refused, not replaced: that value is the user's data. */
function parseHistory(value: string | undefined): unknown[] {
  if (!value) return [];
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v)) throw invalid(`The run tag '${LOG_MODEL_HISTORY_TAG}' is not a JSON list; delete or fix it before logging a model`);
  return v;
}
