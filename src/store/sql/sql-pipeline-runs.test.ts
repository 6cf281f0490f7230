import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describePipelineRunStoreContract } from '../ports/pipeline-runs.contract.js';
import { PostgresDriver } from '../postgres/postgres-driver.js';
import { SqliteDriver } from '../sqlite/sqlite-driver.js';
import { pipelineStoreInThread } from '../test-helpers/pipeline-store-thread.js';
import { createTestDatabase } from '../test-helpers/postgres.js';
import type { SqlDriver } from './sql-driver.js';
import { openSqlStores } from './sql-stores.js';

const auditCount = (d: SqlDriver) => async () => Number((await d.query<{ n: number }>('SELECT COUNT(*) AS n FROM audit_events'))[0]?.n ?? 0);

// The second store is a second worker: a thread of its own with its own connection to the file.
describePipelineRunStoreContract('SQLite, two connections to one file', async (clock) => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-runs-'));
  const path = join(dir, 't.db');
  const driver = SqliteDriver.open(path);
  const a = await openSqlStores(driver, { clock });
  const b = await pipelineStoreInThread(`sqlite:${path}`, clock);
  return {
    a: a.pipelines, b: b.store, auditCount: auditCount(driver),
    close: async () => {
      await b.close();
      await a.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describePipelineRunStoreContract('PostgreSQL, two pools', async (clock) => {
  const db = await createTestDatabase();
  const a = await openSqlStores(await PostgresDriver.open(db.uri), { clock });
  const b = await openSqlStores(await PostgresDriver.open(db.uri), { clock });
  return {
    a: a.pipelines, b: b.pipelines, auditCount: auditCount(a.driver),
    close: async () => {
      await b.close();
      await a.close();
      await db.drop();
    },
  };
});
