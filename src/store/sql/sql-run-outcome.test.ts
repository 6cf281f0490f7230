/** Runs written at their end (complete, record, model-history append) on SQLite and on the real PostgreSQL. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpenStores } from '../ports/contract-helpers.js';
import { describeRunOutcomeContract } from '../ports/run-outcome.contract.js';
import { PostgresDriver } from '../postgres/postgres-driver.js';
import { SqliteDriver } from '../sqlite/sqlite-driver.js';
import { createTestDatabase } from '../test-helpers/postgres.js';
import { openSqlStores } from './sql-stores.js';

const backends: [string, OpenStores][] = [
  ['sqlite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-sqlite-'));
    const stores = await openSqlStores(SqliteDriver.open(join(dir, 'trellis.db')));
    return { stores, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }],
  ['postgres', async () => {
    const db = await createTestDatabase();
    const stores = await openSqlStores(await PostgresDriver.open(db.uri));
    return { stores, cleanup: db.drop };
  }],
];

for (const [name, open] of backends) describeRunOutcomeContract(name, open);
