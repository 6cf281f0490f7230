// Deployments through the SDK, the same on both backends: straight to the stores, and through a
// server's REST routes. Create, list, traffic, promote, rollback, rollout, history and delete, and
// the errors a caller gets for a bad reference, a bad share or an unknown endpoint.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTrellisError } from '../src/core/errors.js';
import type { Trellis } from '../src/sdk/trellis.js';
import { Workspace } from '../src/workspace/workspace.js';
import { openEmbedded, openRemote, type Opener } from './test-helpers/sdk-openers.js';

const who = { actor: 'seed' };

/** Model churn with versions 1–3 (their files are not read: deployments name versions, serving loads them). */
async function seed(dir: string): Promise<void> {
  const ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
  try {
    const exp = await ws.tracking.createExperiment('serving', {}, who);
    const run = await ws.tracking.createRun({ experimentId: exp, userId: 'seed' }, who);
    await ws.tracking.logArtifact(run.info.runId, 'model/model.json', '{}');
    await ws.registry.createModel({ name: 'churn' }, who);
    for (let i = 0; i < 3; i++) await ws.registry.createVersion({ name: 'churn', source: `runs:/${run.info.runId}/model`, runId: run.info.runId }, who);
    await ws.registry.setAlias('churn', 'champion', '1', who);
  } finally {
    await ws.close();
  }
}

const code = (c: string) => (e: unknown) => {
  assert.ok(isTrellisError(e), String(e));
  assert.equal(e.code, c, e.message);
  return true;
};

function describeDeployments(name: string, open: Opener): void {
  describe(`SDK deployments (${name})`, () => {
    let dir: string;
    let t: Trellis;
    let cleanup: () => Promise<void>;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), `trellis-sdk-dep-${name}-`));
      await seed(dir);
      ({ t, cleanup } = await open(dir));
    });
    after(async () => {
      await t.close();
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('creates, lists, moves traffic, promotes and rolls back, each change a revision', async () => {
      const d = await t.createDeployment('churn-api', { model: 'churn@champion', shadow: 'churn/3' }, 'first');
      assert.equal(d.name, 'churn-api');
      assert.equal(d.revision, 1);
      assert.deepEqual(d.routes, [{ role: 'primary', model: 'churn@champion', share: 100 }, { role: 'shadow', model: 'churn/3', share: 0 }]);
      assert.deepEqual((await t.listDeployments()).map((x) => x.name), ['churn-api']);
      const c = await t.setTraffic('churn-api', { canary: { model: 'churn/2', share: 20 } }, 'try v2');
      assert.deepEqual(c.routes.map((r) => `${r.role}:${r.model}:${r.share}`), ['primary:churn@champion:80', 'canary:churn/2:20', 'shadow:churn/3:0']);
      const p = await t.promote('churn-api', { reason: 'held' });
      assert.deepEqual(p.routes.map((r) => `${r.role}:${r.model}:${r.share}`), ['primary:churn/2:100', 'shadow:churn/3:0']);
      const back = await t.rollback('churn-api');
      assert.deepEqual(back.routes.map((r) => `${r.role}:${r.model}:${r.share}`), ['primary:churn@champion:80', 'canary:churn/2:20', 'shadow:churn/3:0']);
      const noShadow = await t.setTraffic('churn-api', { canary: null, shadow: null });
      assert.deepEqual(noShadow.routes, [{ role: 'primary', model: 'churn@champion', share: 100 }]);
      const h = await t.deploymentHistory('churn-api');
      assert.deepEqual(h.map((r) => r.change), ['set_traffic', 'rollback', 'promote', 'set_traffic', 'create']);
      assert.equal(h[3]!.reason, 'try v2');
      assert.equal(h[0]!.by, name === 'embedded' ? 'sdk-user' : 'anonymous');
    });

    it('starts a rollout the deployment then shows, and a manual rollback ends it', async () => {
      const r = await t.rollout('churn-api', { model: 'churn/3', steps: [10, 50], holdMs: 60_000, slo: 'error_rate<0.01, rmse<=1.05*primary', minRequests: 50 });
      assert.equal(r.rollout?.model, 'churn/3');
      assert.deepEqual(r.rollout?.steps, [10, 50, 100]);
      assert.equal(r.rollout?.sloText, 'error_rate<0.01, rmse<=1.05*primary');
      assert.deepEqual(r.rollout?.slo[1], { metric: 'rmse', op: '<=', value: 1.05, relative: true });
      assert.equal((await t.getDeployment('CHURN-API')).rollout?.step, 0);
      assert.equal((await t.rollback('churn-api')).rollout, undefined);
    });

    it('names what is wrong: a missing version, a bad share, an unknown endpoint, a taken name', async () => {
      await assert.rejects(t.createDeployment('x', { model: 'churn/9' }), (e: unknown) => isTrellisError(e) && /churn/.test(e.message) && /9/.test(e.message));
      await assert.rejects(t.createDeployment('x', { model: 'churn/1', canary: { model: 'churn/2', share: 120 } }), code('TRELLIS_INVALID_PARAMETER'));
      await assert.rejects(t.getDeployment('nope'), code('TRELLIS_DEPLOYMENT_NOT_FOUND'));
      await assert.rejects(t.promote('nope'), code('TRELLIS_DEPLOYMENT_NOT_FOUND'));
      await assert.rejects(t.createDeployment('churn-api', { model: 'churn/1' }), code('TRELLIS_DEPLOYMENT_EXISTS'));
      await assert.rejects(t.rollout('churn-api', { model: 'churn/2', slo: 'latency<5' }), code('TRELLIS_INVALID_PARAMETER'));
      await t.deleteDeployment('churn-api');
      assert.deepEqual(await t.listDeployments(), []);
    });
  });
}

describeDeployments('embedded', openEmbedded('sdk-user'));
describeDeployments('remote', openRemote);
