/**
 * The lineage edges a step run records: what it consumed and what it produced, as the pipeline
 * records hold them (see `PipelineRunStore`). Lineage reads these instead of parsing tags or
 * re-reading a run's IR.
 */
import type { StepEdge } from '../../store/ports/pipelines.js';

interface Output { sha256: string; run: string; meta?: Record<string, string> }

/** An upstream step's output read as the input `input`: `step` is the step run that provided it in this pipeline run. */
export function inputEdge(input: string, stepRunId: string, output: string, entry: Output): StepEdge {
  return { role: 'input', name: input, kind: 'step', ref: stepRunId, output, holder: entry.run, sha256: entry.sha256 };
}

/** The dataset version or file an ingest step read, as its output's metadata names it. */
export function ingestEdges(component: string, outputs: Record<string, Output>): StepEdge[] {
  if (component !== 'ingest@1') return [];
  const out: StepEdge[] = [];
  for (const e of Object.values(outputs)) {
    if (e.meta?.dataset) out.push({ role: 'input', name: 'dataset', kind: 'dataset', ref: e.meta.dataset });
    else if (e.meta?.file) out.push({ role: 'input', name: 'dataset', kind: 'file', ref: e.meta.file });
  }
  return out;
}

/** The champion a gate compared with, as its cache facts resolved it (`name/version`, or `none`). */
export function championEdge(component: string, facts: Record<string, unknown>): StepEdge[] {
  return component === 'gate@1' && typeof facts.champion === 'string' && facts.champion !== 'none'
    ? [{ role: 'input', name: 'champion', kind: 'model', ref: facts.champion }] : [];
}

/** The model version a register step registered, or pointed its alias at again. */
export function registrationEdge(reg: { registered?: boolean; name?: string; version?: string | number } | undefined): StepEdge[] {
  return reg?.registered && reg.name && reg.version !== undefined ? [{ role: 'output', name: 'registration', kind: 'model', ref: `${reg.name}/${reg.version}` }] : [];
}
