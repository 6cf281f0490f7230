/**
 * An object in S3 (or an S3-compatible server), read through the artifact store's S3 adapter, so
 * it is reached as the artifact store reaches its bucket: the endpoint from AWS_ENDPOINT_URL_S3
 * (or AWS_ENDPOINT_URL, MLFLOW_S3_ENDPOINT_URL), path-style from AWS_S3_FORCE_PATH_STYLE, the
 * credentials from the AWS chain, retries as configured there.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { posix } from 'node:path';
import { TrellisError, isTrellisError } from '../../core/errors.js';
import { isBlobError } from '../../store/blob/blob-store.js';
import { parseS3Uri } from '../../store/s3/s3-config.js';
import type { ProgressFn } from './snapshot-file.js';

export interface S3ReadOptions {
  source: string;
  file: string;
  onProgress?: ProgressFn;
}

export async function readS3(uri: string, o: S3ReadOptions): Promise<{ bytes: number; key: string }> {
  const { bucket, prefix: key } = parseS3Uri(uri);
  if (!key) throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `'${uri}' names a bucket, not an object: write s3://${bucket}/<key>` });
  // The store is opened at the object's folder, so that only its last segment is a key of its own.
  const dir = posix.dirname(key);
  const { S3BlobStore } = await import('../../store/s3/s3-blob-store.js');
  const store = await S3BlobStore.open(`s3://${bucket}${dir === '.' ? '' : `/${dir}`}`);
  try {
    const reader = await store.open(posix.basename(key)).catch((e: unknown) => {
      throw translate(o.source, e);
    });
    if (!reader) throw new TrellisError('TRELLIS_DATA_FILE_NOT_FOUND', { file: o.source });
    const out = createWriteStream(o.file);
    let bytes = 0;
    let last = 0;
    try {
      for await (const chunk of await reader.stream()) {
        bytes += (chunk as Buffer).length;
        if (!out.write(chunk)) await once(out, 'drain');
        if (bytes - last >= 1 << 20) {
          last = bytes;
          o.onProgress?.({ bytes, totalBytes: reader.size });
        }
      }
    } catch (e) {
      out.destroy();
      throw translate(o.source, e);
    } finally {
      await reader.close();
    }
    out.end();
    await once(out, 'close');
    o.onProgress?.({ bytes, totalBytes: reader.size, done: true });
    return { bytes, key };
  } finally {
    await store.close();
  }
}

/** The adapter speaks of "the artifact store"; here the bucket is a data source. */
function translate(source: string, e: unknown): Error {
  const detail = (x: TrellisError) => String(x.params.detail ?? x.message);
  if (isTrellisError(e, 'TRELLIS_ARTIFACT_STORE_UNAVAILABLE')) return new TrellisError('TRELLIS_DATA_SOURCE_UNREACHABLE', { source, detail: detail(e) }, { cause: e });
  if (isTrellisError(e, 'TRELLIS_ARTIFACT_STORE_REFUSED')) return new TrellisError('TRELLIS_DATA_SOURCE_FAILED', { source, detail: detail(e) }, { cause: e });
  if (isBlobError(e)) return new TrellisError('TRELLIS_DATA_SOURCE_FAILED', { source, detail: e.detail });
  return e as Error;
}
