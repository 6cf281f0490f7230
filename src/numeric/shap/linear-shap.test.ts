import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../sketches/seeded-random.js';
import { columnMeans, linearShap } from './linear-shap.js';

describe('linearShap', () => {
  const rng = new SeededRandom(9);
  const p = 4;
  const k = 2;
  const w = Float64Array.from({ length: k * p }, () => rng.next() * 4 - 2);
  const b = Float64Array.of(0.3, -1.2);
  const nb = 7;
  const background = Float64Array.from({ length: nb * p }, () => rng.next() * 10 - 5);
  const n = 5;
  const x = Float64Array.from({ length: n * p }, () => rng.next() * 10 - 5);
  const f = (row: ArrayLike<number>, o: number) => {
    let s = b[o]!;
    for (let j = 0; j < p; j++) s += w[o * p + j]! * row[j]!;
    return s;
  };

  it('equals brute-force Shapley values with the interventional value function over the background', () => {
    // v(S) = mean over background rows z of f(x_S, z_rest); φ_j = Σ_S |S|!(p−|S|−1)!/p! (v(S ∪ j) − v(S)).
    const fact = (m: number): number => (m <= 1 ? 1 : m * fact(m - 1));
    const r = linearShap(w, b, x, n, columnMeans(background, nb, p));
    for (let i = 0; i < n; i++) {
      const row = x.subarray(i * p, (i + 1) * p);
      for (let o = 0; o < k; o++) {
        const v = (s: number) => {
          let sum = 0;
          for (let z = 0; z < nb; z++) sum += f(Array.from({ length: p }, (_, j) => (s & (1 << j) ? row[j]! : background[z * p + j]!)), o);
          return sum / nb;
        };
        for (let j = 0; j < p; j++) {
          let phi = 0;
          for (let s = 0; s < 1 << p; s++) {
            if (s & (1 << j)) continue;
            const size = [0, 1, 2, 3].filter((q) => s & (1 << q)).length;
            phi += ((fact(size) * fact(p - size - 1)) / fact(p)) * (v(s | (1 << j)) - v(s));
          }
          assert.ok(Math.abs(r.values[(i * k + o) * p + j]! - phi) < 1e-12, `row ${i} output ${o} feature ${j}: ${r.values[(i * k + o) * p + j]} vs ${phi}`);
        }
        assert.ok(Math.abs(r.expected[o]! - v(0)) < 1e-12);
      }
    }
  });

  it('adds up to the model output', () => {
    const r = linearShap(w, b, x, n, columnMeans(background, nb, p));
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < k; o++) {
        let s = r.expected[o]!;
        for (let j = 0; j < p; j++) s += r.values[(i * k + o) * p + j]!;
        assert.ok(Math.abs(s - f(x.subarray(i * p, (i + 1) * p), o)) < 1e-12);
      }
    }
  });

  it('refuses shapes that do not agree', () => {
    assert.throws(() => linearShap(w, b, x, n, new Float64Array(3)), /weights has 8 entries, expected 2 × 3/);
    assert.throws(() => linearShap(w, b, x, 4, new Float64Array(4)), /x has 20 entries, expected 4 × 4/);
    assert.throws(() => columnMeans(background, 0, p), /expected 0 × 4/);
    assert.throws(() => columnMeans(new Float64Array(0), 0, p), /no rows/);
  });
});
