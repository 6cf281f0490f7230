/*
 * Fixtures: `fixtures/adult_train_head200.parquet` and `fixtures/types.parquet` were written with
 * hyparquet-writer 0.17 (Debian 12 has no python3-pyarrow and PyPI is not reachable here), by
 * the script in fixtures/README.md: the Adult sample with INT32 and nullable STRING columns in row
 * groups of 64 rows, and a 4-row file with INT32, INT64 (one value past 2^53), nullable DOUBLE,
 * STRING, BOOLEAN and TIMESTAMP(millis) columns, Snappy-compressed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { readParquet, readParquetWithInference } from './parquet.js';
import { readCsv } from './csv.js';
import { column, nullCount, tableSchema } from '../table.js';
import { FIXTURES, allRows, assertSameTable, rejectsWith, tempFile } from './test-helpers/data-files.js';

describe('readParquet', () => {
  it('maps Parquet types to column types', async () => {
    const { table, inference } = await readParquetWithInference(join(FIXTURES, 'types.parquet'));
    assert.deepEqual(tableSchema(table), {
      id: 'integer', big: 'string', score: 'float', label: 'string', flag: 'boolean', at: 'datetime',
    });
    assert.deepEqual(allRows(table), [
      { id: 1, big: '1', score: 0.5, label: 'a', flag: true, at: '2011-01-01T00:00:00.000Z' },
      { id: 2, big: '-2', score: null, label: 'b', flag: false, at: '2012-12-31T23:59:59.500Z' },
      { id: 3, big: '3', score: -1.25, label: null, flag: null, at: null },
      { id: 4, big: '9007199254740993', score: 1e10, label: 'a', flag: true, at: '1970-01-01T00:00:00.000Z' },
    ]);
    // An INT64 past 2^53 keeps its digits as text, and the inference says which value did it.
    assert.deepEqual(inference[1]!.typeBreak, {
      line: 4, value: '9007199254740993', wouldBe: 'integer',
      reason: '9007199254740993 is beyond ±2^53, which a float64 cannot hold exactly, so the column is kept as text',
    });
  });

  it('reads the Adult sample to the same table as its CSV, across row groups', async () => {
    const parquet = await readParquet(join(FIXTURES, 'adult_train_head200.parquet'));
    assertSameTable(parquet, await readCsv(join(FIXTURES, 'adult_train_head200.csv')));
    assert.equal(nullCount(column(parquet, 'workclass')), 10);
  });

  it('reads chosen columns and stops at maxRows', async () => {
    const t = await readParquet(join(FIXTURES, 'adult_train_head200.parquet'), { columns: ['income', 'age'], maxRows: 70 });
    assert.deepEqual(t.columns.map((c) => c.name), ['income', 'age']);
    assert.equal(t.rowCount, 70);
    await rejectsWith(readParquet(join(FIXTURES, 'types.parquet'), { columns: ['nope'] }), 'TRELLIS_DATA_COLUMN_NOT_FOUND', { message: /'nope'/ });
  });

  it('decompresses codecs other than Snappy', async () => {
    const bytes = parquetWriteBuffer({
      columnData: [{ name: 'x', data: Float64Array.from({ length: 1000 }, (_, i) => i / 4), type: 'DOUBLE', nullable: false }],
      codec: 'GZIP',
      compressors: { GZIP: (input: Uint8Array) => gzipSync(input) },
    });
    const t = await readParquet(tempFile('gzip.parquet', new Uint8Array(bytes)));
    assert.equal(t.rowCount, 1000);
    assert.equal(allRows(t)[999]!.x, 249.75);
  });

  it('calls a truncated file truncated, naming it', async () => {
    const bytes = readFileSync(join(FIXTURES, 'adult_train_head200.parquet'));
    for (const keep of [bytes.length - 1, Math.floor(bytes.length / 2), 100, 5]) {
      const path = tempFile(`cut-${keep}.parquet`, bytes.subarray(0, keep));
      await rejectsWith(readParquet(path), 'TRELLIS_DATA_FORMAT', { file: path, message: /cannot be read as Parquet: truncated or not a Parquet file/ });
    }
    const empty = tempFile('zero.parquet', '');
    await rejectsWith(readParquet(empty), 'TRELLIS_DATA_EMPTY', { file: empty, message: /the file is empty/ });
  });

  it('calls a file that is not Parquet so, and reports corrupt data without crashing', async () => {
    const csv = join(FIXTURES, 'adult_train_head200.csv');
    const notParquet = tempFile('renamed.parquet', readFileSync(csv));
    await rejectsWith(readParquet(notParquet), 'TRELLIS_DATA_FORMAT', { file: notParquet, message: /cannot be read as Parquet: truncated or not a Parquet file/ });
    // Valid magic and footer around damaged pages.
    const bytes = Buffer.from(readFileSync(join(FIXTURES, 'adult_train_head200.parquet')));
    bytes.fill(0xff, 4, 2000);
    const damaged = tempFile('damaged.parquet', bytes);
    await rejectsWith(readParquet(damaged), 'TRELLIS_DATA_FORMAT', { file: damaged });
  });

  it('names a missing file', async () => {
    await rejectsWith(readParquet('/nonexistent/trellis/x.parquet'), 'TRELLIS_DATA_FILE_NOT_FOUND', { file: '/nonexistent/trellis/x.parquet' });
  });
});
