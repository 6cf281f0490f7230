/**
 * Open Inference Protocol tensors as tabular input, shared by REST (JSON and the binary data
 * extension) and gRPC (typed and raw contents): element decoding per datatype (little-endian, BYTES
 * length-prefixed), JSON data flat or nested to the shape, and the mapping of a request's tensors
 * onto the model's signature: one tensor per column ([N] or [N,1], named by the column) or one
 * [N,F] tensor with the columns in signature order. MLServer's `content_type` parameter is honoured:
 * `pd` (columns), `np` (one flat tensor reshaped), `str` and `datetime` (BYTES text).
 */
import { DATATYPES, type Datatype, type InputColumn } from '../types.js';
import { assembleRecords, checkBatch, describeValue, invalid, signatureIndex, signatureNames } from './tabular.js';

/** Bytes per element; BYTES is variable (0 here). */
export const ELEMENT_SIZE: Readonly<Record<Datatype, number>> = {
  BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8, FP16: 2, FP32: 4, FP64: 8, BYTES: 0, BF16: 2,
};

const INT_RANGE: Partial<Record<Datatype, [number, number]>> = {
  UINT8: [0, 255], UINT16: [0, 65535], UINT32: [0, 4294967295], UINT64: [0, Number.MAX_SAFE_INTEGER],
  INT8: [-128, 127], INT16: [-32768, 32767], INT32: [-2147483648, 2147483647], INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** A tabular tensor has one or two dimensions. */
const MAX_RANK = 2;

export function isDatatype(v: unknown): v is Datatype {
  return typeof v === 'string' && (DATATYPES as readonly string[]).includes(v);
}

/** What a request says of a tensor before its data is read. */
export interface TensorHeader {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** `content_type` from the tensor's parameters, when given. */
  contentType?: string;
}

/** A tensor whose flat row-major elements are decoded only once the request's layout is known to be right. */
export interface TensorInput extends TensorHeader {
  data(): ArrayLike<unknown>;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Checks a shape as sent (JSON or gRPC): one or two non-negative integer dimensions. */
export function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.length === 0) throw invalid(`Input '${name}' needs a 'shape' (an array of dimensions), got ${describeValue(shape)}`);
  if (shape.length > MAX_RANK) throw invalid(`Input '${name}' has shape ${JSON.stringify(shape)}; a tabular input is [N] or [N,1] (one column) or [N,F] (F columns)`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw invalid(`Input '${name}' has shape ${JSON.stringify(shape)}; dimensions must be non-negative integers`);
  }
  return shape as number[];
}

/**
 * Checks one JSON element against the tensor's datatype (null: missing). FP16/BF16 have no JSON
 * form, and integer datatypes take only integers in their range.
 */
function jsonElement(t: TensorHeader, v: unknown, i: number): unknown {
  if (v === null) return v;
  let need: string;
  switch (t.datatype) {
    case 'BOOL':
      if (typeof v === 'boolean') return v;
      need = 'true or false';
      break;
    case 'BYTES':
      if (typeof v === 'string') return v;
      need = 'a string';
      break;
    case 'FP32':
    case 'FP64':
      if (typeof v === 'number') return v;
      need = 'a number';
      break;
    case 'FP16':
    case 'BF16':
      throw invalid(`Input '${t.name}' is ${t.datatype}, which has no JSON form: send it with binary_data_size (binary tensor data) or over gRPC as raw contents`);
    default: {
      const [lo, hi] = INT_RANGE[t.datatype]!;
      if (typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi) return v;
      need = `an integer from ${lo} to ${hi}`;
    }
  }
  throw invalid(`Input '${t.name}' is ${t.datatype}; element ${i} of its data must be ${need}, got ${describeValue(v)}`);
}

/**
 * The flat elements of JSON `data`: either flat (as many elements as the shape holds) or nested
 * exactly as the shape says. Walks level by level, so no nesting depth can overflow the stack.
 */
export function flattenJsonData(t: TensorHeader, data: unknown): unknown[] {
  if (!Array.isArray(data)) throw invalid(`Input '${t.name}' needs 'data' as an array (or binary_data_size), got ${describeValue(data)}`);
  const count = elementCount(t.shape);
  let flat: unknown[] = data;
  if (data.some(Array.isArray)) {
    let level: unknown[] = [data];
    for (let d = 0; d < t.shape.length; d++) {
      const next: unknown[] = [];
      for (const a of level) {
        if (!Array.isArray(a) || a.length !== t.shape[d]) {
          throw invalid(`Input '${t.name}' has nested data that does not match its shape ${JSON.stringify(t.shape)} (dimension ${d} should hold ${t.shape[d]} elements); send it nested exactly so, or flat`);
        }
        for (const x of a as unknown[]) next.push(x);
      }
      level = next;
    }
    flat = level;
  }
  if (flat.length !== count) throw invalid(`Input '${t.name}' has ${flat.length} data elements; its shape ${JSON.stringify(t.shape)} needs ${count}`);
  for (let i = 0; i < count; i++) {
    const v = flat[i];
    if (typeof v === 'object' && v !== null) throw invalid(`Input '${t.name}' has data nested deeper than its shape ${JSON.stringify(t.shape)} (element ${i} is ${describeValue(v)})`);
  }
  return checkElements(t, flat);
}

/** Checks flat elements (from JSON or gRPC typed contents) against the tensor's datatype. */
export function checkElements(t: TensorHeader, values: readonly unknown[]): unknown[] {
  return values.map((v, i) => jsonElement(t, v, i));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * The elements of a tensor sent as bytes (binary extension or gRPC raw contents): little-endian,
 * row-major, BYTES elements each a 4-byte little-endian length and the UTF-8 text. The size must
 * match the shape and datatype exactly; BOOL bytes must be 0 or 1; 64-bit integers must fit a
 * double exactly.
 */
export function decodeRawTensor(t: TensorHeader, bytes: Uint8Array): unknown[] {
  const count = elementCount(t.shape);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = ELEMENT_SIZE[t.datatype];
  const out = new Array<unknown>(count);
  if (t.datatype === 'BYTES') {
    let at = 0;
    for (let i = 0; i < count; i++) {
      if (at + 4 > b.length) throw invalid(`Input '${t.name}' (BYTES) has ${b.length} bytes of raw data, which end before element ${i} of ${count}`);
      const n = b.readUInt32LE(at);
      if (at + 4 + n > b.length) throw invalid(`Input '${t.name}' (BYTES) element ${i} claims ${n} bytes; only ${b.length - at - 4} are left`);
      try {
        out[i] = utf8.decode(b.subarray(at + 4, at + 4 + n));
      } catch {
        throw invalid(`Input '${t.name}' (BYTES) element ${i} is not UTF-8 text`);
      }
      at += 4 + n;
    }
    if (at !== b.length) throw invalid(`Input '${t.name}' (BYTES) has ${b.length - at} bytes of raw data left after its ${count} elements`);
    return out;
  }
  if (b.length !== count * size) {
    throw invalid(`Input '${t.name}' has ${b.length} bytes of raw data; shape ${JSON.stringify(t.shape)} of ${t.datatype} needs ${count * size}`);
  }
  for (let i = 0; i < count; i++) {
    const o = i * size;
    switch (t.datatype) {
      case 'BOOL': {
        const v = b[o]!;
        if (v > 1) throw invalid(`Input '${t.name}' (BOOL) element ${i} is the byte ${v}; BOOL bytes are 0 or 1`);
        out[i] = v === 1;
        break;
      }
      case 'UINT8': out[i] = b.readUInt8(o); break;
      case 'UINT16': out[i] = b.readUInt16LE(o); break;
      case 'UINT32': out[i] = b.readUInt32LE(o); break;
      case 'INT8': out[i] = b.readInt8(o); break;
      case 'INT16': out[i] = b.readInt16LE(o); break;
      case 'INT32': out[i] = b.readInt32LE(o); break;
      case 'UINT64':
      case 'INT64': {
        const v = t.datatype === 'INT64' ? b.readBigInt64LE(o) : b.readBigUInt64LE(o);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw invalid(`Input '${t.name}' (${t.datatype}) element ${i} is ${v}, beyond ±2^53`);
        out[i] = Number(v);
        break;
      }
      case 'FP16': out[i] = half(b.readUInt16LE(o)); break;
      case 'BF16': {
        const f = Buffer.alloc(4);
        f.writeUInt16LE(b.readUInt16LE(o), 2);
        out[i] = f.readFloatLE(0);
        break;
      }
      case 'FP32': out[i] = b.readFloatLE(o); break;
      case 'FP64': out[i] = b.readDoubleLE(o); break;
    }
  }
  return out;
}

/** An output tensor as the protocol answers it, with flat row-major data. */
export interface OutputTensor {
  name: string;
  datatype: 'BYTES' | 'FP64';
  shape: number[];
  parameters?: Record<string, string | number | boolean>;
  data: number[] | string[];
}

/** An output's elements as raw bytes: FP64 little-endian, BYTES length-prefixed UTF-8. */
export function encodeRawTensor(t: OutputTensor): Buffer {
  if (t.datatype === 'FP64') {
    const b = Buffer.alloc(8 * t.data.length);
    (t.data as number[]).forEach((v, i) => b.writeDoubleLE(v, 8 * i));
    return b;
  }
  const texts = (t.data as string[]).map((s) => Buffer.from(s, 'utf8'));
  const out = Buffer.alloc(texts.reduce((n, b) => n + 4 + b.length, 0));
  let at = 0;
  for (const text of texts) {
    at = out.writeUInt32LE(text.length, at);
    at += text.copy(out, at);
  }
  return out;
}

/** MLServer content types this codec understands, and at which level. */
const REQUEST_CONTENT_TYPES = ['pd', 'np', 'str'];
const INPUT_CONTENT_TYPES = ['np', 'str', 'datetime'];

export interface TabularOptions {
  signature: readonly InputColumn[];
  maxBatch: number;
  /** The request-level `content_type` parameter. */
  contentType?: string;
}

/**
 * Records from a request's tensors. Layout, batch size and content types are checked from the
 * headers before any data is decoded, so an oversized batch costs nothing.
 */
export function recordsFromTensors(inputs: readonly TensorInput[], o: TabularOptions): Record<string, unknown>[] {
  const { signature } = o;
  if (o.contentType !== undefined && !REQUEST_CONTENT_TYPES.includes(o.contentType)) {
    throw invalid(`The request's content_type '${o.contentType}' is not supported; use ${REQUEST_CONTENT_TYPES.join(', ')} (or none)`);
  }
  if (inputs.length === 0) throw invalid("The request has no 'inputs'");
  const names = new Set<string>();
  for (const t of inputs) {
    if (names.has(t.name)) throw invalid(`Input '${t.name}' appears twice`);
    names.add(t.name);
    const ct = t.contentType ?? (o.contentType === 'str' ? 'str' : undefined);
    if (ct !== undefined) {
      if (!INPUT_CONTENT_TYPES.includes(ct)) throw invalid(`Input '${t.name}' has content_type '${ct}', which is not supported; use ${INPUT_CONTENT_TYPES.join(', ')} (or none)`);
      if ((ct === 'str' || ct === 'datetime') && t.datatype !== 'BYTES') throw invalid(`Input '${t.name}' has content_type '${ct}', which needs datatype BYTES, not ${t.datatype}`);
    }
  }
  const index = signatureIndex(signature);
  const first = inputs[0]!;
  const isColumn = (t: TensorHeader) => index.has(t.name) && (t.shape.length === 1 || t.shape[1] === 1);
  // One [N,F] tensor (any name): `np` at request level says so; otherwise a lone tensor that is not a
  // column tensor, unless `pd` says every tensor is a column.
  if (o.contentType === 'np' || (o.contentType !== 'pd' && inputs.length === 1 && !isColumn(first))) {
    if (inputs.length > 1) throw invalid(`content_type 'np' takes one [N,F] input; the request has ${inputs.length}`);
    return recordsFromMatrix(first, o);
  }
  const rows = first.shape[0]!;
  const columns = new Array<ArrayLike<unknown> | undefined>(signature.length);
  const order: [number, TensorInput][] = [];
  for (const t of inputs) {
    const j = index.get(t.name);
    if (j === undefined) throw invalid(`Unknown input '${t.name}'; the model takes ${signatureNames(signature)}, one tensor each (or one [N,${signature.length}] tensor)`);
    if (!isColumn(t)) throw invalid(`Input '${t.name}' has shape ${JSON.stringify(t.shape)}; a column is [N] or [N,1]`);
    if (t.shape[0] !== rows) throw invalid(`Input '${t.name}' has ${t.shape[0]} rows; input '${first.name}' has ${rows}`);
    order.push([j, t]);
  }
  const missing = signature.filter((c) => !names.has(c.name));
  if (missing.length) throw invalid(`Missing input${missing.length > 1 ? 's' : ''} ${signatureNames(missing)}`);
  checkBatch(rows, o.maxBatch, `input '${first.name}' has shape ${JSON.stringify(first.shape)}`);
  for (const [j, t] of order) columns[j] = t.data();
  return assembleRecords(signature, columns as ArrayLike<unknown>[], rows, (j, i) => `Input '${signature[j]!.name}' row ${i}`);
}

function recordsFromMatrix(t: TensorInput, o: TabularOptions): Record<string, unknown>[] {
  const { signature } = o;
  const f = signature.length;
  const width = t.shape.length === 1 ? 1 : t.shape[1]!;
  if (width !== f) {
    throw invalid(`Input '${t.name}' has shape ${JSON.stringify(t.shape)}; as the one input it must be [N,${f}], columns in signature order (${signatureNames(signature)}), or send one tensor per column named by it`);
  }
  const rows = t.shape[0]!;
  checkBatch(rows, o.maxBatch, `input '${t.name}' has shape ${JSON.stringify(t.shape)}`);
  const data = t.data();
  const columns = signature.map((_, j) => Array.from({ length: rows }, (_, i) => data[i * f + j]));
  return assembleRecords(signature, columns, rows, (j, i) => `Input '${t.name}' row ${i} column ${j} ('${signature[j]!.name}')`);
}
