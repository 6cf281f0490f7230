/** Components used by the executor tests: each export is one behaviour. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { RetryableError } from '../retryable-error.js';
import type { StepContext } from '../step-runner.js';

type Artifact = { type: string; path: string };

/** Reads its data input, writes a model file and a report directory, reports metrics and logs. */
export async function train(ctx: StepContext): Promise<void> {
  const data = readFileSync((ctx.inputs.data as Artifact).path, 'utf8');
  ctx.log(`read ${data.length} bytes; alpha=${ctx.inputs.alpha}`);
  console.error('a line on stderr');
  ctx.metric('rows', data.trim().split('\n').length - 1);
  ctx.metric('alpha_seen', ctx.inputs.alpha as number);
  writeFileSync(ctx.outputs.model.path, JSON.stringify({ pid: process.pid, threadId, inputs: ctx.inputs, attempt: ctx.attempt }));
  mkdirSync(join(ctx.outputs.report.path, 'plots'), { recursive: true });
  writeFileSync(join(ctx.outputs.report.path, 'index.html'), '<h1>report</h1>');
  writeFileSync(join(ctx.outputs.report.path, 'plots', 'a.svg'), '<svg/>');
}

export async function fails(ctx: StepContext): Promise<void> {
  ctx.log('about to fail');
  throw new Error(`bad value for alpha: ${ctx.inputs.alpha}`); // USER-THROW
}

/** Counts its attempts in a file; fails with a retryable error until `succeedOn`, or with a plain error when `plain`. */
export async function flaky(ctx: StepContext): Promise<void> {
  const file = ctx.inputs.counter as string;
  const n = (existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0) + 1;
  writeFileSync(file, String(n));
  if (ctx.inputs.plain) throw new Error(`plain failure ${n}`);
  if (n < (ctx.inputs.succeedOn as number)) throw new RetryableError(`database busy (attempt ${n})`);
  writeFileSync(ctx.outputs.model.path, `ok on attempt ${ctx.attempt}`);
}

/** Never returns: a busy loop a timeout must stop. */
export async function spin(ctx: StepContext): Promise<void> {
  ctx.log('spinning');
  for (;;) { /* busy */ }
}

/** Starts a long-lived process, writes its pid, then waits forever. */
export async function spawnsAndHangs(ctx: StepContext): Promise<void> {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  writeFileSync(ctx.inputs.pidFile as string, String(child.pid));
  await new Promise(() => undefined);
}

export async function writesOnlyModel(ctx: StepContext): Promise<void> {
  writeFileSync(ctx.outputs.model.path, 'm');
}

export async function exits(ctx: StepContext): Promise<void> {
  console.error('leaving early');
  process.exit(3);
}

export const notAFunction = 42;
