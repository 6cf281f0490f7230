/**
 * A dataset schema: what the data should look like, as TFDV describes it — per column a type,
 * nullability, a numeric range, a categorical domain and presence — plus what TFDV keeps elsewhere:
 * environments (a label required in training, absent at serving time), distribution expectations a
 * user can write without a reference dataset, and the skew thresholds validation uses — for all
 * columns, and per column where one should be compared more loosely or not at all (a row id, a
 * timestamp). It is a plain JSON document, inferred from a profile and then edited and pinned by
 * people as the contract.
 */
import { invalid } from '../../core/errors.js';
import type { ColumnType } from '../table.js';

export const SCHEMA_FORMAT = 'trellis.schema/v1';
const TYPES: readonly ColumnType[] = ['integer', 'float', 'boolean', 'string', 'datetime'];

/**
 * What a column is to validation. `id`: it names the row (a key, a row number); `time`: it says
 * when the row happened. The values of both move on with every new slice of data, so their
 * distribution is not compared with a reference (unless `drift` gives a threshold) and inference
 * records no range for them. `feature` (the same as no role): everything else.
 */
export type ColumnRole = 'id' | 'time' | 'feature';
export const ROLES: readonly ColumnRole[] = ['id', 'time', 'feature'];

/** A check on the distribution of one column that needs no reference data. */
export type Expectation =
  /** The mean (numeric columns) lies in [min, max]. */
  | { kind: 'mean'; min?: number; max?: number }
  /** The standard deviation lies in [min, max]. */
  | { kind: 'std'; min?: number; max?: number }
  /** The q-quantile lies in [min, max]. */
  | { kind: 'quantile'; q: number; min?: number; max?: number }
  /** The share of rows equal to `value` (a category, or true/false) lies in [min, max]. */
  | { kind: 'share'; value: string | boolean; min?: number; max?: number }
  /** No single value has a larger share than `max` (e.g. a category's share at most 10%). */
  | { kind: 'max_share'; max: number };

export interface ColumnSchema {
  name: string;
  type: ColumnType;
  /** Null values allowed at all. */
  nullable: boolean;
  /** Largest share of nulls accepted (when nullable); inferred with headroom. */
  maxMissing?: number;
  /** Numeric columns: values below `min` or above `max` are anomalies (either bound may be left out). */
  range?: { min?: number; max?: number };
  /** String columns: the allowed values. Absent when the column has too many distinct values to be a category. */
  domain?: string[];
  /** Share of out-of-domain values tolerated before it is an anomaly (default 0). */
  maxOutOfDomain?: number;
  /** The environments in which the column must be present; absent means all of them. */
  environments?: string[];
  expectations?: Expectation[];
  /** What the column is; absent means 'feature'. See {@link ColumnRole}. */
  role?: ColumnRole;
  /**
   * How the column's distribution is compared with a reference (a dataset version's profile, in
   * validation and in train/serve skew): `false`, not at all; a number, with this threshold on its
   * distance instead of the schema's `skew` thresholds. Absent: with the schema's thresholds, except
   * for `id` and `time` columns, which are not compared.
   */
  drift?: false | number;
}

export interface SkewThresholds {
  /** L-infinity distance of category shares above which categorical skew is an anomaly. */
  categorical: number;
  /** Jensen–Shannon distance of numeric histograms above which numeric skew is an anomaly. */
  numeric: number;
}

export interface DatasetSchema {
  format: typeof SCHEMA_FORMAT;
  columns: ColumnSchema[];
  /** Environments the schema knows, e.g. ['training', 'serving']. */
  environments?: string[];
  /** The environment assumed when validation names none. */
  defaultEnvironment?: string;
  skew: SkewThresholds;
  /** Columns not in the schema: an anomaly ('error') or tolerated ('ignore'). */
  unexpectedColumns: 'error' | 'warn' | 'ignore';
}

export const DEFAULT_SKEW: SkewThresholds = { categorical: 0.1, numeric: 0.1 };

/**
 * Why a column's distribution is not compared with the reference, or undefined when it is: its
 * `drift` is false, or it is an `id` or `time` column with no `drift` threshold of its own.
 */
export function driftExclusion(c: ColumnSchema): string | undefined {
  if (c.drift === false) return 'drift: false';
  if (c.drift === undefined && (c.role === 'id' || c.role === 'time')) return `role ${c.role}`;
  return undefined;
}

/** The threshold on a column's distance to the reference: its own `drift`, else the schema's for its measure. */
export function driftThreshold(c: ColumnSchema, skew: SkewThresholds, measure: 'categorical' | 'numeric'): number {
  return typeof c.drift === 'number' ? c.drift : skew[measure];
}

/** Checks a schema someone wrote or edited; every problem names the column and field. */
export function parseSchema(doc: unknown): DatasetSchema {
  const where = (s: string) => invalid(`Invalid schema: ${s}`);
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw where('it must be a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== SCHEMA_FORMAT) throw where(`'format' must be '${SCHEMA_FORMAT}', got ${JSON.stringify(d.format)}`);
  if (!Array.isArray(d.columns)) throw where("'columns' must be an array");
  const names = new Set<string>();
  const columns = d.columns.map((c: unknown, i: number) => {
    if (!c || typeof c !== 'object') throw where(`columns[${i}] must be an object`);
    const col = c as Record<string, unknown>;
    if (typeof col.name !== 'string' || !col.name) throw where(`columns[${i}].name must be a non-empty string`);
    const at = `column '${col.name}'`;
    if (names.has(col.name)) throw where(`${at} appears twice`);
    names.add(col.name);
    if (!TYPES.includes(col.type as ColumnType)) throw where(`${at}: 'type' must be one of ${TYPES.join(', ')}, got ${JSON.stringify(col.type)}`);
    if (typeof col.nullable !== 'boolean') throw where(`${at}: 'nullable' must be true or false`);
    const share = (k: string) => {
      const v = col[k];
      if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) throw where(`${at}: '${k}' must be a share between 0 and 1`);
    };
    share('maxMissing');
    share('maxOutOfDomain');
    if (col.range !== undefined) {
      const r = col.range as Record<string, unknown>;
      const bound = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v));
      if (!r || typeof r !== 'object' || !bound(r.min) || !bound(r.max) || (r.min === undefined && r.max === undefined)
        || (r.min !== undefined && r.max !== undefined && (r.min as number) > (r.max as number))) {
        throw where(`${at}: 'range' must be {min, max} (numbers, min ≤ max; either may be left out), got ${JSON.stringify(r)}`);
      }
    }
    if (col.role !== undefined && !ROLES.includes(col.role as ColumnRole)) throw where(`${at}: 'role' must be one of ${ROLES.join(', ')}, got ${JSON.stringify(col.role)}`);
    if (col.drift !== undefined && col.drift !== false && !(typeof col.drift === 'number' && Number.isFinite(col.drift) && col.drift >= 0)) {
      throw where(`${at}: 'drift' must be false (not compared with the reference) or a non-negative threshold, got ${JSON.stringify(col.drift)}`);
    }
    if (col.domain !== undefined && (!Array.isArray(col.domain) || col.domain.some((x) => typeof x !== 'string'))) {
      throw where(`${at}: 'domain' must be an array of strings`);
    }
    if (col.environments !== undefined && (!Array.isArray(col.environments) || col.environments.some((x) => typeof x !== 'string'))) {
      throw where(`${at}: 'environments' must be an array of environment names`);
    }
    for (const [j, e] of ((col.expectations as unknown[]) ?? []).entries()) checkExpectation(e, `${at} expectations[${j}]`);
    return col as unknown as ColumnSchema;
  });
  const skew = (d.skew ?? DEFAULT_SKEW) as Record<string, unknown>;
  for (const k of ['categorical', 'numeric']) {
    if (typeof skew[k] !== 'number' || skew[k] < 0) throw where(`'skew.${k}' must be a non-negative number`);
  }
  const unexpected = d.unexpectedColumns ?? 'error';
  if (!['error', 'warn', 'ignore'].includes(unexpected as string)) throw where("'unexpectedColumns' must be 'error', 'warn' or 'ignore'");
  return { ...d, format: SCHEMA_FORMAT, columns, skew: skew as unknown as SkewThresholds, unexpectedColumns: unexpected as DatasetSchema['unexpectedColumns'] };
}

function checkExpectation(e: unknown, at: string): void {
  const bad = (s: string) => invalid(`Invalid schema: ${at}: ${s}`);
  if (!e || typeof e !== 'object') throw bad('must be an object');
  const x = e as Record<string, unknown>;
  const bound = (k: string) => {
    if (x[k] !== undefined && typeof x[k] !== 'number') throw bad(`'${k}' must be a number`);
  };
  switch (x.kind) {
    case 'mean':
    case 'std':
      bound('min');
      bound('max');
      break;
    case 'quantile':
      if (typeof x.q !== 'number' || x.q < 0 || x.q > 1) throw bad("'q' must be between 0 and 1");
      bound('min');
      bound('max');
      break;
    case 'share':
      if (typeof x.value !== 'string' && typeof x.value !== 'boolean') throw bad("'value' must be a string or a boolean");
      bound('min');
      bound('max');
      break;
    case 'max_share':
      if (typeof x.max !== 'number' || x.max < 0 || x.max > 1) throw bad("'max' must be a share between 0 and 1");
      break;
    default:
      throw bad(`unknown kind ${JSON.stringify(x.kind)}; use mean, std, quantile, share or max_share`);
  }
  if ((x.kind !== 'max_share') && x.min === undefined && x.max === undefined) throw bad('give min, max or both');
}
