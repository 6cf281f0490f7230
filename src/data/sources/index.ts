/**
 * Data where teams keep it: a source URI read into a snapshot file, which is then added as a
 * dataset version exactly as a local file is.
 *
 * - `s3://bucket/key` — an object, through the artifact store's S3 adapter (`s3.ts`);
 * - `https://…` (and `http://` to hosts TRELLIS_EGRESS_ALLOW lists) — a file, with the egress
 *   rules of `egress.ts` on every connection and redirect (`https.ts`);
 * - `postgres://…`, `postgresql://…`, `mysql://…`, `mariadb://…` with a query — its rows, read
 *   in batches into JSON Lines (`postgres.ts`, `mysql.ts`);
 * - `file://…` or a plain path — the file itself.
 *
 * What a version records: `source`, the URI without its password (nor secret-looking query
 * parameters of a URL); for SQL, the query (`lineage.query`); the digest of the snapshot is the
 * version's sha256, so the version reproduces what was read even after the table changes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrellisError, invalid } from '../../core/errors.js';
import type { Actor } from '../../store/ports/common.js';
import { parseS3Uri } from '../../store/s3/s3-config.js';
import type { AddOptions, AddResult, DatasetService } from '../datasets.js';
import { formatOf, type DataFormat } from '../readers/index.js';
import { egressPolicyFromEnv } from './egress.js';
import type { ProgressFn } from './snapshot-file.js';

export type { SourceProgress, ProgressFn } from './snapshot-file.js';
export { EGRESS_ALLOW_ENV } from './egress.js';

export type SourceKind = 'file' | 's3' | 'http' | 'postgres' | 'mysql';

const SCHEMES: Record<string, SourceKind> = {
  'file:': 'file', 's3:': 's3', 'https:': 'http', 'http:': 'http',
  'postgres:': 'postgres', 'postgresql:': 'postgres', 'mysql:': 'mysql', 'mariadb:': 'mysql',
};
const SCHEME_RE = /^([a-z][a-z0-9+.-]+):\/\//i;
const KNOWN = 'local files, file://, s3://, https:// (http:// to hosts TRELLIS_EGRESS_ALLOW lists), postgres://, postgresql://, mysql:// and mariadb://';

/** Does the text name a source by URI (`scheme://…`) rather than a local path? */
export function isSourceUri(s: string): boolean {
  return SCHEME_RE.test(s);
}

/** The kind of source a URI names; a local path is 'file'. Unknown schemes are refused by name. */
export function sourceKind(uri: string): SourceKind {
  const m = SCHEME_RE.exec(uri);
  if (!m) return 'file';
  const kind = SCHEMES[`${m[1]!.toLowerCase()}:`];
  if (!kind) throw invalid(`Unknown data source scheme '${m[1]}://' in '${redactSource(uri)}': Trellis reads ${KNOWN}`);
  return kind;
}

export const isSqlKind = (k: SourceKind) => k === 'postgres' || k === 'mysql';

const SECRET_PARAM = /pass|secret|token|signature|credential|^sig$|key|auth/i;

/**
 * The URI as it may be recorded and shown: no password, and the values of query parameters that
 * look like secrets (tokens, signatures of presigned URLs) replaced by REDACTED.
 */
export function redactSource(uri: string): string {
  if (!isSourceUri(uri)) return uri;
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, '$1@');
  }
  u.password = '';
  for (const k of [...new Set(u.searchParams.keys())]) if (SECRET_PARAM.test(k)) u.searchParams.set(k, 'REDACTED');
  return u.toString();
}

/** Checks that a query comes with a SQL source and only with one; returns the source's kind. */
export function checkSourceArgs(uri: string, query: string | undefined): SourceKind {
  const kind = sourceKind(uri);
  if (isSqlKind(kind) && (query === undefined || query.trim() === '')) {
    throw invalid(`${redactSource(uri)} is a database: give the query whose rows to take (--query "select …", or the ingest step's 'query' input)`);
  }
  if (!isSqlKind(kind) && query !== undefined) {
    throw invalid(`A query applies only to a SQL source (postgres://, mysql://); '${redactSource(uri)}' is ${kind === 'file' ? 'a file' : `an ${kind === 's3' ? 'S3 object' : 'HTTP URL'}`}`);
  }
  return kind;
}

export interface SnapshotOptions {
  query?: string;
  /** The format of a file source, when its name does not say it. */
  format?: DataFormat;
  /** The folder the snapshot file is written in. */
  dir: string;
  onProgress?: ProgressFn;
  env?: NodeJS.ProcessEnv;
}

export interface Snapshot {
  /** The local file holding what was read (the path itself for a local file). */
  file: string;
  format: DataFormat;
  kind: SourceKind;
  /** The URI without secrets: what the version records as its source. */
  source: string;
  query?: string;
  rows?: number;
}

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw invalid(`${name} must be a positive whole number, got '${raw}'`);
  return n;
}

/** The format of a downloaded file: given, else from its name, else from the server's content type. */
function downloadedFormat(given: DataFormat | undefined, name: string, contentType: string | undefined, source: string): DataFormat {
  if (given) return given;
  const byName = formatOf(name);
  if (byName) return byName;
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const byType: Record<string, DataFormat> = {
    'text/csv': 'csv', 'application/csv': 'csv', 'text/tab-separated-values': 'csv',
    'application/x-ndjson': 'jsonl', 'application/jsonl': 'jsonl', 'application/x-jsonlines': 'jsonl', 'application/jsonlines': 'jsonl',
    'application/vnd.apache.parquet': 'parquet', 'application/x-parquet': 'parquet',
    'application/vnd.apache.arrow.file': 'arrow', 'application/vnd.apache.arrow.stream': 'arrow',
  };
  const f = byType[ct];
  if (f) return f;
  throw new TrellisError('TRELLIS_DATA_FORMAT', {
    file: source, format: 'a data file',
    detail: `neither the name nor the content type${ct ? ` (${ct})` : ''} says the format; pass --format csv|jsonl|parquet|arrow`,
  });
}

/** Reads a source into a snapshot file under `o.dir` (a local file is used where it is). */
export async function snapshotSource(uri: string, o: SnapshotOptions): Promise<Snapshot> {
  const env = o.env ?? process.env;
  const kind = checkSourceArgs(uri, o.query);
  const source = redactSource(uri);
  switch (kind) {
    case 'file': {
      const file = isSourceUri(uri) ? fileURLToPath(uri) : uri;
      const format = o.format ?? formatOf(file);
      if (!format) throw new TrellisError('TRELLIS_DATA_FORMAT', { file, format: 'a data file', detail: `cannot tell the format from '${extname(file)}'; pass --format csv|jsonl|parquet|arrow` });
      return { file, format, kind, source: file };
    }
    case 's3': {
      const { bucket, prefix: key } = parseS3Uri(uri);
      if (!key) throw invalid(`'${source}' names a bucket, not an object: write s3://${bucket}/<key>`);
      const name = posix.basename(key);
      const format = downloadedFormat(o.format, name, undefined, source);
      const file = join(o.dir, `snapshot${extname(name).toLowerCase() || `.${format}`}`);
      const { readS3 } = await import('./s3.js');
      await readS3(uri, { source, file, onProgress: o.onProgress });
      return { file, format, kind, source };
    }
    case 'http': {
      const { readHttp } = await import('./https.js');
      const tmp = join(o.dir, 'download');
      const r = await readHttp(uri, {
        source, file: tmp, policy: egressPolicyFromEnv(env), onProgress: o.onProgress,
        maxBytes: intEnv(env, 'TRELLIS_SOURCE_MAX_BYTES', 2 * 1024 ** 3),
        timeoutMs: intEnv(env, 'TRELLIS_SOURCE_TIMEOUT_MS', 60_000),
      });
      const name = posix.basename(new URL(r.finalUrl).pathname);
      const format = downloadedFormat(o.format, name, r.contentType, source);
      const file = join(o.dir, `snapshot${formatOf(name) ? extname(name).toLowerCase() : `.${format}`}`);
      const { rename } = await import('node:fs/promises');
      await rename(tmp, file);
      return { file, format, kind, source };
    }
    case 'postgres':
    case 'mysql': {
      if (o.format && o.format !== 'jsonl') throw invalid(`--format does not apply to a SQL source: its rows are taken as JSON Lines`);
      const file = join(o.dir, 'snapshot.jsonl');
      const read = { source, file, onProgress: o.onProgress, batchRows: intEnv(env, 'TRELLIS_SOURCE_BATCH_ROWS', 5000) };
      const r = kind === 'postgres'
        ? await (await import('./postgres.js')).readPostgres(uri, o.query!, read)
        : await (await import('./mysql.js')).readMysql(uri, o.query!, read, env);
      return { file, format: 'jsonl', kind, source, query: o.query!.trim(), rows: r.rows };
    }
  }
}

/** A temporary folder for one snapshot, removed after `fn` whatever happens. */
export async function withSnapshotDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-source-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface AddFromSourceOptions extends AddOptions {
  query?: string;
  onProgress?: ProgressFn;
  env?: NodeJS.ProcessEnv;
}

/**
 * `trellis data add <name> --from <uri>`: snapshot the source, then add the snapshot as a
 * version, recording the source without secrets and, for SQL, the query.
 */
export async function addFromSource(data: DatasetService, name: string, uri: string, o: AddFromSourceOptions, who: Actor): Promise<AddResult & { snapshot: Snapshot }> {
  const { query, onProgress, env, ...add } = o;
  checkSourceArgs(uri, query);
  return withSnapshotDir(async (dir) => {
    const snap = await snapshotSource(uri, { query, format: add.format, dir, onProgress, env });
    if (snap.kind === 'file') return { ...(await data.add(name, snap.file, add, who)), snapshot: snap };
    const lineage = snap.query !== undefined ? { ...add.lineage, query: snap.query } : add.lineage;
    const r = await data.add(name, snap.file, { ...add, format: snap.format, source: snap.source, lineage }, who);
    return { ...r, snapshot: snap };
  });
}
