import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readTable } from '../../data/readers/index.js';
import { rowAt } from '../../data/table.js';
import { predict } from '../../ml/model.js';
import { decodeModel } from '../../ml/onnx/proto.js';
import { predictAsync } from '../../ml/onnx/predict-async.js';
import { maxAbsDiff, runOnnx } from '../../ml/onnx/test-helpers/run-onnx.js';
import { Workspace } from '../../workspace/workspace.js';
import { runCli } from '../test-helpers/run-cli.js';
import { loadModelRef } from '../refs.js';

const ADULT_HEAD = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));

describe('trellis export onnx and import onnx', () => {
  let dir: string;
  let g: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-onnx-cli-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const open = () => Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });

  it('exports a registered model to a file that scores like it, and imports it back as a registered version', async () => {
    const trained = runCli([...g, '--json', 'train', '--data', ADULT_HEAD, '--target', 'income', '--register', 'income']);
    assert.equal(trained.code, 0, trained.stderr);
    const file = join(dir, 'income.onnx');
    const ex = runCli([...g, '--json', 'export', 'onnx', 'income@1', file]);
    assert.equal(ex.code, 0, ex.stderr);
    const bytes = new Uint8Array(readFileSync(file));
    assert.equal(JSON.parse(ex.stdout).bytes, bytes.length);
    assert.deepEqual(decodeModel(bytes).graph!.output!.map((o) => o.name), ['prediction', 'probabilities']);

    const table = await readTable(ADULT_HEAD);
    const ws = await open();
    try {
      const { model } = await loadModelRef(ws, 'income/1');
      const want = predict(model, table);
      const got = await runOnnx(bytes, model, table);
      assert.ok(maxAbsDiff(got.probabilities!, want.proba!) <= 1e-9);
    } finally {
      await ws.close();
    }

    const im = runCli([...g, '--json', 'import', 'onnx', file, '--register', 'income-onnx', '--experiment', 'imports']);
    assert.equal(im.code, 0, im.stderr);
    const out = JSON.parse(im.stdout);
    assert.equal(out.model, 'income-onnx');
    assert.equal(out.version, '1');
    assert.equal(out.task, 'binary');
    assert.deepEqual(out.classes, ['<=50K', '>50K']);
    const run = JSON.parse(runCli([...g, '--json', 'runs', 'show', out.run_id]).stdout);
    assert.equal(run.data.params.source, 'onnx');
    assert.ok(run.artifacts.some((f: { path: string }) => f.path === 'model'));

    const ws2 = await open();
    try {
      const original = (await loadModelRef(ws2, 'income/1')).model;
      const imported = (await loadModelRef(ws2, 'income-onnx/1')).model;
      assert.equal(imported.estimator.kind, 'onnx');
      const got = await predictAsync(imported, table);
      assert.ok(maxAbsDiff(got.proba!, predict(original, table).proba!) <= 1e-9);
    } finally {
      await ws2.close();
    }
    // trellis predict scores with the imported model as with the original.
    const a = join(dir, 'a.csv');
    const b = join(dir, 'b.csv');
    assert.equal(runCli([...g, 'predict', '--model', 'income/1', '--input', ADULT_HEAD, '--output', a]).code, 0);
    const scored = runCli([...g, 'predict', '--model', 'income-onnx/1', '--input', ADULT_HEAD, '--output', b]);
    assert.equal(scored.code, 0, scored.stderr);
    const rows = (f: string) => readFileSync(f, 'utf8').trim().split('\n').map((l) => l.split(','));
    const ra = rows(a);
    const rb = rows(b);
    assert.equal(rb.length, 201);
    assert.deepEqual(rb[0], ra[0]);
    for (let i = 1; i < ra.length; i++) {
      assert.equal(rb[i]!.at(-3), ra[i]!.at(-3), `row ${i} class`);
      assert.ok(Math.abs(Number(rb[i]!.at(-1)) - Number(ra[i]!.at(-1))) < 1e-9, `row ${i} probability`);
    }
  });

  it('refuses a missing model, a file that is not ONNX, and a bad --task, with the reason', () => {
    const missing = runCli([...g, 'export', 'onnx', 'nope/1', join(dir, 'x.onnx')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /TRELLIS_MODEL_NOT_FOUND|TRELLIS_MODEL_VERSION_NOT_FOUND/);
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, 'this is not a protobuf message at all');
    const bad = runCli([...g, 'import', 'onnx', junk, '--register', 'junk']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /The model file is refused: it is not an ONNX model .*\[TRELLIS_MODEL_INVALID\]/);
    const task = runCli([...g, 'import', 'onnx', junk, '--task', 'ranking']);
    assert.equal(task.code, 1);
    assert.match(task.stderr, /--task must be regression, binary or multiclass, got 'ranking'/);
  });
});

describe('trellis export --format js', () => {
  let dir: string;
  let g: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-js-cli-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a module that predicts like the registered version, and says its path and size', async () => {
    const trained = runCli([...g, 'train', '--data', ADULT_HEAD, '--target', 'income', '--algo', 'gbdt', '--param', 'trees=20', '--register', 'income']);
    assert.equal(trained.code, 0, trained.stderr);
    const file = join(dir, 'income.mjs');
    const ex = runCli([...g, '--json', 'export', 'income@1', '--format', 'js', '--output', file]);
    assert.equal(ex.code, 0, ex.stderr);
    const text = readFileSync(file);
    const out = JSON.parse(ex.stdout);
    assert.deepEqual(out, {
      model: 'income', version: '1', format: 'js', file, bytes: text.length, gzip_bytes: gzipSync(text, { level: 9 }).length, sha256: createHash('sha256').update(text).digest('hex'),
    });

    const table = await readTable(ADULT_HEAD);
    const records = Array.from({ length: table.rowCount }, (_, i) => rowAt(table, i));
    const ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
    try {
      const { model } = await loadModelRef(ws, 'income/1');
      const mod = await import(pathToFileURL(file).href) as { predictBatch(r: unknown[]): { prediction: string; proba: number[] }[]; metadata: { name: string; version: string } };
      const want = predict(model, records);
      const got = mod.predictBatch(records);
      got.forEach((r, i) => {
        assert.equal(r.prediction, model.classes![want.prediction[i]!]);
        assert.deepEqual(r.proba, Array.from(want.proba!.subarray(2 * i, 2 * i + 2)));
      });
      assert.deepEqual([mod.metadata.name, mod.metadata.version], ['income', '1']);
    } finally {
      await ws.close();
    }

    // Without --output: <name>-<version>.mjs in the working directory, reported in words.
    const main = fileURLToPath(new URL('../main.ts', import.meta.url));
    const plain = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), main, ...g, 'export', 'income@1', '--format', 'js'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /^wrote income version 1 as a JavaScript module → income-1\.mjs \(\d+ bytes, \d+ gzipped\)\n$/);
    assert.deepEqual(readFileSync(join(dir, 'income-1.mjs')), text);

    // --format onnx writes what `export onnx` does.
    const onnx = runCli([...g, '--json', 'export', 'income@1', '--format', 'onnx', '--output', join(dir, 'income.onnx')]);
    assert.equal(onnx.code, 0, onnx.stderr);
    assert.equal(JSON.parse(onnx.stdout).format, 'onnx');
    assert.equal(runCli([...g, 'export', 'onnx', 'income@1', join(dir, 'again.onnx')]).code, 0);
    assert.deepEqual(readFileSync(join(dir, 'income.onnx')), readFileSync(join(dir, 'again.onnx')));
    // An ONNX graph cannot become a module: the refusal points to --format onnx.
    assert.equal(runCli([...g, 'import', 'onnx', join(dir, 'income.onnx'), '--register', 'income-onnx']).code, 0);
    const graph = runCli([...g, 'export', 'income-onnx@1', '--format', 'js', '--output', join(dir, 'graph.mjs')]);
    assert.equal(graph.code, 1);
    assert.match(graph.stderr, /This model is an ONNX graph run by onnxruntime; .*export it with --format onnx/);
    assert.equal(existsSync(join(dir, 'graph.mjs')), false);
  });

  it('refuses an unknown format, a missing format or model, and an unknown model, with the reason', () => {
    const xml = runCli([...g, 'export', 'income@1', '--format', 'xml']);
    assert.equal(xml.code, 1);
    assert.match(xml.stderr, /--format must be one of js, onnx, got 'xml'/);
    const none = runCli([...g, 'export', 'income@1']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /--format must be one of js, onnx, got nothing/);
    const noModel = runCli([...g, 'export', '--format', 'js']);
    assert.equal(noModel.code, 1);
    assert.match(noModel.stderr, /Name the model version to export/);
    const unwritable = runCli([...g, 'export', 'income@1', '--format', 'js', '--output', join(dir, 'no-such-folder', 'x.mjs')]);
    assert.equal(unwritable.code, 1);
    assert.match(unwritable.stderr, /Cannot write '.*no-such-folder.x\.mjs': ENOENT/);
    const missing = runCli([...g, 'export', 'nope/1', '--format', 'js', '--output', join(dir, 'x.mjs')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /TRELLIS_MODEL_NOT_FOUND|TRELLIS_MODEL_VERSION_NOT_FOUND/);
  });
});
