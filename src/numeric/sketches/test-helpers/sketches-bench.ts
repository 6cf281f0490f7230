/**
 * Micro-benchmark of the sketches' update paths — a script, not a test:
 *   node --import tsx src/numeric/sketches/test-helpers/sketches-bench.ts
 * Prints the best of 5 runs of 1e6 updates each, in ns per update, after a warm-up run, and the
 * number of garbage collections during those runs (0 = nothing allocated per update).
 *
 * One run, Node 20.20, 2-vCPU container shared with other jobs (expect ±30% between runs):
 *   hashString64 (user-<i>, ~11 chars)            22 ns
 *   HyperLogLog.addNumber / addNumbers          18 / 13 ns   (5 / 0 GCs)
 *   HyperLogLog.addString / addStrings          27 / 25 ns
 *   KllSketch.update, k = 200, random order     36–39 ns     (ascending input: 12 ns)
 *   Histogram.add, 50 equal-width / uneven bins  5 / 27 ns
 *   TopK.add, capacity 1000, Zipf-like strings  74–80 ns     (all distinct: 166 ns; Map churn)
 *   Moments.add / addAll                          8 ns
 * The GCs of the value-at-a-time addNumber are the caller's loop boxing each double at a call
 * V8 chose not to inline; the column methods (addNumbers, updateAll, addAll) never do.
 */
import { HyperLogLog } from '../hyperloglog.js';
import { Histogram, histogramEdges } from '../histogram.js';
import { KllSketch } from '../kll.js';
import { Moments } from '../moments.js';
import { SeededRandom } from '../seeded-random.js';
import { TopK } from '../top-k.js';
import { hashString64 } from '../hash64.js';

const N = 1_000_000;
const random = new SeededRandom(1);
const uniform = Float64Array.from({ length: N }, () => random.next());
const normal = Float64Array.from({ length: N }, () => random.normal());
const ascending = Float64Array.from({ length: N }, (_, i) => i);
const distinct = Array.from({ length: N }, (_, i) => `user-${i}`);
const zipfTable = Array.from({ length: 100_000 }, (_, i) => `item-${i}`);
const zipf = Array.from({ length: N }, () => zipfTable[Math.min(zipfTable.length - 1, Math.floor(Math.pow(random.next(), -1 / 0.1)) - 1)]!);

let collections = 0;
new PerformanceObserver((list) => {
  collections += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

async function bench(name: string, run: () => void): Promise<void> {
  run();
  run();
  await settle();
  const before = collections;
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    run();
    best = Math.min(best, performance.now() - t0);
  }
  await settle();
  console.log(`${name.padEnd(48)} ${((best * 1e6) / N).toFixed(1).padStart(6)} ns/update   ${String(collections - before).padStart(3)} GCs`);
}

const hashOut = new Uint32Array(2);
await bench('hashString64 (user-<i>, ~11 chars)', () => {
  for (let i = 0; i < N; i++) hashString64(distinct[i]!, hashOut);
});
await bench('HyperLogLog.addNumber (p = 14)', () => {
  const s = new HyperLogLog();
  for (let i = 0; i < N; i++) s.addNumber(uniform[i]!);
});
await bench('HyperLogLog.addString (p = 14)', () => {
  const s = new HyperLogLog();
  for (let i = 0; i < N; i++) s.addString(distinct[i]!);
});
await bench('KllSketch.update (k = 200, uniform)', () => {
  const s = new KllSketch();
  for (let i = 0; i < N; i++) s.update(uniform[i]!);
});
await bench('KllSketch.update (k = 200, normal)', () => {
  const s = new KllSketch();
  for (let i = 0; i < N; i++) s.update(normal[i]!);
});
await bench('KllSketch.update (k = 200, ascending)', () => {
  const s = new KllSketch();
  for (let i = 0; i < N; i++) s.update(ascending[i]!);
});
await bench('Histogram.add (50 equal-width bins)', () => {
  const h = new Histogram(histogramEdges(-4, 4, 50));
  for (let i = 0; i < N; i++) h.add(normal[i]!);
});
await bench('Histogram.add (50 uneven bins, binary search)', () => {
  const edges = Array.from({ length: 51 }, (_, i) => -4 + 8 * (i / 50) ** 1.5);
  const h = new Histogram(edges);
  for (let i = 0; i < N; i++) h.add(normal[i]!);
});
await bench('TopK.add (capacity 1000, Zipf-like strings)', () => {
  const t = new TopK(1000);
  for (let i = 0; i < N; i++) t.add(zipf[i]!);
});
await bench('TopK.add (capacity 1000, all distinct)', () => {
  const t = new TopK(1000);
  for (let i = 0; i < N; i++) t.add(distinct[i]!);
});
await bench('HyperLogLog.addNumbers (column)', () => {
  new HyperLogLog().addNumbers(uniform);
});
await bench('HyperLogLog.addStrings (column)', () => {
  new HyperLogLog().addStrings(distinct);
});
await bench('KllSketch.updateAll (column, normal)', () => {
  new KllSketch().updateAll(normal);
});
await bench('Histogram.addAll (column, 50 equal-width bins)', () => {
  new Histogram(histogramEdges(-4, 4, 50)).addAll(normal);
});
await bench('TopK.addAll (column, Zipf-like strings)', () => {
  new TopK(1000).addAll(zipf);
});
await bench('Moments.addAll (column)', () => {
  new Moments().addAll(normal);
});
await bench('Moments.add', () => {
  const m = new Moments();
  for (let i = 0; i < N; i++) m.add(normal[i]!);
});
