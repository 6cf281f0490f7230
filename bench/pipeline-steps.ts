/**
 * Per-step overhead of the pipeline step executors: a no-op component run end to end (spawn, run,
 * collect: log file, outputs hashed, metrics), median and p95 over BENCH_STEP_RUNS runs (default 50)
 * after one warm-up:
 *   - a TypeScript component in a fresh worker thread and in a fresh child process, for a `.mjs`
 *     and a `.ts` module (the latter loads through tsx);
 *   - a command component (`true`): the floor of a process start;
 *   - for reference, the same no-op called on one warm worker that stays alive: what a pool of
 *     reused workers could at best reach (the executors start a fresh worker per step).
 * Two builds of the executors: as Trellis runs from its build (compiled to JavaScript, in a plain
 * `node` process — the production figure) and from source under tsx (development).
 *   npx tsx bench/pipeline-steps.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fmt } from './lib.js';
import { buildInto } from '../src/pipelines/executors/test-helpers/transpile.js';

const RUNS = Number(process.env.BENCH_STEP_RUNS ?? 50);
const ENTRY = fileURLToPath(new URL('../src/pipelines/executors/index.ts', import.meta.url));

export interface StepOverheadRow { executors: string; component: string; isolation: string; p50_ms: number; p95_ms: number; mean_ms: number }

/** The measuring loop, as a self-contained module script (run in this process and in a plain `node`). */
function measureScript(executorsUrl: string, dir: string, label: string): string {
  return `
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
const ex = await import(${JSON.stringify(executorsUrl)});
const dir = ${JSON.stringify(dir)};
const RUNS = ${RUNS};
const rows = [];
async function time(executors, component, isolation, fn) {
  await fn();
  const ms = [];
  for (let i = 0; i < RUNS; i++) { const t0 = performance.now(); await fn(); ms.push(performance.now() - t0); }
  ms.sort((a, b) => a - b);
  const at = (p) => ms[Math.min(ms.length - 1, Math.max(0, Math.ceil(p * ms.length) - 1))];
  rows.push({ executors, component, isolation, p50_ms: at(0.5), p95_ms: at(0.95), mean_ms: ms.reduce((a, b) => a + b, 0) / ms.length });
}
let n = 0;
for (const kind of ['mjs', 'ts']) {
  for (const isolation of ['worker', 'process']) {
    await time(${JSON.stringify(label)}, 'noop.' + kind, isolation === 'worker' ? 'fresh worker thread' : 'fresh child process', () => ex.runTypeScriptStep({
      step: 'noop-' + n++, inputs: {}, outputs: {}, outputDir: join(dir, 'runs', 'noop'),
      component: { name: 'noop', version: '1', kind: 'typescript', module: join(dir, 'noop.' + kind), export: 'run' },
    }, { isolation }));
  }
}
await time(${JSON.stringify(label)}, 'true', 'command (child process)', () => ex.runCommandStep({
  step: 'true-' + n++, inputs: {}, outputs: {}, outputDir: join(dir, 'runs', 'true'),
  component: { name: 'true', version: '1', kind: 'command', command: ['true'] },
}));
const w = new Worker(\`Promise.all([import('node:worker_threads'), import(\${JSON.stringify(join(dir, 'noop.mjs'))})]).then(([{ parentPort }, m]) => {
    parentPort.on('message', async (ctx) => { await m.run(ctx); parentPort.postMessage('done'); });
    parentPort.postMessage('ready');
  });\`, { eval: true });
await new Promise((r) => w.once('message', r));
await time(${JSON.stringify(label)}, 'noop.mjs', 'warm worker, reused (no pool)', () => new Promise((r) => { w.once('message', r); w.postMessage({ inputs: {}, outputs: {} }); }));
await w.terminate();
export default rows;
`;
}

export async function runPipelineStepsBench(): Promise<StepOverheadRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-steps-'));
  try {
    writeFileSync(join(dir, 'noop.mjs'), 'export async function run(ctx) {}\n');
    writeFileSync(join(dir, 'noop.ts'), 'export async function run(ctx: unknown): Promise<void> {}\n');
    const built = buildInto(ENTRY, join(dir, 'build'));
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e',
      `${measureScript(pathToFileURL(built).href, dir, 'build (node)')}\nconsole.log(JSON.stringify(rows));`],
    { env, encoding: 'utf8', maxBuffer: 1 << 24 });
    const rows: StepOverheadRow[] = JSON.parse(out.trim().split('\n').pop()!);
    const script = join(dir, 'measure-source.mjs');
    writeFileSync(script, measureScript(pathToFileURL(ENTRY).href, dir, 'source (tsx)'));
    rows.push(...((await import(pathToFileURL(script).href)) as { default: StepOverheadRow[] }).default);
    for (const r of rows) {
      console.log(`${r.executors.padEnd(13)} ${r.component.padEnd(9)} ${r.isolation.padEnd(30)} p50 ${fmt(r.p50_ms, 2).padStart(7)} ms   p95 ${fmt(r.p95_ms, 2).padStart(7)} ms`);
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(`no-op step overhead, ${RUNS} runs each after one warm-up, Node ${process.version}`);
  await runPipelineStepsBench();
}
