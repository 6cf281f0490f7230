/**
 * The error boundary around user code: an exception from a component becomes a TrellisError
 * that names the step, carries the component's message and the first stack frame in the
 * component's own file, and keeps the original (with its stack) as the cause. Whether the executor
 * retries is decided by the code: `TRELLIS_STEP_TRANSIENT` (the component said so) or
 * `TRELLIS_STEP_TIMEOUT`; a plain exception is the user's error and is not retried.
 */
import { fileURLToPath } from 'node:url';
import { TrellisError } from '../../core/errors.js';
import type { ReportedError } from './retryable-error.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** `at fn (location)` or `at location`, where location is `file:line:column`. */
const FRAME = /^at (?:.* \()?(.+):(\d+):(\d+)\)?$/;
/** Only frames in files: not `node:internal/…`, `[worker eval]`, `<anonymous>`. */
const IN_FILE = /^(?:file:\/\/|\/|[A-Za-z]:[\\/])/;

/** `file:line:column` of the first frame in `userFile` — else the first frame outside Node, node_modules and the executors. */
export function userFrame(stack: string | undefined, userFile?: string): string | undefined {
  if (!stack) return undefined;
  const frames: { file: string; at: string }[] = [];
  for (const line of stack.split('\n')) {
    if (!/^\s+at /.test(line)) continue;
    const m = FRAME.exec(line.trim());
    if (!m) continue;
    let file = m[1]!;
    if (!IN_FILE.test(file)) continue;
    if (file.startsWith('file://')) {
      try { file = fileURLToPath(file); } catch { continue; }
    }
    frames.push({ file, at: `${file}:${m[2]}:${m[3]}` });
  }
  const own = userFile && frames.find((f) => f.file === userFile);
  if (own) return own.at;
  return frames.find((f) => !f.file.startsWith(HERE) && !/[\\/]node_modules[\\/]/.test(f.file))?.at;
}

export function causeOf(e: ReportedError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

/** An exception the component threw (phase `run`) or that stopped its module from loading (`load`). */
export function componentError(step: string, e: ReportedError, phase: 'load' | 'run', userFile?: string): TrellisError {
  const frame = userFrame(e.stack, userFile);
  const what = `${e.name}: ${e.message}${frame ? ` (at ${frame})` : ''}`;
  const detail = phase === 'load' ? `cannot load component module ${userFile ?? ''}: ${what}` : what;
  const code = phase === 'run' && e.retryable ? 'TRELLIS_STEP_TRANSIENT' : 'TRELLIS_STEP_FAILED';
  return new TrellisError(code, {
    step, detail, errorName: e.name, errorMessage: e.message, frame, userCode: e.code,
  }, { cause: causeOf(e) });
}
