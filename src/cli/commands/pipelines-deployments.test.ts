/**
 * `trellis pipelines list|status|pause|resume-triggers|undeploy|rollback`, on a server (`--server`)
 * and on the local workspace the same store is, with the bad input a hurried person types.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../api/server.js';
import { buildPackage } from '../../pipelines/package.js';
import { writeTinyPipeline } from '../../pipelines/triggers/test-helpers/deployable-pipeline.js';
import { Workspace } from '../../workspace/workspace.js';
import { cli } from '../test-helpers/trellis-project.js';
import { deployPackage } from './pipelines-deploy.js';

describe('trellis pipelines list, status, pause, resume-triggers, undeploy, rollback', () => {
  let dir: string;
  let ws: Workspace;
  let app: FastifyInstance;
  let url: string;
  let local: string[];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-deployments-'));
    local = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
    app = await buildServer(ws);
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    for (const label of ['one', 'two']) {
      const file = writeTinyPipeline(join(dir, label), 'nightly', { triggers: [{ cron: '0 3 * * *' }, { api: true }], extra: { description: label } });
      await deployPackage(await buildPackage(file), url);
    }
  });
  after(async () => {
    await app.close();
    await ws.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const remote = (...args: string[]) => cli(['pipelines', ...args, '--server', url]);
  const here = (...args: string[]) => cli([...local, 'pipelines', ...args]);

  it('shows the version that runs, pauses and resumes its triggers, rolls back and undeploys, the same on a server and here', async () => {
    const list = await remote('list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^PIPELINE\s+ACTIVE\s+LATEST\s+STATE/m);
    assert.match(list.stdout, /^nightly\s+2\s+2\s+active\s/m);

    const paused = await remote('pause', 'nightly');
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal(paused.stdout.trim(), 'nightly: triggers paused (version 2); trellis pipelines resume-triggers nightly lets them fire again');
    assert.match((await here('list')).stdout, /^nightly\s+2\s+2\s+triggers paused\s/m);

    const rolled = await here('rollback', 'nightly', '--to', '1');
    assert.equal(rolled.code, 0, rolled.stderr);
    assert.equal(rolled.stdout.trim(), 'nightly: version 1 runs (triggers paused)');
    const status = await remote('status', 'nightly');
    assert.match(status.stdout, /^nightly: version 1 runs \(triggers paused, rolled back to 1\)$/m);
    assert.match(status.stdout, /^\*\s+1\s/m);
    assert.match(status.stdout, /^\s+2\s/m);

    assert.equal((await remote('resume-triggers', 'nightly')).stdout.trim(), 'nightly: triggers fire again (version 1)');
    const json = JSON.parse((await cli(['--json', 'pipelines', 'status', 'nightly', '--server', url])).stdout) as { deployment: { active: number; paused: boolean } };
    assert.deepEqual([json.deployment.active, json.deployment.paused], [1, false]);

    assert.equal((await here('undeploy', 'nightly@1')).stdout.trim(), 'nightly: version 1 withdrawn; version 2 runs');
    assert.equal((await remote('undeploy', 'nightly')).stdout.trim(), 'nightly: undeployed; trellis pipelines rollback nightly --to <version> or a new deploy puts a version back');
    const refused = await remote('trigger', 'nightly');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /pipeline 'nightly' is undeployed/);
    assert.equal((await remote('rollback', 'nightly', '--to', '2')).stdout.trim(), 'nightly: version 2 runs');

    // Every change is on the audit trail, with who made it.
    const events = await ws.audit.events({ entityType: 'pipeline' });
    assert.ok(events.every((e) => e.actor === 'tester' || e.actor === 'anonymous'));
    assert.deepEqual(events.map((e) => e.action),
      ['pause_pipeline', 'rollback_pipeline', 'resume_pipeline_triggers', 'undeploy_pipeline', 'undeploy_pipeline', 'rollback_pipeline']);
  });

  it('names what is wrong: an unknown pipeline or version, a version that is not a number, a missing --to', async () => {
    const unknown = await remote('pause', 'nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Pipeline 'nope' has no deployed version/);
    assert.match((await here('rollback', 'nightly', '--to', '9')).stderr, /Pipeline 'nightly' has no version 9/);
    assert.match((await here('rollback', 'nightly', '--to', 'latest')).stderr, /--to takes a version number \(e\.g\. --to 2\), got 'latest'/);
    assert.match((await here('undeploy', 'nightly@two')).stderr, /'nightly@two': a pipeline version is a number \(e\.g\. nightly@2\), got 'two'/);
    assert.match((await here('rollback', 'nightly')).stderr, /required option '--to <version>' not specified/);
  });
});
