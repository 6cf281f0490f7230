/**
 * The one-pass decoder of the common OIP request and the directly written JSON answer, each
 * against the general code it stands in for: for a few thousand requests built from valid ones by
 * small changes (types, shapes, names, nulls, huge numbers, extra keys), the records — or the
 * refusal — must be the same whichever path decodes; the answer text must be byte for byte what
 * `JSON.stringify` gives.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Predictions } from '../../ml/model.js';
import type { InferResult, InputColumn } from '../types.js';
import { decodeInferText, encodeInferResponse, inferResponseJson, predictionOutputs } from './codec.js';
import { plainRecords } from './plain.js';
import { rng } from '../test-helpers/rng.js';

const SIGNATURE: InputColumn[] = [
  { name: 'age', type: 'integer' }, { name: 'hours', type: 'float' }, { name: 'member', type: 'boolean' },
  { name: 'city', type: 'string' }, { name: 'since', type: 'datetime' }, { name: 'constructor', type: 'string' },
];

const DATATYPE: Record<InputColumn['type'], string> = { integer: 'INT64', float: 'FP64', boolean: 'BOOL', string: 'BYTES', datetime: 'BYTES' };

function value(type: InputColumn['type'], r: () => number): unknown {
  if (r() < 0.1) return null;
  switch (type) {
    case 'integer': return Math.floor(r() * 200) - 50;
    case 'float': return Math.round(r() * 1e4) / 100;
    case 'boolean': return r() < 0.5;
    case 'string': return ['Lyon', 'Oslo', '', 'naïve "quoted"', '__proto__'][Math.floor(r() * 5)];
    case 'datetime': return '2024-05-01T12:00:00Z';
  }
}

/** Odd values to put in place of a good one. */
const ODD: unknown[] = [
  '12', 12, 12.5, -1, 0, 1, true, false, 1e300, 2 ** 53, 2 ** 53 + 2, -(2 ** 60), 4294967296, '', 'x', 'not a date', [], [1], {}, { a: 1 }, null,
];
const ODD_DATATYPES = ['INT8', 'UINT8', 'INT32', 'UINT64', 'FP32', 'FP16', 'BF16', 'BOOL', 'BYTES', 'INT64', 'FP64', 'int64', 'STRING', 7, null];

function validRequest(r: () => number, rows: number): Record<string, unknown> {
  const inputs = SIGNATURE.map((c) => ({ name: c.name, datatype: DATATYPE[c.type], shape: r() < 0.3 ? [rows, 1] : [rows], data: Array.from({ length: rows }, () => value(c.type, r)) }));
  // Any order of the columns.
  for (let i = inputs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [inputs[i], inputs[j]] = [inputs[j]!, inputs[i]!];
  }
  const doc: Record<string, unknown> = { inputs };
  if (r() < 0.3) doc.id = `req-${Math.floor(r() * 1000)}`;
  return doc;
}

/** One small change to a valid request (or none). */
function mutate(doc: Record<string, unknown>, r: () => number): void {
  const inputs = doc.inputs as Record<string, unknown>[];
  if (!Array.isArray(inputs) || !inputs.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x)) || !inputs.length) return;
  const t = inputs[Math.floor(r() * inputs.length)]!;
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
  switch (Math.floor(r() * 17)) {
    case 0: if (Array.isArray(t.data)) t.data[0] = pick(ODD); break;
    case 1: t.datatype = pick(ODD_DATATYPES); break;
    case 2: t.shape = pick([[2], [0], [1, 2], [1, 1, 1], [-1], [1.5], ['1'], 'x', [], [Array.isArray(t.data) ? t.data.length : 1, 2]]); break;
    case 3: t.name = pick(['AGE', 'unknown', '', 7, 'constructor', 'toString', '__proto__', inputs[0]!.name]); break;
    case 4: inputs.splice(inputs.indexOf(t), 1); break;
    case 5: inputs.push({ ...t, name: 'extra' }); break;
    case 6: if (Array.isArray(t.data)) t.data = t.data.map((v) => [v]); break;
    case 7: t.data = pick([undefined, 'x', {}, [...(Array.isArray(t.data) ? t.data : []), 1]]); break;
    case 8: t.parameters = pick([{}, { content_type: 'str' }, { content_type: 'np' }, { binary_data_size: 8 }, 'x']); break;
    case 9: doc.parameters = pick([{}, { content_type: 'pd' }, { content_type: 'np' }, { binary_data_output: true }, 'x']); break;
    case 10: doc.outputs = pick([[{ name: 'predict' }], [{ name: 'nope' }], 'x', []]); break;
    case 11: doc.id = pick([7, null, '', 'ok']); break;
    case 12: doc.inputs = pick([[], {}, 'x', null, [null], [[]]]); break;
    case 13: t.extra_key = 'ignored'; break;
    case 14: (doc).unknown_top = 1; break;
    case 15: t.datatype = pick(['INT64', 'FP64', 'INT8', 'FP32']); if (Array.isArray(t.data)) t.data = t.data.map(() => pick([0, 1, 2, 0.5, -1, 7, 300, null])); break;
    default: break;
  }
}

type Outcome = { records: Record<string, unknown>[]; id?: string } | { error: string; kind: string };

function outcome(f: () => { records: Record<string, unknown>[]; id?: string }): Outcome {
  try {
    const d = f();
    return { records: d.records, ...(d.id !== undefined ? { id: d.id } : {}) };
  } catch (e) {
    return { error: (e as Error).message, kind: (e as { kind?: string }).kind ?? 'not a ServingError' };
  }
}

describe('the plain OIP request path', () => {
  it('gives the same records or the same refusal as the general decoder, for valid and damaged requests', () => {
    const r = rng(20261206);
    let plain = 0;
    let refusals = 0;
    for (let k = 0; k < 4000; k++) {
      const doc = validRequest(r, 1 + Math.floor(r() * 4));
      if (k % 5 !== 0) mutate(doc, r);
      if (k % 3 === 0) mutate(doc, r);
      let text = JSON.stringify(doc);
      // A number too large for a double parses as Infinity: JSON.stringify cannot write one.
      if (k % 7 === 0) text = text.replace(/"data":\[-?\d+(\.\d+)?/, '"data":[1e999');
      const maxBatch = r() < 0.1 ? 2 : 100;
      const fast = outcome(() => decodeInferText(text, { signature: SIGNATURE, maxBatch }));
      // `parameters: {}` means nothing to the protocol but keeps the plain path out (a request's
      // own `parameters`, later in the text, wins).
      const general = outcome(() => decodeInferText(text.replace(/^\{/, '{"parameters":{},'), { signature: SIGNATURE, maxBatch }));
      assert.deepEqual(fast, general, `request ${k}: ${text}`);
      // (The request's `id` is checked before the plain path is tried.)
      const took = 'records' in fast ? plainRecords(JSON.parse(text) as Record<string, unknown>, SIGNATURE, maxBatch) : undefined;
      if (took) {
        plain++;
        assert.deepEqual(took, (fast as { records: unknown }).records);
      }
      if ('error' in fast) refusals++;
    }
    // Both paths were exercised, and the plain one took most of the undamaged requests.
    assert.ok(plain > 600, `the plain path took ${plain} requests`);
    assert.ok(refusals > 800, `${refusals} refusals`);
  });

  it('builds records whose keys are the signature names only, even for a column called __proto__ or constructor', () => {
    const sig: InputColumn[] = [{ name: 'constructor', type: 'integer' }, { name: 'toString', type: 'string' }];
    const records = plainRecords({ inputs: [{ name: 'toString', datatype: 'BYTES', shape: [1], data: ['x'] }, { name: 'constructor', datatype: 'INT64', shape: [1], data: [3] }] }, sig, 10);
    assert.deepEqual(records, [{ constructor: 3, toString: 'x' }]);
    assert.deepEqual(Object.keys(records[0]!), ['constructor', 'toString']);
    const proto: InputColumn[] = [{ name: '__proto__', type: 'integer' }];
    assert.equal(plainRecords({ inputs: [{ name: '__proto__', datatype: 'INT64', shape: [1], data: [3] }] }, proto, 10), undefined, 'left to the general decoder');
  });
});

describe('the JSON answer written directly', () => {
  const result = (task: InferResult['task'], predictions: Predictions): InferResult => ({ modelName: 'm "x"', modelVersion: '3', registeredModel: 'm', route: 'primary', task, predictions });
  const generic = (res: InferResult, id?: string) => JSON.stringify({ model_name: res.modelName, model_version: res.modelVersion, ...(id !== undefined ? { id } : {}), outputs: predictionOutputs(res) });

  it('is byte for byte what JSON.stringify gives, for every task, odd numbers and odd class names', () => {
    const cases: InferResult[] = [
      result('regression', { prediction: Float64Array.from([1.5, -0, 1e21, 1e-7, Number.NaN, Number.POSITIVE_INFINITY, 0.1 + 0.2]) }),
      result('regression', { prediction: new Float64Array(0) }),
      result('binary', { prediction: Float64Array.from([0, 1, 1]), proba: Float64Array.from([0.9, 0.1, 0.3, 0.7, 0, 1]), classes: ['<=50K', '>50K'] }),
      result('multiclass', { prediction: Float64Array.from([2, 0, 7]), proba: Float64Array.from([0.1, 0.2, 0.7, 0.5, 0.25, 0.25, 1 / 3, 1 / 3, 1 / 3]), classes: ['a,b', 'é "q"', '\u2028'] }),
      result('binary', { prediction: Float64Array.from([1]) }),
      result('binary', { prediction: Float64Array.from([1, 0]), proba: Float64Array.from([0.2, 0.8, 0.6, 0.4]) }),
    ];
    for (const c of cases) {
      for (const id of [undefined, 'req-1', 'quote " and \\ back']) {
        assert.equal(inferResponseJson(c, id), generic(c, id));
        assert.equal(encodeInferResponse(c, { ...(id !== undefined ? { id } : {}), binaryOutputs: false }).body.toString('utf8'), generic(c, id));
      }
    }
  });
});
