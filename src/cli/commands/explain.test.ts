import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rocAuc } from '../../numeric/metrics/classification.js';
import { runCli } from '../test-helpers/run-cli.js';
import type { ExplainDocument } from './explain.js';

const ADULT_HEAD = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));

describe('trellis explain', () => {
  let dir: string;
  let g: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-explain-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    const lin = runCli([...g, 'train', '--data', ADULT_HEAD, '--target', 'income', '--register', 'income']);
    assert.equal(lin.code, 0, lin.stderr);
    const gbdt = runCli([...g, 'train', '--data', ADULT_HEAD, '--target', 'income', '--algo', 'gbdt', '--param', 'trees=20', '--param', 'min_samples_leaf=5', '--register', 'income-gbdt']);
    assert.equal(gbdt.code, 0, gbdt.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes per-row log-odds contributions that add up to the margin of the predicted probability, with permutation importance', () => {
    const out = join(dir, 'explain.json');
    const r = runCli([...g, '--json', 'explain', '--model', 'income/1', '--data', ADULT_HEAD, '--rows', '5', '--output', out]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as ExplainDocument;
    assert.deepEqual(JSON.parse(r.stdout), doc);
    assert.equal(doc.model, 'income/1');
    assert.equal(doc.method, 'linear-interventional');
    assert.equal(doc.space, 'log-odds');
    assert.deepEqual(doc.outputs, ['>50K']);
    assert.equal(doc.rowsUsed, 200);
    assert.equal(doc.globalImportance.length, 14);
    assert.ok(doc.globalImportance.every((c, i) => i === 0 || c.importance <= doc.globalImportance[i - 1]!.importance));
    // The probabilities `trellis predict` writes, for an independent check of the margins.
    const scored = join(dir, 'scored.csv');
    assert.equal(runCli([...g, 'predict', '--model', 'income/1', '--input', ADULT_HEAD, '--output', scored]).code, 0);
    const lines = readFileSync(scored, 'utf8').trim().split('\n').slice(1);
    const proba = lines.map((l) => Number(l.split(',').at(-1)));
    const labels = lines.map((l) => (l.split(',')[14] === '>50K' ? 1 : 0));
    assert.equal(doc.rows.length, 5);
    doc.rows.forEach((row, i) => {
      const contrib = row.contributions['>50K']!;
      assert.equal(Object.keys(contrib).length, 14);
      const sum = doc.expected['>50K']! + Object.values(contrib).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - row.output['>50K']!) < 1e-9, `row ${i}: ${sum} vs ${row.output['>50K']}`);
      assert.ok(Math.abs(1 / (1 + Math.exp(-row.output['>50K']!)) - proba[i]!) < 1e-12);
      assert.equal(row.prediction, proba[i]! >= 0.5 ? '>50K' : '<=50K');
    });
    assert.equal(doc.rows[0]!.input.workclass, 'State-gov');
    const pi = doc.permutationImportance!;
    assert.equal(pi.metric, 'roc_auc');
    assert.equal(pi.rows, 200);
    assert.equal(pi.repeats, 5);
    assert.ok(Math.abs(pi.baseline - rocAuc(labels, proba)) < 1e-12);
    assert.equal(pi.columns.length, 14);
  });

  it('explains a boosted model in an HTML report and as tables, and without labels skips permutation importance', () => {
    const html = join(dir, 'explain.html');
    const r = runCli([...g, 'explain', '--model', 'income-gbdt/1', '--data', ADULT_HEAD, '--sample', '120', '--output', html]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /income-gbdt\/1 on .*: tree-path-dependent SHAP in log-odds of '>50K', 120 rows/);
    assert.match(r.stdout, /global importance \(mean \|SHAP\|\)\nCOLUMN +IMPORTANCE\n/);
    assert.match(r.stdout, /permutation importance \(drop in roc_auc from 0\.\d+, 5 repeats, 120 rows\)/);
    assert.match(r.stdout, /wrote .*explain\.html/);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /^<!doctype html>/);
    assert.match(page, /Global importance: mean \|SHAP value\|/);
    assert.match(page, /<svg role="img" aria-label="global importance"/);
    assert.match(page, /row 9: predicted/);
    assert.match(page, /marital-status = /);
    assert.doesNotMatch(page, /<script/);

    const noLabels = join(dir, 'unlabelled.csv');
    writeFileSync(noLabels, `${readFileSync(ADULT_HEAD, 'utf8').trim().split('\n').slice(0, 21).map((l) => l.split(',').slice(0, 14).join(',')).join('\n')}\n`);
    const j = runCli([...g, '--json', 'explain', '--model', 'income-gbdt/1', '--data', noLabels, '--rows', '3']);
    assert.equal(j.code, 0, j.stderr);
    const doc = JSON.parse(j.stdout) as ExplainDocument;
    assert.equal(doc.permutationImportance, null);
    assert.equal(doc.rowsUsed, 20);
    assert.equal(doc.rows.length, 3);
    for (const row of doc.rows) {
      const sum = doc.expected['>50K']! + Object.values(row.contributions['>50K']!).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - row.output['>50K']!) < 1e-9);
    }
  });

  it('refuses bad options with clear errors', () => {
    assert.match(runCli([...g, 'explain', '--model', 'income/1', '--data', ADULT_HEAD, '--output', join(dir, 'x.txt')]).stderr, /--output must end in \.html or \.json/);
    assert.match(runCli([...g, 'explain', '--model', 'income/1', '--data', ADULT_HEAD, '--rows', '-1']).stderr, /--rows must be a non-negative integer, got '-1'/);
    assert.match(runCli([...g, 'explain', '--model', 'income/1', '--data', ADULT_HEAD, '--metric', 'rmse']).stderr, /Metric 'rmse' does not apply to a binary model/);
  });
});
