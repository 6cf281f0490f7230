/**
 * Group fairness of a binary classifier: for each sensitive column, the metrics of each group
 * (size, selection rate, TPR, FPR, precision, accuracy) and the gaps between groups — demographic
 * parity difference (max − min selection rate) and ratio (min / max), equalised-odds difference
 * (the larger of the TPR and FPR gaps), equal-opportunity difference (the TPR gap) — with the
 * four-fifths rule (selection-rate ratio below 0.8) flagged.
 *
 * Every figure can carry a seeded percentile bootstrap interval. Rows are resampled stratified by
 * group by default: each group keeps its size in every resample, so the interval reflects the
 * uncertainty of each group's rates given how many rows it has, and a small group cannot vanish from
 * a resample. Unstratified resampling (`stratified: false`) also lets group sizes vary.
 *
 * Groups smaller than `minGroupSize` are reported with their metrics but flagged and left out of the
 * gaps, whose value would otherwise be set by noise in a handful of rows.
 */
import { invalid } from '../core/errors.js';
import type { Table } from '../data/table.js';
import { bootstrapCis } from '../numeric/metrics/bootstrap.js';
import { checkBootstrap, groupRows, readLabels, roleColumn, type BootstrapSpec } from './evaluate.js';
import { MODEL_FORMAT, predict, type Predictions, type TrellisModel } from './model.js';
import { takeRows } from './prepare.js';

export const FAIRNESS_FORMAT = 'trellis.fairness/v1';
export const FOUR_FIFTHS = 0.8;

export interface FairnessOptions {
  /** The label column; default the model's target (required with predictions). */
  target?: string;
  sensitive: string[];
  /** The favourable outcome; default the positive class chosen at training (the model's second class). */
  positive?: string;
  /** A row is selected (predicted positive) when P(positive) is at least this, default 0.5. */
  threshold?: number;
  /** Groups with fewer rows are reported but flagged and left out of the gaps; default 30. */
  minGroupSize?: number;
  /** Quantile buckets for a numeric sensitive column (such as age), default 4. */
  buckets?: number;
  /** Intervals; rows are resampled within each group unless `stratified` is false. */
  bootstrap?: BootstrapSpec & { stratified?: boolean };
}

/** A figure and its interval; null where it is undefined (a TPR in a group without positives). */
export interface Estimate {
  value: number | null;
  lower?: number;
  upper?: number;
}

export interface GroupMetrics {
  group: string;
  size: number;
  /** Below `minGroupSize`: reported, not compared. */
  small: boolean;
  /** Rows whose label is the positive class. */
  positives: number;
  /** Rows predicted positive. */
  selected: number;
  selectionRate: Estimate;
  tpr: Estimate;
  fpr: Estimate;
  precision: Estimate;
  accuracy: Estimate;
}

export interface SensitiveReport {
  column: string;
  kind: 'categories' | 'quantiles';
  groups: GroupMetrics[];
  /** Groups that enter the gaps: those with at least `minGroupSize` rows. */
  compared: string[];
  demographicParityDifference: Estimate;
  demographicParityRatio: Estimate;
  equalizedOddsDifference: Estimate;
  equalOpportunityDifference: Estimate;
  fourFifths: {
    /** Selection-rate ratio below 0.8; null when the ratio is undefined. */
    violated: boolean | null;
    /** With an interval: 'violated' when all of it is below 0.8, 'met' when none is, else 'inconclusive'. */
    byInterval?: 'violated' | 'met' | 'inconclusive';
  };
  /** Sentences for people: the four-fifths verdict, small groups, undefined gaps. */
  flags: string[];
}

export interface FairnessReport {
  format: typeof FAIRNESS_FORMAT;
  target: string;
  classes: string[];
  positiveClass: string;
  threshold: number;
  rows: number;
  rowsWithoutLabel: number;
  minGroupSize: number;
  bootstrap?: BootstrapSpec & { stratified: boolean; method: string };
  columns: SensitiveReport[];
  notes: string[];
}

const GROUP_FIELDS = ['selectionRate', 'tpr', 'fpr', 'precision', 'accuracy'] as const;
const GAP_FIELDS = ['demographicParityDifference', 'demographicParityRatio', 'equalizedOddsDifference', 'equalOpportunityDifference'] as const;

function isModel(s: TrellisModel | Predictions): s is TrellisModel {
  return (s as TrellisModel).format === MODEL_FORMAT;
}

const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);

/**
 * Per-group rates and gaps over the rows `idx`, as one vector: five rates per group, then the four
 * gaps. `gapGroups[f]` lists the groups a gap over rate f compares; if one of them has that rate
 * undefined on these rows, the gaps using it are NaN (the resample is skipped for them).
 */
function fairnessVector(y: Uint8Array, selected: Uint8Array, group: Int32Array, groups: number, compared: number[], out: Float64Array): (idx: Int32Array) => Float64Array {
  const size = new Float64Array(groups);
  const sel = new Float64Array(groups);
  const tp = new Float64Array(groups);
  const fp = new Float64Array(groups);
  const pos = new Float64Array(groups);
  return (idx) => {
    size.fill(0); sel.fill(0); tp.fill(0); fp.fill(0); pos.fill(0);
    for (let i = 0; i < idx.length; i++) {
      const r = idx[i]!;
      const g = group[r]!;
      size[g]!++;
      pos[g]! += y[r]!;
      if (selected[r]) {
        sel[g]!++;
        if (y[r]) tp[g]!++;
        else fp[g]!++;
      }
    }
    for (let g = 0; g < groups; g++) {
      const neg = size[g]! - pos[g]!;
      const tn = neg - fp[g]!;
      const o = g * GROUP_FIELDS.length;
      out[o] = size[g]! > 0 ? sel[g]! / size[g]! : Number.NaN;
      out[o + 1] = pos[g]! > 0 ? tp[g]! / pos[g]! : Number.NaN;
      out[o + 2] = neg > 0 ? fp[g]! / neg : Number.NaN;
      out[o + 3] = sel[g]! > 0 ? tp[g]! / sel[g]! : Number.NaN;
      out[o + 4] = size[g]! > 0 ? (tp[g]! + tn) / size[g]! : Number.NaN;
    }
    const rates = (f: number) => compared.map((g) => out[g * GROUP_FIELDS.length + f]!);
    const defined = (xs: number[]) => xs.length >= 2 && xs.every(Number.isFinite);
    const selection = rates(0);
    const tprs = rates(1);
    const fprs = rates(2);
    const o = groups * GROUP_FIELDS.length;
    out[o] = defined(selection) ? spread(selection) : Number.NaN;
    out[o + 1] = defined(selection) && Math.max(...selection) > 0 ? Math.min(...selection) / Math.max(...selection) : Number.NaN;
    out[o + 2] = defined(tprs) && defined(fprs) ? Math.max(spread(tprs), spread(fprs)) : Number.NaN;
    out[o + 3] = defined(tprs) ? spread(tprs) : Number.NaN;
    return out;
  };
}

/**
 * Fairness of a binary classifier on labelled rows, from the model or from its predictions on
 * `table` (as `predict` returns them: `proba` n × 2 in the order of `classes`).
 */
export function fairness(source: TrellisModel | Predictions, table: Table, options: FairnessOptions): FairnessReport {
  checkBootstrap(options.bootstrap);
  const model = isModel(source) ? source : undefined;
  const classes = model ? model.classes : source.classes;
  if (model && model.task !== 'binary') throw invalid(`Fairness metrics need a binary classifier; this model is ${model.task}${model.classes ? ` (classes ${model.classes.join(', ')})` : ''}`);
  if (!classes || classes.length !== 2) throw invalid(`Fairness metrics need a binary classifier; the predictions have ${classes ? `${classes.length} classes (${classes.join(', ')})` : 'no classes'}`);
  const target = options.target ?? model?.target;
  if (target === undefined) throw invalid("Name the label column with 'target': the predictions do not say which column they predict");
  if (!options.sensitive?.length) throw invalid('Name at least one sensitive column');
  const threshold = options.threshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1)) throw invalid(`threshold must be in [0, 1], got ${threshold}`);
  const minGroupSize = options.minGroupSize ?? 30;
  if (!Number.isInteger(minGroupSize) || minGroupSize < 1) throw invalid(`minGroupSize must be a positive integer, got ${minGroupSize}`);
  const buckets = options.buckets ?? 4;
  if (!Number.isInteger(buckets) || buckets < 2 || buckets > 100) throw invalid(`buckets must be an integer from 2 to 100, got ${buckets}`);
  const positive = options.positive ?? classes[1]!;
  const pos = classes.indexOf(positive);
  if (pos < 0) throw invalid(`The positive class '${positive}' is not one of the classes (${classes.join(', ')})`);
  const sensitiveColumns = options.sensitive.map((s) => roleColumn(table, s, 'Sensitive'));

  const { rows, y: labels } = readLabels(table, target, 'binary', classes);
  const n = rows.length;
  let proba: Float64Array;
  if (model) proba = predict(model, n === table.rowCount ? table : takeRows(table, rows)).proba!;
  else {
    const all = source as Predictions;
    if (!all.proba || all.proba.length !== table.rowCount * 2) throw invalid(`The predictions must hold proba for each of the ${table.rowCount} rows (n × 2), got ${all.proba?.length ?? 0} values`);
    proba = new Float64Array(n * 2);
    rows.forEach((r, i) => proba.set(all.proba!.subarray(r * 2, r * 2 + 2), i * 2));
  }
  const y = Uint8Array.from(labels, (v) => (v === pos ? 1 : 0));
  const selected = Uint8Array.from({ length: n }, (_, i) => (proba[i * 2 + pos]! >= threshold ? 1 : 0));

  const stratified = options.bootstrap?.stratified ?? true;
  const report: FairnessReport = {
    format: FAIRNESS_FORMAT, target, classes, positiveClass: positive, threshold, rows: n, rowsWithoutLabel: table.rowCount - n, minGroupSize, columns: [], notes: [],
  };
  if (options.bootstrap) {
    const { samples, seed, level } = options.bootstrap;
    report.bootstrap = { samples, seed, level, stratified, method: `percentile; rows resampled with replacement${stratified ? ' within each group' : ''}` };
  }
  if (n < table.rowCount) report.notes.push(`${table.rowCount - n} rows without a '${target}' label are left out.`);
  report.notes.push(`A row is selected when P(${positive}) ≥ ${threshold}; TPR, FPR and precision count '${positive}' as the positive outcome.`);

  for (const c of sensitiveColumns) {
    const g = groupRows(c, rows, buckets);
    const G = g.names.length;
    const sizes = new Int32Array(G);
    for (let i = 0; i < n; i++) sizes[g.group[i]!]!++;
    const compared = g.names.map((_, j) => j).filter((j) => sizes[j]! >= minGroupSize);
    const vector = fairnessVector(y, selected, g.group, G, compared, new Float64Array(G * GROUP_FIELDS.length + GAP_FIELDS.length));
    const estimates: Estimate[] = options.bootstrap
      ? bootstrapCis(vector, n, { resamples: options.bootstrap.samples, seed: options.bootstrap.seed, confidence: options.bootstrap.level, strata: stratified ? g.group : undefined })
        .map((ci) => (Number.isFinite(ci.estimate) ? (ci.resamples > 0 ? { value: ci.estimate, lower: ci.lower, upper: ci.upper } : { value: ci.estimate }) : { value: null }))
      : Array.from(vector(Int32Array.from({ length: n }, (_, i) => i)), (v) => ({ value: Number.isFinite(v) ? v : null }));

    const positives = new Int32Array(G);
    const chosen = new Int32Array(G);
    for (let i = 0; i < n; i++) {
      positives[g.group[i]!]! += y[i]!;
      chosen[g.group[i]!]! += selected[i]!;
    }
    const groups: GroupMetrics[] = g.names.map((name, j) => {
      const at = (f: number) => estimates[j * GROUP_FIELDS.length + f]!;
      return {
        group: name, size: sizes[j]!, small: sizes[j]! < minGroupSize, positives: positives[j]!, selected: chosen[j]!,
        selectionRate: at(0), tpr: at(1), fpr: at(2), precision: at(3), accuracy: at(4),
      };
    });
    const gap = (f: number) => estimates[G * GROUP_FIELDS.length + f]!;
    const ratio = gap(1);
    const s: SensitiveReport = {
      column: c.name, kind: g.kind, groups, compared: compared.map((j) => g.names[j]!),
      demographicParityDifference: gap(0), demographicParityRatio: ratio, equalizedOddsDifference: gap(2), equalOpportunityDifference: gap(3),
      fourFifths: { violated: ratio.value === null ? null : ratio.value < FOUR_FIFTHS }, flags: [],
    };
    if (ratio.value !== null && ratio.lower !== undefined && ratio.upper !== undefined) {
      s.fourFifths.byInterval = ratio.upper < FOUR_FIFTHS ? 'violated' : ratio.lower >= FOUR_FIFTHS ? 'met' : 'inconclusive';
    }
    const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
    if (ratio.value !== null) {
      const rates = compared.map((j) => groups[j]!);
      const lo = rates.reduce((a, b) => (b.selectionRate.value! < a.selectionRate.value! ? b : a));
      const hi = rates.reduce((a, b) => (b.selectionRate.value! > a.selectionRate.value! ? b : a));
      const ci = ratio.lower !== undefined ? ` (interval ${ratio.lower.toFixed(3)}–${ratio.upper!.toFixed(3)}: ${s.fourFifths.byInterval})` : '';
      s.flags.push(s.fourFifths.violated
        ? `four-fifths rule violated: selection-rate ratio ${ratio.value.toFixed(3)} < ${FOUR_FIFTHS} ('${lo.group}' ${pct(lo.selectionRate.value!)} vs '${hi.group}' ${pct(hi.selectionRate.value!)})${ci}`
        : `four-fifths rule met: selection-rate ratio ${ratio.value.toFixed(3)} ≥ ${FOUR_FIFTHS}${ci}`);
    } else if (compared.length < 2) s.flags.push(`fewer than two groups have ${minGroupSize} rows or more: no gaps are computed`);
    else s.flags.push('no group is ever selected: the selection-rate ratio is undefined');
    for (const grp of groups) if (grp.small) s.flags.push(`group '${grp.group}' has ${grp.size} rows, below the minimum of ${minGroupSize}: reported, not compared`);
    if (compared.length >= 2 && s.equalOpportunityDifference.value === null) s.flags.push(`a compared group has no '${positive}' labels (or none other): TPR or FPR gaps are undefined`);
    report.columns.push(s);
  }
  return report;
}
