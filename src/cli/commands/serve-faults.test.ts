/**
 * `trellis serve` under a minute of steady load while the traffic changes under it: a child
 * process over a workspace, 8 requests always in flight over loopback for 60 s, while
 * `@champion` moves twice (`trellis models alias`, another process) and a rollout's canary is
 * advanced by the controller inside `trellis serve`. Not one request may fail, and every answer
 * must come from a version the store had on that route at some moment between the request's
 * sending (less a pickup bound: replicas poll every 500 ms) and its answer. The timeline of what
 * held traffic is the store's own: the deployment's revisions with their times, and the alias
 * moves between the issuing and the return of their commands. A registered version that never
 * held traffic must never answer. The same minute runs on SQLite (replicas poll the store) and on
 * PostgreSQL (changes pushed by LISTEN/NOTIFY), side by side.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '../../store/test-helpers/postgres.js';
import { Workspace } from '../../workspace/workspace.js';

import { ADULT, BODY } from '../../api/serving/test-helpers/adult.js';

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));

/** How long the load runs: the requirement is a minute. */
const LOAD_MS = 60_000;
/** Requests in flight at every moment. */
const IN_FLIGHT = 8;
/** How long an answer may still come from what held traffic before the request was sent (a replica follows within ~1 s). */
const PICKUP_MS = 3000;
/** When the alias moves are issued, from the start of the load. */
const MOVES = [{ atMs: 12_000, to: '2' }, { atMs: 34_000, to: '3' }];
/** The rollout: each step held 22 s, so it advances during the load and cannot be promoted before the load ends (3 × 22 s > 60 s). */
const STEPS = [10, 30, 60];
const HOLD = '22s';
const CANDIDATE = '4';
const DECOY = '5';
const who = { actor: 'tester' };

interface Answer { sent: number; received: number; status: number; version: string; route: string; error?: string }
interface Change { what: string; issued: number; returned: number }
interface Revision { revision: number; change: string; at: number; routes: { role: string; model: string; share: number }[] }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** The CLI in a child process, without blocking this process's event loop (the load runs here). */
function cliAsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, TRELLIS_USER: 'tester' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    // A command that hangs fails the test instead of holding it.
    const timer = setTimeout(() => { stderr += '\n(killed after 60 s)'; child.kill('SIGKILL'); }, 60_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

async function startServe(g: string[]): Promise<{ url: string; child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...g, 'serve', '--port', '0', '--no-grpc'], {
    env: { ...process.env, TRELLIS_USER: 'tester', TRELLIS_LOG_FORMAT: 'json', TRELLIS_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const url = /REST on (http:\/\/[0-9.]+:\d+)/.exec(out)?.[1];
    if (url) return { url, child, out: () => out };
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      assert.fail(`trellis serve did not start:\n${out}`);
    }
    await sleep(100);
  }
}

/** `IN_FLIGHT` loops sending one request after another until `stop()`; every request is recorded, a thrown fetch as status 0. */
function load(url: string) {
  const answers: Answer[] = [];
  let running = true;
  const loops = Array.from({ length: IN_FLIGHT }, async () => {
    while (running) {
      const sent = Date.now();
      try {
        const res = await fetch(`${url}/v2/models/income/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
        const text = await res.text();
        answers.push({
          sent, received: Date.now(), status: res.status, version: res.headers.get('x-model-version') ?? '', route: res.headers.get('x-route') ?? '',
          ...(res.status === 200 ? {} : { error: text.slice(0, 200) }),
        });
      } catch (e) {
        answers.push({ sent, received: Date.now(), status: 0, version: '', route: '', error: String((e as Error).cause ?? e) });
      }
    }
  });
  return { answers, async stop() { running = false; await Promise.all(loops); } };
}

/**
 * What held traffic when, as the store says: the deployment's revisions (each from its time to the
 * next one's) and `@champion` (its old version until its move returned, its new one from the
 * moment the move was issued). Routes with no share hold no traffic.
 */
class Timeline {
  constructor(private readonly revisions: Revision[], private readonly champion: { initial: string; moves: (Change & { to: string })[] }) {}

  private champions(t: number): string[] {
    let current = [this.champion.initial];
    for (const m of this.champion.moves) {
      if (t > m.returned) current = [m.to];
      else if (t >= m.issued) current = [...current, m.to];
    }
    return current;
  }

  private resolve(model: string, t: number): string[] {
    if (model === 'income@champion') return this.champions(t).map((v) => `income/${v}`);
    assert.match(model, /^income\/\d+$/, `a route the timeline knows: ${model}`);
    return [model];
  }

  /** `route version` pairs on traffic at `t` (both sides of a change, at its instant). */
  at(t: number): Set<string> {
    const out = new Set<string>();
    this.revisions.forEach((r, i) => {
      const next = this.revisions[i + 1];
      if (t < r.at || (next && t > next.at)) return;
      for (const route of r.routes) {
        if (route.role === 'shadow' || route.share <= 0) continue;
        for (const v of this.resolve(route.model, t)) out.add(`${route.role} ${v}`);
      }
    });
    return out;
  }

  /** Pairs on traffic at any moment of [from, to]: what holds between change points is what holds at the next one. */
  during(from: number, to: number): Set<string> {
    const points = [from, to, ...this.revisions.map((r) => r.at), ...this.champion.moves.flatMap((m) => [m.issued, m.returned])].filter((t) => t >= from && t <= to);
    const out = new Set<string>();
    for (const t of points) for (const p of this.at(t)) out.add(p);
    return out;
  }
}

describe('trellis serve under a minute of load while @champion moves twice and a rollout advances', { concurrency: 2 }, () => {
  for (const kind of ['SQLite', 'PostgreSQL'] as const) scenario(kind);
});

function scenario(kind: 'SQLite' | 'PostgreSQL'): void {
  describe(`on ${kind}`, () => {
    let dir: string;
    let db: { uri: string; drop: () => Promise<void> } | undefined;
    let g: string[];
    let serve: { url: string; child: ChildProcess; out: () => string } | undefined;
    const cli = async (...args: string[]) => {
      const r = await cliAsync([...g, ...args]);
      assert.equal(r.code, 0, `${args.join(' ')}\n${r.stderr}`);
      return r.stdout;
    };
    /** A change made during the load: the time before the command was issued and the time it returned. */
    const change = async (what: string, args: string[]): Promise<Change> => {
      const issued = Date.now();
      await cli(...args);
      return { what, issued, returned: Date.now() };
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'trellis-serve-faults-'));
      if (kind === 'PostgreSQL') db = await createTestDatabase('trellis_serve_faults');
      const store = db ? db.uri : `sqlite:${join(dir, 't.db')}`;
      const artifacts = `file:${join(dir, 'a')}`;
      g = ['--store', store, '--artifacts', artifacts];
      // Set up in this process (quicker than a CLI process a step); the changes under load are made by the CLI.
      const ws = await Workspace.open({ store, artifacts });
      try {
        for (const params of [{}, { trees: '10' }, { l2: '30' }, { l2: '5' }, { l2: '100' }] as Record<string, string>[]) {
          await ws.training.train({ data: ADULT, target: 'income', algo: 'trees' in params ? 'gbdt' : 'linear', params, register: 'income' }, who);
        }
        // Version 5 is the decoy: registered, never on traffic.
        assert.equal((await ws.registry.getVersion('income', DECOY)).version, DECOY);
        await ws.registry.setAlias('income', 'champion', '1', who);
        await ws.deployments.create('income', { model: 'income@champion' }, who);
      } finally {
        await ws.close();
      }
    });
    after(async () => {
      serve?.child.kill('SIGKILL');
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('answers every request, each from a version that held its route at that moment', async (t) => {
      serve = await startServe(g);
      const { url } = serve;
      const deadline = Date.now() + 60_000;
      while ((await fetch(`${url}/v2/health/ready`).then((r) => r.status, () => 0)) !== 200) {
        assert.ok(Date.now() < deadline, `the replica never became ready:\n${serve.out()}`);
        await sleep(200);
      }

      const traffic = load(url);
      const start = Date.now();
      let rollout: Change;
      const moves: (Change & { to: string })[] = [];
      try {
        await sleep(1000);
        rollout = await change('rollout', ['deployments', 'rollout', 'income', '--model', `income/${CANDIDATE}`, '--steps', STEPS.join(','), '--hold', HOLD, '--slo', 'error_rate<0.01', '--min-requests', '20']);
        for (const m of MOVES) {
          await sleep(start + m.atMs - Date.now());
          moves.push({ ...(await change(`@champion → ${m.to}`, ['models', 'alias', 'income', 'champion', m.to])), to: m.to });
        }
        await sleep(start + LOAD_MS - Date.now());
      } finally {
        await traffic.stop();
      }
      const end = Date.now();
      const answers = traffic.answers;

      // The store's account of the deployment, oldest revision first.
      const shown = JSON.parse(await cli('--json', 'deployments', 'show', 'income', '--history', '100')) as { history: Revision[] };
      const revisions = [...shown.history].sort((a, b) => a.revision - b.revision);
      const timeline = new Timeline(revisions, { initial: '1', moves });
      const rolloutStart = revisions.find((r) => r.change === 'rollout_start');
      assert.ok(rolloutStart && rolloutStart.at >= rollout.issued && rolloutStart.at <= rollout.returned, `the rollout's revision is dated within its command: ${JSON.stringify(revisions)}`);
      const advances = revisions.filter((r) => r.change === 'rollout_advance' && r.at < end);
      assert.ok(advances.length >= 1, `the controller advanced the canary during the load: ${JSON.stringify(revisions.map((r) => [r.change, r.at - start]))}\n${serve.out().slice(-3000)}`);
      assert.ok(!revisions.some((r) => /rollout_(rollback|promote)/.test(r.change) && r.at < end), `no rollback or promotion during the load: ${JSON.stringify(revisions.map((r) => r.change))}`);

      const counts = new Map<string, number>();
      for (const a of answers) counts.set(`${a.route} ${a.version}`, (counts.get(`${a.route} ${a.version}`) ?? 0) + 1);
      t.diagnostic(`${answers.length} requests in ${((end - start) / 1000).toFixed(1)} s (${Math.round(answers.length / ((end - start) / 1000))}/s, ${IN_FLIGHT} in flight): ${[...counts].map(([k, n]) => `${k}: ${n}`).join(', ')}`);
      t.diagnostic(`changes (s from the start of the load): ${[rollout, ...moves].map((c) => `${c.what} ${((c.issued - start) / 1000).toFixed(1)}–${((c.returned - start) / 1000).toFixed(1)}`).join(', ')}; ${revisions.filter((r) => r.at >= start).map((r) => `${r.change} ${((r.at - start) / 1000).toFixed(1)}`).join(', ')}`);

      // No failed request, and nothing the replica logged as an error (a model that failed to load, a refresh or a rollout step that failed).
      const errors = serve.out().split('\n').filter((l) => /"level":(50|60)\b/.test(l));
      assert.deepEqual(errors, [], 'the replica logged errors');
      // No failed request.
      const failed = answers.filter((a) => a.status !== 200);
      assert.equal(failed.length, 0, `${failed.length} failed requests (times in ms from the start of the load), e.g. ${JSON.stringify(failed.slice(0, 5).map((a) => ({ ...a, sent: a.sent - start, received: a.received - start })))}`);
      assert.ok(answers.length >= 10 * (LOAD_MS / 1000), `the load kept requests flowing: ${answers.length} in ${end - start} ms`);

      // Every answer from a version on its route at some moment of [sent − pickup, received]; never the decoy.
      const decoy = answers.find((a) => a.version === `income/${DECOY}`);
      assert.equal(decoy, undefined, `the decoy answered ${(((decoy?.sent ?? 0) - start) / 1000).toFixed(1)} s into the load`);
      const wrong = answers.filter((a) => !timeline.during(a.sent - PICKUP_MS, a.received).has(`${a.route} ${a.version}`));
      assert.equal(wrong.length, 0, `${wrong.length} answers from a version not on that route at the time, e.g. ${JSON.stringify(wrong.slice(0, 3).map((a) => ({ ...a, sent: a.sent - start, received: a.received - start, allowed: [...timeline.during(a.sent - PICKUP_MS, a.received)] })))}`);

      // After each move the new champion answers, and from a pickup bound after it returned until the next change the old one never does.
      for (const [i, m] of moves.entries()) {
        const old = `income/${i === 0 ? '1' : moves[i - 1]!.to}`;
        const until = moves[i + 1]?.issued ?? end;
        const afterMove = answers.filter((a) => a.sent > m.returned + PICKUP_MS && a.sent < until);
        assert.ok(afterMove.length > 0, `requests after ${m.what}`);
        assert.ok(afterMove.some((a) => a.route === 'primary' && a.version === `income/${m.to}`), `income/${m.to} answers after ${m.what}`);
        const stale = afterMove.filter((a) => a.version === old);
        assert.equal(stale.length, 0, `${old} still answered ${stale.length} times after ${m.what}`);
      }

      // The canary's share of the answers rises with each step (windows by send time, a pickup bound after each step began).
      const stepStarts = [rolloutStart.at, ...advances.map((r) => r.at)];
      const shares = stepStarts.map((from, i) => {
        const inStep = answers.filter((a) => a.sent > from + PICKUP_MS && a.sent < (stepStarts[i + 1] ?? end));
        const canary = inStep.filter((a) => a.route === 'canary').length;
        return { step: STEPS[i]!, n: inStep.length, share: inStep.length ? canary / inStep.length : Number.NaN };
      });
      t.diagnostic(`canary share by step: ${shares.map((s) => `${s.step}%: ${(100 * s.share).toFixed(1)}% of ${s.n}`).join(', ')}`);
      for (const s of shares.slice(0, 2)) {
        assert.ok(s.n >= 100, `enough requests at the ${s.step}% step to measure the share: ${s.n}`);
        // Five standard deviations of the binomial share: a wrong share fails, chance does not.
        const sd = Math.sqrt((s.step / 100) * (1 - s.step / 100) / s.n);
        assert.ok(Math.abs(s.share - s.step / 100) <= 5 * sd, `the canary took ${(100 * s.share).toFixed(1)}% of ${s.n} requests at the ${s.step}% step`);
      }
      assert.ok(shares[1]!.share > shares[0]!.share, `the canary's share rose when it advanced: ${JSON.stringify(shares)}`);
    });
  });
}
