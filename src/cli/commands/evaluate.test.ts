import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataset } from '../../data/readers/test-helpers/data-files.js';
import { runCli } from '../test-helpers/run-cli.js';

const ADULT_HEAD = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));
const DATA = dataset('adult_test.csv');

describe('trellis evaluate', () => {
  let dir: string;
  let g: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-evaluate-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    const t = runCli([...g, 'train', '--data', ADULT_HEAD, '--target', 'income', '--register', 'income']);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(runCli([...g, 'models', 'alias', 'income', 'champion', '1']).code, 0);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints metrics with intervals, the confusion matrix and slices, and writes an HTML report', () => {
    const html = join(dir, 'report.html');
    const r = runCli([...g, 'evaluate', '--model', 'income@champion', '--data', DATA, '--slice', 'sex', '--bootstrap', '200', '--output', html]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^income\/1 on .*: binary, \d+ labelled rows; positive class '>50K' at 0\.5; 95% intervals from 200 resamples \(seed 1\)/);
    assert.match(r.stdout, /^METRIC\s+VALUE\s+INTERVAL$/m);
    assert.match(r.stdout, /^roc_auc\s+0\.\d{4}\s+\[0\.\d{4}, 0\.\d{4}\]$/m);
    assert.match(r.stdout, /^confusion matrix \(rows: true class, columns: predicted\)$/m);
    assert.match(r.stdout, /^by sex \(categories\)$/m);
    assert.match(r.stdout, /^Female\s+\d+\s+0\.\d{4} \[/m);
    assert.match(r.stdout, /wrote .*report\.html/);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<title>Evaluation of income\/1 on /);
    assert.match(page, /aria-label="calibration curve"/);
    assert.match(page, /aria-label="accuracy by sex"/);
  });

  it('prints the report as JSON, and writes it as JSON; the same seed gives the same figures', () => {
    const file = join(dir, 'report.json');
    const args = [...g, 'evaluate', '--model', 'income/1', '--data', DATA, '--slice', 'age,race', '--bootstrap', '100', '--seed', '5', '--json'];
    const r = runCli([...args, '--output', file]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.model, 'income/1');
    assert.equal(report.format, 'trellis.evaluation/v1');
    assert.equal(report.bootstrap.samples, 100);
    for (const [k, m] of Object.entries<{ value: number; lower: number; upper: number }>(report.metrics)) {
      assert.ok(m.lower <= m.value && m.value <= m.upper, k);
    }
    assert.deepEqual(report.slices.map((s: { column: string; kind: string }) => [s.column, s.kind]), [['age', 'quantiles'], ['race', 'categories']]);
    for (const s of report.slices) assert.equal(s.groups.reduce((a: number, x: { rows: number }) => a + x.rows, 0), report.rows);
    // The file holds the report; the output adds the id of the run that recorded it.
    const { run_id: runId, ...written } = report;
    assert.match(runId, /^[0-9a-f]{32}$/);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), written);
    assert.match(r.stderr, /wrote .*report\.json/);
    assert.deepEqual(JSON.parse(runCli(args).stdout).metrics, report.metrics);
  });

  it('refuses bad input with clear errors', () => {
    const noTarget = join(dir, 'no-target.csv');
    writeFileSync(noTarget, `${readFileSync(ADULT_HEAD, 'utf8').split('\n').slice(0, 20).map((l) => l.split(',').slice(0, 14).join(',')).join('\n')}\n`);
    const missing = runCli([...g, 'evaluate', '--model', 'income/1', '--data', noTarget]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Target column 'income' is not in the data; its columns are: age, workclass/);
    assert.match(runCli([...g, 'evaluate', '--model', 'income/1', '--data', ADULT_HEAD, '--slice', 'gender']).stderr, /Slice column 'gender' is not in the data/);
    assert.match(runCli([...g, 'evaluate', '--model', 'income/1', '--data', ADULT_HEAD, '--output', join(dir, 'r.pdf')]).stderr, /--output must end in \.html or \.json/);
    assert.match(runCli([...g, 'evaluate', '--model', 'income/1', '--data', ADULT_HEAD, '--bootstrap', 'many']).stderr, /--bootstrap must be an integer from 0 to 100000, got 'many'/);
    assert.match(runCli([...g, 'evaluate', '--model', 'income', '--data', ADULT_HEAD]).stderr, /'income' names a model, not one of its versions: write income@<version>, income@<alias>, income@latest or income\/<version>/);
    assert.match(runCli([...g, 'evaluate', '--model', 'income/1', '--data', join(dir, 'nope.csv')]).stderr, /Data file '.*nope\.csv' not found/);
  });
});
