/**
 * The condition language of the `gate` built-in: a small, safe expression over metrics, parsed by
 * hand (no eval). Grammar, loosest binding first:
 *
 *   expr    := or
 *   or      := and ('or' and)*
 *   and     := not ('and' not)*
 *   not     := 'not' not | compare
 *   compare := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?
 *   sum     := product (('+' | '-') product)*
 *   product := unary (('*' | '/') unary)*
 *   unary   := '-' unary | atom
 *   atom    := number | name | 'champion.' name | '(' expr ')'
 *
 * `and`/`or`/`not` need booleans, arithmetic and comparisons need numbers. A term that names a
 * champion metric when there is no champion is unknown: a comparison holding one is treated as
 * passing, and the evaluation says so.
 */
import { invalid } from '../../core/errors.js';

export type GateExpr =
  | { k: 'num'; value: number }
  | { k: 'metric'; name: string; champion: boolean }
  | { k: 'neg'; e: GateExpr }
  | { k: 'arith'; op: '+' | '-' | '*' | '/'; a: GateExpr; b: GateExpr }
  | { k: 'cmp'; op: '<' | '<=' | '>' | '>=' | '==' | '!='; a: GateExpr; b: GateExpr }
  | { k: 'and' | 'or'; a: GateExpr; b: GateExpr }
  | { k: 'not'; e: GateExpr };

interface Token { t: 'num' | 'name' | 'op' | 'end'; text: string; pos: number }

const KEYWORDS = new Set(['and', 'or', 'not']);

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    const num = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) { out.push({ t: 'num', text: num[0], pos: i }); i += num[0].length; continue; }
    const name = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(src.slice(i));
    if (name) { out.push({ t: 'name', text: name[0], pos: i }); i += name[0].length; continue; }
    const op = /^(<=|>=|==|!=|&&|\|\||[<>+\-*/()])/.exec(src.slice(i));
    if (op) {
      const text = op[0] === '&&' ? 'and' : op[0] === '||' ? 'or' : op[0];
      out.push({ t: op[0].length === 2 && /&|\|/.test(op[0]) ? 'name' : 'op', text, pos: i });
      i += op[0].length;
      continue;
    }
    throw badToken(src, c, i, 'is not allowed');
  }
  out.push({ t: 'end', text: '', pos: src.length });
  return out;
}

function badToken(src: string, token: string, pos: number, why: string) {
  return invalid(`gate condition '${src}': ${token ? `'${token}'` : 'the end'} at position ${pos + 1} ${why}`);
}

/** Parses a condition; a bad one is refused with a message naming the offending token. */
export function parseGate(src: string): GateExpr {
  if (typeof src !== 'string' || !src.trim()) throw invalid('gate condition is empty: write e.g. "rmse <= 80"');
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p]!;
  const next = () => toks[p++]!;
  const isKw = (w: string) => peek().t === 'name' && peek().text === w;
  const expect = (text: string) => {
    const t = next();
    if (t.text !== text || t.t === 'name') throw badToken(src, t.text, t.pos, `found where '${text}' was expected`);
  };

  const or = (): GateExpr => {
    let a = and();
    while (isKw('or')) { next(); a = { k: 'or', a, b: and() }; }
    return a;
  };
  const and = (): GateExpr => {
    let a = not();
    while (isKw('and')) { next(); a = { k: 'and', a, b: not() }; }
    return a;
  };
  const not = (): GateExpr => {
    if (isKw('not')) { next(); return { k: 'not', e: not() }; }
    return compare();
  };
  const compare = (): GateExpr => {
    const a = sum();
    const t = peek();
    if (t.t === 'op' && ['<', '<=', '>', '>=', '==', '!='].includes(t.text)) {
      next();
      const b = sum();
      const after = peek();
      if (after.t === 'op' && ['<', '<=', '>', '>=', '==', '!='].includes(after.text)) throw badToken(src, after.text, after.pos, 'chains a comparison; join comparisons with and');
      return { k: 'cmp', op: t.text as '<', a, b };
    }
    return a;
  };
  const sum = (): GateExpr => {
    let a = product();
    while (peek().t === 'op' && (peek().text === '+' || peek().text === '-')) {
      const op = next().text as '+' | '-';
      a = { k: 'arith', op, a, b: product() };
    }
    return a;
  };
  const product = (): GateExpr => {
    let a = unary();
    while (peek().t === 'op' && (peek().text === '*' || peek().text === '/')) {
      const op = next().text as '*' | '/';
      a = { k: 'arith', op, a, b: unary() };
    }
    return a;
  };
  const unary = (): GateExpr => {
    if (peek().t === 'op' && peek().text === '-') { next(); return { k: 'neg', e: unary() }; }
    return atom();
  };
  const atom = (): GateExpr => {
    const t = next();
    if (t.t === 'num') return { k: 'num', value: Number(t.text) };
    if (t.t === 'op' && t.text === '(') {
      const e = or();
      expect(')');
      return e;
    }
    if (t.t === 'name' && !KEYWORDS.has(t.text)) {
      const parts = t.text.split('.');
      if (parts.length === 1) return { k: 'metric', name: parts[0]!, champion: false };
      if (parts.length === 2 && parts[0] === 'champion') return { k: 'metric', name: parts[1]!, champion: true };
      throw badToken(src, t.text, t.pos, "is not a metric: write a metric name or 'champion.<metric>'");
    }
    throw badToken(src, t.text, t.pos, 'found where a number, a metric or ( was expected');
  };

  const e = or();
  const end = peek();
  if (end.t !== 'end') throw badToken(src, end.text, end.pos, 'is unexpected here');
  return e;
}

export interface GateTerm { term: string; value: number | null }
export interface GateEvaluation {
  passed: boolean;
  /** The value of every metric the condition names (null for a champion metric without a champion). */
  terms: GateTerm[];
  notes: string[];
}

/** Three-valued evaluation: `undefined` is unknown (a champion term without a champion). */
type V = number | boolean | undefined;

/**
 * Evaluates a parsed condition. `champion` is undefined when no version holds the alias: champion
 * terms are then unknown and every comparison holding one passes. A metric missing from `metrics`
 * (or from an existing champion's) is an error naming it.
 */
export function evaluateGate(e: GateExpr, metrics: Record<string, number>, champion: Record<string, number> | undefined, src = ''): GateEvaluation {
  const terms = new Map<string, number | null>();
  const notes = new Set<string>();
  const ev = (x: GateExpr): V => {
    switch (x.k) {
      case 'num': return x.value;
      case 'metric': {
        const label = x.champion ? `champion.${x.name}` : x.name;
        if (x.champion && !champion) { terms.set(label, null); return undefined; }
        const source = x.champion ? champion! : metrics;
        const v = source[x.name];
        if (typeof v !== 'number') {
          throw invalid(`gate condition '${src}': metric '${label}' is not among the ${x.champion ? "champion's" : "step's"} metrics (${Object.keys(source).sort().join(', ') || 'none'})`);
        }
        terms.set(label, v);
        return v;
      }
      case 'neg': { const v = num(ev(x.e), '-'); return v === undefined ? undefined : -v; }
      case 'arith': {
        const a = num(ev(x.a), x.op);
        const b = num(ev(x.b), x.op);
        if (a === undefined || b === undefined) return undefined;
        return x.op === '+' ? a + b : x.op === '-' ? a - b : x.op === '*' ? a * b : a / b;
      }
      case 'cmp': {
        const a = num(ev(x.a), x.op);
        const b = num(ev(x.b), x.op);
        if (a === undefined || b === undefined) {
          notes.add('no champion: comparisons with champion metrics are treated as passing');
          return true;
        }
        switch (x.op) {
          case '<': return a < b;
          case '<=': return a <= b;
          case '>': return a > b;
          case '>=': return a >= b;
          case '==': return a === b;
          default: return a !== b;
        }
      }
      case 'and': { const a = bool(ev(x.a), 'and'); const b = bool(ev(x.b), 'and'); return a && b; }
      case 'or': { const a = bool(ev(x.a), 'or'); const b = bool(ev(x.b), 'or'); return a || b; }
      case 'not': return !bool(ev(x.e), 'not');
    }
  };
  const num = (v: V, op: string): number | undefined => {
    if (typeof v === 'boolean') throw invalid(`gate condition '${src}': '${op}' needs numbers, got a comparison`);
    return v;
  };
  const bool = (v: V, op: string): boolean => {
    if (typeof v !== 'boolean') throw invalid(`gate condition '${src}': '${op}' needs comparisons, got a number`);
    return v;
  };
  const r = ev(e);
  if (typeof r !== 'boolean') throw invalid(`gate condition '${src}' is a number, not a decision: compare it, e.g. '${src} <= 1'`);
  return { passed: r, terms: [...terms].map(([term, value]) => ({ term, value })), notes: [...notes] };
}
