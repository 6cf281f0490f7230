/**
 * Gradient-boosted trees, side by side with scikit-learn's HistGradientBoostingClassifier and
 * XGBoost `hist` (Debian's python3-sklearn and python3-xgboost) at the same settings: 100 trees,
 * 31 leaves, learning rate 0.1, 255 bins, at least 20 rows per leaf, 2 threads. Datasets: a
 * 1,000,000 × 28 synthetic binary task (bench/gen-gbdt-csv.ts), Adult (its own train/test files)
 * and Taiwan credit default (every fifth row held out). Each tool trains `BENCH_GBDT_REPS` times in
 * its own process; the figures are median fit times and test ROC AUC. Also: prediction latency of
 * one record and batch throughput through the 100-tree model. Trellis runs from the build
 * (`npm run build` first), as `trellis train` does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dataset } from '../src/data/readers/test-helpers/data-files.js';
import { fmt } from './lib.js';
import { generateGbdtCsv } from './gen-gbdt-csv.js';

const OUT = fileURLToPath(new URL('./out/', import.meta.url));
const ROWS = Number(process.env.BENCH_GBDT_ROWS ?? 1_000_000);
const REPS = Number(process.env.BENCH_GBDT_REPS ?? 5);
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

interface Spec {
  name: string;
  train: string;
  test?: string;
  target: string;
  positive: string;
  drop?: string[];
  threads: number;
  reps: number;
  predict?: boolean;
}

const CHILD = `
import { readTable } from ${JSON.stringify(`${DIST}data/readers/index.js`)};
import { selectColumns, rowAt } from ${JSON.stringify(`${DIST}data/table.js`)};
import { train } from ${JSON.stringify(`${DIST}ml/train.js`)};
import { predict } from ${JSON.stringify(`${DIST}ml/model.js`)};
import { takeRows } from ${JSON.stringify(`${DIST}ml/prepare.js`)};
import { rocAuc } from ${JSON.stringify(`${DIST}numeric/metrics/classification.js`)};
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
let t = performance.now();
const out = predict(model, features);
const batchS = (performance.now() - t) / 1000;
const p = Float64Array.from({ length: test.rowCount }, (_, i) => out.proba[i * 2 + pos]);
const res = { fit_s: fits, auc: rocAuc(y, p), predict_rows_per_s: test.rowCount / batchS, trees: model.estimator.trees.length, threads: model.metadata.threads };
if (spec.predict) {
  // Batch throughput on a large batch, and one record at a time.
  const big = takeRows(features, Array.from({ length: 1_000_000 }, (_, i) => i % features.rowCount));
  predict(model, takeRows(features, [0, 1, 2]));
  t = performance.now();
  predict(model, big);
  res.batch_rows_per_s = 1_000_000 / ((performance.now() - t) / 1000);
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

function runJson(cmd: string, args: string[], label: string): Record<string, unknown> {
  process.stderr.write(`  ${label}…\n`);
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, OMP_NUM_THREADS: '2' } });
  if (r.status !== 0) throw new Error(`${label} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runGbdtBench(): Promise<unknown> {
  if (!existsSync(`${DIST}ml/train.js`)) throw new Error('build Trellis first: npm run build');
  mkdirSync(OUT, { recursive: true });
  const synthetic = `${OUT}gbdt-${ROWS}.csv`;
  if (!existsSync(synthetic)) {
    process.stderr.write(`  generating ${ROWS} rows → ${synthetic}\n`);
    await generateGbdtCsv(synthetic, ROWS);
  }
  const specs: Spec[] = [
    { name: `synthetic ${ROWS.toLocaleString('en-US')} × 28`, train: synthetic, target: 'label', positive: '1', threads: 2, reps: REPS, predict: true },
    { name: 'Adult', train: dataset('adult_train.csv'), test: dataset('adult_test.csv'), target: 'income', positive: '>50K', threads: 2, reps: REPS },
    { name: 'Taiwan credit default', train: dataset('credit_default.csv'), target: 'default_payment_next_month', positive: '1', drop: ['ID'], threads: 2, reps: REPS },
  ];
  const results = [];
  for (const spec of specs) {
    const file = `${OUT}gbdt-spec.json`;
    writeFileSync(file, JSON.stringify(spec));
    const child = `${OUT}gbdt-child.mjs`;
    writeFileSync(child, CHILD);
    const trellis = runJson(process.execPath, [child, file], `${spec.name}: Trellis`) as { fit_s: number[]; auc: number };
    const peers = runJson(PYTHON, [fileURLToPath(new URL('./gbdt_peers.py', import.meta.url)), file], `${spec.name}: scikit-learn and XGBoost`) as {
      sklearn: { fit_s: number[]; auc: number }; xgboost: { fit_s: number[]; auc: number }; rows: number;
    };
    const t = median(trellis.fit_s);
    const s = median(peers.sklearn.fit_s);
    const x = median(peers.xgboost.fit_s);
    const row = {
      dataset: spec.name, rows: peers.rows, trellis, sklearn: peers.sklearn, xgboost: peers.xgboost,
      time_vs_sklearn: t / s, time_vs_xgboost: t / x, auc_minus_sklearn: trellis.auc - peers.sklearn.auc,
    };
    results.push(row);
    console.log(`${spec.name}: Trellis ${fmt(t, 2)} s (AUC ${trellis.auc.toFixed(4)}) · scikit-learn ${fmt(s, 2)} s (AUC ${peers.sklearn.auc.toFixed(4)}) · XGBoost ${fmt(x, 2)} s (AUC ${peers.xgboost.auc.toFixed(4)}) → ${fmt(t / s, 2)}× scikit-learn's time, AUC ${row.auc_minus_sklearn >= 0 ? '+' : ''}${row.auc_minus_sklearn.toFixed(4)}`);
    const pr = trellis as { single_record_us?: { median: number }; batch_rows_per_s?: number };
    if (pr.single_record_us) console.log(`  prediction: one record ${fmt(pr.single_record_us.median, 2)} µs (median), batches ${fmt(pr.batch_rows_per_s! / 1e6, 2)} M rows/s`);
  }
  return results;
}
