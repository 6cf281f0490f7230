import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parsePipeline, upstreamSteps } from '../../pipelines/ir.js';
import { runCli } from '../test-helpers/run-cli.js';

const BIKE_YAML = fileURLToPath(new URL('../../../examples/pipelines/bike.pipeline.yaml', import.meta.url));

const COMMAND_PIPELINE = `format: trellis.pipeline/v1
name: py
steps:
  - name: ingest
    component: ingest
    inputs: { dataset: bike@latest }
  - name: fit
    component: sk
    inputs: { data: { step: ingest, output: data } }
components:
  - name: sk
    version: "1"
    kind: command
    command: [python3, train.py, --data, "{inputs.data}", --model, "{outputs.model}"]
    inputs: { data: { type: Dataset } }
    outputs: { model: { type: Model } }
`;

const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Task { name: string; template: string; dependencies?: string[] }
interface Template {
  name: string;
  dag?: { tasks: Task[] };
  container?: { image: string; command: string[]; args?: string[]; env?: { name: string; value: string }[]; envFrom?: unknown };
}
interface Workflow {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; generateName?: string };
  spec: { entrypoint: string; arguments: { parameters: { name: string; value?: string }[] }; templates: Template[] };
}

/** The essentials of Argo's Workflow resource that a cluster would refuse, or fail to run, without. */
function checkArgoEssentials(wf: Workflow, image: string, secret: string): void {
  assert.equal(wf.apiVersion, 'argoproj.io/v1alpha1');
  assert.equal(wf.kind, 'Workflow');
  assert.ok(wf.metadata?.generateName || wf.metadata?.name, 'metadata.name or generateName');
  const templates = new Map(wf.spec.templates.map((t) => [t.name, t]));
  assert.equal(templates.size, wf.spec.templates.length, 'template names are unique');
  const entry = templates.get(wf.spec.entrypoint);
  assert.ok(entry?.dag, `the entrypoint ${wf.spec.entrypoint} is a DAG template`);
  const tasks = new Map(entry.dag.tasks.map((t) => [t.name, t]));
  for (const t of tasks.values()) {
    assert.ok(templates.has(t.template), `task ${t.name}: template ${t.template} exists`);
    for (const d of t.dependencies ?? []) assert.ok(tasks.has(d), `task ${t.name}: dependency ${d} is a task`);
  }
  // Dependencies are acyclic: Kahn's algorithm takes every task.
  const indegree = new Map([...tasks.values()].map((t) => [t.name, (t.dependencies ?? []).length]));
  const ready = [...indegree].filter(([, d]) => d === 0).map(([n]) => n);
  let taken = 0;
  while (ready.length) {
    const n = ready.pop()!;
    taken++;
    for (const t of tasks.values()) {
      if ((t.dependencies ?? []).includes(n)) {
        indegree.set(t.name, indegree.get(t.name)! - 1);
        if (indegree.get(t.name) === 0) ready.push(t.name);
      }
    }
  }
  assert.equal(taken, tasks.size, 'the DAG has no cycle');
  const params = new Set(wf.spec.arguments.parameters.map((p) => p.name));
  assert.ok(params.has('store') && params.has('artifacts'), 'workflow parameters store and artifacts');
  let containers = 0;
  for (const t of templates.values()) {
    if (!t.container) continue;
    containers++;
    assert.equal(t.container.image, image, `${t.name}: image`);
    assert.deepEqual(t.container.command, ['trellis'], `${t.name}: command`);
    assert.ok(Array.isArray(t.container.args) && t.container.args.length > 0, `${t.name}: args`);
    const env = new Map((t.container.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.get('TRELLIS_STORE_URI'), '{{workflow.parameters.store}}', `${t.name}: store`);
    assert.equal(env.get('TRELLIS_ARTIFACTS_URI'), '{{workflow.parameters.artifacts}}', `${t.name}: artifacts`);
    assert.deepEqual(t.container.envFrom, [{ secretRef: { name: secret } }], `${t.name}: credentials from the Secret`);
  }
  assert.equal(containers, tasks.size, 'a container template per task');
}

const INSTRUCTIONS = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);

/** A Dockerfile as instructions: comments and blank lines dropped, continuation lines joined. */
function parseDockerfile(text: string): { op: string; args: string }[] {
  const out: { op: string; args: string }[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (!pending && (/^\s*#/.test(line) || !line.trim())) continue;
    pending += line.replace(/\\$/, ' ');
    if (line.endsWith('\\')) continue;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(pending);
    assert.ok(m, `a Dockerfile instruction: ${pending}`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
    pending = '';
  }
  assert.equal(pending, '', 'no dangling continuation');
  return out;
}

describe('trellis pipelines export', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'trellis-export-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--format argo: the bike pipeline as an Argo Workflow on stdout, in the image given', () => {
    const r = runCli(['pipelines', 'export', '--format', 'argo', BIKE_YAML, '--image', 'reg.io/trellis:9', '--namespace', 'ml']);
    assert.equal(r.code, 0, r.stderr);
    const wf = parse(r.stdout);
    assert.equal(wf.apiVersion, 'argoproj.io/v1alpha1');
    assert.equal(wf.kind, 'Workflow');
    assert.equal(wf.metadata.generateName, 'bike-');
    assert.equal(wf.metadata.namespace, 'ml');
    const ir = parsePipeline(readFileSync(BIKE_YAML, 'utf8'), 'bike.pipeline.yaml');
    const dag = wf.spec.templates.find((t: { name: string }) => t.name === wf.spec.entrypoint).dag;
    assert.deepEqual(
      dag.tasks.map((t: { name: string; dependencies?: string[] }) => [t.name, t.dependencies ?? []]),
      ir.steps.map((s) => [s.name, upstreamSteps(s)]),
    );
    for (const t of wf.spec.templates.filter((x: { container?: unknown }) => x.container)) assert.equal(t.container.image, 'reg.io/trellis:9');
  });

  it('--output: writes the workflow and, beside it, the Dockerfile of a command component without an image', () => {
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'train.py'), 'print("train")\n');
    const file = join(src, 'py.pipeline.yaml');
    writeFileSync(file, COMMAND_PIPELINE);
    const out = join(dir, 'deploy', 'py.argo.yaml');
    const r = runCli(['pipelines', 'export', file, '--output', out, '--image', 'trellis:t']);
    assert.equal(r.code, 0, r.stderr);
    const dockerfile = join(dir, 'deploy', 'sk-1.Dockerfile');
    assert.equal(r.stdout, [
      `wrote ${out}: Argo Workflow of py 1, 2 steps`,
      `wrote ${join(dir, 'deploy', 'Dockerfile')}: build with docker build -t trellis:t ${join(dir, 'deploy')}`,
      `wrote ${dockerfile}: build with docker build -f ${dockerfile} -t trellis-sk:1 ${src}`,
      '',
    ].join('\n'));
    const wf = parse(readFileSync(out, 'utf8'));
    const fit = wf.spec.templates.find((t: { name: string }) => t.name === 'fit');
    assert.equal(fit.container.image, 'trellis-sk:1');
    assert.deepEqual(fit.container.command, ['python3', 'train.py', '--data', '/trellis/inputs/data', '--model', '/trellis/outputs/model']);
    const text = readFileSync(dockerfile, 'utf8');
    assert.match(text, /^FROM python:3\.11-slim$/m);
    assert.match(text, /^COPY train\.py \/trellis\/component\/train\.py$/m);

    // --json: the workflow and the files written.
    const j = runCli(['--json', 'pipelines', 'export', file, '-o', out, '--registry', 'reg.io/ml']);
    assert.equal(j.code, 0, j.stderr);
    const res = JSON.parse(j.stdout);
    assert.deepEqual(res.dockerfiles, [{ component: 'sk@1', file: dockerfile, image: 'reg.io/ml/trellis-sk:1', context: src }]);
    assert.deepEqual(parse(readFileSync(out, 'utf8')), res.workflow);
  });

  it('--output DIR/: a workflow a cluster can run, the Trellis image\'s build context beside it, and where the stores are', () => {
    const src = join(dir, 'ts-src');
    mkdirSync(join(src, 'components'), { recursive: true });
    writeFileSync(join(src, 'components', 'prep.ts'), 'export async function prep() { return {}; }\n');
    const file = join(src, 'ts.pipeline.yaml');
    writeFileSync(file, [
      'format: trellis.pipeline/v1', 'name: ts-prep', 'steps:',
      '  - { name: ingest, component: ingest, inputs: { dataset: bike@latest } }',
      '  - { name: prep, component: prep, inputs: { data: { step: ingest, output: data } } }',
      'components:',
      '  - { name: prep, version: "1", kind: typescript, module: components/prep.ts, export: prep, inputs: { data: { type: Dataset } }, outputs: { out: { type: Dataset } } }',
      '',
    ].join('\n'));
    const out = join(dir, 'argo') + '/';
    const store = 'postgres://trellis@db.ml.svc:5432/trellis';
    const r = runCli(['pipelines', 'export', file, '--format', 'argo', '--output', out, '--image', 'reg.io/ml/trellis-ts:1',
      '--store', store, '--artifacts', 's3://ml-artifacts/trellis', '--secret', 'trellis-credentials']);
    assert.equal(r.code, 0, r.stderr);
    const ctx = join(dir, 'argo');
    assert.equal(r.stdout, [
      `wrote ${join(ctx, 'workflow.yaml')}: Argo Workflow of ts-prep 1, 2 steps`,
      `wrote ${join(ctx, 'Dockerfile')}: build with docker build -t reg.io/ml/trellis-ts:1 ${ctx}`,
      '',
    ].join('\n'));

    // The workflow: Argo's essentials, and the stores' defaults as given.
    const wf = parse(readFileSync(join(ctx, 'workflow.yaml'), 'utf8')) as Workflow;
    checkArgoEssentials(wf, 'reg.io/ml/trellis-ts:1', 'trellis-credentials');
    const params = Object.fromEntries(wf.spec.arguments.parameters.map((p) => [p.name, p.value]));
    assert.deepEqual(params, { store, artifacts: 's3://ml-artifacts/trellis' });

    // The Dockerfile: known instructions, FROM first, trellis as the entry point.
    const ins = parseDockerfile(readFileSync(join(ctx, 'Dockerfile'), 'utf8'));
    for (const i of ins) assert.ok(INSTRUCTIONS.has(i.op), `known instruction ${i.op}`);
    assert.equal(ins[0]!.op, 'FROM');
    assert.match(ins[0]!.args, /^node:20-slim\b/);
    const entry = ins.filter((i) => i.op === 'ENTRYPOINT').at(-1)!;
    assert.deepEqual(JSON.parse(entry.args), ['trellis']);
    assert.ok(ins.some((i) => i.op === 'ENV' && /onnxruntime_node_install=skip/.test(i.args)));
    const stages = ins.filter((i) => i.op === 'FROM').map((i) => / AS (\S+)$/i.exec(i.args)?.[1]).filter(Boolean);

    // Every file it copies is in the build context, and not left out by .dockerignore; the Trellis
    // package's files are those `npm pack` puts in the package.
    const pack = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PACKAGE_ROOT, encoding: 'utf8' })) as { files: { path: string }[] }[];
    const packed = new Set(pack[0]!.files.map((f) => f.path));
    const ignore = readFileSync(join(ctx, '.dockerignore'), 'utf8');
    assert.match(ignore, /^\*$/m);
    let copied = 0;
    for (const i of ins.filter((x) => x.op === 'COPY')) {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='));
      const sources = words.filter((w) => !w.startsWith('--')).slice(0, -1);
      if (from) { assert.ok(stages.includes(from.slice('--from='.length)), `${from} names a stage`); continue; }
      for (const s of sources) {
        assert.ok(existsSync(join(ctx, s)), `COPY ${s}: in the build context`);
        const top = s.split('/')[0]!;
        assert.match(ignore, new RegExp(`^!${top}/$`, 'm'), `COPY ${s}: not ignored`);
        if (top !== 'trellis') continue;
        const rel = s.slice('trellis/'.length).replace(/\/$/, '');
        if (statSync(join(ctx, s)).isDirectory()) {
          assert.ok([...packed].some((p) => p.startsWith(`${rel}/`)), `COPY ${s}: a folder of the package`);
        } else if (rel !== 'package-lock.json') assert.ok(packed.has(rel), `COPY ${s}: a file of the package`);
        copied++;
      }
    }
    assert.ok(copied >= 3, 'the package.json, bin/ and dist/ of the package are copied');
    assert.ok(existsSync(join(ctx, 'trellis', 'dist', 'cli', 'main.js')));
    assert.ok(packed.has('dist/cli/main.js') && packed.has('bin/trellis.js'));

    // The pipeline's files: the TypeScript step's module is where its argv says, under the image's working directory.
    const workdir = ins.filter((i) => i.op === 'WORKDIR').at(-1)!.args;
    assert.ok(ins.some((i) => i.op === 'COPY' && i.args === `pipeline/ ${workdir}/`));
    const args = wf.spec.templates.find((t) => t.name === 'prep')!.container!.args!;
    const module = args[args.indexOf('--module') + 1]!;
    assert.equal(readFileSync(join(ctx, 'pipeline', module), 'utf8'), readFileSync(join(src, 'components', 'prep.ts'), 'utf8'));
    assert.ok(existsSync(join(ctx, 'pipeline', 'ts.pipeline.yaml')));
  });

  it('the stores: a local default from the environment is left out with a warning; on the command line, refused; a password never written', () => {
    const local = runCli(['pipelines', 'export', BIKE_YAML], { env: { TRELLIS_STORE_URI: 'sqlite:./.trellis/trellis.db', TRELLIS_ARTIFACTS_URI: 's3://ml/trellis' } });
    assert.equal(local.code, 0, local.stderr);
    assert.match(local.stderr, /warning: \$TRELLIS_STORE_URI is not the workflow's default store: 'sqlite:\.\/\.trellis\/trellis\.db' is a file on this machine, which the workflow's pods cannot share: give postgres:\/\/user@host:port\/db\. The workflow needs -p store=… at submission\./);
    const params = parse(local.stdout).spec.arguments.parameters;
    assert.deepEqual(params.filter((p: { name: string }) => ['store', 'artifacts'].includes(p.name)).map((p: { name: string; value?: string }) => [p.name, p.value]), [['store', undefined], ['artifacts', 's3://ml/trellis']]);
    assert.match(local.stdout, /^# Submit with: argo submit <this file> -p store=…/m);

    const flag = runCli(['pipelines', 'export', BIKE_YAML, '--artifacts', 'file:./.trellis/artifacts']);
    assert.equal(flag.code, 1);
    assert.match(flag.stderr, /--artifacts 'file:\.\/\.trellis\/artifacts' is a file on this machine, which the workflow's pods cannot share: give s3:\/\/bucket\/prefix/);
    assert.equal(flag.stdout, '');

    const secret = runCli(['pipelines', 'export', BIKE_YAML, '--store', 'postgres://trellis:s3cr3t-pw@db/trellis']);
    assert.equal(secret.code, 1);
    assert.match(secret.stderr, /--store 'postgres:\/\/trellis:\*\*\*@db\/trellis' holds a password/);
    assert.doesNotMatch(secret.stderr + secret.stdout, /s3cr3t-pw/);
  });

  it('refuses an unknown format, and a command component without image or --output', () => {
    const r = runCli(['pipelines', 'export', '--format', 'tekton', BIKE_YAML]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--format 'tekton' is not supported: the formats are argo/);
    const file = join(dir, 'alone.pipeline.yaml');
    writeFileSync(file, COMMAND_PIPELINE);
    const n = runCli(['pipelines', 'export', file]);
    assert.equal(n.code, 1);
    assert.match(n.stderr, /pipeline 'py' has command components without an image \(sk@1\): give --output/);
    assert.equal(n.stdout, '');
    assert.ok(!existsSync(join(dir, 'sk-1.Dockerfile')));
  });
});
