/**
 * Lineage: where a model version or a dataset version came from and what was made from it, read
 * from what the store already records — no lineage tables of its own.
 *
 * - A model version names its source run (`runId`). A run logged by `trellis train` lists its
 *   dataset inputs (`source` `{"dataset":"name@v"}`, or a digest matched against the dataset's
 *   versions). A dataset version may record where it was derived from (`lineage`: values such as
 *   `name@3` are parent versions, `run`/`run_id` the run that wrote it).
 * - A pipeline run is a run tagged `trellis.pipeline` holding its IR (`pipeline.json`); each step
 *   is a child run (`mlflow.parentRunId`, `trellis.step`, `trellis.component`) whose `trellis.outputs`
 *   tag lists its outputs with their sha256 and the run holding the bytes. A step's upstream steps
 *   are the steps its IR inputs name, found among the siblings in the same pipeline run; an ingest
 *   step's output records the dataset version it read; a register step's `registration` output
 *   names the version it registered (or re-applied); a cached step names its source run.
 *
 * Edges point the way data flows (`from` is upstream of `to`). The graph holds the upstream and
 * downstream closures of the root (each to `depth` hops), and what shares the root's inputs: other
 * model versions of its source run, and the other runs that used its dataset versions.
 *
 * Runs and versions are read once per call by scanning the store: fine for a workspace, and the
 * place to add an index when stores grow large.
 */
import { TrellisError, invalid } from '../core/errors.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { parseArtifactUri } from '../store/artifact-path.js';
import type { DatasetVersion, MetadataStore, ModelVersion, Run } from '../store/metadata-store.js';

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
  /** A batch-score step scored with the model version. */
  | 'scored'
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

const TAG = {
  parent: 'mlflow.parentRunId', pipeline: 'trellis.pipeline', step: 'trellis.step', component: 'trellis.component',
  outputs: 'trellis.outputs', cached: 'trellis.cached', source: 'trellis.cache_source',
} as const;

interface OutputEntry { type?: string; sha256?: string; run?: string; name?: string; meta?: Record<string, string> }
interface IrStep { name: string; component?: string; inputs?: Record<string, unknown> }

export const DEFAULT_LINEAGE_DEPTH = 10;

/**
 * `model:name@alias`, `model:name@3`, `model:name/3`, `dataset:name@3`, `dataset:name@latest`, or
 * without a prefix: `name/3` is a model version; `name@x` is whichever of the two exists (an error
 * asks for a prefix when both do).
 */
export function parseLineageRef(ref: string): { kinds: ('model' | 'dataset')[]; name: string; tag: string; slash: boolean } {
  let s = ref.trim();
  let kinds: ('model' | 'dataset')[] = ['model', 'dataset'];
  const prefix = /^(model|dataset):/.exec(s);
  if (prefix) {
    kinds = [prefix[1] as 'model' | 'dataset'];
    s = s.slice(prefix[0].length);
  }
  const at = s.lastIndexOf('@');
  const slash = s.lastIndexOf('/');
  if (at > 0 && at < s.length - 1) return { kinds, name: s.slice(0, at), tag: s.slice(at + 1), slash: false };
  if (slash > 0 && slash < s.length - 1 && kinds.includes('model')) return { kinds: ['model'], name: s.slice(0, slash), tag: s.slice(slash + 1), slash: true };
  throw invalid(`a lineage reference is a model version (name@alias, name@3, name/3) or a dataset version (name@3, dataset:name@latest), got '${ref}'`);
}

const notFound = (e: unknown) => ['TRELLIS_MODEL_NOT_FOUND', 'TRELLIS_MODEL_VERSION_NOT_FOUND', 'TRELLIS_ALIAS_NOT_FOUND', 'TRELLIS_DATASET_NOT_FOUND', 'TRELLIS_DATASET_VERSION_NOT_FOUND']
  .includes((e as { code?: string }).code ?? '');

/** The record a reference names; unknown names are the store's not-found errors. */
export async function resolveLineageRef(meta: MetadataStore, ref: string | LineageRef): Promise<{ kind: 'model'; version: ModelVersion } | { kind: 'dataset'; version: DatasetVersion }> {
  if (typeof ref !== 'string') {
    if (ref.kind === 'dataset') return { kind: 'dataset', version: await meta.getDatasetVersion(ref.name, ref.version) };
    if (ref.version !== undefined && ref.alias !== undefined) throw invalid('give a model version or an alias, not both');
    if (ref.alias !== undefined) return { kind: 'model', version: await meta.getVersionByAlias(ref.name, ref.alias) };
    if (ref.version === undefined || ref.version === 'latest') return { kind: 'model', version: await latestModelVersion(meta, ref.name) };
    if (!/^\d+$/.test(ref.version)) throw invalid(`a model version is a positive number, got '${ref.version}'`);
    return { kind: 'model', version: await meta.getModelVersion(ref.name, ref.version) };
  }
  const p = parseLineageRef(ref);
  const number = /^v?(\d+)$/.exec(p.tag)?.[1];
  const asModel = async () => {
    if (p.slash || number) return meta.getModelVersion(p.name, number ?? p.tag);
    return p.tag === 'latest' ? latestModelVersion(meta, p.name) : meta.getVersionByAlias(p.name, p.tag);
  };
  const asDataset = async () => {
    if (p.tag !== 'latest' && !/^\d+$/.test(p.tag)) throw invalid(`the version of a dataset is a positive number or 'latest', got '${p.tag}' in '${ref}'`);
    return meta.getDatasetVersion(p.name, p.tag === 'latest' ? undefined : Number(p.tag));
  };
  if (p.kinds.length === 1) {
    return p.kinds[0] === 'model' ? { kind: 'model', version: await asModel() } : { kind: 'dataset', version: await asDataset() };
  }
  const m = await asModel().catch((e: unknown) => { if (notFound(e)) return undefined; throw e; });
  const d = p.slash || (p.tag !== 'latest' && !/^\d+$/.test(p.tag)) ? undefined : await asDataset().catch((e: unknown) => { if (notFound(e)) return undefined; throw e; });
  if (m && d) throw invalid(`'${ref}' names both a model version and a dataset version; write model:${ref} or dataset:${ref}`);
  if (m) return { kind: 'model', version: m };
  if (d) return { kind: 'dataset', version: d };
  // Neither exists: report the model's error when the name is a registered model (or the tag an alias), else the dataset's.
  const isModel = p.slash || (!number && p.tag !== 'latest') || (await meta.getRegisteredModel(p.name).then(() => true, () => false));
  return isModel ? { kind: 'model', version: await asModel() } : { kind: 'dataset', version: await asDataset() };
}

async function latestModelVersion(meta: MetadataStore, name: string): Promise<ModelVersion> {
  const all = await meta.getLatestVersions(name);
  const newest = all.sort((a, b) => Number(b.version) - Number(a.version))[0];
  if (!newest) throw new TrellisError('TRELLIS_MODEL_VERSION_NOT_FOUND', { name, version: 'latest' });
  return newest;
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

/** Everything read from the store for one lineage question, loaded on first use. */
class Index {
  private runs?: Map<string, Run>;
  private versions?: ModelVersion[];
  private readonly irs = new Map<string, IrStep[] | null>();
  private readonly registrations = new Map<string, { name?: string; version?: string; registered?: boolean } | null>();
  private readonly dsVersions = new Map<string, DatasetVersion[]>();
  readonly nodes = new Map<string, LineageNode>();

  constructor(readonly meta: MetadataStore, readonly artifacts: ArtifactStore) {}

  async allRuns(): Promise<Map<string, Run>> {
    if (this.runs) return this.runs;
    const runs = new Map<string, Run>();
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.meta.searchExperiments({ maxResults: 1000, pageToken: token });
      ids.push(...page.items.map((e) => e.experimentId));
      token = page.nextPageToken;
    } while (token);
    for (let i = 0; i < ids.length; i += 100) {
      token = undefined;
      do {
        const page = await this.meta.searchRuns({ experimentIds: ids.slice(i, i + 100), maxResults: 5000, pageToken: token });
        for (const r of page.items) runs.set(r.info.runId, r);
        token = page.nextPageToken;
      } while (token);
    }
    this.runs = runs;
    return runs;
  }

  async run(id: string): Promise<Run | undefined> {
    const known = (await this.allRuns()).get(id);
    if (known) return known;
    return this.meta.getRun(id).catch(() => undefined);
  }

  async allVersions(): Promise<ModelVersion[]> {
    if (this.versions) return this.versions;
    const out: ModelVersion[] = [];
    let token: string | undefined;
    do {
      const page = await this.meta.searchModelVersions({ maxResults: 10000, pageToken: token });
      out.push(...page.items);
      token = page.nextPageToken;
    } while (token);
    this.versions = out;
    return out;
  }

  async readArtifact(run: Run, rel: string): Promise<Buffer | undefined> {
    try {
      const root = parseArtifactUri(run.info.artifactUri, ['mlflow-artifacts']).path;
      return await this.artifacts.get(`${root}/${rel}`);
    } catch {
      return undefined;
    }
  }

  /** The steps of a pipeline run's IR, or null when it cannot be read. */
  async ir(pipelineRunId: string): Promise<IrStep[] | null> {
    if (this.irs.has(pipelineRunId)) return this.irs.get(pipelineRunId)!;
    const run = await this.run(pipelineRunId);
    let steps: IrStep[] | null = null;
    const bytes = run ? await this.readArtifact(run, 'pipeline.json') : undefined;
    if (bytes) {
      try {
        const doc = JSON.parse(bytes.toString('utf8')) as { steps?: unknown };
        if (Array.isArray(doc.steps)) steps = doc.steps.filter((s): s is IrStep => !!s && typeof (s as IrStep).name === 'string');
      } catch {
        steps = null;
      }
    }
    this.irs.set(pipelineRunId, steps);
    return steps;
  }

  async registration(step: Run): Promise<{ name?: string; version?: string; registered?: boolean } | null> {
    const id = step.info.runId;
    if (this.registrations.has(id)) return this.registrations.get(id)!;
    const entry = outputs(step).registration;
    const holder = entry?.run ? await this.run(entry.run) : undefined;
    const bytes = holder ? await this.readArtifact(holder, `outputs/${entry!.name ?? 'registration'}`) : undefined;
    let reg: { name?: string; version?: string; registered?: boolean } | null = null;
    try {
      if (bytes) reg = JSON.parse(bytes.toString('utf8')) as typeof reg;
    } catch {
      reg = null;
    }
    this.registrations.set(id, reg);
    return reg;
  }

  async datasetVersions(name: string): Promise<DatasetVersion[]> {
    if (!this.dsVersions.has(name)) this.dsVersions.set(name, await this.meta.listDatasetVersions(name).catch(() => []));
    return this.dsVersions.get(name)!;
  }

  async allDatasetVersions(): Promise<DatasetVersion[]> {
    const out: DatasetVersion[] = [];
    for (const d of await this.meta.listDatasets()) out.push(...(await this.datasetVersions(d.name)));
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

  runNode(r: Run): string {
    const t = r.data.tags;
    if (t[TAG.step] && t[TAG.parent]) {
      const pipelineRun = t[TAG.parent];
      const id = this.add({
        id: nodeId.step(r.info.runId), kind: 'step', label: `step ${t[TAG.step]} (${t[TAG.component] ?? 'component'})`,
        attrs: {
          runId: r.info.runId, step: t[TAG.step], component: t[TAG.component] ?? null, status: r.info.status, pipelineRun,
          cached: t[TAG.cached] === 'true', cacheSource: t[TAG.source] ?? null, started: r.info.startTime,
        },
      });
      return id;
    }
    if (t[TAG.pipeline]) {
      return this.add({
        id: nodeId.pipeline(r.info.runId), kind: 'pipeline-run', label: `pipeline ${t[TAG.pipeline]} run ${r.info.runId.slice(0, 8)}`,
        attrs: { runId: r.info.runId, pipeline: t[TAG.pipeline], status: r.info.status, started: r.info.startTime },
      });
    }
    return this.add({
      id: nodeId.run(r.info.runId), kind: 'run', label: `run ${r.info.runName || r.info.runId.slice(0, 8)} (${r.info.runId.slice(0, 8)})`,
      attrs: { runId: r.info.runId, name: r.info.runName, experimentId: r.info.experimentId, status: r.info.status, started: r.info.startTime, trainer: t['trellis.trainer'] ?? null },
    });
  }

  // ---- neighbours ----

  /** The dataset version (or an artifact standing for it) a recorded reference `name@v` names. */
  async datasetRef(ref: string): Promise<string | undefined> {
    const m = /^(.+)@(\d+)$/.exec(ref);
    if (!m) return undefined;
    const v = (await this.datasetVersions(m[1]!)).find((x) => x.version === Number(m[2]));
    return v ? this.datasetNode(v) : this.missingDatasetNode(ref, 'not in the store');
  }

  /** The datasets a (non-pipeline) run read. */
  async runInputs(r: Run): Promise<Link[]> {
    const out: Link[] = [];
    const to = this.runNode(r);
    for (const di of r.inputs.datasetInputs) {
      const d = di.dataset;
      let ref: string | undefined;
      try {
        const src = JSON.parse(d.source) as { dataset?: unknown };
        if (typeof src.dataset === 'string') ref = src.dataset;
      } catch {
        /* an MLflow client's own source text */
      }
      let node = ref ? await this.datasetRef(ref) : undefined;
      if (!node && d.digest) {
        const v = (await this.datasetVersions(d.name)).find((x) => x.sha256.startsWith(d.digest));
        if (v) node = this.datasetNode(v);
      }
      node ??= this.add({ id: nodeId.artifact(`dataset:${d.name}:${d.digest}`), kind: 'artifact', label: `dataset ${d.name} (digest ${d.digest})`, attrs: { name: d.name, digest: d.digest, sourceType: d.sourceType, source: d.source } });
      out.push({ node, edge: { from: node, to, relation: 'input', ...(di.tags['mlflow.data.context'] ? { detail: di.tags['mlflow.data.context'] } : {}) } });
    }
    if (!out.length && r.data.params.data && !r.data.tags[TAG.step]) {
      const file = r.data.params.data;
      const node = /^[^/\\]+@\d+$/.test(file) ? await this.datasetRef(file) : this.add({ id: nodeId.artifact(`file:${file}`), kind: 'artifact', label: `file ${file}`, attrs: { file } });
      if (node) out.push({ node, edge: { from: node, to, relation: 'input' } });
    }
    return out;
  }

  async siblings(pipelineRunId: string): Promise<Run[]> {
    return [...(await this.allRuns()).values()].filter((r) => r.data.tags[TAG.parent] === pipelineRunId && r.data.tags[TAG.step]);
  }

  /** The run of a named step within a pipeline run (the finished one when a resume re-ran it). */
  async stepRun(pipelineRunId: string, step: string): Promise<Run | undefined> {
    const all = (await this.siblings(pipelineRunId)).filter((r) => r.data.tags[TAG.step] === step);
    return all.sort((a, b) => Number(b.info.status === 'FINISHED') - Number(a.info.status === 'FINISHED') || b.info.startTime - a.info.startTime)[0];
  }

  async upstream(id: string): Promise<Link[]> {
    const n = this.nodes.get(id)!;
    const out: Link[] = [];
    if (n.kind === 'model-version') {
      const runId = n.attrs.runId as string | null;
      const r = runId ? await this.run(runId) : undefined;
      if (r) {
        const from = this.runNode(r);
        out.push({ node: from, edge: { from, to: id, relation: 'source' } });
      }
      for (const s of [...(await this.allRuns()).values()]) {
        if (s.data.tags[TAG.component] !== 'register@1' || s.data.params.name !== n.attrs.name) continue;
        const reg = await this.registration(s);
        if (reg?.registered && reg.name === n.attrs.name && String(reg.version) === n.attrs.version) {
          const from = this.runNode(s);
          out.push({ node: from, edge: { from, to: id, relation: 'registered' } });
        }
      }
    } else if (n.kind === 'run') {
      const r = await this.run(n.attrs.runId as string);
      if (r) out.push(...(await this.runInputs(r)));
    } else if (n.kind === 'step') {
      const r = await this.run(n.attrs.runId as string);
      if (!r) return out;
      const pipelineRun = n.attrs.pipelineRun as string;
      const ir = await this.ir(pipelineRun);
      const me = ir?.find((s) => s.name === n.attrs.step);
      for (const [input, v] of Object.entries(me?.inputs ?? {})) {
        if (!isRef(v)) continue;
        const up = await this.stepRun(pipelineRun, v.step);
        if (!up) continue;
        const from = this.runNode(up);
        out.push({ node: from, edge: { from, to: id, relation: 'feeds', detail: `${v.step}.${v.output} → ${input}` } });
      }
      if (r.data.tags[TAG.component] === 'ingest@1') {
        for (const e of Object.values(outputs(r))) {
          const node = e.meta?.dataset ? await this.datasetRef(e.meta.dataset)
            : e.meta?.file ? this.add({ id: nodeId.artifact(`file:${e.meta.file}`), kind: 'artifact', label: `file ${e.meta.file}`, attrs: { file: e.meta.file } }) : undefined;
          if (node) out.push({ node, edge: { from: node, to: id, relation: 'input' } });
        }
      }
    } else if (n.kind === 'dataset-version') {
      const v = (await this.datasetVersions(n.attrs.name as string)).find((x) => x.version === n.attrs.version);
      for (const [key, value] of Object.entries(v?.lineage ?? {})) {
        let from: string | undefined;
        if (/^(run|run_id|runId)$/.test(key)) {
          const r = await this.run(value);
          if (r) from = this.runNode(r);
        } else from = await this.datasetRef(value);
        if (from) out.push({ node: from, edge: { from, to: id, relation: 'derived', detail: key } });
      }
    }
    return out;
  }

  async downstream(id: string): Promise<Link[]> {
    const n = this.nodes.get(id)!;
    const out: Link[] = [];
    const runs = [...(await this.allRuns()).values()];
    const produced = async (runId: string, from: string) => {
      for (const v of await this.allVersions()) {
        if (v.runId === runId) {
          const to = this.modelNode(v);
          out.push({ node: to, edge: { from, to, relation: 'source' } });
        }
      }
    };
    if (n.kind === 'dataset-version') {
      const ref = `${n.attrs.name}@${n.attrs.version}`;
      for (const r of runs) {
        if (r.data.tags[TAG.component] === 'ingest@1') {
          if (Object.values(outputs(r)).some((e) => e.meta?.dataset === ref)) {
            const to = this.runNode(r);
            out.push({ node: to, edge: { from: id, to, relation: 'input' } });
          }
        } else if (!r.data.tags[TAG.step] && r.inputs.datasetInputs.length > 0) {
          const link = (await this.runInputs(r)).find((l) => l.node === id);
          if (link) out.push({ node: link.edge.to, edge: link.edge });
        }
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
      for (const v of await this.allDatasetVersions()) {
        if (Object.entries(v.lineage ?? {}).some(([k, x]) => /^(run|run_id|runId)$/.test(k) && x === n.attrs.runId)) {
          const to = this.datasetNode(v);
          out.push({ node: to, edge: { from: id, to, relation: 'derived' } });
        }
      }
    } else if (n.kind === 'step') {
      const runId = n.attrs.runId as string;
      const pipelineRun = n.attrs.pipelineRun as string;
      const ir = await this.ir(pipelineRun);
      for (const s of ir ?? []) {
        for (const [input, v] of Object.entries(s.inputs ?? {})) {
          if (!isRef(v) || v.step !== n.attrs.step) continue;
          const down = await this.stepRun(pipelineRun, s.name);
          if (!down) continue;
          const to = this.runNode(down);
          out.push({ node: to, edge: { from: id, to, relation: 'feeds', detail: `${v.step}.${v.output} → ${input}` } });
        }
      }
      await produced(runId, id);
      const self = await this.run(runId);
      if (self?.data.tags[TAG.component] === 'register@1') {
        const reg = await this.registration(self);
        if (reg?.registered && reg.name && reg.version !== undefined) {
          const v = (await this.allVersions()).find((x) => x.name === reg.name && x.version === String(reg.version));
          if (v) {
            const to = this.modelNode(v);
            out.push({ node: to, edge: { from: id, to, relation: 'registered' } });
          }
        }
      }
      for (const r of runs) {
        if (r.data.tags[TAG.source] === runId && r.data.tags[TAG.cached] === 'true') {
          const to = this.runNode(r);
          out.push({ node: to, edge: { from: id, to, relation: 'cached' } });
        }
      }
    } else if (n.kind === 'model-version') {
      // Batch-score steps whose model input holds this version's bytes.
      const runId = n.attrs.runId as string | null;
      if (runId) {
        for (const r of runs) {
          if (r.data.tags[TAG.component] !== 'batch-score@1' || !r.data.tags[TAG.parent]) continue;
          const me = (await this.ir(r.data.tags[TAG.parent]))?.find((s) => s.name === r.data.tags[TAG.step]);
          const ref = me?.inputs?.model;
          if (!isRef(ref)) continue;
          const up = await this.stepRun(r.data.tags[TAG.parent], ref.step);
          if (up && (up.info.runId === runId || outputs(up)[ref.output]?.run === runId)) {
            const to = this.runNode(r);
            out.push({ node: to, edge: { from: id, to, relation: 'scored' } });
          }
        }
      }
    }
    return out;
  }
}

function isRef(v: unknown): v is { step: string; output: string } {
  return !!v && typeof v === 'object' && typeof (v as { step?: unknown }).step === 'string' && typeof (v as { output?: unknown }).output === 'string';
}

function outputs(r: Run): Record<string, OutputEntry> {
  try {
    const o = JSON.parse(r.data.tags[TAG.outputs] ?? '{}') as Record<string, OutputEntry>;
    return o && typeof o === 'object' ? o : {};
  } catch {
    return {};
  }
}

/**
 * The lineage graph of a model version or a dataset version: see the module comment. `depth`
 * bounds the hops followed upstream and downstream (default {@link DEFAULT_LINEAGE_DEPTH}).
 */
export async function lineageOf(meta: MetadataStore, artifacts: ArtifactStore, ref: string | LineageRef, opts: { depth?: number } = {}): Promise<LineageGraph> {
  const depth = opts.depth ?? DEFAULT_LINEAGE_DEPTH;
  if (!Number.isInteger(depth) || depth < 0) throw invalid(`depth must be a whole number of at least 0, got ${depth}`);
  const target = await resolveLineageRef(meta, ref);
  const ix = new Index(meta, artifacts);
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
    const p = await ix.run(n.attrs.pipelineRun as string);
    if (!p) continue;
    const pid = ix.runNode(p);
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
