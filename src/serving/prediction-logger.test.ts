/**
 * The prediction logger off the request path: entries written in batches by a timer, every entry
 * of a sampled request kept together, a bounded queue that drops and counts when the sink is
 * slow, and a failing sink that costs entries (counted) but never a request.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PredictionEntry } from '../store/ports/predictions.js';
import type { Served } from './engine.js';
import { PredictionLogger, entryOf } from './prediction-logger.js';

const served = (requestId: string, over: Partial<Served> = {}): Served => ({
  requestId, endpoint: 'churn', model: 'churn', version: '2', route: 'primary', shadow: false, records: [{ x: 1 }, { x: 2 }], latencyMs: 1.23456,
  time: 1000, result: {
    modelName: 'churn', modelVersion: '2', registeredModel: 'churn', route: 'primary', task: 'binary',
    predictions: { prediction: Float64Array.from([1, 0]), proba: Float64Array.from([0.2, 0.8, 0.9, 0.1]), classes: ['no', 'yes'] },
  },
  ...over,
});

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PredictionLogger', () => {
  it('turns an answer into an entry: class labels, a probability row per input row, the error when it failed', () => {
    const e = entryOf(served('r1'));
    assert.deepEqual(e.predictions, ['yes', 'no']);
    assert.deepEqual(e.proba, [[0.2, 0.8], [0.9, 0.1]]);
    assert.deepEqual(e.classes, ['no', 'yes']);
    assert.equal(e.latencyMs, 1.235);
    const { result: _r, ...noResult } = served('r2');
    const failed = entryOf({ ...noResult, error: Object.assign(new Error('bad age'), { kind: 'invalid' }) as never });
    assert.equal(failed.error, 'bad age');
    assert.equal(failed.predictions, undefined);
  });

  it('writes queued entries on its timer, also after an idle tick, and the rest on stop', async () => {
    const batches: PredictionEntry[][] = [];
    const log = new PredictionLogger({ sink: async (b) => { batches.push(b); }, flushMs: 20 });
    await tick(50); // idle flushes first: they must not keep later ones from running
    log.add(served('a'));
    log.add(served('b'));
    await tick(80);
    assert.deepEqual(batches.flat().map((e) => e.requestId), ['a', 'b']);
    log.add(served('c'));
    await log.stop();
    assert.deepEqual(batches.flat().map((e) => e.requestId), ['a', 'b', 'c']);
    assert.equal(log.written, 3);
  });

  it('keeps a sampled fraction of requests, the primary and shadow entries of one request together', async () => {
    const kept: PredictionEntry[] = [];
    const log = new PredictionLogger({ sink: async (b) => { kept.push(...b); }, sampleRate: 0.25, flushMs: 10_000 });
    for (let i = 0; i < 4000; i++) {
      log.add(served(`req-${i}`));
      log.add(served(`req-${i}`, { route: 'shadow', shadow: true }));
    }
    await log.stop();
    const ids = new Set(kept.map((e) => e.requestId));
    assert.ok(ids.size > 850 && ids.size < 1150, `${ids.size} of 4000 requests kept at 25%`);
    assert.equal(kept.length, ids.size * 2, 'both entries of every kept request');
    assert.throws(() => new PredictionLogger({ sink: async () => undefined, sampleRate: 1.5 }), /between 0 and 1/);
  });

  it('drops and counts beyond its bound while the sink is slow, and counts the entries of a failed write', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const errors: string[] = [];
    const log = new PredictionLogger({
      sink: async () => { calls++; if (calls === 1) await gate; if (calls === 2) throw new Error('store down'); },
      maxQueue: 100, batchSize: 50, flushMs: 5, onError: (e) => errors.push(e.message),
    });
    for (let i = 0; i < 50; i++) log.add(served(`x${i}`)); // a full batch: its write hangs on the gate
    await tick(20);
    for (let i = 0; i < 300; i++) log.add(served(`y${i}`));
    assert.equal(log.pending, 100, 'the queue stops at its bound');
    assert.equal(log.dropped, 200);
    release();
    await log.stop();
    assert.deepEqual(errors, ['store down']);
    assert.equal(log.failures, 1);
    assert.equal(log.dropped, 250, 'the 50 entries of the failed write are counted too');
    assert.equal(log.written, 100);
  });
});
