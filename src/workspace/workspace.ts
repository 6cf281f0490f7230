/**
 * A workspace: the one place where URIs become adapters and adapters become services. The server,
 * the embedded SDK, the CLI, the scheduler and the worker all start here, and see services only —
 * the stores stay inside, so the API, CLI and SDK cannot walk around the services (DESIGN.md §2,
 * checked by `.dependency-cruiser.cjs`). Heavy drivers load only when their URI is used:
 *
 *   store      sqlite:<path> (default $TRELLIS_HOME/trellis.db) or postgres://…
 *   artifacts  file:<path> (default $TRELLIS_HOME/artifacts) or s3://bucket/prefix
 *   queue      inline (steps run in this process; the default) or redis://host:port[/db]
 */
import { join } from 'node:path';
import { TrellisError } from '../core/errors.js';
import { DatasetService } from '../data/datasets.js';
import type { EngineServices } from '../pipelines/engine/engine.js';
import { RegistryService } from '../registry/registry-service.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { defaultArtifactsUri, defaultAuditKeyFile, defaultStoreUri, openArtifactStore, openStores, trellisHome } from '../store/open-stores.js';
import type { Stores } from '../store/stores.js';
import { TrackingService } from '../tracking/tracking-service.js';
import { AuditService } from './audit-service.js';
import { PipelineService } from './pipeline-service.js';
import { TrainingService } from './training-service.js';
import { IdentityService } from '../governance/identities.js';
import { DeploymentService } from '../serving/deployment-service.js';
import { PredictionService } from '../serving/prediction-service.js';

export interface WorkspaceOptions {
  /** `sqlite:<path>` or `postgres://…`; default `$TRELLIS_STORE_URI`, else `$TRELLIS_HOME/trellis.db`. */
  store?: string;
  /** `file:<path>` or `s3://bucket/prefix`; default `$TRELLIS_ARTIFACTS_URI`, else `$TRELLIS_HOME/artifacts`. */
  artifacts?: string;
  /** `inline` or `redis://…`; default `$TRELLIS_QUEUE_URI`, else `inline`. */
  queue?: string;
}

/** `inline`, or a `redis://` / `rediss://` URL; anything else is refused by name before anything opens. */
export function checkQueueUri(uri: string): string {
  if (uri === 'inline' || /^rediss?:\/\/./.test(uri)) return uri;
  throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri, detail: 'a queue is inline or redis://host:port[/db]' });
}

export class Workspace {
  readonly tracking: TrackingService;
  readonly registry: RegistryService;
  readonly data: DatasetService;
  /** The training workflow of `trellis train`, the SDK and the REST API, recorded through the services. */
  readonly training: TrainingService;
  /** Deployed pipelines, their triggers, and the engines that run them (scheduler, worker, runner). */
  readonly pipelines: PipelineService;
  readonly audit: AuditService;
  /** Users, service accounts, roles and API tokens, and the authenticator `trellis server --auth` uses. */
  readonly identities: IdentityService;
  /** Serving endpoints and their routes, as `trellis deployments` changes them and `trellis serve` serves them. */
  readonly deployments: DeploymentService;
  /** What `trellis serve` answered (sampled), and the labels that came back as feedback. */
  readonly predictions: PredictionService;

  private constructor(
    private readonly stores: Stores,
    private readonly artifactStore: ArtifactStore,
    readonly storeUri: string,
    readonly artifactsUri: string,
    readonly queueUri: string,
  ) {
    this.tracking = new TrackingService(stores.tracking, artifactStore, stores.registry);
    this.registry = new RegistryService(stores.registry, stores.tracking, stores.audit, artifactStore);
    this.data = new DatasetService(stores.datasets, artifactStore);
    this.training = new TrainingService(this.tracking, this.registry, this.data);
    this.audit = new AuditService(stores.audit, { keyFile: defaultAuditKeyFile(storeUri) });
    this.identities = new IdentityService(stores.identities, async (e) => (/^\d+$/.test(e) ? (await this.tracking.getExperiment(e)).experimentId : (await this.tracking.getExperimentByName(e)).experimentId));
    this.deployments = new DeploymentService(stores.deployments, this.registry);
    this.predictions = new PredictionService(stores.predictions, { artifacts: artifactStore });
    this.pipelines = new PipelineService(() => this.engineServices(), stores, { queueUri, storeUri, artifactsUri, cacheDir: join(trellisHome(), 'packages') });
  }

  static async open(opts: WorkspaceOptions = {}): Promise<Workspace> {
    const storeUri = opts.store ?? defaultStoreUri();
    const artifactsUri = opts.artifacts ?? defaultArtifactsUri();
    const queueUri = checkQueueUri(opts.queue ?? (process.env.TRELLIS_QUEUE_URI || 'inline'));
    const artifacts = await openArtifactStore(artifactsUri);
    try {
      return new Workspace(await openStores(storeUri), artifacts, storeUri, artifactsUri, queueUri);
    } catch (e) {
      await artifacts.close();
      throw e;
    }
  }

  /** The metadata backend (`sqlite`, `postgres`), for logs and `/version`. */
  get storeKind(): string {
    return this.stores.kind;
  }

  /**
   * What the pipeline engines (runner, scheduler, worker, cache explanations) run on: their own
   * ports — the pipeline records and the trigger records — and this workspace's services for
   * everything else. This is the one place their set is put together.
   */
  private engineServices(): EngineServices {
    this.engine ??= {
      pipelines: this.stores.pipelines, triggers: this.stores.triggers, artifacts: this.artifactStore,
      tracking: this.tracking, registry: this.registry, data: this.data,
    };
    return this.engine;
  }

  private engine?: EngineServices;

  /** Signs a checkpoint of the audit events written since the last one, then closes the stores. */
  async close(): Promise<void> {
    try {
      await this.audit.close();
    } finally {
      await this.stores.close();
      await this.artifactStore.close();
    }
  }
}
