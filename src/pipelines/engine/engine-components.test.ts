/**
 * The engine with every kind of component in one pipeline — built-ins, a TypeScript module and a
 * Python command — and with components that go wrong in each of the ways a user's code can.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isTrellisError } from '../../core/errors.js';
import { readTable } from '../../data/readers/index.js';
import { loadModel, predict } from '../../ml/model.js';
import { validatePipeline, type PipelineIR } from '../ir.js';
import { localDispatcher, PipelineEngine, type PipelineRunResult, type StepDispatcher, type StepJob } from './engine.js';
import { explainCache } from './why.js';
import { BIKE, bikeSlice, openTestServices } from './test-helpers/engine-fixture.js';

const who = { actor: 'tester' };
type Services = Awaited<ReturnType<typeof openTestServices>>;
const statuses = (r: PipelineRunResult) => Object.fromEntries(r.steps.map((x) => [x.step, x.status]));
const byStep = (r: PipelineRunResult) => Object.fromEntries(r.steps.map((x) => [x.step, x]));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const PROFILE_TS = (extra: string) => `import { readFileSync, writeFileSync } from 'node:fs';

interface Ctx {
  inputs: Record<string, unknown>;
  outputs: Record<string, { path: string }>;
  metric(name: string, value: number): void;
  log(line: string): void;
}

/** Row count and mean of a column of the Dataset: a Metrics JSON and a one-line File. */
export async function profile(ctx: Ctx): Promise<void> {
  const [header, ...rows] = readFileSync((ctx.inputs.data as { path: string }).path, 'utf8').trim().split(/\\r?\\n/);
  const column = String(ctx.inputs.column);
  const at = header!.split(',').indexOf(column);
  if (at < 0) throw new Error(\`no column \${column}\`);
  const values = rows.map((r) => Number(r.split(',')[at]));
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  ctx.metric('rows', values.length);
  ctx.log(\`profiled \${values.length} rows\`);
  writeFileSync(ctx.outputs.stats!.path, JSON.stringify({ rows: values.length, mean${extra} }));
  writeFileSync(ctx.outputs.summary!.path, \`\${values.length} rows, mean \${column} \${mean.toFixed(3)}\\n\`);
}
`;

const REPORT_PY = `import json, os, sys
stats = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    f.write("rows=%d mean=%.3f\\n" % (stats["rows"], stats["mean"]))
json.dump({"mean_seen": stats["mean"]}, open(os.environ["TRELLIS_METRICS_FILE"], "w"))
`;

function mixedPipeline(): PipelineIR {
  return validatePipeline({
    format: 'trellis.pipeline/v1', name: 'mixed',
    params: [{ name: 'dataset', type: 'string', default: 'bike@latest' }, { name: 'score', type: 'string', default: 'bike-new@1' }],
    components: [
      {
        kind: 'typescript', name: 'profile', version: '1', module: './profile.ts', export: 'profile',
        inputs: { data: { type: 'Dataset' }, column: { type: 'string' } }, outputs: { stats: { type: 'Metrics' }, summary: { type: 'File' } },
      },
      {
        kind: 'command', name: 'report', version: '1', inputs: { stats: { type: 'Metrics' } }, outputs: { report: { type: 'File' } },
        command: ['/usr/bin/python3', 'report.py', '{inputs.stats}', '{outputs.report}'],
      },
    ],
    steps: [
      { name: 'ingest', component: 'ingest', inputs: { dataset: { param: 'dataset' } } },
      { name: 'profile', component: 'profile', inputs: { data: { step: 'ingest', output: 'data' }, column: 'cnt' } },
      { name: 'report', component: 'report', inputs: { stats: { step: 'profile', output: 'stats' } } },
      { name: 'split', component: 'split', inputs: { data: { step: 'ingest', output: 'data' }, strategy: 'time', orderBy: 'dteday,hr' } },
      { name: 'train', component: 'train', inputs: { data: { step: 'split', output: 'train' }, target: 'cnt', algo: 'linear' } },
      { name: 'evaluate', component: 'evaluate', inputs: { model: { step: 'train', output: 'model' }, data: { step: 'split', output: 'test' }, target: 'cnt', bootstrap: 0 } },
      { name: 'register', component: 'register', inputs: { model: { step: 'train', output: 'model' }, name: 'mixed', alias: 'champion', metrics: { step: 'evaluate', output: 'metrics' } } },
      { name: 'ingest_new', component: 'ingest', inputs: { dataset: { param: 'score' } } },
      { name: 'score', component: 'batch-score', inputs: { model: { step: 'train', output: 'model' }, data: { step: 'ingest_new', output: 'data' } } },
    ],
  }, 'mixed');
}

describe('pipeline engine: built-ins, a TypeScript component and a Python command in one pipeline', () => {
  let s: Services;
  let engine: PipelineEngine;
  let ir: PipelineIR;
  let first: PipelineRunResult;
  let newRows: string;
  before(async () => {
    s = await openTestServices();
    await s.data.add('bike', bikeSlice(s.dir, 1500), {}, who);
    // Later hours, never trained on, as a dataset version to score.
    const [header, ...rows] = readFileSync(BIKE, 'utf8').split('\n');
    newRows = join(s.dir, 'new.csv');
    writeFileSync(newRows, `${[header ?? '', ...rows.slice(2000, 2100)].map((l) => l.trimEnd()).join('\n')}\n`);
    await s.data.add('bike-new', newRows, {}, who);
    writeFileSync(join(s.dir, 'profile.ts'), PROFILE_TS(''));
    writeFileSync(join(s.dir, 'report.py'), REPORT_PY);
    ir = mixedPipeline();
    engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work') });
  });
  after(async () => s.close());

  it('runs end to end, recording every output with the sha256 of its bytes and the metrics of each kind of step', async () => {
    first = await engine.run(ir, { baseDir: s.dir });
    assert.equal(first.status, 'FINISHED', JSON.stringify(first.failed));
    assert.ok(first.steps.every((x) => x.status === 'done'), JSON.stringify(statuses(first)));
    for (const st of first.steps) {
      for (const [name, e] of Object.entries(st.outputs)) {
        assert.equal(e.run, st.runId);
        if (e.kind === 'file') assert.equal(e.sha256, sha256(await s.tracking.readArtifact(st.runId!, `outputs/${name}`)), `${st.step}.${name}`);
      }
    }
    const steps = byStep(first);
    const stats = JSON.parse((await s.tracking.readArtifact(steps.profile!.runId!, 'outputs/stats')).toString());
    assert.equal(stats.rows, 1500);
    assert.equal(steps.profile!.metrics.rows, 1500);
    assert.match((await s.tracking.readArtifact(steps.profile!.runId!, 'logs/profile.log')).toString(), /profiled 1500 rows/);
    const report = (await s.tracking.readArtifact(steps.report!.runId!, 'outputs/report')).toString();
    assert.equal(report, `rows=1500 mean=${stats.mean.toFixed(3)}\n`);
    assert.equal(steps.report!.metrics.mean_seen, stats.mean);
    assert.deepEqual(first.registered, [{ step: 'register', name: 'mixed', version: '1', alias: 'champion', created: true }]);
  });

  it('batch-score scores the dataset version as the model predicts those rows directly', async () => {
    const steps = byStep(first);
    const csv = (await s.tracking.readArtifact(steps.score!.runId!, 'outputs/predictions')).toString().trim().split('\n');
    const input = readFileSync(newRows, 'utf8').trim().split(/\r?\n/);
    assert.equal(csv.length, input.length, 'a row out per row in, and the header');
    assert.equal(csv[0], `${input[0]},prediction`);
    assert.equal(steps.score!.metrics.rows, 100);
    const model = loadModel(await s.tracking.readArtifact(steps.train!.runId!, 'outputs/model/model.json'));
    const direct = predict(model, await readTable(newRows, { format: 'csv' })).prediction as ArrayLike<number>;
    const scored = csv.slice(1).map((l) => Number(l.split(',').at(-1)));
    assert.equal(scored.length, direct.length);
    scored.forEach((v, i) => assert.equal(v, direct[i], `row ${i}`));
    // The rows scored are the rows of the dataset version, in order.
    assert.deepEqual(csv.slice(1).map((l) => l.split(',')[0]), input.slice(1).map((l) => l.split(',')[0]));
  });

  it('serves a second run from the cache entirely, registering nothing new', async () => {
    const second = await engine.run(ir, { baseDir: s.dir });
    assert.ok(second.steps.every((x) => x.status === 'cached'), JSON.stringify(statuses(second)));
    assert.deepEqual(second.registered.map((v) => [v.version, v.created]), [['1', false]]);
    assert.equal((await s.registry.searchVersions({ filter: "name = 'mixed'" })).items.length, 1);
  });

  it('a change to the TypeScript module re-runs that step, and its downstream only when its outputs change', async () => {
    // Same behaviour, different source: the step runs again, writes the same bytes, and the
    // command reading them is served from the cache.
    writeFileSync(join(s.dir, 'profile.ts'), `// reformatted\n${PROFILE_TS('')}`);
    const edited = await engine.run(ir, { baseDir: s.dir });
    assert.deepEqual(statuses(edited), {
      ingest: 'cached', profile: 'done', report: 'cached', split: 'cached', train: 'cached', evaluate: 'cached', register: 'cached', ingest_new: 'cached', score: 'cached',
    });
    assert.equal(byStep(edited).profile!.outputs.stats!.sha256, byStep(first).profile!.outputs.stats!.sha256);
    // New output bytes: the command downstream runs again; the other branch stays cached.
    writeFileSync(join(s.dir, 'profile.ts'), PROFILE_TS(', version: 2'));
    const changed = await engine.run(ir, { baseDir: s.dir });
    assert.deepEqual(statuses(changed), {
      ingest: 'cached', profile: 'done', report: 'done', split: 'cached', train: 'cached', evaluate: 'cached', register: 'cached', ingest_new: 'cached', score: 'cached',
    });
    assert.notEqual(byStep(changed).profile!.outputs.stats!.sha256, byStep(first).profile!.outputs.stats!.sha256);
    assert.equal(byStep(changed).report!.outputs.report!.sha256, byStep(first).report!.outputs.report!.sha256, 'the report reads only rows and mean');
  });
});

// ---- components that go wrong: each fails the run naming the step and the cause, and leaves the stores consistent ----

const BAD_TS = `import { writeFileSync } from 'node:fs';
export async function throws(ctx: { inputs: Record<string, unknown> }): Promise<void> {
  throw new Error(\`bad row 7 in \${(ctx.inputs.data as { path: string }).path.split('/').pop()}\`);
}
export async function hangs(): Promise<void> {
  setInterval(() => undefined, 1000);
  await new Promise(() => undefined);
}
export async function writesNothing(ctx: { log(line: string): void }): Promise<void> {
  ctx.log('forgot the decision');
}
export async function decides(ctx: { outputs: Record<string, { path: string }> }): Promise<void> {
  writeFileSync(ctx.outputs.decision!.path, JSON.stringify({ passed: true }));
}
`;

/** ingest → train → register, with the register waiting on the decision of a `check` step made of `check`. */
function guarded(check: Record<string, unknown>, timeoutSeconds?: number): PipelineIR {
  return validatePipeline({
    format: 'trellis.pipeline/v1', name: 'guarded', params: [{ name: 'data', type: 'string' }, { name: 'trees', type: 'integer', default: 5 }],
    components: [{ name: 'check', version: '1', inputs: { data: { type: 'Dataset' } }, outputs: { decision: { type: 'Report' } }, ...check }],
    steps: [
      { name: 'ingest', component: 'ingest', inputs: { dataset: { param: 'data' } } },
      { name: 'train', component: 'train', inputs: { data: { step: 'ingest', output: 'data' }, target: 'cnt', algo: 'gbdt', trees: { param: 'trees' } } },
      { name: 'check', component: 'check', inputs: { data: { step: 'ingest', output: 'data' } }, ...(timeoutSeconds ? { timeoutSeconds } : {}) },
      { name: 'register', component: 'register', inputs: { model: { step: 'train', output: 'model' }, name: 'guarded', decision: { step: 'check', output: 'decision' } } },
    ],
  }, 'guarded');
}

describe('pipeline engine: components that fail', () => {
  let s: Services;
  let engine: PipelineEngine;
  let data: string;
  before(async () => {
    s = await openTestServices();
    data = bikeSlice(s.dir, 300);
    writeFileSync(join(s.dir, 'bad.ts'), BAD_TS);
    engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work') });
  });
  after(async () => s.close());

  const ts = (exportName: string) => ({ kind: 'typescript', module: './bad.ts', export: exportName });

  /** The run FAILED at `check`, whose run is FAILED with the error; register skipped; nothing left RUNNING; no version. */
  async function assertFailedCleanly(r: PipelineRunResult, cause: RegExp): Promise<void> {
    assert.equal(r.status, 'FAILED');
    assert.equal(r.failed?.step, 'check');
    assert.match(r.failed?.error ?? '', cause);
    // ingest and train ran in the first of these runs, and are served from the cache in the others.
    const st = statuses(r);
    assert.deepEqual([st.check, st.register], ['failed', 'skipped']);
    assert.ok(['done', 'cached'].includes(st.ingest!) && ['done', 'cached'].includes(st.train!), JSON.stringify(st));
    const parent = await s.stores.tracking.getRun(r.runId);
    assert.equal(parent.info.status, 'FAILED');
    assert.equal(parent.data.tags['trellis.failed_step'], 'check');
    assert.equal(parent.data.tags['trellis.skipped'], 'register');
    const check = await s.stores.tracking.getRun(byStep(r).check!.runId!);
    assert.equal(check.info.status, 'FAILED');
    assert.match(check.data.tags['trellis.error']!, cause);
    assert.equal(check.data.tags['trellis.outputs'], undefined, 'a failed step records no outputs');
    const running = await s.stores.tracking.searchRuns({ experimentIds: [parent.info.experimentId], filter: [{ kind: 'attribute', key: 'status', comparator: '=', value: 'RUNNING' }] });
    assert.deepEqual(running.items.map((x) => x.info.runId), []);
    assert.deepEqual(r.registered, []);
    assert.equal((await s.registry.searchVersions({ filter: "name = 'guarded'" })).items.length, 0);
  }

  it("a component that throws: the user's error, under the step's name", async () => {
    const r = await engine.run(guarded(ts('throws')), { params: { data }, baseDir: s.dir });
    await assertFailedCleanly(r, /Step 'check' failed: .*bad row 7 in data/);
  });

  it('a component that hangs: stopped at its timeout', async () => {
    const r = await engine.run(guarded(ts('hangs'), 1), { params: { data }, baseDir: s.dir });
    await assertFailedCleanly(r, /Step 'check' exceeded its timeout of 1 s and was stopped/);
  });

  it('a command that exits non-zero: its exit code and the end of its stderr', async () => {
    const r = await engine.run(guarded({ kind: 'command', command: ['/usr/bin/python3', '-c', 'import sys; sys.stderr.write("schema drift in column hr\\n"); sys.exit(4)'] }), { params: { data }, baseDir: s.dir });
    await assertFailedCleanly(r, /Step 'check' failed: .*4[^]*schema drift in column hr/);
  });

  it('a component that writes no declared output: the output named', async () => {
    const r = await engine.run(guarded(ts('writesNothing')), { params: { data }, baseDir: s.dir });
    await assertFailedCleanly(r, /Step 'check' finished without writing its declared output 'decision'/);
  });

  it('a parameter of the wrong type: refused before anything is recorded', async () => {
    const ir = guarded(ts('decides'));
    await assert.rejects(engine.run(ir, { params: { data, trees: 'many' } }), (e: unknown) => {
      assert.ok(isTrellisError(e, 'TRELLIS_PIPELINE_INVALID'), String(e));
      assert.match(e.message, /pipeline parameter 'trees' is an integer, but the value given for it is the string "many"/);
      return true;
    });
    await assert.rejects(engine.run(ir, { params: { data, depth: 3 } }), /pipeline 'guarded' has no parameter 'depth'/);
    // Nothing was recorded for the refused runs: the experiment holds the four failed runs above, each with its steps.
    const exp = await s.stores.tracking.getExperimentByName('guarded');
    const parents = await s.stores.tracking.searchRuns({ experimentIds: [exp.experimentId], filter: [{ kind: 'tag', key: 'trellis.pipeline', comparator: '=', value: 'guarded' }] });
    assert.deepEqual(parents.items.map((x) => x.info.status), ['FAILED', 'FAILED', 'FAILED', 'FAILED']);
    // And the same pipeline with good values runs through, registering once.
    const ok = await engine.run(ir, { params: { data }, baseDir: s.dir });
    assert.equal(ok.status, 'FINISHED', JSON.stringify(ok.failed));
    assert.deepEqual(ok.registered.map((v) => [v.name, v.version, v.created]), [['guarded', '1', true]]);
  });
});

// ---- a command reading a pipeline parameter through {params.NAME} ----

describe('pipeline engine: {params.NAME} in a command', () => {
  let s: Services;
  let engine: PipelineEngine;
  const jobs: StepJob[] = [];
  const ir = validatePipeline({
    format: 'trellis.pipeline/v1', name: 'echo-params', params: [{ name: 'iters', type: 'integer', default: 3 }],
    components: [{ kind: 'command', name: 'echo', version: '1', outputs: { out: { type: 'File' } }, command: ['sh', '-c', 'echo {params.iters} > {outputs.out}'] }],
    steps: [{ name: 'echo', component: 'echo' }],
  }, 'echo-params');
  const output = async (r: PipelineRunResult) => {
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    const st = byStep(r).echo!;
    return (await s.tracking.readArtifact(st.outputs.out!.run, 'outputs/out')).toString();
  };
  before(async () => {
    s = await openTestServices();
    // Each job goes through JSON, as a queue carries it to a worker.
    const local = localDispatcher(s, who);
    const dispatcher: StepDispatcher = {
      execute: (job, ctx) => {
        const carried = JSON.parse(JSON.stringify(job)) as StepJob;
        jobs.push(carried);
        return local.execute(carried, ctx);
      },
    };
    engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work'), dispatcher });
  });
  after(async () => s.close());

  it("substitutes the run's value of the parameter, given or its default, and sends it with the job", async () => {
    const given = await engine.run(ir, { params: { iters: 5 }, baseDir: s.dir });
    assert.equal(await output(given), '5\n');
    assert.deepEqual(jobs.at(-1)!.params, { iters: 5 });
    const byDefault = await engine.run(ir, { baseDir: s.dir });
    assert.equal(await output(byDefault), '3\n');
    assert.equal(byStep(byDefault).echo!.status, 'done');
  });

  it('another value of the parameter is not a cache hit; the same value is', async () => {
    const five = await engine.run(ir, { params: { iters: 5 }, baseDir: s.dir });
    assert.equal(byStep(five).echo!.status, 'cached');
    assert.equal(await output(five), '5\n');
    const seven = await engine.run(ir, { params: { iters: 7 }, baseDir: s.dir });
    assert.equal(byStep(seven).echo!.status, 'done');
    assert.equal(await output(seven), '7\n');
    assert.notEqual(byStep(seven).echo!.cacheKey, byStep(five).echo!.cacheKey);
    // The key's recorded parts say which parameter it read, so `pipelines why` can name the change.
    const rec = await s.pipelines.getStepRun(byStep(seven).echo!.runId!);
    assert.deepEqual(rec.keyParts?.params, { iters: 7 });
    const why = await explainCache(s.pipelines, seven.runId, 'echo');
    assert.equal(why.verdict, 'miss');
    assert.deepEqual(why.changes.map((c) => [c.part, c.key, c.after]), [['param', 'iters', 7]]);
  });
});
