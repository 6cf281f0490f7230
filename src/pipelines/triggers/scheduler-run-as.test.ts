/**
 * A scheduler running as root runs deployed pipelines' code as an unprivileged user: `nobody`
 * unless another is named, never root. The step writes only its own folder; the package and the
 * rest of the machine stay closed to it; what it leaves there is checked before root reads it. A
 * pipeline run locally (not deployed) runs as before. Only root can switch users, so these tests
 * run only as root.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTrellisError } from '../../core/errors.js';
import { openTestServices } from '../engine/test-helpers/engine-fixture.js';
import { PipelineEngine } from '../engine/engine.js';
import { resolveRunAs, userCodeUser } from '../executors/run-as.js';
import { buildPackage } from '../package.js';
import { publishPackage, requestTrigger } from './deployments.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

const who = { actor: 'tester' };
const ROOT = process.getuid?.() === 0;
const STEP_VARIABLE = /^TRELLIS_(STEP|ATTEMPT|OUTPUT_DIR|METRICS_FILE|INPUT_.+|OUTPUT_.+)$/;

/** A pipeline whose command and module report who they run as, their environment, HOME and TMPDIR. */
function whoamiPipeline(dir: string, name: string): string {
  mkdirSync(join(dir, 'components'), { recursive: true });
  writeFileSync(join(dir, 'components', 'who.mjs'), [
    "import { writeFileSync } from 'node:fs';",
    'export async function who(ctx) {',
    '  writeFileSync(ctx.outputs.out.path, JSON.stringify({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), env: process.env }));',
    '}', '',
  ].join('\n'));
  const file = join(dir, `${name}.pipeline.yaml`);
  writeFileSync(file, [
    'format: trellis.pipeline/v1', `name: ${name}`, 'triggers: [{ api: true }]',
    'components:',
    '  - { name: shell, version: "1", kind: command, outputs: { ids: { type: File }, env: { type: File } }, command: ["/bin/sh", "-c", "id -u > {outputs.ids}; id -G >> {outputs.ids}; env > {outputs.env}; echo scratch > $TMPDIR/t && echo dotfile > $HOME/.rc"] }',
    '  - { name: module, version: "1", kind: typescript, module: ./components/who.mjs, export: who, outputs: { out: { type: File } } }',
    'steps:',
    '  - { name: cmd, component: shell@1, cache: { enabled: false } }',
    '  - { name: mod, component: module@1, cache: { enabled: false } }', '',
  ].join('\n'));
  return file;
}

/** A pipeline of one command step running `script` with an output `out`. */
function commandPipeline(dir: string, name: string, script: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.pipeline.yaml`);
  writeFileSync(file, [
    'format: trellis.pipeline/v1', `name: ${name}`, 'triggers: [{ api: true }]',
    'components:',
    `  - { name: sh, version: "1", kind: command, outputs: { out: { type: File } }, command: ["/bin/sh", "-c", ${JSON.stringify(script)}] }`,
    'steps:',
    '  - { name: only, component: sh@1, cache: { enabled: false } }', '',
  ].join('\n'));
  return file;
}

describe('deployed pipelines run as an unprivileged user under a root scheduler', { skip: !ROOT && 'switching users needs root' }, () => {
  let s: Awaited<ReturnType<typeof openTestServices>>;
  // Packages are unpacked where any user may pass (the test's own folder lets only root in).
  let cacheDir: string;
  const schedulers: Scheduler[] = [];
  before(async () => {
    s = await openTestServices();
    cacheDir = mkdtempSync(join(tmpdir(), 'trellis-run-as-packages-'));
    chmodSync(cacheDir, 0o755);
  });
  after(async () => {
    for (const x of schedulers) await x.stop({ cancel: true });
    await s.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  function scheduler(o: SchedulerOptions = {}): Scheduler {
    const x = new Scheduler(s, { cacheDir, ...o });
    schedulers.push(x);
    return x;
  }
  /** Publishes the pipeline, triggers it through the API and lets the scheduler run it to its end. */
  async function runDeployed(x: Scheduler, file: string, name: string) {
    await publishPackage(s, await buildPackage(file), who);
    const { trigger } = await requestTrigger(s, { pipeline: name }, who);
    for (;;) {
      await x.tick();
      await x.settled();
      const t = await s.stores.triggers.getTrigger(trigger.id);
      if (t.status !== 'pending' && t.status !== 'running') return t;
    }
  }
  async function output(runId: string, step: string, name: string): Promise<string> {
    const steps = await s.stores.pipelines.listStepRuns({ pipelineRunId: runId });
    return (await s.tracking.readArtifact(steps.find((r) => r.step === step)!.id, `outputs/${name}`)).toString('utf8');
  }

  it("runs a deployed pipeline's command and module as nobody, with no group of root's and none of the server's secrets", async () => {
    const secrets = { TRELLIS_STORE_URI: 'postgres://u:hunter2@db/x', PGPASSWORD: 'hunter2', AWS_SECRET_ACCESS_KEY: 'hunter2', TRELLIS_RUN_AS: '' };
    const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
    Object.assign(process.env, secrets);
    try {
      const t = await runDeployed(scheduler(), whoamiPipeline(join(s.dir, 'src', 'whoami'), 'whoami'), 'whoami');
      assert.equal(t.status, 'finished', t.detail);
      assert.deepEqual((await output(t.runId!, 'cmd', 'ids')).trim().split('\n'), ['65534', '65534'], 'uid, then its only group');
      const env = Object.fromEntries((await output(t.runId!, 'cmd', 'env')).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      assert.deepEqual(Object.keys(env).filter((k) => k.startsWith('TRELLIS_') && !STEP_VARIABLE.test(k)), []);
      assert.deepEqual(Object.keys(env).filter((k) => /PGPASS|AWS_/.test(k)), []);
      assert.match(env.TMPDIR!, new RegExp(`^${env.HOME}/`), 'temporary files inside the step folder');
      assert.equal(env.TRELLIS_OUTPUT_DIR, env.HOME);
      const mod = JSON.parse(await output(t.runId!, 'mod', 'out')) as { uid: number; gid: number; groups: number[]; env: Record<string, string> };
      assert.equal(mod.uid, 65534);
      assert.equal(mod.gid, 65534);
      assert.deepEqual(mod.groups, [65534]);
      assert.deepEqual(Object.keys(mod.env).filter((k) => (k.startsWith('TRELLIS_') && !STEP_VARIABLE.test(k)) || /PGPASS|AWS_/.test(k)), []);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  });

  it('runs it as the user the administrator named', async () => {
    const t = await runDeployed(scheduler({ runAs: resolveRunAs('65533:65532') }), whoamiPipeline(join(s.dir, 'src', 'named'), 'named'), 'named');
    assert.equal(t.status, 'finished', t.detail);
    assert.deepEqual((await output(t.runId!, 'cmd', 'ids')).trim().split('\n'), ['65533', '65532']);
    assert.equal((JSON.parse(await output(t.runId!, 'mod', 'out')) as { uid: number }).uid, 65533);
  });

  it('a step cannot write into its package or /root', async () => {
    const x = scheduler();
    const intoPackage = await runDeployed(x, commandPipeline(join(s.dir, 'src', 'plant'), 'plant', 'echo x > {outputs.out}; echo planted > ./planted.sh'), 'plant');
    assert.equal(intoPackage.status, 'failed');
    assert.match(intoPackage.detail!, /Permission denied/);
    assert.deepEqual(readdirSync(cacheDir, { recursive: true }).filter((f) => String(f).endsWith('planted.sh')), []);
    const intoRoot = await runDeployed(x, commandPipeline(join(s.dir, 'src', 'rooted'), 'rooted', 'echo x > {outputs.out}; echo planted > /root/.trellis-planted'), 'rooted');
    assert.equal(intoRoot.status, 'failed');
    assert.match(intoRoot.detail!, /Permission denied/);
    assert.equal(existsSync('/root/.trellis-planted'), false);
  });

  it('an output that links to a file the user cannot read is refused, not read by root on its behalf', async () => {
    const t = await runDeployed(scheduler(), commandPipeline(join(s.dir, 'src', 'linker'), 'linker', 'ln -s /etc/shadow {outputs.out}'), 'linker');
    assert.equal(t.status, 'failed');
    assert.match(t.detail!, /is a symbolic link: a deployed pipeline's step may leave only regular files and folders/);
    const steps = await s.stores.pipelines.listStepRuns({ pipelineRunId: t.runId! });
    await assert.rejects(s.tracking.readArtifact(steps[0]!.id, 'outputs/out'), 'nothing was uploaded');
  });

  it('a package out of reach of the user fails the step with the folder named', async () => {
    const closed = mkdtempSync(join(tmpdir(), 'trellis-run-as-closed-'));
    try {
      const t = await runDeployed(scheduler({ cacheDir: join(closed, 'packages') }), commandPipeline(join(s.dir, 'src', 'far'), 'far', 'echo x > {outputs.out}'), 'far');
      assert.equal(t.status, 'failed');
      assert.match(t.detail!, new RegExp(`the pipeline's package .* is out of reach of nobody \\(uid 65534\\).*may not pass through ${closed}`));
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });

  it('a pipeline run locally, not deployed, runs as before: as this process', async () => {
    const dir = join(s.dir, 'src', 'local');
    const file = commandPipeline(dir, 'local', 'id -u > {outputs.out}');
    const { ir } = await buildPackage(file);
    const r = await new PipelineEngine(s, { who }).run(ir, { baseDir: dir });
    assert.equal(r.status, 'FINISHED', r.failed?.error);
    assert.equal((await s.tracking.readArtifact(r.steps[0]!.outputs.out!.run, 'outputs/out')).toString('utf8').trim(), '0');
  });
});

describe('who runs deployed pipelines\' code', () => {
  it('an unknown user is a start-up error naming it; root is refused', () => {
    assert.throws(() => resolveRunAs('no-such-user-here'), (e: unknown) => isTrellisError(e) && /--run-as: there is no user 'no-such-user-here'/.test(e.message));
    assert.throws(() => userCodeUser(undefined, { TRELLIS_RUN_AS: 'no-such-user-here' }), /\$TRELLIS_RUN_AS: there is no user 'no-such-user-here'/);
    assert.throws(() => resolveRunAs('root'), /is root \(uid or gid 0\)/);
    assert.throws(() => resolveRunAs('1000:0'), /is root \(uid or gid 0\)/);
    assert.throws(() => resolveRunAs('a b'), /is not a user name or uid\[:gid\]/);
  });

  it('resolves names and ids', () => {
    assert.deepEqual(resolveRunAs('nobody'), { uid: 65534, gid: 65534, user: 'nobody' });
    assert.deepEqual(resolveRunAs('65534'), { uid: 65534, gid: 65534, user: 'nobody' });
    assert.deepEqual(resolveRunAs('4242:4343'), { uid: 4242, gid: 4343, user: 'uid 4242' });
  });

  it('as root, the default is nobody, said once at start', { skip: !ROOT && 'only root switches users' }, () => {
    const u = userCodeUser(undefined, {});
    assert.deepEqual(u.runAs, { uid: 65534, gid: 65534, user: 'nobody' });
    assert.match(u.note, /runs as nobody \(uid 65534, gid 65534\)/);
  });
});
