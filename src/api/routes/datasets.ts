/**
 * Dataset versions over HTTP, under the Trellis prefixes: upload a data file as a new version, read
 * versions back (without the profile sketches, which only monitors need), diff them, validate and
 * skew-check serving records, and manage the pinned schema contract. Entities are snake_case like
 * the rest of the API; the schema and profile are passed through unchanged because they are
 * versioned documents (`trellis.schema/v1`, `trellis.profile/v1`) that people edit and post back.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TrellisError, invalid, type ErrorParams } from '../../core/errors.js';
import type { DatasetDiff } from '../../data/diff.js';
import { summaryOf, type Profile } from '../../data/profile/profile.js';
import { formatOf, type DataFormat } from '../../data/readers/index.js';
import { profileHtml } from '../../data/report/profile-html.js';
import type { Distance } from '../../data/validate/distances.js';
import type { ValidationReport } from '../../data/validate/validate.js';
import { LIMITS, checkDatasetName } from '../../store/limits.js';
import type { Dataset, DatasetSchemaDoc, DatasetVersion } from '../../store/ports/datasets.js';
import type { Workspace } from '../../workspace/workspace.js';
import { Params, isPlainObject, missing, show, wrongType } from '../params.js';
import { TRELLIS_PREFIXES, actorOf, isJsonContentType, parseJsonBody, type MlflowRouter } from '../router.js';
import { byDataset, datasetObj } from '../route-objects.js';

/** Uploads are streamed to disk, so the bound is about disk and profiling time, not memory. */
export const DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024 ** 3;

const FORMATS: readonly DataFormat[] = ['csv', 'jsonl', 'parquet', 'arrow'];
const FORMAT_EXTENSIONS: Record<DataFormat, string> = { csv: '.csv', jsonl: '.jsonl', parquet: '.parquet', arrow: '.arrow' };

// ---------------------------------------------------------------------------------------------
// Wire shapes

export function datasetJson(d: Dataset): object {
  return {
    name: d.name,
    creation_time: d.creationTime,
    last_update_time: d.lastUpdateTime,
    description: d.description,
    subject_column: d.subjectColumn,
    latest_version: d.latestVersion,
  };
}

export function datasetVersionJson(v: DatasetVersion): object {
  return {
    name: v.name,
    version: v.version,
    sha256: v.sha256,
    format: v.format,
    rows: v.rows,
    columns: v.columns,
    size_bytes: v.sizeBytes,
    source: v.source,
    artifact_path: v.artifactPath,
    created_by: v.createdBy,
    creation_time: v.creationTime,
    lineage: v.lineage,
    schema: v.schema,
    profile: summaryOf(v.profile as Profile),
  };
}

function distanceJson(d: Distance): object {
  return {
    column: d.column, measure: d.measure, value: d.value, threshold: d.threshold,
    sample_size: d.sampleSize, reference_size: d.referenceSize, noise: d.noise, category: d.category,
  };
}

function reportJson(r: ValidationReport & { against: string }): object {
  return {
    ok: r.ok, rows: r.rows, environment: r.environment, against: r.against, anomalies: r.anomalies, distances: r.distances.map(distanceJson),
    excluded_from_drift: r.excludedFromDrift,
  };
}

function diffJson(d: DatasetDiff): object {
  return { ...d, columns: d.columns.map((c) => ({ column: c.column, stats: c.stats, distance: c.distance && distanceJson(c.distance) })) };
}

function schemaDocJson(s: DatasetSchemaDoc): object {
  return { name: s.name, schema_version: s.schemaVersion, schema: s.schema, pinned: s.pinned, created_by: s.createdBy, creation_time: s.creationTime };
}

// ---------------------------------------------------------------------------------------------
// Input

function datasetName(p: Params, param = 'name'): string {
  return checkDatasetName(p.requireString(param, LIMITS.nameLength), param);
}

/** `version` as a positive number, or undefined (absent or `latest`) for the latest version. */
function versionParam(p: Params): number | undefined {
  const v = p.optionalId('version');
  if (v === undefined || v === '' || v === 'latest') return undefined;
  if (!/^\d{1,15}$/.test(v) || Number(v) < 1) throw invalid(`Invalid value ${show(v)} for parameter 'version': a version is a positive number or 'latest'`);
  return Number(v);
}

/** `name` + `version` → the ref the data service reads. */
function refParam(p: Params): string {
  const name = datasetName(p);
  return `${name}@${versionParam(p) ?? 'latest'}`;
}

function formatParam(p: Params): DataFormat | undefined {
  const f = p.optionalString('format');
  if (f === undefined || f === '') return undefined;
  const found = FORMATS.find((x) => x === f.toLowerCase());
  if (!found) throw invalid(`Unknown data format '${show(f)}'; use ${FORMATS.join(', ')}`);
  return found;
}

/**
 * The values of a JSON body that are handed to the data service whole (records, a schema
 * document), which checks them itself. The router has already parsed and checked the body into
 * `Params`, which only hands out scalars and wrapped objects, so the raw object is parsed again.
 */
function rawBody(req: FastifyRequest): Record<string, unknown> {
  return Buffer.isBuffer(req.body) ? parseJsonBody(req.body) : {};
}

function recordsParam(body: Record<string, unknown>): unknown[] {
  const records = body.records;
  if (records === undefined || records === null) throw missing('records');
  if (!Array.isArray(records)) throw wrongType('records', records);
  records.forEach((r, i) => {
    if (!isPlainObject(r)) throw wrongType(`records[${i}]`, r);
  });
  return records;
}

/** `environments`: a JSON object of column → environments, e.g. `{"cnt":["training"]}`. */
function environmentsParam(p: Params): Record<string, string[]> | undefined {
  const raw = p.optionalString('environments');
  if (raw === undefined || raw === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw invalid(`Invalid value ${show(raw)} for parameter 'environments': expected a JSON object such as {"cnt":["training"]}`);
  }
  if (!isPlainObject(v) || !Object.values(v).every((e) => Array.isArray(e) && e.every((x) => typeof x === 'string' && x !== ''))) {
    throw invalid(`Invalid value ${show(raw)} for parameter 'environments': each column takes a list of environment names, e.g. {"cnt":["training"]}`);
  }
  return v as Record<string, string[]>;
}

// ---------------------------------------------------------------------------------------------
// JSON routes

export function datasetRoutes(r: MlflowRouter, ws: Workspace): void {
  r.get('/datasets', { action: 'read', filtered: true }, async ({ auth }) => ({
    datasets: (await ws.data.list()).filter((d) => auth.can('read', datasetObj(d.name))).map(datasetJson),
  }));

  r.get('/datasets/versions', { action: 'read', object: byDataset() }, async ({ p }) => ({ dataset_versions: (await ws.data.versions(datasetName(p))).map(datasetVersionJson) }));

  r.get('/datasets/get', { action: 'read', object: byDataset() }, async ({ p }) => ({ dataset_version: datasetVersionJson(await ws.data.get(refParam(p))) }));

  r.get('/datasets/profile', { action: 'read', object: byDataset() }, async ({ p, reply }) => {
    const ref = refParam(p);
    const format = p.optionalString('format') || 'json';
    if (format !== 'json' && format !== 'html') throw invalid(`Invalid value ${show(format)} for parameter 'format': use json or html`);
    const sketches = p.optionalBool('sketches') ?? false;
    const v = await ws.data.get(ref);
    const profile = v.profile as Profile;
    if (format === 'json') return { name: v.name, version: v.version, profile: sketches ? profile : summaryOf(profile) };
    // Column names and values come from uploaded data: the report escapes them, and the policy
    // keeps any script out of the server's origin should escaping ever miss one.
    return reply
      .type('text/html; charset=utf-8')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .send(profileHtml(profile, `Profile of ${v.name}@${v.version}`));
  });

  // The stored bytes of a version, exactly as added (hash-checked on the way out of the store).
  r.get('/datasets/download', { action: 'read', object: byDataset() }, async ({ p, reply }) => {
    const { version: v, data } = await ws.data.bytes(refParam(p));
    const file = `${v.name}-${v.version}${FORMAT_EXTENSIONS[v.format as DataFormat] ?? ''}`;
    return reply
      .type('application/octet-stream')
      .header('content-disposition', `attachment; filename="${file.replace(/[^\w.-]/g, '_')}"`)
      .header('x-content-type-options', 'nosniff')
      .header('x-trellis-sha256', v.sha256)
      .send(data);
  });

  r.get('/datasets/diff', { action: 'read', object: byDataset('a') }, async ({ p, req, auth }) => {
    auth.require('read', byDataset('b')(req, p));
    return { diff: diffJson(await ws.data.diff(p.requireString('a'), p.requireString('b'))) };
  });

  // Checking records against a schema sent along reads nothing stored; against a dataset, it reads that dataset.
  r.post('/datasets/validate', { action: 'read', filtered: true }, async ({ p, req, auth }) => {
    const body = rawBody(req);
    const records = recordsParam(body);
    const schema = body.schema ?? undefined;
    const against = p.optionalString('against') || undefined;
    if (against) auth.require('read', byDataset('against')(req, p));
    if (!against && schema === undefined) throw missing('against');
    const environment = p.optionalString('environment') || undefined;
    return { report: reportJson(await ws.data.validateRecords(records, { ref: against, schema, environment })) };
  });

  r.post('/datasets/skew', { action: 'read', object: byDataset('against') }, async ({ p, req }) => {
    const records = recordsParam(rawBody(req));
    const s = await ws.data.skew(records, p.requireString('against'));
    return { skew: { against: s.against, distances: s.distances.map(distanceJson), skewed: s.skewed, excluded_from_drift: s.excludedFromDrift } };
  });

  r.get('/datasets/schema', { action: 'read', object: byDataset() }, async ({ p }) => {
    const name = datasetName(p);
    const n = p.optionalInt('schema_version');
    if (n !== undefined && n < 1) throw invalid(`Invalid value ${n} for parameter 'schema_version': must be a positive number`);
    const doc = await ws.data.getSchema(name, n);
    if (doc) return { dataset_schema: schemaDocJson(doc) };
    // Without a pinned schema the contract is each version's inferred schema: nothing to return.
    if (n === undefined) return {};
    throw new TrellisError('TRELLIS_DATASET_VERSION_NOT_FOUND', { name, version: `schema ${n}` }, { message: `Dataset '${name}' has no schema version ${n}` });
  });

  r.post('/datasets/schema', { action: 'write', object: byDataset() }, async ({ p, req, who }) => {
    const name = datasetName(p);
    const schema = rawBody(req).schema;
    if (schema === undefined || schema === null) throw missing('schema');
    return { dataset_schema: schemaDocJson(await ws.data.putSchema(name, schema, p.optionalBool('pin') ?? false, who)) };
  });

  r.get('/datasets/subjects', { action: 'read', filtered: true }, async ({ p, auth }) => ({
    versions: (await ws.data.findSubject(p.requireString('subject'))).filter((v) => auth.can('read', datasetObj(v.name))),
  }));
}

// ---------------------------------------------------------------------------------------------
// Upload

export interface DatasetUploadOptions {
  ws: Workspace;
  /** Larger bodies are refused (default: $TRELLIS_MAX_UPLOAD_BYTES, else 2 GiB). */
  maxUploadBytes?: number;
}

function defaultLimit(): number {
  const env = Number(process.env.TRELLIS_MAX_UPLOAD_BYTES);
  return Number.isSafeInteger(env) && env > 0 ? env : DEFAULT_MAX_UPLOAD_BYTES;
}

const tooLarge = (limit: number) => new TrellisError('TRELLIS_LIMIT_EXCEEDED', {
  detail: `The upload is larger than this server accepts (${limit} bytes); raise TRELLIS_MAX_UPLOAD_BYTES on the server or add the file from its host`,
});

/**
 * The name the upload is stored under: the client's file name (only its last segment, in a safe
 * alphabet), or the dataset name with the format's extension. The extension matters beyond the
 * format: a `.tsv` is read tab-separated, and the stored artifact keeps it.
 */
function uploadFileName(name: string, filename: string | undefined, format: DataFormat | undefined): string {
  let base = filename ? filename.slice(Math.max(filename.lastIndexOf('/'), filename.lastIndexOf('\\')) + 1) : '';
  base = base.replace(/[^\w.-]/g, '_').slice(-200);
  if (base.startsWith('.')) base = `upload${base}`;
  if (!base) base = format && !formatOf(name) ? `${name}${FORMAT_EXTENSIONS[format]}` : name;
  if (!format && !formatOf(base)) {
    throw invalid(`Cannot tell the format of the upload '${show(base)}': pass format=${FORMATS.join('|')}, or a filename with a known extension`);
  }
  return base;
}

/**
 * Streams the body to `file`, refusing it as soon as it passes `limit`; returns its size. On any
 * failure the rest of the body is read and discarded rather than the request destroyed, so the
 * client still receives the error response instead of a reset connection.
 */
async function receive(body: Readable | undefined, file: string, limit: number): Promise<number> {
  let size = 0;
  try {
    await pipeline(async function* () {
      if (!body) return;
      for await (const chunk of { [Symbol.asyncIterator]: () => body.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer> }) {
        size += chunk.length;
        if (size > limit) throw tooLarge(limit);
        yield chunk;
      }
    }, createWriteStream(file, { flags: 'wx' }));
  } catch (e) {
    body?.resume();
    throw e;
  }
  return size;
}

/** Errors name the file they failed on; the client knows the upload by its own name, not our temp path. */
function withoutTempDir(e: unknown, dir: string): unknown {
  if (!(e instanceof TrellisError)) return e;
  const scrub = (s: string) => s.split(dir + sep).join('');
  const params: ErrorParams = Object.fromEntries(Object.entries(e.params).map(([k, v]) => [k, typeof v === 'string' ? scrub(v) : v]));
  return new TrellisError(e.code, params, { message: scrub(e.message), cause: e });
}

/**
 * `POST /datasets/versions`: the body is the data file itself, parameters are in the query string.
 * A plugin of its own so that its content-type parser, which hands the body over as a stream
 * whatever its type, applies to this route only (as the artifact proxy does for PUT).
 */
export async function datasetUploads(app: FastifyInstance, opts: DatasetUploadOptions): Promise<void> {
  const { ws } = opts;
  const limit = opts.maxUploadBytes ?? defaultLimit();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  app.addHook('onRequest', async (req) => {
    if (req.headers['content-type'] === '') delete req.headers['content-type'];
  });

  for (const prefix of TRELLIS_PREFIXES) {
    app.post(`${prefix}/datasets/versions`, { config: { access: { action: 'write', object: byDataset() } } }, async (req) => {
      const p = Params.fromQuery(req.query);
      const name = datasetName(p);
      const format = formatParam(p);
      const file = uploadFileName(name, p.optionalString('filename') || undefined, format);
      const subjectColumn = p.optionalString('subject_column') || undefined;
      const description = p.optionalString('description', LIMITS.descriptionLength) || undefined;
      const environments = environmentsParam(p);
      const ct = req.headers['content-type'];
      // A JSON body here is almost always a client calling this like the other routes (e.g. with a
      // server path), which must not be stored as a dataset.
      if (ct !== undefined && (isJsonContentType(ct) || /^\s*multipart\//i.test(ct))) {
        throw invalid(`Send the data file itself as the request body with a non-JSON, non-multipart Content-Type (e.g. application/octet-stream or text/csv), and name, format, filename in the query string; got Content-Type ${show(ct)}`);
      }
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);

      const dir = await mkdtemp(join(tmpdir(), 'trellis-upload-'));
      try {
        const path = join(dir, basename(file));
        const size = await receive(req.body as Readable | undefined, path, limit);
        if (size === 0) throw invalid('The upload is empty: send the data file as the request body');
        const r = await ws.data.add(name, path, { format, description, subjectColumn, environments, source: `upload:${basename(file)}` }, actorOf(req)).catch((e: unknown) => {
          throw withoutTempDir(e, dir);
        });
        const typeBreaks = r.inference.flatMap((i) => (i.typeBreak ? [{ column: i.name, line: i.typeBreak.line, value: i.typeBreak.value, reason: i.typeBreak.reason }] : []));
        return { dataset_version: datasetVersionJson(r.version), created: r.created, type_breaks: typeBreaks };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
}
