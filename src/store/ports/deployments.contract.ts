/**
 * The behaviour every {@link DeploymentStore} must show: unique endpoint names, a revision bumped
 * and kept on every change, no lost update when a change names the revision it was based on, and
 * every change in the audit trail with its actor and reason.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditLog } from './audit.js';
import type { DeploymentSpec, DeploymentStore } from './deployments.js';
import { rejectsCode, useStores, who, type OpenStores } from './test-helpers/contract-helpers.js';

const champion: DeploymentSpec = { routes: [{ role: 'primary', model: 'churn@champion', share: 100 }] };
const withCanary: DeploymentSpec = {
  routes: [{ role: 'primary', model: 'churn@champion', share: 90 }, { role: 'canary', model: 'churn/4', share: 10 }],
};

export function describeDeploymentStoreContract(name: string, open: OpenStores): void {
  describe(`DeploymentStore contract: ${name}`, () => {
    const stores = useStores(open);
    let deployments: DeploymentStore;
    let audit: AuditLog;
    before(() => {
      deployments = stores().deployments;
      audit = stores().audit;
    });

    it('creates a deployment at revision 1, unique regardless of case, and refuses bad names', async () => {
      const d = await deployments.create('Churn-API', champion, who, 'first release');
      assert.equal(d.name, 'Churn-API');
      assert.equal(d.revision, 1);
      assert.equal(d.public, false);
      assert.equal(d.createdBy, 'alice');
      assert.deepEqual(d.routes, champion.routes);
      await rejectsCode(deployments.create('churn-api', champion, who), 'TRELLIS_DEPLOYMENT_EXISTS');
      await rejectsCode(deployments.create('', champion, who), 'TRELLIS_MISSING_PARAMETER');
      for (const bad of ['a b', 'x/y', '../etc', '-lead', 'é'.repeat(3), 'a'.repeat(200)]) {
        await rejectsCode(deployments.create(bad, champion, who), 'TRELLIS_INVALID_PARAMETER');
      }
      assert.equal((await deployments.find('CHURN-api'))?.name, 'Churn-API', 'found whatever the case');
      assert.equal(await deployments.find('nothing'), undefined);
      assert.equal(await deployments.find('x'.repeat(10_000)), undefined);
      const events = await audit.listAuditEvents({ entityType: 'deployment', entityId: 'Churn-API' });
      assert.equal(events.length, 1);
      assert.equal(events[0]!.action, 'create_deployment');
      assert.equal(events[0]!.actor, 'alice');
      assert.deepEqual((events[0]!.after as { routes: unknown }).routes, champion.routes);
      assert.equal((events[0]!.after as { reason: string }).reason, 'first release');
    });

    it('bumps the revision on every change, keeps each one in the history and audits before and after', async () => {
      await deployments.create('history', champion, who);
      const d2 = await deployments.update('history', { spec: withCanary, change: 'set_traffic', reason: 'canary 10%' }, { actor: 'bob' });
      assert.equal(d2.revision, 2);
      assert.equal(d2.updatedBy, 'bob');
      assert.equal(d2.createdBy, 'alice');
      assert.deepEqual(d2.routes, withCanary.routes);
      const d3 = await deployments.update('history', { spec: { ...champion, public: true, stickyKey: 'header:x-user' }, change: 'rollback', evidence: { error_rate: 0.2, requests: 120 } }, who);
      assert.equal(d3.revision, 3);
      assert.equal(d3.public, true);
      assert.equal(d3.stickyKey, 'header:x-user');
      const h = await deployments.history('HISTORY');
      assert.deepEqual(h.map((r) => [r.revision, r.change, r.by]), [[3, 'rollback', 'alice'], [2, 'set_traffic', 'bob'], [1, 'create', 'alice']]);
      assert.equal(h[1]!.reason, 'canary 10%');
      assert.deepEqual(h[1]!.routes, withCanary.routes);
      assert.equal((await deployments.history('history', 1)).length, 1);
      const events = await audit.listAuditEvents({ entityType: 'deployment', entityId: 'history' });
      assert.deepEqual(events.map((e) => e.action), ['create_deployment', 'set_traffic_deployment', 'rollback_deployment']);
      const rollback = events[2]!;
      assert.deepEqual((rollback.before as { routes: unknown }).routes, withCanary.routes);
      assert.deepEqual((rollback.after as { evidence: unknown }).evidence, { error_rate: 0.2, requests: 120 });
    });

    it('refuses a change based on a revision that is no longer current, and changes nothing', async () => {
      await deployments.create('race', champion, who);
      await deployments.update('race', { spec: withCanary, change: 'set_traffic', expectRevision: 1 }, who);
      await rejectsCode(deployments.update('race', { spec: champion, change: 'promote', expectRevision: 1 }, who), 'TRELLIS_DEPLOYMENT_CONFLICT');
      const now = await deployments.find('race');
      assert.equal(now?.revision, 2);
      assert.deepEqual(now?.routes, withCanary.routes);
      // Two writers racing on the same revision: exactly one wins.
      const results = await Promise.allSettled([
        deployments.update('race', { spec: champion, change: 'promote', expectRevision: 2 }, who),
        deployments.update('race', { spec: champion, change: 'rollback', expectRevision: 2 }, who),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      assert.equal((await deployments.find('race'))?.revision, 3);
    });

    it('lists by name, refuses changes to unknown deployments and deletes with an audit event', async () => {
      await rejectsCode(deployments.update('ghost', { spec: champion, change: 'set_traffic' }, who), 'TRELLIS_DEPLOYMENT_NOT_FOUND');
      await rejectsCode(deployments.update('race', { spec: champion, change: 'Drop Table' }, who), 'TRELLIS_INVALID_PARAMETER');
      await rejectsCode(deployments.history('ghost'), 'TRELLIS_DEPLOYMENT_NOT_FOUND');
      await rejectsCode(deployments.delete('ghost', who), 'TRELLIS_DEPLOYMENT_NOT_FOUND');
      const names = (await deployments.list()).map((d) => d.name);
      assert.deepEqual(names, [...names].sort());
      assert.ok(names.includes('race'));
      await deployments.delete('RACE', who);
      assert.equal(await deployments.find('race'), undefined);
      const events = await audit.listAuditEvents({ entityType: 'deployment', entityId: 'race', action: 'delete_deployment' });
      assert.equal(events.length, 1);
      // The name is free again, with a fresh history.
      const again = await deployments.create('race', champion, who);
      assert.equal(again.revision, 1);
      assert.equal((await deployments.history('race')).length, 1);
    });

    it('keeps a rollout in the spec, records decisions that change nothing, and elects one lease holder', async () => {
      const rollout = {
        model: 'churn/4', steps: [10, 50, 100], step: 0, holdMs: 60_000, slo: [{ metric: 'error_rate' as const, op: '<' as const, value: 0.01, relative: false }],
        sloText: 'error_rate<0.01', minRequests: 100, minLabels: 30, startedAt: 5, stepStartedAt: 5, startedBy: 'alice',
      };
      const d = await deployments.create('rolling', { ...withCanary, rollout }, who);
      assert.deepEqual(d.rollout, rollout);
      assert.deepEqual((await deployments.history('rolling'))[0]!.rollout, rollout);
      await deployments.recordDecision('rolling', 'rollout_hold', { reason: 'waiting for 100 requests', requests: 12 }, { actor: 'trellis' });
      const [hold] = await audit.listAuditEvents({ entityType: 'deployment', entityId: 'rolling', action: 'rollout_hold' });
      assert.equal(hold?.actor, 'trellis');
      assert.deepEqual((hold?.after as { evidence: unknown }).evidence, { reason: 'waiting for 100 requests', requests: 12 });
      assert.equal((await deployments.find('rolling'))?.revision, 1, 'a decision that changes nothing is no revision');
      await rejectsCode(deployments.recordDecision('ghost', 'rollout_hold', {}, who), 'TRELLIS_DEPLOYMENT_NOT_FOUND');

      const won = await Promise.all(['a', 'b', 'c', 'd'].map((h) => deployments.acquireLease('controller', h, 60_000)));
      assert.equal(won.filter(Boolean).length, 1, `exactly one holder: ${won.join(',')}`);
      const holder = ['a', 'b', 'c', 'd'][won.indexOf(true)]!;
      assert.equal(await deployments.acquireLease('controller', holder, 60_000), true, 'the holder renews');
      assert.equal(await deployments.acquireLease('controller', holder === 'a' ? 'b' : 'a', 60_000), false);
      // A lease not renewed expires and another replica takes it.
      await deployments.acquireLease('short', 'x', 1);
      await new Promise((r) => setTimeout(r, 10));
      assert.equal(await deployments.acquireLease('short', 'y', 60_000), true);
      assert.equal(await deployments.acquireLease('short', 'x', 60_000), false);
    });

    it('pushes changes made by any writer where the store can, and otherwise says it cannot', async () => {
      let calls = 0;
      const stop = await deployments.watch(() => { calls++; });
      // A store that cannot push (SQLite) says so; its readers poll.
      if (stop === undefined) return;
      try {
        await deployments.create('watched', champion, who);
        for (let waited = 0; calls === 0 && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
        assert.ok(calls > 0, 'a notification after a create');
        const before = calls;
        await deployments.update('watched', { spec: withCanary, change: 'set_traffic' }, who);
        for (let waited = 0; calls === before && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
        assert.ok(calls > before, 'a notification after an update');
      } finally {
        await stop();
      }
      const after = calls;
      await deployments.delete('watched', who);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(calls, after, 'nothing once stopped');
    });
  });
}
