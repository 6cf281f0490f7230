import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Trellis } from '../../sdk/trellis.js';
import { runCli } from '../test-helpers/run-cli.js';

describe('trellis audit verify', () => {
  let dir: string;
  let db: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-audit-'));
    db = join(dir, 'trellis.db');
    const t = await Trellis.open({ store: `sqlite:${db}`, artifacts: `file:${join(dir, 'a')}`, user: 'alice' });
    const run = await t.startRun({ experiment: 'e' });
    await run.logMetrics({ m: 1 });
    await run.logParams({ p: 'x' });
    await run.end();
    await t.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const tampered = (sql: string): string => {
    const copy = join(dir, `t-${Math.random().toString(16).slice(2)}.db`);
    copyFileSync(db, copy);
    const d = new Database(copy);
    d.exec(sql);
    d.close();
    return copy;
  };
  const verify = (path: string) => runCli(['--store', `sqlite:${path}`, '--artifacts', `file:${join(dir, 'a')}`, 'audit', 'verify']);

  it('exits 0 on an intact chain', () => {
    const r = verify(db);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /audit chain intact: \d+ events verified/);
  });

  it('names the first altered event', () => {
    const r = verify(tampered(`UPDATE audit_events SET actor = 'mallory' WHERE seq = 3`));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BROKEN at event 3 \(altered\)/);
  });

  it('names a removed event', () => {
    const r = verify(tampered('DELETE FROM audit_events WHERE seq = 2'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BROKEN at event 2 \(removed\)/);
  });

  it('names reordered events', () => {
    // Swap the contents of events 2 and 3 while keeping their positions.
    const r = verify(tampered(`
      UPDATE audit_events SET seq = -2 WHERE seq = 2;
      UPDATE audit_events SET seq = 2 WHERE seq = 3;
      UPDATE audit_events SET seq = 3 WHERE seq = -2;`));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BROKEN at event 2/);
  });

  it('prints JSON for scripts', () => {
    const r = runCli(['--json', '--store', `sqlite:${db}`, '--artifacts', `file:${join(dir, 'a')}`, 'audit', 'verify']);
    const out = JSON.parse(r.stdout);
    assert.equal(out.ok, true);
    assert.ok(out.checked >= 4);
  });
});

describe('trellis audit log', () => {
  const DAY = 86_400_000;
  let dir: string;
  let g: string[];
  let n: number;
  let times: number[];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-audit-log-'));
    const db = join(dir, 'trellis.db');
    g = ['--store', `sqlite:${db}`, '--artifacts', `file:${join(dir, 'a')}`];
    const t = await Trellis.open({ store: `sqlite:${db}`, artifacts: `file:${join(dir, 'a')}`, user: 'alice' });
    for (const i of [1, 2, 3]) {
      const run = await t.startRun({ experiment: 'e' });
      await run.logMetrics({ m: i });
      await run.end();
    }
    await t.close();
    // Spread the events one day apart, the last one an hour ago.
    const d = new Database(db);
    n = Number((d.prepare('SELECT COUNT(*) AS n FROM audit_events').get() as { n: number }).n);
    const now = Date.now();
    times = Array.from({ length: n }, (_, i) => now - 3_600_000 - (n - 1 - i) * DAY);
    const set = d.prepare('UPDATE audit_events SET time = ? WHERE seq = ?');
    times.forEach((time, i) => set.run(time, i + 1));
    d.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const log = (...args: string[]) => runCli([...g, 'audit', 'log', ...args]);
  const seqs = (...args: string[]): number[] => {
    const r = runCli([...g, '--json', 'audit', 'log', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).map((e: { seq: number }) => e.seq);
  };
  const range = (from: number, to: number) => Array.from({ length: from - to + 1 }, (_, i) => from - i);

  it('prints the newest events first', () => {
    assert.ok(n >= 6);
    assert.deepEqual(seqs(), range(n, 1));
    const table = log();
    assert.equal(table.code, 0, table.stderr);
    const rows = table.stdout.trim().split('\n').slice(1).map((l) => Number(l.split(/\s+/)[0]));
    assert.deepEqual(rows, range(n, 1));
  });

  it('--limit keeps the newest events', () => {
    assert.deepEqual(seqs('--limit', '2'), [n, n - 1]);
    assert.deepEqual(seqs('--limit', '3', '--after', String(n - 2)), [n, n - 1]);
  });

  it('--since takes a duration ago or an ISO 8601 time', () => {
    assert.deepEqual(seqs('--since', '2d'), [n, n - 1]);
    assert.deepEqual(seqs('--since', '90m'), [n]);
    assert.deepEqual(seqs('--since', new Date(times[n - 3]!).toISOString()), [n, n - 1, n - 2]);
    assert.deepEqual(seqs('--since', new Date(times[n - 1]! + 1000).toISOString()), []);
    assert.deepEqual(seqs('--since', '2000-01-01'), range(n, 1));
    assert.deepEqual(seqs('--since', '7d', '--limit', '1'), [n]);
  });

  for (const [flag, value] of [['--since', 'yesterday'], ['--since', '2h ago'], ['--since', '2026-13-45'], ['--since', '-3d'],
    ['--limit', '0'], ['--limit', '-1'], ['--limit', '2.5'], ['--limit', 'ten']] as const) {
    it(`refuses ${flag} ${value}`, () => {
      const r = log(flag, value);
      assert.equal(r.code, 1);
      assert.match(r.stderr, flag === '--since' ? /--since takes an ISO 8601 date or date-time .* or a duration ago/ : /--limit must be a whole number of at least 1/);
      assert.ok(r.stderr.includes(`'${value}'`), r.stderr);
    });
  }
});
