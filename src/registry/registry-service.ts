/**
 * The registry as users see it: filter strings parsed, model version sources checked before they
 * are recorded, alias and stage history answered from the audit chain.
 */
import { TrellisError } from '../core/errors.js';
import { parseArtifactUri } from '../store/artifact-path.js';
import type { Actor, CreateModelVersionInput, MetadataStore, ModelVersion, RegisteredModel } from '../store/metadata-store.js';
import type { Page } from '../store/search-types.js';
import { modelHistory, type HistoryInterval } from './history.js';
import { parseModelFilter, parseModelOrderBy, parseModelVersionFilter, parseModelVersionOrderBy } from '../tracking/search/search-filter.js';

const ARTIFACT_SCHEME = 'mlflow-artifacts';

export class RegistryService {
  constructor(readonly meta: MetadataStore) {}

  async searchModels(q: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }): Promise<Page<RegisteredModel>> {
    return this.meta.searchRegisteredModels({ filter: parseModelFilter(q.filter), orderBy: parseModelOrderBy(q.orderBy), maxResults: q.maxResults, pageToken: q.pageToken });
  }

  async searchVersions(q: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }): Promise<Page<ModelVersion>> {
    return this.meta.searchModelVersions({ filter: parseModelVersionFilter(q.filter), orderBy: parseModelVersionOrderBy(q.orderBy), maxResults: q.maxResults, pageToken: q.pageToken });
  }

  /**
   * A version's source must name artifacts Trellis holds for a run: `runs:/<run_id>/<path>` or a
   * `mlflow-artifacts:` URI inside a run's artifact root. Anything else — local paths, other
   * schemes, traversal — is refused, because serving will later read whatever the source names.
   */
  async createVersion(input: CreateModelVersionInput, who: Actor): Promise<ModelVersion> {
    const { source, runId } = await this.checkSource(input.source, input.runId);
    return this.meta.createModelVersion({ ...input, source, runId }, who);
  }

  async checkSource(source: string, runId?: string): Promise<{ source: string; runId?: string }> {
    if (typeof source !== 'string' || !source) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'source' });
    let parsed: { scheme: string; path: string };
    try {
      parsed = parseArtifactUri(source, ['runs', ARTIFACT_SCHEME]);
    } catch (e) {
      throw new TrellisError('TRELLIS_SOURCE_INVALID', { source, detail: (e as Error).message }, { cause: e });
    }
    if (parsed.scheme === 'runs') {
      const [id, ...rest] = parsed.path.split('/');
      if (!id) throw new TrellisError('TRELLIS_SOURCE_INVALID', { source, detail: 'runs:/ needs a run id' });
      if (runId && runId !== id) throw new TrellisError('TRELLIS_SOURCE_INVALID', { source, detail: `the source names run ${id} but run_id is ${runId}` });
      const run = await this.meta.getRun(id);
      return { source: rest.length ? `${run.info.artifactUri}/${rest.join('/')}` : run.info.artifactUri, runId: id };
    }
    // mlflow-artifacts:/<exp>/<run>/artifacts/...
    const [, owner] = parsed.path.split('/');
    if (runId) {
      const run = await this.meta.getRun(runId);
      const root = parseArtifactUri(run.info.artifactUri, [ARTIFACT_SCHEME]).path;
      if (parsed.path !== root && !parsed.path.startsWith(`${root}/`)) {
        throw new TrellisError('TRELLIS_SOURCE_INVALID', { source, detail: `it is not inside the artifacts of run ${runId}` });
      }
      return { source: `${ARTIFACT_SCHEME}:/${parsed.path}`, runId };
    }
    if (owner) {
      try {
        const run = await this.meta.getRun(owner);
        const root = parseArtifactUri(run.info.artifactUri, [ARTIFACT_SCHEME]).path;
        if (parsed.path === root || parsed.path.startsWith(`${root}/`)) return { source: `${ARTIFACT_SCHEME}:/${parsed.path}`, runId: owner };
      } catch {
        /* fall through to the refusal below */
      }
    }
    throw new TrellisError('TRELLIS_SOURCE_INVALID', { source, detail: 'it is not inside the artifacts of a run; pass run_id or use runs:/<run_id>/<path>' });
  }

  async history(name: string, filter: { alias?: string; stage?: string } = {}): Promise<HistoryInterval[]> {
    return this.meta.getRegisteredModel(name).then(() => modelHistory(this.meta, name, filter));
  }
}
