import { countTotal } from './count-total.js';

/**
 * Jensen–Shannon distance between two histograms over the same bins: the square root of the
 * Jensen–Shannon divergence, JS(P, Q) = ½ KL(P‖M) + ½ KL(Q‖M) with M = ½ (P + Q), in log base
 * `base`. Counts are normalised first; bins empty in both carry no mass and drop out. With base 2
 * the distance lies in [0, 1]. Same definition as scipy.spatial.distance.jensenshannon (whose
 * default base, note, is e rather than 2).
 */
export function jensenShannonDistance(p: ArrayLike<number>, q: ArrayLike<number>, base = 2): number {
  if (p.length !== q.length) throw new RangeError(`histograms have different numbers of bins: ${p.length} and ${q.length}`);
  if (p.length === 0) throw new RangeError('histograms have no bins');
  if (!(base > 0 && base !== 1 && base < Infinity)) throw new RangeError(`log base must be positive, finite and not 1, got ${base}`);
  const sp = countTotal(p, 'p');
  const sq = countTotal(q, 'q');
  let divergence = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]! / sp;
    const b = q[i]! / sq;
    const m = 0.5 * (a + b);
    if (a > 0) divergence += a * Math.log(a / m);
    if (b > 0) divergence += b * Math.log(b / m);
  }
  divergence = (0.5 * divergence) / Math.log(base);
  return Math.sqrt(Math.max(0, divergence));
}
