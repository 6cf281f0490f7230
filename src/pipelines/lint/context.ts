/**
 * What every lint check shares: the finding type, the pipeline with its steps and components
 * looked up once, and the phrases the messages are made of.
 */
import { findBuiltin } from '../builtins.js';
import { componentsFor, type ComponentDef, type Path, type PipelineIR, type Scalar, type ScalarType, type Step, type ValueType } from '../ir.js';

export type Severity = 'error' | 'warning';

export interface Finding {
  /** The check that found it: `cycle`, `type-mismatch`, … (docs/pipelines.md lists them). */
  check: string;
  severity: Severity;
  step?: string;
  input?: string;
  message: string;
  /** Where in the document: `['steps', 3, 'inputs', 'data']`. */
  path?: Path;
  /** The 1-based line of `path` in the source text, when the pipeline was parsed from text. */
  line?: number;
}

export type Found = Omit<Finding, 'check' | 'line'>;

export interface LintContext {
  ir: PipelineIR;
  /** Values given for the pipeline's parameters, when linting for a run. */
  params?: Record<string, Scalar>;
  /** The first step with each name, with its index. */
  steps: Map<string, { step: Step; index: number }>;
  /** The one component a step's reference names; undefined when it names none or several. */
  componentOf(step: Step): ComponentDef | undefined;
}

export interface LintCheck {
  name: string;
  run(ctx: LintContext): Found[];
}

export function lintContext(ir: PipelineIR, params?: Record<string, Scalar>): LintContext {
  const steps = new Map<string, { step: Step; index: number }>();
  ir.steps.forEach((step, index) => { if (!steps.has(step.name)) steps.set(step.name, { step, index }); });
  const resolved = new Map<string, ComponentDef | undefined>();
  return {
    ir,
    params,
    steps,
    componentOf(step) {
      if (!resolved.has(step.component)) {
        const found = componentsFor(ir, step.component);
        const unique = new Set(found.map((c) => `${c.name}@${c.version}`)).size === 1;
        const c = unique ? found[0] : undefined;
        resolved.set(step.component, c?.kind === 'builtin' && !findBuiltin(c.name, c.version) ? undefined : c);
      }
      return resolved.get(step.component);
    },
  };
}

export const ref = (c: ComponentDef) => `${c.name}@${c.version}`;

/** 'a Dataset', 'an integer', 'a string'. */
export function aType(t: ValueType): string {
  return `${/^[aeiouAEIOU]/.test(t) ? 'an' : 'a'} ${t}`;
}

/** 'the string "many"', 'the number 2.5', 'true'. */
export function describeValue(v: Scalar): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  return String(v);
}

/** Whether a value of type `from` may feed an input of type `to`: the same type, or an integer for a number. */
export function accepts(to: ValueType, from: ValueType): boolean {
  return to === from || (to === 'number' && from === 'integer');
}

export const isScalarType = (t: ValueType): t is ScalarType => t === 'string' || t === 'number' || t === 'integer' || t === 'boolean';

/** Why a literal does not fit a scalar type (or an enum), or undefined when it fits. */
export function literalProblem(type: ValueType, v: Scalar, allowed?: readonly string[]): string | undefined {
  const want = `takes ${aType(type)}`;
  if (!isScalarType(type)) return `takes ${aType(type)}, which only an upstream step's output can give, not ${describeValue(v)}`;
  if (type === 'string' && typeof v !== 'string') return `${want}, got ${describeValue(v)}`;
  if ((type === 'number' || type === 'integer') && (typeof v !== 'number' || !Number.isFinite(v))) return `${want}, got ${describeValue(v)}`;
  if (type === 'integer' && !Number.isInteger(v)) return `${want}, got ${describeValue(v)}`;
  if (type === 'boolean' && typeof v !== 'boolean') return `${want}, got ${describeValue(v)}`;
  if (allowed && typeof v === 'string' && !allowed.includes(v)) return `takes one of ${allowed.join(', ')}, got ${describeValue(v)}`;
  return undefined;
}

/** "; did you mean 'x'?" for the closest candidate within a small edit distance, else ''. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best === undefined ? '' : `; did you mean '${best}'?`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** 'a, b and c' */
export function list(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '(none)') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
