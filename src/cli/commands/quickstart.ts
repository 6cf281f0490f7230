/**
 * The end-to-end demo on the embedded default stores: the bike-demand pipeline (ingest, validate,
 * time-ordered split, train, evaluate, gate, register @champion — built-in components only) on
 * the UCI bike-sharing data, run twice: the second run is served from the cache step by step and
 * registers nothing new.
 */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalid } from '../../core/errors.js';
import type { PipelineRunResult } from '../../pipelines/engine/index.js';
import type { Workspace } from '../../workspace/workspace.js';
import { actor, globals, withWorkspace } from '../context.js';
import { printJson } from '../output.js';
import { runSummary, seconds } from '../progress.js';
import { loadPipelineFile, pipelineEngine, progressOnStderr, reportRun } from './pipelines.js';

const DATA = fileURLToPath(new URL('../../../examples/data/bike_sharing_hourly.csv', import.meta.url));
const PIPELINE = fileURLToPath(new URL('../../../examples/pipelines/quickstart.pipeline.yaml', import.meta.url));
const DATASET = 'bike-hourly';
const MODEL = 'bike-demand';
/** A row number, and the two counts whose sum is the target: a model must not see them. */
const DROPPED = ['instant', 'casual', 'registered'];

/** A path as the user would type it from here: relative inside the working folder, absolute outside it. */
const shown = (p: string) => {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : p;
};

/** The example file without the dropped columns, added as a dataset version (the same bytes give the same version). */
async function addDataset(ws: Workspace, who: { actor: string }): Promise<{ ref: string; rows: number; created: boolean; latest: boolean }> {
  const lines = (await readFile(DATA, 'utf8')).split(/\r?\n/).filter((l) => l.length);
  const header = lines[0]!.split(',');
  const keep = header.map((h, i) => (DROPPED.includes(h) ? -1 : i)).filter((i) => i >= 0);
  const out = lines.map((l, n) => {
    const cells = l.split(',');
    if (cells.length !== header.length) throw invalid(`${DATA}:${n + 1}: expected ${header.length} fields, found ${cells.length}`);
    return keep.map((i) => cells[i]).join(',');
  });
  const dir = await mkdtemp(join(tmpdir(), 'trellis-quickstart-'));
  try {
    const file = join(dir, `${DATASET}.csv`);
    await writeFile(file, `${out.join('\n')}\n`);
    const r = await ws.data.add(DATASET, file, {
      source: `examples/data/bike_sharing_hourly.csv without ${DROPPED.join(', ')}`,
      description: 'UCI Bike Sharing, hourly (Fanaee-T 2013, CC BY 4.0); cnt is the target',
    }, who);
    const latest = (await ws.data.get(`${DATASET}@latest`)).version === r.version.version;
    return { ref: `${DATASET}@${r.version.version}`, rows: r.version.rows, created: r.created, latest };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function quickstartCommand(): Command {
  return new Command('quickstart')
    .description('demo: run the bike-demand pipeline (ingest → validate → split → train → evaluate → gate → register @champion) on real data, then again from the cache')
    .action(async (_o: unknown, c: Command) => {
      const json = !!globals(c).json;
      const say = (s = '') => { if (!json) console.log(s); };
      for (const f of [DATA, PIPELINE]) {
        if (!existsSync(f)) throw invalid(`the quickstart needs ${f}, which is part of the Trellis repository (examples/); run it from a clone`);
      }
      const who = actor(c);
      await withWorkspace(c, async (ws) => {
        const data = await addDataset(ws, who);
        const src = await loadPipelineFile(PIPELINE);
        const engine = await pipelineEngine(ws, who);
        say(`▸ data      ${data.ref}: ${data.rows} hourly rows from ${shown(DATA)} (UCI Bike Sharing, CC BY 4.0),`);
        say(`            without ${DROPPED.join(', ')}; the target is cnt${data.created ? '' : ' (added by an earlier quickstart)'}`);
        say(`▸ pipeline  ${shown(PIPELINE)}: ${src.ir.steps.map((s) => s.name).join(' → ')}`);
        say(`▸ stores    ${ws.storeUri} and ${ws.artifactsUri}`);

        const runs: PipelineRunResult[] = [];
        for (const label of ['first run', 'second run, same inputs']) {
          say(`\n${label}`);
          const progress = progressOnStderr(src.ir.steps.map((s) => s.name));
          let r: PipelineRunResult;
          try {
            // The pipeline's default, bike-hourly@latest, unless another version was added since.
            r = await engine.run(src.ir, { params: data.latest ? {} : { dataset: data.ref }, baseDir: dirname(PIPELINE), onEvent: progress.onEvent });
          } finally {
            progress.stop();
          }
          runs.push(r);
          if (r.failed) {
            reportRun(json, r);
            return;
          }
          // The second run's outputs are the first's: its table says where each step came from.
          say(runSummary(r, { outputs: runs.length === 1 }).trimEnd());
        }
        const [first, second] = runs as [PipelineRunResult, PipelineRunResult];
        const fromCache = second.steps.filter((s) => s.status === 'cached').length;
        const reg = second.registered[0];
        const metrics = first.steps.find((s) => s.step === 'evaluate')?.metrics ?? {};
        if (json) {
          printJson({
            dataset: data.ref, pipeline: first.pipeline, model: MODEL, version: reg?.version ?? null, alias: reg?.alias ?? null, metrics,
            secondRun: { steps: second.steps.length, fromCache, durationMs: second.durationMs },
            runs,
          });
          return;
        }
        say(`\nsecond run: ${fromCache}/${second.steps.length} steps from cache in ${second.durationMs} ms (the first run took ${seconds(first.durationMs)})`);
        const created = first.registered.filter((v) => v.created).length + second.registered.filter((v) => v.created).length;
        if (reg) say(`model: ${MODEL} version ${reg.version} @${reg.alias} — test RMSE ${metrics.rmse?.toFixed(1)}, R² ${metrics.r2?.toFixed(3)} on the last 20% of the hours; ${created ? `${created} version created, none by the second run` : 'no new version (an earlier quickstart registered it)'}`);
        else say(`model: the gate did not pass, so no version of ${MODEL} was registered (see: npx trellis pipelines why ${first.runId} gate)`);
        const next: [string, string][] = [
          [`lineage ${MODEL}@champion`, 'dataset version → pipeline steps → model version'],
          [`pipelines why ${second.runId} train`, 'why the step came from the cache'],
          [`pipelines rerun ${first.runId}`, 'again without the cache: are the outputs byte-identical?'],
          [`run ${shown(PIPELINE)} --param trees=400`, 'train and the steps after it run again'],
          [`models history ${MODEL} --alias champion`, 'who held @champion, from when to when'],
          [`deployments create bike --model ${MODEL}@champion`, 'an endpoint that follows @champion'],
          ['serve', 'serves it: OIP v2 over REST on http://127.0.0.1:8080 and gRPC on :8081'],
          ['server', 'REST API, MLflow-compatible, on http://127.0.0.1:5000'],
        ];
        const width = Math.max(...next.map(([cmd]) => cmd.length));
        say('\nTry next:');
        for (const [cmd, what] of next) say(`  npx trellis ${cmd.padEnd(width)}  # ${what}`);
      });
    });
}
