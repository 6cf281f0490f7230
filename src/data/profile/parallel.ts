/**
 * Profiles a large table on two threads: the columns are split by cost (numeric columns feed three
 * sketches per value, string columns one per distinct value) and one share goes to a worker
 * thread. Readers keep large columns in shared memory, so the worker reads them without a copy.
 * Each column is profiled by the same code either way: the result equals `profileTable`'s.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { PROFILE_FORMAT, profileColumn, profileTable, type ColumnProfile, type Profile } from './profile.js';
import type { Column, Table } from '../table.js';

/** Below this many cells a worker's start-up costs more than it saves. */
const PARALLEL_MIN_CELLS = 2_000_000;
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = new URL(`./profile-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);

/** From source the worker registers tsx itself: loader flags do not reach a worker's entry module on Node 20. */
function startWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER);
  return new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(WORKER.href)}); })`, { eval: true });
}

const cost = (c: Column) => (c.type === 'string' ? c.codes.length * 0.1 : c.values.length);
const shared = (c: Column) => (c.type === 'string' ? c.codes.buffer : c.values.buffer) instanceof SharedArrayBuffer;

/** `threads` reports whether a worker took part (for tests and benchmarks). */
export let lastProfileThreads = 1;

export async function profileTableParallel(table: Table): Promise<Profile> {
  lastProfileThreads = 1;
  // Columns not in shared memory would have to be copied to be sent; those stay on this thread.
  const candidates = table.columns.map((c, i) => i).filter((i) => shared(table.columns[i]!));
  if (table.rowCount * table.columns.length < PARALLEL_MIN_CELLS || availableParallelism() < 2 || candidates.length < 2) {
    return profileTable(table);
  }
  const worker = startWorker();
  try {
    // Greedy split of the shareable columns, heaviest first; the worker takes a little less (it starts cold).
    const order = candidates.sort((a, b) => cost(table.columns[b]!) - cost(table.columns[a]!));
    const theirs: number[] = [];
    let mine = table.columns.reduce((sum, c, i) => sum + (candidates.includes(i) ? 0 : cost(c)), 0);
    let other = 0;
    const kept: number[] = table.columns.map((_, i) => i).filter((i) => !candidates.includes(i));
    for (const i of order) {
      if (mine <= other * 0.85) { kept.push(i); mine += cost(table.columns[i]!); } else { theirs.push(i); other += cost(table.columns[i]!); }
    }
    const done = new Promise<ColumnProfile[]>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`profiling worker exited with code ${code}`)));
    });
    worker.postMessage(theirs.map((i) => table.columns[i]!));
    const out = new Array<ColumnProfile>(table.columns.length);
    for (const i of kept) out[i] = profileColumn(table.columns[i]!);
    const back = await done;
    lastProfileThreads = 2;
    theirs.forEach((i, k) => (out[i] = back[k]!));
    return { format: PROFILE_FORMAT, rows: table.rowCount, columns: out };
  } finally {
    await worker.terminate();
  }
}
