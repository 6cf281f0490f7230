/**
 * Long synchronous work — growing trees one after another — blocks the event loop, so neither a
 * timer nor a signal handler can run until it ends. A checkpoint, awaited between units of work,
 * hands the loop a turn every `everyMs` (a timeout fires, a Ctrl-C arrives) and throws the
 * signal's reason once it aborted. Without a signal it costs nothing.
 */
export type Checkpoint = () => Promise<void> | undefined;

export function checkpoints(signal: AbortSignal | undefined, everyMs = 20): Checkpoint {
  if (!signal) return () => undefined;
  let last = performance.now();
  return () => {
    signal.throwIfAborted();
    if (performance.now() - last < everyMs) return undefined;
    return new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        last = performance.now();
        if (signal.aborted) reject(signal.reason as Error);
        else resolve();
      });
    });
  };
}
