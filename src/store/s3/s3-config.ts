/**
 * What an `s3://bucket/prefix` URI and the environment say about reaching the bucket. Kept apart
 * from the adapter (and from the SDK) so it can be read, and tested, without a server.
 *
 * Everything follows the conventions S3 users already have: credentials come from the SDK's
 * standard chain (environment, shared config and AWS_PROFILE, SSO, web identity, the container or
 * instance role) and are never read here; the endpoint of an S3-compatible server from
 * AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or MLflow's MLFLOW_S3_ENDPOINT_URL; path-style addressing
 * from AWS_S3_FORCE_PATH_STYLE=true; retries from AWS_MAX_ATTEMPTS and AWS_RETRY_MODE.
 */
import { TrellisError } from '../../core/errors.js';
import { normalizeArtifactPath } from '../artifact-path.js';

export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing `/`; '' for the whole bucket. */
  prefix: string;
}

export interface S3Settings {
  endpoint?: string;
  forcePathStyle: boolean;
  /** Undefined: left to the SDK's chain (AWS_PROFILE's config file). */
  region?: string;
  maxAttempts: number;
  retryMode: 'standard' | 'adaptive';
  /** Giving up on opening a TCP connection. */
  connectTimeoutMs: number;
  /** Giving up on a connection that has sent or received nothing for this long (a stalled server). */
  idleTimeoutMs: number;
  /** Streams are uploaded in parts of this size (S3 allows 5 MiB to 5 GiB, and at most 10,000 parts). */
  partSize: number;
  /** Parts uploaded at the same time; the memory a stream upload holds is about partSize × this. */
  partConcurrency: number;
}

// Amazon's rules for bucket names (dots allowed; path-style addressing copes with them).
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export const MIN_PART_SIZE = 5 * 1024 * 1024;
const DEFAULTS = {
  maxAttempts: 5,
  connectTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  partSize: 8 * 1024 * 1024,
  partConcurrency: 4,
};

export function parseS3Uri(uri: string): S3Location {
  const m = /^s3:\/\/([^/?#]*)(\/.*)?$/s.exec(uri);
  if (!m) throw invalidUri(uri, 'write it s3://<bucket>/<prefix>');
  const bucket = m[1]!;
  if (!BUCKET_RE.test(bucket) || bucket.includes('..')) {
    throw invalidUri(uri, `'${bucket}' is not a bucket name (3 to 63 lower-case letters, digits, dots and hyphens)`);
  }
  let prefix: string;
  try {
    prefix = normalizeArtifactPath((m[2] ?? '').replace(/^\//, ''), { allowEmpty: true });
  } catch (e) {
    throw invalidUri(uri, `the prefix is not a safe key prefix (${(e as Error).message})`);
  }
  return { bucket, prefix };
}

export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Settings {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || env.MLFLOW_S3_ENDPOINT_URL || undefined;
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri: endpoint, detail: 'the S3 endpoint must be an http:// or https:// URL' });
    }
  }
  const retryMode = env.AWS_RETRY_MODE || 'standard';
  if (retryMode !== 'standard' && retryMode !== 'adaptive') {
    throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri: `AWS_RETRY_MODE=${retryMode}`, detail: "use 'standard' or 'adaptive'" });
  }
  return {
    endpoint,
    forcePathStyle: /^(true|1)$/i.test(env.AWS_S3_FORCE_PATH_STYLE ?? ''),
    // An S3-compatible server rarely cares about the region, but the request signature needs one.
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || (endpoint ? 'us-east-1' : undefined),
    maxAttempts: intFromEnv(env, 'AWS_MAX_ATTEMPTS', 1, 100) ?? DEFAULTS.maxAttempts,
    retryMode,
    connectTimeoutMs: intFromEnv(env, 'TRELLIS_S3_CONNECT_TIMEOUT_MS', 1, 600_000) ?? DEFAULTS.connectTimeoutMs,
    idleTimeoutMs: intFromEnv(env, 'TRELLIS_S3_IDLE_TIMEOUT_MS', 1, 3_600_000) ?? DEFAULTS.idleTimeoutMs,
    partSize: DEFAULTS.partSize,
    partConcurrency: DEFAULTS.partConcurrency,
  };
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri: `${name}=${raw}`, detail: `${name} must be a whole number from ${min} to ${max}` });
  }
  return n;
}

function invalidUri(uri: string, detail: string): TrellisError {
  return new TrellisError('TRELLIS_STORE_URI_INVALID', { uri, detail });
}
