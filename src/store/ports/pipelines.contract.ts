/**
 * The behaviour every {@link PipelineStore} must show: pipeline versions.
 * Run by each adapter's test with a factory that returns fresh, empty stores.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditLog } from './audit.js';
import type { PipelineStore } from './pipelines.js';
import { rejectsCode, useStores, who, type OpenStores } from './test-helpers/contract-helpers.js';

export function describePipelineStoreContract(name: string, open: OpenStores): void {
  describe(`PipelineStore contract: ${name}`, () => {
    const stores = useStores(open);
    let audit: AuditLog;
    let pipelines: PipelineStore;
    before(() => {
      const s = stores();
      audit = s.audit;
      pipelines = s.pipelines;
    });

    describe('pipeline versions', () => {
      const sha = (c: string) => c.repeat(64);
      const pkg = (c: string) => ({ name: 'etl', irVersion: '1.0', packageSha256: sha(c), irHash: sha('f'), location: `pipelines/etl/${sha(c)}.json` });

      it('numbers versions per name, returns the same version for the same package, and lists the latest of each', async () => {
        const a = await pipelines.createPipelineVersion({ ...pkg('a'), triggers: [{ cron: '0 3 * * *' }], concurrency: 'skip' }, who);
        assert.equal(a.created, true);
        assert.equal(a.version.version, 1);
        assert.deepEqual(a.version.triggers, [{ cron: '0 3 * * *' }]);
        assert.equal(a.version.concurrency, 'skip');
        assert.equal(a.version.createdBy, 'alice');
        const again = await pipelines.createPipelineVersion(pkg('a'), who);
        assert.deepEqual([again.created, again.version.version], [false, 1]);
        const b = await pipelines.createPipelineVersion(pkg('b'), who);
        assert.deepEqual([b.created, b.version.version, b.version.concurrency, b.version.triggers], [true, 2, 'queue', []]);
        await pipelines.createPipelineVersion({ ...pkg('c'), name: 'aaa-first' }, who);
        assert.equal((await pipelines.getPipelineVersion('etl')).version, 2);
        assert.equal((await pipelines.getPipelineVersion('etl', 1)).packageSha256, sha('a'));
        assert.deepEqual((await pipelines.listPipelineVersions('etl')).map((v) => v.version), [1, 2]);
        const listed = (await pipelines.listPipelines()).filter((v) => ['etl', 'aaa-first'].includes(v.name));
        assert.deepEqual(listed.map((v) => `${v.name}/${v.version}`), ['aaa-first/1', 'etl/2']);
        await rejectsCode(pipelines.getPipelineVersion('nope'), 'TRELLIS_PIPELINE_NOT_FOUND');
        await rejectsCode(pipelines.getPipelineVersion('etl', 9), 'TRELLIS_PIPELINE_VERSION_NOT_FOUND');
        await rejectsCode(pipelines.listPipelineVersions('nope'), 'TRELLIS_PIPELINE_NOT_FOUND');
        await rejectsCode(pipelines.createPipelineVersion({ ...pkg('d'), packageSha256: 'x' }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(pipelines.createPipelineVersion({ ...pkg('d'), name: '../etl' }, who), 'TRELLIS_INVALID_PARAMETER');
        await rejectsCode(pipelines.createPipelineVersion({ ...pkg('d'), concurrency: 'sometimes' }, who), 'TRELLIS_INVALID_PARAMETER');
        const events = await audit.listAuditEvents({ entityType: 'pipeline_version', entityIdPrefix: 'etl/' });
        assert.deepEqual(events.map((e) => [e.action, e.entityId]), [['create_pipeline_version', 'etl/1'], ['create_pipeline_version', 'etl/2']]);
      });
    });

  });
}
