/**
 * The script a worker thread or child process starts with: tsx where TypeScript is loaded, then
 * the runner (`step-runner` for one step, `pool-runner` for a warm worker). Works when Trellis
 * itself runs from source (under tsx: the runners are TypeScript too) and from its build in `dist/`.
 */
import { invalid } from '../../core/errors.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const TS_MODULE = /\.(ts|mts|cts|tsx)$/;

/** The URL of a runner module beside this one (`step-runner`, `pool-runner`). */
export function runnerUrl(name: 'step-runner' | 'pool-runner'): string {
  return new URL(`./${name}${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url).href;
}

/** Whether loading `file` (a component module) needs tsx in the thread or process. */
export function needsTsx(file: string): boolean {
  return FROM_SOURCE || TS_MODULE.test(file);
}

let tsxApis: [string, string] | undefined;
function resolveTsx(module: string): [string, string] {
  try {
    tsxApis ??= [import.meta.resolve('tsx/cjs/api'), import.meta.resolve('tsx/esm/api')];
    return tsxApis;
  } catch {
    throw invalid(`component module ${module} is TypeScript, which needs the 'tsx' package next to Trellis: install it (npm install tsx) or compile the component to .js`);
  }
}

/**
 * Registers both of tsx's hooks when `tsx`: a `.ts` file outside an ESM package (no
 * `"type": "module"`) loads as CommonJS. `module` names what needs tsx, for the error when it is missing.
 */
export function bootstrap(tsx: boolean, runner: string, module: string): string {
  if (!tsx) return `import(${JSON.stringify(runner)});`;
  const [cjs, esm] = resolveTsx(module).map((u) => JSON.stringify(u));
  return `Promise.all([import(${cjs}), import(${esm})]).then(([c, e]) => { c.register(); e.register(); return import(${JSON.stringify(runner)}); });`;
}
