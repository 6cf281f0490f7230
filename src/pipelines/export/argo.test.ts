import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { parsePipeline, upstreamSteps, type PipelineIR } from '../ir.js';
import { exportArgo, k8sName, RFC1123_LABEL, toArgoWorkflow, type ArgoWorkflow } from './argo.js';
import { renderArgo } from './index.js';

const BIKE_YAML = fileURLToPath(new URL('../../../examples/pipelines/bike.pipeline.yaml', import.meta.url));
const bike = () => parsePipeline(readFileSync(BIKE_YAML, 'utf8'), 'bike.pipeline.yaml');

// The parts of Argo's Workflow resource the export uses, from the field reference
// (https://argo-workflows.readthedocs.io/en/latest/fields/). Objects are strict: a field Argo does
// not document for that object (a misspelt `dependency`, `artifact`) fails the check.
const argoName = z.string().regex(/^[-a-zA-Z0-9_]+$/, 'Argo parameter/artifact names: letters, digits, - and _');
const label = z.string().regex(RFC1123_LABEL, 'an RFC 1123 label');
const parameter = z.strictObject({ name: argoName, value: z.string().optional(), default: z.string().optional(), description: z.string().optional(), enum: z.array(z.string()).optional() });
const artifact = z.strictObject({ name: argoName, path: z.string().optional(), from: z.string().optional(), optional: z.boolean().optional() });
const argumentsSchema = z.strictObject({ parameters: z.array(parameter).optional(), artifacts: z.array(artifact.extend({ from: z.string() })).optional() });
const dagTask = z.strictObject({ name: label, template: label, dependencies: z.array(label).optional(), arguments: argumentsSchema.optional() });
const container = z.strictObject({
  image: z.string().min(1),
  command: z.array(z.string()).min(1),
  args: z.array(z.string()).optional(),
  env: z.array(z.strictObject({ name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), value: z.string() })).optional(),
  envFrom: z.array(z.strictObject({ secretRef: z.strictObject({ name: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/), optional: z.boolean().optional() }) })).optional(),
  workingDir: z.string().optional(),
});
const template = z.strictObject({
  name: label,
  metadata: z.strictObject({ annotations: z.record(z.string(), z.string()).optional(), labels: z.record(z.string(), z.string()).optional() }).optional(),
  inputs: z.strictObject({ parameters: z.array(parameter).optional(), artifacts: z.array(artifact.extend({ path: z.string().startsWith('/') })).optional() }).optional(),
  outputs: z.strictObject({ artifacts: z.array(artifact.extend({ path: z.string().startsWith('/') })) }).optional(),
  dag: z.strictObject({ tasks: z.array(dagTask).min(1) }).optional(),
  container: container.optional(),
  retryStrategy: z.strictObject({ limit: z.union([z.string(), z.number()]) }).optional(),
  activeDeadlineSeconds: z.union([z.string(), z.number().int().positive()]).optional(),
}).refine((t) => (t.dag ? 1 : 0) + (t.container ? 1 : 0) === 1, 'a template is exactly one of dag, container');
const workflowSchema = z.strictObject({
  apiVersion: z.literal('argoproj.io/v1alpha1'),
  kind: z.literal('Workflow'),
  metadata: z.strictObject({
    // generateName + 5 random characters must stay a valid name.
    generateName: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?-$/).max(58),
    namespace: label.optional(),
    labels: z.record(z.string(), label).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.strictObject({
    entrypoint: label,
    serviceAccountName: z.string().optional(),
    arguments: z.strictObject({ parameters: z.array(parameter) }).optional(),
    templates: z.array(template).min(1),
  }),
});

const COMMAND_PIPELINE = `
format: trellis.pipeline/v1
name: Python_Training_Pipeline
params:
  - { name: target, type: string, default: cnt }
  - { name: folds, type: integer }
steps:
  - name: ingest
    component: ingest
    inputs: { dataset: bike@latest }
  - name: Train
    component: sk
    inputs: { data: { step: ingest, output: data }, target: { param: target } }
    retries: 2
    timeoutSeconds: 90.5
  - name: train_
    component: sk
    inputs: { data: { step: ingest, output: data }, target: cnt, drop: instant }
  - name: report
    component: summarize
    inputs: { first: { step: Train, output: model }, second: { step: train_, output: model }, folds: { param: folds } }
  - name: score
    component: batch-score
    inputs: { model: { step: train_, output: model }, data: { step: ingest, output: data } }
components:
  - name: sk
    version: "1.0.0"
    kind: command
    command: [python3, components/sklearn_train.py, --data, "{inputs.data}", --target, "{inputs.target}", "--drop={inputs.drop}", --model, "{outputs.model}", --metrics, "{outputDir}/metrics.json"]
    env: { OMP_NUM_THREADS: "1", DATA: "{inputs.data}" }
    inputs: { data: { type: Dataset }, target: { type: string }, drop: { type: string, optional: true } }
    outputs: { model: { type: Model } }
  - name: summarize
    version: "2"
    kind: command
    image: ghcr.io/example/summarize:2
    command: [summarize, "{inputs.first}", "{inputs.second}", --folds, "{params.folds}", --out, "{outputs.summary}"]
    inputs: { first: { type: Model }, second: { type: Model }, folds: { type: integer } }
    outputs: { summary: { type: Report } }
`;

/** Checks what every exported workflow must satisfy; returns the step → task map. */
function checkWorkflow(wf: ArgoWorkflow, ir: PipelineIR, secret?: string): Map<string, string> {
  const parsed = workflowSchema.safeParse(wf);
  assert.ok(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues, null, 1));
  const templates = new Map(wf.spec.templates.map((t) => [t.name, t]));
  assert.equal(templates.size, wf.spec.templates.length, 'template names are unique');
  const dag = templates.get(wf.spec.entrypoint)?.dag;
  assert.ok(dag, 'the entrypoint is the DAG template');
  assert.equal(dag.tasks.length, ir.steps.length, 'one task per step');
  assert.equal(new Set(dag.tasks.map((t) => t.name)).size, dag.tasks.length, 'task names are unique');

  // Each task's template names its step; every step has exactly one task.
  const taskOf = new Map<string, string>();
  for (const t of dag.tasks) {
    const tpl = templates.get(t.template);
    assert.ok(tpl?.container, `task ${t.name} runs a container template`);
    taskOf.set(tpl.metadata!.annotations!['trellis/step']!, t.name);
  }
  assert.deepEqual([...taskOf.keys()].sort(), ir.steps.map((s) => s.name).sort());

  const workflowParams = new Set((wf.spec.arguments.parameters ?? []).map((p) => p.name));
  // The pipeline's parameters, then where the stores are.
  assert.deepEqual([...workflowParams], [...ir.params.map((p) => p.name), 'store', 'artifacts']);
  const seen = new Set<string>();
  for (const t of dag.tasks) {
    const step = ir.steps.find((s) => taskOf.get(s.name) === t.name)!;
    // Dependencies are exactly the upstream steps of the IR, and each is declared earlier.
    assert.deepEqual([...(t.dependencies ?? [])].sort(), upstreamSteps(step).map((u) => taskOf.get(u)!).sort(), `dependencies of ${t.name}`);
    for (const d of t.dependencies ?? []) assert.ok(seen.has(d), `${d} comes before ${t.name}`);
    seen.add(t.name);
    // Every artifact reference resolves to an output the producing task's template declares.
    for (const a of t.arguments?.artifacts ?? []) {
      const m = /^\{\{tasks\.([^.]+)\.outputs\.artifacts\.([^.}]+)\}\}$/.exec(a.from!);
      assert.ok(m, `artifact reference ${a.from}`);
      assert.ok(t.dependencies?.includes(m[1]!), `${t.name} depends on ${m[1]}`);
      const producer = templates.get(dag.tasks.find((x) => x.name === m[1])!.template)!;
      assert.ok(producer.outputs?.artifacts.some((o) => o.name === m[2]), `${m[1]} declares output ${m[2]}`);
    }
    // Arguments match the template's inputs; parameter references resolve.
    const tpl = templates.get(t.template)!;
    const inParams = new Set((tpl.inputs?.parameters ?? []).map((p) => p.name));
    for (const p of t.arguments?.parameters ?? []) {
      assert.ok(inParams.has(p.name), `${t.name} passes parameter ${p.name}, which its template takes`);
      for (const [, ref] of p.value!.matchAll(/\{\{workflow\.parameters\.([^}]+)\}\}/g)) assert.ok(workflowParams.has(ref!), `workflow parameter ${ref}`);
    }
    for (const p of tpl.inputs?.parameters ?? []) {
      assert.ok(p.default !== undefined || t.arguments?.parameters?.some((a) => a.name === p.name), `${t.name}: input ${p.name} gets a value`);
    }
    assert.deepEqual((tpl.inputs?.artifacts ?? []).map((a) => a.name).sort(), (t.arguments?.artifacts ?? []).map((a) => a.name).sort());
    for (const a of tpl.inputs?.artifacts ?? []) assert.equal(a.path, `/trellis/inputs/${a.name}`);
    for (const a of tpl.outputs?.artifacts ?? []) assert.equal(a.path, `/trellis/outputs/${a.name}`);
    // Every container is told where the store and the artifacts are, and gets the Secret, if any.
    const env = new Map((tpl.container!.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.get('TRELLIS_STORE_URI'), '{{workflow.parameters.store}}', `${t.name}: TRELLIS_STORE_URI`);
    assert.equal(env.get('TRELLIS_ARTIFACTS_URI'), '{{workflow.parameters.artifacts}}', `${t.name}: TRELLIS_ARTIFACTS_URI`);
    assert.deepEqual(tpl.container!.envFrom, secret ? [{ secretRef: { name: secret } }] : undefined, `${t.name}: envFrom`);
    const texts = [...tpl.container!.command, ...(tpl.container!.args ?? []), ...(tpl.container!.env ?? []).map((e) => e.value)];
    for (const s of texts) {
      assert.doesNotMatch(s, /(^|[^{])\{(inputs|outputs|params)\.|\{outputDir\}/, `no Trellis placeholder left in ${s}`);
      for (const [, ref] of s.matchAll(/\{\{inputs\.parameters\.([^}]+)\}\}/g)) assert.ok(inParams.has(ref!), `${t.name}: ${ref} is an input parameter`);
      for (const [, ref] of s.matchAll(/\{\{workflow\.parameters\.([^}]+)\}\}/g)) assert.ok(workflowParams.has(ref!), `workflow parameter ${ref}`);
    }
  }
  return taskOf;
}

describe('toArgoWorkflow', () => {
  it('the bike pipeline: a valid Workflow whose DAG mirrors the steps, run in the Trellis image', () => {
    const ir = bike();
    const wf = toArgoWorkflow(ir, { image: 'registry.example.com/trellis:1.2.3', namespace: 'ml', serviceAccount: 'trellis-runner' });
    checkWorkflow(wf, ir);
    assert.equal(wf.metadata.generateName, 'bike-');
    assert.equal(wf.metadata.namespace, 'ml');
    assert.equal(wf.spec.serviceAccountName, 'trellis-runner');
    // Parameters with their defaults, as strings (Argo's parameter values are strings).
    // Where the stores are has no default unless given: it is set at submission.
    assert.deepEqual(wf.spec.arguments.parameters.map((p) => [p.name, p.value]), [['dataset', 'bike@latest'], ['trees', '300'], ['store', undefined], ['artifacts', undefined]]);
    const tasks = wf.spec.templates[0]!.dag!.tasks;
    assert.deepEqual(tasks.map((t) => t.name), ['ingest', 'validate', 'split', 'train', 'evaluate', 'gate', 'register']);
    assert.deepEqual(tasks.find((t) => t.name === 'register')!.dependencies, ['train', 'evaluate', 'gate']);
    const train = tasks.find((t) => t.name === 'train')!;
    assert.deepEqual(train.arguments!.parameters!.find((p) => p.name === 'trees'), { name: 'trees', value: '{{workflow.parameters.trees}}' });
    assert.deepEqual(train.arguments!.parameters!.find((p) => p.name === 'learningRate'), { name: 'learningRate', value: '0.05' });
    assert.deepEqual(train.arguments!.artifacts, [{ name: 'data', from: '{{tasks.split.outputs.artifacts.train}}' }]);

    const tpl = wf.spec.templates.find((t) => t.name === 'train')!;
    assert.equal(tpl.container!.image, 'registry.example.com/trellis:1.2.3');
    assert.deepEqual(tpl.container!.command, ['trellis']);
    assert.deepEqual(tpl.container!.args!.slice(0, 8), ['pipelines', 'step', '--component', 'train@1', '--inputs', '/trellis/inputs', '--outputs', '/trellis/outputs']);
    assert.ok(tpl.container!.args!.includes('trees={{inputs.parameters.trees}}'));
    assert.deepEqual(tpl.retryStrategy, { limit: '1' });
    assert.equal(tpl.activeDeadlineSeconds, 3600);
    assert.deepEqual(tpl.outputs!.artifacts.map((a) => a.name), ['model', 'metrics']);
    // An unset input with a default is a template parameter with that default; unset optional ones are left out.
    const validate = wf.spec.templates.find((t) => t.name === 'validate')!;
    assert.deepEqual(validate.inputs!.parameters, [{ name: 'failOn', default: 'error' }]);
    assert.deepEqual(validate.inputs!.artifacts, [{ name: 'data', path: '/trellis/inputs/data' }]);

    // The default image is the Trellis image of this version.
    const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    assert.equal(toArgoWorkflow(ir).spec.templates[1]!.container!.image, `trellis:${version}`);
  });

  it('a pipeline with command components: placeholders become container paths and parameter templates', () => {
    const ir = parsePipeline(COMMAND_PIPELINE, 'cmd.yaml');
    const { workflow: wf, images } = exportArgo(ir, { image: 'trellis:test', registry: 'registry.example.com/ml/' });
    const taskOf = checkWorkflow(wf, ir);
    assert.equal(wf.metadata.generateName, 'python-training-pipeline-');
    // Step names made RFC 1123 labels, kept unique: Train → train, train_ → train-2.
    assert.deepEqual(Object.fromEntries(taskOf), { ingest: 'ingest', Train: 'train', train_: 'train-2', report: 'report', score: 'score' });
    assert.deepEqual(wf.spec.arguments.parameters.slice(0, 2), [{ name: 'target', value: 'cnt' }, { name: 'folds' }]);

    const t1 = wf.spec.templates.find((t) => t.name === 'train')!;
    assert.equal(t1.container!.image, 'registry.example.com/ml/trellis-sk:1.0.0');
    assert.deepEqual(t1.container!.command, [
      'python3', 'components/sklearn_train.py', '--data', '/trellis/inputs/data', '--target', '{{inputs.parameters.target}}',
      '--drop=', '--model', '/trellis/outputs/model', '--metrics', '/trellis/outputs/metrics.json',
    ]);
    assert.deepEqual(t1.container!.env!.slice(0, 2), [{ name: 'OMP_NUM_THREADS', value: '1' }, { name: 'DATA', value: '/trellis/inputs/data' }]);
    assert.deepEqual(t1.retryStrategy, { limit: '2' });
    assert.equal(t1.activeDeadlineSeconds, 91);
    const t2 = wf.spec.templates.find((t) => t.name === 'train-2')!;
    assert.equal(t2.container!.command[6], '--drop={{inputs.parameters.drop}}');
    assert.equal(t2.retryStrategy, undefined);

    // A declared image is used as it is; {params.x} reads the workflow parameter.
    const report = wf.spec.templates.find((t) => t.name === 'report')!;
    assert.equal(report.container!.image, 'ghcr.io/example/summarize:2');
    assert.deepEqual(report.container!.command, ['summarize', '/trellis/inputs/first', '/trellis/inputs/second', '--folds', '{{workflow.parameters.folds}}', '--out', '/trellis/outputs/summary']);
    const reportTask = wf.spec.templates[0]!.dag!.tasks.find((t) => t.name === 'report')!;
    assert.deepEqual(reportTask.arguments!.artifacts, [
      { name: 'first', from: '{{tasks.train.outputs.artifacts.model}}' },
      { name: 'second', from: '{{tasks.train-2.outputs.artifacts.model}}' },
    ]);
    // Only the command component without an image needs a generated one, once for both steps.
    assert.deepEqual(images.map((i) => [`${i.component.name}@${i.component.version}`, i.image]), [['sk@1.0.0', 'registry.example.com/ml/trellis-sk:1.0.0']]);
  });

  it('TypeScript components run in the Trellis image with their module and export', () => {
    const ir = parsePipeline(JSON.stringify({
      format: 'trellis.pipeline/v1', name: 'ts',
      components: [{ name: 'prep', version: '1', kind: 'typescript', module: 'components/prep.ts', export: 'prep', inputs: { k: { type: 'integer', default: 3 } }, outputs: { data: { type: 'Dataset' } } }],
      steps: [{ name: 'prep', component: 'prep' }],
    }), 'ts.json');
    const wf = toArgoWorkflow(ir, { image: 'trellis:x' });
    checkWorkflow(wf, ir);
    assert.deepEqual(wf.spec.templates[1]!.container, {
      image: 'trellis:x', command: ['trellis'],
      args: ['pipelines', 'step', '--component', 'prep@1', '--inputs', '/trellis/inputs', '--outputs', '/trellis/outputs', '--module', 'components/prep.ts', '--export', 'prep', '--output', 'data:Dataset', '--input', 'k={{inputs.parameters.k}}'],
      env: [
        { name: 'TRELLIS_STEP', value: 'prep' }, { name: 'TRELLIS_PIPELINE', value: 'ts' },
        { name: 'TRELLIS_STORE_URI', value: '{{workflow.parameters.store}}' }, { name: 'TRELLIS_ARTIFACTS_URI', value: '{{workflow.parameters.artifacts}}' },
      ],
    });
    assert.deepEqual(wf.spec.arguments.parameters.map((p) => p.name), ['store', 'artifacts']);
  });

  it('where the stores are: defaults from the options, credentials from a Secret, never a local file or a password', () => {
    const ir = parsePipeline(COMMAND_PIPELINE, 'cmd.yaml');
    const opts = { image: 'trellis:t', store: 'postgres://trellis@db.ml.svc:5432/trellis?sslmode=require', artifacts: 's3://ml-artifacts/trellis', secret: 'trellis-credentials' };
    const wf = toArgoWorkflow(ir, opts);
    checkWorkflow(wf, ir, 'trellis-credentials');
    const params = new Map(wf.spec.arguments.parameters.map((p) => [p.name, p.value]));
    assert.equal(params.get('store'), opts.store);
    assert.equal(params.get('artifacts'), opts.artifacts);
    // Command steps in their own images are told too: they may use the SDK.
    const report = wf.spec.templates.find((t) => t.name === 'report')!;
    assert.ok(report.container!.env!.some((e) => e.name === 'TRELLIS_STORE_URI'));
    // The YAML holds the Secret's name, nothing of its content.
    const yaml = renderArgo(ir, tmpdir(), opts).yaml;
    assert.equal(yaml.match(/secretRef:\n\s+name: trellis-credentials$/gm)?.length, ir.steps.length);
    assert.doesNotMatch(yaml, /secretKeyRef|stringData|AWS_SECRET_ACCESS_KEY|PGPASSWORD:/);

    for (const [o, message] of [
      [{ store: 'sqlite:./.trellis/trellis.db' }, /--store 'sqlite:\.\/\.trellis\/trellis\.db' is a file on this machine, which the workflow's pods cannot share: give postgres:\/\//],
      [{ artifacts: 'file:/var/trellis/artifacts' }, /--artifacts 'file:\/var\/trellis\/artifacts' is a file on this machine.*give s3:\/\/bucket\/prefix/],
      [{ store: 'mysql://root@db/test' }, /--store 'mysql:\/\/root@db\/test' is not a store the workflow's pods can share/],
      [{ artifacts: 's3://bucket/p' , store: 'postgres://trellis:hunter2@db/trellis' }, /--store 'postgres:\/\/trellis:\*\*\*@db\/trellis' holds a password.*Kubernetes Secret \(--secret\), as PGPASSWORD/],
      [{ store: 'postgres://db/trellis?password=hunter2' }, /holds a credential in its query/],
      [{ secret: 'Trellis_Creds' }, /--secret 'Trellis_Creds' is not a Kubernetes Secret name/],
    ] as const) {
      assert.throws(() => toArgoWorkflow(ir, { image: 'i', ...o }), (e: Error) => {
        assert.match(e.message, message);
        assert.doesNotMatch(e.message, /hunter2/);
        return true;
      });
    }
    // A pipeline parameter may not take the name of one of them.
    const clash = parsePipeline(COMMAND_PIPELINE.replace('name: folds, type: integer', 'name: store, type: string'), 'cmd.yaml');
    assert.throws(() => toArgoWorkflow(clash, { image: 'i' }), /pipeline 'Python_Training_Pipeline' declares a parameter 'store', the name the Argo export gives to the metadata store's location: rename it/);
  });

  it('names: long, clashing and odd names become unique RFC 1123 labels', () => {
    const long = `A${'very_long_step_name_'.repeat(5)}`;
    const steps = [long, `${long}x`, 'a_b', 'a-b', 'A__B', 'main', '_9lives'].map((name) => ({ name, component: 'ingest', inputs: { dataset: 'd' } }));
    const ir = parsePipeline(JSON.stringify({ format: 'trellis.pipeline/v1', name: `_${'Pipeline_'.repeat(10)}`, steps }), 'n.json');
    const wf = toArgoWorkflow(ir, { image: 'trellis:x' });
    const taskOf = checkWorkflow(wf, ir);
    const names = [...taskOf.values()];
    for (const n of names) assert.match(n, RFC1123_LABEL);
    assert.equal(new Set(names).size, names.length);
    assert.deepEqual(names.slice(2), ['a-b', 'a-b-2', 'a-b-3', 'main-2', '9lives']);
    assert.equal(names[0]!.length, 63);
    // The second is cut to leave room for its suffix, without a doubled '-'.
    assert.equal(names[1], `${names[0]!.slice(0, 61).replace(/-+$/, '')}-2`);
    assert.ok(wf.metadata.generateName.length <= 58);
    assert.equal(k8sName('--__--'), 'x');
  });

  it('refuses a pipeline the linter would refuse, naming the problem', () => {
    const ir = parsePipeline(COMMAND_PIPELINE.replace('{ step: Train, output: model }', '{ step: Train, output: modle }'), 'cmd.yaml');
    assert.throws(() => toArgoWorkflow(ir, { image: 'i' }), /step 'report' input 'first' reads output 'modle' of step 'Train', which does not exist/);
    const unknown = parsePipeline(COMMAND_PIPELINE.replace('component: summarize', 'component: summarise'), 'cmd.yaml');
    assert.throws(() => toArgoWorkflow(unknown, { image: 'i' }), /step 'report' uses component 'summarise', which the pipeline does not define/);
    const cyclic = parsePipeline(COMMAND_PIPELINE.replace('{ step: ingest, output: data }, target: { param: target }', '{ step: report, output: summary }, target: { param: target }'), 'cmd.yaml');
    assert.throws(() => toArgoWorkflow(cyclic, { image: 'i' }), /cycle/);
  });

  it('renderArgo: the YAML parses back to the workflow; Dockerfiles for command components without an image', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-argo-'));
    try {
      mkdirSync(join(dir, 'components'));
      writeFileSync(join(dir, 'components', 'sklearn_train.py'), 'print(1)\n');
      const ir = parsePipeline(COMMAND_PIPELINE, 'cmd.yaml');
      const r = renderArgo(ir, dir, { image: 'trellis:test' });
      assert.deepEqual(parse(r.yaml), r.workflow);
      checkWorkflow(parse(r.yaml) as ArgoWorkflow, ir);
      assert.equal(r.dockerfiles.length, 1);
      const d = r.dockerfiles[0]!;
      assert.deepEqual([d.component, d.file, d.image, d.context], ['sk@1.0.0', 'sk-1.0.0.Dockerfile', 'trellis-sk:1.0.0', dir]);
      assert.match(d.text, /^FROM python:3\.11-slim$/m);
      assert.match(d.text, /^COPY components\/sklearn_train\.py \/trellis\/component\/components\/sklearn_train\.py$/m);
      // Deterministic: the same input gives the same text.
      assert.equal(renderArgo(ir, dir, { image: 'trellis:test' }).yaml, r.yaml);
      assert.equal(renderArgo(ir, dir, { image: 'trellis:test' }).dockerfiles[0]!.text, d.text);
      // The bike pipeline needs no Dockerfile.
      assert.deepEqual(renderArgo(bike(), dir, { image: 'trellis:test' }).dockerfiles, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
