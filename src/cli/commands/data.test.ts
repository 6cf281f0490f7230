import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataset } from '../../data/readers/test-helpers/data-files.js';
import { runCli } from '../test-helpers/run-cli.js';

const ADULT_TRAIN = dataset('adult_train.csv');
const ADULT_TEST = dataset('adult_test.csv');

describe('trellis data', () => {
  let dir: string;
  let g: string[];
  let sample: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-cli-data-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    sample = join(dir, 'adult-sample.csv');
    writeFileSync(sample, readFileSync(ADULT_TEST, 'utf8').split('\n').slice(0, 301).join('\n') + '\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('adds, lists, shows and versions the Adult census data', () => {
    const add = runCli([...g, '--json', 'data', 'add', 'adult', ADULT_TRAIN, '--env', 'income=training']);
    assert.equal(add.code, 0, add.stderr);
    const v = JSON.parse(add.stdout);
    assert.deepEqual([v.version, v.rows, v.columns, v.created], [1, 32561, 15, true]);
    assert.equal(v.sha256, 'f2c62076f19504d99a38b22badf445a7f42530ade6b827acf78dd143fbce38bb');
    assert.match(add.stderr, /recorded adult@1/);
    assert.match(runCli([...g, 'data', 'add', 'adult', ADULT_TRAIN]).stdout, /already present as adult@1/);
    const show = runCli([...g, 'data', 'show', 'adult@1']).stdout;
    // Published counts: workclass has 1,836 missing values ('?'), sex is 21,790 Male / 10,771 Female.
    assert.match(show, /^workclass\s+string\s+1836\s+8\s+Private \(22696\)/m);
    assert.match(show, /^sex\s+string\s+0\s+2\s+Male \(21790\), Female \(10771\)/m);
    assert.match(show, /^income\s+string\s+false\s+2 values\s+training/m);
    assert.match(runCli([...g, 'data', 'list']).stdout, /^adult\s+1\s/m);
  });

  it('validates: the test split passes, a corrupted batch fails with exit 1 and names the anomaly', () => {
    const ok = runCli([...g, 'data', 'validate', sample, '--against', 'adult']);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /^PASS: 300 rows, 0 blocking anomalies/);
    assert.match(ok.stdout, /sex\s+l_infinity\s+0\.\d{4} \(threshold 0\.1 \+ sampling noise 0\.0289; n=300 vs 32561\)/);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, readFileSync(sample, 'utf8').replace(/,Male,/g, ',M,').replace(/^25,/m, '-4,'));
    const r = runCli([...g, 'data', 'validate', bad, '--against', 'adult@1']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\[out_of_domain\] Column 'sex' has \d+ values \(\d+\.\d%\) outside its domain of 2 values, e\.g\. 'M'/);
    assert.match(r.stdout, /\[out_of_range\] Column 'age' has 1 values .* outside \[17, 90\]/);
    const json = JSON.parse(runCli([...g, '--json', 'data', 'validate', bad, '--against', 'adult']).stdout);
    assert.equal(json.ok, false);
    assert.ok(json.distances.every((d: { sampleSize: number }) => d.sampleSize > 0));
    assert.match(runCli([...g, 'data', 'validate', sample]).stderr, /Give --against/);
  });

  it('profiles a file to JSON and HTML, and diffs versions', () => {
    const html = join(dir, 'profile.html');
    const p = JSON.parse(runCli([...g, '--json', 'data', 'profile', sample, '--html', html]).stdout);
    assert.equal(p.rows, 300);
    assert.deepEqual(Object.keys(p.columns[0]).slice(0, 5), ['name', 'type', 'count', 'missing', 'distinct']);
    assert.equal(p.columns.find((c: { name: string }) => c.name === 'age').type, 'integer');
    const page = readFileSync(html, 'utf8');
    assert.equal((page.match(/<svg/g) ?? []).length, 15);
    assert.equal(runCli([...g, 'data', 'add', 'adult', sample]).code, 0);
    const d = JSON.parse(runCli([...g, '--json', 'data', 'diff', 'adult@1', 'adult@2']).stdout);
    assert.equal(d.b.rows - d.a.rows, 300 - 32561);
    assert.deepEqual(d.schema.removed, []);
    assert.match(runCli([...g, 'data', 'diff', 'adult@1', 'adult@2']).stdout, /rows: 32561 → 300 \(-32261\)/);
  });

  it('prints datetime statistics as ISO-8601 instants and their spread as a duration', () => {
    const file = join(dir, 'events.csv');
    writeFileSync(file, 'ts,day\n2024-01-01T06:30:00Z,2024-01-01\n2024-01-02T12:00:00Z,2024-01-03\n2024-01-05T18:45:00Z,2024-01-10\n2024-01-09T00:15:00Z,2024-01-31\n');
    const html = join(dir, 'events.html');
    const r = runCli([...g, 'data', 'profile', file, '--html', html]);
    assert.equal(r.code, 0, r.stderr);
    // ts: mean of the four instants 2024-01-04T15:22:30Z, sample std 300,683,072 ms = 3.48 days.
    assert.match(r.stdout, /^ts\s+datetime\s+0\s+4\s+mean 2024-01-04T15:22:30Z, std 3\.48 days, min 2024-01-01T06:30:00Z, p50 2024-01-02T12:00:00Z, max 2024-01-09T00:15:00Z$/m);
    assert.match(r.stdout, /^day\s+datetime\s+0\s+4\s+mean 2024-01-11T06:00:00Z, std 13\.7 days, min 2024-01-01, p50 2024-01-03, max 2024-01-31$/m);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<th>mean<\/th><td>2024-01-04T15:22:30Z<\/td>/);
    assert.match(page, /<th>std<\/th><td>3\.48 days<\/td>/);
    assert.match(page, /<th>median<\/th><td>2024-01-02T12:00:00Z<\/td>/);
    assert.doesNotMatch(page, /1,70\d,\d{3},\d{3},\d{3}/);
  });

  it('pins an edited schema, and reports serving skew', () => {
    const schemaFile = join(dir, 'schema.json');
    const schema = JSON.parse(runCli([...g, 'data', 'schema', 'adult']).stdout);
    schema.columns.find((c: { name: string }) => c.name === 'sex').expectations = [{ kind: 'share', value: 'Female', min: 0.45, max: 0.55 }];
    writeFileSync(schemaFile, JSON.stringify(schema));
    assert.match(runCli([...g, 'data', 'schema', 'adult', schemaFile, '--pin']).stdout, /stored schema 1 of adult \(pinned/);
    const r = runCli([...g, 'data', 'validate', sample, '--against', 'adult']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\[expectation\] The share of "Female" in 'sex' is/);
    const serving = join(dir, 'serving.csv');
    writeFileSync(serving, readFileSync(sample, 'utf8').replace(/,Female,/g, ',Male,'));
    const skew = runCli([...g, 'data', 'skew', serving, '--against', 'adult@1']);
    assert.equal(skew.code, 1);
    assert.match(skew.stdout, /^sex\s+l_infinity\s+0\.\d+\s+0\.1\s+0\.0289\s+300\s+32561\s+yes/m);
  });

  it('refuses bad input with clear errors and records nothing', () => {
    const ragged = join(dir, 'ragged.csv');
    writeFileSync(ragged, 'a,b\n1,2\n3\n');
    const r = runCli([...g, 'data', 'add', 'x', ragged]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ragged\.csv:3/);
    assert.match(runCli([...g, 'data', 'show', 'x']).stderr, /Dataset 'x' not found/);
    assert.match(runCli([...g, 'data', 'add', 'x', join(dir, 'nope.csv')]).stderr, /not found/);
    assert.match(runCli([...g, 'data', 'show', 'adult@0']).stderr, /positive number/);
  });
});
