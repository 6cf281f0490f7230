/**
 * Feature transforms, fitted on training data and saved inside the model as plain JSON, so that
 * serving computes exactly the features training saw. A fitted pipeline turns a table (a batch or
 * a single record) into a row-major float64 matrix for the trainers.
 *
 * Transforms: imputation (mean, median, most frequent, constant), standardisation, min-max
 * scaling, one-hot and ordinal encoding with a declared policy for unseen categories, datetime
 * parts and bucketisation.
 */
import { TrellisError, invalid } from '../core/errors.js';
import { describeBadValues } from '../data/bad-values.js';
import { column, tableFromRows, valueAt, type Column, type ColumnType, type Table } from '../data/table.js';

export type UnseenPolicy = 'error' | 'ignore' | 'other';
/** Ordinal codes: an unseen category is refused, coded as one more category, or coded missing (NaN). */
export type OrdinalUnseenPolicy = 'error' | 'other' | 'missing';
export type DatetimePart = 'year' | 'month' | 'day' | 'hour' | 'weekday' | 'dayofyear';

/** What to do with a column, before fitting. */
export type FeatureSpec =
  | { column: string; kind: 'numeric'; impute?: 'mean' | 'median' | 'zero' | 'constant' | 'none'; fill?: number; scale?: 'standard' | 'minmax' | 'none' }
  | { column: string; kind: 'onehot'; unseen?: UnseenPolicy; maxCategories?: number; impute?: 'most_frequent' | 'missing' }
  | { column: string; kind: 'ordinal'; unseen?: OrdinalUnseenPolicy; impute?: 'most_frequent' | 'missing' | 'none'; maxCategories?: number }
  | { column: string; kind: 'datetime'; parts?: DatetimePart[] }
  | { column: string; kind: 'bucketize'; boundaries?: number[]; quantiles?: number };

/** A fitted step: everything it needs at serving time, as JSON. */
export type FittedFeature =
  /** `fill: null` keeps a missing value as NaN (for trainers that handle it natively). */
  | { column: string; kind: 'numeric'; fill: number | null; center: number; scale: number }
  | { column: string; kind: 'onehot'; categories: string[]; unseen: UnseenPolicy; fill: string | null }
  | { column: string; kind: 'ordinal'; categories: string[]; unseen: OrdinalUnseenPolicy; fill: string | null }
  | { column: string; kind: 'datetime'; parts: DatetimePart[] }
  | { column: string; kind: 'bucketize'; boundaries: number[] };

export interface FeaturePipeline {
  format: 'trellis.features/v1';
  /** The input columns and their types: the model's input signature. */
  inputs: { name: string; type: ColumnType }[];
  steps: FittedFeature[];
  /** Names of the output matrix's columns, in order. */
  outputs: string[];
}

export const OTHER = '__other__';
export const MISSING = '__missing__';
const DEFAULT_MAX_CATEGORIES = 100;

function numbers(c: Column): number[] {
  const out: number[] = [];
  if (c.type === 'string') {
    // A column null in every row reads as string; it simply has no values.
    if (c.codes.every((code) => code < 0)) return out;
    throw invalid(`Column '${c.name}' is a string column; use a one-hot or ordinal feature`);
  }
  for (let i = 0; i < c.values.length; i++) if (c.valid[i]) out.push(c.values[i]!);
  return out;
}

/** Count, mean, population standard deviation, min and max of a column's values, in two passes. */
function numericStats(c: Column): { count: number; mean: number; std: number; min: number; max: number } {
  if (c.type === 'string') {
    numbers(c);
    return { count: 0, mean: 0, std: 0, min: 0, max: 0 };
  }
  let count = 0;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < c.values.length; i++) {
    if (!c.valid[i]) continue;
    const v = c.values[i]!;
    count++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = count ? sum / count : 0;
  let ss = 0;
  for (let i = 0; i < c.values.length; i++) if (c.valid[i]) ss += (c.values[i]! - mean) ** 2;
  return { count, mean, std: count ? Math.sqrt(ss / count) : 0, min, max };
}

function categoryCounts(c: Column): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < (c.type === 'string' ? c.codes.length : c.values.length); i++) {
    const v = valueAt(c, i);
    if (v === null) continue;
    const k = String(v);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * The spec for tree models: numbers as they are with missing values kept (trees route them),
 * strings as category codes (unseen ones treated as missing), datetimes as parts.
 */
export function treeSpec(c: Column, maxCategories = 255): FeatureSpec {
  switch (c.type) {
    case 'string': return { column: c.name, kind: 'ordinal', unseen: 'missing', impute: 'none', maxCategories };
    case 'datetime': return { column: c.name, kind: 'datetime' };
    default: return { column: c.name, kind: 'numeric', impute: 'none', scale: 'none' };
  }
}

/** The feature-matrix columns holding category codes, with their number of categories. */
export function categoricalOutputs(p: FeaturePipeline): Map<number, number> {
  const out = new Map<number, number>();
  let at = 0;
  for (const s of p.steps) {
    if (s.kind === 'ordinal') out.set(at, s.categories.length + (s.fill === MISSING ? 1 : 0) + (s.unseen === 'other' ? 1 : 0));
    at += outputNames(s).length;
  }
  return out;
}

/** The default spec for a column: numbers standardised, strings one-hot, datetimes as parts. */
export function defaultSpec(c: Column): FeatureSpec {
  switch (c.type) {
    case 'string': return { column: c.name, kind: 'onehot', unseen: 'ignore' };
    case 'datetime': return { column: c.name, kind: 'datetime' };
    default: return { column: c.name, kind: 'numeric', impute: 'mean', scale: c.type === 'boolean' ? 'none' : 'standard' };
  }
}

export function fitFeatures(table: Table, specs: FeatureSpec[]): FeaturePipeline {
  if (table.rowCount === 0) throw invalid('Cannot fit features on an empty table');
  const steps = specs.map((spec): FittedFeature => {
    const c = column(table, spec.column);
    switch (spec.kind) {
      case 'numeric': {
        const st = numericStats(c);
        if (!st.count) throw invalid(`Column '${c.name}' has no values to fit on (every row is null)`);
        const { mean, min, max } = st;
        const fill = spec.impute === 'none' ? null : spec.impute === 'median' ? median(numbers(c)) : spec.impute === 'zero' ? 0 : spec.impute === 'constant' ? (spec.fill ?? 0) : mean;
        if (spec.scale === 'minmax') return { column: c.name, kind: 'numeric', fill, center: min, scale: max > min ? max - min : 1 };
        if (spec.scale === 'none') return { column: c.name, kind: 'numeric', fill, center: 0, scale: 1 };
        return { column: c.name, kind: 'numeric', fill, center: mean, scale: st.std > 0 ? st.std : 1 };
      }
      case 'onehot':
      case 'ordinal': {
        const counts = categoryCounts(c);
        if (!counts.size) throw invalid(`Column '${c.name}' has no values to fit on (every row is null)`);
        const limit = spec.maxCategories ?? (spec.kind === 'onehot' ? DEFAULT_MAX_CATEGORIES : Number.POSITIVE_INFINITY);
        if (counts.size > limit) {
          throw invalid(`Column '${c.name}' has ${counts.size} categories, more than the limit of ${limit}; raise maxCategories or use another encoding`);
        }
        const categories = [...counts.keys()].sort();
        const mostFrequent = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? null;
        const fill = spec.impute === 'most_frequent' ? mostFrequent : spec.impute === 'none' ? null : MISSING;
        if (spec.kind === 'onehot') return { column: c.name, kind: 'onehot', categories, unseen: spec.unseen ?? 'ignore', fill };
        return { column: c.name, kind: 'ordinal', categories, unseen: spec.unseen ?? 'error', fill };
      }
      case 'datetime':
        if (c.type !== 'datetime') throw invalid(`Column '${c.name}' is ${c.type}, not a datetime`);
        return { column: c.name, kind: 'datetime', parts: spec.parts ?? ['year', 'month', 'day', 'hour', 'weekday'] };
      case 'bucketize': {
        let boundaries = spec.boundaries;
        if (!boundaries) {
          const q = spec.quantiles ?? 4;
          const s = numbers(c).sort((a, b) => a - b);
          boundaries = [...new Set(Array.from({ length: q - 1 }, (_, i) => s[Math.floor(((i + 1) * s.length) / q)]!))];
        }
        if (boundaries.some((b, i) => i > 0 && b <= boundaries[i - 1]!)) throw invalid(`Bucket boundaries of '${c.name}' must increase`);
        return { column: c.name, kind: 'bucketize', boundaries };
      }
    }
  });
  const inputs = specs.map((s) => ({ name: s.column, type: column(table, s.column).type }));
  return { format: 'trellis.features/v1', inputs, steps, outputs: steps.flatMap(outputNames) };
}

/** The names of the matrix columns a fitted step writes, in order. */
export function outputNames(s: FittedFeature): string[] {
  switch (s.kind) {
    case 'numeric': return [s.column];
    case 'onehot': return [...s.categories, ...(s.fill === MISSING ? [MISSING] : []), ...(s.unseen === 'other' ? [OTHER] : [])].map((c) => `${s.column}=${c}`);
    case 'ordinal': return [s.column];
    case 'datetime': return s.parts.map((p) => `${s.column}.${p}`);
    case 'bucketize': return [`${s.column}.bucket`];
  }
}

const COMPATIBLE: Record<ColumnType, ColumnType[]> = {
  integer: ['integer', 'float'], float: ['float', 'integer'], boolean: ['boolean'], datetime: ['datetime'],
  string: ['string', 'integer', 'float', 'boolean'],
};

/**
 * Applies a fitted pipeline: the features as a row-major n × outputs matrix. A table's are written
 * into `into` when it is large enough (a caller scoring batch after batch reuses its matrices).
 */
export function applyFeatures(p: FeaturePipeline, input: Table | readonly Record<string, unknown>[], into?: Float64Array): Float64Array {
  if (Array.isArray(input)) {
    const records = input as readonly Record<string, unknown>[];
    // Datetime parts are parsed by the table reader; records with them take the table path.
    if (p.steps.some((s) => s.kind === 'datetime')) return applyFeatures(p, tableFromRows(records));
    return applyRecords(p, records);
  }
  const table = input as Table;
  const n = table.rowCount;
  const width = p.outputs.length;
  // Large matrices in shared memory, so a batch can be walked on two threads without a copy.
  // Every cell is written below, so a reused matrix needs no clearing.
  const out = into && into.length >= n * width ? into.subarray(0, n * width)
    : new Float64Array(n * width > 100_000 ? new SharedArrayBuffer(8 * n * width) : new ArrayBuffer(8 * n * width));
  // One writer per step, set up once; rows are then written in blocks, every step per block,
  // so the block of the output stays in cache.
  const writers: ((from: number, to: number) => void)[] = [];
  let offset = 0;
  p.steps.forEach((s, k) => {
    const input = p.inputs[k]!;
    let c: Column;
    try {
      c = column(table, s.column);
    } catch {
      throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Input is missing the feature '${s.column}' (${input.type})` });
    }
    // A column that is null in every row carries no type of its own (checked only when its type is not the one trained).
    const allNull = () => (c.type === 'string' ? c.codes : c.valid).every((v) => (c.type === 'string' ? v < 0 : v === 0));
    if (!COMPATIBLE[input.type].includes(c.type) && !allNull()) {
      // A float is accepted where an integer was trained, so only what is not a number is wrong.
      const bad = describeBadValues(`Feature '${s.column}'`, c, input.type === 'integer' ? 'float' : input.type);
      throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: bad ?? `Feature '${s.column}' must be ${input.type}, got ${c.type} values` });
    }
    const at = offset;
    offset += outputNames(s).length;
    if ((s.kind === 'onehot' || s.kind === 'ordinal') && c.type === 'string') {
      // Category index per dictionary entry, looked up once per column rather than per row.
      const index = new Map(s.categories.map((v, j) => [v, j]));
      const byCode = Int32Array.from(c.dictionary, (v) => index.get(v) ?? -1);
      const { codes, dictionary } = c;
      if (s.kind === 'ordinal') {
        // One output per dictionary entry (and one for null), worked out once; a code whose
        // entry is refused (an unseen category under the error policy) is refused at its row.
        const one = new Float64Array(1);
        const refused = new Uint8Array(dictionary.length + 1);
        const valueOf = new Float64Array(dictionary.length + 1);
        for (let d = -1; d < dictionary.length; d++) {
          try {
            writeCategory(s, d < 0 ? null : dictionary[d]!, d < 0 ? -1 : byCode[d]!, 0, one, 0);
            valueOf[d + 1] = one[0]!;
          } catch {
            refused[d + 1] = 1;
          }
        }
        writers.push((from, to) => {
          for (let i = from; i < to; i++) {
            const code = codes[i]!;
            const j = code < 0 ? 0 : code + 1;
            if (refused[j]) writeCategory(s, code < 0 ? null : dictionary[code]!, code < 0 ? -1 : byCode[code]!, i, out, i * width + at);
            out[i * width + at] = valueOf[j]!;
          }
        });
        return;
      }
      writers.push((from, to) => {
        for (let i = from; i < to; i++) {
          const code = codes[i]!;
          writeCategory(s, code < 0 ? null : dictionary[code]!, code < 0 ? -1 : byCode[code]!, i, out, i * width + at);
        }
      });
    } else if (s.kind === 'numeric' && c.type !== 'string') {
      // The common case, in one tight loop: a number scaled, a missing one filled or kept as NaN.
      const { values, valid } = c;
      const fill = s.fill ?? Number.NaN;
      const { center, scale } = s;
      writers.push((from, to) => {
        for (let i = from; i < to; i++) {
          let x = valid[i] ? values[i]! : Number.NaN;
          if (Number.isNaN(x)) x = fill;
          else if (x === Number.POSITIVE_INFINITY || x === Number.NEGATIVE_INFINITY) {
            throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Feature '${s.column}' is ${x} in row ${i}; only finite numbers are accepted` });
          }
          out[i * width + at] = (x - center) / scale;
        }
      });
    } else writers.push((from, to) => { for (let i = from; i < to; i++) writeRow(s, c, i, out, i * width + at); });
  });
  const BLOCK = 2048;
  for (let from = 0; from < n; from += BLOCK) {
    const to = Math.min(n, from + BLOCK);
    for (const w of writers) w(from, to);
  }
  return out;
}

function typeOf(v: unknown): string {
  return typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'float') : typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'boolean' : typeof v;
}

/** The record path: one record or a few, without building a table (the serving hot path). */
function applyRecords(p: FeaturePipeline, records: readonly Record<string, unknown>[]): Float64Array {
  const width = p.outputs.length;
  const out = new Float64Array(records.length * width);
  let offset = 0;
  p.steps.forEach((s, k) => {
    const input = p.inputs[k]!;
    const cols = outputNames(s).length;
    for (let i = 0; i < records.length; i++) {
      const rec = records[i]!;
      if (!(s.column in rec)) {
        // Like a table, a key absent from every record is a missing feature; absent from some, a null.
        if (!records.some((r) => s.column in r)) throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Input is missing the feature '${s.column}' (${input.type})` });
      }
      const raw = rec[s.column];
      const v = raw === undefined ? null : raw;
      const at = i * width + offset;
      if (s.kind === 'onehot' || s.kind === 'ordinal') {
        if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
          throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Feature '${s.column}' must be ${input.type}, got ${typeOf(v)} (${JSON.stringify(v)})` });
        }
        const str = v === null ? null : String(v);
        writeCategory(s, str, str === null ? -1 : s.categories.indexOf(str), i, out, at);
        continue;
      }
      let x: number | null;
      if (v === null) x = null;
      else if (typeof v === 'number') {
        if (input.type === 'boolean' && v !== 0 && v !== 1 && !Number.isNaN(v)) throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Feature '${s.column}' must be boolean, got ${v}` });
        x = v;
      } else if (typeof v === 'boolean' && input.type === 'boolean') x = v ? 1 : 0;
      else throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Feature '${s.column}' must be ${input.type}, got ${typeOf(v)} values (e.g. ${JSON.stringify(v)})` });
      writeNumber(s, x, i, out, at);
    }
    offset += cols;
  });
  return out;
}

function numberAt(c: Column, i: number): number | null {
  if (c.type === 'string') {
    const v = valueAt(c, i);
    return v === null ? null : Number(v);
  }
  return c.valid[i] ? c.values[i]! : null;
}

function writeRow(s: FittedFeature, c: Column, i: number, out: Float64Array, at: number): void {
  if (s.kind === 'onehot' || s.kind === 'ordinal') {
    const raw = valueAt(c, i);
    const v = raw === null ? null : String(raw);
    writeCategory(s, v, v === null ? -1 : s.categories.indexOf(v), i, out, at);
  } else writeNumber(s, numberAt(c, i), i, out, at);
}

type CategoryStep = Extract<FittedFeature, { kind: 'onehot' | 'ordinal' }>;

/** Writes a category (`idx`: its index in the fitted categories, -1 when unseen or null). */
function writeCategory(s: CategoryStep, raw: string | null, idx: number, i: number, out: Float64Array, at: number): void {
  let v = raw === null ? s.fill : raw;
  if (raw === null) idx = v === null ? -1 : s.categories.indexOf(v);
  if (v === MISSING && s.fill === MISSING) idx = s.categories.length;
  if (idx < 0 && v !== null) {
    if (s.unseen === 'error') throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Feature '${s.column}' has the category '${v}' in row ${i}, unseen in training (policy: error)` });
    if (s.unseen === 'other') v = OTHER;
  }
  if (s.kind === 'ordinal') {
    // Codes: the categories, then MISSING (when imputed so), then OTHER; NaN when kept missing.
    if (idx >= 0) out[at] = idx;
    else if (v === null || s.unseen === 'missing') out[at] = Number.NaN;
    else out[at] = s.categories.length + (s.fill === MISSING ? 1 : 0);
    return;
  }
  const width = s.categories.length + (s.fill === MISSING ? 1 : 0) + (s.unseen === 'other' ? 1 : 0);
  for (let j = 0; j < width; j++) out[at + j] = 0;
  if (idx >= 0) out[at + idx] = 1;
  else if (v === OTHER) out[at + width - 1] = 1;
}

function writeNumber(s: Exclude<FittedFeature, CategoryStep>, x: number | null, i: number, out: Float64Array, at: number): void {
  switch (s.kind) {
    case 'numeric': {
      if (x === null || Number.isNaN(x)) x = s.fill ?? Number.NaN;
      if (!Number.isFinite(x) && !(s.fill === null && Number.isNaN(x))) throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Feature '${s.column}' is ${x} in row ${i}; only finite numbers are accepted` });
      out[at] = (x - s.center) / s.scale;
      return;
    }
    case 'datetime': {
      const d = x === null ? null : new Date(x);
      s.parts.forEach((p, j) => {
        out[at + j] = d === null ? Number.NaN : p === 'year' ? d.getUTCFullYear() : p === 'month' ? d.getUTCMonth() + 1 : p === 'day' ? d.getUTCDate()
          : p === 'hour' ? d.getUTCHours() : p === 'weekday' ? d.getUTCDay()
            : Math.floor((x! - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
      });
      return;
    }
    case 'bucketize': {
      if (x === null || Number.isNaN(x)) { out[at] = Number.NaN; return; }
      let b = 0;
      while (b < s.boundaries.length && x >= s.boundaries[b]!) b++;
      out[at] = b;
    }
  }
}
