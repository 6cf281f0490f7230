/**
 * Built-in steps under the same policy as user components: a `train` step's timeout stops it
 * between trees, `retries` runs it again after a timeout, and cancelling the run stops training at
 * once instead of letting it run to its end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifactStorePath } from '../../tracking/tracking-service.js';
import { validatePipeline, type PipelineIR } from '../ir.js';
import { PipelineEngine } from './engine.js';
import { bikeSlice, openTestServices } from './test-helpers/engine-fixture.js';

const who = { actor: 'tester' };

/** ingest → train with more trees than can grow in the time allowed. */
function slowTrain(o: { timeoutSeconds?: number; retries?: number }): PipelineIR {
  return validatePipeline({
    format: 'trellis.pipeline/v1', name: 'slow',
    params: [{ name: 'trees', type: 'integer', default: 50_000 }],
    steps: [
      { name: 'ingest', component: 'ingest', inputs: { dataset: 'bike@1' } },
      {
        name: 'train', component: 'train', ...o,
        inputs: { data: { step: 'ingest', output: 'data' }, target: 'cnt', algo: 'gbdt', trees: { param: 'trees' }, maxLeaves: 63, learningRate: 0.01 },
      },
    ],
  }, 'slow.pipeline.yaml');
}

describe('built-in steps: timeouts, retries and cancellation', () => {
  let s: Awaited<ReturnType<typeof openTestServices>>;
  let engine: PipelineEngine;
  before(async () => {
    s = await openTestServices();
    await s.data.add('bike', bikeSlice(s.dir, 4000), {}, who);
    engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work') });
  });
  after(async () => s.close());
  const stepLog = async (runId: string) => {
    const run = await s.tracking.getRun(runId);
    return (await s.tracking.getArtifact(`${artifactStorePath(run.info.artifactUri)}/logs/train.log`)).toString('utf8');
  };

  it('stops a train step at its timeout, between trees, and fails it with the timeout', async () => {
    const t0 = performance.now();
    const r = await engine.run(slowTrain({ timeoutSeconds: 1 }));
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(r.status, 'FAILED');
    const train = r.steps.find((x) => x.step === 'train')!;
    assert.equal(train.status, 'failed');
    assert.match(train.error ?? '', /exceeded its timeout of 1 s/);
    // 50,000 trees take minutes; stopped within a few seconds of the limit.
    assert.ok(seconds < 10, `the run took ${seconds.toFixed(1)} s`);
    const rec = await s.stores.pipelines.getStepRun(train.runId!);
    assert.equal(rec.status, 'FAILED');
    const log = await stepLog(train.runId!);
    assert.match(log, /attempt 1 of 1/);
    assert.match(log, /attempt 1 failed: TRELLIS_STEP_TIMEOUT/);
  });

  it('retries a built-in that timed out, as many times as it says', async () => {
    const r = await engine.run(slowTrain({ timeoutSeconds: 1, retries: 2 }));
    const train = r.steps.find((x) => x.step === 'train')!;
    assert.equal(train.status, 'failed');
    assert.match(train.error ?? '', /after 3 attempts/);
    const log = await stepLog(train.runId!);
    assert.match(log, /attempt 1 of 3/);
    assert.match(log, /attempt 3 of 3/);
    assert.match(log, /boosting 50000 trees/);
  });

  it('a cancelled run stops training at once and is KILLED, not left to finish', async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    let stoppedAt = 0;
    const running = engine.run(slowTrain({}), {
      signal: ac.signal,
      onEvent: (e) => { if (e.step === 'train' && e.status === 'running') setTimeout(() => { stoppedAt = performance.now(); ac.abort(); }, 1000); },
    });
    const r = await running;
    const afterCancel = (performance.now() - stoppedAt) / 1000;
    assert.ok(stoppedAt > t0, 'the train step started');
    assert.equal(r.status, 'KILLED');
    assert.ok(afterCancel < 3, `the run ended ${afterCancel.toFixed(1)} s after the cancel`);
    const train = r.steps.find((x) => x.step === 'train')!;
    const rec = await s.stores.pipelines.getStepRun(train.runId!);
    assert.equal(rec.status, 'KILLED');
    assert.equal((await s.tracking.getRun(train.runId!)).info.status, 'KILLED');
  });
});
