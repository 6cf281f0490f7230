/**
 * Turns parsed search clauses into SQL over the metadata tables.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import type { Clause, OrderKey } from '../search-types.js';
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
  conds: Sql;
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
}

/**
 * Plans a run search. When the first order key is a metric, param or tag, the query is driven from
 * that key's (key, value) index so a LIMIT stops after the first matching rows instead of sorting
 * every match; runs without the key come after, as in MLflow, from a second part. Filters on
 * metrics, params and tags are inner joins, so a run that lacks the key never matches.
 */
export function planRunSearch(d: SqlDialect, q: RunSearchInput): RunSearchPart[] {
  const joins: Join[] = [];
  const where = new Sql();
  const base = () => {
    const w = new Sql().add(`r.experiment_id IN (${q.experimentIds.map(() => '?').join(',')})`, ...q.experimentIds);
    return w.add(` AND ${q.viewWhere}`);
  };
  q.filter.forEach((c, i) => {
    const a = `f${i}`;
    const table = KEYED_TABLES[c.kind];
    if (table) {
      const conds = new Sql().add(`${a}.run_uuid = {run} AND ${a}.key = ?`, c.key);
      if (c.kind === 'metric') conds.add(` AND ${a}.is_nan = 0`);
      const cmp: SqlValue[] = [];
      conds.add(` AND ${compare(d, `${a}.value`, c, cmp)}`, ...cmp);
      joins.push({ table, alias: a, conds });
    } else if (c.kind === 'attribute') {
      const col = RUN_ATTRIBUTES[c.key];
      if (!col) throw invalid(`Invalid attribute key '${c.key}' in filter`);
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
        throw invalid(`Invalid dataset key '${c.key}' in filter`);
      }
      where.add(` AND EXISTS (SELECT 1 FROM run_inputs ${a} WHERE ${a}.run_uuid = r.run_uuid AND ${cond})`, ...cmp);
    }
  });

  const first = q.orderBy[0];
  const firstTable = first ? KEYED_TABLES[first.kind] : undefined;
  const rest = firstTable ? q.orderBy.slice(1) : q.orderBy;
  const order = orderSql(rest);

  // Filter joins name the run they belong to as {run}: the runs table, or the driving index row
  // when the filters are probed before the runs table is read.
  const on = (j: Join, run: string) => j.conds.text.replaceAll('{run}', run);
  const assemble = (from: Sql, forced: boolean, extraWhere: Sql, leading: string | null): RunSearchPart => {
    const body = new Sql().add(from.text, ...from.params);
    for (const j of joins) {
      if (forced) body.add(` CROSS JOIN ${j.table} ${j.alias}`);
      else body.add(` JOIN ${j.table} ${j.alias} ON `).add(on(j, 'r.run_uuid'), ...j.conds.params);
    }
    if (forced) body.add(' CROSS JOIN runs r');
    body.add(order.joins.text, ...order.joins.params);
    const w = new Sql().add(' WHERE ').add(extraWhere.text, ...extraWhere.params);
    const b = base();
    w.add(w.text === ' WHERE ' ? '' : ' AND ').add(b.text, ...b.params).add(where.text, ...where.params);
    if (forced) for (const j of joins) w.add(' AND ').add(on(j, 'o.run_uuid'), ...j.conds.params);
    const orderBy = [leading, order.order, 'r.start_time DESC', 'r.run_uuid ASC'].filter(Boolean).join(', ');
    const sql = new Sql().add('SELECT r.* ').add(body.text, ...body.params).add(w.text, ...w.params).add(` ORDER BY ${orderBy}`);
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
    new Sql().add(`o.key = ? AND ${hasValue} AND r.run_uuid = o.run_uuid`, first.key),
    `o.value ${first.ascending ? 'ASC' : 'DESC'}`,
  );
  const withoutKey = assemble(
    new Sql().add('FROM runs r'),
    false,
    new Sql().add(`NOT EXISTS (SELECT 1 FROM ${firstTable} o WHERE o.run_uuid = r.run_uuid AND o.key = ? AND ${hasValue})`, first.key),
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
      joins.add(` LEFT JOIN ${table} ${a} ON ${a}.run_uuid = r.run_uuid AND ${a}.key = ?${o.kind === 'metric' ? ` AND ${a}.is_nan = 0` : ''}`, o.key);
      expr = `${a}.value`;
    } else if (o.kind === 'attribute') {
      const col = RUN_ATTRIBUTES[o.key];
      if (!col) throw new TrellisError('TRELLIS_ORDER_BY_INVALID', { clause: o.key, detail: 'unknown attribute' });
      expr = col;
    } else {
      throw new TrellisError('TRELLIS_ORDER_BY_INVALID', { clause: o.key, detail: 'datasets cannot be ordered by' });
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
      if (!col) throw invalid(`Invalid attribute key '${c.key}' in filter`);
      where.push(compare(d, col, c, params));
    }
  });
  return { where, params };
}

export function simpleOrderSql(orderBy: readonly OrderKey[], columns: Record<string, string>, tiebreak: string): string {
  const parts = orderBy.map((o) => {
    const col = columns[o.key];
    if (!col || o.kind === 'tag') {
      throw new TrellisError('TRELLIS_ORDER_BY_INVALID', { clause: o.key, detail: 'unsupported order key' });
    }
    return `${col} ${o.ascending ? 'ASC' : 'DESC'}`;
  });
  parts.push(tiebreak);
  return parts.join(', ');
}

export function encodePageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

export function decodePageToken(token: string | undefined): number {
  if (!token) return 0;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
  } catch {
    throw new TrellisError('TRELLIS_PAGE_TOKEN_INVALID', { detail: 'not a token this server issued' });
  }
  const offset = (parsed as { offset?: unknown })?.offset;
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw new TrellisError('TRELLIS_PAGE_TOKEN_INVALID', { detail: 'the token has no valid offset' });
  }
  return offset;
}
