/**
 * `trellis serve` as people run it: a child process over a SQLite workspace, driven by
 * `trellis deployments` and `trellis models alias` from other processes, under load. Deployments,
 * canaries and alias moves are followed within a second with no failed request; feedback labels
 * logged requests and `trellis predictions export` writes them; SIGTERM drains what was accepted;
 * a replica killed with SIGKILL leaves the other answering, and a restarted one serves the current
 * deployment.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../test-helpers/run-cli.js';
import { startServeProcess, type ServeProcess } from '../test-helpers/serve-process.js';

import { ADULT, BODY } from '../../api/serving/test-helpers/adult.js';

type Replica = ServeProcess;
const startServe = (g: string[], extra: string[] = []) => startServeProcess(g, extra);

async function infer(url: string, endpoint = 'income'): Promise<{ status: number; version: string; route: string; id: string }> {
  const res = await fetch(`${url}/v2/models/${endpoint}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
  await res.arrayBuffer();
  return { status: res.status, version: res.headers.get('x-model-version') ?? '', route: res.headers.get('x-route') ?? '', id: res.headers.get('x-request-id') ?? '' };
}

/** Sends requests from `workers` loops until `stop()`; records every answer (a thrown fetch counts as status 0). */
function load(url: string, workers: number) {
  const answers: { status: number; version: string; at: number }[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      try {
        const r = await infer(url);
        answers.push({ status: r.status, version: r.version, at: Date.now() });
      } catch {
        answers.push({ status: 0, version: '', at: Date.now() });
      }
    }
  });
  return { answers, async stop() { running = false; await Promise.all(loops); } };
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('trellis serve, driven by trellis deployments', () => {
  let dir: string;
  let g: string[];
  const cli = (...args: string[]) => {
    const r = runCli([...g, ...args]);
    assert.equal(r.code, 0, `${args.join(' ')}\n${r.stderr}`);
    return r.stdout;
  };
  const replicas: Replica[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-serve-cli-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    cli('data', 'add', 'adult', ADULT);
    cli('train', '--data', 'adult@1', '--target', 'income', '--algo', 'linear', '--register', 'income');
    cli('train', '--data', 'adult@1', '--target', 'income', '--algo', 'gbdt', '--param', 'trees=10', '--register', 'income');
    cli('train', '--data', 'adult@1', '--target', 'income', '--algo', 'linear', '--param', 'l2=30', '--register', 'income');
    cli('models', 'alias', 'income', 'champion', '1');
    assert.match(cli('deployments', 'create', 'income', '--model', 'income@champion'), /created endpoint income: primary income@champion 100%/);
  });
  after(async () => {
    for (const r of replicas) r.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows a canary and two alias moves under load with no failed request, then exports the log with feedback', async () => {
    const a = await startServe(g);
    replicas.push(a);
    assert.equal((await fetch(`${a.url}/v2/health/ready`)).status, 200);
    const first = await infer(a.url);
    assert.deepEqual([first.status, first.version, first.route], [200, 'income/1', 'primary']);

    const traffic = load(a.url, 4);
    await new Promise((r) => setTimeout(r, 300));
    cli('deployments', 'set-traffic', 'income', '--canary', 'income/3', '--share', '30', '--reason', 'try l2=30');
    await until('the canary to answer', async () => traffic.answers.some((x) => x.version === 'income/3'));
    cli('models', 'alias', 'income', 'champion', '2');
    await until('the alias move', async () => traffic.answers.slice(-20).some((x) => x.version === 'income/2'));
    cli('models', 'alias', 'income', 'champion', '1');
    await until('the second alias move', async () => traffic.answers.slice(-10).some((x) => x.version === 'income/1') && traffic.answers.slice(-5).every((x) => x.version !== 'income/2'));
    await traffic.stop();
    const failed = traffic.answers.filter((x) => x.status !== 200);
    assert.equal(failed.length, 0, `failed requests: ${JSON.stringify(failed.slice(0, 5))}`);
    assert.ok(traffic.answers.length > 50, `${traffic.answers.length} requests`);
    assert.deepEqual([...new Set(traffic.answers.map((x) => x.version))].sort(), ['income/1', 'income/2', 'income/3']);

    // Feedback for one answered request, then the log as a file.
    const answered = await infer(a.url);
    await new Promise((r) => setTimeout(r, 600)); // the log is written off the request path, in batches
    const fb = await fetch(`${a.url}/v2/models/income/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request_id: answered.id, label: '>50K' }) });
    assert.equal(fb.status, 200, await fb.clone().text());
    assert.deepEqual(await fb.json(), { request_id: answered.id, rows: 1 });
    const unknown = await fetch(`${a.url}/v2/models/income/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request_id: 'nope', label: 'x' }) });
    assert.equal(unknown.status, 404);
    const wrongCount = await fetch(`${a.url}/v2/models/income/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request_id: answered.id, labels: ['a', 'b'] }) });
    assert.equal(wrongCount.status, 400);
    assert.match((await wrongCount.json() as { error: string }).error, /1 row/);

    const csv = join(dir, 'labelled.csv');
    assert.match(cli('predictions', 'export', 'income', '--with-labels', '--output', csv), /wrote 1 row \(1 logged request\) of income/);
    const [header, line] = readFileSync(csv, 'utf8').trim().split('\n');
    assert.match(header!, /^request_id,time,model_version,route,age,.*,prediction,proba_<=50K,proba_>50K,label,error$/);
    assert.ok(line!.startsWith(`${answered.id},`), line);
    assert.match(line!, /,>50K,$/);
    const all = join(dir, 'all.parquet');
    const n = JSON.parse(cli('--json', 'predictions', 'export', 'income', '--output', all)) as { rows: number; requests: number };
    assert.ok(n.requests >= traffic.answers.length, `${n.requests} logged of ${traffic.answers.length}`);
    const bad = runCli([...g, 'predictions', 'export', 'income', '--since', 'yesterday', '--output', join(dir, 'x.csv')]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--since takes an ISO 8601 date/);

    // The history says who changed what, and why.
    assert.match(cli('deployments', 'show', 'income'), /2\s+set_traffic.*tester.*canary income\/3 30%.*try l2=30/);
  });

  it('keeps answering on one replica when the other is killed, serves the current deployment after a restart, and drains on SIGTERM', async () => {
    const a = replicas[0]!;
    const b = await startServe(g);
    replicas.push(b);
    cli('deployments', 'promote', 'income', '--reason', 'canary held');
    await until('both replicas on the promoted version', async () => (await infer(a.url)).version === 'income/3' && (await infer(b.url)).version === 'income/3');
    const onB = load(b.url, 2);
    await new Promise((r) => setTimeout(r, 200));
    a.child.kill('SIGKILL');
    await a.exited;
    await new Promise((r) => setTimeout(r, 300));
    await onB.stop();
    assert.equal(onB.answers.filter((x) => x.status !== 200).length, 0);
    // Back to the revision before the promotion (champion 70%, canary 30%), then the canary off: one version answers.
    cli('deployments', 'rollback', 'income');
    cli('deployments', 'set-traffic', 'income', '--share', '0');
    const c2 = await startServe(g);
    replicas.push(c2);
    assert.equal((await infer(c2.url)).version, 'income/1', 'a restarted replica serves the deployment as it is now');

    // SIGTERM with requests in flight: every accepted request is answered, then exit 0.
    const inflight = Array.from({ length: 40 }, () => infer(c2.url).catch(() => ({ status: 0, id: '' })));
    await new Promise((r) => setTimeout(r, 5));
    c2.child.kill('SIGTERM');
    const answers = await Promise.all(inflight);
    const statuses = answers.map((x) => x.status);
    assert.equal(await c2.exited, 0, c2.out());
    const accepted = statuses.filter((s) => s !== 0);
    assert.ok(accepted.length > 0);
    assert.ok(accepted.every((s) => s === 200 || s === 503), `statuses: ${statuses.join(',')}`);
    assert.match(c2.out(), /finishing requests in flight/);
    // Every answer given before the exit is in the prediction log: the last batch is written on the way out.
    const drained = join(dir, 'drained.csv');
    cli('predictions', 'export', 'income', '--output', drained);
    const logged = new Set(readFileSync(drained, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]));
    const missing = answers.filter((x) => x.status === 200 && !logged.has(x.id));
    assert.equal(missing.length, 0, `${missing.length} answered requests not logged`);
    b.child.kill('SIGTERM');
    assert.equal(await b.exited, 0);
  });

  it('runs a rollout to promotion inside trellis serve, each step an audited revision with its numbers', async () => {
    const r = await startServe(g);
    replicas.push(r);
    cli('deployments', 'rollout', 'income', '--model', 'income/2', '--steps', '20,60', '--hold', '0s', '--slo', 'error_rate<0.05, p99_ms<2000', '--min-requests', '15');
    const traffic = load(r.url, 3);
    const shown = () => JSON.parse(cli('--json', 'deployments', 'show', 'income')) as { routes: { role: string; model: string; share: number }[]; rollout?: unknown; history: { change: string; reason?: string }[] };
    await until('the rollout to finish', async () => shown().rollout === undefined, 90_000);
    await traffic.stop();
    const d = shown();
    assert.deepEqual(d.routes, [{ role: 'primary', model: 'income/2', share: 100 }]);
    const changes = d.history.map((h) => h.change);
    assert.deepEqual(changes.slice(0, 3), ['rollout_promote', 'rollout_advance', 'rollout_start']);
    assert.match(d.history[1]!.reason!, /checks passed at 20% for \d+ s: advancing to 60%/);
    assert.equal(traffic.answers.filter((x) => x.status !== 200).length, 0);
    // The replica logs the decision once it is stored: the line may follow the store by a moment.
    await until('the promotion in the log', async () => /rollout promote: checks passed at every step: promoting income\/2/.test(r.out()));
    r.child.kill('SIGTERM');
    assert.equal(await r.exited, 0);
  });

  it('refuses bad options with one line naming them', () => {
    for (const [args, message] of [
      [['serve', '--log-sample', '2'], /--log-sample '2' must be a number from 0 to 1/],
      [['serve', '--port', '8080', '--grpc-port', '8080'], /--grpc-port 8080 is the REST --port too/],
      [['serve', '--max-batch', '0'], /--max-batch '0' must be a whole number/],
      [['deployments', 'create', 'x', '--model', 'income@champion', '--canary', 'income/2'], /Give --canary and --share together/],
      [['deployments', 'create', 'x', '--model', 'income@nosuch'], /nosuch/],
      [['deployments', 'create', 'bad name', '--model', 'income/1'], /Invalid endpoint name/],
      [['deployments', 'set-traffic', 'income', '--share', '150'], /--share '150' is not a percentage/],
      [['deployments', 'promote', 'ghost'], /No deployment named 'ghost'/],
    ] as [string[], RegExp][]) {
      const r = runCli([...g, ...args]);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.ok(r.stderr.trim().split('\n').length <= 2, r.stderr);
    }
  });
});
