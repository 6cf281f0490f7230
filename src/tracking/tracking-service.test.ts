import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTrellisError } from '../core/errors.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { openArtifactStore, openStores } from '../store/open-stores.js';
import type { Stores } from '../store/stores.js';
import { createTestDatabase } from '../store/test-helpers/postgres.js';
import { LOG_MODEL_HISTORY_TAG, RUN_ERROR_TAG, TrackingService } from './tracking-service.js';

const who = { actor: 'alice' };

const backends: [string, (dir: string) => Promise<{ uri: string; drop?: () => Promise<void> }>][] = [
  ['sqlite', async (dir) => ({ uri: `sqlite:${join(dir, 't.db')}` })],
  ['postgres', async () => {
    const db = await createTestDatabase();
    return { uri: db.uri, drop: db.drop };
  }],
];

for (const [backend, database] of backends) {
  describe(`TrackingService (${backend})`, () => {
    let dir: string;
    let stores: Stores;
    let artifacts: ArtifactStore;
    let drop: (() => Promise<void>) | undefined;
    let tracking: TrackingService;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'trellis-tracking-'));
      const db = await database(dir);
      drop = db.drop;
      stores = await openStores(db.uri);
      artifacts = await openArtifactStore(`file:${join(dir, 'a')}`);
      tracking = new TrackingService(stores.tracking, artifacts);
    });
    after(async () => {
      await stores.close();
      await artifacts.close();
      await drop?.();
      rmSync(dir, { recursive: true, force: true });
    });

    it('withRun finishes the run with what was logged, in one write at the end', async () => {
      const exp = await tracking.ensureExperiment('lifecycle', who);
      const before = (await stores.audit.listAuditEvents({ limit: 1_000_000 })).length;
      const id = await tracking.withRun({ experimentId: exp.experimentId, runName: 'ok' }, who, async (run) => {
        run.log({ params: [{ key: 'l2', value: '1' }], metrics: [{ key: 'rmse', value: 3, timestamp: 1, step: 0 }], tags: [{ key: 'team', value: 'x' }] });
        run.log({ inputs: [{ dataset: { name: 'bike', digest: 'abc', sourceType: 'trellis', source: 'bike@1' }, tags: {} }] });
        run.logModel({ artifactPath: 'model', flavors: { trellis: {} } });
        await run.logArtifact('model/model.json', '{}');
        // Nothing but the creation is written while the function runs.
        assert.equal((await tracking.getRun(run.runId)).info.status, 'RUNNING');
        assert.deepEqual((await tracking.getRun(run.runId)).data.params, {});
        return run.runId;
      });
      const run = await tracking.getRun(id);
      assert.equal(run.info.status, 'FINISHED');
      assert.ok(run.info.endTime);
      assert.equal(run.data.params.l2, '1');
      assert.equal(run.data.tags.team, 'x');
      assert.equal(run.inputs.datasetInputs[0]?.dataset.name, 'bike');
      const history = JSON.parse(run.data.tags[LOG_MODEL_HISTORY_TAG] ?? '[]') as { artifact_path: string; run_id: string; utc_time_created: string }[];
      assert.deepEqual(history.map((m) => [m.artifact_path, m.run_id]), [['model', id]]);
      assert.match(history[0]!.utc_time_created, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
      assert.equal((await tracking.readArtifact(id, 'model/model.json')).toString(), '{}');
      const actions = (await stores.audit.listAuditEvents({ limit: 1_000_000 })).slice(before).map((e) => e.action);
      assert.deepEqual(actions, ['create_run', 'complete_run']);
    });

    it('withRun fails the run when the function throws: FAILED, the error in trellis.error, the error passed on', async () => {
      const exp = await tracking.ensureExperiment('lifecycle', who);
      let runId = '';
      await assert.rejects(tracking.withRun({ experimentId: exp.experimentId }, who, async (run) => {
        runId = run.runId;
        run.log({ params: [{ key: 'seed', value: '7' }] });
        throw new Error('the data ran out');
      }), /the data ran out/);
      const run = await tracking.getRun(runId);
      assert.equal(run.info.status, 'FAILED');
      assert.equal(run.data.tags[RUN_ERROR_TAG], 'the data ran out');
      assert.equal(run.data.params.seed, '7', 'what was logged before the failure is kept');
    });

    it('withRun still fails the run when what was logged is itself refused', async () => {
      const exp = await tracking.ensureExperiment('lifecycle', who);
      let runId = '';
      await assert.rejects(tracking.withRun({ experimentId: exp.experimentId }, who, async (run) => {
        runId = run.runId;
        run.log({ params: [{ key: '../escape', value: '1' }] });
        throw new Error('boom');
      }), /boom/);
      const run = await tracking.getRun(runId);
      assert.equal(run.info.status, 'FAILED');
      assert.equal(run.data.tags[RUN_ERROR_TAG], 'boom');
      assert.deepEqual(run.data.params, {});
    });

    it('withRun refuses, and records as FAILED, what a finishing function logged wrongly', async () => {
      const exp = await tracking.ensureExperiment('lifecycle', who);
      let runId = '';
      await assert.rejects(tracking.withRun({ experimentId: exp.experimentId }, who, async (run) => {
        runId = run.runId;
        run.log({ params: [{ key: 'p', value: '1' }, { key: 'p', value: '2' }] });
      }), (e: unknown) => isTrellisError(e) && e.code === 'TRELLIS_INVALID_PARAMETER');
      const run = await tracking.getRun(runId);
      assert.equal(run.info.status, 'FAILED');
      assert.match(run.data.tags[RUN_ERROR_TAG] ?? '', /Duplicate parameter keys/);
    });

    it('recordRun writes the artifacts under the root the run gets, then the whole run in one write', async () => {
      const exp = await tracking.ensureExperiment('records', who);
      const before = (await stores.audit.listAuditEvents({ limit: 1_000_000 })).length;
      const run = await tracking.recordRun(exp, {
        runName: 'whole', startTime: 1000, endTime: 2000, tags: { 'trellis.trainer': 'linear' },
        params: [{ key: 'algo', value: 'linear' }], metrics: [{ key: 'r2', value: 0.5, timestamp: 1500, step: 0 }],
        artifacts: [{ path: 'model/model.json', data: '{"m":1}' }, { path: 'evaluation/evaluation.json', data: '{}' }],
        model: { artifactPath: 'model', flavors: { trellis: { task: 'regression' } } },
      }, who);
      assert.deepEqual([run.info.status, run.info.startTime, run.info.endTime, run.info.runName], ['FINISHED', 1000, 2000, 'whole']);
      assert.equal((await tracking.readArtifact(run.info.runId, 'model/model.json')).toString(), '{"m":1}');
      assert.deepEqual((await tracking.listArtifacts(run.info.runId)).files.map((f) => f.path).sort(), ['evaluation', 'model']);
      assert.equal(JSON.parse(run.data.tags[LOG_MODEL_HISTORY_TAG] ?? '[]')[0].run_id, run.info.runId);
      const actions = (await stores.audit.listAuditEvents({ limit: 1_000_000 })).slice(before).map((e) => e.action);
      assert.deepEqual(actions, ['record_run']);
    });

    it('ensureExperiment gives racing callers the one experiment', async () => {
      const ids = await Promise.all(Array.from({ length: 6 }, () => tracking.ensureExperiment('raced', who)));
      assert.equal(new Set(ids.map((e) => e.experimentId)).size, 1);
      assert.equal((await tracking.searchExperiments({ filter: "name = 'raced'" })).items.length, 1);
      assert.equal(await tracking.findExperiment('never-made'), undefined);
    });

    it('logModel keeps every one of concurrent logs', async () => {
      const exp = await tracking.ensureExperiment('models', who);
      const run = await tracking.createRun({ experimentId: exp.experimentId }, who);
      const model = (i: number) => ({ artifact_path: `m${i}`, flavors: {}, utc_time_created: '2026-01-01 00:00:00.000000', run_id: run.info.runId });
      await Promise.all(Array.from({ length: 12 }, (_, i) => tracking.logModel(run.info.runId, model(i), who)));
      const history = JSON.parse((await tracking.getRun(run.info.runId)).data.tags[LOG_MODEL_HISTORY_TAG] ?? '[]') as unknown[];
      assert.equal(history.length, 12);
    });
  });
}
