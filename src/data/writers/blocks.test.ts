import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTable } from '../readers/index.js';
import { rowAt, sliceRows, tableFromRows } from '../table.js';
import { checkOutputPath, openBlockWriter } from './blocks.js';

const rows = [
  { n: 1, x: 0.1, s: 'plain', b: true, t: '2024-03-01T12:00:00.000Z' },
  { n: -20, x: null, s: 'a, "quoted" one', b: false, t: null },
  { n: 1e15, x: 1 / 3, s: ' padded ', b: null, t: '2024-03-02T00:00:00.000Z' },
  { n: null, x: -0, s: null, b: true, t: '2024-03-03T00:00:00.000Z' },
];
const table = tableFromRows(rows, { n: 'integer', x: 'float', s: 'string', b: 'boolean', t: 'datetime' });

describe('block writers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-writers-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('write CSV in blocks as one file, cells spelled as trellis predict spells them', async () => {
    const path = join(dir, 'out.csv');
    const w = await openBlockWriter(path);
    await w.write(sliceRows(table, 0, 3));
    assert.ok(!existsSync(path), 'nothing under the final name before finish');
    await w.write(sliceRows(table, 3));
    await w.finish();
    assert.equal(readFileSync(path, 'utf8'), [
      'n,x,s,b,t',
      '1,0.1,plain,true,2024-03-01T12:00:00.000Z',
      '-20,,"a, ""quoted"" one",false,',
      '1000000000000000,0.3333333333333333," padded ",,2024-03-02T00:00:00.000Z',
      ',0,,true,2024-03-03T00:00:00.000Z',
      '',
    ].join('\n'));
    const back = await readTable(path);
    assert.deepEqual(rowAt(back, 1), { n: -20, x: null, s: 'a, "quoted" one', b: false, t: null });
    assert.deepEqual(readdirSync(dir), ['out.csv']);
  });

  for (const ext of ['jsonl', 'parquet']) {
    it(`write ${ext} that reads back as the table written`, async () => {
      const path = join(dir, `out.${ext}`);
      const w = await openBlockWriter(path);
      await w.write(sliceRows(table, 0, 1));
      await w.write(sliceRows(table, 1));
      await w.finish();
      const back = await readTable(path);
      assert.equal(back.rowCount, 4);
      for (let i = 0; i < 4; i++) {
        const want = rowAt(table, i);
        // -0 is 0 once written as text.
        assert.deepEqual(rowAt(back, i), { ...want, x: ext === 'jsonl' && Object.is(want.x, -0) ? 0 : want.x }, `row ${i}`);
      }
    });
  }

  it('abort removes the temporary file and never touches the final name', async () => {
    const folder = join(dir, 'aborted');
    mkdirSync(folder);
    const w = await openBlockWriter(join(folder, 'out.csv'));
    await w.write(table);
    assert.equal(readdirSync(folder).length, 1);
    await w.abort();
    assert.deepEqual(readdirSync(folder), []);
  });

  it('refuse a path that cannot be written, naming it, and blocks whose columns differ', async () => {
    assert.throws(() => checkOutputPath(join(dir, 'missing', 'out.csv')), /cannot write '.*missing\/out\.csv': the folder '.*missing' does not exist/);
    assert.throws(() => checkOutputPath(join(dir, 'out.xlsx')), /its extension names no output format \(\.csv \.jsonl \.ndjson \.parquet \.pq\)/);
    assert.throws(() => checkOutputPath(dir + '/'), /extension|folder/);
    mkdirSync(join(dir, 'folder.csv'));
    assert.throws(() => checkOutputPath(join(dir, 'folder.csv')), /cannot write '.*folder\.csv': it is a folder/);
    assert.equal(checkOutputPath(join(dir, 'no-extension'), 'csv'), 'csv');
    const w = await openBlockWriter(join(dir, 'mismatch.csv'));
    await w.write(table);
    await assert.rejects(w.write(tableFromRows([{ other: 1 }])), /the columns of a later block \(other\) differ from the first block's \(n, x, s, b, t\)/);
    await w.abort();
    assert.ok(!existsSync(join(dir, 'mismatch.csv')));
  });
});
