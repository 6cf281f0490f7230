/**
 * A run's latest metrics, params and tags, kept as JSON text in `run_data` beside the rows they
 * are built from (migration 7). A page of a thousand runs then reads a thousand rows instead of
 * aggregating twenty thousand: building the JSON was most of a search's time. The texts are the
 * arrays of {@link EncodedRun} (`{key, value, timestamp, step}` with NaN and the infinities as
 * strings; `{key, value}`), in key order.
 *
 * Every write that changes a run's latest metrics, params or tags rewrites the matching text in
 * the same transaction ({@link refreshRunData}), so a reader never sees the two disagree. Changing
 * the texts' form needs a migration that rebuilds them: migration 7 builds them with this module.
 */
import type { EncodedRun } from '../ports/tracking.js';
import { text } from './rows.js';
import type { JsonField, Row, SqlDialect, SqlExecutor } from './sql-driver.js';

export type RunDataPart = 'metrics' | 'params' | 'tags';

const KEY_VALUE: readonly JsonField[] = [{ name: 'key', expr: 'x.key' }, { name: 'value', expr: 'x.value' }];

const PARTS: Record<RunDataPart, { table: string; fields: readonly JsonField[] }> = {
  metrics: {
    table: 'latest_metrics',
    fields: [{ name: 'key', expr: 'x.key' }, { name: 'value', expr: 'x.value', nanFlag: 'x.is_nan' }, { name: 'timestamp', expr: 'x.timestamp' }, { name: 'step', expr: 'x.step' }],
  },
  params: { table: 'params', fields: KEY_VALUE },
  tags: { table: 'tags', fields: KEY_VALUE },
};

/**
 * The text of one part of the run whose key is `runKey` (an SQL expression), read from its rows.
 * Key columns are binary-collated, so the primary key's order is the keys' and neither database
 * sorts.
 */
export function runDataText(d: SqlDialect, part: RunDataPart, runKey: string): string {
  const { table, fields } = PARTS[part];
  return `(SELECT ${d.jsonObjects(fields)} FROM (SELECT * FROM ${table} x WHERE x.run_key = ${runKey} ORDER BY x.key) x)`;
}

/** Rewrites the texts of `parts` of one run from its rows; inside the transaction that changed them. */
export async function refreshRunData(tx: SqlExecutor, d: SqlDialect, runKey: number, parts: ReadonlySet<RunDataPart>): Promise<void> {
  if (!parts.size) return;
  const sets = [...parts].map((p) => `${p}_json = ${runDataText(d, p, '?')}`);
  await tx.run(`UPDATE run_data SET ${sets.join(', ')} WHERE run_key = ?`, [...[...parts].map(() => runKey), runKey]);
}

/** The row of a new run, which has logged nothing yet but its tags. */
export async function insertRunData(tx: SqlExecutor, d: SqlDialect, runKey: number): Promise<void> {
  await tx.run(`INSERT INTO run_data (run_key, metrics_json, params_json, tags_json) VALUES (?, '[]', '[]', ${runDataText(d, 'tags', '?')})`, [runKey, runKey]);
}

/** Migration 7: the table, filled for every run. */
export function runDataMigrationSql(d: SqlDialect): string {
  const t = d.types;
  return [
    `CREATE TABLE run_data (
  run_key ${t.bigint} PRIMARY KEY REFERENCES runs(run_key),
  metrics_json ${t.text} NOT NULL,
  params_json ${t.text} NOT NULL,
  tags_json ${t.text} NOT NULL
)`,
    `INSERT INTO run_data (run_key, metrics_json, params_json, tags_json)
  SELECT r.run_key, ${runDataText(d, 'metrics', 'r.run_key')}, ${runDataText(d, 'params', 'r.run_key')}, ${runDataText(d, 'tags', 'r.run_key')} FROM runs r`,
  ].join(';\n');
}

/** The data of an {@link EncodedRun} from a row that selected `run_data`'s texts. */
export function encodedData(row: Row): EncodedRun['data'] {
  return { metrics: text(row.metrics_json), params: text(row.params_json), tags: text(row.tags_json) };
}
