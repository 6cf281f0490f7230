import { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import { actor, globals, withWorkspace } from '../context.js';
import { loadPipelineFile, paramValues, progressOnStderr, reportRun } from './pipelines.js';

export function runCommand(): Command {
  return new Command('run')
    .description('run a pipeline file (.yaml, .json, .ts) end to end on this machine, reusing cached step results')
    .argument('<pipeline-file>', 'the pipeline')
    .option('--param <name=value...>', 'values for the pipeline parameters')
    .option('--no-cache', 'run every step, whatever the cache holds')
    .option('--experiment <name>', 'experiment to record the run in (default: the pipeline name)')
    .option('--queue <url>', 'run the steps on `trellis worker` processes through this Redis queue (redis://host:port); the workers must share --store (PostgreSQL) and --artifacts')
    .option('--concurrency <n>', 'steps at once (default 2 here, 16 with --queue)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--concurrency must be a whole number ≥ 1, got '${v}'`);
      return n;
    })
    .action(async (file: string, o: { param?: string[]; cache: boolean; experiment?: string; queue?: string; concurrency?: number }, c: Command) => {
      const src = await loadPipelineFile(file);
      const json = !!globals(c).json;
      await withWorkspace(c, async (ws) => {
        const opened = await ws.pipelines.openEngine(actor(c), { queue: o.queue, concurrency: o.concurrency });
        const { engine } = opened;
        // Ctrl-C cancels the run: no new step starts, running ones are stopped, the run ends KILLED.
        const abort = new AbortController();
        const onInt = () => abort.abort();
        process.once('SIGINT', onInt);
        const { findCycles, topologicalOrder } = await import('../../pipelines/ir.js');
        // A pipeline with a cycle is refused by the engine, with the lint message.
        const progress = progressOnStderr(findCycles(src.ir).length ? undefined : topologicalOrder(src.ir));
        try {
          const r = await engine.run(src.ir, {
            params: paramValues(src.ir, o.param) ?? {}, noCache: !o.cache, experiment: o.experiment,
            baseDir: dirname(resolve(file)), onEvent: progress.onEvent, signal: abort.signal,
          });
          progress.stop();
          reportRun(json, r);
        } finally {
          progress.stop();
          process.off('SIGINT', onInt);
          await opened.close();
        }
      });
    });
}
