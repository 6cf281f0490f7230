/**
 * Compiles a module and every relative import it reaches to JavaScript under `out`, mirroring
 * src/ (as `tsc` writes dist/), without type checking. Lets tests and benchmarks run the executors
 * as they run from the build, without depending on (or disturbing) a full `npm run build`.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../../../', import.meta.url));
const NODE_MODULES = fileURLToPath(new URL('../../../../node_modules', import.meta.url));

/** Writes `<out>/dist/…` and a package.json, and links node_modules; returns the compiled entry's path. */
export function buildInto(entry: string, out: string): string {
  const todo = [entry];
  const done = new Set<string>();
  while (todo.length) {
    const file = todo.pop()!;
    if (done.has(file)) continue;
    done.add(file);
    const source = readFileSync(file, 'utf8');
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 }, fileName: file }).outputText;
    const target = join(out, 'dist', relative(SRC, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
    for (const m of source.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) todo.push(resolve(dirname(file), `${m[1]}.ts`));
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  symlinkSync(NODE_MODULES, join(out, 'node_modules'));
  return join(out, 'dist', relative(SRC, entry)).replace(/\.ts$/, '.js');
}
