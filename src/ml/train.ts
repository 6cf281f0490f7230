/**
 * One entry point for every built-in trainer: `train(table, target, algo, params)`. Parameters
 * arrive as text (from the CLI, a pipeline or a search space) or numbers, are checked against the
 * trainer's own list (snake_case or camelCase), and unknown or malformed ones are refused by name.
 */
import { invalid } from '../core/errors.js';
import type { Table } from '../data/table.js';
import type { Task } from './model.js';
import type { Progress, TrainResult } from './prepare.js';
import { LINEAR_DEFAULTS, trainLinear } from './train-linear.js';
import { FOREST_DEFAULTS, GBDT_DEFAULTS, trainForest, trainGbdt } from './train-trees.js';

export const ALGOS = ['linear', 'gbdt', 'forest'] as const;
export type Algo = (typeof ALGOS)[number];

export type ParamValue = number | string;

const DEFAULTS: Record<Algo, Record<string, ParamValue | undefined>> = {
  linear: { ...LINEAR_DEFAULTS },
  gbdt: { ...GBDT_DEFAULTS },
  forest: { ...FOREST_DEFAULTS },
};

export function trainerDefaults(algo: Algo): Record<string, ParamValue | undefined> {
  return { ...DEFAULTS[algo] };
}

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Checks and converts parameters for a trainer; the result holds every parameter with its value. */
export function resolveParams(algo: Algo, given: Record<string, ParamValue | boolean>): Record<string, ParamValue> {
  if (!ALGOS.includes(algo)) throw invalid(`Unknown trainer '${String(algo)}'; choose one of ${ALGOS.join(', ')}`);
  const defaults = DEFAULTS[algo];
  const names = [...Object.keys(defaults), 'task', 'positiveClass'];
  const out: Record<string, ParamValue> = {};
  for (const [k, v] of Object.entries(defaults)) if (v !== undefined) out[k] = v;
  for (const [rawKey, raw] of Object.entries(given)) {
    const k = camel(rawKey);
    if (!names.includes(k)) throw invalid(`Unknown parameter '${rawKey}' for the ${algo} trainer; it takes ${names.join(', ')}`);
    if (k === 'task') {
      if (!['regression', 'binary', 'multiclass'].includes(String(raw))) throw invalid(`Parameter 'task' must be regression, binary or multiclass, got '${String(raw)}'`);
      out.task = String(raw);
      continue;
    }
    if (k === 'positiveClass') {
      // A label, compared as text with the target's labels (numbers as written, e.g. '1').
      if (String(raw) === '') throw invalid(`Parameter '${rawKey}' must name one of the target's two labels`);
      out.positiveClass = String(raw);
      continue;
    }
    const n = typeof raw === 'boolean' ? Number(raw) : typeof raw === 'number' ? raw : raw.trim() === '' ? Number.NaN : Number(raw);
    if (!Number.isFinite(n)) throw invalid(`Parameter '${rawKey}' must be a number, got '${String(raw)}'`);
    out[k] = n;
  }
  return out;
}

export interface TrainOptions {
  onProgress?: Progress;
  /** Stops the fit between trees (a linear model, quick to solve, between its phases). */
  signal?: AbortSignal;
}

export async function train(table: Table, target: string, algo: Algo, params: Record<string, ParamValue | boolean> = {}, o: TrainOptions = {}): Promise<TrainResult & { params: Record<string, ParamValue> }> {
  const p = resolveParams(algo, params);
  const typed = p as Record<string, number> & { task?: Task; positiveClass?: string };
  o.signal?.throwIfAborted();
  const result = algo === 'linear' ? trainLinear(table, target, typed, o.onProgress)
    : algo === 'gbdt' ? await trainGbdt(table, target, typed, o.onProgress, o.signal)
      : await trainForest(table, target, typed, o.onProgress, o.signal);
  o.signal?.throwIfAborted();
  return { ...result, params: p };
}
