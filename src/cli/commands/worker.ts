/**
 * `trellis worker`: a long-running process that takes pipeline steps from a Redis queue and runs
 * them against the shared stores (give the same --store and --artifacts as the runner), and
 * `openEngine`, which gives `trellis run` / `pipelines resume` a queue when --queue is set.
 */
import { Command } from 'commander';
import { Workspace } from '../../workspace/workspace.js';
import { actor, globals } from '../context.js';

function services(ws: Workspace) {
  return { meta: ws.meta, artifacts: ws.artifacts, tracking: ws.tracking, registry: ws.registry, data: ws.data };
}

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number ≥ 1, got '${v}'`);
    return n;
  };
}

/** A pipeline engine for this workspace: steps run here, or on workers behind `queue` (redis://…). */
export async function openEngine(ws: Workspace, who: { actor: string }, o: { queue?: string; concurrency?: number } = {}) {
  const { PipelineEngine } = await import('../../pipelines/engine/index.js');
  if (!o.queue) return { engine: new PipelineEngine(services(ws), { who, concurrency: o.concurrency }), close: async () => undefined };
  const { RedisDispatcher } = await import('../../pipelines/queue/redis-queue.js');
  const dispatcher = await RedisDispatcher.open(services(ws), who, { url: o.queue });
  // With workers, the bound on steps at once is theirs; the runner only keeps enough in the queue.
  const engine = new PipelineEngine(services(ws), { who, dispatcher, concurrency: o.concurrency ?? 16 });
  return { engine, close: () => dispatcher.close() };
}

export function workerCommand(): Command {
  return new Command('worker')
    .description('run pipeline steps taken from a Redis queue (the runner gives --queue too); --store and --artifacts must name the stores the runner uses')
    .requiredOption('--queue <url>', 'the queue: redis://host:port[/db]')
    .option('--concurrency <n>', 'steps at once', positiveInt('--concurrency'), 1)
    .option('--lock-ms <ms>', 'after this long without a sign of life, a step this worker had is given to another worker', positiveInt('--lock-ms'), 30_000)
    .option('--heartbeat-ms <ms>', 'how often the worker marks the steps it runs as alive', positiveInt('--heartbeat-ms'), 2000)
    .action(async (o: { queue: string; concurrency: number; lockMs: number; heartbeatMs: number }, c: Command) => {
      const g = globals(c);
      const ws = await Workspace.open({ store: g.store, artifacts: g.artifacts });
      const { StepWorker } = await import('../../pipelines/queue/redis-queue.js');
      const stamp = () => new Date().toISOString().slice(11, 23);
      const w = await StepWorker.start(services(ws), actor(c), {
        url: o.queue, concurrency: o.concurrency, lockMs: o.lockMs, heartbeatMs: o.heartbeatMs, stores: { meta: ws.storeUri, artifacts: ws.artifactsUri },
        log: (line) => process.stderr.write(`${stamp()} ${line}\n`),
      });
      process.stderr.write(`${stamp()} worker ${w.id} waiting for steps on ${o.queue} (concurrency ${o.concurrency})\n`);
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          process.stderr.write(`${stamp()} ${sig}: finishing the steps in hand, then stopping\n`);
          resolve();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      await w.close();
      await ws.close();
    });
}
