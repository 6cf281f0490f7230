/** The engine on the real PostgreSQL server: the same pipeline, the same records, the same cache. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createTestDatabase } from '../../store/test-helpers/postgres.js';
import { parsePipeline } from '../ir.js';
import { PipelineEngine } from './engine.js';
import { explainCache } from './why.js';
import { BIKE_YAML, bikeSlice, openTestServices } from './test-helpers/engine-fixture.js';

const who = { actor: 'tester' };

describe('pipeline engine on PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let s: Awaited<ReturnType<typeof openTestServices>>;
  before(async () => {
    db = await createTestDatabase('trellis_engine');
    s = await openTestServices(db.uri);
  });
  after(async () => {
    await s?.close();
    await db?.drop();
  });

  it('runs the bike pipeline, registers the champion, then serves every cacheable step from cache', async () => {
    await s.data.add('bike', bikeSlice(s.dir, 1500), {}, who);
    const ir = parsePipeline(readFileSync(BIKE_YAML, 'utf8'), BIKE_YAML);
    const engine = new PipelineEngine(s, { who });
    const first = await engine.run(ir, { params: { trees: 15 } });
    assert.equal(first.status, 'FINISHED', JSON.stringify(first.failed));
    assert.deepEqual(first.registered, [{ step: 'register', name: 'bike', version: '1', alias: 'champion', created: true }]);
    const parent = await s.stores.tracking.getRun(first.runId);
    assert.equal(parent.info.status, 'FINISHED');
    assert.equal(parent.data.tags['trellis.pipeline'], 'bike');

    const second = await engine.run(ir, { params: { trees: 15 } });
    assert.equal(second.status, 'FINISHED');
    const status = Object.fromEntries(second.steps.map((x) => [x.step, x.status]));
    // gate and register opt out of the cache in the example; the rest is reused.
    assert.deepEqual(status, { ingest: 'cached', validate: 'cached', split: 'cached', train: 'cached', evaluate: 'cached', gate: 'done', register: 'done' });
    assert.deepEqual(second.registered, [{ step: 'register', name: 'bike', version: '1', alias: 'champion', created: false }]);
    for (const step of ['ingest', 'train']) {
      const a = first.steps.find((x) => x.step === step)!;
      const b = second.steps.find((x) => x.step === step)!;
      assert.deepEqual(Object.values(b.outputs).map((e) => e.sha256), Object.values(a.outputs).map((e) => e.sha256));
      const why = await explainCache(s.pipelines, second.runId, step);
      assert.equal(why.verdict, 'hit');
    }
    assert.equal((await s.registry.searchVersions({ filter: "name = 'bike'" })).items.length, 1);
  });
});
