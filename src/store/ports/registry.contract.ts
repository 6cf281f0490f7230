/**
 * The behaviour every {@link RegistryStore} must show: models, numbered versions, stages and aliases, and the check that a version's run exists.
 * Run by each adapter's test with a factory that returns fresh, empty stores.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditLog } from './audit.js';
import type { RegistryStore } from './registry.js';
import type { TrackingStore } from './tracking.js';
import { rejectsCode, useStores, who, type OpenStores } from './test-helpers/contract-helpers.js';

export function describeRegistryStoreContract(name: string, open: OpenStores): void {
  describe(`RegistryStore contract: ${name}`, () => {
    const stores = useStores(open);
    let audit: AuditLog;
    let registry: RegistryStore;
    let tracking: TrackingStore;
    before(() => {
      const s = stores();
      audit = s.audit;
      registry = s.registry;
      tracking = s.tracking;
    });

    describe('registry', () => {
      let runId: string;
      before(async () => {
        runId = (await tracking.createRun({ experimentId: '0' }, who)).info.runId;
      });

      it('creates, gets, renames, describes, tags and deletes models', async () => {
        const m = await registry.createRegisteredModel({ name: 'm1', description: 'first', tags: { t: '1' } }, who);
        assert.equal(m.name, 'm1');
        assert.equal(m.description, 'first');
        assert.deepEqual(m.tags, { t: '1' });
        await rejectsCode(registry.createRegisteredModel({ name: 'm1' }, who), 'TRELLIS_MODEL_EXISTS');
        await registry.createModelVersion({ name: 'm1', source: 'mlflow-artifacts:/0/x/artifacts/model', runId }, who);
        const renamed = await registry.renameRegisteredModel('m1', 'm1b', who);
        assert.equal(renamed.name, 'm1b');
        assert.equal((await registry.getModelVersion('m1b', '1')).name, 'm1b');
        await rejectsCode(registry.getRegisteredModel('m1'), 'TRELLIS_MODEL_NOT_FOUND');
        assert.equal((await registry.updateRegisteredModel('m1b', 'second', who)).description, 'second');
        await registry.setRegisteredModelTag('m1b', 'owner', 'ops', who);
        await registry.deleteRegisteredModelTag('m1b', 't', who);
        assert.deepEqual((await registry.getRegisteredModel('m1b')).tags, { owner: 'ops' });
        await registry.deleteRegisteredModel('m1b', who);
        await rejectsCode(registry.getRegisteredModel('m1b'), 'TRELLIS_MODEL_NOT_FOUND');
        await rejectsCode(registry.getModelVersion('m1b', '1'), 'TRELLIS_MODEL_NOT_FOUND');
      });

      it('numbers versions, never reuses a number, transitions stages and archives existing', async () => {
        await registry.createRegisteredModel({ name: 'm2' }, who);
        const v1 = await registry.createModelVersion({ name: 'm2', source: 's1', runId, tags: { k: 'v' } }, who);
        const v2 = await registry.createModelVersion({ name: 'm2', source: 's2' }, who);
        assert.equal(v1.version, '1');
        assert.equal(v2.version, '2');
        assert.equal(v1.currentStage, 'None');
        assert.equal(v1.status, 'READY');
        assert.equal(v1.runId, runId);
        assert.deepEqual(v1.tags, { k: 'v' });
        await registry.deleteModelVersion('m2', '2', who);
        assert.equal((await registry.createModelVersion({ name: 'm2', source: 's3' }, who)).version, '3');
        await registry.transitionStage('m2', '1', 'production' as never, false, who);
        const v3 = await registry.transitionStage('m2', '3', 'Production', true, who);
        assert.equal(v3.currentStage, 'Production');
        assert.equal((await registry.getModelVersion('m2', '1')).currentStage, 'Archived');
        const latest = await registry.getLatestVersions('m2', ['Production']);
        assert.deepEqual(latest.map((v) => v.version), ['3']);
        assert.deepEqual((await registry.getLatestVersions('m2')).map((v) => `${v.version}:${v.currentStage}`).sort(), ['1:Archived', '3:Production']);
        await rejectsCode(registry.transitionStage('m2', '1', 'Live' as never, false, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(registry.getModelVersion('m2', '2'), 'TRELLIS_MODEL_VERSION_NOT_FOUND');
        await rejectsCode(registry.getModelVersion('m2', 'abc'), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(registry.createModelVersion({ name: 'm2', source: 's', runId: 'f'.repeat(32) }, who), 'TRELLIS_RUN_NOT_FOUND');
        await registry.updateModelVersion('m2', '1', 'old one', who);
        await registry.setModelVersionTag('m2', '1', 'q', 'r', who);
        await registry.deleteModelVersionTag('m2', '1', 'k', who);
        const v = await registry.getModelVersion('m2', '1');
        assert.equal(v.description, 'old one');
        assert.deepEqual(v.tags, { q: 'r' });
      });

      it('moves aliases and searches models and versions', async () => {
        await registry.createRegisteredModel({ name: 'm3' }, who);
        await registry.createModelVersion({ name: 'm3', source: 'a', runId }, who);
        await registry.createModelVersion({ name: 'm3', source: 'b' }, who);
        await registry.setAlias('m3', 'champion', '1', who);
        await registry.setAlias('m3', 'champion', '2', who);
        assert.equal((await registry.getVersionByAlias('m3', 'champion')).version, '2');
        assert.deepEqual((await registry.getRegisteredModel('m3')).aliases, { champion: '2' });
        assert.deepEqual((await registry.getModelVersion('m3', '2')).aliases, ['champion']);
        await rejectsCode(registry.setAlias('m3', 'champion', '9', who), 'TRELLIS_MODEL_VERSION_NOT_FOUND');
        await rejectsCode(registry.setAlias('m3', 'v1', '1', who), 'TRELLIS_INVALID_PARAMETER');
        await registry.deleteAlias('m3', 'champion', who);
        await rejectsCode(registry.getVersionByAlias('m3', 'champion'), 'TRELLIS_ALIAS_NOT_FOUND');

        const models = await registry.searchRegisteredModels({ filter: [{ kind: 'attribute', key: 'name', comparator: 'LIKE', value: 'm%' }] });
        assert.deepEqual(models.items.map((m) => m.name), ['m2', 'm3']);
        const byRun = await registry.searchModelVersions({ filter: [{ kind: 'attribute', key: 'run_id', comparator: '=', value: runId }], orderBy: [{ kind: 'attribute', key: 'name', ascending: true }] });
        assert.deepEqual(byRun.items.map((v) => `${v.name}/${v.version}`), ['m2/1', 'm3/1']);
        const byName = await registry.searchModelVersions({ filter: [{ kind: 'attribute', key: 'name', comparator: '=', value: 'm3' }, { kind: 'attribute', key: 'version_number', comparator: '>', value: 1 }] });
        assert.deepEqual(byName.items.map((v) => v.version), ['2']);
      });

      it('keeps one final alias value under 50 concurrent updates, with events in commit order', async () => {
        await registry.createRegisteredModel({ name: 'race' }, who);
        for (let i = 0; i < 5; i++) await registry.createModelVersion({ name: 'race', source: `s${i}` }, who);
        const before = (await audit.listAuditEvents({ entityType: 'registered_model', entityId: 'race' })).length;
        await Promise.all(Array.from({ length: 50 }, (_, i) => registry.setAlias('race', 'champion', String((i % 5) + 1), { actor: `u${i}` })));
        const final = (await registry.getVersionByAlias('race', 'champion')).version;
        const events = (await audit.listAuditEvents({ entityType: 'registered_model', entityId: 'race' })).slice(before).filter((e) => e.action === 'set_alias');
        assert.ok(events.length >= 5 && events.length <= 50);
        // Each event's "before" is the previous event's "after": the events are in commit order.
        let prev: string | null = null;
        for (const e of events) {
          assert.equal((e.before as { version: string | null }).version, prev);
          prev = (e.after as { version: string }).version;
        }
        assert.equal(prev, final);
      });
    });

    describe('model names', () => {
      it('are stored in NFC without surrounding blanks, unique regardless of case, and refused with invisible characters', async () => {
        const m = await registry.createRegisteredModel({ name: ' team/Fraud-Mod\u00e8le ' }, who);
        assert.equal(m.name, 'team/Fraud-Mod\u00e8le');
        assert.equal((await registry.createRegisteredModel({ name: 'nfc-e\u0300' }, who)).name, 'nfc-\u00e8');
        const dup = await registry.createRegisteredModel({ name: 'TEAM/fraud-mod\u00e8le' }, who).then(() => undefined, (e: Error) => e);
        assert.equal((dup as { code?: string })?.code, 'TRELLIS_MODEL_EXISTS');
        assert.match(dup!.message, /already exists as 'team\/Fraud-Mod\u00e8le'/);
        await registry.createRegisteredModel({ name: 'names-b' }, who);
        await rejectsCode(registry.renameRegisteredModel('names-b', 'Team/Fraud-Mod\u00e8le', who), 'TRELLIS_MODEL_EXISTS');
        assert.equal((await registry.renameRegisteredModel('names-b', 'Names-B', who)).name, 'Names-B');
        for (const bad of ['a\u200bb', 'a\u202ab', 'a\u2069b', 'a\u200fb', 'a\ufeffb', 'a\u200db', 'a\nb', '.', '..', 'x'.repeat(257)]) {
          await rejectsCode(registry.createRegisteredModel({ name: bad }, who), 'TRELLIS_INVALID_PARAMETER');
          await rejectsCode(registry.renameRegisteredModel('Names-B', bad, who), 'TRELLIS_INVALID_PARAMETER');
        }
        assert.equal((await registry.getRegisteredModel('Names-B')).name, 'Names-B');
      });
    });


    describe('across concepts, in one transaction', () => {
      it('refuses a version whose run does not exist and writes nothing: no number used, no event', async () => {
        await registry.createRegisteredModel({ name: 'orphan' }, who);
        const before = (await audit.listAuditEvents({ limit: 1_000_000 })).length;
        await rejectsCode(registry.createModelVersion({ name: 'orphan', source: 's', runId: 'e'.repeat(32) }, who), 'TRELLIS_RUN_NOT_FOUND');
        assert.equal((await audit.listAuditEvents({ limit: 1_000_000 })).length, before);
        const run = await tracking.createRun({ experimentId: '0' }, who);
        const v = await registry.createModelVersion({ name: 'orphan', source: 's', runId: run.info.runId }, who);
        assert.equal(v.version, '1', 'the refused version did not take number 1');
        assert.equal(v.runId, run.info.runId);
      });

      it('records the digests of a version\'s files with the version, sorted by path, in its creation event', async () => {
        const a = { path: 'model.json', sha256: 'a'.repeat(64), size: 12 };
        const b = { path: 'MLmodel', sha256: 'b'.repeat(64), size: 3 };
        const c = { path: 'data/weights.bin', sha256: 'c'.repeat(64), size: 9_000_000_000 };
        await registry.createRegisteredModel({ name: 'digests' }, who);
        const v = await registry.createModelVersion({ name: 'digests', source: 'mlflow-artifacts:/0/r/artifacts/model', files: [a, b, c] }, who);
        assert.deepEqual(await registry.getModelVersionFiles('digests', v.version), [b, c, a]);
        const created = (await audit.listAuditEvents({ entityType: 'model_version', entityId: `digests/${v.version}` }))[0]!;
        assert.deepEqual((created.after as { files: unknown }).files, { MLmodel: b.sha256, 'data/weights.bin': c.sha256, 'model.json': a.sha256 });
        // A version with none recorded (made before digests were kept) answers undefined: its loads go unchecked.
        const bare = await registry.createModelVersion({ name: 'digests', source: 'mlflow-artifacts:/0/r/artifacts/other' }, who);
        assert.equal(await registry.getModelVersionFiles('digests', bare.version), undefined);
        await rejectsCode(registry.getModelVersionFiles('digests', '99'), 'TRELLIS_MODEL_VERSION_NOT_FOUND');
        await registry.deleteModelVersion('digests', v.version, who);
        await rejectsCode(registry.getModelVersionFiles('digests', v.version), 'TRELLIS_MODEL_VERSION_NOT_FOUND');
        await registry.deleteRegisteredModel('digests', who);
      });

      it('refuses malformed digests and writes nothing: no number used, no event', async () => {
        await registry.createRegisteredModel({ name: 'bad-digests' }, who);
        const before = (await audit.listAuditEvents({ limit: 1_000_000 })).length;
        const ok = { path: 'model.json', sha256: 'a'.repeat(64), size: 1 };
        for (const files of [
          [{ ...ok, path: '../x' }], [{ ...ok, path: '/abs' }], [{ ...ok, path: '' }], [{ ...ok, sha256: 'xyz' }], [{ ...ok, size: -1 }], [ok, ok],
        ]) {
          await rejectsCode(registry.createModelVersion({ name: 'bad-digests', source: 's', files }, who), 'TRELLIS_INVALID_PARAMETER');
        }
        assert.equal((await audit.listAuditEvents({ limit: 1_000_000 })).length, before);
        assert.equal((await registry.createModelVersion({ name: 'bad-digests', source: 's', files: [ok] }, who)).version, '1');
      });

      it('deletes a version with its aliases, each drop audited in the same change', async () => {
        await registry.createRegisteredModel({ name: 'aliased' }, who);
        await registry.createModelVersion({ name: 'aliased', source: 'a' }, who);
        await registry.createModelVersion({ name: 'aliased', source: 'b' }, who);
        await registry.setAlias('aliased', 'champion', '1', who);
        await registry.setAlias('aliased', 'backup', '1', who);
        await registry.setAlias('aliased', 'challenger', '2', who);
        const before = (await audit.listAuditEvents({ limit: 1_000_000 })).length;
        await registry.deleteModelVersion('aliased', '1', who);
        const events = (await audit.listAuditEvents({ limit: 1_000_000 })).slice(before);
        assert.deepEqual(events.map((e) => [e.action, e.entityId]), [
          ['delete_model_version', 'aliased/1'], ['delete_alias', 'aliased'], ['delete_alias', 'aliased'],
        ]);
        const dropped = events[0]!.before as { stage: string; source: string; aliases: string[] };
        assert.deepEqual({ ...dropped, aliases: [...dropped.aliases].sort() }, { stage: 'None', source: 'a', aliases: ['backup', 'champion'] });
        assert.deepEqual(events.slice(1).map((e) => (e.before as { alias: string }).alias).sort(), ['backup', 'champion']);
        assert.deepEqual((await registry.getRegisteredModel('aliased')).aliases, { challenger: '2' });
        await rejectsCode(registry.getVersionByAlias('aliased', 'champion'), 'TRELLIS_ALIAS_NOT_FOUND');
      });
    });

  });
}
