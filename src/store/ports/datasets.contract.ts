/**
 * The behaviour every {@link DatasetStore} must show: content-addressed versions, schema documents and the subject index.
 * Run by each adapter's test with a factory that returns fresh, empty stores.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditLog } from './audit.js';
import type { DatasetStore } from './datasets.js';
import { rejectsCode, useStores, who, type OpenStores } from './test-helpers/contract-helpers.js';

export function describeDatasetStoreContract(name: string, open: OpenStores): void {
  describe(`DatasetStore contract: ${name}`, () => {
    const stores = useStores(open);
    let audit: AuditLog;
    let datasets: DatasetStore;
    before(() => {
      const s = stores();
      audit = s.audit;
      datasets = s.datasets;
    });

    describe('datasets', () => {
      const sha = (c: string) => c.repeat(64);
      const base = { format: 'csv', rows: 10, columns: 3, sizeBytes: 100, source: 'x.csv', artifactPath: 'datasets/x', schema: { columns: [] }, profile: { rows: 10 } };

      it('records versions, returns the same version for the same content, and finds subjects', async () => {
        const a = await datasets.createDatasetVersion({ ...base, name: 'people', sha256: sha('a'), subjectColumn: 'id', subjects: ['u1', 'u2'] }, who);
        assert.equal(a.created, true);
        assert.equal(a.version.version, 1);
        assert.deepEqual(a.version.profile, { rows: 10 });
        const again = await datasets.createDatasetVersion({ ...base, name: 'people', sha256: sha('a'), subjects: ['u1', 'u2'] }, who);
        assert.equal(again.created, false);
        assert.equal(again.version.version, 1);
        const b = await datasets.createDatasetVersion({ ...base, name: 'people', sha256: sha('b'), rows: 11, subjects: ['u2', 'u3'], lineage: { parent: 'people@1' } }, who);
        assert.equal(b.version.version, 2);
        assert.deepEqual(b.version.lineage, { parent: 'people@1' });
        assert.equal((await datasets.getDatasetVersion('people')).version, 2);
        assert.equal((await datasets.getDatasetVersion('people', 1)).sha256, sha('a'));
        assert.deepEqual((await datasets.listDatasetVersions('people')).map((v) => v.version), [1, 2]);
        assert.equal((await datasets.getDataset('people')).subjectColumn, 'id');
        assert.equal((await datasets.getDataset('people')).latestVersion, 2);
        assert.deepEqual(await datasets.findSubject('u2'), [{ name: 'people', version: 1 }, { name: 'people', version: 2 }]);
        assert.deepEqual(await datasets.findSubject('nobody'), []);
        assert.ok((await datasets.listDatasets()).some((d) => d.name === 'people'));
        await rejectsCode(datasets.getDatasetVersion('people', 9), 'TRELLIS_DATASET_VERSION_NOT_FOUND');
        await rejectsCode(datasets.getDataset('nope'), 'TRELLIS_DATASET_NOT_FOUND');
        await rejectsCode(datasets.createDatasetVersion({ ...base, name: 'people', sha256: sha('c'), subjectColumn: 'other' }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(datasets.createDatasetVersion({ ...base, name: '../x', sha256: sha('c') }, who), 'TRELLIS_INVALID_PARAMETER');
        const events = await audit.listAuditEvents({ entityType: 'dataset_version', entityIdPrefix: 'people@' });
        assert.deepEqual(events.map((e) => e.entityId), ['people@1', 'people@2']);
      });

      it('keeps dataset names unique regardless of case and refuses unsafe ones', async () => {
        await datasets.createDatasetVersion({ ...base, name: 'Sales', sha256: sha('e') }, who);
        const dup = await datasets.createDatasetVersion({ ...base, name: 'sales', sha256: sha('f') }, who).then(() => undefined, (e: Error) => e);
        assert.equal((dup as { code?: string })?.code, 'TRELLIS_INVALID_PARAMETER');
        assert.match(dup!.message, /dataset 'Sales' already exists/);
        assert.deepEqual((await datasets.listDatasetVersions('Sales')).map((v) => v.version), [1]);
        for (const bad of ['a/b', '.', '..', 'a\u200bb', 'a\u202eb', 'a\u0000b', ' ']) {
          await rejectsCode(datasets.createDatasetVersion({ ...base, name: bad, sha256: sha('f') }, who), bad === ' ' ? 'TRELLIS_MISSING_PARAMETER' : 'TRELLIS_INVALID_PARAMETER');
        }
        // Surrounding blanks are trimmed: the name is the existing one.
        assert.equal((await datasets.createDatasetVersion({ ...base, name: ' Sales ', sha256: sha('f') }, who)).version.version, 2);
      });

      it('keeps numbered schema documents and one pinned contract', async () => {
        await datasets.createDatasetVersion({ ...base, name: 'schemas', sha256: sha('d') }, who);
        assert.equal(await datasets.getDatasetSchema('schemas'), undefined);
        const s1 = await datasets.putDatasetSchema('schemas', { columns: [{ name: 'a' }] }, true, who);
        const s2 = await datasets.putDatasetSchema('schemas', { columns: [{ name: 'b' }] }, false, who);
        assert.deepEqual([s1.schemaVersion, s2.schemaVersion], [1, 2]);
        assert.deepEqual((await datasets.getDatasetSchema('schemas'))!.schema, { columns: [{ name: 'a' }] });
        await datasets.putDatasetSchema('schemas', { columns: [{ name: 'c' }] }, true, who);
        assert.equal((await datasets.getDatasetSchema('schemas'))!.schemaVersion, 3);
        assert.equal((await datasets.getDatasetSchema('schemas', 1))!.pinned, false);
        await rejectsCode(datasets.putDatasetSchema('schemas', 'nope', false, who), 'TRELLIS_INVALID_PARAMETER');
      });
    });


    describe('audit', () => {
      const sha = (c: string) => c.repeat(64);
      const base = { format: 'csv', rows: 1, columns: 1, sizeBytes: 1, source: 'y.csv', artifactPath: 'datasets/y', schema: {}, profile: {} };

      it('creates a dataset with its first version in one change, and the same content again writes nothing', async () => {
        const before = (await audit.listAuditEvents({ limit: 1_000_000 })).length;
        await datasets.createDatasetVersion({ ...base, name: 'fresh', sha256: sha('1'), subjectColumn: 'uid' }, who);
        await datasets.createDatasetVersion({ ...base, name: 'fresh', sha256: sha('1') }, who);
        const events = (await audit.listAuditEvents({ limit: 1_000_000 })).slice(before);
        assert.deepEqual(events.map((e) => [e.action, e.entityType, e.entityId]), [
          ['create_dataset', 'dataset', 'fresh'], ['create_dataset_version', 'dataset_version', 'fresh@1'],
        ]);
        assert.equal(events[1]!.seq, events[0]!.seq + 1);
        // A version refused inside the transaction (its subject column contradicts the dataset's) leaves no trace.
        await rejectsCode(datasets.createDatasetVersion({ ...base, name: 'fresh', sha256: sha('2'), subjectColumn: 'other' }, who), 'TRELLIS_INVALID_PARAMETER');
        assert.equal((await audit.listAuditEvents({ limit: 1_000_000 })).length, before + 2);
        assert.deepEqual((await datasets.listDatasetVersions('fresh')).map((v) => v.version), [1]);
      });
    });

  });
}
