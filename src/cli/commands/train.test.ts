import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../test-helpers/run-cli.js';
import { Workspace } from '../../workspace/workspace.js';

const ADULT_HEAD = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));
const CREDIT = fileURLToPath(new URL('../../../test/data/credit_default.csv', import.meta.url));

describe('trellis train and predict', () => {
  let dir: string;
  let g: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-train-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('trains from a dataset version, logs the run, registers, and scores a file with proba columns', () => {
    assert.equal(runCli([...g, 'data', 'add', 'adult', ADULT_HEAD]).code, 0);
    const r = runCli([...g, '--json', 'train', '--data', 'adult@1', '--target', 'income', '--param', 'l2=2', '--experiment', 'census', '--register', 'income']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.match(out.run_id, /^[0-9a-f]{32}$/);
    assert.equal(out.model, 'income');
    assert.equal(out.version, '1');
    assert.deepEqual(Object.keys(out.metrics).sort(), ['accuracy', 'f1', 'log_loss', 'roc_auc']);
    assert.match(r.stderr, /fitting features on 160 rows/);
    const run = JSON.parse(runCli([...g, '--json', 'runs', 'show', out.run_id]).stdout);
    assert.equal(run.data.params.l2, '2');
    assert.equal(run.data.params.task, 'binary');
    assert.equal(run.inputs.datasetInputs[0].dataset.name, 'adult');
    assert.ok(run.artifacts.some((f: { path: string }) => f.path === 'model'));
    runCli([...g, 'models', 'alias', 'income', 'champion', '1']);
    const scored = join(dir, 'scored.csv');
    const p = runCli([...g, 'predict', '--model', 'income@champion', '--input', ADULT_HEAD, '--output', scored]);
    assert.equal(p.code, 0, p.stderr);
    const lines = readFileSync(scored, 'utf8').trim().split('\n');
    assert.equal(lines.length, 201);
    assert.match(lines[0]!, /,prediction,proba_<=50K,proba_>50K$/);
    const cells = lines[1]!.split(',');
    assert.ok(Math.abs(Number(cells.at(-1)) + Number(cells.at(-2)) - 1) < 1e-12);
    assert.ok(['<=50K', '>50K'].includes(cells.at(-3)!));
  });

  it('--exclude leaves columns out of the model: recorded, and a column that is not there or the target is named', () => {
    const rows = Array.from({ length: 120 }, (_, i) => `${i},${i % 24},${(i % 24) * 3},${(i % 24) * 2}`);
    const file = join(dir, 'leaky.csv');
    writeFileSync(file, `instant,hr,casual,cnt\n${rows.join('\n')}\n`);
    const r = runCli([...g, '--json', 'train', '--data', file, '--target', 'cnt', '--exclude', 'instant,casual', '--register', 'leakless']);
    assert.equal(r.code, 0, r.stderr);
    const { run_id: runId } = JSON.parse(r.stdout) as { run_id: string };
    const run = JSON.parse(runCli([...g, '--json', 'runs', 'show', runId]).stdout) as { data: { params: Record<string, string> } };
    assert.equal(run.data.params.exclude, 'instant,casual');
    // The model reads hr alone: data without the excluded columns scores.
    const hours = join(dir, 'hours-only.csv');
    writeFileSync(hours, 'hr\n3\n7\n');
    const p = runCli([...g, 'predict', '--model', 'leakless@1', '--input', hours, '--output', join(dir, 'hours-scored.csv')]);
    assert.equal(p.code, 0, p.stderr);
    const bad = runCli([...g, 'train', '--data', file, '--target', 'cnt', '--exclude', 'instnt']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /'exclude' names 'instnt', not a column of the data; its columns are instant, hr, casual, cnt/);
    assert.match(runCli([...g, 'train', '--data', file, '--target', 'cnt', '--exclude', 'cnt']).stderr, /'exclude' names the target 'cnt'/);
  });

  it('warns when a few bad values made a numeric column categorical, naming the first and its line', () => {
    const rows = Array.from({ length: 100 }, (_, i) => `${i % 24},${i % 7},${(i % 24) * 3 + (i % 7)}`);
    rows[69] = '2O,6,12'; // line 71: the header is line 1
    const file = join(dir, 'hours.csv');
    writeFileSync(file, `hr,day,count\n${rows.join('\n')}\n`);
    const r = runCli([...g, '--json', 'train', '--data', file, '--target', 'count']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: column 'hr' looks numeric but was read as text, so it is treated as categorical: 1 of 100 values is not a number, the first at line 71: "2O"/);
    assert.doesNotMatch(r.stderr, /column '(day|count)'/);
    // Scripts read it too: the JSON carries the warnings, as the REST answer does.
    const out = JSON.parse(r.stdout) as { warnings?: string[] };
    assert.equal(out.warnings?.length, 1);
    assert.match(out.warnings?.[0] ?? '', /^column 'hr' looks numeric but was read as text/);
  });

  it('trains gradient-boosted trees with progress, logs the evaluation report, and scores with proba columns', async () => {
    assert.equal(runCli([...g, 'data', 'add', 'adult-gb', ADULT_HEAD]).code, 0);
    const r = runCli([...g, '--json', 'train', '--data', 'adult-gb@1', '--target', 'income', '--algo', 'gbdt', '--param', 'trees=30', 'min_samples_leaf=5', '--register', 'income-gb']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.version, '1');
    assert.ok(out.metrics.roc_auc > 0.5);
    assert.match(r.stderr, /boosting 30 trees \(binary, 14 features, 8 categorical/);
    assert.match(r.stderr, /tree 30\/30 · train loss/);
    const run = JSON.parse(runCli([...g, '--json', 'runs', 'show', out.run_id]).stdout);
    assert.equal(run.data.params.trees, '30');
    assert.equal(run.data.params.maxLeaves, '31');
    assert.ok(run.artifacts.some((f: { path: string }) => f.path === 'evaluation'));
    const ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
    try {
      const e = JSON.parse((await ws.tracking.readArtifact(out.run_id, 'evaluation/evaluation.json')).toString('utf8'));
      assert.equal(e.task, 'binary');
      const auc = e.metrics.roc_auc;
      assert.ok(Math.abs(auc.value - out.metrics.roc_auc) < 1e-12, 'the report scores the same hold-out');
      assert.ok(auc.lower <= auc.value && auc.value <= auc.upper, JSON.stringify(auc));
      assert.match((await ws.tracking.readArtifact(out.run_id, 'evaluation/evaluation.html')).toString('utf8'), /<svg/);
    } finally {
      await ws.close();
    }
    const scored = join(dir, 'scored-gb.csv');
    const p = runCli([...g, 'predict', '--model', 'income-gb/1', '--input', ADULT_HEAD, '--output', scored]);
    assert.equal(p.code, 0, p.stderr);
    const lines = readFileSync(scored, 'utf8').trim().split('\n');
    assert.equal(lines.length, 201);
    assert.match(lines[0]!, /,prediction,proba_<=50K,proba_>50K$/);
  });

  it('refuses bad input with clear errors', () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'x,y\n1,5\n2,5\n3,5\n');
    assert.match(runCli([...g, 'train', '--data', bad, '--target', 'y']).stderr, /Target 'y' is constant/);
    assert.match(runCli([...g, 'train', '--data', bad, '--target', 'z']).stderr, /No column 'z'/);
    assert.match(runCli([...g, 'train', '--data', bad, '--target', 'y', '--param', 'depth=3']).stderr, /Unknown parameter 'depth'/);
    assert.match(runCli([...g, 'train', '--data', bad, '--target', 'y', '--algo', 'svm']).stderr, /--algo must be one of/);
    assert.match(runCli([...g, 'predict', '--model', 'income', '--input', bad, '--output', join(dir, 'o.csv')]).stderr, /'income' names a model, not one of its versions: write income@<version>, income@<alias>, income@latest or income\/<version>/);
    assert.match(runCli([...g, 'predict', '--model', 'income/1', '--input', bad, '--output', join(dir, 'o.csv')]).stderr, /missing the feature 'age'/);
  });

  it('trains a 0/1 target as a binary classifier, prints the task and the positive class, and takes --task and --positive-class', () => {
    // The credit default data without its row id.
    const credit = join(dir, 'credit.csv');
    writeFileSync(credit, readFileSync(CREDIT, 'utf8').split('\n').map((line) => line.slice(line.indexOf(',') + 1)).join('\n'));
    const target = ['--data', credit, '--target', 'default_payment_next_month'];
    const r = runCli([...g, 'train', ...target]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /task: binary, positive class '1'/);
    assert.match(r.stdout, /binary model on 24000 rows/);
    const runId = /run ([0-9a-f]{32})/.exec(r.stdout)![1]!;
    const run = JSON.parse(runCli([...g, '--json', 'runs', 'show', runId]).stdout);
    assert.equal(run.data.params.task, 'binary');
    assert.equal(run.data.params.positiveClass, '1');

    const other = runCli([...g, '--json', 'train', ...target, '--positive-class', '0']);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(JSON.parse(other.stdout).positive_class, '0');

    const reg = runCli([...g, 'train', ...target, '--task', 'regression']);
    assert.equal(reg.code, 0, reg.stderr);
    assert.match(reg.stdout, /task: regression\n/);
    assert.doesNotMatch(reg.stdout, /positive class/);

    const nope = runCli([...g, 'train', ...target, '--positive-class', 'nope']);
    assert.notEqual(nope.code, 0);
    assert.match(nope.stderr, /The positive class 'nope' is not a label of target 'default_payment_next_month'; its labels are '0' and '1'/);
    assert.match(runCli([...g, 'train', ...target, '--task', 'regression', '--positive-class', '1']).stderr, /--positive-class applies to a binary task/);
    assert.match(runCli([...g, 'train', ...target, '--task', 'ranking']).stderr, /--task must be regression, binary or multiclass/);
  });
});
