import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cli, initProject } from '../test-helpers/trellis-project.js';

interface Report {
  passed: boolean;
  failed?: { stage: string; cause: string };
  stages: { stage: string; status: string; summary: string; problems: string[]; warnings: string[] }[];
  package?: { path: string; sha256: string; files: number };
}

const stages = (r: Report) => r.stages.map((s) => `${s.stage}:${s.status}`);

/** The starter's data file goes into the package, as `npm run ci` puts it there. */
const SAMPLE = ['--include', 'data/bike-sample.csv'];

/** Runs `trellis --json ci` in the project, as its `npm run ci` does, and parses its report. */
async function ci(dir: string, ...args: string[]): Promise<{ code: number; report: Report; stderr: string }> {
  const r = await cli(['--json', 'ci', ...args, ...SAMPLE], { cwd: dir });
  assert.ok(r.stdout.trim().startsWith('{'), `expected a JSON report, got:\n${r.stdout}\n${r.stderr}`);
  return { code: r.code, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
}

/** Replaces `from` (which must be there) in a project file, runs `fn`, and puts the file back. */
async function withEdit<T>(file: string, from: string | RegExp, to: string, fn: () => Promise<T>): Promise<T> {
  const before = readFileSync(file, 'utf8');
  const after = before.replace(from, to);
  assert.notEqual(after, before, `${file} has no ${from}`);
  writeFileSync(file, after);
  try {
    return await fn();
  } finally {
    writeFileSync(file, before);
  }
}

describe('trellis ci on a project from trellis init', () => {
  let dir: string;
  before(async () => { dir = await initProject('demand'); });
  after(() => rmSync(dirname(dir), { recursive: true, force: true }));

  it('passes every stage and writes a package whose sha256 is the same on a second build', async () => {
    // The dry run runs the package: without the data file in it, it fails as the deployed pipeline would.
    const bare = await cli(['ci'], { cwd: dir });
    assert.equal(bare.code, 1);
    assert.match(bare.stdout, /✗ dry-run .*step 'ingest' reads 'data\/bike-sample\.csv', which is not in the package that deploys \(it is beside the pipeline: add it with --include data\/bike-sample\.csv\)/);
    const human = await cli(['ci', ...SAMPLE], { cwd: dir });
    assert.equal(human.code, 0, human.stderr);
    for (const stage of ['lint', 'type-check', 'tests', 'dry-run', 'package']) assert.match(human.stdout, new RegExp(`^✓ ${stage} +\\d+(\\.\\d)? m?s  `, 'm'));
    assert.match(human.stdout, /dry-run .*8 of 8 steps ran from the package on samples \(ingest: 500 rows of data\/bike-sample\.csv\)/);
    const first = /package dist\/demand-1\.pkg\.json \(sha256 ([0-9a-f]{64}), 3 files\)/.exec(human.stdout);
    assert.ok(first, human.stdout);

    const again = await ci(dir, 'pipeline.ts', '--out', 'dist/again.pkg.json');
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(stages(again.report), ['lint:passed', 'type-check:passed', 'tests:passed', 'dry-run:passed', 'package:passed']);
    assert.equal(again.report.package!.sha256, first[1]);
    assert.equal(readFileSync(join(dir, 'dist/again.pkg.json'), 'utf8'), readFileSync(join(dir, 'dist/demand-1.pkg.json'), 'utf8'));
    const pkg = JSON.parse(readFileSync(join(dir, 'dist/again.pkg.json'), 'utf8')) as { sha256: string; files: { path: string }[] };
    assert.equal(pkg.sha256, first[1]);
    assert.deepEqual(pkg.files.map((f) => f.path), ['components/drop-columns.ts', 'data/bike-sample.csv', 'pipeline.ts']);
  });

  it('fails at type-check with the file, line and column of a type error', async () => {
    const file = join(dir, 'pipeline.ts');
    const lines = readFileSync(file, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.startsWith('export default pipeline(')) + 2;
    const r = await withEdit(file, /(export default pipeline\('demand', \(p\) => \{\n)/, "$1  const rows: number = 'five hundred';\n", () => ci(dir));
    assert.equal(r.code, 1);
    assert.equal(r.report.passed, false);
    assert.deepEqual(stages(r.report), ['lint:passed', 'type-check:failed']);
    assert.equal(r.report.failed!.stage, 'type-check');
    assert.match(r.report.failed!.cause, new RegExp(`^1 type error: pipeline\\.ts:${at}:9 TS2322: Type 'string' is not assignable to type 'number'`));
  });

  it('fails at tests naming the failing test', async () => {
    const file = join(dir, 'components/drop-columns.test.ts');
    const r = await withEdit(file, "'a,c\\n1,3\\n5,7\\n'", "'a,c\\n1,3\\n5,8\\n'", () => ci(dir));
    assert.equal(r.code, 1);
    assert.deepEqual(stages(r.report), ['lint:passed', 'type-check:passed', 'tests:failed']);
    const tests = r.report.stages[2]!;
    assert.equal(tests.problems.length, 1);
    assert.match(tests.problems[0]!, /^node: drop-columns removes the named columns and keeps the others in order: Expected values to be strictly equal/);
    assert.match(r.report.failed!.cause, /1 failed test: node: drop-columns removes the named columns/);
  });

  it('fails at the dry run naming the step whose component throws', async () => {
    const file = join(dir, 'components/drop-columns.ts');
    const r = await withEdit(file, '    const drop = ', "    if (ctx.inputs.columns) throw new Error('no column to keep in the sample');\n    const drop = ", () => ci(dir));
    assert.equal(r.code, 1);
    assert.deepEqual(stages(r.report), ['lint:passed', 'type-check:passed', 'tests:passed', 'dry-run:failed']);
    assert.match(r.report.failed!.cause, /^step 'features' failed: .*no column to keep in the sample \(at .*components\/drop-columns\.ts:\d+:\d+\)/);
  });

  it('reports a gate that refuses on the sample as a warning, and passes', async () => {
    const r = await withEdit(join(dir, 'pipeline.ts'), 'rmse <= 150 and', 'rmse <= 0.5 and', () => ci(dir, '--sample-rows', '300', '--out', 'dist/gated.pkg.json'));
    assert.equal(r.code, 0, JSON.stringify(r.report.failed));
    const dry = r.report.stages.find((s) => s.stage === 'dry-run')!;
    assert.equal(dry.status, 'passed');
    assert.match(dry.summary, /ingest: 300 rows of data\/bike-sample\.csv/);
    assert.equal(dry.warnings.length, 1);
    assert.match(dry.warnings[0]!, /^gate refused on the sample: rmse <= 0\.5 and rmse <= champion\.rmse \* 1\.02 with rmse=\d/);
  });

  it('fails at lint before running anything else, with the finding', async () => {
    const r = await withEdit(join(dir, 'pipeline.ts'), "target: 'cnt', algo: 'gbdt'", "target: 'cnt', algo: 'gbdt', trees: 100, learningRate: 'fast' as unknown as number", () => ci(dir));
    assert.equal(r.code, 1);
    assert.deepEqual(stages(r.report), ['lint:failed']);
    assert.match(r.report.failed!.cause, /lint error.*step 'train' input 'learningRate'/);
  });
});

describe('trellis ci on a YAML project', () => {
  let dir: string;
  before(async () => { dir = await initProject('yamlish', ['--yaml']); });
  after(() => rmSync(dirname(dir), { recursive: true, force: true }));

  it('passes, type-checking the TypeScript component of a YAML pipeline', async () => {
    const r = await ci(dir);
    assert.equal(r.code, 0, JSON.stringify(r.report.failed));
    const tc = r.report.stages.find((s) => s.stage === 'type-check')!;
    assert.match(tc.summary, /^1 file \(components\/drop-columns\.ts\)/);
    assert.equal(r.report.package!.files, 3);
  });

  it('runs Python tests in the components folder and names a failing one', async () => {
    writeFileSync(join(dir, 'components/test_scaling.py'), [
      'import unittest', '', 'class Scaling(unittest.TestCase):', '    def test_unit(self):', '        self.assertEqual(1 * 2, 2)',
      '', '    def test_halves(self):', '        self.assertEqual(3 / 2, 1)', '',
    ].join('\n'));
    try {
      const r = await ci(dir);
      assert.equal(r.code, 1);
      assert.equal(r.report.failed!.stage, 'tests');
      assert.deepEqual(r.report.stages.find((s) => s.stage === 'tests')!.problems, ['python: test_halves (test_scaling.Scaling.test_halves)']);
    } finally {
      rmSync(join(dir, 'components/test_scaling.py'));
    }
  });

  it('refuses a dataset-version input in the dry run unless --data names a file for it', async () => {
    const r = await withEdit(join(dir, 'pipeline.yaml'), 'default: data/bike-sample.csv', 'default: bike@latest', () => ci(dir));
    assert.equal(r.code, 1);
    assert.equal(r.report.failed!.stage, 'dry-run');
    assert.match(r.report.failed!.cause, /step 'ingest' reads the dataset version 'bike@latest'.*--data ingest=<file>/);
    const ok = await withEdit(join(dir, 'pipeline.yaml'), 'default: data/bike-sample.csv', 'default: bike@latest', () => ci(dir, '--data', 'ingest=data/bike-sample.csv', '--out', 'dist/x.pkg.json'));
    assert.equal(ok.code, 0, JSON.stringify(ok.report.failed));
  });
});
