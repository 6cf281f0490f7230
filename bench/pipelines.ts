/**
 * Pipeline engine overheads on the local executor (SQLite store, file artifacts):
 *  - a 10-step chain of no-op TypeScript components, run in process: from one component's function
 *    returning to the next one's being called (goal: ≤ 20 ms), and each step's whole time from the
 *    engine starting it to its outputs, log and run being recorded — on warm pooled worker threads
 *    (`.mjs` and `.ts` components), on a fresh worker thread per step, and in a child process per step;
 *  - the same chain as command components running `node` (a child process per step; goal ≤ 250 ms);
 *  - the chain again, served from cache (goal: a cached step ≤ 5 ms);
 *  - 1,000 independent no-op command steps (`touch` of the output): whole run under 30 s, peak memory.
 * Each step is a tracked run with its inputs, outputs and log, as in any pipeline.
 * Published anchors (2-vCPU machine, ten sequential tasks): Airflow 54.7 s, Prefect 15.5 s,
 * Temporal 7.2 s.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, summarize } from './lib.js';

interface Timed { step: string; status: string; at: number }

/** Measured runs of each chain after a warm-up run (3 for the slower command chain). */
const REPEATS = 5;

/** Where the chain's TypeScript components run, and which module: see runPipelinesBench. */
const MODES = [
  { key: 'warm_pool_mjs', label: 'warm worker pool, .mjs components', module: 'noop.mjs', isolation: 'worker' },
  { key: 'warm_pool_ts', label: 'warm worker pool, .ts components (tsx)', module: 'noop.ts', isolation: 'worker' },
  { key: 'fresh_worker', label: 'a fresh worker thread per step', module: 'noop.mjs', isolation: 'fresh-worker' },
  { key: 'child_process', label: 'a child process per step', module: 'noop.mjs', isolation: 'process' },
] as const;

// The no-op reports, as metrics, when its function was entered and when it returned (epoch ms, sub-ms precision).
const NOOP = (typed: boolean) => `import { writeFile } from 'node:fs/promises';
const now = ()${typed ? ': number' : ''} => performance.timeOrigin + performance.now();
export async function noop(ctx${typed ? ': { inputs: Record<string, unknown>; outputs: Record<string, { path: string }>; metric(n: string, v: number): void }' : ''}) {
  const t0 = now();
  await writeFile(ctx.outputs.out.path, String(ctx.inputs.n ?? 0));
  ctx.metric('t_start', t0);
  ctx.metric('t_end', now());
}
`;

export async function runPipelinesBench(): Promise<unknown> {
  // From the build, as `trellis run` runs (workers then load JavaScript, not TypeScript through tsx).
  if (!existsSync(new URL('../dist/pipelines/engine/engine.js', import.meta.url))) throw new Error('build Trellis first: npm run build');
  const { PipelineEngine } = await import(String(new URL('../dist/pipelines/engine/engine.js', import.meta.url))) as typeof import('../src/pipelines/engine/engine.js');
  const { parsePipeline } = await import(String(new URL('../dist/pipelines/ir.js', import.meta.url))) as typeof import('../src/pipelines/ir.js');
  const { engineServicesOver } = await import(String(new URL('../dist/pipelines/engine/services.js', import.meta.url))) as typeof import('../src/pipelines/engine/services.js');
  const { openArtifactStore, openStores } = await import(String(new URL('../dist/store/open-stores.js', import.meta.url))) as typeof import('../src/store/open-stores.js');
  const executors = await import(String(new URL('../dist/pipelines/executors/index.js', import.meta.url))) as typeof import('../src/pipelines/executors/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-pipelines-'));
  const stores = await openStores(`sqlite:${join(dir, 't.db')}`);
  const artifacts = await openArtifactStore(`file:${join(dir, 'artifacts')}`);
  const services = engineServicesOver(stores, artifacts);
  const concurrency = 2;
  const engine = new PipelineEngine(services, { who: { actor: 'bench' }, concurrency });
  const comps = join(dir, 'components');
  mkdirSync(comps);
  writeFileSync(join(comps, 'noop.mjs'), NOOP(false));
  writeFileSync(join(comps, 'noop.ts'), NOOP(true));
  writeFileSync(join(comps, 'noop-cli.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(process.argv[2], process.argv[3] ?? '0');\n`);

  const chain = (kind: 'typescript' | 'command', name: string, module = 'noop.mjs') => {
    const component = kind === 'typescript'
      ? `  - name: noop\n    version: "1"\n    kind: typescript\n    module: ./components/${module}\n    export: noop\n    inputs:\n      prev: { type: File, optional: true }\n      n: { type: integer }\n    outputs:\n      out: { type: File }\n`
      : `  - name: noop\n    version: "1"\n    kind: command\n    command: ["${process.execPath}", "./components/noop-cli.mjs", "{outputs.out}", "{inputs.n}"]\n    inputs:\n      prev: { type: File, optional: true }\n      n: { type: integer }\n    outputs:\n      out: { type: File }\n`;
    const steps = Array.from({ length: 10 }, (_, i) => `  - name: s${i}\n    component: noop\n    inputs:\n      n: ${i}\n${i ? `      prev: { step: s${i - 1}, output: out }\n` : ''}`).join('');
    return parsePipeline(`format: trellis.pipeline/v1\nname: ${name}\nversion: "1"\ncomponents:\n${component}steps:\n${steps}`, `${name}.yaml`);
  };

  /** One run of a chain: each step's time, the gaps between steps (uncached runs) and the time per cached step. */
  const once = async (ir: ReturnType<typeof parsePipeline>, noCache: boolean) => {
    const events: Timed[] = [];
    const t0 = performance.now();
    const r = await engine.run(ir, { baseDir: dir, noCache, onEvent: (e) => events.push({ step: e.step, status: e.status, at: performance.now() }) });
    const total = performance.now() - t0;
    if (r.status !== 'FINISHED') throw new Error(`bench pipeline ${ir.name} ended ${r.status}: ${JSON.stringify(r.failed)}`);
    const started = new Map(events.filter((e) => e.status === 'running').map((e) => [e.step, e.at]));
    const ended = new Map(events.filter((e) => e.status !== 'running').map((e) => [e.step, e.at]));
    const step: number[] = [];
    const gap: number[] = [];
    const metrics = new Map(r.steps.map((s) => [s.step, s.metrics]));
    for (let i = 0; i < 10; i++) {
      const s = `s${i}`;
      if (started.has(s)) step.push(ended.get(s)! - started.get(s)!);
      const [prev, cur] = [metrics.get(`s${i - 1}`), metrics.get(s)];
      if (noCache && prev?.t_end !== undefined && cur?.t_start !== undefined) gap.push(cur.t_start - prev.t_end);
    }
    const cachedStep = [...ended].map(([s, at]) => at - (ended.get(`s${Number(s.slice(1)) - 1}`) ?? at));
    return { total, step, gap, cachedStep };
  };
  /** A warm-up run, then `repeats` measured runs of the chain, their samples pooled. */
  const timed = async (ir: ReturnType<typeof parsePipeline>, noCache = false, repeats = REPEATS) => {
    await once(ir, noCache);
    const runs: Awaited<ReturnType<typeof once>>[] = [];
    for (let k = 0; k < repeats; k++) runs.push(await once(ir, noCache));
    const all = (f: (x: (typeof runs)[number]) => number[]) => runs.flatMap(f);
    const step = all((x) => x.step);
    const gap = all((x) => x.gap);
    return {
      runs: repeats,
      total_ms: summarize(runs.map((x) => x.total)).p50,
      step_ms: summarize(step.length ? step : [0]),
      ...(gap.length ? { gap_ms: summarize(gap) } : {}),
      cachedStep_ms: summarize(all((x) => x.cachedStep)),
    };
  };

  try {
    const inProcess: Record<string, Awaited<ReturnType<typeof timed>>> = {};
    for (const m of MODES) {
      executors.setDefaultIsolation(m.isolation);
      // What the engine does when a run begins: warm the pool for the run's components.
      if (m.isolation === 'worker') await executors.prewarmWorkers(concurrency, [join(comps, m.module)]);
      const ir = chain('typescript', `chain-${m.key.replace(/_/g, '-')}`, m.module);
      inProcess[m.key] = await timed(ir, true);
    }
    executors.setDefaultIsolation('worker');
    const cached = await timed(chain('typescript', 'chain-warm-pool-mjs'));
    const cmd = chain('command', 'chain-cmd');
    const childProcess = await timed(cmd, true, 3);
    // 1,000 independent command steps.
    const steps = Array.from({ length: 1000 }, (_, i) => `  - name: t${i}\n    component: noop\n    inputs:\n      n: ${i}\n`).join('');
    const wide = parsePipeline(`format: trellis.pipeline/v1\nname: wide\nversion: "1"\ncomponents:\n  - name: noop\n    version: "1"\n    kind: command\n    command: ["/usr/bin/touch", "{outputs.out}"]\n    inputs:\n      n: { type: integer }\n    outputs:\n      out: { type: File }\nsteps:\n${steps}`, 'wide.yaml');
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    let done = 0;
    let peak = rssBefore;
    const r = await engine.run(wide, { baseDir: dir, noCache: true, onEvent: (e) => {
      if (e.status !== 'running' && ++done % 100 === 0) process.stderr.write(`  1,000 steps: ${done} done\n`);
      peak = Math.max(peak, process.memoryUsage().rss);
    } });
    const wideMs = performance.now() - t0;
    const result = {
      chain_in_process: inProcess, chain_cached: cached, chain_command: childProcess,
      wide: { status: r.status, steps: 1000, total_s: wideMs / 1000, rss_mib_before: rssBefore / 2 ** 20, rss_mib_peak: peak / 2 ** 20 },
    };
    for (const m of MODES) {
      const x = inProcess[m.key]!;
      console.log(`10-step chain of no-op TypeScript components, ${m.label}: between steps p50 ${fmt(x.gap_ms!.p50)} ms, p95 ${fmt(x.gap_ms!.p95)} ms (one function returning to the next one called); per step p50 ${fmt(x.step_ms.p50)} ms, p95 ${fmt(x.step_ms.p95)} ms (start to recorded outputs); total ${fmt(x.total_ms)} ms (median of ${x.runs} runs)`);
    }
    console.log(`10-step chain, command components (node child processes): per step p50 ${fmt(childProcess.step_ms.p50)} ms, p95 ${fmt(childProcess.step_ms.p95)} ms; total ${fmt(childProcess.total_ms)} ms`);
    console.log(`10-step chain served from cache: per step p50 ${fmt(cached.cachedStep_ms.p50)} ms, p95 ${fmt(cached.cachedStep_ms.p95)} ms; total ${fmt(cached.total_ms)} ms`);
    console.log(`1,000 independent command steps: ${r.status} in ${fmt(wideMs / 1000, 2)} s, RSS ${fmt(rssBefore / 2 ** 20)} → peak ${fmt(peak / 2 ** 20)} MiB`);
    return result;
  } finally {
    await executors.closeWorkerPool();
    await stores.close();
    await artifacts.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
