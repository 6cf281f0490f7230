/**
 * `kill -9` of `trellis run` at several points of the bike pipeline, then `trellis pipelines
 * resume`: the finished steps are kept, the run finishes, and exactly one model version exists.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PipelineEngine } from '../../pipelines/engine/engine.js';
import { BIKE_YAML, bikeSlice, openTestServices } from '../../pipelines/engine/test-helpers/engine-fixture.js';

const who = { actor: 'tester' };
const CLI = fileURLToPath(new URL('../main.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Services = Awaited<ReturnType<typeof openTestServices>>;

/**
 * The pipeline run (its MLflow run) and the steps its records say FINISHED. The record is the commit
 * point: a step's mirror is ended just before its record, so a kill between the two leaves a
 * FINISHED mirror whose record a resume closes as KILLED and runs again.
 */
async function pipelineSteps(s: Services) {
  const exp = await s.stores.tracking.getExperimentByName('bike').catch(() => undefined);
  if (!exp) return { parent: undefined, finished: [] as string[] };
  const runs = (await s.stores.tracking.searchRuns({ experimentIds: [exp.experimentId], maxResults: 200 })).items;
  const parent = runs.find((r) => r.data.tags['trellis.pipeline'] && !r.data.tags['mlflow.parentRunId']);
  if (!parent) return { parent, finished: [] as string[] };
  const steps = await s.stores.pipelines.listStepRuns({ pipelineRunId: parent.info.runId });
  const finished = steps.filter((r) => r.status === 'FINISHED').map((r) => r.step);
  return { parent, finished };
}

describe('kill -9 of the runner at any point, then resume', () => {
  // After how many finished steps the runner is killed: after ingest, during train, during evaluate.
  for (const killAfter of [1, 3, 4]) {
    describe(`killed after ${killAfter} finished step(s)`, () => {
      let s: Services;
      before(async () => {
        s = await openTestServices();
        await s.data.add('bike', bikeSlice(s.dir, 1500), {}, who);
      });
      after(async () => s.close());

      it('resumes to FINISHED with the finished steps kept and one model version', async () => {
        const runner = spawn(process.execPath, ['--import', 'tsx', CLI, '--store', `sqlite:${join(s.dir, 't.db')}`, '--artifacts', `file:${join(s.dir, 'artifacts')}`,
          'run', BIKE_YAML, '--param', 'trees=40'], { stdio: 'ignore', env: { ...process.env, TRELLIS_LOG_LEVEL: 'silent' } });
        const exited = new Promise((r) => runner.once('exit', r));
        for (let i = 0; i < 1200 && runner.exitCode === null; i++) {
          if ((await pipelineSteps(s)).finished.length >= killAfter) break;
          await sleep(25);
        }
        runner.kill('SIGKILL');
        await exited;
        const { parent, finished } = await pipelineSteps(s);
        assert.ok(parent, 'the runner created the pipeline run');
        assert.ok(finished.length >= killAfter && finished.length < 7, `killed with ${finished.length} steps finished`);
        assert.equal(parent.info.status, 'RUNNING', 'a killed runner leaves its run RUNNING');

        const r = await new PipelineEngine(s, { who }).resume(parent.info.runId);
        assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
        const kept = r.steps.filter((x) => x.status === 'kept').map((x) => x.step).sort();
        assert.deepEqual(kept, [...finished].sort());
        const versions = (await s.registry.searchVersions({ filter: "name = 'bike'" })).items;
        assert.equal(versions.length, 1, 'one model version');
        assert.equal((await s.stores.registry.getVersionByAlias('bike', 'champion')).version, versions[0]!.version);
        // Nothing is left RUNNING: the step the runner was in is closed as KILLED.
        const exp = await s.stores.tracking.getExperimentByName('bike');
        const runs = (await s.stores.tracking.searchRuns({ experimentIds: [exp.experimentId], maxResults: 200 })).items;
        assert.deepEqual(runs.filter((x) => x.info.status === 'RUNNING').map((x) => x.data.tags['trellis.step'] ?? 'pipeline'), []);
      });
    });
  }

  it('refuses to resume a run whose runner is alive, naming it', async () => {
    const s = await openTestServices();
    try {
      await s.data.add('bike', bikeSlice(s.dir, 300), {}, who);
      const engine = new PipelineEngine(s, { who });
      const { parsePipeline } = await import('../../pipelines/ir.js');
      const { readFileSync } = await import('node:fs');
      const ir = parsePipeline(readFileSync(BIKE_YAML, 'utf8'), BIKE_YAML);
      const running = engine.run(ir, { params: { trees: 5 } });
      let parent;
      while (!(parent = (await pipelineSteps(s)).parent)) await sleep(10);
      await assert.rejects(engine.resume(parent.info.runId), /is still RUNNING: its runner, process \d+ on this host, is alive/);
      assert.equal((await running).status, 'FINISHED');
    } finally {
      await s.close();
    }
  });

  it('Ctrl-C during a long train step stops training at once: the run ends KILLED and the CLI exits 130', async () => {
    const s = await openTestServices();
    try {
      await s.data.add('bike', bikeSlice(s.dir, 1500), {}, who);
      const runner = spawn(process.execPath, ['--import', 'tsx', CLI, '--store', `sqlite:${join(s.dir, 't.db')}`, '--artifacts', `file:${join(s.dir, 'artifacts')}`,
        'run', BIKE_YAML, '--param', 'trees=40001'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TRELLIS_LOG_LEVEL: 'silent' } });
      let stderr = '';
      runner.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
      const exited = new Promise<number | null>((r) => runner.once('exit', (code) => r(code)));
      for (let i = 0; i < 1200 && !/▸ train … running/.test(stderr); i++) await sleep(25);
      await sleep(1500); // well into the 40,001 trees
      const t0 = performance.now();
      runner.kill('SIGINT');
      const code = await exited;
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(code, 130, stderr);
      assert.ok(seconds < 5, `exited ${seconds.toFixed(1)} s after Ctrl-C`);
      assert.match(stderr, /was cancelled during step 'train'/);
      const { parent } = await pipelineSteps(s);
      assert.equal(parent?.info.status, 'KILLED');
      const steps = await s.stores.pipelines.listStepRuns({ pipelineRunId: parent.info.runId });
      assert.equal(steps.find((x) => x.step === 'train')?.status, 'KILLED');
    } finally {
      await s.close();
    }
  });
});
