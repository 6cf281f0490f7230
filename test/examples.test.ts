// The example pipelines teach by being copied: a train step in them must not see the columns that
// give the label away. In the bike-sharing data, `casual` + `registered` = `cnt` (a model that sees
// them scores R² ≈ 1 and learns nothing), and `instant` numbers the rows. This follows the data into
// every train step of every example — through the steps that pass columns on — from the dataset as
// the README and the quickstart add it, and checks what the step leaves out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPipelineFile } from '../src/pipelines/load.js';
import { pipelineHash, type PipelineIR } from '../src/pipelines/ir.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PIPELINES = join(ROOT, 'examples/pipelines');
const BIKE_FILE = 'examples/data/bike_sharing_hourly.csv';
/** Columns a bike-demand model must never see. */
const LEAKS = ['instant', 'casual', 'registered'];

const header = (file: string) => readFileSync(join(ROOT, file), 'utf8').split(/\r?\n/, 1)[0]!.split(',');

/** The columns of the datasets the examples train on, as the repository tells people to add them. */
function exampleDatasets(): Record<string, string[]> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  // README, "Pipelines": `trellis data add bike examples/data/bike_sharing_hourly.csv`, all columns.
  assert.match(readme, /trellis data add bike examples\/data\/bike_sharing_hourly\.csv/);
  // `trellis quickstart` adds bike-hourly without the columns in its DROPPED list.
  const quickstart = readFileSync(join(ROOT, 'src/cli/commands/quickstart.ts'), 'utf8');
  const dropped = /const DROPPED = \[([^\]]*)\]/.exec(quickstart);
  assert.ok(dropped, 'quickstart.ts lists the columns it drops in DROPPED');
  const without = dropped[1]!.split(',').map((s) => s.trim().replace(/^'|'$/g, '')).filter(Boolean);
  return { bike: header(BIKE_FILE), 'bike-hourly': header(BIKE_FILE).filter((c) => !without.includes(c)) };
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The columns flowing into `input` of `stepName`: back through validate and split to what ingest reads. */
function columnsInto(ir: PipelineIR, stepName: string, input: string, datasets: Record<string, string[]>): string[] {
  const step = ir.steps.find((s) => s.name === stepName)!;
  const from = step.inputs[input] as { step?: string; output?: string } | undefined;
  assert.ok(from?.step, `${ir.name}: step '${stepName}' reads '${input}' from another step`);
  const up = ir.steps.find((s) => s.name === from.step)!;
  const component = up.component.split('@')[0];
  if (component === 'validate' || component === 'split') return columnsInto(ir, up.name, 'data', datasets);
  assert.equal(component, 'ingest', `${ir.name}: cannot tell which columns step '${up.name}' (${up.component}) passes on`);
  const given = up.inputs.dataset as unknown;
  const ref = str(given) ?? str(ir.params.find((p) => p.name === (given as { param?: string }).param)?.default);
  assert.ok(ref, `${ir.name}: the ingest step reads a dataset named in the pipeline`);
  const name = ref.replace(/@.*$/, '');
  assert.ok(datasets[name], `${ir.name}: '${ref}' is not a dataset the examples add (${Object.keys(datasets).join(', ')})`);
  return datasets[name];
}

/** Every train step of a pipeline: the columns it reads, what it leaves out, and so what its model sees. */
function trainSteps(ir: PipelineIR, datasets: Record<string, string[]>) {
  return ir.steps.filter((s) => s.component.startsWith('train@')).map((s) => {
    const columns = columnsInto(ir, s.name, 'data', datasets);
    const exclude = (str(s.inputs.exclude) ?? '').split(',').map((c) => c.trim()).filter(Boolean);
    const target = str(s.inputs.target)!;
    return { step: s.name, columns, exclude, target, features: columns.filter((c) => c !== target && !exclude.includes(c)) };
  });
}

const pipelineFiles = () => readdirSync(PIPELINES).filter((f) => /\.pipeline\.(ya?ml|json|ts)$/.test(f)).sort();

describe('example pipelines', () => {
  it('no train step sees a column that gives the label away, and each excludes only columns it has', async () => {
    const datasets = exampleDatasets();
    const files = pipelineFiles();
    assert.deepEqual(files, ['bike.pipeline.ts', 'bike.pipeline.yaml', 'quickstart.pipeline.yaml']);
    for (const file of files) {
      const { ir } = await loadPipelineFile(join(PIPELINES, file));
      const steps = trainSteps(ir, datasets);
      assert.ok(steps.length >= 1, `${file} trains`);
      for (const t of steps) {
        assert.equal(t.target, 'cnt', `${file}: ${t.step}`);
        const leaks = t.features.filter((c) => LEAKS.includes(c));
        assert.deepEqual(leaks, [], `${file}: step '${t.step}' trains on ${leaks.join(', ')}; name them in its 'exclude' input`);
        // The train step refuses an exclude naming a column it does not have: the example must run.
        assert.deepEqual(t.exclude.filter((c) => !t.columns.includes(c)), [], `${file}: step '${t.step}' excludes columns its data lacks`);
        assert.ok(t.features.includes('temp') && t.features.includes('hr'), `${file}: the real features are kept`);
      }
    }
  });

  it('bike.pipeline.ts and bike.pipeline.yaml compile to the same IR, as they say', async () => {
    const ts = (await loadPipelineFile(join(PIPELINES, 'bike.pipeline.ts'))).ir;
    const yaml = (await loadPipelineFile(join(PIPELINES, 'bike.pipeline.yaml'))).ir;
    assert.equal(pipelineHash(ts), pipelineHash(yaml));
  });

  it('the Python component example leaves the same columns out', () => {
    const readme = readFileSync(join(PIPELINES, 'components/README.md'), 'utf8');
    assert.match(readme, new RegExp(`'--drop', '${LEAKS.join(',')}'`));
  });
});
