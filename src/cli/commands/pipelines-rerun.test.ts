import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../test-helpers/run-cli.js';

/** A pipeline of two command steps: `copy` writes the same bytes every time, `stamp` writes the time and a random number. */
function pipelineFile(dir: string): string {
  const file = join(dir, 'stamped.pipeline.json');
  writeFileSync(file, JSON.stringify({
    format: 'trellis.pipeline/v1', name: 'stamped',
    components: [
      { kind: 'command', name: 'hello', version: '1', outputs: { out: { type: 'File' } }, command: [process.execPath, '-e', "require('node:fs').writeFileSync(process.argv[1], 'hello')", '{outputs.out}'] },
      {
        kind: 'command', name: 'stamp', version: '1', inputs: { text: { type: 'File' } }, outputs: { out: { type: 'File' } },
        command: [process.execPath, '-e', "require('node:fs').writeFileSync(process.argv[1], Date.now() + ' ' + Math.random())", '{outputs.out}', '{inputs.text}'],
      },
    ],
    steps: [{ name: 'copy', component: 'hello' }, { name: 'stamp', component: 'stamp', inputs: { text: { step: 'copy', output: 'out' } } }],
  }));
  return file;
}

describe('trellis pipelines rerun', () => {
  let dir: string;
  let g: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-rerun-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reports each output as identical or differing, with both hashes, and exits 1 when one differs', () => {
    const run = runCli([...g, '--json', 'run', pipelineFile(dir)]);
    assert.equal(run.code, 0, run.stderr);
    const original = JSON.parse(run.stdout);

    const r = runCli([...g, 'pipelines', 'rerun', original.runId]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /▸ stamp … done in \d+\.\d s\n/);
    assert.match(r.stdout, /^pipeline stamped, run [0-9a-f]{32}: FINISHED in \d+\.\d s \(2 steps, 0 from cache\)$/m);
    assert.match(r.stdout, /^OUTPUT\s+TYPE\s+VERDICT\s+ORIGINAL\s+RERUN$/m);
    const copySha = original.steps[0].outputs.out.sha256 as string;
    assert.match(r.stdout, new RegExp(`^copy\\.out\\s+File\\s+identical\\s+${copySha.slice(0, 12)}\\s+${copySha.slice(0, 12)}$`, 'm'));
    const stampSha = original.steps[1].outputs.out.sha256 as string;
    assert.match(r.stdout, new RegExp(`\\nstamp\\.out differs:\\n  original sha256 ${stampSha}\\n  rerun    sha256 [0-9a-f]{64}\\n  its step's inputs are the same: step 'stamp' does not write the same bytes from the same inputs\\n`));
    assert.match(r.stdout, new RegExp(`rerun [0-9a-f]{32} of ${original.runId} \\(stamped, experiment 'stamped-reruns'\\): NOT identical — 1 identical, 1 differ, 0 missing\\n$`));

    const j = runCli([...g, '--json', 'pipelines', 'rerun', original.runId, '--experiment', 'checks']);
    assert.equal(j.code, 1, j.stderr);
    const report = JSON.parse(j.stdout);
    assert.equal(report.original, original.runId);
    assert.equal(report.experiment, 'checks');
    assert.equal(report.identical, false);
    assert.deepEqual(report.outputs.map((o: { step: string; verdict: string }) => `${o.step}:${o.verdict}`), ['copy:identical', 'stamp:differs']);
    assert.equal(report.outputs[1].original, stampSha);
    assert.equal(report.result.runId, report.rerun);
    const tags = JSON.parse(runCli([...g, '--json', 'runs', 'show', report.rerun]).stdout).data.tags;
    assert.equal(tags['trellis.rerun_of'], original.runId);
  });

  it('exits 0 when every output is byte-identical, and 1 with a clear error for a run that is not a pipeline run', () => {
    const file = join(dir, 'same.pipeline.json');
    writeFileSync(file, JSON.stringify({
      format: 'trellis.pipeline/v1', name: 'same',
      components: [{ kind: 'command', name: 'hello', version: '1', outputs: { out: { type: 'File' } }, command: [process.execPath, '-e', "require('node:fs').writeFileSync(process.argv[1], 'hello')", '{outputs.out}'] }],
      steps: [{ name: 'hello', component: 'hello' }],
    }));
    const original = JSON.parse(runCli([...g, '--json', 'run', file]).stdout);
    const r = runCli([...g, 'pipelines', 'rerun', original.runId]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /: every output is byte-identical — 1 identical, 0 differ, 0 missing\n$/);

    const step = original.steps[0].runId as string;
    const bad = runCli([...g, 'pipelines', 'rerun', step]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`error: run ${step} is not a pipeline run \\(it is a step of pipeline run ${original.runId}\\)`));
    assert.match(runCli([...g, 'pipelines', 'rerun', 'f'.repeat(32)]).stderr, /TRELLIS_RUN_NOT_FOUND/);
  });
});
