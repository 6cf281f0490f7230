import { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { TrellisError, invalid } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import type { Task } from '../../ml/model.js';
import { actor, globals, withWorkspace } from '../context.js';
import { output } from '../output.js';
import { columnList, loadModelRef } from '../refs.js';

// The ONNX modules (protobuf.js, and onnxruntime when a graph is checked) load only when used.

export function exportCommand(): Command {
  const cmd = new Command('export').description('write a registered model in another format');
  cmd.command('onnx')
    .description('write a model version, feature transforms included, as an ONNX file (see docs/onnx.md)')
    .argument('<model>', 'the model version: name@alias, name@version or name/version')
    .argument('<file>', 'the .onnx file to write')
    .action(async (ref: string, file: string, _o: unknown, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const { model, name, version } = await loadModelRef(ws, ref);
        const { exportOnnx } = await import('../../ml/onnx/export.js');
        const bytes = exportOnnx(model);
        await writeFile(file, bytes);
        output(!!globals(c).json, () => ({ model: name, version, file, bytes: bytes.length, sha256: sha256Hex(bytes) }), () => {
          console.log(`wrote ${name} version ${version} as ONNX → ${file} (${bytes.length} bytes)`);
        });
      });
    });
  return cmd;
}

/** `X=a,b,c` → { X: ['a', 'b', 'c'] }: names for the columns of a multi-column ONNX input. */
function columnsOption(list: string[] | undefined): Record<string, string[]> | undefined {
  if (!list?.length) return undefined;
  const out: Record<string, string[]> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw invalid(`--columns takes input=col1,col2,…, got '${item}'`);
    out[item.slice(0, eq)] = columnList([item.slice(eq + 1)]);
  }
  return out;
}

export function importCommand(): Command {
  const cmd = new Command('import').description('bring a model from another format into the workspace');
  cmd.command('onnx')
    .description('log an ONNX model file as a run (model/model.json) and optionally register it; it predicts through onnxruntime')
    .argument('<file>', 'the .onnx file')
    .option('--register <model>', 'register it as a new version of this model')
    .option('--task <task>', 'regression, binary or multiclass (default: read from the graph)')
    .option('--classes <labels>', 'class labels, comma-separated, in the order of the probability columns')
    .option('--target <name>', 'the name of what the model predicts')
    .option('--prediction <output>', 'the graph output holding the prediction or class label')
    .option('--probabilities <output>', 'the graph output holding the class probabilities')
    .option('--columns <input=cols...>', 'column names for a multi-column input, e.g. X=age,income,height')
    .option('--experiment <name>', 'experiment to log the run in', 'Default')
    .action(async (file: string, o: { register?: string; task?: string; classes?: string; target?: string; prediction?: string; probabilities?: string; columns?: string[]; experiment: string }, c: Command) => {
      if (o.task !== undefined && !['regression', 'binary', 'multiclass'].includes(o.task)) throw invalid(`--task must be regression, binary or multiclass, got '${o.task}'`);
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await readFile(file));
      } catch (e) {
        throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Cannot read the ONNX file '${file}': ${(e as Error).message}` });
      }
      const { importOnnx } = await import('../../ml/onnx/import.js');
      const model = await importOnnx(bytes, {
        task: o.task as Task | undefined, classes: o.classes ? columnList([o.classes]) : undefined, target: o.target,
        prediction: o.prediction, probabilities: o.probabilities, columns: columnsOption(o.columns),
      });
      await withWorkspace(c, async (ws) => {
        const who = actor(c);
        // The model file first, then the run with its params in one write: no run without its model.
        const run = await ws.tracking.recordRun(await ws.tracking.ensureExperiment(o.experiment, who), {
          runName: `onnx-${basename(file)}`, tags: { 'trellis.source': 'onnx' },
          params: [{ key: 'source', value: 'onnx' }, { key: 'file', value: basename(file) }, { key: 'sha256', value: sha256Hex(bytes) }, { key: 'task', value: model.task }],
          artifacts: [{ path: 'model/model.json', data: JSON.stringify(model) }],
          model: { artifactPath: 'model', flavors: { trellis: { format: model.format, task: model.task, target: model.target }, onnx: { sha256: sha256Hex(bytes) } } },
        }, who);
        const runId = run.info.runId;
        const version = o.register ? (await ws.registry.registerRun({ name: o.register, run, artifactPath: 'model' }, who)).version.version : undefined;
        const inputs = model.features.inputs.map((i) => `${i.name}:${i.type}`);
        output(!!globals(c).json, () => ({ run_id: runId, model: o.register ?? null, version: version ?? null, task: model.task, classes: model.classes ?? null, inputs }), () => {
          console.log(`run ${runId}: ${model.task} ONNX model with inputs ${inputs.join(', ')}${model.classes ? `; classes ${model.classes.join(', ')}` : ''}`);
          if (version) console.log(`registered ${o.register} version ${version}`);
        });
      });
    });
  return cmd;
}
