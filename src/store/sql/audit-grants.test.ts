/**
 * The insert-only audit tables of docs/security.md, on the real PostgreSQL: the SQL block there is
 * run as written (with a fresh role and database name), then the store runs as that role — it
 * appends events and checkpoints — while PostgreSQL refuses the role any UPDATE, DELETE or TRUNCATE
 * of an audit row.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { fileSigner } from '../audit-signing.js';
import { PostgresDriver } from '../postgres/postgres-driver.js';
import { PG_ADMIN_URI, createTestDatabase } from '../test-helpers/postgres.js';
import { openSqlStores, type SqlStores } from './sql-stores.js';

const DOC = new URL('../../../docs/security.md', import.meta.url);

/** The SQL block of docs/security.md that follows its insert-only marker. */
function documentedGrants(): string {
  const text = readFileSync(DOC, 'utf8');
  const m = /<!-- insert-only-grants[^>]*-->\s*```sql\n([\s\S]*?)```/.exec(text);
  assert.ok(m, 'docs/security.md has the insert-only grants block');
  return m[1]!;
}

describe('PostgreSQL: the documented insert-only grants on the audit tables', () => {
  const role = `trellis_app_${randomBytes(4).toString('hex')}`;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dbName: string;
  let asRole: SqlStores;
  let keys: string;

  before(async () => {
    keys = mkdtempSync(join(tmpdir(), 'trellis-grants-'));
    db = await createTestDatabase();
    dbName = new URL(db.uri).pathname.slice(1);
    // The owner creates (migrates) the store and writes to it.
    const owner = await openSqlStores(await PostgresDriver.open(db.uri));
    await owner.tracking.createExperiment({ name: 'owned' }, { actor: 'owner' });
    await owner.close();
    const admin = new pg.Client({ connectionString: db.uri });
    await admin.connect();
    try {
      const sql = documentedGrants().replace(/\btrellis_app\b/g, role).replace(/\bDATABASE trellis\b/g, `DATABASE ${dbName}`);
      for (const stmt of sql.split(';').map((s) => s.trim()).filter(Boolean)) await admin.query(stmt);
    } finally {
      await admin.end();
    }
    const uri = new URL(db.uri);
    uri.username = role;
    uri.password = 'change-me';
    asRole = await openSqlStores(await PostgresDriver.open(uri.toString()));
  });

  after(async () => {
    await asRole?.close();
    await db?.drop();
    const admin = new pg.Client({ connectionString: PG_ADMIN_URI });
    await admin.connect();
    try {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
    } finally {
      await admin.end();
    }
    rmSync(keys, { recursive: true, force: true });
  });

  it('lets the role write through the store: events and checkpoints are appended', async () => {
    const before = (await asRole.audit.listAuditEvents({ limit: 1_000_000 })).length;
    const id = await asRole.tracking.createExperiment({ name: 'as-role' }, { actor: 'server' });
    await asRole.tracking.setExperimentTag(id, 'k', 'v', { actor: 'server' });
    await asRole.tracking.setExperimentTag(id, 'k', 'w', { actor: 'server' }); // an UPDATE of a tag row: allowed
    const events = await asRole.audit.listAuditEvents({ limit: 1_000_000 });
    assert.equal(events.length, before + 3);
    const cp = await asRole.audit.writeCheckpoint(fileSigner(join(keys, 'audit-signing.key')));
    assert.equal(cp!.seq, events.at(-1)!.seq);
  });

  for (const table of ['audit_events', 'audit_checkpoints']) {
    for (const stmt of [`UPDATE ${table} SET time = 0`, `DELETE FROM ${table}`, `TRUNCATE ${table}`]) {
      it(`refuses the role: ${stmt}`, async () => {
        await assert.rejects(asRole.driver.run(stmt), (e: Error) => {
          assert.match(e.message, new RegExp(`permission denied for table ${table}`));
          return true;
        });
        assert.ok((await asRole.driver.query(`SELECT COUNT(*) AS n FROM ${table}`))[0]!.n, 'the rows are still there');
      });
    }
  }
});
