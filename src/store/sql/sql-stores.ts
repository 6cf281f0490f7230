/**
 * Every port over one SQL database: migrates it, builds each port's adapter over one
 * {@link UnitOfWork} (one driver, one clock, one audit chain) and makes sure the `Default`
 * experiment exists. `open-stores.ts` chooses the driver from a URI; tests and benchmarks that
 * hold a driver call this directly.
 */
import { systemClock, type Clock } from '../../core/clock.js';
import type { Stores } from '../stores.js';
import { SCHEMA_VERSION, currentVersion, migrate } from './migrations.js';
import { SqlAuditLog } from './sql-audit-log.js';
import { SqlDatasetStore } from './sql-dataset-store.js';
import { SqlDeploymentStore } from './sql-deployment-store.js';
import { SqlPredictionLog } from './sql-prediction-log.js';
import { SqlIdentityStore } from './sql-identity-store.js';
import type { SqlDriver } from './sql-driver.js';
import { SqlPipelineStore } from './sql-pipeline-store.js';
import { SqlRegistryStore } from './sql-registry-store.js';
import { SqlTrackingStore } from './sql-tracking-store.js';
import { SqlTriggerStore } from './sql-trigger-store.js';
import { UnitOfWork } from './unit-of-work.js';

export interface SqlStoresOptions {
  /** Root of experiment artifact locations; runs get `<root>/<experiment>/<run>/artifacts`. */
  defaultArtifactRoot?: string;
  clock?: Clock;
  /** Stop migrating at this version (tests that build old-schema fixtures). */
  migrateTo?: number;
}

/** The SQL stores, with their driver for the tests and benchmarks that write rows directly. */
export interface SqlStores extends Stores {
  readonly driver: SqlDriver;
}

export async function openSqlStores(driver: SqlDriver, opts: SqlStoresOptions = {}): Promise<SqlStores> {
  await migrate(driver, opts.migrateTo ?? SCHEMA_VERSION);
  const uow = new UnitOfWork(driver, opts.clock ?? systemClock);
  const tracking = new SqlTrackingStore(uow, { defaultArtifactRoot: opts.defaultArtifactRoot });
  await tracking.ensureDefaultExperiment();
  return {
    kind: driver.dialect.name,
    driver,
    tracking,
    registry: new SqlRegistryStore(uow),
    datasets: new SqlDatasetStore(uow),
    pipelines: new SqlPipelineStore(uow),
    triggers: new SqlTriggerStore(uow),
    identities: new SqlIdentityStore(uow),
    deployments: new SqlDeploymentStore(uow),
    predictions: new SqlPredictionLog(uow),
    audit: new SqlAuditLog(uow),
    schemaVersion: () => currentVersion(driver),
    close: () => driver.close(),
  };
}
