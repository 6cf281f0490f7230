import { countTotal } from './count-total.js';

/**
 * Population stability index of an actual histogram against an expected (reference) one over the
 * same bins: PSI = Σ (a_i − e_i) · ln(a_i / e_i), with a_i and e_i the bins' shares of each side.
 *
 * An empty bin would make the logarithm infinite, so a share of 0 is replaced by `epsilon`,
 * default 1e-4 (0.01%, the usual convention in credit-risk monitoring); shares are not
 * renormalised afterwards. A bin empty on both sides contributes exactly 0. So a bin holding 5%
 * of one side and nothing of the other contributes 0.05 · ln(0.05 / 1e-4) ≈ 0.31 — on the
 * customary scale (< 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift) an important move,
 * as it should be. Pass a smaller epsilon to punish empty bins harder.
 */
export const PSI_DEFAULT_EPSILON = 1e-4;

export function psi(expected: ArrayLike<number>, actual: ArrayLike<number>, options: { epsilon?: number } = {}): number {
  if (expected.length !== actual.length) throw new RangeError(`histograms have different numbers of bins: ${expected.length} and ${actual.length}`);
  if (expected.length === 0) throw new RangeError('histograms have no bins');
  const epsilon = options.epsilon ?? PSI_DEFAULT_EPSILON;
  if (!(epsilon > 0 && epsilon < 1)) throw new RangeError(`epsilon must be in (0, 1), got ${epsilon}`);
  const se = countTotal(expected, 'expected');
  const sa = countTotal(actual, 'actual');
  let index = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]! > 0 ? expected[i]! / se : epsilon;
    const a = actual[i]! > 0 ? actual[i]! / sa : epsilon;
    index += (a - e) * Math.log(a / e);
  }
  return index;
}
