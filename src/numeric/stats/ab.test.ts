import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../sketches/seeded-random.js';
import { bernoulliSummary, sampleRatioMismatch, sequentialTest, summarize, type ArmSummary } from './ab.js';
import { chiSquareSf, logGamma, regularizedGammaQ } from './chi-square.js';

const close = (actual: number, expected: number, rel: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} vs ${expected}`);

/*
 * References from SciPy 1.17:
 *   python3 -c "from scipy.stats import chi2; from scipy.special import gammaln, gammaincc
 *   print([chi2.sf(x, df) for x, df in [(0.5,1),(3.84,1),(10.83,1),(5.99,2),(20,3),(1e-3,4),(100,10),(250,200),(7.5,4.5)]])
 *   print(gammaln(0.3), gammaln(4.5), gammaln(100.25), gammaln(1e-5), gammaincc(0.5, 0.2), gammaincc(30, 45))"
 */
describe('chi-square survival function', () => {
  it('matches scipy.stats.chi2.sf and scipy.special.gammaln / gammaincc', () => {
    const cases: [number, number, number][] = [
      [0.5, 1, 0.47950012218695337], [3.84, 1, 0.05004352124870519], [10.83, 1, 0.0009986863791802592],
      [5.99, 2, 0.05003662708658629], [20, 3, 0.00016974243555282632], [1e-3, 4, 0.9999998750416589],
      [100, 10, 5.4497019829205215e-17], [250, 200, 0.009379131668826098], [7.5, 4.5, 0.14648784848946736],
    ];
    for (const [x, df, p] of cases) close(chiSquareSf(x, df), p, 1e-12, `chi2.sf(${x}, ${df})`);
    close(logGamma(0.3), 1.0957979948180756, 1e-14, 'gammaln(0.3)');
    close(logGamma(4.5), 2.4537365708424423, 1e-14, 'gammaln(4.5)');
    close(logGamma(100.25), 360.28455963776423, 1e-14, 'gammaln(100.25)');
    close(logGamma(1e-5), 11.512919692895826, 1e-14, 'gammaln(1e-5)');
    close(regularizedGammaQ(0.5, 0.2), 0.5270892568655381, 1e-13, 'gammaincc(0.5, 0.2)');
    close(regularizedGammaQ(30, 45), 0.007337199297796568, 1e-12, 'gammaincc(30, 45)');
    assert.equal(chiSquareSf(0, 3), 1);
    assert.equal(chiSquareSf(Infinity, 3), 0);
    assert.throws(() => chiSquareSf(1, 0), /degrees of freedom must be positive, got 0/);
    assert.throws(() => logGamma(-1), /logGamma needs x > 0, got -1/);
  });
});

/*
 * References from scipy.stats.chisquare (1.17):
 *   chisquare([5120, 4880]) -> p 0.01639507184919225
 *   chisquare([5300, 4700]) -> statistic 36, p 1.9731752900753933e-09
 *   chisquare([900, 120], [918, 102]) -> statistic 3.5294117647058822, p 0.06028917399060221
 *   chisquare([340, 330, 330]) -> statistic 0.2, p 0.9048374180359595
 */
describe('sampleRatioMismatch', () => {
  it('matches scipy.stats.chisquare and flags p < 0.001', () => {
    const even = sampleRatioMismatch([5120, 4880], [50, 50]);
    close(even.pValue, 0.01639507184919225, 1e-12, 'p');
    assert.equal(even.mismatch, false);
    assert.deepEqual(even.expected, [5000, 5000]);
    const skewed = sampleRatioMismatch([5300, 4700], [1, 1]);
    close(skewed.chiSquare, 36, 1e-15, 'statistic');
    close(skewed.pValue, 1.9731752900753933e-9, 1e-10, 'p');
    assert.equal(skewed.mismatch, true);
    const canary = sampleRatioMismatch([900, 120], [90, 10]);
    close(canary.chiSquare, 3.5294117647058822, 1e-13, 'statistic');
    close(canary.pValue, 0.06028917399060221, 1e-12, 'p');
    assert.deepEqual(canary.shares, [0.9, 0.1]);
    const three = sampleRatioMismatch([340, 330, 330], [1, 1, 1]);
    assert.equal(three.df, 2);
    close(three.pValue, 0.9048374180359595, 1e-12, 'p');
    assert.equal(three.lowCounts, false);
    assert.equal(sampleRatioMismatch([3, 1], [50, 50]).lowCounts, true);
  });

  it('names bad input', () => {
    assert.throws(() => sampleRatioMismatch([1, 2, 3], [50, 50]), /3 counts but 2 shares/);
    assert.throws(() => sampleRatioMismatch([1], [100]), /at least two arms/);
    assert.throws(() => sampleRatioMismatch([1.5, 2], [50, 50]), /counts\[0\] = 1.5/);
    assert.throws(() => sampleRatioMismatch([1, 2], [50, 0]), /shares\[1\] = 0/);
    assert.throws(() => sampleRatioMismatch([0, 0], [50, 50]), /no requests/);
  });
});

/*
 * References computed independently of the closed form: Λ as the ratio of the mixture's integral
 * to the null density, by numerical quadrature, and the interval's ends by root finding:
 *   python3 -c "import numpy as np; from scipy import integrate, optimize; from scipy.stats import norm
 *   def lam(d, V, tau, th0=0):
 *       f = lambda t: norm.pdf(d, t, np.sqrt(V)) * norm.pdf(t, th0, tau)
 *       return integrate.quad(f, th0-40*tau, th0+40*tau, points=[d], epsabs=0, epsrel=1e-13, limit=500)[0] / norm.pdf(d, th0, np.sqrt(V))
 *   V = .8*.2/500 + .88*.12/500; d = .08; print(1/lam(d, V, .05))
 *   g = lambda t: np.log(lam(d, V, .05, t)) - np.log(20)
 *   print(optimize.brentq(g, d-1, d, xtol=1e-14), optimize.brentq(g, d, d+1, xtol=1e-14))
 *   # likewise for means 10 and 10.3, variances 4 and 5, n 200 and 150, tau 0.2, alpha 0.1"
 */
describe('sequentialTest (mSPRT)', () => {
  it('matches the mixture likelihood ratio integrated numerically, and its interval found by root finding', () => {
    const r = sequentialTest(bernoulliSummary(400, 500), bernoulliSummary(440, 500), { tau: 0.05 });
    close(r.variance, 0.0005312, 1e-12, 'V');
    close(r.difference, 0.08, 1e-12, 'difference');
    close(r.pValue, 0.01661214477317538, 1e-9, 'p');
    close(r.ci!.lower, 0.009426533852017267, 1e-8, 'lower');
    close(r.ci!.upper, 0.15057346614798267, 1e-8, 'upper');
    assert.equal(r.decision, 'significant');
    assert.equal(r.alpha, 0.05);

    const c = sequentialTest({ n: 200, mean: 10, variance: 4 }, { n: 150, mean: 10.3, variance: 5 }, { tau: 0.2, alpha: 0.1 });
    close(c.pValue, 0.9214569236305278, 1e-9, 'p');
    close(c.ci!.lower, -0.5017037614975806, 1e-8, 'lower');
    close(c.ci!.upper, 1.101703761497582, 1e-8, 'upper');
    assert.equal(c.decision, 'not yet');
    assert.equal(c.reason, undefined);
  });

  it('summarises arms, defaults tau to a tenth of the pooled sd, and waits for the burn-in', () => {
    assert.deepEqual(summarize([1, 2, 3, 4]), { n: 4, mean: 2.5, variance: 5 / 3 });
    assert.deepEqual(bernoulliSummary(3, 4), { n: 4, mean: 0.75, variance: 0.1875 });
    const r = sequentialTest({ n: 100, mean: 0, variance: 4 }, { n: 100, mean: 1, variance: 4 });
    assert.equal(r.tau, 0.2);
    const few = sequentialTest(bernoulliSummary(2, 20), bernoulliSummary(20, 20));
    assert.ok(few.pValue < 0.05, 'the numbers alone are clear');
    assert.equal(few.decision, 'not yet');
    assert.match(few.reason!, /fewer than 30 observations in an arm \(20 and 20\)/);
    const none = sequentialTest(bernoulliSummary(0, 1), bernoulliSummary(5, 10));
    assert.equal(none.ci, null);
    assert.equal(none.pValue, 1);
    const constant = sequentialTest(bernoulliSummary(50, 50), bernoulliSummary(50, 50));
    assert.deepEqual([constant.pValue, constant.decision, constant.ci], [1, 'not yet', { lower: 0, upper: 0 }]);
    assert.throws(() => sequentialTest(bernoulliSummary(1, 2), bernoulliSummary(1, 2), { alpha: 1 }), /alpha must be in \(0, 1\), got 1/);
    assert.throws(() => sequentialTest({ n: 3, mean: Number.NaN, variance: 1 }, bernoulliSummary(1, 2)), /control.mean = NaN/);
    assert.throws(() => bernoulliSummary(5, 4), /successes = 5/);
  });

  /** Runs `runs` experiments of up to `n` observations per arm, looking after every pair; the share that ever rejected. */
  function monitored(runs: number, n: number, p: [number, number], test: (a: ArmSummary, b: ArmSummary) => boolean, seed: number): number {
    const rnd = new SeededRandom(seed);
    let rejected = 0;
    for (let r = 0; r < runs; r++) {
      let sa = 0;
      let sb = 0;
      for (let i = 1; i <= n; i++) {
        sa += rnd.next() < p[0] ? 1 : 0;
        sb += rnd.next() < p[1] ? 1 : 0;
        if (test(bernoulliSummary(sa, i), bernoulliSummary(sb, i))) {
          rejected++;
          break;
        }
      }
    }
    return rejected / runs;
  }

  it('keeps the type-I error at most alpha when looked at after every observation, where a peeked z-test does not', () => {
    const msprt = (a: ArmSummary, b: ArmSummary) => sequentialTest(a, b, { tau: 0.05 }).decision === 'significant';
    const msprtDefault = (a: ArmSummary, b: ArmSummary) => sequentialTest(a, b).decision === 'significant';
    const zTest = (a: ArmSummary, b: ArmSummary) => {
      const v = a.variance / a.n + b.variance / b.n;
      return a.n >= 30 && v > 0 && Math.abs(b.mean - a.mean) / Math.sqrt(v) > 1.959963984540054;
    };
    const nullMsprt = monitored(1000, 1000, [0.5, 0.5], msprt, 7);
    const nullDefault = monitored(1000, 1000, [0.3, 0.3], msprtDefault, 8);
    const nullZ = monitored(1000, 1000, [0.5, 0.5], zTest, 7);
    assert.ok(nullMsprt <= 0.05, `mSPRT type-I error ${nullMsprt}`);
    assert.ok(nullDefault <= 0.05, `mSPRT (default tau) type-I error ${nullDefault}`);
    assert.ok(nullZ > 0.2, `a z-test looked at continuously rejects a true null far more than 5% (${nullZ})`);
  });

  it('finds a real difference', () => {
    const power = monitored(300, 1000, [0.5, 0.6], (a, b) => sequentialTest(a, b, { tau: 0.05 }).decision === 'significant', 11);
    assert.ok(power >= 0.85, `power ${power}`);
  });
});
