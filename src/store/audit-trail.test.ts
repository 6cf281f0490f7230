/**
 * The audit trail against someone who can write to the database but does not hold the signing
 * key: an edited event whose later hashes are recomputed, a cut-off tail, an alias row changed
 * behind the chain's back, checkpoints re-signed with another key. On SQLite and on the real
 * PostgreSQL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson } from '../core/hash.js';
import { GENESIS_HASH, auditHash, signCheckpoint, verifyStoredTrail, type AuditVerification } from './audit-chain.js';
import { fileSigner, publicKeyFileOf, trustedKey } from './audit-signing.js';
import { PostgresDriver } from './postgres/postgres-driver.js';
import { SqliteDriver } from './sqlite/sqlite-driver.js';
import type { SqlDriver } from './sql/sql-driver.js';
import { openSqlStores, type SqlStores } from './sql/sql-stores.js';
import { createTestDatabase } from './test-helpers/postgres.js';

const who = { actor: 'alice' };
const EVERY = 5;
/** The tables the tests change behind the chain's back, restored after each. */
const TAMPERED = ['audit_events', 'audit_checkpoints', 'model_aliases', 'model_versions', 'dataset_versions'];

const backends: [string, () => Promise<{ driver: SqlDriver; cleanup: () => Promise<void> }>][] = [
  ['sqlite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-trail-'));
    return { driver: SqliteDriver.open(join(dir, 'trellis.db')), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }],
  ['postgres', async () => {
    const db = await createTestDatabase();
    return { driver: await PostgresDriver.open(db.uri), cleanup: db.drop };
  }],
];

for (const [name, open] of backends) {
  describe(`audit trail under tampering: ${name}`, () => {
    let keys: string;
    let keyFile: string;
    let stores: SqlStores;
    let driver: SqlDriver;
    let cleanup: () => Promise<void>;
    let lastCheckpointSeq: number;

    before(async () => {
      keys = mkdtempSync(join(tmpdir(), 'trellis-keys-'));
      keyFile = join(keys, 'audit-signing.key');
      ({ driver, cleanup } = await open());
      stores = await openSqlStores(driver);
      stores.audit.signCheckpoints(fileSigner(keyFile), EVERY);
      await stores.registry.createRegisteredModel({ name: 'bikes' }, who);
      for (const source of ['a', 'b', 'c']) await stores.registry.createModelVersion({ name: 'bikes', source }, who);
      await stores.registry.setAlias('bikes', 'champion', '1', who);
      await stores.registry.setAlias('bikes', 'champion', '2', who);
      await stores.registry.setAlias('bikes', 'challenger', '3', who);
      await stores.registry.setAlias('bikes', 'gone', '3', who);
      await stores.registry.deleteAlias('bikes', 'gone', who);
      await stores.registry.transitionStage('bikes', '1', 'Production', false, who);
      await stores.registry.transitionStage('bikes', '2', 'Production', true, who);
      await stores.registry.transitionStage('bikes', '2', 'Staging', false, who);
      await stores.datasets.createDatasetVersion({
        name: 'hours', sha256: 'a'.repeat(64), format: 'csv', rows: 10, columns: 3, sizeBytes: 100, source: 'hours.csv', artifactPath: 'datasets/hours', schema: {}, profile: {},
      }, who);
      for (let i = 0; i < 12; i++) await stores.tracking.setExperimentTag('0', 'tick', String(i), who);
      await stores.audit.writeCheckpoint(fileSigner(keyFile));
      lastCheckpointSeq = (await stores.audit.listCheckpoints()).at(-1)!.seq;
      // The tampering below runs inside transactions that roll back: each test starts from the intact trail.
    });
    after(async () => {
      await stores?.close();
      await cleanup?.();
      rmSync(keys, { recursive: true, force: true });
    });

    /** Verifies as `trellis audit verify` does, optionally after `tamper` — which is then undone. */
    const verifyAfter = async (tamper?: (ex: SqlDriver) => Promise<unknown>, key = trustedKey(keyFile)): Promise<AuditVerification> => {
      if (!tamper) return verifyWith(key);
      const undo = new Error('undo');
      let result: AuditVerification | undefined;
      // Rows are snapshotted and restored: tamper, verify, put everything back.
      const snapshot = await Promise.all(TAMPERED.map((t) => driver.query(`SELECT * FROM ${t}`)));
      try {
        await tamper(driver);
        result = await verifyWith(key);
        throw undo;
      } catch (e) {
        if (e !== undo) throw e;
      } finally {
        await driver.transaction(async (tx) => {
          for (const [i, table] of TAMPERED.entries()) {
            await tx.run(`DELETE FROM ${table}`);
            for (const row of snapshot[i]!) {
              const cols = Object.keys(row);
              await tx.run(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, cols.map((c) => row[c] as never));
            }
          }
        });
      }
      return result!;
    };
    const verifyWith = async (key: ReturnType<typeof trustedKey>): Promise<AuditVerification> => verifyStoredTrail({
      list: (q) => stores.audit.listAuditEvents(q), checkpoints: await stores.audit.listCheckpoints(), key, registry: await stores.audit.registrySnapshot(),
    });

    /** Changes event `seq`'s payload and recomputes its hash and every later one, with the chain's own hash function. */
    const editAndRehash = (seq: number) => async (ex: SqlDriver) => {
      const events = await stores.audit.listAuditEvents({ limit: 1_000_000 });
      let prev = GENESIS_HASH;
      await ex.transaction(async (tx) => {
        for (const e of events) {
          if (e.seq === seq) e.after = { ...(e.after as object), value: 'rewritten' };
          if (e.seq >= seq) {
            e.prevHash = prev;
            e.hash = auditHash(prev, e);
            await tx.run('UPDATE audit_events SET after_json = ?, prev_hash = ?, hash = ? WHERE seq = ?', [canonicalJson(e.after), e.prevHash, e.hash, e.seq]);
          }
          prev = e.hash;
        }
      });
    };

    it('passes an intact trail with its checkpoints, and the key file is private', async () => {
      const v = await verifyAfter();
      assert.equal(v.ok, true, JSON.stringify(v.problems));
      const cps = await stores.audit.listCheckpoints();
      assert.deepEqual(cps.map((c) => c.seq).slice(0, -1), Array.from({ length: cps.length - 1 }, (_, i) => (i + 1) * EVERY));
      assert.equal(v.checkpoints, cps.length);
      assert.ok(cps.length >= 4);
      if (process.platform !== 'win32') assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      assert.ok(statSync(publicKeyFileOf(keyFile)).isFile(), 'the public key is written beside the private key');
      // An auditor with the public key alone.
      assert.equal((await verifyWith(trustedKey(join(keys, 'absent.key'), publicKeyFileOf(keyFile)))).ok, true);
    });

    it('fails an edited event whose later hashes were recomputed', async () => {
      const v = await verifyAfter(editAndRehash(7));
      assert.equal(v.ok, false);
      assert.match(v.problems![0]!, /^an event among 6–10 was altered: its chain no longer reaches checkpoint 2 signed at \d{4}-\d\d-\d\dT/);
      assert.equal(v.firstBad!.problem, 'altered');
      // Every checkpoint after the edit fails too.
      assert.ok(v.problems!.length >= 2, JSON.stringify(v.problems));
    });

    it('fails a cut-off tail', async () => {
      const v = await verifyAfter((ex) => ex.run('DELETE FROM audit_events WHERE seq > ?', [lastCheckpointSeq - 3]));
      assert.equal(v.ok, false);
      assert.deepEqual(v.problems, [`the trail ends at event ${lastCheckpointSeq - 3} but checkpoint ${(v.checkpoints ?? 0)} (signed ${new Date((
        (await stores.audit.listCheckpoints()).at(-1)!).time).toISOString()}) covers events up to ${lastCheckpointSeq}: events were removed`]);
      assert.equal(v.firstBad!.problem, 'removed');
    });

    it('fails an alias row changed, added or removed behind the chain', async () => {
      const changed = await verifyAfter((ex) => ex.run('UPDATE model_aliases SET version = 1 WHERE alias = ?', ['champion']));
      assert.equal(changed.ok, false);
      assert.deepEqual(changed.problems, [
        "alias bikes@champion points at version 1 in the registry, but the audit trail last set it to version 2: the row was changed behind the trail's back",
      ]);
      const added = await verifyAfter(async (ex) => {
        const [m] = await ex.query('SELECT model_id FROM registered_models WHERE name = ?', ['bikes']);
        await ex.run('INSERT INTO model_aliases (model_id, alias, version) VALUES (?, ?, ?)', [m!.model_id as number, 'gone', 2]);
      });
      assert.match(added.problems!.join('\n'), /alias bikes@gone points at version 2 in the registry, but the audit trail never set it/);
      const removed = await verifyAfter((ex) => ex.run('DELETE FROM model_aliases WHERE alias = ?', ['challenger']));
      assert.match(removed.problems!.join('\n'), /alias bikes@challenger is missing from the registry, but the audit trail last set it to version 3/);
    });

    it('fails a model version or its stage changed, added or removed behind the chain', async () => {
      const stage = await verifyAfter((ex) => ex.run("UPDATE model_versions SET current_stage = 'Production' WHERE version = 2"));
      assert.deepEqual(stage.problems, [
        "model version bikes/2 is in stage Production in the registry, but the audit trail last moved it to Staging: the row was changed behind the trail's back",
      ]);
      const source = await verifyAfter((ex) => ex.run("UPDATE model_versions SET source = 'models:/evil' WHERE version = 1"));
      assert.match(source.problems!.join('\n'), /model version bikes\/1 has source models:\/evil in the registry, but the audit trail created it from a/);
      const removed = await verifyAfter(async (ex) => {
        await ex.run('DELETE FROM model_aliases WHERE version = 3');
        await ex.run('DELETE FROM model_versions WHERE version = 3');
      });
      assert.match(removed.problems!.join('\n'), /model version bikes\/3 is missing from the registry, but the audit trail never deleted it/);
      const added = await verifyAfter(async (ex) => {
        const [m] = await ex.query('SELECT model_id FROM registered_models WHERE name = ?', ['bikes']);
        await ex.run("INSERT INTO model_versions (model_id, version, creation_timestamp, last_updated_timestamp, current_stage, source, status) VALUES (?, 9, 0, 0, 'Production', 'x', 'READY')", [m!.model_id as number]);
      });
      assert.match(added.problems!.join('\n'), /model version bikes\/9 is in the registry, but the audit trail never created it/);
    });

    it('fails a dataset version changed or removed behind the chain', async () => {
      const changed = await verifyAfter((ex) => ex.run('UPDATE dataset_versions SET sha256 = ?', ['b'.repeat(64)]));
      assert.deepEqual(changed.problems, [
        "dataset version hours@1 has content bbbbbbbbbbbb… in the store, but the audit trail created it with aaaaaaaaaaaa…: the row was changed behind the trail's back",
      ]);
      const removed = await verifyAfter((ex) => ex.run('DELETE FROM dataset_versions'));
      assert.deepEqual(removed.problems, ["dataset version hours@1 is missing from the store, but the audit trail created it: the row was removed behind the trail's back"]);
      assert.equal((await verifyAfter()).ok, true, 'restored');
    });

    it('fails checkpoints forged with another key', async () => {
      const otherKeys = mkdtempSync(join(tmpdir(), 'trellis-forger-'));
      try {
        const forger = fileSigner(join(otherKeys, 'forged.key'));
        const v = await verifyAfter(async (ex) => {
          await editAndRehash(7)(ex);
          // Re-sign every checkpoint over the rewritten chain, with the forger's key recorded beside it.
          const events = new Map((await stores.audit.listAuditEvents({ limit: 1_000_000 })).map((e) => [e.seq, e.hash]));
          for (const c of await stores.audit.listCheckpoints()) {
            const f = signCheckpoint(forger, { id: c.id, seq: c.seq, hash: events.get(c.seq)!, time: c.time, count: c.count });
            await ex.run('UPDATE audit_checkpoints SET hash = ?, key_id = ?, public_key = ?, signature = ? WHERE id = ?', [f.hash, f.keyId, f.publicKey, f.signature, c.id]);
          }
        });
        assert.equal(v.ok, false);
        assert.match(v.problems![0]!, new RegExp(`^checkpoint 1's signature does not verify with the key in ${keyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(it names another key`));
      } finally {
        rmSync(otherKeys, { recursive: true, force: true });
      }
    });

    it('refuses a signing key that group or others can read, naming the chmod to run', () => {
      if (process.platform === 'win32') return;
      chmodSync(keyFile, 0o644);
      try {
        assert.throws(() => trustedKey(keyFile), (e: Error) => e.message.includes(`can be read by group or others (mode 0644)`) && e.message.includes(`chmod 600 ${keyFile}`));
        assert.throws(() => fileSigner(keyFile).sign('x'), /chmod 600/);
      } finally {
        chmodSync(keyFile, 0o600);
      }
    });
  });
}
