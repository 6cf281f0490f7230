import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parsePipelineSource, validatePipeline } from './ir.js';
import { LINT_CHECKS, lintPipeline, type Finding, type LintOptions } from './lint.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** A small valid pipeline: built-ins around a command component. Each test breaks one thing. */
function demo() {
  return {
    format: 'trellis.pipeline/v1',
    name: 'demo',
    params: [{ name: 'target', type: 'string', default: 'cnt' }, { name: 'trees', type: 'integer', default: 100 }] as Record<string, unknown>[],
    components: [{
      name: 'features', version: '1', kind: 'command',
      command: ['python', 'features.py', '--in', '{inputs.data}', '--lags', '{inputs.lags}', '--out', '{outputs.features}'],
      inputs: { data: { type: 'Dataset' }, lags: { type: 'integer', default: 24 } },
      outputs: { features: { type: 'Dataset' } },
    }] as Record<string, unknown>[],
    steps: [
      { name: 'ingest', component: 'ingest', inputs: { dataset: 'bike@latest' } },
      { name: 'features', component: 'features', inputs: { data: { step: 'ingest', output: 'data' } } },
      { name: 'split', component: 'split', inputs: { data: { step: 'features', output: 'features' }, strategy: 'time', orderBy: 'dteday,hr' } },
      { name: 'train', component: 'train', inputs: { data: { step: 'split', output: 'train' }, target: { param: 'target' }, trees: { param: 'trees' } } },
      { name: 'evaluate', component: 'evaluate', inputs: { model: { step: 'train', output: 'model' }, data: { step: 'split', output: 'test' } } },
    ] as { name: string; component: string; inputs: Record<string, unknown> }[],
  };
}
type Demo = ReturnType<typeof demo>;

const lint = (doc: Demo, o?: LintOptions) => lintPipeline(validatePipeline(doc, 'demo.json'), o);
const step = (doc: Demo, name: string) => doc.steps.find((s) => s.name === name)!;

/** The one finding of a broken pipeline, which must come from `check`. */
function only(findings: Finding[], check: string): Finding {
  assert.deepEqual(findings.map((f) => f.check), [check], JSON.stringify(findings, null, 1));
  return findings[0]!;
}

describe('lintPipeline', () => {
  it('finds nothing in a sound pipeline, nor in the bike examples', () => {
    assert.deepEqual(lint(demo()), []);
    const src = parsePipelineSource(readFileSync(here('../../examples/pipelines/bike.pipeline.yaml'), 'utf8'), 'bike.pipeline.yaml');
    assert.deepEqual(lintPipeline(src.ir, { locate: src.locate }), []);
  });

  it('cycle: names the steps on the cycle, in the direction the data flows', () => {
    const d = demo();
    step(d, 'features').inputs.data = { step: 'split', output: 'train' };
    const f = only(lint(d), 'cycle');
    assert.equal(f.message, "steps 'features', 'split' form a cycle: features → split → features; each reads an output of the one before it");
    assert.equal(f.severity, 'error');
    assert.equal(f.step, 'features');
  });

  it('dangling-input: an unknown step, an output its component does not declare, an undeclared parameter', () => {
    const d = demo();
    step(d, 'train').inputs.data = { step: 'splitt', output: 'train' };
    const f = only(lint(d), 'dangling-input');
    assert.equal(f.message, "step 'train' input 'data' reads step 'splitt', which does not exist; did you mean 'split'?");
    assert.deepEqual([f.step, f.input, f.path], ['train', 'data', ['steps', 3, 'inputs', 'data']]);

    const o = demo();
    step(o, 'evaluate').inputs.data = { step: 'split', output: 'holdout' };
    assert.equal(only(lint(o), 'dangling-input').message, "step 'evaluate' input 'data' reads output 'holdout' of step 'split', which its component split@1 does not declare; its outputs are train and test");

    const p = demo();
    step(p, 'train').inputs.trees = { param: 'tree' };
    step(p, 'split').inputs.seed = { param: 'trees' };
    assert.equal(only(lint(p), 'dangling-input').message, "step 'train' input 'trees' reads pipeline parameter 'tree', which is not declared; did you mean 'trees'?");
  });

  it('type-mismatch: an output or a parameter of another type, naming both steps, the output, the input and both types', () => {
    const d = demo();
    step(d, 'evaluate').inputs.data = { step: 'train', output: 'model' };
    const f = only(lint(d), 'type-mismatch');
    assert.equal(f.message, "step 'evaluate' input 'data' takes a Dataset, but it is wired to output 'model' of step 'train', which is a Model");
    assert.deepEqual([f.step, f.input], ['evaluate', 'data']);

    const p = demo();
    step(p, 'train').inputs.target = { param: 'trees' };
    p.params.shift();
    assert.equal(only(lint(p), 'type-mismatch').message, "step 'train' input 'target' takes a string, but it is wired to pipeline parameter 'trees', which is an integer");

    // An integer parameter may feed a number input.
    const ok = demo();
    step(ok, 'split').inputs.testSize = { param: 'trees' };
    assert.deepEqual(lint(ok), []);
  });

  it('unknown-component: neither defined nor built in, a built-in version that does not exist, two versions without one chosen', () => {
    const d = demo();
    step(d, 'features').component = 'featurs';
    const f = only(lint(d), 'unknown-component');
    assert.equal(f.message, "step 'features' uses component 'featurs', which is neither defined in this pipeline nor built in; did you mean 'features'?");
    assert.deepEqual(f.path, ['steps', 1, 'component']);

    const v = demo();
    step(v, 'train').component = 'train@2';
    assert.equal(only(lint(v), 'unknown-component').message, "step 'train' uses component 'train@2', but the built-in 'train' has version 1 only");

    const two = demo();
    two.components.push({ ...two.components[0], version: '2' });
    assert.equal(only(lint(two), 'unknown-component').message, "step 'features' uses component 'features', which has versions 1 and 2 in this pipeline; write features@1 or features@2");

    const b = demo();
    b.components.push({ name: 'deploy', version: '1', kind: 'builtin' });
    assert.equal(only(lint(b), 'unknown-component').message, "component 'deploy@1' is declared builtin, but there is no such built-in; the built-ins are ingest, validate, split, train, evaluate, gate, register and batch-score");
  });

  it('missing-parameter: a required input left unset; a parameter without a default when values are given for a run', () => {
    const d = demo();
    delete step(d, 'train').inputs.target;
    d.params.shift();
    const f = only(lint(d), 'missing-parameter');
    assert.equal(f.message, "step 'train' does not set input 'target' (a string), which its component train@1 requires");
    assert.deepEqual([f.step, f.input, f.path], ['train', 'target', ['steps', 3, 'inputs']]);

    const p = demo();
    delete p.params[1]!.default;
    assert.deepEqual(lint(p), [], 'without run values, a parameter may be given later');
    assert.equal(only(lint(p, { params: { target: 'casual' } }), 'missing-parameter').message, "pipeline parameter 'trees' (an integer) has no default and no value was given for it");
    assert.deepEqual(lint(p, { params: { trees: 10 } }), []);
  });

  it('unknown-input: an input the component does not declare', () => {
    const d = demo();
    step(d, 'train').inputs.tress = 300;
    const f = only(lint(d), 'unknown-input');
    assert.equal(f.message, "step 'train' sets input 'tress', which its component train@1 does not declare; did you mean 'trees'?");
    assert.deepEqual([f.step, f.input], ['train', 'tress']);
    const e = demo();
    step(e, 'ingest').inputs.path = 'x.csv';
    assert.equal(only(lint(e), 'unknown-input').message, "step 'ingest' sets input 'path', which its component ingest@1 does not declare; its inputs are dataset and query");
  });

  it('duplicate-name: steps, component versions and parameters', () => {
    const d = demo();
    d.steps.push({ ...step(d, 'evaluate') });
    assert.equal(only(lint(d), 'duplicate-name').message, "step name 'evaluate' is used by 2 steps (steps[4], steps[5]); step names must be unique");
    const c = demo();
    c.components.push(structuredClone(c.components[0]!));
    assert.equal(only(lint(c), 'duplicate-name').message, 'component features@1 is defined 2 times (components[0], components[1])');
    const p = demo();
    p.params.push({ name: 'trees', type: 'integer', default: 5 });
    assert.equal(only(lint(p), 'duplicate-name').message, "pipeline parameter 'trees' is declared 2 times (params[1], params[2])");
  });

  it('param-type: a literal of the wrong type or outside the allowed values, for inputs and defaults', () => {
    const cases: [(d: Demo) => void, string][] = [
      [(d) => { step(d, 'split').inputs.testSize = 'a fifth'; }, `step 'split' input 'testSize' takes a number, got the string "a fifth"`],
      [(d) => { step(d, 'features').inputs.lags = 2.5; }, "step 'features' input 'lags' takes an integer, got the number 2.5"],
      [(d) => { step(d, 'split').inputs.strategy = 'chronological'; }, `step 'split' input 'strategy' takes one of random, stratified, time, got the string "chronological"`],
      [(d) => { step(d, 'ingest').inputs.dataset = true; }, "step 'ingest' input 'dataset' takes a string, got true"],
      [(d) => { step(d, 'evaluate').inputs.data = 'test.csv'; }, `step 'evaluate' input 'data' takes a Dataset, which only an upstream step's output can give, not the string "test.csv"`],
      [(d) => { d.params[1]!.default = 'many'; }, `pipeline parameter 'trees' is an integer, but its default is the string "many"`],
      [(d) => { (d.components[0]!.inputs as Record<string, unknown>).lags = { type: 'integer', default: 'day' }; }, `component features@1 input 'lags' takes an integer, got the string "day" as its default`],
      [(d) => { d.params[0]!.default = 'nope'; step(d, 'split').inputs.strategy = { param: 'target' }; step(d, 'train').inputs.target = 'cnt'; }, "step 'split' input 'strategy' takes one of random, stratified, time, but pipeline parameter 'target' is the string \"nope\""],
    ];
    for (const [breakIt, message] of cases) {
      const d = demo();
      breakIt(d);
      assert.equal(only(lint(d), 'param-type').message, message);
    }
    const run = lint(demo(), { params: { trees: 'many' } });
    assert.equal(only(run, 'param-type').message, `pipeline parameter 'trees' is an integer, but the value given for it is the string "many"`);
  });

  it('placeholder: a command placeholder naming no input, output or parameter', () => {
    const d = demo();
    (d.components[0]!.command as string[])[7] = '{outputs.feature}';
    const f = only(lint(d), 'placeholder');
    assert.equal(f.message, "step 'features' (component features@1) uses placeholder {outputs.feature}, but the component declares no such output; did you mean 'features'?");
    assert.deepEqual(f.path, ['components', 0, 'command', 7]);
    const n = demo();
    n.components[0]!.env = { SEED: '{run.seed}' };
    assert.equal(only(lint(n), 'placeholder').message, "step 'features' (component features@1) uses placeholder {run.seed}; placeholders are {inputs.NAME}, {outputs.NAME} and {params.NAME}");
  });

  it('placeholder: an unknown {params.NAME} in a command is refused, naming the step and the placeholder', () => {
    const p = demo();
    (p.components[0]!.command as string[]).push('--iters', '{params.iters}');
    const f = only(lint(p), 'placeholder');
    assert.equal(f.severity, 'error');
    assert.equal(f.step, 'features');
    assert.equal(f.message, "step 'features' (component features@1) uses placeholder {params.iters}, but the pipeline declares no such parameter; there are target and trees");
    assert.deepEqual(f.path, ['components', 0, 'command', 9]);
    // Two steps running the component are both named; a component no step runs is named alone.
    p.steps.push({ name: 'features2', component: 'features', inputs: { data: { step: 'ingest', output: 'data' } } });
    assert.match(only(lint(p), 'placeholder').message, /^steps 'features' and 'features2' \(component features@1\) use placeholder \{params\.iters\}, but/);
    p.steps = p.steps.filter((s) => !s.name.startsWith('features'));
    step(p, 'split').inputs.data = { step: 'ingest', output: 'data' };
    assert.equal(lint(p).find((x) => x.check === 'placeholder')?.message, "component features@1 uses placeholder {params.iters}, but the pipeline declares no such parameter; there are target and trees");
    // Declared, it passes.
    const q = demo();
    q.params.push({ name: 'iters', type: 'integer', default: 3 });
    (q.components[0]!.command as string[]).push('--iters', '{params.iters}');
    assert.deepEqual(lint(q), []);
  });

  it('unknown-parameter: a value given for a parameter the pipeline does not declare', () => {
    assert.equal(only(lint(demo(), { params: { tres: 5 } }), 'unknown-parameter').message, "a value was given for parameter 'tres', which the pipeline does not declare; did you mean 'trees'?");
  });

  it('trigger: a pipeline started by its own completion, values for unknown or mistyped parameters, a required parameter left unset, a repeat', () => {
    const d = { ...demo(), triggers: [{ pipeline: 'demo' }] as Record<string, unknown>[] };
    assert.equal(only(lint(d), 'trigger').message, "pipeline trigger 'demo' (triggers[0]) starts pipeline 'demo' when it finishes itself, so it would run forever");
    d.triggers = [{ cron: '0 3 * * *', params: { tress: 5 } }];
    assert.equal(only(lint(d), 'trigger').message, "cron trigger '0 3 * * *' (triggers[0]) gives a value to parameter 'tress', which the pipeline does not declare; did you mean 'trees'?");
    d.triggers = [{ dataset: 'bike', params: { trees: 'many' } }];
    assert.equal(only(lint(d), 'trigger').message, 'dataset trigger \'bike\' (triggers[0]): parameter \'trees\' takes an integer, got the string "many"');
    d.params.push({ name: 'region', type: 'string' });
    step(d, 'ingest').inputs.dataset = { param: 'region' };
    d.triggers = [{ api: true }, { pipeline: 'etl' }];
    const f = only(lint(d), 'trigger');
    assert.equal(f.message, "pipeline trigger 'etl' (triggers[1]) starts runs without a value for parameter 'region' (a string), which has no default: give it in the trigger's params");
    assert.deepEqual(f.path, ['triggers', 1]);
    d.triggers = [{ pipeline: 'etl', params: { region: 'eu' } }, { pipeline: 'etl', params: { region: 'eu' } }];
    const w = only(lint(d), 'trigger');
    assert.equal(w.severity, 'warning');
    assert.match(w.message, /repeats triggers\[0\]/);
  });

  it('unused-parameter: a warning, and the only finding that is not an error', () => {
    const d = demo();
    d.params.push({ name: 'seed', type: 'integer', default: 1 });
    const f = only(lint(d), 'unused-parameter');
    assert.equal(f.severity, 'warning');
    assert.equal(f.message, "pipeline parameter 'seed' is not read by any step input or command, so setting it changes nothing");
    // A command reading it through {params.seed} uses it.
    (d.components[0]!.command as string[]).push('--seed', '{params.seed}');
    assert.deepEqual(lint(d), []);
  });

  it('reports every problem at once, errors first, with the line in the YAML source', () => {
    const text = readFileSync(here('../../examples/pipelines/bike.pipeline.yaml'), 'utf8')
      .replace('data: { step: split, output: test }', 'data: { step: train, output: model }')
      .replace('component: gate', 'component: gat')
      .replace('steps:\n', '  - name: trees\n    type: integer\n  - name: seed\n    type: integer\nsteps:\n');
    const src = parsePipelineSource(text, 'bike.yaml');
    const findings = lintPipeline(src.ir, { locate: src.locate });
    const lines = text.split('\n');
    const lineOf = (s: string) => lines.findIndex((l) => l.includes(s)) + 1;
    assert.deepEqual(findings.map((f) => [f.check, f.severity, f.line]), [
      ['duplicate-name', 'error', lines.lastIndexOf('  - name: trees') + 1],
      ['unknown-component', 'error', lineOf('component: gat')],
      ['type-mismatch', 'error', lineOf('data: { step: train, output: model }')],
      ['unused-parameter', 'warning', lineOf('- name: seed')],
    ]);
  });

  it('every check is documented in docs/pipelines.md', () => {
    const doc = readFileSync(here('../../docs/pipelines.md'), 'utf8');
    for (const c of LINT_CHECKS) assert.match(doc, new RegExp(`^\\| \`${c.name}\` \\|`, 'm'), c.name);
  });
});
