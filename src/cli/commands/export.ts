import { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { gzipSync } from 'node:zlib';
import { TrellisError, invalid } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import type { Task } from '../../ml/model.js';
import { actor, globals, withWorkspace } from '../context.js';
import { output } from '../output.js';
import { columnList, loadModelRef } from '../refs.js';

// The ONNX modules (protobuf.js, and onnxruntime when a graph is checked) load only when used.

const FORMATS = ['js', 'onnx'] as const;

/** Writes the exported file, naming it when that fails. */
async function writeOutput(file: string, data: string | Uint8Array): Promise<void> {
  try {
    await writeFile(file, data);
  } catch (e) {
    throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Cannot write '${file}': ${(e as Error).message}` });
  }
}

/** `<name>-<version>.<ext>`, with characters a file name should not have replaced. */
function defaultFile(name: string, version: string, ext: string): string {
  return `${name}-${version}`.replace(/[^A-Za-z0-9._-]/g, '_') + ext;
}

async function writeOnnx(c: Command, ref: string, file: string | undefined): Promise<void> {
  await withWorkspace(c, async (ws) => {
    const { model, name, version } = await loadModelRef(ws, ref);
    const { exportOnnx } = await import('../../ml/onnx/export.js');
    const bytes = exportOnnx(model);
    const to = file ?? defaultFile(name, version, '.onnx');
    await writeOutput(to, bytes);
    output(!!globals(c).json, () => ({ model: name, version, format: 'onnx', file: to, bytes: bytes.length, sha256: sha256Hex(bytes) }), () => {
      console.log(`wrote ${name} version ${version} as ONNX → ${to} (${bytes.length} bytes)`);
    });
  });
}

/** One dependency-free ES module that predicts with no server (src/ml/export-js.ts). */
async function writeJsModule(c: Command, ref: string, file: string | undefined): Promise<void> {
  await withWorkspace(c, async (ws) => {
    const { model, name, version } = await loadModelRef(ws, ref);
    const { exportJsModule } = await import('../../ml/export-js.js');
    const text = exportJsModule(model, { name, version });
    const to = file ?? defaultFile(name, version, '.mjs');
    await writeOutput(to, text);
    const bytes = Buffer.byteLength(text);
    const gzipBytes = gzipSync(text, { level: 9 }).length;
    output(!!globals(c).json, () => ({ model: name, version, format: 'js', file: to, bytes, gzip_bytes: gzipBytes, sha256: sha256Hex(text) }), () => {
      console.log(`wrote ${name} version ${version} as a JavaScript module → ${to} (${bytes} bytes, ${gzipBytes} gzipped)`);
    });
  });
}

export function exportCommand(): Command {
  const cmd = new Command('export').description('write a registered model in another format: `export <model> --format js|onnx`, or `export onnx <model> <file>`')
    .argument('[model]', 'the model version: name@alias, name@version or name/version')
    .option('--format <format>', 'js: one dependency-free ES module predicting in browsers, edge runtimes and serverless functions; onnx: an ONNX file')
    .option('--output <file>', 'the file to write (default: <name>-<version>.mjs or .onnx)')
    .action(async (ref: string | undefined, o: { format?: string; output?: string }, c: Command) => {
      if (ref === undefined) throw invalid('Name the model version to export, e.g. `trellis export income@production --format js`');
      if (o.format === undefined || !(FORMATS as readonly string[]).includes(o.format)) {
        throw invalid(`--format must be one of ${FORMATS.join(', ')}, got ${o.format === undefined ? 'nothing' : `'${o.format}'`}`);
      }
      await (o.format === 'js' ? writeJsModule(c, ref, o.output) : writeOnnx(c, ref, o.output));
    });
  cmd.command('onnx')
    .description('write a model version, feature transforms included, as an ONNX file (see docs/onnx.md)')
    .argument('<model>', 'the model version: name@alias, name@version or name/version')
    .argument('<file>', 'the .onnx file to write')
    .action(async (ref: string, file: string, _o: unknown, c: Command) => writeOnnx(c, ref, file));
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
