/**
 * How profile statistics of datetime columns read in reports: points in time (min, max, mean,
 * quantiles) as ISO-8601 UTC, spreads (standard deviation) as durations. Profiles store both as
 * milliseconds, which no reader can make sense of.
 */

const DAY = 86_400_000;

/** ISO-8601 UTC: the date alone at midnight, else to the second (`2024-01-05T18:45:00Z`). */
export function formatInstant(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const t = Math.round(ms / 1000) * 1000;
  const iso = new Date(t).toISOString();
  return t % DAY === 0 ? iso.slice(0, 10) : `${iso.slice(0, 19)}Z`;
}

const UNITS: [number, string][] = [[DAY, 'days'], [3_600_000, 'h'], [60_000, 'min'], [1000, 's']];

/** A length of time in the largest unit it fills at least once: `3.48 days`, `5.20 h`, `250 ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const abs = Math.abs(ms);
  for (const [size, unit] of UNITS) if (abs >= size) return `${(ms / size).toPrecision(3)} ${unit}`;
  return `${Number.isInteger(ms) ? ms : ms.toPrecision(3)} ms`;
}
