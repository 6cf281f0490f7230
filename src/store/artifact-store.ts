/**
 * The artifact port: bytes addressed by a relative path (`<experiment>/<run>/artifacts/model/model.json`),
 * stored content-addressed. Every adapter guarantees: a write is all-or-nothing (a reader sees the old
 * bytes or the new, never a mix); a path never points at bytes that differ from what was recorded
 * (the sha256 is checked before a read returns any byte, and a mismatch is TRELLIS_ARTIFACT_INTEGRITY);
 * paths are checked by `artifact-path.ts` before they touch storage.
 * `artifact-store.contract.ts` is the behaviour every adapter must show.
 *
 * One implementation keeps these promises for every backend: `cas/cas-artifact-store.ts`, over a
 * blob adapter (`fs/`, `s3/`) of the small port in `blob/blob-store.ts`. A new backend is a new
 * blob adapter, not a new artifact store.
 */
import type { Readable } from 'node:stream';

/** Bytes, text (stored as UTF-8), or a stream of either — a Node Readable or any async iterable. */
export type ArtifactData = Readable | AsyncIterable<Uint8Array | string> | Uint8Array | string;

export interface ArtifactInfo {
  /** Path relative to the listed directory's root (the store root for {@link ArtifactStore.list}). */
  path: string;
  isDir: boolean;
  /** Bytes; absent for directories. */
  size?: number;
  /** sha256 of the content; absent for directories. */
  sha256?: string;
}

export interface ArtifactStore {
  readonly kind: string;
  /** Where the store keeps its bytes, for messages (`file:/…`). */
  readonly uri: string;
  /** Stores the bytes under `path`, replacing what was there. Returns the content's hash and size. */
  put(path: string, data: ArtifactData): Promise<{ sha256: string; size: number }>;
  /** The verified bytes of `path`; TRELLIS_ARTIFACT_NOT_FOUND if absent, TRELLIS_ARTIFACT_INTEGRITY if altered. */
  get(path: string): Promise<Buffer>;
  /** Like {@link get}, as a stream; the hash is checked before the first byte is emitted. */
  open(path: string): Promise<{ stream: Readable; size: number; sha256: string }>;
  /** Metadata of a file, or undefined when `path` is not a file. */
  stat(path: string): Promise<ArtifactInfo | undefined>;
  /** Direct children of the directory `dir` ('' for the root), paths relative to the store root, sorted. */
  list(dir: string): Promise<ArtifactInfo[]>;
  /** Removes a file or a whole directory. Missing paths are not an error. */
  delete(path: string): Promise<void>;
  close(): Promise<void>;
}
