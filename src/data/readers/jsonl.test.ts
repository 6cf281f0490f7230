import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readJsonl, readJsonlWithInference } from './jsonl.js';
import { readCsv } from './csv.js';
import { column, rowAt, tableSchema } from '../table.js';
import { FIXTURES, allRows, assertSameTable, dataset, rejectsWith, tempFile } from './test-helpers/data-files.js';

/** A table written out as JSON Lines, one object per row, as `rowAt` gives them. */
function toJsonl(t: Awaited<ReturnType<typeof readCsv>>): string {
  return `${Array.from({ length: t.rowCount }, (_, i) => JSON.stringify(rowAt(t, i))).join('\n')}\n`;
}

describe('readJsonl', () => {
  it('reads objects into typed columns, keys in order of first appearance', async () => {
    const path = tempFile('rows.jsonl', [
      '{"id": 1, "score": 0.5, "ok": true, "at": "2020-01-01T00:00:00Z", "code": "007"}',
      '',
      '{"id": 2, "score": 2, "ok": false, "at": null, "code": "010", "extra": [1, {"a": 2}]}',
      '{"score": null, "id": 3}\r',
    ].join('\n'));
    const t = await readJsonl(path);
    assert.deepEqual(tableSchema(t), { id: 'integer', score: 'float', ok: 'boolean', at: 'datetime', code: 'string', extra: 'string' });
    assert.deepEqual(allRows(t), [
      { id: 1, score: 0.5, ok: true, at: '2020-01-01T00:00:00.000Z', code: '007', extra: null },
      { id: 2, score: 2, ok: false, at: null, code: '010', extra: '[1,{"a":2}]' },
      { id: 3, score: null, ok: null, at: null, code: null, extra: null },
    ]);
  });

  it('makes a key with numbers and strings a string column and says where it turned', async () => {
    const path = tempFile('mixed.jsonl', '{"v": 1}\n{"v": 2.5}\n{"v": "n/a"}\n');
    const { table, inference } = await readJsonlWithInference(path);
    assert.deepEqual(allRows(table).map((r) => r.v), ['1', '2.5', 'n/a']);
    assert.equal(inference[0]!.typeBreak!.line, 3);
    assert.equal(inference[0]!.typeBreak!.value, 'n/a');
  });

  it('imposes types, naming the line and key of a value that does not fit', async () => {
    const path = tempFile('typed.jsonl', '{"n": "1"}\n{"a": 1, "n": "x"}\n');
    await rejectsWith(readJsonl(path, { types: { n: 'integer' } }), 'TRELLIS_DATA_PARSE', {
      file: path, line: 2, column: 10, message: /'x' in column 'n' is not an integer/,
    });
  });

  it('names the line and column of bad JSON', async () => {
    const path = tempFile('bad.jsonl', '{"a": 1}\n{"a": 2,}\n');
    await rejectsWith(readJsonl(path), 'TRELLIS_DATA_PARSE', { file: path, line: 2, column: 9, message: /invalid JSON/ });
  });

  it('names the line of a value that is not an object', async () => {
    const path = tempFile('array.jsonl', '{"a": 1}\n\n  [1, 2]\n');
    await rejectsWith(readJsonl(path), 'TRELLIS_DATA_PARSE', {
      file: path, line: 3, column: 3, message: /expected a JSON object, found an array/,
    });
    await rejectsWith(readJsonl(tempFile('number.jsonl', '42\n')), 'TRELLIS_DATA_PARSE', { message: /found a number/ });
  });

  it('names the line and byte offset of invalid UTF-8', async () => {
    const path = tempFile('latin1.jsonl', Buffer.concat([Buffer.from('{"a": "ok"}\n{"a": "caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]));
    await rejectsWith(readJsonl(path), 'TRELLIS_DATA_PARSE', { file: path, line: 2, column: 11, message: /byte offset 22/ });
  });

  it('calls a file without objects empty', async () => {
    await rejectsWith(readJsonl(tempFile('empty.jsonl', '\n \n')), 'TRELLIS_DATA_EMPTY', { message: /no JSON object/ });
  });

  it('reads lines longer than a read chunk and stops at maxRows', async () => {
    const long = 'y'.repeat(3 << 20);
    const path = tempFile('long.jsonl', `{"s": "${long}"}\n{"s": "b"}\n{"s": "c"}\n`);
    const t = await readJsonl(path);
    assert.equal(t.rowCount, 3);
    assert.equal((rowAt(t, 0).s as string).length, long.length);
    assert.equal((await readJsonl(path, { maxRows: 2 })).rowCount, 2);
  });

  it('round-trips the Adult sample through JSON Lines', async () => {
    const csv = await readCsv(join(FIXTURES, 'adult_train_head200.csv'));
    assertSameTable(await readJsonl(tempFile('adult.jsonl', toJsonl(csv))), csv);
  });

  it('round-trips the full datasets through JSON Lines', async () => {
    for (const name of ['adult_train', 'bike_sharing_hourly', 'occupancy'] as const) {
      const csv = await readCsv(dataset(`${name}.csv`));
      const back = await readJsonl(tempFile(`${name}.jsonl`, toJsonl(csv)));
      // JSON writes 1.0 as 1, so a float column whose values are all whole comes back integer.
      for (const c of back.columns) if (c.type !== column(csv, c.name).type) assert.equal(c.type, 'integer', c.name);
      assert.equal(back.rowCount, csv.rowCount);
      for (let i = 0; i < csv.rowCount; i += 97) assert.deepEqual(rowAt(back, i), rowAt(csv, i));
    }
  });
});
