// Writes src/store/sql/fixtures/schema-v1.db: a database as Trellis at schema version 1 left it,
// with rows in every table and an intact audit chain, so the upgrade test proves that old
// databases open, upgrade and keep their data. Written with plain SQL, because today's store
// code expects today's schema. Never regenerate a fixture of a version that has shipped.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { canonicalJson } from '../src/core/hash.js';
import { GENESIS_HASH, auditHash } from '../src/store/audit-chain.js';
import { migrate } from '../src/store/sql/migrations.js';
import { SqliteDriver } from '../src/store/sqlite/sqlite-driver.js';

const out = fileURLToPath(new URL('../src/store/sql/fixtures/schema-v1.db', import.meta.url));
rmSync(out, { force: true });
const db = SqliteDriver.open(out);
await migrate(db, 1);
const T = 1_700_000_000_000;
const RUN = '0123456789abcdef0123456789abcdef';
let seq = 0;
let prev = GENESIS_HASH;
const events: unknown[][] = [];
const audit = (time: number, action: string, entityType: string, entityId: string, before: unknown, after: unknown) => {
  const e = { seq: ++seq, time, actor: 'fixture', action, entityType, entityId, before, after };
  const hash = auditHash(prev, e);
  events.push([e.seq, time, e.actor, action, entityType, entityId, canonicalJson(before), canonicalJson(after), prev, hash]);
  prev = hash;
};

await db.transaction(async (tx) => {
  await tx.run("INSERT INTO experiments VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', ?, ?)", [T, T]);
  audit(T, 'create_experiment', 'experiment', '0', null, { name: 'Default', artifactLocation: 'mlflow-artifacts:/0' });
  await tx.run("INSERT INTO experiments VALUES (1, 'legacy', 'mlflow-artifacts:/1', 'active', ?, ?)", [T + 1, T + 1]);
  await tx.run("INSERT INTO experiment_tags VALUES (1, 'team', 'a')");
  audit(T + 1, 'create_experiment', 'experiment', '1', null, { name: 'legacy', artifactLocation: 'mlflow-artifacts:/1', tags: { team: 'a' } });
  await tx.run("INSERT INTO runs VALUES (?, 'old-run', 1, 'fixture', 'FINISHED', ?, ?, ?, 'active', NULL, 0)", [RUN, T + 2, T + 9, `mlflow-artifacts:/1/${RUN}/artifacts`]);
  await tx.run("INSERT INTO tags VALUES (?, 'mlflow.runName', 'old-run'), (?, 'note', 'written by schema v1')", [RUN, RUN]);
  audit(T + 2, 'create_run', 'run', RUN, null, { experimentId: '1', runName: 'old-run', userId: 'fixture', startTime: T + 2, tags: { 'mlflow.runName': 'old-run' } });
  await tx.run("INSERT INTO params VALUES (?, 'alpha', '0.1')", [RUN]);
  await tx.run("INSERT INTO metrics VALUES (?, 'rmse', 1.5, 0, ?, 0), (?, 'rmse', 1.2, 0, ?, 1)", [RUN, T + 3, RUN, T + 4]);
  await tx.run("INSERT INTO latest_metrics VALUES (?, 'rmse', 1.2, 0, ?, 1)", [RUN, T + 4]);
  audit(T + 4, 'log_batch', 'run', RUN, null, { params: { alpha: '0.1' }, tags: { note: 'written by schema v1' }, metrics: { count: 2, keys: ['rmse'], sha256: 'fixture' } });
  await tx.run("INSERT INTO registered_models VALUES (1, 'legacy-model', ?, ?, 'fixture', NULL, 2)", [T + 5, T + 7]);
  audit(T + 5, 'create_registered_model', 'registered_model', 'legacy-model', null, { name: 'legacy-model', description: null, tags: {} });
  await tx.run("INSERT INTO model_versions VALUES (1, 1, ?, ?, 'fixture', 'Production', NULL, ?, ?, NULL, 'READY', NULL)", [T + 6, T + 7, `mlflow-artifacts:/1/${RUN}/artifacts/model`, RUN]);
  audit(T + 6, 'create_model_version', 'model_version', 'legacy-model/1', null, { name: 'legacy-model', version: '1', source: `mlflow-artifacts:/1/${RUN}/artifacts/model`, runId: RUN, tags: {} });
  await tx.run("INSERT INTO model_aliases VALUES (1, 'champion', 1)");
  audit(T + 7, 'set_alias', 'registered_model', 'legacy-model', { alias: 'champion', version: null }, { alias: 'champion', version: '1' });
  audit(T + 7, 'transition_stage', 'model_version', 'legacy-model/1', { stage: 'None' }, { stage: 'Production' });
  await tx.runMany('INSERT INTO audit_events VALUES (?,?,?,?,?,?,?,?,?,?)', events as never);
});
await db.close();
console.log(`wrote ${out}`);
