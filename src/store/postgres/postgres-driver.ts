import pg from 'pg';
import { TrellisError } from '../../core/errors.js';
import type { Row, SqlDialect, SqlDriver, SqlExecutor, SqlValue } from '../sql/sql-driver.js';

const postgresDialect: SqlDialect = {
  name: 'postgres',
  constrainAfterLoad: true,
  types: { bigint: 'BIGINT', double: 'DOUBLE PRECISION', text: 'TEXT', key: 'TEXT COLLATE "C"', autoId: 'BIGSERIAL PRIMARY KEY', clustered: '', include: (cols) => ` INCLUDE (${cols})`, covering: (cols) => `) INCLUDE (${cols}` },
  // Concatenated text: about twice as fast as json_build_object (whose text also has a space around
  // every colon). A double's own text is JSON but for the infinities, spelled as protobuf does.
  jsonObjects: (fields) => {
    const members = fields.map((f, i) => `'${i ? ',' : '{'}"${f.name}":' || ${f.nanFlag === undefined ? `to_json(${f.expr})::text`
      : `CASE WHEN ${f.nanFlag} <> 0 THEN '"NaN"' WHEN ${f.expr} = 'Infinity' THEN '"Infinity"' WHEN ${f.expr} = '-Infinity' THEN '"-Infinity"' ELSE ${f.expr}::text END`}`);
    return `COALESCE('[' || string_agg(${members.join(' || ')} || '}', ',') || ']', '[]')`;
  },
  like: (expr) => `${expr} LIKE ?`,
  ilike: (expr) => `${expr} ILIKE ?`,
  likePattern: (p) => p,
};

/** Every write transaction takes this advisory lock first, so writers commit one at a time. */
const WRITE_LOCK_KEY = 7_262_435_100;

function toPg(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

// int8 and numeric come back as strings by default; Trellis keeps ms timestamps and counts,
// which fit a double exactly.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (v: string) => unknown {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format) as (v: string) => unknown; // pg-types declares it as returning any
  },
};

function wrapConnError(e: unknown): never {
  const code = (e as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '57P01' || code === '57P03') {
    throw new TrellisError('TRELLIS_STORE_UNAVAILABLE', { detail: String((e as Error).message) }, { cause: e });
  }
  throw e;
}

class PgExecutor implements SqlExecutor {
  constructor(protected readonly client: pg.Pool | pg.PoolClient) {}
  async query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    try {
      const r = await this.client.query({ text: toPg(sql), values: params as unknown[] });
      return r.rows as T[];
    } catch (e) {
      return wrapConnError(e);
    }
  }
  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    try {
      const r = await this.client.query({ text: toPg(sql), values: params as unknown[] });
      return { changes: r.rowCount ?? 0 };
    } catch (e) {
      return wrapConnError(e);
    }
  }
  async runMany(sql: string, rows: readonly (readonly SqlValue[])[]): Promise<void> {
    // One round trip per row would cap ingest at network latency; fold rows into multi-row VALUES.
    const m = /^(.*?VALUES\s*)\((.*?)\)(.*)$/is.exec(sql);
    if (!m) {
      for (const r of rows) await this.run(sql, r);
      return;
    }
    const [, head, tuple, tail] = m;
    const width = (tuple!.match(/\?/g) ?? []).length;
    const chunk = Math.max(1, Math.floor(30000 / Math.max(1, width)));
    for (let i = 0; i < rows.length; i += chunk) {
      const part = rows.slice(i, i + chunk);
      const values = part.map(() => `(${tuple})`).join(',');
      await this.run(`${head}${values}${tail}`, part.flat());
    }
  }
}

export class PostgresDriver extends PgExecutor implements SqlDriver {
  readonly dialect = postgresDialect;

  private constructor(private readonly pool: pg.Pool, private readonly uri: string) {
    super(pool);
  }

  static async open(uri: string): Promise<PostgresDriver> {
    const pool = new pg.Pool({ connectionString: uri, max: 10, types });
    pool.on('error', () => {
      /* idle client errors surface on the next query */
    });
    const d = new PostgresDriver(pool, uri);
    await d.query('SELECT 1');
    return d;
  }

  async exec(sql: string): Promise<void> {
    await this.transaction(async (tx) => {
      await (tx as PgExecutor).query(sql);
    });
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      return wrapConnError(e);
    }
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK_KEY]);
      const out = await fn(new PgExecutor(client));
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners].map((stop) => stop()));
    await this.pool.end();
  }

  private readonly listeners = new Set<() => Promise<void>>();

  /**
   * LISTEN on a connection of its own (not the pool's: it stays open). A lost connection is
   * reopened after a second, and `onNotify` is called then too, since notifications sent while it
   * was down are lost.
   */
  async listen(channel: string, onNotify: () => void): Promise<() => Promise<void>> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`invalid channel name '${channel}'`);
    let client: pg.Client | undefined;
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    const connect = async (): Promise<void> => {
      const c = new pg.Client({ connectionString: this.uri });
      c.on('notification', (n) => { if (n.channel === channel) onNotify(); });
      c.on('error', () => {
        void c.end().catch(() => undefined);
        if (stopped || client !== c) return;
        client = undefined;
        retry = setTimeout(() => void connect().then(onNotify, () => undefined), 1000);
        retry.unref();
      });
      await c.connect();
      await c.query(`LISTEN ${channel}`);
      if (stopped) {
        await c.end().catch(() => undefined);
        return;
      }
      client = c;
    };
    await connect();
    const stop = async () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      this.listeners.delete(stop);
      await client?.end().catch(() => undefined);
      client = undefined;
    };
    this.listeners.add(stop);
    return stop;
  }
}
