/**
 * Every reader takes bytes and streams as well as paths, and reads them to the same table: data
 * already in memory (a dataset version from the artifact store) is never written to a temporary
 * file to be read back.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { readCsvTables, readTableWithInference, type DataFormat } from './index.js';
import type { DataSource } from './source.js';
import { FIXTURES, allRows, rejectsWith, tempFile } from './test-helpers/data-files.js';

/** Uneven chunks, so no reader can count on a chunk ending at a line or a record batch. */
function oddChunks(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0, n = 1; off < bytes.length; off += n, n = (n * 7 + 13) % 4099 + 1) out.push(bytes.subarray(off, off + n));
  return out;
}

function sourcesOf(path: string, format: DataFormat): Array<[string, DataSource, DataFormat | undefined]> {
  const bytes = readFileSync(path);
  return [
    ['bytes with a name', { bytes, name: path }, undefined],
    ['bare bytes', new Uint8Array(bytes), format],
    ['a stream with a name', { stream: Readable.from(oddChunks(bytes)), name: path }, undefined],
    ['a bare stream', Readable.from(oddChunks(bytes)), format],
    ['an async generator', (async function* () { yield* oddChunks(bytes); })(), format],
  ];
}

describe('readers take bytes and streams', () => {
  const files: Array<[string, DataFormat]> = [
    [join(FIXTURES, 'adult_train_head200.csv'), 'csv'],
    [join(FIXTURES, 'bike_sharing_hourly_head100.csv'), 'csv'],
    [join(FIXTURES, 'adult_train_head200.parquet'), 'parquet'],
    [join(FIXTURES, 'types.parquet'), 'parquet'],
    [tempFile('mixed.csv', 'id,code\n1,007\n2,12\n3,x9\n'), 'csv'],
    [tempFile('tabs.tsv', 'a,1\tb\nx,y\t2\n'), 'csv'],
    [tempFile('rows.jsonl', '{"a":1,"b":"x","t":"2024-01-02T03:04:05Z"}\n{"a":2.5,"c":[1,2]}\n'), 'jsonl'],
    [tempFile('t.arrow', tableToIPC(tableFromArrays({ a: Int32Array.from([1, 2, 3]), b: ['x', 'y', 'z'] }), 'file')), 'arrow'],
    [tempFile('t.arrows', tableToIPC(tableFromArrays({ f: Float64Array.from([0.5, NaN]) }), 'stream')), 'arrow'],
  ];
  for (const [path, format] of files) {
    it(`reads ${path.slice(path.lastIndexOf('/') + 1)} the same from a path, bytes and streams`, async () => {
      const expected = await readTableWithInference(path);
      for (const [what, source, given] of sourcesOf(path, format)) {
        // A bare source has no name to tell a .tsv by, so it is told the delimiter, as a caller would.
        const delimiter = given && path.endsWith('.tsv') ? '\t' : undefined;
        const got = await readTableWithInference(source, { format: given, delimiter });
        assert.deepEqual(allRows(got.table), allRows(expected.table), what);
        assert.deepEqual(got.inference, expected.inference, what);
      }
    });
  }

  it('streams a CSV in batches from a stream', async () => {
    const text = `n\n${Array.from({ length: 1000 }, (_, i) => i).join('\n')}\n`;
    const batches = [];
    for await (const b of readCsvTables(Readable.from(oddChunks(Buffer.from(text))), { batchSize: 300 })) batches.push(b.table.rowCount);
    assert.deepEqual(batches, [300, 300, 300, 100]);
  });

  it('names the source in errors: the given name, else what it is', async () => {
    const name = 'datasets/iris/0a1b.csv';
    await rejectsWith(readTableWithInference({ bytes: Buffer.from('a,b\n'), name }), 'TRELLIS_DATA_EMPTY', { file: name });
    await rejectsWith(readTableWithInference(Buffer.from('a,b\n'), { format: 'csv' }), 'TRELLIS_DATA_EMPTY', { file: '(bytes)' });
    await rejectsWith(readTableWithInference(Readable.from([Buffer.from('{"a":1}\nnot json\n')]), { format: 'jsonl' }), 'TRELLIS_DATA_PARSE', { file: '(stream)', line: 2, column: 1 });
    await rejectsWith(readTableWithInference({ bytes: Buffer.alloc(0), name: 'x.parquet' }), 'TRELLIS_DATA_EMPTY', { file: 'x.parquet' });
    await rejectsWith(readTableWithInference({ bytes: Buffer.from('PAR1 but cut off'), name: 'x.parquet' }), 'TRELLIS_DATA_FORMAT', { file: 'x.parquet', message: /does not end with PAR1/ });
    await rejectsWith(readTableWithInference({ bytes: Buffer.alloc(0), name: 'x.arrow' }), 'TRELLIS_DATA_EMPTY', { file: 'x.arrow' });
    await rejectsWith(readTableWithInference(Buffer.from('a\n1\n')), 'TRELLIS_DATA_FORMAT', { file: '(bytes)', message: /pass format/ });
  });
});
