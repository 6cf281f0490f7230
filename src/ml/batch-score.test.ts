import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTable } from '../data/readers/index.js';
import { dataset } from '../data/readers/test-helpers/data-files.js';
import type { NumericColumn, StringColumn } from '../data/table.js';
import { predictionWorkerReady } from '../numeric/trees/predict-pool.js';
import { batchScore } from './batch-score.js';
import { predict, type TrellisModel } from './model.js';
import { train } from './train.js';

const ADULT_HEAD = fileURLToPath(new URL('../data/readers/fixtures/adult_train_head200.csv', import.meta.url));

describe('batchScore', () => {
  let dir: string;
  let classifier: TrellisModel;
  let regressor: TrellisModel;
  let rows: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-batch-score-'));
    const head = await readTable(ADULT_HEAD);
    classifier = (await train(head, 'income', 'gbdt', { trees: 100, test_size: 0 })).model;
    regressor = (await train(head, 'age', 'linear', { test_size: 0 })).model;
    const [header, ...lines] = readFileSync(dataset('adult_train.csv'), 'utf8').trim().split('\n');
    rows = join(dir, 'rows.csv');
    writeFileSync(rows, `${header}\n${Array.from({ length: 40_000 }, (_, i) => lines[i % lines.length]).join('\n')}\n`);
    // The worker up, so that every block of 8,000 rows × 100 trees is walked on it while the next is read.
    await predictionWorkerReady();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the predictions of predict() on the whole table, block after block with one in flight', async () => {
    const out = join(dir, 'scored.csv');
    const r = await batchScore(classifier, { input: rows, output: out, blockRows: 8000 });
    assert.deepEqual([r.rows, r.blocks], [40_000, 5]);
    const want = predict(classifier, await readTable(rows));
    const got = await readTable(out, { types: { 'proba_<=50K': 'float', 'proba_>50K': 'float' } });
    const label = got.columns.find((c) => c.name === 'prediction') as StringColumn;
    const p1 = got.columns.find((c) => c.name === 'proba_>50K') as NumericColumn;
    assert.deepEqual([label.type, p1.type], ['string', 'float']);
    for (let i = 0; i < 40_000; i++) {
      assert.equal(label.dictionary[label.codes[i]!], want.classes![want.prediction[i]!], `row ${i}`);
      assert.equal(p1.values[i], want.proba![2 * i + 1], `row ${i}`);
    }
  });

  it('scores a regressor the same way, with a prediction column only', async () => {
    const out = join(dir, 'scored.jsonl');
    const r = await batchScore(regressor, { input: rows, output: out, blockRows: 15_000 });
    assert.deepEqual(r.columns.slice(-2), ['income', 'prediction']);
    const want = predict(regressor, await readTable(rows)).prediction;
    const got = readFileSync(out, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { prediction: number }).prediction);
    assert.deepEqual(got, Array.from(want));
  });
});
