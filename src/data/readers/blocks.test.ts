import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync } from 'node:fs';
import { sliceRows } from '../table.js';
import { readTable } from './index.js';
import { readTableBlocks, type TableBlock } from './blocks.js';
import { allRows, rejectsWith, tempFile } from './test-helpers/data-files.js';

async function blocks(...args: Parameters<typeof readTableBlocks>): Promise<TableBlock[]> {
  const out: TableBlock[] = [];
  for await (const b of readTableBlocks(...args)) out.push(b);
  return out;
}

const CSV = 'id,x,label\n' + Array.from({ length: 23 }, (_, i) => `${i},${i * 1.5},${i % 3 ? 'a' : 'b'}`).join('\n') + '\n';

describe('readTableBlocks', () => {
  it('cuts a CSV file into blocks of at most blockRows rows, in order, the last one short', async () => {
    const file = tempFile('blocks.csv', CSV);
    const got = await blocks(file, { blockRows: 5, types: { x: 'float' } });
    assert.deepEqual(got.map((b) => [b.firstRow, b.table.rowCount]), [[0, 5], [5, 5], [10, 5], [15, 5], [20, 3]]);
    // The imposed type, and every other column as its text.
    assert.deepEqual(got[0]!.table.columns.map((c) => [c.name, c.type]), [['id', 'string'], ['x', 'float'], ['label', 'string']]);
    assert.deepEqual(got.flatMap((b) => allRows(b.table)).map((r) => [r.id, r.x]), Array.from({ length: 23 }, (_, i) => [String(i), i * 1.5]));
    // `others: 'infer'` types them per block as a reader would.
    const inferred = await blocks(file, { blockRows: 50, others: 'infer' });
    assert.deepEqual(inferred[0]!.table.columns.map((c) => c.type), ['integer', 'float', 'string']);
  });

  it('names the line of a value that does not fit an imposed type, in whichever block it is', async () => {
    const file = tempFile('bad-late.csv', CSV.replace('\n17,25.5,', '\n17,oops,'));
    await rejectsWith(blocks(file, { blockRows: 4, types: { x: 'float' } }), 'TRELLIS_DATA_PARSE', { file, line: 19, column: 4 });
  });

  it('cuts JSON Lines the same way, and gives errors the line of the file', async () => {
    const lines = Array.from({ length: 11 }, (_, i) => JSON.stringify({ id: i, x: i / 2 }));
    const file = tempFile('blocks.jsonl', `${lines.join('\n')}\n`);
    const got = await blocks(file, { blockRows: 4 });
    assert.deepEqual(got.map((b) => [b.firstRow, b.table.rowCount]), [[0, 4], [4, 4], [8, 3]]);
    assert.deepEqual(got.flatMap((b) => allRows(b.table)), allRows(await readTable(file)));
    // A type imposed on a key the first block's rows lack does not make it a column of nulls there.
    const sparse = tempFile('sparse.jsonl', `${lines.slice(0, 4).map((l) => l.replace(/"x":[^}]*/, '"y":1')).join('\n')}\n${lines.slice(4).join('\n')}\n`);
    const typed = await blocks(sparse, { blockRows: 4, types: { x: 'float' } });
    assert.deepEqual(typed.map((b) => b.table.columns.map((c) => `${c.name}:${c.type}`).join(' ')), ['id:integer y:integer', 'id:integer x:float', 'id:integer x:float']);
    const bad = tempFile('bad.jsonl', `${lines.slice(0, 9).join('\n')}\n{"id": 9, "x": }\n`);
    await rejectsWith(blocks(bad, { blockRows: 4 }), 'TRELLIS_DATA_PARSE', { file: bad, line: 10, column: 1 });
  });

  it('hands out a Parquet file in slices', async () => {
    const { FIXTURES } = await import('./test-helpers/data-files.js');
    const file = `${FIXTURES}adult_train_head200.parquet`;
    const got = await blocks(file, { blockRows: 64 });
    assert.deepEqual(got.map((b) => [b.firstRow, b.table.rowCount]), [[0, 64], [64, 64], [128, 64], [192, 8]]);
    assert.deepEqual(got.flatMap((b) => allRows(b.table)), allRows(await readTable(file)));
  });

  it('reads a Parquet file on disk a row group at a time, a block never spanning two', async () => {
    const { openBlockWriter } = await import('../writers/blocks.js');
    const csv = await readTable(tempFile('groups.csv', CSV));
    const file = tempFile('groups.parquet', '');
    // One row group per block written: 10, 10 and 3 rows.
    const w = await openBlockWriter(`${file}.new.parquet`);
    for (const [from, to] of [[0, 10], [10, 20], [20, 23]] as const) await w.write(sliceRows(csv, from, to));
    await w.finish();
    renameSync(`${file}.new.parquet`, file);
    const got = await blocks(file, { blockRows: 4 });
    assert.deepEqual(got.map((b) => [b.firstRow, b.table.rowCount]), [[0, 4], [4, 4], [8, 2], [10, 4], [14, 4], [18, 2], [20, 3]]);
    assert.deepEqual(got.flatMap((b) => allRows(b.table)), allRows(csv));
    // Cut short, it is refused as the whole-file reader refuses it.
    const bytes = readFileSync(file);
    const cut = tempFile('cut.parquet', bytes.subarray(0, bytes.length - 10));
    await rejectsWith(blocks(cut), 'TRELLIS_DATA_FORMAT', { file: cut, message: /not a Parquet file/ });
  });

  it('refuses a block size that is not a whole number of at least 1, and an empty file', async () => {
    await assert.rejects(blocks(tempFile('one.csv', 'a\n1\n'), { blockRows: 0 }), /blockRows must be a whole number of at least 1, not 0/);
    await rejectsWith(blocks(tempFile('header-only.csv', 'a,b\n')), 'TRELLIS_DATA_EMPTY');
    await rejectsWith(blocks(tempFile('empty.jsonl', '\n\n')), 'TRELLIS_DATA_EMPTY');
  });
});
