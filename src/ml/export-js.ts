/**
 * The edge export: a model as one dependency-free ES module that predicts wherever JavaScript runs
 * (browsers, edge runtimes, serverless functions, devices), with no server and nothing to install.
 *
 * The module holds the fitted feature transforms and the estimator, its large arrays as base64
 * little-endian typed arrays decoded once at load, and a small runtime that mirrors `predict()` in
 * model.ts step for step: the same record checks and error messages (naming the feature), the
 * same transforms, the tree walk of numeric/trees/tree.ts (leaf values summed in tree order, then
 * averaged and the base score added) and the same links. Every floating-point operation is done
 * in the same order on the same float64 values, so in the same engine its predictions equal
 * `predict()`'s exactly. Another engine (a browser) may round `Math.exp`, and so the logistic and
 * softmax probabilities, differently in the last bit; sums and regression values stay exact.
 *
 * With datetime parts, `predict()` reads a batch as a table, typing each column over all its
 * rows; the module checks each value on its own. Both refuse the same bad values, though a batch
 * mixing types in one column is refused in other words, and a category given as ISO date text,
 * which the table reads as a datetime and `predict()` refuses, is read by the module as text.
 *
 * It exports `predict(record)`, `predictBatch(records)`, `handler(event)` for serverless functions
 * and `metadata`. It has no `eval` or `Function`, and runs in strict mode.
 */
import { TrellisError } from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';
import { decodeFloat64Base64 } from '../numeric/sketches/base64.js';
import type { Tree } from '../numeric/trees/tree.js';
import { MISSING, OTHER, outputNames, type FittedFeature } from './features.js';
import { ensembleOf, loadModel, type TrellisModel } from './model.js';

/**
 * A JavaScript literal for a JSON-like value: -0 keeps its sign; strings hold no line terminator
 * (U+2028 and U+2029 escaped too, so one is safe in a comment) and no `<` (safe inline in HTML).
 */
function literal(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : String(v);
  if (typeof v === 'string') return JSON.stringify(v).replace(/[<\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (v === null || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(literal).join(',')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).map(([k, x]) => `${literal(k)}:${literal(x)}`).join(',')}}`;
  throw new Error(`cannot write ${typeof v} as a literal`);
}

type Typed = Int8Array | Int16Array | Int32Array | Uint8Array | Uint32Array | Float64Array;
const TYPE_NAMES: [string, new (n: number) => Typed][] = [['i8', Int8Array], ['i16', Int16Array], ['i32', Int32Array], ['u8', Uint8Array], ['u32', Uint32Array], ['f64', Float64Array]];

/** `type:base64` of a typed array's bytes, little-endian. */
function packed(a: Typed): string {
  const name = TYPE_NAMES.find(([, T]) => a instanceof T)![0];
  const bytes = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  // Written little-endian, whatever this machine is (the runtime swaps on a big-endian one).
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1 && a.BYTES_PER_ELEMENT > 1) {
    const copy = Buffer.from(bytes);
    if (a.BYTES_PER_ELEMENT === 2) copy.swap16();
    else if (a.BYTES_PER_ELEMENT === 4) copy.swap32();
    else copy.swap64();
    return `${name}:${copy.toString('base64')}`;
  }
  return `${name}:${bytes.toString('base64')}`;
}

/** The smallest signed integer array holding every value. */
function ints(values: ArrayLike<number>): Int8Array | Int16Array | Int32Array {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]!);
    hi = Math.max(hi, values[i]!);
  }
  if (lo >= -128 && hi <= 127) return Int8Array.from(values);
  if (lo >= -32768 && hi <= 32767) return Int16Array.from(values);
  return Int32Array.from(values);
}

/**
 * The trees laid out for the module: every tree's nodes in one set of arrays, in preorder, so a
 * node's left child is the next node and only the right one is stored. `num` is a numeric split's
 * threshold, a categorical split's offset in `bits` (word count, then the bitset), a scalar leaf's
 * value, or a vector leaf's offset in `vec`. `flags`: 1 missing goes left, 2 categorical split.
 */
function layoutTrees(trees: Tree[]) {
  const feature: number[] = [];
  const num: number[] = [];
  const right: number[] = [];
  const flags: number[] = [];
  const bits: number[] = [];
  const vec: number[] = [];
  const roots: number[] = [];
  for (const t of trees) {
    roots.push(feature.length);
    const stack: [number, number][] = [[0, -1]];
    while (stack.length) {
      const [i, parent] = stack.pop()!;
      const at = feature.length;
      if (parent >= 0) right[parent] = at - parent;
      const f = t.feature[i]!;
      feature.push(f < 0 ? -1 : f);
      right.push(0);
      if (f < 0) {
        flags.push(0);
        if (t.output >= 0) num.push(t.value[i * t.width]!);
        else {
          num.push(vec.length);
          for (let j = 0; j < t.width; j++) vec.push(t.value[i * t.width + j]!);
        }
        continue;
      }
      const set = t.categories?.[i];
      flags.push((t.missingLeft[i] ? 1 : 0) | (set ? 2 : 0));
      if (set) {
        // As numeric/trees/tree.ts compiles them: negative codes are in no set.
        let max = -1;
        for (const v of set) if (v > max) max = v;
        const words = max < 0 ? 1 : (max >> 5) + 1;
        num.push(bits.length);
        const from = bits.length + 1;
        bits.push(words);
        for (let w = 0; w < words; w++) bits.push(0);
        for (const v of set) if (v >= 0) bits[from + (v >> 5)] = (bits[from + (v >> 5)]! | (1 << (v & 31))) >>> 0;
      } else num.push(t.threshold[i]!);
      stack.push([t.right[i]!, at], [t.left[i]!, -1]);
    }
  }
  return {
    roots: packed(Int32Array.from(roots)), outputs: packed(ints(trees.map((t) => t.output))), feature: packed(ints(feature)),
    num: packed(Float64Array.from(num)), right: packed(ints(right)), flags: packed(Uint8Array.from(flags)),
    bits: packed(Uint32Array.from(bits)), vec: packed(Float64Array.from(vec)),
  };
}

/** A fitted step as the runtime reads it: the input's type and where its outputs start. */
function stepConfig(s: FittedFeature, type: string, at: number): Record<string, unknown> {
  const base = { column: s.column, kind: s.kind, type, at };
  switch (s.kind) {
    case 'numeric': return { ...base, fill: s.fill, center: s.center, scale: s.scale };
    case 'onehot':
    case 'ordinal': return { ...base, categories: s.categories, unseen: s.unseen, fill: s.fill };
    case 'datetime': return { ...base, parts: s.parts };
    case 'bucketize': return { ...base, boundaries: s.boundaries };
  }
}

/** Writes `model` as an ES module (see the file comment). Refuses ONNX estimators. */
export function exportJsModule(model: TrellisModel, info: { name: string; version: string }): string {
  if (model.estimator.kind === 'onnx') {
    throw new TrellisError('TRELLIS_INVALID_PARAMETER', {
      detail: 'This model is an ONNX graph run by onnxruntime; a JavaScript module can hold only the Trellis estimators (linear, gbdt, forest): export it with --format onnx',
    });
  }
  const document = JSON.stringify(model);
  // Checked as a loaded model is: the module is only as sound as what it was made from.
  const m = loadModel(document);
  const f = m.features;
  let at = 0;
  const steps = f.steps.map((s, k) => {
    const c = stepConfig(s, f.inputs[k]!.type, at);
    at += outputNames(s).length;
    return c;
  });
  if (at !== f.outputs.length) throw new TrellisError('TRELLIS_MODEL_INVALID', { detail: `the feature steps write ${at} columns, 'features.outputs' names ${f.outputs.length}` });
  const e = m.estimator;
  let estimator: Record<string, unknown>;
  let data: Record<string, string>;
  if (e.kind === 'trees') {
    estimator = { kind: 'trees', outputs: e.outputs, mean: e.aggregation === 'mean', link: e.link, baseScore: e.baseScore };
    data = layoutTrees(ensembleOf(e).trees);
  } else if (e.kind === 'linear') {
    estimator = { kind: 'linear', outputs: e.outputs, link: m.task === 'binary' ? 'logistic' : m.task === 'multiclass' ? 'softmax' : 'identity' };
    data = { weights: packed(decodeFloat64Base64(e.weights)), intercepts: packed(decodeFloat64Base64(e.intercepts)) };
  } else throw new TrellisError('TRELLIS_MODEL_INVALID', { detail: `unknown estimator ${JSON.stringify((e as { kind?: unknown }).kind)}` });
  const metadata = {
    name: info.name, version: info.version, format: m.format, task: m.task, target: m.target, classes: m.classes ?? null,
    inputs: f.inputs.map((i) => ({ name: i.name, type: i.type })), estimator: e.kind === 'trees' ? e.algorithm : 'linear', sha256: sha256Hex(document),
  };
  const config = {
    task: m.task, classes: m.classes ?? null, width: f.outputs.length, missing: MISSING, other: OTHER,
    // With datetime parts, predict() reads records as the table reader does (tableFromRows).
    table: f.steps.some((s) => s.kind === 'datetime'), steps, estimator,
  };
  return [
    `// ${literal(info.name)} version ${literal(info.version)}: a Trellis model (${metadata.estimator}, ${m.task}) as a dependency-free ES module.`,
    '// Written by `trellis export --format js`; predict(record), predictBatch(records), handler(event), metadata.',
    `export const metadata = deepFreeze(${literal(metadata)});`,
    `const MODEL = ${literal(config)};`,
    `const DATA = ${literal(data)};`,
    RUNTIME,
  ].join('\n');
}

/** A strong ETag for a module's text: its sha256, quoted. */
export function jsModuleEtag(moduleText: string): string {
  return `"sha256-${sha256Hex(moduleText)}"`;
}

// The runtime, plain JavaScript. It must stay free of backticks and `${`: it is a template literal.
const RUNTIME = String.raw`
function deepFreeze(o) {
  if (o && typeof o === 'object') { Object.freeze(o); for (const k of Object.keys(o)) deepFreeze(o[k]); }
  return o;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_CODES = new Uint8Array(128);
for (let i = 0; i < 64; i++) B64_CODES[B64.charCodeAt(i)] = i;

function decodeBase64(s) {
  let n = s.length;
  while (n > 0 && s.charCodeAt(n - 1) === 61) n--;
  const out = new Uint8Array((n * 3) >> 2);
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < n; i++) {
    acc = ((acc << 6) | B64_CODES[s.charCodeAt(i) & 127]) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 255;
    }
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const TYPES = { i8: Int8Array, i16: Int16Array, i32: Int32Array, u8: Uint8Array, u32: Uint32Array, f64: Float64Array };

/** A typed array from 'type:base64' (little-endian bytes). */
function unpack(text) {
  const colon = text.indexOf(':');
  const Type = TYPES[text.slice(0, colon)];
  const bytes = decodeBase64(text.slice(colon + 1));
  const size = Type.BYTES_PER_ELEMENT;
  if (!LITTLE_ENDIAN) for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  return new Type(bytes.buffer, 0, bytes.length / size);
}

const MISSING = MODEL.missing;
const OTHER = MODEL.other;
const STEPS = MODEL.steps;
for (const s of STEPS) if (s.categories) s.index = new Map(s.categories.map((c, i) => [c, i]));
const WIDTH = MODEL.width;
const TABLE = MODEL.table;
const EST = MODEL.estimator;
const K = EST.outputs;
const CLASSES = MODEL.classes;
const hasOwn = Object.prototype.hasOwnProperty;

/** Bad input: the message names the feature (or the part of the request) that is wrong. */
class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = 'InputError';
    this.code = 'TRELLIS_INVALID_PARAMETER';
    this.statusCode = 400;
  }
}

function typeOf(v) {
  return typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'float') : typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'boolean' : typeof v;
}

function show(v) {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

function has(record, key) {
  return TABLE ? hasOwn.call(record, key) : key in record;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digitsAt(s, at, n) {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = s.charCodeAt(at + i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** ISO-8601 text as the table reader reads it (ms since the epoch, a time without zone is UTC), or null. */
function parseDatetime(text) {
  if (text.length > 80) return null;
  let s = 0;
  let e = text.length;
  while (s < e && (text.charCodeAt(s) === 32 || text.charCodeAt(s) === 9)) s++;
  while (e > s && (text.charCodeAt(e - 1) === 32 || text.charCodeAt(e - 1) === 9)) e--;
  if (e - s < 10 || text.charCodeAt(s + 4) !== 45 || text.charCodeAt(s + 7) !== 45) return null;
  const y = digitsAt(text, s, 4);
  const mo = digitsAt(text, s + 5, 2);
  const d = digitsAt(text, s + 8, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1) return null;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  if (d > (mo === 2 && leap ? 29 : DAYS[mo - 1])) return null;
  let p = s + 10;
  let h = 0, mi = 0, sec = 0, ms = 0, offset = 0;
  if (p < e) {
    const sep = text.charCodeAt(p);
    if ((sep !== 84 && sep !== 32) || e - p < 6 || text.charCodeAt(p + 3) !== 58) return null;
    h = digitsAt(text, p + 1, 2);
    mi = digitsAt(text, p + 4, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59) return null;
    p += 6;
    if (p < e && text.charCodeAt(p) === 58) {
      if (p + 3 > e) return null;
      sec = digitsAt(text, p + 1, 2);
      if (sec < 0 || sec > 59) return null;
      p += 3;
      if (p < e && (text.charCodeAt(p) === 46 || text.charCodeAt(p) === 44)) {
        p++;
        let n = 0;
        let scale = 100;
        while (p < e && text.charCodeAt(p) >= 48 && text.charCodeAt(p) <= 57) {
          ms += (text.charCodeAt(p) - 48) * scale;
          scale /= 10;
          p++;
          n++;
        }
        if (n === 0) return null;
        ms = Math.floor(ms);
      }
    }
    if (p < e) {
      const z = text.charCodeAt(p);
      if (z === 90 || z === 122) p++;
      else if (z === 43 || z === 45) {
        if (p + 3 > e) return null;
        const oh = digitsAt(text, p + 1, 2);
        if (oh < 0 || oh > 23) return null;
        p += 3;
        let om = 0;
        if (p < e) {
          if (text.charCodeAt(p) === 58) p++;
          if (p + 2 > e) return null;
          om = digitsAt(text, p, 2);
          if (om < 0 || om > 59) return null;
          p += 2;
        }
        offset = (z === 45 ? -1 : 1) * (oh * 60 + om) * 60000;
      }
    }
    if (p !== e) return null;
  }
  const t = Date.UTC(y, mo - 1, d, h, mi, sec, ms);
  return (y < 100 ? new Date(t).setUTCFullYear(y) : t) - offset;
}

/** A category (idx: its index among the fitted ones, -1 when unseen or null) into x at 'at'. */
function writeCategory(s, raw, idx, i, x, at) {
  let v = raw === null ? s.fill : raw;
  if (raw === null) idx = v === null ? -1 : (s.index.get(v) ?? -1);
  if (v === MISSING && s.fill === MISSING) idx = s.categories.length;
  if (idx < 0 && v !== null) {
    if (s.unseen === 'error') throw new InputError("Feature '" + s.column + "' has the category '" + v + "' in row " + i + ', unseen in training (policy: error)');
    if (s.unseen === 'other') v = OTHER;
  }
  if (s.kind === 'ordinal') {
    if (idx >= 0) x[at] = idx;
    else if (v === null || s.unseen === 'missing') x[at] = NaN;
    else x[at] = s.categories.length + (s.fill === MISSING ? 1 : 0);
    return;
  }
  const width = s.categories.length + (s.fill === MISSING ? 1 : 0) + (s.unseen === 'other' ? 1 : 0);
  for (let j = 0; j < width; j++) x[at + j] = 0;
  if (idx >= 0) x[at + idx] = 1;
  else if (v === OTHER) x[at + width - 1] = 1;
}

function writeDatetime(s, v, x, at) {
  let t = null;
  if (v !== null && !(typeof v === 'number' && v !== v)) {
    if (typeof v === 'string') t = parseDatetime(v);
    else if (v instanceof Date) t = v.getTime();
    if (t === null) throw new InputError("Feature '" + s.column + "' must be an ISO-8601 date or datetime, got " + typeOf(v) + ' (' + show(v) + ')');
    if (t !== t) t = null;
  }
  const d = t === null ? null : new Date(t);
  const parts = s.parts;
  for (let j = 0; j < parts.length; j++) {
    const p = parts[j];
    x[at + j] = d === null ? NaN : p === 'year' ? d.getUTCFullYear() : p === 'month' ? d.getUTCMonth() + 1 : p === 'day' ? d.getUTCDate()
      : p === 'hour' ? d.getUTCHours() : p === 'weekday' ? d.getUTCDay()
        : Math.floor((t - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86400000) + 1;
  }
}

/** One feature of one record into x at 'at' (as applyFeatures in features.ts). */
function writeFeature(s, v, i, x, at) {
  if (s.kind === 'onehot' || s.kind === 'ordinal') {
    if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new InputError("Feature '" + s.column + "' must be " + s.type + ', got ' + typeOf(v) + ' (' + show(v) + ')');
    }
    // The table reader reads NaN as null.
    if (TABLE && v !== v) v = null;
    const str = v === null ? null : String(v);
    writeCategory(s, str, str === null ? -1 : (s.index.get(str) ?? -1), i, x, at);
    return;
  }
  if (s.kind === 'datetime') {
    writeDatetime(s, v, x, at);
    return;
  }
  let n;
  if (v === null) n = null;
  else if (typeof v === 'number') {
    if (s.type === 'boolean' && v === v && (TABLE || (v !== 0 && v !== 1))) throw new InputError("Feature '" + s.column + "' must be boolean, got " + v);
    n = v;
  } else if (typeof v === 'boolean' && s.type === 'boolean') n = v ? 1 : 0;
  else throw new InputError("Feature '" + s.column + "' must be " + s.type + ', got ' + typeOf(v) + ' values (e.g. ' + show(v) + ')');
  if (s.kind === 'numeric') {
    if (n === null || n !== n) n = s.fill === null ? NaN : s.fill;
    if (!Number.isFinite(n) && !(s.fill === null && n !== n)) throw new InputError("Feature '" + s.column + "' is " + n + ' in row ' + i + '; only finite numbers are accepted');
    x[at] = (n - s.center) / s.scale;
    return;
  }
  if (n === null || n !== n) {
    x[at] = NaN;
    return;
  }
  const b = s.boundaries;
  let k = 0;
  while (k < b.length && n >= b[k]) k++;
  x[at] = k;
}

/** The feature matrix (n x WIDTH, row-major) of records into x, feature by feature as predict() checks them. */
function encode(records, n, x) {
  for (let i = 0; i < n; i++) {
    const r = records[i];
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new InputError('Record ' + i + ' must be an object of feature values, got ' + (Array.isArray(r) ? 'an array' : show(r)));
  }
  for (let k = 0; k < STEPS.length; k++) {
    const s = STEPS[k];
    let seen = false;
    for (let i = 0; i < n; i++) {
      const r = records[i];
      let v;
      if (has(r, s.column)) v = r[s.column];
      else if (!seen) {
        // A key absent from every record is a missing feature; absent from some, a null.
        for (let j = 0; j < n && !seen; j++) seen = has(records[j], s.column);
        if (!seen) throw new InputError("Input is missing the feature '" + s.column + "' (" + s.type + ')');
      }
      writeFeature(s, v === undefined ? null : v, i, x, i * WIDTH + s.at);
    }
  }
}

let rawScores;
if (EST.kind === 'trees') {
  const roots = unpack(DATA.roots);
  const treeOutput = unpack(DATA.outputs);
  const feature = unpack(DATA.feature);
  const num = unpack(DATA.num);
  const right = unpack(DATA.right);
  const flags = unpack(DATA.flags);
  const bits = unpack(DATA.bits);
  const vec = unpack(DATA.vec);
  const trees = roots.length;
  const scale = EST.mean ? 1 / trees : 1;
  const base = EST.baseScore;
  /**
   * Raw scores of n rows (n x K into z): each row's leaf values summed in tree order, then averaged
   * and the base score added (numeric/trees/tree.ts). Tree by tree over the rows, so a tree's
   * nodes stay in cache; every row still adds its leaves in the same order.
   */
  rawScores = function (x, n, z) {
    z.fill(0, 0, n * K);
    for (let t = 0; t < trees; t++) {
      const root = roots[t];
      const o = treeOutput[t];
      for (let i = 0, off = 0; i < n; i++, off += WIDTH) {
        let node = root;
        for (let f = feature[node]; f >= 0; f = feature[node]) {
          const v = x[off + f];
          const fl = flags[node];
          let left;
          if (v !== v) left = (fl & 1) === 1;
          else if ((fl & 2) === 0) left = v <= num[node];
          else {
            // A category code is the value's integer part; a negative or huge value is in no set.
            const code = v >= 0 && v < 2147483648 ? Math.trunc(v) : -1;
            const at = num[node];
            const word = code >> 5;
            left = code >= 0 && word < bits[at] && ((bits[at + 1 + word] >>> (code & 31)) & 1) === 1;
          }
          node = left ? node + 1 : node + right[node];
        }
        if (o >= 0) z[i * K + o] += num[node];
        else for (let j = 0, va = num[node]; j < K; j++) z[i * K + j] += vec[va + j];
      }
    }
    for (let i = 0; i < n * K; i += K) for (let j = 0; j < K; j++) z[i + j] = z[i + j] * scale + base[j];
  };
} else {
  const w = unpack(DATA.weights);
  const b = unpack(DATA.intercepts);
  /** Raw scores of n rows (n x K into z): intercept plus the weighted features, in feature order. */
  rawScores = function (x, n, z) {
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < K; o++) {
        let s = b[o];
        for (let j = 0; j < WIDTH; j++) s += w[o * WIDTH + j] * x[i * WIDTH + j];
        z[i * K + o] = s;
      }
    }
  };
}

/** The answer for the row whose raw scores start at z[at]: the value, or the class label and probabilities. */
function answer(z, at) {
  if (MODEL.task === 'regression') return { prediction: z[at] };
  const c = CLASSES.length;
  const proba = new Array(c);
  if (EST.link === 'identity') {
    if (MODEL.task === 'binary') {
      proba[1] = Math.min(1, Math.max(0, z[at]));
      proba[0] = 1 - proba[1];
    } else for (let o = 0; o < c; o++) proba[o] = z[at + o];
  } else if (MODEL.task === 'binary') {
    const p1 = 1 / (1 + Math.exp(-z[at]));
    proba[0] = 1 - p1;
    proba[1] = p1;
  } else {
    let max = -Infinity;
    for (let o = 0; o < c; o++) max = Math.max(max, z[at + o]);
    let sum = 0;
    for (let o = 0; o < c; o++) sum += proba[o] = Math.exp(z[at + o] - max);
    for (let o = 0; o < c; o++) proba[o] /= sum;
  }
  let best = 0;
  for (let o = 1; o < c; o++) if (proba[o] > proba[best]) best = o;
  return { prediction: CLASSES[best], proba };
}

const one = [null];
const row = new Float64Array(WIDTH);
const scores = new Float64Array(K);

/**
 * Predicts one record (an object of feature values): { prediction } for a regressor; for a
 * classifier { prediction: the class label, proba: the probabilities in the order of metadata.classes }.
 * Bad input throws an InputError naming the feature.
 */
export function predict(record) {
  one[0] = record;
  try {
    encode(one, 1, row);
  } finally {
    one[0] = null;
  }
  rawScores(row, 1, scores);
  return answer(scores, 0);
}

/** Predicts an array of records: one answer per record, as predict() gives it. */
export function predictBatch(records) {
  if (!Array.isArray(records)) throw new InputError('predictBatch takes an array of records, got ' + typeOf(records));
  const n = records.length;
  const x = new Float64Array(n * WIDTH);
  encode(records, n, x);
  const z = new Float64Array(n * K);
  rawScores(x, n, z);
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = answer(z, i * K);
  return out;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/**
 * For serverless functions: takes { "instances": [records] } and answers { "predictions": [...] }.
 * An HTTP event with a JSON string body (AWS Lambda, Cloud Functions) gets an HTTP answer,
 * { statusCode, headers, body }; bad input answers 400 with { "error": message }.
 */
export async function handler(event) {
  const http = event !== null && typeof event === 'object' && !Array.isArray(event) && 'body' in event && !('instances' in event);
  try {
    let request = event;
    if (http) {
      request = event.body;
      if (typeof request === 'string') {
        const text = event.isBase64Encoded ? new TextDecoder().decode(decodeBase64(request)) : request;
        try {
          request = JSON.parse(text);
        } catch (e) {
          throw new InputError('The request body is not JSON: ' + e.message);
        }
      }
    }
    if (request === null || typeof request !== 'object' || Array.isArray(request)) throw new InputError('The request must be a JSON object {"instances": [records]}, got ' + (Array.isArray(request) ? 'an array' : request === null || request === undefined ? 'nothing' : typeOf(request)));
    if (!Array.isArray(request.instances)) throw new InputError("The request needs 'instances': an array of records, one object of feature values per row");
    const predictions = predictBatch(request.instances);
    return http ? { statusCode: 200, headers: JSON_HEADERS, body: JSON.stringify({ predictions }) } : { predictions };
  } catch (e) {
    const bad = e instanceof InputError;
    if (!http && !bad) throw e;
    const error = bad ? e.message : 'The model failed: ' + (e && e.message);
    return http ? { statusCode: bad ? 400 : 500, headers: JSON_HEADERS, body: JSON.stringify({ error }) } : { statusCode: 400, error };
  }
}

export { InputError };
export default { predict, predictBatch, handler, metadata, InputError };
`;
