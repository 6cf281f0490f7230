/**
 * The artifact store, written once over any {@link BlobStore}: content addressing, the hash check
 * on every read, refs from paths to digests, and the order of writes that keeps them honest.
 *
 * The write protocol: the bytes become a blob under their own hash, and only once that blob is
 * complete does the ref at the user's path change to name it. In memory, the hash is known first
 * and the blob is written in one put; a stream is staged out of sight while it is hashed (a temp
 * file on disk, a temporary object or an in-memory part on S3) and committed under its hash when
 * it has ended. A writer that fails or dies part-way therefore leaves at worst staged junk or an
 * unreferenced blob — never a partial object under a hash, never a ref to bytes that are not all
 * there. The adapter makes each single object visible all at once; this layer decides the order.
 *
 * The read protocol: a ref gives the expected sha256 and size; the blob's bytes are hashed before
 * any of them is returned, and a mismatch is TRELLIS_ARTIFACT_INTEGRITY.
 */
import { finished, type Readable } from 'node:stream';
import { invalid, TrellisError } from '../../core/errors.js';
import type { ArtifactData, ArtifactInfo, ArtifactStore } from '../artifact-store.js';
import { normalizeArtifactPath } from '../artifact-path.js';
import { isBlobError, type BlobStore, type PutOptions } from '../blob/blob-store.js';
import { bytesOf, digestOf, digestStream, HashingTap, toBuffers, type Digest } from './digest.js';
import { blobKey, corruptRef, MAX_REF_BYTES, parseRef, pathOfRefKey, refKey, serializeRef, verify, type Ref } from './refs.js';

/** Bounds the concurrent ref reads while `list` describes a large directory. */
const LIST_CONCURRENCY = 32;
/** An existing local blob up to this size is re-hashed from memory when dedup checks it; larger ones as a stream. */
const VERIFY_IN_MEMORY_MAX = 1 << 20;

export class ContentAddressedStore implements ArtifactStore {
  readonly kind: string;
  readonly uri: string;

  constructor(readonly blobs: BlobStore) {
    this.kind = blobs.kind;
    this.uri = blobs.uri;
  }

  async put(rawPath: string, data: ArtifactData): Promise<{ sha256: string; size: number }> {
    const rel = normalizeArtifactPath(rawPath);
    // Blob first, ref second: a crash in between leaves an unreferenced blob (garbage a GC can
    // collect), never a ref that points at bytes which are not there.
    const ref = await this.guard(rel, () => this.writeBlob(data));
    await this.guard(rel, () => this.blobs.put(refKey(rel), serializeRef(ref)));
    return ref;
  }

  async get(rawPath: string): Promise<Buffer> {
    const { rel, ref } = await this.lookup(rawPath);
    const bytes = await this.guard(rel, () => this.blobs.get(blobKey(ref.sha256)));
    if (!bytes) throw missingBlob(rel, ref);
    // What is checked is exactly what is returned: one read, hashed in memory.
    verify(rel, ref, digestOf(bytes));
    return bytes;
  }

  /**
   * Hashes the whole blob before handing out a stream of it, so a caller never receives a byte
   * of a blob that fails the check. The adapter's reader guarantees the second read is of the
   * same object as the first (one fd on disk; an ETag condition on S3). The stream releases the
   * reader when it ends or is destroyed: a caller that gives up on it must `destroy()` it.
   */
  async open(rawPath: string): Promise<{ stream: Readable; size: number; sha256: string }> {
    const { rel, ref } = await this.lookup(rawPath);
    const reader = await this.guard(rel, () => this.blobs.open(blobKey(ref.sha256)));
    if (!reader) throw missingBlob(rel, ref);
    let stream: Readable;
    try {
      verify(rel, ref, await this.guard(rel, async () => digestStream(await reader.stream()), ref));
      stream = await this.guard(rel, () => reader.stream(), ref);
    } catch (e) {
      await reader.close();
      throw e;
    }
    // `finished`, not 'close': a stream that does not own its fd emits no 'close' when it ends.
    finished(stream, () => void reader.close().catch(() => undefined));
    return { stream, size: ref.size, sha256: ref.sha256 };
  }

  /** Reads only the ref: cheap metadata, not a promise that the blob is intact (reads check that). */
  async stat(rawPath: string): Promise<ArtifactInfo | undefined> {
    const rel = normalizeArtifactPath(rawPath);
    const ref = await this.readRef(rel);
    return ref && fileInfo(rel, ref);
  }

  async list(rawDir: string): Promise<ArtifactInfo[]> {
    const rel = normalizeArtifactPath(rawDir, { allowEmpty: true });
    const { objects, prefixes } = await this.guard(rel, () => this.blobs.list(refKey(rel)));
    const out: ArtifactInfo[] = [];
    // Only names the store itself could have written are shown, so every listed path can be fed
    // back to get/delete and mean the same entry.
    for (const key of prefixes) {
      const p = pathOfRefKey(key);
      if (isCanonicalChild(rel, p)) out.push({ path: p, isDir: true });
    }
    const files = await mapLimit(objects.map(pathOfRefKey).filter((p) => isCanonicalChild(rel, p)), LIST_CONCURRENCY, async (p) => {
      const ref = await this.readRef(p);
      return ref && fileInfo(p, ref); // undefined: deleted while we listed
    });
    for (const f of files) if (f) out.push(f);
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * Removes the ref (or every ref under a directory). Blobs stay: another ref may share one (that
   * is the dedup), and proving a blob unreferenced needs a scan of all refs — a later GC's job.
   */
  async delete(rawPath: string): Promise<void> {
    const rel = normalizeArtifactPath(rawPath);
    await this.guard(rel, () => this.blobs.delete(refKey(rel)));
  }

  async close(): Promise<void> {
    await this.blobs.close();
  }

  // ---- writes ----

  private async writeBlob(data: ArtifactData): Promise<Ref> {
    if (typeof data === 'string' || data instanceof Uint8Array) {
      const bytes = bytesOf(data);
      const digest = digestOf(bytes);
      await this.placeBlob(digest, (opts) => this.blobs.put(blobKey(digest.sha256), bytes, opts));
      return digest;
    }
    if (!data || typeof (data as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] !== 'function') {
      throw invalid('Artifact data must be a Readable stream, a Uint8Array or a string');
    }
    const tap = new HashingTap();
    const staged = await this.blobs.stage(tap.pass(toBuffers(data)));
    try {
      const digest = tap.result();
      await this.placeBlob(digest, (opts) => staged.commit(blobKey(digest.sha256), opts));
      return digest;
    } finally {
      await staged.discard();
    }
  }

  /**
   * Writes a blob unless an intact copy is already stored. An existing blob of the right size is
   * trusted as is on a remote store (reading it back would cost as much as writing it); on a
   * local disk it is re-hashed, and a damaged one is replaced — which repairs it for every ref
   * that shares it.
   */
  private async placeBlob(digest: Digest, write: (opts: PutOptions) => Promise<boolean>): Promise<void> {
    const key = blobKey(digest.sha256);
    const existing = await this.blobs.stat(key);
    if (existing && existing.size === digest.size && (!this.blobs.capabilities.localReads || (await this.isIntact(key, digest)))) return;
    await write({ ifAbsent: !existing && this.blobs.capabilities.atomicIfAbsent });
  }

  private async isIntact(key: string, digest: Digest): Promise<boolean> {
    let actual: Digest | undefined;
    if (digest.size <= VERIFY_IN_MEMORY_MAX) {
      const bytes = await this.blobs.get(key);
      actual = bytes && digestOf(bytes);
    } else {
      const reader = await this.blobs.open(key);
      try {
        actual = reader && (await digestStream(await reader.stream()));
      } finally {
        await reader?.close();
      }
    }
    return actual?.sha256 === digest.sha256 && actual.size === digest.size;
  }

  // ---- reads ----

  /** The ref of a file, or NOT_FOUND — a directory is not a file, whatever its name. */
  private async lookup(rawPath: string): Promise<{ rel: string; ref: Ref }> {
    const rel = normalizeArtifactPath(rawPath);
    const ref = await this.readRef(rel);
    if (!ref) throw new TrellisError('TRELLIS_ARTIFACT_NOT_FOUND', { path: rel });
    return { rel, ref };
  }

  private async readRef(rel: string): Promise<Ref | undefined> {
    let bytes: Buffer | undefined;
    try {
      bytes = await this.guard(rel, () => this.blobs.get(refKey(rel), { maxBytes: MAX_REF_BYTES }));
    } catch (e) {
      if (isBlobError(e, 'too-large')) throw corruptRef(rel, `${e.detail}, too large for a ref`);
      throw e;
    }
    return bytes && parseRef(rel, bytes);
  }

  /**
   * Puts an adapter's refusal into the user's terms: the artifact path they gave, not the key it
   * became. With `ref`, a blob replaced while it was being read is an integrity failure.
   */
  private async guard<T>(rel: string, fn: () => Promise<T>, ref?: Ref): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (!isBlobError(e)) throw e;
      switch (e.reason) {
        case 'unsafe':
          throw new TrellisError('TRELLIS_PATH_UNSAFE', { path: rel, detail: e.detail }, { cause: e });
        case 'under-object':
          throw invalid(`Artifact path '${rel}' is inside a path that is a file`);
        case 'is-prefix':
          throw invalid(`Artifact path '${rel}' is a directory; delete it first or pick another path`);
        case 'changed':
          if (ref) throw new TrellisError('TRELLIS_ARTIFACT_INTEGRITY', { path: rel, expected: ref.sha256, actual: '(the blob changed while it was read)' }, { cause: e });
          throw e;
        case 'too-large':
          throw e;
      }
    }
  }
}

// ---- helpers ----

function fileInfo(rel: string, ref: Ref): ArtifactInfo {
  return { path: rel, isDir: false, size: ref.size, sha256: ref.sha256 };
}

/** The ref promises bytes that are gone: that is lost data, not a missing artifact. */
function missingBlob(rel: string, ref: Ref): TrellisError {
  return new TrellisError('TRELLIS_ARTIFACT_INTEGRITY', { path: rel, expected: ref.sha256, actual: '(blob missing)' });
}

/** A listed child whose name is already canonical (a name written outside the store may not be). */
function isCanonicalChild(dir: string, child: string): boolean {
  const name = dir === '' ? child : child.slice(dir.length + 1);
  if (name.includes('/')) return false;
  try {
    return normalizeArtifactPath(name) === name;
  } catch {
    return false;
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
