/**
 * Where content-addressed data lives under a blob store, the same on every backend:
 *
 *   blobs/<aa>/<sha256>  the bytes, named by their hash: identical content is stored once
 *   refs/<path>          a small JSON `{ "sha256", "size" }` naming the blob an artifact path points at
 *
 * (and `tmp/`, the adapter's own staging area). A ref records the hash, so every read can prove
 * the bytes are the ones that were written; a ref is written only after its blob is complete, so
 * a ref never points at bytes that are not all there.
 */
import { TrellisError } from '../../core/errors.js';
import { SHA256_RE, type Digest } from './digest.js';

export const BLOBS = 'blobs';
export const REFS = 'refs';
/** A real ref is ~100 bytes; anything much larger is not one, and must not be read into memory. */
export const MAX_REF_BYTES = 4096;

export type Ref = Digest;

/** Two hex digits of fan-out keep any one directory (or listing) of blobs small. */
export function blobKey(sha256: string): string {
  return `${BLOBS}/${sha256.slice(0, 2)}/${sha256}`;
}

/** `rel` is a normalized artifact path, or '' for the root of the refs. */
export function refKey(rel: string): string {
  return rel === '' ? REFS : `${REFS}/${rel}`;
}

/** The artifact path a ref key stands for. */
export function pathOfRefKey(key: string): string {
  return key === REFS ? '' : key.slice(REFS.length + 1);
}

export function serializeRef(ref: Ref): Buffer {
  return Buffer.from(`${JSON.stringify({ sha256: ref.sha256, size: ref.size })}\n`, 'utf8');
}

/**
 * The sha256 in a ref becomes part of a blob key, so it is validated as 64 hex digits: a tampered
 * ref must not be able to point the read at `../../something`.
 */
export function parseRef(rel: string, bytes: Buffer): Ref {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw corruptRef(rel, 'ref is not JSON');
  }
  const r = v as Partial<Ref> | null;
  if (!r || typeof r !== 'object' || typeof r.sha256 !== 'string' || !SHA256_RE.test(r.sha256)) {
    throw corruptRef(rel, 'ref has no valid sha256');
  }
  if (typeof r.size !== 'number' || !Number.isSafeInteger(r.size) || r.size < 0) {
    throw corruptRef(rel, 'ref has no valid size');
  }
  return { sha256: r.sha256, size: r.size };
}

export function corruptRef(rel: string, what: string): TrellisError {
  return new TrellisError('TRELLIS_ARTIFACT_INTEGRITY', { path: rel, expected: '(a valid ref record)', actual: `(${what})` });
}

/** Refuses bytes that are not what the ref recorded; the error names the artifact path. */
export function verify(rel: string, ref: Ref, actual: Digest): void {
  if (actual.sha256 !== ref.sha256) {
    throw new TrellisError('TRELLIS_ARTIFACT_INTEGRITY', { path: rel, expected: ref.sha256, actual: actual.sha256 });
  }
  // Same hash, different recorded size: the ref itself was edited.
  if (actual.size !== ref.size) {
    throw new TrellisError('TRELLIS_ARTIFACT_INTEGRITY', {
      path: rel,
      expected: `${ref.sha256} (${ref.size} bytes)`,
      actual: `${actual.sha256} (${actual.size} bytes)`,
    });
  }
}
