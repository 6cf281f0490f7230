/**
 * First Wasserstein (earth mover's) distance between two 1-D empirical distributions:
 * W1(u, v) = ∫ |U(x) − V(x)| dx, U and V the (optionally weighted) empirical CDFs. Same definition
 * and result as scipy.stats.wasserstein_distance(u_values, v_values, u_weights, v_weights).
 * O((n + m) log(n + m)); the inputs are not modified.
 */
export function wassersteinDistance(
  u: ArrayLike<number>,
  v: ArrayLike<number>,
  uWeights?: ArrayLike<number>,
  vWeights?: ArrayLike<number>,
): number {
  const [us, uw, uTotal] = sortedWithWeights(u, uWeights, 'u');
  const [vs, vw, vTotal] = sortedWithWeights(v, vWeights, 'v');
  let i = 0;
  let j = 0;
  let uCumulative = 0;
  let vCumulative = 0;
  let previous = Math.min(us[0]!, vs[0]!);
  let distance = 0;
  while (i < us.length || j < vs.length) {
    const x = j >= vs.length || (i < us.length && us[i]! <= vs[j]!) ? us[i]! : vs[j]!;
    distance += Math.abs(uCumulative / uTotal - vCumulative / vTotal) * (x - previous);
    for (; i < us.length && us[i] === x; i++) uCumulative += uw === null ? 1 : uw[i]!;
    for (; j < vs.length && vs[j] === x; j++) vCumulative += vw === null ? 1 : vw[j]!;
    previous = x;
  }
  return distance;
}

/** Sorted copy of the values, their weights in the same order (null = all 1) and the total weight. */
function sortedWithWeights(values: ArrayLike<number>, weights: ArrayLike<number> | undefined, name: string): [Float64Array, Float64Array | null, number] {
  const n = values.length;
  if (n === 0) throw new RangeError(`${name} is empty`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(values[i]!)) throw new RangeError(`${name}[${i}] = ${values[i]}; values must be finite`);
  if (weights === undefined) return [Float64Array.from(values).sort(), null, n];
  if (weights.length !== n) throw new RangeError(`${name} has ${n} values but ${weights.length} weights`);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (!(w >= 0 && w < Infinity)) throw new RangeError(`${name} weight ${i} = ${w}; weights must be finite and non-negative`);
    total += w;
  }
  if (!(total > 0)) throw new RangeError(`${name} weights sum to zero`);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => values[a]! - values[b]!);
  const sorted = new Float64Array(n);
  const sortedWeights = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    sorted[i] = values[order[i]!]!;
    sortedWeights[i] = weights[order[i]!]!;
  }
  return [sorted, sortedWeights, total];
}
