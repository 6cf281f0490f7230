import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { invalid } from '../../core/errors.js';
import { readTable } from '../../data/readers/index.js';
import { rowAt, type Table } from '../../data/table.js';
import { loadModel, predict } from '../../ml/model.js';
import { ALGOS, resolveParams, train, type Algo } from '../../ml/train.js';
import { artifactStorePath } from '../../tracking/tracking-service.js';
import type { Workspace } from '../../workspace/workspace.js';
import { actor, globals, withWorkspace } from '../context.js';
import { output, printJson, printTable } from '../output.js';

function params(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw invalid(`--param takes key=value, got '${kv}'`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** A file path, or a dataset version `name@v` from the workspace. */
async function loadData(ws: Workspace, ref: string): Promise<{ table: Table; dataset?: { name: string; version: number; sha256: string } }> {
  if (existsSync(ref)) return { table: await readTable(ref) };
  const v = await ws.data.get(ref);
  return { table: await ws.data.load(`${v.name}@${v.version}`), dataset: { name: v.name, version: v.version, sha256: v.sha256 } };
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function trainCommand(): Command {
  return new Command('train')
    .description('train a model on a file or a dataset version, log it as a run, optionally register it')
    .requiredOption('--data <file|name@v>', 'training data: a CSV/JSONL/Parquet/Arrow file or a dataset version')
    .requiredOption('--target <column>', 'the column to predict')
    .option('--algo <algo>', `trainer: ${ALGOS.join(', ')}`, 'linear')
    .option('--param <key=value...>', 'trainer parameters, e.g. l2=0.5 seed=7 test_size=0.25 (snake_case or camelCase)')
    .option('--experiment <name>', 'experiment to log the run in', 'Default')
    .option('--register <model>', 'register the trained model as a new version of this model')
    .action(async (o: { data: string; target: string; algo: string; param?: string[]; experiment: string; register?: string }, c: Command) => {
      if (!(ALGOS as readonly string[]).includes(o.algo)) throw invalid(`--algo must be one of ${ALGOS.join(', ')}, got '${o.algo}'`);
      const algo = o.algo as Algo;
      const given = params(o.param);
      resolveParams(algo, given);
      const json = !!globals(c).json;
      const progress = (s: string) => process.stderr.write(`  ${s}\n`);
      await withWorkspace(c, async (ws) => {
        const who = actor(c);
        progress(`reading ${o.data}`);
        const { table, dataset } = await loadData(ws, o.data);
        const result = await train(table, o.target, algo, given, { onProgress: progress });
        const expId = await ws.meta.getExperimentByName(o.experiment).then((e) => e.experimentId, (e: unknown) => {
          if ((e as { code?: string }).code !== 'TRELLIS_EXPERIMENT_NAME_NOT_FOUND') throw e;
          return ws.tracking.createExperiment(o.experiment, {}, who);
        });
        const run = await ws.meta.createRun({ experimentId: expId, runName: `${o.algo}-${o.target}`, tags: { 'trellis.trainer': o.algo } }, who);
        const runId = run.info.runId;
        await ws.meta.logBatch(runId, {
          params: [{ key: 'algo', value: o.algo }, { key: 'target', value: o.target }, { key: 'task', value: result.model.task }, { key: 'data', value: o.data },
            ...Object.entries(result.params).filter(([key]) => key !== 'task').map(([key, value]) => ({ key, value: String(value) }))],
          metrics: Object.entries(result.metrics).map(([key, value]) => ({ key, value, timestamp: Date.now(), step: 0 })),
        }, who);
        if (dataset) {
          await ws.meta.logInputs(runId, [{ dataset: { name: dataset.name, digest: dataset.sha256.slice(0, 16), sourceType: 'trellis', source: JSON.stringify({ dataset: `${dataset.name}@${dataset.version}` }) }, tags: { 'mlflow.data.context': 'training' } }], who);
        }
        await ws.tracking.logArtifact(runId, 'model/model.json', JSON.stringify(result.model));
        await ws.meta.updateRun(runId, { status: 'FINISHED', endTime: Date.now() }, who);
        let version: string | undefined;
        if (o.register) {
          await ws.meta.getRegisteredModel(o.register).catch((e: unknown) => {
            if ((e as { code?: string }).code !== 'TRELLIS_MODEL_NOT_FOUND') throw e;
            return ws.meta.createRegisteredModel({ name: o.register! }, who);
          });
          version = (await ws.registry.createVersion({ name: o.register, source: `runs:/${runId}/model`, runId }, who)).version;
        }
        output(json, () => ({ run_id: runId, model: o.register ?? null, version: version ?? null, metrics: result.metrics }), () => {
          console.log(`run ${runId}: ${result.model.task} model on ${result.trainRows} rows, evaluated on ${result.testRows}`);
          printTable(Object.entries(result.metrics).map(([metric, value]) => ({ metric, value: value.toFixed(4) })), ['metric', 'value']);
          if (version) console.log(`registered ${o.register} version ${version}`);
        });
      });
    });
}

export function predictCommand(): Command {
  return new Command('predict')
    .description('score a file with a registered model: one output row per input row, with prediction (and proba_<class>) columns')
    .requiredOption('--model <name@alias|name/version>', 'the model version to use')
    .requiredOption('--input <file>', 'rows to score')
    .requiredOption('--output <file>', 'CSV to write')
    .action(async (o: { model: string; input: string; output: string }, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const at = o.model.lastIndexOf('@');
        const slash = o.model.lastIndexOf('/');
        const v = at > 0 ? await ws.meta.getVersionByAlias(o.model.slice(0, at), o.model.slice(at + 1))
          : slash > 0 ? await ws.meta.getModelVersion(o.model.slice(0, slash), o.model.slice(slash + 1))
            : (() => { throw invalid(`--model must be name@alias or name/version, got '${o.model}'`); })();
        const model = loadModel(await ws.artifacts.get(`${artifactStorePath(v.source)}/model.json`));
        const table = await readTable(o.input);
        const r = predict(model, table);
        const names = table.columns.map((col) => col.name);
        const classes = r.classes ?? [];
        const header = [...names, 'prediction', ...classes.map((k) => `proba_${k}`)];
        const lines = [header.map(csvCell).join(',')];
        for (let i = 0; i < table.rowCount; i++) {
          const row = rowAt(table, i);
          const pred = classes.length ? classes[r.prediction[i]!] : r.prediction[i];
          lines.push([...names.map((n) => csvCell(row[n])), csvCell(pred), ...classes.map((_, k) => String(r.proba![i * classes.length + k]))].join(','));
        }
        await writeFile(o.output, `${lines.join('\n')}\n`);
        if (globals(c).json) printJson({ model: `${v.name}/${v.version}`, rows: table.rowCount, output: o.output });
        else console.log(`scored ${table.rowCount} rows with ${v.name} version ${v.version} → ${o.output}`);
      });
    });
}
