import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
