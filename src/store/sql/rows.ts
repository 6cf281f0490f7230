/**
 * Reading rows: both drivers return numbers, bigints or strings for numeric columns and `null`
 * for missing values, so every port converts through these few helpers rather than casting.
 */
import type { Page } from '../ports/common.js';
import { encodePageToken } from './sql-search.js';
import type { Row } from './sql-driver.js';

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
