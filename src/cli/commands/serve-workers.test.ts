/**
 * `trellis serve --workers N`: N processes answering one REST port and one gRPC port. /metrics
 * counts the requests of every worker; a worker killed with SIGKILL is replaced while the others
 * answer; SIGTERM to the primary, and Ctrl-C to the terminal's process group, drain every worker
 * and exit 0, answering what arrives meanwhile on open connections; a port in use is reported once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { inferencePackage } from '../../serving/grpc/inference-proto.js';
import { ADULT, BODY } from '../../api/serving/test-helpers/adult.js';
import { runCli } from '../test-helpers/run-cli.js';
import { startServeProcess, type ServeProcess } from '../test-helpers/serve-process.js';

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));

type Primary = ServeProcess;
/** `trellis serve --workers 2`; a later --workers in `extra` wins. */
const startWorkers = (g: string[], extra: string[] = [], detached = false) => startServeProcess(g, ['--workers', '2', ...extra], detached);

/** One inference on a connection of its own (the primary hands connections to the workers in turn). */
function inferOnNewConnection(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v2/models/income/infer`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(BODY);
  });
}

/**
 * The primary's worker processes: its children running node. (Under tsx, a primary that compiles
 * a file its cache lacks also has an esbuild child, which is no worker.)
 */
const workerPids = (primary: number): number[] =>
  spawnSync('ps', ['-o', 'pid=,comm=', '--ppid', String(primary)], { encoding: 'utf8' }).stdout.split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, comm]) => Number(pid) > 0 && comm === basename(process.execPath))
    .map(([pid]) => Number(pid));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** `trellis_requests_total` with outcome ok, by the worker label of its series. */
async function requestsCounted(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const by = new Map<string, number>();
  for (const m of text.matchAll(/^trellis_requests_total\{([^}]*outcome="ok"[^}]*)\} (\d+)/gm)) {
    const worker = /worker="(\d+)"/.exec(m[1]!)?.[1] ?? '';
    by.set(worker, (by.get(worker) ?? 0) + Number(m[2]));
  }
  return by;
}
const total = (by: Map<string, number>) => [...by.values()].reduce((a, b) => a + b, 0);

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('trellis serve --workers', () => {
  let dir: string;
  let g: string[];
  const started: Primary[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-serve-workers-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    for (const args of [['data', 'add', 'adult', ADULT], ['train', '--data', 'adult@1', '--target', 'income', '--algo', 'linear', '--register', 'income'], ['deployments', 'create', 'income', '--model', 'income/1']]) {
      const r = runCli([...g, ...args]);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(() => {
    for (const p of started) {
      for (const pid of workerPids(p.child.pid!)) if (alive(pid)) process.kill(pid, 'SIGKILL');
      p.child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers from two workers on one port, counts them all in /metrics, replaces a killed worker and drains on SIGTERM', async () => {
    const p = await startWorkers(g);
    started.push(p);
    assert.match(p.out(), /endpoints: income; 2 workers/);
    // One listening line for the whole, not one per worker.
    assert.equal(p.out().match(/REST on http/g)!.length, 1);
    const pids = workerPids(p.child.pid!);
    assert.equal(pids.length, 2, `worker processes: ${spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(p.child.pid)], { encoding: 'utf8' }).stdout}\n${p.out()}`);

    // Connections alternate between the workers; /metrics, answered by either, counts both.
    const statuses = [];
    for (let i = 0; i < 40; i++) statuses.push(await inferOnNewConnection(p.url).catch((e: Error) => e.message));
    assert.deepEqual(new Set(statuses), new Set([200]), `${statuses.join(',')}\n${p.out()}`);
    for (let i = 0; i < 2; i++) {
      const by = await requestsCounted(p.url);
      assert.deepEqual([...by.keys()].sort(), ['1', '2'], `a series for each worker: ${JSON.stringify([...by])}\n${p.out()}`);
      assert.equal(total(by), 40, JSON.stringify([...by]));
    }

    // The gRPC port is shared too.
    const pkg = grpc.loadPackageDefinition(inferencePackage()) as unknown as { inference: { GRPCInferenceService: new (target: string, creds: grpc.ChannelCredentials) => grpc.Client & { ModelReady(req: unknown, cb: (err: grpc.ServiceError | null, res: { ready: boolean }) => void): void } } };
    const client = new pkg.inference.GRPCInferenceService(p.grpc, grpc.credentials.createInsecure());
    const ready = await new Promise<{ ready: boolean }>((resolve, reject) => client.ModelReady({ name: 'income' }, (err, res) => (err ? reject(err) : resolve(res))));
    client.close();
    assert.equal(ready.ready, true);

    // A worker killed outright: the primary says so and starts another; the port keeps answering.
    process.kill(pids[0]!, 'SIGKILL');
    await until('the primary to notice the killed worker', () => new RegExp(`worker \\d \\(pid ${pids[0]}\\) exited with signal SIGKILL; starting another`).test(p.out()));
    for (let i = 0; i < 20; i++) assert.equal(await inferOnNewConnection(p.url).catch((e: Error) => e.message), 200, p.out());
    await until('a new worker', () => workerPids(p.child.pid!).length === 2 && !workerPids(p.child.pid!).includes(pids[0]!));
    const replaced = workerPids(p.child.pid!);
    await until('the new worker to answer', async () => {
      for (let i = 0; i < 4; i++) if ((await inferOnNewConnection(p.url)) !== 200) return false;
      return true;
    });

    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0, p.out());
    for (const pid of replaced) assert.equal(alive(pid), false, `worker ${pid} outlived the primary`);
    assert.match(p.out(), /shutting down 2 workers/);
  });

  it('stops every worker on Ctrl-C, which reaches the whole process group, and exits 0', async () => {
    const p = await startWorkers(g, ['--no-grpc'], true);
    started.push(p);
    const pids = workerPids(p.child.pid!);
    assert.equal(await inferOnNewConnection(p.url), 200);
    process.kill(-p.child.pid!, 'SIGINT');
    assert.equal(await p.exited, 0, p.out());
    assert.doesNotMatch(p.out(), /second signal/);
    for (const pid of pids) await until(`worker ${pid} to end`, () => !alive(pid), 5000);
  });

  for (const workers of ['1', '2']) {
    it(`answers every request that reaches it on a kept-alive connection after SIGTERM (--workers ${workers})`, async () => {
      const p = await startWorkers(g, ['--no-grpc', '--workers', workers]);
      started.push(p);
      const agent = new Agent({ keepAlive: true, maxSockets: 8 });
      const outcomes = new Map<string, number>();
      let running = true;
      const one = () => new Promise<string>((resolve) => {
        const req = request(`${p.url}/v2/models/income/infer`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) } }, (res) => {
          res.resume();
          res.on('end', () => resolve(String(res.statusCode)));
          res.on('error', (e: NodeJS.ErrnoException) => resolve(`answer:${e.code ?? e.message}`));
        });
        // A reused connection was open before; a new one may never have reached a worker (refused, or
        // reset when the listening socket closed with it still in the kernel's queue).
        req.on('error', (e: NodeJS.ErrnoException) => resolve(`${req.reusedSocket ? 'open' : 'new'}:${e.code ?? e.message}`));
        req.end(BODY);
      });
      const loops = Array.from({ length: 8 }, async () => {
        while (running) {
          const k = await one();
          outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
          // Refused at connect: the replica no longer listens, as a load balancer would see it.
          if (k === 'new:ECONNREFUSED') await new Promise((r) => setTimeout(r, 20));
        }
      });
      await until('requests answered', () => (outcomes.get('200') ?? 0) > 200);
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0, p.out());
      running = false;
      await Promise.all(loops);
      agent.destroy();
      // Requests on connections already open are answered (each answer closing its connection), never reset or refused with 503.
      assert.deepEqual([...outcomes.keys()].filter((k) => k !== '200' && !k.startsWith('new:')), [], JSON.stringify(Object.fromEntries(outcomes)));
      assert.ok((outcomes.get('new:ECONNREFUSED') ?? 0) > 0, 'the load went on past the exit');
    });
  }

  it('reports a port in use once and exits 1', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...g, 'serve', '--port', String(port), '--no-grpc', '--workers', '2'], {
        env: { ...process.env, TRELLIS_USER: 'tester', TRELLIS_LOG_FORMAT: 'pretty' }, encoding: 'utf8', timeout: 60_000,
      });
      assert.equal(r.status, 1, r.stderr);
      assert.equal((r.stderr + r.stdout).match(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: port ${port} is already in use`, 'g'))?.length, 1, r.stderr + r.stdout);
      assert.equal((r.stderr + r.stdout).trim().split('\n').length, 1, r.stderr + r.stdout);
    } finally {
      blocker.close();
    }
  });

  it('refuses a bad --workers with one line', () => {
    for (const bad of ['0', 'two', '65', '1.5']) {
      const r = runCli([...g, 'serve', '--workers', bad]);
      assert.notEqual(r.code, 0, bad);
      assert.match(r.stderr, new RegExp(`--workers '${bad.replace('.', '\\.')}' must be a whole number from 1 to 64`));
      assert.ok(r.stderr.trim().split('\n').length <= 2, r.stderr);
    }
  });
});
