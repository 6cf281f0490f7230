import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hashFloat64Words, hashNumber64, hashString64 } from './hash64.js';

const hex = (h: Uint32Array): string[] => Array.from(h).map((w) => `0x${w.toString(16).padStart(8, '0')}`);

describe('hash64', () => {
  it('is pinned: serialised HyperLogLog sketches depend on these exact values', () => {
    // Changing any of these means a new HASH64_NAME, since old sketches would no longer merge.
    assert.deepEqual(hex(hashString64('')), ['0xcfa11301', '0x0c77f6f4']);
    assert.deepEqual(hex(hashString64('a')), ['0x16a30c4e', '0x0202d271']);
    assert.deepEqual(hex(hashString64('abc')), ['0xcb799adb', '0x57ed7feb']);
    assert.deepEqual(hex(hashString64('été ☃ 😀')), ['0x14c27dd0', '0x0dcfd2e1']);
    assert.deepEqual(hex(hashNumber64(1)), ['0x45dc23ff', '0x5923e9dc']);
    assert.deepEqual(hex(hashNumber64(-1.5)), ['0xe5b143f1', '0x661782d2']);
  });

  it('writes into the caller’s buffer, folds -0 into 0 and depends on the seed', () => {
    const out = new Uint32Array(2);
    assert.equal(hashString64('x', out), out);
    assert.deepEqual(hex(hashNumber64(-0)), hex(hashNumber64(0)));
    assert.notDeepEqual(hex(hashString64('x', undefined, 1)), hex(hashString64('x')));
    assert.notDeepEqual(hex(hashString64('ab')), hex(hashString64('ba')));
    assert.throws(() => hashString64('x', new Uint32Array(1)), RangeError);
  });

  it('hashes a double the same through hashFloat64Words and a caller-held view', () => {
    const f64 = new Float64Array(1);
    const words = new Uint32Array(f64.buffer);
    for (const x of [0, 1, -1.5, 1e300, Infinity, 5e-324]) {
      f64[0] = x;
      assert.deepEqual(hex(hashFloat64Words(words)), hex(hashNumber64(x)));
    }
    assert.throws(() => hashFloat64Words(new Uint32Array(1)), RangeError);
  });

  it('sets each of the 64 bits about half the time over sequential keys', () => {
    const ones = new Float64Array(64);
    const n = 50_000;
    const out = new Uint32Array(2);
    for (let i = 0; i < n; i++) {
      const h = i % 2 ? hashString64(`key-${i}`, out) : hashNumber64(i, out);
      for (let b = 0; b < 32; b++) {
        ones[b]! += (h[0]! >>> b) & 1;
        ones[32 + b]! += (h[1]! >>> b) & 1;
      }
    }
    // 5 standard deviations of a fair coin over n draws.
    const bound = 5 * Math.sqrt(n / 4);
    for (let b = 0; b < 64; b++) assert.ok(Math.abs(ones[b]! - n / 2) < bound, `bit ${b}: ${ones[b]} of ${n}`);
  });
});
