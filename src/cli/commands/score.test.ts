/**
 * `trellis score` against a real SQLite workspace with models trained and registered by the CLI:
 * the same predictions as `trellis predict` (trees, and an ONNX graph), block by block in the
 * input's order, in CSV, JSON Lines and Parquet; the run and its lineage; bad input refused with one line and nothing written;
 * Ctrl-C mid-run leaving no file under the output's name.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTable } from '../../data/readers/index.js';
import { dataset } from '../../data/readers/test-helpers/data-files.js';
import { rowAt } from '../../data/table.js';
import { runCli } from '../test-helpers/run-cli.js';

const ADULT_HEAD = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));
const CLI = fileURLToPath(new URL('../main.ts', import.meta.url));

interface Edge { from: string; to: string; relation: string; detail?: string }
interface Graph { nodes: { id: string }[]; edges: Edge[] }

/** `rows` rows of the Adult training file, each with an `id` (not a feature) counting down, so the order is visible. */
function adultRows(path: string, rows: number): string {
  const [header, ...lines] = readFileSync(dataset('adult_train.csv'), 'utf8').trim().split('\n');
  const out = [`id,${header}`];
  for (let i = 0; i < rows; i++) out.push(`${rows - i},${lines[i % lines.length]}`);
  writeFileSync(path, `${out.join('\n')}\n`);
  return path;
}

describe('trellis score: streamed batch scoring, recorded with lineage', () => {
  let dir: string;
  let g: string[];
  let rows6k: string;
  const cli = (...args: string[]) => {
    const r = runCli([...g, ...args]);
    assert.equal(r.code, 0, `${args.join(' ')}\n${r.stderr}`);
    return r;
  };
  const json = <T>(...args: string[]): T => JSON.parse(cli('--json', ...args).stdout) as T;
  const has = (graph: Graph, e: Edge) => graph.edges.some((x) => x.from === e.from && x.to === e.to && x.relation === e.relation && (e.detail === undefined || x.detail === e.detail));

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-score-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    cli('data', 'add', 'adult', ADULT_HEAD);
    cli('train', '--data', 'adult@1', '--target', 'income', '--algo', 'gbdt', '--register', 'income', '--experiment', 'census');
    cli('models', 'alias', 'income', 'champion', '1');
    cli('train', '--data', 'adult@1', '--target', 'hours-per-week', '--algo', 'gbdt', '--exclude', 'income', '--register', 'hours', '--experiment', 'census');
    rows6k = adultRows(join(dir, 'rows6k.csv'), 6000);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [kind, model] of [['classifier', 'income@champion'], ['regressor', 'hours/1']] as const) {
    it(`gives a ${kind} the predictions trellis predict gives, whatever the block size, in the input's order`, () => {
      const predicted = join(dir, `predict-${kind}.csv`);
      cli('predict', '--model', model, '--input', rows6k, '--output', predicted);
      const want = readFileSync(predicted, 'utf8');
      // 6,000 rows in blocks of 3,500 (two cores walk a block that large), of 7 (857 blocks and 1 row), and in one block.
      for (const block of ['3500', '7', '100000']) {
        const out = join(dir, `score-${kind}-${block}.csv`);
        const r = cli('score', '--model', model, '--input', rows6k, '--output', out, '--block-rows', block);
        assert.match(r.stdout, new RegExp(`scored 6000 rows of .*rows6k\\.csv with ${model.split(/[@/]/)[0]} version 1 → .*score-${kind}-${block}\\.csv`));
        assert.equal(readFileSync(out, 'utf8'), want, `block of ${block} rows: byte for byte what predict wrote`);
      }
      const lines = want.trim().split('\n');
      assert.equal(lines.length, 6001);
      assert.match(lines[0]!, kind === 'classifier' ? /^id,age,.*,income,prediction,proba_<=50K,proba_>50K$/ : /^id,age,.*,income,prediction$/);
      assert.deepEqual(lines.slice(1).map((l) => Number(l.split(',')[0])), Array.from({ length: 6000 }, (_, i) => 6000 - i), 'rows in the order of the input');
    });
  }

  it('scores with an ONNX model (run by onnxruntime) as trellis predict does, block by block', () => {
    const onnx = join(dir, 'income.onnx');
    cli('export', 'onnx', 'income@1', onnx);
    cli('import', 'onnx', onnx, '--register', 'income-onnx');
    const predicted = join(dir, 'onnx-predict.csv');
    const scored = join(dir, 'onnx-score.csv');
    cli('predict', '--model', 'income-onnx@1', '--input', ADULT_HEAD, '--output', predicted);
    cli('score', '--model', 'income-onnx@1', '--input', ADULT_HEAD, '--output', scored, '--block-rows', '33');
    // onnxruntime's sums may differ in the last bit with the batch size: the probabilities to 1e-12.
    const want = readFileSync(predicted, 'utf8').trim().split('\n').map((l) => l.split(','));
    const got = readFileSync(scored, 'utf8').trim().split('\n').map((l) => l.split(','));
    assert.equal(got.length, 201);
    assert.deepEqual(got[0], want[0]);
    got.slice(1).forEach((cells, i) => {
      assert.deepEqual(cells.slice(0, -2), want[i + 1]!.slice(0, -2), `row ${i}`);
      for (const k of [-2, -1]) assert.ok(Math.abs(Number(cells.at(k)) - Number(want[i + 1]!.at(k))) < 1e-12, `row ${i}`);
    });
  });

  it('writes JSON Lines and Parquet with the same columns and values as the CSV', async () => {
    const csv = join(dir, 'formats.csv');
    cli('score', '--model', 'income@1', '--input', rows6k, '--output', csv, '--block-rows', '2500');
    const want = await readTable(csv);
    for (const ext of ['jsonl', 'parquet']) {
      const out = join(dir, `formats.${ext}`);
      cli('score', '--model', 'income@1', '--input', rows6k, '--output', out, '--block-rows', '2500');
      const got = await readTable(out);
      assert.deepEqual(got.columns.map((c) => c.name), want.columns.map((c) => c.name), ext);
      assert.equal(got.rowCount, 6000, ext);
      for (const i of [0, 2499, 2500, 5999]) {
        const a = rowAt(got, i);
        const b = rowAt(want, i);
        for (const k of ['id', 'age', 'workclass', 'prediction', 'proba_>50K']) assert.equal(String(a[k]), String(b[k]), `${ext} row ${i} ${k}`);
      }
    }
    // A Parquet input (the Adult head as Parquet) scores as its CSV twin does.
    const fromCsv = join(dir, 'head-from-csv.csv');
    const fromParquet = join(dir, 'head-from-parquet.csv');
    cli('score', '--model', 'income@1', '--input', ADULT_HEAD, '--output', fromCsv, '--block-rows', '64');
    cli('score', '--model', 'income@1', '--input', ADULT_HEAD.replace(/\.csv$/, '.parquet'), '--output', fromParquet, '--block-rows', '64');
    assert.equal(readFileSync(fromParquet, 'utf8'), readFileSync(fromCsv, 'utf8'));
  });

  it('records a run: the input file by path and sha256, the model version, the output file, and lineage between them', () => {
    const out = join(dir, 'recorded.csv');
    const r = json<{ run_id: string; model: string; input: string; rows: number; output: string; columns: string[] }>('score', '--model', 'income@champion', '--input', rows6k, '--output', out, '--experiment', 'nightly');
    assert.equal(r.model, 'income/1');
    assert.equal(r.rows, 6000);
    assert.equal(r.output, out);
    assert.deepEqual(r.columns.slice(-3), ['prediction', 'proba_<=50K', 'proba_>50K']);
    const run = json<{ info: { runName: string; experimentId: string }; data: { params: Record<string, string>; tags: Record<string, string> }; inputs: { datasetInputs: { dataset: { name: string; digest: string; sourceType: string; source: string }; tags: Record<string, string> }[] } }>('runs', 'show', r.run_id);
    assert.equal(run.info.runName, 'score-income-v1');
    assert.equal(run.info.experimentId, json<{ experimentId: string }>('experiments', 'show', 'nightly').experimentId);
    assert.deepEqual([run.data.params.model, run.data.params.data, run.data.params.output, run.data.params.rows], ['income/1', rows6k, out, '6000']);
    assert.equal(run.data.tags['trellis.scoring'], 'score');
    const digest = createHash('sha256').update(readFileSync(rows6k)).digest('hex').slice(0, 16);
    assert.deepEqual(run.inputs.datasetInputs.map((d) => [d.dataset.name, d.dataset.digest, d.dataset.sourceType, d.tags['mlflow.data.context']]), [['rows6k.csv', digest, 'local', 'scoring']]);
    const lineage = json<Graph>('lineage', 'income/1');
    const node = `run:${r.run_id}`;
    assert.ok(has(lineage, { from: 'model-version:income/1', to: node, relation: 'scored', detail: 'score' }), 'model version → score run');
    assert.ok(has(lineage, { from: node, to: `artifact:file:${out}`, relation: 'output' }), 'score run → the output file');

    // A dataset version as input: lineage runs from it.
    const fromDataset = json<{ run_id: string; input: string; rows: number }>('score', '--model', 'income@1', '--input', 'adult@1', '--output', join(dir, 'from-dataset.jsonl'));
    assert.equal(fromDataset.input, 'adult@1');
    assert.equal(fromDataset.rows, 200);
    const fromData = json<Graph>('lineage', 'dataset:adult@1');
    assert.ok(has(fromData, { from: 'dataset-version:adult@1', to: `run:${fromDataset.run_id}`, relation: 'input', detail: 'scoring' }), 'dataset version → score run');
  });

  it('refuses bad input with one line naming the problem, and writes nothing', () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    const head = readFileSync(ADULT_HEAD, 'utf8').trim().split('\n');
    // A missing column; a bad number in line 151 (data row 150, in the 22nd block of 7 rows); an unseen
    // category where a one-hot feature refuses it is covered by the model tests. A Parquet file that is not one.
    const noAge = join(bad, 'no-age.csv');
    writeFileSync(noAge, `${head.map((l) => l.split(',').slice(1).join(',')).join('\n')}\n`);
    const badValue = join(bad, 'bad-value.csv');
    writeFileSync(badValue, `${head.map((l, i) => (i === 150 ? l.replace(/^\d+/, 'forty') : l)).join('\n')}\n`);
    const noAgeJsonl = join(bad, 'no-age.jsonl');
    writeFileSync(noAgeJsonl, `${JSON.stringify({ workclass: 'Private', income: '<=50K' })}\n`);
    const notParquet = join(bad, 'fake.parquet');
    writeFileSync(notParquet, 'age,income\n1,2\n');
    const out = join(bad, 'out.csv');
    const cases: [string[], RegExp][] = [
      [['--input', noAge, '--output', out], /Input is missing the feature 'age' \(integer\); its columns are: workclass, fnlwgt/],
      [['--input', noAgeJsonl, '--output', out], /Input is missing the features 'age' \(integer\), 'fnlwgt' \(integer\).*; its columns are: workclass, income \[/],
      [['--input', badValue, '--output', out, '--block-rows', '7'], /bad-value\.csv:151:1: .*'age'.*forty|bad-value\.csv:151:1: .*forty.*'age'/],
      [['--input', join(bad, 'missing.csv'), '--output', out], /Data file '.*missing\.csv' not found/],
      [['--input', notParquet, '--output', out], /fake\.parquet.*not a Parquet file/],
      [['--input', ADULT_HEAD, '--output', join(bad, 'no-such-folder', 'out.csv')], /cannot write '.*no-such-folder\/out\.csv': the folder '.*no-such-folder' does not exist/],
      [['--input', ADULT_HEAD, '--output', join(bad, 'out.xlsx')], /cannot write '.*out\.xlsx': its extension names no output format/],
      [['--input', ADULT_HEAD, '--output', out, '--block-rows', '0'], /--block-rows must be a whole number from 1 to 1000000, got '0'/],
      [['--input', ADULT_HEAD, '--output', out, '--block-rows', '1e9'], /--block-rows must be a whole number from 1 to 1000000, got '1e9'/],
      [['--input', noAge, '--output', noAge], /--output '.*no-age\.csv' is the input file; write the scores to another file/],
    ];
    for (const [args, message] of cases) {
      const r = runCli([...g, 'score', '--model', 'income@1', ...args]);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
    for (const [ref, message] of [['income@9', /no version 9 of model 'income' \(versions: 1\)/], ['nope@1', /nope/], ['income@champ', /no alias 'champ' on model 'income'/]] as const) {
      const r = runCli([...g, 'score', '--model', ref, '--input', ADULT_HEAD, '--output', out]);
      assert.notEqual(r.code, 0, ref);
      assert.match(r.stderr, message, ref);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
    // Nothing written: neither the output nor a temporary file beside it.
    assert.deepEqual(readdirSync(bad).sort(), ['bad-value.csv', 'fake.parquet', 'no-age.csv', 'no-age.jsonl']);
  });

  it('leaves no file under the output name when interrupted with Ctrl-C mid-run', async () => {
    const big = adultRows(join(dir, 'big.csv'), 400_000);
    const folder = join(dir, 'interrupted');
    mkdirSync(folder);
    const out = join(folder, 'scored.csv');
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...g, 'score', '--model', 'income@1', '--input', big, '--output', out, '--block-rows', '2000'], {
      env: { ...env, TRELLIS_USER: 'tester' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // Interrupted once it has written some blocks under the temporary name.
    let partial: string | undefined;
    while (child.exitCode === null && !partial) {
      partial = readdirSync(folder).find((f) => f.endsWith('.partial'));
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(partial, 'the run wrote under a temporary name before it was interrupted');
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted: '.*scored\.csv' was not written/);
    assert.ok(!existsSync(out), 'no file under the output name');
    assert.deepEqual(readdirSync(folder), [], 'and no temporary file left');
    // No run was recorded for it.
    const runs = json<{ data: { params: Record<string, string> } }[]>('runs', 'list', '--limit', '1000');
    assert.ok(runs.some((r) => r.data.params.output), 'other score runs name their output');
    assert.ok(!runs.some((r) => r.data.params.output === out), 'no run names the interrupted output');
  });
});
