/**
 * The registry as users see it, and the only door to the registry port for the API, the CLI, the
 * SDK and the engines: filter strings parsed, model version sources checked before they are
 * recorded, references (`name@alias`, `name/3`, `name@latest`) resolved one way, registration of
 * a run's model in one call, alias and stage history answered from the audit chain. A version's
 * files are bound to their digests when it is created, and every read of them through
 * {@link RegistryService.readVersionFile} checks the bytes against those digests.
 */
import { TrellisError, isTrellisError } from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';
import { parseModelRef, parseRef, refErrors, type ParsedRef } from '../core/refs.js';
import { normalizeArtifactPath, parseArtifactUri } from '../store/artifact-path.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { excerpt } from '../store/limits.js';
import type { AuditLog } from '../store/ports/audit.js';
import type { Actor, Page, Tags } from '../store/ports/common.js';
import type { CreateModelVersionInput, ModelFileDigest, ModelVersion, RegisteredModel, RegistryStore, Stage } from '../store/ports/registry.js';
import type { Run, TrackingStore } from '../store/ports/tracking.js';
import { parseModelFilter, parseModelOrderBy, parseModelVersionFilter, parseModelVersionOrderBy } from '../tracking/search/search-filter.js';
import { modelHistory, type HistoryInterval } from './history.js';

const ARTIFACT_SCHEME = 'mlflow-artifacts';

const NOT_FOUND = new Set(['TRELLIS_MODEL_NOT_FOUND', 'TRELLIS_MODEL_VERSION_NOT_FOUND', 'TRELLIS_ALIAS_NOT_FOUND']);

/** Undefined for "no such model, version or alias"; any other failure goes on. */
async function orMissing<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isTrellisError(e) && NOT_FOUND.has(e.code)) return undefined;
    throw e;
  }
}

/** A version's file as read, before its bytes are checked against the digest recorded for them. */
export interface UnverifiedFile {
  bytes: Buffer;
  /**
   * The sha256 (hex) the bytes must have; null when the file was not there when the version was
   * created (no bytes pass); undefined for a version created before digests were recorded (its
   * files are not checked).
   */
  expected: string | null | undefined;
  /** The error for bytes whose sha256 is `actual` (TRELLIS_MODEL_DIGEST_MISMATCH). */
  mismatch(actual: string): TrellisError;
}

export interface RegisterRunOptions {
  name: string;
  /** The run whose artifacts hold the model (its id, or the run itself when the caller has it). */
  run: string | Run;
  /** Where under the run's artifact root the model is (`model`, `outputs/model`). */
  artifactPath: string;
  description?: string;
  tags?: Tags;
  /** Point this alias at the version (moved only when it points elsewhere). */
  alias?: string;
  /** Reuse the version already registered from this run, so that a re-run never registers twice. */
  reuse?: boolean;
}

/** What resolving a model reference reads. */
export type ModelRefStore = Pick<RegistryStore, 'getRegisteredModel' | 'getModelVersion' | 'getLatestVersions' | 'searchModelVersions'>;

/** The version numbers of a model, in order (for errors that list them). */
async function versionNumbers(store: ModelRefStore, name: string): Promise<number[]> {
  const page = await store.searchModelVersions({ filter: [{ kind: 'attribute', key: 'name', comparator: '=', value: name }], maxResults: 1000 });
  return page.items.map((v) => Number(v.version)).sort((a, b) => a - b);
}

/**
 * The model version a reference names (see `core/refs.ts`), read through a registry port: the one
 * resolution behind {@link RegistryService.resolve} and lineage. Not-found errors keep the store's
 * codes and name what is missing: the model, the version (with the versions there are) or the
 * alias (with the aliases there are).
 */
export async function resolveModelVersion(store: ModelRefStore, ref: string | ParsedRef): Promise<ModelVersion> {
  const p = typeof ref === 'string' ? parseModelRef(ref) : ref;
  const { name, selector } = p;
  if (!selector) return resolveModelVersion(store, parseModelRef(name));
  let model: RegisteredModel;
  try {
    model = await store.getRegisteredModel(name);
  } catch (e) {
    if (isTrellisError(e) && e.code === 'TRELLIS_MODEL_NOT_FOUND') throw refErrors.noModel(name);
    throw e;
  }
  if (selector.kind === 'latest') {
    // The newest of the newest per stage is the newest of all.
    const newest = (await store.getLatestVersions(name)).sort((a, b) => Number(b.version) - Number(a.version))[0];
    if (!newest) throw refErrors.noModelVersion(name, 'latest', []);
    return newest;
  }
  const version = selector.kind === 'version' ? String(selector.version) : model.aliases[selector.alias];
  if (version === undefined) throw refErrors.noAlias(name, (selector as { alias: string }).alias, Object.keys(model.aliases).sort());
  try {
    return await store.getModelVersion(name, version);
  } catch (e) {
    if (isTrellisError(e) && e.code === 'TRELLIS_MODEL_VERSION_NOT_FOUND') throw refErrors.noModelVersion(name, version, await versionNumbers(store, name));
    throw e;
  }
}

/** What names a version whose files are read: its model, its number and its source. */
export type ModelFileOwner = Pick<ModelVersion, 'name' | 'version' | 'source'>;

/** The store path of a model version's source (`mlflow-artifacts:/<exp>/<run>/artifacts/…`). */
export function modelSourcePath(source: string): string {
  return parseArtifactUri(source, [ARTIFACT_SCHEME]).path;
}

export class RegistryService {
  constructor(
    private readonly store: RegistryStore,
    private readonly runs: Pick<TrackingStore, 'getRun'>,
    private readonly audit: AuditLog,
    /** Where versions' files are: their digests are recorded from it, and their reads checked against them. */
    private readonly artifacts?: ArtifactStore,
  ) {}

  // ------------------------------------------------------------------ models

  createModel(input: { name: string; description?: string; tags?: Tags }, who: Actor): Promise<RegisteredModel> {
    return this.store.createRegisteredModel(input, who);
  }

  getModel(name: string): Promise<RegisteredModel> {
    return this.store.getRegisteredModel(name);
  }

  /** The model, or undefined when there is none of that name. */
  findModel(name: string): Promise<RegisteredModel | undefined> {
    return orMissing(this.store.getRegisteredModel(name));
  }

  /** The model of that name, created when there is none (two writers racing both get the one created). */
  async ensureModel(name: string, who: Actor): Promise<RegisteredModel> {
    const found = await this.findModel(name);
    if (found) return found;
    try {
      return await this.store.createRegisteredModel({ name }, who);
    } catch (e) {
      if (isTrellisError(e) && e.code === 'TRELLIS_MODEL_EXISTS') return this.store.getRegisteredModel(name);
      throw e;
    }
  }

  async searchModels(q: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }): Promise<Page<RegisteredModel>> {
    return this.store.searchRegisteredModels({ filter: parseModelFilter(q.filter), orderBy: parseModelOrderBy(q.orderBy), maxResults: q.maxResults, pageToken: q.pageToken });
  }

  renameModel(name: string, newName: string, who: Actor): Promise<RegisteredModel> {
    return this.store.renameRegisteredModel(name, newName, who);
  }

  updateModel(name: string, description: string, who: Actor): Promise<RegisteredModel> {
    return this.store.updateRegisteredModel(name, description, who);
  }

  deleteModel(name: string, who: Actor): Promise<void> {
    return this.store.deleteRegisteredModel(name, who);
  }

  setModelTag(name: string, key: string, value: string, who: Actor): Promise<void> {
    return this.store.setRegisteredModelTag(name, key, value, who);
  }

  deleteModelTag(name: string, key: string, who: Actor): Promise<void> {
    return this.store.deleteRegisteredModelTag(name, key, who);
  }

  getLatestVersions(name: string, stages?: string[]): Promise<ModelVersion[]> {
    return this.store.getLatestVersions(name, stages);
  }

  // ------------------------------------------------------------------ versions

  async searchVersions(q: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }): Promise<Page<ModelVersion>> {
    return this.store.searchModelVersions({ filter: parseModelVersionFilter(q.filter), orderBy: parseModelVersionOrderBy(q.orderBy), maxResults: q.maxResults, pageToken: q.pageToken });
  }

  /**
   * A version's source must name artifacts Trellis holds for a run: `runs:/<run_id>/<path>`, a
   * `mlflow-artifacts:` URI inside a run's artifact root, or `models:/<name>/<version>` (or
   * `@<alias>`) for the same files as an existing version. Anything else — local paths, other
   * schemes, traversal — is refused, because serving will later read whatever the source names.
   */
  async createVersion(input: CreateModelVersionInput, who: Actor): Promise<ModelVersion> {
    const { source, runId } = await this.checkSource(input.source, input.runId);
    return this.store.createModelVersion({ ...input, source, runId, files: await this.digestsOf(source) }, who);
  }

  /**
   * The digests of every file under a source, as the artifact store recorded them when they were
   * written (its reads prove the bytes still match them); none without an artifact store.
   */
  private async digestsOf(source: string): Promise<ModelFileDigest[]> {
    if (!this.artifacts) return [];
    const root = modelSourcePath(source);
    const files: ModelFileDigest[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const f of await this.artifacts!.list(dir)) {
        if (f.isDir) await walk(f.path);
        else if (f.sha256 !== undefined && f.size !== undefined) files.push({ path: f.path.slice(root.length + 1), sha256: f.sha256, size: f.size });
      }
    };
    await walk(root);
    return files;
  }

  /** The digests recorded for a version's files; undefined for a version created before they were recorded. */
  versionFiles(name: string, version: string): Promise<ModelFileDigest[] | undefined> {
    return this.store.getModelVersionFiles(name, version);
  }

  /**
   * A file under a version's source (`model.json`), checked against the digest recorded when the
   * version was created: changed bytes, or a file that was not there then, are refused with
   * TRELLIS_MODEL_DIGEST_MISMATCH. The one door every load of a registered model goes through.
   * A version created before digests were recorded (schema version 11) has none: its files are
   * read unchecked, as they were before.
   */
  async readVersionFile(v: ModelFileOwner, path: string): Promise<Buffer> {
    const f = await this.readVersionFileUnverified(v, path);
    if (f.expected !== undefined) {
      const actual = sha256Hex(f.bytes);
      if (actual !== f.expected) throw f.mismatch(actual);
    }
    return f.bytes;
  }

  /**
   * {@link readVersionFile} without its last step, for a caller that hashes the bytes elsewhere
   * (the serving engine does, in its loading worker) and must check them against `expected` before
   * it uses them, refusing them with `mismatch(actual)`: the error readVersionFile gives.
   */
  async readVersionFileUnverified(v: ModelFileOwner, path: string): Promise<UnverifiedFile> {
    if (!this.artifacts) throw new Error('RegistryService was made without an artifact store: it cannot read model files');
    const rel = normalizeArtifactPath(path);
    const recorded = await this.store.getModelVersionFiles(v.name, v.version);
    const bytes = await this.artifacts.get(`${modelSourcePath(v.source)}/${rel}`);
    const want = recorded?.find((f) => f.path === rel);
    return {
      bytes,
      expected: recorded === undefined ? undefined : want?.sha256 ?? null,
      mismatch: (actual) => new TrellisError('TRELLIS_MODEL_DIGEST_MISMATCH', {
        name: excerpt(v.name), version: v.version, file: excerpt(rel), expected: want ? want.sha256.slice(0, 12) : '(none: the file was not there)', actual: actual.slice(0, 12),
      }),
    };
  }

  getVersion(name: string, version: string): Promise<ModelVersion> {
    return this.store.getModelVersion(name, version);
  }

  updateVersion(name: string, version: string, description: string, who: Actor): Promise<ModelVersion> {
    return this.store.updateModelVersion(name, version, description, who);
  }

  deleteVersion(name: string, version: string, who: Actor): Promise<void> {
    return this.store.deleteModelVersion(name, version, who);
  }

  transitionStage(name: string, version: string, stage: Stage, archiveExisting: boolean, who: Actor): Promise<ModelVersion> {
    return this.store.transitionStage(name, version, stage, archiveExisting, who);
  }

  setVersionTag(name: string, version: string, key: string, value: string, who: Actor): Promise<void> {
    return this.store.setModelVersionTag(name, version, key, value, who);
  }

  deleteVersionTag(name: string, version: string, key: string, who: Actor): Promise<void> {
    return this.store.deleteModelVersionTag(name, version, key, who);
  }

  setAlias(name: string, alias: string, version: string, who: Actor): Promise<void> {
    return this.store.setAlias(name, alias, version, who);
  }

  deleteAlias(name: string, alias: string, who: Actor): Promise<void> {
    return this.store.deleteAlias(name, alias, who);
  }

  getVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    return this.store.getVersionByAlias(name, alias);
  }

  /**
   * A version by reference, in the one syntax of `core/refs.ts`: `name@alias`, `name@3` or
   * `name@v3`, `name@latest` (the newest version) or `name/3`. A reference that does not parse is
   * refused; one that names nothing is a not-found error naming the model, version or alias missing.
   */
  resolve(ref: string | ParsedRef): Promise<ModelVersion> {
    return resolveModelVersion(this.store, ref);
  }

  /**
   * A model, or a version of it, by reference: a bare `name` is the model alone; `name@3`,
   * `name@alias`, `name@latest` and `name/3` also select that version.
   */
  async lookup(ref: string): Promise<{ model: RegisteredModel; version?: ModelVersion }> {
    const p = parseRef(ref);
    const version = p.selector ? await resolveModelVersion(this.store, p) : undefined;
    try {
      return { model: await this.store.getRegisteredModel(p.name), version };
    } catch (e) {
      if (isTrellisError(e, 'TRELLIS_MODEL_NOT_FOUND')) throw refErrors.noModel(p.name);
      throw e;
    }
  }

  /** Like {@link resolve}, with undefined when the model, version or alias does not exist. */
  find(ref: string): Promise<ModelVersion | undefined> {
    return orMissing(this.resolve(ref));
  }

  /**
   * Registers the model a run holds at `artifactPath` as a version of `name` (the model created on
   * first use) and points `alias` at it. With `reuse`, the version already made from that run is
   * returned instead of a new one. Given the run itself, nothing is read back to build the source.
   */
  async registerRun(o: RegisterRunOptions, who: Actor): Promise<{ version: ModelVersion; created: boolean }> {
    const run = typeof o.run === 'string' ? await this.runs.getRun(o.run) : o.run;
    const runId = run.info.runId;
    await this.ensureModel(o.name, who);
    let version: ModelVersion | undefined;
    if (o.reuse) {
      const made = (await this.searchVersions({ filter: `name = '${o.name.replace(/'/g, "\\'")}' and run_id = '${runId}'`, maxResults: 1000 })).items;
      version = made.sort((a, b) => Number(a.version) - Number(b.version))[0];
    }
    const created = !version;
    if (!version) {
      const source = `${run.info.artifactUri}/${o.artifactPath}`;
      version = await this.store.createModelVersion({
        name: o.name, source, runId, description: o.description, tags: o.tags, files: await this.digestsOf(source),
      }, who);
    }
    if (o.alias && !version.aliases.includes(o.alias)) {
      const current = await orMissing(this.store.getVersionByAlias(o.name, o.alias));
      if (current?.version !== version.version) {
        await this.store.setAlias(o.name, o.alias, version.version, who);
        version = { ...version, aliases: [...version.aliases, o.alias] };
      }
    }
    return { version, created };
  }

  /**
   * `models:/<name>/<version>` and `models:/<name>@<alias>` (what MLflow clients send to copy a
   * version) stand for the files of that version: its recorded source and run id are checked again
   * here like any other source, never taken on trust, so a copy names exactly what the original does.
   */
  async checkSource(source: string, runId?: string, allowModels = true): Promise<{ source: string; runId?: string }> {
    if (typeof source !== 'string' || !source) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'source' });
    let parsed: { scheme: string; path: string };
    try {
      parsed = parseArtifactUri(source, allowModels ? ['runs', ARTIFACT_SCHEME, 'models'] : ['runs', ARTIFACT_SCHEME]);
    } catch (e) {
      throw new TrellisError('TRELLIS_SOURCE_INVALID', { source: excerpt(source), detail: (e as Error).message }, { cause: e });
    }
    if (parsed.scheme === 'models') {
      const original = await this.modelSource(source, parsed.path);
      if (runId && original.runId && runId !== original.runId) {
        throw new TrellisError('TRELLIS_SOURCE_INVALID', { source: excerpt(source), detail: `the version it names comes from run ${original.runId} but run_id is ${excerpt(runId)}` });
      }
      return this.checkSource(original.source, original.runId ?? runId, false);
    }
    if (parsed.scheme === 'runs') {
      const [id, ...rest] = parsed.path.split('/');
      if (!id) throw new TrellisError('TRELLIS_SOURCE_INVALID', { source: excerpt(source), detail: 'runs:/ needs a run id' });
      if (runId && runId !== id) throw new TrellisError('TRELLIS_SOURCE_INVALID', { source: excerpt(source), detail: `the source names run ${excerpt(id)} but run_id is ${excerpt(runId)}` });
      const run = await this.runs.getRun(id);
      return { source: rest.length ? `${run.info.artifactUri}/${rest.join('/')}` : run.info.artifactUri, runId: id };
    }
    // mlflow-artifacts:/<exp>/<run>/artifacts/...
    const [, owner] = parsed.path.split('/');
    if (runId) {
      const run = await this.runs.getRun(runId);
      const root = parseArtifactUri(run.info.artifactUri, [ARTIFACT_SCHEME]).path;
      if (parsed.path !== root && !parsed.path.startsWith(`${root}/`)) {
        throw new TrellisError('TRELLIS_SOURCE_INVALID', { source: excerpt(source), detail: `it is not inside the artifacts of run ${excerpt(runId)}` });
      }
      return { source: `${ARTIFACT_SCHEME}:/${parsed.path}`, runId };
    }
    if (owner) {
      try {
        const run = await this.runs.getRun(owner);
        const root = parseArtifactUri(run.info.artifactUri, [ARTIFACT_SCHEME]).path;
        if (parsed.path === root || parsed.path.startsWith(`${root}/`)) return { source: `${ARTIFACT_SCHEME}:/${parsed.path}`, runId: owner };
      } catch {
        /* fall through to the refusal below */
      }
    }
    throw new TrellisError('TRELLIS_SOURCE_INVALID', { source: excerpt(source), detail: 'it is not inside the artifacts of a run; pass run_id or use runs:/<run_id>/<path>' });
  }

  /** The version a `models:` source names (`<name>/<version>` or `<name>@<alias>`); unknown ones are not-found errors. */
  private async modelSource(source: string, ref: string): Promise<ModelVersion> {
    // `models://host/...` names another registry; this one only answers for itself.
    if (/^models:\/\//i.test(source)) throw new TrellisError('TRELLIS_SOURCE_INVALID', { source: excerpt(source), detail: 'a models: URI names no host; write models:/<name>/<version>' });
    const at = ref.lastIndexOf('@');
    const slash = ref.lastIndexOf('/');
    if (at > 0 && at > slash && at < ref.length - 1) return this.store.getVersionByAlias(ref.slice(0, at), ref.slice(at + 1));
    if (slash > 0 && /^\d+$/.test(ref.slice(slash + 1))) return this.store.getModelVersion(ref.slice(0, slash), ref.slice(slash + 1));
    throw new TrellisError('TRELLIS_SOURCE_INVALID', { source: excerpt(source), detail: 'a models: source is models:/<name>/<version> or models:/<name>@<alias>' });
  }

  async history(name: string, filter: { alias?: string; stage?: string } = {}): Promise<HistoryInterval[]> {
    await this.store.getRegisteredModel(name);
    return modelHistory(this.audit, name, filter);
  }
}
