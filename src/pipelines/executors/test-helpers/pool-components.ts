/**
 * Components used by the worker pool tests. Each writes to its output `out` a JSON object with the
 * thread it ran on and what it saw, so a test can tell which worker served it and what leaked.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import type { StepContext } from '../component-call.js';

/** Every component here writes the one output `out`. */
type Ctx = StepContext & { outputs: { out: { type: string; path: string } } };

function report(ctx: Ctx, extra: Record<string, unknown> = {}): void {
  writeFileSync(ctx.outputs.out.path, JSON.stringify({
    threadId,
    env: { POOL_TEST: process.env.POOL_TEST ?? null, LEAK: process.env.LEAK ?? null },
    leakedGlobal: typeof (globalThis as Record<string, unknown>).leaked,
    leakedProto: typeof ([] as unknown as Record<string, unknown>).leaked,
    ...extra,
  }));
}

/** Reports what it sees; logs one line naming its step on stdout and one on stderr. */
export async function observe(ctx: Ctx): Promise<void> {
  ctx.log(`step ${ctx.step} says hello`);
  console.error(`step ${ctx.step} on stderr`);
  report(ctx);
}

export async function setsEnv(ctx: Ctx): Promise<void> {
  process.env.LEAK = 'from an earlier step';
  delete process.env.POOL_TEST;
  report(ctx);
}

export async function setsGlobal(ctx: Ctx): Promise<void> {
  (globalThis as Record<string, unknown>).leaked = 'from an earlier step';
  report(ctx);
}

export async function patchesPrototype(ctx: Ctx): Promise<void> {
  Object.defineProperty(Array.prototype, 'leaked', { value: 'from an earlier step', configurable: true });
  report(ctx);
}

/** Leaves a timer running that keeps printing. */
export async function leavesTimer(ctx: Ctx): Promise<void> {
  setInterval(() => console.log(`tick left by step ${ctx.step}`), 1);
  report(ctx);
}

/** Reports its thread, then never returns. */
export async function spinsAfterReport(ctx: Ctx): Promise<void> {
  report(ctx);
  for (;;) { /* busy */ }
}

/** Throws from a timer callback, outside the component's promise: the thread crashes. */
export async function throwsFromTimer(ctx: Ctx): Promise<void> {
  report(ctx);
  await new Promise((_, reject) => {
    setTimeout(() => { throw new Error('thrown from a timer'); }, 1);
    setTimeout(() => reject(new Error('not reached')), 60_000);
  });
}

export async function rejectsUnhandled(ctx: Ctx): Promise<void> {
  report(ctx);
  void Promise.reject(new Error('nobody handles this'));
  await new Promise((resolve) => setTimeout(resolve, 20));
}

export async function exitsThread(ctx: Ctx): Promise<void> {
  report(ctx);
  process.exit(0);
}

/** Waits until `count` steps have reached this point (each drops a file in `dir`), then reports. */
export async function barrier(ctx: Ctx): Promise<void> {
  const dir = ctx.inputs.dir as string;
  writeFileSync(join(dir, ctx.step), '');
  while (readdirSync(dir).length < (ctx.inputs.count as number)) await new Promise((resolve) => setTimeout(resolve, 5));
  report(ctx);
}
