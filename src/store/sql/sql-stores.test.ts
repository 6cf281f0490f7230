/**
 * Every port's contract suite against the SQL adapters, on SQLite and on the real PostgreSQL. Each
 * suite opens its own fresh database. (The pipeline-run records need two connections and a
 * clock of their own: `sql-pipeline-runs.test.ts`.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeAuditLogContract } from '../ports/audit.contract.js';
import type { OpenStores } from '../ports/test-helpers/contract-helpers.js';
import { describeDatasetStoreContract } from '../ports/datasets.contract.js';
import { describeIdentityStoreContract } from '../ports/identities.contract.js';
import { describeDeploymentStoreContract } from '../ports/deployments.contract.js';
import { describePredictionLogContract } from '../ports/predictions.contract.js';
import { describePipelineStoreContract } from '../ports/pipelines.contract.js';
import { describeRegistryStoreContract } from '../ports/registry.contract.js';
import { describeRunOutcomeContract } from '../ports/run-outcome.contract.js';
import { describeTrackingStoreContract } from '../ports/tracking.contract.js';
import { describeTriggerStoreContract } from '../ports/triggers.contract.js';
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

for (const [name, open] of backends) {
  describeTrackingStoreContract(name, open);
  describeRunOutcomeContract(name, open);
  describeRegistryStoreContract(name, open);
  describeDatasetStoreContract(name, open);
  describePipelineStoreContract(name, open);
  describeTriggerStoreContract(name, open);
  describeIdentityStoreContract(name, open);
  describeDeploymentStoreContract(name, open);
  describePredictionLogContract(name, open);
  describeAuditLogContract(name, open);
}
