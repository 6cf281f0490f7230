/**
 * Step folders left behind by runs killed outright: a run's start removes those of runs the store
 * knows to have ended or whose runner process on this host is gone, and leaves alone those of runs
 * whose runner may be alive, of runs the store does not know (another workspace's) and those kept
 * on purpose.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { validatePipeline, type PipelineIR } from '../ir.js';
import { PipelineEngine } from './engine.js';
import { bikeSlice, openTestServices } from './test-helpers/engine-fixture.js';

const who = { actor: 'tester' };
type Services = Awaited<ReturnType<typeof openTestServices>>;

describe('pipeline engine: step folders of runs killed outright', () => {
  let s: Services;
  let ir: PipelineIR;
  let work: string;
  before(async () => {
    s = await openTestServices();
    work = join(s.dir, 'work');
    ir = validatePipeline({
      format: 'trellis.pipeline/v1', name: 'tiny', params: [{ name: 'data', type: 'string' }],
      components: [],
      steps: [{ name: 'ingest', component: 'ingest', inputs: { dataset: { param: 'data' } } }],
    }, 'tiny');
  });
  after(async () => s.close());

  /** A pipeline run record as a runner killed mid-run leaves it, and the folder it left. */
  async function leftBehind(status: 'RUNNING' | 'FAILED' | 'KILLED' | 'FINISHED', runner = { host: 'another-host', pid: 1 }): Promise<string> {
    const parent = await s.stores.tracking.createRun({ experimentId: '0', runName: 'killed', tags: { 'trellis.pipeline': 'tiny' } }, who);
    const id = parent.info.runId;
    await s.stores.pipelines.createPipelineRun({ id, pipeline: 'tiny', pipelineVersion: '1', irHash: 'x', experimentId: '0', params: {}, baseDir: s.dir, runner }, who);
    if (status !== 'RUNNING') await s.stores.pipelines.endPipelineRun(id, { status }, who);
    const dir = join(work, `${id}-1796589918263`);
    mkdirSync(join(dir, 'ingest'), { recursive: true });
    writeFileSync(join(dir, 'ingest', 'data.parquet'), Buffer.alloc(1024));
    return dir;
  }

  it('removes the folders of ended runs when a run starts, and only those', async () => {
    const failed = await leftBehind('FAILED');
    const killed = await leftBehind('KILLED');
    const finished = await leftBehind('FINISHED');
    const running = await leftBehind('RUNNING');
    // A runner of this host whose process has exited; and one still alive (this test's parent).
    const deadPid = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    const orphaned = await leftBehind('RUNNING', { host: hostname(), pid: deadPid });
    const live = await leftBehind('RUNNING', { host: hostname(), pid: process.ppid });
    const unknown = join(work, `${'a'.repeat(32)}-1796589918263`);
    const other = join(work, 'notes');
    const kept = await leftBehind('FAILED');
    for (const d of [unknown, other]) mkdirSync(d, { recursive: true });
    writeFileSync(join(kept, '.trellis-keep'), '');

    const engine = new PipelineEngine(s, { who, workDir: work });
    const r = await engine.run(ir, { params: { data: bikeSlice(s.dir, 50) }, baseDir: s.dir });
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));

    for (const d of [failed, killed, finished, orphaned]) assert.equal(existsSync(d), false, `${d} is removed`);
    for (const d of [running, live, unknown, other, kept]) assert.equal(existsSync(d), true, `${d} is left alone`);
    // The run's own folder is gone too, as after every run.
    assert.deepEqual(readdirSync(work).filter((n) => n.startsWith(r.runId)), []);
  });

  it('keeps the folder of a run made with keepWorkDir from the sweeps of later runs', async () => {
    const keeping = new PipelineEngine(s, { who, workDir: work, keepWorkDir: true });
    const r = await keeping.run(ir, { params: { data: bikeSlice(s.dir, 50) }, baseDir: s.dir });
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    const [mine] = readdirSync(work).filter((n) => n.startsWith(r.runId));
    assert.ok(mine, 'the folder is kept');

    const later = await new PipelineEngine(s, { who, workDir: work }).run(ir, { params: { data: bikeSlice(s.dir, 50) }, baseDir: s.dir });
    assert.equal(later.status, 'FINISHED');
    assert.equal(existsSync(join(work, mine)), true, 'still there after a later run');
  });
});
