/**
 * MLflow's documented size limits, enforced by every metadata store so that what one backend
 * accepts, every backend accepts.
 */
import { TrellisError, invalid } from '../core/errors.js';

export const LIMITS = {
  batchMetrics: 1000,
  batchParams: 100,
  batchTags: 100,
  batchTotal: 1000,
  batchBytes: 1024 * 1024,
  keyLength: 250,
  paramValueBytes: 6000,
  runTagValueBytes: 5000,
  experimentTagValueBytes: 20000,
  nameLength: 256,
  searchMaxResultsDefault: 1000,
  searchMaxResults: 50000,
} as const;

const KEY_RE = /^[\w\-. /:]+$/u;

/** Metric, param and tag keys: MLflow's character set, no path traversal, bounded length. */
export function checkKey(kind: string, key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'key' });
  }
  if (key.length > LIMITS.keyLength) {
    throw invalid(`${kind} key '${key.slice(0, 40)}…' has length ${key.length}, which exceeds the limit of ${LIMITS.keyLength}`);
  }
  if (key === '__proto__') throw invalid(`Invalid ${kind} name: '__proto__' is reserved`);
  if (!KEY_RE.test(key) || key.startsWith('/') || key.split('/').some((s) => s === '..' || s === '.')) {
    throw invalid(
      `Invalid ${kind} name: '${key}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/), and may not be a path outside the run.`,
    );
  }
  return key;
}

export function checkValueSize(kind: string, key: string, value: string, limit: number): void {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > limit) {
    throw invalid(`${kind} value for '${key}' is ${bytes} bytes, which exceeds the limit of ${limit}`);
  }
}

export function checkName(what: string, name: unknown): string {
  if (typeof name !== 'string' || name.trim().length === 0) {
    throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'name' });
  }
  if (name.length > LIMITS.nameLength) throw invalid(`${what} name exceeds ${LIMITS.nameLength} characters`);
  if (/[\u0000-\u001f]/.test(name)) throw invalid(`${what} name must not contain control characters`);
  return name;
}

export function checkMaxResults(n: number | undefined, def: number, max: number): number {
  if (n === undefined) return def;
  if (!Number.isInteger(n) || n < 1) throw invalid(`Invalid value ${n} for parameter 'max_results': must be a positive integer`);
  if (n > max) throw invalid(`Invalid value ${n} for parameter 'max_results' supplied. It must be at most ${max}`);
  return n;
}
