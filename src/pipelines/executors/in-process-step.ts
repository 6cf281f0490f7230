/**
 * Runs a component that lives in this process — the platform's built-ins — under the same policy
 * as user components (`attempts.ts`): the step's log, its timeout, cancellation, retries with
 * backoff, and outputs checked and hashed. Stopping an attempt aborts the signal it was handed and
 * waits for it to end: a built-in checks that signal between units of work (a tree, a fold, a
 * trial), so a timeout or a Ctrl-C stops it within a fraction of a second.
 */
import { TrellisError, isTrellisError } from '../../core/errors.js';
import { runAttempts } from './attempts.js';
import { checkStepSpec, type InProcessComponent, type StepResult, type StepSpec } from './step-spec.js';

/** One attempt of an in-process component: the metrics it reports (also through metrics.json). */
export type InProcessBody = (attempt: {
  attempt: number;
  /** Aborted when the attempt is stopped: by the step's timeout, or by cancelling the run. */
  signal: AbortSignal;
  /** A line of the step's log. */
  log: (line: string) => void;
}) => Promise<Record<string, number> | void>;

export function runInProcessStep(spec: StepSpec & { component: InProcessComponent }, body: InProcessBody): Promise<StepResult> {
  const r = checkStepSpec(spec, 'in-process');
  return runAttempts(r, (attempt, log) => {
    const ac = new AbortController();
    const done = (async () => {
      try {
        return (await body({ attempt, signal: ac.signal, log: (line) => { log.write(`${line}\n`); } })) ?? {};
      } catch (e) {
        throw failure(r.step, e);
      }
    })();
    return {
      done,
      stop: async () => {
        ac.abort();
        await done.catch(() => undefined);
      },
    };
  });
}

/** A built-in's exception as the step's error: transient (retried) when it said so, else its own failure. */
function failure(step: string, e: unknown): TrellisError {
  if (isTrellisError(e, 'TRELLIS_STEP_TRANSIENT', 'TRELLIS_STEP_FAILED', 'TRELLIS_STEP_OUTPUT_MISSING')) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const retryable = (err as { retryable?: unknown }).retryable === true || err.name === 'RetryableError' || (e instanceof TrellisError && e.retryable);
  return new TrellisError(retryable ? 'TRELLIS_STEP_TRANSIENT' : 'TRELLIS_STEP_FAILED', { step, detail: err.message }, { cause: err });
}
