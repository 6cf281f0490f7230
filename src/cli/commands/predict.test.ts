import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../test-helpers/run-cli.js';

const ADULT_HEAD = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));

interface Edge { from: string; to: string; relation: string; detail?: string }
interface Graph { root: string; nodes: { id: string; kind: string; label: string }[]; edges: Edge[] }

describe('trellis predict and evaluate: dataset versions as input, recorded as runs with lineage', () => {
  let dir: string;
  let g: string[];
  const cli = (...args: string[]) => {
    const r = runCli([...g, ...args]);
    assert.equal(r.code, 0, `${args.join(' ')}\n${r.stderr}`);
    return r;
  };
  const json = <T>(...args: string[]): T => JSON.parse(cli('--json', ...args).stdout) as T;
  const has = (graph: Graph, e: Edge) => graph.edges.some((x) => x.from === e.from && x.to === e.to && x.relation === e.relation && (e.detail === undefined || x.detail === e.detail));

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-predict-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    cli('data', 'add', 'adult', ADULT_HEAD);
    cli('train', '--data', 'adult@1', '--target', 'income', '--register', 'income', '--experiment', 'census');
    cli('models', 'alias', 'income', 'champion', '1');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('scores a dataset version, prints the run id, and records the run with its input, model and predictions', () => {
    const text = cli('predict', '--model', 'income@champion', '--input', 'adult@1');
    assert.match(text.stdout, /^run [0-9a-f]{32}: scored 200 rows of adult@1 with income version 1 → the run's predictions\.csv$/m);
    const out = join(dir, 'scored.csv');
    const r = json<{ run_id: string; model: string; input: string; rows: number; artifact: string; output: string }>('predict', '--model', 'income/1', '--input', 'adult/1', '--output', out);
    assert.equal(r.model, 'income/1');
    assert.equal(r.input, 'adult@1');
    assert.equal(r.rows, 200);
    assert.equal(r.output, out);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines.length, 201);
    assert.match(lines[0]!, /,prediction,proba_<=50K,proba_>50K$/);

    const run = json<{ info: { experimentId: string; runName: string }; data: { params: Record<string, string>; tags: Record<string, string> }; inputs: { datasetInputs: { dataset: { name: string; source: string }; tags: Record<string, string> }[] }; artifacts: { path: string }[] }>('runs', 'show', r.run_id);
    assert.equal(run.info.runName, 'predict-income-v1');
    assert.equal(run.data.params.model, 'income/1');
    assert.equal(run.data.params.data, 'adult@1');
    assert.equal(run.data.tags['trellis.scoring'], 'predict');
    assert.equal(run.data.tags['trellis.model'], 'income/1');
    assert.deepEqual(run.inputs.datasetInputs.map((d) => [d.dataset.name, JSON.parse(d.dataset.source).dataset, d.tags['mlflow.data.context']]), [['adult', 'adult@1', 'scoring']]);
    assert.ok(run.artifacts.some((a) => a.path === 'predictions.csv'));
    // The predictions kept by the run are the ones written to --output.
    const kept = runCli([...g, 'runs', 'show', r.run_id]);
    assert.match(kept.stdout, /predictions\.csv/);
    // By default, in the experiment of the run that trained the model.
    const census = json<{ experimentId: string }>('experiments', 'show', 'census');
    assert.equal(run.info.experimentId, census.experimentId);

    const lineage = json<Graph>('lineage', 'income@champion');
    const node = `run:${r.run_id}`;
    assert.ok(has(lineage, { from: 'model-version:income/1', to: node, relation: 'scored', detail: 'predict' }), 'model version → predict run');
    assert.ok(has(lineage, { from: node, to: `artifact:run:${r.run_id}/predictions.csv`, relation: 'output' }), 'predict run → its predictions');
    assert.ok(has(lineage, { from: node, to: `artifact:file:${out}`, relation: 'output' }), 'predict run → the --output file');
    const fromData = json<Graph>('lineage', 'dataset:adult@1');
    assert.ok(has(fromData, { from: 'dataset-version:adult@1', to: node, relation: 'input', detail: 'scoring' }), 'dataset version → predict run');
    const text2 = cli('lineage', 'income/1').stdout;
    assert.match(text2, /downstream:\n(.*\n)*? {2}→ run predict-income-v1 \([0-9a-f]{8}\) {2}\(scored predict\)\n {4}→ artifact predictions\.csv of run [0-9a-f]{8} {2}\(output\)/);
  });

  it('records a file input by its path and digest, in the experiment asked for', () => {
    const file = join(dir, 'rows.csv');
    copyFileSync(ADULT_HEAD, file);
    const r = json<{ run_id: string; input: string }>('predict', '--model', 'income@latest', '--input', file, '--experiment', 'scoring');
    assert.equal(r.input, file);
    const run = json<{ info: { experimentId: string }; data: { params: Record<string, string> }; inputs: { datasetInputs: { dataset: { name: string; digest: string; sourceType: string; source: string } }[] } }>('runs', 'show', r.run_id);
    assert.equal(run.data.params.data, file);
    const digest = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
    assert.deepEqual(run.inputs.datasetInputs.map((d) => d.dataset), [{ name: 'rows.csv', digest, sourceType: 'local', source: JSON.stringify({ file }) }]);
    assert.equal(run.info.experimentId, json<{ experimentId: string }>('experiments', 'show', 'scoring').experimentId);
    const lineage = json<Graph>('lineage', 'income@1');
    assert.ok(has(lineage, { from: 'model-version:income/1', to: `run:${r.run_id}`, relation: 'scored' }));
    const upstream = json<Graph>('lineage', 'income@1');
    assert.ok(upstream.nodes.some((n) => n.id === `run:${r.run_id}`));
  });

  it('evaluates a dataset version and records the run with its metrics, report and lineage', () => {
    const r = json<{ run_id: string; model: string; data: string; metrics: Record<string, { value: number }> }>('evaluate', '--model', 'income@champion', '--data', 'adult@latest', '--bootstrap', '0');
    assert.match(r.run_id, /^[0-9a-f]{32}$/);
    assert.equal(r.data, 'adult@1');
    const run = json<{ info: { runName: string }; data: { metrics: { key: string; value: number }[]; tags: Record<string, string> }; inputs: { datasetInputs: { tags: Record<string, string> }[] }; artifacts: { path: string }[] }>('runs', 'show', r.run_id);
    assert.equal(run.info.runName, 'evaluate-income-v1');
    assert.equal(run.data.tags['trellis.scoring'], 'evaluate');
    assert.equal(run.data.metrics.find((m) => m.key === 'roc_auc')?.value, r.metrics.roc_auc!.value);
    assert.equal(run.inputs.datasetInputs[0]!.tags['mlflow.data.context'], 'evaluation');
    assert.ok(run.artifacts.some((a) => a.path === 'evaluation.json'));
    const text = cli('evaluate', '--model', 'income/1', '--data', 'adult/1', '--bootstrap', '0');
    assert.match(text.stdout, /^income\/1 on adult@1: binary, 200 labelled rows/);
    assert.match(text.stdout, /^run [0-9a-f]{32}: the report is its artifact evaluation\.json$/m);
    const lineage = json<Graph>('lineage', 'dataset:adult@1');
    assert.ok(has(lineage, { from: 'dataset-version:adult@1', to: `run:${r.run_id}`, relation: 'input', detail: 'evaluation' }));
    const fromModel = json<Graph>('lineage', 'model:income@1');
    assert.ok(has(fromModel, { from: 'model-version:income/1', to: `run:${r.run_id}`, relation: 'scored', detail: 'evaluate' }));
  });

  it('says what is wrong with an input, naming no option the command lacks', () => {
    const cases: [string[], RegExp][] = [
      [['predict', '--model', 'income@champion', '--input', 'adult@9'], /no version 9 of dataset 'adult' \(versions: 1\)/],
      [['predict', '--model', 'income@champion', '--input', 'adult@champion'], /no alias 'champion' on dataset 'adult'/],
      [['predict', '--model', 'income@champion', '--input', 'nope@1'], /Dataset 'nope' not found/],
      [['predict', '--model', 'income@champ', '--input', 'adult@1'], /no alias 'champ' on model 'income' \(aliases: champion\)/],
      [['predict', '--model', 'income', '--input', 'adult@1'], /'income' names a model, not one of its versions/],
      [['predict', '--model', 'income@1', '--input', join(dir, 'missing.csv')], /Data file '.*missing\.csv' not found/],
      [['evaluate', '--model', 'income@1@2', '--data', 'adult@1'], /'income@1@2' is not a reference: use name@version, name@alias or name\/version/],
    ];
    for (const [args, message] of cases) {
      const r = runCli([...g, ...args]);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /--format|format:/, args.join(' '));
    }
    // A file whose name says no format: rename it or store it as a dataset version (`data add` has --format).
    const odd = join(dir, 'rows');
    copyFileSync(ADULT_HEAD, odd);
    const r = runCli([...g, 'predict', '--model', 'income@1', '--input', odd]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /its name has no data file extension \(\.csv, \.tsv, \.jsonl, \.parquet, \.arrow\): rename it, or store it with `trellis data add <name> .*rows --format csv` and pass <name>@<version>/);
    assert.doesNotMatch(r.stderr, /format: 'csv'/);
  });
});
