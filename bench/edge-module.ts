/**
 * The edge export (`trellis export --format js`): the Adult GBDT (100 trees, the trainer's
 * defaults, trained on test/data/adult_train.csv) written as an ES module. Figures: the module's
 * size raw and gzipped (level 9) beside the model document's, the time to import it, and the
 * latency of one record and the rate of a 1,000-record batch through the module's
 * predict()/predictBatch() and through the in-process predict() of src/ml/model.ts, side by side in
 * one process, their rounds alternating. Records are the held-out file's rows (test/data/adult_test.csv), taken in turn;
 * single-record figures are the medians of BENCH_EDGE_ROUNDS rounds of BENCH_EDGE_CALLS calls each,
 * after a warm-up.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readTable } from '../src/data/readers/index.js';
import { rowAt } from '../src/data/table.js';
import { exportJsModule } from '../src/ml/export-js.js';
import { predict } from '../src/ml/model.js';
import { train } from '../src/ml/train.js';
import { fmt } from './lib.js';

const ROUNDS = Number(process.env.BENCH_EDGE_ROUNDS ?? 15);
const CALLS = Number(process.env.BENCH_EDGE_CALLS ?? 2_000);
const BATCH = 1_000;
const ADULT_TRAIN = fileURLToPath(new URL('../test/data/adult_train.csv', import.meta.url));
const ADULT_TEST = fileURLToPath(new URL('../test/data/adult_test.csv', import.meta.url));

type Rec = Record<string, unknown>;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** µs per call of each function over the records in turn: rounds alternate between them, so both see the same machine; medians. */
function perCall(fs: ((r: Rec) => unknown)[], records: Rec[]): number[] {
  for (const f of fs) for (let i = 0; i < CALLS; i++) f(records[i % records.length]!);
  const rounds: number[][] = fs.map(() => []);
  for (let k = 0; k < ROUNDS; k++) {
    fs.forEach((f, j) => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < CALLS; i++) f(records[(k * CALLS + i) % records.length]!);
      rounds[j]!.push(Number(process.hrtime.bigint() - t) / 1000 / CALLS);
    });
  }
  return rounds.map(median);
}

/** Rows/s of each function on batches of BATCH records, alternating as perCall does; medians. */
function perBatch(fs: ((rs: Rec[]) => unknown)[], records: Rec[]): number[] {
  const batches = Array.from({ length: ROUNDS }, (_, k) => Array.from({ length: BATCH }, (_, i) => records[(k * BATCH + i) % records.length]!));
  for (const f of fs) f(batches[0]!);
  const rates: number[][] = fs.map(() => []);
  for (const b of batches) {
    fs.forEach((f, j) => {
      const t = process.hrtime.bigint();
      f(b);
      rates[j]!.push(BATCH / (Number(process.hrtime.bigint() - t) / 1e9));
    });
  }
  return rates.map(median);
}

export async function runEdgeModuleBench() {
  const { model } = await train(await readTable(ADULT_TRAIN), 'income', 'gbdt', { trees: 100 });
  const test = await readTable(ADULT_TEST);
  const records = Array.from({ length: test.rowCount }, (_, i) => rowAt(test, i));
  const text = exportJsModule(model, { name: 'adult', version: '1' });
  const document = JSON.stringify(model);
  const size = {
    moduleBytes: Buffer.byteLength(text), moduleGzipBytes: gzipSync(text, { level: 9 }).length,
    documentBytes: Buffer.byteLength(document), documentGzipBytes: gzipSync(document, { level: 9 }).length,
  };
  const dir = mkdtempSync(join(tmpdir(), 'trellis-edge-bench-'));
  try {
    const file = join(dir, 'adult.mjs');
    writeFileSync(file, text);
    const t = process.hrtime.bigint();
    const mod = (await import(pathToFileURL(file).href)) as { predict(r: Rec): unknown; predictBatch(rs: Rec[]): unknown[] };
    const importMs = Number(process.hrtime.bigint() - t) / 1e6;
    const [moduleUs, inProcessUs] = perCall([(r) => mod.predict(r), (r) => predict(model, [r])], records);
    const single = { moduleUs: moduleUs!, inProcessUs: inProcessUs! };
    const [moduleRowsPerS, inProcessRowsPerS] = perBatch([(rs) => mod.predictBatch(rs), (rs) => predict(model, rs)], records);
    const batch = { moduleRowsPerS: moduleRowsPerS!, inProcessRowsPerS: inProcessRowsPerS! };
    console.log(`Adult GBDT, 100 trees: module ${size.moduleBytes} bytes (${size.moduleGzipBytes} gzipped), model document ${size.documentBytes} (${size.documentGzipBytes}); import ${fmt(importMs)} ms`);
    console.log(`one record: module ${fmt(single.moduleUs, 2)} µs, in-process predict() ${fmt(single.inProcessUs, 2)} µs`);
    console.log(`batches of ${BATCH}: module ${fmt(batch.moduleRowsPerS / 1e3)} k rows/s, in-process predict() ${fmt(batch.inProcessRowsPerS / 1e3)} k rows/s`);
    const load = loadavg().map((l) => Number(l.toFixed(2)));
    console.log(`load average ${load.join(', ')}`);
    return { size, importMs, single, batch, rounds: ROUNDS, calls: CALLS, loadavg: load };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
