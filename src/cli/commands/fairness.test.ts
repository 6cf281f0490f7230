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

interface Est { value: number | null; lower?: number; upper?: number }

describe('trellis fairness', () => {
  let dir: string;
  let g: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-fairness-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    const t = runCli([...g, 'train', '--data', ADULT_HEAD, '--target', 'income', '--register', 'income']);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(runCli([...g, 'models', 'alias', 'income', 'champion', '1']).code, 0);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints a table per sensitive column with the gaps and flags, and writes an HTML report', () => {
    const html = join(dir, 'fairness.html');
    const r = runCli([...g, 'fairness', '--model', 'income@champion', '--data', DATA, '--sensitive', 'sex,race', '--bootstrap', '200', '--min-group-size', '150', '--output', html]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^income\/1 on .*: \d+ labelled rows, positive outcome '>50K' at 0\.5, groups under 150 rows not compared; 95% intervals from 200 resamples \(seed 1, stratified by group\)/);
    assert.match(r.stdout, /^sex \(categories\)$/m);
    assert.match(r.stdout, /^GROUP\s+SIZE\s+SELECTION_RATE\s+TPR\s+FPR\s+PRECISION\s+ACCURACY$/m);
    assert.match(r.stdout, /^Female\s+\d+\s+0\.\d{4} \[0\.\d{4}, 0\.\d{4}\]/m);
    assert.match(r.stdout, /^demographic parity ratio\s+\d\.\d{4} \[/m);
    assert.match(r.stdout, /^[! ] four-fifths rule (violated|met): selection-rate ratio/m);
    assert.match(r.stdout, /^race \(categories\)$/m);
    // 135 test rows have race 'Other': under the minimum, so marked and flagged.
    assert.match(r.stdout, /^Other \*\s+135\s/m);
    assert.match(r.stdout, /^! group 'Other' has 135 rows, below the minimum of 150: reported, not compared$/m);
    assert.match(r.stdout, /wrote .*fairness\.html/);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<title>Fairness of income\/1 on /);
    assert.match(page, /aria-label="selection rate by sex"/);
    assert.match(page, /aria-label="selection rate by race"/);
  });

  it('prints JSON whose figures are consistent, seeded and unstratified on request', () => {
    const args = [...g, 'fairness', '--model', 'income/1', '--data', DATA, '--sensitive', 'sex', '--sensitive', 'age', '--bootstrap', '150', '--seed', '3', '--unstratified'];
    const r = runCli([...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.model, 'income/1');
    assert.equal(report.format, 'trellis.fairness/v1');
    assert.equal(report.bootstrap.stratified, false);
    assert.deepEqual(report.columns.map((c: { column: string; kind: string }) => [c.column, c.kind]), [['sex', 'categories'], ['age', 'quantiles']]);
    for (const c of report.columns) {
      assert.equal(c.groups.reduce((a: number, x: { size: number }) => a + x.size, 0), report.rows);
      const rates = c.groups.filter((x: { small: boolean }) => !x.small).map((x: { selectionRate: Est }) => x.selectionRate.value as number);
      assert.ok(Math.abs(c.demographicParityDifference.value - (Math.max(...rates) - Math.min(...rates))) < 1e-12);
      for (const e of [c.demographicParityDifference, c.demographicParityRatio, c.equalOpportunityDifference] as Est[]) {
        if (e.value !== null) assert.ok(e.lower! <= e.value && e.value <= e.upper!);
      }
      assert.equal(c.fourFifths.violated, c.demographicParityRatio.value < 0.8);
    }
    assert.deepEqual(JSON.parse(runCli([...args, '--json']).stdout), report);
  });

  it('refuses an unknown sensitive column, a non-binary model and data without the target', () => {
    const unknown = runCli([...g, 'fairness', '--model', 'income/1', '--data', ADULT_HEAD, '--sensitive', 'sex,gender', '--bootstrap', '0']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Sensitive column 'gender' is not in the data; its columns are: age, workclass, fnlwgt, education, education-num, marital-status, occupation, relationship, race, sex, capital-gain, capital-loss, hours-per-week, native-country, income/);

    const reg = join(dir, 'reg.csv');
    writeFileSync(reg, `x,group,y\n${Array.from({ length: 40 }, (_, i) => `${i},${i % 2 ? 'a' : 'b'},${2 * i + (i % 3)}`).join('\n')}\n`);
    assert.equal(runCli([...g, 'train', '--data', reg, '--target', 'y', '--register', 'reg']).code, 0);
    assert.match(runCli([...g, 'fairness', '--model', 'reg/1', '--data', reg, '--sensitive', 'group']).stderr, /Fairness metrics need a binary classifier; reg\/1 is a regression model/);

    const noTarget = join(dir, 'no-target.csv');
    writeFileSync(noTarget, `${readFileSync(ADULT_HEAD, 'utf8').split('\n').slice(0, 20).map((l) => l.split(',').slice(0, 14).join(',')).join('\n')}\n`);
    assert.match(runCli([...g, 'fairness', '--model', 'income/1', '--data', noTarget, '--sensitive', 'sex']).stderr, /Target column 'income' is not in the data; its columns are: age, workclass/);
  });
});
