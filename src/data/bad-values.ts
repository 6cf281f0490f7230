/**
 * The values of a column that do not fit the type it should have, with where they are in the
 * source, so a type error names a cell that is actually wrong (`line 71 has "2O"`) rather than
 * the first value of the column. Readers remember, per string column, the value that made it a
 * string column and its line; other offending values are placed by their row.
 */
import { valueAt, type Column, type ColumnType, type Table, type TypeBreak } from './table.js';

const breaks = new WeakMap<Column, TypeBreak>();

/** Records why `col` became a string column (set by the readers). */
export function rememberTypeBreak(col: Column, typeBreak: TypeBreak): void {
  breaks.set(col, typeBreak);
}

/** The value that made `col` a string column and its source line, when a reader recorded it. */
export function typeBreakOf(col: Column): TypeBreak | undefined {
  return breaks.get(col);
}

export interface BadValue {
  /** 0-based row of the table. */
  row: number;
  value: string | number | boolean;
  /** 1-based line of the source (a CSV's header is line 1), when known. */
  line?: number;
}

const BOOLEAN = /^(true|false|0|1)$/i;

/** Whether `v` can stand for a value of type `want`. */
export function fitsType(v: string | number | boolean, want: ColumnType): boolean {
  if (want === 'string') return true;
  if (typeof v === 'boolean') return want === 'boolean';
  if (typeof v === 'number') {
    if (want === 'integer') return Number.isInteger(v);
    if (want === 'boolean') return v === 0 || v === 1;
    return want === 'float' || want === 'datetime';
  }
  const t = v.trim();
  if (want === 'boolean') return BOOLEAN.test(t);
  if (want === 'datetime') return t !== '' && !Number.isNaN(Date.parse(t));
  const x = t === '' ? Number.NaN : Number(t);
  return want === 'integer' ? Number.isInteger(x) : Number.isFinite(x);
}

/** The first `max` values of `col` that are not of type `want`, and how many there are in all. */
export function badValues(col: Column, want: ColumnType, max = 3): { count: number; first: BadValue[] } {
  const first: BadValue[] = [];
  let count = 0;
  const n = col.type === 'string' ? col.codes.length : col.values.length;
  const tb = typeBreakOf(col);
  // For a string column, each distinct text is judged once.
  const judged = col.type === 'string' ? new Int8Array(col.dictionary.length) : undefined;
  for (let i = 0; i < n; i++) {
    let ok: boolean;
    if (col.type === 'string') {
      const code = col.codes[i]!;
      if (code < 0) continue;
      if (judged![code] === 0) judged![code] = fitsType(col.dictionary[code]!, want) ? 1 : -1;
      ok = judged![code] === 1;
    } else {
      if (!col.valid[i]) continue;
      ok = fitsType(valueAt(col, i)!, want);
    }
    if (ok) continue;
    count++;
    if (first.length < max) {
      const value = valueAt(col, i)!;
      // The recorded break is the first value that did not fit, so it can only be the first one found.
      const line = first.length === 0 && tb && String(value) === tb.value ? tb.line : undefined;
      first.push(line === undefined ? { row: i, value } : { row: i, value, line });
    }
  }
  return { count, first };
}

const WANTS: Record<ColumnType, string> = {
  integer: 'whole numbers', float: 'numbers', boolean: 'true/false values', datetime: 'dates', string: 'text',
};

const where = (b: BadValue) => (b.line !== undefined ? `line ${b.line}` : `row ${b.row + 1}`);

/**
 * `column 'hr' expects numbers; line 71 has "2O"` (and how many more values do not fit), or
 * undefined when every value fits.
 */
export function describeBadValues(what: string, col: Column, want: ColumnType, max = 3): string | undefined {
  const { count, first } = badValues(col, want, max);
  if (!first.length) return undefined;
  const shown = first.map((b) => `${where(b)} has ${JSON.stringify(b.value)}`).join(', ');
  const more = count > first.length ? ` (${count} values in all do not fit)` : '';
  return `${what} expects ${WANTS[want]}; ${shown}${more}`;
}

/** A column read as text although nearly all its values are numbers: a typo made it categorical. */
export interface MostlyNumeric {
  column: string;
  /** Values that are not numbers, and the non-null values in all. */
  bad: number;
  values: number;
  first: BadValue;
}

/**
 * Text columns of `table` whose values are numbers but for a few (at most `maxShare` of them,
 * and at least 5 numbers): the ones where a typo, not the data, decided the type.
 */
export function mostlyNumericTextColumns(table: Table, maxShare = 0.1): MostlyNumeric[] {
  const out: MostlyNumeric[] = [];
  for (const col of table.columns) {
    if (col.type !== 'string') continue;
    const { count, first } = badValues(col, 'float', 1);
    if (!count) continue;
    let values = 0;
    for (const code of col.codes) if (code >= 0) values++;
    if (values - count >= 5 && count <= maxShare * values) out.push({ column: col.name, bad: count, values, first: first[0]! });
  }
  return out;
}

/** `column 'hr' looks numeric but was read as text, …: 1 of 100 values is not a number, the first at line 71: "2O"; …`. */
export function describeMostlyNumeric(m: MostlyNumeric): string {
  const what = `${m.bad} of ${m.values} values ${m.bad === 1 ? 'is not a number' : 'are not numbers'}`;
  return `column '${m.column}' looks numeric but was read as text, so it is treated as categorical: ${what}, the first at ${where(m.first)}: ${JSON.stringify(m.first.value)}; fix the data or convert the column`;
}
