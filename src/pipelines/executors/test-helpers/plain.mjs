// A JavaScript component, loaded without tsx.
import { writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';

export async function run(ctx) {
  ctx.metric('answer', 42);
  writeFileSync(ctx.outputs.out.path, JSON.stringify({ pid: process.pid, threadId, language: 'javascript' }));
}
