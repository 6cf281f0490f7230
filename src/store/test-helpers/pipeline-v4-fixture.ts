/**
 * The pipeline workspace written at schema 4 (src/store/sql/fixtures/pipeline-v4, made by
 * scripts/make-pipeline-v4-fixture.ts), set up for an upgrade test: on SQLite as a copy of its
 * database file; on PostgreSQL as its rows copied into a database migrated to schema 4. Either
 * way the store then migrates when it is opened, as an old workspace would.
 */
import { copyFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { PostgresDriver } from '../postgres/postgres-driver.js';
import { migrate } from '../sql/migrations.js';

export { SCHEMA_VERSION } from '../sql/migrations.js';

export const PIPELINE_V4_FIXTURE = fileURLToPath(new URL('../sql/fixtures/pipeline-v4/', import.meta.url));

/** Copies the fixture's artifact folder to `<dir>/artifacts` and its database to `<dir>/trellis.db`; resolves with the store URI. */
export function pipelineV4OnSqlite(dir: string): string {
  cpSync(join(PIPELINE_V4_FIXTURE, 'artifacts'), join(dir, 'artifacts'), { recursive: true });
  copyFileSync(join(PIPELINE_V4_FIXTURE, 'trellis.db'), join(dir, 'trellis.db'));
  return `sqlite:${join(dir, 'trellis.db')}`;
}

/** Copies the fixture's artifact folder to `<dir>/artifacts` and every table of its database into the (empty) PostgreSQL database at `uri`. */
export async function pipelineV4OnPostgres(dir: string, uri: string): Promise<string> {
  cpSync(join(PIPELINE_V4_FIXTURE, 'artifacts'), join(dir, 'artifacts'), { recursive: true });
  // A copy: even a read-only connection leaves WAL files beside a database in WAL mode.
  copyFileSync(join(PIPELINE_V4_FIXTURE, 'trellis.db'), join(dir, 'source.db'));
  const src = new Database(join(dir, 'source.db'), { readonly: true });
  const pg = await PostgresDriver.open(uri);
  try {
    await migrate(pg, 4);
    const tables = (src.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'schema_version'").all() as { name: string }[]).map((t) => t.name);
    await pg.transaction(async (tx) => {
      for (const t of tables) {
        const rows = src.prepare(`SELECT * FROM ${t}`).all() as Record<string, string | number | null>[];
        const first = rows[0];
        if (!first) continue;
        const cols = Object.keys(first);
        await tx.runMany(`INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, rows.map((r) => cols.map((c) => r[c] ?? null)));
      }
      for (const [t, c] of [['experiments', 'experiment_id'], ['registered_models', 'model_id'], ['datasets', 'dataset_id']] as const) {
        await tx.query(`SELECT setval(pg_get_serial_sequence('${t}', '${c}'), (SELECT MAX(${c}) FROM ${t}))`);
      }
    });
  } finally {
    src.close();
    await pg.close();
  }
  return uri;
}
