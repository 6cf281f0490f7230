import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bikeSlice } from '../engine/test-helpers/engine-fixture.js';
import { parsePipeline } from '../ir.js';
import { findTestFiles, globRegExp, tapFailures, unittestFailures } from './component-tests.js';
import { dryRun, writeSample } from './dry-run.js';
import { typeCheck } from './typecheck.js';

describe('ci: finding tests', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-ci-find-'));
    for (const f of ['components/a.test.ts', 'components/deep/b.test.mjs', 'components/helper.ts', 'components/test_x.py', 'tests/c.test.js',
      'components/node_modules/pkg/d.test.js', 'other/e.test.ts', 'other/test_y.py']) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      writeFileSync(join(dir, f), '');
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('looks in tests/ and components/ beside the pipeline, skipping node_modules', () => {
    const r = findTestFiles(dir);
    assert.deepEqual(r.js.map((f) => f.slice(dir.length + 1)), ['components/a.test.ts', 'components/deep/b.test.mjs', 'tests/c.test.js']);
    assert.deepEqual(r.python.map((f) => f.slice(dir.length + 1)), ['components/test_x.py']);
  });

  it('takes a glob instead', () => {
    const r = findTestFiles(dir, 'other/**');
    assert.deepEqual(r.js.map((f) => f.slice(dir.length + 1)), ['other/e.test.ts']);
    assert.deepEqual(r.python.map((f) => f.slice(dir.length + 1)), ['other/test_y.py']);
    assert.ok(globRegExp('**/*.test.{ts,mjs}').test('components/deep/b.test.mjs'));
    assert.ok(globRegExp('**/*.test.{ts,mjs}').test('a.test.ts'));
    assert.ok(!globRegExp('components/*.test.ts').test('components/deep/a.test.ts'));
    assert.ok(!globRegExp('*.test.ts').test('a.test.tsx'));
  });
});

describe('ci: reading test runners', () => {
  it('names failed tests from TAP, leaving out suites that failed only through them', () => {
    const tap = [
      'TAP version 13',
      '# Subtest: suite',
      '    # Subtest: passes', '    ok 1 - passes', '      ---', '      duration_ms: 1', '      ...',
      '    # Subtest: breaks', '    not ok 2 - breaks', '      ---', "      failureType: 'testCodeFailure'", '      error: |-',
      '        Expected values to be strictly equal:', '        ', '        1 !== 2', '        ', "      code: 'ERR_ASSERTION'", '      ...',
      'not ok 1 - suite', '  ---', "  failureType: 'subtestsFailed'", "  error: '1 subtest failed'", '  ...',
      'not ok 2 - /p/components/x.test.ts', '  ---', "  failureType: 'testCodeFailure'", "  error: 'test failed'", '  ...',
    ].join('\n');
    assert.deepEqual(tapFailures(tap), ['breaks: Expected values to be strictly equal: 1 !== 2', '/p/components/x.test.ts: test failed']);
  });

  it('names failed and erroring Python tests from unittest', () => {
    const out = 'F.E\n======\nFAIL: test_a (test_m.T.test_a)\n------\nTraceback\n======\nERROR: test_b (test_m.T.test_b)\n';
    assert.deepEqual(unittestFailures(out), ['test_a (test_m.T.test_a)', 'test_b (test_m.T.test_b)']);
  });
});

describe('ci: samples', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'trellis-ci-sample-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the header and the first N records of a CSV, a quoted line break inside a record', async () => {
    const src = join(dir, 'in.csv');
    writeFileSync(src, 'id,note\r\n1,"two\r\nlines"\r\n2,plain\r\n3,"x, ""y"""\r\n4,four\r\n');
    const s = await writeSample(src, dir, 3, 'step');
    assert.equal(s.rows, 3);
    assert.equal(readFileSync(s.path, 'utf8'), 'id,note\n1,"two\nlines"\n2,plain\n3,"x, ""y"""\n');
    assert.equal((await writeSample(src, dir, 100, 'all')).rows, 4);
  });

  it('keeps the first N lines of JSON Lines', async () => {
    const src = join(dir, 'in.jsonl');
    writeFileSync(src, '{"a":1}\n{"a":2}\n\n{"a":3}\n');
    const s = await writeSample(src, dir, 2, 'j');
    assert.equal(readFileSync(s.path, 'utf8'), '{"a":1}\n{"a":2}\n');
  });
});

describe('ci: type-check without a tsconfig', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'trellis-ci-tc-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('checks the TypeScript component modules with strict defaults and reports file:line:col', async () => {
    writeFileSync(join(dir, 'step.ts'), 'export async function step(ctx) {\n  return ctx;\n}\n');
    const ir = parsePipeline(JSON.stringify({
      format: 'trellis.pipeline/v1', name: 'p',
      components: [{ name: 's', version: '1', kind: 'typescript', module: './step.ts', export: 'step', inputs: {}, outputs: {} }],
      steps: [{ name: 'a', component: 's' }],
    }), 'p.json');
    const r = await typeCheck(join(dir, 'p.json'), ir, { cwd: dir });
    assert.equal(r.tsconfig, null);
    assert.deepEqual(r.files, [join(dir, 'step.ts')]);
    assert.equal(r.problems.length, 1);
    assert.deepEqual({ ...r.problems[0], message: r.problems[0]!.message.slice(0, 8) }, { file: 'step.ts', line: 1, column: 28, message: 'TS7006: ' });
  });
});

describe('ci: dry run', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'trellis-ci-dry-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs on a sample of the ingested file; a failing gate is a warning and the steps after it are not required', async () => {
    const data = bikeSlice(dir, 800);
    const ir = parsePipeline(`
format: trellis.pipeline/v1
name: dry
params: [{ name: source, type: string, default: ${JSON.stringify(data)} }]
steps:
  - { name: ingest, component: ingest, inputs: { dataset: { param: source } } }
  - { name: split, component: split, inputs: { data: { step: ingest, output: data }, strategy: random } }
  - { name: train, component: train, inputs: { data: { step: split, output: train }, target: cnt, algo: linear } }
  - { name: evaluate, component: evaluate, inputs: { model: { step: train, output: model }, data: { step: split, output: test }, target: cnt, bootstrap: 0 } }
  - { name: gate, component: gate, inputs: { metrics: { step: evaluate, output: metrics }, condition: "accuracy >= 0.9" } }
  - { name: register, component: register, inputs: { model: { step: train, output: model }, name: dry, decision: { step: gate, output: decision } } }
`, 'dry.yaml');
    const r = await dryRun(ir, { baseDir: dir, sampleRows: 120 });
    assert.equal(r.failed, undefined);
    assert.deepEqual(r.samples, [{ step: 'ingest', source: data, rows: 120 }]);
    assert.deepEqual(r.steps.map((s) => `${s.step}:${s.status}`), ['ingest:done', 'split:done', 'train:done', 'evaluate:done', 'gate:failed', 'register:skipped']);
    assert.match(r.warnings[0]!, /^gate refused on the sample: step 'gate' failed: .*metric 'accuracy' is not among the step's metrics/);
    assert.equal(r.warnings[1], 'not run after the gate: register');
  });
});
