import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Trellis } from '../src/sdk/trellis.js';
import { openEmbedded, openRemote, type Opener } from './test-helpers/sdk-openers.js';

const ADULT = fileURLToPath(new URL('../src/data/readers/fixtures/adult_train_head200.csv', import.meta.url));

/** `t.train` gives the same answer whether the SDK trains in this process or asks a server to. */
function describeTrain(name: string, open: Opener): void {
  describe(`t.train (${name})`, () => {
    let dir: string;
    let t: Trellis;
    let cleanup: () => Promise<void>;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), `trellis-sdk-train-${name}-`));
      ({ t, cleanup } = await open(dir));
      await t.data.add('adult', ADULT);
    });
    after(async () => {
      await t.close();
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('trains on a dataset version, records the run and registers the model', async () => {
      const r = await t.train({ data: 'adult@1', target: 'income', params: { l2: 2, seed: 7 }, experiment: 'census', register: 'income' });
      assert.match(r.runId, /^[0-9a-f]{32}$/);
      assert.deepEqual([r.model, r.version], ['income', '1']);
      assert.deepEqual(Object.keys(r.metrics).sort(), ['accuracy', 'f1', 'log_loss', 'roc_auc']);
      const run = await t.getRun(r.runId);
      assert.equal(run.info.status, 'FINISHED');
      assert.deepEqual([run.data.params.l2, run.data.params.seed], ['2', '7']);
      assert.equal((await t.modelVersion('income', r.version!)).runId, r.runId);
      assert.ok((await t.listArtifacts(r.runId, 'model')).some((f) => f.path === 'model/model.json'));
    });

    it('reports cross-validation in its details', async () => {
      const r = await t.train({ data: 'adult', target: 'income', cv: '3' });
      assert.equal((r.details.cv as { folds: number }).folds, 3);
      assert.equal(r.version, null);
    });

    it('with report: true, gives the summary and what trellis train prints: rows, folds, trials', async () => {
      const r = await t.train({ data: 'adult', target: 'income', params: { seed: 7, test_size: 0.25 }, cv: '3', search: { strategy: 'grid', space: ['l2=0.1,1'] }, report: true });
      const rep = r.report!;
      assert.deepEqual([rep.task, rep.positiveClass, rep.trainRows + rep.testRows, rep.testRows], ['binary', '>50K', 200, 50]);
      assert.equal(rep.cv!.folds, 3);
      assert.equal(rep.cv!.time, false);
      assert.deepEqual(Object.keys(rep.cv!.mean).sort(), Object.keys(rep.cv!.std).sort());
      assert.deepEqual(rep.search!.names, ['l2']);
      assert.deepEqual(rep.search!.trials.map((x) => x.params.l2).sort(), [0.1, 1]);
      assert.equal(rep.search!.metric, 'roc_auc');
      assert.ok(rep.search!.trials.every((x) => Number.isFinite(x.objective)));
      assert.deepEqual(Object.keys(rep.metrics).sort(), Object.keys(r.metrics).sort());
      assert.equal(r.summary!.run_id, r.runId);
      assert.equal((await t.train({ data: 'adult', target: 'income' })).report, undefined);
    });

    it('refuses an unknown parameter by name', async () => {
      await assert.rejects(t.train({ data: 'adult', target: 'income', params: { depth: 3 } }), /Unknown parameter 'depth'/);
    });
  });
}

describeTrain('embedded', openEmbedded('tester'));
describeTrain('remote', openRemote);
