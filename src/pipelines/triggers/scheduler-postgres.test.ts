/**
 * Two schedulers, each with its own connections, on one PostgreSQL database and one artifact
 * folder: every event is recorded once, every record runs once, and a pipeline under the queue
 * policy never has two runs at a time.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openArtifactStore, openStores } from '../../store/open-stores.js';
import type { Stores } from '../../store/stores.js';
import { createTestDatabase } from '../../store/test-helpers/postgres.js';
import type { EngineServices } from '../engine/engine.js';
import { engineServicesOver } from '../engine/services.js';
import { buildPackage } from '../package.js';
import { publishPackage, requestTrigger } from './deployments.js';
import { Scheduler } from './scheduler.js';
import { writeTinyPipeline } from './test-helpers/deployable-pipeline.js';

const who = { actor: 'tester' };
const HOUR = 3_600_000;

type Opened = EngineServices & { stores: Stores };

async function services(storeUri: string, artifactsDir: string): Promise<Opened> {
  const stores = await openStores(storeUri);
  return { ...engineServicesOver(stores, await openArtifactStore(`file:${artifactsDir}`)), stores };
}

describe('two schedulers on one PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  let a: Opened;
  let b: Opened;
  before(async () => {
    db = await createTestDatabase('trellis_sched');
    dir = mkdtempSync(join(tmpdir(), 'trellis-sched-pg-'));
    // As root, a deployed pipeline's code runs as nobody: it must reach the packages and files here.
    chmodSync(dir, 0o1777);
    a = await services(db.uri, join(dir, 'artifacts'));
    b = await services(db.uri, join(dir, 'artifacts'));
  });
  after(async () => {
    for (const s of [a, b]) {
      await s?.stores.close();
      await s?.artifacts.close();
    }
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records each cron event once and runs each trigger record once, one run at a time per queued pipeline', async () => {
    const names = ['pg-one', 'pg-two', 'pg-three'];
    let createdAt = 0;
    for (const name of names) {
      const pkg = await buildPackage(writeTinyPipeline(join(dir, 'src'), name, { triggers: [{ api: true }, { cron: '0 * * * *' }] }));
      createdAt = Math.max(createdAt, (await publishPackage(a, pkg, who)).version.createdAt);
    }
    const now = Math.floor(createdAt / HOUR + 1) * HOUR + 1000;
    const one = new Scheduler(a, { id: 'sched-a', now: () => now, cacheDir: join(dir, 'cache-a') });
    const two = new Scheduler(b, { id: 'sched-b', now: () => now, cacheDir: join(dir, 'cache-b') });
    for (const name of names) for (let i = 0; i < 3; i++) await requestTrigger(i % 2 ? a : b, { pipeline: name, params: { label: `${name}-${i}` } }, who);

    for (;;) {
      await Promise.all([one.tick(), two.tick(), one.tick(), two.tick()]);
      await Promise.all([one.settled(), two.settled()]);
      if (!(await a.stores.triggers.listTriggers({ status: ['pending', 'running'] })).length) break;
    }
    const records = await a.stores.triggers.listTriggers({ oldestFirst: true, limit: 1000 });
    assert.equal(records.filter((t) => t.kind === 'cron').length, 3, 'one cron record per pipeline for the one due time');
    assert.equal(records.length, 12);
    assert.deepEqual(records.map((t) => t.status), records.map(() => 'finished'), JSON.stringify(records.map((t) => t.detail)));
    assert.equal(new Set(records.map((t) => t.runId)).size, 12, 'a run per record');
    assert.ok(records.every((t) => t.claimedBy === 'sched-a' || t.claimedBy === 'sched-b'));

    for (const name of names) {
      const exp = await a.stores.tracking.getExperimentByName(name);
      const runs = (await a.stores.tracking.searchRuns({
        experimentIds: [exp.experimentId], filter: [{ kind: 'tag', key: 'trellis.pipeline', comparator: '=', value: name }], maxResults: 100,
      })).items;
      assert.equal(runs.length, 4, `${name}: no record ran twice`);
      const spans = runs.map((r) => [r.info.startTime, r.info.endTime!] as const).sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0] >= spans[i - 1]![1], `${name}: runs overlap under the queue policy`);
      // Every claim is in the audit trail once.
      const claims = await a.stores.audit.listAuditEvents({ entityType: 'pipeline_trigger', action: 'claim_trigger' });
      assert.equal(new Set(claims.map((e) => e.entityId)).size, claims.length);
    }
  });
});
