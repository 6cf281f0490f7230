import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTable } from '../data/readers/index.js';
import { dataset } from '../data/readers/test-helpers/data-files.js';
import type { Table } from '../data/table.js';
import { crossValidate } from './cv.js';
import { gridCandidates, objectiveFor, parseSpace, randomCandidates, search, type Trial } from './search.js';
import { train } from './train.js';

const GERMAN = dataset('german_credit.csv');

describe('search spaces', () => {
  it('parse value lists, uniform ranges and log-uniform ranges', () => {
    assert.deepEqual(parseSpace('learning_rate=0.05,0.1'), { name: 'learning_rate', kind: 'list', values: [0.05, 0.1] });
    assert.deepEqual(parseSpace('l2=0.1..10:log'), { name: 'l2', kind: 'range', lo: 0.1, hi: 10, log: true });
    assert.deepEqual(parseSpace('l1 = -1..2.5e1'), { name: 'l1', kind: 'range', lo: -1, hi: 25, log: false });
    assert.deepEqual(parseSpace('task=binary'), { name: 'task', kind: 'list', values: ['binary'] });
  });

  it('refuse malformed specs by saying what was expected', () => {
    for (const bad of ['l2', 'l2=', '=1,2', 'l2=1,,2']) assert.throws(() => parseSpace(bad), /name=v1,v2,… or name=lo..hi\[:log\]|without empty entries/, bad);
    assert.throws(() => parseSpace('l2=0.1..'), /must be lo..hi or lo..hi:log with numbers, got '0.1..'/);
    assert.throws(() => parseSpace('l2=a..b'), /must be lo..hi or lo..hi:log with numbers/);
    assert.throws(() => parseSpace('l2=5..1'), /needs lo < hi, got 5..1/);
    assert.throws(() => parseSpace('l2=0..1:log'), /Log-uniform range for 'l2' needs lo > 0, got 0/);
  });

  it('a grid covers the cartesian product, each combination once', () => {
    const g = gridCandidates([parseSpace('a=1,2,3'), parseSpace('b=x,y'), parseSpace('c=0.5')]);
    assert.equal(g.length, 6);
    const seen = new Set(g.map((c) => `${c.a}|${c.b}|${c.c}`));
    for (const a of [1, 2, 3]) for (const b of ['x', 'y']) assert.ok(seen.has(`${a}|${b}|0.5`));
    assert.equal(seen.size, 6);
    assert.throws(() => gridCandidates([parseSpace('l2=0.1..1')]), /Grid search needs value lists; 'l2' is a range/);
    const big = Array.from({ length: 5 }, (_, i) => parseSpace(`p${i}=${Array.from({ length: 7 }, (_, j) => j).join(',')}`));
    assert.throws(() => gridCandidates(big), /16807 combinations; at most 10000/);
  });

  it('random draws stay in their ranges, follow the log scale, and repeat for a seed', () => {
    const space = [parseSpace('l2=0.001..1000:log'), parseSpace('l1=2..4'), parseSpace('trees=10..20'), parseSpace('max_depth=1..1000:log'), parseSpace('colsample=0.5,1')];
    const draws = randomCandidates(space, 3000, 9);
    assert.deepEqual(draws, randomCandidates(space, 3000, 9));
    assert.notDeepEqual(draws.slice(0, 5), randomCandidates(space, 5, 10));
    const l2 = draws.map((d) => d.l2 as number);
    assert.ok(l2.every((v) => v >= 0.001 && v <= 1000));
    // Log-uniform over six decades: about 1/6 of the draws in each decade (binomial sd ≈ 0.007).
    for (let e = -3; e < 3; e++) {
      const share = l2.filter((v) => v >= 10 ** e && v < 10 ** (e + 1)).length / l2.length;
      assert.ok(Math.abs(share - 1 / 6) < 0.03, `decade 1e${e}: ${share}`);
    }
    const l1 = draws.map((d) => d.l1 as number);
    assert.ok(l1.every((v) => v >= 2 && v <= 4) && l1.some((v) => !Number.isInteger(v)));
    assert.ok(Math.abs(l1.reduce((a, b) => a + b) / l1.length - 3) < 0.05);
    // Integer parameters: whole numbers, both ends reached, each of the 11 values about 1/11 of the time.
    const trees = draws.map((d) => d.trees as number);
    assert.ok(trees.every((v) => Number.isInteger(v) && v >= 10 && v <= 20));
    for (let v = 10; v <= 20; v++) assert.ok(Math.abs(trees.filter((x) => x === v).length / 3000 - 1 / 11) < 0.025, `trees=${v}`);
    // Integer log-uniform: P(v ≤ 9) = ln 10 / ln 1001 ≈ 0.333.
    const depth = draws.map((d) => d.max_depth as number);
    assert.ok(depth.every((v) => Number.isInteger(v) && v >= 1 && v <= 1000));
    assert.ok(Math.abs(depth.filter((v) => v <= 9).length / 3000 - Math.log(10) / Math.log(1001)) < 0.03);
    const half = draws.filter((d) => d.colsample === 0.5).length / 3000;
    assert.ok(Math.abs(half - 0.5) < 0.03 && draws.every((d) => d.colsample === 0.5 || d.colsample === 1));
    assert.throws(() => randomCandidates(space, 0, 1), /at least 1, got 0/);
    assert.throws(() => randomCandidates([parseSpace('trees=10.2..10.8')], 1, 1), /holds no integer/);
  });

  it('objectives: defaults by task, directions, and unknown metrics refused', () => {
    assert.deepEqual(objectiveFor('binary'), { metric: 'roc_auc', direction: 'maximize' });
    assert.deepEqual(objectiveFor('multiclass'), { metric: 'accuracy', direction: 'maximize' });
    assert.deepEqual(objectiveFor('regression'), { metric: 'rmse', direction: 'minimize' });
    assert.deepEqual(objectiveFor('regression', 'r2'), { metric: 'r2', direction: 'maximize' });
    assert.deepEqual(objectiveFor('binary', 'log_loss'), { metric: 'log_loss', direction: 'minimize' });
    assert.throws(() => objectiveFor('binary', 'rmse'), /Objective 'rmse' is not a metric of a binary task; choose one of roc_auc, accuracy, f1, log_loss/);
  });
});

describe('search on German credit with the linear trainer', () => {
  let german: Table;
  before(async () => { german = await readTable(GERMAN); });

  it('grid with 3-fold CV: every trial is the CV of its parameters, the best is the argmax of ROC AUC', async () => {
    const seen: Trial[] = [];
    const lines: string[] = [];
    const r = await search(german, 'class', 'linear', { seed: 5 }, {
      strategy: 'grid', space: [parseSpace('l2=0.001,0.1,10,1000')], cv: { kind: 'kfold', folds: 3 },
      onTrial: (t) => { seen.push(t); }, onProgress: (s) => lines.push(s),
    });
    assert.equal(r.task, 'binary');
    assert.deepEqual(r.objective, { metric: 'roc_auc', direction: 'maximize' });
    assert.deepEqual(seen.map((t) => [t.index, t.params.l2]), [[1, 0.001], [2, 0.1], [3, 10], [4, 1000]]);
    const own = await crossValidate(german, 'class', 'linear', { seed: 5, l2: 10 }, { kind: 'kfold', folds: 3 });
    assert.deepEqual(seen[2]!.metrics, own.mean);
    assert.equal(seen[2]!.objective, own.mean.roc_auc);
    const max = Math.max(...seen.map((t) => t.metrics.roc_auc!));
    assert.equal(r.best.objective, max);
    assert.deepEqual(r.trials.map((t) => t.objective), seen.map((t) => t.objective).sort((a, b) => b - a));
    assert.deepEqual(r.bestParams, { seed: 5, l2: r.best.params.l2 });
    // A penalty of 1000 shrinks the model to almost nothing: it must not be the best.
    assert.notEqual(r.best.params.l2, 1000);
    assert.deepEqual(lines.filter((l) => l.startsWith('trial')), ['trial 1/4: l2=0.001', 'trial 2/4: l2=0.1', 'trial 3/4: l2=10', 'trial 4/4: l2=1000']);
    assert.equal(lines.filter((l) => /^ {2}fold \d\/3/.test(l)).length, 12);
  });

  it('minimises a loss: log_loss picks the argmin; the hold-out scores trials without CV', async () => {
    const r = await search(german, 'class', 'linear', {}, { strategy: 'grid', space: [parseSpace('l2=0.01,1,100')], objective: 'log_loss' });
    assert.equal(r.objective.direction, 'minimize');
    const min = Math.min(...r.trials.map((t) => t.metrics.log_loss!));
    assert.equal(r.best.metrics.log_loss, min);
    assert.ok(r.trials.every((t, i) => i === 0 || t.objective >= r.trials[i - 1]!.objective));
    const own = await train(german, 'class', 'linear', { l2: 100 });
    assert.deepEqual(r.trials.find((t) => t.params.l2 === 100)!.metrics, own.metrics);
  });

  it('random search: N trials in the range, the same for a seed', async () => {
    const o = { strategy: 'random' as const, space: [parseSpace('l2=0.01..100:log')], trials: 4, seed: 3 };
    const a = await search(german, 'class', 'linear', {}, o);
    const b = await search(german, 'class', 'linear', {}, o);
    assert.equal(a.trials.length, 4);
    assert.ok(a.trials.every((t) => (t.params.l2 as number) >= 0.01 && (t.params.l2 as number) <= 100));
    const strip = (t: Trial) => ({ ...t, startTime: 0, endTime: 0 });
    assert.deepEqual(a.trials.map(strip), b.trials.map(strip));
    assert.ok(a.trials.every((t) => t.startTime <= t.endTime));
  });

  it('refuses bad searches before training anything', async () => {
    let trained = 0;
    const run = (fixed: Record<string, number>, o: Partial<Parameters<typeof search>[4]>) =>
      search(german, 'class', 'linear', fixed, { strategy: 'grid', space: [parseSpace('l2=1,2')], onTrial: () => { trained++; }, ...o });
    await assert.rejects(run({}, { space: [parseSpace('depth=1,2')] }), /Unknown parameter 'depth' for the linear trainer/);
    await assert.rejects(run({}, { space: [parseSpace('l2=1,big')] }), /Parameter 'l2' must be a number, got 'big'/);
    await assert.rejects(run({ l2: 1 }, {}), /'l2' is both fixed and searched/);
    await assert.rejects(run({}, { space: [parseSpace('l2=1'), parseSpace('l2=2')] }), /'l2' has more than one search space/);
    await assert.rejects(run({}, { space: [parseSpace('test_size=0.1,0.2')] }), /'test_size' is not a hyperparameter/);
    await assert.rejects(run({}, { space: [] }), /at least one parameter space/);
    await assert.rejects(run({}, { objective: 'r2' }), /Objective 'r2' is not a metric of a binary task/);
    await assert.rejects(run({}, { trials: 3 }), /applies to random search only/);
    await assert.rejects(run({}, { strategy: 'random', trials: 0 }), /at least 1, got 0/);
    await assert.rejects(run({}, { cv: { kind: 'kfold', folds: 1 } }), /at least 2, got 1/);
    assert.equal(trained, 0);
  });
});
