import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTrellisError } from '../src/core/errors.js';
import type { Trellis } from '../src/sdk/trellis.js';
import type { PredictionEntry } from '../src/store/ports/predictions.js';
import { Workspace } from '../src/workspace/workspace.js';
import { openEmbedded, openRemote, type Opener } from './test-helpers/sdk-openers.js';

const who = { actor: 'seed' };
const entry = (requestId: string, time: number, over: Partial<PredictionEntry> = {}): PredictionEntry => ({
  requestId, endpoint: 'Churn', time, model: 'churn', version: '1', route: 'primary', shadow: false, latencyMs: 2.5,
  inputs: [{ x: time }], predictions: ['yes'], classes: ['no', 'yes'], proba: [[0.25, 0.75]], ...over,
});

/** An endpoint `Churn` on model churn/1, and its log: r1 (2 rows), r2, r3 on the canary (failed), r1's shadow answer. */
async function seed(dir: string): Promise<void> {
  const ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
  try {
    const exp = await ws.tracking.createExperiment('serving', {}, who);
    const run = await ws.tracking.createRun({ experimentId: exp, userId: 'seed' }, who);
    await ws.tracking.logArtifact(run.info.runId, 'model/model.json', '{}');
    await ws.registry.createModel({ name: 'churn' }, who);
    await ws.registry.createVersion({ name: 'churn', source: `runs:/${run.info.runId}/model`, runId: run.info.runId }, who);
    await ws.registry.createVersion({ name: 'churn', source: `runs:/${run.info.runId}/model`, runId: run.info.runId }, who);
    await ws.deployments.create('Churn', { model: 'churn/1', canary: { model: 'churn/2', share: 10 } }, who);
    await ws.predictions.append([
      entry('r1', 1000, { inputs: [{ x: 1 }, { x: 2 }], predictions: ['yes', 'no'], proba: [[0.25, 0.75], [0.9, 0.1]] }),
      entry('r1', 1000, { route: 'shadow', shadow: true, version: '2' }),
      entry('r2', 2000),
      entry('r3', 3000, { route: 'canary', version: '2', error: 'refused', predictions: undefined, classes: undefined, proba: undefined }),
    ]);
  } finally {
    await ws.close();
  }
}

function describePredictions(name: string, open: Opener): void {
  describe(`SDK feedback and the prediction log (${name})`, () => {
    let dir: string;
    let t: Trellis;
    let cleanup: () => Promise<void>;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), `trellis-sdk-pred-${name}-`));
      await seed(dir);
      ({ t, cleanup } = await open(dir));
    });
    after(async () => {
      await t.close();
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('lists the log in time order, with every field of an entry, and filters it', async () => {
      const all = await t.predictions('churn');
      assert.deepEqual(all.map((e) => `${e.requestId}:${e.route}`), ['r1:primary', 'r1:shadow', 'r2:primary', 'r3:canary']);
      assert.deepEqual(all[0], {
        requestId: 'r1', endpoint: 'Churn', time: 1000, model: 'churn', version: '1', route: 'primary', shadow: false, latencyMs: 2.5,
        inputs: [{ x: 1 }, { x: 2 }], predictions: ['yes', 'no'], classes: ['no', 'yes'], proba: [[0.25, 0.75], [0.9, 0.1]],
      });
      assert.equal(all[3]!.error, 'refused');
      assert.equal(all[3]!.predictions, undefined);
      assert.deepEqual((await t.predictions('Churn', { since: 1500, until: 3000 })).map((e) => e.requestId), ['r2']);
      assert.deepEqual((await t.predictions('Churn', { route: 'canary' })).map((e) => e.requestId), ['r3']);
      assert.deepEqual((await t.predictions('Churn', { limit: 2 })).map((e) => e.route), ['primary', 'shadow']);
      assert.deepEqual(await t.predictions('Churn', { withLabels: true }), []);
    });

    it('attaches labels as feedback, one per row, and replaces them when sent again', async () => {
      assert.deepEqual(await t.feedback('churn', 'r1', ['yes', null]), { rows: 2 });
      assert.deepEqual(await t.feedback('Churn', 'r2', [1]), { rows: 1 });
      let labelled = await t.predictions('Churn', { withLabels: true });
      // The shadow's entry of r1 shows the same labels.
      assert.deepEqual(labelled.map((e) => [e.requestId, e.route, e.labels]), [['r1', 'primary', ['yes', null]], ['r1', 'shadow', ['yes', null]], ['r2', 'primary', [1]]]);
      await t.feedback('Churn', 'r1', ['no', 'no']);
      labelled = await t.predictions('Churn', { withLabels: true, route: 'primary' });
      assert.deepEqual(labelled.map((e) => e.labels), [['no', 'no'], [1]]);
    });

    it('refuses an unknown request, a wrong label count, a label that is no finite number, string or null, and a bad limit', async () => {
      await assert.rejects(t.feedback('Churn', 'nope', ['yes']), (e) => isTrellisError(e, 'TRELLIS_PREDICTION_NOT_FOUND') && /No logged request 'nope' on endpoint 'Churn'/.test(e.message));
      await assert.rejects(t.feedback('other', 'r1', ['yes', 'no']), (e) => isTrellisError(e, 'TRELLIS_PREDICTION_NOT_FOUND'));
      await assert.rejects(t.feedback('Churn', 'r1', ['yes']), (e) => isTrellisError(e, 'TRELLIS_INVALID_PARAMETER') && /Request 'r1' had 2 rows; give 2 labels, one per row, in order \(got 1\)/.test(e.message));
      await assert.rejects(t.feedback('Churn', 'r2', [Number.NaN]), (e) => isTrellisError(e, 'TRELLIS_INVALID_PARAMETER') && /Label 1 is NaN: a label is a string, a finite number or null/.test(e.message));
      await assert.rejects(t.feedback('Churn', 'r1', ['a', Infinity]), (e) => isTrellisError(e, 'TRELLIS_INVALID_PARAMETER') && /Label 2 is Infinity/.test(e.message));
      await assert.rejects(t.predictions('Churn', { limit: 0 }), /'limit' must be a whole number from 1 to 1000, got 0/);
      await assert.rejects(t.predictions('nowhere'), (e) => isTrellisError(e, 'TRELLIS_DEPLOYMENT_NOT_FOUND') && /No deployment named 'nowhere'/.test(e.message));
      // Nothing of the refused feedback was kept.
      assert.deepEqual((await t.predictions('Churn', { withLabels: true, route: 'primary' })).map((e) => e.labels), [['no', 'no'], [1]]);
    });
  });
}

describePredictions('embedded', openEmbedded('sdk-user'));
describePredictions('remote', openRemote);
