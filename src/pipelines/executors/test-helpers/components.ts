/** Components used by the executor tests: each export is one behaviour. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { RetryableError } from '../retryable-error.js';
import type { StepContext } from '../step-runner.js';
import type { ArtifactRef as Artifact, StepInput } from '../step-spec.js';

/** A step's context as a component declares it: the inputs it reads and the outputs it writes. */
type Ctx<I extends Record<string, StepInput> = Record<never, never>, O extends string = never> =
  StepContext & { inputs: I; outputs: Record<O, Artifact> };

/** Reads its data input, writes a model file and a report directory, reports metrics and logs. */
export async function train(ctx: Ctx<{ data: Artifact; alpha: number }, 'model' | 'report'>): Promise<void> {
  const data = readFileSync(ctx.inputs.data.path, 'utf8');
  ctx.log(`read ${data.length} bytes; alpha=${ctx.inputs.alpha}`);
  console.error('a line on stderr');
  ctx.metric('rows', data.trim().split('\n').length - 1);
  ctx.metric('alpha_seen', ctx.inputs.alpha);
  writeFileSync(ctx.outputs.model.path, JSON.stringify({ pid: process.pid, threadId, inputs: ctx.inputs, attempt: ctx.attempt }));
  mkdirSync(join(ctx.outputs.report.path, 'plots'), { recursive: true });
  writeFileSync(join(ctx.outputs.report.path, 'index.html'), '<h1>report</h1>');
  writeFileSync(join(ctx.outputs.report.path, 'plots', 'a.svg'), '<svg/>');
}

export async function fails(ctx: Ctx<{ alpha: number }>): Promise<void> {
  ctx.log('about to fail');
  throw new Error(`bad value for alpha: ${ctx.inputs.alpha}`); // USER-THROW
}

/** Counts its attempts in a file; fails with a retryable error until `succeedOn`, or with a plain error when `plain`. */
export async function flaky(ctx: Ctx<{ counter: string; succeedOn: number; plain?: boolean }, 'model'>): Promise<void> {
  const file = ctx.inputs.counter;
  const n = (existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0) + 1;
  writeFileSync(file, String(n));
  if (ctx.inputs.plain) throw new Error(`plain failure ${n}`);
  if (n < ctx.inputs.succeedOn) throw new RetryableError(`database busy (attempt ${n})`);
  writeFileSync(ctx.outputs.model.path, `ok on attempt ${ctx.attempt}`);
}

/** Never returns: a busy loop a timeout must stop. */
export async function spin(ctx: StepContext): Promise<void> {
  ctx.log('spinning');
  for (;;) { /* busy */ }
}

/** Starts a long-lived process, writes its pid, then waits forever. */
export async function spawnsAndHangs(ctx: Ctx<{ pidFile: string }>): Promise<void> {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  writeFileSync(ctx.inputs.pidFile, String(child.pid));
  await new Promise(() => undefined);
}

export async function writesOnlyModel(ctx: Ctx<Record<never, never>, 'model'>): Promise<void> {
  writeFileSync(ctx.outputs.model.path, 'm');
}

export async function exits(_ctx: StepContext): Promise<void> {
  console.error('leaving early');
  process.exit(3);
}

export const notAFunction = 42;
