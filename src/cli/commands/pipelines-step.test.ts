/**
 * An exported Argo workflow, executed the way Argo would: tasks in dependency order, each task's
 * container args run as `trellis …` with `{{…}}` parameters filled in, and each output artifact
 * copied to the input folder of the tasks that take it. Nothing of Argo runs here; what is checked
 * is that the workflow's containers, as written, run the pipeline — and give the engine's results.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram } from '../program.js';
import { PipelineEngine } from '../../pipelines/engine/engine.js';
import { BIKE_YAML, bikeSlice, openTestServices } from '../../pipelines/engine/test-helpers/engine-fixture.js';
import { parsePipeline } from '../../pipelines/ir.js';
import { toArgoWorkflow, INPUTS_DIR, OUTPUTS_DIR, type ArgoWorkflow } from '../../pipelines/export/argo.js';

const who = { actor: 'tester' };
type Services = Awaited<ReturnType<typeof openTestServices>>;

async function trellis(args: string[], env: Record<string, string>): Promise<void> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    process.exitCode = 0;
    await buildProgram().parseAsync(['node', 'trellis', ...args]);
    assert.equal(process.exitCode ?? 0, 0, `trellis ${args.join(' ')} failed`);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Runs the workflow's DAG task by task in `dir`, with workflow parameter overrides. */
async function runLikeArgo(wf: ArgoWorkflow, dir: string, store: string[], overrides: Record<string, string>): Promise<Record<string, string>> {
  const dag = wf.spec.templates[0]!.dag!.tasks;
  const templates = new Map(wf.spec.templates.map((t) => [t.name, t]));
  const wfParams: Record<string, string> = Object.fromEntries(wf.spec.arguments.parameters.map((p) => [p.name, overrides[p.name] ?? p.value ?? '']));
  const done = new Set<string>();
  const outDir = (task: string) => join(dir, task, 'outputs');
  while (done.size < dag.length) {
    const ready = dag.filter((t) => !done.has(t.name) && (t.dependencies ?? []).every((d) => done.has(d)));
    assert.ok(ready.length, 'the DAG has a task that can run');
    for (const task of ready) {
      const tpl = templates.get(task.template)!;
      const inputs = join(dir, task.name, 'inputs');
      mkdirSync(inputs, { recursive: true });
      for (const a of task.arguments?.artifacts ?? []) {
        const m = /^\{\{tasks\.([^.]+)\.outputs\.artifacts\.([^}]+)\}\}$/.exec(a.from ?? "")!;
        cpSync(join(outDir(m[1]!), m[2]!), join(inputs, a.name), { recursive: true });
      }
      // Argo: a template's input parameter takes the task's argument, else its own default.
      const taskParams: Record<string, string> = Object.fromEntries((tpl.inputs?.parameters ?? []).filter((p) => p.default !== undefined).map((p) => [p.name, p.default!]));
      for (const p of task.arguments?.parameters ?? []) taskParams[p.name] = (p.value ?? '').replace(/\{\{workflow\.parameters\.([^}]+)\}\}/g, (_, n: string) => wfParams[n] ?? '');
      const fill = (s: string) => s.replace(/\{\{inputs\.parameters\.([^}]+)\}\}/g, (_, n: string) => taskParams[n]!)
        .replace(INPUTS_DIR, inputs).replace(OUTPUTS_DIR, outDir(task.name));
      const c = tpl.container!;
      assert.deepEqual(c.command, ['trellis']);
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
      await trellis([...store, ...c.args!.map(fill)], env);
      for (const o of tpl.outputs?.artifacts ?? []) assert.ok(existsSync(join(outDir(task.name), o.name)), `task ${task.name} wrote ${o.name}`);
      done.add(task.name);
    }
  }
  return Object.fromEntries(dag.map((t) => [t.name, outDir(t.name)]));
}

describe('an exported Argo workflow runs with trellis pipelines step', () => {
  let s: Services;
  before(async () => {
    s = await openTestServices();
  });
  after(async () => s.close());

  it('runs the bike pipeline task by task, registers the champion from the train step run, and matches the engine', async () => {
    const data = bikeSlice(s.dir, 1200);
    await s.data.add('bike', data, {}, who);
    const ir = parsePipeline(readFileSync(BIKE_YAML, 'utf8'), BIKE_YAML);
    const wf = toArgoWorkflow(ir, { image: 'trellis:test' });
    const store = ['--store', `sqlite:${join(s.dir, 't.db')}`, '--artifacts', `file:${join(s.dir, 'artifacts')}`];
    const dirs = await runLikeArgo(wf, join(s.dir, 'argo'), store, { trees: '12' });

    const exp = await s.stores.tracking.getExperimentByName('bike');
    const runs = (await s.stores.tracking.searchRuns({ experimentIds: [exp.experimentId], maxResults: 100 })).items;
    const byStep = Object.fromEntries(runs.map((r) => [r.data.tags['trellis.step'], r]));
    for (const step of ir.steps.map((x) => x.name)) assert.equal(byStep[step]?.info.status, 'FINISHED', `step ${step}`);
    assert.equal(byStep.train!.data.params.trees, '12');
    const champion = await s.stores.registry.getVersionByAlias('bike', 'champion');
    assert.equal(champion.runId, byStep.train!.info.runId, 'register found the run that made the model it was given');

    // The engine on the same data and parameters writes the same bytes.
    const r = await new PipelineEngine(s, { who }).run(ir, { params: { trees: 12 }, experiment: 'bike-engine' });
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    for (const step of ['split', 'train', 'evaluate']) {
      const out = r.steps.find((x) => x.step === step)!.outputs;
      for (const [name, e] of Object.entries(out)) {
        const { hashOutput } = await import('../../pipelines/executors/index.js');
        assert.equal(await hashOutput(join(dirs[step]!, name)), e.sha256, `${step}.${name}`);
      }
    }
  });

  it('a step whose input folder names an input the component does not have is refused', async () => {
    const inputs = join(s.dir, 'bad', 'inputs');
    mkdirSync(inputs, { recursive: true });
    cpSync(bikeSlice(s.dir, 50), join(inputs, 'nonsense'));
    await assert.rejects(
      buildProgram().parseAsync(['node', 'trellis', '--store', `sqlite:${join(s.dir, 't.db')}`, '--artifacts', `file:${join(s.dir, 'artifacts')}`,
        'pipelines', 'step', '--component', 'validate@1', '--inputs', inputs, '--outputs', join(s.dir, 'bad', 'out')]),
      /component validate@1 has no input 'nonsense'/,
    );
    await assert.rejects(
      buildProgram().parseAsync(['node', 'trellis', '--store', `sqlite:${join(s.dir, 't.db')}`, 'pipelines', 'step', '--component', 'split@1', '--inputs', join(s.dir, 'none'), '--outputs', join(s.dir, 'o'), '--input', 'testSize=lots']),
      /input 'testSize' must be a number, got 'lots'/,
    );
  });
});
