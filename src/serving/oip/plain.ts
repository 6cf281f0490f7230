/**
 * The common OIP request, decoded in one pass: one JSON tensor per signature column, each `[N]` or
 * `[N,1]` with flat data, no parameters and no requested outputs — what almost every client sends
 * for a few rows. {@link plainRecords} either returns exactly the records the general decoder
 * (codec.ts, tensors.ts) would build for such a request, or `undefined` for anything else:
 * another layout, an element of the wrong type, a missing or unknown column, a batch out of
 * bounds. The general decoder then takes the same parsed document and either accepts it or names
 * the problem, so every refusal keeps its one wording. Nothing here throws.
 *
 * {@link plainRawRecords} does the same for tensors sent as raw bytes (gRPC `raw_input_contents`).
 */
import type { ColumnType } from '../../data/table.js';
import type { InputColumn } from '../types.js';
import { isDatetime } from './tabular.js';

/** How a datatype's JSON elements are checked: the integer range, or the JSON type taken. */
type ElementRule = { kind: 'int'; lo: number; hi: number } | { kind: 'float' } | { kind: 'bool' } | { kind: 'bytes' } | { kind: 'null-only' };

const RULES: ReadonlyMap<unknown, ElementRule> = new Map<unknown, ElementRule>([
  ['BOOL', { kind: 'bool' }], ['BYTES', { kind: 'bytes' }], ['FP32', { kind: 'float' }], ['FP64', { kind: 'float' }],
  // No JSON form: the general decoder refuses any element that is not null.
  ['FP16', { kind: 'null-only' }], ['BF16', { kind: 'null-only' }],
  ['UINT8', { kind: 'int', lo: 0, hi: 255 }], ['UINT16', { kind: 'int', lo: 0, hi: 65535 }], ['UINT32', { kind: 'int', lo: 0, hi: 4294967295 }],
  ['UINT64', { kind: 'int', lo: 0, hi: Number.MAX_SAFE_INTEGER }], ['INT8', { kind: 'int', lo: -128, hi: 127 }], ['INT16', { kind: 'int', lo: -32768, hi: 32767 }],
  ['INT32', { kind: 'int', lo: -2147483648, hi: 2147483647 }], ['INT64', { kind: 'int', lo: Number.MIN_SAFE_INTEGER, hi: Number.MAX_SAFE_INTEGER }],
]);

/** Returned by {@link cell} for an element the plain path does not take. */
const NO = Symbol('no');

/**
 * One element as `predict` takes it, when the datatype's JSON rule and the column's type both take
 * it as the general decoder would (tensors.ts `jsonElement`, then tabular.ts `columnValue`).
 */
function cell(rule: ElementRule, type: ColumnType, v: unknown): unknown {
  if (v === null) return null;
  switch (typeof v) {
    case 'number':
      if (rule.kind === 'int') {
        if (!Number.isInteger(v) || v < rule.lo || v > rule.hi) return NO;
      } else if (rule.kind !== 'float' || !Number.isFinite(v)) return NO;
      if (type === 'integer' || type === 'float') return v;
      if (type === 'boolean') return v === 0 || v === 1 ? v === 1 : NO;
      if (type === 'string') return Number.isSafeInteger(v) ? String(v) : NO;
      return NO;
    case 'string':
      if (rule.kind !== 'bytes') return NO;
      return type === 'string' || (type === 'datetime' && isDatetime(v)) ? v : NO;
    case 'boolean':
      return rule.kind === 'bool' && type === 'boolean' ? v : NO;
    default:
      return NO;
  }
}

interface Plan {
  index: Map<string, number>;
  names: string[];
  types: ColumnType[];
}

const plans = new WeakMap<readonly InputColumn[], Plan | null>();

/** The signature's lookup, made once per loaded model; null when a column is named `__proto__`. */
function planOf(signature: readonly InputColumn[]): Plan | null {
  let p = plans.get(signature);
  if (p === undefined) {
    p = signature.some((c) => c.name === '__proto__')
      ? null
      : { index: new Map(signature.map((c, j) => [c.name, j])), names: signature.map((c) => c.name), types: signature.map((c) => c.type) };
    plans.set(signature, p);
  }
  return p;
}

/**
 * The records of a plain request (see the file comment), or undefined. `doc` is what `JSON.parse`
 * gave: its objects have no prototype keys of their own to confuse a property read, and a key
 * such as `parameters` absent from the JSON reads as undefined.
 */
export function plainRecords(doc: Record<string, unknown>, signature: readonly InputColumn[], maxBatch: number): Record<string, unknown>[] | undefined {
  if (doc.parameters !== undefined || doc.outputs !== undefined) return undefined;
  const inputs = doc.inputs;
  const f = signature.length;
  if (!Array.isArray(inputs) || inputs.length !== f || f === 0) return undefined;
  const plan = planOf(signature);
  if (!plan) return undefined;
  const columns = new Array<unknown[] | undefined>(f);
  let rows = -1;
  for (let k = 0; k < f; k++) {
    const t = inputs[k] as Record<string, unknown> | null;
    if (typeof t !== 'object' || t === null || Array.isArray(t) || t.parameters !== undefined) return undefined;
    const j = typeof t.name === 'string' ? plan.index.get(t.name) : undefined;
    if (j === undefined || columns[j] !== undefined) return undefined;
    const rule = RULES.get(t.datatype);
    if (!rule) return undefined;
    const shape = t.shape;
    if (!Array.isArray(shape) || !(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) return undefined;
    const n = shape[0] as unknown;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > maxBatch || (rows >= 0 && n !== rows)) return undefined;
    rows = n;
    const data = t.data;
    if (!Array.isArray(data) || data.length !== n) return undefined;
    const type = plan.types[j]!;
    const values = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      const v = cell(rule, type, data[i]);
      if (v === NO) return undefined;
      values[i] = v;
    }
    columns[j] = values;
  }
  return records(plan.names, columns as unknown[][], rows);
}

/** Records from columns in signature order (names never `__proto__`: see {@link planOf}). */
function records(names: readonly string[], columns: readonly unknown[][], rows: number): Record<string, unknown>[] {
  const f = names.length;
  const out = new Array<Record<string, unknown>>(rows);
  for (let i = 0; i < rows; i++) {
    const r: Record<string, unknown> = {};
    for (let j = 0; j < f; j++) r[names[j]!] = columns[j]![i];
    out[i] = r;
  }
  return out;
}

/** What the one-pass raw decoder needs of a tensor sent as raw bytes (gRPC raw_input_contents). */
export interface RawInput {
  name: string;
  datatype: string;
  shape: readonly number[];
}

/** Bytes per element of the fixed-size datatypes the raw decoder takes (FP16 and BF16 go the general way). */
const RAW_SIZE: Readonly<Record<string, number>> = {
  BOOL: 1, INT8: 1, UINT8: 1, INT16: 2, UINT16: 2, INT32: 4, UINT32: 4, INT64: 8, UINT64: 8, FP32: 4, FP64: 8,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * One little-endian element as tensors.ts `decodeRawTensor` reads it, or NO where that refuses it
 * (a BOOL byte other than 0 or 1, a 64-bit integer beyond ±(2^53 − 1)). 64-bit integers are read
 * as two 32-bit halves: no BigInt on the way.
 */
function rawElement(datatype: string, b: Buffer, o: number): unknown {
  switch (datatype) {
    case 'INT64':
    case 'UINT64': {
      const hi = datatype === 'INT64' ? b.readInt32LE(o + 4) : b.readUInt32LE(o + 4);
      const v = hi * 4294967296 + b.readUInt32LE(o);
      return Number.isSafeInteger(v) ? v : NO;
    }
    case 'FP64': return b.readDoubleLE(o);
    case 'FP32': return b.readFloatLE(o);
    case 'INT32': return b.readInt32LE(o);
    case 'UINT32': return b.readUInt32LE(o);
    case 'INT16': return b.readInt16LE(o);
    case 'UINT16': return b.readUInt16LE(o);
    case 'INT8': return b.readInt8(o);
    case 'UINT8': return b[o];
    case 'BOOL': {
      const v = b[o];
      return v === 0 || v === 1 ? v === 1 : NO;
    }
    default: return NO;
  }
}

/**
 * The records of a request whose tensors all came as raw bytes, one per signature column, each
 * `[N]` or `[N,1]`: exactly what the general decoder (tensors.ts `decodeRawTensor`, then
 * `recordsFromTensors`) builds for it, or undefined for anything else — another layout, a size
 * that does not match the shape, an element the general decoder or the column refuses — which then
 * goes the general way and is accepted or refused there, in its words. The caller has checked
 * that the request carries nothing else (no parameters, no typed contents). Nothing here throws.
 */
export function plainRawRecords(inputs: readonly RawInput[], raw: readonly Uint8Array[], signature: readonly InputColumn[], maxBatch: number): Record<string, unknown>[] | undefined {
  const f = signature.length;
  if (inputs.length !== f || raw.length !== f || f === 0) return undefined;
  const plan = planOf(signature);
  if (!plan) return undefined;
  const columns = new Array<unknown[] | undefined>(f);
  let rows = -1;
  for (let k = 0; k < f; k++) {
    const t = inputs[k]!;
    const j = plan.index.get(t.name);
    if (j === undefined || columns[j] !== undefined) return undefined;
    const rule = RULES.get(t.datatype);
    if (!rule || rule.kind === 'null-only') return undefined;
    const shape = t.shape;
    if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) return undefined;
    const n = shape[0]!;
    if (!Number.isSafeInteger(n) || n < 1 || n > maxBatch || (rows >= 0 && n !== rows)) return undefined;
    rows = n;
    const bytes = raw[k]!;
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const type = plan.types[j]!;
    const values = new Array<unknown>(n);
    if (t.datatype === 'BYTES') {
      let at = 0;
      for (let i = 0; i < n; i++) {
        if (at + 4 > b.length) return undefined;
        const end = at + 4 + b.readUInt32LE(at);
        if (end > b.length) return undefined;
        let text: string;
        try {
          text = utf8.decode(b.subarray(at + 4, end));
        } catch {
          return undefined;
        }
        const v = cell(rule, type, text);
        if (v === NO) return undefined;
        values[i] = v;
        at = end;
      }
      if (at !== b.length) return undefined;
    } else {
      const size = RAW_SIZE[t.datatype]!;
      if (b.length !== n * size) return undefined;
      for (let i = 0; i < n; i++) {
        const e = rawElement(t.datatype, b, i * size);
        const v = e === NO ? NO : cell(rule, type, e);
        if (v === NO) return undefined;
        values[i] = v;
      }
    }
    columns[j] = values;
  }
  return records(plan.names, columns as unknown[][], rows);
}
