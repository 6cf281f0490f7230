// A TypeScript component in a CommonJS package (no "type": "module").
import { writeFileSync } from 'node:fs';

export async function run(ctx: { outputs: { out: { path: string } } }): Promise<void> {
  writeFileSync(ctx.outputs.out.path, 'typescript, commonjs');
}
