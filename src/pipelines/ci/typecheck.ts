/**
 * The type-check stage of `trellis ci`: the TypeScript compiler over the pipeline file and the
 * modules of its TypeScript components, with the project's tsconfig.json (beside the pipeline, or
 * at the project root) or strict defaults. `typescript` is the user's development dependency, not
 * Trellis's runtime one: it is imported only here, from the project first, and its absence is
 * reported as such.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { invalid } from '../../core/errors.js';
import type { PipelineIR } from '../ir.js';

type Ts = typeof import('typescript');

export interface TypeProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export interface TypeCheckResult {
  /** The files given to the compiler as roots (absolute). */
  files: string[];
  /** The tsconfig.json whose compiler options were used, or null for the strict defaults. */
  tsconfig: string | null;
  problems: TypeProblem[];
}

const TS_FILE = /\.(ts|mts|cts|tsx)$/i;

/** The project root: the nearest folder at or above `dir` holding a package.json (else `dir`). */
export function projectRoot(dir: string): string {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) return resolve(dir);
  }
}

/** The pipeline file (when TypeScript) and the TypeScript component modules it names. */
export function typeScriptFiles(pipelineFile: string, ir: PipelineIR): string[] {
  const baseDir = dirname(resolve(pipelineFile));
  const files = new Set<string>();
  if (TS_FILE.test(pipelineFile)) files.add(resolve(pipelineFile));
  for (const c of ir.components) {
    if (c.kind !== 'typescript') continue;
    const path = c.module.startsWith('file:') ? fileURLToPath(c.module) : isAbsolute(c.module) ? c.module : resolve(baseDir, c.module);
    if (TS_FILE.test(path)) files.add(path);
  }
  return [...files];
}

/** `typescript` from the project (its own version), else from beside Trellis; a clear error when neither has it. */
export async function loadTypeScript(projectDir: string): Promise<Ts> {
  const tries = [() => createRequire(join(projectDir, 'package.json')).resolve('typescript'), () => createRequire(import.meta.url).resolve('typescript')];
  for (const t of tries) {
    let path: string;
    try {
      path = t();
    } catch {
      continue;
    }
    const mod = (await import(pathToFileURL(path).href)) as Ts & { default?: Ts };
    return mod.default ?? mod;
  }
  throw invalid("type-checking TypeScript needs the 'typescript' package: add it to the project (npm install --save-dev typescript)");
}

/** Strict defaults for a project without a tsconfig.json. */
const DEFAULTS = {
  target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, esModuleInterop: true,
};

export async function typeCheck(pipelineFile: string, ir: PipelineIR, opts: { cwd?: string } = {}): Promise<TypeCheckResult> {
  const files = typeScriptFiles(pipelineFile, ir);
  if (!files.length) return { files, tsconfig: null, problems: [] };
  const pipelineDir = dirname(resolve(pipelineFile));
  const root = projectRoot(pipelineDir);
  const ts = await loadTypeScript(root);
  const tsconfig = [join(pipelineDir, 'tsconfig.json'), join(root, 'tsconfig.json')].find((f) => existsSync(f)) ?? null;
  let options: import('typescript').CompilerOptions;
  const problems: TypeProblem[] = [];
  const cwd = opts.cwd ?? process.cwd();
  const show = (f: string) => (relative(cwd, f).startsWith('..') ? f : relative(cwd, f));
  if (tsconfig) {
    const read = ts.readConfigFile(tsconfig, (f) => ts.sys.readFile(f));
    if (read.error) return { files, tsconfig, problems: [diagnostic(ts, read.error, show)] };
    const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, dirname(tsconfig), undefined, tsconfig);
    // "No inputs were found" (18003) concerns the config's own include list, which is not used here.
    const errors = parsed.errors.filter((d) => d.code !== 18003);
    if (errors.length) return { files, tsconfig, problems: errors.map((d) => diagnostic(ts, d, show)) };
    options = parsed.options;
  } else {
    options = ts.convertCompilerOptionsFromJson(DEFAULTS, pipelineDir).options;
  }
  // Checked, never written: settings that only concern emitting would refuse files outside rootDir.
  options = { ...options, noEmit: true, composite: false, incremental: false, declaration: false, declarationMap: false, sourceMap: false };
  delete options.rootDir;
  delete options.outDir;
  delete options.tsBuildInfoFile;
  const program = ts.createProgram({ rootNames: files, options });
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (d.category === ts.DiagnosticCategory.Error) problems.push(diagnostic(ts, d, show));
  }
  return { files, tsconfig, problems };
}

function diagnostic(ts: Ts, d: import('typescript').Diagnostic, show: (f: string) => string): TypeProblem {
  const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
  if (!d.file || d.start === undefined) return { file: '', line: 0, column: 0, message: `TS${d.code}: ${message}` };
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
  return { file: show(d.file.fileName), line: line + 1, column: character + 1, message: `TS${d.code}: ${message}` };
}

/** `pipeline.ts:12:5 TS2322: Type 'string' is not assignable to type 'number'.` */
export function formatTypeProblem(p: TypeProblem): string {
  return p.file ? `${p.file}:${p.line}:${p.column} ${p.message}` : p.message;
}
