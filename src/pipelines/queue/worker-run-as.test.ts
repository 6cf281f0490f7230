/**
 * A `trellis worker` started as root runs deployed pipelines' steps that reach it through Redis as
 * the user its `--run-as` names (over the one the job carries from the scheduler); a local step
 * runs as before; an unknown user stops the worker at start. Only root can switch users.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validatePipeline } from '../ir.js';
import { PipelineEngine } from '../engine/engine.js';
import { openTestServices } from '../engine/test-helpers/engine-fixture.js';
import { resolveRunAs } from '../executors/run-as.js';
import { RedisDispatcher } from './redis-queue.js';

const who = { actor: 'tester' };
const CLI = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const HAS_REDIS = spawnSync('redis-server', ['--version']).status === 0;
const ROOT = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function cli(args: string[]): { proc: ChildProcess; log: string[] } {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TRELLIS_LOG_LEVEL: 'silent' } });
  const log: string[] = [];
  proc.stderr.on('data', (d: Buffer) => log.push(d.toString()));
  return { proc, log };
}

async function waitFor(w: { proc: ChildProcess; log: string[] }, re: RegExp): Promise<void> {
  for (;;) {
    if (re.test(w.log.join(''))) return;
    if (w.proc.exitCode !== null) throw new Error(`worker exited (${w.proc.exitCode}): ${w.log.join('')}`);
    await sleep(50);
  }
}

const ids = validatePipeline({
  format: 'trellis.pipeline/v1', name: 'worker-ids', version: '1',
  components: [{ name: 'ids', version: '1', kind: 'command', outputs: { out: { type: 'File' } }, command: ['/bin/sh', '-c', 'id -u > {outputs.out}'] }],
  steps: [{ name: 'only', component: 'ids@1', cache: { enabled: false } }],
}, 'worker-ids');

describe('trellis worker --run-as', { skip: (!ROOT && 'switching users needs root') || (!HAS_REDIS && 'redis-server is not installed') }, () => {
  let s: Awaited<ReturnType<typeof openTestServices>>;
  let redis: ChildProcess;
  let worker: { proc: ChildProcess; log: string[] };
  let dispatcher: RedisDispatcher;
  let store: string[];
  let queue: string;

  before(async () => {
    s = await openTestServices();
    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', s.dir], { stdio: 'ignore' });
    while (spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() !== 'PONG') await sleep(50);
    queue = `redis://127.0.0.1:${port}`;
    store = ['--store', `sqlite:${join(s.dir, 't.db')}`, '--artifacts', `file:${join(s.dir, 'artifacts')}`];
    worker = cli([...store, 'worker', '--queue', queue, '--heartbeat-ms', '300', '--run-as', '65533:65533']);
    await waitFor(worker, /waiting for steps/);
    dispatcher = await RedisDispatcher.open(s, who, { url: queue, heartbeatMs: 300, pollMs: 100 });
  });
  after(async () => {
    await dispatcher?.close();
    if (worker?.proc.exitCode === null) {
      const exited = new Promise((r) => worker.proc.once('exit', r));
      worker.proc.kill('SIGTERM');
      await exited;
    }
    redis?.kill('SIGKILL');
    await s?.close();
  });

  it('says at start who runs the code', () => {
    assert.match(worker.log.join(''), /deployed pipelines' code runs as uid 65533 \(uid 65533, gid 65533\)/);
  });

  it("runs a deployed pipeline's step as the worker's user, over the job's; a local pipeline's as before", async () => {
    const pkg = join(s.dir, 'package');
    mkdirSync(pkg, { recursive: true });
    chmodSync(pkg, 0o755);
    const engine = new PipelineEngine(s, { who, dispatcher, workDir: join(s.dir, 'work') });
    const deployed = await engine.run(ids, { baseDir: pkg, dataRoots: [pkg], runAs: resolveRunAs('65532:65532') });
    assert.equal(deployed.status, 'FINISHED', deployed.failed?.error);
    assert.equal((await s.tracking.readArtifact(deployed.steps[0]!.outputs.out!.run, 'outputs/out')).toString('utf8').trim(), '65533');
    const local = await engine.run(ids, { baseDir: pkg });
    assert.equal(local.status, 'FINISHED', local.failed?.error);
    assert.equal((await s.tracking.readArtifact(local.steps[0]!.outputs.out!.run, 'outputs/out')).toString('utf8').trim(), '0');
  });

  it('an unknown user stops the worker at start, named', async () => {
    const w = cli([...store, 'worker', '--queue', queue, '--run-as', 'no-such-user-here']);
    const code = await new Promise<number | null>((r) => w.proc.once('exit', r));
    assert.notEqual(code, 0);
    assert.match(w.log.join(''), /--run-as: there is no user 'no-such-user-here'/);
  });
});
