import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parsePipeline, pipelineHash, type PipelineIR } from './ir.js';
import { lintPipeline } from './lint.js';
import { builtin, commandComponent, component, OutputHandle, ParamHandle, pipeline } from './sdk.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export const prep = component({
  name: 'feature-prep',
  version: '2',
  description: 'lagged counts',
  module: import.meta.url,
  inputs: { data: { type: 'Dataset' }, lags: { type: 'integer', default: 24 } },
  outputs: { features: { type: 'Dataset' } },
  run(ctx) {
    // The context is typed from the declaration: a path for the Dataset, a number for the integer.
    const path: string = ctx.inputs.data.path;
    const lags: number = ctx.inputs.lags;
    ctx.log(`${path} ${lags} → ${ctx.outputs.features.path}`);
  },
});

const score = commandComponent({
  name: 'score', version: '1', image: 'python:3.12-slim',
  command: ['python', 'score.py', '{inputs.model}', '{inputs.data}', '{outputs.scores}'],
  env: { THREADS: '2' },
  inputs: { model: { type: 'Model' }, data: { type: 'Dataset' } },
  outputs: { scores: { type: 'Dataset' } },
});

describe('pipeline SDK', () => {
  it('compiles to the IR that the same pipeline written as JSON parses to', () => {
    const ir = pipeline('demo', (p) => {
      const target = p.param('target', 'string', { default: 'cnt' });
      const data = p.step('ingest', builtin.ingest, { dataset: 'bike@latest' });
      const f = p.step('prep', prep, { data: data.outputs.data });
      const split = p.step('split', builtin('split'), { data: f.outputs.features, strategy: 'time', orderBy: 'dteday,hr' });
      const t = p.step('train', builtin.train, { data: split.outputs.train, target, trees: 50 }, { retries: 2, timeoutSeconds: 600, cache: { ttlSeconds: 3600 } });
      p.step('score', score, { model: t.outputs.model, data: split.outputs.test });
    }, { version: '3', baseUrl: import.meta.url });
    const json: PipelineIR = parsePipeline(JSON.stringify({
      format: 'trellis.pipeline/v1', name: 'demo', version: '3',
      params: [{ name: 'target', type: 'string', default: 'cnt' }],
      components: [
        {
          name: 'feature-prep', version: '2', kind: 'typescript', description: 'lagged counts', module: './sdk.test.ts', export: 'featurePrep',
          inputs: { data: { type: 'Dataset' }, lags: { type: 'integer', default: 24 } }, outputs: { features: { type: 'Dataset' } },
        },
        {
          name: 'score', version: '1', kind: 'command', image: 'python:3.12-slim', env: { THREADS: '2' },
          command: ['python', 'score.py', '{inputs.model}', '{inputs.data}', '{outputs.scores}'],
          inputs: { model: { type: 'Model' }, data: { type: 'Dataset' } }, outputs: { scores: { type: 'Dataset' } },
        },
      ],
      steps: [
        { name: 'ingest', component: 'ingest', inputs: { dataset: 'bike@latest' } },
        { name: 'prep', component: 'feature-prep', inputs: { data: { step: 'ingest', output: 'data' } } },
        { name: 'split', component: 'split', inputs: { data: { step: 'prep', output: 'features' }, strategy: 'time', orderBy: 'dteday,hr' } },
        { name: 'train', component: 'train', inputs: { data: { step: 'split', output: 'train' }, target: { param: 'target' }, trees: 50 }, retries: 2, timeoutSeconds: 600, cache: { ttlSeconds: 3600 } },
        { name: 'score', component: 'score', inputs: { model: { step: 'train', output: 'model' }, data: { step: 'split', output: 'test' } } },
      ],
    }), 'demo.json');
    assert.deepEqual(ir, json);
    assert.deepEqual(lintPipeline(ir), []);
  });

  it('a TypeScript component is the function the executor calls, carrying its definition', async () => {
    assert.equal(typeof prep, 'function');
    assert.deepEqual([prep.kind, prep.name, prep.version, prep.export, prep.module], ['typescript', 'feature-prep', '2', 'featurePrep', import.meta.url]);
    const logged: string[] = [];
    await prep({
      step: 'prep', attempt: 1, outputDir: '/out', inputs: { data: { type: 'Dataset', path: '/in/data' }, lags: 12 },
      outputs: { features: { type: 'Dataset', path: '/out/features' } }, log: (m) => logged.push(m), metric: () => {},
    });
    assert.deepEqual(logged, ['/in/data 12 → /out/features']);
    // Without a base URL the module stays an absolute file: URL.
    const ir = pipeline('abs', (p) => { p.step('prep', prep, { data: p.step('i', builtin.ingest, { dataset: 'x' }).outputs.data }); });
    assert.equal((ir.components[0] as { module: string }).module, import.meta.url);
  });

  it('outputs and parameters are typed handles; wiring mistakes are refused by TypeScript and reported by the linter', () => {
    const ir = pipeline('typed', (p) => {
      const data = p.step('ingest', builtin.ingest, { dataset: 'x' });
      const t = p.step('train', builtin.train, { data: data.outputs.data, target: 'y' });
      assert.ok(t.outputs.model instanceof OutputHandle);
      assert.deepEqual([t.outputs.model.step, t.outputs.model.output, t.outputs.model.type], ['train', 'model', 'Model']);
      const n = p.param('n', 'integer', { default: 3 });
      assert.ok(n instanceof ParamHandle);
      p.step('split', builtin.split, { data: data.outputs.data, testSize: n }); // an integer parameter feeds a number input
      // @ts-expect-error a Model output into a Dataset input
      p.step('eval', builtin.evaluate, { model: t.outputs.model, data: t.outputs.model });
      // @ts-expect-error an input the component does not declare
      p.step('eval2', builtin.evaluate, { model: t.outputs.model, data: data.outputs.data, tress: 3 });
      // @ts-expect-error a required input missing
      p.step('train2', builtin.train, { data: data.outputs.data });
      // @ts-expect-error a value outside the allowed ones
      p.step('train3', builtin.train, { data: data.outputs.data, target: 'y', algo: 'xgboost' });
      // @ts-expect-error a string for an integer
      p.step('train4', builtin.train, { data: data.outputs.data, target: 'y', trees: 'many' });
      // @ts-expect-error a string parameter for an integer input
      p.step('train5', builtin.train, { data: data.outputs.data, target: 'y', trees: p.param('s', 'string') });
    });
    assert.deepEqual(lintPipeline(ir).map((f) => [f.check, f.step, f.input]), [
      ['unknown-input', 'eval2', 'tress'],
      ['missing-parameter', 'train2', 'target'],
      ['type-mismatch', 'eval', 'data'],
      ['type-mismatch', 'train5', 'trees'],
      ['param-type', 'train3', 'algo'],
      ['param-type', 'train4', 'trees'],
    ]);
  });

  it('refuses what the schema refuses, naming the field', () => {
    assert.throws(() => pipeline('bad name!', (p) => { p.step('i', builtin.ingest, { dataset: 'x' }); }),
      /^TrellisError: Pipeline 'bad name!' \(built with the SDK\) is invalid: name: a pipeline name must start with a letter/);
    assert.throws(() => pipeline('p', (p) => { p.step('i', builtin.ingest, { dataset: 'x' }, { retries: -1 }); }), /steps\[0\]\.retries: expected an integer from 0 to 100/);
    assert.throws(() => builtin('deploy' as 'train'), /no built-in component 'deploy'; the built-ins are ingest, validate/);
  });

  it('the bike example compiles to the same IR as its YAML twin, and both lint clean', async () => {
    const mod = (await import(new URL('../../examples/pipelines/bike.pipeline.ts', import.meta.url).href)) as { default: PipelineIR };
    const yaml = parsePipeline(readFileSync(here('../../examples/pipelines/bike.pipeline.yaml'), 'utf8'), 'bike.pipeline.yaml');
    assert.equal(pipelineHash(mod.default), pipelineHash(yaml));
    assert.deepEqual(mod.default, yaml);
    assert.deepEqual(lintPipeline(mod.default), []);
    assert.deepEqual(yaml.steps.map((s) => s.component), ['ingest@1', 'validate@1', 'split@1', 'train@1', 'evaluate@1', 'gate@1', 'register@1']);
    const gate = yaml.steps.find((s) => s.name === 'gate')!;
    assert.equal(gate.inputs.condition, 'rmse <= 80 and rmse <= champion.rmse * 1.02');
    assert.deepEqual(yaml.steps.find((s) => s.name === 'register')!.inputs.alias, 'champion');
  });
  it('declares triggers and a concurrency policy, as the YAML form does, and refuses a bad cron expression by its trigger', () => {
    const build = (p: Parameters<Parameters<typeof pipeline>[1]>[0]) => { p.step('ingest', builtin.ingest, { dataset: 'bike@latest' }); };
    const ir = pipeline('nightly', build, { triggers: [{ cron: '0 3 * * *', timezone: 'UTC' }, { dataset: 'bike' }, { api: true }], concurrency: 'skip' });
    const yaml = parsePipeline(`format: trellis.pipeline/v1
name: nightly
steps: [{ name: ingest, component: ingest, inputs: { dataset: bike@latest } }]
triggers: [{ cron: "0 3 * * *", timezone: UTC }, { dataset: bike }, { api: true }]
concurrency: skip
`, 'nightly.yaml');
    assert.deepEqual(ir, yaml);
    assert.equal(pipelineHash(ir), pipelineHash(yaml));
    assert.equal(pipeline('plain', build).triggers, undefined);
    assert.throws(() => pipeline('bad', build, { triggers: [{ cron: 'every night' }] }), /triggers\[0\]\.cron: invalid cron expression 'every night'/);
  });
});
