import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TrellisError } from '../../core/errors.js';
import type { PipelineRunRecord, PipelineVersion } from '../../store/ports/pipelines.js';
import { dueTriggers, type ConditionSources } from './conditions.js';

const DEPLOYED = 1_000;

const version = (triggers: unknown[]): PipelineVersion => ({
  name: 'downstream', version: 1, irVersion: '1', packageSha256: 'x', irHash: 'x', location: 'x', triggers, concurrency: 'queue', createdBy: 't', createdAt: DEPLOYED,
});

const run = (id: string, o: { experimentId?: string; startTime: number; endTime?: number }): PipelineRunRecord => ({
  id, pipeline: 'upstream', experimentId: o.experimentId ?? '7', status: 'FINISHED', startTime: o.startTime, ...(o.endTime !== undefined ? { endTime: o.endTime } : {}),
} as PipelineRunRecord);

/** Sources over fixed records: the upstream pipeline's runs are in experiment 7 unless told otherwise. */
function sources(runs: PipelineRunRecord[], o: { experiment?: boolean } = {}): ConditionSources & { asked: unknown[] } {
  const asked: unknown[] = [];
  return {
    asked,
    data: { get: () => Promise.reject(new TrellisError('TRELLIS_DATASET_NOT_FOUND', { name: 'none' })) },
    tracking: { findExperiment: async () => (o.experiment === false ? undefined : { experimentId: '7' } as Awaited<ReturnType<ConditionSources['tracking']['findExperiment']>>) },
    pipelines: {
      listPipelineRuns: async (q) => {
        asked.push(q);
        return runs;
      },
    },
  };
}

describe('pipeline trigger conditions, read from the pipeline run records', () => {
  const v = version([{ pipeline: 'upstream' }]);

  it('fires for the upstream run that finished last after the version was deployed', async () => {
    // Newest started first, as the port lists them: the run that finished last started earlier.
    const s = sources([
      run('b', { startTime: 1_500, endTime: 1_600 }),
      run('a', { startTime: 900, endTime: 2_000 }),
      run('old', { startTime: 100, endTime: 900 }),
    ]);
    const [t, ...rest] = await dueTriggers(s, v, 5_000);
    assert.deepEqual(rest, []);
    assert.equal(t!.kind, 'pipeline');
    assert.equal(t!.dedupeKey, 'pipeline:downstream:a');
    assert.match(t!.reason!, /^pipeline 'upstream' run a finished at 1970-01-01T00:00:02\.000Z$/);
    assert.deepEqual(s.asked, [{ pipeline: 'upstream', status: 'FINISHED', limit: 100_000 }]);
  });

  it('counts only runs kept in the experiment of the pipeline name that ended after the deployment', async () => {
    const s = sources([
      run('elsewhere', { experimentId: '8', startTime: 2_000, endTime: 3_000 }),
      run('before', { startTime: 500, endTime: DEPLOYED }),
    ]);
    assert.deepEqual(await dueTriggers(s, v, 5_000), []);
  });

  it('fires nothing when the upstream pipeline has no experiment yet', async () => {
    const s = sources([run('a', { startTime: 1_500, endTime: 1_600 })], { experiment: false });
    assert.deepEqual(await dueTriggers(s, v, 5_000), []);
    assert.deepEqual(s.asked, [], 'the records are not read');
  });
});
