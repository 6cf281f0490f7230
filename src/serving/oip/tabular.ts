/**
 * Records for `predict` from what the serving protocols carry (columns, rows of values, records),
 * checked against the model's signature: every value fits its column's type, every column is
 * there once and no other is, and the batch is neither empty nor larger than allowed. Records are
 * built with the signature's names only, so a key such as `__proto__` in a request can never reach
 * an object's prototype. Every refusal is a ServingError naming the column and the row.
 */
import { KIND_DATETIME, parseDatetime } from '../../data/readers/cells.js';
import { ServingError, type InputColumn } from '../types.js';

export const invalid = (message: string) => new ServingError('invalid', message);

const EXPECTED = {
  integer: 'a number',
  float: 'a number',
  boolean: 'true/false or 0/1',
  string: 'a string (or an integer, read as its decimal text)',
  datetime: 'an ISO-8601 date-time string',
} as const;

/** A value as a message shows it: its JSON type and a short rendering. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (typeof v === 'object') return 'an object';
  const text = JSON.stringify(v);
  return `${typeof v} ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}

export function isDatetime(s: string): boolean {
  const b = Buffer.from(s, 'utf8');
  return parseDatetime(b, 0, b.length) === KIND_DATETIME;
}

/**
 * The value `predict` takes for one cell, or a refusal naming `where` (e.g. "input 'age', row 3").
 * null (and an absent value) means missing. Numbers must be finite. A string column takes
 * integers as their decimal text (7 → "7"), which is exact; fractional numbers and booleans are
 * refused there, since their text (0.30000000000000004, "true") rarely matches a trained category.
 */
export function columnValue(col: InputColumn, v: unknown, where: () => string): unknown {
  if (v === null || v === undefined) return null;
  switch (col.type) {
    case 'integer':
    case 'float':
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) throw invalid(`${where()} is ${v}; only finite numbers are accepted (null means missing)`);
        return v;
      }
      break;
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 0 || v === 1) return v === 1;
      break;
    case 'string':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
      break;
    case 'datetime':
      if (typeof v === 'string') {
        if (!isDatetime(v)) throw invalid(`${where()} is ${describeValue(v)}, not an ISO-8601 date-time (e.g. 2024-05-01T12:00:00Z)`);
        return v;
      }
      break;
  }
  throw invalid(`${where()}: column '${col.name}' (${col.type}) needs ${EXPECTED[col.type]}, got ${describeValue(v)}`);
}

/** Refuses an empty batch, and one larger than the limit (too_large). */
export function checkBatch(rows: number, maxBatch: number, what: string): void {
  if (rows === 0) throw invalid(`The batch is empty: ${what} has no rows`);
  if (rows > maxBatch) throw new ServingError('too_large', `The batch has ${rows} rows (${what}); at most ${maxBatch} are accepted per request`);
}

export function signatureNames(signature: readonly InputColumn[]): string {
  return signature.map((c) => `${c.name} (${c.type})`).join(', ');
}

/** The signature by name, in a Map (a plain object would answer `constructor`). */
export function signatureIndex(signature: readonly InputColumn[]): Map<string, number> {
  return new Map(signature.map((c, j) => [c.name, j]));
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An own property of a parsed JSON object (never an inherited one such as `constructor`). */
export function own(o: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/**
 * Records from column arrays in signature order (`columns[j]` holds column j's values, all of one
 * length): each value checked, each record built from the signature's names only.
 */
export function assembleRecords(signature: readonly InputColumn[], columns: readonly ArrayLike<unknown>[], rows: number, where: (j: number, i: number) => string): Record<string, unknown>[] {
  const values: unknown[][] = signature.map((col, j) => {
    const src = columns[j]!;
    const out = new Array<unknown>(rows);
    for (let i = 0; i < rows; i++) out[i] = columnValue(col, src[i], () => where(j, i));
    return out;
  });
  const names = signature.map((c) => c.name);
  const records = new Array<Record<string, unknown>>(rows);
  for (let i = 0; i < rows; i++) {
    const r: Record<string, unknown> = {};
    for (let j = 0; j < names.length; j++) {
      // Assigning `__proto__` would set the prototype: that one name is defined as a plain property.
      if (names[j] === '__proto__') Object.defineProperty(r, '__proto__', { value: values[j]![i], enumerable: true, writable: true, configurable: true });
      else r[names[j]!] = values[j]![i];
    }
    records[i] = r;
  }
  return records;
}

/**
 * Records from a list of JSON objects (`what` names the list, e.g. "instances"). A column absent
 * from some records is null there; absent from all, it is missing. Unknown keys are refused.
 */
export function recordsFromObjects(list: readonly unknown[], signature: readonly InputColumn[], maxBatch: number, what: string): Record<string, unknown>[] {
  checkBatch(list.length, maxBatch, what);
  const index = signatureIndex(signature);
  const columns = signature.map(() => new Array<unknown>(list.length));
  const seen = new Uint8Array(signature.length);
  list.forEach((r, i) => {
    if (!isPlainObject(r)) throw invalid(`${what}[${i}] must be an object of column values, got ${describeValue(r)}`);
    for (const key of Object.keys(r)) {
      const j = index.get(key);
      if (j === undefined) throw invalid(`${what}[${i}] has the unknown column ${JSON.stringify(key)}; the model takes ${signatureNames(signature)}`);
      seen[j] = 1;
      columns[j]![i] = r[key];
    }
  });
  const missing = signature.filter((_, j) => !seen[j]);
  if (missing.length) throw invalid(`${what} is missing the column${missing.length > 1 ? 's' : ''} ${signatureNames(missing)}`);
  return assembleRecords(signature, columns, list.length, (j, i) => `${what}[${i}].${signature[j]!.name}`);
}

/**
 * Records from rows of values. `names` gives the column of each position (undefined: the
 * signature's order); each must be a signature column, once, and every column must be there.
 */
export function recordsFromRows(rows: readonly unknown[], names: readonly string[] | undefined, signature: readonly InputColumn[], maxBatch: number, what: string): Record<string, unknown>[] {
  checkBatch(rows.length, maxBatch, what);
  const order = names ? columnOrder(names, signature, what) : signature.map((_, j) => j);
  const width = order.length;
  const columns = signature.map(() => new Array<unknown>(rows.length));
  rows.forEach((row, i) => {
    if (!Array.isArray(row)) throw invalid(`${what}[${i}] must be an array of ${width} values, got ${describeValue(row)}`);
    if (row.length !== width) throw invalid(`${what}[${i}] has ${row.length} values; expected ${width} (${names ? names.join(', ') : signatureNames(signature)})`);
    for (let k = 0; k < width; k++) columns[order[k]!]![i] = row[k];
  });
  return assembleRecords(signature, columns, rows.length, (j, i) => `${what}[${i}] column '${signature[j]!.name}'`);
}

/** Records from a JSON object of column arrays ({"age": [31, 45], …}). */
export function recordsFromColumnObject(o: Record<string, unknown>, signature: readonly InputColumn[], maxBatch: number, what: string): Record<string, unknown>[] {
  const names = Object.keys(o);
  const order = columnOrder(names, signature, what);
  let rows = -1;
  const columns = new Array<unknown[]>(signature.length);
  names.forEach((name, k) => {
    const v = o[name];
    if (!Array.isArray(v)) throw invalid(`${what}.${name} must be an array of the column's values, got ${describeValue(v)}`);
    if (rows >= 0 && v.length !== rows) throw invalid(`${what}.${name} has ${v.length} values; ${what}.${names[0]!} has ${rows}`);
    rows = v.length;
    columns[order[k]!] = v;
  });
  checkBatch(Math.max(rows, 0), maxBatch, what);
  return assembleRecords(signature, columns, rows, (j, i) => `${what}.${signature[j]!.name}[${i}]`);
}

/** The signature position of each named column; unknown, repeated and missing columns are refused. */
export function columnOrder(names: readonly unknown[], signature: readonly InputColumn[], what: string): number[] {
  const index = signatureIndex(signature);
  const seen = new Set<number>();
  const order = names.map((name) => {
    if (typeof name !== 'string') throw invalid(`${what} names a column with ${describeValue(name)}; column names are strings`);
    const j = index.get(name);
    if (j === undefined) throw invalid(`${what} has the unknown column ${JSON.stringify(name)}; the model takes ${signatureNames(signature)}`);
    if (seen.has(j)) throw invalid(`${what} names the column '${name}' twice`);
    seen.add(j);
    return j;
  });
  const missing = signature.filter((_, j) => !seen.has(j));
  if (missing.length) throw invalid(`${what} is missing the column${missing.length > 1 ? 's' : ''} ${signatureNames(missing)}`);
  return order;
}
