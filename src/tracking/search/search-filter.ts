/**
 * MLflow's search `filter` and `order_by` grammars (spec §1.7), turned into the store-neutral
 * {@link Clause} and {@link OrderKey} shapes. Runs, experiments, registered models and model
 * versions differ only in which prefixes, keys and comparators they accept, so one scanner does
 * the work and each search is a table ({@link Grammar}).
 *
 * Error details name the offending token and its 1-based character position, because a filter is
 * usually typed by hand into a UI or a notebook and "invalid filter" alone does not say where.
 */

import { TrellisError, invalid } from '../../core/errors.js';
import { LIMITS, checkListLength, excerpt } from '../../store/limits.js';
import type { Clause, Comparator, KeyKind, OrderKey } from '../../store/search-types.js';

/** What the right-hand side of a clause must be, and which comparators may precede it. */
interface FieldRule {
  readonly value: 'number' | 'string';
  readonly comparators: readonly Comparator[];
}

interface Named<R> {
  /** The canonical key the store sees, whatever alias was written. */
  readonly key: string;
  readonly rule: R;
}

/** Which keys one position (filter left-hand side or order_by) of one search accepts. */
interface Vocabulary<R> {
  /** Kinds whose keys are user-defined (metrics, params, tags): any key is accepted. */
  readonly open: Partial<Record<KeyKind, R>>;
  /** Kinds with a fixed set of keys (attributes, dataset fields), keyed by every accepted spelling. */
  readonly closed: Partial<Record<KeyKind, ReadonlyMap<string, Named<R>>>>;
}

interface Grammar {
  /** Plural noun for messages: "… is not supported when searching runs". */
  readonly entity: string;
  readonly prefixes: ReadonlyMap<string, KeyKind>;
  readonly filter: Vocabulary<FieldRule>;
  readonly order: Vocabulary<true>;
}

const NUMERIC: FieldRule = { value: 'number', comparators: ['=', '!=', '>', '>=', '<', '<='] };
const TEXT: FieldRule = { value: 'string', comparators: ['=', '!=', 'LIKE', 'ILIKE'] };
const TEXT_IN: FieldRule = { value: 'string', comparators: ['=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'] };
// Spec §1.7 lists IN but not NOT IN for model versions, so the two are not interchangeable here.
const VERSION_TEXT: FieldRule = { value: 'string', comparators: ['=', '!=', 'LIKE', 'ILIKE', 'IN'] };

/** `{ canonical: [rule, ...aliases] }` → a lookup from every spelling to the canonical key. */
function names<R>(spec: Record<string, readonly [R, ...string[]]>): ReadonlyMap<string, Named<R>> {
  const out = new Map<string, Named<R>>();
  for (const [key, [rule, ...aliases]] of Object.entries(spec)) {
    for (const spelling of [key, ...aliases]) out.set(spelling, { key, rule });
  }
  return out;
}

/** Runs sort by the same attributes they filter on (spec §1.7), so reuse the filter table. */
function orderable(map: ReadonlyMap<string, Named<FieldRule>>): ReadonlyMap<string, Named<true>> {
  return new Map([...map].map(([spelling, { key }]) => [spelling, { key, rule: true as const }]));
}

function prefixes(spec: Partial<Record<KeyKind, readonly string[]>>): ReadonlyMap<string, KeyKind> {
  const out = new Map<string, KeyKind>();
  for (const [kind, words] of Object.entries(spec) as [KeyKind, readonly string[]][]) {
    for (const w of words) out.set(w, kind);
  }
  return out;
}

const RUN_PREFIXES = prefixes({
  metric: ['metric', 'metrics'],
  param: ['param', 'params', 'parameter', 'parameters'],
  tag: ['tag', 'tags'],
  attribute: ['attribute', 'attributes', 'attr', 'run'],
  dataset: ['dataset', 'datasets'],
});

// MLflow's non-run searches accept the generic tag/attribute spellings too, but not `run.`.
const ENTITY_PREFIXES = prefixes({ tag: ['tag', 'tags'], attribute: ['attribute', 'attributes', 'attr'] });

const RUN_ATTRIBUTES = names<FieldRule>({
  run_id: [TEXT_IN],
  run_name: [TEXT, 'run name', 'Run name', 'Run Name'],
  status: [TEXT],
  user_id: [TEXT],
  artifact_uri: [TEXT],
  start_time: [NUMERIC, 'created', 'Created'],
  end_time: [NUMERIC],
});

const RUNS: Grammar = {
  entity: 'runs',
  prefixes: RUN_PREFIXES,
  filter: {
    open: { metric: NUMERIC, param: TEXT, tag: TEXT },
    closed: {
      attribute: RUN_ATTRIBUTES,
      dataset: names<FieldRule>({ name: [TEXT_IN], digest: [TEXT_IN], context: [TEXT_IN] }),
    },
  },
  order: { open: { metric: true, param: true, tag: true }, closed: { attribute: orderable(RUN_ATTRIBUTES) } },
};

const EXPERIMENTS: Grammar = {
  entity: 'experiments',
  prefixes: ENTITY_PREFIXES,
  filter: {
    open: { tag: TEXT },
    closed: { attribute: names<FieldRule>({ name: [TEXT], creation_time: [NUMERIC], last_update_time: [NUMERIC] }) },
  },
  order: {
    open: {},
    closed: {
      attribute: names<true>({ name: [true], experiment_id: [true], creation_time: [true], last_update_time: [true] }),
    },
  },
};

const MODELS: Grammar = {
  entity: 'registered models',
  prefixes: ENTITY_PREFIXES,
  filter: { open: { tag: TEXT }, closed: { attribute: names<FieldRule>({ name: [TEXT] }) } },
  order: {
    open: {},
    closed: {
      attribute: names<true>({
        name: [true],
        creation_timestamp: [true],
        last_updated_timestamp: [true, 'timestamp'],
      }),
    },
  },
};

const MODEL_VERSIONS: Grammar = {
  entity: 'model versions',
  prefixes: ENTITY_PREFIXES,
  filter: {
    open: { tag: TEXT },
    closed: {
      attribute: names<FieldRule>({
        name: [VERSION_TEXT],
        version_number: [NUMERIC],
        run_id: [VERSION_TEXT],
        source_path: [VERSION_TEXT],
      }),
    },
  },
  order: {
    open: {},
    closed: {
      attribute: names<true>({
        name: [true],
        version_number: [true],
        creation_timestamp: [true],
        last_updated_timestamp: [true],
      }),
    },
  },
};

const KIND_PLURAL: Record<KeyKind, string> = {
  metric: 'metrics',
  param: 'params',
  tag: 'tags',
  attribute: 'attributes',
  dataset: 'dataset keys',
};

const WORD = /[A-Za-z_][A-Za-z0-9_]*/y;
// Unquoted keys may contain dots (`tags.mlflow.runName`) but no other punctuation: a hyphen or a
// slash would be indistinguishable from an operator in MLflow's grammar, so those keys need quotes.
const KEY = /[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*/y;
const NUMBER = /[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/y;
const OPERATOR = /[=!<>]+/y;
const TOKEN = /[-+]?[A-Za-z0-9_.]+|[=!<>]+/y;
const SYMBOL_COMPARATORS: ReadonlySet<string> = new Set(['=', '!=', '>', '>=', '<', '<=']);

type Fail = (detail: string) => never;

function quoteToken(text: string): string {
  const short = text.length > 40 ? `${text.slice(0, 37)}...` : text;
  return short.includes("'") ? `"${short}"` : `'${short}'`;
}

function at(pos: number): string {
  return `character ${pos + 1}`;
}

class Cursor {
  pos = 0;

  constructor(
    readonly src: string,
    /** "filter" or "clause", so end-of-input messages read naturally. */
    private readonly what: string,
    readonly fail: Fail,
  ) {}

  atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  peek(): string {
    return this.src.charAt(this.pos);
  }

  skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src.charAt(this.pos))) this.pos++;
  }

  match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  peekWord(): string {
    WORD.lastIndex = this.pos;
    return WORD.exec(this.src)?.[0] ?? '';
  }

  /** The token starting at `pos`, quoted, with its position — the shape every error detail uses. */
  describe(pos = this.pos): string {
    if (pos >= this.src.length) return `the end of the ${this.what} (${at(pos)})`;
    const ch = this.src.charAt(pos);
    let text: string;
    if (ch === '"' || ch === "'" || ch === '`') {
      const close = this.src.indexOf(ch, pos + 1);
      text = close < 0 ? this.src.slice(pos) : this.src.slice(pos, close + 1);
    } else {
      TOKEN.lastIndex = pos;
      text = TOKEN.exec(this.src)?.[0] ?? ch;
    }
    return `${quoteToken(text)} at ${at(pos)}`;
  }
}

/**
 * Reads a quoted run. The closing quote may be written doubled (`'it''s'`) or escaped with a
 * backslash (`'it\'s'`); a backslash before anything other than a quote or a backslash is kept, so
 * LIKE patterns such as `'100\%'` reach the store unchanged.
 */
function readQuoted(c: Cursor, noun: string): string {
  const start = c.pos;
  const q = c.src[start];
  let out = '';
  let i = start + 1;
  while (i < c.src.length) {
    const ch = c.src[i];
    if (ch === '\\' && i + 1 < c.src.length && `\\'"\``.includes(c.src.charAt(i + 1))) {
      out += c.src.charAt(i + 1);
      i += 2;
    } else if (ch === q) {
      if (c.src[i + 1] === q) {
        out += q;
        i += 2;
      } else {
        c.pos = i + 1;
        return out;
      }
    } else {
      out += ch;
      i++;
    }
  }
  return c.fail(`unterminated ${noun} ${quoteToken(c.src.slice(start))} starting at ${at(start)}: ` +
    `missing closing ${q}`);
}

interface RawIdentifier {
  prefix?: string;
  key: string;
  quoted: boolean;
  start: number;
  end: number;
  text: string;
}

function isIdentifierStart(ch: string): boolean {
  return ch === '"' || ch === '`' || /[A-Za-z_]/.test(ch);
}

function readIdentifier(c: Cursor): RawIdentifier {
  const start = c.pos;
  const done = (key: string, quoted: boolean, prefix?: string): RawIdentifier => {
    if (quoted && key === '') c.fail(`empty key in ${quoteToken(c.src.slice(start, c.pos))} at ${at(start)}`);
    return { prefix, key, quoted, start, end: c.pos, text: c.src.slice(start, c.pos) };
  };
  const first = c.peek();
  if (first === '"' || first === '`') return done(readQuoted(c, 'key'), true);
  const word = c.match(WORD);
  if (word === undefined) return c.fail(`expected a key, found ${c.describe()}`);
  if (c.peek() !== '.') return done(word, false);
  c.pos++;
  const keyStart = c.pos;
  const q = c.peek();
  if (q === '"' || q === '`') return done(readQuoted(c, 'key'), true, word);
  if (q === "'") {
    return c.fail(`key ${c.describe(keyStart)} is in single quotes; quote keys with double quotes or backticks, ` +
      `e.g. ${word}."my-key"`);
  }
  const key = c.match(KEY);
  if (key === undefined) return c.fail(`missing key after '${word}.' at ${at(start)}; found ${c.describe(keyStart)}`);
  return done(key, false, word);
}

interface Resolved<R> {
  kind: KeyKind;
  key: string;
  rule: R;
}

function resolve<R>(g: Grammar, vocab: Vocabulary<R>, id: RawIdentifier, fail: Fail, purpose: string): Resolved<R> {
  let kind: KeyKind = 'attribute';
  if (id.prefix !== undefined) {
    const k = g.prefixes.get(id.prefix);
    if (k === undefined) {
      const allowed = [...g.prefixes.keys()].map((p) => `${p}.`).join(', ');
      const known = RUN_PREFIXES.has(id.prefix);
      fail(`${known ? 'prefix' : 'unknown prefix'} '${excerpt(id.prefix, 40)}.' at ${at(id.start)}` +
        `${known ? ` is not supported when searching ${g.entity}` : ''}; expected one of ${allowed}`);
    }
    kind = k;
  }
  const open = vocab.open[kind];
  if (open !== undefined) return { kind, key: id.key, rule: open };
  const closed = vocab.closed[kind];
  if (closed === undefined) {
    return fail(`${KIND_PLURAL[kind]} cannot be used in ${purpose} when searching ${g.entity} ` +
      `(${quoteToken(id.text)} at ${at(id.start)})`);
  }
  const entry = closed.get(id.key);
  if (entry === undefined) {
    const expected = [...new Set([...closed.values()].map((n) => n.key))].join(', ');
    const noun = kind === 'dataset' ? 'dataset key' : 'attribute';
    return fail(`unknown ${noun} ${quoteToken(id.key)} at ${at(id.start)}` +
      ` for ${purpose} when searching ${g.entity}; expected one of ${expected}`);
  }
  return { kind, key: entry.key, rule: entry.rule };
}

function label(r: Resolved<unknown>): string {
  return `${r.kind === 'dataset' ? 'dataset key' : r.kind} ${quoteToken(r.key)}`;
}

function readComparator(c: Cursor, id: RawIdentifier): Comparator {
  const start = c.pos;
  if (c.atEnd()) return c.fail(`missing comparator after ${quoteToken(id.text)} at ${at(start)}`);
  const op = c.match(OPERATOR);
  if (op !== undefined) {
    if (SYMBOL_COMPARATORS.has(op)) return op as Comparator;
    return c.fail(`unknown comparator ${quoteToken(op)} at ${at(start)}`);
  }
  const word = c.match(WORD);
  if (word !== undefined) {
    const upper = word.toUpperCase();
    if (upper === 'LIKE' || upper === 'ILIKE' || upper === 'IN') return upper;
    if (upper === 'NOT') {
      c.skipSpace();
      const next = c.pos;
      if (c.match(WORD)?.toUpperCase() === 'IN') return 'NOT IN';
      return c.fail(`'${word}' at ${at(start)} must be followed by IN (NOT is only supported as NOT IN); ` +
        `found ${c.describe(next)}`);
    }
    return c.fail(`unknown comparator ${quoteToken(word)} at ${at(start)}`);
  }
  // A character glued to an unquoted key is most likely part of the key (`metrics.train/loss`).
  const hint = !id.quoted && start === id.end
    ? `; quote keys that contain special characters, e.g. ${id.prefix ?? 'tags'}."my-key"`
    : '';
  return c.fail(`expected a comparator after ${quoteToken(id.text)}, found ${c.describe(start)}${hint}`);
}

function readList(c: Cursor): string[] {
  const open = c.pos;
  c.pos++;
  const items: string[] = [];
  c.skipSpace();
  if (c.peek() === ')') return c.fail(`empty list at ${at(open)}; IN needs at least one value`);
  for (;;) {
    c.skipSpace();
    const ch = c.peek();
    if (ch === "'" || ch === '"') items.push(readQuoted(c, 'string'));
    else if (c.atEnd()) return c.fail(`unterminated list starting at ${at(open)}: missing ')'`);
    else return c.fail(`expected a quoted string in the list starting at ${at(open)}, found ${c.describe()}`);
    c.skipSpace();
    const sep = c.peek();
    if (sep === ',') c.pos++;
    else if (sep === ')') {
      c.pos++;
      return items;
    } else if (c.atEnd()) return c.fail(`unterminated list starting at ${at(open)}: missing ')'`);
    else return c.fail(`expected ',' or ')' in the list starting at ${at(open)}, found ${c.describe()}`);
  }
}

function readValue(c: Cursor, field: Resolved<FieldRule>, comparator: Comparator, compPos: number): Clause['value'] {
  if (c.atEnd()) return c.fail(`missing value after '${comparator}' at ${at(compPos)}`);
  const ch = c.peek();
  if (comparator === 'IN' || comparator === 'NOT IN') {
    if (ch === '(') return readList(c);
    return c.fail(`${comparator} at ${at(compPos)} needs a list of quoted strings in parentheses, ` +
      `e.g. ('a', 'b'); found ${c.describe()}`);
  }
  if (ch === '(') {
    return c.fail(`'${comparator}' at ${at(compPos)} takes a single value, found '(' at ${at(c.pos)}; ` +
      'lists in parentheses need IN or NOT IN');
  }
  if (field.rule.value === 'number') {
    if (ch === "'" || ch === '"' || ch === '`') {
      return c.fail(`${label(field)} needs a numeric value, found quoted string ${c.describe()}; remove the quotes`);
    }
    const start = c.pos;
    const text = c.match(NUMBER);
    if (text === undefined) return c.fail(`${label(field)} needs a numeric value, found ${c.describe()}`);
    if (/[A-Za-z0-9_.'"`]/.test(c.peek())) return c.fail(`malformed number ${c.describe(start)}`);
    const n = Number(text);
    if (!Number.isFinite(n)) return c.fail(`number ${quoteToken(text)} at ${at(start)} is out of range`);
    return n;
  }
  if (ch === "'" || ch === '"') return readQuoted(c, 'string');
  return c.fail(`value for ${label(field)} must be a quoted string ('…' or "…"), found ${c.describe()}`);
}

function readClause(c: Cursor, g: Grammar, previousAnd: number | undefined): Clause {
  c.skipSpace();
  if (c.atEnd()) {
    return c.fail(previousAnd === undefined
      ? 'empty filter'
      : `trailing 'AND' at ${at(previousAnd)}: expected a clause after it`);
  }
  const ch = c.peek();
  if (ch === '(') return c.fail(`parentheses for grouping are not supported, found '(' at ${at(c.pos)}`);
  const keyword = c.peekWord().toUpperCase();
  if (keyword === 'AND') {
    return c.fail(`empty clause: found ${c.describe()} where a clause should start`);
  }
  if (keyword === 'OR') return c.fail(`${c.describe()}: OR is not supported, join clauses with AND`);
  if (keyword === 'NOT') return c.fail(`${c.describe()}: NOT is only supported as NOT IN`);
  if (ch === "'") {
    return c.fail(`expected a key, found string ${c.describe()}; quote keys with double quotes or backticks`);
  }
  if (!isIdentifierStart(ch)) return c.fail(`expected a key, found ${c.describe()}`);
  const id = readIdentifier(c);
  const field = resolve(g, g.filter, id, c.fail, 'filters');
  c.skipSpace();
  const compPos = c.pos;
  const comparator = readComparator(c, id);
  if (!field.rule.comparators.includes(comparator)) {
    c.fail(`comparator '${comparator}' at ${at(compPos)} is not allowed for ${label(field)}; ` +
      `use one of ${field.rule.comparators.join(', ')}`);
  }
  c.skipSpace();
  const value = readValue(c, field, comparator, compPos);
  return { kind: field.kind, key: field.key, comparator, value };
}

function parseFilter(g: Grammar, filter: string | undefined): Clause[] {
  if (!filter || filter.trim() === '') return [];
  const fail: Fail = (detail) => {
    throw new TrellisError('TRELLIS_SEARCH_FILTER_INVALID', { filter: excerpt(filter), detail });
  };
  if (filter.length > LIMITS.filterLength) fail(`parameter 'filter' is ${filter.length} characters long; the limit is ${LIMITS.filterLength}`);
  const c = new Cursor(filter, 'filter', fail);
  const clauses: Clause[] = [];
  let previousAnd: number | undefined;
  let inValues = 0;
  for (;;) {
    const clause = readClause(c, g, previousAnd);
    clauses.push(clause);
    if (clauses.length > LIMITS.filterClauses) fail(`parameter 'filter' has more than ${LIMITS.filterClauses} clauses, the limit`);
    if (Array.isArray(clause.value)) inValues += clause.value.length;
    if (inValues > LIMITS.filterInValues) fail(`the IN lists of parameter 'filter' hold more than ${LIMITS.filterInValues} values in all, the limit`);
    c.skipSpace();
    if (c.atEnd()) return clauses;
    const pos = c.pos;
    const word = c.match(WORD)?.toUpperCase();
    if (word === 'AND') {
      previousAnd = pos;
      continue;
    }
    if (word === 'OR') fail(`${c.describe(pos)}: OR is not supported, join clauses with AND`);
    if (c.src[pos] === ')') fail(`unexpected ')' at ${at(pos)}: parentheses for grouping are not supported`);
    fail(`expected AND or the end of the filter, found ${c.describe(pos)}`);
  }
}

function parseOrderBy(g: Grammar, orderBy: string[] | undefined): OrderKey[] {
  if (!orderBy) return [];
  if (!Array.isArray(orderBy)) throw invalid(`Invalid value ${excerpt(orderBy)} for parameter 'order_by': expected a list of '<key> [ASC|DESC]' clauses`);
  checkListLength('order_by', orderBy.length, LIMITS.orderByKeys);
  return orderBy.map((clause): OrderKey => {
    const fail: Fail = (detail) => {
      throw new TrellisError('TRELLIS_ORDER_BY_INVALID', { clause: excerpt(String(clause)), detail });
    };
    // Request bodies are JSON, so the declared type is not a guarantee.
    if (typeof clause !== 'string') fail(`expected a string, got ${typeof clause}`);
    const c = new Cursor(clause, 'clause', fail);
    c.skipSpace();
    if (c.atEnd()) fail("empty clause; expected '<key> [ASC|DESC]'");
    if (!isIdentifierStart(c.peek())) fail(`expected a key, found ${c.describe()}`);
    const id = readIdentifier(c);
    const field = resolve(g, g.order, id, fail, 'order_by');
    c.skipSpace();
    let ascending = true;
    if (!c.atEnd()) {
      const pos = c.pos;
      const dir = c.match(WORD)?.toUpperCase();
      if (dir === 'DESC') ascending = false;
      else if (dir !== 'ASC') fail(`expected ASC or DESC after ${quoteToken(id.text)}, found ${c.describe(pos)}`);
      c.skipSpace();
      if (!c.atEnd()) fail(`unexpected ${c.describe()} after the direction; expected '<key> [ASC|DESC]'`);
    }
    return { kind: field.kind, key: field.key, ascending };
  });
}

/** Parses a SearchRuns `filter`; empty or absent matches everything (`[]`). */
export function parseRunFilter(filter: string | undefined): Clause[] {
  return parseFilter(RUNS, filter);
}

/** Parses SearchRuns `order_by` entries (`<key> [ASC|DESC]`); keys may be metrics, params, tags or attributes. */
export function parseRunOrderBy(orderBy: string[] | undefined): OrderKey[] {
  return parseOrderBy(RUNS, orderBy);
}

/** Parses a SearchExperiments `filter`: `name`, `creation_time`, `last_update_time` and `tags.<key>`. */
export function parseExperimentFilter(filter: string | undefined): Clause[] {
  return parseFilter(EXPERIMENTS, filter);
}

/** Parses SearchExperiments `order_by`: `name`, `experiment_id`, `creation_time`, `last_update_time`. */
export function parseExperimentOrderBy(orderBy: string[] | undefined): OrderKey[] {
  return parseOrderBy(EXPERIMENTS, orderBy);
}

/** Parses a SearchRegisteredModels `filter`: `name` and `tags.<key>`. */
export function parseModelFilter(filter: string | undefined): Clause[] {
  return parseFilter(MODELS, filter);
}

/** Parses SearchRegisteredModels `order_by`; `timestamp` is read as `last_updated_timestamp`. */
export function parseModelOrderBy(orderBy: string[] | undefined): OrderKey[] {
  return parseOrderBy(MODELS, orderBy);
}

/** Parses a SearchModelVersions `filter`: `name`, `version_number`, `run_id`, `source_path`, `tags.<key>`. */
export function parseModelVersionFilter(filter: string | undefined): Clause[] {
  return parseFilter(MODEL_VERSIONS, filter);
}

/** Parses SearchModelVersions `order_by`: `name`, `version_number`, `creation_timestamp`, `last_updated_timestamp`. */
export function parseModelVersionOrderBy(orderBy: string[] | undefined): OrderKey[] {
  return parseOrderBy(MODEL_VERSIONS, orderBy);
}
