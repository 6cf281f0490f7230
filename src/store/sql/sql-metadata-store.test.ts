import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMetadataStoreContract } from '../metadata-store.contract.js';
import { metadataStoreOver } from '../metadata-store.js';
import { openSqlStores } from './sql-stores.js';
import { SqliteDriver } from '../sqlite/sqlite-driver.js';
import { PostgresDriver } from '../postgres/postgres-driver.js';
import { createTestDatabase } from '../test-helpers/postgres.js';

describeMetadataStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-sqlite-'));
  const store = metadataStoreOver(await openSqlStores(SqliteDriver.open(join(dir, 'trellis.db'))));
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describeMetadataStoreContract('postgres', async () => {
  const db = await createTestDatabase();
  const store = metadataStoreOver(await openSqlStores(await PostgresDriver.open(db.uri)));
  return { store, cleanup: db.drop };
});
