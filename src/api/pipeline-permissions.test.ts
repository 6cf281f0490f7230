/**
 * User code only by permission: deploying or triggering a pipeline whose components run commands
 * or TypeScript takes pipeline-deployer on it, checked at the API and again by the scheduler when a
 * run starts (the deployer's rights then, not when it deployed).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildPackage, type PipelinePackage } from '../pipelines/package.js';
import { Workspace } from '../workspace/workspace.js';
import { buildServer } from './server.js';
import { assertError, assertOk, call } from './test-helpers/server.js';

const who = { actor: 'setup' };
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const trellis = (p: string) => `/api/2.0/trellis${p}`;

/** The attack: a command component that runs a shell, reachable by an API trigger. */
function shellPipeline(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.pipeline.yaml`);
  writeFileSync(file, [
    'format: trellis.pipeline/v1', `name: ${name}`, 'triggers: [{ api: true }]',
    'components:',
    '  - { name: sh, version: "1", kind: command, outputs: { out: { type: File } }, command: ["/bin/sh", "-c", "id -u > {outputs.out}"] }',
    'steps:',
    '  - { name: only, component: sh@1, cache: { enabled: false } }', '',
  ].join('\n'));
  return file;
}

describe('pipelines that carry user code', () => {
  let dir: string;
  let ws: Workspace;
  let app: FastifyInstance;
  let pkg: PipelinePackage;
  const tokens: Record<string, string> = {};

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-pipeline-perms-'));
    // Under root the command runs as nobody, who must reach the unpacked package.
    chmodSync(dir, 0o755);
    ws = await Workspace.open({ store: `sqlite:${dir}/t.db`, artifacts: `file:${dir}/a` });
    await ws.identities.createPrincipal('root', 'user', [{ role: 'admin', scopeType: 'global', scopeId: '' }], who);
    await ws.identities.createPrincipal('cora', 'user', [{ role: 'contributor', scopeType: 'global', scopeId: '' }], who);
    await ws.identities.createPrincipal('dex', 'user', [{ role: 'pipeline-deployer', scopeType: 'pipeline', scopeId: 'attack' }], who);
    for (const u of ['root', 'cora', 'dex']) tokens[u] = (await ws.identities.createToken(u, {}, who)).token;
    app = await buildServer(ws, { auth: { authenticator: ws.identities.authenticator() } });
    await app.ready();
    pkg = await buildPackage(shellPipeline(join(dir, 'src'), 'attack'));
  });

  after(async () => {
    await app.close();
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to deploy it anonymously or as a contributor, and takes it from a pipeline-deployer', async () => {
    assertError(await call(app, 'POST', trellis('/pipelines/versions'), pkg), 401, 'UNAUTHENTICATED');
    assertError(await call(app, 'POST', trellis('/pipelines/versions'), pkg, bearer(tokens.cora!)), 403, 'PERMISSION_DENIED', "'cora' may not deploy-pipeline on pipeline 'attack'");
    assert.deepEqual(await ws.pipelines.list(), [], 'nothing was deployed');
    const ok = await call(app, 'POST', trellis('/pipelines/versions'), pkg, bearer(tokens.dex!));
    assertOk(ok);
    assert.equal(ok.json.pipeline_version.created_by, 'dex');
    // The grant is on this pipeline only.
    const other = await buildPackage(shellPipeline(join(dir, 'src2'), 'elsewhere'));
    assertError(await call(app, 'POST', trellis('/pipelines/versions'), other, bearer(tokens.dex!)), 403, 'PERMISSION_DENIED');
  });

  it('lets only a pipeline-deployer trigger it, and runs it while its deployer keeps the role', async () => {
    assertError(await call(app, 'POST', trellis('/pipelines/trigger'), { pipeline: 'attack' }, bearer(tokens.cora!)), 403, 'PERMISSION_DENIED');
    assert.deepEqual(await ws.pipelines.triggers({ pipeline: 'attack' }), []);
    const t1 = await call(app, 'POST', trellis('/pipelines/trigger'), { pipeline: 'attack' }, bearer(tokens.dex!));
    assertOk(t1);
    assert.equal(t1.json.trigger.requested_by, 'dex');

    const { scheduler, close } = await ws.pipelines.openScheduler({ queue: 'inline', cacheDir: join(dir, 'packages'), authorizeUserCode: (r) => ws.identities.authorizeUserCode(r) });
    try {
      const settle = async (id: number) => {
        for (;;) {
          await scheduler.tick();
          await scheduler.settled();
          const t = await ws.pipelines.trigger(id);
          if (t.status !== 'pending' && t.status !== 'running') return t;
        }
      };
      const first = await settle(t1.json.trigger.id as number);
      assert.equal(first.status, 'finished', first.detail);

      // The deployer loses the role: the version already deployed no longer runs.
      await ws.identities.revoke('dex', [{ role: 'pipeline-deployer', scopeType: 'pipeline', scopeId: 'attack' }], who);
      const t2 = await call(app, 'POST', trellis('/pipelines/trigger'), { pipeline: 'attack' }, bearer(tokens.root!));
      assertOk(t2);
      const second = await settle(t2.json.trigger.id as number);
      assert.equal(second.status, 'failed');
      assert.match(second.detail ?? '', /version 1 of pipeline 'attack' runs commands or TypeScript, and its deployer 'dex' does not hold pipeline-deployer on it/);
      assert.equal(second.runId, undefined, 'no run was started');
    } finally {
      await scheduler.stop();
      await close();
    }
  });
});
