import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { tableFromRows } from '../../data/table.js';
import { predict } from '../../ml/model.js';
import { trainLinear } from '../../ml/train-linear.js';
import { SAMPLE, trainedModel } from '../test-helpers/tiny-service.js';
import { ServingError, type InferResult, type InputColumn } from '../types.js';
import { decodeBody, decodeInferRequest, encodeInferResponse, predictionOutputs, tensorMetadata } from './codec.js';
import { decodeRawTensor } from './tensors.js';

const model = trainedModel();
const signature: InputColumn[] = model.features.inputs.map((c) => ({ name: c.name, type: c.type }));
const NUMERIC: InputColumn[] = [{ name: 'a', type: 'integer' }, { name: 'b', type: 'float' }, { name: 'c', type: 'boolean' }];

const json = (doc: unknown) => Buffer.from(JSON.stringify(doc));
const decode = (doc: unknown, sig: InputColumn[] = signature, maxBatch = 100) => decodeInferRequest(json(doc), { signature: sig, maxBatch });

/** SAMPLE as one tensor per column, as MLServer's pandas codec sends it. */
function columnTensors(rows: typeof SAMPLE) {
  return [
    { name: 'age', datatype: 'INT64', shape: [rows.length], data: rows.map((r) => r.age) },
    { name: 'hours', datatype: 'FP64', shape: [rows.length, 1], data: rows.map((r) => [r.hours]) },
    { name: 'member', datatype: 'BOOL', shape: [rows.length], data: rows.map((r) => r.member) },
    { name: 'city', datatype: 'BYTES', shape: [rows.length], parameters: { content_type: 'str' }, data: rows.map((r) => r.city) },
    { name: 'since', datatype: 'BYTES', shape: [rows.length], parameters: { content_type: 'datetime' }, data: rows.map((r) => r.since) },
  ];
}

/** Little-endian bytes of a tensor's elements, as a client builds the binary section. */
function raw(datatype: 'INT64' | 'FP64' | 'BOOL' | 'BYTES' | 'FP16', values: unknown[]): Buffer {
  return Buffer.concat(values.map((v) => {
    switch (datatype) {
      case 'INT64': { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(v as number)); return b; }
      case 'FP64': { const b = Buffer.alloc(8); b.writeDoubleLE(v as number); return b; }
      case 'FP16': { const b = Buffer.alloc(2); b.writeUInt16LE(v as number); return b; }
      case 'BOOL': return Buffer.from([v ? 1 : 0]);
      case 'BYTES': { const t = Buffer.from(v as string); const l = Buffer.alloc(4); l.writeUInt32LE(t.length); return Buffer.concat([l, t]); }
    }
  }));
}

function binaryRequest(tensors: { name: string; datatype: string; shape: number[]; bytes: Buffer; size?: number }[], extra: Record<string, unknown> = {}) {
  const header = json({ ...extra, inputs: tensors.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: t.size ?? t.bytes.length } })) });
  return { body: Buffer.concat([header, ...tensors.map((t) => t.bytes)]), headerLength: String(header.length) };
}

function refused(f: () => unknown, kind: ServingError['kind'], message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ServingError, `expected a ServingError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.message, message);
    return true;
  });
}

describe('OIP v2 request decoding', () => {
  it('decodes one tensor per column (pd) into records that predict as the records themselves', () => {
    const d = decode({ id: 'r-1', parameters: { content_type: 'pd' }, inputs: columnTensors(SAMPLE) });
    assert.deepEqual(d.records, SAMPLE);
    assert.equal(d.id, 'r-1');
    assert.deepEqual(d.parameters, { content_type: 'pd' });
    assert.equal(d.binaryOutputs, false);
    assert.equal(d.outputs, undefined);
    assert.deepEqual(predict(model, d.records), predict(model, SAMPLE));
  });

  it('decodes one [N,F] tensor, nested or flat (np), in signature order', () => {
    const rows = [[1, 2.5, 1], [3, -4, 0]];
    const expected = [{ a: 1, b: 2.5, c: true }, { a: 3, b: -4, c: false }];
    assert.deepEqual(decode({ inputs: [{ name: 'input-0', datatype: 'FP64', shape: [2, 3], data: rows }] }, NUMERIC).records, expected);
    assert.deepEqual(decode({ parameters: { content_type: 'np' }, inputs: [{ name: 'x', datatype: 'FP64', shape: [2, 3], data: rows.flat() }] }, NUMERIC).records, expected);
    // A one-column model takes a lone [N] tensor of any name.
    assert.deepEqual(decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1.5, 2] }] }, [{ name: 'v', type: 'float' }]).records, [{ v: 1.5 }, { v: 2 }]);
  });

  it('predicts the same from a [N,F] tensor as from the records, for a trained numeric model', () => {
    const rows = Array.from({ length: 60 }, (_, i) => ({ a: i % 9, b: i / 7, c: i % 2 === 0, y: 2 * (i % 9) - i / 7 + (i % 2) }));
    const m = trainLinear(tableFromRows(rows), 'y').model;
    const sig: InputColumn[] = m.features.inputs.map((c) => ({ name: c.name, type: c.type }));
    const sample = rows.slice(0, 5).map(({ y: _y, ...r }) => r);
    const data = sample.map((r) => sig.map((c) => (c.type === 'boolean' ? Number(r[c.name as 'c']) : r[c.name as 'a'])));
    const d = decode({ inputs: [{ name: 'features', datatype: 'FP64', shape: [5, sig.length], data }] }, sig);
    assert.deepEqual(d.records, sample);
    assert.deepEqual(predict(m, d.records), predict(m, sample));
  });

  it('decodes the binary tensor data extension, and the same request as JSON gives the same records', () => {
    const { body, headerLength } = binaryRequest([
      { name: 'age', datatype: 'INT64', shape: [3], bytes: raw('INT64', SAMPLE.map((r) => r.age)) },
      { name: 'hours', datatype: 'FP64', shape: [3], bytes: raw('FP64', SAMPLE.map((r) => r.hours)) },
      { name: 'member', datatype: 'BOOL', shape: [3], bytes: raw('BOOL', SAMPLE.map((r) => r.member)) },
      { name: 'city', datatype: 'BYTES', shape: [3], bytes: raw('BYTES', SAMPLE.map((r) => r.city)) },
      { name: 'since', datatype: 'BYTES', shape: [3], bytes: raw('BYTES', SAMPLE.map((r) => r.since)) },
    ], { parameters: { binary_data_output: true } });
    const d = decodeInferRequest(body, { headerLength, signature, maxBatch: 10 });
    assert.deepEqual(d.records, SAMPLE);
    assert.equal(d.binaryOutputs, true);
    assert.deepEqual(predict(model, d.records), predict(model, SAMPLE));
    // FP16 has no JSON form but decodes from binary: 0x3e00 is 1.5, 0xc000 is -2.
    const half = binaryRequest([{ name: 'v', datatype: 'FP16', shape: [2], bytes: raw('FP16', [0x3e00, 0xc000]) }]);
    assert.deepEqual(decodeInferRequest(half.body, { headerLength: half.headerLength, signature: [{ name: 'v', type: 'float' }], maxBatch: 10 }).records, [{ v: 1.5 }, { v: -2 }]);
  });

  it('refuses binary data whose sizes lie or disagree', () => {
    const sig: InputColumn[] = [{ name: 'b', type: 'float' }, { name: 's', type: 'string' }];
    const b = raw('FP64', [1, 2]);
    const s = raw('BYTES', ['x', 'yz']);
    const attempt = (tensors: Parameters<typeof binaryRequest>[0], headerLength?: string, trailing = Buffer.alloc(0)) => () => {
      const r = binaryRequest(tensors);
      return decodeInferRequest(Buffer.concat([r.body, trailing]), { headerLength: headerLength ?? r.headerLength, signature: sig, maxBatch: 10 });
    };
    const ok = attempt([{ name: 'b', datatype: 'FP64', shape: [2], bytes: b }, { name: 's', datatype: 'BYTES', shape: [2], bytes: s }]);
    assert.equal(ok().records.length, 2);
    refused(attempt([{ name: 'b', datatype: 'FP64', shape: [2], bytes: b, size: 100 }, { name: 's', datatype: 'BYTES', shape: [2], bytes: s }]), 'invalid', /Input 'b' claims 100 bytes .* holds only 27/);
    refused(attempt([{ name: 'b', datatype: 'FP64', shape: [2], bytes: b }, { name: 's', datatype: 'BYTES', shape: [2], bytes: s }], undefined, Buffer.from('junk')), 'invalid', /4 bytes of binary data .* no input's binary_data_size claims/);
    refused(attempt([{ name: 'b', datatype: 'FP64', shape: [3], bytes: b }, { name: 's', datatype: 'BYTES', shape: [3], bytes: s }]), 'invalid', /Input 'b' has 16 bytes of raw data; shape \[3\] of FP64 needs 24/);
    refused(attempt([{ name: 'b', datatype: 'FP64', shape: [2], bytes: b }, { name: 's', datatype: 'BYTES', shape: [2], bytes: Buffer.concat([s.subarray(0, 5), Buffer.from([200, 0, 0, 0])]) }]), 'invalid', /Input 's' \(BYTES\) element 1 claims 200 bytes/);
    refused(attempt([{ name: 'b', datatype: 'FP64', shape: [2], bytes: b }, { name: 's', datatype: 'BYTES', shape: [1], bytes: s }]), 'invalid', /Input 'b' has 2 rows; input|Input 's' has 1 rows/);
    refused(attempt([{ name: 'b', datatype: 'FP64', shape: [2], bytes: b }, { name: 's', datatype: 'BYTES', shape: [2], bytes: s }], 'abc'), 'invalid', /Inference-Header-Content-Length is 'abc'/);
    refused(attempt([{ name: 'b', datatype: 'FP64', shape: [2], bytes: b }, { name: 's', datatype: 'BYTES', shape: [2], bytes: s }], '99999'), 'invalid', /Inference-Header-Content-Length is '99999'/);
    refused(() => decode({ inputs: [{ name: 'b', datatype: 'FP64', shape: [2], parameters: { binary_data_size: 16 } }] }, sig), 'invalid', /binary_data_size but the request has no Inference-Header-Content-Length/);
    const bools = binaryRequest([{ name: 'c', datatype: 'BOOL', shape: [1], bytes: Buffer.from([7]) }]);
    refused(() => decodeInferRequest(bools.body, { headerLength: bools.headerLength, signature: [{ name: 'c', type: 'boolean' }], maxBatch: 10 }), 'invalid', /BOOL\) element 0 is the byte 7/);
  });

  it('refuses non-finite numbers naming the input, and passes null as missing', () => {
    // JSON.parse reads 1e999 as Infinity.
    refused(() => decodeInferRequest(Buffer.from('{"inputs":[{"name":"b","datatype":"FP64","shape":[1],"data":[1e999]}]}'), { signature: [{ name: 'b', type: 'float' }], maxBatch: 5 }), 'invalid', /Input 'b' row 0 is Infinity; only finite numbers/);
    const nan = binaryRequest([{ name: 'b', datatype: 'FP64', shape: [1], bytes: raw('FP64', [Number.NaN]) }]);
    refused(() => decodeInferRequest(nan.body, { headerLength: nan.headerLength, signature: [{ name: 'b', type: 'float' }], maxBatch: 5 }), 'invalid', /Input 'b' row 0 is NaN/);
    const rows = SAMPLE.map((r, i) => (i === 1 ? { ...r, age: null, city: null } : r));
    const d = decode({ inputs: columnTensors(rows as typeof SAMPLE) });
    assert.equal(d.records[1]!.age, null);
    assert.equal(d.records[1]!.city, null);
    assert.equal(predict(model, d.records).prediction.length, 3);
  });

  it('checks values against the datatype and the signature', () => {
    const one = (name: string, datatype: string, data: unknown[], sig: InputColumn[] = [{ name, type: 'integer' }]) => () => decode({ inputs: [{ name, datatype, shape: [data.length], data }] }, sig);
    refused(one('a', 'INT64', ['12']), 'invalid', /Input 'a' is INT64; element 0 of its data must be an integer .*got string "12"/);
    refused(one('a', 'INT64', [1.5]), 'invalid', /must be an integer/);
    refused(one('a', 'INT8', [300]), 'invalid', /an integer from -128 to 127/);
    refused(one('a', 'BYTES', [5]), 'invalid', /Input 'a' is BYTES; element 0 of its data must be a string, got number 5/);
    refused(one('a', 'BOOL', [1]), 'invalid', /must be true or false/);
    refused(one('a', 'FP16', [1]), 'invalid', /FP16, which has no JSON form/);
    refused(one('a', 'BYTES', ['12']), 'invalid', /Input 'a' row 0: column 'a' \(integer\) needs a number, got string "12"/);
    refused(one('a', 'BOOL', [true]), 'invalid', /column 'a' \(integer\) needs a number, got boolean true/);
    refused(one('c', 'INT64', [2], [{ name: 'c', type: 'boolean' }]), 'invalid', /column 'c' \(boolean\) needs true\/false or 0\/1, got number 2/);
    assert.deepEqual(one('c', 'INT64', [0, 1], [{ name: 'c', type: 'boolean' }])().records, [{ c: false }, { c: true }]);
    // Integers are safe as category text; fractions are not.
    assert.deepEqual(one('s', 'INT64', [7], [{ name: 's', type: 'string' }])().records, [{ s: '7' }]);
    refused(one('s', 'FP64', [1.5], [{ name: 's', type: 'string' }]), 'invalid', /column 's' \(string\) needs a string .*got number 1.5/);
    refused(one('d', 'BYTES', ['yesterday'], [{ name: 'd', type: 'datetime' }]), 'invalid', /Input 'd' row 0 is string "yesterday", not an ISO-8601 date-time/);
    refused(one('a', 'FLOAT', [1]), 'invalid', /Input 'a' has datatype string "FLOAT"/);
    refused(() => decode({ inputs: [{ name: 'a', datatype: 'INT64', shape: [3], data: [1, 2] }] }, [{ name: 'a', type: 'integer' }]), 'invalid', /Input 'a' has 2 data elements; its shape \[3\] needs 3/);
    refused(() => decode({ inputs: [{ name: 'a', datatype: 'INT64', shape: [2, 1], data: [[1, 2]] }] }, [{ name: 'a', type: 'integer' }]), 'invalid', /nested data that does not match its shape \[2,1\]/);
    refused(() => decode({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [1, 5], data: [['1', '2', 'f', 'Lyon', '2020-01-01']] }] }), 'invalid', /column 'age' \(integer\) needs a number/);
  });

  it('checks the tensors against the signature: unknown, missing, duplicate, shapes and rows', () => {
    const cols = columnTensors(SAMPLE);
    refused(() => decode({ inputs: [...cols, { name: 'zzz', datatype: 'INT64', shape: [3], data: [1, 2, 3] }] }), 'invalid', /Unknown input 'zzz'; the model takes age \(integer\), hours \(float\)/);
    refused(() => decode({ inputs: cols.filter((t) => t.name !== 'city') }), 'invalid', /Missing input city \(string\)/);
    refused(() => decode({ inputs: [...cols, cols[0]] }), 'invalid', /Input 'age' appears twice/);
    refused(() => decode({ inputs: [{ ...cols[0], shape: [1, 3], data: [[1, 2, 3]] }, ...cols.slice(1)] }), 'invalid', /Input 'age' has shape \[1,3\]; a column is \[N\] or \[N,1\]/);
    refused(() => decode({ inputs: [{ ...cols[0], shape: [2], data: [1, 2] }, ...cols.slice(1)] }), 'invalid', /has 3 rows; input 'age' has 2/);
    refused(() => decode({ inputs: [{ ...cols[0], shape: [3, 1, 1] }, ...cols.slice(1)] }), 'invalid', /Input 'age' has shape \[3,1,1\]; a tabular input is/);
    refused(() => decode({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 2], data: [1, 2] }] }, NUMERIC), 'invalid', /Input 'x' has shape \[1,2\]; as the one input it must be \[N,3\]/);
    refused(() => decode({ parameters: { content_type: 'pd' }, inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 3], data: [1, 2, 1] }] }, NUMERIC), 'invalid', /Unknown input 'x'/);
    refused(() => decode({ parameters: { content_type: 'np' }, inputs: cols }), 'invalid', /content_type 'np' takes one \[N,F\] input; the request has 5/);
    refused(() => decode({ parameters: { content_type: 'dict' }, inputs: cols }), 'invalid', /content_type 'dict' is not supported/);
    refused(() => decode({ inputs: [{ ...cols[0], parameters: { content_type: 'str' } }, ...cols.slice(1)] }), 'invalid', /Input 'age' has content_type 'str', which needs datatype BYTES, not INT64/);
    refused(() => decode({ inputs: [{ ...cols[3], parameters: { content_type: 'base64' } }, ...cols.filter((t) => t.name !== 'city')] }), 'invalid', /Input 'city' has content_type 'base64', which is not supported/);
  });

  it('refuses empty batches as invalid and batches over the limit as too_large', () => {
    refused(() => decode({ inputs: columnTensors([]) }), 'invalid', /The batch is empty/);
    refused(() => decode({ inputs: columnTensors(SAMPLE) }, signature, 2), 'too_large', /The batch has 3 rows .*at most 2/);
    // The limit is checked from the shape, before data is read.
    refused(() => decode({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1e9, 3], data: [] }] }, NUMERIC, 1000), 'too_large', /1000000000 rows/);
  });

  it('refuses malformed requests with the field named, never a crash', () => {
    refused(() => decodeInferRequest(Buffer.from('{"inputs": ['), { signature, maxBatch: 5 }), 'invalid', /not valid JSON/);
    for (const body of ['[1,2]', '"x"', 'null', '42']) refused(() => decodeInferRequest(Buffer.from(body), { signature, maxBatch: 5 }), 'invalid', /must be a JSON object/);
    refused(() => decode({}), 'invalid', /'inputs' must be a non-empty array/);
    refused(() => decode({ inputs: [] }), 'invalid', /'inputs' must be a non-empty array/);
    refused(() => decode({ inputs: ['age'] }), 'invalid', /inputs\[0\] must be a tensor object/);
    refused(() => decode({ inputs: [{ name: 5, datatype: 'INT64', shape: [1], data: [1] }] }), 'invalid', /inputs\[0\] needs a 'name'/);
    refused(() => decode({ inputs: [{ name: 'age', datatype: 'INT64', shape: '3', data: [1] }] }), 'invalid', /Input 'age' needs a 'shape'/);
    refused(() => decode({ inputs: [{ name: 'age', datatype: 'INT64', shape: [-1], data: [1] }] }), 'invalid', /dimensions must be non-negative integers/);
    refused(() => decode({ inputs: [{ name: 'age', datatype: 'INT64', shape: [1], data: { 0: 1 } }] }, [{ name: 'age', type: 'integer' }]), 'invalid', /Input 'age' needs 'data' as an array/);
    refused(() => decode({ inputs: [{ name: 'age', datatype: 'INT64', shape: [1] }] }), 'invalid', /Input 'age' has no 'data'/);
    refused(() => decode({ id: 7, inputs: columnTensors(SAMPLE) }), 'invalid', /'id' must be a string/);
    refused(() => decode({ parameters: [1], inputs: columnTensors(SAMPLE) }), 'invalid', /parameters must be an object/);
    refused(() => decode({ parameters: { binary_data_output: 'yes' }, inputs: columnTensors(SAMPLE) }), 'invalid', /parameters.binary_data_output must be true or false/);
    refused(() => decode({ outputs: 'predict', inputs: columnTensors(SAMPLE) }), 'invalid', /'outputs' must be an array/);
    refused(() => decode({ outputs: [{ name: 'predict' }, { name: 'predict' }], inputs: columnTensors(SAMPLE) }), 'invalid', /Output 'predict' is requested twice/);
  });

  it('keeps __proto__ and constructor keys from polluting anything, and bounds nesting', () => {
    const text = '{"parameters": {"__proto__": "x", "constructor": "y"}, "inputs": [{"name": "a", "datatype": "INT64", "shape": [1], "data": [1], "parameters": {"__proto__": "z"}}]}';
    const d = decodeInferRequest(Buffer.from(text), { signature: [{ name: 'a', type: 'integer' }], maxBatch: 5 });
    assert.deepEqual(Object.keys(d.parameters!), ['__proto__', 'constructor']);
    assert.equal(Object.getPrototypeOf(d.parameters), Object.prototype);
    assert.deepEqual(Object.keys(d.records[0]!), ['a']);
    refused(() => decodeInferRequest(Buffer.from('{"parameters": {"__proto__": {"polluted": 1}}, "inputs": []}'), { signature, maxBatch: 5 }), 'invalid', /parameters.__proto__ must be a string, a number or a boolean/);
    refused(() => decode({ inputs: [{ name: '__proto__', datatype: 'INT64', shape: [1], data: [1] }, { name: 'constructor', datatype: 'INT64', shape: [1], data: [1] }] }), 'invalid', /Unknown input '__proto__'/);
    refused(() => decode({ inputs: [{ name: 'constructor', datatype: 'INT64', shape: [1], data: [1] }, { name: 'age', datatype: 'INT64', shape: [1], data: [1] }] }), 'invalid', /Unknown input 'constructor'/);
    assert.equal((({}) as Record<string, unknown>).polluted, undefined);
    // A column really named __proto__ becomes a plain key of the record, not its prototype.
    const [odd] = decode({ inputs: [{ name: '__proto__', datatype: 'INT64', shape: [1], data: [5] }] }, [{ name: '__proto__', type: 'integer' }]).records;
    assert.ok(Object.hasOwn(odd!, '__proto__'));
    assert.equal(Object.getOwnPropertyDescriptor(odd!, '__proto__')!.value, 5);
    assert.equal(Object.getPrototypeOf(odd), Object.prototype);
    // 100,000 levels of nesting: refused by the shape, without recursion.
    const deep = `{"inputs":[{"name":"a","datatype":"INT64","shape":[1],"data":${'['.repeat(100_000)}1${']'.repeat(100_000)}}]}`;
    refused(() => decodeInferRequest(Buffer.from(deep), { signature: [{ name: 'a', type: 'integer' }], maxBatch: 5 }), 'invalid', /Input 'a' has data nested deeper than its shape \[1\]|does not match its shape/);
  });
});

describe('request body content encoding', () => {
  const body = json({ inputs: columnTensors(SAMPLE) });
  it('inflates gzip and deflate (zlib or raw), and passes identity through', () => {
    assert.deepEqual(decodeBody(gzipSync(body), 'gzip', 1 << 20), body);
    assert.deepEqual(decodeBody(gzipSync(body), 'x-gzip', 1 << 20), body);
    assert.deepEqual(decodeBody(deflateSync(body), 'deflate', 1 << 20), body);
    assert.deepEqual(decodeBody(deflateRawSync(body), 'Deflate', 1 << 20), body);
    assert.deepEqual(decodeBody(gzipSync(gzipSync(body)), 'gzip, gzip', 1 << 20), body);
    assert.equal(decodeBody(body, undefined, 1 << 20), body);
    assert.equal(decodeBody(body, 'identity', 1 << 20), body);
  });
  it('refuses a gzip bomb as too_large, corrupt data and unknown encodings as invalid', () => {
    const bomb = gzipSync(Buffer.alloc(50 << 20));
    assert.ok(bomb.length < 100_000);
    refused(() => decodeBody(bomb, 'gzip', 1 << 20), 'too_large', /larger than 1048576 bytes once decompressed/);
    refused(() => decodeBody(body, undefined, 10), 'too_large', /larger than 10 bytes/);
    refused(() => decodeBody(Buffer.from('not gzip at all'), 'gzip', 1 << 20), 'invalid', /not valid gzip data/);
    refused(() => decodeBody(gzipSync(body).subarray(0, 20), 'gzip', 1 << 20), 'invalid', /not valid gzip data/);
    refused(() => decodeBody(body, 'br', 1 << 20), 'invalid', /Content-Encoding 'br' is not supported/);
  });
});

describe('OIP v2 responses', () => {
  const predictions = predict(model, SAMPLE);
  const result: InferResult = { modelName: 'income', modelVersion: '3', registeredModel: 'income-model', route: 'primary', task: 'binary', predictions };
  const labels = Array.from(predictions.prediction, (k) => model.classes![k]);

  it('gives predict (labels) and proba (with the classes) as tensors', () => {
    const [p, q] = predictionOutputs(result);
    assert.deepEqual(p, { name: 'predict', datatype: 'BYTES', shape: [3], data: labels });
    assert.deepEqual(q, { name: 'proba', datatype: 'FP64', shape: [3, 2], parameters: { classes: 'high,low' }, data: Array.from(predictions.proba!) });
    const reg = predictionOutputs({ ...result, task: 'regression', predictions: { prediction: Float64Array.of(1.5, -2) } });
    assert.deepEqual(reg, [{ name: 'predict', datatype: 'FP64', shape: [2], data: [1.5, -2] }]);
  });

  it('encodes JSON with the id, and only the outputs asked for', () => {
    const all = encodeInferResponse(result, { id: 'r-9', binaryOutputs: false });
    assert.equal(all.headerLength, undefined);
    const doc = JSON.parse(all.body.toString());
    assert.equal(doc.model_name, 'income');
    assert.equal(doc.model_version, '3');
    assert.equal(doc.id, 'r-9');
    assert.deepEqual(doc.outputs.map((o: { name: string }) => o.name), ['predict', 'proba']);
    assert.deepEqual(doc.outputs[0].data, labels);
    const one = JSON.parse(encodeInferResponse(result, { outputs: [{ name: 'proba', binary: false }], binaryOutputs: false }).body.toString());
    assert.deepEqual(one.outputs.map((o: { name: string }) => o.name), ['proba']);
    assert.equal(one.id, undefined);
    refused(() => encodeInferResponse(result, { outputs: [{ name: 'logits', binary: false }], binaryOutputs: false }), 'invalid', /Unknown output 'logits'; the model gives predict, proba/);
    // Given the task, decoding refuses it before any inference.
    const asking = { outputs: [{ name: 'proba' }], inputs: columnTensors(SAMPLE) };
    refused(() => decodeInferRequest(json(asking), { signature, maxBatch: 5, task: 'regression' }), 'invalid', /Unknown output 'proba'; the model gives predict$/);
    assert.deepEqual(decodeInferRequest(json(asking), { signature, maxBatch: 5, task: 'binary' }).outputs, [{ name: 'proba', binary: false }]);
  });

  it('round-trips requested outputs through the binary extension', () => {
    const req = decode({ parameters: { binary_data_output: true }, outputs: [{ name: 'predict' }, { name: 'proba', parameters: { binary_data: false } }], inputs: columnTensors(SAMPLE) });
    assert.deepEqual(req.outputs, [{ name: 'predict', binary: true }, { name: 'proba', binary: false }]);
    const enc = encodeInferResponse(result, { outputs: req.outputs, binaryOutputs: req.binaryOutputs });
    const doc = JSON.parse(enc.body.subarray(0, enc.headerLength).toString());
    const [p, q] = doc.outputs;
    assert.equal(p.data, undefined);
    assert.equal(p.parameters.binary_data_size, enc.body.length - enc.headerLength!);
    assert.deepEqual(decodeRawTensor(p, enc.body.subarray(enc.headerLength)), labels);
    assert.deepEqual(q.data, Array.from(predictions.proba!));
    const both = encodeInferResponse(result, { binaryOutputs: true });
    const head = JSON.parse(both.body.subarray(0, both.headerLength).toString());
    const psize = head.outputs[0].parameters.binary_data_size;
    const bin = both.body.subarray(both.headerLength);
    assert.deepEqual(decodeRawTensor(head.outputs[1], bin.subarray(psize)), Array.from(predictions.proba!));
    assert.equal(head.outputs[1].parameters.classes, 'high,low');
  });

  it('describes the model tensors from the signature', () => {
    assert.deepEqual(tensorMetadata(signature, 'binary', ['high', 'low']), {
      inputs: [
        { name: 'age', datatype: 'INT64', shape: [-1] }, { name: 'hours', datatype: 'FP64', shape: [-1] }, { name: 'member', datatype: 'BOOL', shape: [-1] },
        { name: 'city', datatype: 'BYTES', shape: [-1] }, { name: 'since', datatype: 'BYTES', shape: [-1] },
      ],
      outputs: [{ name: 'predict', datatype: 'BYTES', shape: [-1] }, { name: 'proba', datatype: 'FP64', shape: [-1, 2] }],
    });
    assert.deepEqual(tensorMetadata(NUMERIC, 'regression').outputs, [{ name: 'predict', datatype: 'FP64', shape: [-1] }]);
  });
});
