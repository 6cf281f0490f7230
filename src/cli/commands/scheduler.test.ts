/**
 * The scheduler and trigger commands as a user runs them: `trellis pipelines trigger`, `trellis
 * pipelines triggers`, `trellis scheduler --once`, the same over `--server`, and a `trellis server
 * --scheduler` that runs a pipeline published and triggered over REST, then stops cleanly on SIGTERM.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { buildServer } from '../../api/server.js';
import { buildPackage } from '../../pipelines/package.js';
import { until, writeTinyPipeline } from '../../pipelines/triggers/test-helpers/deployable-pipeline.js';
import { Workspace } from '../../workspace/workspace.js';

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
const who = { actor: 'tester' };

interface Child { code: number | null; stdout: string; stderr: string }

/** The CLI in a child process, without blocking this process (a server here may have to answer it). */
function start(args: string[], env: NodeJS.ProcessEnv) {
  const { NODE_TEST_CONTEXT: _, ...rest } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...rest, TRELLIS_USER: 'tester', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Child = { code: null, stdout: '', stderr: '' };
  child.stdout.on('data', (b: Buffer) => { out.stdout += b.toString('utf8'); });
  child.stderr.on('data', (b: Buffer) => { out.stderr += b.toString('utf8'); });
  const done = new Promise<Child>((resolve) => child.on('close', (code) => { out.code = code; resolve(out); }));
  return { child, out, done };
}
const cli = (args: string[], env: NodeJS.ProcessEnv) => start(args, env).done;

describe('trellis scheduler and trellis pipelines trigger(s)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-sched-cli-'));
    // As root, a deployed pipeline's code runs as nobody: it must reach the packages and files here.
    chmodSync(dir, 0o1777);
    env = { TRELLIS_HOME: join(dir, 'home') };
    const ws = await Workspace.open({ store: `sqlite:${join(dir, 'home', 'trellis.db')}`, artifacts: `file:${join(dir, 'home', 'artifacts')}` });
    try {
      await ws.pipelines.publish(await buildPackage(writeTinyPipeline(join(dir, 'src'), 'tiny', { triggers: [{ api: true }] })), who);
      await ws.pipelines.publish(await buildPackage(writeTinyPipeline(join(dir, 'src'), 'shut')), who);
    } finally {
      await ws.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('trigger writes a pending record, scheduler --once runs it, triggers lists what became of it', async () => {
    const t = await cli(['pipelines', 'trigger', 'tiny', '--param', 'label=cli', 'repeat=2', '--reason', 'from the cli'], env);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(t.stdout, 'trigger #1: tiny pending with {"label":"cli","repeat":2}\n');
    const pending = await cli(['pipelines', 'triggers', 'tiny'], env);
    assert.match(pending.stdout, /^ID +PIPELINE +KIND +STATUS/);
    assert.match(pending.stdout, /\n1 +tiny +api +pending .* from the cli\n$/);

    const once = await cli(['scheduler', '--once'], env);
    assert.equal(once.code, 0, once.stderr);
    const lines = once.stdout.trim().split('\n');
    assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} started +tiny #1 version 1 \(api: from the cli\)$/);
    assert.match(lines[1]!, /^\d\d:\d\d:\d\d\.\d{3} finished +tiny #1 run [0-9a-f]{32} finished \(version 1\)$/);
    const listed = JSON.parse((await cli(['--json', 'pipelines', 'triggers'], env)).stdout) as { id: number; status: string; runId: string; params: unknown }[];
    assert.deepEqual(listed.map((r) => [r.id, r.status]), [[1, 'finished']]);
    assert.deepEqual(listed[0]!.params, { label: 'cli', repeat: 2 });

    const bad = await cli(['pipelines', 'trigger', 'nowhere'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Pipeline 'nowhere' has no deployed version/);
    const closed = await cli(['pipelines', 'trigger', 'shut'], env);
    assert.match(closed.stderr, /pipeline 'shut' \(version 1\) does not accept API triggers/);
    assert.match((await cli(['pipelines', 'triggers', '--status', 'done'], env)).stderr, /--status must be one of pending, running, finished, failed, skipped, cancelled, got 'done'/);
  });

  it('trigger and triggers --server talk to a server over REST', async () => {
    const ws = await Workspace.open({ store: `sqlite:${join(dir, 'home', 'trellis.db')}`, artifacts: `file:${join(dir, 'home', 'artifacts')}` });
    const app = await buildServer(ws);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      const t = await cli(['pipelines', 'trigger', 'tiny', '--server', url, '--param', 'label=remote'], env);
      assert.equal(t.code, 0, t.stderr);
      assert.equal(t.stdout, 'trigger #2: tiny pending with {"label":"remote"}\n');
      assert.equal((await ws.pipelines.trigger(2)).requestedBy, 'anonymous', 'recorded by the server');
      const listed = await cli(['pipelines', 'triggers', 'tiny', '--server', url, '--status', 'pending'], env);
      assert.match(listed.stdout, /\n2 +tiny +api +pending /);
      const refused = await cli(['pipelines', 'trigger', 'tiny', '--server', url, '--param', 'trees=3'], env);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^error: pipeline 'tiny' has no parameter 'trees'/m);
      const down = await cli(['pipelines', 'triggers', '--server', 'http://127.0.0.1:9'], env);
      assert.match(down.stderr, /Cannot reach the Trellis server at http:\/\/127\.0\.0\.1:9/);
    } finally {
      await app.close();
      await ws.close();
    }
  });

  it('server --scheduler runs what is published and triggered over REST, and SIGTERM stops it cleanly', async () => {
    const server = start(['server', '--port', '0', '--scheduler'], { ...env, TRELLIS_LOG_LEVEL: 'silent' });
    await until(() => /listening on (http:\/\/\S+)/.test(server.out.stdout) || server.out.code !== null, 'the server to listen');
    const url = /listening on (http:\/\/\S+)/.exec(server.out.stdout)?.[1];
    assert.ok(url, server.out.stderr);
    const pkg = await buildPackage(writeTinyPipeline(join(dir, 'src'), 'served', { triggers: [{ api: true }] }));
    const post = async <T>(path: string, body: unknown) => (await fetch(`${url}/api/2.0/trellis${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<T>;
    assert.equal((await post<{ created: boolean }>('/pipelines/versions', pkg)).created, true);
    const { trigger } = await post<{ trigger: { id: number } }>('/pipelines/trigger', { pipeline: 'served', params: { label: 'served' } });
    const status = async () => ((await (await fetch(`${url}/api/2.0/trellis/pipelines/triggers?pipeline=served`)).json()) as { triggers: { id: number; status: string }[] }).triggers.find((x) => x.id === trigger.id)?.status;
    await until(async () => (await status()) === 'finished', 'the server\'s scheduler to run the record', 100);
    server.child.kill('SIGTERM');
    const end = await server.done;
    assert.equal(end.code, 0, end.stderr);
    assert.match(end.stdout, new RegExp(`scheduler: .* finished +served #${trigger.id} run [0-9a-f]{32} finished`));
  });
});
