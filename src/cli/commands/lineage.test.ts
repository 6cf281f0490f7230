import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bikeSlice } from '../../pipelines/engine/test-helpers/engine-fixture.js';
import { runCli } from '../test-helpers/run-cli.js';

describe('trellis lineage', () => {
  let dir: string;
  let g: string[];
  let runId: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-lineage-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    assert.equal(runCli([...g, 'data', 'add', 'bike', bikeSlice(dir, 500)]).code, 0);
    const r = runCli([...g, '--json', 'train', '--data', 'bike@1', '--target', 'cnt', '--register', 'demand']);
    assert.equal(r.code, 0, r.stderr);
    runId = JSON.parse(r.stdout).run_id;
    // A second model from the same dataset version: "related" to the first one.
    assert.equal(runCli([...g, 'train', '--data', 'bike@1', '--target', 'registered', '--register', 'members']).code, 0);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('shows the training run and the dataset version upstream of a trained model, as JSON', () => {
    const r = runCli([...g, '--json', 'lineage', 'demand@1']);
    assert.equal(r.code, 0, r.stderr);
    const graph = JSON.parse(r.stdout);
    assert.equal(graph.root, 'model-version:demand/1');
    assert.ok(graph.edges.some((e: { from: string; to: string; relation: string }) => e.from === `run:${runId}` && e.to === graph.root && e.relation === 'source'));
    assert.ok(graph.edges.some((e: { from: string; to: string; relation: string; detail?: string }) =>
      e.from === 'dataset-version:bike@1' && e.to === `run:${runId}` && e.relation === 'input' && e.detail === 'training'));
    assert.ok(graph.nodes.some((n: { id: string }) => n.id === 'model-version:members/1'), 'another model from the same dataset version');
  });

  it('prints an indented tree upstream, downstream and related', () => {
    const r = runCli([...g, 'lineage', 'model:demand/1']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'model demand/1');
    assert.equal(lines[1], 'upstream:');
    assert.match(lines[2]!, /^ {2}← run linear-cnt \([0-9a-f]{8}\) {2}\(source\)$/);
    assert.match(lines[3]!, /^ {4}← dataset bike@1 {2}\(input training\)$/);
    assert.ok(lines.includes('downstream:'));
    assert.match(r.stdout, /related \(shares an input\):\n {2}dataset bike@1 → run linear-registered \([0-9a-f]{8}\) → model members\/1/);
  });

  it('lists the model versions downstream of a dataset version; an ambiguous name asks for a prefix', () => {
    const r = runCli([...g, 'lineage', 'bike@1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^dataset bike@1\n/);
    assert.match(r.stdout, /→ run linear-cnt \([0-9a-f]{8}\) {2}\(input training\)\n {4}→ model demand\/1 {2}\(source\)/);
    assert.match(r.stdout, /→ model members\/1/);
    // A model named like the dataset makes `bike@1` ambiguous.
    assert.equal(runCli([...g, 'train', '--data', 'bike@1', '--target', 'cnt', '--register', 'bike']).code, 0);
    const amb = runCli([...g, 'lineage', 'bike@1']);
    assert.notEqual(amb.code, 0);
    assert.match(amb.stderr, /names both a model version and a dataset version; write model:bike@1 or dataset:bike@1/);
    const d = JSON.parse(runCli([...g, '--json', 'lineage', 'dataset:bike@1', '--depth', '1']).stdout);
    assert.equal(d.root, 'dataset-version:bike@1');
    assert.ok(d.nodes.every((n: { kind: string }) => n.kind !== 'model-version'), 'depth 1 stops at the runs');
  });

  it('refuses bad references and depths', () => {
    const cases: [string[], RegExp][] = [
      [['lineage', 'nothing'], /a lineage reference is a model version/],
      [['lineage', 'demand@9'], /no version 9 of model 'demand' \(versions: 1\)/],
      [['lineage', 'demand@champ'], /no alias 'champ' on model 'demand' \(it has no aliases\)/],
      [['lineage', 'dataset:bike@x'], /no alias 'x' on dataset 'bike': dataset versions are named by number/],
      [['lineage', 'bike@1@2'], /'bike@1@2' is not a reference: use name@version, name@alias or name\/version/],
      [['lineage', 'dataset:nope@1'], /Dataset 'nope' not found/],
      [['lineage', 'demand@1', '--depth', '-2'], /--depth must be a whole number of at least 0/],
    ];
    for (const [args, message] of cases) {
      const r = runCli([...g, ...args]);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});
