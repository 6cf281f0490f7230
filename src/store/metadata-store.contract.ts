/**
 * The behaviour every MetadataStore must show. Run by each adapter's test with a factory that
 * returns a fresh, empty store.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore } from './metadata-store.js';
import { verifyAuditChain } from './audit-chain.js';

const who = { actor: 'alice' };

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: { code?: string }) => {
    assert.equal(e.code, code);
    return true;
  });
}

export function describeMetadataStoreContract(name: string, open: () => Promise<{ store: MetadataStore; cleanup?: () => Promise<void> }>): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let store: MetadataStore;
    let cleanup: (() => Promise<void>) | undefined;
    before(async () => {
      ({ store, cleanup } = await open());
    });
    after(async () => {
      await store.close();
      await cleanup?.();
    });

    describe('experiments', () => {
      it('has the Default experiment 0', async () => {
        const e = await store.getExperiment('0');
        assert.equal(e.name, 'Default');
        assert.equal(e.lifecycleStage, 'active');
        assert.equal((await store.getExperimentByName('Default')).experimentId, '0');
      });

      it('creates, renames, tags, deletes and restores', async () => {
        const id = await store.createExperiment({ name: 'exp-a', tags: { team: 'x' } }, who);
        const e = await store.getExperiment(id);
        assert.equal(e.name, 'exp-a');
        assert.deepEqual(e.tags, { team: 'x' });
        assert.match(e.artifactLocation, new RegExp(`/${id}$`));
        await rejectsCode(store.createExperiment({ name: 'exp-a' }, who), 'TRELLIS_EXPERIMENT_EXISTS');
        await store.renameExperiment(id, 'exp-b', who);
        assert.equal((await store.getExperimentByName('exp-b')).experimentId, id);
        await rejectsCode(store.getExperimentByName('exp-a'), 'TRELLIS_EXPERIMENT_NAME_NOT_FOUND');
        await store.setExperimentTag(id, 'team', 'y', who);
        await store.setExperimentTag(id, 'owner', 'bob', who);
        assert.deepEqual((await store.getExperiment(id)).tags, { team: 'y', owner: 'bob' });
        await store.deleteExperimentTag(id, 'owner', who);
        await rejectsCode(store.deleteExperimentTag(id, 'owner', who), 'TRELLIS_TAG_NOT_FOUND');

        const run = await store.createRun({ experimentId: id }, who);
        const ownDeleted = await store.createRun({ experimentId: id }, who);
        await store.deleteRun(ownDeleted.info.runId, who);
        await store.deleteExperiment(id, who);
        assert.equal((await store.getExperiment(id)).lifecycleStage, 'deleted');
        assert.equal((await store.getRun(run.info.runId)).info.lifecycleStage, 'deleted');
        await rejectsCode(store.createRun({ experimentId: id }, who), 'TRELLIS_EXPERIMENT_NOT_ACTIVE');
        await store.restoreExperiment(id, who);
        assert.equal((await store.getRun(run.info.runId)).info.lifecycleStage, 'active');
        assert.equal((await store.getRun(ownDeleted.info.runId)).info.lifecycleStage, 'deleted', 'a run deleted on its own stays deleted');
      });

      it('searches with filter, order and pages', async () => {
        for (const n of ['s-1', 's-2', 's-3']) await store.createExperiment({ name: n, tags: { kind: n === 's-2' ? 'odd' : 'even' } }, who);
        const all = await store.searchExperiments({ filter: [{ kind: 'attribute', key: 'name', comparator: 'LIKE', value: 's-%' }], orderBy: [{ kind: 'attribute', key: 'name', ascending: false }] });
        assert.deepEqual(all.items.map((e) => e.name), ['s-3', 's-2', 's-1']);
        assert.equal(all.nextPageToken, undefined);
        const tagged = await store.searchExperiments({ filter: [{ kind: 'tag', key: 'kind', comparator: '=', value: 'odd' }] });
        assert.deepEqual(tagged.items.map((e) => e.name), ['s-2']);
        const p1 = await store.searchExperiments({ filter: [{ kind: 'attribute', key: 'name', comparator: 'LIKE', value: 's-%' }], orderBy: [{ kind: 'attribute', key: 'name', ascending: true }], maxResults: 2 });
        assert.deepEqual(p1.items.map((e) => e.name), ['s-1', 's-2']);
        assert.ok(p1.nextPageToken);
        const p2 = await store.searchExperiments({ filter: [{ kind: 'attribute', key: 'name', comparator: 'LIKE', value: 's-%' }], orderBy: [{ kind: 'attribute', key: 'name', ascending: true }], maxResults: 2, pageToken: p1.nextPageToken });
        assert.deepEqual(p2.items.map((e) => e.name), ['s-3']);
        assert.equal(p2.nextPageToken, undefined);
        await rejectsCode(store.searchExperiments({ pageToken: 'garbage!' }), 'TRELLIS_PAGE_TOKEN_INVALID');
        // LIKE is case-sensitive, ILIKE is not.
        assert.equal((await store.searchExperiments({ filter: [{ kind: 'attribute', key: 'name', comparator: 'LIKE', value: 'S-%' }] })).items.length, 0);
        assert.equal((await store.searchExperiments({ filter: [{ kind: 'attribute', key: 'name', comparator: 'ILIKE', value: 'S-%' }] })).items.length, 3);
      });

      it('reports unknown experiments', async () => {
        await rejectsCode(store.getExperiment('999999'), 'TRELLIS_EXPERIMENT_NOT_FOUND');
        await rejectsCode(store.getExperiment('abc'), 'TRELLIS_EXPERIMENT_NOT_FOUND');
      });
    });

    describe('runs', () => {
      let expId: string;
      before(async () => {
        expId = await store.createExperiment({ name: 'runs-exp' }, who);
      });

      it('creates a run with a name, user and artifact uri, and syncs mlflow.runName', async () => {
        const r = await store.createRun({ experimentId: expId, runName: 'first', userId: 'bob', startTime: 1000, tags: { a: 'b' } }, who);
        assert.equal(r.info.runName, 'first');
        assert.equal(r.info.userId, 'bob');
        assert.equal(r.info.status, 'RUNNING');
        assert.equal(r.info.startTime, 1000);
        assert.equal(r.info.endTime, undefined);
        assert.match(r.info.runId, /^[0-9a-f]{32}$/);
        assert.ok(r.info.artifactUri.endsWith(`/${expId}/${r.info.runId}/artifacts`));
        assert.equal(r.data.tags['mlflow.runName'], 'first');
        const info = await store.updateRun(r.info.runId, { status: 'FINISHED', endTime: 2000, runName: 'renamed' }, who);
        assert.equal(info.status, 'FINISHED');
        assert.equal(info.endTime, 2000);
        assert.equal((await store.getRun(r.info.runId)).data.tags['mlflow.runName'], 'renamed');
        const generated = await store.createRun({ experimentId: expId }, who);
        assert.ok(generated.info.runName.length > 0);
      });

      it('keeps params write-once and metric history, with latest by step, timestamp, value', async () => {
        const r = await store.createRun({ experimentId: expId }, who);
        const id = r.info.runId;
        await store.logBatch(id, { params: [{ key: 'alpha', value: '0.5' }] }, who);
        await store.logBatch(id, { params: [{ key: 'alpha', value: '0.5' }] }, who);
        await rejectsCode(store.logBatch(id, { params: [{ key: 'alpha', value: '0.6' }] }, who), 'TRELLIS_PARAM_CHANGED');
        await store.logBatch(id, {
          metrics: [
            { key: 'loss', value: 3, timestamp: 10, step: 2 },
            { key: 'loss', value: 1, timestamp: 50, step: 1 },
            { key: 'loss', value: 2, timestamp: 10, step: 2 },
            { key: 'loss', value: 5, timestamp: 5, step: 2 },
          ],
        }, who);
        await store.logBatch(id, { metrics: [{ key: 'loss', value: 0.5, timestamp: 11, step: 2 }] }, who);
        const run = await store.getRun(id);
        assert.deepEqual(run.data.metrics, [{ key: 'loss', value: 0.5, timestamp: 11, step: 2 }]);
        assert.deepEqual(run.data.params, { alpha: '0.5' });
        const h = await store.getMetricHistory(id, 'loss');
        assert.equal(h.items.length, 5);
        assert.deepEqual(h.items.map((m) => m.step), [1, 2, 2, 2, 2]);
        const p = await store.getMetricHistory(id, 'loss', { maxResults: 2 });
        assert.equal(p.items.length, 2);
        const p2 = await store.getMetricHistory(id, 'loss', { maxResults: 10, pageToken: p.nextPageToken });
        assert.equal(p2.items.length, 3);
      });

      it('stores NaN and infinities', async () => {
        const r = await store.createRun({ experimentId: expId }, who);
        await store.logBatch(r.info.runId, {
          metrics: [
            { key: 'nan', value: Number.NaN, timestamp: 1, step: 0 },
            { key: 'inf', value: Number.POSITIVE_INFINITY, timestamp: 1, step: 0 },
            { key: 'ninf', value: Number.NEGATIVE_INFINITY, timestamp: 1, step: 0 },
          ],
        }, who);
        const m = Object.fromEntries((await store.getRun(r.info.runId)).data.metrics.map((x) => [x.key, x.value]));
        assert.ok(Number.isNaN(m.nan));
        assert.equal(m.inf, Number.POSITIVE_INFINITY);
        assert.equal(m.ninf, Number.NEGATIVE_INFINITY);
        assert.ok(Number.isNaN((await store.getMetricHistory(r.info.runId, 'nan')).items[0]!.value));
      });

      it('refuses an over-limit batch and writes nothing of it', async () => {
        const r = await store.createRun({ experimentId: expId }, who);
        const metrics = Array.from({ length: 1001 }, (_, i) => ({ key: `m${i}`, value: i, timestamp: 1, step: 0 }));
        await rejectsCode(store.logBatch(r.info.runId, { metrics }, who), 'TRELLIS_LIMIT_EXCEEDED');
        const params = Array.from({ length: 101 }, (_, i) => ({ key: `p${i}`, value: 'v' }));
        await rejectsCode(store.logBatch(r.info.runId, { params }, who), 'TRELLIS_LIMIT_EXCEEDED');
        // A batch that fails half-way (second param changes a value) leaves nothing behind.
        await store.logBatch(r.info.runId, { params: [{ key: 'fixed', value: '1' }] }, who);
        await rejectsCode(store.logBatch(r.info.runId, {
          metrics: [{ key: 'partial', value: 1, timestamp: 1, step: 0 }],
          params: [{ key: 'new', value: 'x' }, { key: 'fixed', value: '2' }],
        }, who), 'TRELLIS_PARAM_CHANGED');
        const run = await store.getRun(r.info.runId);
        assert.deepEqual(run.data.metrics, []);
        assert.deepEqual(run.data.params, { fixed: '1' });
        await rejectsCode(store.logBatch(r.info.runId, { params: [{ key: '../x', value: '1' }] }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(store.logBatch(r.info.runId, { params: [{ key: 'big', value: 'x'.repeat(6001) }] }, who), 'TRELLIS_INVALID_PARAMETER');
        // A key that a JavaScript object cannot hold would be stored and then never shown.
        await rejectsCode(store.logBatch(r.info.runId, { tags: [{ key: '__proto__', value: '1' }] }, who), 'TRELLIS_INVALID_PARAMETER');
      });

      it('refuses writes to a deleted run and restores it', async () => {
        const r = await store.createRun({ experimentId: expId }, who);
        await store.deleteRun(r.info.runId, who);
        await assert.rejects(store.logBatch(r.info.runId, { tags: [{ key: 'a', value: 'b' }] }, who), (e: Error & { code?: string }) =>
          e.code === 'TRELLIS_RUN_NOT_ACTIVE' && e.message === `The run ${r.info.runId} must be in the 'active' state. Current state is deleted.`);
        await rejectsCode(store.updateRun(r.info.runId, { status: 'FAILED' }, who), 'TRELLIS_RUN_NOT_ACTIVE');
        assert.equal((await store.getRun(r.info.runId)).info.lifecycleStage, 'deleted');
        await store.restoreRun(r.info.runId, who);
        await store.logBatch(r.info.runId, { tags: [{ key: 'a', value: 'b' }] }, who);
        await store.deleteRunTag(r.info.runId, 'a', who);
        await rejectsCode(store.deleteRunTag(r.info.runId, 'a', who), 'TRELLIS_TAG_NOT_FOUND');
        await rejectsCode(store.getRun('0'.repeat(32)), 'TRELLIS_RUN_NOT_FOUND');
      });

      it('records dataset inputs', async () => {
        const r = await store.createRun({ experimentId: expId }, who);
        await store.logInputs(r.info.runId, [{ dataset: { name: 'bike', digest: 'abc', sourceType: 'local', source: '{"uri":"x.csv"}' }, tags: { 'mlflow.data.context': 'training' } }], who);
        const run = await store.getRun(r.info.runId);
        assert.deepEqual(run.inputs.datasetInputs, [{ dataset: { name: 'bike', digest: 'abc', sourceType: 'local', source: '{"uri":"x.csv"}' }, tags: { 'mlflow.data.context': 'training' } }]);
        const found = await store.searchRuns({ experimentIds: [expId], filter: [{ kind: 'dataset', key: 'name', comparator: '=', value: 'bike' }] });
        assert.deepEqual(found.items.map((x) => x.info.runId), [r.info.runId]);
        const ctx = await store.searchRuns({ experimentIds: [expId], filter: [{ kind: 'dataset', key: 'context', comparator: '=', value: 'training' }] });
        assert.deepEqual(ctx.items.map((x) => x.info.runId), [r.info.runId]);
      });
    });

    describe('run search', () => {
      let expId: string;
      const ids: string[] = [];
      before(async () => {
        expId = await store.createExperiment({ name: 'search-exp' }, who);
        for (let i = 0; i < 6; i++) {
          const r = await store.createRun({ experimentId: expId, runName: `run-${i}`, startTime: 1000 + i }, who);
          ids.push(r.info.runId);
          const metrics = [{ key: 'rmse', value: 10 - i, timestamp: 1, step: 0 }];
          if (i % 2 === 0) metrics.push({ key: 'acc', value: i / 10, timestamp: 1, step: 0 });
          await store.logBatch(r.info.runId, { metrics, params: [{ key: 'alpha', value: String(i % 3) }], tags: [{ key: 'team', value: i < 3 ? 'Red' : 'blue' }] }, who);
        }
        await store.updateRun(ids[5]!, { status: 'FINISHED', endTime: 5000 }, who);
        await store.deleteRun(ids[4]!, who);
      });

      it('defaults to start_time DESC over active runs', async () => {
        const r = await store.searchRuns({ experimentIds: [expId] });
        assert.deepEqual(r.items.map((x) => x.info.runName), ['run-5', 'run-3', 'run-2', 'run-1', 'run-0']);
        const del = await store.searchRuns({ experimentIds: [expId], viewType: 'DELETED_ONLY' });
        assert.deepEqual(del.items.map((x) => x.info.runName), ['run-4']);
        assert.equal((await store.searchRuns({ experimentIds: [expId], viewType: 'ALL' })).items.length, 6);
      });

      it('filters by metric, param, tag and attribute', async () => {
        const names = async (filter: Parameters<MetadataStore['searchRuns']>[0]['filter']) =>
          (await store.searchRuns({ experimentIds: [expId], filter, orderBy: [{ kind: 'attribute', key: 'start_time', ascending: true }] })).items.map((x) => x.info.runName);
        assert.deepEqual(await names([{ kind: 'metric', key: 'rmse', comparator: '<', value: 8 }]), ['run-3', 'run-5']);
        assert.deepEqual(await names([{ kind: 'metric', key: 'acc', comparator: '>=', value: 0 }]), ['run-0', 'run-2']);
        assert.deepEqual(await names([{ kind: 'param', key: 'alpha', comparator: '=', value: '0' }]), ['run-0', 'run-3']);
        assert.deepEqual(await names([{ kind: 'tag', key: 'team', comparator: 'LIKE', value: 'R%' }]), ['run-0', 'run-1', 'run-2']);
        assert.deepEqual(await names([{ kind: 'tag', key: 'team', comparator: 'ILIKE', value: 'r%' }]), ['run-0', 'run-1', 'run-2']);
        assert.deepEqual(await names([{ kind: 'tag', key: 'team', comparator: '!=', value: 'Red' }]), ['run-3', 'run-5']);
        assert.deepEqual(await names([{ kind: 'attribute', key: 'status', comparator: '=', value: 'FINISHED' }]), ['run-5']);
        assert.deepEqual(await names([{ kind: 'attribute', key: 'run_name', comparator: 'LIKE', value: 'run-_' }, { kind: 'metric', key: 'rmse', comparator: '>', value: 8.5 }]), ['run-0', 'run-1']);
        assert.deepEqual(await names([{ kind: 'attribute', key: 'run_id', comparator: 'IN', value: [ids[1]!, ids[2]!] }]), ['run-1', 'run-2']);
        assert.deepEqual(await names([{ kind: 'metric', key: 'missing', comparator: '>', value: 0 }]), []);
      });

      it('orders by metric with missing values last, and pages', async () => {
        const byAcc = await store.searchRuns({ experimentIds: [expId], orderBy: [{ kind: 'metric', key: 'acc', ascending: false }] });
        assert.deepEqual(byAcc.items.map((x) => x.info.runName), ['run-2', 'run-0', 'run-5', 'run-3', 'run-1']);
        const byAccAsc = await store.searchRuns({ experimentIds: [expId], orderBy: [{ kind: 'metric', key: 'acc', ascending: true }] });
        assert.deepEqual(byAccAsc.items.map((x) => x.info.runName).slice(0, 2), ['run-0', 'run-2']);
        const seen: string[] = [];
        let token: string | undefined;
        do {
          const page = await store.searchRuns({ experimentIds: [expId], orderBy: [{ kind: 'metric', key: 'rmse', ascending: true }], maxResults: 2, pageToken: token });
          seen.push(...page.items.map((x) => x.info.runName));
          token = page.nextPageToken;
        } while (token);
        assert.deepEqual(seen, ['run-5', 'run-3', 'run-2', 'run-1', 'run-0']);
        // Pages that cross from runs with the order key to runs without it, at every page size.
        for (const size of [1, 2, 3, 4]) {
          const names: string[] = [];
          let t: string | undefined;
          do {
            const page = await store.searchRuns({ experimentIds: [expId], orderBy: [{ kind: 'metric', key: 'acc', ascending: false }, { kind: 'param', key: 'alpha', ascending: true }], maxResults: size, pageToken: t });
            names.push(...page.items.map((x) => x.info.runName));
            t = page.nextPageToken;
          } while (t);
          assert.deepEqual(names, ['run-2', 'run-0', 'run-3', 'run-1', 'run-5'], `page size ${size}`);
        }
        const filtered = await store.searchRuns({ experimentIds: [expId], filter: [{ kind: 'tag', key: 'team', comparator: '=', value: 'Red' }], orderBy: [{ kind: 'param', key: 'alpha', ascending: false }] });
        assert.deepEqual(filtered.items.map((x) => x.info.runName), ['run-2', 'run-1', 'run-0']);
        await rejectsCode(store.searchRuns({ experimentIds: [expId], maxResults: 50001 }), 'TRELLIS_INVALID_PARAMETER');
      });
    });

    describe('registry', () => {
      let runId: string;
      before(async () => {
        runId = (await store.createRun({ experimentId: '0' }, who)).info.runId;
      });

      it('creates, gets, renames, describes, tags and deletes models', async () => {
        const m = await store.createRegisteredModel({ name: 'm1', description: 'first', tags: { t: '1' } }, who);
        assert.equal(m.name, 'm1');
        assert.equal(m.description, 'first');
        assert.deepEqual(m.tags, { t: '1' });
        await rejectsCode(store.createRegisteredModel({ name: 'm1' }, who), 'TRELLIS_MODEL_EXISTS');
        await store.createModelVersion({ name: 'm1', source: 'mlflow-artifacts:/0/x/artifacts/model', runId }, who);
        const renamed = await store.renameRegisteredModel('m1', 'm1b', who);
        assert.equal(renamed.name, 'm1b');
        assert.equal((await store.getModelVersion('m1b', '1')).name, 'm1b');
        await rejectsCode(store.getRegisteredModel('m1'), 'TRELLIS_MODEL_NOT_FOUND');
        assert.equal((await store.updateRegisteredModel('m1b', 'second', who)).description, 'second');
        await store.setRegisteredModelTag('m1b', 'owner', 'ops', who);
        await store.deleteRegisteredModelTag('m1b', 't', who);
        assert.deepEqual((await store.getRegisteredModel('m1b')).tags, { owner: 'ops' });
        await store.deleteRegisteredModel('m1b', who);
        await rejectsCode(store.getRegisteredModel('m1b'), 'TRELLIS_MODEL_NOT_FOUND');
        await rejectsCode(store.getModelVersion('m1b', '1'), 'TRELLIS_MODEL_NOT_FOUND');
      });

      it('numbers versions, never reuses a number, transitions stages and archives existing', async () => {
        await store.createRegisteredModel({ name: 'm2' }, who);
        const v1 = await store.createModelVersion({ name: 'm2', source: 's1', runId, tags: { k: 'v' } }, who);
        const v2 = await store.createModelVersion({ name: 'm2', source: 's2' }, who);
        assert.equal(v1.version, '1');
        assert.equal(v2.version, '2');
        assert.equal(v1.currentStage, 'None');
        assert.equal(v1.status, 'READY');
        assert.equal(v1.runId, runId);
        assert.deepEqual(v1.tags, { k: 'v' });
        await store.deleteModelVersion('m2', '2', who);
        assert.equal((await store.createModelVersion({ name: 'm2', source: 's3' }, who)).version, '3');
        await store.transitionStage('m2', '1', 'production' as never, false, who);
        const v3 = await store.transitionStage('m2', '3', 'Production', true, who);
        assert.equal(v3.currentStage, 'Production');
        assert.equal((await store.getModelVersion('m2', '1')).currentStage, 'Archived');
        const latest = await store.getLatestVersions('m2', ['Production']);
        assert.deepEqual(latest.map((v) => v.version), ['3']);
        assert.deepEqual((await store.getLatestVersions('m2')).map((v) => `${v.version}:${v.currentStage}`).sort(), ['1:Archived', '3:Production']);
        await rejectsCode(store.transitionStage('m2', '1', 'Live' as never, false, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(store.getModelVersion('m2', '2'), 'TRELLIS_MODEL_VERSION_NOT_FOUND');
        await rejectsCode(store.getModelVersion('m2', 'abc'), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(store.createModelVersion({ name: 'm2', source: 's', runId: 'f'.repeat(32) }, who), 'TRELLIS_RUN_NOT_FOUND');
        await store.updateModelVersion('m2', '1', 'old one', who);
        await store.setModelVersionTag('m2', '1', 'q', 'r', who);
        await store.deleteModelVersionTag('m2', '1', 'k', who);
        const v = await store.getModelVersion('m2', '1');
        assert.equal(v.description, 'old one');
        assert.deepEqual(v.tags, { q: 'r' });
      });

      it('moves aliases and searches models and versions', async () => {
        await store.createRegisteredModel({ name: 'm3' }, who);
        await store.createModelVersion({ name: 'm3', source: 'a', runId }, who);
        await store.createModelVersion({ name: 'm3', source: 'b' }, who);
        await store.setAlias('m3', 'champion', '1', who);
        await store.setAlias('m3', 'champion', '2', who);
        assert.equal((await store.getVersionByAlias('m3', 'champion')).version, '2');
        assert.deepEqual((await store.getRegisteredModel('m3')).aliases, { champion: '2' });
        assert.deepEqual((await store.getModelVersion('m3', '2')).aliases, ['champion']);
        await rejectsCode(store.setAlias('m3', 'champion', '9', who), 'TRELLIS_MODEL_VERSION_NOT_FOUND');
        await rejectsCode(store.setAlias('m3', 'v1', '1', who), 'TRELLIS_INVALID_PARAMETER');
        await store.deleteAlias('m3', 'champion', who);
        await rejectsCode(store.getVersionByAlias('m3', 'champion'), 'TRELLIS_ALIAS_NOT_FOUND');

        const models = await store.searchRegisteredModels({ filter: [{ kind: 'attribute', key: 'name', comparator: 'LIKE', value: 'm%' }] });
        assert.deepEqual(models.items.map((m) => m.name), ['m2', 'm3']);
        const byRun = await store.searchModelVersions({ filter: [{ kind: 'attribute', key: 'run_id', comparator: '=', value: runId }], orderBy: [{ kind: 'attribute', key: 'name', ascending: true }] });
        assert.deepEqual(byRun.items.map((v) => `${v.name}/${v.version}`), ['m2/1', 'm3/1']);
        const byName = await store.searchModelVersions({ filter: [{ kind: 'attribute', key: 'name', comparator: '=', value: 'm3' }, { kind: 'attribute', key: 'version_number', comparator: '>', value: 1 }] });
        assert.deepEqual(byName.items.map((v) => v.version), ['2']);
      });

      it('keeps one final alias value under 50 concurrent updates, with events in commit order', async () => {
        await store.createRegisteredModel({ name: 'race' }, who);
        for (let i = 0; i < 5; i++) await store.createModelVersion({ name: 'race', source: `s${i}` }, who);
        const before = (await store.listAuditEvents({ entityType: 'registered_model', entityId: 'race' })).length;
        await Promise.all(Array.from({ length: 50 }, (_, i) => store.setAlias('race', 'champion', String((i % 5) + 1), { actor: `u${i}` })));
        const final = (await store.getVersionByAlias('race', 'champion')).version;
        const events = (await store.listAuditEvents({ entityType: 'registered_model', entityId: 'race' })).slice(before).filter((e) => e.action === 'set_alias');
        assert.ok(events.length >= 5 && events.length <= 50);
        // Each event's "before" is the previous event's "after": the events are in commit order.
        let prev: string | null = null;
        for (const e of events) {
          assert.equal((e.before as { version: string | null }).version, prev);
          prev = (e.after as { version: string }).version;
        }
        assert.equal(prev, final);
      });
    });

    describe('datasets', () => {
      const sha = (c: string) => c.repeat(64);
      const base = { format: 'csv', rows: 10, columns: 3, sizeBytes: 100, source: 'x.csv', artifactPath: 'datasets/x', schema: { columns: [] }, profile: { rows: 10 } };

      it('records versions, returns the same version for the same content, and finds subjects', async () => {
        const a = await store.createDatasetVersion({ ...base, name: 'people', sha256: sha('a'), subjectColumn: 'id', subjects: ['u1', 'u2'] }, who);
        assert.equal(a.created, true);
        assert.equal(a.version.version, 1);
        assert.deepEqual(a.version.profile, { rows: 10 });
        const again = await store.createDatasetVersion({ ...base, name: 'people', sha256: sha('a'), subjects: ['u1', 'u2'] }, who);
        assert.equal(again.created, false);
        assert.equal(again.version.version, 1);
        const b = await store.createDatasetVersion({ ...base, name: 'people', sha256: sha('b'), rows: 11, subjects: ['u2', 'u3'], lineage: { parent: 'people@1' } }, who);
        assert.equal(b.version.version, 2);
        assert.deepEqual(b.version.lineage, { parent: 'people@1' });
        assert.equal((await store.getDatasetVersion('people')).version, 2);
        assert.equal((await store.getDatasetVersion('people', 1)).sha256, sha('a'));
        assert.deepEqual((await store.listDatasetVersions('people')).map((v) => v.version), [1, 2]);
        assert.equal((await store.getDataset('people')).subjectColumn, 'id');
        assert.equal((await store.getDataset('people')).latestVersion, 2);
        assert.deepEqual(await store.findSubject('u2'), [{ name: 'people', version: 1 }, { name: 'people', version: 2 }]);
        assert.deepEqual(await store.findSubject('nobody'), []);
        assert.ok((await store.listDatasets()).some((d) => d.name === 'people'));
        await rejectsCode(store.getDatasetVersion('people', 9), 'TRELLIS_DATASET_VERSION_NOT_FOUND');
        await rejectsCode(store.getDataset('nope'), 'TRELLIS_DATASET_NOT_FOUND');
        await rejectsCode(store.createDatasetVersion({ ...base, name: 'people', sha256: sha('c'), subjectColumn: 'other' }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(store.createDatasetVersion({ ...base, name: '../x', sha256: sha('c') }, who), 'TRELLIS_INVALID_PARAMETER');
        const events = await store.listAuditEvents({ entityType: 'dataset_version', entityIdPrefix: 'people@' });
        assert.deepEqual(events.map((e) => e.entityId), ['people@1', 'people@2']);
      });

      it('keeps numbered schema documents and one pinned contract', async () => {
        await store.createDatasetVersion({ ...base, name: 'schemas', sha256: sha('d') }, who);
        assert.equal(await store.getDatasetSchema('schemas'), undefined);
        const s1 = await store.putDatasetSchema('schemas', { columns: [{ name: 'a' }] }, true, who);
        const s2 = await store.putDatasetSchema('schemas', { columns: [{ name: 'b' }] }, false, who);
        assert.deepEqual([s1.schemaVersion, s2.schemaVersion], [1, 2]);
        assert.deepEqual((await store.getDatasetSchema('schemas'))!.schema, { columns: [{ name: 'a' }] });
        await store.putDatasetSchema('schemas', { columns: [{ name: 'c' }] }, true, who);
        assert.equal((await store.getDatasetSchema('schemas'))!.schemaVersion, 3);
        assert.equal((await store.getDatasetSchema('schemas', 1))!.pinned, false);
        await rejectsCode(store.putDatasetSchema('schemas', 'nope', false, who), 'TRELLIS_INVALID_PARAMETER');
      });
    });

    describe('pipeline versions', () => {
      const sha = (c: string) => c.repeat(64);
      const pkg = (c: string) => ({ name: 'etl', irVersion: '1.0', packageSha256: sha(c), irHash: sha('f'), location: `pipelines/etl/${sha(c)}.json` });

      it('numbers versions per name, returns the same version for the same package, and lists the latest of each', async () => {
        const a = await store.createPipelineVersion({ ...pkg('a'), triggers: [{ cron: '0 3 * * *' }], concurrency: 'skip' }, who);
        assert.equal(a.created, true);
        assert.equal(a.version.version, 1);
        assert.deepEqual(a.version.triggers, [{ cron: '0 3 * * *' }]);
        assert.equal(a.version.concurrency, 'skip');
        assert.equal(a.version.createdBy, 'alice');
        const again = await store.createPipelineVersion(pkg('a'), who);
        assert.deepEqual([again.created, again.version.version], [false, 1]);
        const b = await store.createPipelineVersion(pkg('b'), who);
        assert.deepEqual([b.created, b.version.version, b.version.concurrency, b.version.triggers], [true, 2, 'queue', []]);
        await store.createPipelineVersion({ ...pkg('c'), name: 'aaa-first' }, who);
        assert.equal((await store.getPipelineVersion('etl')).version, 2);
        assert.equal((await store.getPipelineVersion('etl', 1)).packageSha256, sha('a'));
        assert.deepEqual((await store.listPipelineVersions('etl')).map((v) => v.version), [1, 2]);
        const listed = (await store.listPipelines()).filter((v) => ['etl', 'aaa-first'].includes(v.name));
        assert.deepEqual(listed.map((v) => `${v.name}/${v.version}`), ['aaa-first/1', 'etl/2']);
        await rejectsCode(store.getPipelineVersion('nope'), 'TRELLIS_PIPELINE_NOT_FOUND');
        await rejectsCode(store.getPipelineVersion('etl', 9), 'TRELLIS_PIPELINE_VERSION_NOT_FOUND');
        await rejectsCode(store.listPipelineVersions('nope'), 'TRELLIS_PIPELINE_NOT_FOUND');
        await rejectsCode(store.createPipelineVersion({ ...pkg('d'), packageSha256: 'x' }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(store.createPipelineVersion({ ...pkg('d'), name: '../etl' }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(store.createPipelineVersion({ ...pkg('d'), concurrency: 'sometimes' }, who), 'TRELLIS_INVALID_PARAMETER');
        const events = await store.listAuditEvents({ entityType: 'pipeline_version', entityIdPrefix: 'etl/' });
        assert.deepEqual(events.map((e) => [e.action, e.entityId]), [['create_pipeline_version', 'etl/1'], ['create_pipeline_version', 'etl/2']]);
      });
    });

    describe('trigger records', () => {
      it('writes each deduplicated event once, and lists records by pipeline and status', async () => {
        const first = await store.createTrigger({ pipeline: 'tr-a', kind: 'cron', reason: 'due at 03:00', dedupeKey: 'cron:tr-a:2024-01-01T03:00:00.000Z' }, who);
        assert.equal(first.created, true);
        assert.equal(first.trigger.status, 'pending');
        assert.deepEqual(first.trigger.params, {});
        const again = await store.createTrigger({ pipeline: 'tr-a', kind: 'cron', dedupeKey: 'cron:tr-a:2024-01-01T03:00:00.000Z' }, who);
        assert.deepEqual([again.created, again.trigger.id], [false, first.trigger.id]);
        const api1 = await store.createTrigger({ pipeline: 'tr-a', kind: 'api', params: { trees: 5, note: 'x', fast: true } }, { actor: 'bob' });
        const api2 = await store.createTrigger({ pipeline: 'tr-a', kind: 'api' }, who);
        assert.notEqual(api1.trigger.id, api2.trigger.id, 'records without a dedupe key are never merged');
        assert.deepEqual(api1.trigger.params, { trees: 5, note: 'x', fast: true });
        assert.equal(api1.trigger.requestedBy, 'bob');
        await store.createTrigger({ pipeline: 'tr-b', kind: 'record', reason: 'drift on bike' }, who);
        assert.deepEqual((await store.listTriggers({ pipeline: 'tr-a' })).map((t) => t.id), [api2.trigger.id, api1.trigger.id, first.trigger.id]);
        assert.deepEqual((await store.listTriggers({ pipeline: 'tr-a', oldestFirst: true, limit: 2 })).map((t) => t.id), [first.trigger.id, api1.trigger.id]);
        assert.equal((await store.listTriggers({ pipeline: 'tr-b', status: 'pending' })).length, 1);
        assert.equal((await store.listTriggers({ pipeline: 'tr-b', status: ['running', 'failed'] })).length, 0);
        assert.equal((await store.getTrigger(api1.trigger.id)).kind, 'api');
        await rejectsCode(store.getTrigger(999999), 'TRELLIS_TRIGGER_NOT_FOUND');
        await rejectsCode(store.createTrigger({ pipeline: 'tr-a', kind: 'sometimes' as never }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(store.createTrigger({ pipeline: 'tr-a', kind: 'api', params: { 'bad key': 1 } }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(store.createTrigger({ pipeline: 'tr-a', kind: 'api', params: { x: { nested: true } as never } }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(store.listTriggers({ status: 'done' as never }), 'TRELLIS_INVALID_PARAMETER');
        const events = await store.listAuditEvents({ entityType: 'pipeline_trigger', entityId: String(first.trigger.id) });
        assert.deepEqual(events.map((e) => e.action), ['create_trigger'], 'a deduplicated event writes nothing');
      });

      it('claims pending records once, one at a time per pipeline when exclusive, and updates them by compare-and-set', async () => {
        const ids: number[] = [];
        for (const p of ['cl-a', 'cl-a', 'cl-b']) ids.push((await store.createTrigger({ pipeline: p, kind: 'api' }, who)).trigger.id);
        const [a1, a2, b1] = ids as [number, number, number];
        const claimed = await store.claimTriggers({ claimer: 'sched-1', exclusive: true, limit: 10 }, who);
        const mine = claimed.filter((t) => ids.includes(t.id));
        assert.deepEqual(mine.map((t) => t.id), [a1, b1], 'the oldest of each pipeline');
        assert.ok(mine.every((t) => t.status === 'running' && t.claimedBy === 'sched-1' && t.claimedAt !== undefined));
        assert.deepEqual(await store.claimTriggers({ claimer: 'sched-2', pipeline: 'cl-a', exclusive: true }, who), [], 'cl-a has a running record');
        assert.deepEqual((await store.claimTriggers({ claimer: 'sched-2', ids: [a1] }, who)), [], 'a running record is not pending');
        assert.equal(await store.updateTrigger(a1, { status: 'finished', expectStatus: ['pending'] }, who), undefined, 'the compare failed: nothing written');
        assert.equal((await store.getTrigger(a1)).status, 'running');
        const done = await store.updateTrigger(a1, { status: 'finished', runId: 'r1', version: 3, detail: 'run r1 FINISHED', expectStatus: ['running'] }, who);
        assert.deepEqual([done!.status, done!.runId, done!.version, done!.detail], ['finished', 'r1', 3, 'run r1 FINISHED']);
        const next = await store.claimTriggers({ claimer: 'sched-2', pipeline: 'cl-a', exclusive: true }, who);
        assert.deepEqual(next.map((t) => [t.id, t.claimedBy]), [[a2, 'sched-2']]);
        assert.equal(await store.touchTriggers('sched-2'), 1);
        assert.deepEqual((await store.listTriggers({ claimedBy: 'sched-2', status: 'running' })).map((t) => t.id), [a2]);
        await rejectsCode(store.updateTrigger(999999, { status: 'failed' }, who), 'TRELLIS_TRIGGER_NOT_FOUND');
        await rejectsCode(store.updateTrigger(a2, { status: 'exploded' as never }, who), 'TRELLIS_INVALID_PARAMETER');
        const events = await store.listAuditEvents({ entityType: 'pipeline_trigger', entityId: String(a1) });
        assert.deepEqual(events.map((e) => e.action), ['create_trigger', 'claim_trigger', 'update_trigger']);
        assert.deepEqual(events[2]!.after, { status: 'finished', runId: 'r1', version: 3, detail: 'run r1 FINISHED' });
      });

      it('gives each of 12 pending records to exactly one of 24 concurrent claims', async () => {
        const ids = new Set<number>();
        for (let i = 0; i < 12; i++) ids.add((await store.createTrigger({ pipeline: `race-${i % 3}`, kind: 'api' }, who)).trigger.id);
        const claims = await Promise.all(Array.from({ length: 24 }, (_, i) => store.claimTriggers({ claimer: `c${i}`, limit: 1 }, who)));
        const got = claims.flat().filter((t) => ids.has(t.id)).map((t) => t.id);
        assert.equal(got.length, 12);
        assert.equal(new Set(got).size, 12, 'no record claimed twice');
      });
    });

    describe('audit', () => {
      it('writes an event per change in the same transaction, and the chain verifies', async () => {
        const beforeCount = (await store.listAuditEvents({ limit: 1_000_000 })).length;
        const id = await store.createExperiment({ name: 'audited' }, who);
        const r = await store.createRun({ experimentId: id }, who);
        await store.logBatch(r.info.runId, { metrics: [{ key: 'm', value: 1, timestamp: 1, step: 0 }] }, who);
        await assert.rejects(store.logBatch(r.info.runId, { params: [{ key: 'bad key!', value: '1' }] }, who));
        const events = (await store.listAuditEvents({ limit: 1_000_000 })).slice(beforeCount);
        assert.deepEqual(events.map((e) => e.action), ['create_experiment', 'create_run', 'log_batch']);
        assert.equal(events[0]!.actor, 'alice');
        const all = await store.listAuditEvents({ limit: 1_000_000 });
        const v = verifyAuditChain(all);
        assert.equal(v.ok, true, JSON.stringify(v.firstBad));
        assert.equal(v.checked, all.length);
      });
    });
  });
}
