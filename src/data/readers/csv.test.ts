import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readCsv, readCsvBatches, readCsvTables, readCsvWithInference } from './csv.js';
import { CsvScanner, scanFieldThenPush, type FieldSink } from './csv-scanner.js';
import { TableBuilder, column, concatTables, nullCount, tableSchema, type NumericColumn, type StringColumn } from '../table.js';
import { FIXTURES, allRows, assertSameTable, dataset, rejectsWith, tempFile } from './test-helpers/data-files.js';

async function collect(path: string, options = {}) {
  const batches = [];
  for await (const b of readCsvBatches(path, options)) batches.push(b);
  return batches;
}

/** The scanner fed in chunks of `size` bytes, as text cells: the reference for chunk-boundary tests. */
function scanInChunks(bytes: Buffer, size: number): string[][] {
  const scanner = new CsvScanner('chunks.csv');
  const rows: string[][] = [];
  let current: string[] = [];
  const sink: FieldSink = {
    rejection: '',
    scanField: (b, s, limit, d, line) => scanFieldThenPush(sink, b, s, limit, d, line),
    pushBytes: (b, s, e, escaped) => {
      const text = b.toString('utf8', s, e);
      current.push(escaped ? text.replaceAll('""', '"') : text);
      return true;
    },
  };
  let cols: FieldSink[] = [];
  const row = { endRow: () => { rows.push(current); current = []; }, rollback: () => { current = []; } };
  const step = () => {
    if (!scanner.header) {
      if (!scanner.readHeader()) return;
      cols = scanner.header!.map(() => sink);
    }
    scanner.readRows(cols, row, Infinity);
  };
  for (let i = 0; i < bytes.length; i += size) {
    if (scanner.push(bytes.subarray(i, Math.min(bytes.length, i + size)))) step();
  }
  scanner.end();
  step();
  return [scanner.header!, ...rows];
}

describe('readCsv on the committed fixtures', () => {
  it('reads the Adult sample: types, and ? as null', async () => {
    const { table, inference } = await readCsvWithInference(join(FIXTURES, 'adult_train_head200.csv'));
    assert.equal(table.rowCount, 200);
    assert.equal(table.columns.length, 15);
    assert.equal(column(table, 'age').type, 'integer');
    assert.equal(column(table, 'fnlwgt').type, 'integer');
    assert.equal(column(table, 'income').type, 'string');
    assert.equal(nullCount(column(table, 'workclass')), 10);
    assert.ok(inference.every((c) => c.typeBreak === undefined));
    assert.deepEqual(allRows(table)[0], {
      age: 39, workclass: 'State-gov', fnlwgt: 77516, education: 'Bachelors', 'education-num': 13,
      'marital-status': 'Never-married', occupation: 'Adm-clerical', relationship: 'Not-in-family', race: 'White',
      sex: 'Male', 'capital-gain': 2174, 'capital-loss': 0, 'hours-per-week': 40, 'native-country': 'United-States',
      income: '<=50K',
    });
  });

  it('reads the Bike Sharing sample (CRLF line ends): dates and floats', async () => {
    const t = await readCsv(join(FIXTURES, 'bike_sharing_hourly_head100.csv'));
    assert.equal(t.rowCount, 100);
    assert.equal(column(t, 'dteday').type, 'datetime');
    assert.equal(column(t, 'temp').type, 'float');
    assert.equal(column(t, 'cnt').type, 'integer');
    assert.equal((column(t, 'dteday') as NumericColumn).values[0], Date.UTC(2011, 0, 1));
    assert.equal((column(t, 'temp') as NumericColumn).values[0], 0.24);
    // The last column would keep a '\r' if CRLF were read as LF.
    assert.equal((column(t, 'cnt') as NumericColumn).values[0], 16);
  });

  it('reads the Occupancy sample: datetimes written with a space', async () => {
    const t = await readCsv(join(FIXTURES, 'occupancy_head100.csv'));
    assert.equal(t.rowCount, 100);
    assert.deepEqual(tableSchema(t), {
      date: 'datetime', Temperature: 'float', Humidity: 'float', Light: 'float', CO2: 'float',
      HumidityRatio: 'float', Occupancy: 'integer', source_file: 'string',
    });
    assert.equal((column(t, 'date') as NumericColumn).values[1], Date.UTC(2015, 1, 2, 14, 19, 59));
  });

  it('gives the same table through batches and the builder as through readCsv', async () => {
    const path = join(FIXTURES, 'adult_train_head200.csv');
    const batches = await collect(path, { batchSize: 64 });
    assert.deepEqual(batches.map((b) => b.columns[0]!.length), [64, 64, 64, 8]);
    assert.deepEqual(batches.map((b) => b.firstLine), [2, 66, 130, 194]);
    const builder = new TableBuilder(batches[0]!.header);
    for (const b of batches) builder.append(b);
    assertSameTable(builder.finish(), await readCsv(path));
  });
});

describe('readCsvTables', () => {
  it('streams typed tables that add up to readCsv', async () => {
    const path = join(FIXTURES, 'bike_sharing_hourly_head100.csv');
    const batches = [];
    for await (const b of readCsvTables(path, { batchSize: 30 })) batches.push(b);
    assert.deepEqual(batches.map((b) => [b.table.rowCount, b.firstLine]), [[30, 2], [30, 32], [30, 62], [10, 92]]);
    assert.equal(batches[0]!.inference.find((c) => c.name === 'dteday')?.type, 'datetime');
    assertSameTable(batches.map((b) => b.table).reduce(concatTables), await readCsv(path));
  });

  it('imposes types on every batch, naming the place of a value that does not fit', async () => {
    const path = tempFile('tables-typed.csv', 'id,v\n1,2\n2,3\n3,x\n');
    const run = async () => { for await (const _ of readCsvTables(path, { batchSize: 2, types: { v: 'integer' } })) { /* drain */ } };
    await rejectsWith(run(), 'TRELLIS_DATA_PARSE', { file: path, line: 4, column: 3, message: /'x' in column 'v' is not an integer/ });
  });
});

describe('readCsv on the full datasets', () => {
  it('adult_train.csv: 32,561 rows, 15 columns, 1,836 workclass nulls from ?', async () => {
    const t = await readCsv(dataset('adult_train.csv'));
    assert.equal(t.rowCount, 32561);
    assert.equal(t.columns.length, 15);
    assert.equal(nullCount(column(t, 'workclass')), 1836);
    assert.equal(nullCount(column(t, 'occupation')), 1843);
    assert.equal(nullCount(column(t, 'native-country')), 583);
    assert.equal(column(t, 'age').type, 'integer');
    const income = column(t, 'income') as StringColumn;
    assert.equal(income.type, 'string');
    const counts = new Map<string, number>();
    for (const c of income.codes) counts.set(income.dictionary[c]!, (counts.get(income.dictionary[c]!) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(counts), { '<=50K': 24720, '>50K': 7841 });
  });

  it('bike_sharing_hourly.csv: 17,379 rows, temp float, dteday datetime, cnt summing to the published total', async () => {
    const t = await readCsv(dataset('bike_sharing_hourly.csv'));
    assert.equal(t.rowCount, 17379);
    assert.equal(column(t, 'temp').type, 'float');
    const day = column(t, 'dteday') as NumericColumn;
    assert.equal(day.type, 'datetime');
    assert.equal(day.values[t.rowCount - 1], Date.UTC(2012, 11, 31));
    assert.equal((column(t, 'cnt') as NumericColumn).values.reduce((a, b) => a + b, 0), 3292679);
  });

  it('occupancy.csv: 20,560 rows and the published label counts', async () => {
    const t = await readCsv(dataset('occupancy.csv'));
    assert.equal(t.rowCount, 20560);
    assert.equal(column(t, 'date').type, 'datetime');
    const occupied = (column(t, 'Occupancy') as NumericColumn).values.reduce((a, b) => a + b, 0);
    assert.equal(occupied, 4750);
  });

  it('every dataset reads the same through batches as through readCsv', async () => {
    for (const name of ['adult_train', 'bike_sharing_hourly', 'occupancy'] as const) {
      const path = dataset(`${name}.csv`);
      const batches = await collect(path);
      const builder = new TableBuilder(batches[0]!.header);
      for (const b of batches) builder.append(b);
      assertSameTable(builder.finish(), await readCsv(path));
    }
  });
});

describe('CSV syntax', () => {
  it('reads quoted fields with delimiters, newlines and doubled quotes, and counts lines through them', async () => {
    const path = tempFile('quoted.csv', 'id,text,n\n1,"a, b",2\n2,"line1\nline2",3\n3,"say ""hi""",4\n4,"",\n');
    const t = await readCsv(path);
    assert.deepEqual(allRows(t), [
      { id: 1, text: 'a, b', n: 2 }, { id: 2, text: 'line1\nline2', n: 3 }, { id: 3, text: 'say "hi"', n: 4 },
      { id: 4, text: null, n: null },
    ]);
    const batches = await collect(path);
    assert.deepEqual([...batches[0]!.lines], [2, 3, 5, 6]);
  });

  it('drops a UTF-8 byte-order mark and keeps other UTF-8 text', async () => {
    const path = tempFile('bom.csv', '\ufeffname,ville\nZoë,Zürich\n');
    const t = await readCsv(path);
    assert.deepEqual(allRows(t), [{ name: 'Zoë', ville: 'Zürich' }]);
  });

  for (const [name, delimiter] of [['semicolon', ';'], ['tab', '\t'], ['comma', ','], ['pipe', '|']]) {
    it(`finds the ${name} delimiter from the header`, async () => {
      const d = delimiter;
      const path = tempFile(`${name}.csv`, `a${d}b${d}c\n1${d}"x${d}y"${d}3.5\n`);
      assert.deepEqual(allRows(await readCsv(path)), [{ a: 1, b: `x${d}y`, c: 3.5 }]);
    });
  }

  it('uses a given delimiter over the detected one and rejects a bad one', async () => {
    const path = tempFile('given.csv', 'a;b,c\n1;2,3\n');
    assert.deepEqual(allRows(await readCsv(path, { delimiter: ',' })), [{ 'a;b': '1;2', c: 3 }]);
    await rejectsWith(readCsv(path, { delimiter: '"' }), 'TRELLIS_INVALID_PARAMETER', { message: /delimiter/ });
  });

  it('reads CRLF and LF alike, a last line without a newline, and skips blank lines', async () => {
    const crlf = tempFile('crlf.csv', 'a,b\r\n1,x\r\n\r\n2,y');
    const lf = tempFile('lf.csv', 'a,b\n1,x\n\n2,y\n');
    assert.deepEqual(allRows(await readCsv(crlf)), [{ a: 1, b: 'x' }, { a: 2, b: 'y' }]);
    assertSameTable(await readCsv(crlf), await readCsv(lf));
  });

  it('reads the default null markers, and only the given ones when a list is given', async () => {
    const path = tempFile('nulls.csv', 'x,y\n,1\nNA,2\nN/A,3\nnull,4\nNULL,5\nNaN,6\n?,7\nok,8\n');
    const t = await readCsv(path);
    assert.equal(nullCount(column(t, 'x')), 7);
    const custom = await readCsv(path, { nullValues: ['ok'] });
    assert.deepEqual(allRows(custom).map((r) => r.x), ['', 'NA', 'N/A', 'null', 'NULL', 'NaN', '?', null]);
  });

  it('names unnamed header fields by position', async () => {
    const t = await readCsv(tempFile('unnamed.csv', ',value\n0,1.5\n'));
    assert.deepEqual(t.columns.map((c) => c.name), ['unnamed_1', 'value']);
  });

  it('stops after maxRows', async () => {
    const t = await readCsv(join(FIXTURES, 'adult_train_head200.csv'), { maxRows: 5 });
    assert.equal(t.rowCount, 5);
    const batches = await collect(join(FIXTURES, 'adult_train_head200.csv'), { maxRows: 70, batchSize: 64 });
    assert.deepEqual(batches.map((b) => b.columns[0]!.length), [64, 6]);
  });

  it('gives the same fields whatever the chunk boundaries', () => {
    const text = 'h1,h2,h3\r\n"a\r\nb","x""y",Zürich\n1,,"2"\n\n"é",€,"😀,"\r\n3,4,5';
    const bytes = Buffer.from(text);
    const whole = scanInChunks(bytes, bytes.length);
    assert.deepEqual(whole, [['h1', 'h2', 'h3'], ['a\r\nb', 'x"y', 'Zürich'], ['1', '', '2'], ['é', '€', '😀,'], ['3', '4', '5']]);
    for (let size = 1; size <= 9; size++) assert.deepEqual(scanInChunks(bytes, size), whole, `chunks of ${size}`);
  });

  it('dictionary-encodes repeated and unique strings alike', async () => {
    const lines = ['key,cat'];
    for (let i = 0; i < 150000; i++) lines.push(`k${i},${['red', 'green', 'blue', 'Zürich', ''][i % 5]}`);
    const t = await readCsv(tempFile('strings.csv', `${lines.join('\n')}\n`));
    const key = column(t, 'key') as StringColumn;
    const cat = column(t, 'cat') as StringColumn;
    assert.equal(key.dictionary.length, 150000);
    assert.deepEqual([...cat.dictionary].sort(), ['Zürich', 'blue', 'green', 'red']);
    for (const i of [0, 3, 65537, 149999]) {
      assert.equal(key.dictionary[key.codes[i]!], `k${i}`);
      assert.equal(i % 5 === 4 ? cat.codes[i] : cat.dictionary[cat.codes[i]!], i % 5 === 4 ? -1 : ['red', 'green', 'blue', 'Zürich'][i % 5]);
    }
  });

  it('reads records larger than a read chunk', async () => {
    const big = 'x'.repeat(3 << 20);
    const path = tempFile('big-field.csv', `id,text\n1,"${big}"\n2,short\n`);
    const t = await readCsv(path);
    assert.equal(t.rowCount, 2);
    assert.equal((column(t, 'text') as StringColumn).dictionary[0]!.length, big.length);
  });

  it('counts lines correctly across many chunks', async () => {
    const lines = ['n,s'];
    for (let i = 0; i < 150000; i++) lines.push(i % 1000 === 0 ? `${i},"multi\nline"` : `${i},text ${i % 7}`);
    lines.push('oops');
    const path = tempFile('long.csv', `${lines.join('\n')}\n`);
    // 150 quoted fields hold a newline each, so the last row sits 150 lines further down.
    await rejectsWith(readCsv(path), 'TRELLIS_DATA_PARSE', { file: path, line: 150002 + 150, column: 5 });
  });
});

describe('CSV errors name file, line and column', () => {
  it('a row with too many fields', async () => {
    const path = tempFile('ragged-long.csv', 'a,b,c\n1,2,3\n4,5,6,7,8\n');
    await rejectsWith(readCsv(path), 'TRELLIS_DATA_PARSE', {
      file: path, line: 3, column: 7, message: /expected 3 fields as in the header, found 5/,
    });
  });

  it('a row with too few fields, naming the missing columns', async () => {
    const path = tempFile('ragged-short.csv', 'a,b,c\n1,2,3\n4,5\n');
    await rejectsWith(readCsv(path), 'TRELLIS_DATA_PARSE', {
      file: path, line: 3, column: 4, message: /expected 3 fields as in the header, found 2 \(missing c\)/,
    });
    await rejectsWith(collect(path), 'TRELLIS_DATA_PARSE', { file: path, line: 3, column: 4 });
  });

  it('an unterminated quote, at the line where it opened', async () => {
    const path = tempFile('unterminated.csv', 'a,b\n1,x\n2,"never\nclosed\n3,y\n');
    await rejectsWith(readCsv(path), 'TRELLIS_DATA_PARSE', {
      file: path, line: 3, column: 3, message: /unterminated quoted field: the quote that opens field 2 \('b'\) on line 3/,
    });
  });

  it('text after a closing quote', async () => {
    const path = tempFile('after-quote.csv', 'a,b\n1,"x"y\n');
    await rejectsWith(readCsv(path), 'TRELLIS_DATA_PARSE', {
      file: path, line: 2, column: 6, message: /unexpected character 'y' after the closing quote of field 2 \('b'\)/,
    });
  });

  it('invalid UTF-8, with its byte offset and line', async () => {
    const bytes = Buffer.concat([Buffer.from('a,b\n1,ok\n2,caf'), Buffer.from([0xe9]), Buffer.from('\n')]);
    const path = tempFile('latin1.csv', bytes);
    await rejectsWith(readCsv(path), 'TRELLIS_DATA_PARSE', {
      file: path, line: 3, column: 6, message: /invalid UTF-8: byte 0xe9 at byte offset 14/,
    });
  });

  it('invalid UTF-8 far into the file, past the first chunk', async () => {
    const body = 'n,s\n' + Array.from({ length: 200000 }, (_, i) => `${i},row`).join('\n');
    const path = tempFile('late-bad.csv', Buffer.concat([Buffer.from(body), Buffer.from([0xff, 0x0a])]));
    await rejectsWith(readCsv(path), 'TRELLIS_DATA_PARSE', {
      file: path, line: 200001, column: 11, message: new RegExp(`byte offset ${Buffer.byteLength(body)}`),
    });
  });

  it('an empty file', async () => {
    const path = tempFile('empty.csv', '');
    await rejectsWith(readCsv(path), 'TRELLIS_DATA_EMPTY', { file: path, message: /has no data: the file is empty/ });
    await rejectsWith(readCsv(tempFile('blank.csv', '\ufeff\n\r\n')), 'TRELLIS_DATA_EMPTY', { message: /the file is empty/ });
    await rejectsWith(collect(path), 'TRELLIS_DATA_EMPTY');
  });

  it('a header with no rows is an error, or an empty table when allowed', async () => {
    const path = tempFile('header-only.csv', 'a,b,c\n');
    await rejectsWith(readCsv(path), 'TRELLIS_DATA_EMPTY', {
      file: path, message: /the header names 3 columns but no data row follows/,
    });
    const t = await readCsv(path, { allowHeaderOnly: true });
    assert.equal(t.rowCount, 0);
    assert.deepEqual(t.columns.map((c) => c.name), ['a', 'b', 'c']);
  });

  it('duplicate column names, naming each', async () => {
    const path = tempFile('dups.csv', 'id,x,y,x,y,z\n1,2,3,4,5,6\n');
    await rejectsWith(readCsv(path), 'TRELLIS_DATA_PARSE', {
      file: path, line: 1, column: 8, message: /duplicate column names 'x' \(fields 2, 4\), 'y' \(fields 3, 5\)/,
    });
  });

  it('a value an imposed type cannot take', async () => {
    const path = tempFile('typed.csv', 'id,age\n1,30\n2,thirty\n');
    await rejectsWith(readCsv(path, { types: { age: 'integer' } }), 'TRELLIS_DATA_PARSE', {
      file: path, line: 3, column: 3, message: /'thirty' in column 'age' is not an integer \(field 2\)/,
    });
    await rejectsWith(readCsv(path, { types: { agee: 'integer' } }), 'TRELLIS_DATA_COLUMN_NOT_FOUND', { message: /'agee'/ });
  });

  it('a file that does not exist', async () => {
    await rejectsWith(readCsv('/nonexistent/trellis/x.csv'), 'TRELLIS_DATA_FILE_NOT_FOUND', { file: '/nonexistent/trellis/x.csv' });
  });
});

describe('mixed and formatted numbers', () => {
  it('makes a mixed column string, keeps its exact text, and reports the first offending value', async () => {
    const rows = ['x,y'];
    for (let i = 0; i < 100; i++) rows.push(`${i}.50,${i}`);
    rows.push('unknown,100', '007,101');
    const path = tempFile('mixed.csv', `${rows.join('\n')}\n`);
    const { table, inference } = await readCsvWithInference(path);
    assert.equal(column(table, 'x').type, 'string');
    assert.equal(column(table, 'y').type, 'integer');
    assert.deepEqual(inference[0]!.typeBreak, {
      line: 102, value: 'unknown', wouldBe: 'float', reason: "'unknown' is not a number, so the column is kept as text",
    });
    // The text is the file's, not a re-rendering of parsed numbers (1.50 would become 1.5).
    const x = allRows(table).map((r) => r.x);
    assert.deepEqual([x[0], x[1], x[100], x[101]], ['0.50', '1.50', 'unknown', '007']);
  });

  it('keeps quoted thousands separators as text, saying why', async () => {
    const path = tempFile('thousands.csv', 'amount,n\n"1,234",1\n"12,345,678",2\n');
    const { table, inference } = await readCsvWithInference(path);
    assert.equal(column(table, 'amount').type, 'string');
    assert.equal(inference[0]!.typeBreak!.line, 2);
    assert.match(inference[0]!.typeBreak!.reason, /'1,234'.*thousands separator/);
  });

  it("keeps comma decimals as text by default and reads them with decimal: ','", async () => {
    const path = tempFile('comma-decimal.csv', 'temp;n\n3,14;1\n-0,5;2\n');
    const { table, inference } = await readCsvWithInference(path);
    assert.equal(column(table, 'temp').type, 'string');
    assert.match(inference[0]!.typeBreak!.reason, /decimal comma.*pass decimal: ','/);
    const parsed = await readCsv(path, { decimal: ',' });
    assert.deepEqual(allRows(parsed), [{ temp: 3.14, n: 1 }, { temp: -0.5, n: 2 }]);
  });
});

describe('streaming', () => {
  // Proves the bound by streaming in a child whose V8 heap is capped at 64 MB, far below the file:
  // a reader that kept rows would die of OOM, not merely use more memory.
  // TRELLIS_SLOW_TEST_MB=2048 runs it on a 2 GB file.
  const mb = Number(process.env.TRELLIS_SLOW_TEST_MB ?? 200);
  it(`reads ~${mb} MB in batches under a 64 MB heap cap`, {
    skip: process.env.TRELLIS_SLOW_TESTS === '1' ? false : `slow (writes and streams ${mb} MB of CSV); set TRELLIS_SLOW_TESTS=1 to run it`,
  }, async () => {
    const { createWriteStream } = await import('node:fs');
    const { spawnSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const path = tempFile(`stream-${mb}mb.csv`, '');
    const out = createWriteStream(path);
    out.write('id,a,b,label\n');
    const line = (i: number) => `${i},${(i % 997) / 7},${i * 3},"label ${i % 13}, with comma"\n`;
    let written = 0;
    let expected = 0;
    for (let i = 0; written < mb * 1e6; i++) {
      const block = Array.from({ length: 10000 }, (_, k) => line(i * 10000 + k)).join('');
      written += block.length;
      expected += 10000;
      if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((r) => out.end(() => r()));
    const script = `
      const { readCsvBatches } = await import(${JSON.stringify(new URL('./csv.ts', import.meta.url).href)});
      let rows = 0, peak = 0;
      for await (const b of readCsvBatches(${JSON.stringify(path)})) {
        rows += b.columns[0].length;
        peak = Math.max(peak, process.memoryUsage().rss);
      }
      console.log(JSON.stringify({ rows, peak }));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--max-old-space-size=64', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../../../', import.meta.url)), encoding: 'utf8',
    });
    assert.equal(child.status, 0, child.stderr);
    const { rows, peak } = JSON.parse(child.stdout.trim().split('\n').pop()!);
    console.log(`streamed ${rows} rows (${(written / 1e6).toFixed(0)} MB) with a 64 MB heap cap: peak RSS ${(peak / 1e6).toFixed(0)} MB`);
    assert.equal(rows, expected);
    assert.ok(peak < 250e6, `peak RSS ${(peak / 1e6).toFixed(0)} MB`);
  });
});
