import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTable } from '../data/readers/index.js';
import { dataset } from '../data/readers/test-helpers/data-files.js';
import { selectColumns, tableFromRows, type Table } from '../data/table.js';
import { crossValidate } from './cv.js';
import { evaluate } from './evaluate.js';
import { fairness } from './fairness.js';
import { choosePositiveClass, readTarget } from './prepare.js';
import { runTraining, type TrainingOutcome } from './training-workflow.js';

const param = (o: TrainingOutcome, key: string) => o.run.params.find((p) => p.key === key)?.value;

describe('the task a target means', () => {
  let credit: Table;
  let adult: Table;
  before(async () => {
    const raw = await readTable(dataset('credit_default.csv'));
    credit = selectColumns(raw, raw.columns.map((c) => c.name).filter((n) => n !== 'ID'));
    adult = await readTable(dataset('adult_train.csv'));
  });

  it("trains a 0/1 numeric target (credit default) as a binary classifier with positive class '1', recorded on the run", async () => {
    const o = await runTraining(credit, { data: 'credit_default.csv', target: 'default_payment_next_month', algo: 'linear' }, { evaluationReport: false });
    assert.equal(o.task, 'binary');
    assert.equal(o.positiveClass, '1');
    assert.deepEqual(o.model.classes, ['0', '1']);
    assert.equal(param(o, 'task'), 'binary');
    assert.equal(param(o, 'positiveClass'), '1');
    assert.ok(o.metrics.roc_auc! > 0.65 && o.metrics.roc_auc! < 1, `roc_auc ${o.metrics.roc_auc}`);
  });

  it("trains Adult's income ('<=50K'/'>50K') with the minority '>50K' as the positive class, which evaluation and fairness use", async () => {
    const o = await runTraining(adult, { data: 'adult_train.csv', target: 'income', algo: 'linear', params: { test_size: 0.1 } }, { evaluationReport: false });
    assert.equal(o.task, 'binary');
    assert.equal(o.positiveClass, '>50K');
    assert.deepEqual(o.model.classes, ['<=50K', '>50K']);
    assert.equal(param(o, 'positiveClass'), '>50K');
    assert.equal(evaluate(o.model, adult).positiveClass, '>50K');
    assert.equal(fairness(o.model, adult, { sensitive: ['sex'] }).positiveClass, '>50K');
  });

  it('keeps regression when the task says so, and refuses a positive class for it', async () => {
    const o = await runTraining(credit, { data: 'credit_default.csv', target: 'default_payment_next_month', algo: 'linear', params: { task: 'regression' } }, { evaluationReport: false });
    assert.equal(o.task, 'regression');
    assert.equal(o.positiveClass, undefined);
    assert.equal(param(o, 'task'), 'regression');
    assert.equal(param(o, 'positiveClass'), undefined);
    assert.deepEqual(Object.keys(o.metrics).sort(), ['mae', 'r2', 'rmse']);
    assert.throws(() => readTarget(credit, 'default_payment_next_month', 'regression', '1'), /A positive class applies to a binary target/);
    // Other numeric targets stay regression, other text targets multiclass.
    assert.equal(readTarget(credit, 'AGE').task, 'regression');
    assert.equal(readTarget(adult, 'race').task, 'multiclass');
  });

  it('refuses a positive class that is not one of the two labels, naming them; takes one that is', async () => {
    const req = { data: 'credit_default.csv', target: 'default_payment_next_month', algo: 'linear' as const, params: { positive_class: 'nope' } };
    await assert.rejects(runTraining(credit, req, { evaluationReport: false }), /The positive class 'nope' is not a label of target 'default_payment_next_month'; its labels are '0' and '1'/);
    const t = readTarget(credit, 'default_payment_next_month', undefined, '0');
    assert.equal(t.positiveClass, '0');
    assert.deepEqual(t.classes, ['1', '0']);
  });

  it('chooses the positive class by rule: 1, true, yes or y when present, else the minority, and on a tie the label sorting last', () => {
    const counts = (o: Record<string, number>) => new Map(Object.entries(o));
    assert.equal(choosePositiveClass(counts({ No: 10, Yes: 90 })), 'Yes');
    assert.equal(choosePositiveClass(counts({ n: 10, Y: 90 })), 'Y');
    assert.equal(choosePositiveClass(counts({ false: 1, TRUE: 9 })), 'TRUE');
    assert.equal(choosePositiveClass(counts({ 0: 80, 1: 20 })), '1');
    assert.equal(choosePositiveClass(counts({ churn: 20, stay: 80 })), 'churn');
    assert.equal(choosePositiveClass(counts({ churn: 80, stay: 20 })), 'stay');
    assert.equal(choosePositiveClass(counts({ a: 5, b: 5 })), 'b');
    // Booleans and two-valued numbers are binary targets too.
    const t = tableFromRows(Array.from({ length: 12 }, (_, i) => ({ x: i, flag: i % 3 === 0, level: i % 4 === 0 ? 7.5 : 2 })));
    assert.deepEqual(readTarget(t, 'flag').classes, ['false', 'true']);
    const level = readTarget(t, 'level');
    assert.equal(level.task, 'binary');
    assert.equal(level.positiveClass, '7.5');
    assert.deepEqual([...level.y.slice(0, 5)], [1, 0, 0, 0, 1]);
  });

  it('cross-validates with the positive class read from every row, whatever each fold holds', async () => {
    // 10 'a' and 10 'b': a tie, so 'b' is positive, though some training folds hold fewer 'b' rows.
    const t = tableFromRows(Array.from({ length: 20 }, (_, i) => ({ x: i + (i % 3), y: i < 10 ? 'a' : 'b' })));
    const cv = await crossValidate(t, 'y', 'linear', {}, { kind: 'kfold', folds: 3, stratify: false });
    assert.deepEqual(cv.classes, ['a', 'b']);
    assert.equal(cv.folds.length, 3);
  });
});
