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
    assert.match((await explainCache(s.pipelines, none.runId, 'train')).reason, /--no-cache/);
    await assert.rejects(explainCache(s.pipelines, none.runId, 'nope'), /has no step 'nope'; its steps are/);
    await assert.rejects(explainCache(s.pipelines, none.steps[0]!.runId!, 'train'), /is not a pipeline run/);
  });
});
