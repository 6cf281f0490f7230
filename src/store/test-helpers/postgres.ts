/**
 * A fresh, empty PostgreSQL database per test suite on the real server (127.0.0.1:5432, trust
 * auth), dropped afterwards. Set TRELLIS_TEST_PG to point elsewhere.
 */
import pg from 'pg';
import { randomBytes } from 'node:crypto';

export const PG_ADMIN_URI = process.env.TRELLIS_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function createTestDatabase(prefix = 'trellis_test'): Promise<{ uri: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URI });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const uri = PG_ADMIN_URI.replace(/\/[^/]*$/, `/${name}`);
  return {
    uri,
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URI });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
