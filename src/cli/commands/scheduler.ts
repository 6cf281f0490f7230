/**
 * `trellis scheduler`: runs deployed pipelines when their triggers fire, printing a line per
 * decision. `--once` makes one pass and waits for the runs it started; otherwise it runs until
 * SIGINT/SIGTERM, which cancels the runs in progress (their records end `cancelled`). The same
 * scheduler runs inside `trellis server --scheduler`.
 */
import { Command } from 'commander';
import type { RunAs } from '../../pipelines/executors/run-as.js';
import type { Decision, Scheduler } from '../../pipelines/triggers/scheduler.js';
import type { Workspace } from '../../workspace/workspace.js';
import { globals } from '../context.js';

export interface SchedulerCliOptions {
  pollMs?: number;
  maxRuns?: number;
  queue?: string;
  /** Who deployed pipelines' code runs as, this process being root (see `userCodeUser`). */
  runAs?: RunAs;
  /** Checks a version's deployer before its user code runs (auth on; see SchedulerOptions). */
  authorizeUserCode?: (run: { pipeline: string; version: number; deployer: string }) => Promise<void>;
  onDecision: (d: Decision) => void;
}

/** A scheduler over the workspace (steps here, or on workers behind `queue`), and how to release what it opened. */
export async function openScheduler(ws: Workspace, o: SchedulerCliOptions): Promise<{ scheduler: Scheduler; close: () => Promise<void> }> {
  return ws.pipelines.openScheduler({
    queue: o.queue, pollMs: o.pollMs, maxRuns: o.maxRuns, onDecision: o.onDecision, ...(o.runAs ? { runAs: o.runAs } : {}),
    ...(o.authorizeUserCode ? { authorizeUserCode: o.authorizeUserCode } : {}),
  });
}

/** `12:00:01.234 started   bike #12 version 3 (cron: …)` */
export function decisionLine(d: Decision): string {
  const who = [d.pipeline, d.trigger === undefined ? '' : `#${d.trigger}`].filter(Boolean).join(' ');
  return `${new Date(d.time).toISOString().slice(11, 23)} ${d.action.padEnd(9)} ${who ? `${who} ` : ''}${d.detail}`;
}

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number ≥ 1, got '${v}'`);
    return n;
  };
}

export function schedulerCommand(): Command {
  return new Command('scheduler')
    .description('run deployed pipelines when their triggers fire — cron schedules, new dataset versions, finished upstream pipelines, API and platform trigger records — under each pipeline\'s concurrency policy')
    .option('--once', 'one pass: record what is due, start what may start, wait for those runs, then exit')
    .option('--poll-ms <ms>', 'time between passes', positiveInt('--poll-ms'), 2000)
    .option('--max-runs <n>', 'pipeline runs at once', positiveInt('--max-runs'), 4)
    .option('--queue <url>', 'run the steps on `trellis worker` processes through this Redis queue (redis://host:port)')
    .option('--run-as <user>', 'when started as root: the user (a name, or uid[:gid]) deployed pipelines\' commands and modules run as; default $TRELLIS_RUN_AS, else nobody. Never root')
    .action(async (o: { once?: boolean; pollMs: number; maxRuns: number; queue?: string; runAs?: string }, c: Command) => {
      const g = globals(c);
      const { userCodeUser } = await import('../../pipelines/executors/run-as.js');
      const user = userCodeUser(o.runAs);
      const { Workspace } = await import('../../workspace/workspace.js');
      const ws = await Workspace.open({ store: g.store, artifacts: g.artifacts });
      const print = (d: Decision) => process.stdout.write(g.json ? `${JSON.stringify(d)}\n` : `${decisionLine(d)}\n`);
      if (!g.json) process.stderr.write(`${user.note}\n`);
      const unreachableHome = user.runAs ? (await import('../../pipelines/executors/run-as.js')).homeWarning(ws.pipelines.packageDir, user.runAs) : undefined;
      if (unreachableHome) process.stderr.write(`warning: ${unreachableHome}\n`);
      // Where users exist (a server with auth shares this store), a deployer's rights are checked as the server checks them.
      const authorizeUserCode = (await ws.identities.inUse()) ? (r: { pipeline: string; version: number; deployer: string }) => ws.identities.authorizeUserCode(r) : undefined;
      const { scheduler, close } = await openScheduler(ws, { pollMs: o.pollMs, maxRuns: o.maxRuns, queue: o.queue, runAs: user.runAs, authorizeUserCode, onDecision: print });
      try {
        if (o.once) {
          await scheduler.tick();
          await scheduler.settled();
          return;
        }
        if (!g.json) process.stderr.write(`scheduler ${scheduler.id} watching ${ws.storeUri} (every ${o.pollMs} ms, at most ${o.maxRuns} runs at once)\n`);
        scheduler.start();
        await new Promise<void>((resolve) => {
          const stop = (sig: NodeJS.Signals) => {
            process.stderr.write(`${sig}: cancelling the runs in progress, then stopping\n`);
            process.once(sig, () => process.exit(1));
            void scheduler.stop({ cancel: true, reason: `the scheduler was stopped (${sig})` }).finally(resolve);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      } finally {
        await close();
        await ws.close();
      }
    });
}
