/**
 * Deployed pipelines: publishing a package as a pipeline version (the package JSON in the artifact
 * store, then the version record pointing at it), asking for a run through the API, and fetching a
 * deployed version back as files on disk to run. Shared by the CLI, the server and the scheduler.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, rename, rm, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrellisError, invalid } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import type { ArtifactStore } from '../../store/artifact-store.js';
import type { Actor } from '../../store/ports/common.js';
import type { PipelineDeployment, PipelineStore, PipelineVersion } from '../../store/ports/pipelines.js';
import type { TriggerParams, TriggerRecord, TriggerStore } from '../../store/ports/triggers.js';
import type { PipelineIR, Scalar, TriggerSpec } from '../ir.js';
import { lintPipeline } from '../lint.js';
import { unpackPackage, verifyPackage, type PipelinePackage } from '../package.js';

export interface DeployServices {
  /** The pipeline versions. */
  pipelines: Pick<PipelineStore, 'createPipelineVersion' | 'getPipelineVersion' | 'getPipelineDeployment'>;
  /** The trigger records an API request adds to. */
  triggers: Pick<TriggerStore, 'createTrigger'>;
  artifacts: ArtifactStore;
}

/** Where a version's package is kept in the artifact store. */
export function packageLocation(name: string, sha256: string): string {
  return `pipelines/${name}/packages/${sha256}.json`;
}

/**
 * Verifies a package and records it as the pipeline's next version (or finds the version with the
 * same package). A pipeline the linter finds errors in is refused: it could never run.
 */
export async function publishPackage(s: DeployServices, obj: unknown, who: Actor): Promise<{ version: PipelineVersion; created: boolean; package: PipelinePackage }> {
  const pkg = verifyPackage(obj);
  const errors = lintPipeline(pkg.ir).filter((f) => f.severity === 'error');
  if (errors.length) throw new TrellisError('TRELLIS_PACKAGE_INVALID', { field: 'ir', detail: errors.map((f) => f.message).join('; ') });
  const location = packageLocation(pkg.name, pkg.sha256);
  // The bytes first: a version record never points at a package that is not there.
  await s.artifacts.put(location, JSON.stringify(pkg));
  const r = await s.pipelines.createPipelineVersion({
    name: pkg.name, irVersion: pkg.version, packageSha256: pkg.sha256, irHash: pkg.irHash, location,
    triggers: pkg.ir.triggers ?? [], concurrency: pkg.ir.concurrency ?? 'queue',
  }, who);
  return { ...r, package: pkg };
}

/**
 * The version a pipeline's triggers run (the pinned one after a rollback, else the newest in
 * service) with its deployment; refused, saying how to bring one back, when none is in service.
 */
export async function activeVersion(s: { pipelines: Pick<PipelineStore, 'getPipelineVersion' | 'getPipelineDeployment'> }, name: string): Promise<{ version: PipelineVersion; deployment: PipelineDeployment }> {
  const deployment = await s.pipelines.getPipelineDeployment(name);
  if (deployment.active === null) {
    const why = deployment.undeployed ? 'is undeployed' : 'has every version withdrawn';
    throw invalid(`pipeline '${name}' ${why}: deploy a version (trellis pipelines deploy) or roll back to one (trellis pipelines rollback ${name} --to <version>)`);
  }
  return { version: await s.pipelines.getPipelineVersion(name, deployment.active), deployment };
}

/** The verified package of a deployed version, read back from the artifact store. */
export async function fetchPackage(s: DeployServices, v: PipelineVersion): Promise<PipelinePackage> {
  const pkg = verifyPackage(JSON.parse((await s.artifacts.get(v.location)).toString('utf8')));
  if (pkg.sha256 !== v.packageSha256) {
    throw new TrellisError('TRELLIS_PACKAGE_INVALID', { field: 'sha256', detail: `${v.location} holds package ${pkg.sha256}, but ${v.name} version ${v.version} is ${v.packageSha256}` });
  }
  return pkg;
}

/**
 * The files of a deployed version on disk, under `cacheDir/<package sha256>`: unpacked once, into a
 * temporary folder renamed into place, and checked file by file before each use.
 */
export async function materialise(s: DeployServices, v: PipelineVersion, cacheDir: string): Promise<{ ir: PipelineIR; baseDir: string; package: PipelinePackage }> {
  const pkg = await fetchPackage(s, v);
  const dir = join(cacheDir, pkg.sha256);
  const entry = join(dir, ...pkg.entry.split('/'));
  if (!(await intact(pkg, dir))) {
    const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
    await unpackPackage(pkg, tmp);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir).catch(async (e: unknown) => {
      // Another scheduler on this host unpacked the same package meanwhile.
      await rm(tmp, { recursive: true, force: true });
      if (!(await intact(pkg, dir))) throw e;
    });
  }
  await linkTrellis(dir);
  return { ir: pkg.ir, baseDir: dirname(entry), package: pkg };
}

/** This installation of Trellis: what `import … from 'trellis/pipelines'` in a deployed component means. */
const TRELLIS_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A package depends on `trellis` (its components import the SDK), and the Trellis that runs it is
 * this one: `node_modules/trellis` in the unpacked folder links to it, unless the package brings
 * its own.
 */
export async function linkTrellis(dir: string): Promise<void> {
  const link = join(dir, 'node_modules', 'trellis');
  if (await lstat(link).then(() => true, () => false)) return;
  await mkdir(dirname(link), { recursive: true });
  await symlink(TRELLIS_ROOT, link, 'dir').catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e; // another scheduler on this host linked it meanwhile
  });
}

async function intact(pkg: PipelinePackage, dir: string): Promise<boolean> {
  for (const f of pkg.files) {
    const p = join(dir, ...f.path.split('/'));
    if (!existsSync(p) || sha256Hex(await readFile(p)) !== f.sha256) return false;
  }
  return true;
}

/**
 * Parameter values as the pipeline declares them: text from a command line or a query string
 * becomes a number or a boolean where the parameter is one. Unknown names are refused.
 */
export function coerceParams(ir: PipelineIR, given: Record<string, unknown>): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  for (const [k, v] of Object.entries(given)) {
    const decl = ir.params.find((p) => p.name === k);
    if (!decl) throw invalid(`pipeline '${ir.name}' has no parameter '${k}'; it has ${ir.params.map((p) => p.name).join(', ') || 'none'}`);
    if (typeof v === 'string' && (decl.type === 'number' || decl.type === 'integer')) {
      const n = v.trim() === '' ? Number.NaN : Number(v);
      if (!Number.isFinite(n) || (decl.type === 'integer' && !Number.isInteger(n))) throw invalid(`parameter '${k}' of pipeline '${ir.name}' takes ${decl.type === 'integer' ? 'an integer' : 'a number'}, got '${v}'`);
      out[k] = n;
    } else if (typeof v === 'string' && decl.type === 'boolean') {
      if (v !== 'true' && v !== 'false') throw invalid(`parameter '${k}' of pipeline '${ir.name}' takes true or false, got '${v}'`);
      out[k] = v === 'true';
    } else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else throw invalid(`parameter '${k}' of pipeline '${ir.name}' takes a ${decl.type}, got ${v === null ? 'null' : typeof v}`);
  }
  return out;
}

/**
 * Records an API trigger: the pipeline's latest version must declare `{ api: true }`; the values
 * given are checked against its parameters and laid over the trigger's own `params`.
 */
export async function requestTrigger(
  s: DeployServices, req: { pipeline: string; params?: Record<string, unknown>; reason?: string; dedupeKey?: string }, who: Actor,
): Promise<{ trigger: TriggerRecord; created: boolean }> {
  const { version: v } = await activeVersion(s, req.pipeline);
  const api = (v.triggers as TriggerSpec[]).find((t): t is Extract<TriggerSpec, { api: true }> => 'api' in t && t.api === true);
  if (!api) throw invalid(`pipeline '${v.name}' (version ${v.version}) does not accept API triggers: add { api: true } to its triggers`);
  const { ir } = await fetchPackage(s, v);
  const params: TriggerParams = { ...(api.params ?? {}), ...coerceParams(ir, req.params ?? {}) };
  return s.triggers.createTrigger({
    pipeline: v.name, kind: 'api', params, reason: req.reason || `requested by ${who.actor}`,
    ...(req.dedupeKey ? { dedupeKey: req.dedupeKey } : {}),
  }, who);
}
