/**
 * Request parameters as MLflow's handlers see them: from the query string on GET, from a JSON body
 * otherwise, typed by the protobuf JSON rules (int64 may arrive as a string, doubles as "NaN",
 * enums as names or numbers, null means unset). Every accessor checks the type it promises, so a
 * bad value becomes a 400 naming the field instead of a surprise deep in a store; and bounds what it
 * hands out — strings by length (a field's own limit, else `LIMITS.stringLength`), lists by
 * length, a body by nesting depth — so that no field reaches a store unbounded.
 */
import { TrellisError, invalid } from '../core/errors.js';
import { LIMITS, checkLength, checkListLength, excerpt } from '../store/limits.js';
import type { Tags, ViewType } from '../store/ports/common.js';
import type { RunStatus } from '../store/ports/tracking.js';

/** Protobuf enum order: the numeric value of each name is its index + 1. */
export const VIEW_TYPES: readonly ViewType[] = ['ACTIVE_ONLY', 'DELETED_ONLY', 'ALL'];
export const RUN_STATUSES: readonly RunStatus[] = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'];

const INT_RE = /^-?\d{1,16}$/;
const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const SPECIAL_DOUBLES: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

export class Params {
  private constructor(
    private readonly data: Record<string, unknown>,
    /** Query values are all strings (or arrays of them); body values carry JSON types. */
    readonly fromQuery: boolean,
    private readonly prefix = '',
  ) {}

  static fromQuery(query: unknown): Params {
    const data: Record<string, unknown> = {};
    for (const [k, v] of Object.entries((query ?? {}) as Record<string, unknown>)) {
      // Older UIs send repeated fields as `key[]=a&key[]=b`.
      const key = k.endsWith('[]') ? k.slice(0, -2) : k;
      data[key] = Object.hasOwn(data, key) ? ([] as unknown[]).concat(data[key], v) : v;
    }
    return new Params(data, true);
  }

  /** A parsed JSON body; refused when it nests deeper than `LIMITS.jsonDepth`, before anything recurses into it. */
  static fromObject(data: Record<string, unknown>): Params {
    checkJsonDepth(data, LIMITS.jsonDepth);
    return new Params(data, false);
  }

  private name(p: string): string {
    return this.prefix + p;
  }

  /** Own properties only, so `constructor` or `__proto__` never read something the client did not send. */
  private get(p: string): unknown {
    if (!Object.hasOwn(this.data, p)) return undefined;
    const v = this.data[p];
    if (v === null) return undefined;
    // MLflow reads the first occurrence of a repeated key for a scalar field.
    if (this.fromQuery && Array.isArray(v)) return v[0];
    return v;
  }

  private getList(p: string): unknown {
    const v = Object.hasOwn(this.data, p) ? this.data[p] : undefined;
    if (v === null || v === undefined) return undefined;
    if (this.fromQuery && !Array.isArray(v)) return [v];
    return v;
  }

  has(p: string): boolean {
    return this.get(p) !== undefined;
  }

  /** `max`: the field's longest value in characters (default `LIMITS.stringLength`). */
  requireString(p: string, max?: number): string {
    const v = this.optionalString(p, max);
    if (v === undefined || v === '') throw missing(this.name(p));
    return v;
  }

  optionalString(p: string, max: number = LIMITS.stringLength): string | undefined {
    const v = this.get(p);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw wrongType(this.name(p), v);
    return checkLength(this.name(p), v, max);
  }

  /** Ids are proto strings, but some clients send experiment ids and versions as JSON numbers. */
  requireId(p: string): string {
    const v = this.optionalId(p);
    if (v === undefined || v === '') throw missing(this.name(p));
    return v;
  }

  optionalId(p: string): string | undefined {
    const v = this.get(p);
    if (v === undefined) return undefined;
    if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
    if (typeof v !== 'string') throw wrongType(this.name(p), v);
    return checkLength(this.name(p), v, LIMITS.idLength);
  }

  requireInt(p: string): number {
    const v = this.optionalInt(p);
    if (v === undefined) throw missing(this.name(p));
    return v;
  }

  optionalInt(p: string): number | undefined {
    const v = this.get(p);
    if (v === undefined || (this.fromQuery && v === '')) return undefined;
    const n = toInt(v);
    if (n === undefined) throw wrongType(this.name(p), v);
    return n;
  }

  requireDouble(p: string): number {
    const v = this.get(p);
    if (v === undefined || v === '') throw missing(this.name(p));
    const n = toDouble(v);
    if (n === undefined) throw wrongType(this.name(p), v);
    return n;
  }

  optionalBool(p: string): boolean | undefined {
    const v = this.get(p);
    if (v === undefined) return undefined;
    if (typeof v === 'boolean') return v;
    if (typeof v === 'string') {
      const s = v.toLowerCase();
      if (s === 'true') return true;
      if (s === 'false') return false;
    }
    throw wrongType(this.name(p), v);
  }

  /** At most `maxItems` strings (default `LIMITS.listItems`) of at most `LIMITS.stringLength` characters. */
  optionalStringArray(p: string, maxItems: number = LIMITS.listItems): string[] | undefined {
    return this.optionalArray(p, maxItems, (v) => (typeof v === 'string' && v.length <= LIMITS.stringLength ? v : undefined));
  }

  optionalIdArray(p: string, maxItems: number = LIMITS.listItems): string[] | undefined {
    return this.optionalArray(p, maxItems, (v) => (typeof v === 'string' && v.length <= LIMITS.idLength ? v : typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : undefined));
  }

  private optionalArray<T>(p: string, maxItems: number, item: (v: unknown) => T | undefined): T[] | undefined {
    const v = this.getList(p);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) throw wrongType(this.name(p), v);
    checkListLength(this.name(p), v.length, maxItems);
    return v.map((x, i) => {
      const out = item(x);
      if (out === undefined) throw wrongType(`${this.name(p)}[${i}]`, x);
      return out;
    });
  }

  /** An enum by name (case-insensitive) or by its protobuf number. */
  optionalEnum<T extends string>(p: string, values: readonly T[]): T | undefined {
    const v = this.get(p);
    if (v === undefined || (this.fromQuery && v === '')) return undefined;
    const n = toInt(v);
    const found = n !== undefined ? values[n - 1] : typeof v === 'string' ? values.find((x) => x === v.toUpperCase()) : undefined;
    if (found === undefined) {
      throw invalid(`Invalid value ${show(v)} for parameter '${this.name(p)}' supplied. It must be one of ${values.join(', ')} (or 1 to ${values.length}).`);
    }
    return found;
  }

  requireObject(p: string): Params {
    const v = this.get(p);
    if (v === undefined) throw missing(this.name(p));
    if (!isPlainObject(v)) throw wrongType(this.name(p), v);
    return new Params(v, false, `${this.name(p)}.`);
  }

  /** A repeated message field: each element wrapped so its own fields are checked and named. */
  optionalObjects(p: string): Params[] | undefined {
    if (this.fromQuery && this.has(p)) throw invalid(`Parameter '${this.name(p)}' cannot be sent in the query string`);
    const v = this.getList(p);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) throw wrongType(this.name(p), v);
    checkListLength(this.name(p), v.length, LIMITS.listItems);
    return v.map((x, i) => {
      if (!isPlainObject(x)) throw wrongType(`${this.name(p)}[${i}]`, x);
      return new Params(x, false, `${this.name(p)}[${i}].`);
    });
  }

  /**
   * `[{key, value}]` pairs (tags, params); a missing value is the empty string, as in proto2. The
   * stores check keys and values against MLflow's limits; this bounds them first (by default to the
   * largest of those limits, an experiment tag's).
   */
  optionalKeyValues(p: string, limits: { key?: number; value?: number } = {}): { key: string; value: string }[] | undefined {
    const keyMax = limits.key ?? LIMITS.stringLength;
    const valueMax = limits.value ?? LIMITS.experimentTagValueBytes;
    return this.optionalObjects(p)?.map((kv) => ({ key: kv.requireString('key', keyMax), value: kv.optionalString('value', valueMax) ?? '' }));
  }

  optionalTags(p: string, limits?: { key?: number; value?: number }): Tags | undefined {
    const kvs = this.optionalKeyValues(p, limits);
    return kvs && Object.fromEntries(kvs.map((kv) => [kv.key, kv.value]));
  }

  /** The run of a run-scoped request: `run_id`, or the deprecated `run_uuid` when run_id is empty. */
  runId(): string {
    const id = this.optionalString('run_id', LIMITS.idLength) || this.optionalString('run_uuid', LIMITS.idLength);
    if (!id) throw missing('run_id');
    return id;
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toInt(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v === 'string' && INT_RE.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

function toDouble(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  if (v in SPECIAL_DOUBLES) return SPECIAL_DOUBLES[v];
  return FLOAT_RE.test(v) ? Number(v) : undefined;
}

export function missing(param: string): TrellisError {
  return new TrellisError('TRELLIS_MISSING_PARAMETER', { param });
}

export function wrongType(param: string, v: unknown): TrellisError {
  return invalid(
    `Invalid value ${show(v)} for parameter '${param}' supplied. Hint: Value was of type '${jsonType(v)}'. See the API docs for more information about request parameters.`,
  );
}

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v;
}

/** A client value in an error message: bounded and free of control characters, so it cannot flood or forge a log line ({@link excerpt}). */
export function show(v: unknown): string {
  return excerpt(v);
}

/**
 * Refuses a JSON value nested deeper than `max` objects and arrays, walking it without recursion
 * (so a hostile body cannot exhaust the stack here), and names the top-level field that nests.
 */
export function checkJsonDepth(root: unknown, max: number): void {
  if (typeof root !== 'object' || root === null) return;
  const stack: [unknown, number, string][] = Object.entries(root).map(([k, v]) => [v, 2, k]);
  while (stack.length) {
    const [v, depth, field] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) {
      throw invalid(`Invalid value for parameter '${excerpt(field, 40)}': the request body nests JSON objects and arrays more than ${max} levels deep`);
    }
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (typeof x === 'object' && x !== null) stack.push([x, depth + 1, field]);
  }
}
