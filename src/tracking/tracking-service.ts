/**
 * Tracking as users see it: searches take MLflow's filter strings, run artifacts are addressed by
 * paths relative to the run. Shared by the REST API, the embedded SDK and the CLI, so each of them
 * parses and checks input the same way.
 */
import type { Readable } from 'node:stream';
import { TrellisError, invalid } from '../core/errors.js';
import { normalizeArtifactPath, parseArtifactUri } from '../store/artifact-path.js';
import type { ArtifactInfo, ArtifactStore } from '../store/artifact-store.js';
import type { Actor, Experiment, MetadataStore, Run, Tags } from '../store/metadata-store.js';
import type { Page, ViewType } from '../store/search-types.js';
import { parseExperimentFilter, parseExperimentOrderBy, parseRunFilter, parseRunOrderBy } from './search/search-filter.js';

export const ARTIFACT_SCHEME = 'mlflow-artifacts';

/** Store path of a run's artifact root, from its `mlflow-artifacts:/<exp>/<run>/artifacts` URI. */
export function artifactStorePath(artifactUri: string): string {
  return parseArtifactUri(artifactUri, [ARTIFACT_SCHEME]).path;
}

export class TrackingService {
  constructor(readonly meta: MetadataStore, readonly artifacts: ArtifactStore) {}

  async createExperiment(name: string, opts: { artifactLocation?: string; tags?: Tags }, who: Actor): Promise<string> {
    let artifactLocation: string | undefined;
    if (opts.artifactLocation) {
      // Trellis owns artifact storage: a location must be under its own artifact proxy, and is
      // recorded in one canonical spelling so that two spellings cannot name the same place.
      const { path } = parseArtifactUri(opts.artifactLocation, [ARTIFACT_SCHEME]);
      if (!path) throw invalid(`Invalid artifact_location '${opts.artifactLocation}': it names the artifact root itself`);
      artifactLocation = `${ARTIFACT_SCHEME}:/${path}`;
    }
    return this.meta.createExperiment({ name, artifactLocation, tags: opts.tags }, who);
  }

  async searchExperiments(q: { filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string; viewType?: ViewType }): Promise<Page<Experiment>> {
    return this.meta.searchExperiments({
      filter: parseExperimentFilter(q.filter),
      orderBy: parseExperimentOrderBy(q.orderBy),
      maxResults: q.maxResults,
      pageToken: q.pageToken,
      viewType: q.viewType,
    });
  }

  async searchRuns(q: { experimentIds: string[]; filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string; viewType?: ViewType }): Promise<Page<Run>> {
    return this.meta.searchRuns({
      experimentIds: q.experimentIds,
      filter: parseRunFilter(q.filter),
      orderBy: parseRunOrderBy(q.orderBy),
      maxResults: q.maxResults,
      pageToken: q.pageToken,
      viewType: q.viewType,
    });
  }

  private async runRoot(runId: string, mustBeActive: boolean): Promise<{ run: Run; root: string }> {
    const run = await this.meta.getRun(runId);
    if (mustBeActive && run.info.lifecycleStage !== 'active') {
      throw new TrellisError('TRELLIS_RUN_NOT_ACTIVE', { id: runId, state: run.info.lifecycleStage });
    }
    return { run, root: artifactStorePath(run.info.artifactUri) };
  }

  async logArtifact(runId: string, path: string, data: Readable | Uint8Array | string): Promise<{ sha256: string; size: number }> {
    const rel = normalizeArtifactPath(path);
    const { root } = await this.runRoot(runId, true);
    return this.artifacts.put(`${root}/${rel}`, data);
  }

  /** Lists a directory of a run's artifacts; paths are relative to the run's artifact root. */
  async listArtifacts(runId: string, path?: string): Promise<{ rootUri: string; files: ArtifactInfo[] }> {
    const rel = normalizeArtifactPath(path ?? '', { allowEmpty: true });
    const { run, root } = await this.runRoot(runId, false);
    const dir = rel ? `${root}/${rel}` : root;
    const files = (await this.artifacts.list(dir)).map((f) => ({ ...f, path: f.path.slice(root.length + 1) }));
    return { rootUri: run.info.artifactUri, files };
  }

  async readArtifact(runId: string, path: string): Promise<Buffer> {
    const rel = normalizeArtifactPath(path);
    const { root } = await this.runRoot(runId, false);
    return this.artifacts.get(`${root}/${rel}`);
  }
}
