import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrellisError } from '../../core/errors.js';
import { runCommandStep } from './command-step.js';
import type { StepSpec } from './step-spec.js';
import { alive, waitFor } from './test-helpers/processes.js';

let dir: string;
let data: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-cmd-step-'));
  data = join(dir, 'data.csv');
  writeFileSync(data, 'x,y\n1,2\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const NODE = process.execPath;

function spec(step: string, command: string[], extra: Partial<StepSpec> & { env?: Record<string, string>; workdir?: string; retryableExitCodes?: number[] } = {}): StepSpec {
  const { env, workdir, retryableExitCodes, ...rest } = extra;
  return {
    step,
    component: { name: 'cmd', version: '0.1.0', kind: 'command', command, env, workdir, retryableExitCodes },
    inputs: {},
    outputs: {},
    outputDir: join(dir, step),
    backoff: { baseMs: 10 },
    ...rest,
  };
}

/** A Node one-liner as a command; `args` follow the script. */
const node = (script: string, ...args: string[]) => [NODE, '-e', script, ...args];

async function rejection(p: Promise<unknown>): Promise<TrellisError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TrellisError, `expected a TrellisError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the step to fail');
}

describe('runCommandStep', () => {
  it('substitutes placeholders, sets exactly this step\'s TRELLIS_* variables, reads metrics.json back', async () => {
    const work = join(dir, 'work');
    mkdirSync(work);
    const script = `
      const fs = require('fs');
      const [out, ...rest] = process.argv.slice(1);
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^TRELLIS_(STEP|ATTEMPT|OUTPUT|INPUT|METRICS|STORE)/.test(k) || k === 'MY_SETTING'));
      fs.writeFileSync(out, JSON.stringify({ rest, env, cwd: process.cwd() }));
      fs.mkdirSync(process.env.TRELLIS_OUTPUT_PLOTS);
      fs.writeFileSync(process.env.TRELLIS_OUTPUT_PLOTS + '/p.txt', 'plot');
      fs.writeFileSync(process.env.TRELLIS_METRICS_FILE, JSON.stringify({ rmse: 1.25, r2: 0.5 }));
      console.log('hello from stdout');
      console.error('hello from stderr');`;
    // As if the executor ran inside another step: that step's variables must not reach this one.
    Object.assign(process.env, { TRELLIS_INPUT_OLD: '/old/input', TRELLIS_OUTPUT_OLD: '/old/output', TRELLIS_STORE: 'sqlite:x.db' });
    const r = await runCommandStep(spec('subst', node(script, '{outputs.summary}', '--data={inputs.data}', '{inputs.alpha}', '{inputs.flag}', '{outputDir}', '{literal}', '{inputs.label}'), {
      inputs: { data: { type: 'Dataset', path: data }, alpha: 0.1, flag: false, label: 'a b' },
      outputs: { summary: { type: 'Report' }, plots: { type: 'File' } },
      env: { MY_SETTING: 'on' },
      workdir: work,
    })).finally(() => { for (const k of ['TRELLIS_INPUT_OLD', 'TRELLIS_OUTPUT_OLD', 'TRELLIS_STORE']) delete process.env[k]; });
    const outDir = join(dir, 'subst');
    const got = JSON.parse(readFileSync(join(outDir, 'summary'), 'utf8'));
    assert.deepEqual(got.rest, [`--data=${data}`, '0.1', 'false', outDir, '{literal}', 'a b']);
    assert.equal(got.cwd, work);
    assert.deepEqual(got.env, {
      MY_SETTING: 'on',
      TRELLIS_STORE: 'sqlite:x.db',
      TRELLIS_STEP: 'subst',
      TRELLIS_ATTEMPT: '1',
      TRELLIS_OUTPUT_DIR: outDir,
      TRELLIS_METRICS_FILE: join(outDir, 'metrics.json'),
      TRELLIS_INPUT_DATA: data,
      TRELLIS_INPUT_ALPHA: '0.1',
      TRELLIS_INPUT_FLAG: 'false',
      TRELLIS_INPUT_LABEL: 'a b',
      TRELLIS_OUTPUT_SUMMARY: join(outDir, 'summary'),
      TRELLIS_OUTPUT_PLOTS: join(outDir, 'plots'),
    });
    assert.deepEqual(r.metrics, { rmse: 1.25, r2: 0.5 });
    assert.equal(r.outputs.summary!.sha256, createHash('sha256').update(readFileSync(join(outDir, 'summary'))).digest('hex'));
    assert.equal(r.outputs.plots!.type, 'File');
    assert.equal(r.outputs.plots!.sha256, createHash('sha256').update(`${createHash('sha256').update('plot').digest('hex')}  p.txt\n`).digest('hex'));
    const log = readFileSync(r.logPath, 'utf8');
    assert.equal(r.logPath, join(dir, 'subst.log'));
    assert.match(log, /hello from stdout/);
    assert.match(log, /hello from stderr/);
  });

  it('fills {params.NAME} with the value given in params, and refuses a parameter it was not given', async () => {
    const res = await runCommandStep(spec('params', node(`require('fs').writeFileSync(process.argv[2], process.argv[1])`, 'iters={params.iters}', '{outputs.out}'), {
      params: { iters: 12 }, outputs: { out: { type: 'File' } },
    }));
    assert.equal(readFileSync(res.outputs.out!.path, 'utf8'), 'iters=12');
    const e = await rejection(runCommandStep(spec('no-param', ['true', '{params.depth}'], { params: { iters: 12 } })));
    assert.equal(e.code, 'TRELLIS_INVALID_PARAMETER');
    assert.match(e.message, /refers to \{params\.depth\}, but no value was given for parameter 'depth' \(parameters: iters\)/);
  });

  it('refuses unknown placeholders and bad names before running anything', async () => {
    const marker = join(dir, 'ran');
    const e1 = await rejection(runCommandStep(spec('unknown', node(`require('fs').writeFileSync(${JSON.stringify(marker)}, '')`, '{inputs.dta}'), { inputs: { data: { type: 'Dataset', path: data } } })));
    assert.equal(e1.code, 'TRELLIS_INVALID_PARAMETER');
    assert.match(e1.message, /refers to \{inputs\.dta\}, but the step has no input 'dta' \(inputs: data\)/);
    assert.throws(() => statSync(marker));
    const e2 = await rejection(runCommandStep(spec('../escape', ['true'])));
    assert.match(e2.message, /step name "\.\.\/escape"/);
    const e3 = await rejection(runCommandStep(spec('bad-output', ['true'], { outputs: { 'a/b': { type: 'File' } } })));
    assert.match(e3.message, /output name 'a\/b'/);
    const e4 = await rejection(runCommandStep(spec('bad-metrics', node(`require('fs').writeFileSync(process.env.TRELLIS_METRICS_FILE, '{"rmse":"low"}')`))));
    assert.equal(e4.code, 'TRELLIS_STEP_FAILED');
    assert.match(e4.message, /metric 'rmse' must be a finite number, got "low"/);
  });

  it('reports a non-zero exit with its code and the last lines of stderr', async () => {
    const script = `for (let i = 1; i <= 30; i++) console.error('problem line ' + i); process.exit(3);`;
    const err = await rejection(runCommandStep(spec('exit3', node(script), { retries: 2 })));
    assert.equal(err.code, 'TRELLIS_STEP_FAILED');
    assert.equal(err.params.exitCode, 3);
    assert.equal(err.params.attempts, 1, 'exit code 3 is not retryable by default');
    assert.match(err.message, /^Step 'exit3' failed: the command exited with code 3; last lines of stderr:\n {2}problem line 11\n/);
    assert.match(err.message, /problem line 30$/);
    assert.doesNotMatch(err.message, /problem line 10\n/);
  });

  it('keeps only a bounded tail of a large stderr in memory, and streams all output to the log', async () => {
    // 4 MB on stdout, 2 MB on stderr in one long line, then a last line.
    const script = `process.exitCode = 1; process.stdout.write('Q'.repeat(4e6) + '\\n'); process.stderr.write('K'.repeat(2e6) + '\\nthe end\\n');`;
    const err = await rejection(runCommandStep(spec('big', node(script))));
    assert.ok(err.message.length < 2000, `message of ${err.message.length} chars`);
    assert.match(err.message, /K{100}…\n {2}the end$/);
    // The chunks of the two streams interleave in the log; every byte arrives.
    const log = readFileSync(String(err.params.logPath), 'utf8');
    const count = (ch: string) => log.split(ch).length - 1;
    assert.equal(count('Q'), 4e6);
    assert.ok(count('K') >= 2e6 && count('K') < 2e6 + 1000, `${count('K')} K in the log (the failure line quotes a few)`);
  });

  it('retries exit codes listed as retryable, with backoff, and not others', async () => {
    const counter = join(dir, 'count');
    const script = `const fs = require('fs'); const f = ${JSON.stringify(counter)};
      const n = (fs.existsSync(f) ? +fs.readFileSync(f, 'utf8') : 0) + 1; fs.writeFileSync(f, String(n));
      if (n < 3) { console.error('busy ' + n); process.exit(75); }
      fs.writeFileSync(process.env.TRELLIS_OUTPUT_MODEL, 'ok ' + process.env.TRELLIS_ATTEMPT);`;
    const t0 = performance.now();
    const r = await runCommandStep(spec('tempfail', node(script), { outputs: { model: { type: 'Model' } }, retries: 3, backoff: { baseMs: 80 } }));
    assert.equal(r.attempts, 3);
    assert.equal(readFileSync(r.outputs.model!.path, 'utf8'), 'ok 3');
    assert.ok(performance.now() - t0 >= 80 + 160);

    rmSync(counter);
    const err = await rejection(runCommandStep(spec('tempfail2', node(script), { retries: 1 })));
    assert.equal(err.code, 'TRELLIS_STEP_TRANSIENT');
    assert.equal(err.params.attempts, 2);
    assert.match(err.message, /exited with code 75; last lines of stderr:\n {2}busy 2 \(after 2 attempts\)$/);

    const custom = await rejection(runCommandStep(spec('custom', node('process.exit(9)'), { retries: 2, retryableExitCodes: [9] })));
    assert.equal(custom.params.attempts, 3);
  });

  it('on timeout kills the whole process tree, with SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const pidFile = join(dir, 'pids');
    // The shell ignores SIGTERM, and so do the children it starts.
    const script = `trap '' TERM; sleep 30 & echo $! > ${pidFile}; echo $$ >> ${pidFile}; wait; sleep 30`;
    const t0 = performance.now();
    const err = await rejection(runCommandStep(spec('tree', ['sh', '-c', script], { timeoutSeconds: 0.5 }), { killGraceMs: 300 }));
    const elapsed = performance.now() - t0;
    assert.equal(err.code, 'TRELLIS_STEP_TIMEOUT');
    assert.match(err.message, /^Step 'tree' exceeded its timeout of 0\.5 s and was stopped/);
    assert.ok(elapsed >= 800 && elapsed < 4000, `timeout 500 ms + grace 300 ms, took ${elapsed} ms`);
    const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
    assert.equal(pids.length, 2);
    for (const pid of pids) assert.ok(await waitFor(() => !alive(pid), 2000), `process ${pid} survived`);
  });

  it('stops processes a successful command left running in the background', async () => {
    const pidFile = join(dir, 'bg.pid');
    const r = await runCommandStep(spec('bg', ['sh', '-c', `sleep 30 & echo $! > ${pidFile}`]));
    assert.equal(r.attempts, 1);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(await waitFor(() => !alive(pid), 2000), `background process ${pid} survived`);
  });

  it('fails naming a declared output the command did not write', async () => {
    const err = await rejection(runCommandStep(spec('noout', ['true'], { outputs: { predictions: { type: 'Dataset' } } })));
    assert.equal(err.code, 'TRELLIS_STEP_OUTPUT_MISSING');
    assert.equal(err.params.output, 'predictions');
    assert.match(err.message, /^Step 'noout' finished without writing its declared output 'predictions' \(/);
  });

  it('reports a command that cannot start', async () => {
    const err = await rejection(runCommandStep(spec('nocmd', ['trellis-no-such-program-xyz', '--help'])));
    assert.equal(err.code, 'TRELLIS_STEP_FAILED');
    assert.match(err.message, /cannot start 'trellis-no-such-program-xyz': spawn trellis-no-such-program-xyz ENOENT/);
  });

  it('stops the command when the signal aborts', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const t0 = performance.now();
    const err = await rejection(runCommandStep(spec('abort', ['sleep', '30'], { signal: ac.signal, retries: 2 }), { killGraceMs: 200 }));
    assert.equal(err.code, 'TRELLIS_STEP_CANCELLED');
    assert.ok(performance.now() - t0 < 2000);
  });
});
