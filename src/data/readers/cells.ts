/**
 * The grammar of a text cell — which bytes are a number, a boolean, an ISO-8601 date or a null —
 * written once over bytes so that the CSV reader can type a field without first making a string
 * of it, and shared by the table builder for cells that arrive as strings.
 *
 * Results come back through {@link cell} rather than a fresh object per call: this runs once per
 * field of a multi-gigabyte file, and an allocation there is the difference between 50 and 150 MB/s.
 * Every function reads `buf[s, e)` with `e <= buf.length` (the callers' contract), so reads inside
 * that range carry `!` rather than a check per byte.
 */

export const KIND_TEXT = 0;
export const KIND_INTEGER = 1;
export const KIND_FLOAT = 2;
export const KIND_BOOLEAN = 3;
export const KIND_DATETIME = 4;
/** Integer text beyond ±2^53: a float64 cannot hold it exactly, so an integer column keeps it as text. */
export const KIND_BIG_INTEGER = 5;

/** The value of the last successful parse; `dateOnly` says whether a datetime had no time part. */
export const cell = { value: 0, dateOnly: false, isFloat: false };

const D0 = 48;
const D9 = 57;
const PLUS = 43;
const MINUS = 45;
const DOT = 46;
const COMMA = 44;
const SPACE = 32;
const TAB = 9;

const POW10: number[] = [];
for (let i = 0, p = 1; i <= 22; i++, p *= 10) POW10.push(p);

const ascii = new TextDecoder('latin1');

function slowNumber(buf: Uint8Array, s: number, e: number, decimalComma: boolean): number {
  let text = ascii.decode(buf.subarray(s, e));
  if (decimalComma) text = text.replace(',', '.');
  return Number(text);
}

/**
 * Parses `[+-]digits[.digits][e[+-]digits]` (or `.5`, `5.`, `inf`, `Infinity`) with optional
 * surrounding blanks. Returns a KIND_*; the value is in `cell.value`.
 */
export function parseNumber(buf: Uint8Array, s: number, e: number, decimalComma: boolean): number {
  while (s < e && (buf[s] === SPACE || buf[s] === TAB)) s++;
  while (e > s && (buf[e - 1] === SPACE || buf[e - 1] === TAB)) e--;
  if (s === e) return KIND_TEXT;
  const start = s;
  let neg = false;
  let b = buf[s]!;
  if (b === MINUS || b === PLUS) {
    neg = b === MINUS;
    if (++s === e) return KIND_TEXT;
    b = buf[s]!;
  }
  if (b < D0 || b > D9) {
    if (b === DOT || (decimalComma && b === COMMA)) {
      // ".5" falls through to the fraction below.
    } else {
      return parseInfinity(buf, s, e, neg);
    }
  }
  // Clinger's fast path: up to 15 significant digits and |10^exp| <= 10^22 are both exact doubles,
  // so one multiplication or division rounds correctly; anything else goes to Number().
  let m = 0;
  let sig = 0;
  let digits = 0;
  let scale = 0;
  let isFloat = false;
  while (s < e) {
    b = buf[s]!;
    if (b < D0 || b > D9) break;
    if (m !== 0 || b !== D0) sig++;
    m = m * 10 + (b - D0);
    digits++;
    s++;
  }
  const sep = decimalComma ? COMMA : DOT;
  if (s < e && buf[s] === sep) {
    isFloat = true;
    s++;
    while (s < e) {
      b = buf[s]!;
      if (b < D0 || b > D9) break;
      if (m !== 0 || b !== D0) sig++;
      m = m * 10 + (b - D0);
      digits++;
      scale--;
      s++;
    }
  }
  if (digits === 0) return KIND_TEXT;
  if (s < e && (buf[s]! | 0x20) === 101 /* e */) {
    isFloat = true;
    s++;
    let eneg = false;
    if (s < e && (buf[s] === MINUS || buf[s] === PLUS)) eneg = buf[s++] === MINUS;
    if (s === e) return KIND_TEXT;
    let x = 0;
    while (s < e) {
      b = buf[s]!;
      if (b < D0 || b > D9) return KIND_TEXT;
      if (x < 100000) x = x * 10 + (b - D0);
      s++;
    }
    scale += eneg ? -x : x;
  }
  if (s !== e) return KIND_TEXT;
  if (!isFloat) {
    if (sig <= 15) {
      cell.value = neg ? -m : m;
      return KIND_INTEGER;
    }
    const v = slowNumber(buf, start, e, false);
    cell.value = v;
    return Number.isSafeInteger(v) ? KIND_INTEGER : KIND_BIG_INTEGER;
  }
  if (sig <= 15 && scale >= -22 && scale <= 22) {
    const v = scale < 0 ? m / POW10[-scale]! : m * POW10[scale]!;
    cell.value = neg ? -v : v;
  } else {
    cell.value = slowNumber(buf, start, e, decimalComma);
  }
  return KIND_FLOAT;
}

function parseInfinity(buf: Uint8Array, s: number, e: number, neg: boolean): number {
  const n = e - s;
  if (n !== 3 && n !== 8) return KIND_TEXT;
  const word = n === 3 ? 'inf' : 'infinity';
  for (let i = 0; i < n; i++) if ((buf[s + i]! | 0x20) !== word.charCodeAt(i)) return KIND_TEXT;
  cell.value = neg ? -Infinity : Infinity;
  return KIND_FLOAT;
}

/** `true` / `false` in any letter case. */
export function parseBoolean(buf: Uint8Array, s: number, e: number): number {
  while (s < e && (buf[s] === SPACE || buf[s] === TAB)) s++;
  while (e > s && (buf[e - 1] === SPACE || buf[e - 1] === TAB)) e--;
  const n = e - s;
  if (n === 4 && (buf[s]! | 0x20) === 116 && (buf[s + 1]! | 0x20) === 114 && (buf[s + 2]! | 0x20) === 117
    && (buf[s + 3]! | 0x20) === 101) {
    cell.value = 1;
    return KIND_BOOLEAN;
  }
  if (n === 5 && (buf[s]! | 0x20) === 102 && (buf[s + 1]! | 0x20) === 97 && (buf[s + 2]! | 0x20) === 108
    && (buf[s + 3]! | 0x20) === 115 && (buf[s + 4]! | 0x20) === 101) {
    cell.value = 0;
    return KIND_BOOLEAN;
  }
  return KIND_TEXT;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digitsAt(buf: Uint8Array, s: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = buf[s + i]! - D0;
    if (!(d >= 0 && d <= 9)) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * ISO-8601 calendar dates: `YYYY-MM-DD`, optionally followed by `T` or a space and
 * `HH:MM[:SS[.fraction]]` and a zone (`Z`, `±HH`, `±HHMM`, `±HH:MM`). A time without a zone is
 * taken as UTC, so that a file means the same thing on every machine. Value: ms since the epoch.
 */
export function parseDatetime(buf: Uint8Array, s: number, e: number): number {
  while (s < e && (buf[s] === SPACE || buf[s] === TAB)) s++;
  while (e > s && (buf[e - 1] === SPACE || buf[e - 1] === TAB)) e--;
  if (e - s < 10 || buf[s + 4] !== MINUS || buf[s + 7] !== MINUS) return KIND_TEXT;
  const y = digitsAt(buf, s, 4);
  const mo = digitsAt(buf, s + 5, 2);
  const d = digitsAt(buf, s + 8, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1) return KIND_TEXT;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  if (d > (mo === 2 && leap ? 29 : DAYS[mo - 1]!)) return KIND_TEXT;
  let p = s + 10;
  let h = 0, mi = 0, sec = 0, ms = 0, offset = 0;
  cell.dateOnly = p === e;
  if (p < e) {
    const sepb = buf[p];
    if ((sepb !== 84 && sepb !== SPACE) || e - p < 6 || buf[p + 3] !== 58) return KIND_TEXT;
    h = digitsAt(buf, p + 1, 2);
    mi = digitsAt(buf, p + 4, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59) return KIND_TEXT;
    p += 6;
    if (p < e && buf[p] === 58) {
      if (p + 3 > e) return KIND_TEXT;
      sec = digitsAt(buf, p + 1, 2);
      if (sec < 0 || sec > 59) return KIND_TEXT;
      p += 3;
      if (p < e && (buf[p] === DOT || buf[p] === COMMA)) {
        p++;
        let n = 0;
        let scale = 100;
        while (p < e && buf[p]! >= D0 && buf[p]! <= D9) {
          ms += (buf[p]! - D0) * scale;
          scale /= 10;
          p++;
          n++;
        }
        if (n === 0) return KIND_TEXT;
        ms = Math.floor(ms);
      }
    }
    if (p < e) {
      const z = buf[p];
      if (z === 90 /* Z */ || z === 122) {
        p++;
      } else if (z === PLUS || z === MINUS) {
        if (p + 3 > e) return KIND_TEXT;
        const oh = digitsAt(buf, p + 1, 2);
        if (oh < 0 || oh > 23) return KIND_TEXT;
        p += 3;
        let om = 0;
        if (p < e) {
          if (buf[p] === 58) p++;
          if (p + 2 > e) return KIND_TEXT;
          om = digitsAt(buf, p, 2);
          if (om < 0 || om > 59) return KIND_TEXT;
          p += 2;
        }
        offset = (z === MINUS ? -1 : 1) * (oh * 60 + om) * 60000;
      }
    }
    if (p !== e) return KIND_TEXT;
  }
  const t = Date.UTC(y, mo - 1, d, h, mi, sec, ms);
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear puts them back where the text says.
  cell.value = (y < 100 ? new Date(t).setUTCFullYear(y) : t) - offset;
  return KIND_DATETIME;
}

/** Renders a datetime the way a date-only column was written, else as full ISO-8601 UTC. */
export function formatDatetime(ms: number, dateOnly: boolean): string {
  const iso = new Date(ms).toISOString();
  return dateOnly ? iso.slice(0, 10) : iso;
}

/** Matches the configured null markers against bytes without decoding them. */
export class NullMatcher {
  private readonly byLength: Uint8Array[][] = [];
  private readonly strings: Set<string>;
  readonly matchesEmpty: boolean;

  constructor(values: readonly string[]) {
    this.strings = new Set(values);
    this.matchesEmpty = this.strings.has('');
    for (const v of this.strings) {
      const bytes = Buffer.from(v, 'utf8');
      (this.byLength[bytes.length] ??= []).push(bytes);
    }
  }

  matchesBytes(buf: Uint8Array, s: number, e: number): boolean {
    const n = e - s;
    if (n === 0) return this.matchesEmpty;
    const candidates = this.byLength[n];
    if (candidates === undefined) return false;
    outer: for (const c of candidates) {
      for (let i = 0; i < n; i++) if (c[i] !== buf[s + i]) continue outer;
      return true;
    }
    return false;
  }

  matches(text: string): boolean {
    return this.strings.has(text);
  }
}

export const DEFAULT_NULL_VALUES: readonly string[] = ['', 'NA', 'N/A', 'null', 'NULL', 'NaN', '?'];

const THOUSANDS_COMMA = /^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$/;
const THOUSANDS_DOT = /^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$/;
const DECIMAL_COMMA = /^[+-]?\d*,\d+$/;
const GROUPED_SPACE = /^[+-]?\d{1,3}([ \u00a0\u202f]\d{3})+([.,]\d+)?$/;

/** What makes a cell that looks like a number not one, and what to do about it. */
export interface NumberFormatIssue {
  /** Completes "'1,234' …": "has thousands separators". */
  readonly issue: string;
  readonly fix: string;
}

/**
 * Why a cell that is not a number still looks like one, or undefined. Reading such a column as
 * text is the safe choice (a guess at `1,234` is wrong in half the world); this says what to do.
 */
export function numberFormatIssue(text: string, decimalComma: boolean): NumberFormatIssue | undefined {
  const t = text.trim();
  if (!decimalComma) {
    if (THOUSANDS_COMMA.test(t)) {
      return DECIMAL_COMMA.test(t)
        ? { issue: 'has a comma that is either a thousands separator or a decimal comma', fix: "remove the separators, or pass decimal: ',' if the comma is the decimal mark" }
        : { issue: 'has thousands separators', fix: 'remove them to read the column as numbers' };
    }
    if (DECIMAL_COMMA.test(t)) return { issue: 'uses a decimal comma', fix: "pass decimal: ',' to read it as a number" };
  } else if (THOUSANDS_DOT.test(t)) {
    return { issue: "has '.' as a thousands separator", fix: 'remove the separators to read the column as numbers' };
  }
  if (GROUPED_SPACE.test(t)) return { issue: 'has spaces between digit groups', fix: 'remove them to read the column as numbers' };
  return undefined;
}

/**
 * Byte offset of the first byte that breaks UTF-8 in `buf[s, e)`, or -1. Only called after the
 * native `isUtf8` said no, to say where.
 */
export function findInvalidUtf8(buf: Uint8Array, s: number, e: number): number {
  let i = s;
  while (i < e) {
    const b = buf[i]!;
    if (b < 0x80) { i++; continue; }
    let n: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) { n = 1; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { n = 2; min = 0x800; }
    else if (b >= 0xf0 && b <= 0xf4) { n = 3; min = 0x10000; }
    else return i;
    if (i + n >= e) return i;
    let cp = b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = buf[i + k]!;
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/**
 * How many bytes at the end of `buf[s, e)` are the start of a multi-byte character that the next
 * chunk will finish; those must not be judged until it arrives.
 */
export function incompleteUtf8Tail(buf: Uint8Array, s: number, e: number): number {
  for (let k = 1; k <= 3 && e - k >= s; k++) {
    const b = buf[e - k]!;
    if ((b & 0xc0) === 0x80) continue;
    if (b >= 0xc0) {
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return need > k ? k : 0;
    }
    return 0;
  }
  return 0;
}

/**
 * The common case of a numeric field, fused with finding its end: `-?digits[.digits]` with at
 * most 15 significant digits, directly followed by the delimiter, CR or LF. Returns the index of
 * that byte (value in `cell.value`, `cell.isFloat` set), or -1 for anything else, which the
 * caller reads the general way. Reading each byte once is what makes numeric CSV fast.
 */
export function scanSimpleNumber(buf: Uint8Array, s: number, end: number, delimiter: number, sep: number): number {
  let i = s;
  let neg = false;
  if (i < end && buf[i] === MINUS) { neg = true; i++; }
  const digitsStart = i;
  let m = 0;
  let b = 0;
  while (i < end) {
    b = buf[i]!;
    const x = b - D0;
    if (x < 0 || x > 9) break;
    m = m * 10 + x;
    i++;
  }
  let n = i - digitsStart;
  if (n === 0 || i >= end) return -1;
  let scale = 0;
  if (b === sep) {
    const f = ++i;
    while (i < end) {
      b = buf[i]!;
      const x = b - D0;
      if (x < 0 || x > 9) break;
      m = m * 10 + x;
      i++;
    }
    scale = i - f;
    if (scale === 0 || i >= end) return -1;
    n += scale;
  }
  if (b !== delimiter && b !== 10 && b !== 13) return -1;
  // Leading zeros make n overstate the significant digits, which only sends rare values to the slow path.
  if (n > 15) return -1;
  cell.isFloat = scale !== 0;
  const v = scale === 0 ? m : m / POW10[scale]!;
  cell.value = neg ? -v : v;
  return i;
}

/** Index of the delimiter, CR or LF that ends the unquoted field at `s`, or `end`. */
export function fieldEnd(buf: Uint8Array, s: number, end: number, delimiter: number): number {
  let i = s;
  while (i < end) {
    const b = buf[i]!;
    if (b === delimiter || b === 10 || b === 13) return i;
    i++;
  }
  return end;
}
