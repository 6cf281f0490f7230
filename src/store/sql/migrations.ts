/**
 * Versioned schema migrations, applied in order and each in its own transaction. A database
 * written by an older Trellis opens and upgrades; one written by a newer Trellis is refused rather
 * than misread. Never edit a migration that has shipped: add the next one.
 */
import { TrellisError } from '../../core/errors.js';
import { convertTaggedPipelineRuns } from './pipeline-runs-conversion.js';
import { runDataMigrationSql } from './run-data.js';
import { runKeysSql } from './run-keys-migration.js';
import type { SqlDialect, SqlDriver, SqlExecutor } from './sql-driver.js';
import { PARAM_PREFIX } from './sql-search.js';

export interface Migration {
  version: number;
  description: string;
  sql: (d: SqlDialect) => string;
  /** Rewrites existing rows into the new tables, in the same transaction, after `sql` ran. */
  convert?: (tx: SqlExecutor, d: SqlDialect) => Promise<void>;
  /**
   * Rewrites whole tables: after upgrading a store that holds data, PostgreSQL's planner statistics
   * and visibility map are refreshed at once rather than when autovacuum next passes.
   */
  rewrites?: boolean;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'experiments, runs, metrics, params, tags, registry and the audit chain',
    sql: ({ types: t }) => `
CREATE TABLE experiments (
  experiment_id ${t.autoId},
  name ${t.text} NOT NULL UNIQUE,
  artifact_location ${t.text} NOT NULL,
  lifecycle_stage ${t.text} NOT NULL DEFAULT 'active',
  creation_time ${t.bigint} NOT NULL,
  last_update_time ${t.bigint} NOT NULL
);
CREATE TABLE experiment_tags (
  experiment_id ${t.bigint} NOT NULL REFERENCES experiments(experiment_id),
  key ${t.text} NOT NULL,
  value ${t.text} NOT NULL,
  PRIMARY KEY (experiment_id, key)
)${t.clustered};
CREATE TABLE runs (
  run_uuid ${t.text} PRIMARY KEY,
  name ${t.text} NOT NULL,
  experiment_id ${t.bigint} NOT NULL REFERENCES experiments(experiment_id),
  user_id ${t.text} NOT NULL,
  status ${t.text} NOT NULL,
  start_time ${t.bigint} NOT NULL,
  end_time ${t.bigint},
  artifact_uri ${t.text} NOT NULL,
  lifecycle_stage ${t.text} NOT NULL DEFAULT 'active',
  deleted_time ${t.bigint},
  deleted_with_experiment ${t.bigint} NOT NULL DEFAULT 0
)${t.clustered};
CREATE INDEX runs_by_experiment ON runs (experiment_id, lifecycle_stage, start_time);
CREATE TABLE params (
  run_uuid ${t.text} NOT NULL REFERENCES runs(run_uuid),
  key ${t.text} NOT NULL,
  value ${t.text} NOT NULL,
  PRIMARY KEY (run_uuid, key)${t.include('value')}
)${t.clustered};
CREATE INDEX params_by_key ON params (key, value${t.covering('run_uuid')});
CREATE TABLE tags (
  run_uuid ${t.text} NOT NULL REFERENCES runs(run_uuid),
  key ${t.text} NOT NULL,
  value ${t.text} NOT NULL,
  PRIMARY KEY (run_uuid, key)${t.include('value')}
)${t.clustered};
CREATE TABLE metrics (
  run_uuid ${t.text} NOT NULL REFERENCES runs(run_uuid),
  key ${t.text} NOT NULL,
  value ${t.double} NOT NULL,
  is_nan ${t.bigint} NOT NULL DEFAULT 0,
  timestamp ${t.bigint} NOT NULL,
  step ${t.bigint} NOT NULL DEFAULT 0,
  PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan)
)${t.clustered};
CREATE TABLE latest_metrics (
  run_uuid ${t.text} NOT NULL REFERENCES runs(run_uuid),
  key ${t.text} NOT NULL,
  value ${t.double} NOT NULL,
  is_nan ${t.bigint} NOT NULL DEFAULT 0,
  timestamp ${t.bigint} NOT NULL,
  step ${t.bigint} NOT NULL,
  PRIMARY KEY (run_uuid, key)${t.include('value, is_nan')}
)${t.clustered};
CREATE INDEX latest_metrics_by_key ON latest_metrics (key, value${t.covering('is_nan, run_uuid')});
CREATE TABLE registered_models (
  model_id ${t.autoId},
  name ${t.text} NOT NULL UNIQUE,
  creation_timestamp ${t.bigint} NOT NULL,
  last_updated_timestamp ${t.bigint} NOT NULL,
  user_id ${t.text},
  description ${t.text},
  next_version ${t.bigint} NOT NULL DEFAULT 1
);
CREATE TABLE registered_model_tags (
  model_id ${t.bigint} NOT NULL REFERENCES registered_models(model_id) ON DELETE CASCADE,
  key ${t.text} NOT NULL,
  value ${t.text} NOT NULL,
  PRIMARY KEY (model_id, key)
)${t.clustered};
CREATE TABLE model_versions (
  model_id ${t.bigint} NOT NULL REFERENCES registered_models(model_id) ON DELETE CASCADE,
  version ${t.bigint} NOT NULL,
  creation_timestamp ${t.bigint} NOT NULL,
  last_updated_timestamp ${t.bigint} NOT NULL,
  user_id ${t.text},
  current_stage ${t.text} NOT NULL DEFAULT 'None',
  description ${t.text},
  source ${t.text} NOT NULL,
  run_id ${t.text},
  run_link ${t.text},
  status ${t.text} NOT NULL DEFAULT 'READY',
  status_message ${t.text},
  PRIMARY KEY (model_id, version)
);
CREATE INDEX model_versions_by_run ON model_versions (run_id);
CREATE TABLE model_version_tags (
  model_id ${t.bigint} NOT NULL,
  version ${t.bigint} NOT NULL,
  key ${t.text} NOT NULL,
  value ${t.text} NOT NULL,
  PRIMARY KEY (model_id, version, key),
  FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version) ON DELETE CASCADE
);
CREATE TABLE model_aliases (
  model_id ${t.bigint} NOT NULL REFERENCES registered_models(model_id) ON DELETE CASCADE,
  alias ${t.text} NOT NULL,
  version ${t.bigint} NOT NULL,
  PRIMARY KEY (model_id, alias)
)${t.clustered};
CREATE TABLE audit_events (
  seq ${t.bigint} PRIMARY KEY,
  time ${t.bigint} NOT NULL,
  actor ${t.text} NOT NULL,
  action ${t.text} NOT NULL,
  entity_type ${t.text} NOT NULL,
  entity_id ${t.text} NOT NULL,
  before_json ${t.text},
  after_json ${t.text},
  prev_hash ${t.text} NOT NULL,
  hash ${t.text} NOT NULL
);`,
  },
  {
    version: 2,
    description: 'dataset inputs of runs; audit lookups by entity',
    sql: ({ types: t }) => `
CREATE TABLE run_inputs (
  run_uuid ${t.text} NOT NULL REFERENCES runs(run_uuid),
  name ${t.text} NOT NULL,
  digest ${t.text} NOT NULL,
  source_type ${t.text} NOT NULL,
  source ${t.text} NOT NULL,
  schema_json ${t.text},
  profile_json ${t.text},
  tags_json ${t.text} NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_uuid, name, digest)
);
CREATE INDEX audit_by_entity ON audit_events (entity_type, entity_id, seq);`,
  },
  {
    version: 3,
    description: 'dataset versions, their schema documents and the data-subject index',
    sql: ({ types: t }) => `
CREATE TABLE datasets (
  dataset_id ${t.autoId},
  name ${t.text} NOT NULL UNIQUE,
  creation_time ${t.bigint} NOT NULL,
  last_update_time ${t.bigint} NOT NULL,
  description ${t.text},
  subject_column ${t.text},
  next_version ${t.bigint} NOT NULL DEFAULT 1,
  next_schema_version ${t.bigint} NOT NULL DEFAULT 1
);
CREATE TABLE dataset_versions (
  dataset_id ${t.bigint} NOT NULL REFERENCES datasets(dataset_id),
  version ${t.bigint} NOT NULL,
  sha256 ${t.text} NOT NULL,
  format ${t.text} NOT NULL,
  row_count ${t.bigint} NOT NULL,
  column_count ${t.bigint} NOT NULL,
  size_bytes ${t.bigint} NOT NULL,
  source ${t.text} NOT NULL,
  artifact_path ${t.text} NOT NULL,
  created_by ${t.text} NOT NULL,
  creation_time ${t.bigint} NOT NULL,
  schema_json ${t.text} NOT NULL,
  profile_json ${t.text} NOT NULL,
  lineage_json ${t.text},
  PRIMARY KEY (dataset_id, version),
  UNIQUE (dataset_id, sha256)
);
CREATE TABLE dataset_schemas (
  dataset_id ${t.bigint} NOT NULL REFERENCES datasets(dataset_id),
  schema_version ${t.bigint} NOT NULL,
  schema_json ${t.text} NOT NULL,
  pinned ${t.bigint} NOT NULL DEFAULT 0,
  created_by ${t.text} NOT NULL,
  creation_time ${t.bigint} NOT NULL,
  PRIMARY KEY (dataset_id, schema_version)
);
CREATE TABLE dataset_subjects (
  subject ${t.text} NOT NULL,
  dataset_id ${t.bigint} NOT NULL,
  version ${t.bigint} NOT NULL,
  PRIMARY KEY (subject, dataset_id, version)
)${t.clustered};`,
  },
  {
    version: 4,
    description: 'pipeline versions (published packages) and trigger records',
    sql: ({ types: t }) => `
CREATE TABLE pipeline_versions (
  name ${t.text} NOT NULL,
  version ${t.bigint} NOT NULL,
  ir_version ${t.text} NOT NULL,
  package_sha256 ${t.text} NOT NULL,
  ir_hash ${t.text} NOT NULL,
  location ${t.text} NOT NULL,
  triggers_json ${t.text} NOT NULL,
  concurrency ${t.text} NOT NULL,
  created_by ${t.text} NOT NULL,
  created_at ${t.bigint} NOT NULL,
  PRIMARY KEY (name, version),
  UNIQUE (name, package_sha256)
);
CREATE TABLE pipeline_triggers (
  id ${t.autoId},
  pipeline ${t.text} NOT NULL,
  kind ${t.text} NOT NULL,
  reason ${t.text} NOT NULL,
  params_json ${t.text} NOT NULL,
  dedupe_key ${t.text} UNIQUE,
  status ${t.text} NOT NULL,
  created_at ${t.bigint} NOT NULL,
  updated_at ${t.bigint} NOT NULL,
  requested_by ${t.text} NOT NULL,
  claimed_by ${t.text},
  claimed_at ${t.bigint},
  heartbeat_at ${t.bigint},
  version ${t.bigint},
  run_id ${t.text},
  detail ${t.text}
);
CREATE INDEX pipeline_triggers_by_status ON pipeline_triggers (status, pipeline, id);
CREATE INDEX pipeline_triggers_by_pipeline ON pipeline_triggers (pipeline, id);`,
  },
  {
    version: 5,
    description: 'pipeline runs, step runs, their lineage edges and step leases, converted from the trellis.* tags of their MLflow runs',
    // The cache index is partial: only step runs that executed and finished can serve a hit, and
    // the lookup names the same conditions as literals so that both planners use it.
    sql: ({ types: t }) => `
CREATE TABLE pipeline_runs (
  id ${t.text} PRIMARY KEY,
  pipeline ${t.text} NOT NULL,
  pipeline_version ${t.text} NOT NULL,
  ir_hash ${t.text} NOT NULL,
  experiment_id ${t.text} NOT NULL,
  status ${t.text} NOT NULL,
  params_json ${t.text} NOT NULL,
  base_dir ${t.text} NOT NULL,
  no_cache ${t.bigint} NOT NULL DEFAULT 0,
  runner_host ${t.text} NOT NULL,
  runner_pid ${t.bigint} NOT NULL,
  runner_heartbeat ${t.bigint} NOT NULL,
  runner_epoch ${t.bigint} NOT NULL DEFAULT 1,
  failed_step ${t.text},
  error ${t.text},
  skipped_json ${t.text} NOT NULL DEFAULT '[]',
  created_by ${t.text} NOT NULL,
  start_time ${t.bigint} NOT NULL,
  end_time ${t.bigint},
  resumed_at ${t.bigint},
  mlflow_run_id ${t.text} NOT NULL,
  edges_complete ${t.bigint} NOT NULL DEFAULT 1
);
CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline, start_time);
CREATE INDEX pipeline_runs_incomplete ON pipeline_runs (edges_complete) WHERE edges_complete = 0;
CREATE TABLE pipeline_step_runs (
  id ${t.text} PRIMARY KEY,
  pipeline_run_id ${t.text} REFERENCES pipeline_runs(id),
  experiment_id ${t.text} NOT NULL,
  step ${t.text} NOT NULL,
  component ${t.text} NOT NULL,
  status ${t.text} NOT NULL,
  attempt ${t.bigint} NOT NULL DEFAULT 1,
  cache_key ${t.text},
  key_parts_json ${t.text},
  outputs_json ${t.text},
  metrics_json ${t.text} NOT NULL DEFAULT '{}',
  cached ${t.bigint} NOT NULL DEFAULT 0,
  cache_source ${t.text},
  error ${t.text},
  cancel_requested_at ${t.bigint},
  created_by ${t.text} NOT NULL,
  start_time ${t.bigint} NOT NULL,
  end_time ${t.bigint},
  mlflow_run_id ${t.text} NOT NULL
);
CREATE INDEX pipeline_step_runs_cache ON pipeline_step_runs (experiment_id, cache_key, start_time)
  WHERE cached = 0 AND status = 'FINISHED' AND outputs_json IS NOT NULL;
CREATE INDEX pipeline_step_runs_by_run ON pipeline_step_runs (pipeline_run_id, step, start_time);
CREATE INDEX pipeline_step_runs_by_step ON pipeline_step_runs (experiment_id, step, start_time);
CREATE INDEX pipeline_step_runs_by_source ON pipeline_step_runs (cache_source) WHERE cache_source IS NOT NULL;
CREATE TABLE pipeline_step_edges (
  step_run_id ${t.text} NOT NULL REFERENCES pipeline_step_runs(id),
  role ${t.text} NOT NULL,
  name ${t.text} NOT NULL,
  kind ${t.text} NOT NULL,
  ref ${t.text} NOT NULL,
  output ${t.text},
  holder ${t.text},
  sha256 ${t.text},
  PRIMARY KEY (step_run_id, role, name, kind, ref)
)${t.clustered};
CREATE INDEX pipeline_step_edges_by_ref ON pipeline_step_edges (kind, ref);
CREATE INDEX pipeline_step_edges_by_holder ON pipeline_step_edges (holder) WHERE holder IS NOT NULL;
CREATE INDEX pipeline_step_edges_by_sha256 ON pipeline_step_edges (sha256) WHERE sha256 IS NOT NULL;
CREATE TABLE pipeline_step_leases (
  step_run_id ${t.text} PRIMARY KEY REFERENCES pipeline_step_runs(id),
  owner ${t.text} NOT NULL,
  epoch ${t.bigint} NOT NULL,
  acquired_at ${t.bigint} NOT NULL,
  heartbeat_at ${t.bigint} NOT NULL,
  expires_at ${t.bigint} NOT NULL,
  deliveries ${t.bigint} NOT NULL
)${t.clustered}`,
    convert: convertTaggedPipelineRuns,
  },
  {
    version: 6,
    description: 'integer run keys: metrics, params, tags and inputs refer to their run by a compact integer',
    sql: runKeysSql,
    rewrites: true,
  },
  {
    version: 7,
    description: "each run's latest metrics, params and tags kept as JSON text beside it (run_data)",
    sql: runDataMigrationSql,
    rewrites: true,
  },
  {
    version: 8,
    description: 'params of any allowed length on PostgreSQL: its indexes hold a prefix of the value, not the value',
    // A PostgreSQL b-tree entry holds at most 2,704 bytes, and a param value may be 6,000: with
    // the value in the primary key (INCLUDE) and in params_by_key, a long value that compresses
    // badly was refused. The lookup index keeps the value's first PARAM_PREFIX characters
    // (searches compare the prefix first, then the value); the primary key, the value not at all.
    // SQLite has no such limit and keeps its indexes.
    // Values compare in code-point order, as on SQLite (and as the keys already do), which is also
    // what makes "prefix first" exact for ranges and ordering, not only for equality.
    // The prefix is a stored column rather than an index expression: PostgreSQL answers from an
    // index alone only when the index holds plain columns, and most values are shorter than the
    // prefix, so most searches need nothing else.
    sql: (d) => d.name !== 'postgres' ? '' : [
      'ALTER TABLE params DROP CONSTRAINT params_pkey',
      'DROP INDEX params_by_key',
      'ALTER TABLE params ALTER COLUMN value TYPE TEXT COLLATE "C"',
      `ALTER TABLE params ADD COLUMN value_prefix TEXT COLLATE "C" GENERATED ALWAYS AS (left(value, ${PARAM_PREFIX})) STORED`,
      'ALTER TABLE params ADD PRIMARY KEY (run_key, key) INCLUDE (value_prefix)',
      'CREATE INDEX params_by_key ON params (key, value_prefix) INCLUDE (run_key)',
    ].join(';\n'),
    rewrites: true,
  },
  {
    version: 9,
    description: "how each pipeline is deployed: the version a rollback pinned, paused triggers, versions taken out of service",
    sql: ({ types: t }) => `
CREATE TABLE pipeline_deployments (
  name ${t.text} PRIMARY KEY,
  pinned ${t.bigint},
  paused ${t.bigint} NOT NULL,
  undeployed ${t.bigint} NOT NULL,
  withdrawn_json ${t.text} NOT NULL,
  changed_at ${t.bigint} NOT NULL,
  changed_by ${t.text} NOT NULL
);`,
  },
  {
    version: 10,
    description: 'signed checkpoints of the audit chain',
    sql: ({ types: t }) => `
CREATE TABLE audit_checkpoints (
  id ${t.bigint} PRIMARY KEY,
  seq ${t.bigint} NOT NULL,
  hash ${t.text} NOT NULL,
  time ${t.bigint} NOT NULL,
  event_count ${t.bigint} NOT NULL,
  key_id ${t.text} NOT NULL,
  public_key ${t.text} NOT NULL,
  signature ${t.text} NOT NULL
);`,
  },
  {
    version: 11,
    description: 'sha256 and size of every file of a model version, recorded when it is created',
    sql: ({ types: t }) => `
CREATE TABLE model_version_files (
  model_id ${t.bigint} NOT NULL,
  version ${t.bigint} NOT NULL,
  path ${t.key} NOT NULL,
  sha256 ${t.text} NOT NULL,
  size ${t.bigint} NOT NULL,
  PRIMARY KEY (model_id, version, path),
  FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version) ON DELETE CASCADE
);`,
  },
  {
    version: 12,
    description: 'users and service accounts, their role grants and their API tokens (salted hashes only)',
    sql: ({ types: t }) => `
CREATE TABLE principals (
  name ${t.key} PRIMARY KEY,
  kind ${t.text} NOT NULL,
  created_at ${t.bigint} NOT NULL,
  created_by ${t.text} NOT NULL,
  disabled ${t.bigint} NOT NULL
);
CREATE TABLE principal_grants (
  principal ${t.key} NOT NULL REFERENCES principals(name),
  role ${t.key} NOT NULL,
  scope_type ${t.key} NOT NULL,
  scope_id ${t.key} NOT NULL,
  created_at ${t.bigint} NOT NULL,
  created_by ${t.text} NOT NULL,
  PRIMARY KEY (principal, role, scope_type, scope_id)
);
CREATE TABLE api_tokens (
  id ${t.key} PRIMARY KEY,
  principal ${t.key} NOT NULL REFERENCES principals(name),
  salt ${t.text} NOT NULL,
  hash ${t.text} NOT NULL,
  description ${t.text} NOT NULL,
  created_at ${t.bigint} NOT NULL,
  created_by ${t.text} NOT NULL,
  expires_at ${t.bigint},
  revoked_at ${t.bigint},
  revoked_by ${t.text}
);
CREATE INDEX api_tokens_principal ON api_tokens (principal);`,
  },
  {
    version: 13,
    description: 'deployments (serving endpoints and their routes) and the revisions they went through',
    sql: ({ types: t }) => `
CREATE TABLE deployments (
  name ${t.key} PRIMARY KEY,
  spec ${t.text} NOT NULL,
  revision ${t.bigint} NOT NULL,
  created_at ${t.bigint} NOT NULL,
  created_by ${t.text} NOT NULL,
  updated_at ${t.bigint} NOT NULL,
  updated_by ${t.text} NOT NULL
);
CREATE TABLE deployment_revisions (
  name ${t.key} NOT NULL,
  revision ${t.bigint} NOT NULL,
  spec ${t.text} NOT NULL,
  change ${t.text} NOT NULL,
  reason ${t.text},
  at ${t.bigint} NOT NULL,
  by_actor ${t.text} NOT NULL,
  PRIMARY KEY (name, revision)
);`,
  },
  {
    version: 14,
    description: 'the prediction log of trellis serve, and the labels that arrive later as feedback',
    sql: ({ types: t }) => `
CREATE TABLE prediction_log (
  endpoint ${t.key} NOT NULL,
  request_id ${t.key} NOT NULL,
  route ${t.key} NOT NULL,
  time ${t.bigint} NOT NULL,
  model ${t.text} NOT NULL,
  version ${t.text} NOT NULL,
  shadow ${t.bigint} NOT NULL,
  latency_ms ${t.double} NOT NULL,
  row_count ${t.bigint} NOT NULL,
  inputs ${t.text} NOT NULL,
  outputs ${t.text},
  error ${t.text},
  PRIMARY KEY (endpoint, request_id, route)
);
CREATE INDEX prediction_log_time ON prediction_log (endpoint, time);
CREATE INDEX prediction_log_age ON prediction_log (time);
CREATE TABLE prediction_labels (
  endpoint ${t.key} NOT NULL,
  request_id ${t.key} NOT NULL,
  labels ${t.text} NOT NULL,
  at ${t.bigint} NOT NULL,
  PRIMARY KEY (endpoint, request_id)
);`,
  },
  {
    version: 15,
    description: 'leases that elect one leader among serving replicas (the rollout controller)',
    sql: ({ types: t }) => `
CREATE TABLE serving_leases (
  name ${t.key} PRIMARY KEY,
  holder ${t.text} NOT NULL,
  expires_at ${t.bigint} NOT NULL
);`,
  },
  {
    version: 16,
    description: 'PostgreSQL: a notification on channel trellis_serving whenever a deployment or an alias changes, so serving replicas reload at once',
    // SQLite has no notifications: its replicas poll.
    sql: (d) => d.name !== 'postgres' ? '' : `
CREATE FUNCTION trellis_serving_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('trellis_serving', TG_TABLE_NAME);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER deployments_notify AFTER INSERT OR UPDATE OR DELETE ON deployments FOR EACH STATEMENT EXECUTE FUNCTION trellis_serving_notify();
CREATE TRIGGER model_aliases_notify AFTER INSERT OR UPDATE OR DELETE ON model_aliases FOR EACH STATEMENT EXECUTE FUNCTION trellis_serving_notify();`,
  },
];

/** Statements split at `;`, except inside a `$$ … $$` body (a PostgreSQL function's). */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < sql.length; i++) {
    if (sql.startsWith('$$', i)) {
      quoted = !quoted;
      i++;
    } else if (sql[i] === ';' && !quoted) {
      out.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  out.push(sql.slice(start));
  return out.map((x) => x.trim()).filter(Boolean);
}

/** The tables the migrations marked `rewrites` rebuild. */
const REWRITTEN_TABLES = ['runs', 'params', 'tags', 'metrics', 'latest_metrics', 'run_inputs', 'run_data'];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Brings the database up to `target` (the latest by default); returns the version it is at. */
export async function migrate(db: SqlDriver, target = SCHEMA_VERSION): Promise<number> {
  // Created only when missing: a server role without the right to create tables (its audit
  // tables insert-only, docs/security.md) opens a store its owner has migrated.
  if (!(await hasSchemaVersion(db))) {
    await db.transaction(async (tx) => {
      await tx.run('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    });
  }
  const current = await currentVersion(db);
  if (current > SCHEMA_VERSION) {
    throw new TrellisError('TRELLIS_SCHEMA_TOO_NEW', { found: current, supported: SCHEMA_VERSION });
  }
  let rewrote = false;
  for (const m of MIGRATIONS) {
    if (m.version <= current || m.version > target) continue;
    rewrote ||= m.rewrites === true && current > 0;
    await db.transaction(async (tx) => {
      // Re-read under the write lock: another process may have migrated meanwhile.
      const rows = await tx.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_version');
      if ((rows[0]?.v ?? 0) >= m.version) return;
      for (const stmt of splitStatements(m.sql(db.dialect))) {
        await tx.run(stmt);
      }
      await m.convert?.(tx, db.dialect);
      await tx.run('INSERT INTO schema_version (version) VALUES (?)', [m.version]);
    });
  }
  // PostgreSQL: statistics for the planner, and the visibility map that lets an index answer
  // alone (VACUUM runs outside a transaction). SQLite is left as every store of it is (no
  // statistics unless a user runs ANALYZE): its searches are written for the planner's defaults.
  if (rewrote && db.dialect.name === 'postgres') await db.query(`VACUUM ANALYZE ${REWRITTEN_TABLES.join(', ')}`);
  return currentVersion(db);
}

async function hasSchemaVersion(db: SqlDriver): Promise<boolean> {
  if (db.dialect.name === 'postgres') {
    const rows = await db.query<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t");
    return rows[0]?.t != null;
  }
  return (await db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")).length > 0;
}

export async function currentVersion(db: SqlDriver): Promise<number> {
  const rows = await db.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_version');
  return Number(rows[0]?.v ?? 0);
}
