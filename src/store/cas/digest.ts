/**
 * The one digest of the artifact store: sha256 over the raw bytes, as lowercase hex. Hashing while
 * bytes pass (instead of before or after) is what lets a stream of unknown length be stored under
 * its own hash without holding it in memory or reading it twice.
 */
import { createHash, type Hash } from 'node:crypto';
import { invalid } from '../../core/errors.js';

export const SHA256_RE = /^[0-9a-f]{64}$/;

export interface Digest {
  sha256: string;
  size: number;
}

export function digestOf(bytes: Uint8Array): Digest {
  return { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
}

/** Passes chunks through unchanged while hashing them; {@link result} is final once the source ended. */
export class HashingTap {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private digest: Digest | undefined;

  async *pass(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.hash.update(chunk);
      this.bytes += chunk.length;
      yield chunk;
    }
    this.digest = { sha256: this.hash.digest('hex'), size: this.bytes };
  }

  /** The digest of everything that passed; throws if the source has not ended (a partial hash names nothing). */
  result(): Digest {
    if (!this.digest) throw new Error('the stream was not read to its end');
    return this.digest;
  }
}

/** Hashes a whole stream. */
export async function digestStream(source: AsyncIterable<unknown>): Promise<Digest> {
  const tap = new HashingTap();
  for await (const _ of tap.pass(toBuffers(source))) { /* hashing is the point */ }
  return tap.result();
}

/**
 * What a caller may pass as artifact data, as Buffers. A Uint8Array is copied so a caller reusing
 * its buffer cannot change the bytes between hashing and writing.
 */
export function bytesOf(data: Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
}

export async function* toBuffers(source: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
    else if (chunk instanceof Uint8Array) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    else throw invalid('Artifact stream chunks must be bytes or strings');
  }
}
