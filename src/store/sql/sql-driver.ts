/**
 * The few primitives the SQL metadata store needs from a database, so that the store itself is
 * written once for SQLite and PostgreSQL. Statements use `?` placeholders; each driver translates.
 * Anything that differs between the two databases is a member of {@link SqlDialect}, not an `if`
 * in the store.
 */

export type SqlValue = string | number | bigint | boolean | null | Uint8Array;

/**
 * One member of a JSON object built in SQL: `name` and the expression of its value. A double
 * column names its NaN flag (NaN is stored as a flag beside a 0, as it has no SQL value that sorts):
 * it is written as a number, or as "NaN", "Infinity" or "-Infinity", as protobuf's JSON mapping
 * writes the doubles JSON cannot hold.
 */
export interface JsonField {
  name: string;
  expr: string;
  nanFlag?: string;
}
export type Row = Record<string, unknown>;

export interface SqlExecutor {
  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /** Runs one statement once per parameter row, as fast as the driver can (prepared once). */
  runMany(sql: string, rows: readonly (readonly SqlValue[])[]): Promise<void>;
}

export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /**
   * How a migration fills a large new table: `false` creates it with its keys and inserts in key
   * order (SQLite, whose clustered tables need their key from the start); `true` fills a bare
   * table and adds the keys after (PostgreSQL: one index build and one foreign-key check instead
   * of a b-tree insert and a trigger per row, four times faster on two million rows).
   */
  readonly constrainAfterLoad: boolean;
  /** Column types for DDL. */
  readonly types: {
    bigint: string;
    double: string;
    text: string;
    autoId: string;
    /**
     * Text compared byte by byte, so that it sorts in code-point order on both databases (SQLite's
     * default; PostgreSQL's "C" collation, also cheaper to compare than a locale's): the keys of
     * metrics, params and tags, which a run's data is ordered by.
     */
    key: string;
    /** Table suffix for tables looked up by a text primary key (SQLite: WITHOUT ROWID, one b-tree search instead of two). */
    clustered: string;
    /**
     * Makes a primary key carry extra columns so lookups never visit the table (PostgreSQL's
     * INCLUDE); SQLite's clustered tables hold every column in the key's b-tree already.
     */
    include(columns: string): string;
    /**
     * Extra trailing columns of a secondary index that make it covering: PostgreSQL adds them as
     * `) INCLUDE (…` after the key; SQLite appends them to the key.
     */
    covering(columns: string): string;
  };
  /**
   * An aggregate that packs the grouped rows into one JSON text, an array of one object per row
   * (`[{"name": value, …}, …]`) in the order the rows reach it (both databases keep the order of a
   * sorted subquery they aggregate): loading many runs then moves one text per run to JavaScript,
   * which can forward it unparsed. Over no rows it is `[]`.
   */
  jsonObjects(fields: readonly JsonField[]): string;
  /** A case-sensitive SQL LIKE of `expr` against one bound pattern. */
  like(expr: string): string;
  /** A case-insensitive LIKE. */
  ilike(expr: string): string;
  /** Rewrites a LIKE pattern into what {@link like} binds (SQLite uses GLOB for case sensitivity). */
  likePattern(pattern: string): string;
}

export interface SqlDriver extends SqlExecutor {
  readonly dialect: SqlDialect;
  /**
   * Runs `fn` in one write transaction. Writers are serialised (so the audit chain has one order,
   * the commit order); readers outside the transaction never see its uncommitted rows.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
  /**
   * Calls `onNotify` on each notification of `channel` (PostgreSQL LISTEN) until the returned
   * function is called; absent where the database pushes nothing (SQLite: its readers poll).
   */
  listen?(channel: string, onNotify: () => void): Promise<() => Promise<void>>;
}
