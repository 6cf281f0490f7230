/**
 * `pipelines rerun`: executes a recorded pipeline run again, without the cache, from what the run
 * recorded — its IR (`pipeline.json`), its parameters and the folder its paths were resolved from —
 * and compares every output, by sha256, with the output the original run recorded for that step.
 *
 * A rerun verifies; it does not publish. `register` steps (and any step reading their output) are
 * left out: re-executing one would register the retrained model as a new version and move its
 * alias. And the new run is recorded in an experiment of its own (`<experiment>-reruns` unless
 * told otherwise), because the cache is looked up per experiment: its step runs must not become
 * the cache source of ordinary runs, whose register steps would then find a training run with no
 * registered version and register the same model a second time.
 *
 * An output that differs is reported with the parts of its step's cache key that differ between
 * the two runs (a changed upstream output, the dataset `@latest` named, the champion a gate
 * compared with, a component's code); when none differ, the step itself is not deterministic.
 */
import { invalid } from '../../core/errors.js';
import type { Run } from '../../store/metadata-store.js';
import { componentsFor, normalizePipeline, topologicalOrder, upstreamSteps, validatePipeline, type PipelineIR, type Scalar } from '../ir.js';
import type { EngineServices, OutputEntry, PipelineEngine, PipelineRunResult, StepEvent } from './engine.js';
import { keyChanges, recordedKeyParts, type KeyChange } from './why.js';

export const RERUN_TAG = {
  of: 'trellis.rerun_of',
  verdict: 'trellis.rerun.verdict',
  notRerun: 'trellis.rerun.not_rerun',
} as const;

export type OutputVerdict = 'identical' | 'differs' | 'missing' | 'not-rerun';

export interface OutputComparison {
  step: string;
  output: string;
  type: string;
  verdict: OutputVerdict;
  /** sha256 recorded by the original run, null when it has none. */
  original: string | null;
  /** sha256 written by the rerun, null when it has none. */
  rerun: string | null;
  /** For `differs`: the parts of the step's cache key that differ; empty when the step is not deterministic. */
  changes?: KeyChange[];
  /** For `missing` and `not-rerun`: why one side has no output. */
  note?: string;
}

export interface RerunReport {
  original: string;
  rerun: string;
  pipeline: string;
  experiment: string;
  status: PipelineRunResult['status'];
  /** Every output compared is byte-identical and the rerun finished. */
  identical: boolean;
  counts: Record<OutputVerdict, number>;
  /** Steps left out: register steps and the steps that read their outputs. */
  notRerun: string[];
  outputs: OutputComparison[];
}

export interface RerunPlan {
  original: Run;
  /** The pipeline as the original run recorded it. */
  ir: PipelineIR;
  /** What the rerun executes: `ir` without the steps in `notRerun`. */
  executed: PipelineIR;
  notRerun: string[];
  params: Record<string, Scalar>;
  baseDir: string;
  experiment: string;
}

const TAG = { pipeline: 'trellis.pipeline', parent: 'mlflow.parentRunId', step: 'trellis.step', outputs: 'trellis.outputs', params: 'trellis.pipeline.params', dir: 'trellis.pipeline.dir' } as const;

const isRegister = (ir: PipelineIR, component: string) => {
  const c = componentsFor(ir, component)[0];
  return c?.kind === 'builtin' && c.name === 'register';
};

/** Reads what the run recorded and decides what the rerun executes; refuses runs that cannot be re-run. */
export async function planRerun(s: EngineServices, runId: string, o: { experiment?: string } = {}): Promise<RerunPlan> {
  const original = await s.meta.getRun(runId);
  const t = original.data.tags;
  if (!t[TAG.pipeline] || t[TAG.parent]) throw invalid(`run ${runId} is not a pipeline run (it has no '${TAG.pipeline}' tag${t[TAG.parent] ? `; it is a step of pipeline run ${t[TAG.parent]}` : ''})`);
  if (original.info.status === 'RUNNING') throw invalid(`pipeline run ${runId} is still RUNNING; rerun a run that ended`);
  let recorded: unknown;
  try {
    recorded = JSON.parse((await s.tracking.readArtifact(runId, 'pipeline.json')).toString('utf8'));
  } catch (e) {
    throw invalid(`pipeline run ${runId} has no readable pipeline.json artifact, so it cannot be re-run: ${(e as Error).message}`);
  }
  const ir = normalizePipeline(validatePipeline(recorded, `run ${runId}`));
  let params: Record<string, Scalar>;
  try {
    params = JSON.parse(t[TAG.params] ?? '{}') as Record<string, Scalar>;
  } catch {
    throw invalid(`pipeline run ${runId}: its '${TAG.params}' tag is not JSON, so its parameters are unknown`);
  }
  const left = new Set(ir.steps.filter((st) => isRegister(ir, st.component)).map((st) => st.name));
  for (let grew = true; grew;) {
    grew = false;
    for (const st of ir.steps) {
      if (!left.has(st.name) && upstreamSteps(st).some((u) => left.has(u))) {
        left.add(st.name);
        grew = true;
      }
    }
  }
  const executed: PipelineIR = { ...ir, steps: ir.steps.filter((st) => !left.has(st.name)) };
  if (!executed.steps.length) throw invalid(`pipeline run ${runId}: every step registers a model or reads a registration; a rerun would execute nothing`);
  const from = (await s.meta.getExperiment(original.info.experimentId)).name;
  const experiment = o.experiment ?? (from.endsWith('-reruns') ? from : `${from}-reruns`);
  return {
    original, ir, executed, notRerun: topologicalOrder(ir).filter((n) => left.has(n)), params, experiment,
    baseDir: t[TAG.dir] ?? process.cwd(),
  };
}

/** The step runs of a pipeline run, by step: the one that FINISHED when there is one, else the latest. */
async function stepRuns(s: EngineServices, parent: Run): Promise<Map<string, Run>> {
  const all: Run[] = [];
  let pageToken: string | undefined;
  do {
    const page = await s.meta.searchRuns({
      experimentIds: [parent.info.experimentId], pageToken,
      filter: [{ kind: 'tag', key: TAG.parent, comparator: '=', value: parent.info.runId }],
      orderBy: [{ kind: 'attribute', key: 'start_time', ascending: false }],
    });
    all.push(...page.items);
    pageToken = page.nextPageToken;
  } while (pageToken);
  const out = new Map<string, Run>();
  for (const r of all) {
    const step = r.data.tags[TAG.step];
    if (!step) continue;
    const have = out.get(step);
    if (!have || (have.info.status !== 'FINISHED' && r.info.status === 'FINISHED')) out.set(step, r);
  }
  return out;
}

const outputsOf = (r: Run | undefined): Record<string, OutputEntry> => {
  if (!r || r.info.status !== 'FINISHED') return {};
  try {
    return JSON.parse(r.data.tags[TAG.outputs] ?? '{}') as Record<string, OutputEntry>;
  } catch {
    return {};
  }
};

const absent = (r: Run | undefined, which: string) => (!r ? `the step did not run in the ${which} (skipped)` : `the step ended ${r.info.status} in the ${which}`);

/** Executes the plan without the cache, tags the new run, and compares its outputs with the original's. */
export async function rerunPipeline(engine: PipelineEngine, plan: RerunPlan, o: { onEvent?: (e: StepEvent) => void; signal?: AbortSignal } = {}): Promise<{ result: PipelineRunResult; report: RerunReport }> {
  const s = engine.s;
  const originalId = plan.original.info.runId;
  const result = await engine.run(plan.executed, { params: plan.params, noCache: true, baseDir: plan.baseDir, experiment: plan.experiment, onEvent: o.onEvent, signal: o.signal });
  const before = await stepRuns(s, plan.original);
  const after = await stepRuns(s, await s.meta.getRun(result.runId));
  const outputs: OutputComparison[] = [];
  for (const name of topologicalOrder(plan.ir)) {
    const step = plan.ir.steps.find((x) => x.name === name)!;
    const comp = componentsFor(plan.ir, step.component)[0];
    const was = outputsOf(before.get(name));
    const now = outputsOf(after.get(name));
    const declared = [...new Set([...Object.keys(comp?.outputs ?? {}), ...Object.keys(was), ...Object.keys(now)])];
    for (const out of declared) {
      const a = was[out]?.sha256 ?? null;
      const b = now[out]?.sha256 ?? null;
      const row: OutputComparison = { step: name, output: out, type: comp?.outputs[out]?.type ?? was[out]?.type ?? now[out]?.type ?? '', verdict: 'identical', original: a, rerun: b };
      if (plan.notRerun.includes(name)) {
        row.verdict = 'not-rerun';
        row.note = isRegister(plan.ir, step.component) ? 'register steps are not re-run: that would register the retrained model as a new version' : 'reads the output of a register step, which is not re-run';
      } else if (a === null || b === null) {
        row.verdict = 'missing';
        row.note = a === null ? absent(before.get(name), 'original run') : absent(after.get(name), 'rerun');
      } else if (a !== b) {
        row.verdict = 'differs';
        const pa = before.get(name) && recordedKeyParts(before.get(name)!);
        const pb = after.get(name) && recordedKeyParts(after.get(name)!);
        row.changes = pa && pb ? keyChanges(pa, pb) : [];
      }
      outputs.push(row);
    }
  }
  const counts: Record<OutputVerdict, number> = { identical: 0, differs: 0, missing: 0, 'not-rerun': 0 };
  for (const r of outputs) counts[r.verdict]++;
  const identical = result.status === 'FINISHED' && counts.differs === 0 && counts.missing === 0;
  await s.meta.logBatch(result.runId, {
    tags: [
      { key: RERUN_TAG.of, value: originalId },
      { key: RERUN_TAG.verdict, value: identical ? 'identical' : 'differs' },
      ...(plan.notRerun.length ? [{ key: RERUN_TAG.notRerun, value: plan.notRerun.join(',') }] : []),
    ],
  }, engine.o.who);
  return {
    result,
    report: {
      original: originalId, rerun: result.runId, pipeline: plan.ir.name, experiment: plan.experiment, status: result.status,
      identical, counts, notRerun: plan.notRerun, outputs,
    },
  };
}
