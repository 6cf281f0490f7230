/** Milliseconds since the epoch. One seam, so tests can reason about time without patching Date. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
