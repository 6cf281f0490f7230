import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePipeline, validatePipeline, type PipelineIR } from '../ir.js';
import { PipelineEngine, type PipelineRunResult } from './engine.js';
import { planRerun, rerunPipeline, RERUN_TAG } from './rerun.js';
import { BIKE_YAML, bikeSlice, openTestServices } from './test-helpers/engine-fixture.js';

const who = { actor: 'tester' };
type Services = Awaited<ReturnType<typeof openTestServices>>;
const byStep = (r: PipelineRunResult) => Object.fromEntries(r.steps.map((x) => [x.step, x]));

describe('pipelines rerun: the bike example', () => {
  let s: Services;
  let engine: PipelineEngine;
  let ir: PipelineIR;
  let first: PipelineRunResult;
  let second: PipelineRunResult;
  before(async () => {
    s = await openTestServices();
    await s.data.add('bike', bikeSlice(s.dir), {}, who);
    ir = parsePipeline(readFileSync(BIKE_YAML, 'utf8'), BIKE_YAML);
    engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work') });
    first = await engine.run(ir, { params: { trees: 20 } });
    // The second run's gate compares with the champion the first registered.
    second = await engine.run(ir, { params: { trees: 20 } });
    assert.equal(second.status, 'FINISHED', JSON.stringify(second.failed));
  });
  after(async () => s.close());

  it('re-executes every step without the cache and finds every output byte-identical; registers nothing', async () => {
    const plan = await planRerun(s, second.runId);
    assert.deepEqual(plan.notRerun, ['register']);
    assert.equal(plan.experiment, 'bike-reruns');
    const { result, report } = await rerunPipeline(engine, plan);
    assert.equal(result.status, 'FINISHED', JSON.stringify(result.failed));
    assert.ok(result.steps.every((x) => x.status === 'done' && !x.cached), JSON.stringify(result.steps.map((x) => x.status)));
    assert.deepEqual(result.steps.map((x) => x.step), ['ingest', 'validate', 'split', 'train', 'evaluate', 'gate']);
    // The trainer ran again (a new run) and wrote the same model bytes.
    assert.notEqual(byStep(result).train!.runId, byStep(first).train!.runId);

    assert.equal(report.identical, true);
    assert.deepEqual(report.counts, { identical: 10, differs: 0, missing: 0, 'not-rerun': 1 });
    assert.deepEqual(report.outputs.map((o) => `${o.step}.${o.output}:${o.verdict}`), [
      'ingest.data:identical', 'validate.data:identical', 'validate.report:identical', 'split.train:identical', 'split.test:identical',
      'train.model:identical', 'train.metrics:identical', 'evaluate.metrics:identical', 'evaluate.report:identical', 'gate.decision:identical',
      'register.registration:not-rerun',
    ]);
    for (const o of report.outputs.filter((x) => x.verdict === 'identical')) {
      assert.equal(o.rerun, o.original);
      assert.equal(o.original, byStep(second)[o.step]!.outputs[o.output]!.sha256);
    }
    const reg = report.outputs.at(-1)!;
    assert.equal(reg.rerun, null);
    assert.match(reg.note!, /register steps are not re-run/);

    const run = await s.stores.tracking.getRun(result.runId);
    assert.equal(run.data.tags[RERUN_TAG.of], second.runId);
    assert.equal(run.data.tags[RERUN_TAG.verdict], 'identical');
    assert.equal(run.data.tags[RERUN_TAG.notRerun], 'register');
    assert.equal(run.data.tags['trellis.no_cache'], 'true');
    assert.equal((await s.stores.tracking.getExperiment(run.info.experimentId)).name, 'bike-reruns');
    assert.equal((await s.registry.searchVersions({ filter: "name = 'bike'" })).items.length, 1);
    assert.equal((await s.stores.registry.getVersionByAlias('bike', 'champion')).version, '1');
  });

  it("names what changed when an output differs: the first run's gate saw no champion, the rerun's sees version 1", async () => {
    const { report } = await rerunPipeline(engine, await planRerun(s, first.runId));
    assert.equal(report.identical, false);
    assert.deepEqual(report.counts, { identical: 9, differs: 1, missing: 0, 'not-rerun': 1 });
    const gate = report.outputs.find((o) => o.verdict === 'differs')!;
    assert.deepEqual([gate.step, gate.output], ['gate', 'decision']);
    assert.equal(gate.original, byStep(first).gate!.outputs.decision!.sha256);
    assert.match(gate.rerun!, /^[0-9a-f]{64}$/);
    assert.deepEqual(gate.changes, [{ part: 'fact', key: 'champion', before: 'none', after: 'bike/1' }]);
  });

  it("leaves ordinary runs as they were: their cache still comes from their own experiment, and no version is added", async () => {
    const again = await engine.run(ir, { params: { trees: 20 } });
    const train = await s.stores.tracking.getRun(byStep(again).train!.runId!);
    assert.equal(train.data.tags['trellis.cache_source'], byStep(first).train!.runId);
    assert.deepEqual(again.registered.map((v) => [v.version, v.created]), [['1', false]]);
    assert.equal((await s.registry.searchVersions({ filter: "name = 'bike'" })).items.length, 1);
  });

  it('refuses what is not a finished pipeline run, naming it', async () => {
    const step = byStep(first).train!.runId!;
    await assert.rejects(planRerun(s, step), new RegExp(`run ${step} is not a pipeline run .*it is a step of pipeline run ${first.runId}`));
    await assert.rejects(planRerun(s, 'f'.repeat(32)), { code: 'TRELLIS_RUN_NOT_FOUND' });
    const parent = await s.stores.tracking.createRun({ experimentId: '0', runName: 'x', tags: { 'trellis.pipeline': 'bike' } }, who);
    await assert.rejects(planRerun(s, parent.info.runId), /is not a pipeline run \(it has no pipeline run record\)/, 'a tag does not make a pipeline run');
    await s.stores.pipelines.createPipelineRun({
      id: parent.info.runId, pipeline: 'bike', pipelineVersion: '1', irHash: 'x', experimentId: '0', params: {}, baseDir: s.dir, runner: { host: 'h', pid: 1 },
    }, who);
    await assert.rejects(planRerun(s, parent.info.runId), /still RUNNING; rerun a run that ended/);
    await s.stores.pipelines.endPipelineRun(parent.info.runId, { status: 'FAILED' }, who);
    await assert.rejects(planRerun(s, parent.info.runId), /has no readable pipeline\.json artifact/);
  });
});

describe('pipelines rerun: a component that is not deterministic', () => {
  let s: Services;
  let engine: PipelineEngine;
  before(async () => {
    s = await openTestServices();
    engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work') });
  });
  after(async () => s.close());

  it('reports the output that changes from run to run as differing, with both hashes and no changed input', async () => {
    const module = join(s.dir, 'stamp.mjs');
    writeFileSync(module, `import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
export async function stamp(ctx) {
  const rows = readFileSync(ctx.inputs.data.path, 'utf8').trim().split('\\n').length - 1;
  writeFileSync(ctx.outputs.summary.path, JSON.stringify({ rows }));
  writeFileSync(ctx.outputs.stamp.path, \`made at \${Date.now()}, nonce \${randomBytes(8).toString('hex')}\`);
}
`);
    const ir = validatePipeline({
      format: 'trellis.pipeline/v1', name: 'stamped', params: [{ name: 'data', type: 'string' }],
      components: [{ kind: 'typescript', name: 'stamp', version: '1', module: './stamp.mjs', export: 'stamp', inputs: { data: { type: 'Dataset' } }, outputs: { summary: { type: 'Metrics' }, stamp: { type: 'File' } } }],
      steps: [
        { name: 'ingest', component: 'ingest', inputs: { dataset: { param: 'data' } } },
        { name: 'stamp', component: 'stamp', inputs: { data: { step: 'ingest', output: 'data' } } },
      ],
    }, 'stamped');
    const original = await engine.run(ir, { params: { data: bikeSlice(s.dir, 50) }, baseDir: s.dir });
    assert.equal(original.status, 'FINISHED', JSON.stringify(original.failed));
    const plan = await planRerun(s, original.runId);
    assert.equal(plan.baseDir, s.dir, 'the folder relative modules were found in is recorded with the run');
    const { report } = await rerunPipeline(engine, plan);
    assert.equal(report.identical, false);
    assert.deepEqual(report.outputs.map((o) => `${o.step}.${o.output}:${o.verdict}`), ['ingest.data:identical', 'stamp.summary:identical', 'stamp.stamp:differs']);
    const d = report.outputs[2]!;
    assert.equal(d.original, byStep(original).stamp!.outputs.stamp!.sha256);
    assert.notEqual(d.rerun, d.original);
    assert.deepEqual(d.changes, [], 'the same inputs: the step itself is not deterministic');
    assert.equal((await s.stores.tracking.getRun(report.rerun)).data.tags[RERUN_TAG.verdict], 'differs');
  });
});
