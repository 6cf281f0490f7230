/**
 * The behaviour every {@link TrackingStore} must show: experiments, runs, what runs log, and run search.
 * Run by each adapter's test with a factory that returns fresh, empty stores.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isTrellisError } from '../../core/errors.js';
import type { AuditLog } from './audit.js';
import { decodeRun, type TrackingStore } from './tracking.js';
import { rejectsCode, useStores, who, type OpenStores } from './test-helpers/contract-helpers.js';

export function describeTrackingStoreContract(name: string, open: OpenStores): void {
  describe(`TrackingStore contract: ${name}`, () => {
    const stores = useStores(open);
    let audit: AuditLog;
    let tracking: TrackingStore;
    before(() => {
      const s = stores();
      audit = s.audit;
      tracking = s.tracking;
    });

    describe('experiments', () => {
      it('has the Default experiment 0', async () => {
        const e = await tracking.getExperiment('0');
        assert.equal(e.name, 'Default');
        assert.equal(e.lifecycleStage, 'active');
        assert.equal((await tracking.getExperimentByName('Default')).experimentId, '0');
      });

      it('creates, renames, tags, deletes and restores', async () => {
        const id = await tracking.createExperiment({ name: 'exp-a', tags: { team: 'x' } }, who);
        const e = await tracking.getExperiment(id);
        assert.equal(e.name, 'exp-a');
        assert.deepEqual(e.tags, { team: 'x' });
        assert.match(e.artifactLocation, new RegExp(`/${id}$`));
        await rejectsCode(tracking.createExperiment({ name: 'exp-a' }, who), 'TRELLIS_EXPERIMENT_EXISTS');
        await tracking.renameExperiment(id, 'exp-b', who);
        assert.equal((await tracking.getExperimentByName('exp-b')).experimentId, id);
        await rejectsCode(tracking.getExperimentByName('exp-a'), 'TRELLIS_EXPERIMENT_NAME_NOT_FOUND');
        await tracking.setExperimentTag(id, 'team', 'y', who);
        await tracking.setExperimentTag(id, 'owner', 'bob', who);
        assert.deepEqual((await tracking.getExperiment(id)).tags, { team: 'y', owner: 'bob' });
        await tracking.deleteExperimentTag(id, 'owner', who);
        await rejectsCode(tracking.deleteExperimentTag(id, 'owner', who), 'TRELLIS_TAG_NOT_FOUND');

        const run = await tracking.createRun({ experimentId: id }, who);
        const ownDeleted = await tracking.createRun({ experimentId: id }, who);
        await tracking.deleteRun(ownDeleted.info.runId, who);
        await tracking.deleteExperiment(id, who);
        assert.equal((await tracking.getExperiment(id)).lifecycleStage, 'deleted');
        assert.equal((await tracking.getRun(run.info.runId)).info.lifecycleStage, 'deleted');
        await rejectsCode(tracking.createRun({ experimentId: id }, who), 'TRELLIS_EXPERIMENT_NOT_ACTIVE');
        await tracking.restoreExperiment(id, who);
        assert.equal((await tracking.getRun(run.info.runId)).info.lifecycleStage, 'active');
        assert.equal((await tracking.getRun(ownDeleted.info.runId)).info.lifecycleStage, 'deleted', 'a run deleted on its own stays deleted');
      });

      it('searches with filter, order and pages', async () => {
        for (const n of ['s-1', 's-2', 's-3']) await tracking.createExperiment({ name: n, tags: { kind: n === 's-2' ? 'odd' : 'even' } }, who);
        const all = await tracking.searchExperiments({ filter: [{ kind: 'attribute', key: 'name', comparator: 'LIKE', value: 's-%' }], orderBy: [{ kind: 'attribute', key: 'name', ascending: false }] });
        assert.deepEqual(all.items.map((e) => e.name), ['s-3', 's-2', 's-1']);
        assert.equal(all.nextPageToken, undefined);
        const tagged = await tracking.searchExperiments({ filter: [{ kind: 'tag', key: 'kind', comparator: '=', value: 'odd' }] });
        assert.deepEqual(tagged.items.map((e) => e.name), ['s-2']);
        const p1 = await tracking.searchExperiments({ filter: [{ kind: 'attribute', key: 'name', comparator: 'LIKE', value: 's-%' }], orderBy: [{ kind: 'attribute', key: 'name', ascending: true }], maxResults: 2 });
        assert.deepEqual(p1.items.map((e) => e.name), ['s-1', 's-2']);
        assert.ok(p1.nextPageToken);
        const p2 = await tracking.searchExperiments({ filter: [{ kind: 'attribute', key: 'name', comparator: 'LIKE', value: 's-%' }], orderBy: [{ kind: 'attribute', key: 'name', ascending: true }], maxResults: 2, pageToken: p1.nextPageToken });
        assert.deepEqual(p2.items.map((e) => e.name), ['s-3']);
        assert.equal(p2.nextPageToken, undefined);
        await rejectsCode(tracking.searchExperiments({ pageToken: 'garbage!' }), 'TRELLIS_PAGE_TOKEN_INVALID');
        // LIKE is case-sensitive, ILIKE is not.
        assert.equal((await tracking.searchExperiments({ filter: [{ kind: 'attribute', key: 'name', comparator: 'LIKE', value: 'S-%' }] })).items.length, 0);
        assert.equal((await tracking.searchExperiments({ filter: [{ kind: 'attribute', key: 'name', comparator: 'ILIKE', value: 'S-%' }] })).items.length, 3);
      });

      it('reports unknown experiments', async () => {
        await rejectsCode(tracking.getExperiment('999999'), 'TRELLIS_EXPERIMENT_NOT_FOUND');
        await rejectsCode(tracking.getExperiment('abc'), 'TRELLIS_EXPERIMENT_NOT_FOUND');
      });

      it('stores names in NFC without surrounding blanks, unique regardless of case, and refuses invisible characters', async () => {
        const id = await tracking.createExperiment({ name: '  Cafe\u0301/Runs ' }, who);
        assert.equal((await tracking.getExperiment(id)).name, 'Caf\u00e9/Runs');
        assert.equal((await tracking.getExperimentByName('Caf\u00e9/Runs')).experimentId, id);
        assert.equal((await tracking.getExperimentByName('Cafe\u0301/Runs ')).experimentId, id);
        const dup = await tracking.createExperiment({ name: 'CAF\u00e9/runs' }, who).then(() => undefined, (e: Error) => e);
        assert.equal((dup as { code?: string })?.code, 'TRELLIS_EXPERIMENT_EXISTS');
        assert.match(dup!.message, /already exists as 'Caf\u00e9\/Runs'/);
        const other = await tracking.createExperiment({ name: 'other-exp' }, who);
        await rejectsCode(tracking.renameExperiment(other, 'caf\u00e9/RUNS', who), 'TRELLIS_EXPERIMENT_EXISTS');
        // A rename to another case of its own name is allowed.
        await tracking.renameExperiment(other, 'Other-Exp', who);
        assert.equal((await tracking.getExperiment(other)).name, 'Other-Exp');
        for (const bad of ['a\u200bb', 'a\u202eb', 'a\u2066b', 'a\u200eb', 'a\ufeffb', 'a\u2060b', 'a\u0007b', 'a\u0085b', '.', '..', ' .. ', 'x'.repeat(257)]) {
          await rejectsCode(tracking.createExperiment({ name: bad }, who), 'TRELLIS_INVALID_PARAMETER');
          await rejectsCode(tracking.renameExperiment(other, bad, who), 'TRELLIS_INVALID_PARAMETER');
        }
        await rejectsCode(tracking.createExperiment({ name: ' \t ' }, who), 'TRELLIS_MISSING_PARAMETER');
      });

      it('creates only one of two names differing by case sent at once', async () => {
        const got = await Promise.allSettled(['Race', 'RACE', 'race', 'rAcE'].map((n) => tracking.createExperiment({ name: n }, who)));
        assert.equal(got.filter((g) => g.status === 'fulfilled').length, 1);
        for (const g of got) if (g.status === 'rejected') assert.equal((g.reason as { code?: string }).code, 'TRELLIS_EXPERIMENT_EXISTS');
      });
    });

    describe('runs', () => {
      let expId: string;
      before(async () => {
        expId = await tracking.createExperiment({ name: 'runs-exp' }, who);
      });

      it('creates a run with a name, user and artifact uri, and syncs mlflow.runName', async () => {
        const r = await tracking.createRun({ experimentId: expId, runName: 'first', userId: 'bob', startTime: 1000, tags: { a: 'b' } }, who);
        assert.equal(r.info.runName, 'first');
        assert.equal(r.info.userId, 'bob');
        assert.equal(r.info.status, 'RUNNING');
        assert.equal(r.info.startTime, 1000);
        assert.equal(r.info.endTime, undefined);
        assert.match(r.info.runId, /^[0-9a-f]{32}$/);
        assert.ok(r.info.artifactUri.endsWith(`/${expId}/${r.info.runId}/artifacts`));
        assert.equal(r.data.tags['mlflow.runName'], 'first');
        const info = await tracking.updateRun(r.info.runId, { status: 'FINISHED', endTime: 2000, runName: 'renamed' }, who);
        assert.equal(info.status, 'FINISHED');
        assert.equal(info.endTime, 2000);
        assert.equal((await tracking.getRun(r.info.runId)).data.tags['mlflow.runName'], 'renamed');
        const generated = await tracking.createRun({ experimentId: expId }, who);
        assert.ok(generated.info.runName.length > 0);
      });

      it('keeps params write-once and metric history, with latest by step, timestamp, value', async () => {
        const r = await tracking.createRun({ experimentId: expId }, who);
        const id = r.info.runId;
        await tracking.logBatch(id, { params: [{ key: 'alpha', value: '0.5' }] }, who);
        await tracking.logBatch(id, { params: [{ key: 'alpha', value: '0.5' }] }, who);
        await rejectsCode(tracking.logBatch(id, { params: [{ key: 'alpha', value: '0.6' }] }, who), 'TRELLIS_PARAM_CHANGED');
        await tracking.logBatch(id, {
          metrics: [
            { key: 'loss', value: 3, timestamp: 10, step: 2 },
            { key: 'loss', value: 1, timestamp: 50, step: 1 },
            { key: 'loss', value: 2, timestamp: 10, step: 2 },
            { key: 'loss', value: 5, timestamp: 5, step: 2 },
          ],
        }, who);
        await tracking.logBatch(id, { metrics: [{ key: 'loss', value: 0.5, timestamp: 11, step: 2 }] }, who);
        const run = await tracking.getRun(id);
        assert.deepEqual(run.data.metrics, [{ key: 'loss', value: 0.5, timestamp: 11, step: 2 }]);
        assert.deepEqual(run.data.params, { alpha: '0.5' });
        const h = await tracking.getMetricHistory(id, 'loss');
        assert.equal(h.items.length, 5);
        assert.deepEqual(h.items.map((m) => m.step), [1, 2, 2, 2, 2]);
        const p = await tracking.getMetricHistory(id, 'loss', { maxResults: 2 });
        assert.equal(p.items.length, 2);
        const p2 = await tracking.getMetricHistory(id, 'loss', { maxResults: 10, pageToken: p.nextPageToken });
        assert.equal(p2.items.length, 3);
      });

      it('stores NaN and infinities', async () => {
        const r = await tracking.createRun({ experimentId: expId }, who);
        await tracking.logBatch(r.info.runId, {
          metrics: [
            { key: 'nan', value: Number.NaN, timestamp: 1, step: 0 },
            { key: 'inf', value: Number.POSITIVE_INFINITY, timestamp: 1, step: 0 },
            { key: 'ninf', value: Number.NEGATIVE_INFINITY, timestamp: 1, step: 0 },
          ],
        }, who);
        const m = Object.fromEntries((await tracking.getRun(r.info.runId)).data.metrics.map((x) => [x.key, x.value]));
        assert.ok(Number.isNaN(m.nan));
        assert.equal(m.inf, Number.POSITIVE_INFINITY);
        assert.equal(m.ninf, Number.NEGATIVE_INFINITY);
        assert.ok(Number.isNaN((await tracking.getMetricHistory(r.info.runId, 'nan')).items[0]!.value));
      });

      it('reads metrics, params and tags in code-point order of their keys', async () => {
        const r = await tracking.createRun({ experimentId: expId }, who);
        const keys = ['b', 'B', 'a_1', 'A:2', 'a', 'a/b'];
        await tracking.logBatch(r.info.runId, {
          metrics: keys.map((key, i) => ({ key, value: i, timestamp: 1, step: 0 })),
          params: keys.map((key) => ({ key, value: key })),
          tags: keys.map((key) => ({ key, value: key })),
        }, who);
        const sorted = ['A:2', 'B', 'a', 'a/b', 'a_1', 'b'];
        const run = await tracking.getRun(r.info.runId);
        assert.deepEqual(run.data.metrics.map((m) => m.key), sorted);
        assert.deepEqual(Object.keys(run.data.params), sorted);
        assert.deepEqual(Object.keys(run.data.tags), ['A:2', 'B', 'a', 'a/b', 'a_1', 'b', 'mlflow.runName']);
      });

      it('keeps a tag value of 5,000 bytes that do not compress', async () => {
        const r = await tracking.createRun({ experimentId: expId }, who);
        let value = '';
        for (let x = 7; value.length < 5000; x = (x * 48271) % 2147483647) value += String.fromCharCode(33 + (x % 94));
        await tracking.logBatch(r.info.runId, { tags: [{ key: 'mlflow.note.content', value }] }, who);
        assert.equal((await tracking.getRun(r.info.runId)).data.tags['mlflow.note.content'], value);
      });

      it('refuses an over-limit batch and writes nothing of it', async () => {
        const r = await tracking.createRun({ experimentId: expId }, who);
        const metrics = Array.from({ length: 1001 }, (_, i) => ({ key: `m${i}`, value: i, timestamp: 1, step: 0 }));
        await rejectsCode(tracking.logBatch(r.info.runId, { metrics }, who), 'TRELLIS_LIMIT_EXCEEDED');
        const params = Array.from({ length: 101 }, (_, i) => ({ key: `p${i}`, value: 'v' }));
        await rejectsCode(tracking.logBatch(r.info.runId, { params }, who), 'TRELLIS_LIMIT_EXCEEDED');
        // A batch that fails half-way (second param changes a value) leaves nothing behind.
        await tracking.logBatch(r.info.runId, { params: [{ key: 'fixed', value: '1' }] }, who);
        await rejectsCode(tracking.logBatch(r.info.runId, {
          metrics: [{ key: 'partial', value: 1, timestamp: 1, step: 0 }],
          params: [{ key: 'new', value: 'x' }, { key: 'fixed', value: '2' }],
        }, who), 'TRELLIS_PARAM_CHANGED');
        const run = await tracking.getRun(r.info.runId);
        assert.deepEqual(run.data.metrics, []);
        assert.deepEqual(run.data.params, { fixed: '1' });
        await rejectsCode(tracking.logBatch(r.info.runId, { params: [{ key: '../x', value: '1' }] }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(tracking.logBatch(r.info.runId, { params: [{ key: 'big', value: 'x'.repeat(6001) }] }, who), 'TRELLIS_INVALID_PARAMETER');
        // A key that a JavaScript object cannot hold would be stored and then never shown.
        await rejectsCode(tracking.logBatch(r.info.runId, { tags: [{ key: '__proto__', value: '1' }] }, who), 'TRELLIS_INVALID_PARAMETER');
      });

      it('refuses writes to a deleted run and restores it', async () => {
        const r = await tracking.createRun({ experimentId: expId }, who);
        await tracking.deleteRun(r.info.runId, who);
        await assert.rejects(tracking.logBatch(r.info.runId, { tags: [{ key: 'a', value: 'b' }] }, who), (e) =>
          isTrellisError(e, 'TRELLIS_RUN_NOT_ACTIVE') && e.message === `The run ${r.info.runId} must be in the 'active' state. Current state is deleted.`);
        await rejectsCode(tracking.updateRun(r.info.runId, { status: 'FAILED' }, who), 'TRELLIS_RUN_NOT_ACTIVE');
        assert.equal((await tracking.getRun(r.info.runId)).info.lifecycleStage, 'deleted');
        await tracking.restoreRun(r.info.runId, who);
        await tracking.logBatch(r.info.runId, { tags: [{ key: 'a', value: 'b' }] }, who);
        await tracking.deleteRunTag(r.info.runId, 'a', who);
        await rejectsCode(tracking.deleteRunTag(r.info.runId, 'a', who), 'TRELLIS_TAG_NOT_FOUND');
        await rejectsCode(tracking.getRun('0'.repeat(32)), 'TRELLIS_RUN_NOT_FOUND');
        assert.deepEqual(await tracking.getRunInfo(r.info.runId), (await tracking.getRun(r.info.runId)).info);
        await rejectsCode(tracking.getRunInfo('0'.repeat(32)), 'TRELLIS_RUN_NOT_FOUND');
      });

      it('records dataset inputs', async () => {
        const r = await tracking.createRun({ experimentId: expId }, who);
        await tracking.logInputs(r.info.runId, [{ dataset: { name: 'bike', digest: 'abc', sourceType: 'local', source: '{"uri":"x.csv"}' }, tags: { 'mlflow.data.context': 'training' } }], who);
        const run = await tracking.getRun(r.info.runId);
        assert.deepEqual(run.inputs.datasetInputs, [{ dataset: { name: 'bike', digest: 'abc', sourceType: 'local', source: '{"uri":"x.csv"}' }, tags: { 'mlflow.data.context': 'training' } }]);
        const found = await tracking.searchRuns({ experimentIds: [expId], filter: [{ kind: 'dataset', key: 'name', comparator: '=', value: 'bike' }] });
        assert.deepEqual(found.items.map((x) => x.info.runId), [r.info.runId]);
        // A search reads the page's runs in one statement and their inputs only where they have some.
        assert.deepEqual(found.items[0], run);
        const everything = await tracking.searchRuns({ experimentIds: [expId], viewType: 'ALL', maxResults: 1000 });
        for (const x of everything.items) assert.deepEqual(x, await tracking.getRun(x.info.runId));
        const ctx = await tracking.searchRuns({ experimentIds: [expId], filter: [{ kind: 'dataset', key: 'context', comparator: '=', value: 'training' }] });
        assert.deepEqual(ctx.items.map((x) => x.info.runId), [r.info.runId]);
      });
    });

    describe('values at their size limits', () => {
      // Random text compresses badly: a store that indexes whole values (PostgreSQL's b-tree entries
      // hold at most 2,704 bytes) refuses it. Each value is as long as the limits allow.
      const random = (chars: number) => randomBytes(chars).toString('base64').slice(0, chars);
      const base = random(6000);
      const values = {
        first: base,
        sameStart: `${base.slice(0, 5999)}${base.endsWith('A') ? 'B' : 'A'}`,
        accents: 'é'.repeat(3000),
        short: 'a',
        early: `${base.slice(0, 100)}~`,
      };
      let expId: string;
      const run: Record<string, string> = {};
      before(async () => {
        expId = await tracking.createExperiment({ name: 'long-values' }, who);
        for (const [name, value] of Object.entries(values)) {
          const r = await tracking.createRun({ experimentId: expId, runName: name }, who);
          await tracking.logBatch(r.info.runId, { params: [{ key: 'long', value }], tags: [{ key: 'note', value: random(5000) }] }, who);
          run[name] = r.info.runId;
        }
      });

      it('stores and reads them back', async () => {
        for (const [name, value] of Object.entries(values)) {
          const r = await tracking.getRun(run[name]!);
          assert.equal(r.data.params.long, value);
          assert.equal(r.data.tags.note?.length, 5000);
        }
        const tag = random(20000);
        await tracking.setExperimentTag(expId, 'long', tag, who);
        assert.equal((await tracking.getExperiment(expId)).tags.long, tag);
      });

      it('finds them by value and orders them in code-point order', async () => {
        const search = async (q: Partial<Parameters<TrackingStore['searchRuns']>[0]>) =>
          (await tracking.searchRuns({ experimentIds: [expId], ...q })).items.map((x) => x.info.runName);
        const param = (comparator: '=' | '>' | '>=' | '<' | '<=' | 'IN', value: string | string[]) => [{ kind: 'param' as const, key: 'long', comparator, value }];
        const byValue = Object.entries(values).sort(([, a], [, b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name]) => name);
        for (const [name, value] of Object.entries(values)) {
          assert.deepEqual(await search({ filter: param('=', value) }), [name]);
          const ordered = { orderBy: [{ kind: 'param' as const, key: 'long', ascending: true }] };
          assert.deepEqual(await search({ filter: param('>', value), ...ordered }), byValue.filter((n) => values[n as keyof typeof values] > value));
          assert.deepEqual(await search({ filter: param('>=', value), ...ordered }), byValue.filter((n) => values[n as keyof typeof values] >= value));
          assert.deepEqual(await search({ filter: param('<', value), ...ordered }), byValue.filter((n) => values[n as keyof typeof values] < value));
          assert.deepEqual(await search({ filter: param('<=', value), ...ordered }), byValue.filter((n) => values[n as keyof typeof values] <= value));
        }
        assert.deepEqual((await search({ filter: param('IN', [values.sameStart, values.short]) })).sort(), ['sameStart', 'short']);
        assert.deepEqual(await search({ orderBy: [{ kind: 'param', key: 'long', ascending: true }] }), byValue);
        assert.deepEqual(await search({ orderBy: [{ kind: 'param', key: 'long', ascending: false }] }), [...byValue].reverse());
      });
    });

    describe('run search', () => {
      let expId: string;
      const ids: string[] = [];
      before(async () => {
        expId = await tracking.createExperiment({ name: 'search-exp' }, who);
        for (let i = 0; i < 6; i++) {
          const r = await tracking.createRun({ experimentId: expId, runName: `run-${i}`, startTime: 1000 + i }, who);
          ids.push(r.info.runId);
          const metrics = [{ key: 'rmse', value: 10 - i, timestamp: 1, step: 0 }];
          if (i % 2 === 0) metrics.push({ key: 'acc', value: i / 10, timestamp: 1, step: 0 });
          await tracking.logBatch(r.info.runId, { metrics, params: [{ key: 'alpha', value: String(i % 3) }], tags: [{ key: 'team', value: i < 3 ? 'Red' : 'blue' }] }, who);
        }
        await tracking.updateRun(ids[5]!, { status: 'FINISHED', endTime: 5000 }, who);
        await tracking.deleteRun(ids[4]!, who);
      });

      it('defaults to start_time DESC over active runs', async () => {
        const r = await tracking.searchRuns({ experimentIds: [expId] });
        assert.deepEqual(r.items.map((x) => x.info.runName), ['run-5', 'run-3', 'run-2', 'run-1', 'run-0']);
        const del = await tracking.searchRuns({ experimentIds: [expId], viewType: 'DELETED_ONLY' });
        assert.deepEqual(del.items.map((x) => x.info.runName), ['run-4']);
        assert.equal((await tracking.searchRuns({ experimentIds: [expId], viewType: 'ALL' })).items.length, 6);
      });

      it('filters by metric, param, tag and attribute', async () => {
        const names = async (filter: Parameters<TrackingStore['searchRuns']>[0]['filter']) =>
          (await tracking.searchRuns({ experimentIds: [expId], filter, orderBy: [{ kind: 'attribute', key: 'start_time', ascending: true }] })).items.map((x) => x.info.runName);
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
        const byAcc = await tracking.searchRuns({ experimentIds: [expId], orderBy: [{ kind: 'metric', key: 'acc', ascending: false }] });
        assert.deepEqual(byAcc.items.map((x) => x.info.runName), ['run-2', 'run-0', 'run-5', 'run-3', 'run-1']);
        const byAccAsc = await tracking.searchRuns({ experimentIds: [expId], orderBy: [{ kind: 'metric', key: 'acc', ascending: true }] });
        assert.deepEqual(byAccAsc.items.map((x) => x.info.runName).slice(0, 2), ['run-0', 'run-2']);
        const seen: string[] = [];
        let token: string | undefined;
        do {
          const page = await tracking.searchRuns({ experimentIds: [expId], orderBy: [{ kind: 'metric', key: 'rmse', ascending: true }], maxResults: 2, pageToken: token });
          seen.push(...page.items.map((x) => x.info.runName));
          token = page.nextPageToken;
        } while (token);
        assert.deepEqual(seen, ['run-5', 'run-3', 'run-2', 'run-1', 'run-0']);
        // Pages that cross from runs with the order key to runs without it, at every page size.
        for (const size of [1, 2, 3, 4]) {
          const names: string[] = [];
          let t: string | undefined;
          do {
            const page = await tracking.searchRuns({ experimentIds: [expId], orderBy: [{ kind: 'metric', key: 'acc', ascending: false }, { kind: 'param', key: 'alpha', ascending: true }], maxResults: size, pageToken: t });
            names.push(...page.items.map((x) => x.info.runName));
            t = page.nextPageToken;
          } while (t);
          assert.deepEqual(names, ['run-2', 'run-0', 'run-3', 'run-1', 'run-5'], `page size ${size}`);
        }
        const filtered = await tracking.searchRuns({ experimentIds: [expId], filter: [{ kind: 'tag', key: 'team', comparator: '=', value: 'Red' }], orderBy: [{ kind: 'param', key: 'alpha', ascending: false }] });
        assert.deepEqual(filtered.items.map((x) => x.info.runName), ['run-2', 'run-1', 'run-0']);
        await rejectsCode(tracking.searchRuns({ experimentIds: [expId], maxResults: 50001 }), 'TRELLIS_INVALID_PARAMETER');
      });

      it('gives each run encoded as the run it decodes to, NaN and infinities as protobuf strings', async () => {
        const r = await tracking.createRun({ experimentId: expId, runName: 'encoded' }, who);
        await tracking.logBatch(r.info.runId, {
          metrics: [{ key: 'nan', value: Number.NaN, timestamp: 1, step: 0 }, { key: 'inf', value: Number.POSITIVE_INFINITY, timestamp: 1, step: 0 },
            { key: 'ninf', value: Number.NEGATIVE_INFINITY, timestamp: 1, step: 0 }, { key: 'x', value: 0.1, timestamp: 2, step: 3 }],
          params: [{ key: 'quote', value: 'a "quoted" \\ value\n\u0001 é 😀' }],
        }, who);
        const all = { experimentIds: [expId], viewType: 'ALL' as const, maxResults: 100 };
        const [plain, encoded] = await Promise.all([tracking.searchRuns(all), tracking.searchRunsEncoded(all)]);
        assert.deepEqual(encoded.items.map(decodeRun), plain.items);
        const e = encoded.items.find((x) => x.info.runId === r.info.runId)!;
        assert.deepEqual(JSON.parse(e.data.metrics), [
          { key: 'inf', value: 'Infinity', timestamp: 1, step: 0 }, { key: 'nan', value: 'NaN', timestamp: 1, step: 0 },
          { key: 'ninf', value: '-Infinity', timestamp: 1, step: 0 }, { key: 'x', value: 0.1, timestamp: 2, step: 3 },
        ]);
        assert.deepEqual(JSON.parse(e.data.params), [{ key: 'quote', value: 'a "quoted" \\ value\n\u0001 é 😀' }]);
        assert.deepEqual(JSON.parse(e.data.tags), [{ key: 'mlflow.runName', value: 'encoded' }]);
      });

      it('finds the same runs whether a filter is read once as a set or checked run by run', async () => {
        // An adapter may plan a selective filter differently from a broad one (the SQL adapter reads
        // a filter matching fewer than 20 runs per row wanted into a set): a first page of one row
        // and a page of all rows take different plans over the same 45 matches.
        const exp = await tracking.createExperiment({ name: 'set-or-probe' }, who);
        const want: { id: string; m: number }[] = [];
        for (let i = 0; i < 60; i++) {
          const run = await tracking.createRun({ experimentId: exp, startTime: 1000 + i }, who);
          const m = ((i * 37) % 60) / 60;
          const n = (i * 7) % 60;
          await tracking.logBatch(run.info.runId, { metrics: [{ key: 'm', value: m, timestamp: 1, step: 0 }, { key: 'n', value: n, timestamp: 1, step: 0 }], params: [{ key: 'p', value: String(i % 4) }] }, who);
          if (n < 45) want.push({ id: run.info.runId, m });
        }
        want.sort((a, b) => b.m - a.m);
        const q = { experimentIds: [exp], filter: [{ kind: 'metric' as const, key: 'n', comparator: '<' as const, value: 45 }], orderBy: [{ kind: 'metric' as const, key: 'm', ascending: false }] };
        const first = await tracking.searchRuns({ ...q, maxResults: 1 });
        const whole = await tracking.searchRuns({ ...q, maxResults: 100 });
        assert.deepEqual(first.items.map((x) => x.info.runId), [want[0]!.id]);
        assert.deepEqual(whole.items.map((x) => x.info.runId), want.map((w) => w.id));
        const paged: string[] = [];
        let token: string | undefined;
        do {
          const page = await tracking.searchRuns({ ...q, maxResults: 7, pageToken: token });
          paged.push(...page.items.map((x) => x.info.runId));
          token = page.nextPageToken;
        } while (token);
        assert.deepEqual(paged, want.map((w) => w.id));
        const withParam = await tracking.searchRuns({ ...q, filter: [...q.filter, { kind: 'param', key: 'p', comparator: '!=', value: '0' }], maxResults: 1 });
        assert.equal(withParam.items.length, 1);
      });
    });


    describe('experiments and their runs', () => {
      it('deletes and restores an experiment with its runs in one change, counted in its one audit event', async () => {
        const id = await tracking.createExperiment({ name: 'with-runs' }, who);
        const runs = await Promise.all([0, 1, 2].map(() => tracking.createRun({ experimentId: id }, who)));
        await tracking.deleteRun(runs[2]!.info.runId, who);
        await tracking.deleteExperiment(id, who);
        await tracking.deleteExperiment(id, who);
        await tracking.restoreExperiment(id, who);
        const events = await audit.listAuditEvents({ entityType: 'experiment', entityId: id });
        assert.deepEqual(events.map((e) => [e.action, e.after]), [
          ['create_experiment', { name: 'with-runs', artifactLocation: (await tracking.getExperiment(id)).artifactLocation, tags: {} }],
          ['delete_experiment', { lifecycleStage: 'deleted', runsDeleted: 2 }],
          ['restore_experiment', { lifecycleStage: 'active', runsRestored: 2 }],
        ], 'deleting a deleted experiment changes nothing and writes no event');
        const states = await Promise.all(runs.map(async (r) => (await tracking.getRun(r.info.runId)).info.lifecycleStage));
        assert.deepEqual(states, ['active', 'active', 'deleted']);
        // The runs' own audit trail is untouched by the experiment's: their state moved with it.
        assert.deepEqual((await audit.listAuditEvents({ entityType: 'run', entityId: runs[0]!.info.runId })).map((e) => e.action), ['create_run']);
      });

      it('keeps a deleted experiment\'s runs out of reach of writes until it is restored', async () => {
        const id = await tracking.createExperiment({ name: 'frozen' }, who);
        const run = await tracking.createRun({ experimentId: id }, who);
        await tracking.deleteExperiment(id, who);
        await rejectsCode(tracking.logBatch(run.info.runId, { tags: [{ key: 'a', value: 'b' }] }, who), 'TRELLIS_RUN_NOT_ACTIVE');
        await rejectsCode(tracking.setExperimentTag(id, 'a', 'b', who), 'TRELLIS_EXPERIMENT_NOT_ACTIVE');
        await tracking.restoreExperiment(id, who);
        await tracking.logBatch(run.info.runId, { tags: [{ key: 'a', value: 'b' }] }, who);
        assert.equal((await tracking.getRun(run.info.runId)).data.tags.a, 'b');
      });
    });

  });
}
