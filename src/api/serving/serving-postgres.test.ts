/**
 * `trellis serve` on PostgreSQL: replicas learn of a moved alias or a changed deployment from the
 * database's notifications, without waiting for a poll (the engine's poll is set to a minute here,
 * longer than the test waits).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServingEngine } from '../../serving/engine.js';
import { createTestDatabase } from '../../store/test-helpers/postgres.js';
import { Workspace } from '../../workspace/workspace.js';
import { workspaceSource } from './source.js';
import { ADULT, ROW } from './test-helpers/adult.js';

const who = { actor: 'alice' };

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('serving on PostgreSQL: changes pushed by the database', () => {
  let dir: string;
  let db: { uri: string; drop: () => Promise<void> };
  let ws: Workspace;
  let other: Workspace;
  let engine: ServingEngine;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-serve-pg-'));
    db = await createTestDatabase();
    ws = await Workspace.open({ store: db.uri, artifacts: `file:${join(dir, 'a')}` });
    await ws.training.train({ data: ADULT, target: 'income', algo: 'linear', register: 'income' }, who);
    await ws.training.train({ data: ADULT, target: 'income', algo: 'linear', params: { l2: '20' }, register: 'income' }, who);
    await ws.registry.setAlias('income', 'champion', '1', who);
    await ws.deployments.create('income', { model: 'income@champion' }, who);
    engine = new ServingEngine({ source: workspaceSource(ws), pollMs: 60_000 });
    await engine.start();
    // Another process's workspace makes the changes.
    other = await Workspace.open({ store: db.uri, artifacts: `file:${join(dir, 'a')}` });
  });
  after(async () => {
    await engine?.stop();
    await other?.close();
    await ws?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows an alias move and a canary within moments, with no poll', async () => {
    assert.equal(engine.watching, true);
    const version = async () => (await engine.infer({ endpoint: 'income', records: [ROW], requestId: 'x' })).modelVersion;
    assert.equal(await version(), '1');
    await other.registry.setAlias('income', 'champion', '2', who);
    await until('the alias move', async () => (await version()) === '2');
    await other.deployments.setTraffic('income', { canary: { model: 'income/1', share: 50 } }, who);
    await until('the canary', async () => engine.endpoints()[0]!.routes.some((r) => r.label === 'canary'));
  });
});
