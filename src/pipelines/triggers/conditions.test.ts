import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { TrellisError } from '../../core/errors.js';
import { openStores } from '../../store/open-stores.js';
import type { PipelineVersion } from '../../store/ports/pipelines.js';
import type { Stores } from '../../store/stores.js';
import { dueTriggers, type ConditionSources } from './conditions.js';

const who = { actor: 'test' };

const version = (triggers: unknown[], createdAt: number): PipelineVersion => ({
  name: 'downstream', version: 1, irVersion: '1', packageSha256: 'x', irHash: 'x', location: 'x', triggers, concurrency: 'queue', createdBy: 't', createdAt,
});

describe('pipeline trigger conditions, read from the pipeline run records (SQLite)', () => {
  let dir: string;
  let stores: Stores;
  let t = 1_000;
  const clock: Clock = { now: () => t };
  let s: ConditionSources;
  const experiments = new Map<string, string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-conditions-'));
    stores = await openStores(`sqlite:${join(dir, 'store.db')}`, { clock });
    s = {
      data: { get: () => Promise.reject(new TrellisError('TRELLIS_DATASET_NOT_FOUND', { name: 'none' })) },
      pipelines: stores.pipelines,
      tracking: {
        findExperiment: async (name: string) => {
          const id = experiments.get(name);
          return id === undefined ? undefined : stores.tracking.getExperiment(id);
        },
      },
    };
  });
  after(async () => {
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a run of `pipeline` at `start` and, given `end`, finishes it then. */
  const pipelineRun = async (id: string, o: { pipeline?: string; experiment?: string; start: number; end?: number }) => {
    const exp = o.experiment ?? o.pipeline ?? 'upstream';
    if (!experiments.has(exp)) experiments.set(exp, await stores.tracking.createExperiment({ name: exp }, who));
    t = o.start;
    await stores.pipelines.createPipelineRun({
      id, pipeline: o.pipeline ?? 'upstream', pipelineVersion: '1', irHash: 'h', experimentId: experiments.get(exp)!, params: {}, baseDir: '/w', runner: { host: 'h', pid: 1 },
    }, who);
    return id;
  };
  const end = async (id: string, at: number) => {
    t = at;
    await stores.pipelines.endPipelineRun(id, { status: 'FINISHED' }, who);
  };

  it('fires nothing while the upstream pipeline has no experiment', async () => {
    assert.deepEqual(await dueTriggers(s, version([{ pipeline: 'nothing-yet' }], 0), 5_000), []);
  });

  it('fires for the upstream run that finished last after the version was deployed, of those kept in its experiment', async () => {
    // Started in one order, finished in another: the run that finished last started earlier.
    await pipelineRun('old', { start: 100 });
    await end('old', 900);
    await pipelineRun('a', { start: 950 });
    await pipelineRun('b', { start: 1_500 });
    await end('b', 1_600);
    await end('a', 2_000);
    // Later still, but kept in another experiment (a rerun's), or not finished.
    await pipelineRun('elsewhere', { experiment: 'reruns', start: 2_100 });
    await end('elsewhere', 3_000);
    await pipelineRun('running', { start: 2_500 });
    const [due, ...rest] = await dueTriggers(s, version([{ pipeline: 'upstream' }], 1_000), 5_000);
    assert.deepEqual(rest, []);
    assert.equal(due!.kind, 'pipeline');
    assert.equal(due!.dedupeKey, 'pipeline:downstream:a');
    assert.match(due!.reason!, /^pipeline 'upstream' run a finished at 1970-01-01T00:00:02\.000Z$/);
  });

  it('counts only runs that ended after the deployment', async () => {
    assert.deepEqual(await dueTriggers(s, version([{ pipeline: 'upstream' }], 2_000), 5_000), []);
    await end('running', 4_000);
    assert.equal((await dueTriggers(s, version([{ pipeline: 'upstream' }], 2_000), 5_000))[0]?.dedupeKey, 'pipeline:downstream:running');
  });
});
