/**
 * The CSV tokenizer: finds fields in raw bytes and hands each one, as a byte range of its buffer,
 * to a per-column sink. Sinks decide what a field becomes (a float parsed in place, a dictionary
 * code, a string), so the tokenizer never makes a string or an array per row.
 *
 * Input arrives in chunks; a record cut by the end of a chunk is rolled back and read again once
 * the next chunk is appended, so sinks only ever see fields whose bytes are complete.
 */
import { isUtf8 } from 'node:buffer';
import { TrellisError } from '../../core/errors.js';
import { fieldEnd, findInvalidUtf8, incompleteUtf8Tail } from './cells.js';

/** Receives the fields of one column. */
export interface FieldSink {
  /**
   * An unquoted field starting at `start`: finds where it ends (the first delimiter, CR or LF
   * before `limit`), takes it and returns that index. Returns `limit`, having taken nothing,
   * when no terminator comes first (the field may go on in the next chunk), and -1 when the
   * value is rejected. Finding the end is the sink's job so that a number is read as it is found.
   */
  scanField(buf: Buffer, start: number, limit: number, delimiter: number, line: number): number;
  /** A whole field; `escaped`: it was quoted and holds doubled quotes. */
  pushBytes(buf: Buffer, start: number, end: number, escaped: boolean, line: number): boolean;
  /** Why the last push was rejected. */
  readonly rejection: string;
}

/** scanField for sinks that have no faster way than finding the end first. */
export function scanFieldThenPush(sink: FieldSink, buf: Buffer, s: number, limit: number, d: number, line: number): number {
  const e = fieldEnd(buf, s, limit, d);
  if (e >= limit) return limit;
  return sink.pushBytes(buf, s, e, false, line) ? e : -1;
}

export interface RowSink {
  /** The row whose first line is `line` is complete. */
  endRow(line: number): void;
  /** Forget fields pushed since the last complete row. */
  rollback(): void;
}

const LF = 10;
const CR = 13;
const QUOTE = 34;
const EMPTY = Buffer.alloc(0);

const DELIMITERS = [',', ';', '\t', '|'] as const;

export class CsvScanner {
  /** 1-based line number of the next unread byte. */
  line = 1;
  delimiter = -1;
  header: string[] | undefined;
  rows = 0;
  /** The bytes being read; chunks are read straight into it, after the unread tail. */
  private work: Buffer = EMPTY;
  private len = 0;
  /** work[0, len): what `scan` reads. */
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Absolute offset of buf[0] in the file. */
  private base = 0;
  private final = false;
  /** buf[pos, checked) is known to be valid UTF-8. */
  private checked = 0;
  private badUtf8 = -1;
  /** A record larger than a chunk: wait for this many bytes before scanning again (keeps it O(n)). */
  private waitFor = 0;
  private started = false;
  /** The last scan ended at the limit (end of input or a bad byte) rather than the row limit. */
  private stoppedAtLimit = false;

  constructor(readonly file: string, delimiter?: string) {
    if (delimiter !== undefined) {
      if (delimiter.length !== 1 || delimiter.charCodeAt(0) > 127 || '"\r\n'.includes(delimiter)) {
        throw new TrellisError('TRELLIS_INVALID_PARAMETER', {
          detail: `delimiter must be one ASCII character other than a quote or a newline, not ${JSON.stringify(delimiter)}`,
        });
      }
      this.delimiter = delimiter.charCodeAt(0);
    }
  }

  /** Bytes of the file consumed so far. */
  get consumed(): number {
    return this.base + this.pos;
  }

  /**
   * Where the next `n` bytes of input go. The unread tail moves to the front of one reused
   * buffer rather than into a new one per chunk: on a VM, first writes to fresh pages cost more
   * than the whole parse of them.
   */
  space(n: number): { target: Buffer; offset: number } {
    if (this.pos > 0) {
      this.work.copyWithin(0, this.pos, this.len);
      this.base += this.pos;
      this.len -= this.pos;
      this.checked = Math.max(0, this.checked - this.pos);
      if (this.badUtf8 >= 0) this.badUtf8 -= this.pos;
      this.pos = 0;
    }
    if (this.work.length < this.len + n) {
      const next = Buffer.allocUnsafe(Math.max(2 * this.work.length, this.len + n, 2 * n));
      this.work.copy(next, 0, 0, this.len);
      this.work = next;
    }
    return { target: this.work, offset: this.len };
  }

  /** `n` bytes were written where `space` said; false while a record larger than a chunk is incomplete. */
  filled(n: number): boolean {
    this.len += n;
    if (this.len - this.pos < this.waitFor) return false;
    this.absorb();
    return true;
  }

  /** Appends a chunk (a copy of it); see {@link filled}. */
  push(chunk: Buffer): boolean {
    const { target, offset } = this.space(chunk.length);
    chunk.copy(target, offset);
    return this.filled(chunk.length);
  }

  /** No more input: the last record needs no newline. */
  end(): void {
    this.final = true;
    this.absorb();
  }

  private absorb(): void {
    this.buf = this.work.subarray(0, this.len);
    this.waitFor = 0;
    if (!this.started && (this.buf.length >= 3 || this.final)) {
      this.started = true;
      if (this.buf[0] === 0xef && this.buf[1] === 0xbb && this.buf[2] === 0xbf) this.pos = this.checked = 3;
    }
    this.validate();
  }

  private validate(): void {
    if (this.badUtf8 >= 0) return;
    const end = this.final ? this.buf.length : this.buf.length - incompleteUtf8Tail(this.buf, this.checked, this.buf.length);
    if (end > this.checked && !isUtf8(this.buf.subarray(this.checked, end))) {
      this.badUtf8 = findInvalidUtf8(this.buf, this.checked, end);
    }
    this.checked = end;
  }

  /** The end of bytes that may be scanned: the buffer, or the first invalid UTF-8 byte. */
  private limit(): number {
    return this.badUtf8 >= 0 ? this.badUtf8 : this.buf.length;
  }

  private atEnd(): boolean {
    return this.final && this.badUtf8 < 0;
  }

  /** After a scan stopped at the limit: the UTF-8 error, if that is why. */
  private checkUtf8(): void {
    if (this.badUtf8 < 0 || !this.stoppedAtLimit) return;
    const at = this.badUtf8;
    let line = this.line;
    for (let i = this.pos; i < at; i++) if (this.buf[i] === LF) line++;
    const byte = this.buf[at]!.toString(16).padStart(2, '0');
    throw this.error(line, this.charColumn(this.pos, at),
      `invalid UTF-8: byte 0x${byte} at byte offset ${this.base + at} does not start or continue a character; save the file as UTF-8`);
  }

  /**
   * Reads the header once enough input is there; returns false to ask for more. Finds the
   * delimiter from the header line first when none was given.
   */
  readHeader(): boolean {
    if (this.header) return true;
    const buf = this.buf;
    const end = this.limit();
    if (this.delimiter < 0) {
      let first = this.pos;
      while (first < end && (buf[first] === LF || buf[first] === CR)) first++;
      let nl = buf.indexOf(LF, first);
      if (first >= end || nl < 0 || nl > end) {
        if (!this.atEnd() || first >= end) { this.stoppedAtLimit = true; this.checkUtf8(); return false; }
        nl = end;
      }
      this.delimiter = detectDelimiter(buf, first, nl);
    }
    const names: string[] = [];
    const starts: number[] = [];
    const collect: FieldSink = {
      rejection: '',
      scanField: (b, s, limit, d, line) => scanFieldThenPush(collect, b, s, limit, d, line),
      pushBytes: (b, s, e, escaped) => {
        starts.push(s - (b[s - 1] === QUOTE ? 1 : 0));
        const text = b.toString('utf8', s, e);
        names.push(escaped ? text.replaceAll('""', '"') : text);
        return true;
      },
    };
    let headerLine = this.line;
    const got = this.scan([collect], {
      endRow: (line) => { headerLine = line; },
      rollback: () => { names.length = 0; starts.length = 0; },
    }, 1, Infinity);
    if (got === 0) {
      this.checkUtf8();
      return false;
    }
    // A header row that scanned has at least one field.
    const headerStart = starts[0]!;
    const seen = new Map<string, number[]>();
    names.forEach((raw, i) => {
      const name = raw === '' ? `unnamed_${i + 1}` : raw;
      names[i] = name;
      seen.set(name, [...(seen.get(name) ?? []), i]);
    });
    const dups = [...seen].filter(([, at]) => at.length > 1);
    if (dups.length) {
      const list = dups.map(([n, at]) => `'${n}' (fields ${at.map((i) => i + 1).join(', ')})`).join(', ');
      // Each entry of dups holds two field indices or more, and each has a start.
      throw this.error(headerLine, this.charColumn(headerStart, starts[dups[0]![1][1]!]!),
        `duplicate column name${dups.length > 1 ? 's' : ''} ${list}; every column needs its own name`);
    }
    this.header = names;
    this.rows = 0;
    return true;
  }

  /**
   * Reads up to `rowLimit` records into the sinks. Returns how many; stops early, with the
   * unread record kept, when the input so far ends inside a record.
   */
  readRows(cols: FieldSink[], row: RowSink, rowLimit: number): number {
    const n = this.scan(cols, row, rowLimit, this.header!.length);
    this.rows += n;
    if (this.stoppedAtLimit) this.checkUtf8();
    return n;
  }

  private scan(cols: FieldSink[], row: RowSink, rowLimit: number, ncols: number): number {
    const buf = this.buf;
    const end = this.limit();
    const final = this.atEnd();
    const d = this.delimiter;
    let pos = this.pos;
    let line = this.line;
    let rows = 0;
    // The header's single sink takes every field, however many there are.
    const one = ncols === Infinity;
    this.stoppedAtLimit = false;
    while (rows < rowLimit) {
      if (pos >= end) { this.stoppedAtLimit = true; break; }
      const rowStart = pos;
      const rowLine = line;
      const b = buf[pos];
      if (b === LF) { pos++; line++; continue; }
      if (b === CR) {
        if (pos + 1 >= end && !final) { this.stoppedAtLimit = true; break; }
        pos += buf[pos + 1] === LF ? 2 : 1;
        line++;
        continue;
      }
      let col = 0;
      let complete = true;
      let endLine = line;
      let rowEnd = pos;
      for (;;) {
        let escaped = false;
        const fieldLine = line;
        const fieldStart = pos;
        if (col >= ncols) {
          const found = this.countFields(rowStart, end);
          throw this.error(fieldLine, this.charColumn(rowStart, fieldStart),
            `expected ${ncols} fields as in the header, found ${found}; a field that contains '${String.fromCharCode(d)}' must be quoted`);
        }
        // col < ncols was checked above, and there is one sink per column (or the header's one).
        const sink = (one ? cols[0] : cols[col])!;
        if (buf[pos] === QUOTE) {
          let i = pos + 1;
          const fs = i;
          for (;;) {
            if (i >= end) {
              if (final) {
                throw this.error(fieldLine, this.charColumn(rowStart, pos),
                  `unterminated quoted field: the quote that opens ${this.fieldName(col)} on line ${fieldLine} is never closed`);
              }
              complete = false;
              break;
            }
            const c = buf[i];
            if (c === QUOTE) {
              if (i + 1 < end) {
                if (buf[i + 1] === QUOTE) { escaped = true; i += 2; continue; }
              } else if (!final) { complete = false; break; }
              break;
            }
            if (c === LF) line++;
            i++;
          }
          if (!complete) break;
          const fe = i;
          pos = i + 1;
          if (pos < end) {
            const c = buf[pos]!;
            if (c !== d && c !== LF && c !== CR) {
              throw this.error(line, this.charColumn(rowStart, pos),
                `unexpected ${describeByte(c)} after the closing quote of ${this.fieldName(col)}; a quote inside a quoted field must be doubled ("")`);
            }
          } else if (!final) { complete = false; break; }
          if (!sink.pushBytes(buf, fs, fe, escaped, fieldLine)) {
            throw this.error(fieldLine, this.charColumn(rowStart, fieldStart), `${sink.rejection} (field ${col + 1})`);
          }
        } else {
          let e = sink.scanField(buf, pos, end, d, fieldLine);
          if (e >= end) {
            if (!final) { complete = false; break; }
            e = end;
            if (!sink.pushBytes(buf, pos, end, false, fieldLine)) e = -1;
          }
          if (e < 0) throw this.error(fieldLine, this.charColumn(rowStart, fieldStart), `${sink.rejection} (field ${col + 1})`);
          pos = e;
        }
        col++;
        endLine = line;
        rowEnd = pos;
        if (pos >= end) break; // final: the last record has no newline
        const c = buf[pos];
        if (c === d) {
          pos++;
          if (pos >= end) {
            if (!final) { complete = false; break; }
            // A trailing delimiter at the end of the file leaves one empty field.
            if (col >= ncols) {
              throw this.error(rowLine, this.charColumn(rowStart, pos),
                `expected ${ncols} fields as in the header, found ${col + 1}`);
            }
            const last = (one ? cols[0] : cols[col])!;
            if (!last.pushBytes(buf, pos, pos, false, line)) {
              throw this.error(line, this.charColumn(rowStart, pos), `${last.rejection} (field ${col + 1})`);
            }
            col++;
            rowEnd = pos;
            break;
          }
          continue;
        }
        if (c === CR) {
          if (pos + 1 >= end && !final) { complete = false; break; }
          pos += buf[pos + 1] === LF ? 2 : 1;
        } else {
          pos++;
        }
        line++;
        break;
      }
      if (!complete) {
        row.rollback();
        pos = rowStart;
        line = rowLine;
        this.stoppedAtLimit = true;
        if (rowStart === this.pos && rows === 0) this.waitFor = 2 * (this.buf.length - rowStart);
        break;
      }
      if (col < ncols && !one) {
        const missing = this.header!.slice(col);
        throw this.error(endLine, this.charColumn(rowStart, rowEnd),
          `expected ${ncols} fields as in the header, found ${col} (missing ${missing.length > 3 ? `${missing.slice(0, 3).join(', ')}, …` : missing.join(', ')})`);
      }
      row.endRow(rowLine);
      rows++;
    }
    this.pos = pos;
    this.line = line;
    return rows;
  }

  /** Fields in the record at `start`, counted only to say how ragged a row is. */
  private countFields(start: number, end: number): number {
    const buf = this.buf;
    let n = 1;
    let inQuote = false;
    for (let i = start; i < end; i++) {
      const c = buf[i];
      if (c === QUOTE) inQuote = !inQuote;
      else if (!inQuote && c === this.delimiter) n++;
      else if (!inQuote && (c === LF || c === CR)) break;
    }
    return n;
  }

  private fieldName(col: number): string {
    const name = this.header?.[col];
    return name === undefined ? `field ${col + 1}` : `field ${col + 1} ('${name}')`;
  }

  /** 1-based column, in characters, of buf[at] in its line; the line starts at or after `from`. */
  private charColumn(from: number, at: number): number {
    let s = at;
    while (s > from && this.buf[s - 1] !== LF && this.buf[s - 1] !== CR) s--;
    let n = 1;
    const text = this.buf.toString('utf8', s, at);
    for (const _ of text) n++;
    return n;
  }

  error(line: number, column: number, detail: string): TrellisError {
    return new TrellisError('TRELLIS_DATA_PARSE', { file: this.file, line, column, detail });
  }
}

function describeByte(c: number): string {
  return c >= 32 && c < 127 ? `character '${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

/** The candidate that occurs most often outside quotes in the header line; comma on a tie or none. */
function detectDelimiter(buf: Buffer, s: number, e: number): number {
  const counts = new Map<number, number>(DELIMITERS.map((d) => [d.charCodeAt(0), 0]));
  let inQuote = false;
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (c === QUOTE) inQuote = !inQuote;
    else if (!inQuote && counts.has(c)) counts.set(c, counts.get(c)! + 1);
  }
  let best = 44;
  let bestCount = 0;
  for (const [c, n] of counts) if (n > bestCount) { best = c; bestCount = n; }
  return best;
}
