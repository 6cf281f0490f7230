/**
 * The behaviour every {@link PredictionLog} must show: batches appended once (a repeated entry is
 * ignored), labels attached per row and replaced when sent again, queries in time order with pages
 * that continue where they stopped, per-route figures over a window, pruning by age, and exact
 * removal of archived entries (their labels kept).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PredictionEntry, PredictionLog } from './predictions.js';
import { rejectsCode, useStores, type OpenStores } from './test-helpers/contract-helpers.js';

const entry = (requestId: string, time: number, over: Partial<PredictionEntry> = {}): PredictionEntry => ({
  requestId, endpoint: 'churn', time, model: 'churn', version: '1', route: 'primary', shadow: false, latencyMs: time % 7,
  inputs: [{ x: time }], predictions: ['yes'], classes: ['no', 'yes'], proba: [[0.25, 0.75]], ...over,
});

export function describePredictionLogContract(name: string, open: OpenStores): void {
  describe(`PredictionLog contract: ${name}`, () => {
    const stores = useStores(open);
    let log: PredictionLog;
    before(() => {
      log = stores().predictions;
    });

    it('appends batches once, answers in time order with pages, and keeps shadows apart', async () => {
      await log.append([entry('r1', 1000), entry('r2', 1001), entry('r1', 1000, { route: 'shadow', shadow: true, version: '2', predictions: ['no'] })]);
      await log.append([entry('r1', 1000, { version: '9' }), entry('r3', 1002, { route: 'canary', version: '2', error: 'boom', predictions: undefined, proba: undefined, classes: undefined })]);
      const all = await log.query({ endpoint: 'churn' });
      assert.deepEqual(all.map((e) => `${e.requestId}:${e.route}:${e.version}`), ['r1:primary:1', 'r1:shadow:2', 'r2:primary:1', 'r3:canary:2']);
      assert.deepEqual(all[0]!.inputs, [{ x: 1000 }]);
      assert.deepEqual(all[0]!.proba, [[0.25, 0.75]]);
      assert.equal(all[3]!.error, 'boom');
      assert.equal(all[3]!.predictions, undefined);
      const first = await log.query({ endpoint: 'churn', limit: 2 });
      const rest = await log.query({ endpoint: 'churn', after: { time: first[1]!.time, requestId: first[1]!.requestId, route: first[1]!.route } });
      assert.deepEqual([...first, ...rest].map((e) => `${e.requestId}:${e.route}`), all.map((e) => `${e.requestId}:${e.route}`));
      assert.deepEqual((await log.query({ endpoint: 'churn', since: 1001, until: 1002 })).map((e) => e.requestId), ['r2']);
      assert.deepEqual((await log.query({ endpoint: 'churn', route: 'canary' })).map((e) => e.requestId), ['r3']);
      assert.deepEqual(await log.query({ endpoint: 'other' }), []);
    });

    it('attaches one label per row, replaces them when sent again, and refuses an unknown request or a wrong count', async () => {
      await log.append([entry('b1', 2000, { inputs: [{ x: 1 }, { x: 2 }], predictions: ['no', 'yes'], proba: [[0.9, 0.1], [0.2, 0.8]] })]);
      assert.deepEqual(await log.feedback('churn', 'b1', ['no', null], 2100), { rows: 2 });
      assert.deepEqual(await log.feedback('churn', 'b1', ['no', 'no'], 2200), { rows: 2 });
      const [b1] = await log.query({ endpoint: 'churn', withLabels: true, since: 2000 });
      assert.deepEqual(b1!.labels, ['no', 'no']);
      await rejectsCode(log.feedback('churn', 'nope', ['x'], 1), 'TRELLIS_PREDICTION_NOT_FOUND');
      await rejectsCode(log.feedback('other', 'b1', ['no', 'no'], 1), 'TRELLIS_PREDICTION_NOT_FOUND');
      await rejectsCode(log.feedback('churn', 'b1', ['no'], 1), 'TRELLIS_INVALID_PARAMETER');
    });

    it('sums a window per route: requests, errors, sorted latencies, labelled pairs', async () => {
      const stats = await log.stats('churn', 1000, 3000);
      const primary = stats.find((s) => s.route === 'primary' && s.version === '1')!;
      assert.equal(primary.requests, 3);
      assert.equal(primary.errors, 0);
      assert.deepEqual(primary.latencies, [...primary.latencies].sort((a, b) => a - b));
      assert.deepEqual(primary.labelled.map((l) => [l.prediction, l.label]), [['no', 'no'], ['yes', 'no']]);
      assert.deepEqual(primary.labelled[1]!.proba, [0.2, 0.8]);
      const canary = stats.find((s) => s.route === 'canary')!;
      assert.deepEqual([canary.requests, canary.errors], [1, 1]);
      assert.ok(stats.some((s) => s.route === 'shadow' && s.version === '2'));
    });

    it('lists the endpoints, removes exact entries while keeping their labels, and looks labels up by request', async () => {
      await log.append([entry('x1', 500, { endpoint: 'other' }), entry('x1', 500, { endpoint: 'other', route: 'shadow', shadow: true }), entry('x2', 600, { endpoint: 'other' })]);
      await log.feedback('other', 'x1', ['yes'], 700);
      assert.deepEqual(await log.endpoints(), ['churn', 'other']);
      assert.deepEqual(await log.endpoints(1000), ['other']);
      assert.deepEqual(await log.endpoints(500), []);
      assert.equal(await log.remove('other', [{ requestId: 'x1', route: 'primary' }, { requestId: 'x1', route: 'canary' }]), 1);
      assert.deepEqual((await log.query({ endpoint: 'other' })).map((e) => `${e.requestId}:${e.route}`), ['x1:shadow', 'x2:primary']);
      assert.equal(await log.remove('churn', [{ requestId: 'x1', route: 'shadow' }]), 0);
      assert.equal(await log.remove('other', [{ requestId: 'x1', route: 'shadow' }, { requestId: 'x2', route: 'primary' }]), 2);
      assert.deepEqual(await log.endpoints(), ['churn']);
      assert.deepEqual([...await log.labelsOf('other', ['x1', 'x2'])], [['x1', ['yes']]]);
      assert.deepEqual([...await log.labelsOf('churn', ['b1', 'r1', 'nope'])], [['b1', ['no', 'no']]]);
      assert.equal((await log.labelsOf('churn', [])).size, 0);
    });

    it('prunes entries older than a time, with their labels', async () => {
      assert.equal(await log.prune(1002), 3);
      assert.deepEqual((await log.query({ endpoint: 'churn' })).map((e) => e.requestId), ['r3', 'b1']);
      assert.equal((await log.query({ endpoint: 'churn', withLabels: true }))[0]?.requestId, 'b1');
    });
  });
}
