import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrellisError } from '../../core/errors.js';
import { runTypeScriptStep, type Isolation } from './typescript-step.js';
import { WorkerPool } from './worker-pool.js';
import type { StepSpec } from './step-spec.js';
import { waitFor } from './test-helpers/processes.js';
import { buildInto } from './test-helpers/transpile.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const COMPONENTS = join(HERE, 'test-helpers/pool-components.ts');
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let dir: string;
let n = 0;
before(() => { dir = mkdtempSync(join(tmpdir(), 'trellis-pool-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

interface Seen { threadId: number; env: { POOL_TEST: string | null; LEAK: string | null }; leakedGlobal: string; leakedProto: string }

interface StepOptions { pool?: WorkerPool; isolation?: Isolation; module?: string; inputs?: StepSpec['inputs']; timeoutSeconds?: number; signal?: AbortSignal }

function spec(exportName: string, o: StepOptions = {}): StepSpec {
  const step = `${exportName}-${++n}`;
  return {
    step,
    component: { name: 'pool-test', version: '1', kind: 'typescript', module: o.module ?? COMPONENTS, export: exportName },
    inputs: o.inputs ?? {},
    outputs: { out: { type: 'File' } },
    outputDir: join(dir, step),
    timeoutSeconds: o.timeoutSeconds,
    signal: o.signal,
  };
}

/** Runs a step; what the component reported and its log. */
async function step(exportName: string, o: StepOptions = {}): Promise<Seen & { log: string }> {
  const r = await runTypeScriptStep(spec(exportName, o), { pool: o.pool, isolation: o.isolation });
  return { ...JSON.parse(readFileSync(r.outputs.out!.path, 'utf8')), log: readFileSync(r.logPath, 'utf8') };
}

/** Runs a step that must fail; the error, and what the component reported before it failed. */
async function failing(exportName: string, o: StepOptions = {}): Promise<{ error: TrellisError; seen: Seen }> {
  const s = spec(exportName, o);
  try {
    await runTypeScriptStep(s, { pool: o.pool });
  } catch (e) {
    assert.ok(e instanceof TrellisError, `expected a TrellisError, got ${String(e)}`);
    return { error: e, seen: JSON.parse(readFileSync(join(s.outputDir, 'out'), 'utf8')) };
  }
  assert.fail(`expected step ${s.step} to fail`);
}

const threads = (pool: WorkerPool) => pool.stats().workers.map((w) => w.threadId);

describe('WorkerPool', () => {
  it('reuses a warm worker: one thread serves consecutive steps, each with only its own output in its log', async () => {
    const pool = new WorkerPool({ size: 2 });
    try {
      const a = await step('observe', { pool });
      const b = await step('observe', { pool });
      assert.equal(b.threadId, a.threadId);
      assert.notEqual(a.threadId, 0);
      assert.equal(pool.stats().started, 1);
      assert.equal(pool.stats().reused, 1);
      // Each log holds its own step's two lines (stdout and stderr), and nothing of the other step.
      const lines = (log: string) => [...log.matchAll(/step (observe-\d+) (?:says hello|on stderr)/g)].map((m) => m[1]);
      const [la, lb] = [lines(a.log), lines(b.log)];
      assert.equal(la.length, 2);
      assert.equal(lb.length, 2);
      assert.equal(new Set([...la, ...lb]).size, 2, `${la} / ${lb}`);
      assert.equal(la[0], la[1]);
    } finally {
      await pool.close();
    }
  });

  it('serves the first step from a prewarmed worker; fresh-worker isolation uses a new thread each time', async () => {
    const pool = new WorkerPool({ size: 1 });
    try {
      await pool.prewarm(1, 'tsx');
      assert.deepEqual(pool.stats().workers.map((w) => w.state), ['idle']);
      const [warm] = threads(pool);
      assert.equal((await step('observe', { pool })).threadId, warm);
      const f1 = await step('observe', { pool, isolation: 'fresh-worker' });
      const f2 = await step('observe', { pool, isolation: 'fresh-worker' });
      assert.notEqual(f1.threadId, f2.threadId);
      assert.ok(![f1.threadId, f2.threadId].includes(warm!));
      assert.equal(pool.stats().started, 1, 'fresh workers are not the pool\'s');
    } finally {
      await pool.close();
    }
  });

  it('gives each step the environment of the moment it starts, and keeps the worker', async () => {
    const pool = new WorkerPool();
    try {
      process.env.POOL_TEST = 'first';
      const a = await step('setsEnv', { pool });
      assert.deepEqual(a.env, { POOL_TEST: null, LEAK: 'from an earlier step' });
      process.env.POOL_TEST = 'second';
      const b = await step('observe', { pool });
      assert.deepEqual(b.env, { POOL_TEST: 'second', LEAK: null });
      assert.equal(b.threadId, a.threadId);
      assert.equal(process.env.LEAK, undefined, "the step's environment is its own");
    } finally {
      delete process.env.POOL_TEST;
      await pool.close();
    }
  });

  it('discards a worker whose step changed a global or a built-in prototype', async () => {
    const pool = new WorkerPool();
    try {
      const a = await step('setsGlobal', { pool });
      assert.equal(a.leakedGlobal, 'string');
      const b = await step('observe', { pool });
      assert.equal(b.leakedGlobal, 'undefined');
      assert.notEqual(b.threadId, a.threadId);
      const c = await step('patchesPrototype', { pool });
      assert.equal(c.leakedProto, 'string');
      const d = await step('observe', { pool });
      assert.equal(d.leakedProto, 'undefined');
      assert.notEqual(d.threadId, c.threadId);
      assert.deepEqual(Object.keys(pool.stats().discarded).sort(), ['a global changed (Array.prototype.leaked)', 'a global changed (globalThis.leaked)']);
      assert.ok(!threads(pool).includes(a.threadId) && !threads(pool).includes(c.threadId));
    } finally {
      await pool.close();
    }
  });

  it("discards a worker left with a running timer: nothing it prints reaches the next step's log", async () => {
    const pool = new WorkerPool();
    try {
      const a = await step('leavesTimer', { pool });
      const b = await step('observe', { pool });
      assert.notEqual(b.threadId, a.threadId);
      assert.doesNotMatch(b.log, /tick left by/);
      assert.match(Object.keys(pool.stats().discarded).join(), /handles were left open \(.*Timeout/);
    } finally {
      await pool.close();
    }
  });

  it('kills the worker of a step that times out or is cancelled; the next step runs on a fresh one', async () => {
    const pool = new WorkerPool({ size: 1 });
    try {
      // A warm worker with the module loaded, so that the short timeout is spent in the component, not in start-up.
      await step('observe', { pool });
      const t = await failing('spinsAfterReport', { pool, timeoutSeconds: 0.5 });
      assert.equal(t.error.code, 'TRELLIS_STEP_TIMEOUT');
      const next = await step('observe', { pool });
      assert.notEqual(next.threadId, t.seen.threadId);
      const ac = new AbortController();
      const cancelled = failing('spinsAfterReport', { pool, signal: ac.signal });
      const dropped = join(dir, `spinsAfterReport-${n}`, 'out');
      assert.ok(await waitFor(() => { try { return readFileSync(dropped, 'utf8').length > 0; } catch { return false; } }, 20_000));
      ac.abort();
      const c = await cancelled;
      assert.equal(c.error.code, 'TRELLIS_STEP_CANCELLED');
      assert.equal(c.seen.threadId, next.threadId, 'the warm worker took the step');
      const last = await step('observe', { pool });
      assert.ok(![t.seen.threadId, c.seen.threadId].includes(last.threadId));
      assert.equal(pool.stats().discarded['the step was stopped (timeout or cancel)'], 2);
      assert.deepEqual(threads(pool), [last.threadId]);
    } finally {
      await pool.close();
    }
  });

  it('replaces a worker whose thread crashed: uncaught exception, unhandled rejection, process.exit', async () => {
    const pool = new WorkerPool({ size: 1 });
    try {
      const cases: [string, RegExp][] = [
        ['throwsFromTimer', /failed: Error: thrown from a timer \(at .*pool-components\.ts:\d+:\d+\)/],
        ['rejectsUnhandled', /failed: Error: nobody handles this/],
        ['exitsThread', /exited with code 0 before it finished/],
      ];
      for (const [name, message] of cases) {
        const f = await failing(name, { pool });
        assert.equal(f.error.code, 'TRELLIS_STEP_FAILED');
        assert.match(f.error.message, message);
        const next = await step('observe', { pool });
        assert.notEqual(next.threadId, f.seen.threadId, `a new thread after ${name}`);
      }
    } finally {
      await pool.close();
    }
  });

  it('discards a worker whose component module failed to load', async () => {
    const pool = new WorkerPool({ size: 1 });
    try {
      const a = await step('observe', { pool });
      await assert.rejects(runTypeScriptStep(spec('noSuchExport'), { pool }), /has no exported function 'noSuchExport'/);
      assert.deepEqual(pool.stats().discarded, { 'the component module failed to load': 1 });
      assert.notEqual((await step('observe', { pool })).threadId, a.threadId);
    } finally {
      await pool.close();
    }
  });

  it('runs a component again as it is on disk when its module, or a module it imports, changed (ESM, CommonJS, TypeScript)', async () => {
    const pool = new WorkerPool({ size: 1 });
    const src = join(dir, 'reload');
    mkdirSync(join(src, 'cjs'), { recursive: true });
    writeFileSync(join(src, 'cjs', 'package.json'), '{ "type": "commonjs" }');
    const files = {
      esm: ['main.mjs', (v: string) => `import { dep } from './dep.mjs';\nimport { writeFileSync } from 'node:fs';\nimport { threadId } from 'node:worker_threads';\nexport async function run(ctx) { writeFileSync(ctx.outputs.out.path, JSON.stringify({ threadId, seen: '${v}-' + dep })); }\n`, 'dep.mjs', (v: string) => `export const dep = '${v}';\n`],
      cjs: ['cjs/main.js', (v: string) => `const { dep } = require('./dep.js');\nconst { writeFileSync } = require('node:fs');\nconst { threadId } = require('node:worker_threads');\nexports.run = async (ctx) => writeFileSync(ctx.outputs.out.path, JSON.stringify({ threadId, seen: '${v}-' + dep }));\n`, 'cjs/dep.js', (v: string) => `exports.dep = '${v}';\n`],
      ts: ['main.ts', (v: string) => `import { dep } from './dep-ts.js';\nimport { writeFileSync } from 'node:fs';\nimport { threadId } from 'node:worker_threads';\nexport async function run(ctx: { outputs: Record<string, { path: string }> }): Promise<void> { writeFileSync(ctx.outputs.out.path, JSON.stringify({ threadId, seen: '${v}-' + dep })); }\n`, 'dep-ts.ts', (v: string) => `export const dep: string = '${v}';\n`],
    } as const;
    try {
      for (const [kind, [main, mainSrc, dep, depSrc]] of Object.entries(files)) {
        const module = join(src, main);
        const run = async () => JSON.parse(readFileSync((await runTypeScriptStep(spec('run', { module }), { pool })).outputs.out!.path, 'utf8')) as { threadId: number; seen: string };
        writeFileSync(module, mainSrc('m1'));
        writeFileSync(join(src, dep), depSrc('d1'));
        const first = await run();
        assert.equal(first.seen, 'm1-d1', kind);
        const same = await run();
        assert.equal(same.threadId, first.threadId, `${kind}: unchanged files, same worker (${JSON.stringify(pool.stats())})`);
        writeFileSync(join(src, dep), depSrc('d2'));
        const depChanged = await run();
        assert.equal(depChanged.seen, 'm1-d2', `${kind}: the imported module changed`);
        assert.notEqual(depChanged.threadId, first.threadId);
        writeFileSync(module, mainSrc('m2')); // same size as before: the fingerprint is not only the size
        const mainChanged = await run();
        assert.equal(mainChanged.seen, 'm2-d2', `${kind}: the component module changed`);
        assert.notEqual(mainChanged.threadId, depChanged.threadId);
      }
      assert.equal(pool.stats().discarded['a module it loaded changed on disk'], 6);
    } finally {
      await pool.close();
    }
  });

  it('runs concurrent steps on distinct warm workers up to its size; a step beyond it gets a worker of its own', async () => {
    const pool = new WorkerPool({ size: 2 });
    try {
      await pool.prewarm(2, 'tsx');
      const warm = threads(pool);
      assert.equal(warm.length, 2);
      const together = async (count: number) => {
        const meet = join(dir, `meet-${count}`);
        mkdirSync(meet);
        return Promise.all(Array.from({ length: count }, () => step('barrier', { pool, inputs: { dir: meet, count }, timeoutSeconds: 60 })));
      };
      const two = await together(2);
      assert.deepEqual(two.map((s) => s.threadId).sort(), [...warm].sort());
      assert.equal(pool.stats().started, 2);
      const three = await together(3);
      const ids = three.map((s) => s.threadId);
      assert.equal(new Set(ids).size, 3);
      assert.equal(ids.filter((id) => warm.includes(id)).length, 2);
      assert.equal(pool.stats().started, 3);
      assert.deepEqual(threads(pool).sort(), [...warm].sort(), 'the extra worker left after its step');
      assert.equal(pool.stats().discarded['the pool was full'], 1);
    } finally {
      await pool.close();
    }
  });

  it('lets an idle worker go after the idle timeout; close() ends every worker', async () => {
    const pool = new WorkerPool({ idleMs: 50 });
    await step('observe', { pool });
    assert.ok(await waitFor(() => pool.stats().workers.length === 0, 10_000));
    assert.equal(pool.stats().discarded['it was idle too long'], 1);
    pool.configure({ idleMs: 600_000 });
    await pool.prewarm(2, 'tsx');
    assert.equal(pool.stats().workers.length, 2);
    await pool.close();
    assert.deepEqual(pool.stats().workers, []);
  });

  it('refuses a bad size, idle timeout or isolation, naming it', async () => {
    assert.throws(() => new WorkerPool({ size: -1 }), /TRELLIS_INVALID_PARAMETER|size must be a non-negative integer, got -1/);
    assert.throws(() => new WorkerPool({ idleMs: Number.NaN }), /idleMs must be a non-negative number/);
    await assert.rejects(runTypeScriptStep(spec('observe'), { isolation: 'thread' as Isolation }), /isolation must be one of 'worker', 'fresh-worker', 'process', got "thread"/);
  });

  it('never keeps a process alive: it exits with warm workers idle, and after closeWorkerPool() no worker is left', () => {
    const script = (close: boolean) => `
      import { runTypeScriptStep, configureWorkerPool, closeWorkerPool, sharedWorkerPool } from ${JSON.stringify(join(HERE, 'index.ts'))};
      configureWorkerPool({ idleMs: 600000 });
      const s = { step: 's', component: { name: 'c', version: '1', kind: 'typescript', module: ${JSON.stringify(COMPONENTS)}, export: 'observe' },
        inputs: {}, outputs: { out: { type: 'File' } }, outputDir: ${JSON.stringify(join(dir, `alive-${close}`))} };
      await runTypeScriptStep(s);
      await runTypeScriptStep(s);
      const warm = sharedWorkerPool().stats().workers.length;
      ${close ? 'await closeWorkerPool();' : ''}
      console.log(JSON.stringify({ warm, after: sharedWorkerPool().stats().workers.length, reused: sharedWorkerPool().stats().reused }));`;
    for (const close of [false, true]) {
      // Were the idle worker to hold the process, it would wait for the 10-minute idle timeout and hit this timeout.
      const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(close)], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
      const r = JSON.parse(out.trim().split('\n').pop()!);
      assert.deepEqual(r, { warm: 1, after: close ? 0 : 1, reused: 1 });
    }
  });

  it('from the build, under plain Node: reuses workers without tsx, reloads a changed module, and lets the process exit', () => {
    const out = join(dir, 'build');
    mkdirSync(out);
    buildInto(join(HERE, 'index.ts'), out);
    writeFileSync(join(out, 'dep.mjs'), "export const dep = 'd1';\n");
    writeFileSync(join(out, 'main.mjs'), "import { dep } from './dep.mjs';\nimport { writeFileSync } from 'node:fs';\nimport { threadId } from 'node:worker_threads';\nexport async function run(ctx) { writeFileSync(ctx.outputs.out.path, JSON.stringify({ threadId, dep })); }\n");
    const script = `
      import { readFileSync, writeFileSync } from 'node:fs';
      import { runTypeScriptStep, sharedWorkerPool } from './dist/pipelines/executors/index.js';
      const run = async (i) => JSON.parse(readFileSync((await runTypeScriptStep({ step: 's' + i, inputs: {}, outputs: { out: { type: 'File' } }, outputDir: 'runs/s' + i,
        component: { name: 'c', version: '1', kind: 'typescript', module: './main.mjs', export: 'run' } })).outputs.out.path, 'utf8'));
      const seen = [await run(1), await run(2)];
      writeFileSync('dep.mjs', "export const dep = 'd2';\\n");
      seen.push(await run(3));
      console.log(JSON.stringify({ seen, stats: sharedWorkerPool().stats() }));`;
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: out, env, encoding: 'utf8', timeout: 120_000 });
    const { seen, stats } = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.deepEqual(seen.map((s: { dep: string }) => s.dep), ['d1', 'd1', 'd2']);
    assert.equal(seen[1].threadId, seen[0].threadId);
    assert.notEqual(seen[2].threadId, seen[1].threadId);
    assert.deepEqual(stats.workers.map((w: { kind: string }) => w.kind), ['plain']);
    assert.deepEqual(stats.discarded, { 'a module it loaded changed on disk': 1 });
  });
});
