/**
 * The behaviour every {@link TriggerStore} must show: deduplicated records, atomic claims and compare-and-set updates.
 * Run by each adapter's test with a factory that returns fresh, empty stores.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditLog } from './audit.js';
import type { TriggerStore } from './triggers.js';
import { rejectsCode, useStores, who, type OpenStores } from './test-helpers/contract-helpers.js';

export function describeTriggerStoreContract(name: string, open: OpenStores): void {
  describe(`TriggerStore contract: ${name}`, () => {
    const stores = useStores(open);
    let audit: AuditLog;
    let triggers: TriggerStore;
    before(() => {
      const s = stores();
      audit = s.audit;
      triggers = s.triggers;
    });

    describe('trigger records', () => {
      it('writes each deduplicated event once, and lists records by pipeline and status', async () => {
        const first = await triggers.createTrigger({ pipeline: 'tr-a', kind: 'cron', reason: 'due at 03:00', dedupeKey: 'cron:tr-a:2024-01-01T03:00:00.000Z' }, who);
        assert.equal(first.created, true);
        assert.equal(first.trigger.status, 'pending');
        assert.deepEqual(first.trigger.params, {});
        const again = await triggers.createTrigger({ pipeline: 'tr-a', kind: 'cron', dedupeKey: 'cron:tr-a:2024-01-01T03:00:00.000Z' }, who);
        assert.deepEqual([again.created, again.trigger.id], [false, first.trigger.id]);
        const api1 = await triggers.createTrigger({ pipeline: 'tr-a', kind: 'api', params: { trees: 5, note: 'x', fast: true } }, { actor: 'bob' });
        const api2 = await triggers.createTrigger({ pipeline: 'tr-a', kind: 'api' }, who);
        assert.notEqual(api1.trigger.id, api2.trigger.id, 'records without a dedupe key are never merged');
        assert.deepEqual(api1.trigger.params, { trees: 5, note: 'x', fast: true });
        assert.equal(api1.trigger.requestedBy, 'bob');
        await triggers.createTrigger({ pipeline: 'tr-b', kind: 'record', reason: 'drift on bike' }, who);
        assert.deepEqual((await triggers.listTriggers({ pipeline: 'tr-a' })).map((t) => t.id), [api2.trigger.id, api1.trigger.id, first.trigger.id]);
        assert.deepEqual((await triggers.listTriggers({ pipeline: 'tr-a', oldestFirst: true, limit: 2 })).map((t) => t.id), [first.trigger.id, api1.trigger.id]);
        assert.equal((await triggers.listTriggers({ pipeline: 'tr-b', status: 'pending' })).length, 1);
        assert.equal((await triggers.listTriggers({ pipeline: 'tr-b', status: ['running', 'failed'] })).length, 0);
        assert.equal((await triggers.getTrigger(api1.trigger.id)).kind, 'api');
        await rejectsCode(triggers.getTrigger(999999), 'TRELLIS_TRIGGER_NOT_FOUND');
        await rejectsCode(triggers.createTrigger({ pipeline: 'tr-a', kind: 'sometimes' as never }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(triggers.createTrigger({ pipeline: 'tr-a', kind: 'api', params: { 'bad key': 1 } }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(triggers.createTrigger({ pipeline: 'tr-a', kind: 'api', params: { x: { nested: true } as never } }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(triggers.listTriggers({ status: 'done' as never }), 'TRELLIS_INVALID_PARAMETER');
        const events = await audit.listAuditEvents({ entityType: 'pipeline_trigger', entityId: String(first.trigger.id) });
        assert.deepEqual(events.map((e) => e.action), ['create_trigger'], 'a deduplicated event writes nothing');
      });

      it('claims pending records once, one at a time per pipeline when exclusive, and updates them by compare-and-set', async () => {
        const ids: number[] = [];
        for (const p of ['cl-a', 'cl-a', 'cl-b']) ids.push((await triggers.createTrigger({ pipeline: p, kind: 'api' }, who)).trigger.id);
        const [a1, a2, b1] = ids as [number, number, number];
        const claimed = await triggers.claimTriggers({ claimer: 'sched-1', exclusive: true, limit: 10 }, who);
        const mine = claimed.filter((t) => ids.includes(t.id));
        assert.deepEqual(mine.map((t) => t.id), [a1, b1], 'the oldest of each pipeline');
        assert.ok(mine.every((t) => t.status === 'running' && t.claimedBy === 'sched-1' && t.claimedAt !== undefined));
        assert.deepEqual(await triggers.claimTriggers({ claimer: 'sched-2', pipeline: 'cl-a', exclusive: true }, who), [], 'cl-a has a running record');
        assert.deepEqual((await triggers.claimTriggers({ claimer: 'sched-2', ids: [a1] }, who)), [], 'a running record is not pending');
        assert.equal(await triggers.updateTrigger(a1, { status: 'finished', expectStatus: ['pending'] }, who), undefined, 'the compare failed: nothing written');
        assert.equal((await triggers.getTrigger(a1)).status, 'running');
        const done = await triggers.updateTrigger(a1, { status: 'finished', runId: 'r1', version: 3, detail: 'run r1 FINISHED', expectStatus: ['running'] }, who);
        assert.deepEqual([done!.status, done!.runId, done!.version, done!.detail], ['finished', 'r1', 3, 'run r1 FINISHED']);
        const next = await triggers.claimTriggers({ claimer: 'sched-2', pipeline: 'cl-a', exclusive: true }, who);
        assert.deepEqual(next.map((t) => [t.id, t.claimedBy]), [[a2, 'sched-2']]);
        assert.equal(await triggers.touchTriggers('sched-2'), 1);
        assert.deepEqual((await triggers.listTriggers({ claimedBy: 'sched-2', status: 'running' })).map((t) => t.id), [a2]);
        await rejectsCode(triggers.updateTrigger(999999, { status: 'failed' }, who), 'TRELLIS_TRIGGER_NOT_FOUND');
        await rejectsCode(triggers.updateTrigger(a2, { status: 'exploded' as never }, who), 'TRELLIS_INVALID_PARAMETER');
        const events = await audit.listAuditEvents({ entityType: 'pipeline_trigger', entityId: String(a1) });
        assert.deepEqual(events.map((e) => e.action), ['create_trigger', 'claim_trigger', 'update_trigger']);
        assert.deepEqual(events[2]!.after, { status: 'finished', runId: 'r1', version: 3, detail: 'run r1 FINISHED' });
      });

      it('gives each of 12 pending records to exactly one of 24 concurrent claims', async () => {
        const ids = new Set<number>();
        for (let i = 0; i < 12; i++) ids.add((await triggers.createTrigger({ pipeline: `race-${i % 3}`, kind: 'api' }, who)).trigger.id);
        const claims = await Promise.all(Array.from({ length: 24 }, (_, i) => triggers.claimTriggers({ claimer: `c${i}`, limit: 1 }, who)));
        const got = claims.flat().filter((t) => ids.has(t.id)).map((t) => t.id);
        assert.equal(got.length, 12);
        assert.equal(new Set(got).size, 12, 'no record claimed twice');
      });
    });


    describe('audit', () => {
      it('audits every state change but not a sign of life', async () => {
        const { trigger } = await triggers.createTrigger({ pipeline: 'alive', kind: 'api' }, who);
        await triggers.claimTriggers({ claimer: 'sched-alive', ids: [trigger.id] }, who);
        const before = (await audit.listAuditEvents({ limit: 1_000_000 })).length;
        assert.equal(await triggers.touchTriggers('sched-alive'), 1);
        assert.equal(await triggers.touchTriggers('sched-alive'), 1);
        assert.equal((await audit.listAuditEvents({ limit: 1_000_000 })).length, before);
        assert.ok((await triggers.getTrigger(trigger.id)).heartbeatAt !== undefined);
        assert.equal(await triggers.touchTriggers('nobody'), 0);
      });
    });

  });
}
