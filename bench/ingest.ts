/**
 * Metric ingest through runs/log-batch over HTTP: batches of 1000 metrics, SQLite, one server
 * process, several concurrent clients. Goal: ≥ 100,000 points/s. Published anchors: the MLflow
 * Python server about 3.4k–8.4k points/s, its Go rewrite about 10.9k points/s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, peakRssMiB, progress, rssMiB, startServer } from './lib.js';

const BATCHES = Number(process.env.BENCH_BATCHES ?? 400);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const PER_BATCH = 1000;

export interface IngestResult { points: number; seconds: number; pointsPerSecond: number; clients: number; serverRssMiB: number; serverPeakRssMiB: number; p50BatchMs: number; p95BatchMs: number }

export async function runIngestBench(): Promise<IngestResult> {
  console.log(`\nmetric ingest: ${BATCHES} log-batch requests × ${PER_BATCH} metrics, ${CLIENTS} concurrent clients, SQLite`);
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-ingest-'));
  const server = await startServer({ store: `sqlite:${join(dir, 'bench.db')}`, artifacts: `file:${join(dir, 'artifacts')}`, port: 5103 });
  try {
    const post = (path: string, body: string) => fetch(`${server.url}/api/2.0/mlflow/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const runIds: string[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      const r = (await (await post('runs/create', JSON.stringify({ experiment_id: '0' }))).json()) as { run: { info: { run_id: string } } };
      runIds.push(r.run.info.run_id);
    }
    // Bodies are built before the clock starts: the client's JSON encoding is not the server's cost.
    const bodies = Array.from({ length: BATCHES }, (_, b) => JSON.stringify({
      run_id: runIds[b % CLIENTS],
      metrics: Array.from({ length: PER_BATCH }, (_, i) => ({ key: `metric_${i % 50}`, value: Math.sin(b * PER_BATCH + i), timestamp: 1_700_000_000_000 + b, step: Math.floor(b / CLIENTS) * 20 + Math.floor(i / 50) })),
    }));
    const latencies: number[] = [];
    let next = 0;
    let done = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      for (;;) {
        const b = next++;
        if (b >= BATCHES) return;
        const s = performance.now();
        const res = await post('runs/log-batch', bodies[b]!);
        if (res.status !== 200) throw new Error(`log-batch failed: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
        latencies.push(performance.now() - s);
        progress('batches', ++done, BATCHES);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const points = BATCHES * PER_BATCH;
    latencies.sort((a, b) => a - b);
    const result: IngestResult = {
      points, seconds, pointsPerSecond: points / seconds, clients: CLIENTS,
      serverRssMiB: await rssMiB(server.child.pid!), serverPeakRssMiB: await peakRssMiB(server.child.pid!),
      p50BatchMs: latencies[Math.floor(latencies.length * 0.5)]!, p95BatchMs: latencies[Math.floor(latencies.length * 0.95)]!,
    };
    // Everything acknowledged is there.
    const hist = (await (await fetch(`${server.url}/api/2.0/mlflow/metrics/get-history?run_id=${runIds[0]}&metric_key=metric_0`)).json()) as { metrics: unknown[] };
    if (hist.metrics.length !== (BATCHES / CLIENTS) * 20) throw new Error(`expected ${(BATCHES / CLIENTS) * 20} points of metric_0, found ${hist.metrics.length}`);
    console.log(`  ${fmt(points, 0)} points in ${fmt(seconds, 2)} s = ${fmt(result.pointsPerSecond, 0)} points/s  (batch p50 ${fmt(result.p50BatchMs)} ms, p95 ${fmt(result.p95BatchMs)} ms; server RSS ${fmt(result.serverRssMiB, 0)} MiB, peak ${fmt(result.serverPeakRssMiB, 0)} MiB)`);
    console.log(`  vs published anchors: ${fmt(result.pointsPerSecond / 8400, 1)}× MLflow Python server (8.4k/s, best case), ${fmt(result.pointsPerSecond / 10900, 1)}× the MLflow Go server (10.9k/s)`);
    return result;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runIngestBench();
