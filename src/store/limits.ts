/**
 * MLflow's documented size limits, enforced by every metadata store so that what one backend
 * accepts, every backend accepts; and the bounds the HTTP edge puts on every other request field
 * (string lengths, list lengths, JSON nesting, search complexity), so that no input is unbounded.
 * docs/errors.md lists them.
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
  /** MLflow's `runs.name` column. */
  runNameLength: 250,
  /** MLflow's `registered_models.description` / `model_versions.description` columns. */
  descriptionLength: 5000,
  /** MLflow's `model_versions.source` and `run_link` columns. */
  modelSourceLength: 500,
  runLinkLength: 500,
  /** MLflow's dataset-input limits (`_validate_dataset_inputs`). */
  datasetNameLength: 500,
  datasetDigestLength: 36,
  datasetSourceTypeLength: 36,
  datasetSourceLength: 65535,
  datasetSchemaLength: 1048575,
  datasetProfileLength: 16777215,
  inputTagKeyLength: 255,
  inputTagValueLength: 500,
  /** Ids (run ids are 32 hex digits, experiment ids and versions numbers; this leaves room for other schemes). */
  idLength: 256,
  /** Any string field without a limit of its own. */
  stringLength: 8000,
  /** `model_json` of log-model (MLflow keeps it in a tag). */
  modelJsonLength: 1024 * 1024,
  /** A search filter's text, its clauses (AND-joined), and the values of its IN lists in all. */
  filterLength: 100_000,
  filterClauses: 50,
  filterInValues: 1000,
  /** `order_by` keys of one search. */
  orderByKeys: 10,
  /** `experiment_ids` of one runs/search. */
  experimentIds: 500,
  /** Any other repeated field of a request (log-batch's own limits are checked by the stores, with their messages). */
  listItems: 10_000,
  /** Nesting of a JSON request body (objects and arrays). */
  jsonDepth: 64,
  /** The largest row offset a page token may carry. */
  pageOffset: 1_000_000_000,
} as const;

/** How much of a client value an error message quotes. */
export const EXCERPT_CHARS = 100;

/**
 * A client value as an error message quotes it: at most {@link EXCERPT_CHARS} characters (then
 * `…`), control characters escaped, so that an echoed id or name can neither flood a response or
 * a log nor forge a log line. Every error that repeats what a client sent goes through this.
 */
export function excerpt(v: unknown, max = EXCERPT_CHARS): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else {
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = Array.isArray(v) ? '[…]' : String(v);
    }
  }
  const short = s.length > max ? `${s.slice(0, max)}…` : s;
  return short.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A string field longer than its limit: a 400 naming the field, its length and the limit. */
export function checkLength(param: string, value: string, max: number): string {
  if (value.length > max) {
    throw invalid(`Invalid value ${excerpt(value)} for parameter '${param}': it is ${value.length} characters long, longer than the limit of ${max}`);
  }
  return value;
}

/** A list field longer than its limit. */
export function checkListLength(param: string, length: number, max: number): void {
  if (length > max) throw invalid(`Invalid value for parameter '${param}': it has ${length} items, more than the limit of ${max}`);
}

const KEY_RE = /^[\w\-. /:]+$/u;

/** Metric, param and tag keys: MLflow's character set, no path traversal, bounded length. */
export function checkKey(kind: string, key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'key' });
  }
  if (key.length > LIMITS.keyLength) {
    throw invalid(`${kind} key '${excerpt(key, 40)}' has length ${key.length}, which exceeds the limit of ${LIMITS.keyLength}`);
  }
  if (key === '__proto__') throw invalid(`Invalid ${kind} name: '__proto__' is reserved`);
  if (!KEY_RE.test(key) || key.startsWith('/') || key.split('/').some((s) => s === '..' || s === '.')) {
    throw invalid(
      `Invalid ${kind} name: '${excerpt(key)}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/), and may not be a path outside the run.`,
    );
  }
  return key;
}

export function checkValueSize(kind: string, key: string, value: string, limit: number): void {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > limit) {
    throw invalid(`${kind} value for '${excerpt(key)}' is ${bytes} bytes, which exceeds the limit of ${limit}`);
  }
}

/** Control characters (C0, DEL, C1). */
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
/** Characters that render as nothing (zero-width space/joiners, word joiner, BOM) or reorder text (bidi controls and marks). */
const INVISIBLE_RE = /[\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/;

export interface NameRules {
  /** The request field the name came in, named by errors (default `name`). */
  param?: string;
  /** Whether `/` may appear in the name (experiment names are paths on Databricks; dataset names are not). */
  slash?: boolean;
  /** Longest name (default {@link LIMITS.nameLength}). */
  max?: number;
}

/**
 * The name of an experiment, registered model or dataset, as it is stored: Unicode NFC, without
 * leading or trailing white space, and refused when it holds control, zero-width or bidirectional
 * characters (a name that looks like another), is `.` or `..`, or holds `/` where the concept
 * forbids it. Uniqueness is then checked by the store, case-insensitively.
 */
export function checkName(what: string, name: unknown, rules: NameRules = {}): string {
  const param = rules.param ?? 'name';
  const max = rules.max ?? LIMITS.nameLength;
  if (typeof name !== 'string' || name.trim().length === 0) {
    throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param });
  }
  // Bounded before normalising, so a huge value costs nothing.
  if (name.length > 4 * max) throw invalid(`Invalid ${what.toLowerCase()} name '${excerpt(name)}' in '${param}': it exceeds ${max} characters`);
  const n = name.normalize('NFC').trim();
  if (n.length > max) throw invalid(`Invalid ${what.toLowerCase()} name '${excerpt(n)}' in '${param}': it exceeds ${max} characters`);
  if (CONTROL_RE.test(n)) throw invalid(`Invalid ${what.toLowerCase()} name '${excerpt(n)}' in '${param}': it must not contain control characters`);
  if (INVISIBLE_RE.test(n)) {
    throw invalid(`Invalid ${what.toLowerCase()} name '${excerpt(n)}' in '${param}': it must not contain zero-width or bidirectional control characters`);
  }
  if (n === '.' || n === '..') throw invalid(`Invalid ${what.toLowerCase()} name '${n}' in '${param}': '.' and '..' are not names`);
  if (!rules.slash && n.includes('/')) throw invalid(`Invalid ${what.toLowerCase()} name '${excerpt(n)}' in '${param}': it must not contain '/'`);
  return n;
}

const DATASET_NAME_RE = /^[A-Za-z0-9][\w.-]*$/;

/** A dataset name: {@link checkName}, then letters, digits, `_`, `-` and `.`, starting with a letter or digit (it names a folder of the artifact store). */
export function checkDatasetName(name: unknown, param = 'name'): string {
  const n = checkName('Dataset', name, { param });
  if (!DATASET_NAME_RE.test(n)) {
    throw invalid(`Invalid dataset name '${excerpt(n)}' in '${param}': use letters, digits, '_', '-' and '.', starting with a letter or digit`);
  }
  return n;
}

export function checkMaxResults(n: number | undefined, def: number, max: number): number {
  if (n === undefined) return def;
  if (!Number.isInteger(n) || n < 1) throw invalid(`Invalid value ${n} for parameter 'max_results': must be a positive integer`);
  if (n > max) throw invalid(`Invalid value ${n} for parameter 'max_results' supplied. It must be at most ${max}`);
  return n;
}
