/**
 * The pipeline port: published pipeline versions, and the records of pipeline runs the engine
 * keeps. Drawn apart from tracking because a pipeline's identity (its package hash) and its run
 * state (cache keys, leases, lineage edges) are the engine's own records, which tracking only
 * mirrors as MLflow runs so that MLflow clients can see them. Triggers, which the scheduler writes
 * to ask for a run, are a port of their own (`triggers.ts`).
 *
 * Invariants the adapter owns, each inside one transaction with its audit event:
 * - versions number 1, 2, 3 … per pipeline; the same package (sha256) under the same name is the
 *   same version, returned again with nothing written;
 * - pipeline names are identifiers (letters, digits, `_`, `-`), the concurrency policy one of
 *   `skip`, `queue`, `cancel-previous`.
 */
import type { Actor } from './common.js';

/** A published pipeline: its package (IR and code bundle) stored as an artifact, numbered 1, 2, … per name. */
export interface PipelineVersion {
  name: string;
  version: number;
  /** The IR's own `version` field (a label the author chose). */
  irVersion: string;
  /** sha256 of the package: the identity of the version within its pipeline. */
  packageSha256: string;
  irHash: string;
  /** Artifact-store path of the package JSON. */
  location: string;
  /** The IR's `triggers` (trigger specs as the pipeline declares them). */
  triggers: unknown[];
  /** The IR's concurrency policy: `skip`, `queue` or `cancel-previous`. */
  concurrency: string;
  createdBy: string;
  createdAt: number;
}

export interface CreatePipelineVersionInput {
  name: string;
  irVersion: string;
  packageSha256: string;
  irHash: string;
  location: string;
  triggers?: unknown[];
  concurrency?: string;
}

export interface PipelineStore {
  // ------------------------------------------------------------------ pipeline versions
  /**
   * Records a published package as the pipeline's next version. The same package (sha256) under
   * the same name is the same version: the existing one is returned with `created: false`.
   */
  createPipelineVersion(input: CreatePipelineVersionInput, who: Actor): Promise<{ version: PipelineVersion; created: boolean }>;
  /** A version by number, or the latest when `version` is undefined. */
  getPipelineVersion(name: string, version?: number): Promise<PipelineVersion>;
  /** Oldest first. */
  listPipelineVersions(name: string): Promise<PipelineVersion[]>;
  /** Every pipeline with a version, by name, each as its latest version. */
  listPipelines(): Promise<PipelineVersion[]>;
}
