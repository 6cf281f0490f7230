/**
 * Progressive rollout: the checks as written, the decision from a window's figures, and the
 * controller on a real workspace (SQLite) — traffic served by the engine, logged, labelled from
 * the Adult rows' true incomes — advancing a sound candidate to promotion across a restart of the
 * controller, and rolling back one whose canary errors, each decision an audit event with its
 * numbers. Two controllers share the work through the store's lease: only one acts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServingEngine } from '../../serving/engine.js';
import { PredictionLogger } from '../../serving/prediction-logger.js';
import { RolloutController, decide, parseSlo, parseSteps, type RolloutPorts } from '../../serving/rollout.js';
import type { Rollout } from '../../store/ports/deployments.js';
import type { RouteStats } from '../../store/ports/predictions.js';
import { Workspace } from '../../workspace/workspace.js';
import { workspaceSource } from './source.js';

const ADULT = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));
const who = { actor: 'alice' };

function adultRows(): { record: Record<string, unknown>; income: string }[] {
  const [head, ...lines] = readFileSync(ADULT, 'utf8').trim().split('\n');
  const names = head!.split(',');
  return lines.map((l) => {
    const cells = l.split(',');
    const record: Record<string, unknown> = {};
    names.forEach((n, i) => { if (n !== 'income') record[n] = /^-?\d+(\.\d+)?$/.test(cells[i]!) ? Number(cells[i]) : cells[i]; });
    return { record, income: cells[names.indexOf('income')]! };
  });
}

const stats = (route: string, o: Partial<RouteStats> = {}): RouteStats => ({ route, model: 'm', version: route === 'canary' ? '2' : '1', requests: 0, errors: 0, latencies: [], labelled: [], ...o });
const rollout = (o: Partial<Rollout> = {}): Rollout => ({
  model: 'm/2', steps: [10, 50, 100], step: 0, holdMs: 60_000, slo: parseSlo('error_rate<0.05, p99_ms<50, accuracy>=0.95*primary'), sloText: '',
  minRequests: 100, minLabels: 50, startedAt: 0, stepStartedAt: 0, startedBy: 'alice', ...o,
});

describe('rollout checks and decisions', () => {
  it('parses checks and steps, and names what is wrong', () => {
    assert.deepEqual(parseSlo('error_rate<0.01, p99_ms<=50 , rmse<=1.05*primary'), [
      { metric: 'error_rate', op: '<', value: 0.01, relative: false }, { metric: 'p99_ms', op: '<=', value: 50, relative: false },
      { metric: 'rmse', op: '<=', value: 1.05, relative: true },
    ]);
    assert.throws(() => parseSlo('latency<5'), /unknown metric 'latency'/);
    assert.throws(() => parseSlo('error_rate=0.01'), /is not <metric><op><number>/);
    assert.throws(() => parseSlo(' , '), /at least one check/);
    assert.deepEqual(parseSteps('5,25,50'), [5, 25, 50, 100]);
    assert.throws(() => parseSteps('50,25,100'), /must go up/);
    assert.throws(() => parseSteps('5,abc'), /'abc' is not a percentage/);
    assert.throws(() => parseSteps('100'), /a step below 100/);
  });

  it('holds for samples, rolls back on a breach with its numbers, holds for time, then advances and promotes', () => {
    const lat = (ms: number, n: number) => Array.from({ length: n }, () => ms);
    const right = (n: number) => Array.from({ length: n }, () => ({ prediction: 'a', label: 'a' }));
    const wrong = (n: number) => Array.from({ length: n }, () => ({ prediction: 'a', label: 'b' }));
    const primary = stats('primary', { requests: 900, latencies: lat(5, 900), labelled: [...right(90), ...wrong(10)] });
    let d = decide(rollout(), [primary, stats('canary', { requests: 40, latencies: lat(5, 40) })], 1000);
    assert.equal(d.action, 'hold');
    assert.match(d.reason, /waiting for samples: error_rate<0.05 \(40 of 100\)/);
    d = decide(rollout(), [primary, stats('canary', { requests: 200, errors: 20, latencies: lat(5, 200), labelled: right(60) })], 1000);
    assert.equal(d.action, 'rollback');
    assert.match(d.reason, /error_rate<0.05 breached: the canary has 0.1 against 0.05 over 200 requests/);
    assert.deepEqual(d.checks.find((c) => c.check === 'error_rate<0.05'), { check: 'error_rate<0.05', canary: 0.1, n: 200, status: 'breach', threshold: 0.05 });
    // Relative to the primary: 0.95 × 0.9 = 0.855; a canary at 0.8 breaches.
    d = decide(rollout(), [primary, stats('canary', { requests: 200, latencies: lat(5, 200), labelled: [...right(48), ...wrong(12)] })], 1000);
    assert.equal(d.action, 'rollback');
    assert.deepEqual(d.checks.find((c) => c.check.startsWith('accuracy')), { check: 'accuracy>=0.95*primary', canary: 0.8, primary: 0.9, primaryN: 100, threshold: 0.855, n: 60, status: 'breach' });
    const good = stats('canary', { requests: 200, latencies: lat(5, 200), labelled: right(60) });
    d = decide(rollout({ stepStartedAt: 0 }), [primary, good], 30_000);
    assert.equal(d.action, 'hold');
    assert.match(d.reason, /checks pass; holding step 1 \(10%\) for 30 s more/);
    assert.equal(decide(rollout(), [primary, good], 60_000).action, 'advance');
    assert.equal(decide(rollout({ step: 1 }), [primary, good], 60_000).action, 'promote');
    // p99 over 50 ms breaches.
    assert.equal(decide(rollout(), [primary, stats('canary', { requests: 200, latencies: [...lat(5, 190), ...lat(80, 10)], labelled: right(60) })], 60_000).action, 'rollback');
  });
});

describe('the rollout controller on a workspace', () => {
  let dir: string;
  let ws: Workspace;
  let engine: ServingEngine;
  let logger: PredictionLogger;
  const rows = adultRows();
  let clock = 1_000_000;
  const ports = (): RolloutPorts => ({
    list: () => ws.deployments.list(),
    stats: (e, since) => ws.predictions.stats(e, since),
    apply: async (d, decision, by) => { await ws.deployments.applyDecision(d, decision, by, clock); },
    record: (d, decision, by) => ws.deployments.recordDecision(d, decision, by),
    acquireLease: (l, h, ttl) => ws.deployments.acquireLease(l, h, ttl),
  });

  /** Serves `n` rows through the endpoint and sends each true label back. */
  async function traffic(n: number, offset = 0): Promise<void> {
    const ids: { id: string; income: string }[] = [];
    for (let i = 0; i < n; i++) {
      const row = rows[(offset + i) % rows.length]!;
      const id = `req-${offset}-${i}-${Math.random()}`;
      await engine.infer({ endpoint: 'income', records: [row.record], requestId: id });
      ids.push({ id, income: row.income });
    }
    await logger.flush();
    for (const x of ids) await ws.predictions.feedback('income', x.id, [x.income]);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-rollout-'));
    ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
    await ws.training.train({ data: ADULT, target: 'income', algo: 'linear', register: 'income' }, who);
    await ws.training.train({ data: ADULT, target: 'income', algo: 'linear', params: { l2: '2' }, register: 'income' }, who);
    await ws.registry.setAlias('income', 'champion', '1', who);
    await ws.deployments.create('income', { model: 'income@champion' }, who);
    logger = new PredictionLogger({ sink: (e) => ws.predictions.append(e), flushMs: 10_000 });
    // A fixed sequence of draws: the same requests reach the canary on every run.
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
    engine = new ServingEngine({ source: workspaceSource(ws), pollMs: 60_000, onServed: (s) => logger.add(s), random });
    await engine.start();
  });
  after(async () => {
    await logger?.stop();
    await engine?.stop();
    await ws?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('advances a sound candidate step by step and promotes it, across a restart of the controller, one leader acting', async () => {
    await ws.deployments.startRollout('income', {
      model: 'income/2', steps: [30, 60, 100], holdMs: 5000, slo: parseSlo('error_rate<0.01, accuracy>=0.8*primary'), sloText: 'error_rate<0.01, accuracy>=0.8*primary',
      minRequests: 20, minLabels: 20,
    }, who, clock);
    await engine.refresh();
    const a = new RolloutController({ ports: ports(), holder: 'replica-a', now: () => clock });
    const b = new RolloutController({ ports: ports(), holder: 'replica-b', now: () => clock });
    // Too few requests yet: a hold, recorded once however often the controller looks.
    let [first] = await a.tick();
    assert.equal(first?.decision.action, 'hold');
    assert.deepEqual(await a.tick(), [], 'the same hold is not recorded again');
    assert.deepEqual(await b.tick(), [], 'the other replica does not lead');

    await traffic(120);
    clock += 6000;
    [first] = await a.tick();
    assert.equal(first?.decision.action, 'advance', JSON.stringify(first?.decision));
    let d = await ws.deployments.get('income');
    assert.equal(d.rollout?.step, 1);
    assert.equal(d.routes.find((r) => r.role === 'canary')?.share, 60);

    // The controller restarts (a new instance, this replica's lease): it goes on from the store.
    await engine.refresh();
    const restarted = new RolloutController({ ports: ports(), holder: 'replica-a', now: () => clock });
    await traffic(120, 60);
    clock += 6000;
    const [next] = await restarted.tick();
    assert.equal(next?.decision.action, 'promote', JSON.stringify(next?.decision));
    d = await ws.deployments.get('income');
    assert.equal(d.rollout, undefined);
    assert.deepEqual(d.routes, [{ role: 'primary', model: 'income/2', share: 100 }]);
    const events = await ws.audit.events({ entityType: 'deployment', entityId: 'income' });
    const actions = events.map((e) => e.action);
    assert.deepEqual(actions.filter((x) => x.startsWith('rollout_')), ['rollout_start_deployment', 'rollout_hold', 'rollout_advance_deployment', 'rollout_promote_deployment']);
    const promote = events.find((e) => e.action === 'rollout_promote_deployment')!;
    assert.equal(promote.actor, 'trellis');
    const ev = (promote.after as { evidence: { requests: number; checks: { check: string; n: number; status: string; canary: number }[] } }).evidence;
    assert.ok(ev.requests >= 20);
    assert.deepEqual(ev.checks.map((c) => [c.check, c.status]), [['error_rate<0.01', 'pass'], ['accuracy>=0.8*primary', 'pass']]);
    assert.ok(ev.checks[1]!.n >= 20, 'the sample size is recorded');
  });

  it('rolls back a canary that errors at once, naming the breached check and its numbers', async () => {
    await ws.deployments.startRollout('income', {
      model: 'income/1', steps: [50, 100], holdMs: 60_000, slo: parseSlo('error_rate<0.05'), sloText: 'error_rate<0.05', minRequests: 30, minLabels: 10,
    }, { actor: 'bob' }, clock);
    await engine.refresh();
    await traffic(40, 10);
    // Errors injected on the canary: entries logged as failed.
    const now = clock + 1;
    await ws.predictions.append(Array.from({ length: 10 }, (_, i) => ({
      requestId: `bad-${i}`, endpoint: 'income', time: now, model: 'income', version: '1', route: 'canary', shadow: false, latencyMs: 1, inputs: [{}], error: 'boom',
    })));
    const c = new RolloutController({ ports: ports(), holder: 'replica-a', now: () => clock + 10 });
    const [r] = await c.tick();
    assert.equal(r?.decision.action, 'rollback', JSON.stringify(r?.decision));
    const d = await ws.deployments.get('income');
    assert.equal(d.rollout, undefined);
    assert.deepEqual(d.routes, [{ role: 'primary', model: 'income/2', share: 100 }]);
    const [ev] = await ws.audit.events({ entityType: 'deployment', entityId: 'income', action: 'rollout_rollback_deployment' });
    assert.match((ev!.after as { reason: string }).reason, /error_rate<0.05 breached: the canary has 0\.\d+ against 0.05 over \d+ requests/);
    assert.equal(ev!.actor, 'trellis');
  });

  it('refuses a second rollout, one on an A/B test, and bad settings', async () => {
    const base = { model: 'income/1', steps: [50, 100], holdMs: 0, slo: parseSlo('error_rate<0.05'), sloText: 'error_rate<0.05', minRequests: 10, minLabels: 10 };
    await ws.deployments.startRollout('income', base, who);
    await assert.rejects(ws.deployments.startRollout('income', base, who), /already rolling out income\/1/);
    await ws.deployments.rollback('income', who);
    assert.equal((await ws.deployments.get('income')).rollout, undefined, 'a manual rollback ends the rollout');
    await assert.rejects(ws.deployments.startRollout('income', { ...base, model: 'income@nosuch' }, who), /nosuch/);
    await assert.rejects(ws.deployments.startRollout('income', { ...base, minRequests: 0 }, who), /--min-requests/);
  });
});
