import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../test-helpers/run-cli.js';
import { BIKE_YAML, bikeSlice } from '../../pipelines/engine/test-helpers/engine-fixture.js';

describe('trellis run and trellis pipelines resume', () => {
  let dir: string;
  let g: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-run-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the bike example with live status lines and a summary, then serves it from the cache', () => {
    assert.equal(runCli([...g, 'data', 'add', 'bike', bikeSlice(dir)]).code, 0);
    const r = runCli([...g, 'run', BIKE_YAML, '--param', 'trees=20']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /▸ train … running\n/);
    assert.match(r.stderr, /▸ train … done in \d+\.\d s/);
    assert.match(r.stdout, /pipeline bike, run [0-9a-f]{32}: FINISHED in \d+\.\d s/);
    assert.match(r.stdout, /STEP\s+STATUS\s+DURATION\s+CACHED/);
    assert.match(r.stdout, /\ntrain\s+done\s+\d+\.\d s\s+no\s+[0-9a-f]{32}\n/);
    assert.match(r.stdout, /registered bike version 1 @champion\n/);

    const again = runCli([...g, '--json', 'run', BIKE_YAML, '--param', 'trees=20']);
    assert.equal(again.code, 0, again.stderr);
    const out = JSON.parse(again.stdout);
    assert.deepEqual(out.steps.map((s: { step: string; status: string }) => `${s.step}:${s.status}`),
      ['ingest:cached', 'validate:cached', 'split:cached', 'train:cached', 'evaluate:cached', 'gate:done', 'register:done']);
    assert.match(again.stderr, /▸ evaluate … cached/);
    assert.deepEqual(out.registered.map((v: { version: string; created: boolean }) => [v.version, v.created]), [['1', false]]);

    // Why: a hit names the reused run; a changed parameter is named on a miss.
    const hit = runCli([...g, 'pipelines', 'why', out.runId, 'train']);
    assert.equal(hit.code, 0, hit.stderr);
    assert.match(hit.stdout, /^train: cache hit — its cache key was seen before: the outputs of run [0-9a-f]{32} were reused/);
    const third = JSON.parse(runCli([...g, '--json', 'run', BIKE_YAML, '--param', 'trees=21']).stdout);
    const miss = runCli([...g, 'pipelines', 'why', third.runId, 'train']);
    assert.match(miss.stdout, /train: cache miss — .*scalar 'trees'/);
    assert.match(miss.stdout, /scalar\s+trees\s+20\s+21/);
    assert.match(runCli([...g, 'pipelines', 'why', third.runId, 'nope']).stderr, /has no step 'nope'/);
  });

  it('refuses a TypeScript pipeline that does not compile, at its file, line and column, recording nothing', () => {
    const sdk = new URL('../../pipelines/sdk.ts', import.meta.url).href;
    const bad = join(dir, 'broken.pipeline.ts');
    writeFileSync(bad, `import { builtin, pipeline } from '${sdk}';\nexport default pipeline('broken', (p) => {\n  p.step('a', builtin.ingest, { dataset: 'd' };\n});\n`);
    const r = runCli([...g, 'run', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: Pipeline ${bad} is invalid: does not compile: ${bad}:3:46: ERROR: Expected "\\)" but found ";" \\[TRELLIS_PIPELINE_INVALID\\]$`, 'm'));
    assert.equal(runCli([...g, '--json', 'runs', 'search', '-f', "tags.trellis.pipeline = 'broken'"]).stdout.trim(), '[]');
  });

  it('exits 1 naming the failed step, and resume finishes the run', () => {
    const flag = join(dir, 'flag');
    const file = join(dir, 'flaky.pipeline.json');
    writeFileSync(file, JSON.stringify({
      format: 'trellis.pipeline/v1', name: 'flaky',
      components: [{
        kind: 'command', name: 'once', version: '1', outputs: { out: { type: 'File' } },
        command: [process.execPath, '-e', "const fs=require('node:fs');if(!fs.existsSync(process.argv[2])){fs.writeFileSync(process.argv[2],'');console.error('boom');process.exit(4)}fs.writeFileSync(process.argv[1],'ok')", '{outputs.out}', flag],
      }],
      steps: [{ name: 'first', component: 'once' }],
    }));
    const r = runCli([...g, 'run', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /▸ first … FAILED after/);
    const m = /error: pipeline run ([0-9a-f]{32}) failed at step 'first': .*boom|error: pipeline run ([0-9a-f]{32}) failed at step 'first'/s.exec(r.stderr);
    assert.ok(m, r.stderr);
    const runId = m[1] ?? m[2]!;
    const resumed = runCli([...g, '--json', 'pipelines', 'resume', runId]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(JSON.parse(resumed.stdout).status, 'FINISHED');
  });
});
