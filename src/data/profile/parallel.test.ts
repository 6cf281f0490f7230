import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromRows } from '../table.js';
import { profileTable } from './profile.js';
import { lastProfileThreads, profileTableParallel } from './parallel.js';

describe('profiling on two threads', () => {
  it('gives exactly the profile of one thread, on a table large enough to use the worker', async () => {
    const rows = Array.from({ length: 220_000 }, (_, i) => ({
      a: i, b: Math.sin(i) * 100, c: i % 7 === 0 ? null : (i * 13) % 1000, d: ['x', 'y', 'z'][i % 3]!, e: i % 2 === 0,
      f: Math.sqrt(i), g: (i % 101) / 3, h: -i, k: i % 10, l: `id-${i % 5000}`,
    }));
    const table = tableFromRows(rows);
    assert.ok(table.columns.some((c) => (c.type === 'string' ? c.codes.buffer : c.values.buffer) instanceof SharedArrayBuffer), 'large columns are in shared memory');
    const one = profileTable(table);
    const two = await profileTableParallel(table);
    assert.equal(lastProfileThreads, 2, 'a worker thread profiled part of the columns');
    assert.deepEqual(two, one);
  });
});
