/**
 * Reading rows: both drivers return numbers, bigints or strings for numeric columns and `null`
 * for missing values, so every port converts through these few helpers rather than casting.
 */
import type { Page } from '../ports/common.js';
import { encodePageToken } from './sql-search.js';
import type { Row, SqlExecutor } from './sql-driver.js';

export const num = (v: unknown): number => Number(v);
export const optNum = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
export const optStr = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : text(v));

/** A column as text: drivers return text as strings and may return numbers or bigints for numeric columns. */
export function text(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

/** A JSON text column, parsed. */
export function jsonCol<T = unknown>(v: unknown): T {
  return JSON.parse(String(v)) as T;
}

/** A nullable JSON text column, parsed; `null` stays `null`. */
export function optJsonCol<T = unknown>(v: unknown): T | null {
  return v === null || v === undefined ? null : (JSON.parse(text(v)) as T);
}

/** `?,?,…` for an IN list of `n` values. */
export function placeholders(n: number): string {
  return new Array<string>(n).fill('?').join(',');
}

/** Groups `{ id, key, value }` rows into one string map per id (tags, aliases). */
export function groupKv(rows: readonly Row[]): Map<number, Record<string, string>> {
  const out = new Map<number, Record<string, string>>();
  for (const r of rows) {
    const m = out.get(Number(r.id)) ?? {};
    m[String(r.key)] = String(r.value);
    out.set(Number(r.id), m);
  }
  return out;
}

/** A page of an offset-paged query that fetched one row more than it returns, to know whether more remain. */
export function page<T>(items: T[], more: boolean, nextOffset: number): Page<T> {
  return more ? { items, nextPageToken: encodePageToken(nextOffset) } : { items };
}

/** A name as names are compared for uniqueness: NFC, then lower case (JavaScript's full Unicode mapping). */
export const foldName = (name: string): string => name.normalize('NFC').toLowerCase();

/**
 * The stored name in `table` that equals `name` regardless of case, other than the row whose
 * `idColumn` is `except`. Run in the write transaction (writers are serialised), so that two names
 * differing only by case cannot both be created. An ASCII name is matched by SQL's `lower()`, which
 * folds ASCII alike on every backend (and no other NFC name folds to an ASCII one); any other name
 * is compared here, against every stored name, with the same folding on every backend.
 */
export async function nameTakenFolded(ex: SqlExecutor, table: string, idColumn: string, name: string, except?: number): Promise<string | undefined> {
  const exceptId = except ?? -1;
  if (/^[\x00-\x7f]*$/.test(name)) {
    const rows = await ex.query<{ name: string }>(`SELECT name FROM ${table} WHERE lower(name) = lower(?) AND ${idColumn} <> ? LIMIT 1`, [name, exceptId]);
    return rows[0] ? String(rows[0].name) : undefined;
  }
  const folded = foldName(name);
  const rows = await ex.query<{ name: string }>(`SELECT name FROM ${table} WHERE ${idColumn} <> ?`, [exceptId]);
  return rows.map((r) => String(r.name)).find((n) => foldName(n) === folded);
}
