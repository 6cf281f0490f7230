import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTable } from '../../data/readers/index.js';
import { crossValidate } from '../../ml/cv.js';
import { Workspace } from '../../workspace/workspace.js';
import { dataset } from '../../data/readers/test-helpers/data-files.js';
import { runCli } from '../test-helpers/run-cli.js';

const ADULT_HEAD = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));
const BIKE = dataset('bike_sharing_hourly.csv');

describe('trellis train --cv and --search', () => {
  let dir: string;
  let g: string[];
  let store: { store: string; artifacts: string };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-cv-'));
    store = { store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` };
    g = ['--store', store.store, '--artifacts', store.artifacts];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const inWorkspace = async <T>(fn: (ws: Workspace) => Promise<T>): Promise<T> => {
    const ws = await Workspace.open(store);
    try { return await fn(ws); } finally { await ws.close(); }
  };

  it('--cv 5 logs fold metrics on the run (mean, std, one step per fold) and trains on every row', async () => {
    const r = runCli([...g, '--json', 'train', '--data', ADULT_HEAD, '--target', 'income', '--cv', '5', '--experiment', 'cv']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.cv.scheme, 'kfold');
    assert.deepEqual(out.cv.per_fold.map((f: { train_rows: number; test_rows: number }) => [f.train_rows, f.test_rows]), Array(5).fill([160, 40]));
    assert.deepEqual(out.metrics, {}, 'no hold-out: the final model is trained on all 200 rows');
    for (const i of [1, 2, 3, 4, 5]) assert.match(r.stderr, new RegExp(`fold ${i}/5: training on 160 rows, testing on 40`));
    assert.match(r.stderr, /fitting features on 200 rows/);
    // Neither the folds nor the final model hold rows out: nothing says it evaluates on 0 of them.
    assert.doesNotMatch(r.stderr, /held-out|evaluating on/);
    // The same cross-validation in this process gives the same figures.
    const own = await crossValidate(await readTable(ADULT_HEAD), 'income', 'linear', {}, { kind: 'kfold', folds: 5 });
    assert.deepEqual(out.cv.mean, own.mean);
    await inWorkspace(async (ws) => {
      const run = await ws.tracking.getRun(out.run_id);
      const m = Object.fromEntries(run.data.metrics.map((x) => [x.key, x.value]));
      assert.equal(m.cv_roc_auc_mean, own.mean.roc_auc);
      assert.equal(m.cv_roc_auc_std, own.std.roc_auc);
      assert.equal(run.data.params.testSize, '0');
      const history = (await ws.tracking.getMetricHistory(out.run_id, 'cv_roc_auc')).items.sort((a, b) => a.step - b.step);
      assert.deepEqual(history.map((h) => [h.step, h.value]), own.folds.map((f) => [f.fold, f.metrics.roc_auc]));
    });
  });

  it('--cv time:3:dteday trains each fold on the days before its test block', () => {
    const lines = readFileSync(BIKE, 'utf8').split('\n').slice(0, 1201);
    const file = join(dir, 'bike.csv');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = runCli([...g, '--json', 'train', '--data', file, '--target', 'cnt', '--cv', 'time:3:dteday', '--param', 'test_size=0.1', '--experiment', 'cv']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.cv.scheme, 'time');
    assert.equal(out.cv.column, 'dteday');
    // 1200 rows in day order: test blocks of ⌊1200/4⌋ = 300 rows would start at rows 300, 600 and 900;
    // each start moves back to the first row of its day, so no fold trains on an hour of a day it tests.
    const days = lines.slice(1).map((l) => l.split(',')[1]);
    const starts = [300, 600, 900].map((b) => days.indexOf(days[b]));
    assert.deepEqual(starts, [277, 595, 900]);
    assert.deepEqual(out.cv.per_fold.map((f: { train_rows: number; test_rows: number }) => [f.train_rows, f.test_rows]),
      starts.map((s, i) => [s, (starts[i + 1] ?? 1200) - s]));
    assert.deepEqual(Object.keys(out.metrics).sort(), ['mae', 'r2', 'rmse'], 'test_size given: the final model keeps its hold-out');
  });

  it('--search grid with --cv: a parent run, one child per trial, the best parameters logged and registered', async () => {
    const r = runCli([...g, '--json', 'train', '--data', ADULT_HEAD, '--target', 'income', '--search', 'grid', '--space', 'l2=0.01,1,100',
      '--cv', '3', '--experiment', 'search', '--register', 'income']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.trials, 3);
    assert.equal(out.version, '1');
    assert.equal(out.objective.metric, 'roc_auc');
    assert.match(r.stderr, /trial 1\/3: l2=0.01\n {4}fold 1\/3/);
    await inWorkspace(async (ws) => {
      const exp = await ws.tracking.getExperimentByName('search');
      const children = (await ws.tracking.searchRuns({ experimentIds: [exp.experimentId], filter: `tags.mlflow.parentRunId = '${out.run_id}'` })).items;
      assert.deepEqual(children.map((c) => c.info.runName).sort(), ['trial-1', 'trial-2', 'trial-3']);
      const auc = (run: (typeof children)[number]) => run.data.metrics.find((m) => m.key === 'cv_roc_auc_mean')!.value;
      const best = children.reduce((a, b) => (auc(b) > auc(a) ? b : a));
      assert.deepEqual(out.best_params, { l2: Number(best.data.params.l2) });
      for (const c of children) {
        assert.equal(c.info.status, 'FINISHED');
        assert.equal(c.data.params.task, 'binary');
        assert.equal((await ws.tracking.getMetricHistory(c.info.runId, 'cv_accuracy')).items.length, 3);
      }
      const parent = await ws.tracking.getRun(out.run_id);
      assert.equal(parent.data.tags['trellis.search'], 'grid');
      assert.equal(parent.data.params.l2, best.data.params.l2);
      assert.equal(parent.data.metrics.find((m) => m.key === 'best_roc_auc')!.value, auc(best));
      assert.equal(parent.data.metrics.find((m) => m.key === 'cv_roc_auc_mean')!.value, auc(best));
      assert.equal((await ws.registry.getVersion('income', '1')).runId, out.run_id);
    });
  });

  it('--search random with the hold-out: N trials drawn inside the range', () => {
    const r = runCli([...g, '--json', 'train', '--data', ADULT_HEAD, '--target', 'income', '--search', 'random', '--space', 'l2=0.01..100:log',
      '--trials', '2', '--objective', 'log_loss', '--experiment', 'search']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.trials, 2);
    assert.doesNotMatch(r.stderr, /held-out rows/, 'the final model is trained on every row');
    assert.deepEqual(out.objective.direction, 'minimize');
    assert.ok(out.best_params.l2 >= 0.01 && out.best_params.l2 <= 100);
    assert.equal(out.cv, undefined);
  });

  it('refuses bad options with clear errors and logs no run', async () => {
    const base = [...g, 'train', '--data', ADULT_HEAD, '--target', 'income', '--experiment', 'refused'];
    const cases: [string[], RegExp][] = [
      [['--search', 'grid', '--space', 'l2'], /A search space is name=v1,v2,… or name=lo..hi\[:log\], got 'l2'/],
      [['--search', 'random', '--space', 'l2=1..x:log'], /Search range for 'l2' must be lo..hi or lo..hi:log with numbers/],
      [['--search', 'grid', '--space', 'depth=1,2'], /Unknown parameter 'depth' for the linear trainer/],
      [['--cv', '1'], /--cv needs at least 2 folds, got 1/],
      [['--cv', 'time:x'], /--cv takes k or time:k\[:column\], got 'time:x'/],
      [['--search', 'random', '--space', 'l2=0.1..1', '--trials', '0'], /--trials must be at least 1, got 0/],
      [['--search', 'grid', '--space', 'l2=1,2', '--objective', 'rmse'], /Objective 'rmse' is not a metric of a binary task; choose one of roc_auc, accuracy, f1, log_loss/],
      [['--space', 'l2=1,2'], /--space applies to a hyperparameter search; add --search grid\|random/],
    ];
    for (const [args, message] of cases) {
      const r = runCli([...base, ...args]);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
    await inWorkspace(async (ws) => {
      await assert.rejects(ws.tracking.getExperimentByName('refused'), (e: { code?: string }) => e.code === 'TRELLIS_EXPERIMENT_NAME_NOT_FOUND');
    });
  });
});
