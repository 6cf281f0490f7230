/**
 * Gradient-boosted trees, side by side with scikit-learn's HistGradientBoostingClassifier and
 * XGBoost `hist` (Debian's python3-sklearn and python3-xgboost) at the same settings: 100 trees,
 * 31 leaves, learning rate 0.1, 255 bins, at least 20 rows per leaf, 2 threads. Datasets: a
 * 1,000,000 × 28 synthetic binary task (bench/gen-gbdt-csv.ts), Adult (its own train/test files)
 * and Taiwan credit default (every fifth row held out). Each tool trains `BENCH_GBDT_REPS` times in
 * its own process; the figures are median fit times and test ROC AUC. Also, per dataset and side by
 * side with scikit-learn: batch prediction on the held-out rows (the first call, then the median of
 * `BENCH_GBDT_PREDICT_REPS`) and on 1,000,000 rows (the held-out rows repeated), the held-out rows
 * again on one thread each, by the clock and per CPU second (which a busy machine moves less), and
 * the latency of one record through the synthetic model. Trellis runs from the build (`npm run build` first), as
 * `trellis train` does. `BENCH_GBDT_BASELINE=<git revision>` also runs Trellis as built from that
 * revision (in bench/out/), so that before and after are measured in one invocation, and
 * `BENCH_GBDT_REVISION=<git revision>` runs that revision instead of the build;
 * `BENCH_GBDT_DATASETS=Adult,…` runs only the datasets whose names start so;
 * `BENCH_GBDT_PREDICT_ONLY=1` measures prediction only: one fit per tool (for the model to
 * predict with) and no XGBoost, so that repeated runs are short.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dataset } from '../src/data/readers/test-helpers/data-files.js';
import { fmt } from './lib.js';
import { generateGbdtCsv } from './gen-gbdt-csv.js';

const OUT = fileURLToPath(new URL('./out/', import.meta.url));
const ROWS = Number(process.env.BENCH_GBDT_ROWS ?? 1_000_000);
const PREDICT_ONLY = process.env.BENCH_GBDT_PREDICT_ONLY === '1';
const REPS = PREDICT_ONLY ? 1 : Number(process.env.BENCH_GBDT_REPS ?? 5);
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const PREDICT_REPS = Number(process.env.BENCH_GBDT_PREDICT_REPS ?? 11);
const BASELINE = process.env.BENCH_GBDT_BASELINE;
const REVISION = process.env.BENCH_GBDT_REVISION;
const DATASETS = process.env.BENCH_GBDT_DATASETS?.split(',').map((d) => d.trim().toLowerCase());

interface Spec {
  name: string;
  train: string;
  test?: string;
  target: string;
  positive: string;
  drop?: string[];
  threads: number;
  reps: number;
  /** Prediction only: no XGBoost. */
  predictOnly?: boolean;
  /** Also the latency of one record. */
  predict?: boolean;
  predictReps?: number;
}

const childScript = (dist: string) => `
import { readTable } from ${JSON.stringify(`${dist}data/readers/index.js`)};
import { selectColumns, rowAt } from ${JSON.stringify(`${dist}data/table.js`)};
import { train } from ${JSON.stringify(`${dist}ml/train.js`)};
import { predict, ensembleOf } from ${JSON.stringify(`${dist}ml/model.js`)};
import { setParallelWalk } from ${JSON.stringify(`${dist}numeric/trees/tree.js`)};
import { takeRows } from ${JSON.stringify(`${dist}ml/prepare.js`)};
import { rocAuc } from ${JSON.stringify(`${dist}numeric/metrics/classification.js`)};
import { readFileSync } from 'node:fs';
const spec = JSON.parse(readFileSync(process.argv.at(-1), 'utf8'));
let all = await readTable(spec.train);
let test;
if (spec.test) test = await readTable(spec.test);
else {
  const rows = Array.from({ length: all.rowCount }, (_, i) => i);
  test = takeRows(all, rows.filter((i) => i % 5 === 0));
  all = takeRows(all, rows.filter((i) => i % 5 !== 0));
}
const keep = all.columns.map((c) => c.name).filter((n) => !(spec.drop ?? []).includes(n));
all = selectColumns(all, keep);
test = selectColumns(test, keep);
const params = { trees: 100, max_leaves: 31, learning_rate: 0.1, max_bins: 255, min_samples_leaf: 20, l2: 0, threads: spec.threads, test_size: 0, task: 'binary' };
const fits = [];
let result;
for (let r = 0; r < spec.reps; r++) {
  const t = performance.now();
  result = await train(all, spec.target, 'gbdt', params);
  fits.push((performance.now() - t) / 1000);
}
const model = result.model;
const pos = model.classes.indexOf(spec.positive);
const label = test.columns.find((c) => c.name === spec.target);
const y = Float64Array.from({ length: test.rowCount }, (_, i) => String(rowAt(test, i)[spec.target]).replace(/\\.$/, '') === spec.positive ? 1 : 0);
const features = selectColumns(test, keep.filter((n) => n !== spec.target));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// Batch prediction (feature transforms included) on the held-out rows: the first call, which also
// lays the model out for prediction, then again; then 1,000,000 rows, the held-out rows repeated.
let t = performance.now();
const out = predict(model, features);
const first = test.rowCount / ((performance.now() - t) / 1000);
const again = [];
for (let r = 0; r < spec.predictReps; r++) {
  t = performance.now();
  predict(model, features);
  again.push(test.rowCount / ((performance.now() - t) / 1000));
}
const big = takeRows(features, Array.from({ length: 1_000_000 }, (_, i) => i % features.rowCount));
const batch = [];
for (let r = 0; r < 3; r++) {
  t = performance.now();
  predict(model, big);
  batch.push(1_000_000 / ((performance.now() - t) / 1000));
}
// On one thread (the worker set aside), by the clock and by CPU time, which a busy machine moves less.
setParallelWalk(undefined);
const one = [];
const perCpu = [];
for (let r = 0; r < spec.predictReps; r++) {
  const cpu = process.cpuUsage();
  t = performance.now();
  predict(model, features);
  one.push(test.rowCount / ((performance.now() - t) / 1000));
  const used = process.cpuUsage(cpu);
  perCpu.push(test.rowCount / ((used.user + used.system) / 1e6));
}
let nodes = 0, splits = 0, categorySplits = 0;
for (const tree of ensembleOf(model.estimator).trees) {
  nodes += tree.feature.length;
  for (let i = 0; i < tree.feature.length; i++) if (tree.feature[i] >= 0) { splits++; if (tree.categories?.[i]) categorySplits++; }
}
const p = Float64Array.from({ length: test.rowCount }, (_, i) => out.proba[i * 2 + pos]);
const res = {
  fit_s: fits, auc: rocAuc(y, p), trees: model.estimator.trees.length, nodes, splits, category_splits: categorySplits, threads: model.metadata.threads,
  predict_rows: test.rowCount, predict_first_rows_per_s: first, predict_rows_per_s: median(again), predict_rows_per_s_each: again,
  batch_rows_per_s: median(batch), batch_rows_per_s_each: batch,
  one_thread_rows_per_s: median(one), rows_per_cpu_s: median(perCpu),
};
if (spec.predict) {
  // One record at a time.
  const records = Array.from({ length: 2000 }, (_, i) => rowAt(features, i));
  for (let i = 0; i < 20000; i++) predict(model, [records[i % 2000]]);
  const lat = [];
  for (let rep = 0; rep < 20; rep++) {
    t = performance.now();
    for (let i = 0; i < 2000; i++) predict(model, [records[i]]);
    lat.push(((performance.now() - t) * 1000) / 2000);
  }
  lat.sort((a, b) => a - b);
  res.single_record_us = { median: lat[10], min: lat[0], max: lat[19] };
}
console.log(JSON.stringify(res));
`;

/** Trellis as built from a git revision, in bench/out/baseline-<commit>/ (built once). */
function builtAt(revision: string): { dist: string; commit: string } {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const commit = execFileSync('git', ['rev-parse', '--verify', `${revision}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
  const dir = `${OUT}baseline-${commit.slice(0, 12)}/`;
  if (!existsSync(`${dir}dist/ml/train.js`)) {
    process.stderr.write(`  building ${revision} (${commit.slice(0, 12)}) → ${dir}\n`);
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', `git archive ${commit} src package.json tsconfig.json tsconfig.build.json | tar -x -C '${dir}'`], { cwd: root });
    // Type errors of that revision do not stop the emit; a missing output does.
    spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'ignore' });
    if (!existsSync(`${dir}dist/ml/train.js`)) throw new Error(`building ${revision} failed`);
  }
  return { dist: `${dir}dist/`, commit };
}

function runJson(cmd: string, args: string[], label: string): Record<string, unknown> {
  process.stderr.write(`  ${label}…\n`);
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, OMP_NUM_THREADS: '2' } });
  if (r.status !== 0) throw new Error(`${label} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface TrellisFigures {
  fit_s: number[];
  auc: number;
  predict_rows: number;
  predict_first_rows_per_s: number;
  predict_rows_per_s: number;
  batch_rows_per_s: number;
  one_thread_rows_per_s: number;
  rows_per_cpu_s: number;
  single_record_us?: { median: number };
}

interface PeerFigures {
  fit_s: number[];
  auc: number;
  predict_first_rows_per_s?: number;
  predict_rows_per_s?: number;
  batch_rows_per_s?: number;
  one_thread_rows_per_s?: number;
  rows_per_cpu_s?: number;
}

export async function runGbdtBench(): Promise<unknown> {
  mkdirSync(OUT, { recursive: true });
  const dist = REVISION ? builtAt(REVISION).dist : DIST;
  if (!existsSync(`${dist}ml/train.js`)) throw new Error('build Trellis first: npm run build');
  const baseline = BASELINE ? builtAt(BASELINE) : undefined;
  const synthetic = `${OUT}gbdt-${ROWS}.csv`;
  const specs: Spec[] = [
    { name: `synthetic ${ROWS.toLocaleString('en-US')} × 28`, train: synthetic, target: 'label', positive: '1', threads: 2, reps: REPS, predict: true },
    { name: 'Adult', train: dataset('adult_train.csv'), test: dataset('adult_test.csv'), target: 'income', positive: '>50K', threads: 2, reps: REPS },
    { name: 'Taiwan credit default', train: dataset('credit_default.csv'), target: 'default_payment_next_month', positive: '1', drop: ['ID'], threads: 2, reps: REPS },
  ];
  const selected = specs.filter((sp) => !DATASETS || DATASETS.some((d) => sp.name.toLowerCase().startsWith(d)));
  if (selected.some((sp) => sp.train === synthetic) && !existsSync(synthetic)) {
    process.stderr.write(`  generating ${ROWS} rows → ${synthetic}\n`);
    await generateGbdtCsv(synthetic, ROWS);
  }
  const results = [];
  for (const spec of selected) {
    spec.predictReps = PREDICT_REPS;
    spec.predictOnly = PREDICT_ONLY;
    const file = `${OUT}gbdt-spec.json`;
    writeFileSync(file, JSON.stringify(spec));
    const runTrellis = (dist: string, label: string) => {
      const child = `${OUT}gbdt-child.mjs`;
      writeFileSync(child, childScript(dist));
      return runJson(process.execPath, [child, file], `${spec.name}: ${label}`) as unknown as TrellisFigures;
    };
    const loadBefore = loadavg()[0]!;
    const before = baseline ? runTrellis(baseline.dist, `Trellis at ${baseline.commit.slice(0, 12)}`) : undefined;
    const trellis = runTrellis(dist, 'Trellis');
    const peers = runJson(PYTHON, [fileURLToPath(new URL('./gbdt_peers.py', import.meta.url)), file], `${spec.name}: scikit-learn and XGBoost`) as {
      sklearn: PeerFigures; xgboost?: PeerFigures; rows: number;
    };
    // The machine's load (1-minute average) before and after this dataset's runs: other work moves every figure.
    const load = [loadBefore, loadavg()[0]!];
    const t = median(trellis.fit_s);
    const s = median(peers.sklearn.fit_s);
    const x = peers.xgboost ? median(peers.xgboost.fit_s) : NaN;
    const sk = peers.sklearn;
    const row = {
      dataset: spec.name, rows: peers.rows, load, trellis, sklearn: sk, xgboost: peers.xgboost,
      time_vs_sklearn: t / s, time_vs_xgboost: t / x, auc_minus_sklearn: trellis.auc - sk.auc,
      predict_vs_sklearn: trellis.predict_rows_per_s / sk.predict_rows_per_s!, batch_vs_sklearn: trellis.batch_rows_per_s / sk.batch_rows_per_s!,
      one_thread_vs_sklearn: trellis.one_thread_rows_per_s / sk.one_thread_rows_per_s!, cpu_vs_sklearn: trellis.rows_per_cpu_s / sk.rows_per_cpu_s!,
      ...(baseline && before ? { baseline: { commit: baseline.commit, trellis: before } } : {}),
    };
    results.push(row);
    console.log(`${spec.name}: Trellis ${fmt(t, 2)} s (AUC ${trellis.auc.toFixed(4)}) · scikit-learn ${fmt(s, 2)} s (AUC ${peers.sklearn.auc.toFixed(4)})${peers.xgboost ? ` · XGBoost ${fmt(x, 2)} s (AUC ${peers.xgboost.auc.toFixed(4)})` : ''} → ${fmt(t / s, 2)}× scikit-learn's time, AUC ${row.auc_minus_sklearn >= 0 ? '+' : ''}${row.auc_minus_sklearn.toFixed(4)}`);
    const m = (v: number) => fmt(v / 1e6, 2);
    console.log(`  load average ${fmt(load[0]!, 2)} → ${fmt(load[1]!, 2)}`);
    console.log(`  prediction, M rows/s: ${trellis.predict_rows.toLocaleString('en-US')} held-out rows Trellis ${m(trellis.predict_rows_per_s)} (first call ${m(trellis.predict_first_rows_per_s)}) · scikit-learn ${m(sk.predict_rows_per_s!)} (first ${m(sk.predict_first_rows_per_s!)}) → ${fmt(row.predict_vs_sklearn, 2)}×; 1,000,000 rows Trellis ${m(trellis.batch_rows_per_s)} · scikit-learn ${m(sk.batch_rows_per_s!)} → ${fmt(row.batch_vs_sklearn, 2)}×`);
    console.log(`  one thread each: Trellis ${m(trellis.one_thread_rows_per_s)} · scikit-learn ${m(sk.one_thread_rows_per_s!)} → ${fmt(row.one_thread_vs_sklearn, 2)}×; per CPU second: Trellis ${m(trellis.rows_per_cpu_s)} · scikit-learn ${m(sk.rows_per_cpu_s!)} → ${fmt(row.cpu_vs_sklearn, 2)}×`);
    if (before) console.log(`  before (${baseline!.commit.slice(0, 12)}): fit ${fmt(median(before.fit_s), 2)} s, AUC ${before.auc.toFixed(4)}; prediction ${m(before.predict_rows_per_s)} (first call ${m(before.predict_first_rows_per_s)}) → ${fmt(before.predict_rows_per_s / sk.predict_rows_per_s!, 2)}× scikit-learn; 1,000,000 rows ${m(before.batch_rows_per_s)} → ${fmt(before.batch_rows_per_s / sk.batch_rows_per_s!, 2)}×; one thread ${m(before.one_thread_rows_per_s)} → ${fmt(before.one_thread_rows_per_s / sk.one_thread_rows_per_s!, 2)}×, per CPU second ${m(before.rows_per_cpu_s)} → ${fmt(before.rows_per_cpu_s / sk.rows_per_cpu_s!, 2)}×`);
    if (trellis.single_record_us) console.log(`  one record: ${fmt(trellis.single_record_us.median, 2)} µs (median)`);
  }
  return results;
}
