/**
 * The registry port: registered models, their numbered versions, stages and aliases. Drawn apart
 * from tracking as MLflow draws its model registry store: a version points at a run (and the
 * adapter checks that the run exists) but its life — stages, aliases, deletion — is the registry's.
 *
 * Invariants the adapter owns, each inside one transaction with its audit event:
 * - versions number 1, 2, 3 … within a model and a number is never reused after a deletion;
 * - an alias points at exactly one version and moves atomically; deleting a version drops its
 *   aliases (each drop audited);
 * - `archiveExisting` archives the other versions in the target stage in the same transaction;
 * - alias names exclude `latest` and `v<number>`, which are references, not aliases;
 * - a version's file digests are written in the transaction that creates it and never change.
 */
import type { Actor, Page, SearchQuery, Tags } from './common.js';

export type Stage = 'None' | 'Staging' | 'Production' | 'Archived';

export type ModelVersionStatus = 'PENDING_REGISTRATION' | 'FAILED_REGISTRATION' | 'READY';

export interface ModelVersion {
  name: string;
  version: string;
  creationTimestamp: number;
  lastUpdatedTimestamp: number;
  userId?: string;
  currentStage: Stage;
  description?: string;
  source: string;
  runId?: string;
  runLink?: string;
  status: ModelVersionStatus;
  statusMessage?: string;
  tags: Tags;
  aliases: string[];
}

export interface RegisteredModel {
  name: string;
  creationTimestamp: number;
  lastUpdatedTimestamp: number;
  userId?: string;
  description?: string;
  tags: Tags;
  aliases: Record<string, string>;
  latestVersions: ModelVersion[];
}

/**
 * A file under a model version's source as it was when the version was created: its path relative
 * to the source, the sha256 of its bytes and their size. Every later load is checked against it.
 */
export interface ModelFileDigest {
  path: string;
  sha256: string;
  size: number;
}

export interface CreateModelVersionInput {
  name: string;
  source: string;
  /** The files under `source`, recorded with the version in its transaction. */
  files?: ModelFileDigest[];
  runId?: string;
  runLink?: string;
  description?: string;
  tags?: Tags;
}

export interface RegistryStore {
  // Registered models
  createRegisteredModel(input: { name: string; description?: string; tags?: Tags }, who: Actor): Promise<RegisteredModel>;
  getRegisteredModel(name: string): Promise<RegisteredModel>;
  searchRegisteredModels(q: SearchQuery): Promise<Page<RegisteredModel>>;
  renameRegisteredModel(name: string, newName: string, who: Actor): Promise<RegisteredModel>;
  updateRegisteredModel(name: string, description: string, who: Actor): Promise<RegisteredModel>;
  /** Deletes the model with its versions, tags and aliases. */
  deleteRegisteredModel(name: string, who: Actor): Promise<void>;
  setRegisteredModelTag(name: string, key: string, value: string, who: Actor): Promise<void>;
  deleteRegisteredModelTag(name: string, key: string, who: Actor): Promise<void>;
  getLatestVersions(name: string, stages?: string[]): Promise<ModelVersion[]>;

  // Model versions
  /** The next number of the model; a `runId` must name an existing run. */
  createModelVersion(input: CreateModelVersionInput, who: Actor): Promise<ModelVersion>;
  getModelVersion(name: string, version: string): Promise<ModelVersion>;
  /**
   * The files recorded when the version was created, sorted by path. Undefined when none were: a
   * version created before digests were recorded (schema version 11), or from an empty source;
   * loads of its files keep working, unchecked.
   */
  getModelVersionFiles(name: string, version: string): Promise<ModelFileDigest[] | undefined>;
  updateModelVersion(name: string, version: string, description: string, who: Actor): Promise<ModelVersion>;
  deleteModelVersion(name: string, version: string, who: Actor): Promise<void>;
  searchModelVersions(q: SearchQuery): Promise<Page<ModelVersion>>;
  transitionStage(name: string, version: string, stage: Stage, archiveExisting: boolean, who: Actor): Promise<ModelVersion>;
  setModelVersionTag(name: string, version: string, key: string, value: string, who: Actor): Promise<void>;
  deleteModelVersionTag(name: string, version: string, key: string, who: Actor): Promise<void>;
  setAlias(name: string, alias: string, version: string, who: Actor): Promise<void>;
  deleteAlias(name: string, alias: string, who: Actor): Promise<void>;
  getVersionByAlias(name: string, alias: string): Promise<ModelVersion>;
}
