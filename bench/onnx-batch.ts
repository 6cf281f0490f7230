/**
 * Micro-batching of ONNX models in `trellis serve` (src/serving/micro-batch.ts): the Adult GBDT
 * (100 trees, trained on test/data/adult_train.csv), exported to ONNX and imported back, loaded as
 * the serving engine loads a version, once micro-batched (the default: up to 256 rows, 2 ms) and
 * once running each request on its own. 32 clients in one process each send single-row requests
 * (the held-out file's rows, in turn) one after another, the next as soon as the last answered.
 * Figures: requests/s and the latency of a request (p50, p95), medians over BENCH_ONNX_ROUNDS
 * rounds of BENCH_ONNX_REQUESTS requests per client, the two modes alternating, after a warm-up;
 * and the latency of a lone client's requests (p50), which batching must not delay.
 */
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readTable } from '../src/data/readers/index.js';
import { rowAt } from '../src/data/table.js';
import { exportOnnx } from '../src/ml/onnx/export.js';
import { importOnnx } from '../src/ml/onnx/import.js';
import { train } from '../src/ml/train.js';
import { DEFAULT_BATCH, loadVersion, type LoadedModel } from '../src/serving/model-runtime.js';
import type { ModelVersion } from '../src/store/ports/registry.js';
import { fmt, percentile } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ONNX_ROUNDS ?? 7);
const PER_CLIENT = Number(process.env.BENCH_ONNX_REQUESTS ?? 200);
const CLIENTS = 32;
const ADULT_TRAIN = fileURLToPath(new URL('../test/data/adult_train.csv', import.meta.url));
const ADULT_TEST = fileURLToPath(new URL('../test/data/adult_test.csv', import.meta.url));

type Rec = Record<string, unknown>;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One round: CLIENTS closed-loop clients; requests/s and the latencies in ms, ascending. */
async function round(m: LoadedModel, records: Rec[], offset: number, clients = CLIENTS): Promise<{ rps: number; latencies: number[] }> {
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; i < PER_CLIENT; i++) {
      const t = performance.now();
      await m.predict([records[(offset + c * PER_CLIENT + i) % records.length]!]);
      latencies.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  return { rps: (clients * PER_CLIENT) / seconds, latencies: latencies.sort((a, b) => a - b) };
}

export async function runOnnxBatchBench() {
  const { model } = await train(await readTable(ADULT_TRAIN), 'income', 'gbdt', { trees: 100 });
  const document = Buffer.from(JSON.stringify(await importOnnx(exportOnnx(model))));
  const test = await readTable(ADULT_TEST);
  const records = Array.from({ length: test.rowCount }, (_, i) => rowAt(test, i));
  const v = { name: 'adult', version: '1' } as ModelVersion;
  const modes: [string, LoadedModel][] = [
    ['batched', await loadVersion(v, async () => document, DEFAULT_BATCH)],
    ['unbatched', await loadVersion(v, async () => document, false)],
  ];
  for (const [, m] of modes) await round(m, records, 0);
  const figures = new Map(modes.map(([name]) => [name, { rps: [] as number[], p50: [] as number[], p95: [] as number[], loneP50: [] as number[] }]));
  for (let k = 0; k < ROUNDS; k++) {
    for (const [name, m] of modes) {
      const r = await round(m, records, k * CLIENTS * PER_CLIENT);
      const lone = await round(m, records, k * PER_CLIENT, 1);
      const f = figures.get(name)!;
      f.rps.push(r.rps);
      f.p50.push(percentile(r.latencies, 50));
      f.p95.push(percentile(r.latencies, 95));
      f.loneP50.push(percentile(lone.latencies, 50));
    }
  }
  const result: Record<string, { requestsPerS: number; p50Ms: number; p95Ms: number; loneP50Ms: number }> = {};
  for (const [name, f] of figures) {
    const r = { requestsPerS: median(f.rps), p50Ms: median(f.p50), p95Ms: median(f.p95), loneP50Ms: median(f.loneP50) };
    result[name] = r;
    console.log(`${name}: ${fmt(r.requestsPerS, 0)} requests/s, latency p50 ${fmt(r.p50Ms, 2)} ms, p95 ${fmt(r.p95Ms, 2)} ms; one client alone p50 ${fmt(r.loneP50Ms, 3)} ms`);
  }
  const speedup = result.batched!.requestsPerS / result.unbatched!.requestsPerS;
  console.log(`${CLIENTS} concurrent single-row requests, Adult GBDT (100 trees) in onnxruntime: batched ÷ unbatched ${fmt(speedup, 2)}× the throughput`);
  const load = loadavg().map((l) => Number(l.toFixed(2)));
  console.log(`load average ${load.join(', ')}`);
  return { clients: CLIENTS, requestsPerClient: PER_CLIENT, rounds: ROUNDS, batch: DEFAULT_BATCH, ...result, speedup, loadavg: load };
}
