/**
 * What loading a model costs the serving thread: the Adult GBDT (100 trees, `trellis train --algo
 * gbdt --param trees=100 test_size=0 --register adult` on test/data/adult_train.csv, in a SQLite
 * workspace) loaded the way the serving engine loads a version at a hot swap — read through the
 * registry, verified against its recorded sha256, parsed, checked and decoded — once in the serving
 * thread (`loadVersion` without a loader) and once through the engine's loading worker
 * (src/serving/model-loader.ts). Figures, the modes taking turns after a warm-up, medians (and
 * the least) over BENCH_LOAD_ROUNDS rounds of 10 loads of each; other work on the machine lengthens
 * these times, never shortens them, so the least is the closest to the cost alone:
 * - the serving thread's busy time: the active time of its event loop
 *   (`performance.eventLoopUtilization`) from the start of the load until the model is ready,
 *   everything the serving thread ran for it (waiting for the worker is idle time);
 * - the longest stall: the longest gap between the ticks of a 1 ms timer running throughout the
 *   load, less the 1 ms (in separate loads), i.e. about how long a request arriving during the load
 *   could wait;
 * - wall time, from the start of the load until the model is ready;
 * and, apart, the read alone (the artifact store's read and its own hash check, which stay on the
 * serving thread), and the first one-row prediction of a model just loaded against a later one (the
 * first lays the ensemble out for the tree walk, in the serving thread).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { workspaceSource } from '../src/api/serving/source.js';
import { readTable } from '../src/data/readers/index.js';
import { rowAt } from '../src/data/table.js';
import { ModelLoader } from '../src/serving/model-loader.js';
import { DEFAULT_BATCH, loadVersion } from '../src/serving/model-runtime.js';
import { Workspace } from '../src/workspace/workspace.js';
import { fmt } from './lib.js';

const ROUNDS = Number(process.env.BENCH_LOAD_ROUNDS ?? 15);
/** Loads of each mode per round, profiled together. */
const PER_ROUND = 10;
const ADULT_TRAIN = fileURLToPath(new URL('../test/data/adult_train.csv', import.meta.url));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The serving thread's busy time during one call: its event loop's active time. */
async function busy(fn: () => Promise<unknown>): Promise<number> {
  const before = performance.eventLoopUtilization();
  await fn();
  return performance.eventLoopUtilization(before).active;
}

/** Wall time of one call. */
async function wall(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** The longest gap between the ticks of a 1 ms timer running throughout one call, less the 1 ms. */
async function stall(fn: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let max = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const t = performance.now();
    max = Math.max(max, t - last);
    last = t;
    timer = setTimeout(tick, 1);
  };
  timer = setTimeout(tick, 1);
  await fn();
  // One more tick, so a stall at the very end is seen.
  await new Promise((r) => setTimeout(r, 2));
  clearTimeout(timer);
  return Math.max(0, max - 1);
}

export async function runModelLoadBench() {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-load-'));
  const ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
  const loader = new ModelLoader();
  try {
    process.stderr.write('  training the Adult GBDT (100 trees)…\n');
    await ws.training.train({ data: ADULT_TRAIN, target: 'income', algo: 'gbdt', params: { trees: '100', test_size: '0' }, register: 'adult' }, { actor: 'bench' });
    const v = await ws.registry.resolve('adult/1');
    const source = workspaceSource(ws);
    const modes: [string, () => Promise<unknown>][] = [
      ['serving thread', () => loadVersion(v, source.read, DEFAULT_BATCH)],
      ['worker', () => loadVersion(v, source.read, DEFAULT_BATCH, loader)],
      ['read alone', () => source.read(v)],
    ];
    const first = await loadVersion(v, source.read, DEFAULT_BATCH, loader);
    for (let k = 0; k < 5; k++) for (const [, fn] of modes) await fn();
    const samples = new Map<string, { busyMs: number[]; stallMs: number[]; wallMs: number[] }>(modes.map(([name]) => [name, { busyMs: [], stallMs: [], wallMs: [] }]));
    for (let k = 0; k < ROUNDS; k++) {
      for (const [name, fn] of k % 2 ? [...modes].reverse() : modes) {
        const s = samples.get(name)!;
        for (let i = 0; i < PER_ROUND; i++) {
          s.busyMs.push(await busy(fn));
          s.stallMs.push(await stall(fn));
          s.wallMs.push(await wall(fn));
          await new Promise((r) => setTimeout(r, 2));
        }
      }
    }
    // The first prediction of a model just loaded, and a later one.
    const row = [rowAt(await readTable(ADULT_TRAIN), 0)];
    const first1: number[] = [];
    const later: number[] = [];
    for (let k = 0; k < ROUNDS; k++) {
      const m = await loadVersion(v, source.read, DEFAULT_BATCH, loader);
      let t = performance.now();
      await m.predict(row);
      first1.push(performance.now() - t);
      t = performance.now();
      await m.predict(row);
      later.push(performance.now() - t);
    }
    const predictions = { firstMs: median(first1), laterMs: median(later) };
    console.log(`one-row prediction of a model just loaded: the first ${fmt(predictions.firstMs, 2)} ms, the next ${fmt(predictions.laterMs, 3)} ms`);
    const result: Record<string, { busyMs: number; busyMinMs: number; stallMs: number; stallMinMs: number; wallMs: number }> = {};
    for (const [name, s] of samples) {
      const r = { busyMs: median(s.busyMs), busyMinMs: Math.min(...s.busyMs), stallMs: median(s.stallMs), stallMinMs: Math.min(...s.stallMs), wallMs: median(s.wallMs) };
      result[name] = r;
      console.log(`${name}: serving thread busy ${fmt(r.busyMs, 2)} ms (least ${fmt(r.busyMinMs, 2)}), longest stall ${fmt(r.stallMs, 2)} ms (least ${fmt(r.stallMinMs, 2)}), wall ${fmt(r.wallMs, 2)} ms`);
    }
    const kib = first.bytes / 1024;
    console.log(`Adult GBDT, 100 trees, ${fmt(kib, 0)} KiB model.json, medians over ${ROUNDS * PER_ROUND} loads of each`);
    const load = loadavg().map((l) => Number(l.toFixed(2)));
    console.log(`load average ${load.join(', ')}`);
    return { loads: ROUNDS * PER_ROUND, modelKiB: kib, ...result, predictions, loadavg: load };
  } finally {
    await loader.close();
    await ws.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
