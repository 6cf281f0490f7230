/**
 * Domain objects → MLflow's wire JSON (spec §1.1–1.2): proto field names in snake_case, unset
 * fields and empty repeated fields left out (proto2 semantics, so an empty search is `{}`), int64
 * as JSON numbers, and doubles that JSON cannot hold sent as the protobuf strings.
 */
import type { ArtifactInfo } from '../store/artifact-store.js';
import type { ModelVersion, RegisteredModel } from '../store/ports/registry.js';
import type { DatasetInput, EncodedRun, Experiment, Metric, Run, RunInfo } from '../store/ports/tracking.js';
import type { HistoryInterval } from '../registry/history.js';

/**
 * `JSON.stringify(NaN)` is `null`, which a client reads as a missing value; protobuf's JSON mapping
 * (and every MLflow client) expects "NaN", "Infinity" and "-Infinity". Metric values are converted
 * where they are mapped ({@link wireDouble}); this is the safety net for anything else, and costs a
 * replacer call only when a response really holds such a number.
 */
export function stringifyJson(value: unknown): string {
  const fast = JSON.stringify(value);
  if (!fast.includes('null')) return fast;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

/** Empty repeated fields are absent on MLflow's wire. */
export function repeated<T>(items: readonly T[] | undefined): T[] | undefined {
  return items && items.length ? [...items] : undefined;
}

export function keyValues(map: Record<string, string> | undefined): { key: string; value: string }[] | undefined {
  return repeated(Object.entries(map ?? {}).map(([key, value]) => ({ key, value })));
}

export function experimentJson(e: Experiment): object {
  return {
    experiment_id: e.experimentId,
    name: e.name,
    artifact_location: e.artifactLocation,
    lifecycle_stage: e.lifecycleStage,
    last_update_time: e.lastUpdateTime,
    creation_time: e.creationTime,
    tags: keyValues(e.tags),
  };
}

export function runInfoJson(i: RunInfo): object {
  return {
    run_id: i.runId,
    run_uuid: i.runId,
    run_name: i.runName,
    experiment_id: i.experimentId,
    user_id: i.userId,
    status: i.status,
    start_time: i.startTime,
    end_time: i.endTime,
    artifact_uri: i.artifactUri,
    lifecycle_stage: i.lifecycleStage,
  };
}

/** Metric values are the only doubles on the wire; they carry NaN and infinities as strings here. */
export function wireDouble(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

export function metricJson(m: Metric): object {
  return { key: m.key, value: wireDouble(m.value), timestamp: m.timestamp, step: m.step };
}

function datasetInputJson(d: DatasetInput): object {
  const ds = d.dataset;
  return {
    tags: keyValues(d.tags),
    dataset: { name: ds.name, digest: ds.digest, source_type: ds.sourceType, source: ds.source, schema: ds.schema, profile: ds.profile },
  };
}

export function runJson(r: Run): object {
  return {
    info: runInfoJson(r.info),
    data: { metrics: repeated(r.data.metrics.map(metricJson)), params: keyValues(r.data.params), tags: keyValues(r.data.tags) },
    inputs: { dataset_inputs: repeated(r.inputs.datasetInputs.map(datasetInputJson)) },
  };
}

/**
 * {@link runJson} as text, for a run whose data is still the JSON the store built
 * ({@link EncodedRun}): those arrays have the wire's shape already (`{key, value, timestamp, step}`
 * with NaN and the infinities as strings, `{key, value}`), so they are spliced in as they are, and
 * a page of a thousand runs costs no object per metric and no serialisation of them.
 */
export function runJsonText(r: EncodedRun): string {
  const out: string[] = [];
  pushRunJsonText(out, r);
  return out.join('');
}

/** The body of `runs/search` ({@link runJsonText} for each run), joined once. */
export function searchRunsJsonText(page: { items: readonly EncodedRun[]; nextPageToken?: string }): string {
  const out = ['{'];
  if (page.items.length) {
    out.push('"runs":[');
    page.items.forEach((r, i) => {
      if (i) out.push(',');
      pushRunJsonText(out, r);
    });
    out.push(']');
  }
  if (page.nextPageToken !== undefined) out.push(page.items.length ? ',' : '', '"next_page_token":', JSON.stringify(page.nextPageToken));
  out.push('}');
  return out.join('');
}

function pushRunJsonText(out: string[], r: EncodedRun): void {
  out.push('{"info":', JSON.stringify(runInfoJson(r.info)), ',"data":{');
  let sep = '';
  for (const [name, text] of [['metrics', r.data.metrics], ['params', r.data.params], ['tags', r.data.tags]] as const) {
    if (text === '[]') continue;
    out.push(sep, '"', name, '":', text);
    sep = ',';
  }
  out.push('},"inputs":{');
  if (r.inputs.datasetInputs.length) out.push('"dataset_inputs":', stringifyJson(r.inputs.datasetInputs.map(datasetInputJson)));
  out.push('}}');
}

export function modelVersionJson(v: ModelVersion): object {
  return {
    name: v.name,
    version: v.version,
    creation_timestamp: v.creationTimestamp,
    last_updated_timestamp: v.lastUpdatedTimestamp,
    user_id: v.userId,
    current_stage: v.currentStage,
    description: v.description,
    source: v.source,
    run_id: v.runId,
    status: v.status,
    status_message: v.statusMessage,
    tags: keyValues(v.tags),
    run_link: v.runLink,
    aliases: repeated(v.aliases),
  };
}

export function registeredModelJson(m: RegisteredModel): object {
  return {
    name: m.name,
    creation_timestamp: m.creationTimestamp,
    last_updated_timestamp: m.lastUpdatedTimestamp,
    user_id: m.userId,
    description: m.description,
    latest_versions: repeated(m.latestVersions.map(modelVersionJson)),
    tags: keyValues(m.tags),
    aliases: repeated(Object.entries(m.aliases).map(([alias, version]) => ({ alias, version }))),
  };
}

/** `path` is whatever the caller made it relative to: the listed directory or the run root. */
export function fileInfoJson(f: ArtifactInfo, path: string): object {
  return { path, is_dir: f.isDir, file_size: f.isDir ? undefined : f.size };
}

export function historyJson(h: HistoryInterval): object {
  return { kind: h.kind, label: h.label, version: h.version, from: h.from, to: h.to, set_by: h.setBy, ended_by: h.endedBy };
}
