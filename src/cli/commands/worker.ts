/**
 * `trellis worker`: a long-running process that takes pipeline steps from a Redis queue and runs
 * them against the shared stores (give the same --store and --artifacts as the runner).
 */
import { Command } from 'commander';
import { homeWarning, userCodeUser } from '../../pipelines/executors/run-as.js';
import { Workspace } from '../../workspace/workspace.js';
import { actor, globals } from '../context.js';

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number ≥ 1, got '${v}'`);
    return n;
  };
}

export function workerCommand(): Command {
  return new Command('worker')
    .description('run pipeline steps taken from a Redis queue (the runner gives --queue too); --store and --artifacts must name the stores the runner uses')
    .requiredOption('--queue <url>', 'the queue: redis://host:port[/db]')
    .option('--concurrency <n>', 'steps at once', positiveInt('--concurrency'), 1)
    .option('--lock-ms <ms>', 'after this long without a sign of life, a step this worker had is given to another worker', positiveInt('--lock-ms'), 30_000)
    .option('--heartbeat-ms <ms>', 'how often the worker marks the steps it runs as alive', positiveInt('--heartbeat-ms'), 2000)
    .option('--run-as <user>', 'when the worker runs as root: the user (a name, or uid[:gid]) deployed pipelines\' commands and modules run as; default $TRELLIS_RUN_AS, else nobody. Never root; a worker not started as root runs them as itself')
    .action(async (o: { queue: string; concurrency: number; lockMs: number; heartbeatMs: number; runAs?: string }, c: Command) => {
      const g = globals(c);
      // Decided before anything opens, so a wrong --run-as stops the start.
      const user = userCodeUser(o.runAs);
      const ws = await Workspace.open({ store: g.store, artifacts: g.artifacts, queue: o.queue });
      const stamp = () => new Date().toISOString().slice(11, 23);
      process.stderr.write(`${stamp()} ${user.note}\n`);
      const unreachableHome = user.runAs ? homeWarning(ws.pipelines.packageDir, user.runAs) : undefined;
      if (unreachableHome) process.stderr.write(`${stamp()} warning: ${unreachableHome}\n`);
      const w = await ws.pipelines.startWorker(actor(c), {
        concurrency: o.concurrency, lockMs: o.lockMs, heartbeatMs: o.heartbeatMs, ...(user.runAs ? { runAs: user.runAs } : {}),
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
