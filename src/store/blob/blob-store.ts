/**
 * The blob port: named bytes, and nothing else.
 *
 * Why the line is drawn here: everything that must be right exactly once — hashing, checking the
 * hash on every read, refs from a path to a digest, the order in which a write becomes visible —
 * lives above this port, in `store/cas/`, written one time for every backend (as Metaflow's
 * content-addressed store sits over its datastore storage). What is left for an adapter is what
 * every backend can do natively and cheaply: make one object visible all at once (a filesystem by
 * temp file, fsync and rename; an object store by one PutObject or a completed multipart upload),
 * read it back, name the children of a prefix, and remove a name with everything under it. A new
 * backend implements these few primitives and runs `blob-store.contract.ts`; it never re-derives
 * the integrity rules.
 *
 * Where backends differ, the difference is a flag in {@link BlobCapabilities}, read by the layer
 * above, never a "not supported" thrown halfway through an operation.
 *
 * Keys are `/`-separated, without empty, `.` or `..` segments, and without a leading or trailing
 * `/` (see {@link checkBlobKey}). The first segment `tmp` is reserved for the adapter's own
 * staging area and is refused as a key.
 */
import type { Readable } from 'node:stream';

/** Bytes in memory, or a stream of them (a Node Readable is one). */
export type BlobBody = Uint8Array | AsyncIterable<Uint8Array>;

export interface BlobCapabilities {
  /**
   * Names form a tree, as on a filesystem: an object cannot be stored where another object's name
   * is a directory (`a` and `a/b` exclude each other; the adapter refuses with a
   * {@link BlobError} `under-object` or `is-prefix`). False on an object store, whose keys are flat strings.
   */
  readonly hierarchical: boolean;
  /**
   * `put(…, { ifAbsent: true })` is decided by the backend in one atomic step. When false it is a
   * check followed by a write, and a concurrent writer can slip between them — harmless for
   * content-addressed keys, where every racing writer writes the same bytes.
   */
  readonly atomicIfAbsent: boolean;
  /**
   * The bytes are on a local disk: reading an object back costs less than writing it again. The
   * layer above uses this to re-verify an existing blob before trusting it for deduplication.
   */
  readonly localReads: boolean;
}

export interface PutOptions {
  /** Leave an existing object in place; the put then returns false. */
  readonly ifAbsent?: boolean;
}

/** An opened object, readable more than once. */
export interface BlobReader {
  readonly size: number;
  /**
   * The object's bytes from the start. Every call reads the same version of the object, or fails
   * with a {@link BlobError} `changed` when it was replaced since {@link BlobStore.open}.
   */
  stream(): Promise<Readable>;
  /** Releases what the reader holds (a file descriptor); streams already handed out stay readable until they end. */
  close(): Promise<void>;
}

/**
 * Bytes written somewhere no reader can see them yet, for writes whose name is known only at
 * the end (a content address: the hash of a stream is known once the stream is over).
 */
export interface StagedBlob {
  readonly size: number;
  /** Makes the bytes visible under `key` all at once; false when `ifAbsent` found an object there. */
  commit(key: string, opts?: PutOptions): Promise<boolean>;
  /** Drops the staged bytes. Safe to call after a commit or twice. */
  discard(): Promise<void>;
}

export interface BlobListing {
  /** Full keys of the objects directly under the prefix, in no particular order. */
  readonly objects: string[];
  /** Full keys of the "directories" directly under the prefix (names that have objects below them). */
  readonly prefixes: string[];
}

export interface BlobStore {
  /** `file`, `s3`. */
  readonly kind: string;
  /** Where the bytes are, for messages: `file:/srv/artifacts`, `s3://bucket/prefix`. */
  readonly uri: string;
  readonly capabilities: BlobCapabilities;
  /**
   * Stores `body` under `key`, replacing what was there unless `ifAbsent`. A reader sees the old
   * object or the new one, never a part; a failed put leaves the old one. True when written.
   */
  put(key: string, body: BlobBody, opts?: PutOptions): Promise<boolean>;
  /** Writes `body` out of sight, to be named later with {@link StagedBlob.commit}. */
  stage(body: AsyncIterable<Uint8Array>): Promise<StagedBlob>;
  /**
   * The whole object, or undefined when there is none. With `maxBytes`, an object larger than
   * that is refused (a {@link BlobError} `too-large`) before any of it is read into memory.
   */
  get(key: string, opts?: { maxBytes?: number }): Promise<Buffer | undefined>;
  /** A reader over the object, or undefined when there is none. */
  open(key: string): Promise<BlobReader | undefined>;
  /** The object's size, or undefined when there is none (a "directory" is not an object). */
  stat(key: string): Promise<{ size: number } | undefined>;
  /** Direct children of `prefix` ('' for the root). A prefix with nothing under it lists as empty. */
  list(prefix: string): Promise<BlobListing>;
  /** Removes the object at `key` and every object under `key/`. Missing keys are not an error. */
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

export type BlobErrorReason =
  /** The key is refused by this backend (a symbolic link on the way, too long for the backend, …). */
  | 'unsafe'
  /** On a hierarchical store: a name above the key is an object, so the key cannot be a name below it. */
  | 'under-object'
  /** On a hierarchical store: the key is a directory (objects are stored below it). */
  | 'is-prefix'
  /** `get` with `maxBytes` met a larger object. */
  | 'too-large'
  /** The object was replaced while a reader was open on it. */
  | 'changed';

/**
 * A refusal by the adapter that only the layer above can put into words for a user (it knows
 * which artifact path the key stands for). It never crosses `store/cas`: that layer turns it into
 * a registry error naming the user's path. Failures of the backend itself (a server down) are
 * registry errors already, thrown by the adapter.
 */
export class BlobError extends Error {
  constructor(readonly reason: BlobErrorReason, readonly key: string, readonly detail: string) {
    super(`${reason}: '${key}' ${detail}`);
    this.name = 'BlobError';
  }
}

export function isBlobError(e: unknown, reason?: BlobErrorReason): e is BlobError {
  return e instanceof BlobError && (reason === undefined || e.reason === reason);
}

/** The first key segment every adapter keeps for its own staging. */
export const RESERVED_SEGMENT = 'tmp';

/**
 * Refuses a malformed key. The layer above only ever builds keys from normalized paths, so this
 * is a second, independent check: an adapter never turns a key like `a/../../x` into a location.
 */
export function checkBlobKey(key: string, opts: { allowRoot?: boolean } = {}): string[] {
  if (typeof key !== 'string') throw new BlobError('unsafe', String(key), 'is not a string');
  if (key === '') {
    if (opts.allowRoot) return [];
    throw new BlobError('unsafe', key, 'is empty');
  }
  const segments = key.split('/');
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') throw new BlobError('unsafe', key, `has an empty, '.' or '..' segment`);
    if (s.includes('\u0000') || s.includes('\\')) throw new BlobError('unsafe', key, 'contains a NUL byte or a backslash');
  }
  if (segments[0] === RESERVED_SEGMENT) throw new BlobError('unsafe', key, `is under '${RESERVED_SEGMENT}/', which the adapter keeps for staging`);
  return segments;
}

/** Normalizes the accepted chunk types of a stream body to Buffers. */
export async function* bufferChunks(body: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    if (Buffer.isBuffer(chunk)) yield chunk;
    else if (chunk instanceof Uint8Array) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    else if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
    else throw new TypeError('Blob stream chunks must be bytes or strings');
  }
}
