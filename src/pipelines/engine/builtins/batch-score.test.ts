/**
 * The `batch-score` built-in: a Dataset larger than one block scored as `predict` scores it
 * whole, rows in order; a stopped step and bad input leave no output file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTable } from '../../../data/readers/index.js';
import { dataset } from '../../../data/readers/test-helpers/data-files.js';
import { predict, type TrellisModel } from '../../../ml/model.js';
import { train } from '../../../ml/train.js';
import { BUILTIN_IMPLS, type BuiltinContext, type BuiltinServices } from './index.js';
import { writeModel } from './io.js';

const ADULT_HEAD = fileURLToPath(new URL('../../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));

describe('the batch-score built-in', () => {
  let dir: string;
  let model: TrellisModel;
  let data: string;
  const logs: string[] = [];
  const metrics: Record<string, number> = {};

  const context = (inputs: { model: string; data: string }, out: string, signal = new AbortController().signal): BuiltinContext => ({
    step: 'score',
    inputs: { model: { type: 'Model', path: inputs.model }, data: { type: 'Dataset', path: inputs.data } },
    outputs: { predictions: { type: 'Dataset', path: out } },
    // batch-score reads no stored state.
    services: {} as BuiltinServices,
    signal,
    inputMeta: () => ({}),
    inputRun: () => undefined,
    setOutputMeta: () => undefined,
    log: (l) => logs.push(l),
    metric: (k, v) => { metrics[k] = v; },
    param: () => undefined,
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-batch-score-'));
    model = (await train(await readTable(ADULT_HEAD), 'income', 'gbdt', { trees: 20, test_size: 0 })).model;
    await writeModel(join(dir, 'model'), model);
    // 70,000 rows: more than one block of 65,536, and not a whole number of them; `id` counts down.
    const [header, ...lines] = readFileSync(dataset('adult_train.csv'), 'utf8').trim().split('\n');
    const rows = Array.from({ length: 70_000 }, (_, i) => `${70_000 - i},${lines[i % lines.length]}`);
    data = join(dir, 'data.csv');
    writeFileSync(data, `id,${header}\n${rows.join('\n')}\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('scores a Dataset of two blocks as predict scores it in one, rows in order', async () => {
    const out = join(dir, 'scored.csv');
    await BUILTIN_IMPLS['batch-score@1']!(context({ model: join(dir, 'model'), data }, out));
    assert.equal(metrics.rows, 70_000);
    assert.ok(logs.includes('scored 70000 rows in 2 blocks'), logs.join('\n'));
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines[0], `${readFileSync(data, 'utf8').split('\n')[0]},prediction,proba_<=50K,proba_>50K`);
    assert.equal(lines.length, 70_001);
    const direct = predict(model, await readTable(data));
    lines.slice(1).forEach((l, i) => {
      const cells = l.split(',');
      assert.equal(Number(cells[0]), 70_000 - i, `row ${i} in order`);
      assert.equal(cells.at(-3), direct.classes![direct.prediction[i]!], `row ${i} label`);
      assert.equal(Number(cells.at(-1)), direct.proba![2 * i + 1], `row ${i} probability`);
    });
  });

  it('stops when the step is stopped, and refuses input without the features, leaving no file', async () => {
    const stopped = new AbortController();
    stopped.abort(new Error('step timed out'));
    const out = join(dir, 'stopped', 'scored.csv');
    const folder = join(dir, 'stopped');
    mkdirSync(folder);
    await assert.rejects(BUILTIN_IMPLS['batch-score@1']!(context({ model: join(dir, 'model'), data }, out, stopped.signal)), /step timed out/);
    const noAge = join(dir, 'no-age.csv');
    writeFileSync(noAge, 'workclass,income\nPrivate,<=50K\n');
    await assert.rejects(BUILTIN_IMPLS['batch-score@1']!(context({ model: join(dir, 'model'), data: noAge }, out)), /Input is missing the features 'age' \(integer\)/);
    assert.ok(!existsSync(out));
    assert.deepEqual(readdirSync(folder), []);
  });
});
