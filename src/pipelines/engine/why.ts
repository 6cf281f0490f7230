/**
 * Why a step was served from cache, or was not: for a step of a pipeline run, either the run whose
 * outputs it reused, or the parts of its cache key that differ from the step's previous run —
 * a parameter, an upstream output, the component's version or definition, a fact such as the
 * dataset version `@latest` resolved to — or the reason the cache was not consulted.
 */
import { invalid } from '../../core/errors.js';
import type { MetadataStore, Run } from '../../store/metadata-store.js';

export interface KeyChange {
  /** engine, component, definition, scalar, artifact or fact */
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

const parts = (r: Run): Record<string, unknown> | undefined => {
  const t = r.data.tags['trellis.cache_key_parts'];
  try {
    return t ? JSON.parse(t) as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
};

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
  changes.push(...diffMaps('artifact', a.artifacts as Record<string, unknown>, b.artifacts as Record<string, unknown>));
  changes.push(...diffMaps('fact', a.facts as Record<string, unknown>, b.facts as Record<string, unknown>));
  return changes;
}

/** The cache key parts a step run recorded (`trellis.cache_key_parts`), if it did. */
export function recordedKeyParts(r: Run): Record<string, unknown> | undefined {
  return parts(r);
}

async function stepRuns(meta: MetadataStore, experimentId: string, step: string): Promise<Run[]> {
  const out: Run[] = [];
  let pageToken: string | undefined;
  do {
    const page = await meta.searchRuns({
      experimentIds: [experimentId], pageToken,
      filter: [{ kind: 'tag', key: 'trellis.step', comparator: '=', value: step }],
      orderBy: [{ kind: 'attribute', key: 'start_time', ascending: false }],
    });
    out.push(...page.items);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

export async function explainCache(meta: MetadataStore, pipelineRunId: string, step: string): Promise<CacheExplanation> {
  const parent = await meta.getRun(pipelineRunId);
  if (!parent.data.tags['trellis.pipeline'] || parent.data.tags['mlflow.parentRunId']) throw invalid(`run ${pipelineRunId} is not a pipeline run`);
  const all = await stepRuns(meta, parent.info.experimentId, step);
  const mine = all.filter((r) => r.data.tags['mlflow.parentRunId'] === pipelineRunId);
  if (!mine.length) {
    const steps = (await meta.searchRuns({ experimentIds: [parent.info.experimentId], filter: [{ kind: 'tag', key: 'mlflow.parentRunId', comparator: '=', value: pipelineRunId }] })).items
      .map((r) => r.data.tags['trellis.step']).filter(Boolean);
    throw invalid(`pipeline run ${pipelineRunId} has no step '${step}'${steps.length ? `; its steps are ${[...new Set(steps)].join(', ')}` : ''} (a skipped step has no run)`);
  }
  const run = mine[0]!;
  const base = { pipelineRun: pipelineRunId, step, stepRun: run.info.runId };
  if (run.data.tags['trellis.cached'] === 'true') {
    const source = run.data.tags['trellis.cache_source'];
    return { ...base, verdict: 'hit', reason: `its cache key was seen before: the outputs of run ${source} were reused`, comparedWith: source, changes: [] };
  }
  if (parent.data.tags['trellis.no_cache'] === 'true') return { ...base, verdict: 'miss', reason: 'the pipeline run was started without the cache (--no-cache)', changes: [] };
  const key = run.data.tags['trellis.cache_key'];
  const earlier = all.filter((r) => r.info.runId !== run.info.runId && r.info.startTime <= run.info.startTime && r.data.tags['mlflow.parentRunId'] !== pipelineRunId);
  if (!earlier.length) return { ...base, verdict: 'miss', reason: `no earlier run of step '${step}' in this experiment: it ran for the first time`, changes: [] };
  const same = earlier.find((r) => r.data.tags['trellis.cache_key'] === key);
  if (same) {
    const why = same.info.status !== 'FINISHED' ? `that run ended ${same.info.status}` : 'the step has caching turned off, or its time-to-live had passed';
    return { ...base, verdict: 'miss', reason: `run ${same.info.runId} had the same cache key, but ${why}`, comparedWith: same.info.runId, changes: [] };
  }
  const prev = earlier[0]!;
  const a = parts(prev);
  const b = parts(run);
  if (!a || !b) return { ...base, verdict: 'miss', reason: `the cache key differs from run ${prev.info.runId}'s; one of them did not record its parts`, comparedWith: prev.info.runId, changes: [] };
  const changes = keyChanges(a, b);
  const said = changes.map((c) => (c.key ? `${c.part} '${c.key}'` : c.part)).join(', ');
  return { ...base, verdict: 'miss', reason: `its cache key differs from the previous run of the step (${prev.info.runId}) in: ${said || 'nothing recorded'}`, comparedWith: prev.info.runId, changes };
}
