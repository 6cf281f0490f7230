/**
 * Validation: a table (a dataset, or the records of one serving request) against a schema and,
 * optionally, a reference profile → an anomaly report. It is the data gate of a pipeline, so
 * blocking anomalies are the ones a person would not want a model trained or served on.
 */
import { driftExclusion, driftThreshold, type DatasetSchema, type ColumnSchema, type Expectation } from '../schema/schema.js';
import { profileTable, type ColumnProfile, type Profile } from '../profile/profile.js';
import { badValues, describeBadValues } from '../bad-values.js';
import { nullCount, valueAt, type Column, type Table } from '../table.js';
import { categoricalDistance, categoryCounts, isSkewed, numericDistance, type Distance } from './distances.js';

export type AnomalyKind =
  | 'empty'
  | 'missing_column'
  | 'unexpected_column'
  | 'not_in_environment'
  | 'type_mismatch'
  | 'null_values'
  | 'null_rate'
  | 'out_of_range'
  | 'out_of_domain'
  | 'expectation'
  | 'skew';

export interface Anomaly {
  kind: AnomalyKind;
  /** Blocking anomalies fail the gate; warnings are reported only. */
  severity: 'error' | 'warning';
  column?: string;
  message: string;
  /** Offending rows and their share of the batch, where that means something. */
  count?: number;
  share?: number;
  examples?: (string | number | boolean)[];
}

export interface ValidationReport {
  /** True when no blocking anomaly was found. */
  ok: boolean;
  rows: number;
  environment?: string;
  anomalies: Anomaly[];
  /** Distribution distances to the reference, always listed (not only when over threshold). */
  distances: Distance[];
  /**
   * The columns present in the data and the reference whose distribution was not compared, and
   * why: `role id`, `role time` (their values move on with every slice) or `drift: false`. Their
   * type, nulls, range and domain were checked all the same. Empty without a reference.
   */
  excludedFromDrift: { column: string; reason: string }[];
}

export interface ValidateOptions {
  reference?: Profile;
  environment?: string;
  maxExamples?: number;
}

const TYPE_OK: Record<string, string[]> = {
  integer: ['integer'],
  float: ['float', 'integer'],
  boolean: ['boolean'],
  datetime: ['datetime'],
  string: ['string', 'integer', 'float', 'boolean', 'datetime'],
};

const pct = (x: number) => `${(x * 100).toFixed(x < 0.001 ? 3 : 1)}%`;

function inEnvironment(c: ColumnSchema, env: string | undefined): boolean {
  return !c.environments || env === undefined || c.environments.includes(env);
}

export function validateTable(table: Table, schema: DatasetSchema, opts: ValidateOptions = {}): ValidationReport {
  const env = opts.environment ?? schema.defaultEnvironment;
  const maxExamples = opts.maxExamples ?? 5;
  const anomalies: Anomaly[] = [];
  const distances: Distance[] = [];
  const excludedFromDrift: ValidationReport['excludedFromDrift'] = [];
  const byName = new Map(table.columns.map((c) => [c.name, c]));
  const schemaNames = new Set(schema.columns.map((c) => c.name));
  if (table.rowCount === 0) anomalies.push({ kind: 'empty', severity: 'error', message: 'The data has no rows' });

  for (const c of table.columns) {
    if (!schemaNames.has(c.name) && schema.unexpectedColumns !== 'ignore') {
      anomalies.push({ kind: 'unexpected_column', severity: schema.unexpectedColumns === 'error' ? 'error' : 'warning', column: c.name, message: `Column '${c.name}' is not in the schema` });
    }
  }

  let batchProfile: Map<string, ColumnProfile> | undefined;
  const profileOf = (name: string) => {
    batchProfile ??= new Map(profileTable(table).columns.map((p) => [p.name, p]));
    return batchProfile.get(name)!;
  };

  for (const cs of schema.columns) {
    const col = byName.get(cs.name);
    const wanted = inEnvironment(cs, env);
    if (!col) {
      if (wanted) anomalies.push({ kind: 'missing_column', severity: 'error', column: cs.name, message: `Column '${cs.name}' is missing${env ? ` (required in environment '${env}')` : ''}` });
      continue;
    }
    if (!wanted) {
      anomalies.push({ kind: 'not_in_environment', severity: 'error', column: cs.name, message: `Column '${cs.name}' must not be present in environment '${env}' (it is only for ${cs.environments!.join(', ')})` });
      continue;
    }
    // A column with no value at all has no type of its own (readers call it string): only its nulls count.
    if (!TYPE_OK[cs.type]!.includes(col.type) && nullCount(col) < table.rowCount) {
      anomalies.push(typeMismatch(col, cs, maxExamples));
      continue;
    }
    checkNulls(col, cs, table.rowCount, anomalies);
    if (nullCount(col) === table.rowCount) continue;
    if (cs.range && col.type !== 'string') checkRange(col, cs, maxExamples, anomalies);
    if (cs.domain) checkDomain(col, cs, maxExamples, anomalies);
    for (const e of cs.expectations ?? []) {
      const a = checkExpectation(e, cs, col, profileOf(cs.name));
      if (a) anomalies.push(a);
    }
    const ref = opts.reference?.columns.find((p) => p.name === cs.name);
    const excluded = ref && driftExclusion(cs);
    if (excluded) excludedFromDrift.push({ column: cs.name, reason: excluded });
    else if (ref) {
      const d = col.type === 'string' || col.type === 'boolean' || cs.type === 'string'
        ? categoricalDistance(col, ref, driftThreshold(cs, schema.skew, 'categorical'))
        : numericDistance(col, ref, driftThreshold(cs, schema.skew, 'numeric'));
      if (d) {
        distances.push(d);
        if (isSkewed(d)) {
          anomalies.push({
            kind: 'skew', severity: 'error', column: cs.name,
            message: `Column '${cs.name}' is skewed against the reference: ${d.measure === 'l_infinity' ? 'L-infinity' : 'Jensen-Shannon'} distance ${d.value.toFixed(4)} > ${d.threshold} + ${d.noise.toFixed(4)} expected from sampling${d.category !== undefined ? ` (largest change: '${d.category}')` : ''}, on ${d.sampleSize} values vs ${d.referenceSize}`,
          });
        }
      }
    }
  }
  return { ok: !anomalies.some((a) => a.severity === 'error'), rows: table.rowCount, ...(env ? { environment: env } : {}), anomalies, distances, excludedFromDrift };
}

function typeMismatch(col: Column, cs: ColumnSchema, maxExamples: number): Anomaly {
  // The values that do not fit, where there are some: the first values of the column may be fine.
  const { count, first } = badValues(col, cs.type, maxExamples);
  const examples: (string | number | boolean)[] = [];
  for (const b of first) if (!examples.includes(b.value)) examples.push(b.value);
  if (!examples.length) {
    const n = col.type === 'string' ? col.codes.length : col.values.length;
    for (let i = 0; i < n && examples.length < maxExamples; i++) {
      const v = valueAt(col, i);
      if (v !== null && !examples.includes(v)) examples.push(v);
    }
  }
  const detail = describeBadValues(`Column '${cs.name}'`, col, cs.type, Math.min(3, maxExamples));
  return {
    kind: 'type_mismatch', severity: 'error', column: cs.name,
    message: `Column '${cs.name}' should be ${cs.type} but holds ${col.type} values${detail ? `: ${detail.slice(`Column '${cs.name}' `.length)}` : ''}`,
    ...(count ? { count } : {}), examples,
  };
}

function checkNulls(col: Column, cs: ColumnSchema, rows: number, out: Anomaly[]): void {
  const nulls = nullCount(col);
  if (!nulls) return;
  const share = nulls / Math.max(1, rows);
  if (!cs.nullable) {
    out.push({ kind: 'null_values', severity: 'error', column: cs.name, count: nulls, share, message: `Column '${cs.name}' is not nullable but has ${nulls} null values (${pct(share)})` });
  } else if (cs.maxMissing !== undefined && share > cs.maxMissing) {
    out.push({ kind: 'null_rate', severity: 'error', column: cs.name, count: nulls, share, message: `Column '${cs.name}' has ${pct(share)} nulls, above the allowed ${pct(cs.maxMissing)}` });
  }
}

function checkRange(col: Column, cs: ColumnSchema, maxExamples: number, out: Anomaly[]): void {
  if (col.type === 'string') return;
  const min = cs.range!.min ?? Number.NEGATIVE_INFINITY;
  const max = cs.range!.max ?? Number.POSITIVE_INFINITY;
  let n = 0;
  let present = 0;
  const examples: number[] = [];
  for (let i = 0; i < col.values.length; i++) {
    if (!col.valid[i]) continue;
    present++;
    const x = col.values[i]!;
    if (x < min || x > max || Number.isNaN(x)) {
      n++;
      if (examples.length < maxExamples && !examples.includes(x)) examples.push(x);
    }
  }
  if (n) {
    const share = n / Math.max(1, present);
    out.push({ kind: 'out_of_range', severity: 'error', column: cs.name, count: n, share, examples, message: `Column '${cs.name}' has ${n} values (${pct(share)}) outside ${describeRange(cs.range!)}` });
  }
}

/** `[0, 1]`, `≥ 0` or `≤ 100`. */
export function describeRange(r: { min?: number; max?: number }): string {
  return r.min !== undefined && r.max !== undefined ? `[${r.min}, ${r.max}]` : r.min !== undefined ? `≥ ${r.min}` : `≤ ${r.max}`;
}

function checkDomain(col: Column, cs: ColumnSchema, maxExamples: number, out: Anomaly[]): void {
  const domain = new Set(cs.domain);
  let n = 0;
  let present = 0;
  const examples: string[] = [];
  for (const [value, count] of categoryCounts(col)) {
    present += count;
    if (domain.has(value)) continue;
    n += count;
    if (examples.length < maxExamples) examples.push(value);
  }
  const share = n / Math.max(1, present);
  if (n && share > (cs.maxOutOfDomain ?? 0)) {
    out.push({ kind: 'out_of_domain', severity: 'error', column: cs.name, count: n, share, examples, message: `Column '${cs.name}' has ${n} values (${pct(share)}) outside its domain of ${domain.size} values, e.g. ${examples.map((e) => `'${e}'`).join(', ')}` });
  }
}

function bounds(x: number, e: { min?: number; max?: number }): boolean {
  return (e.min === undefined || x >= e.min) && (e.max === undefined || x <= e.max);
}

function describeBounds(e: { min?: number; max?: number }): string {
  return e.min !== undefined && e.max !== undefined ? `[${e.min}, ${e.max}]` : e.min !== undefined ? `≥ ${e.min}` : `≤ ${e.max}`;
}

function checkExpectation(e: Expectation, cs: ColumnSchema, col: Column, p: ColumnProfile): Anomaly | undefined {
  const fail = (message: string): Anomaly => ({ kind: 'expectation', severity: 'error', column: cs.name, message });
  switch (e.kind) {
    case 'mean':
    case 'std': {
      const v = e.kind === 'mean' ? p.numeric?.mean : p.numeric?.std;
      if (v === undefined) return fail(`Expectation on the ${e.kind} of '${cs.name}' needs a numeric column`);
      return bounds(v, e) ? undefined : fail(`The ${e.kind} of '${cs.name}' is ${v.toPrecision(6)}, expected ${describeBounds(e)}`);
    }
    case 'quantile': {
      const kll = p.sketch.kll;
      if (!kll || !p.numeric) return fail(`Expectation on a quantile of '${cs.name}' needs a numeric column`);
      const sorted: number[] = [];
      if (col.type !== 'string') for (let i = 0; i < col.values.length; i++) if (col.valid[i]) sorted.push(col.values[i]!);
      sorted.sort((a, b) => a - b);
      const v = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(e.q * sorted.length) - 1))]!;
      return bounds(v, e) ? undefined : fail(`The ${e.q} quantile of '${cs.name}' is ${v}, expected ${describeBounds(e)}`);
    }
    case 'share': {
      const counts = categoryCounts(col);
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      const share = (counts.get(String(e.value)) ?? 0) / Math.max(1, total);
      return bounds(share, e) ? undefined : fail(`The share of ${JSON.stringify(e.value)} in '${cs.name}' is ${pct(share)}, expected ${describeBounds({ min: e.min !== undefined ? e.min : undefined, max: e.max })}`);
    }
    case 'max_share': {
      const counts = categoryCounts(col);
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      let top = ['', 0] as [string, number];
      for (const [v, n] of counts) if (n > top[1]) top = [v, n];
      const share = top[1] / Math.max(1, total);
      return share <= e.max ? undefined : fail(`'${top[0]}' makes up ${pct(share)} of '${cs.name}', more than the allowed ${pct(e.max)}`);
    }
  }
}

/** A short text for people: one line per anomaly, then the distances. */
export function formatReport(r: ValidationReport): string {
  const lines = [`${r.ok ? 'PASS' : 'FAIL'}: ${r.rows} rows, ${r.anomalies.filter((a) => a.severity === 'error').length} blocking anomalies, ${r.anomalies.filter((a) => a.severity === 'warning').length} warnings${r.environment ? ` (environment '${r.environment}')` : ''}`];
  for (const a of r.anomalies) {
    lines.push(`  ${a.severity === 'error' ? '✗' : '!'} [${a.kind}] ${a.message}${a.examples?.length && a.kind !== 'out_of_domain' ? `; examples: ${a.examples.map((x) => JSON.stringify(x)).join(', ')}` : ''}`);
  }
  if (r.distances.length) {
    lines.push('  distances to the reference:');
    for (const d of r.distances) {
      lines.push(`    ${d.column.padEnd(24)} ${d.measure.padEnd(14)} ${d.value.toFixed(4)} (threshold ${d.threshold} + sampling noise ${d.noise.toFixed(4)}; n=${d.sampleSize} vs ${d.referenceSize})${isSkewed(d) ? '  ✗' : ''}`);
    }
  }
  const excluded = formatExcluded(r.excludedFromDrift);
  if (excluded) lines.push(`  ${excluded}`);
  return lines.join('\n');
}

/** `not compared with the reference: instant (role id), dteday (role time), yr (drift: false)`, or '' when none was left out. */
export function formatExcluded(excluded: ValidationReport['excludedFromDrift'] | undefined): string {
  if (!excluded?.length) return '';
  return `not compared with the reference: ${excluded.map((e) => `${e.column} (${e.reason})`).join(', ')}`;
}
