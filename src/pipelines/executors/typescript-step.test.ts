import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TrellisError } from '../../core/errors.js';
import { runTypeScriptStep } from './typescript-step.js';
import type { StepSpec } from './step-spec.js';
import { alive, waitFor } from './test-helpers/processes.js';

const COMPONENTS = fileURLToPath(new URL('./test-helpers/components.ts', import.meta.url));
const PLAIN = fileURLToPath(new URL('./test-helpers/plain.mjs', import.meta.url));
const CJS = fileURLToPath(new URL('./test-helpers/cjs/', import.meta.url));

let dir: string;
let data: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-ts-step-'));
  data = join(dir, 'data.csv');
  writeFileSync(data, 'x,y\n1,2\n3,4\n5,6\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

function spec(step: string, exportName: string, extra: Partial<StepSpec> = {}): StepSpec {
  return {
    step,
    component: { name: 'test-component', version: '1.0.0', kind: 'typescript', module: COMPONENTS, export: exportName },
    inputs: {},
    outputs: { model: { type: 'Model' } },
    outputDir: join(dir, step),
    backoff: { baseMs: 10 },
    ...extra,
  };
}

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

async function rejection(p: Promise<unknown>): Promise<TrellisError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TrellisError, `expected a TrellisError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the step to fail');
}

/** The 1-based line of `marker` in `file`, so the test does not hard-code line numbers. */
function lineOf(file: string, marker: string): number {
  return readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(marker)) + 1;
}

describe('runTypeScriptStep', () => {
  for (const isolation of ['worker', 'process'] as const) {
    it(`runs the component in a ${isolation === 'worker' ? 'worker thread' : 'child process'}, with inputs, outputs, metrics and log`, async () => {
      const r = await runTypeScriptStep(spec(`train-${isolation}`, 'train', {
        inputs: { data: { type: 'Dataset', path: data }, alpha: 0.25, label: 'y', fast: true },
        outputs: { model: { type: 'Model' }, report: { type: 'Report' } },
      }), { isolation });
      const modelPath = join(dir, `train-${isolation}`, 'model');
      const written = JSON.parse(readFileSync(modelPath, 'utf8'));
      // Never the calling thread: a worker has its own thread id, a child process its own pid.
      if (isolation === 'worker') {
        assert.equal(written.pid, process.pid);
        assert.notEqual(written.threadId, 0);
      } else {
        assert.notEqual(written.pid, process.pid);
      }
      assert.deepEqual(written.inputs, { data: { type: 'Dataset', path: data }, alpha: 0.25, label: 'y', fast: true });
      assert.equal(written.attempt, 1);
      assert.deepEqual(r.metrics, { rows: 3, alpha_seen: 0.25 });
      assert.equal(r.attempts, 1);
      assert.equal(r.outputs.model!.path, modelPath);
      assert.equal(r.outputs.model!.type, 'Model');
      assert.equal(r.outputs.model!.sha256, sha256(readFileSync(modelPath)));
      assert.match(r.outputs.report!.sha256, /^[0-9a-f]{64}$/);
      assert.equal(r.logPath, join(dir, `train-${isolation}.log`));
      const log = readFileSync(r.logPath, 'utf8');
      assert.match(log, /read 16 bytes; alpha=0\.25/);
      assert.match(log, /a line on stderr/);
      assert.match(log, /attempt 1 of 1/);
      assert.ok(r.durationMs > 0);
    });
  }

  it('loads JavaScript modules, given as a file: URL', async () => {
    const r = await runTypeScriptStep({
      ...spec('plain', 'run'),
      component: { name: 'plain', version: '1', kind: 'typescript', module: pathToFileURL(PLAIN).href, export: 'run' },
      outputs: { out: { type: 'File' } },
    });
    assert.equal(JSON.parse(readFileSync(r.outputs.out!.path, 'utf8')).language, 'javascript');
    assert.deepEqual(r.metrics, { answer: 42 });
  });

  it('loads modules of CommonJS packages, TypeScript and JavaScript', async () => {
    for (const file of ['typed.ts', 'plain.js']) {
      const r = await runTypeScriptStep({
        ...spec(`cjs-${file.replace('.', '-')}`, 'run'),
        component: { name: 'cjs', version: '1', kind: 'typescript', module: join(CJS, file), export: 'run' },
        outputs: { out: { type: 'File' } },
      });
      assert.equal(readFileSync(r.outputs.out!.path, 'utf8'), `${file.endsWith('.ts') ? 'typescript' : 'javascript'}, commonjs`);
    }
  });

  for (const isolation of ['worker', 'process'] as const) {
    it(`reports a user exception (${isolation}) as the user's error: step, message, frame in the user's file`, async () => {
      const err = await rejection(runTypeScriptStep(spec(`fails-${isolation}`, 'fails', { inputs: { alpha: -1 }, retries: 2 }), { isolation }));
      assert.equal(err.code, 'TRELLIS_STEP_FAILED');
      assert.equal(err.params.step, `fails-${isolation}`);
      assert.equal(err.params.errorMessage, 'bad value for alpha: -1');
      const line = lineOf(COMPONENTS, 'USER-THROW');
      assert.match(String(err.params.frame), new RegExp(`^${COMPONENTS.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:\\d+$`));
      assert.ok(err.message.includes(`Step 'fails-${isolation}' failed: Error: bad value for alpha: -1 (at ${COMPONENTS}:${line}:`), err.message);
      assert.equal(err.params.attempts, 1, 'a user error is not retried');
      assert.match((err.cause as Error).stack!, /bad value for alpha/);
      assert.match(readFileSync(String(err.params.logPath), 'utf8'), /about to fail[\s\S]*TRELLIS_STEP_FAILED/);
    });
  }

  it('retries a RetryableError with exponential backoff, and succeeds', async () => {
    const counter = join(dir, 'flaky-count');
    const t0 = performance.now();
    const r = await runTypeScriptStep(spec('flaky', 'flaky', {
      inputs: { counter, succeedOn: 3 }, retries: 4, backoff: { baseMs: 100, capMs: 1000 },
    }));
    const elapsed = performance.now() - t0;
    assert.equal(r.attempts, 3);
    assert.equal(readFileSync(counter, 'utf8'), '3');
    assert.equal(readFileSync(r.outputs.model!.path, 'utf8'), 'ok on attempt 3');
    assert.ok(elapsed >= 100 + 200, `backoff of 100 then 200 ms, took ${elapsed} ms`);
    const log = readFileSync(r.logPath, 'utf8');
    assert.match(log, /retrying in 100 ms[\s\S]*retrying in 200 ms[\s\S]*attempt 3 succeeded/);
  });

  it('gives up after the retries, reporting the transient error and the attempts', async () => {
    const counter = join(dir, 'flaky-count-2');
    const err = await rejection(runTypeScriptStep(spec('flaky2', 'flaky', { inputs: { counter, succeedOn: 10 }, retries: 1 })));
    assert.equal(err.code, 'TRELLIS_STEP_TRANSIENT');
    assert.equal(err.retryable, true);
    assert.equal(err.params.attempts, 2);
    assert.match(err.message, /database busy \(attempt 2\).*after 2 attempts/);
  });

  it('does not retry a plain exception', async () => {
    const counter = join(dir, 'plain-count');
    const err = await rejection(runTypeScriptStep(spec('plain-fail', 'flaky', { inputs: { counter, plain: true }, retries: 3 })));
    assert.equal(err.code, 'TRELLIS_STEP_FAILED');
    assert.equal(readFileSync(counter, 'utf8'), '1');
  });

  it('stops a busy-looping component at its timeout, retrying it as a retryable failure', async () => {
    const t0 = performance.now();
    const err = await rejection(runTypeScriptStep(spec('spin', 'spin', { timeoutSeconds: 0.4, retries: 1 })));
    const elapsed = performance.now() - t0;
    assert.equal(err.code, 'TRELLIS_STEP_TIMEOUT');
    assert.equal(err.params.attempts, 2);
    assert.match(err.message, /^Step 'spin' exceeded its timeout of 0\.4 s and was stopped/);
    assert.ok(elapsed >= 800 && elapsed < 5000, `two attempts of 0.4 s, took ${elapsed} ms`);
  });

  it('on timeout in a child process, stops what the component started too', async () => {
    const pidFile = join(dir, 'tree.pid');
    const err = await rejection(runTypeScriptStep(spec('tree', 'spawnsAndHangs', { inputs: { pidFile }, timeoutSeconds: 1.5 }), { isolation: 'process', killGraceMs: 200 }));
    assert.equal(err.code, 'TRELLIS_STEP_TIMEOUT');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(pid > 0);
    assert.ok(await waitFor(() => !alive(pid), 2000), `the component's child ${pid} is still running`);
  });

  it('fails naming each declared output the component did not write', async () => {
    const err = await rejection(runTypeScriptStep(spec('partial', 'writesOnlyModel', {
      outputs: { model: { type: 'Model' }, metrics: { type: 'Metrics' }, report: { type: 'Report' } },
      retries: 2,
    })));
    assert.equal(err.code, 'TRELLIS_STEP_OUTPUT_MISSING');
    assert.equal(err.params.output, 'metrics,report');
    assert.equal(err.params.attempts, 1);
    assert.match(err.message, /without writing its declared output 'metrics' \(.*partial\/metrics\), 'report'/);
  });

  it('leaves no stale output from an earlier run to pass for this one', async () => {
    const outDir = join(dir, 'stale');
    await runTypeScriptStep(spec('stale', 'writesOnlyModel', { outputDir: outDir }));
    writeFileSync(join(outDir, 'report'), 'from an earlier run');
    const err = await rejection(runTypeScriptStep(spec('stale', 'writesOnlyModel', {
      outputDir: outDir, outputs: { model: { type: 'Model' }, report: { type: 'Report' } },
    })));
    assert.equal(err.code, 'TRELLIS_STEP_OUTPUT_MISSING');
    assert.equal(existsSync(join(outDir, 'report')), false);
  });

  it('reports a component that exits the thread or process early, with its stderr', async () => {
    for (const isolation of ['worker', 'process'] as const) {
      const err = await rejection(runTypeScriptStep(spec(`exits-${isolation}`, 'exits'), { isolation }));
      assert.equal(err.code, 'TRELLIS_STEP_FAILED');
      assert.match(err.message, /exited with code 3 before it finished; last lines of stderr:\n {2}leaving early/);
    }
  });

  it('reports a missing export and a missing module clearly', async () => {
    const err = await rejection(runTypeScriptStep(spec('noexport', 'notAFunction')));
    assert.equal(err.code, 'TRELLIS_STEP_FAILED');
    assert.match(err.message, /cannot load component module .*components\.ts: TypeError: the module has no exported function 'notAFunction' \(its exports: .*train/);
    const missing = await rejection(runTypeScriptStep({ ...spec('nomodule', 'x'), component: { name: 'c', version: '1', kind: 'typescript', module: join(dir, 'nope.ts'), export: 'x' } }));
    assert.equal(missing.code, 'TRELLIS_INVALID_PARAMETER');
    assert.match(missing.message, /component module .*nope\.ts not found/);
    const wrongKind = await rejection(runTypeScriptStep({ ...spec('k', 'x'), component: { name: 'c', version: '1', kind: 'command', command: ['true'] } }));
    assert.match(wrongKind.message, /component kind must be 'typescript'/);
    const badInput = await rejection(runTypeScriptStep(spec('bad-in', 'train', { inputs: { data: { type: 'Dataset', path: join(dir, 'absent.csv') } } })));
    assert.match(badInput.message, /input 'data' does not exist/);
  });

  it('stops the step when its signal aborts, without retrying', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t0 = performance.now();
    const err = await rejection(runTypeScriptStep(spec('cancel', 'spin', { signal: ac.signal, retries: 3 })));
    assert.equal(err.code, 'TRELLIS_STEP_CANCELLED');
    assert.equal(err.params.attempts, 1);
    assert.ok(performance.now() - t0 < 3000);
  });
});
