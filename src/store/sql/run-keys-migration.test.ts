/**
 * Migrations 6 (integer run keys) and 7 (each run's data kept as JSON text) on a store written by
 * the code before them: the fixture's
 * expected.json holds what schema 5 read back from its trellis.db (scripts/make-tracking-v5-fixture.ts),
 * and after the upgrade every run, metric history and search page must read the same, on SQLite
 * and on PostgreSQL (the fixture's rows copied into a database at schema 5).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyAuditChain } from '../audit-chain.js';
import { PostgresDriver } from '../postgres/postgres-driver.js';
import { SqliteDriver } from '../sqlite/sqlite-driver.js';
import type { Clause, OrderKey } from '../search-types.js';
import { createTestDatabase } from '../test-helpers/postgres.js';
import { SCHEMA_VERSION, currentVersion, migrate } from './migrations.js';
import type { SqlDriver } from './sql-driver.js';
import { openSqlStores, type SqlStores } from './sql-stores.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/tracking-v5/', import.meta.url));

interface Expected {
  runs: Record<string, unknown>;
  histories: Record<string, Record<string, unknown>>;
  searches: {
    experiments: string[]; viewType?: 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL'; pageSize: number;
    /** The search as the parser of schema 5 read its filter and order_by. */
    clauses: { filter: Clause[]; orderBy: OrderKey[] };
    /** Each page's runs by id: as `runs` holds them. */
    pages: { runIds: string[]; nextPageToken: string | null }[];
  }[];
}

const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as Expected;

/** NaN and the infinities as strings, as the fixture's JSON holds them. */
const plain = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x))) as unknown;

/** The tables the fixture's tracking data lives in at schema 5, parents first. */
const TABLES = ['experiments', 'experiment_tags', 'runs', 'params', 'tags', 'metrics', 'latest_metrics', 'run_inputs', 'audit_events'];

async function copyRows(from: SqlDriver, to: SqlDriver): Promise<void> {
  await to.transaction(async (tx) => {
    for (const table of TABLES) {
      const rows = await from.query(`SELECT * FROM ${table}`);
      if (!rows[0]) continue;
      const cols = Object.keys(rows[0]);
      await tx.runMany(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(',')})`, rows.map((r) => cols.map((c) => r[c] as never)));
    }
  });
}

const backends: [string, () => Promise<{ stores: SqlStores; cleanup: () => Promise<void> }>][] = [
  ['sqlite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-run-keys-'));
    copyFileSync(join(FIXTURE, 'trellis.db'), join(dir, 'trellis.db'));
    const old = SqliteDriver.open(join(dir, 'trellis.db'));
    assert.equal(await currentVersion(old), 5);
    await old.close();
    const stores = await openSqlStores(SqliteDriver.open(join(dir, 'trellis.db')));
    return { stores, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }],
  ['postgres', async () => {
    const db = await createTestDatabase();
    const pg = await PostgresDriver.open(db.uri);
    await migrate(pg, 5);
    const fixture = SqliteDriver.open(join(FIXTURE, 'trellis.db'));
    try {
      await copyRows(fixture, pg);
    } finally {
      await fixture.close();
    }
    await pg.close();
    const stores = await openSqlStores(await PostgresDriver.open(db.uri));
    return { stores, cleanup: db.drop };
  }],
];

for (const [name, open] of backends) {
  describe(`migrations 6 and 7, integer run keys and run data as JSON: a store written at schema 5 on ${name}`, () => {
    let stores: SqlStores;
    let cleanup: () => Promise<void>;
    before(async () => ({ stores, cleanup } = await open()));
    after(async () => {
      await stores.close();
      await cleanup();
    });

    it('upgrades to the current schema', async () => {
      assert.equal(await stores.schemaVersion(), SCHEMA_VERSION);
    });

    it('reads every run as schema 5 read it', async () => {
      for (const [id, run] of Object.entries(expected.runs)) assert.deepEqual(plain(await stores.tracking.getRun(id)), run, id);
    });

    // Page tokens are signed now (page-tokens.ts): what must match schema 5's is what they say, their payload before the '.'.
    const said = (token: string | null | undefined): unknown => (token ? JSON.parse(Buffer.from(token.split('.')[0]!, 'base64').toString('utf8')) : null);
    const unsigned = <T extends { nextPageToken?: string }>(page: T): T => (page.nextPageToken ? { ...page, nextPageToken: said(page.nextPageToken) } : page);

    it('reads every metric history as schema 5 read it', async () => {
      for (const [id, byKey] of Object.entries(expected.histories)) {
        for (const [key, history] of Object.entries(byKey)) {
          const got = key === 'loss_paged' ? unsigned(await stores.tracking.getMetricHistory(id, 'loss', { maxResults: 2 })) : (await stores.tracking.getMetricHistory(id, key)).items;
          assert.deepEqual(plain(got), key === 'loss_paged' ? unsigned(history as { nextPageToken?: string }) : history, `${id} ${key}`);
        }
      }
    });

    it('answers every search page by page as schema 5 did', async () => {
      for (const s of expected.searches) {
        const pages: unknown[] = [];
        let pageToken: string | undefined;
        do {
          const page = await stores.tracking.searchRuns({ experimentIds: s.experiments, ...s.clauses, viewType: s.viewType, maxResults: s.pageSize, pageToken });
          pages.push({ items: plain(page.items), nextPageToken: said(page.nextPageToken) });
          pageToken = page.nextPageToken;
        } while (pageToken);
        const want = s.pages.map((p) => ({ items: p.runIds.map((id) => expected.runs[id]), nextPageToken: said(p.nextPageToken) }));
        assert.deepEqual(pages, want, JSON.stringify({ ...s.clauses, viewType: s.viewType }));
      }
    });

    it('keeps the audit chain, and new runs and writes to old ones work', async () => {
      const [id] = Object.keys(expected.runs);
      const exp = (await stores.tracking.getRun(id!)).info.experimentId;
      const fresh = await stores.tracking.createRun({ experimentId: exp, runName: 'after-upgrade' }, { actor: 't' });
      await stores.tracking.logBatch(fresh.info.runId, { metrics: [{ key: 'acc', value: 2, timestamp: 1, step: 0 }], params: [{ key: 'alpha', value: '9' }] }, { actor: 't' });
      await stores.tracking.logBatch(id!, { metrics: [{ key: 'acc', value: 3, timestamp: 2, step: 99 }], tags: [{ key: 'upgraded', value: 'yes' }] }, { actor: 't' });
      const top = await stores.tracking.searchRuns({ experimentIds: [exp], orderBy: [{ kind: 'metric', key: 'acc', ascending: false }], maxResults: 2 });
      assert.deepEqual(top.items.map((r) => r.info.runId), [id, fresh.info.runId]);
      assert.equal(top.items[0]!.data.tags.upgraded, 'yes');
      assert.deepEqual(top.items[1]!.data.params, { alpha: '9' });
      assert.equal(verifyAuditChain(await stores.audit.listAuditEvents({ limit: 10_000 })).ok, true);
    });
  });
}
