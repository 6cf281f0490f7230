/**
 * Distributed execution against the real services: a PostgreSQL database per suite, a Redis server
 * of the suite's own (so that it can be killed and restarted without disturbing anything else), and
 * `trellis worker` processes started from this checkout's CLI.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '../../store/test-helpers/postgres.js';
import { parsePipeline, validatePipeline, type PipelineIR } from '../ir.js';
import { PipelineEngine, type PipelineRunResult } from '../engine/engine.js';
import { BIKE_YAML, bikeSlice, openTestServices } from '../engine/test-helpers/engine-fixture.js';
import { RedisDispatcher, redisConnection } from './redis-queue.js';

const who = { actor: 'tester' };
const CLI = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const HAS_REDIS = spawnSync('redis-server', ['--version']).status === 0;
type Services = Awaited<ReturnType<typeof openTestServices>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const shas = (r: PipelineRunResult) => Object.fromEntries(r.steps.flatMap((x) => Object.entries(x.outputs).map(([k, e]) => [`${x.step}.${k}`, e.sha256])));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A redis-server of our own, keeping nothing on disk (like the one this machine runs). */
class RedisProcess {
  proc?: ChildProcess;
  constructor(readonly port: number, readonly dir: string) {}
  async start(): Promise<void> {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (spawnSync('redis-cli', ['-p', String(this.port), 'ping']).stdout?.toString().trim() === 'PONG') return;
      await sleep(50);
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }
}

interface WorkerProcess { proc: ChildProcess; log: string[]; pid: number }

function startWorker(store: string, artifacts: string, queue: string): WorkerProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, '--store', store, '--artifacts', artifacts, '--user', 'worker',
    'worker', '--queue', queue, '--lock-ms', '1500', '--heartbeat-ms', '300'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TRELLIS_LOG_LEVEL: 'silent' } });
  const w: WorkerProcess = { proc, log: [], pid: proc.pid! };
  proc.stderr.on('data', (d: Buffer) => w.log.push(d.toString()));
  return w;
}

async function waitForLine(w: WorkerProcess, re: RegExp, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (re.test(w.log.join(''))) return;
    if (w.proc.exitCode !== null) throw new Error(`worker exited (${w.proc.exitCode}): ${w.log.join('')}`);
    await sleep(50);
  }
  throw new Error(`worker did not print ${re} in ${ms} ms: ${w.log.join('')}`);
}

async function stopWorker(w: WorkerProcess): Promise<void> {
  if (w.proc.exitCode !== null || w.proc.signalCode) return;
  const exited = new Promise((r) => w.proc.once('exit', r));
  w.proc.kill('SIGTERM');
  const t = setTimeout(() => w.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/** Polls until `f` gives a value. */
async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await f();
    if (v !== undefined) return v;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Independent command steps that sleep, then append their name to `countFile` and write their output. */
function sleepers(name: string, n: number, seconds: number, countFile: string): PipelineIR {
  return validatePipeline({
    format: 'trellis.pipeline/v1', name, version: '1',
    components: [{
      name: 'nap', version: '1', kind: 'command',
      inputs: { label: { type: 'string' } }, outputs: { out: { type: 'File' } },
      command: ['/bin/sh', '-c', `sleep ${seconds}; echo {inputs.label} >> ${countFile}; echo {inputs.label} > {outputs.out}`],
    }],
    steps: Array.from({ length: n }, (_, i) => ({ name: `s${i}`, component: 'nap@1', inputs: { label: `s${i}` } })),
  }, name);
}

describe('distributed execution: steps through Redis to trellis worker processes, PostgreSQL shared', { skip: !HAS_REDIS && 'redis-server is not installed' }, () => {
  let s: Services;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let redis: RedisProcess;
  let queue: string;
  let artifacts: string;
  let workers: WorkerProcess[] = [];
  let dispatcher: RedisDispatcher;
  let engine: PipelineEngine;

  before(async () => {
    db = await createTestDatabase('trellis_queue');
    s = await openTestServices(db.uri);
    artifacts = `file:${join(s.dir, 'artifacts')}`;
    redis = new RedisProcess(await freePort(), s.dir);
    await redis.start();
    queue = `redis://127.0.0.1:${redis.port}`;
    workers = [startWorker(db.uri, artifacts, queue), startWorker(db.uri, artifacts, queue)];
    await Promise.all(workers.map((w) => waitForLine(w, /waiting for steps/)));
    dispatcher = await RedisDispatcher.open(s, who, { url: queue, heartbeatMs: 300, pollMs: 100 });
    engine = new PipelineEngine(s, { who, dispatcher, concurrency: 8, workDir: join(s.dir, 'work') });
  });
  /** The step runs of a pipeline's experiment that a worker holds (or held) the lease of, newest first. */
  async function leasedSteps(experiment: string, step?: string) {
    const exp = await s.stores.tracking.getExperimentByName(experiment).catch(() => undefined);
    if (!exp) return [];
    const out = [];
    for (const st of await s.stores.pipelines.listStepRuns({ experimentId: exp.experimentId, ...(step ? { step } : {}) })) {
      const lease = st.status === 'RUNNING' ? await s.stores.pipelines.getStepLease(st.id) : undefined;
      if (lease) out.push(lease);
    }
    return out;
  }

  after(async () => {
    await dispatcher?.close();
    await Promise.all(workers.map(stopWorker));
    await redis?.kill();
    await s?.close();
    await db?.drop();
  });

  it('runs the bike pipeline on the workers with the same outputs as the local executor', async () => {
    const ir = parsePipeline(readFileSync(BIKE_YAML, 'utf8'), BIKE_YAML);
    const data = bikeSlice(s.dir, 1500);
    await s.data.add('bike', data, {}, who);
    const r = await engine.run(ir, { params: { trees: 15 } });
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    // Every step ran on one of the worker processes, none in this one.
    const ran = new Set<string>();
    for (const step of r.steps) {
      const lease = await s.stores.pipelines.getStepLease(step.runId!);
      assert.match(lease?.owner ?? '', /:\d+:/, `step ${step.step} was not leased by a worker`);
      ran.add(lease!.owner.split(':')[1]!);
      assert.equal((await s.stores.tracking.getRun(step.runId!)).data.tags['trellis.worker'], lease!.owner, 'the mirror names the worker too');
    }
    const pids = new Set(workers.map((w) => String(w.pid)));
    assert.ok([...ran].every((p) => pids.has(p)), `steps ran in ${[...ran]}, workers are ${[...pids]}`);
    assert.ok(!ran.has(String(process.pid)));
    assert.deepEqual(r.registered, [{ step: 'register', name: 'bike', version: '1', alias: 'champion', created: true }]);

    // The same pipeline on the local executor, on fresh SQLite stores: byte-identical outputs.
    const local = await openTestServices();
    try {
      await local.data.add('bike', data, {}, who);
      const l = await new PipelineEngine(local, { who }).run(ir, { params: { trees: 15 } });
      assert.equal(l.status, 'FINISHED');
      const [a, b] = [shas(r), shas(l)];
      // The registration record names the run and differs by construction; every other output matches.
      delete a['register.registration'];
      delete b['register.registration'];
      assert.deepEqual(a, b);
    } finally {
      await local.close();
    }
  });

  it('a step that computes for longer than the lock is not taken for a dead one (it runs off the worker\'s event loop)', async () => {
    const data = bikeSlice(s.dir, 17000);
    const ir = validatePipeline({
      format: 'trellis.pipeline/v1', name: 'long-train', version: '1',
      steps: [
        { name: 'ingest', component: 'ingest', inputs: { dataset: data } },
        { name: 'train', component: 'train', inputs: { data: { step: 'ingest', output: 'data' }, target: 'cnt', algo: 'gbdt', trees: 1500, maxLeaves: 127, learningRate: 0.02 } },
      ],
    }, 'long-train');
    const r = await engine.run(ir);
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    const train = await s.stores.pipelines.getStepRun(r.steps[1]!.runId!);
    const took = train.endTime! - train.startTime;
    // Meaningful only when training outlasts the workers' 1.5 s lock several times over.
    assert.ok(took > 4500, `training took ${took} ms, too short to test the lock`);
    const lease = await s.stores.pipelines.getStepLease(train.id);
    assert.equal(lease?.deliveries, 1, `delivered ${lease?.deliveries} times`);
    assert.equal(lease?.epoch, 1, 'never taken over');
  });

  it('reports a failing step with the cause, recorded by the worker', async () => {
    const ir = validatePipeline({
      format: 'trellis.pipeline/v1', name: 'fails-remotely', version: '1',
      components: [{ name: 'boom', version: '1', kind: 'command', inputs: {}, outputs: { out: { type: 'File' } }, command: ['/bin/sh', '-c', 'echo about to fail >&2; exit 3'] }],
      steps: [{ name: 'boom', component: 'boom@1', inputs: {} }],
    }, 'fails-remotely');
    const r = await engine.run(ir);
    assert.equal(r.status, 'FAILED');
    assert.equal(r.failed?.step, 'boom');
    assert.match(r.failed?.error ?? '', /exit(ed)? (with )?(code )?3|status 3/);
    const run = await s.stores.tracking.getRun(r.steps[0]!.runId!);
    assert.equal(run.info.status, 'FAILED');
    assert.match((await s.tracking.readArtifact(run.info.runId, 'logs/boom.log')).toString(), /about to fail/);
  });

  it('a worker killed mid-step: the step is taken over by another worker and finishes once', async () => {
    const dir = join(s.dir, 'kill');
    mkdirSync(dir, { recursive: true });
    const count = join(dir, 'count');
    writeFileSync(count, '');
    const running = engine.run(sleepers('kill-worker', 1, 2, count));
    const taken = await until('the step to be taken by a worker', () => leasedSteps('kill-worker', 's0').then((l) => l[0]));
    const pid = Number(taken.owner.split(':')[1]);
    const victim = workers.find((w) => w.pid === pid)!;
    assert.ok(victim, `worker ${pid} is one of ours`);
    victim.proc.kill('SIGKILL');
    const r = await running;
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    const lease = (await s.stores.pipelines.getStepLease(r.steps[0]!.runId!))!;
    assert.notEqual(Number(lease.owner.split(':')[1]), pid, 'finished on the surviving worker');
    assert.deepEqual([lease.deliveries, lease.epoch], [2, 2], 'taken over once');
    assert.equal((await s.tracking.readArtifact(r.steps[0]!.runId!, 'outputs/out')).toString(), 's0\n');
    // Replace the killed worker for the next tests.
    workers = workers.map((w) => (w === victim ? startWorker(db.uri, artifacts, queue) : w));
    await Promise.all(workers.map((w) => waitForLine(w, /waiting for steps/)));
  });

  it('Redis restarted with steps in flight and waiting: none lost, none run twice to completion', async () => {
    const dir = join(s.dir, 'restart');
    mkdirSync(dir, { recursive: true });
    const count = join(dir, 'count');
    writeFileSync(count, '');
    const running = engine.run(sleepers('redis-restart', 5, 1.5, count));
    // Two steps in flight (one per worker), three waiting in Redis.
    await until('two steps in flight', async () => ((await leasedSteps('redis-restart')).length >= 2 ? true : undefined));
    await redis.kill();
    await sleep(700);
    await redis.start();
    const r = await running;
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    const lines = readFileSync(count, 'utf8').trim().split('\n').sort();
    assert.deepEqual(lines, ['s0', 's1', 's2', 's3', 's4'], 'each step ran to completion exactly once');
    for (const step of r.steps) assert.equal((await s.stores.tracking.getRun(step.runId!)).info.status, 'FINISHED');
  });

  it('kill -9 of the runner, then resume on the workers: the step a live worker holds is adopted and runs once, no second model version', async () => {
    const dir = join(s.dir, 'resume');
    mkdirSync(dir, { recursive: true });
    const data = bikeSlice(dir, 800);
    const count = join(dir, 'slow-ran');
    const yaml = join(dir, 'p.yaml');
    writeFileSync(yaml, `format: trellis.pipeline/v1
name: resume-remote
version: "1"
components:
  - name: slow-copy
    version: "1"
    kind: command
    inputs: { data: { type: Dataset } }
    outputs: { data: { type: Dataset } }
    command: ["/bin/sh", "-c", "echo ran >> ${count}; sleep 3; cp {inputs.data} {outputs.data}"]
steps:
  - { name: ingest, component: ingest, inputs: { dataset: ${JSON.stringify(data)} } }
  - { name: slow, component: slow-copy@1, inputs: { data: { step: ingest, output: data } } }
  - { name: train, component: train, inputs: { data: { step: slow, output: data }, target: cnt, algo: linear } }
  - { name: register, component: register, inputs: { model: { step: train, output: model }, name: resumed, alias: champion } }
`);
    const runner = spawn(process.execPath, ['--import', 'tsx', CLI, '--store', db.uri, '--artifacts', artifacts, 'run', yaml, '--queue', queue], { stdio: 'ignore', env: { ...process.env, TRELLIS_LOG_LEVEL: 'silent' } });
    const slowLease = await until('the slow step to be taken by a worker', () => leasedSteps('resume-remote', 'slow').then((l) => l[0]));
    runner.kill('SIGKILL');
    await new Promise((r) => runner.once('exit', r));
    const slow = await s.stores.pipelines.getStepRun(slowLease.stepRunId);
    const pipelineRun = slow.pipelineRunId!;
    // The runner died with its run RUNNING; resume sees its process is gone.
    assert.equal((await s.stores.pipelines.getPipelineRun(pipelineRun)).status, 'RUNNING');
    assert.equal((await s.stores.pipelines.getStepRun(slow.id)).status, 'RUNNING', 'the worker is still on the slow step');
    const r = await engine.resume(pipelineRun);
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    const by = Object.fromEntries(r.steps.map((x) => [x.step, x]));
    assert.equal(by.ingest!.status, 'kept');
    // The worker's execution was adopted: its end is the step's end, and the command ran once.
    assert.equal(by.slow!.status, 'kept');
    assert.equal(by.slow!.runId, slow.id);
    assert.equal(readFileSync(count, 'utf8'), 'ran\n');
    assert.equal((await s.stores.pipelines.getStepRun(slow.id)).status, 'FINISHED');
    assert.equal((await s.stores.tracking.getRun(slow.id)).info.status, 'FINISHED', 'and its mirror says so');
    const slowRuns = await s.stores.pipelines.listStepRuns({ pipelineRunId: pipelineRun, step: 'slow' });
    assert.deepEqual(slowRuns.map((x) => x.status), ['FINISHED'], 'one step run, never both cancelled and finished');
    const versions = (await s.registry.searchVersions({ filter: "name = 'resumed'" })).items;
    assert.equal(versions.length, 1);
    assert.equal((await s.stores.registry.getVersionByAlias('resumed', 'champion')).version, versions[0]!.version);
  });
});

describe('queue URLs', () => {
  it('parses redis:// URLs and refuses others with the reason', () => {
    assert.deepEqual(redisConnection('redis://127.0.0.1:6390/2'), { host: '127.0.0.1', port: 6390, db: 2, maxRetriesPerRequest: null });
    assert.deepEqual(redisConnection('redis://u:p%40ss@cache'), { host: 'cache', port: 6379, username: 'u', password: 'p@ss', maxRetriesPerRequest: null });
    assert.throws(() => redisConnection('http://x'), /scheme must be redis:\/\//);
    assert.throws(() => redisConnection('redis://h/x'), /database after the host must be a number/);
    assert.throws(() => redisConnection('not a url'), /not a URL/);
  });

  it('a queue nobody answers on is named in the error', async () => {
    const s = await openTestServices();
    try {
      const port = await freePort();
      await assert.rejects(RedisDispatcher.open(s, who, { url: `redis://127.0.0.1:${port}` }), new RegExp(`cannot reach Redis at redis://127.0.0.1:${port}`));
    } finally {
      await s.close();
    }
  });
});
