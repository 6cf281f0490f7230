/**
 * A query on MySQL or MariaDB, streamed row by row (the driver pauses the socket while the file
 * catches up) inside a read-only transaction, written as JSON Lines.
 *
 * Credentials come from the URL, else the password from MYSQL_PWD as the `mysql` client takes it.
 * Types: integers and floats stay numbers (DECIMAL too; BIGINT beyond 2^53 is text), dates and
 * times become ISO-8601 text as the server wrote them (no time-zone shift), binary values base64.
 */
import { TrellisError } from '../../core/errors.js';
import type { SqlReadOptions } from './postgres.js';
import { checkColumnNames, emptyResult, hostPort, JsonlWriter, NETWORK_CODES, unreachable } from './snapshot-file.js';

// Column types (protocol numbers) written 'YYYY-MM-DD HH:MM:SS' by the server.
const TIMESTAMP = 7;
const DATETIME = 12;

export async function readMysql(uri: string, query: string, o: SqlReadOptions, env: NodeJS.ProcessEnv = process.env): Promise<{ rows: number; columns: string[] }> {
  const { default: mysql } = await import('mysql2');
  const url = new URL(uri);
  const where = hostPort(url, 3306);
  const conn = mysql.createConnection({
    host: url.hostname || 'localhost',
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username) || env.MYSQL_USER || env.USER,
    password: url.password ? decodeURIComponent(url.password) : env.MYSQL_PWD,
    database: decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined,
    connectTimeout: o.connectTimeoutMs ?? 10_000,
    dateStrings: true,
    decimalNumbers: true,
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
  conn.on('error', () => undefined);
  try {
    await new Promise<void>((res, rej) => conn.connect((e) => (e ? rej(e) : res())));
  } catch (e) {
    conn.destroy();
    const err = e as NodeJS.ErrnoException;
    if (err.code && NETWORK_CODES.has(err.code)) throw unreachable(o.source, where, e);
    throw new TrellisError('TRELLIS_DATA_SOURCE_FAILED', { source: o.source, detail: `${where}: ${(err as { sqlMessage?: string }).sqlMessage ?? err.message}` });
  }
  const run = (sql: string) => new Promise<void>((res, rej) => conn.query(sql, (e) => (e ? rej(e) : res())));
  let writer: JsonlWriter | undefined;
  try {
    await run('START TRANSACTION READ ONLY');
    const q = conn.query({ sql: query.trim().replace(/;\s*$/, ''), rowsAsArray: true });
    let columns: string[] = [];
    let dates: number[] = [];
    q.on('fields', (fields: { name: string; columnType?: number; type?: number }[] | undefined) => {
      if (!fields || writer) return;
      columns = fields.map((f) => f.name);
      dates = fields.flatMap((f, i) => ((f.columnType ?? f.type) === DATETIME || (f.columnType ?? f.type) === TIMESTAMP ? [i] : []));
      checkColumnNames(columns, o.source);
      writer = new JsonlWriter(o.file, columns);
    });
    const batch = o.batchRows ?? 5000;
    let rows: unknown[][] = [];
    try {
      for await (const row of q.stream({ highWaterMark: batch })) {
        if (!Array.isArray(row)) continue;
        for (const i of dates) if (typeof row[i] === 'string') row[i] = row[i].replace(' ', 'T');
        rows.push(row);
        if (rows.length >= batch) {
          await writer!.write(rows);
          rows = [];
          o.onProgress?.({ rows: writer!.rows });
        }
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { sqlMessage?: string };
      if (err.code && NETWORK_CODES.has(err.code)) throw unreachable(o.source, where, e);
      throw new TrellisError('TRELLIS_DATA_SOURCE_FAILED', { source: o.source, detail: `MySQL: ${err.sqlMessage ?? err.message}` });
    }
    if (!writer) throw new TrellisError('TRELLIS_DATA_SOURCE_FAILED', { source: o.source, detail: 'the statement returns no result set; give a SELECT' });
    if (rows.length) await writer.write(rows);
    await run('COMMIT').catch(() => undefined);
    const n = writer.rows;
    await writer.close();
    o.onProgress?.({ rows: n, done: true });
    if (n === 0) throw emptyResult(o.source, 'the query returned no rows');
    return { rows: n, columns };
  } catch (e) {
    writer?.destroy();
    throw e;
  } finally {
    await new Promise<void>((res) => conn.end(() => res()));
  }
}
