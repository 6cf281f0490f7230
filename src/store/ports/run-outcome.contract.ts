/**
 * The behaviour every {@link TrackingStore} must show for runs written at their end: `completeRun`,
 * `recordRun` and `appendLoggedModel` — each one transaction with one audit event, all-or-nothing,
 * and an append to the log-model history that no concurrent append can lose.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditLog } from './audit.js';
import { rejectsCode, useStores, who, type OpenStores } from './test-helpers/contract-helpers.js';
import { LOG_MODEL_HISTORY_TAG, runArtifactUri, type TrackingStore } from './tracking.js';

const model = (path: string) => ({ artifact_path: path, flavors: { trellis: {} }, utc_time_created: '2026-01-01 00:00:00.000000', run_id: 'x' });

export function describeRunOutcomeContract(name: string, open: OpenStores): void {
  describe(`TrackingStore runs written at their end: ${name}`, () => {
    const stores = useStores(open);
    let tracking: TrackingStore;
    let audit: AuditLog;
    let exp: string;
    before(async () => {
      ({ tracking, audit } = stores());
      exp = await tracking.createExperiment({ name: 'outcomes' }, who);
    });
    const lastSeq = async () => (await audit.listAuditEvents({ limit: 1_000_000 })).at(-1)?.seq ?? 0;
    const eventsAfter = async (seq: number) => audit.listAuditEvents({ afterSeq: seq });

    it('completeRun writes params, metrics, tags, inputs, models and the status in one audited transaction', async () => {
      const run = await tracking.createRun({ experimentId: exp, runName: 'r1' }, who);
      const seq = await lastSeq();
      const done = await tracking.completeRun(run.info.runId, {
        params: [{ key: 'l2', value: '0.5' }],
        metrics: [{ key: 'rmse', value: 2, timestamp: 10, step: 0 }, { key: 'rmse', value: 1, timestamp: 11, step: 1 }],
        tags: [{ key: 'team', value: 'x' }],
        inputs: [{ dataset: { name: 'bike', digest: 'abc', sourceType: 'trellis', source: 'bike@1' }, tags: { 'mlflow.data.context': 'training' } }],
        loggedModels: [model('model')],
        status: 'FINISHED', endTime: 1234,
      }, who);
      assert.equal(done.info.status, 'FINISHED');
      assert.equal(done.info.endTime, 1234);
      assert.equal(done.data.params.l2, '0.5');
      assert.deepEqual(done.data.metrics.map((m) => [m.key, m.value, m.step]), [['rmse', 1, 1]]);
      assert.equal(done.data.tags.team, 'x');
      assert.equal(done.inputs.datasetInputs[0]?.dataset.name, 'bike');
      assert.deepEqual(JSON.parse(done.data.tags[LOG_MODEL_HISTORY_TAG] ?? '[]'), [model('model')]);
      assert.deepEqual(await tracking.getRun(run.info.runId), done, 'what it returns is what is stored');
      assert.equal((await tracking.getMetricHistory(run.info.runId, 'rmse')).items.length, 2);
      const events = await eventsAfter(seq);
      assert.deepEqual(events.map((e) => e.action), ['complete_run']);
      assert.deepEqual((events[0]?.before as { status: string }).status, 'RUNNING');
    });

    it('completeRun is all-or-nothing: a changed param leaves the run as it was', async () => {
      const run = await tracking.createRun({ experimentId: exp }, who);
      await tracking.logBatch(run.info.runId, { params: [{ key: 'l2', value: '1' }] }, who);
      const seq = await lastSeq();
      await rejectsCode(tracking.completeRun(run.info.runId, {
        params: [{ key: 'l2', value: '2' }], metrics: [{ key: 'm', value: 1, timestamp: 1, step: 0 }], loggedModels: [model('m')], status: 'FINISHED',
      }, who), 'TRELLIS_PARAM_CHANGED');
      const after = await tracking.getRun(run.info.runId);
      assert.equal(after.info.status, 'RUNNING');
      assert.deepEqual(after.data.metrics, []);
      assert.equal(after.data.tags[LOG_MODEL_HISTORY_TAG], undefined);
      assert.deepEqual(await eventsAfter(seq), []);
    });

    it('completeRun refuses a status a run does not end with, a deleted run, and MLflow-sized batches beyond the limit', async () => {
      const run = await tracking.createRun({ experimentId: exp }, who);
      await rejectsCode(tracking.completeRun(run.info.runId, { status: 'RUNNING' as never }, who), 'TRELLIS_INVALID_PARAMETER');
      const many = Array.from({ length: 1001 }, (_, i) => ({ key: `m${i}`, value: i, timestamp: 1, step: 0 }));
      await rejectsCode(tracking.completeRun(run.info.runId, { metrics: many, status: 'FINISHED' }, who), 'TRELLIS_LIMIT_EXCEEDED');
      await tracking.deleteRun(run.info.runId, who);
      await rejectsCode(tracking.completeRun(run.info.runId, { status: 'FAILED' }, who), 'TRELLIS_RUN_NOT_ACTIVE');
      await rejectsCode(tracking.completeRun('0'.repeat(32), { status: 'FAILED' }, who), 'TRELLIS_RUN_NOT_FOUND');
    });

    it('recordRun creates a finished run under the id it is given, with its artifact root where runArtifactUri says', async () => {
      const runId = 'ab'.repeat(16);
      const seq = await lastSeq();
      const run = await tracking.recordRun({
        runId, experimentId: exp, runName: 'whole', startTime: 100, tags: { 'trellis.trainer': 'linear' },
        params: [{ key: 'algo', value: 'linear' }], metrics: [{ key: 'r2', value: 0.5, timestamp: 150, step: 0 }],
        loggedModels: [model('model')], status: 'FINISHED', endTime: 200,
      }, who);
      assert.equal(run.info.runId, runId);
      assert.equal(run.info.runName, 'whole');
      assert.equal(run.info.userId, who.actor);
      assert.deepEqual([run.info.status, run.info.startTime, run.info.endTime], ['FINISHED', 100, 200]);
      assert.equal(run.info.artifactUri, runArtifactUri((await tracking.getExperiment(exp)).artifactLocation, runId));
      assert.equal(run.data.tags['mlflow.runName'], 'whole');
      assert.equal(run.data.tags['trellis.trainer'], 'linear');
      assert.equal(run.data.params.algo, 'linear');
      assert.equal(JSON.parse(run.data.tags[LOG_MODEL_HISTORY_TAG] ?? '[]').length, 1);
      assert.deepEqual((await eventsAfter(seq)).map((e) => e.action), ['record_run']);
      await rejectsCode(tracking.recordRun({ runId, experimentId: exp, status: 'FINISHED' }, who), 'TRELLIS_INVALID_PARAMETER');
      await rejectsCode(tracking.recordRun({ runId: 'not-an-id', experimentId: exp, status: 'FINISHED' }, who), 'TRELLIS_INVALID_PARAMETER');
    });

    it('recordRun writes nothing when any part is refused', async () => {
      const seq = await lastSeq();
      await rejectsCode(tracking.recordRun({ experimentId: '987654', status: 'FINISHED' }, who), 'TRELLIS_EXPERIMENT_NOT_FOUND');
      await rejectsCode(tracking.recordRun({
        experimentId: exp, runName: 'refused', params: [{ key: 'p', value: '1' }, { key: 'p', value: '2' }], status: 'FINISHED',
      }, who), 'TRELLIS_INVALID_PARAMETER');
      assert.deepEqual(await eventsAfter(seq), []);
      const found = await tracking.searchRuns({ experimentIds: [exp], filter: [{ kind: 'attribute', key: 'run_name', comparator: '=', value: 'refused' }] });
      assert.deepEqual(found.items, []);
    });

    it('appendLoggedModel keeps every one of many concurrent appends', async () => {
      const run = await tracking.createRun({ experimentId: exp }, who);
      await Promise.all(Array.from({ length: 20 }, (_, i) => tracking.appendLoggedModel(run.info.runId, model(`m${i}`), who)));
      const history = JSON.parse((await tracking.getRun(run.info.runId)).data.tags[LOG_MODEL_HISTORY_TAG] ?? '[]') as { artifact_path: string }[];
      assert.deepEqual(history.map((m) => m.artifact_path).sort(), Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
    });

    it('appendLoggedModel refuses to replace a history tag that is not a JSON list', async () => {
      const run = await tracking.createRun({ experimentId: exp }, who);
      await tracking.logBatch(run.info.runId, { tags: [{ key: LOG_MODEL_HISTORY_TAG, value: 'mine' }] }, who);
      await rejectsCode(tracking.appendLoggedModel(run.info.runId, model('m'), who), 'TRELLIS_INVALID_PARAMETER');
      assert.equal((await tracking.getRun(run.info.runId)).data.tags[LOG_MODEL_HISTORY_TAG], 'mine');
    });
  });
}
