/**
 * A query on PostgreSQL, read in batches through a cursor (DECLARE … FETCH, in a read-only
 * transaction) and written as JSON Lines, so a large result never sits in memory.
 *
 * Credentials come from the URL or the environment as `psql` takes them (PGPASSWORD, PGUSER,
 * PGHOST, ~/.pgpass). Types: integers, floats and booleans stay numbers and booleans;
 * `bigint` beyond 2^53 and other values without a JSON type are text; `numeric` becomes a float;
 * dates and timestamps become ISO-8601 text (read back as datetimes).
 */
import type { ClientConfig, QueryConfig } from 'pg';
import { TrellisError } from '../../core/errors.js';
import { checkColumnNames, emptyResult, hostPort, JsonlWriter, NETWORK_CODES, unreachable, type ProgressFn } from './snapshot-file.js';

export interface SqlReadOptions {
  /** The redacted URI: what errors and records name. */
  source: string;
  file: string;
  batchRows?: number;
  onProgress?: ProgressFn;
  /** Giving up on connecting after this long. */
  connectTimeoutMs?: number;
}

// OIDs of the types read differently from pg's defaults.
const INT8 = 20;
const NUMERIC = 1700;
const DATE = 1082;
const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;

const isoTz = (s: string) => {
  // '2024-01-02 03:04:05.123+02' → '2024-01-02T03:04:05.123+02:00'
  const t = s.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? s : d.toISOString();
};

function parser(oid: number, format?: string): ((v: string) => unknown) | undefined {
  if (format === 'binary') return undefined;
  switch (oid) {
    case INT8: return (v) => (Number.isSafeInteger(Number(v)) ? Number(v) : v);
    case NUMERIC: return (v) => (Number.isFinite(Number(v)) ? Number(v) : null);
    case DATE: return (v) => v;
    case TIMESTAMP: return (v) => (/^\d{4}-\d\d-\d\d \d/.test(v) ? v.replace(' ', 'T') : v);
    case TIMESTAMPTZ: return isoTz;
    default: return undefined;
  }
}

export async function readPostgres(uri: string, query: string, o: SqlReadOptions): Promise<{ rows: number; columns: string[] }> {
  const { default: pg } = await import('pg');
  const url = new URL(uri);
  const where = hostPort(url, 5432);
  const config: ClientConfig = {
    connectionString: uri,
    connectionTimeoutMillis: o.connectTimeoutMs ?? 10_000,
    application_name: 'trellis data source',
    types: {
      getTypeParser: ((oid: number, format?: string): ((v: string) => unknown) => parser(oid, format) ?? (pg.types.getTypeParser(oid, format as 'text') as (v: string) => unknown)) as typeof pg.types.getTypeParser,
    },
  };
  const client = new pg.Client(config);
  // An error on an idle client (the server going away) must not crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw connectError(o.source, where, e);
  }
  const writer = { current: undefined as JsonlWriter | undefined };
  try {
    await client.query('BEGIN READ ONLY');
    try {
      // The extended protocol takes one statement: `select 1; commit; drop …` is refused, not run.
      await client.query({ text: `${DECLARE}${stripSemicolon(query)}`, queryMode: 'extended' } as QueryConfig);
    } catch (e) {
      throw sqlError(o.source, where, e, DECLARE.length);
    }
    const batch = o.batchRows ?? 5000;
    let columns: string[] = [];
    for (;;) {
      let r;
      try {
        r = await client.query({ text: `FETCH ${batch} FROM trellis_snapshot`, rowMode: 'array' });
      } catch (e) {
        throw sqlError(o.source, where, e);
      }
      if (!writer.current) {
        columns = r.fields.map((f) => f.name);
        checkColumnNames(columns, o.source);
        writer.current = new JsonlWriter(o.file, columns);
      }
      if (r.rows.length) await writer.current.write(r.rows as unknown[][]);
      o.onProgress?.({ rows: writer.current.rows });
      if (r.rows.length < batch) break;
    }
    await client.query('COMMIT').catch(() => undefined);
    const rows = writer.current.rows;
    await writer.current.close();
    o.onProgress?.({ rows, done: true });
    if (rows === 0) throw emptyResult(o.source, 'the query returned no rows');
    return { rows, columns };
  } catch (e) {
    writer.current?.destroy();
    throw e;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const DECLARE = 'DECLARE trellis_snapshot NO SCROLL CURSOR FOR ';

function stripSemicolon(q: string): string {
  return q.trim().replace(/;\s*$/, '');
}

function connectError(source: string, where: string, e: unknown): TrellisError {
  const err = e as NodeJS.ErrnoException & { code?: string; message: string };
  if (err.code && NETWORK_CODES.has(err.code)) return unreachable(source, where, e);
  if (/timeout/i.test(err.message)) return new TrellisError('TRELLIS_DATA_SOURCE_UNREACHABLE', { source, detail: `${where}: no answer within the connection timeout` });
  // Authentication, unknown database, TLS required: the server's own words.
  return new TrellisError('TRELLIS_DATA_SOURCE_FAILED', { source, detail: `${where}: ${err.message}` });
}

function sqlError(source: string, where: string, e: unknown, offset = 0): TrellisError {
  const err = e as NodeJS.ErrnoException & { position?: string };
  if (err.code && NETWORK_CODES.has(err.code)) return unreachable(source, where, e);
  const at = Number(err.position) - offset;
  return new TrellisError('TRELLIS_DATA_SOURCE_FAILED', { source, detail: `PostgreSQL: ${err.message}${at > 0 ? ` (at character ${at} of the query)` : ''}` });
}
