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
import { invalid, isTrellisError } from '../../core/errors.js';
import type { PipelineRunRecord, StepRunRecord } from '../../store/ports/pipelines.js';
import { componentsFor, normalizePipeline, topologicalOrder, upstreamSteps, validatePipeline, type PipelineIR, type Scalar } from '../ir.js';
import type { EngineServices, OutputEntry, PipelineEngine, PipelineRunResult, StepEvent } from './engine.js';
import { keyChanges, type KeyChange } from './why.js';

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
  original: PipelineRunRecord;
  /** The pipeline as the original run recorded it. */
  ir: PipelineIR;
  /** What the rerun executes: `ir` without the steps in `notRerun`. */
  executed: PipelineIR;
  notRerun: string[];
  params: Record<string, Scalar>;
  baseDir: string;
  experiment: string;
}


const isRegister = (ir: PipelineIR, component: string) => {
  const c = componentsFor(ir, component)[0];
  return c?.kind === 'builtin' && c.name === 'register';
};

/** Reads what the run recorded and decides what the rerun executes; refuses runs that cannot be re-run. */
export async function planRerun(s: EngineServices, runId: string, o: { experiment?: string } = {}): Promise<RerunPlan> {
  const runs = s.pipelines;
  const original = await runs.getPipelineRun(runId).catch(async (e: unknown) => {
    if (!isTrellisError(e, 'TRELLIS_PIPELINE_RUN_NOT_FOUND')) throw e;
    const step = await runs.getStepRun(runId).catch(() => undefined);
    if (!step) await s.tracking.getRun(runId); // an unknown id is reported as such
    throw invalid(`run ${runId} is not a pipeline run (${step?.pipelineRunId ? `it is a step of pipeline run ${step.pipelineRunId}` : 'it has no pipeline run record'})`);
  });
  if (original.status === 'RUNNING') throw invalid(`pipeline run ${runId} is still RUNNING; rerun a run that ended`);
  let recorded: unknown;
  try {
    recorded = JSON.parse((await s.tracking.readArtifact(runId, 'pipeline.json')).toString('utf8'));
  } catch (e) {
    throw invalid(`pipeline run ${runId} has no readable pipeline.json artifact, so it cannot be re-run: ${(e as Error).message}`);
  }
  const ir = normalizePipeline(validatePipeline(recorded, `run ${runId}`));
  const params: Record<string, Scalar> = original.params;
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
  const from = (await s.tracking.getExperiment(original.experimentId)).name;
  const experiment = o.experiment ?? (from.endsWith('-reruns') ? from : `${from}-reruns`);
  return {
    original, ir, executed, notRerun: topologicalOrder(ir).filter((n) => left.has(n)), params, experiment,
    baseDir: original.baseDir || process.cwd(),
  };
}

/** The step runs of a pipeline run, by step: the one that FINISHED when there is one, else the latest. */
async function stepRuns(s: EngineServices, pipelineRunId: string): Promise<Map<string, StepRunRecord>> {
  const out = new Map<string, StepRunRecord>();
  for (const r of await s.pipelines.listStepRuns({ pipelineRunId })) {
    const have = out.get(r.step);
    if (!have || (have.status !== 'FINISHED' && r.status === 'FINISHED')) out.set(r.step, r);
  }
  return out;
}

const outputsOf = (r: StepRunRecord | undefined): Record<string, OutputEntry> => (r?.status === 'FINISHED' ? r.outputs ?? {} : {});

const absent = (r: StepRunRecord | undefined, which: string) => (!r ? `the step did not run in the ${which} (skipped)` : `the step ended ${r.status} in the ${which}`);

/** Executes the plan without the cache, tags the new run, and compares its outputs with the original's. */
export async function rerunPipeline(engine: PipelineEngine, plan: RerunPlan, o: { onEvent?: (e: StepEvent) => void; signal?: AbortSignal } = {}): Promise<{ result: PipelineRunResult; report: RerunReport }> {
  const s = engine.s;
  const originalId = plan.original.id;
  const result = await engine.run(plan.executed, { params: plan.params, noCache: true, baseDir: plan.baseDir, experiment: plan.experiment, onEvent: o.onEvent, signal: o.signal });
  const before = await stepRuns(s, originalId);
  const after = await stepRuns(s, result.runId);
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
        const pa = before.get(name)?.keyParts;
        const pb = after.get(name)?.keyParts;
        row.changes = pa && pb ? keyChanges(pa, pb) : [];
      }
      outputs.push(row);
    }
  }
  const counts: Record<OutputVerdict, number> = { identical: 0, differs: 0, missing: 0, 'not-rerun': 0 };
  for (const r of outputs) counts[r.verdict]++;
  const identical = result.status === 'FINISHED' && counts.differs === 0 && counts.missing === 0;
  await s.tracking.logBatch(result.runId, {
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
