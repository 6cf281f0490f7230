import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isTrellisError, type ErrorCode } from '../core/errors.js';
import {
  TableBuilder, column, concatTables, makeTable, nullCount, rowAt, selectColumns, sliceRows, tableFromRows,
  tableSchema, toStringColumn, type NumericColumn, type StringColumn, type Table,
} from './table.js';

function rows(t: Table) {
  return Array.from({ length: t.rowCount }, (_, i) => rowAt(t, i));
}

function build(names: string[], cells: (string | null)[][], options = {}) {
  const b = new TableBuilder(names, options);
  b.append({ columns: cells });
  return b;
}

function assertTrellis(fn: () => unknown, code: ErrorCode, pattern?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isTrellisError(e), String(e));
    assert.equal(e.code, code);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

describe('Table storage', () => {
  it('keeps numbers in float64 with a validity mask and strings dictionary-encoded', () => {
    const t = tableFromRows([{ a: 1, s: 'x' }, { a: null, s: 'y' }, { a: 3, s: 'x' }, { a: 4, s: null }]);
    const a = column(t, 'a') as NumericColumn;
    assert.equal(a.type, 'integer');
    assert.ok(a.values instanceof Float64Array);
    assert.deepEqual([...a.valid], [1, 0, 1, 1]);
    assert.ok(Number.isNaN(a.values[1]));
    const s = column(t, 's') as StringColumn;
    assert.equal(s.type, 'string');
    assert.ok(s.codes instanceof Int32Array);
    assert.deepEqual([...s.codes], [0, 1, 0, -1]);
    assert.deepEqual(s.dictionary, ['x', 'y']);
    assert.equal(nullCount(a), 1);
    assert.equal(nullCount(s), 1);
  });

  it('names the missing column and the ones that exist', () => {
    const t = tableFromRows([{ a: 1, b: 2 }]);
    assertTrellis(() => column(t, 'c'), 'TRELLIS_DATA_COLUMN_NOT_FOUND', /'c'.*a, b/);
    assertTrellis(() => selectColumns(t, ['b', 'zz']), 'TRELLIS_DATA_COLUMN_NOT_FOUND', /zz/);
    assert.deepEqual(selectColumns(t, ['b', 'a']).columns.map((c) => c.name), ['b', 'a']);
  });

  it('returns rows as plain values: booleans as booleans, datetimes as ISO strings', () => {
    const t = tableFromRows([{ n: 1.5, b: true, d: new Date('2020-02-29T12:00:00Z'), s: 'x' }]);
    assert.deepEqual(rowAt(t, 0), { n: 1.5, b: true, d: '2020-02-29T12:00:00.000Z', s: 'x' });
    assert.deepEqual(tableSchema(t), { n: 'float', b: 'boolean', d: 'datetime', s: 'string' });
    assertTrellis(() => rowAt(t, 1), 'TRELLIS_INVALID_PARAMETER', /out of range/);
  });

  it('slices rows like Array.prototype.slice, sharing memory', () => {
    const t = tableFromRows([0, 1, 2, 3, 4].map((i) => ({ i, s: `v${i}` })));
    assert.deepEqual(rows(sliceRows(t, 1, 3)), [{ i: 1, s: 'v1' }, { i: 2, s: 'v2' }]);
    assert.deepEqual(rows(sliceRows(t, -2)), [{ i: 3, s: 'v3' }, { i: 4, s: 'v4' }]);
    assert.equal(sliceRows(t, 4, 2).rowCount, 0);
    assert.equal(sliceRows(t, 0, 99).rowCount, 5);
    const slice = sliceRows(t, 1, 3);
    assert.equal((slice.columns[0] as NumericColumn).values.buffer, (t.columns[0] as NumericColumn).values.buffer);
  });

  it('checks lengths and names when built from columns', () => {
    const a: NumericColumn = { name: 'a', type: 'float', values: new Float64Array(2), valid: new Uint8Array(2) };
    const b: NumericColumn = { name: 'b', type: 'float', values: new Float64Array(3), valid: new Uint8Array(3) };
    assertTrellis(() => makeTable([a, b]), 'TRELLIS_DATA_SCHEMA_MISMATCH', /'b' has 3 rows, expected 2/);
    assertTrellis(() => makeTable([a, a]), 'TRELLIS_DATA_SCHEMA_MISMATCH', /Duplicate column name 'a'/);
  });
});

describe('concatTables', () => {
  it('promotes integer + float to float and matches columns by name', () => {
    const a = tableFromRows([{ x: 1, s: 'a' }]);
    const b = tableFromRows([{ s: 'b', x: 2.5 }]);
    const t = concatTables(a, b);
    assert.equal(column(t, 'x').type, 'float');
    assert.deepEqual(rows(t), [{ x: 1, s: 'a' }, { x: 2.5, s: 'b' }]);
  });

  it('turns any other mix into string and merges dictionaries', () => {
    const a = tableFromRows([{ x: 1, d: new Date('2020-01-02T00:00:00Z'), s: 'a' }, { x: null, d: null, s: 'b' }]);
    const b = tableFromRows([{ x: 'n/a', d: 'never', s: 'b' }]);
    const t = concatTables(a, b);
    assert.equal(column(t, 'x').type, 'string');
    // A datetime column of whole days is rendered the way such columns are written: as dates.
    assert.deepEqual(rows(t), [
      { x: '1', d: '2020-01-02', s: 'a' }, { x: null, d: null, s: 'b' }, { x: 'n/a', d: 'never', s: 'b' },
    ]);
    assert.deepEqual((column(t, 's') as StringColumn).dictionary, ['a', 'b']);
  });

  it('lets a column with no values take the other side\'s type', () => {
    const a = tableFromRows([{ x: null }, { x: null }]);
    const b = tableFromRows([{ x: 7 }]);
    assert.equal(column(a, 'x').type, 'string');
    const t = concatTables(a, b);
    assert.equal(column(t, 'x').type, 'integer');
    assert.deepEqual(rows(t), [{ x: null }, { x: null }, { x: 7 }]);
  });

  it('refuses tables whose columns differ, naming them', () => {
    const a = tableFromRows([{ x: 1, y: 2 }]);
    const b = tableFromRows([{ x: 1, z: 2 }]);
    assertTrellis(() => concatTables(a, b), 'TRELLIS_DATA_SCHEMA_MISMATCH', /missing from the second: y; only in the second: z/);
  });

  it('renders booleans as true/false when they become text', () => {
    const t = tableFromRows([{ b: true }, { b: false }, { b: null }]);
    assert.deepEqual(toStringColumn(t.columns[0]!).dictionary, ['true', 'false']);
  });
});

describe('tableFromRows', () => {
  it('converts values to a given schema and keeps schema order', () => {
    const t = tableFromRows([{ b: '2', a: 'x', when: '2021-03-04' }, { b: 3, a: 'y', when: null }], {
      when: 'datetime', a: 'string', b: 'float',
    });
    assert.deepEqual(t.columns.map((c) => [c.name, c.type]), [['when', 'datetime'], ['a', 'string'], ['b', 'float']]);
    assert.deepEqual(rows(t), [{ when: '2021-03-04T00:00:00.000Z', a: 'x', b: 2 }, { when: null, a: 'y', b: 3 }]);
  });

  it('names the row and column of a value the schema cannot take', () => {
    assertTrellis(() => tableFromRows([{ age: 3 }, { age: 'old' }], { age: 'integer' }),
      'TRELLIS_DATA_SCHEMA_MISMATCH', /Row 1, column 'age': 'old' in column 'age' is not an integer/);
  });

  it('keeps JSON strings as strings, but reads ISO dates and keeps nested values as JSON', () => {
    const t = tableFromRows([{ code: '007', at: '2020-01-01T10:00:00Z', meta: { k: [1, 2] } }]);
    assert.deepEqual(tableSchema(t), { code: 'string', at: 'datetime', meta: 'string' });
    assert.deepEqual(rowAt(t, 0), { code: '007', at: '2020-01-01T10:00:00.000Z', meta: '{"k":[1,2]}' });
  });

  it('adds a column first seen late, null in the rows before', () => {
    const t = tableFromRows([{ a: 1 }, { a: 2, b: true }]);
    assert.deepEqual(rows(t), [{ a: 1, b: null }, { a: 2, b: true }]);
  });
});

describe('TableBuilder type inference', () => {
  it('infers integer, float, boolean, datetime and string from text', () => {
    const b = build(['i', 'f', 'b', 'd', 't', 's'], [
      ['1', '-20', '+3'],
      ['1.5', '2', '-.5e-3'],
      ['true', 'False', 'TRUE'],
      ['2011-01-01', '2015-02-02 14:19:00', '2020-06-01T08:30:00.250+02:00'],
      ['12:00', '2020-13-01', '2021-02-29'],
      ['a', 'b', 'a'],
    ]);
    const t = b.finish();
    assert.deepEqual(tableSchema(t), { i: 'integer', f: 'float', b: 'boolean', d: 'datetime', t: 'string', s: 'string' });
    assert.deepEqual([...(column(t, 'i') as NumericColumn).values], [1, -20, 3]);
    assert.deepEqual([...(column(t, 'f') as NumericColumn).values], [1.5, 2, -0.0005]);
    assert.deepEqual([...(column(t, 'b') as NumericColumn).values], [1, 0, 1]);
    assert.deepEqual([...(column(t, 'd') as NumericColumn).values], [
      Date.UTC(2011, 0, 1), Date.UTC(2015, 1, 2, 14, 19), Date.UTC(2020, 5, 1, 6, 30, 0, 250),
    ]);
  });

  it('parses decimal text to the same doubles as Number()', () => {
    const samples = ['0.1', '0.2', '123456.789', '-0.000123', '9007199254740991', '1e300', '2.5E-10',
      '0.30000000000000004', '123456789012345678', '1.7976931348623157e308', '5e-324', '00012.50'];
    const t = build(['x'], [samples]).finish();
    assert.deepEqual([...(t.columns[0] as NumericColumn).values], samples.map(Number));
  });

  it('promotes integer to float as rows arrive, and reads nulls', () => {
    const b = new TableBuilder(['x']);
    b.append({ columns: [['1', 'NA', '2']] });
    assert.equal(b.inference()[0]!.type, 'integer');
    b.append({ columns: [['2.5', '', '?']] });
    const info = b.inference()[0]!;
    assert.equal(info.type, 'float');
    assert.equal(info.nullCount, 3);
    assert.equal(info.typeBreak, undefined);
  });

  it('turns a mixed column into string and says which value, on which line, did it', () => {
    const b = new TableBuilder(['x']);
    b.append({ columns: [['1', '2']], firstLine: 2 });
    b.append({ columns: [['3.5', 'abc', '4']], firstLine: 4 });
    const info = b.inference()[0]!;
    assert.equal(info.type, 'string');
    assert.deepEqual(info.typeBreak, { line: 5, value: 'abc', wouldBe: 'float', reason: "'abc' is not a number, so the column is kept as text" });
    assert.deepEqual(b.rerenderedColumns(), ['x']);
    assert.deepEqual(rows(b.finish()).map((r) => r.x), ['1', '2', '3.5', 'abc', '4']);
  });

  it('keeps thousands separators and decimal commas as text and says why', () => {
    const b = build(['thousands', 'comma', 'late'], [['1,234', '12,345.5'], ['3,14', '2,5'], ['1', '2,5']]);
    const info = b.inference();
    assert.deepEqual(info.map((c) => c.type), ['string', 'string', 'string']);
    assert.match(info[0]!.typeBreak!.reason, /thousands separator/);
    assert.match(info[1]!.typeBreak!.reason, /decimal comma.*decimal: ','/);
    assert.equal(info[2]!.typeBreak!.line, 2);
    assert.equal(info[2]!.typeBreak!.wouldBe, 'integer');
  });

  it("reads comma decimals with decimal: ','", () => {
    const t = build(['x'], [['3,14', '-0,5', '2']], { decimal: ',' }).finish();
    assert.deepEqual([...(t.columns[0] as NumericColumn).values], [3.14, -0.5, 2]);
  });

  it('keeps integers beyond 2^53 as text rather than change their digits', () => {
    const b = build(['id'], [['12345678901234567890', '1']]);
    assert.equal(b.inference()[0]!.type, 'string');
    assert.match(b.inference()[0]!.typeBreak!.reason, /2\^53/);
    assert.deepEqual(rows(b.finish()).map((r) => r.id), ['12345678901234567890', '1']);
  });

  it('imposes given types: "007" stays text, and a value that does not fit is an error with its place', () => {
    const t = build(['zip', 'n'], [['007', '10'], ['1', '2']], { types: { zip: 'string', n: 'float' } }).finish();
    assert.deepEqual(tableSchema(t), { zip: 'string', n: 'float' });
    assert.deepEqual(rows(t), [{ zip: '007', n: 1 }, { zip: '10', n: 2 }]);
    const b = new TableBuilder(['n'], { types: { n: 'integer' } });
    assertTrellis(() => b.append({ columns: [['1', 'x']], firstLine: 2 }, 'f.csv'), 'TRELLIS_DATA_PARSE',
      /^f\.csv:3:1: 'x' in column 'n' is not an integer$/);
  });

  it('names the column and the number format when an imposed numeric type rejects a value', () => {
    const b = new TableBuilder(['amount'], { types: { amount: 'integer' } });
    assertTrellis(() => b.append({ columns: [['12', '12,345,678']] }, 'f.csv'), 'TRELLIS_DATA_PARSE',
      /^f\.csv:2:1: '12,345,678' in column 'amount' is not an integer: it has thousands separators; remove them/);
  });

  it('uses the configured null values only', () => {
    const t = build(['x'], [['-', 'NA', '1']], { nullValues: ['-'] }).finish();
    assert.deepEqual(rows(t).map((r) => r.x), [null, 'NA', '1']);
  });

  it('makes an all-null column a string column', () => {
    const t = build(['x'], [['', 'NA']]).finish();
    assert.equal(t.columns[0]!.type, 'string');
    assert.equal(nullCount(t.columns[0]!), 2);
  });

  it('shares one all-valid mask between columns without nulls, sized to the table', () => {
    const t = build(['a', 'b'], [['1', '2'], ['3', '4']]).finish();
    const [a, b] = t.columns as [NumericColumn, NumericColumn];
    assert.equal(a.valid.length, 2);
    assert.deepEqual([...a.valid], [1, 1]);
    assert.equal(a.valid.buffer, b.valid.buffer);
  });

  it('rejects an unknown decimal mark or type', () => {
    assertTrellis(() => new TableBuilder(['x'], { decimal: ';' as ',' }), 'TRELLIS_INVALID_PARAMETER', /decimal/);
    assertTrellis(() => new TableBuilder(['x'], { types: { x: 'int' as 'integer' } }), 'TRELLIS_INVALID_PARAMETER', /unknown type 'int'/);
  });
});
