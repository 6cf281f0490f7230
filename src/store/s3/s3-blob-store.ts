/**
 * The S3 blob adapter (`s3://bucket/prefix`), for Amazon S3 and S3-compatible servers.
 *
 * How each primitive keeps the port's promise that an object is visible all at once or not at all:
 * - `put` of bytes is one PutObject, which S3 applies atomically; the body carries its Content-MD5,
 *   so a body damaged on the way is refused by the server rather than stored.
 * - `stage` of a stream holds the first part in memory: a stream that ends within it is committed
 *   by one PutObject straight to its final key. A longer stream is uploaded in parts to a temporary
 *   key under `tmp/` (a multipart upload is invisible until completed, and a temporary key is
 *   never a content address), and `commit` copies it server-side to the final key. A failed upload
 *   is aborted, so its parts do not linger; when even the abort cannot reach the server, the
 *   incomplete upload stays invisible, and a bucket lifecycle rule (docs/storage.md) removes it.
 * - `open` reads an object of up to one part into memory with one GET; a larger one is read
 *   again for the second stream with `If-Match` on the first read's ETag, so both reads see the
 *   same object version or the second fails.
 *
 * Failures of the server are retried by the SDK's retry strategy (5xx, throttling, timeouts and
 * dropped connections, with exponential backoff and jitter); every request body is a Buffer, so a
 * retry resends exactly the same bytes. What still fails is TRELLIS_ARTIFACT_STORE_UNAVAILABLE
 * (retryable) or TRELLIS_ARTIFACT_STORE_REFUSED (credentials, bucket, permissions).
 *
 * The SDK is loaded only through this module, which `open-stores.ts` imports only for `s3://`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, UploadPartCommand,
  UploadPartCopyCommand, type CompletedPart, type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { invalid, isTrellisError, TrellisError } from '../../core/errors.js';
import {
  BlobError, bufferChunks, checkBlobKey, RESERVED_SEGMENT,
  type BlobBody, type BlobCapabilities, type BlobListing, type BlobReader, type BlobStore, type PutOptions, type StagedBlob,
} from '../blob/blob-store.js';
import { MIN_PART_SIZE, parseS3Uri, s3SettingsFromEnv, type S3Location, type S3Settings } from './s3-config.js';

/** S3 refuses keys longer than this many bytes (KeyTooLongError); refused up front, as an unsafe key. */
const MAX_KEY_BYTES = 1024;
const MAX_PARTS = 10_000;
/** CopyObject copies at most 5 GiB; a larger staged object is copied part by part. */
const MAX_COPY_BYTES = 5 * 1024 ** 3;
const COPY_PART_BYTES = 1024 ** 3;
/** DeleteObjects takes at most this many keys. */
const DELETE_BATCH = 1000;
/** S3 error names meaning "nothing there", on GET (NoSuchKey) and HEAD (NotFound, no body to name it). */
const MISSING = new Set(['NoSuchKey', 'NotFound']);

/** Settings that override what the environment says (see s3-config.ts); credentials always come from the AWS chain. */
export type S3BlobStoreOptions = Partial<S3Settings>;

export class S3BlobStore implements BlobStore {
  readonly kind = 's3';
  readonly uri: string;
  readonly capabilities: BlobCapabilities = { hierarchical: false, atomicIfAbsent: false, localReads: false };

  private constructor(
    private readonly client: S3Client,
    private readonly loc: S3Location,
    readonly settings: S3Settings,
  ) {
    this.uri = `s3://${loc.bucket}${loc.prefix ? `/${loc.prefix}` : ''}`;
  }

  /**
   * Makes a client for `uri`. Nothing is sent yet: a store that is never used never needs the
   * server, and a wrong bucket or missing credentials are reported by the first request, with
   * TRELLIS_ARTIFACT_STORE_REFUSED.
   */
  static async open(uri: string, opts: S3BlobStoreOptions = {}): Promise<S3BlobStore> {
    const loc = parseS3Uri(uri);
    const settings: S3Settings = { ...s3SettingsFromEnv(process.env), ...definedOnly(opts) };
    if (settings.partSize < MIN_PART_SIZE) throw invalid(`The S3 part size must be at least ${MIN_PART_SIZE} bytes, got ${settings.partSize}`);
    const client = new S3Client({
      endpoint: settings.endpoint,
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      maxAttempts: settings.maxAttempts,
      retryMode: settings.retryMode,
      requestHandler: { connectionTimeout: settings.connectTimeoutMs, socketTimeout: settings.idleTimeoutMs },
      // The SDK's default adds CRC32 trailers in aws-chunked bodies, which several S3-compatible
      // servers store as part of the object or refuse; every body here carries a Content-MD5
      // instead, which all of them check, and reads are verified by sha256 above this port.
      requestChecksumCalculation: process.env.AWS_REQUEST_CHECKSUM_CALCULATION ? undefined : 'WHEN_REQUIRED',
      responseChecksumValidation: process.env.AWS_RESPONSE_CHECKSUM_VALIDATION ? undefined : 'WHEN_REQUIRED',
    });
    return new S3BlobStore(client, loc, settings);
  }

  // ---- writes ----

  async put(key: string, body: BlobBody, opts: PutOptions = {}): Promise<boolean> {
    const full = this.fullKey(key);
    if (opts.ifAbsent && (await this.stat(key))) return false;
    if (body instanceof Uint8Array) {
      await this.putObject(full, toBuffer(body));
      return true;
    }
    const staged = await this.stage(body);
    try {
      return await staged.commit(key);
    } finally {
      await staged.discard();
    }
  }

  async stage(body: AsyncIterable<Uint8Array>): Promise<StagedBlob> {
    const parts = new PartReader(bufferChunks(body), this.settings.partSize);
    const first = await parts.next();
    const rest = first.length < this.settings.partSize ? undefined : await parts.next();
    if (rest === undefined || rest.length === 0) {
      // The whole stream fits in one part: no temporary object, one PutObject at commit.
      let done = false;
      return {
        size: first.length,
        commit: async (key, opts = {}) => {
          if (done) throw new Error('a staged blob is committed or discarded once');
          done = true;
          const full = this.fullKey(key);
          if (opts.ifAbsent && (await this.stat(key))) return false;
          await this.putObject(full, first);
          return true;
        },
        discard: async () => {
          done = true;
        },
      };
    }
    const tmp = this.prefixed(`${RESERVED_SEGMENT}/${randomUUID()}`);
    const size = await this.multipartUpload(tmp, first, rest, parts);
    let done = false;
    const discard = async () => {
      if (done) return;
      done = true;
      await this.send('DeleteObject', tmp, () => this.client.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: tmp }))).catch(() => undefined);
    };
    return {
      size,
      commit: async (key, opts = {}) => {
        if (done) throw new Error('a staged blob is committed or discarded once');
        const full = this.fullKey(key);
        if (opts.ifAbsent && (await this.stat(key))) {
          await discard();
          return false;
        }
        await this.copy(tmp, full, size);
        await discard();
        return true;
      },
      discard,
    };
  }

  /**
   * Uploads `first`, `second` and the rest of `parts` as a multipart upload to `tmp`, with a few
   * parts in flight at once; returns the size. On any failure — the source's or the server's —
   * the in-flight parts are let finish and the upload is aborted before the error is rethrown.
   */
  private async multipartUpload(tmp: string, first: Buffer, second: Buffer, parts: PartReader): Promise<number> {
    const { UploadId } = await this.send('CreateMultipartUpload', tmp, () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.loc.bucket, Key: tmp, ContentType: 'application/octet-stream' })));
    if (!UploadId) throw this.unavailable('CreateMultipartUpload', tmp, 'the server returned no upload id');
    const completed: CompletedPart[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: Error | undefined;
    let size = 0;
    const upload = (n: number, buf: Buffer) => {
      const p = this.send('UploadPart', tmp, () => this.client.send(new UploadPartCommand({
        Bucket: this.loc.bucket, Key: tmp, UploadId, PartNumber: n, Body: buf, ContentLength: buf.length, ContentMD5: md5(buf),
      }))).then(
        (r) => {
          if (!r.ETag) throw this.unavailable('UploadPart', tmp, `part ${n} was stored without an ETag`);
          completed[n - 1] = { PartNumber: n, ETag: r.ETag };
        },
      ).catch((e: unknown) => {
        failure ??= e instanceof Error ? e : new Error(String(e));
      }).finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    try {
      let n = 0;
      for (let buf: Buffer | undefined = first; buf && buf.length > 0; buf = n === 1 ? second : await parts.next()) {
        if (failure) break;
        if (++n > MAX_PARTS) throw invalid(`The artifact is larger than S3 allows in ${MAX_PARTS} parts of ${this.settings.partSize} bytes`);
        size += buf.length;
        upload(n, buf);
        while (inFlight.size >= this.settings.partConcurrency) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (failure) throw failure;
      await this.send('CompleteMultipartUpload', tmp, () => this.client.send(new CompleteMultipartUploadCommand({
        Bucket: this.loc.bucket, Key: tmp, UploadId, MultipartUpload: { Parts: completed },
      })));
    } catch (e) {
      await Promise.allSettled(inFlight);
      await this.send('AbortMultipartUpload', tmp, () =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.loc.bucket, Key: tmp, UploadId }))).catch(() => undefined);
      throw e;
    }
    // The assembled object must be exactly what was sent before it can be copied under a hash.
    const head = await this.head(tmp);
    if (head?.size !== size) {
      await this.send('DeleteObject', tmp, () => this.client.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: tmp }))).catch(() => undefined);
      throw this.unavailable('CompleteMultipartUpload', tmp, `the assembled object has ${head?.size ?? 'no'} bytes, ${size} were sent`);
    }
    return size;
  }

  /** A server-side copy: one CopyObject up to 5 GiB (atomic at the destination), a multipart copy above. */
  private async copy(from: string, to: string, size: number): Promise<void> {
    const source = `${this.loc.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`;
    if (size <= MAX_COPY_BYTES) {
      await this.send('CopyObject', to, () => this.client.send(new CopyObjectCommand({ Bucket: this.loc.bucket, Key: to, CopySource: source })));
      return;
    }
    const { UploadId } = await this.send('CreateMultipartUpload', to, () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.loc.bucket, Key: to, ContentType: 'application/octet-stream' })));
    try {
      const parts: CompletedPart[] = [];
      for (let start = 0, n = 1; start < size; start += COPY_PART_BYTES, n++) {
        const end = Math.min(start + COPY_PART_BYTES, size) - 1;
        const r = await this.send('UploadPartCopy', to, () => this.client.send(new UploadPartCopyCommand({
          Bucket: this.loc.bucket, Key: to, UploadId, PartNumber: n, CopySource: source, CopySourceRange: `bytes=${start}-${end}`,
        })));
        parts.push({ PartNumber: n, ETag: r.CopyPartResult?.ETag });
      }
      await this.send('CompleteMultipartUpload', to, () => this.client.send(new CompleteMultipartUploadCommand({
        Bucket: this.loc.bucket, Key: to, UploadId, MultipartUpload: { Parts: parts },
      })));
    } catch (e) {
      await this.send('AbortMultipartUpload', to, () =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.loc.bucket, Key: to, UploadId }))).catch(() => undefined);
      throw e;
    }
  }

  private async putObject(full: string, buf: Buffer): Promise<void> {
    await this.send('PutObject', full, () => this.client.send(new PutObjectCommand({
      Bucket: this.loc.bucket, Key: full, Body: buf, ContentLength: buf.length, ContentMD5: md5(buf), ContentType: 'application/octet-stream',
    })));
  }

  // ---- reads ----

  async get(key: string, opts: { maxBytes?: number } = {}): Promise<Buffer | undefined> {
    const full = this.fullKey(key);
    const res = await this.getObject(full);
    if (!res) return undefined;
    if (opts.maxBytes !== undefined && (res.ContentLength ?? 0) > opts.maxBytes) {
      bodyOf(res).destroy();
      throw new BlobError('too-large', key, `is ${res.ContentLength} bytes, more than the ${opts.maxBytes} allowed`);
    }
    return this.readBody(full, res);
  }

  async open(key: string): Promise<BlobReader | undefined> {
    const full = this.fullKey(key);
    const res = await this.getObject(full);
    if (!res) return undefined;
    const size = res.ContentLength ?? 0;
    if (size <= this.settings.partSize) {
      // Small enough to hold: one GET serves every stream, and they are the same bytes by construction.
      const bytes = await this.readBody(full, res);
      return { size: bytes.length, stream: async () => Readable.from([bytes]), close: async () => undefined };
    }
    let first: Readable | undefined = bodyOf(res);
    const etag = res.ETag;
    return {
      size,
      stream: async () => {
        if (first) {
          const s = first;
          first = undefined;
          return s;
        }
        try {
          return bodyOf(await this.client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: full, IfMatch: etag })));
        } catch (e) {
          if (statusOf(e) === 412 || isMissing(e)) throw new BlobError('changed', key, 'was replaced or removed while it was being read');
          throw this.translate('GetObject', full, e);
        }
      },
      close: async () => {
        first?.destroy();
        first = undefined;
      },
    };
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    return this.head(this.fullKey(key));
  }

  async list(prefix: string): Promise<BlobListing> {
    checkBlobKey(prefix, { allowRoot: true });
    const base = this.prefixed(prefix);
    const listPrefix = base === '' ? '' : `${base}/`;
    const objects: string[] = [];
    const prefixes: string[] = [];
    for await (const page of this.listPages(listPrefix, '/')) {
      for (const o of page.Contents ?? []) {
        // Console "folder" placeholders end in '/': not objects this adapter wrote.
        if (o.Key && o.Key !== listPrefix && !o.Key.endsWith('/')) objects.push(this.relKey(o.Key));
      }
      for (const p of page.CommonPrefixes ?? []) {
        if (!p.Prefix) continue;
        const rel = this.relKey(p.Prefix.slice(0, -1));
        if (rel !== '' && !(prefix === '' && rel === RESERVED_SEGMENT)) prefixes.push(rel);
      }
    }
    return { objects, prefixes };
  }

  /** Not atomic for a prefix: a reader may see some of its objects gone and others not yet. */
  async delete(key: string): Promise<void> {
    const full = this.fullKey(key);
    await this.send('DeleteObject', full, () => this.client.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: full })));
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const keys = batch;
      batch = [];
      const r = await this.send('DeleteObjects', full, () => this.client.send(new DeleteObjectsCommand({
        Bucket: this.loc.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
      })));
      const failed = r.Errors?.[0];
      if (failed) throw this.unavailable('DeleteObjects', failed.Key ?? full, `${failed.Code ?? 'error'}: ${failed.Message ?? ''}`);
    };
    for await (const page of this.listPages(`${full}/`)) {
      for (const o of page.Contents ?? []) {
        if (o.Key) batch.push(o.Key);
        if (batch.length >= DELETE_BATCH) await flush();
      }
    }
    await flush();
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  // ---- requests ----

  private async *listPages(listPrefix: string, delimiter?: string) {
    let token: string | undefined;
    do {
      const page = await this.send('ListObjectsV2', listPrefix, () => this.client.send(new ListObjectsV2Command({
        Bucket: this.loc.bucket, Prefix: listPrefix, Delimiter: delimiter, ContinuationToken: token,
      })));
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private async getObject(full: string): Promise<GetObjectCommandOutput | undefined> {
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: full }));
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw this.translate('GetObject', full, e);
    }
  }

  private async head(full: string): Promise<{ size: number } | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.loc.bucket, Key: full }));
      return { size: r.ContentLength ?? 0 };
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw this.translate('HeadObject', full, e);
    }
  }

  /** A body that breaks off mid-way (the server died after the headers) is unavailability, not data. */
  private async readBody(full: string, res: GetObjectCommandOutput): Promise<Buffer> {
    try {
      const chunks: Buffer[] = [];
      for await (const c of bodyOf(res)) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    } catch (e) {
      throw this.translate('GetObject', full, e);
    }
  }

  private async send<T>(op: string, full: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.translate(op, full, e);
    }
  }

  /**
   * The SDK has already retried what a retry can fix; what reaches here is final for this call.
   * A server error or a network failure is unavailability (retryable later); a refusal that names
   * credentials, permissions or the bucket is the operator's to fix.
   */
  private translate(op: string, full: string, e: unknown): unknown {
    if (isTrellisError(e) || e instanceof BlobError) return e;
    const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; attempts?: number } };
    const status = err.$metadata?.httpStatusCode;
    const attempts = err.$metadata?.attempts;
    const detail = `${op} ${full}: ${err.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${err.message ?? String(e)}${attempts && attempts > 1 ? ` (after ${attempts} attempts)` : ''}`;
    const refused = (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429)
      || /^(CredentialsProviderError|NoSuchBucket|AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|InvalidBucketName)$/.test(err.name ?? '')
      || /Region is missing/.test(err.message ?? '');
    return new TrellisError(refused ? 'TRELLIS_ARTIFACT_STORE_REFUSED' : 'TRELLIS_ARTIFACT_STORE_UNAVAILABLE', { uri: this.uri, detail }, { cause: e });
  }

  private unavailable(op: string, full: string, detail: string): TrellisError {
    return new TrellisError('TRELLIS_ARTIFACT_STORE_UNAVAILABLE', { uri: this.uri, detail: `${op} ${full}: ${detail}` });
  }

  // ---- keys ----

  private fullKey(key: string): string {
    checkBlobKey(key);
    const full = this.prefixed(key);
    if (Buffer.byteLength(full, 'utf8') > MAX_KEY_BYTES) throw new BlobError('unsafe', key, `is longer than the ${MAX_KEY_BYTES} bytes S3 allows in a key (with the prefix)`);
    return full;
  }

  private prefixed(key: string): string {
    if (this.loc.prefix === '') return key;
    return key === '' ? this.loc.prefix : `${this.loc.prefix}/${key}`;
  }

  private relKey(full: string): string {
    return this.loc.prefix === '' ? full : full.slice(this.loc.prefix.length + 1);
  }
}

/**
 * Cuts a stream into parts of exactly `size` bytes (the last may be shorter), as a multipart
 * upload needs them: every part but the last at least 5 MiB.
 */
class PartReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private ended = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>, private readonly size: number) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** The next part; empty once the source has ended. */
  async next(): Promise<Buffer> {
    while (!this.ended && this.pendingBytes < this.size) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else {
        this.pending.push(r.value);
        this.pendingBytes += r.value.length;
      }
    }
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const part = all.subarray(0, Math.min(this.size, all.length));
    const rest = all.subarray(part.length);
    this.pending = rest.length ? [rest] : [];
    this.pendingBytes = rest.length;
    return part;
  }
}

function md5(buf: Buffer): string {
  return createHash('md5').update(buf).digest('base64');
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function bodyOf(res: GetObjectCommandOutput): Readable {
  if (!(res.Body instanceof Readable)) throw new TypeError('the S3 client returned a body that is not a Node stream');
  return res.Body;
}

function statusOf(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isMissing(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name ?? '';
  return MISSING.has(name) || (statusOf(e) === 404 && name !== 'NoSuchBucket');
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
