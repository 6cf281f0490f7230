/**
 * The scheduler on SQLite with tiny deployed pipelines: each trigger kind, each concurrency policy,
 * downtime, restarts and abandoned records. Runs are real (a worker-thread step per run); a test
 * decides when a run ends by creating the file its step waits for.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTrellisError, type ErrorCode } from '../../core/errors.js';
import type { TriggerRecord } from '../../store/ports/triggers.js';
import { bikeSlice, openTestServices } from '../engine/test-helpers/engine-fixture.js';
import { buildPackage } from '../package.js';
import { publishPackage, requestTrigger } from './deployments.js';
import { Scheduler, type Decision, type SchedulerOptions } from './scheduler.js';
import { fileExists, until, writeTinyPipeline, type TinyOptions } from './test-helpers/deployable-pipeline.js';

const who = { actor: 'tester' };
type Services = Awaited<ReturnType<typeof openTestServices>>;
const HOUR = 3_600_000;

async function rejectsCode(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isTrellisError(e), `expected a TrellisError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('scheduler', () => {
  let s: Services;
  const schedulers: Scheduler[] = [];
  before(async () => {
    s = await openTestServices();
  });
  after(async () => {
    for (const x of schedulers) await x.stop({ cancel: true });
    await s.close();
  });

  async function deploy(name: string, o: TinyOptions = {}) {
    const pkg = await buildPackage(writeTinyPipeline(join(s.dir, 'src'), name, o));
    return (await publishPackage(s, pkg, who)).version;
  }
  function scheduler(o: SchedulerOptions = {}): Scheduler & { decisions: Decision[] } {
    const decisions: Decision[] = [];
    const x = Object.assign(new Scheduler(s, { cacheDir: join(s.dir, 'cache'), ...o, onDecision: (d) => decisions.push(d) }), { decisions });
    schedulers.push(x);
    return x;
  }
  const records = async (pipeline: string) => s.stores.triggers.listTriggers({ pipeline, oldestFirst: true });
  const byId = (id: number) => s.stores.triggers.getTrigger(id);
  /** Passes until no record of the pipeline is pending or running. */
  async function drain(x: Scheduler, pipeline: string): Promise<TriggerRecord[]> {
    for (;;) {
      await x.tick();
      await x.settled();
      const open = await s.stores.triggers.listTriggers({ pipeline, status: ['pending', 'running'] });
      if (!open.length) return records(pipeline);
    }
  }
  const api = (pipeline: string, params?: Record<string, unknown>, reason?: string) => requestTrigger(s, { pipeline, params, reason }, who).then((r) => r.trigger);

  it('fires a cron trigger once per due time, and once for a schedule missed while it was down', async () => {
    const v = await deploy('hourly', { triggers: [{ cron: '0 * * * *' }] });
    const due = Math.floor(v.createdAt / HOUR + 1) * HOUR;
    let clock = due - 1000;
    const x = scheduler({ now: () => clock });
    assert.deepEqual(await x.tick(), [], 'not due yet');
    clock = due + 1000;
    const d = await x.tick();
    assert.deepEqual(d.map((e) => e.action), ['triggered', 'started']);
    await x.settled();
    clock = due + 30_000;
    assert.deepEqual((await x.tick()).filter((e) => e.action === 'triggered'), [], 'the same due time fires once');
    let r = await records('hourly');
    assert.equal(r.length, 1);
    assert.equal(r[0]!.dedupeKey, `cron:hourly:${new Date(due).toISOString()}`);
    assert.equal(r[0]!.status, 'finished', r[0]!.detail);
    assert.equal(r[0]!.version, 1);
    assert.equal((await s.stores.tracking.getRun(r[0]!.runId!)).info.status, 'FINISHED');

    // Down for five hours: on start, one run for the latest missed time, not five.
    clock = due + 5 * HOUR + 10 * 60_000;
    const restarted = scheduler({ now: () => clock });
    assert.deepEqual((await restarted.tick()).filter((e) => e.action === 'triggered').length, 1);
    await restarted.settled();
    assert.deepEqual((await scheduler({ now: () => clock }).tick()).filter((e) => e.action === 'triggered'), [], 'another restart finds the event recorded');
    r = await records('hourly');
    assert.deepEqual(r.map((t) => t.dedupeKey), [`cron:hourly:${new Date(due).toISOString()}`, `cron:hourly:${new Date(due + 5 * HOUR).toISOString()}`]);
    assert.deepEqual(r.map((t) => t.status), ['finished', 'finished']);
    assert.match(r[1]!.reason, /cron '0 \* \* \* \*' \(UTC\) was due at/);
  });

  it('fires a dataset trigger exactly once per new version, and once for several added while it was down', async () => {
    await s.data.add('rides', bikeSlice(s.dir, 20), {}, who);
    await sleep(5);
    await deploy('on-rides', { triggers: [{ dataset: 'rides', params: { label: 'fresh' } }] });
    const x = scheduler();
    await x.tick();
    assert.equal((await records('on-rides')).length, 0, 'a version added before the deployment does not fire');
    await sleep(5);
    await s.data.add('rides', bikeSlice(s.dir, 30), {}, who);
    await x.tick();
    await x.tick();
    await x.settled();
    let r = await records('on-rides');
    assert.deepEqual(r.map((t) => [t.kind, t.dedupeKey, t.status]), [['dataset', 'dataset:on-rides:rides:2', 'finished']]);
    assert.deepEqual(r[0]!.params, { label: 'fresh' });
    assert.equal((await s.stores.tracking.getRun(r[0]!.runId!)).data.params.label, 'fresh');
    await s.data.add('rides', bikeSlice(s.dir, 40), {}, who);
    await s.data.add('rides', bikeSlice(s.dir, 50), {}, who);
    r = await drain(x, 'on-rides');
    assert.deepEqual(r.map((t) => t.dedupeKey), ['dataset:on-rides:rides:2', 'dataset:on-rides:rides:4']);
  });

  it("starts a downstream pipeline when an upstream run finishes, once per upstream run", async () => {
    await deploy('upstream', { triggers: [{ api: true }] });
    await deploy('downstream', { triggers: [{ pipeline: 'upstream' }] });
    const x = scheduler();
    await api('upstream');
    await drain(x, 'upstream');
    const up = (await records('upstream'))[0]!;
    assert.equal(up.status, 'finished');
    const down = await drain(x, 'downstream');
    assert.equal(down.length, 1);
    assert.equal(down[0]!.kind, 'pipeline');
    assert.equal(down[0]!.reason.startsWith(`pipeline 'upstream' run ${up.runId} finished`), true, down[0]!.reason);
    assert.equal(down[0]!.status, 'finished');
    await x.tick();
    await x.settled();
    assert.equal((await records('downstream')).length, 1, 'one upstream run, one downstream run');
  });

  it('runs API and record triggers with their params, typed as the pipeline declares them', async () => {
    await deploy('paramed', { triggers: [{ api: true, params: { label: 'api-default' } }] });
    const x = scheduler();
    const a = await api('paramed', { label: 'from-api', repeat: '3' }, 'a person asked');
    assert.deepEqual(a.params, { label: 'from-api', repeat: 3 });
    assert.equal(a.reason, 'a person asked');
    const b = await api('paramed');
    assert.deepEqual(b.params, { label: 'api-default' });
    const c = (await s.stores.triggers.createTrigger({ pipeline: 'paramed', kind: 'record', reason: 'drift on rides', params: { label: 'from-monitor', repeat: '2' as unknown as number } }, { actor: 'monitor' })).trigger;
    const r = await drain(x, 'paramed');
    assert.deepEqual(r.map((t) => t.status), ['finished', 'finished', 'finished']);
    const labels = await Promise.all([a, b, c].map(async (t) => (await s.stores.tracking.getRun((await byId(t.id)).runId!)).data.params));
    assert.deepEqual(labels.map((p) => [p.label, p.repeat]), [['from-api', '3'], ['api-default', '1'], ['from-monitor', '2']]);

    await rejectsCode(api('nowhere'), 'TRELLIS_PIPELINE_NOT_FOUND');
    await rejectsCode(api('paramed', { tress: 3 }), 'TRELLIS_INVALID_PARAMETER', /pipeline 'paramed' has no parameter 'tress'/);
    await rejectsCode(api('paramed', { repeat: 'many' }), 'TRELLIS_INVALID_PARAMETER', /parameter 'repeat' of pipeline 'paramed' takes an integer, got 'many'/);
    await rejectsCode(api('hourly'), 'TRELLIS_INVALID_PARAMETER', /pipeline 'hourly' \(version 1\) does not accept API triggers: add \{ api: true \} to its triggers/);
    // A record for a pipeline nobody deployed fails with the reason.
    const lost = (await s.stores.triggers.createTrigger({ pipeline: 'never-deployed', kind: 'record' }, who)).trigger;
    await x.tick();
    assert.deepEqual([(await byId(lost.id)).status, (await byId(lost.id)).detail], ['failed', "pipeline 'never-deployed' has no deployed version"]);
  });

  it('queue: a record waits while a run of its pipeline is in progress, then runs', async () => {
    await deploy('queued', { triggers: [{ api: true }] });
    const x = scheduler();
    const gate = join(s.dir, 'queued.gate');
    const a = await api('queued', { gate });
    await x.tick();
    const b = await api('queued');
    const d = await x.tick();
    assert.deepEqual(d.map((e) => [e.action, e.trigger]), [['waiting', b.id]]);
    assert.equal((await x.tick()).length, 0, 'announced once');
    assert.equal((await byId(b.id)).status, 'pending');
    writeFileSync(gate, 'go');
    await x.settled();
    assert.equal((await byId(a.id)).status, 'finished');
    await drain(x, 'queued');
    const [ra, rb] = [await byId(a.id), await byId(b.id)];
    assert.equal(rb.status, 'finished');
    assert.ok(rb.claimedAt! >= ra.updatedAt, 'b was taken after a ended');
  });

  it('skip: a record arriving while a run is in progress is skipped, with the reason', async () => {
    await deploy('skipper', { triggers: [{ api: true }], concurrency: 'skip' });
    const x = scheduler();
    const gate = join(s.dir, 'skipper.gate');
    const a = await api('skipper', { gate });
    await x.tick();
    const b = await api('skipper');
    await x.tick();
    const rb = await byId(b.id);
    assert.equal(rb.status, 'skipped');
    assert.equal(rb.detail, `a run of 'skipper' is in progress (trigger #${a.id}) (concurrency: skip)`);
    writeFileSync(gate, 'go');
    await x.settled();
    assert.equal((await byId(a.id)).status, 'finished');
    const events = await s.stores.audit.listAuditEvents({ entityType: 'pipeline_trigger', entityId: String(b.id) });
    assert.deepEqual(events.map((e) => e.action), ['create_trigger', 'update_trigger']);
    assert.deepEqual(events[1]!.after, { status: 'skipped', detail: rb.detail });
  });

  it('start() runs the loop: a record is picked up without calling tick, and stop() ends it', async () => {
    await deploy('looped', { triggers: [{ api: true }] });
    const x = scheduler({ pollMs: 25 });
    x.start();
    const a = await api('looped');
    await until(async () => (await byId(a.id)).status === 'finished', 'the loop to run the record');
    await x.stop();
    assert.ok(x.decisions.some((e) => e.action === 'finished' && e.trigger === a.id));
  });

  it('cancel-previous: the run in progress is cancelled (its step stopped, the run KILLED) and the newest record runs', async () => {
    await deploy('latest-wins', { triggers: [{ api: true }], concurrency: 'cancel-previous' });
    const x = scheduler();
    const mark = join(s.dir, 'latest-wins.started');
    const a = await api('latest-wins', { gate: join(s.dir, 'never'), mark });
    await x.tick();
    await until(fileExists(mark), 'the first run to start its step');
    const b = await api('latest-wins', { label: 'second' });
    const c = await api('latest-wins', { label: 'third' });
    const d = await x.tick();
    assert.deepEqual(d.map((e) => [e.action, e.trigger]), [['cancelled', b.id], ['cancelled', a.id], ['started', c.id]]);
    await x.settled();
    const [ra, rb, rc] = [await byId(a.id), await byId(b.id), await byId(c.id)];
    assert.equal(ra.status, 'cancelled');
    assert.match(ra.detail!, new RegExp(`run ${ra.runId} was cancelled: replaced by trigger #${c.id} \\(concurrency: cancel-previous\\)`));
    const run = await s.stores.tracking.getRun(ra.runId!);
    assert.equal(run.info.status, 'KILLED');
    const steps = await s.stores.tracking.searchRuns({ experimentIds: [run.info.experimentId], filter: [{ kind: 'tag', key: 'mlflow.parentRunId', comparator: '=', value: ra.runId! }] });
    assert.deepEqual(steps.items.map((x) => [x.data.tags['trellis.step'], x.info.status]), [['wait', 'KILLED']], 'the waiting step was stopped');
    assert.deepEqual([rb.status, rb.detail], ['cancelled', `superseded by trigger #${c.id} (concurrency: cancel-previous)`]);
    assert.equal(rc.status, 'finished');
  });

  it('stop({ cancel }) ends the runs in progress as cancelled; a record left running by a silent scheduler is failed as abandoned', async () => {
    await deploy('stoppable', { triggers: [{ api: true }] });
    const x = scheduler();
    const mark = join(s.dir, 'stoppable.started');
    const a = await api('stoppable', { gate: join(s.dir, 'never'), mark });
    await x.tick();
    await until(fileExists(mark), 'the run to start its step');
    await x.stop({ cancel: true });
    const ra = await byId(a.id);
    assert.equal(ra.status, 'cancelled');
    assert.match(ra.detail!, /was cancelled: the scheduler stopped/);

    const ghost = await api('stoppable');
    const [claimed] = await s.stores.triggers.claimTriggers({ claimer: 'ghost-host:1:dead', ids: [ghost.id] }, who);
    assert.equal(claimed!.status, 'running');
    const next = await api('stoppable');
    await sleep(30);
    const y = scheduler({ leaseMs: 20 });
    const d = await y.tick();
    assert.deepEqual(d.map((e) => [e.action, e.trigger]), [['abandoned', ghost.id], ['started', next.id]]);
    await y.settled();
    assert.match((await byId(ghost.id)).detail!, /^abandoned: scheduler ghost-host:1:dead gave no sign of life since /);
    assert.equal((await byId(next.id)).status, 'finished');
  });

  it('a paused pipeline: its cron does not fire, an API trigger still runs; resumed, it fires for what comes next, not for what it missed', async () => {
    await deploy('pausable', { triggers: [{ cron: '* * * * * *' }, { api: true }] });
    await s.pipelines.changePipelineDeployment('pausable', { action: 'pause' }, who);
    const x = scheduler();
    await sleep(1200); // a due time or more passes while paused
    assert.deepEqual((await x.tick()).filter((d) => d.action === 'triggered'), [], 'no cron record while paused');
    const asked = await api('pausable', undefined, 'by hand');
    const done = await drain(x, 'pausable');
    assert.deepEqual(done.map((t) => [t.id, t.kind, t.status]), [[asked.id, 'api', 'finished']]);

    const resumed = await s.pipelines.changePipelineDeployment('pausable', { action: 'resume-triggers' }, who);
    let fired: TriggerRecord | undefined;
    for (let i = 0; i < 100 && !fired; i++) {
      await x.tick();
      fired = (await records('pausable')).find((t) => t.kind === 'cron');
      if (!fired) await sleep(50);
    }
    assert.ok(fired, 'the cron fires once resumed');
    const due = Date.parse(fired.dedupeKey!.replace(/^cron:pausable:/, ''));
    assert.ok(due > resumed.changedAt!, `fired for ${new Date(due).toISOString()}, after the resume at ${new Date(resumed.changedAt!).toISOString()}`);
    await s.pipelines.changePipelineDeployment('pausable', { action: 'pause' }, who);
    await x.settled();
    // A record its triggers wrote and the scheduler has not started yet is skipped once paused.
    const waiting = await s.stores.triggers.createTrigger({ pipeline: 'pausable', kind: 'cron', dedupeKey: 'cron:pausable:by-test', reason: 'test' }, who);
    await x.tick();
    const skipped = await byId(waiting.trigger.id);
    assert.equal(skipped.status, 'skipped');
    assert.match(skipped.detail!, /the triggers of 'pausable' are paused \(trellis pipelines resume-triggers pausable\)/);
  });

  it('rollback runs the pinned version until the next deploy; undeploy refuses API triggers and skips waiting records', async () => {
    const v1 = await deploy('rolling', { triggers: [{ api: true }] });
    const v2 = await deploy('rolling', { triggers: [{ api: true }], extra: { description: 'second' } });
    assert.equal(v2.version, 2);
    const x = scheduler();
    await s.pipelines.changePipelineDeployment('rolling', { action: 'rollback', version: v1.version }, who);
    await api('rolling');
    const [ran] = await drain(x, 'rolling');
    assert.deepEqual([ran!.status, ran!.version], ['finished', 1]);

    const v3 = await deploy('rolling', { triggers: [{ api: true }], extra: { description: 'third' } });
    await api('rolling');
    const after3 = await drain(x, 'rolling');
    assert.deepEqual([after3[1]!.status, after3[1]!.version], ['finished', v3.version], 'a new deploy runs again');

    const pending = await api('rolling');
    await s.pipelines.changePipelineDeployment('rolling', { action: 'undeploy' }, who);
    await x.tick();
    const skipped = await byId(pending.id);
    assert.equal(skipped.status, 'skipped');
    assert.match(skipped.detail!, /pipeline 'rolling' is undeployed/);
    await rejectsCode(api('rolling'), 'TRELLIS_INVALID_PARAMETER', /pipeline 'rolling' is undeployed: deploy a version .* or roll back to one \(trellis pipelines rollback rolling --to <version>\)/);
    assert.equal((await s.pipelines.listPipelineVersions('rolling')).length, 3, 'every version stays on record');
  });

  it('a deployed pipeline reads files only from its package and the data roots: /etc/passwd, ../ and a planted link are refused', async () => {
    const src = join(s.dir, 'src', 'reader');
    mkdirSync(join(src, 'data'), { recursive: true });
    writeFileSync(join(src, 'data', 'rows.csv'), 'a,b\n1,2\n3,4\n');
    const roots = join(s.dir, 'roots');
    mkdirSync(roots, { recursive: true });
    writeFileSync(join(roots, 'shared.csv'), 'a,b\n5,6\n');
    const file = join(src, 'reader.pipeline.yaml');
    writeFileSync(file, [
      'format: trellis.pipeline/v1', 'name: reader',
      'params: [{ name: dataset, type: string, default: data/rows.csv }]',
      'triggers: [{ api: true }]',
      'steps:', '  - { name: ingest, component: ingest, inputs: { dataset: { param: dataset } }, cache: { enabled: false } }', '',
    ].join('\n'));
    const pkg = await buildPackage(file, { include: ['data/rows.csv'] });
    await publishPackage(s, pkg, who);
    const x = scheduler({ dataRoots: [roots] });
    const outcome = async (dataset?: string) => {
      const t = await api('reader', dataset ? { dataset } : undefined);
      await drain(x, 'reader');
      return byId(t.id);
    };
    assert.equal((await outcome()).status, 'finished', 'a file of its package');
    assert.equal((await outcome(join(roots, 'shared.csv'))).status, 'finished', 'a file under a data root');
    for (const bad of ['/etc/passwd', '../../../../../../etc/passwd', `file://${join(s.dir, 't.db')}`]) {
      const t = await outcome(bad);
      assert.equal(t.status, 'failed', bad);
      assert.match(t.detail!, /is outside the folders a deployed pipeline may read: its package and the data roots \(TRELLIS_DATA_ROOTS\)/, bad);
    }
    // A link planted in a data root that points out of it is followed, and refused.
    symlinkSync('/etc/passwd', join(roots, 'innocent.csv'));
    assert.equal((await outcome(join(roots, 'innocent.csv'))).status, 'failed');
  });

  it("a deployed pipeline's commands and modules run in processes of their own, without the server's secrets", async () => {
    const src = join(s.dir, 'src', 'user-code');
    mkdirSync(join(src, 'components'), { recursive: true });
    writeFileSync(join(src, 'components', 'envdump.mjs'), [
      "import { writeFileSync } from 'node:fs';",
      'export async function dump(ctx) {',
      '  writeFileSync(ctx.outputs.out.path, JSON.stringify({ pid: process.pid, env: process.env }));',
      '}', '',
    ].join('\n'));
    const file = join(src, 'user.pipeline.yaml');
    const doc = (workdir: string) => [
      'format: trellis.pipeline/v1', 'name: usercode', 'triggers: [{ api: true }]',
      'components:',
      '  - { name: shell, version: "1", kind: command, outputs: { out: { type: File } }, command: ["/bin/sh", "-c", "env > {outputs.out}; pwd >> {outputs.out}"]' + workdir + ' }',
      '  - { name: module, version: "1", kind: typescript, module: ./components/envdump.mjs, export: dump, outputs: { out: { type: File } } }',
      'steps:',
      '  - { name: cmd, component: shell@1, cache: { enabled: false } }',
      '  - { name: mod, component: module@1, cache: { enabled: false } }', '',
    ].join('\n');
    writeFileSync(file, doc(''));
    await publishPackage(s, await buildPackage(file), who);
    const secrets = { TRELLIS_STORE_URI: 'postgres://u:hunter2@db/x', PGPASSWORD: 'hunter2', AWS_SECRET_ACCESS_KEY: 'hunter2', TRELLIS_TOKEN: 'hunter2' };
    const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
    Object.assign(process.env, secrets);
    try {
      const x = scheduler();
      const t = await api('usercode');
      await drain(x, 'usercode');
      const done = await byId(t.id);
      assert.equal(done.status, 'finished', done.detail);
      const steps = await s.stores.pipelines.listStepRuns({ pipelineRunId: done.runId! });
      const output = async (step: string) => (await s.tracking.readArtifact(steps.find((r) => r.step === step)!.id, 'outputs/out')).toString('utf8');
      const shell = await output('cmd');
      assert.doesNotMatch(shell, /hunter2/);
      assert.match(shell, /^PATH=/m);
      const mod = JSON.parse(await output('mod')) as { pid: number; env: Record<string, string> };
      assert.notEqual(mod.pid, process.pid, 'not in a thread of the server');
      assert.deepEqual(Object.keys(mod.env).filter((k) => /TRELLIS_STORE|PGPASS|AWS_|TRELLIS_TOKEN/.test(k)), []);

      // A command may not work outside its package.
      writeFileSync(file, doc(', workdir: ../..'));
      await publishPackage(s, await buildPackage(file), who);
      const escaped = await api('usercode');
      await drain(x, 'usercode');
      const refused = await byId(escaped.id);
      assert.equal(refused.status, 'failed');
      assert.match(refused.detail!, /workdir .* is outside the pipeline's package/);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  });
});
