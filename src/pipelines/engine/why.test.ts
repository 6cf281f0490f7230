import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePipeline } from '../ir.js';
import { PipelineEngine } from './engine.js';
import { BIKE_YAML, bikeSlice, openTestServices } from './test-helpers/engine-fixture.js';
import { explainCache } from './why.js';

const who = { actor: 'tester' };

describe('pipelines why', () => {
  let s: Awaited<ReturnType<typeof openTestServices>>;
  let engine: PipelineEngine;
  const ir = () => parsePipeline(readFileSync(BIKE_YAML, 'utf8'), BIKE_YAML);
  before(async () => {
    s = await openTestServices();
    await s.data.add('bike', bikeSlice(s.dir, 1200), {}, who);
    engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work') });
  });
  after(async () => s.close());

  it('names the reused run on a hit, and the changed parameter, upstream output or dataset on a miss', async () => {
    const first = await engine.run(ir(), { params: { trees: 5 } });
    assert.equal(first.status, 'FINISHED', JSON.stringify(first.failed));
    const fresh = await explainCache(s.pipelines, first.runId, 'train');
    assert.equal(fresh.verdict, 'miss');
    assert.match(fresh.reason, /ran for the first time/);

    const second = await engine.run(ir(), { params: { trees: 5 } });
    const hit = await explainCache(s.pipelines, second.runId, 'train');
    assert.equal(hit.verdict, 'hit');
    assert.equal(hit.comparedWith, first.steps.find((x) => x.step === 'train')!.runId);

    const third = await engine.run(ir(), { params: { trees: 6 } });
    const miss = await explainCache(s.pipelines, third.runId, 'train');
    assert.equal(miss.verdict, 'miss');
    assert.deepEqual(miss.changes, [{ part: 'scalar', key: 'trees', before: 5, after: 6 }]);
    assert.match(miss.reason, /scalar 'trees'/);
    // Downstream of train, evaluate misses because its model input changed.
    const evalMiss = await explainCache(s.pipelines, third.runId, 'evaluate');
    assert.deepEqual(evalMiss.changes.map((c) => `${c.part}:${c.key}`), ['artifact:model']);

    // A new dataset version: ingest resolves bike@latest to it.
    await s.data.add('bike', bikeSlice(s.dir, 1300), {}, who);
    const fourth = await engine.run(ir(), { params: { trees: 6 } });
    const ingest = await explainCache(s.pipelines, fourth.runId, 'ingest');
    assert.equal(ingest.verdict, 'miss');
    assert.ok(ingest.changes.some((c) => c.part === 'fact'), JSON.stringify(ingest.changes));

    const none = await engine.run(ir(), { params: { trees: 6 }, noCache: true });
    assert.match((await explainCache(s.pipelines, none.runId, 'train')).reason, /turned off for the whole pipeline run \(--no-cache\)/);
    await assert.rejects(explainCache(s.pipelines, none.runId, 'nope'), /has no step 'nope'; its steps are/);
    await assert.rejects(explainCache(s.pipelines, none.steps[0]!.runId!, 'train'), /is not a pipeline run/);
  });

  it('says caching was turned off for a step with cache disabled, and for a run started with --no-cache', async () => {
    const offIr = ir();
    offIr.steps.find((x) => x.name === 'train')!.cache = { enabled: false };
    // Twice with the same inputs: the second run finds the first's key, but may not use it.
    for (let i = 0; i < 2; i++) {
      const r = await engine.run(offIr, { params: { trees: 7 } });
      assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
      assert.equal(r.steps.find((x) => x.step === 'train')!.cached, false);
      const train = await explainCache(s.pipelines, r.runId, 'train');
      assert.equal(train.verdict, 'miss');
      assert.match(train.reason, /caching is turned off for step 'train' \(cache: \{ enabled: false \} in the pipeline\)/);
      assert.deepEqual(train.changes, []);
      // The other steps keep their cache.
      if (i === 1) assert.equal((await explainCache(s.pipelines, r.runId, 'ingest')).verdict, 'hit');
    }
    const none = await engine.run(offIr, { params: { trees: 7 }, noCache: true });
    for (const step of ['ingest', 'train']) {
      assert.match((await explainCache(s.pipelines, none.runId, step)).reason, /turned off for the whole pipeline run \(--no-cache\)/, step);
    }
  });
});
