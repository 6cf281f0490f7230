/**
 * The behaviour every {@link PipelineRunStore} must show: pipeline runs, step runs, the cache
 * lookup, lineage edges and step leases. Run by each adapter's test with a factory that opens two
 * stores over one fresh database — two connections, as two workers on two machines would hold —
 * both reading time from the clock it is given.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock } from '../../core/clock.js';
import { isTrellisError, type ErrorCode } from '../../core/errors.js';
import type { PipelineRunStore, StepOutputRecord } from './pipelines.js';

const who = { actor: 'engine' };
const sha = (c: string) => c.repeat(64);
let seq = 0;
const newId = (prefix: string) => `${prefix}${(++seq).toString(16).padStart(8, '0')}${Math.random().toString(16).slice(2, 10)}`;

export interface PipelineRunStoreFixture {
  /** Two stores over the same database, on separate connections. */
  a: PipelineRunStore;
  b: PipelineRunStore;
  /** How many audit events the database holds. */
  auditCount(): Promise<number>;
  close(): Promise<void>;
}

async function rejectsCode(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isTrellisError(e), `expected a TrellisError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

const output = (run: string, name: string, c: string): StepOutputRecord => ({ type: 'Dataset', sha256: sha(c), run, name, kind: 'file' });

export function describePipelineRunStoreContract(name: string, open: (clock: Clock) => Promise<PipelineRunStoreFixture>): void {
  describe(`PipelineRunStore contract: ${name}`, () => {
    let t = 1_800_000_000_000;
    const clock: Clock = { now: () => t };
    let f: PipelineRunStoreFixture;
    before(async () => {
      f = await open(clock);
    });
    after(async () => f.close());

    const pipelineRun = async (store: PipelineRunStore = f.a, o: { experimentId?: string; noCache?: boolean } = {}) => store.createPipelineRun({
      id: newId('p'), pipeline: 'demo', pipelineVersion: '1', irHash: sha('1'), experimentId: o.experimentId ?? '1',
      params: { trees: 5, dataset: 'demo@latest', fast: true }, baseDir: '/work', noCache: o.noCache, runner: { host: 'h1', pid: 42 },
    }, who);
    const stepRun = async (pipelineRunId: string | null, step: string, o: { key?: string; experimentId?: string } = {}) => f.a.startStepRun({
      id: newId('s'), pipelineRunId, experimentId: o.experimentId ?? '1', step, component: `${step}@1`,
      cacheKey: o.key, keyParts: o.key ? { engine: '1', scalars: { trees: 5 } } : undefined,
    }, who);

    describe('pipeline runs', () => {
      it('records a run RUNNING, reads it back, ends it once', async () => {
        const p = await pipelineRun();
        assert.equal(p.status, 'RUNNING');
        assert.deepEqual(p.params, { trees: 5, dataset: 'demo@latest', fast: true });
        assert.deepEqual(p.runner, { host: 'h1', pid: 42, heartbeatAt: t, epoch: 1 });
        assert.equal(p.mlflowRunId, p.id);
        assert.equal(p.edgesComplete, true);
        assert.deepEqual(await f.b.getPipelineRun(p.id), p);
        const ended = await f.a.endPipelineRun(p.id, { status: 'FAILED', failedStep: 'train', error: 'boom', skipped: ['evaluate'] }, who);
        assert.equal(ended?.status, 'FAILED');
        assert.equal(ended?.failedStep, 'train');
        assert.deepEqual(ended?.skipped, ['evaluate']);
        assert.equal(ended?.endTime, t);
        assert.equal(await f.a.endPipelineRun(p.id, { status: 'FINISHED' }, who), undefined, 'an ended run is not ended again');
        assert.equal((await f.a.getPipelineRun(p.id)).status, 'FAILED');
      });

      it('names what is missing or wrong', async () => {
        await rejectsCode(f.a.getPipelineRun('nope'), 'TRELLIS_PIPELINE_RUN_NOT_FOUND', /No pipeline run with id nope/);
        await rejectsCode(f.a.createPipelineRun({ id: '', pipeline: 'x', pipelineVersion: '1', irHash: 'h', experimentId: '1', params: {}, baseDir: '', runner: { host: '', pid: 0 } }, who), 'TRELLIS_MISSING_PARAMETER');
        await rejectsCode(f.a.createPipelineRun({ id: newId('p'), pipeline: 'x', pipelineVersion: '1', irHash: 'h', experimentId: '1', params: { n: Number.NaN }, baseDir: '', runner: { host: '', pid: 0 } }, who),
          'TRELLIS_INVALID_PARAMETER', /parameter 'n'/);
        const p = await pipelineRun();
        await rejectsCode(f.a.endPipelineRun(p.id, { status: 'RUNNING' as 'FINISHED' }, who), 'TRELLIS_INVALID_PARAMETER', /end status/);
      });

      it('lets one of two runners resume a run (compare-and-set on the runner epoch); the replaced runner can neither touch nor end it', async () => {
        const p = await pipelineRun();
        assert.equal(await f.a.touchPipelineRun(p.id, 1), true);
        const [x, y] = await Promise.all([
          f.a.resumePipelineRun(p.id, { runner: { host: 'h2', pid: 7 }, expectEpoch: 1 }, who),
          f.b.resumePipelineRun(p.id, { runner: { host: 'h3', pid: 8 }, expectEpoch: 1 }, who),
        ]);
        assert.equal([x, y].filter(Boolean).length, 1, 'exactly one resume wins');
        const won = (x ?? y)!;
        assert.equal(won.runner.epoch, 2);
        assert.equal(won.resumedAt, t);
        assert.equal(await f.a.touchPipelineRun(p.id, 1), false, 'the replaced runner is told');
        assert.equal(await f.a.endPipelineRun(p.id, { status: 'FINISHED', epoch: 1 }, who), undefined);
        assert.equal((await f.a.endPipelineRun(p.id, { status: 'FINISHED', epoch: 2 }, who))?.status, 'FINISHED');
        // A run that ended (FAILED, KILLED) is resumed the same way.
        const again = await f.b.resumePipelineRun(p.id, { runner: { host: 'h4', pid: 9 }, expectEpoch: 2 }, who);
        assert.equal(again?.status, 'RUNNING');
        assert.equal(again?.endTime, undefined);
      });

      it('lists runs newest first, by pipeline, status and edge completeness', async () => {
        t += 10;
        const p = await pipelineRun();
        const list = await f.b.listPipelineRuns({ pipeline: 'demo', status: 'RUNNING' });
        assert.equal(list[0]?.id, p.id);
        assert.ok(list.every((r) => r.status === 'RUNNING' && r.pipeline === 'demo'));
        assert.deepEqual(await f.b.listPipelineRuns({ edgesComplete: false }), []);
      });

      it('lists runs last ended first, in an experiment, ended after a time', async () => {
        // Started in one order, ended in another; one still running, one in another experiment.
        const started: string[] = [];
        for (const experimentId of ['7', '7', '7', '8', '7']) {
          t += 10;
          started.push((await pipelineRun(f.a, { experimentId })).id);
        }
        const [a, b, c, other, running] = started as [string, string, string, string, string];
        for (const id of [b, other, c, a]) {
          t += 10;
          await f.a.endPipelineRun(id, { status: 'FINISHED' }, who);
        }
        const ids = async (q: Parameters<PipelineRunStore['listPipelineRuns']>[0]) => (await f.b.listPipelineRuns({ pipeline: 'demo', ...q })).map((r) => r.id);
        assert.deepEqual(await ids({ experimentId: '7', order: 'ended' }), [a, c, b, running]);
        assert.deepEqual(await ids({ experimentId: '7', status: 'FINISHED', order: 'ended', limit: 1 }), [a]);
        const bEnd = (await f.b.getPipelineRun(b)).endTime!;
        assert.deepEqual(await ids({ experimentId: '7', endedAfter: bEnd, order: 'ended' }), [a, c]);
        assert.deepEqual(await ids({ experimentId: '8' }), [other]);
        await assert.rejects(f.b.listPipelineRuns({ order: 'sideways' as 'ended' }), /Invalid order 'sideways'/);
      });
    });

    describe('step runs and the cache', () => {
      it('starts, finishes once, and counts attempts of a step within its pipeline run', async () => {
        const p = await pipelineRun();
        const s = await stepRun(p.id, 'train', { key: sha('f') });
        assert.equal(s.status, 'RUNNING');
        assert.equal(s.attempt, 1);
        assert.equal(s.outputs, null);
        assert.deepEqual(s.keyParts, { engine: '1', scalars: { trees: 5 } });
        const done = await f.a.finishStepRun(s.id, { outputs: { model: output(s.id, 'model', 'e') }, metrics: { rmse: 1.5 } }, who);
        assert.equal(done?.status, 'FINISHED');
        assert.deepEqual(done?.metrics, { rmse: 1.5 });
        assert.equal(done?.outputs?.model?.sha256, sha('e'));
        assert.equal(await f.a.finishStepRun(s.id, { outputs: {}, metrics: {} }, who), undefined, 'a finished step is not finished again');
        assert.equal(await f.a.failStepRun(s.id, { status: 'FAILED', error: 'late' }, who), undefined, 'nor failed after it finished');
        const second = await stepRun(p.id, 'train');
        assert.equal(second.attempt, 2);
        const failed = await f.a.failStepRun(second.id, { status: 'KILLED', error: 'cancelled' }, who);
        assert.equal(failed?.status, 'KILLED');
        assert.equal(failed?.error, 'cancelled');
        assert.deepEqual((await f.b.listStepRuns({ pipelineRunId: p.id, oldestFirst: true })).map((r) => r.attempt), [1, 2]);
      });

      it('refuses bad outputs and metrics, naming the field', async () => {
        const s = await stepRun(null, 'solo');
        await rejectsCode(f.a.finishStepRun(s.id, { outputs: { x: { ...output(s.id, 'x', 'a'), sha256: 'abc' } }, metrics: {} }, who), 'TRELLIS_INVALID_PARAMETER', /output 'x'.*sha256/);
        await rejectsCode(f.a.finishStepRun(s.id, { outputs: {}, metrics: { auc: Number.POSITIVE_INFINITY } }, who), 'TRELLIS_INVALID_PARAMETER', /metric 'auc'/);
        await rejectsCode(f.a.startStepRun({ id: newId('s'), pipelineRunId: 'missing', experimentId: '1', step: 'x', component: 'x@1' }, who), 'TRELLIS_PIPELINE_RUN_NOT_FOUND');
        await rejectsCode(f.a.getStepRun('nope'), 'TRELLIS_STEP_RUN_NOT_FOUND');
        assert.equal((await f.a.getStepRun(s.id)).status, 'RUNNING', 'a refused finish changes nothing');
      });

      it('finds the newest executed, finished step run with the key in the experiment, and nothing else', async () => {
        const key = sha('c');
        const p = await pipelineRun();
        assert.equal(await f.a.findCacheEntry('1', key), undefined);
        t += 10;
        const old = await stepRun(p.id, 'split', { key });
        await f.a.finishStepRun(old.id, { outputs: { train: output(old.id, 'train', 'a') }, metrics: {} }, who);
        t += 10;
        const newer = await stepRun(p.id, 'split', { key });
        await f.a.finishStepRun(newer.id, { outputs: { train: output(newer.id, 'train', 'b') }, metrics: { n: 3 } }, who);
        t += 10;
        const failed = await stepRun(p.id, 'split', { key });
        await f.a.failStepRun(failed.id, { status: 'FAILED', error: 'x' }, who);
        await stepRun(p.id, 'split', { key }); // still running
        await stepRun(p.id, 'split', { key, experimentId: '2' }).then((s) => f.a.finishStepRun(s.id, { outputs: {}, metrics: {} }, who));
        t += 10;
        // A cache hit names its source and is not a cache entry itself.
        const hit = await f.a.recordCachedStepRun({
          id: newId('s'), pipelineRunId: p.id, experimentId: '1', step: 'split', component: 'split@1', cacheKey: key, cacheSource: newer.id,
          outputs: { train: output(newer.id, 'train', 'b') }, metrics: { n: 3 },
        }, who);
        assert.equal(hit.status, 'FINISHED');
        assert.equal(hit.cached, true);
        assert.equal(hit.cacheSource, newer.id);
        const found = await f.b.findCacheEntry('1', key);
        assert.equal(found?.id, newer.id);
        assert.deepEqual(found?.metrics, { n: 3 });
        assert.equal((await f.b.findCacheEntry('1', key, { notBefore: t + 1 })), undefined, 'older than the time-to-live allows');
        assert.deepEqual((await f.b.listStepRuns({ cacheSource: newer.id })).map((r) => r.id), [hit.id]);
        assert.deepEqual((await f.b.listStepRuns({ experimentId: '1', step: 'split' })).slice(0, 1).map((r) => r.id), [hit.id], 'newest first');
      });
    });

    describe('lineage edges', () => {
      it('records what a step consumed and produced, and finds it by ref, holder and sha256', async () => {
        const p = await pipelineRun();
        const ingest = await f.a.startStepRun({
          id: newId('s'), pipelineRunId: p.id, experimentId: '1', step: 'ingest', component: 'ingest@1',
          edges: [{ role: 'input', name: 'dataset', kind: 'dataset', ref: 'demo@3' }],
        }, who);
        await f.a.finishStepRun(ingest.id, { outputs: { data: output(ingest.id, 'data', 'd') }, metrics: {} }, who);
        const train = await f.a.startStepRun({
          id: newId('s'), pipelineRunId: p.id, experimentId: '1', step: 'train', component: 'train@1',
          edges: [{ role: 'input', name: 'data', kind: 'step', ref: ingest.id, output: 'data', holder: ingest.id, sha256: sha('d') }],
        }, who);
        await f.a.finishStepRun(train.id, {
          outputs: { model: output(train.id, 'model', '7') }, metrics: {},
          edges: [{ role: 'output', name: 'registration', kind: 'model', ref: 'demo/2' }],
        }, who);
        assert.deepEqual((await f.b.listStepEdges({ kind: 'dataset', ref: 'demo@3' })).map((e) => [e.stepRunId, e.role, e.name]), [[ingest.id, 'input', 'dataset']]);
        assert.deepEqual((await f.b.listStepEdges({ kind: 'step', ref: ingest.id })).map((e) => [e.stepRunId, e.output]), [[train.id, 'data']]);
        assert.deepEqual((await f.b.listStepEdges({ role: 'input', holder: ingest.id })).map((e) => e.stepRunId), [train.id]);
        assert.deepEqual((await f.b.listStepEdges({ role: 'output', sha256: sha('7') })).map((e) => [e.stepRunId, e.kind, e.ref]), [[train.id, 'artifact', train.id]]);
        assert.deepEqual((await f.b.listStepEdges({ kind: 'model', ref: 'demo/2' })).map((e) => e.stepRunId), [train.id]);
        assert.equal((await f.b.listStepEdges({ stepRunIds: [train.id] })).length, 3);
        await rejectsCode(f.a.listStepEdges({}), 'TRELLIS_INVALID_PARAMETER', /needs/);
        await rejectsCode(f.a.startStepRun({ id: newId('s'), pipelineRunId: p.id, experimentId: '1', step: 'x', component: 'x@1', edges: [{ role: 'input', name: 'a', kind: 'table' as 'file', ref: 'r' }] }, who),
          'TRELLIS_INVALID_PARAMETER', /'kind' must be one of/);
      });

      it('completes the edges of a run once, refusing edges of steps that are not its own', async () => {
        const p = await pipelineRun();
        const s = await stepRun(p.id, 'register');
        const other = await stepRun(null, 'other');
        await rejectsCode(f.a.completePipelineRunEdges(p.id, [{ stepRunId: other.id, role: 'output', name: 'registration', kind: 'model', ref: 'm/1' }]), 'TRELLIS_INVALID_PARAMETER', /is not a step of pipeline run/);
        await f.a.completePipelineRunEdges(p.id, [{ stepRunId: s.id, role: 'output', name: 'registration', kind: 'model', ref: 'm/1' }]);
        await f.a.completePipelineRunEdges(p.id, [{ stepRunId: s.id, role: 'output', name: 'registration', kind: 'model', ref: 'm/1' }]);
        assert.equal((await f.b.listStepEdges({ stepRunIds: [s.id] })).length, 1);
        assert.equal((await f.b.getPipelineRun(p.id)).edgesComplete, true);
      });
    });

    describe('step leases', () => {
      it('claims, keeps alive, is held against others while live, taken over once expired, and fences the former holder', async () => {
        const s = await stepRun(null, 'train');
        const first = await f.a.claimStepLease(s.id, { owner: 'w1', ttlMs: 1000 }, who);
        assert.equal(first.outcome, 'claimed');
        assert.deepEqual({ owner: first.lease.owner, epoch: first.lease.epoch, expiresAt: first.lease.expiresAt, deliveries: first.lease.deliveries }, { owner: 'w1', epoch: 1, expiresAt: t + 1000, deliveries: 1 });
        t += 900;
        assert.deepEqual(await f.a.touchStepLease(s.id, { owner: 'w1', epoch: 1 }, 1000), { held: true, cancelRequested: false });
        t += 900;
        const blocked = await f.b.claimStepLease(s.id, { owner: 'w2', ttlMs: 1000 }, who);
        assert.equal(blocked.outcome, 'held', 'the touch kept it alive');
        t += 200;
        const taken = await f.b.claimStepLease(s.id, { owner: 'w2', ttlMs: 1000 }, who);
        assert.equal(taken.outcome, 'taken-over');
        assert.equal(taken.lease.epoch, 2);
        assert.equal(taken.lease.deliveries, 2);
        assert.deepEqual(await f.a.touchStepLease(s.id, { owner: 'w1', epoch: 1 }, 1000), { held: false, cancelRequested: false });
        assert.equal(await f.a.finishStepRun(s.id, { outputs: {}, metrics: {}, fence: { owner: 'w1', epoch: 1 } }, who), undefined, 'the former holder cannot record');
        assert.equal(await f.a.failStepRun(s.id, { status: 'FAILED', error: 'x', fence: { owner: 'w1', epoch: 1 } }, who), undefined);
        assert.equal((await f.b.finishStepRun(s.id, { outputs: {}, metrics: {}, fence: { owner: 'w2', epoch: 2 } }, who))?.status, 'FINISHED');
        assert.deepEqual(await f.a.getStepLease(s.id).then((l) => l && [l.owner, l.epoch, l.deliveries]), ['w2', 2, 2], 'an ended step keeps its last lease: who ran it, how often');
        assert.deepEqual(await f.b.touchStepLease(s.id, { owner: 'w2', epoch: 2 }, 1000), { held: false, cancelRequested: false }, 'but nobody holds it');
        assert.equal((await f.a.claimStepLease(s.id, { owner: 'w3', ttlMs: 1000 }, who)).outcome, 'ended');
      });

      it('passes a cancel request to the holder with its heartbeat', async () => {
        const s = await stepRun(null, 'train');
        const c = await f.a.claimStepLease(s.id, { owner: 'w1', ttlMs: 1000 }, who);
        assert.ok(c.outcome === 'claimed');
        assert.equal(await f.b.requestStepCancel(s.id, who), true);
        assert.deepEqual(await f.a.touchStepLease(s.id, { owner: 'w1', epoch: c.lease.epoch }, 1000), { held: true, cancelRequested: true });
        assert.equal((await f.a.getStepRun(s.id)).cancelRequested, true);
        await f.a.failStepRun(s.id, { status: 'KILLED', error: 'cancelled', fence: { owner: 'w1', epoch: c.lease.epoch } }, who);
        assert.equal(await f.b.requestStepCancel(s.id, who), false, 'an ended step has nothing to cancel');
      });

      it('audits state transitions and claims, not heartbeats', async () => {
        const p = await pipelineRun();
        const s = await stepRun(p.id, 'train');
        const c = await f.a.claimStepLease(s.id, { owner: 'w1', ttlMs: 1000 }, who);
        assert.ok(c.outcome === 'claimed');
        const before = await f.auditCount();
        for (let i = 0; i < 5; i++) {
          assert.equal(await f.a.touchPipelineRun(p.id, 1), true);
          assert.equal((await f.a.touchStepLease(s.id, { owner: 'w1', epoch: c.lease.epoch }, 1000)).held, true);
        }
        assert.equal(await f.auditCount(), before, 'signs of life leave no audit event');
        await f.a.finishStepRun(s.id, { outputs: {}, metrics: {}, fence: { owner: 'w1', epoch: c.lease.epoch } }, who);
        await f.a.endPipelineRun(p.id, { status: 'FINISHED' }, who);
        assert.equal(await f.auditCount(), before + 2);
      });

      it('two workers racing to take over the same abandoned step, 100 times: exactly one wins each time', async () => {
        for (let i = 0; i < 100; i++) {
          const s = await stepRun(null, 'train');
          const dead = await f.a.claimStepLease(s.id, { owner: 'dead-worker', ttlMs: 500 }, who);
          assert.equal(dead.outcome, 'claimed');
          t += 1000; // its holder stopped renewing: the lease has expired
          const claims = await Promise.all([
            f.a.claimStepLease(s.id, { owner: 'worker-a', ttlMs: 5000 }, who),
            f.b.claimStepLease(s.id, { owner: 'worker-b', ttlMs: 5000 }, who),
          ]);
          const winners = claims.filter((c) => c.outcome === 'taken-over');
          assert.equal(winners.length, 1, `round ${i}: ${claims.map((c) => c.outcome).join(', ')}`);
          const loser = claims.find((c) => c.outcome !== 'taken-over')!;
          assert.equal(loser.outcome, 'held', `round ${i}: the other claimer sees the winner's lease`);
          const won = winners[0]!;
          assert.ok(won.outcome === 'taken-over');
          assert.equal(won.lease.epoch, 2);
          assert.equal(loser.lease.owner, won.lease.owner);
          assert.deepEqual(await f.a.getStepLease(s.id).then((l) => l && [l.owner, l.epoch]), [won.lease.owner, 2]);
        }
      });
    });
  });
}
