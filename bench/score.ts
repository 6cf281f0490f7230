/**
 * Batch scoring: 1,000,000 rows of the Adult census data (its training file repeated, in
 * bench/out/) through the Adult GBDT with 100 trees, trained and registered with `trellis train`.
 * Figures: rows/s through the model alone (the feature transforms, the tree walk on two cores and
 * the link, block by block as `trellis score` drives it, one block's trees walked on the worker
 * while the next block's features are computed; goal ≥ 1,000,000 rows/s; also predict() on one
 * block after another), and `trellis
 * score` end to end, CSV → CSV, as a user runs it (process start, model load, the input's sha256,
 * the run recorded; goal ≥ 200,000 rows/s), with its peak resident memory, also on a quarter and
 * on three times the rows to show that memory does not grow with the input (and `trellis predict`,
 * which holds the whole table, on the 1,000,000 rows for contrast); also per CPU second,
 * which other work on the machine moves less than the clock. The peer, when
 * scikit-learn is installed (`BENCH_PYTHON`, default /usr/bin/python3): HistGradientBoostingClassifier
 * `predict_proba` on the same rows, model alone and CSV → CSV with pandas (bench/score_peer.py).
 * Trellis runs from the build (`npm run build` first). `BENCH_SCORE_REPS` (default 3) runs of each.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dataset } from '../src/data/readers/test-helpers/data-files.js';
import { fmt } from './lib.js';

const OUT = fileURLToPath(new URL('./out/', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/trellis.js', import.meta.url));
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const REPS = Number(process.env.BENCH_SCORE_REPS ?? 3);
const ROWS = 1_000_000;
const TIME = '/usr/bin/time';

/** The Adult training rows repeated to `rows` data rows (written once, kept in bench/out/). */
async function adultRows(rows: number): Promise<string> {
  const path = `${OUT}adult-${rows}.csv`;
  if (existsSync(path)) return path;
  process.stderr.write(`  writing ${rows.toLocaleString('en-US')} Adult rows → ${path}\n`);
  const lines: string[] = [];
  for await (const l of createInterface({ input: createReadStream(dataset('adult_train.csv')) })) if (l.trim()) lines.push(l);
  const [header, ...data] = lines;
  const out = createWriteStream(`${path}.tmp`);
  out.write(`${header}\n`);
  for (let i = 0; i < rows; i += 10_000) {
    const chunk = Array.from({ length: Math.min(10_000, rows - i) }, (_, k) => data[(i + k) % data.length]).join('\n');
    if (!out.write(`${chunk}\n`)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise<void>((r) => out.end(r));
  spawnSync('mv', [`${path}.tmp`, path]);
  return path;
}

const modelAloneScript = `
import { EmbeddedBackend } from ${JSON.stringify(`${DIST}sdk/embedded-backend.js`)};
import { loadModelVia } from ${JSON.stringify(`${DIST}cli/scoring.js`)};
import { readTableBlocks } from ${JSON.stringify(`${DIST}data/readers/blocks.js`)};
import { modelInputTypes } from ${JSON.stringify(`${DIST}ml/batch-score.js`)};
import { predict, startPredict } from ${JSON.stringify(`${DIST}ml/model.js`)};
import { predictionWorkerReady } from ${JSON.stringify(`${DIST}numeric/trees/predict-pool.js`)};
const [store, artifacts, ref, rows, reps] = process.argv.slice(-5);
const b = await EmbeddedBackend.open({ store, artifacts });
const { model } = await loadModelVia(b, ref);
await b.close();
const blocks = [];
for await (const block of readTableBlocks(rows, { types: modelInputTypes(model) })) blocks.push(block.table);
const n = blocks.reduce((s, t) => s + t.rowCount, 0);
await predictionWorkerReady();
predict(model, blocks[0]);
// As trellis score drives the model: one block in flight (its trees on the worker) while the next
// block's features are computed, two feature matrices taken in turn.
const width = model.features.outputs.length;
const matrices = [0, 1].map(() => new Float64Array(new SharedArrayBuffer(8 * blocks[0].rowCount * width)));
const pipelined = () => {
  let pending;
  blocks.forEach((block, i) => {
    const next = startPredict(model, block, matrices[i % 2]);
    pending?.();
    pending = next;
  });
  pending?.();
};
// And predict() on each block in turn, as any caller of predict() would.
const oneByOne = () => { for (const block of blocks) predict(model, block); };
const measure = (f) => {
  const each = [];
  const perCpu = [];
  for (let r = 0; r < Number(reps); r++) {
    const cpu = process.cpuUsage();
    const t = performance.now();
    f();
    each.push(n / ((performance.now() - t) / 1000));
    const used = process.cpuUsage(cpu);
    perCpu.push(n / ((used.user + used.system) / 1e6));
  }
  return { each, perCpu };
};
console.log(JSON.stringify({ rows: n, blocks: blocks.length, ...measure(pipelined), predict: measure(oneByOne) }));
`;

function trellis(g: string[], args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...g, ...args], { encoding: 'utf8', env: { ...process.env, TRELLIS_USER: 'bench', TRELLIS_LOG_LEVEL: 'warn' } });
  if (r.status !== 0) throw new Error(`trellis ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * `trellis score` in a child process, under /usr/bin/time: wall time, CPU time (both threads) and
 * peak resident memory. CPU time moves less than the clock when other work shares the machine.
 */
async function scoreOnce(g: string[], input: string, output: string, command = 'score'): Promise<{ seconds: number; cpuSeconds: number; peakRssMiB: number; rows: number }> {
  const child = spawn(TIME, ['-f', 'time: %e %U %S %M', process.execPath, BIN, ...g, '--json', command, '--model', 'adult@1', '--input', input, '--output', output], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TRELLIS_USER: 'bench', TRELLIS_LOG_LEVEL: 'warn' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const code = await new Promise<number | null>((r) => child.once('close', r));
  if (code !== 0) throw new Error(`trellis score failed (${code}): ${stderr}`);
  const [wall, user, sys, kib] = /time: (\S+) (\S+) (\S+) (\d+)/.exec(stderr)!.slice(1).map(Number) as [number, number, number, number];
  return { seconds: wall, cpuSeconds: user + sys, peakRssMiB: kib / 1024, rows: (JSON.parse(stdout) as { rows: number }).rows };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runScoreBench(): Promise<unknown> {
  if (!existsSync(`${DIST}ml/batch-score.js`)) throw new Error('build Trellis first: npm run build');
  if (!existsSync(TIME)) throw new Error(`${TIME} is needed for the peak memory and CPU time of trellis score (Debian: apt-get install time)`);
  mkdirSync(OUT, { recursive: true });
  console.log(`\nbatch scoring: ${ROWS.toLocaleString('en-US')} Adult rows through the Adult GBDT (100 trees), CSV → CSV`);
  const rows = await adultRows(ROWS);
  const quarter = await adultRows(ROWS / 4);
  const triple = await adultRows(ROWS * 3);
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-score-'));
  try {
    const store = `sqlite:${join(dir, 't.db')}`;
    const artifacts = `file:${join(dir, 'a')}`;
    const g = ['--store', store, '--artifacts', artifacts];
    process.stderr.write('  training the Adult GBDT (100 trees)…\n');
    trellis(g, ['train', '--data', dataset('adult_train.csv'), '--target', 'income', '--algo', 'gbdt', '--param', 'trees=100', 'test_size=0', '--register', 'adult']);

    const loadBefore = loadavg()[0]!;
    process.stderr.write('  the model alone…\n');
    const child = join(dir, 'model-alone.mjs');
    writeFileSync(child, modelAloneScript);
    const alone = spawnSync(process.execPath, [child, store, artifacts, 'adult@1', rows, String(REPS)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (alone.status !== 0) throw new Error(`model alone failed: ${alone.stderr}`);
    const model = JSON.parse(alone.stdout.trim().split('\n').pop()!) as { rows: number; blocks: number; each: number[]; perCpu: number[]; predict: { each: number[]; perCpu: number[] } };

    const endToEnd = [];
    for (let r = 0; r < REPS; r++) {
      process.stderr.write(`  trellis score, run ${r + 1} of ${REPS}…\n`);
      endToEnd.push(await scoreOnce(g, rows, join(dir, 'scored.csv')));
    }
    process.stderr.write('  trellis score on a quarter and on three times the rows…\n');
    const small = await scoreOnce(g, quarter, join(dir, 'scored-quarter.csv'));
    const large = await scoreOnce(g, triple, join(dir, 'scored-triple.csv'));
    process.stderr.write('  trellis predict on the same rows, for its memory…\n');
    const whole = await scoreOnce(g, rows, join(dir, 'predicted.csv'), 'predict');

    let peer: { model_rows_per_s: number; model_rows_per_cpu_s: number; end_to_end_rows_per_s: number; end_to_end_rows_per_cpu_s: number; sklearn_version: string } | undefined;
    const hasSklearn = spawnSync(PYTHON, ['-c', 'import sklearn, pandas'], { stdio: 'ignore' }).status === 0;
    if (hasSklearn) {
      process.stderr.write('  scikit-learn…\n');
      const p = spawnSync(PYTHON, [fileURLToPath(new URL('./score_peer.py', import.meta.url)), dataset('adult_train.csv'), rows, join(dir, 'sklearn.csv')], {
        encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env, OMP_NUM_THREADS: '2' },
      });
      if (p.status !== 0) throw new Error(`scikit-learn failed: ${p.stderr}`);
      peer = JSON.parse(p.stdout.trim().split('\n').pop()!);
    }

    // The machine's load (1-minute average) before and after: other work moves every figure.
    const load = [loadBefore, loadavg()[0]!];
    const modelRate = median(model.each);
    const modelPerCpu = median(model.perCpu);
    const e2eSeconds = median(endToEnd.map((e) => e.seconds));
    const e2ePerCpu = ROWS / median(endToEnd.map((e) => e.cpuSeconds));
    const e2eRate = ROWS / e2eSeconds;
    const peak = Math.max(...endToEnd.map((e) => e.peakRssMiB));
    const m = (v: number) => fmt(v / 1e6, 2);
    console.log(`  load average ${fmt(load[0]!, 2)} → ${fmt(load[1]!, 2)} on ${availableParallelism()} cores`);
    console.log(`  model alone (features + trees on 2 cores + link, ${model.blocks} blocks, one in flight as trellis score runs them): ${m(modelRate)} M rows/s (goal ≥ 1.00), ${m(modelPerCpu)} M rows per CPU second; predict() block after block ${m(median(model.predict.each))} M rows/s`);
    console.log(`  trellis score end to end, CSV → CSV: ${fmt(e2eSeconds, 2)} s, ${fmt(e2eRate / 1000, 0)} k rows/s (goal ≥ 200 k), ${fmt(e2ePerCpu / 1000, 0)} k rows per CPU second, peak RSS ${fmt(peak, 0)} MiB`);
    console.log(`  peak RSS by input size: ${(ROWS / 4).toLocaleString('en-US')} rows ${fmt(small.peakRssMiB, 0)} MiB, ${ROWS.toLocaleString('en-US')} ${fmt(peak, 0)} MiB, ${(ROWS * 3).toLocaleString('en-US')} ${fmt(large.peakRssMiB, 0)} MiB (${fmt((ROWS * 3) / large.seconds / 1000, 0)} k rows/s)`);
    console.log(`  trellis predict, which holds the table, on the same ${ROWS.toLocaleString('en-US')} rows: ${fmt(whole.seconds, 2)} s, peak RSS ${fmt(whole.peakRssMiB, 0)} MiB`);
    if (peer) {
      console.log(`  scikit-learn ${peer.sklearn_version}: model alone ${m(peer.model_rows_per_s)} M rows/s → Trellis ${fmt(modelRate / peer.model_rows_per_s, 2)}× (per CPU second ${m(peer.model_rows_per_cpu_s)} → ${fmt(modelPerCpu / peer.model_rows_per_cpu_s, 2)}×); CSV → CSV with pandas ${fmt(peer.end_to_end_rows_per_s / 1000, 0)} k rows/s → Trellis ${fmt(e2eRate / peer.end_to_end_rows_per_s, 2)}× (per CPU second ${fmt(peer.end_to_end_rows_per_cpu_s / 1000, 0)} k → ${fmt(e2ePerCpu / peer.end_to_end_rows_per_cpu_s, 2)}×)`);
    } else console.log(`  scikit-learn: not installed for ${PYTHON}; no peer in this run`);
    return {
      rows: ROWS, load, model: {
        rows_per_s: modelRate, rows_per_cpu_s: modelPerCpu, each: model.each, blocks: model.blocks,
        predict_rows_per_s: median(model.predict.each), predict_rows_per_cpu_s: median(model.predict.perCpu),
      },
      end_to_end: { rows_per_s: e2eRate, rows_per_cpu_s: e2ePerCpu, seconds: e2eSeconds, runs: endToEnd, peak_rss_mib: peak },
      memory_by_rows: { [ROWS / 4]: small.peakRssMiB, [ROWS]: peak, [ROWS * 3]: large.peakRssMiB },
      predict: { seconds: whole.seconds, peak_rss_mib: whole.peakRssMiB },
      sklearn: peer ?? null,
      ratios: peer ? {
        model: modelRate / peer.model_rows_per_s, end_to_end: e2eRate / peer.end_to_end_rows_per_s,
        model_per_cpu: modelPerCpu / peer.model_rows_per_cpu_s, end_to_end_per_cpu: e2ePerCpu / peer.end_to_end_rows_per_cpu_s,
      } : null,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
