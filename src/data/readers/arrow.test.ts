import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  Bool, DateDay, Dictionary, Field, Float32, Float64, Int32, Int64, Int8, List, Schema, Table as ArrowTable,
  TimestampMicrosecond, TimestampMillisecond, Uint16, Utf8, tableToIPC, vectorFromArray, type DataType, type Vector,
} from 'apache-arrow';
import { readArrow, readArrowWithInference } from './arrow.js';
import { readCsv } from './csv.js';
import { readTable } from './index.js';
import { column, nullCount, tableSchema, valueAt, type Table } from '../table.js';
import { FIXTURES, allRows, assertSameTable, rejectsWith, tempFile } from './test-helpers/data-files.js';

/** Our table as an Arrow table: integers Int32, floats Float64, strings dictionary-encoded. */
function toArrow(t: Table): ArrowTable {
  const vectors: Record<string, Vector> = {};
  for (const c of t.columns) {
    const values = Array.from({ length: t.rowCount }, (_, i) => valueAt(c, i));
    const type: DataType = c.type === 'integer' ? new Int32() : c.type === 'float' ? new Float64() : c.type === 'boolean'
      ? new Bool() : c.type === 'datetime' ? new TimestampMillisecond() : new Dictionary(new Utf8(), new Int32());
    vectors[c.name] = vectorFromArray(c.type === 'datetime' ? values.map((v) => (v === null ? null : new Date(v as string))) : values, type);
  }
  return new ArrowTable(vectors);
}

describe('readArrow', () => {
  it('reads the Adult sample written as an Arrow IPC file and as a stream', async () => {
    const csv = await readCsv(join(FIXTURES, 'adult_train_head200.csv'));
    for (const format of ['file', 'stream'] as const) {
      const path = tempFile(`adult.${format}.arrow`, tableToIPC(toArrow(csv), format));
      const back = await readArrow(path);
      assertSameTable(back, csv);
      assert.equal(nullCount(column(back, 'workclass')), 10);
    }
  });

  it('round-trips datetimes, floats and booleans (the Bike Sharing sample)', async () => {
    const csv = await readCsv(join(FIXTURES, 'bike_sharing_hourly_head100.csv'));
    const path = tempFile('bike.feather', tableToIPC(toArrow(csv), 'file'));
    assertSameTable(await readTable(path), csv);
  });

  it('maps Arrow types to column types', async () => {
    const t = new ArrowTable({
      i8: vectorFromArray([1, null, -3], new Int8()),
      u16: vectorFromArray([1, 2, 65535], new Uint16()),
      i64: vectorFromArray([1n, null, 9007199254740993n], new Int64()),
      f32: vectorFromArray([0.5, NaN, null], new Float32()),
      day: vectorFromArray([new Date(Date.UTC(2020, 1, 29)), null, new Date(0)], new DateDay()),
      us: vectorFromArray([new Date(1500), null, new Date(-1000)], new TimestampMicrosecond()),
      s: vectorFromArray(['a', null, 'b'], new Utf8()),
      list: vectorFromArray([[1, 2], null, []], new List(new Field('item', new Int32(), true))),
    });
    const path = tempFile('types.arrow', tableToIPC(t, 'stream'));
    const { table, inference } = await readArrowWithInference(path);
    assert.deepEqual(tableSchema(table), {
      i8: 'integer', u16: 'integer', i64: 'string', f32: 'float', day: 'datetime', us: 'datetime', s: 'string', list: 'string',
    });
    assert.deepEqual(allRows(table), [
      { i8: 1, u16: 1, i64: '1', f32: 0.5, day: '2020-02-29T00:00:00.000Z', us: '1970-01-01T00:00:01.500Z', s: 'a', list: '[1,2]' },
      { i8: null, u16: 2, i64: null, f32: null, day: null, us: null, s: null, list: null },
      { i8: -3, u16: 65535, i64: '9007199254740993', f32: null, day: '1970-01-01T00:00:00.000Z', us: '1969-12-31T23:59:59.000Z', s: 'b', list: '[]' },
    ]);
    assert.equal(inference[2]!.typeBreak?.value, '9007199254740993');
  });

  it('reads many record batches, chosen columns, and stops at maxRows', async () => {
    const [first, ...rest] = [0, 1, 2].map((b) => new ArrowTable({
      x: vectorFromArray([b * 2, b * 2 + 1], new Int32()),
      y: vectorFromArray([`r${b * 2}`, `r${b * 2 + 1}`], new Utf8()),
    }));
    const all = first!.concat(...rest);
    assert.equal(all.batches.length, 3);
    const path = tempFile('batches.arrows', tableToIPC(all, 'stream'));
    assert.deepEqual(allRows(await readArrow(path)).map((r) => r.x), [0, 1, 2, 3, 4, 5]);
    const some = await readArrow(path, { columns: ['y'], maxRows: 3 });
    assert.deepEqual(allRows(some), [{ y: 'r0' }, { y: 'r1' }, { y: 'r2' }]);
    await rejectsWith(readArrow(path, { columns: ['z'] }), 'TRELLIS_DATA_COLUMN_NOT_FOUND', { message: /'z'.*x, y/ });
  });

  it('reads a stream with a schema and no batches as an empty table', async () => {
    const schema = new Schema([new Field('x', new Float64())]);
    const path = tempFile('empty.arrow', tableToIPC(new ArrowTable(schema), 'stream'));
    const t = await readArrow(path);
    assert.equal(t.rowCount, 0);
    assert.deepEqual(tableSchema(t), { x: 'float' });
  });

  it('calls truncated and foreign files what they are, naming them', async () => {
    const csv = await readCsv(join(FIXTURES, 'adult_train_head200.csv'));
    const bytes = tableToIPC(toArrow(csv), 'file');
    const stream = tableToIPC(toArrow(csv), 'stream');
    for (const [name, cut] of [['file', bytes.subarray(0, bytes.length - 10)], ['file', bytes.subarray(0, bytes.length / 2)],
      ['file', bytes.subarray(0, 7)], ['stream', stream.subarray(0, stream.length / 2)], ['stream', stream.subarray(0, 7)]] as const) {
      const path = tempFile(`cut-${name}-${cut.length}.arrow`, cut);
      await rejectsWith(readArrow(path), 'TRELLIS_DATA_FORMAT', { file: path, message: /cannot be read as Arrow IPC: truncated or not an Arrow IPC file/ });
    }
    await rejectsWith(readArrow(tempFile('zero.arrow', '')), 'TRELLIS_DATA_EMPTY', { message: /the file is empty/ });
    const notArrow = tempFile('renamed.arrow', 'a,b\n1,2\n');
    await rejectsWith(readArrow(notArrow), 'TRELLIS_DATA_FORMAT', { file: notArrow });
    await rejectsWith(readArrow('/nonexistent/trellis/x.arrow'), 'TRELLIS_DATA_FILE_NOT_FOUND');
  });
});
