/**
 * The component-test stage of `trellis ci`: the project's own tests, run the way the project would
 * run them — `*.test.ts`/`*.test.js`/`*.test.mjs` with `node --test` (TypeScript through tsx), and
 * Python `test_*.py` with `python3 -m unittest` — each in a child process, never in this one.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { invalid } from '../../core/errors.js';

/** Folders beside the pipeline searched for tests when no glob is given. */
export const TEST_FOLDERS = ['tests', 'components'] as const;

const JS_TEST = /\.test\.(ts|mts|js|mjs)$/;
const PY_TEST = /^test_.*\.py$/;
const SKIP = new Set(['node_modules', '.git', '.trellis', 'dist']);

export interface TestRun {
  runner: 'node' | 'python';
  files: string[];
  passed: boolean;
  /** Names of the tests that failed, as the runner reported them. */
  failures: string[];
  /** The runner's output (stdout and stderr), its last 20,000 characters. */
  output: string;
}

export interface ComponentTestsResult {
  /** What was searched: the glob, or the default folders. */
  searched: string;
  runs: TestRun[];
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    if (SKIP.has(name) || name.startsWith('.')) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, out);
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** A glob (`**`, `*`, `?`, `{a,b}`) as a regular expression over `/`-separated relative paths. */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` matches any number of folders, including none.
      if (glob[i + 2] === '/') { re += '(?:.*/)?'; i += 2; } else { re += '.*'; i += 1; }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) throw invalid(`--tests '${glob}': '{' without a closing '}'`);
      re += `(?:${glob.slice(i + 1, end).split(',').map((x) => x.replace(/[.+^$()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')).join('|')})`;
      i = end;
    } else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The test files of a project: those matching `glob` under `baseDir`, or those in its default test folders. */
export function findTestFiles(baseDir: string, glob?: string): { js: string[]; python: string[]; searched: string } {
  const base = resolve(baseDir);
  let files: string[];
  let searched: string;
  if (glob) {
    const re = globRegExp(glob.replace(/^\.\//, ''));
    files = walk(base).filter((f) => re.test(relative(base, f).split(sep).join('/')));
    searched = glob;
  } else {
    files = TEST_FOLDERS.map((d) => join(base, d)).filter((d) => existsSync(d) && statSync(d).isDirectory()).flatMap((d) => walk(d));
    searched = TEST_FOLDERS.map((d) => `${d}/`).join(', ');
  }
  const name = (f: string) => f.slice(f.lastIndexOf(sep) + 1);
  files.sort();
  return { js: files.filter((f) => JS_TEST.test(name(f))), python: files.filter((f) => PY_TEST.test(name(f))), searched };
}

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; output: string; spawnError?: Error }> {
  return new Promise((done) => {
    // Under a test runner itself, NODE_TEST_CONTEXT would make the child report in the runner's own protocol.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const add = (b: Buffer) => {
      output += b.toString('utf8');
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    child.on('error', (e) => done({ code: null, output, spawnError: e }));
    child.on('close', (code) => done({ code, output }));
  });
}

/**
 * The failed tests in TAP, at any depth: `name: first line of the error`. A suite failing only
 * because tests inside it failed is left out (those tests are named); a test file that could not
 * run at all is named by its path.
 */
export function tapFailures(tap: string): string[] {
  const lines = tap.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)not ok \d+ - (.+?)(?:\s+# .*)?$/.exec(lines[i]!);
    if (!m) continue;
    let parent = false;
    let error = '';
    // The YAML block after the line: `---` … `...`, indented two more than the test line.
    if (lines[i + 1]?.trim() === '---') {
      for (let j = i + 2; j < lines.length && lines[j]!.trim() !== '...'; j++) {
        const l = lines[j]!.trim();
        if (/^failureType: 'subtestsFailed'/.test(l)) parent = true;
        const e = /^error: (.*)$/.exec(l);
        if (e && !error) error = /^[|>]-?$/.test(e[1]!) ? blockText(lines, j) : e[1]!.replace(/^'(.*)'$/, '$1');
      }
    }
    if (!parent) out.push(error ? `${m[2]!.trim()}: ${error}` : m[2]!.trim());
  }
  return [...new Set(out)];
}

/** A YAML block scalar starting after line `at`: its lines (those indented deeper), non-empty ones joined, at most 300 characters. */
function blockText(lines: readonly string[], at: number): string {
  const indent = (l: string) => l.length - l.trimStart().length;
  const own = indent(lines[at]!);
  const out: string[] = [];
  for (let k = at + 1; k < lines.length && (lines[k]!.trim() === '' || indent(lines[k]!) > own); k++) if (lines[k]!.trim()) out.push(lines[k]!.trim());
  const text = out.join(' ');
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}

/** The names of failed Python tests: unittest's `FAIL: test_x (module.Class.test_x)` and `ERROR:` lines. */
export function unittestFailures(output: string): string[] {
  return [...new Set([...output.matchAll(/^(?:FAIL|ERROR): (.+)$/gm)].map((m) => m[1]!.trim()))];
}

/** tsx's loader (both its ESM and CommonJS hooks), as installed beside Trellis. */
function tsxLoader(): string | undefined {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return undefined;
  }
}

/** Runs the project's tests; `tsxImport` is the `tsx` loader to give `node --import` for TypeScript tests. */
export async function runComponentTests(baseDir: string, o: { glob?: string; tsxImport?: string } = {}): Promise<ComponentTestsResult> {
  const cwd = resolve(baseDir);
  const tsxImport = o.tsxImport ?? tsxLoader();
  const found = findTestFiles(cwd, o.glob);
  const runs: TestRun[] = [];
  if (found.js.length) {
    const rel = found.js.map((f) => relative(cwd, f));
    const needsTsx = found.js.some((f) => /\.m?ts$/.test(f));
    if (needsTsx && !tsxImport) throw invalid("TypeScript tests need the 'tsx' package next to Trellis: install it (npm install tsx)");
    const args = [...(needsTsx ? ['--import', tsxImport!] : []), '--test', '--test-reporter=tap', ...rel];
    const r = await run(process.execPath, args, cwd);
    const failures = r.code === 0 ? [] : tapFailures(r.output);
    runs.push({ runner: 'node', files: rel, passed: r.code === 0, failures: r.code === 0 ? [] : failures.length ? failures : [`node --test exited with code ${r.code}`], output: r.output.slice(-20_000) });
  }
  if (found.python.length) {
    // One unittest discovery per folder holding tests, so modules import their neighbours as they would there.
    for (const dir of [...new Set(found.python.map((f) => dirname(f)))]) {
      const files = found.python.filter((f) => dirname(f) === dir).map((f) => relative(cwd, f));
      const r = await run('python3', ['-m', 'unittest', 'discover', '-s', dir, '-t', dir, '-p', 'test_*.py'], cwd);
      if (r.spawnError) {
        throw invalid(`Python tests (${files.join(', ')}) need python3, which could not be started: ${r.spawnError.message}`);
      }
      const failures = r.code === 0 ? [] : unittestFailures(r.output);
      runs.push({ runner: 'python', files, passed: r.code === 0, failures: r.code === 0 ? [] : failures.length ? failures : [`python3 -m unittest exited with code ${r.code}`], output: r.output.slice(-20_000) });
    }
  }
  return { searched: found.searched, runs };
}
