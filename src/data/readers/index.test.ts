import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { formatOf, readTable, readTableWithInference } from './index.js';
import { FIXTURES, allRows, rejectsWith, tempFile } from './test-helpers/data-files.js';

describe('readTable', () => {
  it('chooses the reader from the extension', () => {
    const expected = {
      'a.csv': 'csv', 'a.TSV': 'csv', 'a.txt': 'csv', 'a.jsonl': 'jsonl', 'a.ndjson': 'jsonl',
      'a.parquet': 'parquet', 'a.arrow': 'arrow', 'a.feather': 'arrow', 'a.ipc': 'arrow', 'a.xlsx': undefined,
    };
    for (const [path, format] of Object.entries(expected)) assert.equal(formatOf(path), format, path);
  });

  it('reads each format through one call', async () => {
    const rows = [{ a: 1, b: 'x' }, { a: 2, b: 'y' }];
    const files = [
      tempFile('t.csv', 'a,b\n1,x\n2,y\n'),
      tempFile('t.tsv', 'a\tb\n1\tx\n2\ty\n'),
      tempFile('t.txt', 'a;b\n1;x\n2;y\n'),
      tempFile('t.ndjson', '{"a":1,"b":"x"}\n{"a":2,"b":"y"}\n'),
      tempFile('t.ipc', tableToIPC(tableFromArrays({ a: Int32Array.from([1, 2]), b: ['x', 'y'] }), 'file')),
    ];
    for (const f of files) assert.deepEqual(allRows(await readTable(f)), rows, f);
    const parquet = await readTableWithInference(join(FIXTURES, 'types.parquet'));
    assert.equal(parquet.table.rowCount, 4);
    assert.equal(parquet.inference.length, 6);
  });

  it('reads a .tsv with tabs even when a comma is more common in its header', async () => {
    const path = tempFile('commas.tsv', 'a,1\tb,2\nx,y\tz\n');
    assert.deepEqual(allRows(await readTable(path)), [{ 'a,1': 'x,y', 'b,2': 'z' }]);
  });

  it('takes an explicit format over the extension', async () => {
    const path = tempFile('data.bin', readFileSync(join(FIXTURES, 'types.parquet')));
    assert.equal((await readTable(path, { format: 'parquet' })).rowCount, 4);
    const csv = tempFile('data.log', 'a\n1\n');
    assert.equal((await readTable(csv, { format: 'csv' })).rowCount, 1);
  });

  it('names an extension it cannot read and a format it does not know', async () => {
    const path = tempFile('sheet.xlsx', 'PK');
    await rejectsWith(readTable(path), 'TRELLIS_DATA_FORMAT', { file: path, message: /extension '\.xlsx' names no format.*pass format/ });
    await rejectsWith(readTable(path, { format: 'xlsx' as 'csv' }), 'TRELLIS_INVALID_PARAMETER', { message: /Unknown data format 'xlsx'/ });
  });
});
