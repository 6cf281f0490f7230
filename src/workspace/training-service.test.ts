/**
 * Training recorded through the services, with every store call counted: a training run is one
 * write of the tracking store (where `trellis train` used to make about fourteen store calls and
 * read the run back four times), and nothing at all is recorded for a request refused early.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatasetService } from '../data/datasets.js';
import { RegistryService } from '../registry/registry-service.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { openArtifactStore, openStores } from '../store/open-stores.js';
import type { Stores } from '../store/stores.js';
import { LOG_MODEL_HISTORY_TAG, RUN_ERROR_TAG, TrackingService } from '../tracking/tracking-service.js';
import { TrainingService } from './training-service.js';

const ADULT = fileURLToPath(new URL('../data/readers/fixtures/adult_train_head200.csv', import.meta.url));
const who = { actor: 'alice' };

/** Every call made on a port, by port and method. */
function counted<T extends object>(port: T, name: string, calls: string[]): T {
  return new Proxy(port, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(`${name}.${String(key)}`);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

const WRITES = /\.(create|update|delete|log|record|complete|append|set|rename|restore|transition|put)/;

describe('TrainingService', () => {
  let dir: string;
  let stores: Stores;
  let artifacts: ArtifactStore;
  let calls: string[];
  let training: TrainingService;
  let tracking: TrackingService;
  let registry: RegistryService;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-training-'));
    stores = await openStores(`sqlite:${join(dir, 't.db')}`);
    artifacts = await openArtifactStore(`file:${join(dir, 'a')}`);
    calls = [];
    const t = counted(stores.tracking, 'tracking', calls);
    tracking = new TrackingService(t, artifacts);
    registry = new RegistryService(counted(stores.registry, 'registry', calls), t, stores.audit);
    const data = new DatasetService(counted(stores.datasets, 'datasets', calls), artifacts);
    training = new TrainingService(tracking, registry, data);
    await data.add('adult', ADULT, {}, who);
  });
  after(async () => {
    await stores.close();
    await artifacts.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records a training run in one tracking write, with everything it logs', async () => {
    const request = { data: 'adult@1', target: 'income', algo: 'linear' as const, params: { l2: '2' }, experiment: 'census', register: 'income' };
    await training.train(request, who); // creates the experiment and the model
    calls.length = 0;
    const r = await training.train(request, who);
    assert.deepEqual(calls, [
      'datasets.getDatasetVersion', 'tracking.getExperimentByName', 'tracking.recordRun',
      'registry.getRegisteredModel', 'registry.createModelVersion',
    ]);
    assert.deepEqual(calls.filter((c) => WRITES.test(c)), ['tracking.recordRun', 'registry.createModelVersion']);

    const run = await tracking.getRun(r.run.info.runId);
    assert.equal(run.info.status, 'FINISHED');
    assert.equal(run.info.runName, 'linear-income');
    assert.deepEqual([run.data.params.algo, run.data.params.l2, run.data.params.task, run.data.params.data], ['linear', '2', 'binary', 'adult@1']);
    assert.deepEqual(run.data.metrics.map((m) => m.key).sort(), ['accuracy', 'f1', 'log_loss', 'roc_auc']);
    assert.equal(run.data.tags['trellis.trainer'], 'linear');
    assert.equal(run.inputs.datasetInputs[0]?.dataset.name, 'adult');
    assert.deepEqual(JSON.parse(run.inputs.datasetInputs[0]?.dataset.source ?? '{}'), { dataset: 'adult@1' });
    const [logged] = JSON.parse(run.data.tags[LOG_MODEL_HISTORY_TAG] ?? '[]') as { artifact_path: string; run_id: string; flavors: { trellis: { task: string } } }[];
    assert.deepEqual([logged?.artifact_path, logged?.run_id, logged?.flavors.trellis.task], ['model', run.info.runId, 'binary']);
    assert.deepEqual((await tracking.listArtifacts(run.info.runId)).files.map((f) => f.path).sort(), ['evaluation', 'model']);
    assert.equal(JSON.parse((await tracking.readArtifact(run.info.runId, 'model/model.json')).toString()).task, 'binary');
    assert.deepEqual(r.summary.metrics, r.outcome.metrics);
    assert.deepEqual([r.summary.run_id, r.summary.model, r.summary.version], [run.info.runId, 'income', '2']);
    assert.equal((await registry.getVersion('income', '2')).source, `${run.info.artifactUri}/model`);
  });

  it('records a search as a parent run and one write per trial', async () => {
    calls.length = 0;
    const r = await training.train({
      data: ADULT, target: 'income', algo: 'linear', experiment: 'census',
      search: { strategy: 'grid', space: [{ kind: 'list', name: 'l2', values: [0.1, 10] }] },
    }, who);
    assert.deepEqual(calls.filter((c) => WRITES.test(c)), ['tracking.createRun', 'tracking.recordRun', 'tracking.recordRun', 'tracking.completeRun']);
    const parent = await tracking.getRun(r.run.info.runId);
    assert.equal(parent.info.status, 'FINISHED');
    assert.deepEqual([parent.data.tags['trellis.search'], parent.data.tags['trellis.search.trials']], ['grid', '2']);
    assert.equal(parent.data.params.testSize, '0', 'the final model uses every row');
    const children = await tracking.searchRuns({ experimentIds: [parent.info.experimentId], filter: `tags.mlflow.parentRunId = '${parent.info.runId}'` });
    assert.deepEqual(children.items.map((c) => [c.info.runName, c.info.status]).sort(), [['trial-1', 'FINISHED'], ['trial-2', 'FINISHED']]);
  });

  it('fails the parent of a search when training fails after the trials', async () => {
    const before = (await tracking.searchRuns({ experimentIds: ['0'], viewType: 'ALL' })).items.length;
    await assert.rejects(training.train({
      data: ADULT, target: 'income', algo: 'linear',
      search: { strategy: 'grid', space: [{ kind: 'list', name: 'l2', values: [1] }] },
    }, who, { onProgress: (line) => { if (line.startsWith('training the final model')) throw new Error('out of memory'); } }), /out of memory/);
    const runs = (await tracking.searchRuns({ experimentIds: ['0'], viewType: 'ALL' })).items;
    assert.equal(runs.length, before + 2, 'the parent and its trial');
    const parent = runs.find((x) => x.data.tags['trellis.search'] === 'grid' && !x.data.tags['mlflow.parentRunId']);
    assert.equal(parent?.info.status, 'FAILED');
    assert.equal(parent?.data.tags[RUN_ERROR_TAG], 'out of memory');
  });

  it('records nothing, not even the experiment, for a request refused before training', async () => {
    const bad = join(dir, 'constant.csv');
    writeFileSync(bad, 'x,y\n1,5\n2,5\n3,5\n');
    calls.length = 0;
    await assert.rejects(training.train({ data: bad, target: 'y', algo: 'linear', experiment: 'refused' }, who), /Target 'y' is constant/);
    await assert.rejects(training.train({ data: ADULT, target: 'income', algo: 'linear', params: { depth: '3' }, experiment: 'refused' }, who), /Unknown parameter 'depth'/);
    await assert.rejects(training.train({ data: ADULT, target: 'income', algo: 'svm' as never, experiment: 'refused' }, who), /trainer must be one of/);
    assert.deepEqual(calls.filter((c) => WRITES.test(c)), []);
    assert.equal(await tracking.findExperiment('refused'), undefined);
  });

  it('reads data as a dataset version only when told files are not the caller\'s to name', async () => {
    await assert.rejects(training.train({ data: ADULT, target: 'income', algo: 'linear' }, who, { files: false }), (e: { code?: string }) => e.code === 'TRELLIS_DATASET_NOT_FOUND');
  });
});
