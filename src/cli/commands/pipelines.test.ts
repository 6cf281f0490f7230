import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePipeline } from '../../pipelines/ir.js';
import { runCli } from '../test-helpers/run-cli.js';

const BIKE_YAML = fileURLToPath(new URL('../../../examples/pipelines/bike.pipeline.yaml', import.meta.url));
const BIKE_TS = fileURLToPath(new URL('../../../examples/pipelines/bike.pipeline.ts', import.meta.url));
const SDK = new URL('../../pipelines/sdk.ts', import.meta.url).href;

describe('trellis pipelines', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'trellis-pipelines-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('lint: the bike pipeline, as YAML and as TypeScript, has no findings', () => {
    for (const f of [BIKE_YAML, BIKE_TS]) {
      const r = runCli(['pipelines', 'lint', f]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `bike 1 (${f}): 7 steps, no findings\n`);
    }
  });

  it('lint: prints the findings with the file and line, and exits 1 on errors; --json gives them to scripts', () => {
    const yaml = readFileSync(BIKE_YAML, 'utf8')
      .replace('data: { step: split, output: test }', 'data: { step: train, output: model }')
      .replace('      trees: { param: trees }', '      trees: many');
    const f = file('broken.yaml', yaml);
    const lines = yaml.split('\n');
    const lineOf = (s: string) => lines.findIndex((l) => l.includes(s)) + 1;
    const r = runCli(['pipelines', 'lint', f]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, new RegExp(`^bike 1 \\(${f}\\): 7 steps, 2 errors, 1 warning\\n`));
    assert.match(r.stdout, /^SEVERITY\s+CHECK\s+AT\s+MESSAGE$/m);
    assert.ok(r.stdout.includes(`error     type-mismatch     ${f}:${lineOf('data: { step: train, output: model }')}`), r.stdout);
    assert.match(r.stdout, /step 'evaluate' input 'data' takes a Dataset, but it is wired to output 'model' of step 'train', which is a Model$/m);
    assert.match(r.stdout, new RegExp(`^error\\s+param-type\\s+${f}:${lineOf('trees: many')}\\s+step 'train' input 'trees' takes an integer, got the string "many"$`, 'm'));
    assert.match(r.stdout, /^warning\s+unused-parameter\s+\S+:\d+\s+pipeline parameter 'trees' is not read/m);

    const j = runCli(['--json', 'pipelines', 'lint', f, '--param', 'trees=10', 'dataset=bike@3']);
    assert.equal(j.code, 1, j.stderr);
    const out = JSON.parse(j.stdout);
    assert.deepEqual([out.name, out.errors, out.warnings], ['bike', 2, 1]);
    assert.match(out.hash, /^[0-9a-f]{64}$/);
    assert.deepEqual(out.findings[0], {
      check: 'type-mismatch', severity: 'error', step: 'evaluate', input: 'data', path: ['steps', 4, 'inputs', 'data'], line: lineOf('data: { step: train, output: model }'),
      message: "step 'evaluate' input 'data' takes a Dataset, but it is wired to output 'model' of step 'train', which is a Model",
    });
  });

  it('lint --param: a parameter without a default needs a value, of its type', () => {
    const f = file('params.yaml', readFileSync(BIKE_YAML, 'utf8').replace('    default: bike@latest\n', ''));
    assert.equal(runCli(['pipelines', 'lint', f]).code, 0);
    const r = runCli(['pipelines', 'lint', f, '--param', 'trees=lots']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /missing-parameter .* pipeline parameter 'dataset' \(a string\) has no default and no value was given for it$/m);
    assert.match(r.stdout, /param-type .* pipeline parameter 'trees' is an integer, but the value given for it is the string "lots"$/m);
  });

  it('show: the steps in the order they can run; --json prints the IR, the same from TypeScript and YAML', () => {
    const r = runCli(['pipelines', 'show', BIKE_TS]);
    assert.equal(r.code, 0, r.stderr);
    const ir = parsePipeline(readFileSync(BIKE_YAML, 'utf8'), 'bike.pipeline.yaml');
    assert.match(r.stdout, /^bike 1: Hourly bike rentals/);
    assert.match(r.stdout, /^params: dataset \(string\) = "bike@latest", trees \(integer\) = 300$/m);
    const rows = r.stdout.split('\n').filter((l) => /^\w+\s+\w[\w-]*@\d/.test(l)).map((l) => l.split(/\s+/).slice(0, 2));
    assert.deepEqual(rows, ir.steps.map((s) => [s.name, s.component]));
    assert.match(r.stdout, /^train\s+train@1\s+data=split\.train target="cnt" exclude="instant,casual,registered" algo="gbdt" trees=params\.trees .*retries 1, timeout 3600s$/m);
    assert.match(r.stdout, /^gate\s+gate@1\s+metrics=evaluate\.metrics condition="rmse <= 80 and rmse <= champion\.rmse \* 1\.02" .*no cache$/m);

    const j = runCli(['--json', 'pipelines', 'show', BIKE_TS]);
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual(JSON.parse(j.stdout), ir);
  });

  it('reports a TypeScript file that does not compile, and one without a pipeline', () => {
    const bad = file('bad.pipeline.ts', `import { builtin, pipeline } from '${SDK}';\nexport default pipeline('x', (p) => {\n  p.step('a', builtin.ingest, { dataset: 'd' };\n});\n`);
    const r = runCli(['pipelines', 'lint', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: Pipeline ${bad} is invalid: does not compile: ${bad}:3:46: ERROR: Expected "\\)" but found ";" \\[TRELLIS_PIPELINE_INVALID\\]$`, 'm'));
    const none = file('none.pipeline.ts', `import { builtin, pipeline } from '${SDK}';\nexport const p = pipeline('x', (b) => { b.step('a', builtin.ingest, { dataset: 'd' }); });\n`);
    assert.match(runCli(['pipelines', 'show', none]).stderr, /is invalid: the module has no default export; write `export default pipeline\(…\)`/);
    // Outside a "type": "module" package the file loads as CommonJS; its default export is still found.
    const good = file('good.pipeline.ts', `import { builtin, pipeline } from '${SDK}';\nexport default pipeline('x', (b) => { b.step('a', builtin.ingest, { dataset: 'd' }); });\n`);
    const ok = runCli(['pipelines', 'lint', good]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `x 1 (${good}): 1 step, no findings\n`);
  });

  it('reports schema errors of a JSON file with the path and line of the field', () => {
    const f = file('bad.json', JSON.stringify({ format: 'trellis.pipeline/v1', name: 'p', steps: [{ name: 'a', component: 'ingest', retries: 'twice' }] }, null, 2));
    const r = runCli(['pipelines', 'lint', f]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: Pipeline \S+bad\.json is invalid: steps\[0\]\.retries \(line 8\): expected number, got string \[TRELLIS_PIPELINE_INVALID\]$/m);
  });
});
