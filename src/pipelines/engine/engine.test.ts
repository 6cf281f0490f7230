import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePipeline, validatePipeline, type PipelineIR } from '../ir.js';
import { PipelineEngine, type PipelineRunResult } from './engine.js';
import { BIKE_YAML, bikeSlice, openTestServices } from './test-helpers/engine-fixture.js';

const who = { actor: 'tester' };
type Services = Awaited<ReturnType<typeof openTestServices>>;

const byStep = (r: PipelineRunResult) => Object.fromEntries(r.steps.map((x) => [x.step, x]));
const statuses = (r: PipelineRunResult) => Object.fromEntries(r.steps.map((x) => [x.step, x.status]));
const shas = (r: PipelineRunResult) => Object.fromEntries(r.steps.flatMap((x) => Object.entries(x.outputs).map(([k, e]) => [`${x.step}.${k}`, e.sha256])));

async function versions(s: Services, name: string) {
  return (await s.registry.searchVersions({ filter: `name = '${name}'` })).items;
}

describe('pipeline engine: the bike example on SQLite', () => {
  let s: Services;
  let ir: PipelineIR;
  let engine: PipelineEngine;
  let first: PipelineRunResult;
  before(async () => {
    s = await openTestServices();
    await s.data.add('bike', bikeSlice(s.dir), {}, who);
    ir = parsePipeline(readFileSync(BIKE_YAML, 'utf8'), BIKE_YAML);
    engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work') });
  });
  after(async () => s.close());

  it('runs every step, records them as child runs, and registers the champion', async () => {
    const events: string[] = [];
    first = await engine.run(ir, { params: { trees: 20 }, onEvent: (e) => events.push(`${e.step}:${e.status}`) });
    assert.equal(first.status, 'FINISHED', JSON.stringify(first.failed));
    assert.deepEqual(statuses(first), { ingest: 'done', validate: 'done', split: 'done', train: 'done', evaluate: 'done', gate: 'done', register: 'done' });
    assert.ok(events.indexOf('train:running') < events.indexOf('train:done'));

    const parent = await s.stores.tracking.getRun(first.runId);
    assert.equal(parent.info.status, 'FINISHED');
    assert.equal(parent.data.tags['trellis.pipeline'], 'bike');
    assert.match(parent.data.tags['trellis.pipeline.hash']!, /^[0-9a-f]{64}$/);
    // The reproducibility record: runtime and, inside this checkout, the commit and the lockfile.
    assert.equal(parent.data.tags['trellis.repro.node'], process.version);
    assert.match(parent.data.tags['trellis.repro.lockfile.sha256'] ?? '', /^[0-9a-f]{64}$/);
    assert.deepEqual(parent.data.params, { dataset: 'bike@latest', trees: '20' });
    assert.equal((await s.stores.tracking.getExperiment(parent.info.experimentId)).name, 'bike');

    const steps = byStep(first);
    const evalRun = await s.stores.tracking.getRun(steps.evaluate!.runId!);
    assert.equal(evalRun.data.tags['mlflow.parentRunId'], first.runId);
    assert.equal(evalRun.data.tags['trellis.step'], 'evaluate');
    assert.equal(evalRun.data.tags['trellis.component'], 'evaluate@1');
    assert.match(evalRun.data.tags['trellis.cache_key']!, /^[0-9a-f]{64}$/);
    assert.equal(evalRun.info.status, 'FINISHED');
    const rmse = evalRun.data.metrics.find((m) => m.key === 'rmse')!.value;
    // Without casual and registered (they add up to cnt), the trees still fit the hours well.
    assert.ok(rmse > 0 && rmse < 80, `rmse ${rmse}`);
    const trainRun = await s.stores.tracking.getRun(steps.train!.runId!);
    assert.equal(trainRun.data.params.trees, '20');
    assert.equal(trainRun.data.params.maxLeaves, '63');
    // Outputs are the child run's artifacts, with the sha256 recorded in a tag.
    const recorded = JSON.parse(evalRun.data.tags['trellis.outputs']!);
    const metricsFile = await s.tracking.readArtifact(evalRun.info.runId, 'outputs/metrics');
    assert.equal(recorded.metrics.sha256, (await import('node:crypto')).createHash('sha256').update(metricsFile).digest('hex'));
    assert.equal(JSON.parse(metricsFile.toString()).rmse, rmse);
    assert.match((await s.tracking.readArtifact(steps.train!.runId!, 'logs/train.log')).toString(), /boosting 20 trees/);
    // The split is time-ordered: the test set holds the last 20% of the hours (rows 1601…2000).
    const split = (await s.tracking.readArtifact(steps.split!.runId!, 'outputs/test')).toString().trim().split('\n');
    assert.equal(split.length, 401);
    assert.match(split[1]!, /^1601,/);

    const decision = JSON.parse((await s.tracking.readArtifact(steps.gate!.runId!, 'outputs/decision')).toString());
    assert.equal(decision.passed, true);
    assert.deepEqual(decision.terms, [{ term: 'rmse', value: rmse }, { term: 'champion.rmse', value: null }]);
    assert.match(decision.notes.join(' '), /no champion: comparisons with champion metrics are treated as passing/);

    assert.deepEqual(first.registered, [{ step: 'register', name: 'bike', version: '1', alias: 'champion', created: true }]);
    const champion = await s.stores.registry.getVersionByAlias('bike', 'champion');
    assert.equal(champion.version, '1');
    assert.equal(champion.runId, steps.train!.runId);
    assert.equal(champion.tags['metric.rmse'], String(rmse));
  });

  it('serves a second run from the cache: same outputs, no new model version', async () => {
    const second = await engine.run(ir, { params: { trees: 20 } });
    assert.equal(second.status, 'FINISHED');
    // gate and register have `cache: { enabled: false }` in the example: they run again, and
    // register finds the version made from the same training run instead of adding one.
    assert.deepEqual(statuses(second), { ingest: 'cached', validate: 'cached', split: 'cached', train: 'cached', evaluate: 'cached', gate: 'done', register: 'done' });
    const cachedShas = (r: PipelineRunResult) => Object.fromEntries(Object.entries(shas(r)).filter(([k]) => !/^(gate|register)\./.test(k)));
    assert.deepEqual(cachedShas(second), cachedShas(first));
    // The decision now names the champion (version 1) and compares with its numbers.
    assert.notEqual(shas(second)['gate.decision'], shas(first)['gate.decision']);
    const train = await s.stores.tracking.getRun(byStep(second).train!.runId!);
    assert.equal(train.data.tags['trellis.cached'], 'true');
    assert.equal(train.data.tags['trellis.cache_source'], byStep(first).train!.runId);
    assert.equal(train.data.tags['mlflow.parentRunId'], second.runId);
    assert.deepEqual(second.registered, [{ step: 'register', name: 'bike', version: '1', alias: 'champion', created: false }]);
    assert.equal((await versions(s, 'bike')).length, 1);

    // With caching on for every step, a third run is served from the cache entirely; the cached
    // register re-applies its registration (the alias still points at version 1).
    const all = structuredClone(ir);
    for (const st of all.steps) st.cache = { enabled: true };
    await s.stores.registry.setAlias('bike', 'champion', '1', who);
    const third = await engine.run(all, { params: { trees: 20 } });
    assert.ok(third.steps.every((x) => x.status === 'cached'), JSON.stringify(statuses(third)));
    assert.deepEqual(shas(third), shas(second));
    assert.equal((await versions(s, 'bike')).length, 1);
    assert.equal((await s.stores.registry.getVersionByAlias('bike', 'champion')).version, '1');
  });

  it('re-runs exactly the steps downstream of a changed parameter; --no-cache re-runs everything', async () => {
    const r = await engine.run(ir, { params: { trees: 25 } });
    assert.equal(r.status, 'FINISHED');
    assert.deepEqual(statuses(r), { ingest: 'cached', validate: 'cached', split: 'cached', train: 'done', evaluate: 'done', gate: 'done', register: 'done' });
    assert.notEqual(shas(r)['train.model'], shas(first)['train.model']);
    const d = JSON.parse((await s.tracking.readArtifact(byStep(r).gate!.runId!, 'outputs/decision')).toString());
    assert.equal(d.champion.version, '1');
    assert.equal(typeof d.terms[1].value, 'number');
    const n = await engine.run(ir, { params: { trees: 20 }, noCache: true });
    assert.ok(n.steps.every((x) => x.status === 'done'));
    // Our trainers are deterministic: the same inputs give the same model bytes.
    assert.equal(shas(n)['train.model'], shas(first)['train.model']);
  });

  it('a new dataset version behind @latest invalidates the ingest cache', async () => {
    await s.data.add('bike', bikeSlice(s.dir, 1500), {}, who);
    const r = await engine.run(ir, { params: { trees: 20 } });
    assert.equal(byStep(r).ingest!.status, 'done');
    assert.equal(byStep(r).ingest!.outputs.data!.meta!.dataset, 'bike@2');
  });
});

const flakyPipeline = (flag: string) => validatePipeline({
  format: 'trellis.pipeline/v1', name: 'flaky',
  params: [{ name: 'data', type: 'string' }],
  components: [{
    kind: 'command', name: 'copy-once', version: '1',
    inputs: { data: { type: 'Dataset' } }, outputs: { out: { type: 'Dataset' } },
    // Fails while the flag file is missing, creating it: the first run fails, the next succeeds.
    command: [process.execPath, '-e', `const fs = require('node:fs'); const [src, dst, flag] = process.argv.slice(1);
if (!fs.existsSync(flag)) { fs.writeFileSync(flag, 'x'); console.error('first attempt: injected failure'); process.exit(3); }
fs.copyFileSync(src, dst); fs.writeFileSync(process.env.TRELLIS_METRICS_FILE, JSON.stringify({ copied: 1 }));`, '{inputs.data}', '{outputs.out}', flag],
  }],
  steps: [
    { name: 'ingest', component: 'ingest', inputs: { dataset: { param: 'data' } } },
    { name: 'train', component: 'train', inputs: { data: { step: 'ingest', output: 'data' }, target: 'cnt', algo: 'linear' } },
    { name: 'register', component: 'register', inputs: { model: { step: 'train', output: 'model' }, name: 'flaky', alias: 'champion' } },
    { name: 'copy', component: 'copy-once', inputs: { data: { step: 'ingest', output: 'data' } } },
    { name: 'after_copy', component: 'split', inputs: { data: { step: 'copy', output: 'out' } } },
  ],
}, 'flaky');

describe('pipeline engine: failures, resume, command steps, parallel branches', () => {
  let s: Services;
  let engine: PipelineEngine;
  let data: string;
  before(async () => {
    s = await openTestServices();
    data = bikeSlice(s.dir, 500);
    engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work') });
  });
  after(async () => s.close());

  it('fails the run naming the failed step, skips its downstream, finishes independent branches, then resumes', async () => {
    const flag = join(s.dir, 'flag');
    const ir = flakyPipeline(flag);
    const r = await engine.run(ir, { params: { data } });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.failed?.step, 'copy');
    assert.match(r.failed?.error ?? '', /Step 'copy' failed: .*exit(ed)? (with )?(code )?3/i);
    assert.deepEqual(statuses(r), { ingest: 'done', train: 'done', register: 'done', copy: 'failed', after_copy: 'skipped' });
    assert.ok(existsSync(flag));
    const parent = await s.stores.tracking.getRun(r.runId);
    assert.equal(parent.info.status, 'FAILED');
    assert.equal(parent.data.tags['trellis.failed_step'], 'copy');
    assert.equal(parent.data.tags['trellis.skipped'], 'after_copy');
    const failed = await s.stores.tracking.getRun(byStep(r).copy!.runId!);
    assert.equal(failed.info.status, 'FAILED');
    assert.match(failed.data.tags['trellis.error']!, /Step 'copy' failed/);
    assert.match((await s.tracking.readArtifact(failed.info.runId, 'logs/copy.log')).toString(), /injected failure/);
    assert.equal((await versions(s, 'flaky')).length, 1);

    // A runner killed between opening a step's MLflow run and writing the step's record leaves
    // that run RUNNING with no record: the resume closes it.
    const orphan = await s.stores.tracking.createRun({ experimentId: parent.info.experimentId, runName: 'copy', tags: { 'mlflow.parentRunId': r.runId, 'trellis.step': 'copy' } }, who);

    const events: string[] = [];
    const resumed = await engine.resume(r.runId, { onEvent: (e) => { if (e.status === 'kept') events.push(e.step); } });
    assert.equal((await s.stores.tracking.getRun(orphan.info.runId)).info.status, 'KILLED', 'the unrecorded step run is closed');
    assert.equal(resumed.status, 'FINISHED', JSON.stringify(resumed.failed));
    // The kept steps are announced in the pipeline's order, as the progress lines show them.
    assert.deepEqual(events, ['ingest', 'train', 'register']);
    assert.equal(resumed.runId, r.runId);
    assert.deepEqual(statuses(resumed), { ingest: 'kept', train: 'kept', register: 'kept', copy: 'done', after_copy: 'done' });
    assert.equal(byStep(resumed).copy!.metrics.copied, 1);
    assert.equal((await s.stores.tracking.getRun(r.runId)).info.status, 'FINISHED');
    assert.equal((await versions(s, 'flaky')).length, 1, 'no model version is created twice');
    assert.deepEqual(resumed.registered.map((x) => [x.name, x.version]), [['flaky', '1']]);
    // The failed attempt stays on record beside the one that finished.
    const children = (await s.stores.tracking.searchRuns({ experimentIds: [parent.info.experimentId], filter: [{ kind: 'tag', key: 'mlflow.parentRunId', comparator: '=', value: r.runId }] })).items;
    assert.deepEqual(children.filter((c) => c.data.tags['trellis.step'] === 'copy').map((c) => c.info.status).sort(), ['FAILED', 'FINISHED', 'KILLED']);
  });

  it('finds the step run that executed behind more cached runs than a page of search holds, tagged or recorded without its entry tag', async () => {
    const ir = validatePipeline({
      format: 'trellis.pipeline/v1', name: 'stamp',
      components: [{
        kind: 'command', name: 'stamp', version: '1', inputs: {}, outputs: { out: { type: 'File' } },
        command: [process.execPath, '-e', "require('node:fs').writeFileSync(process.argv[1], process.hrtime.bigint().toString())", '{outputs.out}'],
      }],
      steps: [{ name: 'stamp', component: 'stamp', inputs: {} }],
    }, 'stamp');
    const first = await engine.run(ir);
    assert.equal(byStep(first).stamp!.status, 'done');
    const executed = byStep(first).stamp!.runId!;
    assert.equal((await s.stores.tracking.getRun(executed)).data.tags['trellis.cache_entry'], byStep(first).stamp!.cacheKey);
    const sha = byStep(first).stamp!.outputs.out!.sha256;
    // 60 runs from cache: more cached step runs with this key than one page (50) of the search.
    for (let i = 0; i < 60; i++) {
      const r = await engine.run(ir);
      assert.equal(byStep(r).stamp!.status, 'cached', `run ${i + 2} of the step came from the cache`);
      assert.equal(byStep(r).stamp!.cacheSource, executed);
      assert.equal(byStep(r).stamp!.outputs.out!.sha256, sha);
      assert.equal((await s.stores.tracking.getRun(byStep(r).stamp!.runId!)).data.tags['trellis.cache_entry'], undefined, 'a cached run is no cache entry');
    }
    // The lookup reads the step records, not the mirror's tags: without its entry tag the step run is still found.
    await s.stores.tracking.deleteRunTag(executed, 'trellis.cache_entry', who);
    const again = await engine.run(ir);
    assert.equal(byStep(again).stamp!.status, 'cached');
    assert.equal(byStep(again).stamp!.cacheSource, executed);
  });

  it('keeps the runner alive with unaudited touches; the run\'s transitions are audited', async () => {
    const ir = validatePipeline({
      format: 'trellis.pipeline/v1', name: 'heartbeats',
      components: [{ kind: 'command', name: 'nap', version: '1', inputs: {}, outputs: { out: { type: 'File' } },
        command: [process.execPath, '-e', "setTimeout(() => require('node:fs').writeFileSync(process.argv[1], 'ok'), 500)", '{outputs.out}'] }],
      steps: [{ name: 'nap', component: 'nap', inputs: {} }],
    }, 'heartbeats');
    const fast = new PipelineEngine(s, { who, workDir: join(s.dir, 'work'), runnerHeartbeatMs: 20 });
    const before = (await s.stores.audit.listAuditEvents({ limit: 100_000 })).length;
    const r = await fast.run(ir, { noCache: true });
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    const rec = await s.stores.pipelines.getPipelineRun(r.runId);
    assert.ok(rec.runner.heartbeatAt >= rec.startTime + 200, 'the runner touched its record while the step ran');
    const events = (await s.stores.audit.listAuditEvents({ limit: 100_000 })).slice(before);
    // About 25 heartbeats went by; the audit chain holds the changes of state only.
    assert.deepEqual(events.filter((e) => e.entityType === 'pipeline_run').map((e) => e.action), ['start_pipeline_run', 'end_pipeline_run']);
    assert.deepEqual(events.filter((e) => e.entityType === 'step_run').map((e) => e.action), ['start_step_run', 'finish_step_run']);
    assert.ok(events.length <= 12, `${events.length} audit events for a one-step run: ${events.map((e) => e.action).join(', ')}`);
  });

  it('runs independent branches at the same time', async () => {
    const sleep = (ms: number) => [process.execPath, '-e', `setTimeout(() => require('node:fs').writeFileSync(process.argv[1], String(Date.now())), ${ms})`, '{outputs.out}'];
    const ir = validatePipeline({
      format: 'trellis.pipeline/v1', name: 'parallel',
      components: [{ kind: 'command', name: 'nap', version: '1', inputs: { tag: { type: 'string' } }, outputs: { out: { type: 'File' } }, command: sleep(600) }],
      steps: [
        { name: 'a', component: 'nap', inputs: { tag: 'a' } },
        { name: 'b', component: 'nap', inputs: { tag: 'b' } },
        { name: 'c', component: 'nap', inputs: { tag: 'c' } },
      ],
    }, 'parallel');
    const r = await engine.run(ir, { noCache: true });
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    const runs = await Promise.all(r.steps.map((x) => s.stores.tracking.getRun(x.runId!)));
    const [a, b, c] = runs.map((x) => x.info);
    // a and b overlap; c waits for a free slot (concurrency 2).
    assert.ok(a!.startTime < b!.endTime! && b!.startTime < a!.endTime!, 'a and b overlap');
    assert.ok(c!.startTime >= Math.min(a!.endTime!, b!.endTime!) - 5, 'c starts when a slot frees');
  });
});
