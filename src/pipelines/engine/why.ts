/**
 * Why a step was served from cache, or was not: for a step of a pipeline run, either the run whose
 * outputs it reused, or the parts of its cache key that differ from the step's previous run —
 * a parameter, an upstream output, the component's version or definition, a fact such as the
 * dataset version `@latest` resolved to — or the reason the cache was not consulted (caching turned
 * off for the step or for the run). Read from the step runs' records, which keep the parts of each key.
 */
import { invalid, isTrellisError } from '../../core/errors.js';
import type { PipelineRunStore, StepRunRecord } from '../../store/ports/pipelines.js';

export interface KeyChange {
  /** engine, component, definition, scalar, param, artifact or fact */
  part: string;
  key?: string;
  before: unknown;
  after: unknown;
}

export interface CacheExplanation {
  pipelineRun: string;
  step: string;
  stepRun: string;
  verdict: 'hit' | 'miss';
  reason: string;
  /** The run the outputs came from (hit) or the one compared with (miss). */
  comparedWith?: string;
  changes: KeyChange[];
}

function diffMaps(part: string, a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined): KeyChange[] {
  const out: KeyChange[] = [];
  const keys = [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])].sort();
  for (const k of keys) {
    const x = a?.[k];
    const y = b?.[k];
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push({ part, key: k, before: x ?? null, after: y ?? null });
  }
  return out;
}

/** The parts of a step's cache key that differ between two of its runs (`before` from `a`). */
export function keyChanges(a: Record<string, unknown>, b: Record<string, unknown>): KeyChange[] {
  const changes: KeyChange[] = [];
  for (const p of ['engine', 'component', 'definition'] as const) if (a[p] !== b[p]) changes.push({ part: p, before: a[p], after: b[p] });
  changes.push(...diffMaps('scalar', a.scalars as Record<string, unknown>, b.scalars as Record<string, unknown>));
  changes.push(...diffMaps('param', a.params as Record<string, unknown>, b.params as Record<string, unknown>));
  changes.push(...diffMaps('artifact', a.artifacts as Record<string, unknown>, b.artifacts as Record<string, unknown>));
  changes.push(...diffMaps('fact', a.facts as Record<string, unknown>, b.facts as Record<string, unknown>));
  return changes;
}

/** Why a step of a pipeline run was, or was not, served from cache: read from the step runs' records. */
export async function explainCache(runs: PipelineRunStore, pipelineRunId: string, step: string): Promise<CacheExplanation> {
  const parent = await runs.getPipelineRun(pipelineRunId).catch(async (e: unknown) => {
    if (!isTrellisError(e, 'TRELLIS_PIPELINE_RUN_NOT_FOUND')) throw e;
    const s = await runs.getStepRun(pipelineRunId).catch(() => undefined);
    if (s) throw invalid(`run ${pipelineRunId} is not a pipeline run: it is step '${s.step}'${s.pipelineRunId ? ` of pipeline run ${s.pipelineRunId}` : ''}`);
    throw e;
  });
  // Every run of the step in the experiment, newest first: the cache's scope.
  const all = await runs.listStepRuns({ experimentId: parent.experimentId, step });
  const mine = all.filter((r) => r.pipelineRunId === pipelineRunId);
  if (!mine.length) {
    const steps = (await runs.listStepRuns({ pipelineRunId })).map((r) => r.step);
    throw invalid(`pipeline run ${pipelineRunId} has no step '${step}'${steps.length ? `; its steps are ${[...new Set(steps)].join(', ')}` : ''} (a skipped step has no run)`);
  }
  const run = mine[0]!;
  const base = { pipelineRun: pipelineRunId, step, stepRun: run.id };
  if (run.cached) {
    const source = run.cacheSource ?? undefined;
    return { ...base, verdict: 'hit', reason: `its cache key was seen before: the outputs of run ${source} were reused`, ...(source ? { comparedWith: source } : {}), changes: [] };
  }
  // Caching turned off: for the whole run (`--no-cache` when it was started or resumed), or for the
  // step (`cache: { enabled: false }`). Recorded with the key parts; older step runs did not record
  // it, and for those only the run's own flag tells.
  const off = run.keyParts?.cacheOff;
  if (off === 'run' || parent.noCache) {
    return { ...base, verdict: 'miss', reason: 'caching was turned off for the whole pipeline run (--no-cache): the cache was not consulted', changes: [] };
  }
  if (off === 'step') {
    return { ...base, verdict: 'miss', reason: `caching is turned off for step '${step}' (cache: { enabled: false } in the pipeline): the cache was not consulted`, changes: [] };
  }
  const earlier = all.filter((r: StepRunRecord) => r.id !== run.id && r.startTime <= run.startTime && r.pipelineRunId !== pipelineRunId);
  if (!earlier.length) return { ...base, verdict: 'miss', reason: `no earlier run of step '${step}' in this experiment: it ran for the first time`, changes: [] };
  const same = earlier.find((r) => r.cacheKey === run.cacheKey);
  if (same) {
    const why = same.status !== 'FINISHED' ? `that run ended ${same.status}` : 'the step has caching turned off, or its time-to-live had passed';
    return { ...base, verdict: 'miss', reason: `run ${same.id} had the same cache key, but ${why}`, comparedWith: same.id, changes: [] };
  }
  const prev = earlier[0]!;
  const a = prev.keyParts;
  const b = run.keyParts;
  if (!a || !b) return { ...base, verdict: 'miss', reason: `the cache key differs from run ${prev.id}'s; one of them did not record its parts`, comparedWith: prev.id, changes: [] };
  const changes = keyChanges(a, b);
  const said = changes.map((c) => (c.key ? `${c.part} '${c.key}'` : c.part)).join(', ');
  return { ...base, verdict: 'miss', reason: `its cache key differs from the previous run of the step (${prev.id}) in: ${said || 'nothing recorded'}`, comparedWith: prev.id, changes };
}
