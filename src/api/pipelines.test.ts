/** Deployed pipelines and trigger records over REST, driven with inject() on a fresh workspace. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildPackage, type PipelinePackage } from '../pipelines/package.js';
import { writeTinyPipeline } from '../pipelines/triggers/test-helpers/deployable-pipeline.js';
import { assertError, assertOk, call, openTestServer, type TestServer } from './test-helpers/server.js';

const api = (path: string) => `/api/2.0/trellis${path}`;

describe('REST: pipelines and triggers', () => {
  let t: TestServer;
  let pkg: PipelinePackage;
  before(async () => {
    t = await openTestServer();
    pkg = await buildPackage(writeTinyPipeline(join(t.dir, 'src'), 'served', { triggers: [{ api: true, params: { label: 'dflt' } }, { cron: '0 3 * * *' }], concurrency: 'skip' }));
  });
  after(async () => t.close());

  it('publishes a package as version 1, finds the same package again, and lists versions and pipelines', async () => {
    const res = await call(t.app, 'POST', api('/pipelines/versions'), pkg);
    assertOk(res);
    assert.equal(res.json.created, true);
    const v = res.json.pipeline_version;
    assert.deepEqual([v.name, v.version, v.package_sha256, v.ir_hash, v.concurrency], ['served', 1, pkg.sha256, pkg.irHash, 'skip']);
    assert.deepEqual(v.triggers, [{ api: true, params: { label: 'dflt' } }, { cron: '0 3 * * *' }]);
    assert.equal(v.location, `pipelines/served/packages/${pkg.sha256}.json`);
    assert.deepEqual(JSON.parse((await t.ws.tracking.getArtifact(v.location)).toString()), pkg, 'the package is kept in the artifact store');
    const again = await call(t.app, 'POST', '/ajax-api/2.0/trellis/pipelines/versions', pkg);
    assert.deepEqual([again.json.created, again.json.pipeline_version.version], [false, 1]);

    const versions = await call(t.app, 'GET', api('/pipelines/versions?name=served'));
    assertOk(versions);
    assert.deepEqual(versions.json.pipeline_versions.map((x: { version: number }) => x.version), [1]);
    const list = await call(t.app, 'GET', api('/pipelines/list'));
    assert.deepEqual(list.json.pipelines.map((x: { name: string; version: number }) => `${x.name}/${x.version}`), ['served/1']);
    assertError(await call(t.app, 'GET', api('/pipelines/versions?name=nowhere')), 404, 'RESOURCE_DOES_NOT_EXIST', "Pipeline 'nowhere' has no deployed version");
    assertError(await call(t.app, 'GET', api('/pipelines/versions')), 400, 'INVALID_PARAMETER_VALUE', "'name'");
  });

  it('refuses a tampered package with a 400 naming the field, and records nothing', async () => {
    const tampered = JSON.parse(JSON.stringify(pkg)) as PipelinePackage;
    tampered.files[0]!.contentBase64 = Buffer.from('export async function wait() {}\n').toString('base64');
    const res = await call(t.app, 'POST', api('/pipelines/versions'), tampered);
    assertError(res, 400, 'INVALID_PARAMETER_VALUE', 'The pipeline package is refused: files[0].sha256:');
    assert.equal(res.json.trellis_code, 'TRELLIS_PACKAGE_INVALID');
    assertError(await call(t.app, 'POST', api('/pipelines/versions'), { ...pkg, sha256: '0'.repeat(64) }), 400, 'INVALID_PARAMETER_VALUE', 'refused: sha256:');
    assertError(await call(t.app, 'POST', api('/pipelines/versions'), '{"format":', { 'content-type': 'application/json' }), 400, 'INVALID_PARAMETER_VALUE', 'Malformed JSON');
    assertError(await call(t.app, 'POST', api('/pipelines/versions'), JSON.stringify(pkg), { 'content-type': 'text/plain' }), 400, 'INVALID_PARAMETER_VALUE', 'Content-Type');
    assert.deepEqual((await t.ws.pipelines.versions('served')).map((v) => v.version), [1]);
  });

  it('writes an api trigger record with params laid over the trigger\'s own, and lists records by pipeline and status', async () => {
    const res = await call(t.app, 'POST', api('/pipelines/trigger'), { pipeline: 'served', params: { repeat: '2' }, reason: 'nightly backfill' });
    assertOk(res);
    assert.equal(res.json.created, true);
    const r = res.json.trigger;
    assert.deepEqual([r.pipeline, r.kind, r.status, r.reason, r.requested_by], ['served', 'api', 'pending', 'nightly backfill', 'anonymous']);
    assert.deepEqual(r.params, { label: 'dflt', repeat: 2 });
    const once = await call(t.app, 'POST', api('/pipelines/trigger'), { pipeline: 'served', dedupe_key: 'alert-17' });
    const twice = await call(t.app, 'POST', api('/pipelines/trigger'), { pipeline: 'served', dedupe_key: 'alert-17' });
    assert.deepEqual([once.json.created, twice.json.created, twice.json.trigger.id], [true, false, once.json.trigger.id]);

    const listed = await call(t.app, 'GET', api('/pipelines/triggers?pipeline=served&status=pending'));
    assertOk(listed);
    assert.deepEqual(listed.json.triggers.map((x: { id: number }) => x.id), [once.json.trigger.id, r.id]);
    assert.deepEqual((await call(t.app, 'GET', api('/pipelines/triggers?status=finished'))).json.triggers, []);
    assertError(await call(t.app, 'GET', api('/pipelines/triggers?status=done')), 400, 'INVALID_PARAMETER_VALUE', "parameter 'status'");

    assertError(await call(t.app, 'POST', api('/pipelines/trigger'), { pipeline: 'nowhere' }), 404, 'RESOURCE_DOES_NOT_EXIST', "Pipeline 'nowhere' has no deployed version");
    assertError(await call(t.app, 'POST', api('/pipelines/trigger'), {}), 400, 'INVALID_PARAMETER_VALUE', "'pipeline'");
    assertError(await call(t.app, 'POST', api('/pipelines/trigger'), { pipeline: 'served', params: [1] }), 400, 'INVALID_PARAMETER_VALUE', "parameter 'params'");
    assertError(await call(t.app, 'POST', api('/pipelines/trigger'), { pipeline: 'served', params: { trees: 3 } }), 400, 'INVALID_PARAMETER_VALUE', "pipeline 'served' has no parameter 'trees'");
    const closed = await buildPackage(writeTinyPipeline(join(t.dir, 'src'), 'closed'));
    assertOk(await call(t.app, 'POST', api('/pipelines/versions'), closed));
    assertError(await call(t.app, 'POST', api('/pipelines/trigger'), { pipeline: 'closed' }), 400, 'INVALID_PARAMETER_VALUE', 'does not accept API triggers');
  });
});
