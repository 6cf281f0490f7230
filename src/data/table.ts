/**
 * The columnar table every part of Trellis uses for data. Numbers, booleans and datetimes live in
 * float64 arrays beside a validity mask, so statistics, drift tests and trainers in `numeric/`
 * work on them without conversion; strings are dictionary-encoded, because the columns ML data
 * carries as text are mostly categories with few distinct values.
 *
 * Tables are immutable by convention: helpers return new tables and may share typed arrays with
 * their input (a slice is a view), so never write into a column you did not build.
 */
import { TrellisError } from '../core/errors.js';
import {
  KIND_BIG_INTEGER, KIND_BOOLEAN, KIND_DATETIME, KIND_FLOAT, KIND_INTEGER, KIND_TEXT, DEFAULT_NULL_VALUES,
  NullMatcher, cell, fieldEnd, formatDatetime, numberFormatIssue, parseBoolean, parseDatetime, parseNumber,
  scanSimpleNumber,
} from './readers/cells.js';
import { ByteDictionary } from './readers/byte-dictionary.js';

export type ColumnType = 'integer' | 'float' | 'boolean' | 'string' | 'datetime';
export type NumericColumnType = Exclude<ColumnType, 'string'>;

export interface NumericColumn {
  readonly name: string;
  readonly type: NumericColumnType;
  /** Booleans are 0/1 and datetimes ms since the epoch (UTC). NaN where `valid` is 0. */
  readonly values: Float64Array;
  /** 1 where the row has a value, 0 where it is null. */
  readonly valid: Uint8Array;
}

export interface StringColumn {
  readonly name: string;
  readonly type: 'string';
  /** Index into `dictionary`; -1 is null. */
  readonly codes: Int32Array;
  /** May hold entries no row uses (after a slice); never holds the same string twice. */
  readonly dictionary: readonly string[];
}

export type Column = NumericColumn | StringColumn;

export interface Table {
  readonly columns: readonly Column[];
  readonly rowCount: number;
}

/** Column name → type; the order of the keys is the order of the columns. */
export type TableSchema = Readonly<Record<string, ColumnType>>;

export type CellValue = number | string | boolean | null;

const dataError = (detail: string) => new TrellisError('TRELLIS_DATA_SCHEMA_MISMATCH', { detail });

/** Builds a table from finished columns, checking that they agree on length and names are unique. */
export function makeTable(columns: readonly Column[], rowCount?: number): Table {
  const first = columns[0];
  const n = rowCount ?? (first ? columnLength(first) : 0);
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c.name)) throw dataError(`Duplicate column name '${c.name}'`);
    seen.add(c.name);
    if (columnLength(c) !== n) throw dataError(`Column '${c.name}' has ${columnLength(c)} rows, expected ${n}`);
  }
  return { columns, rowCount: n };
}

export function columnLength(c: Column): number {
  return c.type === 'string' ? c.codes.length : c.values.length;
}

export function column(table: Table, name: string): Column {
  const c = table.columns.find((x) => x.name === name);
  if (!c) {
    throw new TrellisError('TRELLIS_DATA_COLUMN_NOT_FOUND', { name, columns: table.columns.map((x) => x.name).join(', ') });
  }
  return c;
}

export function tableSchema(table: Table): TableSchema {
  return Object.fromEntries(table.columns.map((c) => [c.name, c.type]));
}

export function isNull(c: Column, i: number): boolean {
  return c.type === 'string' ? c.codes[i]! < 0 : c.valid[i] === 0;
}

export function nullCount(c: Column): number {
  let n = 0;
  if (c.type === 'string') {
    for (let i = 0; i < c.codes.length; i++) if (c.codes[i]! < 0) n++;
  } else {
    for (let i = 0; i < c.valid.length; i++) if (c.valid[i] === 0) n++;
  }
  return n;
}

/**
 * One cell as a plain value; datetimes come back as ISO-8601 strings, so a row serialises as is.
 * `i` must be a row of the column (rowAt checks it for callers that cannot tell).
 */
export function valueAt(c: Column, i: number): CellValue {
  if (c.type === 'string') {
    const code = c.codes[i]!;
    return code < 0 ? null : c.dictionary[code]!;
  }
  if (c.valid[i] === 0) return null;
  const v = c.values[i]!;
  if (c.type === 'boolean') return v !== 0;
  if (c.type === 'datetime') return new Date(v).toISOString();
  return v;
}

export function rowAt(table: Table, i: number): Record<string, CellValue> {
  if (!Number.isInteger(i) || i < 0 || i >= table.rowCount) {
    throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Row ${i} is out of range: the table has ${table.rowCount} rows` });
  }
  const row: Record<string, CellValue> = {};
  for (const c of table.columns) row[c.name] = valueAt(c, i);
  return row;
}

/** Rows `[start, end)` with Array.prototype.slice semantics; the result shares memory with `table`. */
export function sliceRows(table: Table, start: number, end: number = table.rowCount): Table {
  const n = table.rowCount;
  const s = Math.min(n, start < 0 ? Math.max(0, n + start) : start);
  const e = Math.max(s, Math.min(n, end < 0 ? Math.max(0, n + end) : end));
  const columns = table.columns.map((c): Column => c.type === 'string'
    ? { name: c.name, type: c.type, codes: c.codes.subarray(s, e), dictionary: c.dictionary }
    : { name: c.name, type: c.type, values: c.values.subarray(s, e), valid: c.valid.subarray(s, e) });
  return { columns, rowCount: e - s };
}

export function selectColumns(table: Table, names: readonly string[]): Table {
  return { columns: names.map((n) => column(table, n)), rowCount: table.rowCount };
}

function isAllMidnight(c: NumericColumn): boolean {
  for (let i = 0; i < c.values.length; i++) if (c.valid[i] && c.values[i]! % 86400000 !== 0) return false;
  return true;
}

/** The column as text: what a mixed column looks like once a string forces it to be one. */
export function toStringColumn(c: Column): StringColumn {
  if (c.type === 'string') return c;
  const dateOnly = c.type === 'datetime' && isAllMidnight(c);
  const dict = new Map<string, number>();
  const dictionary: string[] = [];
  const codes = new Int32Array(c.values.length);
  for (let i = 0; i < codes.length; i++) {
    if (!c.valid[i]) { codes[i] = -1; continue; }
    const text = renderNumber(c.type, c.values[i]!, dateOnly);
    let code = dict.get(text);
    if (code === undefined) { code = dictionary.length; dictionary.push(text); dict.set(text, code); }
    codes[i] = code;
  }
  return { name: c.name, type: 'string', codes, dictionary };
}

function renderNumber(type: NumericColumnType, v: number, dateOnly: boolean): string {
  if (type === 'boolean') return v !== 0 ? 'true' : 'false';
  if (type === 'datetime') return formatDatetime(v, dateOnly);
  return String(v);
}

function concatStrings(name: string, a: StringColumn, b: StringColumn): StringColumn {
  const dictionary = [...a.dictionary];
  const index = new Map(dictionary.map((s, i) => [s, i]));
  const remap = b.dictionary.map((s) => {
    let code = index.get(s);
    if (code === undefined) { code = dictionary.length; dictionary.push(s); index.set(s, code); }
    return code;
  });
  const codes = new Int32Array(a.codes.length + b.codes.length);
  codes.set(a.codes);
  for (let i = 0; i < b.codes.length; i++) {
    const code = b.codes[i]!;
    codes[a.codes.length + i] = code < 0 ? -1 : remap[code]!;
  }
  return { name, type: 'string', codes, dictionary };
}

/**
 * `a` then `b`, matched by column name (b may order them differently). integer + float gives
 * float; any other pair of different types gives string, rendered as the builder would. A column
 * with no values on one side takes the other side's type.
 */
export function concatTables(a: Table, b: Table): Table {
  const names = new Set(a.columns.map((c) => c.name));
  const missing = a.columns.filter((c) => !b.columns.some((x) => x.name === c.name)).map((c) => c.name);
  const extra = b.columns.filter((c) => !names.has(c.name)).map((c) => c.name);
  if (missing.length || extra.length) {
    const parts = [];
    if (missing.length) parts.push(`missing from the second: ${missing.join(', ')}`);
    if (extra.length) parts.push(`only in the second: ${extra.join(', ')}`);
    throw dataError(`Cannot concatenate tables with different columns (${parts.join('; ')})`);
  }
  const columns = a.columns.map((ca): Column => {
    const cb = column(b, ca.name);
    const type = promote(ca, cb);
    if (type === 'string') return concatStrings(ca.name, toStringColumn(ca), toStringColumn(cb));
    // One side may be an all-null string column taking the other side's type.
    const x: Column = ca;
    const y: Column = cb;
    const values = new Float64Array(a.rowCount + b.rowCount);
    const valid = new Uint8Array(a.rowCount + b.rowCount);
    if (x.type !== 'string') { values.set(x.values); valid.set(x.valid); } else values.fill(NaN, 0, a.rowCount);
    if (y.type !== 'string') { values.set(y.values, a.rowCount); valid.set(y.valid, a.rowCount); } else values.fill(NaN, a.rowCount);
    return { name: ca.name, type, values, valid };
  });
  return { columns, rowCount: a.rowCount + b.rowCount };
}

function promote(a: Column, b: Column): ColumnType {
  if (a.type === b.type) return a.type;
  if (nullCount(b) === columnLength(b)) return a.type;
  if (nullCount(a) === columnLength(a)) return b.type;
  if ((a.type === 'integer' && b.type === 'float') || (a.type === 'float' && b.type === 'integer')) return 'float';
  return 'string';
}

/**
 * A table from plain objects. Without a schema each column's type follows its JS values (numbers,
 * booleans, Dates, ISO-8601 date strings, other strings); with one, values are converted to the
 * named types and one that cannot be is an error naming its row and column. Columns appear in
 * schema order, then in the order rows first mention them.
 */
export function tableFromRows(rows: readonly Record<string, unknown>[], schema?: TableSchema): Table {
  const builder = new TableBuilder(schema ? Object.keys(schema) : [], { types: schema });
  rows.forEach((row, i) => {
    const bad = builder.appendRecord(row);
    if (bad) throw dataError(`Row ${i}, column '${bad.column}': ${bad.detail}`);
  });
  return builder.finish();
}

// ---------------------------------------------------------------------------------------------
// Building tables while inferring types

/**
 * Large columns live in shared memory, so a worker thread (profiling, training) can read them
 * without a copy: on a VM the first write to fresh pages costs more than the work it would share.
 */
const SHARED_MIN_BYTES = 1 << 20;

function sharedArray<T extends Float64Array | Int32Array | Uint8Array>(
  Ctor: { new (n: number): T; new (buffer: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number },
  n: number,
): T {
  const bytes = n * Ctor.BYTES_PER_ELEMENT;
  return bytes >= SHARED_MIN_BYTES ? new Ctor(new SharedArrayBuffer(bytes)) : new Ctor(n);
}

/** Why a column that held typed values became a string column: the first value that did not fit. */
export interface TypeBreak {
  /** 1-based line of the source (the row number for sources without lines). */
  readonly line: number;
  readonly value: string;
  /** The type the column had (or the value looked like) before this value. */
  readonly wouldBe: ColumnType;
  readonly reason: string;
}

export interface ColumnInference {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullCount: number;
  /** Set when the column is `string` because a value broke the type the values before it had. */
  readonly typeBreak?: TypeBreak;
}

export interface TableBuilderOptions {
  /** Cell texts read as null. Default: '', NA, N/A, null, NULL, NaN, ?. */
  readonly nullValues?: readonly string[];
  /** The decimal mark of numbers written as text. With ',' a comma decimal (3,14) is a float. */
  readonly decimal?: '.' | ',';
  /** Types to impose instead of inferring them; a value that does not fit is rejected. */
  readonly types?: TableSchema;
}

/** The cells of a batch, one array per column in the builder's column order. */
export interface CellBatch {
  readonly columns: readonly (readonly (string | null)[])[];
  /** Line of the first row, for the lines named in type breaks (default: the row number). */
  readonly firstLine?: number;
  /** Line of each row, when rows can span several lines (quoted newlines). */
  readonly lines?: ArrayLike<number>;
}

const S_EMPTY = 0;
const S_INTEGER = 1;
const S_FLOAT = 2;
const S_BOOLEAN = 3;
const S_DATETIME = 4;
const S_STRING = 5;
type State = typeof S_EMPTY | typeof S_INTEGER | typeof S_FLOAT | typeof S_BOOLEAN | typeof S_DATETIME | typeof S_STRING;
const STATE_TYPE: Readonly<Record<State, ColumnType>> = ['string', 'integer', 'float', 'boolean', 'datetime', 'string'];
const TYPE_STATE: Readonly<Record<ColumnType, State>> = {
  integer: S_INTEGER, float: S_FLOAT, boolean: S_BOOLEAN, datetime: S_DATETIME, string: S_STRING,
};
const ARTICLE: Record<ColumnType, string> = {
  integer: 'an integer', float: 'a number', boolean: 'a boolean (true/false)',
  datetime: 'an ISO-8601 date or datetime', string: 'a string',
};

/** Grammar settings shared by the columns of one builder. */
interface Grammar {
  readonly nulls: NullMatcher;
  readonly decimalComma: boolean;
}

const scratch = Buffer.alloc(256);
const MAX_TYPED_TEXT = 80;

/**
 * One column being built. Readers that parse bytes (CSV) push fields straight from their buffers;
 * a push returns false only when an imposed type rejects the value, with the reason in `rejection`.
 */
export class ColumnBuilder {
  readonly name: string;
  /** Set once a string arrived after typed values, which were then re-rendered as text. */
  rerendered = false;
  rejection = '';
  typeBreak: TypeBreak | undefined;
  length = 0;
  private state: State;
  private readonly forced: boolean;
  private values: Float64Array;
  /** Made at the first null: until then every row is valid, and a column without nulls never needs one. */
  private valid: Uint8Array | undefined;
  private codes: Int32Array | undefined;
  private dict: Map<string, number> | undefined;
  private dictionary: string[] | undefined;
  private bytes: ByteDictionary | undefined;
  private dateOnly = true;
  private typed = 0;
  private readonly decimalMark: number;

  constructor(name: string, private readonly grammar: Grammar, forcedType?: ColumnType, capacity = 256) {
    this.name = name;
    this.decimalMark = grammar.decimalComma ? 44 : 46;
    this.values = new Float64Array(capacity);
    this.forced = forcedType !== undefined;
    this.state = forcedType === undefined ? S_EMPTY : TYPE_STATE[forcedType];
    if (this.state === S_STRING) this.toStrings();
  }

  get type(): ColumnType {
    return STATE_TYPE[this.state];
  }

  private capacity(): number {
    return this.codes ? this.codes.length : this.values.length;
  }

  private grow(): void {
    this.reserve(this.capacity() * 2);
  }

  /**
   * Makes room for `rows` values at once. Readers that can estimate their row count call this
   * early: each reallocation writes every value again, and on a VM the first write to a page is
   * what costs most (finish hands out a view, so pages past the end are never touched).
   */
  reserve(rows: number): void {
    if (rows <= this.capacity()) return;
    if (this.codes) {
      const c = sharedArray(Int32Array, rows);
      c.set(this.codes.subarray(0, this.length));
      this.codes = c;
    } else {
      const v = sharedArray(Float64Array, rows);
      v.set(this.values.subarray(0, this.length));
      this.values = v;
      if (this.valid) {
        const m = sharedArray(Uint8Array, rows);
        m.set(this.valid.subarray(0, this.length));
        this.valid = m;
      }
    }
  }

  pushNull(): void {
    if (this.length === this.capacity()) this.grow();
    if (this.codes) {
      this.codes[this.length++] = -1;
    } else {
      if (!this.valid) {
        this.valid = sharedArray(Uint8Array, this.values.length);
        this.valid.fill(1, 0, this.length);
      }
      this.values[this.length] = NaN;
      this.valid[this.length++] = 0;
    }
  }

  /**
   * An unquoted CSV field at `s`: returns the index of the delimiter, CR or LF that ends it
   * after taking it, `limit` (taking nothing) when none comes first, or -1 when it is rejected.
   */
  scanField(buf: Buffer, s: number, limit: number, delimiter: number, line: number): number {
    const st = this.state;
    if (st === S_FLOAT || st === S_INTEGER) {
      const e = scanSimpleNumber(buf, s, limit, delimiter, this.decimalMark);
      if (e >= 0 && (st === S_FLOAT || !cell.isFloat)) {
        if (this.length === this.values.length) this.grow();
        this.values[this.length] = cell.value;
        if (this.valid) this.valid[this.length] = 1;
        this.length++;
        return e;
      }
    }
    const e = fieldEnd(buf, s, limit, delimiter);
    if (e >= limit) return limit;
    return this.pushBytes(buf, s, e, false, line) ? e : -1;
  }

  /** A field as bytes; `escaped` says it held doubled quotes, which the text must lose. */
  pushBytes(buf: Buffer, s: number, e: number, escaped: boolean, line: number): boolean {
    if (this.grammar.nulls.matchesBytes(buf, s, e) && !escaped) {
      this.pushNull();
      return true;
    }
    const st = this.state;
    if (st === S_STRING) {
      if (!escaped && this.bytes) {
        let code = this.bytes.find(buf, s, e);
        if (code < 0) {
          code = this.intern(buf.toString('utf8', s, e));
          this.bytes.add(code, buf, s, e);
          // Mostly distinct values (ids, free text) gain nothing from having their bytes kept.
          if (this.bytes.count > 65536 && this.bytes.count * 2 > this.length) this.bytes = undefined;
        }
        if (this.length === this.codes!.length) this.grow();
        this.codes![this.length++] = code;
        return true;
      }
      const text = buf.toString('utf8', s, e);
      this.pushString(escaped ? text.replaceAll('""', '"') : text);
      return true;
    }
    if (escaped) return this.pushTypedText(buf.toString('utf8', s, e).replaceAll('""', '"'), line);
    if (st === S_FLOAT || st === S_INTEGER) {
      const k = parseNumber(buf, s, e, this.grammar.decimalComma);
      if (k === KIND_INTEGER || (k === KIND_FLOAT && st === S_FLOAT)) {
        if (this.length === this.values.length) this.grow();
        this.values[this.length] = cell.value;
        if (this.valid) this.valid[this.length] = 1;
        this.length++;
        return true;
      }
      return this.accept(k, buf, s, e, line);
    }
    return this.accept(this.classify(buf, s, e), buf, s, e, line);
  }

  /** A cell of text, typed by the same grammar as bytes. */
  pushText(text: string | null, line: number): boolean {
    if (text === null || this.grammar.nulls.matches(text)) {
      this.pushNull();
      return true;
    }
    if (this.state === S_STRING) {
      this.pushString(text);
      return true;
    }
    return this.pushTypedText(text, line);
  }

  private pushTypedText(text: string, line: number): boolean {
    if (text.length > MAX_TYPED_TEXT) return this.acceptText(KIND_TEXT, text, line);
    const n = scratch.write(text, 0, 'utf8');
    return this.accept(this.classify(scratch, 0, n), scratch, 0, n, line, text);
  }

  /**
   * A JS value, as in a JSON document or a row object. Strings are only read as datetimes (ISO)
   * unless a type is imposed: JSON said they are strings, and "007" must stay "007".
   */
  pushValue(v: unknown, line: number): boolean {
    if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) {
      this.pushNull();
      return true;
    }
    if (typeof v === 'string') {
      if (this.forced) return this.pushText(v, line);
      if (this.state === S_STRING) { this.pushString(v); return true; }
      if (v.length <= MAX_TYPED_TEXT) {
        const n = scratch.write(v, 0, 'utf8');
        if (parseDatetime(scratch, 0, n) === KIND_DATETIME) return this.accept(KIND_DATETIME, scratch, 0, n, line, v);
      }
      return this.acceptText(KIND_TEXT, v, line);
    }
    // The text of a number or boolean is only needed if it breaks the column's type: made lazily.
    if (typeof v === 'number') {
      cell.value = v;
      this.pending = v;
      return this.accept(Number.isInteger(v) ? (Number.isSafeInteger(v) ? KIND_INTEGER : KIND_BIG_INTEGER) : KIND_FLOAT, scratch, 0, 0, line);
    }
    if (typeof v === 'boolean') {
      cell.value = v ? 1 : 0;
      this.pending = v;
      return this.accept(KIND_BOOLEAN, scratch, 0, 0, line);
    }
    if (typeof v === 'bigint') {
      cell.value = Number(v);
      return this.accept(Number.isSafeInteger(cell.value) ? KIND_INTEGER : KIND_BIG_INTEGER, scratch, 0, 0, line, String(v));
    }
    if (v instanceof Date) {
      const t = v.getTime();
      if (Number.isNaN(t)) { this.pushNull(); return true; }
      cell.value = t;
      cell.dateOnly = t % 86400000 === 0;
      return this.accept(KIND_DATETIME, scratch, 0, 0, line, v.toISOString());
    }
    // Functions and symbols have no JSON text.
    const text = typeof v === 'function' || typeof v === 'symbol' ? String(v) : JSON.stringify(v) ?? Object.prototype.toString.call(v);
    return this.acceptText(KIND_TEXT, text, line);
  }

  /** Which grammar to try first depends on what the column holds so far. */
  private classify(buf: Uint8Array, s: number, e: number): number {
    const dc = this.grammar.decimalComma;
    switch (this.state) {
      case S_INTEGER:
      case S_FLOAT:
        return parseNumber(buf, s, e, dc);
      case S_BOOLEAN: {
        const k = parseBoolean(buf, s, e);
        return k !== KIND_TEXT || !this.forced ? k : parseNumber(buf, s, e, dc);
      }
      case S_DATETIME:
        return parseDatetime(buf, s, e);
      default: {
        let k = parseNumber(buf, s, e, dc);
        if (k === KIND_TEXT) k = parseBoolean(buf, s, e);
        if (k === KIND_TEXT) k = parseDatetime(buf, s, e);
        return k;
      }
    }
  }

  /** Stores a classified value (in `cell`), moving the column along integer → float → string. */
  /** A JS number or boolean being pushed, rendered as text only if it is rejected. */
  private pending: number | boolean | undefined;

  private accept(kind: number, buf: Uint8Array, s: number, e: number, line: number, text?: string): boolean {
    const st = this.state;
    let next: State | -1 = -1;
    if (this.forced) {
      if ((st === S_INTEGER && kind === KIND_INTEGER)
        || (st === S_FLOAT && (kind === KIND_INTEGER || kind === KIND_FLOAT || kind === KIND_BIG_INTEGER))
        || (st === S_DATETIME && kind === KIND_DATETIME)
        || (st === S_BOOLEAN && kind === KIND_BOOLEAN)) next = st;
      else if (st === S_BOOLEAN && kind === KIND_INTEGER && (cell.value === 0 || cell.value === 1)) next = st;
    } else if (kind === KIND_INTEGER) {
      next = st === S_EMPTY ? S_INTEGER : st === S_INTEGER || st === S_FLOAT ? st : -1;
    } else if (kind === KIND_FLOAT || kind === KIND_BIG_INTEGER) {
      next = st === S_FLOAT || st === S_INTEGER || (st === S_EMPTY && kind === KIND_FLOAT) ? S_FLOAT : -1;
    } else if (kind === KIND_BOOLEAN) {
      next = st === S_EMPTY || st === S_BOOLEAN ? S_BOOLEAN : -1;
    } else if (kind === KIND_DATETIME) {
      next = st === S_EMPTY || st === S_DATETIME ? S_DATETIME : -1;
    }
    if (next === -1) {
      const pending = this.pending;
      this.pending = undefined;
      return this.acceptText(kind, text ?? (pending !== undefined ? String(pending) : (buf as Buffer).toString('utf8', s, e)), line);
    }
    this.pending = undefined;
    if (kind === KIND_DATETIME && !cell.dateOnly) this.dateOnly = false;
    this.state = next;
    if (this.length === this.values.length) this.grow();
    this.values[this.length] = cell.value;
    if (this.valid) this.valid[this.length] = 1;
    this.length++;
    this.typed++;
    return true;
  }

  private acceptText(kind: number, text: string, line: number): boolean {
    const st = this.state;
    if (this.forced && st !== S_STRING) {
      // Always names the column: callers that widen an imposed type find it in this text.
      const shown = text.length > 100 ? `${text.slice(0, 100)}…` : text;
      const what = `'${shown}' in column '${this.name}' is not ${ARTICLE[STATE_TYPE[st]]}`;
      const format = st === S_INTEGER || st === S_FLOAT ? numberFormatIssue(text, this.grammar.decimalComma) : undefined;
      this.rejection = format
        ? `${what}: it ${format.issue}; ${format.fix}`
        : kind === KIND_BIG_INTEGER && st === S_INTEGER
          ? `${what}: it is beyond ±2^53, which a float64 cannot hold exactly; declare the column float or string`
          : what;
      return false;
    }
    if (this.typeBreak === undefined && st !== S_STRING) this.typeBreak = this.breakFor(kind, text, line);
    if (st !== S_STRING) this.toStrings();
    this.pushString(text);
    return true;
  }

  private breakFor(kind: number, text: string, line: number): TypeBreak | undefined {
    const value = text.length > 100 ? `${text.slice(0, 100)}…` : text;
    const format = numberFormatIssue(text, this.grammar.decimalComma);
    const formatted = format && `'${value}' ${format.issue}, so it is kept as text; ${format.fix}`;
    const big = `'${value}' is an integer beyond ±2^53, which a float64 cannot hold exactly, so the column is kept as text`;
    if (this.state === S_EMPTY) {
      if (kind === KIND_BIG_INTEGER) return { line, value, wouldBe: 'integer', reason: big };
      if (formatted === undefined) return undefined;
      return { line, value, wouldBe: /[.,]\d{1,2}$|,\d+$/.test(text.trim()) ? 'float' : 'integer', reason: formatted };
    }
    const wouldBe = STATE_TYPE[this.state];
    const reason = formatted ?? (kind === KIND_BIG_INTEGER ? big : `'${value}' is not ${ARTICLE[wouldBe]}, so the column is kept as text`);
    return { line, value, wouldBe, reason };
  }

  /** Turns the column into a string column, re-rendering the typed values it held. */
  private toStrings(): void {
    const codes = new Int32Array(Math.max(256, this.values.length));
    this.dict = new Map();
    this.dictionary = [];
    this.bytes = new ByteDictionary();
    for (let i = 0; i < this.length; i++) {
      if (this.valid && !this.valid[i]) { codes[i] = -1; continue; }
      codes[i] = this.intern(renderNumber(STATE_TYPE[this.state] as NumericColumnType, this.values[i]!, this.dateOnly));
    }
    if (this.typed > 0) this.rerendered = true;
    this.codes = codes;
    this.values = new Float64Array(0);
    this.valid = undefined;
    this.state = S_STRING;
  }

  private intern(text: string): number {
    let code = this.dict!.get(text);
    if (code === undefined) {
      code = this.dictionary!.length;
      this.dictionary!.push(text);
      this.dict!.set(text, code);
    }
    return code;
  }

  private pushString(text: string): void {
    if (this.length === this.codes!.length) this.grow();
    this.codes![this.length++] = this.intern(text);
  }

  /** Drops rows past `n`: a reader that reached the end of its buffer mid-row will read it again. */
  truncate(n: number): void {
    if (n < this.length) this.length = n;
  }

  nullCount(): number {
    let n = 0;
    if (this.codes) {
      for (let i = 0; i < this.length; i++) if (this.codes[i]! < 0) n++;
    } else if (this.valid) {
      for (let i = 0; i < this.length; i++) if (this.valid[i] === 0) n++;
    }
    return n;
  }

  /** `allValid`: a shared mask of ones for columns without nulls (tables are read-only). */
  finish(allValid?: Uint8Array): Column {
    // A column with no values says nothing about its type; text is the type that claims least.
    if (this.state === S_EMPTY) this.toStrings();
    this.bytes = undefined;
    if (this.codes) {
      return { name: this.name, type: 'string', codes: this.codes.subarray(0, this.length), dictionary: this.dictionary! };
    }
    let valid = this.valid?.subarray(0, this.length);
    if (!valid) valid = allValid && allValid.length >= this.length ? allValid.subarray(0, this.length) : new Uint8Array(this.length).fill(1);
    return { name: this.name, type: STATE_TYPE[this.state] as NumericColumnType, values: this.values.subarray(0, this.length), valid };
  }
}

/**
 * Builds a table a batch at a time, so readers can stream: each column's type is inferred from
 * its cells (integer, float, boolean true/false, ISO-8601 date or datetime, else string) and
 * promoted as later rows demand — integer to float, and anything to string when a value fits no
 * typed reading. The first value that forced a column to string is kept in {@link inference}.
 */
export class TableBuilder {
  private readonly cols: ColumnBuilder[] = [];
  private readonly byName = new Map<string, ColumnBuilder>();
  private readonly grammar: Grammar;
  private readonly types: TableSchema;
  private rows = 0;

  constructor(names: readonly string[], options: TableBuilderOptions = {}) {
    if (options.decimal !== undefined && options.decimal !== '.' && options.decimal !== ',') {
      throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `decimal must be '.' or ',', not '${String(options.decimal)}'` });
    }
    this.grammar = {
      nulls: new NullMatcher(options.nullValues ?? DEFAULT_NULL_VALUES),
      decimalComma: options.decimal === ',',
    };
    this.types = options.types ?? {};
    for (const [name, type] of Object.entries(this.types)) {
      if (!(type in TYPE_STATE)) {
        throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Column '${name}' has unknown type '${String(type)}'; use one of ${Object.keys(TYPE_STATE).join(', ')}` });
      }
    }
    for (const n of names) this.addColumn(n);
  }

  get rowCount(): number {
    return this.rows;
  }

  get columnNames(): string[] {
    return this.cols.map((c) => c.name);
  }

  /** The builder of column `i`, for readers that push bytes themselves. */
  columnBuilder(i: number): ColumnBuilder {
    const c = this.cols[i];
    if (!c) throw new RangeError(`No column ${i}: the builder has ${this.cols.length}`);
    return c;
  }

  /** Adds a column, null in every row so far (for sources whose rows name their columns). */
  addColumn(name: string): ColumnBuilder {
    if (this.byName.has(name)) throw dataError(`Duplicate column name '${name}'`);
    const c = new ColumnBuilder(name, this.grammar, Object.hasOwn(this.types, name) ? this.types[name] : undefined);
    for (let i = 0; i < this.rows; i++) c.pushNull();
    this.cols.push(c);
    this.byName.set(name, c);
    return c;
  }

  /** Room for this many rows in every column; see {@link ColumnBuilder.reserve}. */
  reserve(rows: number): void {
    for (const c of this.cols) c.reserve(Math.ceil(rows));
  }

  /** Marks the current row complete: every column has had one push since the last row. */
  endRow(): void {
    this.rows++;
  }

  /** Forgets pushes made since the last complete row. */
  rollback(): void {
    for (const c of this.cols) c.truncate(this.rows);
  }

  /**
   * Appends a batch of text cells. A value that an imposed type rejects throws TRELLIS_DATA_PARSE
   * naming `source`, the line and — lacking byte positions — the field number as the column.
   */
  append(batch: CellBatch, source = '<cells>'): void {
    if (batch.columns.length !== this.cols.length) {
      throw dataError(`A batch has ${batch.columns.length} columns, the builder ${this.cols.length}`);
    }
    const n = batch.columns[0]?.length ?? 0;
    const first = batch.firstLine ?? this.rows + 1;
    if (batch.lines && batch.lines.length < n) throw dataError(`A batch of ${n} rows has line numbers for ${batch.lines.length}`);
    for (let j = 0; j < this.cols.length; j++) {
      const cells = batch.columns[j]!;
      const c = this.cols[j]!;
      if (cells.length !== n) throw dataError(`Column '${c.name}' of a batch has ${cells.length} cells, expected ${n}`);
      for (let i = 0; i < n; i++) {
        const line = batch.lines ? batch.lines[i]! : first + i;
        if (!c.pushText(cells[i]!, line)) {
          this.rollback();
          throw new TrellisError('TRELLIS_DATA_PARSE', { file: source, line, column: j + 1, detail: c.rejection });
        }
      }
    }
    this.rows += n;
  }

  /**
   * Appends one record; keys not seen before become new columns. Returns the column and reason
   * when an imposed type rejected a value (the row is then not added), else undefined.
   */
  appendRecord(record: Record<string, unknown>, line = this.rows + 1): { column: string; detail: string } | undefined {
    for (const key of Object.keys(record)) if (!this.byName.has(key)) this.addColumn(key);
    for (const c of this.cols) {
      if (!c.pushValue(Object.hasOwn(record, c.name) ? record[c.name] : null, line)) {
        this.rollback();
        return { column: c.name, detail: c.rejection };
      }
    }
    this.rows++;
    return undefined;
  }

  /** Names of string columns whose earlier typed values were re-rendered (1.50 became "1.5"). */
  rerenderedColumns(): string[] {
    return this.cols.filter((c) => c.rerendered).map((c) => c.name);
  }

  inference(): ColumnInference[] {
    return this.cols.map((c) => {
      const out: ColumnInference = { name: c.name, type: c.type, nullCount: c.nullCount() };
      return c.typeBreak && c.type === 'string' ? { ...out, typeBreak: c.typeBreak } : out;
    });
  }

  finish(): Table {
    for (const name of Object.keys(this.types)) if (!this.byName.has(name)) this.addColumn(name);
    const ones = sharedArray(Uint8Array, this.rows).fill(1);
    return { columns: this.cols.map((c) => c.finish(ones)), rowCount: this.rows };
  }
}
