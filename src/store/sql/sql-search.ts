/**
 * Turns parsed search clauses into SQL over the metadata tables. Each metric/param/tag clause is an
 * inner join on (run, key), so a run that lacks the key never matches, as in MLflow.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import type { Clause, OrderKey } from '../search-types.js';
import type { SqlDialect, SqlValue } from './sql-driver.js';

export interface SqlFragment {
  joins: string[];
  where: string[];
  params: SqlValue[];
  joinParams: SqlValue[];
}

export const emptyFragment = (): SqlFragment => ({ joins: [], where: [], params: [], joinParams: [] });

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

const METRIC_VALUE = (alias: string) => `${alias}.value`;

export function runFilterSql(d: SqlDialect, clauses: readonly Clause[]): SqlFragment {
  const f = emptyFragment();
  clauses.forEach((c, i) => {
    const a = `f${i}`;
    switch (c.kind) {
      case 'metric': {
        f.joins.push(`JOIN latest_metrics ${a} ON ${a}.run_uuid = r.run_uuid AND ${a}.key = ? AND ${a}.is_nan = 0 AND ${compare(d, METRIC_VALUE(a), c, [])}`);
        f.joinParams.push(c.key);
        compare(d, METRIC_VALUE(a), c, f.joinParams);
        break;
      }
      case 'param':
      case 'tag': {
        const table = c.kind === 'param' ? 'params' : 'tags';
        f.joins.push(`JOIN ${table} ${a} ON ${a}.run_uuid = r.run_uuid AND ${a}.key = ? AND ${compare(d, `${a}.value`, c, [])}`);
        f.joinParams.push(c.key);
        compare(d, `${a}.value`, c, f.joinParams);
        break;
      }
      case 'attribute': {
        const col = RUN_ATTRIBUTES[c.key];
        if (!col) throw invalid(`Invalid attribute key '${c.key}' in filter`);
        f.where.push(compare(d, col, c, f.params));
        break;
      }
      case 'dataset': {
        const col = c.key === 'context' ? null : c.key === 'name' ? `${a}.name` : c.key === 'digest' ? `${a}.digest` : undefined;
        if (col === undefined) throw invalid(`Invalid dataset key '${c.key}' in filter`);
        if (col === null) {
          // The context lives in the input's tags (mlflow.data.context); match the JSON value.
          f.where.push(`EXISTS (SELECT 1 FROM run_inputs ${a} WHERE ${a}.run_uuid = r.run_uuid AND ${compare(d, `${a}.tags_json`, { ...c, comparator: 'LIKE', value: `%"mlflow.data.context":${JSON.stringify(String(c.value))}%` }, f.params)})`);
        } else {
          f.where.push(`EXISTS (SELECT 1 FROM run_inputs ${a} WHERE ${a}.run_uuid = r.run_uuid AND ${compare(d, col, c, f.params)})`);
        }
        break;
      }
    }
  });
  return f;
}

/** ORDER BY for runs: missing keys sort last in either direction; ties by start_time DESC, run_id. */
export function runOrderSql(orderBy: readonly OrderKey[]): { joins: string[]; params: SqlValue[]; order: string } {
  const joins: string[] = [];
  const params: SqlValue[] = [];
  const parts: string[] = [];
  orderBy.forEach((o, i) => {
    const a = `o${i}`;
    const dir = o.ascending ? 'ASC' : 'DESC';
    let expr: string;
    if (o.kind === 'metric') {
      joins.push(`LEFT JOIN latest_metrics ${a} ON ${a}.run_uuid = r.run_uuid AND ${a}.key = ?`);
      params.push(o.key);
      expr = `${a}.value`;
    } else if (o.kind === 'param' || o.kind === 'tag') {
      joins.push(`LEFT JOIN ${o.kind === 'param' ? 'params' : 'tags'} ${a} ON ${a}.run_uuid = r.run_uuid AND ${a}.key = ?`);
      params.push(o.key);
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
  parts.push('r.start_time DESC', 'r.run_uuid ASC');
  return { joins, params, order: parts.join(', ') };
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
