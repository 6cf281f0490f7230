/**
 * What both kinds of component share: the log file, the timeout, cancellation, retries with
 * exponential backoff, and collecting the outputs (each must exist; each is content-hashed) and
 * the metrics. A kind of component supplies only `launch`: start one attempt, say how it ended,
 * and know how to stop it.
 *
 * Retried: `TRELLIS_STEP_TIMEOUT` and `TRELLIS_STEP_TRANSIENT`. Never retried: the component's
 * own errors (`TRELLIS_STEP_FAILED`), a missing output, a cancel. Before each attempt the
 * declared outputs and `metrics.json` are removed, so nothing a failed attempt (or an earlier
 * run) left behind can pass for this attempt's work.
 */
// Local metadata operations on the step's own folder are synchronous: each is far cheaper than a
// trip through the thread pool, and they sit between one step finishing and the next starting.
import { lstatSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { invalid, isTrellisError, TrellisError, type ErrorCode } from '../../core/errors.js';
import { hashOutput } from './output-hash.js';
import { closeLog, openLog } from './step-log.js';
import type { ResolvedStep, StepResult } from './step-spec.js';

export interface AttemptHandle {
  /** Settles once the component has finished and its output is in the log: the metrics it reported, or a TrellisError. */
  done: Promise<Record<string, number>>;
  /** Stops the component and whatever it started; resolves once they are gone. */
  stop(): Promise<void>;
}

export type Launch = (attempt: number, log: Writable) => AttemptHandle;

const RETRIED = ['TRELLIS_STEP_TIMEOUT', 'TRELLIS_STEP_TRANSIENT'] as const satisfies readonly ErrorCode[];
/** setTimeout's largest delay; longer timeouts are as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function backoffMs(backoff: { baseMs: number; capMs: number }, retry: number): number {
  return Math.min(backoff.capMs, backoff.baseMs * 2 ** (retry - 1));
}

export async function runAttempts(r: ResolvedStep, launch: Launch): Promise<StepResult> {
  const t0 = performance.now();
  const { signal } = r.spec;
  const c = r.spec.component;
  for (const d of [r.outputDir, dirname(r.logPath)]) {
    try {
      mkdirSync(d, { recursive: true });
    } catch (e) {
      throw invalid(`step '${r.step}': cannot create ${d}: ${(e as Error).message}`);
    }
  }
  const log = await openLog(r.logPath).catch((e: Error) => {
    throw new TrellisError('TRELLIS_STEP_FAILED', { step: r.step, detail: `cannot write the step log ${r.logPath}: ${e.message}` }, { cause: e });
  });
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        if (signal?.aborted) throw cancelled(r);
        clearOutputs(r);
        log.write(`=== step ${r.step}: ${c.name}@${c.version}, attempt ${attempt} of ${r.maxAttempts}, ${new Date().toISOString()}\n`);
        const reported = await runOne(r, launch(attempt, log), signal);
        const result = await collect(r, reported);
        log.write(`=== attempt ${attempt} succeeded\n`);
        return { ...result, logPath: r.logPath, attempts: attempt, durationMs: performance.now() - t0 };
      } catch (e) {
        const err = e instanceof TrellisError ? e : new TrellisError('TRELLIS_INTERNAL', { detail: (e as Error)?.message ?? String(e) }, { cause: e });
        log.write(`=== attempt ${attempt} failed: ${err.code}: ${err.message}\n`);
        if (!isTrellisError(err, ...RETRIED) || attempt >= r.maxAttempts) throw final(err, attempt, r.logPath);
        const delay = backoffMs(r.backoff, attempt);
        log.write(`=== retrying in ${delay} ms\n`);
        if (!(await sleep(delay, signal))) throw final(cancelled(r), attempt, r.logPath);
      }
    }
  } finally {
    await closeLog(log);
  }
}

function runOne(r: ResolvedStep, h: AttemptHandle, signal?: AbortSignal): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const stopWith = (err: TrellisError) => {
      if (settled) return;
      settle();
      h.done.catch(() => undefined);
      h.stop().then(() => reject(err), () => reject(err));
    };
    const onAbort = () => stopWith(cancelled(r));
    if (r.timeoutSeconds !== undefined) {
      const seconds = r.timeoutSeconds;
      timer = setTimeout(() => stopWith(new TrellisError('TRELLIS_STEP_TIMEOUT', { step: r.step, timeoutSeconds: seconds })),
        Math.min(MAX_TIMER_MS, seconds * 1000));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    h.done.then(
      (m) => { if (!settled) { settle(); resolve(m); } },
      // `done` rejects with a TrellisError by contract; anything else is wrapped by the caller.
      (e: unknown) => { if (!settled) { settle(); reject(e instanceof Error ? e : new Error(String(e))); } },
    );
  });
}

function clearOutputs(r: ResolvedStep): void {
  for (const o of Object.values(r.outputs)) rmSync(o.path, { recursive: true, force: true });
  rmSync(r.metricsPath, { force: true });
}

async function collect(r: ResolvedStep, reported: Record<string, number>): Promise<Omit<StepResult, 'logPath' | 'attempts' | 'durationMs'>> {
  const missing: string[] = [];
  for (const [name, o] of Object.entries(r.outputs)) {
    try {
      lstatSync(o.path);
    } catch {
      missing.push(name);
    }
  }
  if (missing.length) {
    throw new TrellisError('TRELLIS_STEP_OUTPUT_MISSING', {
      step: r.step,
      output: missing.join(','),
      missing: missing.map((n) => `'${n}' (${r.outputs[n]!.path})`).join(', '),
    });
  }
  const outputs: StepResult['outputs'] = {};
  for (const [name, o] of Object.entries(r.outputs)) outputs[name] = { type: o.type, path: o.path, sha256: await hashOutput(o.path) };
  const metrics = { ...readMetricsFile(r), ...reported };
  return Object.keys(metrics).length ? { outputs, metrics } : { outputs };
}

/** `metrics.json` in the output directory: one JSON object of metric name → finite number. */
function readMetricsFile(r: ResolvedStep): Record<string, number> {
  let text: string;
  try {
    text = readFileSync(r.metricsPath, 'utf8');
  } catch {
    return {};
  }
  const bad = (why: string) => new TrellisError('TRELLIS_STEP_FAILED', { step: r.step, detail: `${r.metricsPath} ${why}` });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw bad(`is not valid JSON: ${(e as Error).message}`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw bad('must hold one JSON object of metric name → number');
  for (const [k, v] of Object.entries(data)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`: metric '${k}' must be a finite number, got ${JSON.stringify(v)}`);
  }
  return data as Record<string, number>;
}

function cancelled(r: ResolvedStep): TrellisError {
  return new TrellisError('TRELLIS_STEP_CANCELLED', { step: r.step });
}

/** The last attempt's error, with how many attempts were made and where the log is. */
function final(err: TrellisError, attempts: number, logPath: string): TrellisError {
  return new TrellisError(err.code, { ...err.params, attempts, logPath }, {
    cause: err.cause,
    message: attempts > 1 ? `${err.message} (after ${attempts} attempts)` : err.message,
  });
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => { clearTimeout(t); resolve(false); };
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(true); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
