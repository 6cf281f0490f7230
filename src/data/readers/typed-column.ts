/**
 * Collects the values of a column whose type the file declares (Parquet, Arrow), as opposed to
 * one inferred from text. The declared type is kept, with one exception: a 64-bit integer
 * column holding a value beyond ±2^53 becomes a string column, since a float64 would silently
 * change its digits (the first such value is kept as the column's type break).
 */
import { makeTable, nullCount, type Column, type ColumnInference, type ColumnType, type TypeBreak } from '../table.js';
import type { ReadResult } from './files.js';

function jsonText(v: unknown): string {
  return JSON.stringify(v, (_, x: unknown) => (typeof x === 'bigint' ? (Number.isSafeInteger(Number(x)) ? Number(x) : String(x)) : x)) ?? String(v);
}

export class TypedColumn {
  private values = new Float64Array(1024);
  private valid = new Uint8Array(1024);
  private codes: Int32Array | undefined;
  private dict: Map<string, number> | undefined;
  private dictionary: string[] = [];
  private length = 0;
  typeBreak: TypeBreak | undefined;

  constructor(readonly name: string, public type: ColumnType) {
    if (type === 'string') this.toStrings();
  }

  private grow(min: number): void {
    let cap = Math.max(1024, this.codes ? this.codes.length : this.values.length);
    while (cap < min) cap *= 2;
    if (this.codes) {
      if (cap === this.codes.length) return;
      const c = new Int32Array(cap);
      c.set(this.codes.subarray(0, this.length));
      this.codes = c;
    } else {
      if (cap === this.values.length) return;
      const v = new Float64Array(cap);
      v.set(this.values.subarray(0, this.length));
      this.values = v;
      const m = new Uint8Array(cap);
      m.set(this.valid.subarray(0, this.length));
      this.valid = m;
    }
  }

  private toStrings(): void {
    const codes = new Int32Array(Math.max(1024, this.values.length));
    this.dict = new Map();
    for (let i = 0; i < this.length; i++) {
      codes[i] = this.valid[i] ? this.intern(this.type === 'boolean' ? String(this.values[i] !== 0) : String(this.values[i])) : -1;
    }
    this.codes = codes;
    this.values = new Float64Array(0);
    this.valid = new Uint8Array(0);
    this.type = 'string';
  }

  private intern(text: string): number {
    let code = this.dict!.get(text);
    if (code === undefined) {
      code = this.dictionary.length;
      this.dictionary.push(text);
      this.dict!.set(text, code);
    }
    return code;
  }

  /** Room for `n` more values, so the loops below need no per-value capacity check. */
  reserve(n: number): void {
    this.grow(this.length + n);
  }

  pushNull(): void {
    this.reserve(1);
    if (this.codes) this.codes[this.length++] = -1;
    else { this.values[this.length] = NaN; this.valid[this.length++] = 0; }
  }

  /** A number (ms for datetimes, 0/1 for booleans), bigint, boolean, Date, string or nested value. */
  push(v: unknown): void {
    if (v === null || v === undefined) { this.pushNull(); return; }
    if (this.codes) {
      this.reserve(1);
      const scalar = typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'symbol' || v instanceof Date;
      const text = typeof v === 'string' ? v : scalar ? String(v) : jsonText(v);
      this.codes[this.length++] = this.intern(text);
      return;
    }
    let x: number;
    if (typeof v === 'number') x = v;
    else if (typeof v === 'bigint') {
      x = Number(v);
      if (!Number.isSafeInteger(x) && this.type === 'integer') {
        this.typeBreak ??= {
          line: this.length + 1, value: String(v), wouldBe: 'integer',
          reason: `${String(v)} is beyond ±2^53, which a float64 cannot hold exactly, so the column is kept as text`,
        };
        this.toStrings();
        this.push(v);
        return;
      }
    } else if (typeof v === 'boolean') x = v ? 1 : 0;
    else if (v instanceof Date) x = v.getTime();
    else x = Number(v);
    this.reserve(1);
    this.values[this.length] = x;
    this.valid[this.length++] = Number.isNaN(x) ? 0 : 1;
  }

  /** A run of plain numbers without nulls, the common case for floats and small integers. */
  pushNumbers(src: ArrayLike<number>, start = 0, end = src.length): void {
    if (this.codes) { for (let i = start; i < end; i++) this.push(src[i]); return; }
    this.reserve(end - start);
    for (let i = start; i < end; i++) {
      const x = src[i]!;
      this.values[this.length] = x;
      this.valid[this.length++] = Number.isNaN(x) ? 0 : 1;
    }
  }

  get size(): number {
    return this.length;
  }

  finish(): Column {
    if (this.codes) return { name: this.name, type: 'string', codes: this.codes.slice(0, this.length), dictionary: this.dictionary };
    return {
      name: this.name, type: this.type as Exclude<ColumnType, 'string'>,
      values: this.values.slice(0, this.length), valid: this.valid.slice(0, this.length),
    };
  }
}

/** The table of finished columns, with their types and null counts as the inference. */
export function typedResult(cols: readonly TypedColumn[]): ReadResult {
  const columns = cols.map((c) => c.finish());
  const inference = cols.map((c, i): ColumnInference => {
    const column = columns[i]!;
    const out = { name: c.name, type: column.type, nullCount: nullCount(column) };
    return c.typeBreak ? { ...out, typeBreak: c.typeBreak } : out;
  });
  return { table: makeTable(columns, cols[0]?.size ?? 0), inference };
}
