/**
 * One step on its own, outside the engine: what `trellis pipelines step` runs in each container of
 * an exported Argo workflow. Artifact inputs are files (or folders) under an inputs folder, named
 * after the input; outputs are written under an outputs folder, named after the output; scalars
 * come as NAME=VALUE text and are read with the type the component declares.
 *
 * The step is still a step run in the metadata store the container is given (TRELLIS_STORE_URI),
 * on its own (no pipeline run), mirrored as a tracked run: params, metrics, log, outputs as
 * artifacts with their sha256. A later step that receives the same bytes as a file — Argo passes
 * files, not runs — finds the step run that made them among the recorded outputs (by sha256, in
 * the same experiment): that is how `register` knows which run's model it registers, and lineage
 * stays whole. The mirror also carries a `trellis.produced.<sha256>` tag per output, for MLflow
 * clients.
 */
import { existsSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { invalid } from '../../core/errors.js';
import type { Actor } from '../../store/ports/common.js';
import { findBuiltin } from '../builtins.js';
import { hashOutput } from '../executors/index.js';
import { ARTIFACT_TYPES, type ArtifactType, type ComponentDef, type Scalar } from '../ir.js';
import { executeStepJob, type EngineServices, type OutputEntry, type StepRecord } from './step-exec.js';

export interface StandaloneStep {
  /** `NAME@VERSION` of a built-in, or of the TypeScript component given by `module` and `export`. */
  component: string;
  module?: string;
  export?: string;
  /** Declared outputs of a TypeScript component, `NAME:TYPE` (built-ins declare their own). */
  outputs?: string[];
  inputsDir: string;
  outputsDir: string;
  /** Scalar inputs, `NAME=VALUE`. */
  inputs?: string[];
  /** The step's name (default: the component's name). */
  step?: string;
  /** The experiment of the step run (default: `pipeline-steps`). */
  experiment?: string;
  baseDir?: string;
  /** Tags for the step run, e.g. the workflow that ran it. */
  tags?: Record<string, string>;
}

export const PRODUCED_TAG = 'trellis.produced.';

function componentFor(o: StandaloneStep): ComponentDef {
  const at = o.component.lastIndexOf('@');
  if (at <= 0) throw invalid(`--component must be NAME@VERSION, got '${o.component}'`);
  const [name, version] = [o.component.slice(0, at), o.component.slice(at + 1)];
  if (!o.module) {
    const b = findBuiltin(name, version);
    if (!b) throw invalid(`--component ${o.component} is not a built-in component; give --module and --export for a TypeScript component`);
    return b as unknown as ComponentDef;
  }
  const outputs: Record<string, { type: ArtifactType }> = {};
  for (const d of o.outputs ?? []) {
    const [n, t] = d.split(':');
    if (!n || !t || !(ARTIFACT_TYPES as readonly string[]).includes(t)) throw invalid(`--output takes NAME:TYPE with TYPE one of ${ARTIFACT_TYPES.join(', ')}, got '${d}'`);
    outputs[n] = { type: t as ArtifactType };
  }
  return { name, version, kind: 'typescript', module: o.module, export: o.export ?? 'default', inputs: {}, outputs } as unknown as ComponentDef;
}

function scalar(comp: ComponentDef, name: string, text: string): Scalar {
  const spec = (comp.inputs as Record<string, { type: string } | undefined>)[name];
  if (comp.kind === 'builtin' && !spec) throw invalid(`component ${comp.name}@${comp.version} has no input '${name}'; it has ${Object.keys(comp.inputs).join(', ')}`);
  const type = spec?.type ?? 'string';
  if (type === 'number' || type === 'integer') {
    const n = text.trim() === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(n) || (type === 'integer' && !Number.isInteger(n))) throw invalid(`input '${name}' must be ${type === 'integer' ? 'an integer' : 'a number'}, got '${text}'`);
    return n;
  }
  if (type === 'boolean') {
    if (text !== 'true' && text !== 'false') throw invalid(`input '${name}' must be true or false, got '${text}'`);
    return text === 'true';
  }
  return text;
}

/** Runs the step; resolves with the step run and its record (FAILED steps resolve too). */
export async function runStandaloneStep(s: EngineServices, who: Actor, o: StandaloneStep): Promise<{ runId: string; record: StepRecord }> {
  const comp = componentFor(o);
  const step = o.step ?? comp.name;
  const scalars: Record<string, Scalar> = {};
  for (const kv of o.inputs ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw invalid(`--input takes NAME=VALUE, got '${kv}'`);
    scalars[kv.slice(0, eq)] = scalar(comp, kv.slice(0, eq), kv.slice(eq + 1));
  }
  for (const [name, spec] of Object.entries(comp.inputs as Record<string, { type: string; default?: Scalar }>)) {
    if (scalars[name] === undefined && spec.default !== undefined && !(ARTIFACT_TYPES as readonly string[]).includes(spec.type)) scalars[name] = spec.default;
  }
  const experimentName = o.experiment ?? 'pipeline-steps';
  const experimentId = await s.tracking.getExperimentByName(experimentName).then((e) => e.experimentId, () => s.tracking.createExperiment(experimentName, {}, who));

  // Artifact inputs: every file or folder in the inputs folder, with the run that made those bytes when the store knows it.
  const artifacts: Record<string, OutputEntry> = {};
  if (existsSync(o.inputsDir)) {
    const { readdir } = await import('node:fs/promises');
    for (const name of await readdir(o.inputsDir)) {
      const path = join(o.inputsDir, name);
      const spec = (comp.inputs as Record<string, { type: string } | undefined>)[name];
      if (comp.kind === 'builtin' && !spec) throw invalid(`${o.inputsDir}/${name}: component ${comp.name}@${comp.version} has no input '${name}'`);
      const sha256 = await hashOutput(path);
      const recorded = await producedOutput(s, experimentId, sha256);
      artifacts[name] = {
        ...(recorded ?? { run: '', name }), type: spec?.type ?? recorded?.type ?? 'File', sha256,
        kind: statSync(path).isDirectory() ? 'dir' : 'file', path,
      };
    }
  }
  const compRef = `${comp.name}@${comp.version}`;
  const run = await s.tracking.createRun({
    experimentId, runName: step,
    tags: { 'trellis.step': step, 'trellis.component': compRef, 'trellis.standalone': 'true', ...(o.tags ?? {}) },
  }, who);
  const runId = run.info.runId;
  await s.pipelines.startStepRun({
    id: runId, pipelineRunId: null, experimentId, step, component: compRef, startTime: run.info.startTime,
    edges: Object.entries(artifacts).filter(([, e]) => e.run).map(([name, e]) => ({ role: 'input', name, kind: 'step', ref: e.run, output: e.name, holder: e.run, sha256: e.sha256 })),
  }, who);
  const workRoot = await mkdtemp(join(tmpdir(), 'trellis-step-'));
  try {
    const record = await executeStepJob(s, {
      v: 1, pipelineRunId: '', stepRunId: runId, step, component: comp, baseDir: o.baseDir ?? process.cwd(), scalars, artifacts,
    }, { who, workRoot });
    if (record.status === 'FINISHED') {
      await mkdir(o.outputsDir, { recursive: true });
      for (const name of Object.keys(record.outputs)) {
        const target = join(o.outputsDir, name);
        await rm(target, { recursive: true, force: true });
        await cp(join(workRoot, 'runs', runId, name), target, { recursive: true });
      }
      const tags = Object.values(record.outputs).map((e) => ({ key: `${PRODUCED_TAG}${e.sha256}`, value: 'true' }));
      if (tags.length) await s.tracking.logBatch(runId, { tags }, who);
    }
    return { runId, record };
  } finally {
    await rm(workRoot, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The output with these bytes that a step run of the experiment recorded (the newest such step run), if any. */
async function producedOutput(s: EngineServices, experimentId: string, sha256: string): Promise<OutputEntry | undefined> {
  const runs = s.pipelines;
  const edges = await runs.listStepEdges({ role: 'output', kind: 'artifact', sha256 });
  const producers = (await runs.listStepRuns({ ids: [...new Set(edges.map((e) => e.stepRunId))] })).filter((r) => r.experimentId === experimentId && r.status === 'FINISHED');
  return Object.values((producers[0]?.outputs ?? {}) as Record<string, OutputEntry>).find((e) => e.sha256 === sha256);
}
