import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { TrellisError } from '../core/errors.js';
import { BUILTINS } from './builtins.js';
import { findCycles, normalizePipeline, parsePipeline, parsePipelineSource, pipelineHash, topologicalOrder, validatePipeline, type PipelineIR } from './ir.js';

const BIKE_YAML = fileURLToPath(new URL('../../examples/pipelines/bike.pipeline.yaml', import.meta.url));

const YAML_TEXT = `format: trellis.pipeline/v1
name: small
params:
  - { name: target, type: string, default: cnt }
steps:
  - name: ingest
    component: ingest
    inputs: { dataset: bike@latest }
  - name: train
    component: train
    inputs:
      data: { step: ingest, output: data }
      target: { param: target }
      trees: 50
    retries: 2
`;

// The same pipeline, written independently as JSON: keys in another order, versions spelled out,
// defaults written where the YAML leaves them out.
const JSON_TEXT = `{
  "steps": [
    { "inputs": { "dataset": "bike@latest" }, "component": "ingest@1", "name": "ingest", "cache": { "enabled": true } },
    { "name": "train", "component": "train@1", "retries": 2, "inputs": { "trees": 50, "target": { "param": "target" }, "data": { "output": "data", "step": "ingest" } } }
  ],
  "params": [{ "default": "cnt", "type": "string", "name": "target" }],
  "version": "1",
  "name": "small",
  "format": "trellis.pipeline/v1"
}`;

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TrellisError, String(e));
    assert.equal(e.code, 'TRELLIS_PIPELINE_INVALID');
    return e.message;
  }
  assert.fail('expected TRELLIS_PIPELINE_INVALID');
}

const twoSteps = (): PipelineIR => parsePipeline(YAML_TEXT, 'small.yaml');

describe('pipeline IR: parsing', () => {
  it('reads YAML and JSON into the same normal form: built-ins added, references as name@version, defaults filled in', () => {
    const y = parsePipeline(YAML_TEXT, 'small.yaml');
    const j = parsePipeline(JSON_TEXT, 'small.json');
    assert.deepEqual(j, y);
    assert.equal(pipelineHash(j), pipelineHash(y));
    assert.deepEqual(y.steps.map((s) => s.component), ['ingest@1', 'train@1']);
    assert.deepEqual(y.components.map((c) => `${c.kind}:${c.name}@${c.version}`), ['builtin:ingest@1', 'builtin:train@1']);
    assert.deepEqual(y.components[1]!.inputs.trees, BUILTINS.train.inputs.trees);
    assert.deepEqual(y.steps[0]!.cache, { enabled: true });
    assert.equal(y.steps[0]!.retries, 0);
    assert.equal(y.version, '1');
  });

  it('round-trips: the IR written as JSON or YAML parses back to itself, with the same hash', () => {
    const ir = parsePipeline(readFileSync(BIKE_YAML, 'utf8'), 'bike.pipeline.yaml');
    assert.deepEqual(parsePipeline(JSON.stringify(ir, null, 2), 'bike.json'), ir);
    assert.deepEqual(parsePipeline(stringify(ir), 'bike.yaml'), ir);
    assert.deepEqual(normalizePipeline(ir), ir, 'normalizing is idempotent');
    assert.equal(pipelineHash(parsePipeline(stringify(ir), 'bike.yaml')), pipelineHash(ir));
  });

  it('hashes what the pipeline says, not how it is written', () => {
    const ir = twoSteps();
    const h = pipelineHash(ir);
    assert.match(h, /^[0-9a-f]{64}$/);
    const reordered = { ...ir, components: [...ir.components].reverse() };
    assert.equal(pipelineHash(reordered), h, 'component order does not matter');
    const changed = structuredClone(ir);
    changed.steps[1]!.inputs.trees = 51;
    assert.notEqual(pipelineHash(changed), h);
    const renamed = structuredClone(ir);
    renamed.steps[1]!.retries = 3;
    assert.notEqual(pipelineHash(renamed), h);
  });

  it('resolves references to the pipeline’s own components before built-ins, whatever the step order', () => {
    const own = {
      format: 'trellis.pipeline/v1', name: 'p',
      components: [{ name: 'train', version: '2', kind: 'command', command: ['fit'], outputs: { model: { type: 'Model' } } }],
      steps: [{ name: 'a', component: 'train@1', inputs: {} }, { name: 'b', component: 'train', inputs: {} }],
    };
    const ir = validatePipeline(own, 'p.json');
    assert.deepEqual(ir.steps.map((s) => s.component), ['train@1', 'train@2']);
    assert.deepEqual(ir.components.map((c) => `${c.kind}:${c.name}@${c.version}`), ['command:train@2', 'builtin:train@1']);
    const swapped = validatePipeline({ ...own, steps: [...own.steps].reverse() }, 'p.json');
    assert.deepEqual(swapped.steps.map((s) => s.component), ['train@2', 'train@1']);
    // A name with two versions in the pipeline is left as written, for the linter to report.
    const two = validatePipeline({ ...own, components: [...own.components, { ...own.components[0], version: '3' }], steps: [{ name: 'b', component: 'train' }] }, 'p.json');
    assert.equal(two.steps[0]!.component, 'train');
  });
});

describe('pipeline IR: errors name the field', () => {
  it('schema violations give the path of each offending field, and its YAML line', () => {
    const text = YAML_TEXT.replace('retries: 2', 'retries: -1\n    retry: 3').replace('trees: 50', 'trees: [50]').replace('type: string', 'type: text');
    const m = problems(() => parsePipeline(text, 'small.yaml'));
    assert.match(m, /^Pipeline small\.yaml is invalid: \n/);
    assert.match(m, /params\[0\]\.type \(line 4\): expected a parameter type: string, number, integer, boolean/);
    assert.match(m, /steps\[1\]\.inputs\.trees \(line 14\): expected a literal \(string, number or boolean\), \{ param: NAME \} or \{ step: STEP, output: OUTPUT \}/);
    assert.match(m, /steps\[1\]\.retries \(line 15\): expected an integer from 0 to 100/);
    assert.match(m, /steps\[1\] \(line 16\): unknown field 'retry'/);
  });

  it('a missing field, a wrong format, a component of an unknown kind and a command without a program, in JSON with lines', () => {
    const doc = {
      format: 'trellis.pipeline/v2', name: 'p',
      components: [{ name: 'a', version: '1', kind: 'python' }, { name: 'b', version: '1', kind: 'command', command: [] }],
      steps: [{ component: 'a' }],
    };
    const m = problems(() => parsePipeline(JSON.stringify(doc, null, 2), 'p.json'));
    assert.match(m, /format \(line 2\): expected format 'trellis\.pipeline\/v1'/);
    assert.match(m, /components\[0\]\.kind \(line 8\): expected 'kind' to be builtin, typescript or command/);
    assert.match(m, /components\[1\]\.command \(line 14\): a command needs at least the program to run/);
    assert.match(m, /steps\[0\]\.name \(line 18\): missing \(expected string\)/);
  });

  it('bad YAML, bad JSON and duplicate keys are reported with their line', () => {
    assert.match(problems(() => parsePipeline('name: p\nsteps:\n  - name: a: b\n', 'p.yaml')), /^Pipeline p\.yaml is invalid: not valid YAML \(line 3, column 11\): Nested mappings are not allowed in compact mappings$/);
    assert.match(problems(() => parsePipeline('name: p\nname: q\n', 'p.yaml')), /not valid YAML \(line 2, column 1\): Map keys must be unique/);
    assert.match(problems(() => parsePipeline('{\n  "name": "p",\n  "steps": [}\n', 'p.json')), /^Pipeline p\.json is invalid: not valid JSON \(line 3, column 13\): Unexpected token '}'$/);
    assert.match(problems(() => parsePipeline('{"name": "p",\n "name": "q"}', 'p.json')), /not valid JSON \(line 2, column 2\): Map keys must be unique/);
    assert.match(problems(() => parsePipeline('- 1\n- 2\n', 'p.yaml')), /expected an object with format 'trellis\.pipeline\/v1', name and steps; got an array/);
  });

  it('locates fields in the source text', () => {
    const src = parsePipelineSource(YAML_TEXT, 'small.yaml');
    assert.equal(src.locate(['steps', 1, 'inputs', 'trees']), 14);
    assert.equal(src.locate(['steps', 1, 'inputs', 'nothing']), 11, 'a missing key: the line of the enclosing field');
    assert.equal(src.locate(['params', 0, 'default']), 4);
  });
});

describe('pipeline IR: graph', () => {
  const dag = (edges: Record<string, string[]>): PipelineIR => validatePipeline({
    format: 'trellis.pipeline/v1', name: 'g',
    components: [{ name: 'c', version: '1', kind: 'command', command: ['x'], outputs: { out: { type: 'File' } } }],
    steps: Object.entries(edges).map(([name, ups]) => ({ name, component: 'c', inputs: Object.fromEntries(ups.map((u, i) => [`in${i}`, { step: u, output: 'out' }])) })),
  }, 'g.json');

  it('orders steps after the steps they read; ties go in declaration order', () => {
    // Declared out of order: register reads evaluate and train; evaluate reads train and split.
    const g = dag({ register: ['evaluate', 'train'], evaluate: ['train', 'split'], train: ['split'], split: ['ingest'], ingest: [], report: [] });
    const order = topologicalOrder(g);
    assert.deepEqual(order, ['ingest', 'split', 'train', 'evaluate', 'register', 'report']);
    for (const s of g.steps) for (const v of Object.values(s.inputs)) assert.ok(order.indexOf((v as { step: string }).step) < order.indexOf(s.name));
    assert.deepEqual(topologicalOrder(twoSteps()), ['ingest', 'train']);
  });

  it('a cycle is an error naming its steps in the direction the data flows', () => {
    const g = dag({ a: ['c'], b: ['a'], c: ['b'], d: ['c'] });
    assert.deepEqual(findCycles(g), [['a', 'b', 'c']]);
    assert.match(problems(() => topologicalOrder(g)), /^Pipeline g is invalid: steps form a cycle: a → b → c → a$/);
    assert.deepEqual(findCycles(dag({ x: [], y: ['y', 'x'] })), [['y']]);
    assert.deepEqual(findCycles(dag({ a: ['b'], b: ['a'], c: ['d'], d: ['c'] })), [['a', 'b'], ['c', 'd']]);
  });
});

describe('pipeline IR: triggers and concurrency', () => {
  const withTriggers = (extra: string) => `${YAML_TEXT}${extra}`;

  it('leaves the hash of a pipeline without triggers as it was', () => {
    // Pinned: the optional trigger fields must not change the hash of pipelines that do not use them.
    assert.equal(pipelineHash(parsePipeline(readFileSync(BIKE_YAML, 'utf8'), 'bike.pipeline.yaml')), 'dcc827795b9273578397d375572b40a864587676eca812324d84cdebe9e027d2');
    assert.equal(twoSteps().triggers, undefined);
    assert.equal(twoSteps().concurrency, undefined);
  });

  it('reads cron, dataset, pipeline and api triggers with params, and a concurrency policy; they are part of the hash', () => {
    const ir = parsePipeline(withTriggers(`triggers:
  - { cron: "0 3 * * *", timezone: Europe/Paris, params: { target: cnt } }
  - { dataset: bike }
  - { pipeline: etl }
  - { api: true }
concurrency: cancel-previous
`), 'small.yaml');
    assert.deepEqual(ir.triggers, [
      { cron: '0 3 * * *', timezone: 'Europe/Paris', params: { target: 'cnt' } }, { dataset: 'bike' }, { pipeline: 'etl' }, { api: true },
    ]);
    assert.equal(ir.concurrency, 'cancel-previous');
    assert.notEqual(pipelineHash(ir), pipelineHash(twoSteps()));
    assert.deepEqual(parsePipeline(JSON.stringify(ir), 'small.json'), ir, 'round-trips through JSON');
  });

  it('refuses a bad cron expression, an unknown timezone, a schedule that never fires, an unknown trigger and policy, naming the trigger', () => {
    assert.match(problems(() => parsePipeline(withTriggers('triggers:\n  - { api: true }\n  - { cron: "61 * * * *" }\n'), 'small.yaml')),
      /triggers\[1\]\.cron \(line 18\): invalid cron expression '61 \* \* \* \*': Invalid value for minute: 61/);
    assert.match(problems(() => parsePipeline(withTriggers('triggers:\n  - { cron: "0 3 * * *", timezone: Mars/Base }\n'), 'small.yaml')),
      /triggers\[0\]\.timezone \(line 17\): unknown timezone 'Mars\/Base'/);
    assert.match(problems(() => parsePipeline(withTriggers('triggers:\n  - { cron: "0 0 31 2 *" }\n'), 'small.yaml')), /triggers\[0\]\.cron .*never fires/);
    assert.match(problems(() => parsePipeline(withTriggers('triggers:\n  - { datset: bike }\n'), 'small.yaml')), /triggers\[0\] \(line 17\): expected a trigger/);
    assert.match(problems(() => parsePipeline(withTriggers('concurrency: sometimes\n'), 'small.yaml')), /concurrency \(line 16\): expected a concurrency policy: skip, queue, cancel-previous/);
  });
});
