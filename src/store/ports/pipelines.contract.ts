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

      it('deployments: the newest version is active; pause, rollback, undeploy and a new deploy, each audited', async () => {
        const p = (c: string) => ({ ...pkg(c), name: 'deploys' });
        await pipelines.createPipelineVersion(p('1'), who);
        await pipelines.createPipelineVersion(p('2'), who);
        const d0 = await pipelines.getPipelineDeployment('deploys');
        assert.deepEqual([d0.active, d0.latest, d0.pinned, d0.paused, d0.undeployed, d0.withdrawn], [2, 2, null, false, false, []]);
        assert.ok(d0.changedAt! > 0);

        const paused = await pipelines.changePipelineDeployment('deploys', { action: 'pause' }, who);
        assert.deepEqual([paused.active, paused.paused], [2, true]);
        const rolled = await pipelines.changePipelineDeployment('deploys', { action: 'rollback', version: 1 }, who);
        assert.deepEqual([rolled.active, rolled.pinned, rolled.paused], [1, 1, true]);
        // A third version deployed is the active one again; the pause stays until triggers are resumed.
        await pipelines.createPipelineVersion(p('3'), who);
        const d3 = await pipelines.getPipelineDeployment('deploys');
        assert.deepEqual([d3.active, d3.pinned, d3.paused], [3, null, true]);
        assert.equal((await pipelines.changePipelineDeployment('deploys', { action: 'resume-triggers' }, who)).paused, false);

        // Withdrawing the active version falls back to the newest one still in service.
        const w = await pipelines.changePipelineDeployment('deploys', { action: 'undeploy', version: 3 }, who);
        assert.deepEqual([w.active, w.withdrawn], [2, [3]]);
        const off = await pipelines.changePipelineDeployment('deploys', { action: 'undeploy' }, who);
        assert.deepEqual([off.active, off.undeployed], [null, true]);
        assert.equal((await pipelines.listPipelineVersions('deploys')).length, 3, 'every version stays on record');
        // Deploying a known package again puts it back: pinned when it is not the newest.
        const again = await pipelines.createPipelineVersion(p('1'), who);
        assert.equal(again.created, false);
        const d1 = await pipelines.getPipelineDeployment('deploys');
        assert.deepEqual([d1.active, d1.pinned, d1.undeployed], [1, 1, false]);
        const back = await pipelines.changePipelineDeployment('deploys', { action: 'rollback', version: 3 }, who);
        assert.deepEqual([back.active, back.pinned, back.withdrawn], [3, null, []]);
        // Nothing changed: nothing written.
        const before = (await audit.listAuditEvents({ entityType: 'pipeline', entityIdPrefix: 'deploys' })).length;
        await pipelines.changePipelineDeployment('deploys', { action: 'resume-triggers' }, who);
        const events = await audit.listAuditEvents({ entityType: 'pipeline', entityIdPrefix: 'deploys' });
        assert.equal(events.length, before);
        assert.deepEqual(events.map((e) => e.action), [
          'pause_pipeline', 'rollback_pipeline', 'resume_pipeline_triggers', 'undeploy_pipeline', 'undeploy_pipeline', 'deploy_pipeline_version', 'rollback_pipeline',
        ]);
        assert.ok((await pipelines.listPipelineDeployments()).some((d) => d.name === 'deploys' && d.active === 3));

        await rejectsCode(pipelines.getPipelineDeployment('nope'), 'TRELLIS_PIPELINE_NOT_FOUND');
        await rejectsCode(pipelines.changePipelineDeployment('nope', { action: 'pause' }, who), 'TRELLIS_PIPELINE_NOT_FOUND');
        await rejectsCode(pipelines.changePipelineDeployment('deploys', { action: 'rollback', version: 9 }, who), 'TRELLIS_PIPELINE_VERSION_NOT_FOUND');
        await rejectsCode(pipelines.changePipelineDeployment('deploys', { action: 'rollback', version: 0 }, who), 'TRELLIS_INVALID_PARAMETER');
      });
    });

  });
}
