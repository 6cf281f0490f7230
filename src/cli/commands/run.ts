import { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import { actor, globals, withWorkspace } from '../context.js';
import { loadPipelineFile, paramValues, pipelineEngine, reportRun, statusLine } from './pipelines.js';

export function runCommand(): Command {
  return new Command('run')
    .description('run a pipeline file (.yaml, .json, .ts) end to end on this machine, reusing cached step results')
    .argument('<pipeline-file>', 'the pipeline')
    .option('--param <name=value...>', 'values for the pipeline parameters')
    .option('--no-cache', 'run every step, whatever the cache holds')
    .option('--experiment <name>', 'experiment to record the run in (default: the pipeline name)')
    .action(async (file: string, o: { param?: string[]; cache: boolean; experiment?: string }, c: Command) => {
      const src = await loadPipelineFile(file);
      const json = !!globals(c).json;
      await withWorkspace(c, async (ws) => {
        const engine = await pipelineEngine(ws, actor(c));
        const r = await engine.run(src.ir, {
          params: paramValues(src.ir, o.param) ?? {}, noCache: !o.cache, experiment: o.experiment,
          baseDir: dirname(resolve(file)), onEvent: (e) => process.stderr.write(`${statusLine(e)}\n`),
        });
        reportRun(json, r);
      });
    });
}
