import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMetadataStoreContract } from '../metadata-store.contract.js';
import { SqlMetadataStore } from './sql-metadata-store.js';
import { SqliteDriver } from '../sqlite/sqlite-driver.js';
import { PostgresDriver } from '../postgres/postgres-driver.js';
import { createTestDatabase } from '../test-helpers/postgres.js';

describeMetadataStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-sqlite-'));
  const store = await SqlMetadataStore.open(SqliteDriver.open(join(dir, 'trellis.db')));
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describeMetadataStoreContract('postgres', async () => {
  const db = await createTestDatabase();
  const store = await SqlMetadataStore.open(await PostgresDriver.open(db.uri));
  return { store, cleanup: db.drop };
});
