import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePipeline } from '../pipelines/ir.js';
import type { PipelineRunResult } from '../pipelines/engine/engine.js';
import { BIKE_YAML, bikeSlice } from '../pipelines/engine/test-helpers/engine-fixture.js';
import type { LineageGraph } from '../registry/lineage.js';
import { assertError, assertOk, call, openTestServer, type TestServer } from './test-helpers/server.js';

const who = { actor: 'tester' };
const api = (q: string) => `/api/2.0/trellis/lineage?${q}`;

/** Every node reachable from `from` following edges forward (or backward). */
function reach(g: LineageGraph, from: string, dir: 'down' | 'up'): Set<string> {
  const seen = new Set([from]);
  const todo = [from];
  while (todo.length) {
    const id = todo.pop()!;
    for (const e of g.edges) {
      if (e.relation === 'contains') continue;
      const next = dir === 'down' ? (e.from === id ? e.to : undefined) : (e.to === id ? e.from : undefined);
      if (next && !seen.has(next)) {
        seen.add(next);
        todo.push(next);
      }
    }
  }
  return seen;
}

describe('GET /api/2.0/trellis/lineage over a run of the bike pipeline', () => {
  let t: TestServer;
  let first: PipelineRunResult;
  let second: PipelineRunResult;
  const stepNode = (r: PipelineRunResult, step: string) => `step:${r.steps.find((s) => s.step === step)!.runId}`;

  before(async () => {
    t = await openTestServer();
    await t.ws.data.add('bike', bikeSlice(t.dir, 1200), {}, who);
    const ir = parsePipeline(readFileSync(BIKE_YAML, 'utf8'), BIKE_YAML);
    const { engine } = await t.ws.pipelines.openEngine(who, { queue: 'inline', workDir: join(t.dir, 'work') });
    first = await engine.run(ir, { params: { trees: 5 } });
    assert.equal(first.status, 'FINISHED', JSON.stringify(first.failed));
    assert.deepEqual(first.registered.map((x) => `${x.name}/${x.version}`), ['bike/1']);
    // Again: every cacheable step is a cache hit, and the register step re-applies bike/1.
    second = await engine.run(ir, { params: { trees: 5 } });
    assert.equal(second.status, 'FINISHED', JSON.stringify(second.failed));
  });
  after(async () => t.close());

  it('walks a model version up through register, train, split, validate and ingest to the dataset version', async () => {
    const res = await call(t.app, 'GET', api('model=bike&alias=champion'));
    assertOk(res);
    const g = res.json as LineageGraph;
    assert.equal(g.root, 'model-version:bike/1');
    const has = (from: string, to: string, relation: string, detail?: string) =>
      assert.ok(g.edges.some((e) => e.from === from && e.to === to && e.relation === relation && (detail === undefined || e.detail === detail)),
        `no edge ${from} -${relation}-> ${to}`);
    has(stepNode(first, 'register'), g.root, 'registered');
    has(stepNode(first, 'train'), g.root, 'source');
    has(stepNode(first, 'train'), stepNode(first, 'register'), 'feeds', 'train.model → model');
    has(stepNode(first, 'split'), stepNode(first, 'train'), 'feeds', 'split.train → data');
    has(stepNode(first, 'validate'), stepNode(first, 'split'), 'feeds', 'validate.data → data');
    has(stepNode(first, 'ingest'), stepNode(first, 'validate'), 'feeds', 'ingest.data → data');
    has('dataset-version:bike@1', stepNode(first, 'ingest'), 'input');
    // The second run registered nothing new: its register step re-applied version 1.
    has(stepNode(second, 'register'), g.root, 'registered');
    assert.equal(second.steps.find((s) => s.step === 'train')!.status, 'cached');
    const up = reach(g, g.root, 'up');
    for (const s of ['ingest', 'validate', 'split', 'train', 'evaluate', 'gate', 'register']) assert.ok(up.has(stepNode(first, s)), s);
    assert.ok(up.has('dataset-version:bike@1'));
    const node = (id: string) => g.nodes.find((n) => n.id === id)!;
    assert.equal(node('dataset-version:bike@1').attrs.rows, 1200);
    assert.equal(node(stepNode(first, 'train')).attrs.component, 'train@1');
    assert.equal(node(stepNode(second, 'train')).attrs.cached, true);
    assert.equal(node(g.root).attrs.aliases, 'champion');
    // Steps belong to their pipeline run.
    has(`pipeline-run:${first.runId}`, stepNode(first, 'train'), 'contains');
    assert.equal(node(`pipeline-run:${first.runId}`).attrs.pipeline, 'bike');
    // The REST answer is the service's.
    assert.deepEqual(g, JSON.parse(JSON.stringify(await t.ws.pipelines.lineage({ kind: 'model', name: 'bike', alias: 'champion' }))));
    assert.deepEqual((await call(t.app, 'GET', api('model=bike&version=1'))).json, g);
  });

  it('walks a dataset version down to the model version registered from it', async () => {
    const res = await call(t.app, 'GET', api('dataset=bike&version=1'));
    assertOk(res);
    const g = res.json as LineageGraph;
    assert.equal(g.root, 'dataset-version:bike@1');
    const down = reach(g, g.root, 'down');
    assert.ok(down.has('model-version:bike/1'));
    // Both pipeline runs read it through their ingest steps.
    assert.ok(down.has(stepNode(first, 'ingest')) && down.has(stepNode(second, 'ingest')));
    assert.deepEqual((await call(t.app, 'GET', api('dataset=bike'))).json, g, 'the version defaults to the latest');
  });

  it('follows only as many hops as depth says', async () => {
    const g = (await call(t.app, 'GET', api('model=bike&version=1&depth=1'))).json as LineageGraph;
    const ids = new Set(g.nodes.map((n) => n.id));
    assert.ok(ids.has(stepNode(first, 'train')) && ids.has(stepNode(first, 'register')));
    assert.ok(!ids.has(stepNode(first, 'split')) && !ids.has('dataset-version:bike@1'));
  });

  it('answers bad input with 400 naming the parameter and unknown names with 404', async () => {
    assertError(await call(t.app, 'GET', api('')), 400, 'INVALID_PARAMETER_VALUE', "'model' and 'dataset'");
    assertError(await call(t.app, 'GET', api('model=bike&dataset=bike&version=1')), 400, 'INVALID_PARAMETER_VALUE', "'model' and 'dataset'");
    assertError(await call(t.app, 'GET', api('model=bike')), 400, 'INVALID_PARAMETER_VALUE', "'version' and 'alias'");
    assertError(await call(t.app, 'GET', api('model=bike&version=1&alias=champion')), 400, 'INVALID_PARAMETER_VALUE', "'version' and 'alias'");
    assertError(await call(t.app, 'GET', api('model=bike&version=one')), 400, 'INVALID_PARAMETER_VALUE', "parameter 'version'");
    assertError(await call(t.app, 'GET', api('dataset=bike&version=0')), 400, 'INVALID_PARAMETER_VALUE', "parameter 'version'");
    assertError(await call(t.app, 'GET', api('dataset=bike&alias=x')), 400, 'INVALID_PARAMETER_VALUE', "'alias'");
    assertError(await call(t.app, 'GET', api('model=bike&version=1&depth=-1')), 400, 'INVALID_PARAMETER_VALUE', "parameter 'depth'");
    assertError(await call(t.app, 'GET', api('model=nope&version=1')), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await call(t.app, 'GET', api('model=bike&version=7')), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await call(t.app, 'GET', api('model=bike&alias=nope')), 400, 'INVALID_PARAMETER_VALUE', "no alias 'nope' on model 'bike' (aliases: champion)");
    assertError(await call(t.app, 'GET', api('dataset=nope')), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await call(t.app, 'GET', api('dataset=bike&version=9')), 404, 'RESOURCE_DOES_NOT_EXIST');
  });
});
