/**
 * Thrown by a component to say "this failure is transient: run me again". The executor retries
 * such a failure (up to the step's `retries`, with backoff) and reports it as
 * `TRELLIS_STEP_TRANSIENT`; any other exception is the component's own error and is not retried.
 *
 * The executor recognises the failure by its `retryable === true` flag (or the name
 * `RetryableError`), not by class identity, because the component may load another copy of this
 * module than the executor does, and the error crosses a thread or process boundary. A
 * `TrellisError` with a retryable code (for instance `TRELLIS_STORE_UNAVAILABLE`) counts too.
 */
export class RetryableError extends Error {
  readonly retryable = true as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryableError';
  }
}

/** An exception as it crosses from a worker or child process back to the executor. */
export interface ReportedError {
  name: string;
  message: string;
  stack?: string;
  retryable: boolean;
  /** The thrown error's `code`, when it had a string one (a TrellisError's, a Node system error's). */
  code?: string;
}

export function reportError(e: unknown): ReportedError {
  if (e instanceof Error || (e && typeof e === 'object' && 'message' in e)) {
    const err = e as Error & { retryable?: unknown; code?: unknown };
    return {
      name: typeof err.name === 'string' ? err.name : 'Error',
      message: String(err.message),
      stack: typeof err.stack === 'string' ? err.stack : undefined,
      retryable: err.retryable === true || err.name === 'RetryableError',
      code: typeof err.code === 'string' ? err.code : undefined,
    };
  }
  return { name: 'Error', message: `non-error value thrown: ${String(e)}`, retryable: false };
}
