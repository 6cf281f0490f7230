/**
 * The one-pass decoder of tensors sent as raw bytes (gRPC raw_input_contents) against the general
 * code it stands in for (decodeRawTensor, then recordsFromTensors): for a few thousand requests
 * built from valid ones by small changes (datatypes, sizes, shapes, names, odd bytes), whenever the
 * one-pass decoder answers, the general decoder gives the very same records; where it declines,
 * the general decoder decides. Valid requests must take the one-pass path.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InputColumn } from '../types.js';
import { plainRawRecords, type RawInput } from './plain.js';
import { checkShape, decodeRawTensor, isDatatype, recordsFromTensors } from './tensors.js';
import { rng } from '../test-helpers/rng.js';

const SIGNATURE: InputColumn[] = [
  { name: 'age', type: 'integer' }, { name: 'hours', type: 'float' }, { name: 'member', type: 'boolean' },
  { name: 'city', type: 'string' }, { name: 'since', type: 'datetime' }, { name: 'constructor', type: 'string' },
];

interface Tensor extends RawInput { bytes: Buffer }

const le = (size: number, write: (b: Buffer, v: number, o: number) => void) => (values: number[]) => {
  const b = Buffer.alloc(size * values.length);
  values.forEach((v, i) => write(b, v, size * i));
  return b;
};
const ENCODE: Record<string, (values: number[]) => Buffer> = {
  INT64: le(8, (b, v, o) => b.writeBigInt64LE(BigInt(v), o)),
  UINT64: le(8, (b, v, o) => b.writeBigUInt64LE(BigInt(v), o)),
  INT32: le(4, (b, v, o) => b.writeInt32LE(v, o)),
  UINT32: le(4, (b, v, o) => b.writeUInt32LE(v, o)),
  INT16: le(2, (b, v, o) => b.writeInt16LE(v, o)),
  INT8: le(1, (b, v, o) => b.writeInt8(v, o)),
  UINT8: le(1, (b, v, o) => b.writeUInt8(v, o)),
  BOOL: le(1, (b, v, o) => b.writeUInt8(v, o)),
  FP64: le(8, (b, v, o) => b.writeDoubleLE(v, o)),
  FP32: le(4, (b, v, o) => b.writeFloatLE(v, o)),
  FP16: le(2, (b, v, o) => b.writeUInt16LE(v & 0xffff, o)),
};
const strings = (values: (string | Buffer)[]) => Buffer.concat(values.flatMap((s) => {
  const t = Buffer.isBuffer(s) ? s : Buffer.from(s);
  const l = Buffer.alloc(4);
  l.writeUInt32LE(t.length);
  return [l, t];
}));

function validTensors(r: () => number, rows: number): Tensor[] {
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
  const n = Array.from({ length: rows });
  const tensors: Tensor[] = SIGNATURE.map((c) => {
    const shape = r() < 0.3 ? [rows, 1] : [rows];
    switch (c.type) {
      case 'integer': {
        const datatype = pick(['INT64', 'INT32', 'UINT8', 'INT16', 'UINT64']);
        return { name: c.name, datatype, shape, bytes: ENCODE[datatype]!(n.map(() => Math.floor(r() * 100))) };
      }
      case 'float': {
        const datatype = pick(['FP64', 'FP32', 'INT64']);
        return { name: c.name, datatype, shape, bytes: ENCODE[datatype]!(n.map(() => (datatype === 'INT64' ? Math.floor(r() * 100) : Math.round(r() * 1e4) / 100))) };
      }
      case 'boolean': {
        const datatype = pick(['BOOL', 'UINT8', 'INT64']);
        return { name: c.name, datatype, shape, bytes: ENCODE[datatype]!(n.map(() => (r() < 0.5 ? 1 : 0))) };
      }
      case 'string':
        return r() < 0.2
          ? { name: c.name, datatype: 'INT64', shape, bytes: ENCODE.INT64!(n.map(() => Math.floor(r() * 1000) - 500)) }
          : { name: c.name, datatype: 'BYTES', shape, bytes: strings(n.map(() => pick(['Lyon', 'Oslo', '', 'naïve "quoted"', '__proto__', '東京']))) };
      case 'datetime':
        return { name: c.name, datatype: 'BYTES', shape, bytes: strings(n.map(() => pick(['2024-05-01T12:00:00Z', '2024-05-01']))) };
    }
  });
  for (let i = tensors.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [tensors[i], tensors[j]] = [tensors[j]!, tensors[i]!];
  }
  return tensors;
}

/** One small change to a valid request. */
function mutate(tensors: Tensor[], r: () => number): void {
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
  const t = tensors[Math.floor(r() * tensors.length)]!;
  const rows = t.shape[0]!;
  switch (Math.floor(r() * 12)) {
    case 0: t.bytes = t.bytes.subarray(0, Math.max(0, t.bytes.length - 1 - Math.floor(r() * 3))); break;
    case 1: t.bytes = Buffer.concat([t.bytes, Buffer.alloc(1 + Math.floor(r() * 8))]); break;
    case 2: t.datatype = pick(['INT8', 'UINT32', 'FP16', 'BF16', 'FP32', 'BOOL', 'BYTES', 'INT64', 'int64', 'STRING', '']); break;
    case 3: t.shape = pick([[rows + 1], [0], [rows, 2], [rows, 1, 1], [-1], [1.5], [], [2 ** 60]]); break;
    case 4: t.name = pick(['AGE', 'unknown', '', 'toString', '__proto__', tensors[0]!.name]); break;
    case 5: tensors.splice(tensors.indexOf(t), 1); break;
    case 6: tensors.push({ ...t, name: 'extra' }); break;
    // Odd elements of the right size: NaN, Infinity, BOOL 2, a 64-bit integer beyond 2^53, a byte that is not UTF-8.
    case 7: t.datatype = 'FP64'; t.bytes = ENCODE.FP64!(Array.from({ length: rows }, () => pick([Number.NaN, Number.POSITIVE_INFINITY, -0, 0.5, 1, 2, 1e300]))); break;
    case 8: t.datatype = 'BOOL'; t.bytes = ENCODE.BOOL!(Array.from({ length: rows }, () => pick([0, 1, 2, 255]))); break;
    case 9: t.datatype = pick(['INT64', 'UINT64']); t.bytes = ENCODE[t.datatype]!(Array.from({ length: rows }, () => pick([0, 2 ** 53 - 1, 2 ** 53, 2 ** 60, ...(t.datatype === 'INT64' ? [-(2 ** 53) + 1, -(2 ** 53), -(2 ** 62)] : [])]))); break;
    case 10: t.datatype = 'BYTES'; t.bytes = strings(Array.from({ length: rows }, () => pick<string | Buffer>(['x', Buffer.from([0xff, 0xfe]), Buffer.from([0xc3]), 'not a date', '2024-13-45T00:00:00Z']))); break;
    case 11: t.datatype = 'BYTES'; { const b = Buffer.from(t.bytes); if (b.length >= 4) b.writeUInt32LE((b.readUInt32LE(0) + pick([1, 100, -1 >>> 0])) >>> 0, 0); t.bytes = b; } break;
  }
}

type Outcome = { records: Record<string, unknown>[] } | { error: string };

/** What the general decoder makes of the tensors, as the gRPC service's general path calls it. */
function general(tensors: Tensor[], maxBatch: number): Outcome {
  try {
    const inputs = tensors.map((t) => {
      if (!isDatatype(t.datatype)) throw new Error(`datatype ${t.datatype}`);
      const header = { name: t.name, datatype: t.datatype, shape: checkShape(t.name, [...t.shape]) };
      return { ...header, data: () => decodeRawTensor(header, t.bytes) };
    });
    return { records: recordsFromTensors(inputs, { signature: SIGNATURE, maxBatch }) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

describe('the one-pass raw tensor decoder', () => {
  it('gives exactly the records of the general decoder whenever it answers, for valid and damaged requests', () => {
    const r = rng(20261207);
    let took = 0;
    let valid = 0;
    let declinedThenRefused = 0;
    for (let k = 0; k < 5000; k++) {
      const tensors = validTensors(r, 1 + Math.floor(r() * 4));
      const damaged = k % 4 !== 0;
      if (damaged) mutate(tensors, r);
      if (k % 5 === 0) mutate(tensors, r);
      const maxBatch = r() < 0.1 ? 2 : 100;
      const plain = plainRawRecords(tensors, tensors.map((t) => t.bytes), SIGNATURE, maxBatch);
      const g = general(tensors, maxBatch);
      const what = `request ${k}: ${JSON.stringify(tensors.map((t) => ({ ...t, bytes: t.bytes.toString('hex') })))}`;
      if (plain) {
        took++;
        assert.ok('records' in g, `${what}\nthe general decoder refuses it: ${'error' in g ? g.error : ''}`);
        assert.deepEqual(plain, g.records, what);
        assert.deepEqual(plain.map((x) => Object.keys(x)), g.records.map((x) => Object.keys(x)), what);
      } else if ('error' in g) declinedThenRefused++;
      if (!damaged && k % 5 !== 0 && maxBatch === 100) {
        valid++;
        assert.ok(plain, `${what}\na valid request left to the general decoder`);
      }
    }
    assert.ok(valid > 400, `${valid} undamaged requests`);
    assert.ok(took > 900, `the one-pass decoder took ${took} requests`);
    assert.ok(declinedThenRefused > 1500, `${declinedThenRefused} requests declined and refused by the general decoder`);
  });

  it('reads 64-bit integers exactly up to ±(2^53 − 1) and leaves larger ones to the general refusal', () => {
    const sig: InputColumn[] = [{ name: 'n', type: 'integer' }];
    const one = (datatype: string, v: bigint) => {
      const b = Buffer.alloc(8);
      if (datatype === 'INT64') b.writeBigInt64LE(v);
      else b.writeBigUInt64LE(v);
      return plainRawRecords([{ name: 'n', datatype, shape: [1] }], [b], sig, 10)?.[0]?.n;
    };
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    assert.equal(one('INT64', max), Number.MAX_SAFE_INTEGER);
    assert.equal(one('INT64', -max), -Number.MAX_SAFE_INTEGER);
    assert.equal(one('INT64', -1n), -1);
    assert.equal(one('INT64', -(2n ** 32n)), -(2 ** 32));
    assert.equal(one('INT64', 2n ** 32n + 5n), 2 ** 32 + 5);
    assert.equal(one('UINT64', max), Number.MAX_SAFE_INTEGER);
    assert.equal(one('INT64', max + 1n), undefined);
    assert.equal(one('INT64', -max - 1n), undefined);
    assert.equal(one('UINT64', 2n ** 64n - 1n), undefined);
  });
});
