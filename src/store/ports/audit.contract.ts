/**
 * The behaviour every {@link AuditLog} must show, with the ports that append to it: one event per change, in the change's transaction, in one hash chain.
 * Run by each adapter's test with a factory that returns fresh, empty stores.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { checkpointPayload, verifyAuditChain, verifyStoredTrail } from '../audit-chain.js';
import type { AuditLog, CheckpointSigner } from './audit.js';
import type { TrackingStore } from './tracking.js';
import { rejectsCode, useStores, who, type OpenStores } from './test-helpers/contract-helpers.js';

export function describeAuditLogContract(name: string, open: OpenStores): void {
  describe(`AuditLog contract: ${name}`, () => {
    const stores = useStores(open);
    let audit: AuditLog;
    let tracking: TrackingStore;
    before(() => {
      const s = stores();
      audit = s.audit;
      tracking = s.tracking;
    });

    describe('audit', () => {
      it('writes an event per change in the same transaction, and the chain verifies', async () => {
        const beforeCount = (await audit.listAuditEvents({ limit: 1_000_000 })).length;
        const id = await tracking.createExperiment({ name: 'audited' }, who);
        const r = await tracking.createRun({ experimentId: id }, who);
        await tracking.logBatch(r.info.runId, { metrics: [{ key: 'm', value: 1, timestamp: 1, step: 0 }] }, who);
        await assert.rejects(tracking.logBatch(r.info.runId, { params: [{ key: 'bad key!', value: '1' }] }, who));
        const events = (await audit.listAuditEvents({ limit: 1_000_000 })).slice(beforeCount);
        assert.deepEqual(events.map((e) => e.action), ['create_experiment', 'create_run', 'log_batch']);
        assert.equal(events[0]!.actor, 'alice');
        const all = await audit.listAuditEvents({ limit: 1_000_000 });
        const v = verifyAuditChain(all);
        assert.equal(v.ok, true, JSON.stringify(v.firstBad));
        assert.equal(v.checked, all.length);
      });
    });


    describe('one chain for every port', () => {
      it('writes no event for a change refused inside its transaction', async () => {
        const r = await tracking.createRun({ experimentId: '0' }, who);
        await tracking.logBatch(r.info.runId, { params: [{ key: 'fixed', value: '1' }] }, who);
        const before = (await audit.listAuditEvents({ limit: 1_000_000 })).length;
        await rejectsCode(tracking.logBatch(r.info.runId, {
          metrics: [{ key: 'half', value: 1, timestamp: 1, step: 0 }], params: [{ key: 'fixed', value: '2' }],
        }, who), 'TRELLIS_PARAM_CHANGED');
        assert.equal((await audit.listAuditEvents({ limit: 1_000_000 })).length, before);
        assert.deepEqual((await tracking.getRun(r.info.runId)).data.metrics, []);
      });

      it('keeps one gapless chain in commit order while every port writes at once', async () => {
        const s = stores();
        const sha = (c: string) => c.repeat(64);
        await s.registry.createRegisteredModel({ name: 'chain-model' }, who);
        const before = (await audit.listAuditEvents({ limit: 1_000_000 })).length;
        await Promise.all(Array.from({ length: 6 }, async (_, i) => {
          const id = await tracking.createExperiment({ name: `chain-${i}` }, { actor: `u${i}` });
          const run = await tracking.createRun({ experimentId: id }, { actor: `u${i}` });
          await Promise.all([
            tracking.logBatch(run.info.runId, { metrics: [{ key: 'm', value: i, timestamp: 1, step: 0 }] }, { actor: `u${i}` }),
            s.registry.createModelVersion({ name: 'chain-model', source: `s${i}`, runId: run.info.runId }, { actor: `u${i}` }),
            s.datasets.createDatasetVersion({
              name: `chain-data-${i}`, sha256: sha(String(i)), format: 'csv', rows: 1, columns: 1, sizeBytes: 1, source: 'x', artifactPath: 'x', schema: {}, profile: {},
            }, { actor: `u${i}` }),
            s.pipelines.createPipelineVersion({ name: `chain_p${i}`, irVersion: '1', packageSha256: sha(String(i)), irHash: sha('f'), location: 'p.json' }, { actor: `u${i}` }),
            s.triggers.createTrigger({ pipeline: `chain_p${i}`, kind: 'api' }, { actor: `u${i}` }),
          ]);
        }));
        const all = await audit.listAuditEvents({ limit: 1_000_000 });
        const v = verifyAuditChain(all);
        assert.equal(v.ok, true, JSON.stringify(v.firstBad));
        assert.deepEqual(all.map((e) => e.seq), all.map((_, i) => i + 1), 'numbered 1..n without gaps');
        const mine = all.slice(before);
        for (const action of ['create_experiment', 'create_run', 'log_batch', 'create_model_version', 'create_dataset', 'create_dataset_version', 'create_pipeline_version', 'create_trigger']) {
          assert.equal(mine.filter((e) => e.action === action).length, 6, action);
        }
        // Commit order: versions of one model are numbered in the order their events were appended.
        const versions = mine.filter((e) => e.action === 'create_model_version').map((e) => Number((e.after as { version: string }).version));
        assert.deepEqual(versions, [...versions].sort((a, b) => a - b));
      });

      it('lists events after a sequence number, by entity, entity prefix and action', async () => {
        await stores().registry.createRegisteredModel({ name: 'listed' }, who);
        await stores().registry.createModelVersion({ name: 'listed', source: 'a' }, who);
        await stores().registry.createModelVersion({ name: 'listed', source: 'b' }, { actor: 'bob' });
        const versions = await audit.listAuditEvents({ entityType: 'model_version', entityIdPrefix: 'listed/' });
        assert.deepEqual(versions.map((e) => [e.entityId, e.actor]), [['listed/1', 'alice'], ['listed/2', 'bob']]);
        const after = await audit.listAuditEvents({ afterSeq: versions[0]!.seq, entityType: 'model_version', entityIdPrefix: 'listed/' });
        assert.deepEqual(after.map((e) => e.entityId), ['listed/2']);
        assert.deepEqual((await audit.listAuditEvents({ entityType: 'registered_model', entityId: 'listed' })).map((e) => e.action), ['create_registered_model']);
        const byAction = await audit.listAuditEvents({ action: 'create_model_version', entityIdPrefix: 'listed/', limit: 1 });
        assert.deepEqual(byAction.map((e) => e.entityId), ['listed/1']);
        assert.deepEqual(byAction[0]!.before, null);
        assert.equal(byAction[0]!.prevHash.length, 64);
      });

      it('lists newest first when asked, and from a time on', async () => {
        await stores().registry.createRegisteredModel({ name: 'recent' }, who);
        await stores().registry.createModelVersion({ name: 'recent', source: 'a' }, who);
        await stores().registry.createModelVersion({ name: 'recent', source: 'b' }, who);
        const all = await audit.listAuditEvents({ limit: 1_000_000 });
        const newest = await audit.listAuditEvents({ newestFirst: true, limit: 1_000_000 });
        assert.deepEqual(newest.map((e) => e.seq), all.map((e) => e.seq).reverse());
        const latest = await audit.listAuditEvents({ newestFirst: true, limit: 2 });
        assert.deepEqual(latest.map((e) => e.seq), [all.at(-1)!.seq, all.at(-2)!.seq], 'the limit keeps the latest events');
        const mine = await audit.listAuditEvents({ newestFirst: true, entityType: 'model_version', entityIdPrefix: 'recent/' });
        assert.deepEqual(mine.map((e) => e.entityId), ['recent/2', 'recent/1']);
        // A bound at a recorded time keeps exactly the events recorded at or after it.
        const bound = all[Math.floor(all.length / 2)]!.time;
        const since = await audit.listAuditEvents({ since: bound, limit: 1_000_000 });
        assert.deepEqual(since.map((e) => e.seq), all.filter((e) => e.time >= bound).map((e) => e.seq));
        assert.deepEqual(await audit.listAuditEvents({ since: all.at(-1)!.time + 1 }), []);
        assert.equal((await audit.listAuditEvents({ since: 0, limit: 1_000_000 })).length, all.length);
      });
    });

    describe('signed checkpoints', () => {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const signer: CheckpointSigner = {
        keyId: 'contract-key', publicKey: String(publicKey.export({ type: 'spki', format: 'pem' })),
        sign: (payload) => sign(null, Buffer.from(payload), privateKey).toString('base64'),
      };
      const key = { from: 'the contract key', keyId: 'contract-key', verify: (payload: string, sig: string) => verify(null, Buffer.from(payload), publicKey, Buffer.from(sig, 'base64')) };
      const lastSeq = async () => (await audit.listAuditEvents({ newestFirst: true, limit: 1 }))[0]?.seq ?? 0;

      it('signs a checkpoint in the transaction of every N-th event, on demand, and after its own writes', async () => {
        const before = (await audit.listCheckpoints()).length;
        const from = await lastSeq();
        audit.signCheckpoints(signer, 3);
        for (let i = 0; i < 7; i++) await tracking.createExperiment({ name: `checkpointed-${i}` }, who);
        const to = await lastSeq();
        const events = new Map((await audit.listAuditEvents({ limit: 1_000_000 })).map((e) => [e.seq, e]));
        const cps = (await audit.listCheckpoints()).slice(before);
        const multiples = Array.from({ length: to - from }, (_, i) => from + 1 + i).filter((s) => s % 3 === 0);
        assert.deepEqual(cps.map((c) => c.seq), multiples);
        cps.forEach((c, i) => {
          assert.equal(c.id, before + i + 1, 'numbered 1, 2, 3, …');
          assert.equal(c.hash, events.get(c.seq)!.hash);
          assert.equal(c.count, c.seq);
          assert.equal(c.keyId, 'contract-key');
          assert.equal(c.publicKey, signer.publicKey);
          assert.ok(verify(null, Buffer.from(checkpointPayload(c)), publicKey, Buffer.from(c.signature, 'base64')), `checkpoint ${c.id} verifies`);
        });

        const now = await audit.writeCheckpoint(signer);
        assert.equal(now!.seq, to);
        assert.equal((await audit.writeCheckpoint(signer))!.id, now!.id, 'a checkpoint that covers the last event is not repeated');
        assert.equal(await audit.writeCheckpoint(signer, { ifAppended: true }), undefined, 'nothing appended since: nothing signed');
        await tracking.createExperiment({ name: 'checkpointed-last' }, who);
        const last = await audit.writeCheckpoint(signer, { ifAppended: true });
        assert.equal(last!.seq, to + 1);
        assert.equal(last!.id, now!.id + 1);

        const v = await verifyStoredTrail({ list: (q) => audit.listAuditEvents(q), checkpoints: await audit.listCheckpoints(), key });
        assert.equal(v.ok, true, JSON.stringify(v.problems));
        assert.equal(v.checkpoints, (await audit.listCheckpoints()).length);
      });

      it('reads the alias, model-version and dataset-version rows together with the last event', async () => {
        const s = stores();
        await s.registry.createRegisteredModel({ name: 'snap' }, who);
        await s.registry.createModelVersion({ name: 'snap', source: 'a' }, who);
        await s.registry.createModelVersion({ name: 'snap', source: 'b' }, who);
        await s.registry.setAlias('snap', 'champion', '2', who);
        await s.registry.setAlias('snap', 'old', '1', who);
        await s.registry.transitionStage('snap', '1', 'Production', false, who);
        await s.datasets.createDatasetVersion({
          name: 'snap-data', sha256: 'c'.repeat(64), format: 'csv', rows: 1, columns: 1, sizeBytes: 1, source: 'snap.csv', artifactPath: 'x', schema: {}, profile: {},
        }, who);
        const snap = await audit.registrySnapshot();
        assert.deepEqual(snap.datasetVersions.filter((d) => d.dataset === 'snap-data'), [{ dataset: 'snap-data', version: '1', sha256: 'c'.repeat(64), source: 'snap.csv' }]);
        assert.equal(snap.seq, await lastSeq());
        assert.deepEqual(snap.aliases.filter((a) => a.model === 'snap'), [
          { model: 'snap', alias: 'champion', version: '2' }, { model: 'snap', alias: 'old', version: '1' },
        ]);
        assert.deepEqual(snap.versions.filter((v) => v.model === 'snap'), [
          { model: 'snap', version: '1', stage: 'Production', source: 'a' }, { model: 'snap', version: '2', stage: 'None', source: 'b' },
        ]);
        const v = await verifyStoredTrail({ list: (q) => audit.listAuditEvents(q), checkpoints: await audit.listCheckpoints(), key, registry: snap });
        assert.equal(v.ok, true, JSON.stringify(v.problems));
      });
    });
  });
}
