/**
 * The pipeline package, `trellis.pipeline-package/v1`: what a deployment publishes and a scheduler
 * runs. One JSON document holding the IR and the files the pipeline needs beyond the platform (its
 * pipeline file, TypeScript component modules, scripts its commands name), each with its sha256,
 * and the sha256 of the whole package over its canonical JSON. Files are small code, not data:
 * data belongs in dataset versions, which the pipeline reads by name.
 *
 * `verifyPackage` trusts nothing in the document: paths are checked before anything is written,
 * every hash is recomputed, and the IR is validated and hashed again; each refusal names its field.
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { TrellisError, invalid } from '../core/errors.js';
import { canonicalJson, sha256Hex } from '../core/hash.js';
import { formatPath, pipelineHash, validatePipeline, type PipelineIR } from './ir.js';
import { loadPipelineFile } from './load.js';

export const PACKAGE_FORMAT = 'trellis.pipeline-package/v1';

/** Bounds that keep a package a small code bundle (and under the server's 16 MiB body limit once base64-encoded). */
export const PACKAGE_LIMITS = { files: 500, fileBytes: 4 * 1024 * 1024, totalBytes: 8 * 1024 * 1024 } as const;

export interface PipelinePackageFile {
  /** Relative to the pipeline file's folder, `/`-separated. */
  path: string;
  sha256: string;
  /** Permission bits (e.g. 0o755 for a script). */
  mode: number;
  contentBase64: string;
}

export interface PipelinePackage {
  format: 'trellis.pipeline-package/v1';
  name: string;
  /** The IR's version. */
  version: string;
  irHash: string;
  ir: PipelineIR;
  /** Path of the pipeline file inside the bundle. */
  entry: string;
  files: PipelinePackageFile[];
  trellisVersion: string;
  /** sha256 of the canonical JSON of all fields but sha256. */
  sha256: string;
}

const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

let cachedVersion: string | undefined;
function trellisVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0';
  return cachedVersion;
}

/** The package's own hash: over every field but `sha256`. */
export function packageHash(pkg: Omit<PipelinePackage, 'sha256'> & { sha256?: string }): string {
  const { sha256: _ignored, ...body } = pkg;
  return sha256Hex(canonicalJson(body));
}

// ---------------------------------------------------------------------------------------------
// Building

/**
 * Packages a pipeline file: its IR, the file itself, the modules of its TypeScript components, the
 * files its command components name in their argv (resolved from their workdir) that exist under
 * the pipeline's folder, and whatever `include` names (files or folders, relative to that folder).
 * A TypeScript module given as an absolute path is recorded relative to the folder in the packaged IR.
 */
export async function buildPackage(pipelineFile: string, opts: { include?: string[] } = {}): Promise<PipelinePackage> {
  const file = resolve(pipelineFile);
  const loaded = await loadPipelineFile(pipelineFile);
  const root = dirname(file);
  const realRoot = await realpath(root);
  const files = new Map<string, string>();

  /** The `/`-separated path of `abs` under the pipeline folder, or undefined when it lies outside. */
  const under = async (abs: string): Promise<string | undefined> => {
    const real = await realpath(abs).catch(() => undefined);
    if (!real) return undefined;
    const rel = relative(realRoot, real);
    if (!rel || rel.startsWith('..') || isAbsolute(rel)) return undefined;
    return rel.split(sep).join('/');
  };
  const add = async (abs: string, what: string): Promise<string> => {
    const rel = await under(abs);
    if (!rel) throw invalid(`${what} ${abs} is outside the pipeline's folder ${root}: a package holds only files under it`);
    files.set(rel, abs);
    return rel;
  };

  const entry = await add(file, 'the pipeline file');
  const ir = structuredClone(loaded.ir);
  for (const c of ir.components) {
    if (c.kind === 'typescript') {
      const absolute = c.module.startsWith('file:') || isAbsolute(c.module);
      const abs = c.module.startsWith('file:') ? fileURLToPath(c.module) : resolve(root, c.module);
      if (!existsSync(abs) || !(await stat(abs)).isFile()) throw invalid(`component '${c.name}@${c.version}': module ${c.module} not found (looked at ${abs})`);
      const rel = await add(abs, `component '${c.name}@${c.version}': module`);
      if (absolute) c.module = `./${rel}`;
    } else if (c.kind === 'command') {
      const wd = c.workdir ? resolve(root, c.workdir) : root;
      for (const arg of c.command) {
        if (!arg || arg.includes('{')) continue;
        const abs = resolve(wd, arg);
        if (!existsSync(abs) || !(await stat(abs)).isFile()) continue;
        if (await under(abs)) await add(abs, `component '${c.name}@${c.version}': file`);
      }
    }
  }
  for (const inc of opts.include ?? []) {
    const abs = resolve(root, inc);
    if (!existsSync(abs)) throw invalid(`include '${inc}': no such file or folder (looked at ${abs})`);
    if ((await stat(abs)).isDirectory()) {
      if (!(await under(abs)) && (await realpath(abs)) !== realRoot) throw invalid(`include '${inc}': ${abs} is outside the pipeline's folder ${root}`);
      for (const f of await walk(abs)) await add(f, `include '${inc}': file`);
    } else await add(abs, `include '${inc}':`);
  }

  const ordered = [...files.keys()].sort();
  if (ordered.length > PACKAGE_LIMITS.files) throw invalid(`the package would hold ${ordered.length} files; at most ${PACKAGE_LIMITS.files}`);
  let total = 0;
  const out: PipelinePackageFile[] = [];
  for (const rel of ordered) {
    const abs = files.get(rel)!;
    const bytes = await readFile(abs);
    if (bytes.length > PACKAGE_LIMITS.fileBytes) {
      throw invalid(`file '${rel}' is ${MiB(bytes.length)}; a package holds files of at most ${MiB(PACKAGE_LIMITS.fileBytes)}: keep data in dataset versions, not in the package`);
    }
    total += bytes.length;
    if (total > PACKAGE_LIMITS.totalBytes) throw invalid(`the package's files exceed ${MiB(PACKAGE_LIMITS.totalBytes)} in all (at '${rel}'): keep data in dataset versions, not in the package`);
    out.push({ path: rel, sha256: sha256Hex(bytes), mode: (await stat(abs)).mode & 0o777, contentBase64: bytes.toString('base64') });
  }
  const normal = validatePipeline(ir, loaded.sourceName);
  const body: Omit<PipelinePackage, 'sha256'> = {
    format: PACKAGE_FORMAT, name: normal.name, version: normal.version, irHash: pipelineHash(normal), ir: normal,
    entry, files: out, trellisVersion: trellisVersion(),
  };
  return { ...body, sha256: packageHash(body) };
}

/** Every file under `dir`, skipping hidden entries and node_modules; symbolic links are followed only to files. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.startsWith('.') || e.name === 'node_modules') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile() || (e.isSymbolicLink() && (await stat(p).then((s) => s.isFile(), () => false)))) out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Verifying

const SHA = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256: 64 lowercase hex digits');
const packageSchema = z.strictObject({
  format: z.literal(PACKAGE_FORMAT, { error: `expected '${PACKAGE_FORMAT}'` }),
  name: z.string().min(1),
  version: z.string().min(1),
  irHash: SHA,
  ir: z.record(z.string(), z.unknown(), { error: 'expected the pipeline IR (an object)' }),
  entry: z.string().min(1),
  files: z.array(z.strictObject({
    path: z.string(),
    sha256: SHA,
    mode: z.number().int().min(0).max(0o777, 'expected permission bits from 0 to 0o777'),
    contentBase64: z.string(),
  })).min(1, 'a package holds at least its pipeline file'),
  trellisVersion: z.string().min(1),
  sha256: SHA,
});

const refuse = (field: string, detail: string) => new TrellisError('TRELLIS_PACKAGE_INVALID', { field, detail });

/** Why a path may not be written inside the unpack folder, or undefined when it is safe. */
export function packagePathProblem(p: string): string | undefined {
  if (!p) return 'an empty path';
  if (p.length > 1024) return 'a path longer than 1024 characters';
  if (p.includes('\0')) return 'a NUL in the path';
  if (p.includes('\\')) return 'a backslash in the path (use /)';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'an absolute path';
  const parts = p.split('/');
  if (parts.includes('..')) return "a '..' segment, which would escape the package";
  if (parts.some((s) => s === '' || s === '.')) return "an empty or '.' segment";
  return undefined;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Checks a package received from outside and returns it typed: the structure, every path, every
 * file's size and sha256, the package's sha256, the IR and its hash. Throws TRELLIS_PACKAGE_INVALID
 * naming the first field that does not hold.
 */
export function verifyPackage(obj: unknown): PipelinePackage {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw refuse('(package)', 'expected a JSON object');
  const r = packageSchema.safeParse(obj);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const keys = i.code === 'unrecognized_keys' ? i.keys : [];
    const m = i.message.replace(/^Invalid input: /, '');
    return fail(i.path.length ? formatPath(i.path) : '(package)', keys.length ? `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}`
      : i.code === 'invalid_type' && /received undefined$/.test(m) ? `missing (${m.replace(/, received undefined$/, '')})` : m.replace(/, received /, ', got '));
  }
  const pkg = r.data;
  if (pkg.files.length > PACKAGE_LIMITS.files) throw refuse('files', `${pkg.files.length} files; a package holds at most ${PACKAGE_LIMITS.files}`);
  const seen = new Map<string, number>();
  let total = 0;
  pkg.files.forEach((f, i) => {
    const problem = packagePathProblem(f.path);
    if (problem) throw refuse(`files[${i}].path`, `'${f.path.slice(0, 200)}' is refused: ${problem}`);
    if (seen.has(f.path)) throw refuse(`files[${i}].path`, `'${f.path}' appears twice (also files[${seen.get(f.path)}])`);
    seen.set(f.path, i);
    if (f.contentBase64.length % 4 !== 0 || !BASE64.test(f.contentBase64)) throw refuse(`files[${i}].contentBase64`, `the content of '${f.path}' is not valid base64`);
    const bytes = Buffer.from(f.contentBase64, 'base64');
    if (bytes.length > PACKAGE_LIMITS.fileBytes) throw refuse(`files[${i}].contentBase64`, `'${f.path}' is ${MiB(bytes.length)}; at most ${MiB(PACKAGE_LIMITS.fileBytes)}`);
    total += bytes.length;
    if (total > PACKAGE_LIMITS.totalBytes) throw refuse('files', `more than ${MiB(PACKAGE_LIMITS.totalBytes)} of files in all`);
    const actual = sha256Hex(bytes);
    if (actual !== f.sha256) throw refuse(`files[${i}].sha256`, `the content of '${f.path}' hashes to ${actual}, not the recorded ${f.sha256}: the file was altered`);
  });
  if (!seen.has(pkg.entry)) throw refuse('entry', `'${pkg.entry.slice(0, 200)}' is not one of the package's files`);
  const actual = packageHash(pkg as unknown as PipelinePackage);
  if (actual !== pkg.sha256) throw refuse('sha256', `the package hashes to ${actual}, not the recorded ${pkg.sha256}: a field was altered after packaging`);
  let ir: PipelineIR;
  try {
    ir = validatePipeline(pkg.ir, `'${pkg.name}' (in the package)`);
  } catch (e) {
    throw refuse('ir', (e as Error).message);
  }
  if (ir.name !== pkg.name) throw refuse('name', `'${pkg.name}' differs from the IR's name '${ir.name}'`);
  if (ir.version !== pkg.version) throw refuse('version', `'${pkg.version}' differs from the IR's version '${ir.version}'`);
  const irHash = pipelineHash(ir);
  if (irHash !== pkg.irHash) throw refuse('irHash', `the IR hashes to ${irHash}, not the recorded ${pkg.irHash}`);
  const base = dirname(pkg.entry);
  ir.components.forEach((c, i) => {
    if (c.kind !== 'typescript') return;
    const inside = c.module.startsWith('file:') || isAbsolute(c.module) ? undefined : join(base, c.module).split(sep).join('/');
    if (!inside || !seen.has(inside)) {
      throw refuse(`ir.components[${i}].module`, `component '${c.name}@${c.version}' loads ${c.module}, which is not a file of the package`);
    }
  });
  return { ...pkg, format: PACKAGE_FORMAT, ir };
}

function fail(field: string, detail: string): never {
  throw refuse(field, detail);
}

// ---------------------------------------------------------------------------------------------
// Unpacking

/** Writes the package's files under `dir` (created if needed) and returns the path of its pipeline file. */
export async function unpackPackage(pkg: PipelinePackage, dir: string): Promise<string> {
  const root = resolve(dir);
  for (const [i, f] of pkg.files.entries()) {
    const problem = packagePathProblem(f.path);
    if (problem) throw refuse(`files[${i}].path`, `'${f.path.slice(0, 200)}' is refused: ${problem}`);
    const target = join(root, ...f.path.split('/'));
    await mkdir(dirname(target), { recursive: true });
    // A symbolic link planted at the target would redirect the write outside the folder.
    if (await lstat(target).then((s) => s.isSymbolicLink(), () => false)) throw refuse(`files[${i}].path`, `'${f.path}' is a symbolic link in ${root}`);
    await writeFile(target, Buffer.from(f.contentBase64, 'base64'));
    // Never writable by others: the code of a deployed pipeline may run as another user than the unpacker.
    await chmod(target, f.mode & 0o755);
  }
  return join(root, ...pkg.entry.split('/'));
}
