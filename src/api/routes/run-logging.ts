/**
 * Writes into a run: metrics, params, tags, dataset inputs and logged models (spec §1.4). Single
 * writes go through the batch call, so one set of limits and one audit shape cover them all.
 */
import { invalid } from '../../core/errors.js';
import { LIMITS } from '../../store/limits.js';
import type { DatasetInput, Metric } from '../../store/ports/tracking.js';
import type { Workspace } from '../../workspace/workspace.js';
import { isPlainObject, type Params } from '../params.js';
import type { MlflowRouter } from '../router.js';
import { byRun } from '../route-objects.js';

const MODEL_JSON_FIELDS = ['artifact_path', 'flavors', 'utc_time_created', 'run_id'];

export function runLoggingRoutes(r: MlflowRouter, ws: Workspace): void {
  const writeRun = { action: 'write', object: byRun(ws) } as const;
  r.post('/runs/log-metric', writeRun, async ({ p, who }) => {
    await ws.tracking.logBatch(p.runId(), { metrics: [metricOf(p)] }, who);
    return {};
  });

  r.post('/runs/log-parameter', writeRun, async ({ p, who }) => {
    await ws.tracking.logBatch(p.runId(), { params: [{ key: p.requireString('key'), value: p.optionalString('value') ?? '' }] }, who);
    return {};
  });

  r.post('/runs/set-tag', writeRun, async ({ p, who }) => {
    await ws.tracking.logBatch(p.runId(), { tags: [{ key: p.requireString('key'), value: p.optionalString('value') ?? '' }] }, who);
    return {};
  });

  r.post('/runs/delete-tag', writeRun, async ({ p, who }) => {
    await ws.tracking.deleteRunTag(p.runId(), p.requireString('key'), who);
    return {};
  });

  r.post('/runs/log-batch', writeRun, async ({ p, who }) => {
    const runId = p.runId();
    await ws.tracking.logBatch(runId, {
      metrics: p.optionalObjects('metrics')?.map(metricOf),
      params: p.optionalKeyValues('params'),
      tags: p.optionalKeyValues('tags'),
    }, who);
    return {};
  }, { maxBodyBytes: LIMITS.batchBytes });

  r.post('/runs/log-inputs', writeRun, async ({ p, who }) => {
    const runId = p.runId();
    await ws.tracking.logInputs(runId, p.optionalObjects('datasets')?.map(datasetInputOf) ?? [], who);
    return {};
  });

  r.post('/runs/log-model', writeRun, async ({ p, who }) => {
    const runId = p.runId();
    // Appended inside the store's transaction: two clients logging models at once both land.
    await ws.tracking.logModel(runId, parseModelJson(p.requireString('model_json', LIMITS.modelJsonLength)), who);
    return {};
  });
}

function metricOf(m: Params): Metric {
  return { key: m.requireString('key'), value: m.requireDouble('value'), timestamp: m.requireInt('timestamp'), step: m.optionalInt('step') ?? 0 };
}

function datasetInputOf(d: Params): DatasetInput {
  const ds = d.requireObject('dataset');
  const dataset: DatasetInput['dataset'] = {
    name: ds.requireString('name', LIMITS.datasetNameLength),
    digest: ds.requireString('digest', LIMITS.datasetDigestLength),
    sourceType: ds.requireString('source_type', LIMITS.datasetSourceTypeLength),
    source: ds.requireString('source', LIMITS.datasetSourceLength),
  };
  const schema = ds.optionalString('schema', LIMITS.datasetSchemaLength);
  const profile = ds.optionalString('profile', LIMITS.datasetProfileLength);
  if (schema !== undefined) dataset.schema = schema;
  if (profile !== undefined) dataset.profile = profile;
  return { dataset, tags: d.optionalTags('tags', { key: LIMITS.inputTagKeyLength, value: LIMITS.inputTagValueLength }) ?? {} };
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
