/**
 * Lineage: where a model version or a dataset version came from and what was made from it, read
 * from the records the store keeps — no lineage tables of its own beyond the pipeline records'.
 *
 * - A model version names its source run (`runId`). A run logged by `trellis train` lists its
 *   dataset inputs (`source` `{"dataset":"name@v"}`, or a digest matched against the dataset's
 *   versions). A dataset version may record where it was derived from (`lineage`: values such as
 *   `name@3` are parent versions, `run`/`run_id` the run that wrote it).
 * - A pipeline run and its step runs are pipeline records, each step run with its lineage edges:
 *   the upstream step runs whose outputs it read (`feeds`), the dataset version or file an ingest
 *   step read, the model version a register step registered (or re-applied); a cached step names
 *   its source step run. Runs converted from an older store get the edges that need their IR the
 *   first time lineage meets them (`lineage-legacy.ts`).
 *
 * Edges point the way data flows (`from` is upstream of `to`). The graph holds the upstream and
 * downstream closures of the root (each to `depth` hops), and what shares the root's inputs: other
 * model versions of its source run, and the other runs that used its dataset versions.
 *
 * Pipeline lineage is indexed queries on the edges; which tracking runs read a dataset version is
 * still a scan of the runs with dataset inputs.
 */
import { invalid, isTrellisError } from '../core/errors.js';
import { parseDataRef, parseRef, refErrors, type ParsedRef, type RefSelector } from '../core/refs.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { DatasetStore, DatasetVersion } from '../store/ports/datasets.js';
import type { PipelineRunRecord, PipelineRunStore, StepRunRecord } from '../store/ports/pipelines.js';
import type { ModelVersion, RegistryStore } from '../store/ports/registry.js';
import type { Run, TrackingStore } from '../store/ports/tracking.js';
import { completeLegacyPipelineRuns } from './lineage-legacy.js';
import { resolveModelVersion } from './registry-service.js';

/**
 * What lineage reads, port by port: runs, the registry, dataset versions, the pipeline records with
 * their edges, and the artifacts (where a run converted from an older store keeps its IR).
 */
export interface LineageSources {
  tracking: Pick<TrackingStore, 'getRun' | 'searchExperiments' | 'searchRuns'>;
  registry: Pick<RegistryStore, 'getModelVersion' | 'getVersionByAlias' | 'getLatestVersions' | 'getRegisteredModel' | 'searchModelVersions'>;
  datasets: Pick<DatasetStore, 'getDatasetVersion' | 'listDatasetVersions' | 'listDatasets'>;
  pipelines: PipelineRunStore;
  artifacts: ArtifactStore;
}

export type LineageNodeKind = 'dataset-version' | 'run' | 'pipeline-run' | 'step' | 'model-version' | 'artifact';

export interface LineageNode {
  id: string;
  kind: LineageNodeKind;
  label: string;
  attrs: Record<string, string | number | boolean | null>;
}

export type LineageRelation =
  /** A dataset version (or file) read by a run or an ingest step. */
  | 'input'
  /** A step's output read by another step; `detail` names `step.output → input`. */
  | 'feeds'
  /** A run's artifacts are a model version's source. */
  | 'source'
  /** A register step registered (or re-applied) the version. */
  | 'registered'
  /** A batch-score step, or a predict or evaluate run, scored with the model version. */
  | 'scored'
  /** A run wrote this artifact or file. */
  | 'output'
  /** A cached step reuses the outputs of this step run. */
  | 'cached'
  /** A dataset version derived from another version or written by a run. */
  | 'derived'
  /** A pipeline run holds the step. */
  | 'contains';

export interface LineageEdge {
  from: string;
  to: string;
  relation: LineageRelation;
  detail?: string;
}

export interface LineageGraph {
  root: string;
  depth: number;
  nodes: LineageNode[];
  edges: LineageEdge[];
}

export type LineageRef =
  | { kind: 'model'; name: string; version?: string; alias?: string }
  | { kind: 'dataset'; name: string; version?: number };

export const DEFAULT_LINEAGE_DEPTH = 10;

/** The run tag naming the model version a scoring run (`trellis predict`, `trellis evaluate`) used: `name/version`. */
export const SCORED_MODEL_TAG = 'trellis.model';
/** The run tag naming the kind of scoring a run did: `predict` or `evaluate`. */
export const SCORING_TAG = 'trellis.scoring';
/** The run tag listing, as JSON, what a run produced: `artifact:<path>` under the run's artifacts, `file:<path>`. */
export const OUTPUTS_TAG = 'trellis.outputs';

/**
 * `model:name@alias`, `model:name@3`, `model:name/3`, `dataset:name@3`, `dataset:name@latest`, or
 * without a prefix: `name@alias` is a model version; `name@3`, `name/3` and `name@latest` are
 * whichever of the two exists (an error asks for a prefix when both do). The reference after the
 * prefix is read by the one parser of `core/refs.ts`.
 */
export function parseLineageRef(ref: string): { kinds: ('model' | 'dataset')[]; ref: ParsedRef & { selector: RefSelector } } {
  let s = ref.trim();
  let kinds: ('model' | 'dataset')[] = ['model', 'dataset'];
  const prefix = /^(model|dataset):/.exec(s);
  if (prefix) {
    kinds = [prefix[1] as 'model' | 'dataset'];
    s = s.slice(prefix[0].length);
  }
  const p = parseRef(s);
  if (!p.selector) throw invalid(`a lineage reference is a model version (name@alias, name@3, name/3) or a dataset version (name@3, dataset:name@latest), got '${ref}'`);
  if (p.selector.kind === 'alias') {
    if (!kinds.includes('model')) parseDataRef(s);
    kinds = ['model'];
  }
  return { kinds, ref: p as ParsedRef & { selector: RefSelector } };
}

const notFound = (e: unknown) => isTrellisError(e, 'TRELLIS_MODEL_NOT_FOUND', 'TRELLIS_MODEL_VERSION_NOT_FOUND', 'TRELLIS_ALIAS_NOT_FOUND',
  'TRELLIS_DATASET_NOT_FOUND', 'TRELLIS_DATASET_VERSION_NOT_FOUND');

/** A dataset version by parsed reference, with the not-found errors of `core/refs.ts`. */
async function datasetVersionOf(datasets: LineageSources['datasets'], name: string, version: number | undefined): Promise<DatasetVersion> {
  try {
    return await datasets.getDatasetVersion(name, version);
  } catch (e) {
    if (!isTrellisError(e, 'TRELLIS_DATASET_NOT_FOUND', 'TRELLIS_DATASET_VERSION_NOT_FOUND')) throw e;
    const versions = await datasets.listDatasetVersions(name).catch(() => undefined);
    if (!versions) throw refErrors.noDataset(name);
    throw refErrors.noDatasetVersion(name, version ?? 'latest', versions.map((v) => v.version).sort((x, y) => x - y));
  }
}

/** The record a reference names; unknown names are not-found errors that name what is missing. */
export async function resolveLineageRef(src: Pick<LineageSources, 'registry' | 'datasets'>, ref: string | LineageRef): Promise<{ kind: 'model'; version: ModelVersion } | { kind: 'dataset'; version: DatasetVersion }> {
  if (typeof ref !== 'string') {
    if (ref.kind === 'dataset') return { kind: 'dataset', version: await datasetVersionOf(src.datasets, ref.name, ref.version) };
    if (ref.version !== undefined && ref.alias !== undefined) throw invalid('give a model version or an alias, not both');
    if (ref.alias !== undefined) return { kind: 'model', version: await resolveModelVersion(src.registry, { name: ref.name, selector: { kind: 'alias', alias: ref.alias } }) };
    if (ref.version === undefined || ref.version === 'latest') return { kind: 'model', version: await resolveModelVersion(src.registry, { name: ref.name, selector: { kind: 'latest' } }) };
    if (!/^\d+$/.test(ref.version)) throw invalid(`a model version is a positive number, got '${ref.version}'`);
    return { kind: 'model', version: await resolveModelVersion(src.registry, { name: ref.name, selector: { kind: 'version', version: Number(ref.version) } }) };
  }
  const { kinds, ref: p } = parseLineageRef(ref);
  const asModel = () => resolveModelVersion(src.registry, p);
  const asDataset = () => datasetVersionOf(src.datasets, p.name, p.selector.kind === 'version' ? p.selector.version : undefined);
  if (kinds.length === 1) {
    return kinds[0] === 'model' ? { kind: 'model', version: await asModel() } : { kind: 'dataset', version: await asDataset() };
  }
  const m = await asModel().catch((e: unknown) => { if (notFound(e)) return undefined; throw e; });
  const d = await asDataset().catch((e: unknown) => { if (notFound(e)) return undefined; throw e; });
  if (m && d) throw invalid(`'${ref}' names both a model version and a dataset version; write model:${ref} or dataset:${ref}`);
  if (m) return { kind: 'model', version: m };
  if (d) return { kind: 'dataset', version: d };
  // Neither exists: report the model's error when the name is a registered model, else the dataset's.
  const isModel = await src.registry.getRegisteredModel(p.name).then(() => true, () => false);
  return isModel ? { kind: 'model', version: await asModel() } : { kind: 'dataset', version: await asDataset() };
}

/** What a run lists in its {@link OUTPUTS_TAG} tag: `artifact:<path>` and `file:<path>` entries. */
function outputsOf(r: Run | undefined): string[] {
  const text = r?.data.tags[OUTPUTS_TAG];
  if (!text) return [];
  try {
    const list = JSON.parse(text) as unknown;
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string' && /^(artifact|file):./.test(x)) : [];
  } catch {
    return [];
  }
}

const nodeId = {
  model: (name: string, version: string) => `model-version:${name}/${version}`,
  dataset: (name: string, version: number | string) => `dataset-version:${name}@${version}`,
  run: (id: string) => `run:${id}`,
  step: (id: string) => `step:${id}`,
  pipeline: (id: string) => `pipeline-run:${id}`,
  artifact: (what: string) => `artifact:${what}`,
};

type Link = { node: string; edge: LineageEdge };

const isNotFound = (e: unknown) => isTrellisError(e, 'TRELLIS_STEP_RUN_NOT_FOUND', 'TRELLIS_PIPELINE_RUN_NOT_FOUND', 'TRELLIS_RUN_NOT_FOUND');
/** A record, or undefined when there is none (other errors go on). */
const orNone = <T>(p: Promise<T>): Promise<T | undefined> => p.catch((e: unknown) => { if (isNotFound(e)) return undefined; throw e; });

/** Everything read from the store for one lineage question, each record read once. */
class Index {
  private runsWithInputs?: Run[];
  private readonly steps = new Map<string, Promise<StepRunRecord | undefined>>();
  private readonly pipelineRuns = new Map<string, Promise<PipelineRunRecord | undefined>>();
  private readonly runs = new Map<string, Promise<Run | undefined>>();
  private readonly dsVersions = new Map<string, DatasetVersion[]>();
  readonly nodes = new Map<string, LineageNode>();

  constructor(readonly src: LineageSources) {}

  step(id: string): Promise<StepRunRecord | undefined> {
    if (!this.steps.has(id)) this.steps.set(id, orNone(this.src.pipelines.getStepRun(id)));
    return this.steps.get(id)!;
  }

  pipelineRun(id: string): Promise<PipelineRunRecord | undefined> {
    if (!this.pipelineRuns.has(id)) this.pipelineRuns.set(id, orNone(this.src.pipelines.getPipelineRun(id)));
    return this.pipelineRuns.get(id)!;
  }

  run(id: string): Promise<Run | undefined> {
    if (!this.runs.has(id)) this.runs.set(id, orNone(this.src.tracking.getRun(id)));
    return this.runs.get(id)!;
  }

  /** The tracking runs that list dataset inputs, other than step runs: read once, by scanning every experiment. */
  async trackingRunsWithInputs(): Promise<Run[]> {
    if (this.runsWithInputs) return this.runsWithInputs;
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.src.tracking.searchExperiments({ maxResults: 1000, pageToken: token });
      ids.push(...page.items.map((e) => e.experimentId));
      token = page.nextPageToken;
    } while (token);
    const out: Run[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      token = undefined;
      do {
        const page = await this.src.tracking.searchRuns({ experimentIds: ids.slice(i, i + 100), maxResults: 5000, pageToken: token });
        for (const r of page.items) {
          if (!r.inputs.datasetInputs.length) continue;
          this.runs.set(r.info.runId, Promise.resolve(r));
          if (!(await this.step(r.info.runId))) out.push(r);
        }
        token = page.nextPageToken;
      } while (token);
    }
    this.runsWithInputs = out;
    return out;
  }

  async modelVersionsOfRun(runId: string): Promise<ModelVersion[]> {
    const out: ModelVersion[] = [];
    let token: string | undefined;
    do {
      const page = await this.src.registry.searchModelVersions({ filter: [{ kind: 'attribute', key: 'run_id', comparator: '=', value: runId }], maxResults: 10000, pageToken: token });
      out.push(...page.items);
      token = page.nextPageToken;
    } while (token);
    return out;
  }

  async modelVersion(ref: string): Promise<ModelVersion | undefined> {
    const slash = ref.lastIndexOf('/');
    if (slash <= 0) return undefined;
    return this.src.registry.getModelVersion(ref.slice(0, slash), ref.slice(slash + 1)).catch(() => undefined);
  }

  async datasetVersions(name: string): Promise<DatasetVersion[]> {
    if (!this.dsVersions.has(name)) this.dsVersions.set(name, await this.src.datasets.listDatasetVersions(name).catch(() => []));
    return this.dsVersions.get(name)!;
  }

  async allDatasetVersions(): Promise<DatasetVersion[]> {
    const out: DatasetVersion[] = [];
    for (const d of await this.src.datasets.listDatasets()) out.push(...(await this.datasetVersions(d.name)));
    return out;
  }

  // ---- nodes ----

  add(n: LineageNode): string {
    if (!this.nodes.has(n.id)) this.nodes.set(n.id, n);
    return n.id;
  }

  modelNode(v: ModelVersion): string {
    return this.add({
      id: nodeId.model(v.name, v.version), kind: 'model-version', label: `model ${v.name}/${v.version}`,
      attrs: { name: v.name, version: v.version, runId: v.runId ?? null, source: v.source, stage: v.currentStage, aliases: v.aliases.join(',') || null, created: v.creationTimestamp },
    });
  }

  datasetNode(v: DatasetVersion): string {
    return this.add({
      id: nodeId.dataset(v.name, v.version), kind: 'dataset-version', label: `dataset ${v.name}@${v.version}`,
      attrs: { name: v.name, version: v.version, sha256: v.sha256, rows: v.rows, columns: v.columns, source: v.source, created: v.creationTime },
    });
  }

  missingDatasetNode(ref: string, why: string): string {
    return this.add({ id: nodeId.artifact(`dataset:${ref}`), kind: 'artifact', label: `dataset ${ref} (${why})`, attrs: { dataset: ref } });
  }

  fileNode(file: string): string {
    return this.add({ id: nodeId.artifact(`file:${file}`), kind: 'artifact', label: `file ${file}`, attrs: { file } });
  }

  stepNode(st: StepRunRecord & { pipelineRunId: string }): string {
    return this.add({
      id: nodeId.step(st.id), kind: 'step', label: `step ${st.step} (${st.component || 'component'})`,
      attrs: {
        runId: st.id, step: st.step, component: st.component || null, status: st.status, pipelineRun: st.pipelineRunId,
        cached: st.cached, cacheSource: st.cacheSource, started: st.startTime,
      },
    });
  }

  pipelineNode(p: PipelineRunRecord): string {
    return this.add({
      id: nodeId.pipeline(p.id), kind: 'pipeline-run', label: `pipeline ${p.pipeline} run ${p.id.slice(0, 8)}`,
      attrs: { runId: p.id, pipeline: p.pipeline, status: p.status, started: p.startTime },
    });
  }

  trackingNode(r: Run): string {
    return this.add({
      id: nodeId.run(r.info.runId), kind: 'run', label: `run ${r.info.runName || r.info.runId.slice(0, 8)} (${r.info.runId.slice(0, 8)})`,
      attrs: { runId: r.info.runId, name: r.info.runName, experimentId: r.info.experimentId, status: r.info.status, started: r.info.startTime, trainer: r.data.tags['trellis.trainer'] ?? null },
    });
  }

  /** The node of a run id: a step of a pipeline run, a pipeline run, or a tracking run (a step run on its own is one). */
  async runNode(id: string): Promise<string | undefined> {
    const st = await this.step(id);
    if (st?.pipelineRunId) return this.stepNode(st as StepRunRecord & { pipelineRunId: string });
    const p = st ? undefined : await this.pipelineRun(id);
    if (p) return this.pipelineNode(p);
    const r = await this.run(id);
    return r ? this.trackingNode(r) : undefined;
  }

  // ---- neighbours ----

  /** The dataset version (or an artifact standing for it) a recorded reference `name@v` names. */
  async datasetRef(ref: string): Promise<string | undefined> {
    const m = /^(.+)@(\d+)$/.exec(ref);
    if (!m) return undefined;
    const v = (await this.datasetVersions(m[1]!)).find((x) => x.version === Number(m[2]));
    return v ? this.datasetNode(v) : this.missingDatasetNode(ref, 'not in the store');
  }

  /** The datasets a tracking run read. */
  async runInputs(r: Run): Promise<Link[]> {
    const out: Link[] = [];
    const to = this.trackingNode(r);
    for (const di of r.inputs.datasetInputs) {
      const d = di.dataset;
      let ref: string | undefined;
      let file: string | undefined;
      try {
        const src = JSON.parse(d.source) as { dataset?: unknown; file?: unknown };
        if (typeof src.dataset === 'string') ref = src.dataset;
        if (typeof src.file === 'string' && d.sourceType === 'local') file = src.file;
      } catch {
        /* an MLflow client's own source text */
      }
      let node = ref ? await this.datasetRef(ref) : undefined;
      if (!node && d.digest) {
        const v = (await this.datasetVersions(d.name)).find((x) => x.sha256.startsWith(d.digest));
        if (v) node = this.datasetNode(v);
      }
      if (!node && file) node = this.fileNode(file);
      node ??= this.add({ id: nodeId.artifact(`dataset:${d.name}:${d.digest}`), kind: 'artifact', label: `dataset ${d.name} (digest ${d.digest})`, attrs: { name: d.name, digest: d.digest, sourceType: d.sourceType, source: d.source } });
      out.push({ node, edge: { from: node, to, relation: 'input', ...(di.tags['mlflow.data.context'] ? { detail: di.tags['mlflow.data.context'] } : {}) } });
    }
    if (!out.length && r.data.params.data && !(await this.step(r.info.runId))) {
      const file = r.data.params.data;
      const node = /^[^/\\]+@\d+$/.test(file) ? await this.datasetRef(file) : this.fileNode(file);
      if (node) out.push({ node, edge: { from: node, to, relation: 'input' } });
    }
    return out;
  }

  async upstream(id: string): Promise<Link[]> {
    const n = this.nodes.get(id)!;
    const out: Link[] = [];
    if (n.kind === 'model-version') {
      const runId = n.attrs.runId as string | null;
      const from = runId ? await this.runNode(runId) : undefined;
      if (from) out.push({ node: from, edge: { from, to: id, relation: 'source' } });
      // The register steps that executed; a cache hit that re-applied the registration hangs off
      // its source step (`cached`), and draws `registered` only when lineage starts from it.
      for (const e of await this.src.pipelines.listStepEdges({ role: 'output', kind: 'model', ref: `${n.attrs.name}/${n.attrs.version}` })) {
        if ((await this.step(e.stepRunId))?.cached) continue;
        const reg = await this.runNode(e.stepRunId);
        if (reg) out.push({ node: reg, edge: { from: reg, to: id, relation: 'registered' } });
      }
    } else if (n.kind === 'run') {
      const r = await this.run(n.attrs.runId as string);
      if (r) out.push(...(await this.runInputs(r)));
      // A predict or evaluate run scored with a model version.
      const used = r?.data.tags[SCORED_MODEL_TAG];
      const v = used ? await this.modelVersion(used) : undefined;
      if (v) {
        const from = this.modelNode(v);
        out.push({ node: from, edge: { from, to: id, relation: 'scored', ...(r!.data.tags[SCORING_TAG] ? { detail: r!.data.tags[SCORING_TAG] } : {}) } });
      }
    } else if (n.kind === 'step') {
      for (const e of await this.src.pipelines.listStepEdges({ stepRunIds: [n.attrs.runId as string], role: 'input' })) {
        if (e.kind === 'step') {
          const up = await this.step(e.ref);
          const from = await this.runNode(e.ref);
          if (up && from) out.push({ node: from, edge: { from, to: id, relation: 'feeds', detail: `${up.step}.${e.output ?? e.name} → ${e.name}` } });
        } else if (e.kind === 'dataset' || e.kind === 'file') {
          const node = e.kind === 'dataset' ? await this.datasetRef(e.ref) : this.fileNode(e.ref);
          if (node) out.push({ node, edge: { from: node, to: id, relation: 'input' } });
        }
        // A gate's champion (kind 'model') is recorded, not drawn: the graph shows what data and models flowed.
      }
    } else if (n.kind === 'dataset-version') {
      const v = (await this.datasetVersions(n.attrs.name as string)).find((x) => x.version === n.attrs.version);
      for (const [key, value] of Object.entries(v?.lineage ?? {})) {
        let from: string | undefined;
        if (/^(run|run_id|runId)$/.test(key)) from = await this.runNode(value);
        else from = await this.datasetRef(value);
        if (from) out.push({ node: from, edge: { from, to: id, relation: 'derived', detail: key } });
      }
    }
    return out;
  }

  async downstream(id: string): Promise<Link[]> {
    const n = this.nodes.get(id)!;
    const out: Link[] = [];
    const produced = async (runId: string, from: string) => {
      for (const v of await this.modelVersionsOfRun(runId)) {
        const to = this.modelNode(v);
        out.push({ node: to, edge: { from, to, relation: 'source' } });
      }
    };
    if (n.kind === 'dataset-version') {
      const ref = `${n.attrs.name}@${n.attrs.version}`;
      for (const e of await this.src.pipelines.listStepEdges({ role: 'input', kind: 'dataset', ref })) {
        const to = await this.runNode(e.stepRunId);
        if (to) out.push({ node: to, edge: { from: id, to, relation: 'input' } });
      }
      for (const r of await this.trackingRunsWithInputs()) {
        const link = (await this.runInputs(r)).find((l) => l.node === id);
        if (link) out.push({ node: link.edge.to, edge: link.edge });
      }
      for (const v of await this.allDatasetVersions()) {
        for (const [key, value] of Object.entries(v.lineage ?? {})) {
          if (value === ref) {
            const to = this.datasetNode(v);
            out.push({ node: to, edge: { from: id, to, relation: 'derived', detail: key } });
          }
        }
      }
    } else if (n.kind === 'run') {
      await produced(n.attrs.runId as string, id);
      for (const what of outputsOf(await this.run(n.attrs.runId as string))) {
        const to = what.startsWith('file:') ? this.fileNode(what.slice(5))
          : this.add({ id: nodeId.artifact(`run:${n.attrs.runId as string}/${what.slice(9)}`), kind: 'artifact', label: `artifact ${what.slice(9)} of run ${(n.attrs.runId as string).slice(0, 8)}`, attrs: { runId: n.attrs.runId as string, path: what.slice(9) } });
        out.push({ node: to, edge: { from: id, to, relation: 'output' } });
      }
      for (const v of await this.allDatasetVersions()) {
        if (Object.entries(v.lineage ?? {}).some(([k, x]) => /^(run|run_id|runId)$/.test(k) && x === n.attrs.runId)) {
          const to = this.datasetNode(v);
          out.push({ node: to, edge: { from: id, to, relation: 'derived' } });
        }
      }
    } else if (n.kind === 'step') {
      const runId = n.attrs.runId as string;
      const self = await this.step(runId);
      for (const e of await this.src.pipelines.listStepEdges({ role: 'input', kind: 'step', ref: runId })) {
        const to = await this.runNode(e.stepRunId);
        if (to) out.push({ node: to, edge: { from: id, to, relation: 'feeds', detail: `${self?.step ?? n.attrs.step}.${e.output ?? e.name} → ${e.name}` } });
      }
      await produced(runId, id);
      for (const e of await this.src.pipelines.listStepEdges({ stepRunIds: [runId], role: 'output', kind: 'model' })) {
        const v = await this.modelVersion(e.ref);
        if (v) {
          const to = this.modelNode(v);
          out.push({ node: to, edge: { from: id, to, relation: 'registered' } });
        }
      }
      for (const hit of await this.src.pipelines.listStepRuns({ cacheSource: runId })) {
        const to = await this.runNode(hit.id);
        if (to && hit.cached) out.push({ node: to, edge: { from: id, to, relation: 'cached' } });
      }
    } else if (n.kind === 'model-version') {
      // Predict and evaluate runs that scored with this version.
      const ref = `${n.attrs.name as string}/${n.attrs.version as string}`;
      for (const r of await this.trackingRunsWithInputs()) {
        if (r.data.tags[SCORED_MODEL_TAG] !== ref) continue;
        const to = this.trackingNode(r);
        out.push({ node: to, edge: { from: id, to, relation: 'scored', ...(r.data.tags[SCORING_TAG] ? { detail: r.data.tags[SCORING_TAG] } : {}) } });
      }
      // Batch-score steps whose model input is this version's run, or holds its bytes.
      const runId = n.attrs.runId as string | null;
      if (runId) {
        const edges = [
          ...(await this.src.pipelines.listStepEdges({ role: 'input', kind: 'step', name: 'model', ref: runId })),
          ...(await this.src.pipelines.listStepEdges({ role: 'input', kind: 'step', name: 'model', holder: runId })),
        ];
        for (const e of edges) {
          const st = await this.step(e.stepRunId);
          if (st?.component !== 'batch-score@1' || !st.pipelineRunId) continue;
          const to = await this.runNode(st.id);
          if (to) out.push({ node: to, edge: { from: id, to, relation: 'scored' } });
        }
      }
    }
    return out;
  }
}

/**
 * The lineage graph of a model version or a dataset version: see the module comment. `depth`
 * bounds the hops followed upstream and downstream (default {@link DEFAULT_LINEAGE_DEPTH}).
 */
export async function lineageOf(src: LineageSources, ref: string | LineageRef, opts: { depth?: number } = {}): Promise<LineageGraph> {
  const depth = opts.depth ?? DEFAULT_LINEAGE_DEPTH;
  if (!Number.isInteger(depth) || depth < 0) throw invalid(`depth must be a whole number of at least 0, got ${depth}`);
  const target = await resolveLineageRef(src, ref);
  await completeLegacyPipelineRuns(src.tracking, src.pipelines, src.artifacts);
  const ix = new Index(src);
  const root = target.kind === 'model' ? ix.modelNode(target.version) : ix.datasetNode(target.version);
  const edges = new Map<string, LineageEdge>();
  const addEdge = (e: LineageEdge) => {
    const key = `${e.from}|${e.to}|${e.relation}|${e.detail ?? ''}`;
    if (!edges.has(key)) edges.set(key, e);
  };

  const walk = async (dir: 'upstream' | 'downstream'): Promise<Set<string>> => {
    const seen = new Set([root]);
    let frontier = [root];
    for (let d = 0; d < depth && frontier.length; d++) {
      const next: string[] = [];
      for (const id of frontier) {
        for (const l of await ix[dir](id)) {
          addEdge(l.edge);
          if (!seen.has(l.node)) {
            seen.add(l.node);
            next.push(l.node);
          }
        }
      }
      frontier = next;
    }
    return seen;
  };
  const up = await walk('upstream');
  await walk('downstream');

  // What shares the root's inputs: other versions of its source run, other readers of its datasets.
  if (depth > 0) {
    for (const id of up) {
      const n = ix.nodes.get(id)!;
      const direct = [...edges.values()].some((e) => e.from === id && e.to === root);
      if (id === root || !(n.kind === 'dataset-version' || (direct && (n.kind === 'run' || n.kind === 'step')))) continue;
      for (const l of await ix.downstream(id)) {
        if (l.edge.relation === 'feeds' || l.edge.relation === 'cached') continue;
        addEdge(l.edge);
        if (ix.nodes.get(l.node)?.kind === 'run') for (const l2 of await ix.downstream(l.node)) addEdge(l2.edge);
      }
    }
  }

  // Every step belongs to its pipeline run.
  for (const n of [...ix.nodes.values()]) {
    if (n.kind !== 'step') continue;
    const p = await ix.pipelineRun(n.attrs.pipelineRun as string);
    if (!p) continue;
    const pid = ix.pipelineNode(p);
    n.label = `${n.label} in ${ix.nodes.get(pid)!.label}`;
    addEdge({ from: pid, to: n.id, relation: 'contains' });
  }
  return { root, depth, nodes: [...ix.nodes.values()], edges: [...edges.values()] };
}

/**
 * The graph as indented text: the root, then what it came from (`←`) and what came of it (`→`),
 * then what shares its inputs. A node met twice is printed once, then named with `(above)`.
 */
export function lineageText(g: LineageGraph): string {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const flow = g.edges.filter((e) => e.relation !== 'contains');
  const lines: string[] = [];
  const label = (id: string) => {
    const n = byId.get(id)!;
    const extra = n.kind === 'model-version' && n.attrs.aliases ? ` @${String(n.attrs.aliases).split(',').join(' @')}` : n.kind === 'step' && n.attrs.cached ? ' [cached]' : '';
    return `${n.label}${extra}`;
  };
  const tree = (id: string, dir: 'up' | 'down', indent: string, seen: Set<string>) => {
    const next = flow.filter((e) => (dir === 'up' ? e.to === id : e.from === id));
    for (const e of next) {
      const other = dir === 'up' ? e.from : e.to;
      const rel = `${e.relation}${e.detail ? ` ${e.detail}` : ''}`;
      const again = seen.has(other);
      lines.push(`${indent}${dir === 'up' ? '←' : '→'} ${label(other)}  (${rel})${again ? ' (above)' : ''}`);
      if (again) continue;
      seen.add(other);
      tree(other, dir, `${indent}  `, seen);
    }
  };
  lines.push(label(g.root));
  const upSeen = new Set([g.root]);
  lines.push('upstream:');
  const before = lines.length;
  tree(g.root, 'up', '  ', upSeen);
  if (lines.length === before) lines.push('  (nothing recorded)');
  const downSeen = new Set([g.root]);
  lines.push('downstream:');
  const mark = lines.length;
  tree(g.root, 'down', '  ', downSeen);
  if (lines.length === mark) lines.push('  (nothing recorded)');
  const related = flow.filter((e) => upSeen.has(e.from) && !upSeen.has(e.to) && !downSeen.has(e.to));
  if (related.length) {
    lines.push('related (shares an input):');
    const shown = new Set<string>();
    for (const e of related) {
      if (shown.has(e.to)) continue;
      shown.add(e.to);
      const more = flow.filter((x) => x.from === e.to && !upSeen.has(x.to)).map((x) => ` → ${label(x.to)}`).join('');
      lines.push(`  ${label(e.from)} → ${label(e.to)}${more}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
