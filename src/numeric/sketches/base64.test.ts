import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBase64, decodeFloat64Base64, encodeBase64, encodeFloat64Base64 } from './base64.js';

describe('base64', () => {
  it('agrees with Node’s Buffer for every padding case and a long input', () => {
    const lengths = [0, 1, 2, 3, 4, 5, 6, 7, 20000];
    for (const n of lengths) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 37 + 11) & 255);
      const text = encodeBase64(bytes);
      assert.equal(text, Buffer.from(bytes).toString('base64'));
      assert.deepEqual(decodeBase64(text), bytes);
    }
  });

  it('round-trips doubles exactly, including ±Infinity, -0 and NaN', () => {
    const values = [0, -0, 1.5, -Infinity, Infinity, Number.MIN_VALUE, Number.MAX_VALUE, NaN];
    const back = decodeFloat64Base64(encodeFloat64Base64(values));
    assert.equal(back.length, values.length);
    values.forEach((v, i) => assert.ok(Object.is(back[i], v), `${v}`));
  });

  it('rejects malformed text', () => {
    assert.throws(() => decodeBase64('abc'), /multiple of 4/);
    assert.throws(() => decodeBase64('ab$='), /invalid base64 character at offset 2/);
    assert.throws(() => decodeFloat64Base64(encodeBase64(new Uint8Array(7))), /whole number of float64/);
  });
});
