import { countTotal } from './count-total.js';

/**
 * L∞ distance between two categorical distributions — TFDV's measure of skew and drift for
 * categorical features: max over categories of |p_i − q_i| after normalising each side's counts
 * to shares; a category missing on one side has share 0 there. Also returns the category that
 * attains it (the first in iteration order — p's categories, then q's — on ties), which is what a
 * drift report wants to show.
 *
 * Accepts count vectors over the same categories (category = index), or maps/records from
 * category to count.
 */
export interface LInfinityResult<C> {
  distance: number;
  /** The category with the largest difference in share. */
  category: C;
}

export type CategoryCounts = ReadonlyMap<string, number> | Readonly<Record<string, number>>;

export function lInfinityDistance(p: ArrayLike<number>, q: ArrayLike<number>): LInfinityResult<number>;
export function lInfinityDistance(p: CategoryCounts, q: CategoryCounts): LInfinityResult<string>;
export function lInfinityDistance(
  p: ArrayLike<number> | CategoryCounts,
  q: ArrayLike<number> | CategoryCounts,
): LInfinityResult<number> | LInfinityResult<string> {
  if (isVector(p) && isVector(q)) {
    if (p.length !== q.length) throw new RangeError(`count vectors have different lengths: ${p.length} and ${q.length}`);
    const sp = countTotal(p, 'p');
    const sq = countTotal(q, 'q');
    let best = -1;
    let category = 0;
    for (let i = 0; i < p.length; i++) {
      const d = Math.abs(p[i]! / sp - q[i]! / sq);
      if (d > best) {
        best = d;
        category = i;
      }
    }
    return { distance: best, category };
  }
  if (isVector(p) || isVector(q)) throw new RangeError('compare a count vector with a count vector, or a map with a map');
  const pm = toMap(p);
  const qm = toMap(q);
  const sp = mapTotal(pm, 'p');
  const sq = mapTotal(qm, 'q');
  let best = -1;
  let category = '';
  for (const [key, count] of pm) {
    const d = Math.abs(count / sp - (qm.get(key) ?? 0) / sq);
    if (d > best) {
      best = d;
      category = key;
    }
  }
  for (const [key, count] of qm) {
    if (pm.has(key)) continue;
    const d = count / sq;
    if (d > best) {
      best = d;
      category = key;
    }
  }
  return { distance: best, category };
}

function isVector(x: ArrayLike<number> | CategoryCounts): x is ArrayLike<number> {
  return ArrayBuffer.isView(x) || Array.isArray(x);
}

function toMap(x: CategoryCounts): ReadonlyMap<string, number> {
  return x instanceof Map ? x : new Map(Object.entries(x));
}

function mapTotal(counts: ReadonlyMap<string, number>, name: string): number {
  let total = 0;
  for (const [key, count] of counts) {
    if (!(count >= 0 && count < Infinity)) throw new RangeError(`${name}[${key}] = ${count}; counts must be finite and non-negative`);
    total += count;
  }
  if (!(total > 0)) throw new RangeError(`${name} has no mass (all counts are zero)`);
  return total;
}
