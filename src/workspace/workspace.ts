/**
 * A workspace: the stores opened from their URIs and the services over them. The server, the
 * embedded SDK and the CLI all start from here.
 */
import { defaultArtifactsUri, defaultStoreUri, openArtifactStore, openMetadataStore } from '../store/open-stores.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { MetadataStore } from '../store/metadata-store.js';
import { TrackingService } from '../tracking/tracking-service.js';
import { RegistryService } from '../registry/registry-service.js';
import { DatasetService } from '../data/datasets.js';

export interface WorkspaceOptions {
  /** `sqlite:<path>` or `postgres://…`; default `$TRELLIS_HOME/trellis.db`. */
  store?: string;
  /** `file:<path>`; default `$TRELLIS_HOME/artifacts`. */
  artifacts?: string;
}

export class Workspace {
  readonly tracking: TrackingService;
  readonly registry: RegistryService;
  readonly data: DatasetService;

  private constructor(readonly meta: MetadataStore, readonly artifacts: ArtifactStore, readonly storeUri: string, readonly artifactsUri: string) {
    this.tracking = new TrackingService(meta, artifacts);
    this.registry = new RegistryService(meta);
    this.data = new DatasetService(meta, artifacts);
  }

  static async open(opts: WorkspaceOptions = {}): Promise<Workspace> {
    const storeUri = opts.store ?? defaultStoreUri();
    const artifactsUri = opts.artifacts ?? defaultArtifactsUri();
    const artifacts = await openArtifactStore(artifactsUri);
    const meta = await openMetadataStore(storeUri);
    return new Workspace(meta, artifacts, storeUri, artifactsUri);
  }

  async close(): Promise<void> {
    await this.meta.close();
    await this.artifacts.close();
  }
}
