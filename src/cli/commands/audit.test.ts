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
