/** Temp files and error assertions shared by the reader tests, and where the committed datasets are for every test. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTrellisError, type ErrorCode, type TrellisError } from '../../../core/errors.js';
import { rowAt, type Table } from '../../table.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** The real datasets the tests and benchmarks read; their sources, licences and checksums are in test/data/README.md. */
export type DatasetFile =
  | 'adult_train.csv'
  | 'adult_test.csv'
  | 'bike_sharing_hourly.csv'
  | 'credit_default.csv'
  | 'german_credit.csv'
  | 'occupancy.csv';

/** The absolute path of a committed dataset. */
export function dataset(file: DatasetFile): string {
  // The bike data is shipped by trellis quickstart and init, so it has one home, with the examples.
  const dir = file === 'bike_sharing_hourly.csv' ? '../../../../examples/data/' : '../../../../test/data/';
  return fileURLToPath(new URL(dir + file, import.meta.url));
}

let dir: string | undefined;

/** A file in a per-process temp folder, removed after the tests. */
export function tempFile(name: string, content: string | Uint8Array): string {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'trellis-readers-'));
    const d = dir;
    // Not node:test's after(): called inside a test, that would run when this one test ends.
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

export function tempPath(name: string): string {
  return tempFile(name, '');
}

/** Awaits a rejection with `code`; for TRELLIS_DATA_PARSE checks that the message starts `file:line:column:`. */
export async function rejectsWith(
  p: Promise<unknown>,
  code: ErrorCode,
  where: { file?: string; line?: number; column?: number; message?: RegExp } = {},
): Promise<TrellisError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(isTrellisError(caught), `expected ${code}, got ${caught instanceof Error ? caught.stack : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (where.file !== undefined) assert.ok(caught.message.includes(where.file), `${caught.message} should name ${where.file}`);
  if (where.line !== undefined || where.column !== undefined) {
    assert.ok(where.file !== undefined);
    assert.ok(caught.message.startsWith(`${where.file}:${where.line}:${where.column}: `),
      `${caught.message} should start with ${where.file}:${where.line}:${where.column}`);
    assert.equal(caught.params.line, where.line);
    assert.equal(caught.params.column, where.column);
  }
  if (where.message) assert.match(caught.message, where.message);
  return caught;
}

export function allRows(t: Table) {
  return Array.from({ length: t.rowCount }, (_, i) => rowAt(t, i));
}

/** Tables equal in schema and every value (dictionary order may differ). */
export function assertSameTable(actual: Table, expected: Table): void {
  assert.deepEqual(actual.columns.map((c) => [c.name, c.type]), expected.columns.map((c) => [c.name, c.type]));
  assert.equal(actual.rowCount, expected.rowCount);
  for (let i = 0; i < expected.rowCount; i++) assert.deepEqual(rowAt(actual, i), rowAt(expected, i), `row ${i}`);
}
