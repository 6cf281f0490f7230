/**
 * Total of a count vector, checking on the way that every count is finite and non-negative and
 * that there is some mass — the shared precondition of the histogram distances.
 */
export function countTotal(counts: ArrayLike<number>, name: string): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const x = counts[i]!;
    if (!(x >= 0 && x < Infinity)) throw new RangeError(`${name}[${i}] = ${x}; counts must be finite and non-negative`);
    total += x;
  }
  if (!(total > 0)) throw new RangeError(`${name} has no mass (all counts are zero)`);
  return total;
}
