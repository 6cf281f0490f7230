/**
 * Migration 6: runs get an integer key. Until schema 5 every row a run logs (metric points, latest
 * metrics, params, tags, dataset inputs) named its run by the 32-character `run_uuid`, so each of
 * the millions of index entries a search probes carried that text, and PostgreSQL's indexes grew
 * past its default buffer cache. Runs now carry `run_key`, an integer the database assigns, and
 * those tables refer to it; `run_uuid` stays the run's public id (unique, and how every caller
 * names a run). Their `key` columns become binary-collated (`types.key`), so that a run's data
 * reads in code-point order of its keys straight from the primary key on both databases. The
 * tags' primary key no longer carries the value, which PostgreSQL refused past 2,704 bytes.
 *
 * The tables are rewritten inside the migration's one transaction: new ones are filled from the
 * old, the old dropped, the new renamed. Keys are assigned in `run_uuid` order, so each child
 * table is read and written in the order of its new primary key. No statement holds a `;` (the
 * migration runner splits on it).
 */
import type { SqlDialect } from './sql-driver.js';

type Types = SqlDialect['types'];

interface Child {
  name: string;
  /** The columns after `run_key`. */
  columns: (t: Types) => string;
  primaryKey: (t: Types) => string;
  clustered: boolean;
}

const CHILDREN: readonly Child[] = [
  {
    name: 'params',
    columns: (t) => `key ${t.key} NOT NULL, value ${t.text} NOT NULL`,
    primaryKey: (t) => `PRIMARY KEY (run_key, key)${t.include('value')}`,
    clustered: true,
  },
  {
    name: 'tags',
    columns: (t) => `key ${t.key} NOT NULL, value ${t.text} NOT NULL`,
    primaryKey: () => 'PRIMARY KEY (run_key, key)',
    clustered: true,
  },
  {
    name: 'metrics',
    columns: (t) => `key ${t.key} NOT NULL, value ${t.double} NOT NULL, is_nan ${t.bigint} NOT NULL DEFAULT 0, timestamp ${t.bigint} NOT NULL, step ${t.bigint} NOT NULL DEFAULT 0`,
    primaryKey: () => 'PRIMARY KEY (run_key, key, step, timestamp, value, is_nan)',
    clustered: true,
  },
  {
    name: 'latest_metrics',
    columns: (t) => `key ${t.key} NOT NULL, value ${t.double} NOT NULL, is_nan ${t.bigint} NOT NULL DEFAULT 0, timestamp ${t.bigint} NOT NULL, step ${t.bigint} NOT NULL`,
    primaryKey: (t) => `PRIMARY KEY (run_key, key)${t.include('value, is_nan')}`,
    clustered: true,
  },
  {
    name: 'run_inputs',
    columns: (t) => `name ${t.text} NOT NULL, digest ${t.text} NOT NULL, source_type ${t.text} NOT NULL, source ${t.text} NOT NULL, schema_json ${t.text}, profile_json ${t.text}, tags_json ${t.text} NOT NULL DEFAULT '{}'`,
    primaryKey: () => 'PRIMARY KEY (run_key, name, digest)',
    clustered: false,
  },
];

const RUN_COLUMNS = 'run_uuid, name, experiment_id, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage, deleted_time, deleted_with_experiment';

/** The column names of a column list (`name TYPE …, name TYPE …`). */
const names = (columns: string) => columns.split(', ').map((c) => c.split(' ')[0]!);

export function runKeysSql(d: SqlDialect): string {
  const t = d.types;
  const late = d.constrainAfterLoad;
  const out: string[] = [`
CREATE TABLE runs_v6 (
  run_key ${t.autoId},
  run_uuid ${t.text} NOT NULL${late ? '' : ' UNIQUE'},
  name ${t.text} NOT NULL,
  experiment_id ${t.bigint} NOT NULL${late ? '' : ' REFERENCES experiments(experiment_id)'},
  user_id ${t.text} NOT NULL,
  status ${t.text} NOT NULL,
  start_time ${t.bigint} NOT NULL,
  end_time ${t.bigint},
  artifact_uri ${t.text} NOT NULL,
  lifecycle_stage ${t.text} NOT NULL DEFAULT 'active',
  deleted_time ${t.bigint},
  deleted_with_experiment ${t.bigint} NOT NULL DEFAULT 0
)`,
  `INSERT INTO runs_v6 (${RUN_COLUMNS}) SELECT ${RUN_COLUMNS} FROM runs ORDER BY run_uuid`];
  for (const c of CHILDREN) {
    const columns = c.columns(t);
    out.push(late
      ? `CREATE TABLE ${c.name}_v6 (run_key ${t.bigint} NOT NULL, ${columns})`
      : `CREATE TABLE ${c.name}_v6 (run_key ${t.bigint} NOT NULL REFERENCES runs_v6(run_key), ${columns}, ${c.primaryKey(t)})${c.clustered ? t.clustered : ''}`);
    const copy = names(columns);
    out.push(`INSERT INTO ${c.name}_v6 (run_key, ${copy.join(', ')}) SELECT r.run_key, ${copy.map((x) => `o.${x}`).join(', ')}
      FROM runs_v6 r JOIN ${c.name} o ON o.run_uuid = r.run_uuid${late ? '' : ' ORDER BY r.run_uuid'}`);
  }
  // Children first: a run still referred to cannot be dropped.
  for (const c of CHILDREN) out.push(`DROP TABLE ${c.name}`);
  out.push('DROP TABLE runs', 'ALTER TABLE runs_v6 RENAME TO runs');
  for (const c of CHILDREN) out.push(`ALTER TABLE ${c.name}_v6 RENAME TO ${c.name}`);
  if (late) {
    out.push('ALTER TABLE runs ADD UNIQUE (run_uuid), ADD FOREIGN KEY (experiment_id) REFERENCES experiments(experiment_id)');
    for (const c of CHILDREN) out.push(`ALTER TABLE ${c.name} ADD ${c.primaryKey(t)}, ADD FOREIGN KEY (run_key) REFERENCES runs(run_key)`);
  }
  out.push(
    'CREATE INDEX runs_by_experiment ON runs (experiment_id, lifecycle_stage, start_time)',
    `CREATE INDEX params_by_key ON params (key, value${t.covering('run_key')})`,
    `CREATE INDEX latest_metrics_by_key ON latest_metrics (key, value${t.covering('is_nan, run_key')})`,
  );
  return out.join(';\n');
}
