/**
 * What a reader reads: a file path, the bytes themselves, or a stream of them. Data that already
 * sits in memory or arrives over the network (a dataset version from the artifact store, an
 * upload) is read where it is, never written to a temporary file to be read back.
 *
 * `name` is what errors call the data — a path is its own name — and, when no format is given,
 * its extension says the format.
 */
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { openError } from './files.js';

export type DataSource =
  | string
  | Uint8Array
  | AsyncIterable<Uint8Array>
  | { readonly bytes: Uint8Array; readonly name?: string }
  | { readonly stream: AsyncIterable<Uint8Array>; readonly name?: string };

/** The one operation the CSV scanner needs, shaped as `FileHandle.read` so a file handle is one. */
export interface ByteReader {
  read(buffer: Buffer, offset: number, length: number, position: null): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

type Resolved =
  | { kind: 'path'; path: string; name: string }
  | { kind: 'bytes'; bytes: Buffer; name: string }
  | { kind: 'stream'; stream: AsyncIterable<Uint8Array>; name: string };

function resolve(src: DataSource): Resolved {
  if (typeof src === 'string') return { kind: 'path', path: src, name: src };
  if (src instanceof Uint8Array) return { kind: 'bytes', bytes: asBuffer(src), name: '(bytes)' };
  if (isAsyncIterable(src)) return { kind: 'stream', stream: src, name: '(stream)' };
  if ('bytes' in src) return { kind: 'bytes', bytes: asBuffer(src.bytes), name: src.name ?? '(bytes)' };
  return { kind: 'stream', stream: src.stream, name: src.name ?? '(stream)' };
}

/** What errors call the data: the path, the given name, or `(bytes)` / `(stream)`. */
export function sourceName(src: DataSource): string {
  return resolve(src).name;
}

/** The path when the source is a file, else undefined. */
export function sourcePath(src: DataSource): string | undefined {
  return typeof src === 'string' ? src : undefined;
}

/** A stream can be read once; a path or bytes as often as a reader needs (a second pass). */
export function isRereadable(src: DataSource): boolean {
  return resolve(src).kind !== 'stream';
}

/** The size in bytes when it is known before reading: a file's or the bytes' length; undefined for a stream. */
export async function sourceSize(src: DataSource): Promise<number | undefined> {
  const r = resolve(src);
  if (r.kind === 'bytes') return r.bytes.length;
  if (r.kind === 'stream') return undefined;
  try {
    return (await stat(r.path)).size;
  } catch (e) {
    throw openError(e, r.path);
  }
}

/** All of it in memory, for formats read whole (Parquet) or a stream that needs a second pass. */
export async function sourceBytes(src: DataSource): Promise<Buffer> {
  const r = resolve(src);
  if (r.kind === 'bytes') return r.bytes;
  if (r.kind === 'path') {
    try {
      return await readFile(r.path);
    } catch (e) {
      throw openError(e, r.path);
    }
  }
  const chunks: Buffer[] = [];
  for await (const c of r.stream) chunks.push(asBuffer(c));
  return Buffer.concat(chunks);
}

/** A stream source read into memory, named as before; other sources as they are. */
export async function rereadable(src: DataSource): Promise<DataSource> {
  if (isRereadable(src)) return src;
  return { bytes: await sourceBytes(src), name: sourceName(src) };
}

/** The bytes as chunks of about `chunkSize` (a file is read `chunkSize` at a time). */
export async function* sourceChunks(src: DataSource, chunkSize: number): AsyncGenerator<Buffer> {
  const r = resolve(src);
  if (r.kind === 'path') {
    yield* createReadStream(r.path, { highWaterMark: chunkSize }) as AsyncIterable<Buffer>;
  } else if (r.kind === 'bytes') {
    for (let off = 0; off < r.bytes.length; off += chunkSize) yield r.bytes.subarray(off, off + chunkSize);
  } else {
    for await (const c of r.stream) yield asBuffer(c);
  }
}

/** A {@link ByteReader} over the source: the file handle itself for a path. */
export async function openByteReader(src: DataSource): Promise<ByteReader> {
  const r = resolve(src);
  if (r.kind === 'path') return open(r.path, 'r');
  const chunks = sourceChunks(src, 1 << 20);
  let pending: Buffer = Buffer.alloc(0);
  let done = false;
  return {
    async read(buffer, offset, length) {
      while (pending.length === 0 && !done) {
        const next = await chunks.next();
        if (next.done) done = true;
        else pending = next.value;
      }
      const n = Math.min(length, pending.length);
      pending.copy(buffer, offset, 0, n);
      pending = pending.subarray(n);
      return { bytesRead: n };
    },
    async close() {
      await chunks.return(undefined);
    },
  };
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array> {
  return typeof x === 'object' && x !== null && typeof (x as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function';
}
