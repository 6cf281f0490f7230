import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTable } from '../data/readers/index.js';
import { dataset } from '../data/readers/test-helpers/data-files.js';
import { column, tableFromRows, valueAt, type Table } from '../data/table.js';
import { evaluate } from './evaluate.js';
import { fairness, type FairnessReport, type SensitiveReport } from './fairness.js';
import { predict, type Predictions, type TrellisModel } from './model.js';
import { takeRows } from './prepare.js';
import { fairnessHtml } from './report/fairness-html.js';
import { train } from './train.js';

const TRAIN = dataset('adult_train.csv');
const TEST = dataset('adult_test.csv');

/** Rates of one group, counted directly from labels and selections. */
interface Counted { size: number; selection: number; tpr: number; fpr: number; precision: number; accuracy: number }

/** Group figures by plain counting over the rows, written apart from the implementation. */
function countByGroup(groupOf: string[], isPositive: boolean[], isSelected: boolean[]): Map<string, Counted> {
  const tally = new Map<string, { n: number; sel: number; tp: number; fp: number; fn: number; tn: number }>();
  groupOf.forEach((g, i) => {
    const t = tally.get(g) ?? { n: 0, sel: 0, tp: 0, fp: 0, fn: 0, tn: 0 };
    t.n += 1;
    if (isSelected[i]) t.sel += 1;
    if (isPositive[i] && isSelected[i]) t.tp += 1;
    else if (!isPositive[i] && isSelected[i]) t.fp += 1;
    else if (isPositive[i]) t.fn += 1;
    else t.tn += 1;
    tally.set(g, t);
  });
  const out = new Map<string, Counted>();
  for (const [g, t] of tally) {
    out.set(g, { size: t.n, selection: t.sel / t.n, tpr: t.tp / (t.tp + t.fn), fpr: t.fp / (t.fp + t.tn), precision: t.tp / (t.tp + t.fp), accuracy: (t.tp + t.tn) / t.n });
  }
  return out;
}

function close(actual: number | null | undefined, expected: number, tol = 1e-12): void {
  assert.ok(typeof actual === 'number' && Math.abs(actual - expected) <= tol, `${actual} != ${expected}`);
}

function checkIntervals(report: FairnessReport): number {
  let checked = 0;
  for (const c of report.columns) {
    const all = [c.demographicParityDifference, c.demographicParityRatio, c.equalizedOddsDifference, c.equalOpportunityDifference,
      ...c.groups.flatMap((g) => [g.selectionRate, g.tpr, g.fpr, g.precision, g.accuracy])];
    for (const e of all) {
      if (e.value === null) continue;
      assert.ok(e.lower! <= e.value && e.value <= e.upper!, `${c.column}: ${e.lower} ≤ ${e.value} ≤ ${e.upper}`);
      checked++;
    }
  }
  return checked;
}

describe('fairness on UCI Adult (linear model)', () => {
  let model: TrellisModel;
  let test: Table;
  let proba: Float64Array;
  const labels: string[] = [];

  before(async () => {
    const all = await readTable(TRAIN);
    // Every other training row: the same kind of model in half the fitting time.
    const trainRows = Array.from({ length: Math.ceil(all.rowCount / 2) }, (_, i) => 2 * i);
    model = (await train(takeRows(all, trainRows), 'income', 'linear')).model;
    test = await readTable(TEST);
    const income = column(test, 'income');
    for (let i = 0; i < test.rowCount; i++) labels.push(String(valueAt(income, i)));
    proba = predict(model, test).proba!;
  });

  it('reads clean labels: the UCI trailing "." of adult.test is already gone from the committed copy', () => {
    // README §1: '>50K.' → '>50K'. Were it there, evaluate and fairness would refuse the label by name.
    assert.deepEqual([...new Set(labels)].sort(), ['<=50K', '>50K']);
    assert.deepEqual(model.classes, ['<=50K', '>50K']);
    assert.equal(labels.filter((l) => l === '>50K').length, 3846);
  });

  it('matches group rates and gaps counted independently, for sex and race', () => {
    const r = fairness(model, test, { sensitive: ['sex', 'race'], minGroupSize: 200 });
    assert.equal(r.rows, 16281);
    assert.equal(r.positiveClass, '>50K');
    const isPositive = labels.map((l) => l === '>50K');
    const isSelected = labels.map((_, i) => proba[i * 2 + 1]! >= 0.5);
    for (const name of ['sex', 'race']) {
      const col = column(test, name);
      const groupOf = labels.map((_, i) => String(valueAt(col, i)));
      const expected = countByGroup(groupOf, isPositive, isSelected);
      const s = r.columns.find((c) => c.column === name)!;
      assert.deepEqual(s.groups.map((g) => g.group), [...expected.keys()].sort());
      for (const g of s.groups) {
        const e = expected.get(g.group)!;
        assert.equal(g.size, e.size);
        assert.equal(g.small, e.size < 200);
        close(g.selectionRate.value, e.selection);
        close(g.tpr.value, e.tpr);
        close(g.fpr.value, e.fpr);
        close(g.precision.value, e.precision);
        close(g.accuracy.value, e.accuracy);
      }
      const compared = [...expected].filter(([, e]) => e.size >= 200).map(([, e]) => e);
      assert.deepEqual(s.compared, [...expected].filter(([, e]) => e.size >= 200).map(([g]) => g).sort());
      const sel = compared.map((e) => e.selection);
      const tpr = compared.map((e) => e.tpr);
      const fpr = compared.map((e) => e.fpr);
      const gapOf = (xs: number[]) => Math.max(...xs) - Math.min(...xs);
      close(s.demographicParityDifference.value, gapOf(sel));
      close(s.demographicParityRatio.value, Math.min(...sel) / Math.max(...sel));
      close(s.equalOpportunityDifference.value, gapOf(tpr));
      close(s.equalizedOddsDifference.value, Math.max(gapOf(tpr), gapOf(fpr)));
      assert.equal(s.fourFifths.violated, Math.min(...sel) / Math.max(...sel) < 0.8);
    }
    const sex = r.columns[0]!;
    // On Adult a plain classifier selects women for '>50K' far less often than men.
    assert.equal(sex.fourFifths.violated, true);
    assert.match(sex.flags[0]!, /four-fifths rule violated: selection-rate ratio 0\.\d+ < 0\.8 \('Female' [\d.]+% vs 'Male' [\d.]+%\)/);
    const race = r.columns[1]!;
    const small = race.groups.filter((g) => g.small).map((g) => g.group);
    // Test-set sizes: Amer-Indian-Eskimo 159 and Other 135 rows, below 200.
    assert.deepEqual(small, ['Amer-Indian-Eskimo', 'Other']);
    assert.ok(race.flags.some((f) => /group 'Other' has 135 rows, below the minimum of 200: reported, not compared/.test(f)), race.flags.join(' | '));
  });

  it('gives every figure a seeded interval that holds the estimate, stratified by group or not', () => {
    const bootstrap = { samples: 300, seed: 7, level: 0.95 };
    const a = fairness(model, test, { sensitive: ['sex', 'race'], bootstrap });
    assert.equal(a.bootstrap!.stratified, true);
    assert.match(a.bootstrap!.method, /within each group/);
    const checked = checkIntervals(a);
    assert.ok(checked >= 2 * 4 + 7 * 5, `only ${checked} intervals`);
    assert.deepEqual(fairness(model, test, { sensitive: ['sex', 'race'], bootstrap }), a);
    const other = fairness(model, test, { sensitive: ['sex', 'race'], bootstrap: { ...bootstrap, seed: 8 } });
    assert.notDeepEqual(other.columns[0]!.demographicParityRatio, a.columns[0]!.demographicParityRatio);
    assert.equal(other.columns[0]!.demographicParityRatio.value, a.columns[0]!.demographicParityRatio.value);
    const sex = a.columns[0]!;
    assert.equal(sex.fourFifths.byInterval, 'violated');
    assert.ok(sex.demographicParityRatio.upper! < 0.8);
    // Stratified: a group's size never changes, so its selection rate moves only with its own rows.
    const flat = fairness(model, test, { sensitive: ['sex', 'race'], bootstrap: { ...bootstrap, stratified: false } });
    assert.equal(flat.bootstrap!.stratified, false);
    checkIntervals(flat);
    assert.equal(flat.columns[0]!.demographicParityDifference.value, sex.demographicParityDifference.value);
  });

  it('gives the same figures from predictions as from the model', () => {
    const predictions: Predictions = predict(model, test);
    const fromModel = fairness(model, test, { sensitive: ['sex'] });
    const fromPredictions = fairness(predictions, test, { sensitive: ['sex'], target: 'income' });
    assert.deepEqual(fromPredictions, fromModel);
    assert.throws(() => fairness(predictions, test, { sensitive: ['sex'] }), /Name the label column with 'target'/);
  });

  it('evaluate agrees with direct counting on Adult, and its sex slices add up to the whole', () => {
    const r = evaluate(model, test, { slices: ['sex'] });
    let hits = 0;
    labels.forEach((l, i) => { if ((proba[i * 2 + 1]! >= 0.5) === (l === '>50K')) hits++; });
    close(r.metrics.accuracy!.value, hits / labels.length);
    assert.ok(r.metrics.roc_auc!.value > 0.88, String(r.metrics.roc_auc!.value));
    const groups = r.slices[0]!.groups;
    assert.equal(groups.reduce((s, g) => s + g.rows, 0), 16281);
    close(groups.reduce((s, g) => s + g.rows * g.metrics.accuracy!.value, 0) / 16281, r.metrics.accuracy!.value, 1e-12);
    const f = fairness(model, test, { sensitive: ['sex'] });
    for (const g of groups) close(f.columns[0]!.groups.find((x) => x.group === g.value)!.accuracy.value, g.metrics.accuracy!.value);
  });

  it('refuses bad requests by name', () => {
    assert.throws(() => fairness(model, test, { sensitive: ['gender'] }), /Sensitive column 'gender' is not in the data; its columns are: age, workclass, .*, sex, .*income/);
    const noTarget = takeRows(test, [0, 1, 2]);
    const stripped: Table = { rowCount: 3, columns: noTarget.columns.filter((c) => c.name !== 'income') };
    assert.throws(() => fairness(model, stripped, { sensitive: ['sex'] }), /Target column 'income' is not in the data/);
    assert.throws(() => fairness(model, test, { sensitive: [] }), /at least one sensitive column/);
    assert.throws(() => fairness(model, test, { sensitive: ['sex'], positive: 'rich' }), /positive class 'rich' is not one of the classes \(<=50K, >50K\)/);
    const multi: TrellisModel = { ...model, task: 'multiclass', classes: ['a', 'b', 'c'] };
    assert.throws(() => fairness(multi, test, { sensitive: ['sex'] }), /need a binary classifier; this model is multiclass \(classes a, b, c\)/);
    const regression: TrellisModel = { ...model, task: 'regression', classes: undefined };
    assert.throws(() => fairness(regression, test, { sensitive: ['sex'] }), /need a binary classifier; this model is regression/);
    assert.throws(() => fairness({ prediction: new Float64Array(3), proba: new Float64Array(9), classes: ['a', 'b', 'c'] }, noTarget, { sensitive: ['sex'], target: 'income' }), /predictions have 3 classes/);
  });
});

describe('fairness on small hand-made predictions', () => {
  // Group a: 4 rows, 2 positive; group b: 3 rows, none positive; group c: 1 row.
  const rows = [
    { g: 'a', y: 'yes', p: 0.9 }, { g: 'a', y: 'yes', p: 0.2 }, { g: 'a', y: 'no', p: 0.6 }, { g: 'a', y: 'no', p: 0.1 },
    { g: 'b', y: 'no', p: 0.7 }, { g: 'b', y: 'no', p: 0.3 }, { g: 'b', y: 'no', p: 0.2 },
    { g: 'c', y: 'yes', p: 0.95 },
  ];
  const table = tableFromRows(rows.map(({ g, y }) => ({ g, y })));
  const predictions: Predictions = { prediction: new Float64Array(8), proba: Float64Array.from(rows.flatMap((r) => [1 - r.p, r.p])), classes: ['no', 'yes'] };

  it('reports undefined rates as null, keeps small groups out of the gaps and flags them', () => {
    const r = fairness(predictions, table, { sensitive: ['g'], target: 'y', minGroupSize: 2 });
    const s: SensitiveReport = r.columns[0]!;
    const [a, b, c] = s.groups;
    assert.deepEqual([a!.size, a!.positives, a!.selected, b!.size, b!.selected, c!.size], [4, 2, 2, 3, 1, 1]);
    assert.equal(a!.tpr.value, 0.5);
    assert.equal(a!.fpr.value, 0.5);
    assert.equal(b!.tpr.value, null, 'no positives in b');
    close(b!.fpr.value, 1 / 3);
    assert.equal(c!.small, true);
    assert.deepEqual(s.compared, ['a', 'b']);
    close(s.demographicParityDifference.value, 0.5 - 1 / 3);
    close(s.demographicParityRatio.value, (1 / 3) / 0.5);
    assert.equal(s.equalOpportunityDifference.value, null);
    assert.equal(s.equalizedOddsDifference.value, null);
    assert.equal(s.fourFifths.violated, true);
    assert.ok(s.flags.some((f) => /TPR or FPR gaps are undefined/.test(f)));
    assert.ok(s.flags.some((f) => /group 'c' has 1 rows, below the minimum of 2/.test(f)));
    // A higher threshold selects only p ≥ 0.8: a → 1 of 4, b → 0 of 3.
    const strict = fairness(predictions, table, { sensitive: ['g'], target: 'y', minGroupSize: 2, threshold: 0.8 }).columns[0]!;
    assert.equal(strict.demographicParityRatio.value, 0);
    close(strict.demographicParityDifference.value, 0.25);
  });

  it('with too few large groups computes no gaps, and says so', () => {
    const s = fairness(predictions, table, { sensitive: ['g'], target: 'y', minGroupSize: 4 }).columns[0]!;
    assert.deepEqual(s.compared, ['a']);
    assert.equal(s.demographicParityDifference.value, null);
    assert.equal(s.fourFifths.violated, null);
    assert.match(s.flags[0]!, /fewer than two groups have 4 rows or more/);
  });

  it('renders HTML with bars, group tables and flags, escaping text', () => {
    const r = fairness(predictions, tableFromRows(rows.map(({ g, y }) => ({ g: g === 'c' ? '<c>' : g, y }))), { sensitive: ['g'], target: 'y', minGroupSize: 2, bootstrap: { samples: 50, seed: 1, level: 0.9 } });
    const html = fairnessHtml(r);
    assert.match(html, /<svg role="img" aria-label="selection rate by g"/);
    assert.match(html, /demographic parity ratio/);
    assert.match(html, /four-fifths rule violated/);
    assert.ok(html.includes('&lt;c&gt;') && !html.includes('<c>'));
  });
});
