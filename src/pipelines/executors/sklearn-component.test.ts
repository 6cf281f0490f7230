/**
 * The example Python component (examples/pipelines/components/sklearn_train.py) run as a command
 * step on a slice of the UCI Bike Sharing data, with Debian's scikit-learn.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTrellisError } from '../../core/errors.js';
import { dataset } from '../../data/readers/test-helpers/data-files.js';
import { runCommandStep } from './command-step.js';

const SCRIPT = fileURLToPath(new URL('../../../examples/pipelines/components/sklearn_train.py', import.meta.url));
const BIKES = dataset('bike_sharing_hourly.csv');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const ROWS = 3000;

function skipReason(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import sklearn, numpy'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} is not installed`;
  if (r.status !== 0) return `scikit-learn is not importable by ${PYTHON}: ${r.stderr.trim().split('\n').pop()}`;
  return false;
}

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'trellis-sklearn-step-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

describe('example component sklearn_train.py', () => {
  it('trains a HistGradientBoostingRegressor on bike sharing through runCommandStep', { skip: skipReason() }, async () => {
    const slice = join(dir, 'bikes.csv');
    writeFileSync(slice, `${readFileSync(BIKES, 'utf8').split('\n').slice(0, ROWS + 1).join('\n')}\n`);
    const r = await runCommandStep({
      step: 'train',
      component: {
        name: 'sklearn-train', version: '1.0.0', kind: 'command',
        command: [PYTHON, SCRIPT, '--data', '{inputs.data}', '--target', '{inputs.target}', '--drop', 'instant,casual,registered',
          '--model', '{outputs.model}', '--predictions', '{outputs.predictions}', '--max-iter', '100'],
        // One OpenMP thread: the machine's cores are shared with other work.
        env: { OMP_NUM_THREADS: '1' },
      },
      inputs: { data: { type: 'Dataset', path: slice }, target: 'cnt' },
      outputs: { model: { type: 'Model' }, predictions: { type: 'Dataset' } },
      outputDir: join(dir, 'run', 'train'),
      timeoutSeconds: 60,
    });
    const m = r.metrics!;
    assert.equal(m.n_train, 2400);
    assert.equal(m.n_test, 600);

    // The reported RMSE is the one of the predictions file, recomputed here.
    const lines = readFileSync(r.outputs.predictions!.path, 'utf8').trim().split('\n');
    assert.equal(lines[0], 'row,y_true,y_pred');
    const pairs = lines.slice(1).map((l) => l.split(',').map(Number));
    assert.equal(pairs.length, 600);
    const rmse = Math.sqrt(pairs.reduce((s, [, t, p]) => s + (t! - p!) ** 2, 0) / pairs.length);
    assert.ok(Math.abs(rmse - m.rmse!) < 1e-9 * rmse, `${rmse} vs ${m.rmse}`);
    // A real model: far better than predicting the hold-out mean (r2 = 1 - (rmse / sd)^2).
    const mean = pairs.reduce((s, [, t]) => s + t!, 0) / pairs.length;
    const sd = Math.sqrt(pairs.reduce((s, [, t]) => s + (t! - mean) ** 2, 0) / pairs.length);
    assert.ok(rmse < 0.5 * sd, `rmse ${rmse} vs hold-out sd ${sd}`);
    assert.ok(Math.abs(m.r2! - (1 - (rmse / sd) ** 2)) < 1e-9);
    // Each hold-out row's true value is the cnt of that row of the input.
    const cnt = readFileSync(slice, 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',').pop()));
    for (const [row, t] of pairs.slice(0, 50)) assert.equal(cnt[row!], t);

    const summary = JSON.parse(readFileSync(r.outputs.model!.path, 'utf8'));
    assert.equal(summary.estimator, 'HistGradientBoostingRegressor');
    assert.equal(summary.params.max_iter, 100);
    assert.deepEqual(summary.features, ['season', 'yr', 'mnth', 'hr', 'holiday', 'weekday', 'workingday', 'weathersit', 'temp', 'atemp', 'hum', 'windspeed']);
    for (const name of ['model', 'predictions'] as const) {
      assert.equal(r.outputs[name]!.sha256, createHash('sha256').update(readFileSync(r.outputs[name]!.path)).digest('hex'));
    }
    const log = readFileSync(r.logPath, 'utf8');
    assert.match(log, /trained HistGradientBoostingRegressor on 2400 rows x 12 features/);
    assert.match(log, /skipping non-numeric columns: dteday/);
  });

  it('fails with exit code 2 and its message when the target column is missing', { skip: skipReason() }, async () => {
    const slice = join(dir, 'small.csv');
    writeFileSync(slice, 'a,b\n1,2\n3,4\n');
    await assert.rejects(runCommandStep({
      step: 'bad-target',
      component: { name: 'sklearn-train', version: '1.0.0', kind: 'command', command: [PYTHON, SCRIPT, '--data', '{inputs.data}', '--target', 'cnt', '--model', '{outputs.model}'] },
      inputs: { data: { type: 'File', path: slice } },
      outputs: { model: { type: 'Model' } },
      outputDir: join(dir, 'run', 'bad-target'),
    }), (e: unknown) => {
      assert.ok(isTrellisError(e, 'TRELLIS_STEP_FAILED'), String(e));
      assert.equal(e.params.exitCode, 2);
      assert.match(e.message, /no column 'cnt' in .*small\.csv; its columns are: a, b/);
      return true;
    });
  });
});
