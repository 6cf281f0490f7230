/**
 * Hyperparameter search over a built-in trainer: a grid (the cartesian product of value lists) or
 * random trials drawn with a seed from value lists and ranges (`lo..hi` uniform, `lo..hi:log`
 * log-uniform; integer parameters are drawn as integers). Each trial is scored by cross-validation
 * or by the trainer's own hold-out, on one objective metric with a direction. Nothing is logged
 * here: `onTrial` hands each finished trial to the caller, which may record it anywhere.
 */
import { invalid } from '../core/errors.js';
import type { Table } from '../data/table.js';
import { SeededRandom } from '../numeric/sketches/seeded-random.js';
import { crossValidate, cvSplits, type CvResult, type CvScheme } from './cv.js';
import type { Task } from './model.js';
import { readTarget, type Progress } from './prepare.js';
import { resolveParams, train, type Algo, type ParamValue } from './train.js';

export type SpaceDim =
  | { name: string; kind: 'list'; values: ParamValue[] }
  | { name: string; kind: 'range'; lo: number; hi: number; log: boolean };

/** Parameters whose values are counts; random draws for them are integers. */
export const INTEGER_PARAMS: ReadonlySet<string> = new Set([
  'trees', 'maxLeaves', 'maxDepth', 'minSamplesLeaf', 'maxBins', 'earlyStopping', 'maxCategories', 'threads', 'seed',
]);

/** Parameters that define the evaluation or the task rather than the model. */
const NOT_SEARCHABLE = new Set(['task', 'testSize']);

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const isInteger = (name: string) => INTEGER_PARAMS.has(camel(name));

function numberOrText(s: string): ParamValue {
  const t = s.trim();
  return t !== '' && Number.isFinite(Number(t)) ? Number(t) : t;
}

/** Parses `name=v1,v2,…`, `name=lo..hi` or `name=lo..hi:log`. */
export function parseSpace(spec: string): SpaceDim {
  const eq = spec.indexOf('=');
  const name = eq > 0 ? spec.slice(0, eq).trim() : '';
  const body = eq > 0 ? spec.slice(eq + 1).trim() : '';
  if (!name || !body) throw invalid(`A search space is name=v1,v2,… or name=lo..hi[:log], got '${spec}'`);
  if (body.includes('..')) {
    const m = /^(.+?)\.\.(.+?)(:log)?$/.exec(body);
    const lo = m ? Number(m[1]) : Number.NaN;
    const hi = m ? Number(m[2]) : Number.NaN;
    if (!m || m[1]!.trim() === '' || m[2]!.trim() === '' || !Number.isFinite(lo) || !Number.isFinite(hi)) {
      throw invalid(`Search range for '${name}' must be lo..hi or lo..hi:log with numbers, got '${body}'`);
    }
    if (!(lo < hi)) throw invalid(`Search range for '${name}' needs lo < hi, got ${lo}..${hi}`);
    if (m[3] && !(lo > 0)) throw invalid(`Log-uniform range for '${name}' needs lo > 0, got ${lo}`);
    return { name, kind: 'range', lo, hi, log: !!m[3] };
  }
  const parts = body.split(',');
  if (parts.some((p) => p.trim() === '')) throw invalid(`Search values for '${name}' must be a comma-separated list without empty entries, got '${body}'`);
  return { name, kind: 'list', values: parts.map(numberOrText) };
}

export interface Objective {
  metric: string;
  direction: 'maximize' | 'minimize';
}

const METRICS: Record<Task, Record<string, Objective['direction']>> = {
  regression: { rmse: 'minimize', mae: 'minimize', r2: 'maximize' },
  binary: { roc_auc: 'maximize', accuracy: 'maximize', f1: 'maximize', log_loss: 'minimize' },
  multiclass: { accuracy: 'maximize', macro_f1: 'maximize', log_loss: 'minimize' },
};
const DEFAULT_METRIC: Record<Task, string> = { regression: 'rmse', binary: 'roc_auc', multiclass: 'accuracy' };

/** The objective for a task: the named metric (or the task's default) with its direction. */
export function objectiveFor(task: Task, metric?: string): Objective {
  const m = metric ?? DEFAULT_METRIC[task];
  const direction = METRICS[task][m];
  if (!direction) throw invalid(`Objective '${m}' is not a metric of a ${task} task; choose one of ${Object.keys(METRICS[task]).join(', ')}`);
  return { metric: m, direction };
}

export interface Trial {
  /** 1-based, in the order the trials were run. */
  index: number;
  /** The searched parameters' values in this trial. */
  params: Record<string, ParamValue>;
  /** Cross-validation means, or the hold-out metrics. */
  metrics: Record<string, number>;
  /** The objective metric's value; NaN when the evaluation could not compute it. */
  objective: number;
  cv?: CvResult;
  /** When the trial started and ended (ms since the epoch), for whoever records it. */
  startTime: number;
  endTime: number;
}

export interface SearchOptions {
  strategy: 'grid' | 'random';
  space: SpaceDim[];
  /** Random search: how many trials (default 10). */
  trials?: number;
  /** Random search: the seed of the draws (default 42). */
  seed?: number;
  /** Metric name; default by task: roc_auc (binary), accuracy (multiclass), rmse (regression). */
  objective?: string;
  /** Cross-validation scheme per trial; without it, the trainer's hold-out scores each trial. */
  cv?: CvScheme;
  onTrial?: (trial: Trial) => void | Promise<void>;
  /** Progress lines: "trial 3/12 …", and the folds' lines under cross-validation. */
  onProgress?: Progress;
  /** Stops between trials, and inside a trial between folds and trees. */
  signal?: AbortSignal;
}

export interface SearchResult {
  task: Task;
  objective: Objective;
  /** Best first; trials without an objective value last; ties keep their run order. */
  trials: Trial[];
  best: Trial;
  /** The fixed parameters with the best trial's values over them. */
  bestParams: Record<string, ParamValue | boolean>;
}

/** Largest grid accepted: beyond it, a random search is the right tool. */
export const MAX_GRID = 10_000;

/** Grid candidates in odometer order: the last dimension varies fastest. */
export function gridCandidates(space: SpaceDim[]): Record<string, ParamValue>[] {
  for (const d of space) {
    if (d.kind !== 'list') throw invalid(`Grid search needs value lists; '${d.name}' is a range (list its values, or use random search)`);
  }
  const lists = space as Extract<SpaceDim, { kind: 'list' }>[];
  const size = lists.reduce((p, d) => p * d.values.length, 1);
  if (size > MAX_GRID) throw invalid(`The grid has ${size} combinations; at most ${MAX_GRID} are allowed (use random search)`);
  let out: Record<string, ParamValue>[] = [{}];
  for (const d of lists) out = out.flatMap((c) => d.values.map((v) => ({ ...c, [d.name]: v })));
  return out;
}

/** One draw from a dimension; integer parameters get integers in [lo, hi]. */
function draw(d: SpaceDim, rng: SeededRandom): ParamValue {
  const u = rng.next();
  if (d.kind === 'list') return d.values[Math.floor(u * d.values.length)]!;
  if (isInteger(d.name)) {
    const lo = Math.ceil(d.lo);
    const hi = Math.floor(d.hi);
    // Discrete log-uniform: P(v) ∝ log((v + 1) / v), the mass of [v, v + 1) under log-uniform.
    const v = d.log ? Math.floor(Math.exp(Math.log(lo) + u * (Math.log(hi + 1) - Math.log(lo)))) : lo + Math.floor(u * (hi - lo + 1));
    return Math.min(hi, Math.max(lo, v));
  }
  const v = d.log ? Math.exp(Math.log(d.lo) + u * (Math.log(d.hi) - Math.log(d.lo))) : d.lo + u * (d.hi - d.lo);
  return Math.min(d.hi, Math.max(d.lo, v));
}

/** `n` random candidates; the same seed gives the same candidates. */
export function randomCandidates(space: SpaceDim[], n: number, seed: number): Record<string, ParamValue>[] {
  if (!Number.isInteger(n) || n < 1) throw invalid(`Random search needs a whole number of trials of at least 1, got ${n}`);
  for (const d of space) {
    if (d.kind === 'range' && isInteger(d.name) && Math.ceil(d.lo) > Math.floor(d.hi)) {
      throw invalid(`Range ${d.lo}..${d.hi} for the integer parameter '${d.name}' holds no integer`);
    }
  }
  const rng = new SeededRandom(seed);
  return Array.from({ length: n }, () => Object.fromEntries(space.map((d) => [d.name, draw(d, rng)])));
}

/** Checks the space against the trainer and the fixed parameters. */
function checkSpace(algo: Algo, fixed: Record<string, ParamValue | boolean>, space: SpaceDim[]): void {
  if (!space.length) throw invalid('A search needs at least one parameter space');
  const seen = new Set<string>();
  const fixedNames = new Set(Object.keys(fixed).map(camel));
  for (const d of space) {
    const key = camel(d.name);
    if (seen.has(key)) throw invalid(`Parameter '${d.name}' has more than one search space`);
    seen.add(key);
    if (fixedNames.has(key)) throw invalid(`Parameter '${d.name}' is both fixed and searched; drop one of them`);
    if (NOT_SEARCHABLE.has(key)) throw invalid(`Parameter '${d.name}' is not a hyperparameter and cannot be searched`);
    // Every listed value (and both range ends) must be accepted by the trainer.
    const values = d.kind === 'list' ? d.values : [d.lo, d.hi];
    for (const v of values) resolveParams(algo, { [d.name]: v });
  }
}

function better(o: Objective, a: number, b: number): boolean {
  return o.direction === 'maximize' ? a > b : a < b;
}

/**
 * Runs every candidate of the space with `fixed` beneath it and ranks the trials by the objective.
 * Everything that can be checked before training (the space, the objective for the task, the
 * folds) is checked first, so a bad search fails before its first trial.
 */
export async function search(
  table: Table, target: string, algo: Algo, fixed: Record<string, ParamValue | boolean>, o: SearchOptions,
): Promise<SearchResult> {
  const base = resolveParams(algo, fixed);
  checkSpace(algo, fixed, o.space);
  if (o.strategy !== 'grid' && o.strategy !== 'random') throw invalid(`Search strategy must be grid or random, got '${String(o.strategy)}'`);
  if (o.strategy === 'grid' && o.trials !== undefined) throw invalid('The number of trials applies to random search only; a grid runs every combination');
  const candidates = o.strategy === 'grid' ? gridCandidates(o.space) : randomCandidates(o.space, o.trials ?? 10, o.seed ?? 42);
  const { task, positiveClass } = readTarget(table, target, base.task as Task | undefined, base.positiveClass as string | undefined);
  const objective = objectiveFor(task, o.objective);
  // The folds are checked once here, so that a bad scheme fails before any trial runs.
  if (o.cv) cvSplits(table, target, o.cv, { seed: Number(base.seed ?? 42), task, positiveClass });
  const done: Trial[] = [];
  for (const [i, candidate] of candidates.entries()) {
    const index = i + 1;
    const startTime = Date.now();
    const shown = Object.entries(candidate).map(([k, v]) => `${k}=${typeof v === 'number' ? Number(v.toPrecision(6)) : v}`).join(' ');
    o.onProgress?.(`trial ${index}/${candidates.length}: ${shown}`);
    const params = { ...fixed, ...candidate };
    let metrics: Record<string, number>;
    let cv: CvResult | undefined;
    if (o.cv) {
      cv = await crossValidate(table, target, algo, params, o.cv, { onProgress: o.onProgress && ((s) => o.onProgress!(`  ${s}`)), signal: o.signal });
      metrics = cv.mean;
    } else {
      metrics = (await train(table, target, algo, params, { signal: o.signal })).metrics;
    }
    const trial: Trial = { index, params: candidate, metrics, objective: metrics[objective.metric] ?? Number.NaN, ...(cv ? { cv } : {}), startTime, endTime: Date.now() };
    done.push(trial);
    await o.onTrial?.(trial);
  }
  const trials = [...done].sort((a, b) => {
    const an = Number.isNaN(a.objective);
    const bn = Number.isNaN(b.objective);
    if (an || bn) return an === bn ? a.index - b.index : an ? 1 : -1;
    return better(objective, a.objective, b.objective) ? -1 : better(objective, b.objective, a.objective) ? 1 : a.index - b.index;
  });
  const best = trials[0]!;
  return { task, objective, trials, best, bestParams: { ...fixed, ...best.params } };
}
