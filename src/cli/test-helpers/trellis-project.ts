/**
 * A project as `trellis init` writes it, installed as `npm install` would lay it out — without the
 * network: node_modules/trellis is this checkout, and its dependency tsx and the project's
 * development dependencies (typescript, @types/node) are Trellis's own copies. And the CLI run from
 * source in a child process, asynchronously, so a server in the test's own process can answer it.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
/** tsx's loader by absolute URL: the CLI runs with its cwd in the project, where `tsx` is not a bare specifier Node can resolve. */
const TSX = import.meta.resolve('tsx');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((done, fail) => {
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
      cwd: opts.cwd, env: { ...env, TRELLIS_USER: 'tester', TRELLIS_LOG_LEVEL: 'silent', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString('utf8'); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString('utf8'); });
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

/** Links the packages an installed project would have: trellis (this checkout), tsx, typescript, @types/node. */
export function linkInstalled(dir: string): void {
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules', 'trellis'));
  for (const p of ['tsx', 'typescript', '@types/node']) symlinkSync(join(ROOT, 'node_modules', p), join(dir, 'node_modules', p));
}

/** `trellis init` into a fresh temp folder (`<tmp>/<name>`), then the links; returns the project folder. */
export async function initProject(name: string, extra: string[] = []): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'trellis-init-')), name);
  const r = await cli(['init', dir, ...extra]);
  if (r.code !== 0) throw new Error(`trellis init failed (${r.code}): ${r.stderr}`);
  linkInstalled(dir);
  return dir;
}
