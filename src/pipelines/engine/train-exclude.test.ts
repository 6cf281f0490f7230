import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validatePipeline } from '../ir.js';
import { PipelineEngine } from './engine.js';
import { bikeSlice, openTestServices } from './test-helpers/engine-fixture.js';

const who = { actor: 'tester' };

const trainOn = (exclude: string | undefined) => validatePipeline({
  format: 'trellis.pipeline/v1', name: 'exclude', params: [{ name: 'data', type: 'string' }],
  steps: [
    { name: 'ingest', component: 'ingest', inputs: { dataset: { param: 'data' } } },
    { name: 'train', component: 'train', inputs: { data: { step: 'ingest', output: 'data' }, target: 'cnt', algo: 'linear', ...(exclude !== undefined ? { exclude } : {}) } },
  ],
}, 'exclude');

describe("train step: 'exclude'", () => {
  let s: Awaited<ReturnType<typeof openTestServices>>;
  let engine: PipelineEngine;
  let data: string;
  before(async () => {
    s = await openTestServices();
    data = bikeSlice(s.dir, 300);
    engine = new PipelineEngine(s, { who, workDir: join(s.dir, 'work') });
  });
  after(async () => s.close());

  const inputsOfModel = async (r: Awaited<ReturnType<PipelineEngine['run']>>) => {
    const train = r.steps.find((x) => x.step === 'train')!;
    const model = JSON.parse((await s.tracking.readArtifact(train.runId!, 'outputs/model/model.json')).toString()) as { features: { inputs: { name: string }[] } };
    return model.features.inputs.map((c) => c.name);
  };

  it('leaves the named columns out of the model, and says so in the step log', async () => {
    const all = await engine.run(trainOn(undefined), { params: { data } });
    assert.equal(all.status, 'FINISHED', JSON.stringify(all.failed));
    assert.ok((await inputsOfModel(all)).includes('casual'));
    const r = await engine.run(trainOn('instant, casual,registered'), { params: { data } });
    assert.equal(r.status, 'FINISHED', JSON.stringify(r.failed));
    const inputs = await inputsOfModel(r);
    for (const c of ['instant', 'casual', 'registered', 'cnt']) assert.ok(!inputs.includes(c), c);
    assert.ok(inputs.includes('temp') && inputs.includes('hr'));
    const train = r.steps.find((x) => x.step === 'train')!;
    assert.match((await s.tracking.readArtifact(train.runId!, 'logs/train.log')).toString(), /not features: instant, casual, registered/);
  });

  it('refuses a column the data does not have, and the target', async () => {
    const typo = await engine.run(trainOn('casul'), { params: { data } });
    assert.equal(typo.status, 'FAILED');
    assert.match(typo.failed?.error ?? '', /'exclude' names 'casul', not a column of the data; its columns are instant, dteday, /);
    const target = await engine.run(trainOn('cnt'), { params: { data } });
    assert.equal(target.status, 'FAILED');
    assert.match(target.failed?.error ?? '', /'exclude' names the target 'cnt'/);
    assert.ok(readFileSync(data, 'utf8').startsWith('instant,'));
  });
});
