import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTrellisError } from '../src/core/errors.js';
import { Trellis } from '../src/sdk/trellis.js';
import { openEmbedded, openRemote, type Opener } from './test-helpers/sdk-openers.js';

/** The same behaviour, whether the SDK talks to the stores directly or to a server. */
function describeSdk(name: string, open: Opener): void {
  describe(`Trellis SDK (${name})`, () => {
    let dir: string;
    let t: Trellis;
    let cleanup: () => Promise<void>;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), `trellis-sdk-${name}-`));
      ({ t, cleanup } = await open(dir));
    });
    after(async () => {
      await t.close();
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('logs a run: params, metrics over steps, tags, artifacts, inputs', async () => {
      const run = await t.startRun({ experiment: 'sdk', name: 'first', tags: { team: 'a' } });
      assert.match(run.id, /^[0-9a-f]{32}$/);
      await run.logParams({ alpha: 0.5, layers: 3, fast: true });
      for (let step = 0; step < 3; step++) await run.logMetrics({ loss: 1 / (step + 1), acc: step / 10 }, { step });
      await run.logMetric('weird', Number.NaN);
      await run.setTags({ stage: 'dev' });
      await run.logArtifact('model/model.json', '{"w":[1,2]}');
      await run.logArtifact('bytes.bin', new Uint8Array([0, 1, 2, 255]));
      await run.logInputs([{ dataset: { name: 'd', digest: 'abc', sourceType: 'local', source: '{}' }, tags: { 'mlflow.data.context': 'training' } }]);
      await run.end();

      const got = await t.getRun(run.id);
      assert.equal(got.info.status, 'FINISHED');
      assert.ok(got.info.endTime! >= got.info.startTime);
      assert.deepEqual(got.data.params, { alpha: '0.5', layers: '3', fast: 'true' });
      assert.equal(got.data.metrics.find((m) => m.key === 'loss')!.step, 2);
      assert.ok(Number.isNaN(got.data.metrics.find((m) => m.key === 'weird')!.value));
      assert.equal(got.data.tags.team, 'a');
      assert.equal(got.data.tags.stage, 'dev');
      assert.equal(got.inputs.datasetInputs[0]!.dataset.digest, 'abc');
      assert.deepEqual((await t.metricHistory(run.id, 'loss')).map((m) => m.value), [1, 0.5, 1 / 3]);
      assert.deepEqual((await t.listArtifacts(run.id)).map((f) => [f.path, f.isDir]), [['bytes.bin', false], ['model', true]]);
      assert.deepEqual((await t.listArtifacts(run.id, 'model')).map((f) => f.path), ['model/model.json']);
      assert.equal((await t.readArtifact(run.id, 'model/model.json')).toString(), '{"w":[1,2]}');
      assert.deepEqual([...(await t.readArtifact(run.id, 'bytes.bin'))], [0, 1, 2, 255]);
      await assert.rejects(run.logParam('alpha', 0.6), (e) => isTrellisError(e, 'TRELLIS_PARAM_CHANGED'));
    });

    it('searches runs with the MLflow grammar', async () => {
      const exp = await t.experiment('sdk-search');
      for (const [i, rmse] of [3, 1, 2].entries()) {
        const r = await t.startRun({ experiment: 'sdk-search', name: `r${i}` });
        await r.logMetrics({ rmse });
        await r.end();
      }
      const page = await t.searchRuns({ experimentIds: [exp], filter: 'metrics.rmse < 3', orderBy: ['metrics.rmse ASC'] });
      assert.deepEqual(page.items.map((r) => r.info.runName), ['r1', 'r2']);
      await assert.rejects(t.searchRuns({ experimentIds: [exp], filter: 'metrics.rmse <> 3' }), (e) => isTrellisError(e, 'TRELLIS_SEARCH_FILTER_INVALID'));
    });

    it('registers versions and moves an alias', async () => {
      const run = await t.startRun({ experiment: 'sdk' });
      await run.logArtifact('model/model.json', '{}');
      await run.end();
      const v1 = await t.registerModel('sdk-model', `runs:/${run.id}/model`);
      const v2 = await t.registerModel('sdk-model', `runs:/${run.id}/model`, { description: 'second' });
      assert.deepEqual([v1.version, v2.version], ['1', '2']);
      assert.equal(v1.runId, run.id);
      assert.match(v1.source, new RegExp(`${run.id}/artifacts/model$`));
      await t.setAlias('sdk-model', 'champion', v2.version);
      assert.equal((await t.modelVersion('sdk-model@champion')).version, '2');
      assert.equal((await t.modelVersion('sdk-model/1')).version, '1');
      assert.equal((await t.modelVersion('sdk-model', '2')).description, 'second');
      // The one reference syntax: name@version, name@v3, name@latest as well.
      assert.equal((await t.modelVersion('sdk-model@1')).version, '1');
      assert.equal((await t.modelVersion('sdk-model@v1')).version, '1');
      assert.equal((await t.modelVersion('sdk-model@latest')).version, '2');
      await assert.rejects(t.modelVersion('sdk-model@1@2'), /'sdk-model@1@2' is not a reference: use name@version, name@alias or name\/version/);
      await assert.rejects(t.registerModel('sdk-model', 'file:///etc/passwd'), (e) => isTrellisError(e, 'TRELLIS_SOURCE_INVALID'));
      await assert.rejects(t.modelVersion('sdk-model@nope'), (e) => isTrellisError(e, 'TRELLIS_ALIAS_NOT_FOUND'));
    });

    it('manages experiments, runs, stages, aliases and their history, lineage and the audit trail', async () => {
      const id = await t.experiment('sdk-manage');
      assert.deepEqual((await t.searchExperiments({ filter: "name = 'sdk-manage'" })).items.map((e) => e.experimentId), [id]);
      const run = await t.startRun({ experiment: 'sdk-manage', name: 'fit' });
      await run.logArtifact('model/model.json', '{}');
      await run.end();
      await t.deleteRun(run.id);
      assert.equal((await t.getRun(run.id)).info.lifecycleStage, 'deleted');
      assert.deepEqual((await t.searchRuns({ experimentIds: [id] })).items, []);
      assert.equal((await t.searchRuns({ experimentIds: [id], viewType: 'ALL' })).items.length, 1);
      await t.restoreRun(run.id);

      const v = await t.registerModel('sdk-manage', `runs:/${run.id}/model`);
      assert.equal((await t.transitionStage('sdk-manage', v.version, 'Staging')).currentStage, 'Staging');
      await t.setAlias('sdk-manage', 'champion', v.version);
      await t.deleteAlias('sdk-manage', 'champion');
      await assert.rejects(t.modelVersion('sdk-manage@champion'), (e) => isTrellisError(e, 'TRELLIS_ALIAS_NOT_FOUND'));
      const history = await t.modelHistory('sdk-manage');
      assert.deepEqual(history.map((h) => [h.kind, h.label, h.version, h.to === undefined]).sort(), [['alias', 'champion', '1', false], ['stage', 'Staging', '1', true]]);
      assert.deepEqual((await t.modelHistory('sdk-manage', { stage: 'Staging' })).map((h) => h.label), ['Staging']);
      assert.deepEqual((await t.searchModels({ filter: "name = 'sdk-manage'" })).items.map((m) => m.name), ['sdk-manage']);
      assert.deepEqual((await t.searchModelVersions({ filter: "name = 'sdk-manage'" })).items.map((m) => m.version), ['1']);

      const graph = await t.lineage('sdk-manage@1');
      assert.ok(graph.nodes.length >= 2 && graph.edges.some((e) => e.relation === 'registered' || e.from.includes(run.id) || e.to.includes(run.id)), JSON.stringify(graph));
      await assert.rejects(t.lineage('no-such-model@1'), (e) => isTrellisError(e) && /no-such-model/.test(e.message));

      await t.deleteExperiment(id);
      assert.equal((await t.getExperiment(id)).lifecycleStage, 'deleted');
      assert.deepEqual((await t.searchExperiments({ filter: "name = 'sdk-manage'" })).items, []);
      await t.restoreExperiment(id);
      assert.equal((await t.getExperiment(id)).lifecycleStage, 'active');

      const events = await t.auditEvents({ newestFirst: true, limit: 2 });
      assert.equal(events.length, 2);
      assert.ok(events[0]!.seq > events[1]!.seq);
      assert.equal(events[0]!.entityId, id);
      const forModel = await t.auditEvents({ entityType: 'registered_model', entityId: 'sdk-manage' });
      assert.ok(forModel.length >= 1 && forModel.every((e) => e.entityId === 'sdk-manage'));
      assert.deepEqual(await t.verifyAudit(), { ok: true, checked: (await t.auditEvents({ limit: 10_000 })).length, checkpoints: 0 });
    });

    it('records a finished run at once, and reads a model version\'s files', async () => {
      const run = await t.recordRun({
        experiment: 'sdk-recorded', runName: 'nightly', tags: { team: 'b' }, params: [{ key: 'rows', value: '12' }],
        metrics: [{ key: 'mae', value: 3.5, timestamp: 1_700_000_000_000, step: 0 }],
        inputs: [{ dataset: { name: 'd', digest: 'abc', sourceType: 'local', source: '{}' }, tags: { 'mlflow.data.context': 'scoring' } }],
        artifacts: [{ path: 'model/model.json', data: '{"kind":"test"}' }, { path: 'out/p.csv', data: new Uint8Array([97, 10]) }],
      });
      assert.equal(run.info.status, 'FINISHED');
      assert.equal(run.info.runName, 'nightly');
      assert.equal((await t.getExperiment(run.info.experimentId)).name, 'sdk-recorded');
      assert.deepEqual([run.data.params, run.data.tags.team, run.data.metrics.map((m) => [m.key, m.value])], [{ rows: '12' }, 'b', [['mae', 3.5]]]);
      assert.equal(run.inputs.datasetInputs[0]!.dataset.digest, 'abc');
      assert.equal((await t.readArtifact(run.info.runId, 'out/p.csv')).toString(), 'a\n');
      const v = await t.registerModel('sdk-recorded', `runs:/${run.info.runId}/model`);
      assert.equal((await t.modelFile(`sdk-recorded@${v.version}`)).toString(), '{"kind":"test"}');
      await assert.rejects(t.modelFile('sdk-recorded@1', 'nope.json'), (e) => isTrellisError(e));
    });
  });
}

describeSdk('embedded', openEmbedded('alice'));
describeSdk('remote', openRemote);

describe('Trellis SDK (remote) against a server that is not one', () => {
  let server: Server;
  let url: string;
  before(async () => {
    // Each path answers what a proxy or a misconfigured URL might: a page, an array, an error in plain text.
    server = createServer((req, res) => {
      const path = req.url ?? '';
      if (path.includes('experiments/get?')) res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      else if (path.includes('runs/get?')) res.writeHead(200, { 'content-type': 'application/json' }).end('[1,2]');
      else res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('refuses a 200 whose body is not a JSON object, naming what came', async () => {
    const t = Trellis.connect(url);
    await assert.rejects(t.getExperiment('1'), (e) => isTrellisError(e, 'TRELLIS_SERVER_REFUSED') && e.message.includes('<html>login</html>'));
    await assert.rejects(t.getRun('abc'), (e) => isTrellisError(e, 'TRELLIS_SERVER_REFUSED') && e.message.includes('[1,2]'));
  });

  it('reports an error status with the text it came with', async () => {
    const t = Trellis.connect(url);
    await assert.rejects(t.searchRuns({ experimentIds: ['0'] }), (e) => isTrellisError(e, 'TRELLIS_INTERNAL') && e.message.includes('bad gateway'));
  });
});
