/**
 * The dataset port: named datasets, their content-addressed versions, their schema documents and
 * the index of data subjects. Drawn apart from tracking because a dataset version lives on its own
 * (runs refer to it by digest as an input, pipelines by name and number) and because erasure must
 * find every version holding a subject without reading any run.
 *
 * Invariants the adapter owns, each inside one transaction with its audit event:
 * - versions number 1, 2, 3 … per dataset; the same content (sha256) under the same name is the
 *   same version, returned again with nothing written;
 * - a dataset's subject column is declared once, by its first version;
 * - schema documents number 1, 2, 3 … per dataset and at most one is pinned.
 */
import type { Actor } from './common.js';

export interface Dataset {
  name: string;
  creationTime: number;
  lastUpdateTime: number;
  description?: string;
  /** The column holding data-subject ids, indexed so that erasure can find every version holding a subject. */
  subjectColumn?: string;
  latestVersion?: number;
}

export interface DatasetVersion {
  name: string;
  version: number;
  /** sha256 of the stored file: the version's identity. */
  sha256: string;
  format: string;
  rows: number;
  columns: number;
  sizeBytes: number;
  /** Where the bytes came from (a path or URI), for people; the artifact is the truth. */
  source: string;
  /** Artifact-store path of the content. */
  artifactPath: string;
  createdBy: string;
  creationTime: number;
  /** The inferred schema (a JSON document). */
  schema: unknown;
  /** The profile (a JSON document). */
  profile: unknown;
  /** Upstream lineage: e.g. the run or dataset version this one was derived from. */
  lineage?: Record<string, string>;
}

/** What a new version records; the store adds its number, creator and time. */
export interface CreateDatasetVersionInput extends Omit<DatasetVersion, 'version' | 'createdBy' | 'creationTime'> {
  description?: string;
  subjectColumn?: string;
  /** Distinct subject ids found in the subject column. */
  subjects?: string[];
}

export interface DatasetSchemaDoc {
  name: string;
  /** Schema documents are numbered per dataset: 1, 2, 3 … */
  schemaVersion: number;
  schema: unknown;
  pinned: boolean;
  createdBy: string;
  creationTime: number;
}

export interface DatasetStore {
  /**
   * Records a dataset version. The same content (sha256) under the same name is the same version:
   * the existing one is returned with `created: false`, and nothing is written.
   */
  createDatasetVersion(input: CreateDatasetVersionInput, who: Actor): Promise<{ version: DatasetVersion; created: boolean }>;
  getDataset(name: string): Promise<Dataset>;
  listDatasets(): Promise<Dataset[]>;
  listDatasetVersions(name: string): Promise<DatasetVersion[]>;
  /** A version by number, or the latest when `version` is undefined. */
  getDatasetVersion(name: string, version?: number): Promise<DatasetVersion>;
  /** Every dataset version that holds this subject id. */
  findSubject(subject: string): Promise<{ name: string; version: number }[]>;
  /** Stores an edited schema as the dataset's next schema document; `pin` makes it the contract. */
  putDatasetSchema(name: string, schema: unknown, pin: boolean, who: Actor): Promise<DatasetSchemaDoc>;
  /** The pinned schema document, or a numbered one; undefined when none was stored. */
  getDatasetSchema(name: string, schemaVersion?: number): Promise<DatasetSchemaDoc | undefined>;
}
