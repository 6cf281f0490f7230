import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTrellisError } from '../../core/errors.js';
import { verifyAuditChain } from '../audit-chain.js';
import { SqliteDriver } from '../sqlite/sqlite-driver.js';
import { PostgresDriver } from '../postgres/postgres-driver.js';
import { createTestDatabase } from '../test-helpers/postgres.js';
import { MIGRATIONS, SCHEMA_VERSION, currentVersion, migrate } from './migrations.js';
import { openSqlStores } from './sql-stores.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/schema-v1.db', import.meta.url));
const RUN = '0123456789abcdef0123456789abcdef';

describe('schema migrations', () => {
  it('numbers migrations 1..n without gaps', () => {
    assert.deepEqual(MIGRATIONS.map((m) => m.version), MIGRATIONS.map((_, i) => i + 1));
    assert.equal(SCHEMA_VERSION, MIGRATIONS.length);
  });

  it('opens a database written at schema version 1, upgrades it and keeps every row', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-mig-'));
    try {
      const path = join(dir, 'old.db');
      copyFileSync(FIXTURE, path);
      const old = SqliteDriver.open(path);
      assert.equal(await currentVersion(old), 1);
      await old.close();

      const store = await openSqlStores(SqliteDriver.open(path));
      assert.equal(await store.schemaVersion(), SCHEMA_VERSION);
      const run = await store.tracking.getRun(RUN);
      assert.equal(run.info.runName, 'old-run');
      assert.equal(run.info.status, 'FINISHED');
      assert.deepEqual(run.data.params, { alpha: '0.1' });
      assert.deepEqual(run.data.metrics, [{ key: 'rmse', value: 1.2, timestamp: 1_700_000_000_004, step: 1 }]);
      assert.equal((await store.tracking.getMetricHistory(RUN, 'rmse')).items.length, 2);
      assert.deepEqual((await store.tracking.getExperimentByName('legacy')).tags, { team: 'a' });
      const v = await store.registry.getVersionByAlias('legacy-model', 'champion');
      assert.equal(v.version, '1');
      assert.equal(v.currentStage, 'Production');
      // The chain written by v1 still verifies, and new events extend it.
      await store.registry.createModelVersion({ name: 'legacy-model', source: 'x', runId: RUN }, { actor: 't' });
      const events = await store.audit.listAuditEvents({ limit: 1000 });
      assert.equal(events.length, 9, "8 events written by v1 and the new version's");
      assert.equal(verifyAuditChain(events).ok, true);
      // A table added by version 2 works on the upgraded database.
      const fresh = await store.tracking.createRun({ experimentId: '1' }, { actor: 't' });
      await store.tracking.logInputs(fresh.info.runId, [{ dataset: { name: 'd', digest: 'x', sourceType: 'local', source: '{}' }, tags: {} }], { actor: 't' });
      assert.equal((await store.tracking.getRun(fresh.info.runId)).inputs.datasetInputs.length, 1);
      assert.equal((await store.registry.createModelVersion({ name: 'legacy-model', source: 'y' }, { actor: 't' })).version, '3');
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a database from a newer Trellis instead of misreading it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-mig-'));
    try {
      const path = join(dir, 'new.db');
      const d = SqliteDriver.open(path);
      await migrate(d);
      await d.transaction((tx) => tx.run('INSERT INTO schema_version (version) VALUES (?)', [SCHEMA_VERSION + 1]));
      await d.close();
      await assert.rejects(openSqlStores(SqliteDriver.open(path)), (e) => isTrellisError(e, 'TRELLIS_SCHEMA_TOO_NEW'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('upgrades PostgreSQL step by step, and concurrent openers migrate once', async () => {
    const db = await createTestDatabase();
    try {
      const d1 = await PostgresDriver.open(db.uri);
      assert.equal(await migrate(d1, 1), 1);
      const [a, b] = await Promise.all([PostgresDriver.open(db.uri), PostgresDriver.open(db.uri)]);
      const [va, vb] = await Promise.all([migrate(a), migrate(b)]);
      assert.equal(va, SCHEMA_VERSION);
      assert.equal(vb, SCHEMA_VERSION);
      const rows = await d1.query<{ version: number }>('SELECT version FROM schema_version ORDER BY version');
      assert.deepEqual(rows.map((r) => Number(r.version)), MIGRATIONS.map((m) => m.version));
      await Promise.all([d1.close(), a.close(), b.close()]);
    } finally {
      await db.drop();
    }
  });
});
