/**
 * A tiny deployable pipeline for the trigger, scheduler and package tests: one TypeScript (plain
 * .mjs) step that can wait for a file to exist before it ends, so a test decides when a run is over.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { setTimeout as sleep } from 'node:timers/promises';

export const WAIT_MJS = `import { existsSync, writeFileSync } from 'node:fs';
export async function wait(ctx) {
  if (ctx.inputs.mark) writeFileSync(ctx.inputs.mark, 'started');
  while (ctx.inputs.gate && !existsSync(ctx.inputs.gate)) await new Promise((r) => setTimeout(r, 20));
  ctx.metric('repeat', ctx.inputs.repeat);
  writeFileSync(ctx.outputs.done.path, String(ctx.inputs.label).repeat(ctx.inputs.repeat));
}
`;

export interface TinyOptions {
  triggers?: unknown[];
  concurrency?: string;
  /** Extra top-level fields of the pipeline document. */
  extra?: Record<string, unknown>;
}

/** Writes `<dir>/<name>/tiny.pipeline.yaml` and its component module; returns the pipeline file's path. */
export function writeTinyPipeline(dir: string, name: string, o: TinyOptions = {}): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'components'), { recursive: true });
  writeFileSync(join(root, 'components', 'wait.mjs'), WAIT_MJS);
  const doc = {
    format: 'trellis.pipeline/v1',
    name,
    params: [
      { name: 'gate', type: 'string', default: '' },
      { name: 'mark', type: 'string', default: '' },
      { name: 'label', type: 'string', default: 'x' },
      { name: 'repeat', type: 'integer', default: 1 },
    ],
    components: [{
      kind: 'typescript', name: 'wait', version: '1', module: './components/wait.mjs', export: 'wait',
      inputs: { gate: { type: 'string' }, mark: { type: 'string' }, label: { type: 'string' }, repeat: { type: 'integer' } },
      outputs: { done: { type: 'File' } },
    }],
    steps: [{
      name: 'wait', component: 'wait', cache: { enabled: false },
      inputs: { gate: { param: 'gate' }, mark: { param: 'mark' }, label: { param: 'label' }, repeat: { param: 'repeat' } },
    }],
    ...(o.triggers ? { triggers: o.triggers } : {}),
    ...(o.concurrency ? { concurrency: o.concurrency } : {}),
    ...o.extra,
  };
  const file = join(root, 'tiny.pipeline.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

/** Waits until `cond` holds (polling; the test runner's timeout bounds it). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, pollMs = 20): Promise<void> {
  for (let i = 0; ; i++) {
    if (await cond()) return;
    if (i > 0 && i % 1500 === 0) process.stderr.write(`still waiting for ${what}\n`);
    await sleep(pollMs);
  }
}

export const fileExists = (p: string) => () => existsSync(p);
