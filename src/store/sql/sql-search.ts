/**
 * Turns parsed search clauses into SQL over the metadata tables.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import { excerpt } from '../limits.js';
import type { Clause, OrderKey } from '../search-types.js';
import { pageTokens } from './page-tokens.js';
import type { SqlDialect, SqlValue } from './sql-driver.js';

/** `expr <comparator> ?` for one clause value; pushes the bound values. */
export function compare(d: SqlDialect, expr: string, c: Clause, out: SqlValue[]): string {
  switch (c.comparator) {
    case 'LIKE':
      out.push(d.likePattern(String(c.value)));
      return d.like(expr);
    case 'ILIKE':
      out.push(String(c.value));
      return d.ilike(expr);
    case 'IN':
    case 'NOT IN': {
      const list = Array.isArray(c.value) ? c.value : [String(c.value)];
      if (list.length === 0) return c.comparator === 'IN' ? '1=0' : '1=1';
      out.push(...list);
      return `${expr} ${c.comparator} (${list.map(() => '?').join(',')})`;
    }
    default:
      out.push(c.value as SqlValue);
      return `${expr} ${c.comparator} ?`;
  }
}

const RUN_ATTRIBUTES: Record<string, string> = {
  run_id: 'r.run_uuid',
  run_name: 'r.name',
  status: 'r.status',
  user_id: 'r.user_id',
  artifact_uri: 'r.artifact_uri',
  start_time: 'r.start_time',
  end_time: 'r.end_time',
  lifecycle_stage: 'r.lifecycle_stage',
};

const KEYED_TABLES: Partial<Record<Clause['kind'], string>> = { metric: 'latest_metrics', param: 'params', tag: 'tags' };

/** SQL text and its bound values, built together so the two can never fall out of step. */
export class Sql {
  text = '';
  params: SqlValue[] = [];
  add(text: string, ...params: SqlValue[]): this {
    this.text += text;
    this.params.push(...params);
    return this;
  }
}

interface Join {
  table: string;
  alias: string;
  /** The clause on the joined row itself (key, NaN flag, value), without the run it belongs to. */
  match: Sql;
}

/** One ordered segment of a search; the result is the segments concatenated. */
export interface RunSearchPart {
  /** The query without LIMIT/OFFSET. */
  sql: Sql;
  /** Counts the rows of this part (used to page across into the next part). */
  count: Sql;
}

export interface RunSearchInput {
  experimentIds: number[];
  viewWhere: string;
  filter: readonly Clause[];
  orderBy: readonly OrderKey[];
  /** Positions in `filter` of the clauses to read once as a set of runs ({@link runSearchSetCandidates}). */
  sets?: ReadonlySet<number>;
  /** What each part selects of the run `r` (its key by default). */
  select?: string;
}

/** Tables whose `(key, value)` index finds a clause's matching runs without visiting other keys. */
const SET_TABLES: Partial<Record<Clause['kind'], string>> = { metric: 'latest_metrics', param: 'params' };

/**
 * The filter clauses of a search driven from its order key's index that could instead be read
 * once, as the set of runs they match, each with the statement that counts its matches up to a
 * bound cap (the caller appends the cap). Walking the order key's index, a search checks every
 * run it passes against each filter: with 10% of runs matching, a page of 1,000 checks 10,000
 * runs, one index probe each. A clause that matches few runs compared with the rows wanted is
 * cheaper read once from its own index into a hashed set that the walk tests in memory; one that
 * matches many is cheaper probed, as the walk then stops early. Counting up to the cap tells them
 * apart at the cost of at most `cap` index entries.
 */
export function runSearchSetCandidates(d: SqlDialect, q: Pick<RunSearchInput, 'filter' | 'orderBy'>): { index: number; count: Sql }[] {
  const first = q.orderBy[0];
  if (!first || !KEYED_TABLES[first.kind]) return [];
  const out: { index: number; count: Sql }[] = [];
  q.filter.forEach((c, i) => {
    const table = SET_TABLES[c.kind];
    if (!table) return;
    const m = matchSql(d, c, 'x');
    out.push({ index: i, count: new Sql().add(`SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM ${table} x WHERE `).add(m.text, ...m.params).add(' LIMIT ?) t') });
  });
  return out;
}

/** A metric, param or tag clause on the row `a` of its table. */
function matchSql(d: SqlDialect, c: Clause, a: string): Sql {
  const match = new Sql().add(`${a}.key = ?`, c.key);
  if (c.kind === 'metric') match.add(` AND ${a}.is_nan = 0`);
  if (c.kind === 'param' && d.name === 'postgres') {
    const prefix = paramPrefixMatch(c, a);
    if (prefix) {
      match.add(` AND ${prefix.sql.text}`, ...prefix.sql.params);
      if (prefix.exact) return match;
    }
  }
  const cmp: SqlValue[] = [];
  return match.add(` AND ${compare(d, `${a}.value`, c, cmp)}`, ...cmp);
}

/**
 * How many leading characters of a param's value PostgreSQL's params keep in `value_prefix`, the
 * column its indexes hold instead of the value (a b-tree entry is at most 2,704 bytes; a value may
 * be 6,000). 200 characters are at most 800 bytes of UTF-8, beside a key of at most 250 characters.
 */
export const PARAM_PREFIX = 200;

/**
 * The condition on the indexed prefix that a param clause implies, so PostgreSQL can use the
 * index. Values compare in code-point order, so `v > x` implies `left(v, n) >= left(x, n)`, and
 * so on; when the value compared with is shorter than the prefix the condition on the prefix is
 * the clause itself (`left(v, n) > x` exactly when `v > x`), `exact`, and the index answers alone.
 * Otherwise the clause is still applied to the whole value.
 */
function paramPrefixMatch(c: Clause, a: string): { sql: Sql; exact: boolean } | undefined {
  const col = `${a}.value_prefix`;
  // A JavaScript string's length counts UTF-16 units, never fewer than its characters.
  const short = (v: string) => v.length < PARAM_PREFIX;
  const one = (op: string, exactOp: string) => {
    const v = String(c.value);
    return short(v) ? { sql: new Sql().add(`${col} ${exactOp} ?`, v), exact: true } : { sql: new Sql().add(`${col} ${op} left(?, ${PARAM_PREFIX})`, v), exact: false };
  };
  switch (c.comparator) {
    case '=':
      return one('=', '=');
    case '>':
      return one('>=', '>');
    case '>=':
      return one('>=', '>=');
    case '<':
      return one('<=', '<');
    case '<=':
      return one('<=', '<=');
    case 'IN': {
      const list = Array.isArray(c.value) ? c.value.map(String) : [String(c.value)];
      if (!list.length) return undefined;
      return { sql: new Sql().add(`${col} IN (${list.map(() => `left(?, ${PARAM_PREFIX})`).join(',')})`, ...list), exact: list.every(short) };
    }
    default:
      return undefined;
  }
}

/**
 * Plans a run search. When the first order key is a metric, param or tag, the query is driven from
 * that key's (key, value) index so a LIMIT stops after the first matching rows instead of sorting
 * every match; runs without the key come after, as in MLflow, from a second part. Filters on
 * metrics, params and tags are inner joins (or, in the driven part, membership of the set of runs
 * they match: `sets`), so a run that lacks the key never matches. The parts select `q.select` of the run.
 */
export function planRunSearch(d: SqlDialect, q: RunSearchInput): RunSearchPart[] {
  const joins: Join[] = [];
  const sets: Join[] = [];
  const where = new Sql();
  const base = () => {
    const w = new Sql().add(`r.experiment_id IN (${q.experimentIds.map(() => '?').join(',')})`, ...q.experimentIds);
    return w.add(` AND ${q.viewWhere}`);
  };
  q.filter.forEach((c, i) => {
    const a = `f${i}`;
    const table = KEYED_TABLES[c.kind];
    if (table) {
      (q.sets?.has(i) ? sets : joins).push({ table, alias: a, match: matchSql(d, c, a) });
    } else if (c.kind === 'attribute') {
      const col = RUN_ATTRIBUTES[c.key];
      if (!col) throw invalid(`Invalid attribute key '${excerpt(c.key)}' in filter`);
      const cmp: SqlValue[] = [];
      where.add(` AND ${compare(d, col, c, cmp)}`, ...cmp);
    } else {
      const cmp: SqlValue[] = [];
      let cond: string;
      if (c.key === 'context') {
        // The context lives in the input's tags (mlflow.data.context): match inside the JSON.
        const pattern = `%"mlflow.data.context":${JSON.stringify(String(c.value))}%`;
        cond = compare(d, `${a}.tags_json`, { ...c, comparator: c.comparator === '!=' ? 'LIKE' : c.comparator === 'ILIKE' ? 'ILIKE' : 'LIKE', value: pattern }, cmp);
        if (c.comparator === '!=') cond = `NOT (${cond})`;
      } else if (c.key === 'name' || c.key === 'digest') {
        cond = compare(d, `${a}.${c.key}`, c, cmp);
      } else {
        throw invalid(`Invalid dataset key '${excerpt(c.key)}' in filter`);
      }
      where.add(` AND EXISTS (SELECT 1 FROM run_inputs ${a} WHERE ${a}.run_key = r.run_key AND ${cond})`, ...cmp);
    }
  });

  const first = q.orderBy[0];
  const firstTable = first ? KEYED_TABLES[first.kind] : undefined;
  const rest = firstTable ? q.orderBy.slice(1) : q.orderBy;
  const order = orderSql(rest);

  // A filter join names the run it belongs to: the runs table, or the driving index row when the
  // filters are probed before the runs table is read.
  const on = (j: Join, run: string) => new Sql().add(`${j.alias}.run_key = ${run} AND `).add(j.match.text, ...j.match.params);
  const assemble = (from: Sql, forced: boolean, extraWhere: Sql, leading: string | null): RunSearchPart => {
    const body = new Sql().add(from.text, ...from.params);
    for (const j of forced ? joins : [...joins, ...sets]) {
      if (forced) body.add(` CROSS JOIN ${j.table} ${j.alias}`);
      else body.add(` JOIN ${j.table} ${j.alias} ON `).add(on(j, 'r.run_key').text, ...on(j, 'r.run_key').params);
    }
    if (forced) body.add(' CROSS JOIN runs r');
    body.add(order.joins.text, ...order.joins.params);
    const w = new Sql().add(' WHERE ').add(extraWhere.text, ...extraWhere.params);
    const b = base();
    w.add(w.text === ' WHERE ' ? '' : ' AND ').add(b.text, ...b.params).add(where.text, ...where.params);
    if (forced) {
      for (const j of joins) w.add(' AND ').add(on(j, 'o.run_key').text, ...on(j, 'o.run_key').params);
      // Inside COALESCE the IN is not a join either planner could turn around: PostgreSQL keeps it
      // as one hashed subplan, SQLite as one ephemeral index with a Bloom filter, both built once
      // and tested for each row of the walk.
      for (const j of sets) {
        w.add(` AND COALESCE(o.run_key IN (SELECT ${j.alias}.run_key FROM ${j.table} ${j.alias} WHERE `).add(j.match.text, ...j.match.params).add('), false)');
      }
    }
    const orderBy = [leading, order.order, 'r.start_time DESC', 'r.run_uuid ASC'].filter(Boolean).join(', ');
    const sql = new Sql().add(`SELECT ${q.select ?? 'r.run_key'} `).add(body.text, ...body.params).add(w.text, ...w.params).add(` ORDER BY ${orderBy}`);
    const count = new Sql().add('SELECT COUNT(*) AS n ').add(body.text, ...body.params).add(w.text, ...w.params);
    return { sql, count };
  };

  if (!first || !firstTable) return [assemble(new Sql().add('FROM runs r'), false, new Sql(), null)];

  // SQLite's CROSS JOIN keeps the written join order: the order-by index outermost, then the
  // filters, then the runs table, so only matching rows cost a run lookup. PostgreSQL's planner
  // reorders inner joins freely, so the same text is right for both.
  const hasValue = first.kind === 'metric' ? 'o.is_nan = 0' : '1=1';
  const withKey = assemble(
    new Sql().add(`FROM ${firstTable} o`),
    true,
    new Sql().add(`o.key = ? AND ${hasValue} AND r.run_key = o.run_key`, first.key),
    // On PostgreSQL a param's index holds a prefix of its value: ordered by the prefix, then (ties
    // of the prefix only) by the value, which is the value's own order.
    [...(first.kind === 'param' && d.name === 'postgres' ? ['o.value_prefix'] : []), 'o.value']
      .map((e) => `${e} ${first.ascending ? 'ASC' : 'DESC'}`).join(', '),
  );
  const withoutKey = assemble(
    new Sql().add('FROM runs r'),
    false,
    new Sql().add(`NOT EXISTS (SELECT 1 FROM ${firstTable} o WHERE o.run_key = r.run_key AND o.key = ? AND ${hasValue})`, first.key),
    null,
  );
  return [withKey, withoutKey];
}

/** ORDER BY terms after the leading one: missing keys sort last in either direction. */
function orderSql(orderBy: readonly OrderKey[]): { joins: Sql; order: string } {
  const joins = new Sql();
  const parts: string[] = [];
  orderBy.forEach((o, i) => {
    const a = `o${i}`;
    const dir = o.ascending ? 'ASC' : 'DESC';
    let expr: string;
    const table = KEYED_TABLES[o.kind];
    if (table) {
      // A NaN metric sorts with the runs that lack the key.
      joins.add(` LEFT JOIN ${table} ${a} ON ${a}.run_key = r.run_key AND ${a}.key = ?${o.kind === 'metric' ? ` AND ${a}.is_nan = 0` : ''}`, o.key);
      expr = `${a}.value`;
    } else if (o.kind === 'attribute') {
      const col = RUN_ATTRIBUTES[o.key];
      if (!col) throw new TrellisError('TRELLIS_ORDER_BY_INVALID', { clause: excerpt(o.key), detail: 'unknown attribute' });
      expr = col;
    } else {
      throw new TrellisError('TRELLIS_ORDER_BY_INVALID', { clause: excerpt(o.key), detail: 'datasets cannot be ordered by' });
    }
    parts.push(`(${expr} IS NULL) ASC`, `${expr} ${dir}`);
  });
  return { joins, order: parts.join(', ') };
}

/** WHERE/ORDER for the simpler entities (experiments, models, versions) over a fixed column map. */
export function simpleFilterSql(
  d: SqlDialect,
  clauses: readonly Clause[],
  columns: Record<string, string>,
  tagJoin: (alias: string) => string,
): { where: string[]; params: SqlValue[] } {
  const where: string[] = [];
  const params: SqlValue[] = [];
  clauses.forEach((c, i) => {
    if (c.kind === 'tag') {
      const a = `t${i}`;
      params.push(c.key);
      where.push(`EXISTS (SELECT 1 FROM ${tagJoin(a)} AND ${a}.key = ? AND ${compare(d, `${a}.value`, c, params)})`);
    } else {
      const col = columns[c.key];
      if (!col) throw invalid(`Invalid attribute key '${excerpt(c.key)}' in filter`);
      where.push(compare(d, col, c, params));
    }
  });
  return { where, params };
}

export function simpleOrderSql(orderBy: readonly OrderKey[], columns: Record<string, string>, tiebreak: string): string {
  const parts = orderBy.map((o) => {
    const col = columns[o.key];
    if (!col || o.kind === 'tag') {
      throw new TrellisError('TRELLIS_ORDER_BY_INVALID', { clause: excerpt(o.key), detail: 'unsupported order key' });
    }
    return `${col} ${o.ascending ? 'ASC' : 'DESC'}`;
  });
  parts.push(tiebreak);
  return parts.join(', ');
}

/** A signed token for the page that starts at `offset` (see `page-tokens.ts`). */
export function encodePageToken(offset: number): string {
  return pageTokens().encode(offset);
}

/** The offset of a page token this server signed; 0 for none. Refuses an altered or foreign token. */
export function decodePageToken(token: string | undefined): number {
  return pageTokens().decode(token);
}
