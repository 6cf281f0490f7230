import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Trellis } from '../../sdk/trellis.js';
import { GENESIS_HASH, auditHash } from '../../store/audit-chain.js';
import { fileSigner } from '../../store/audit-signing.js';
import { Workspace } from '../../workspace/workspace.js';
import { runCli } from '../test-helpers/run-cli.js';
import { cli } from '../test-helpers/trellis-project.js';

// The checkpoints of these stores are signed with a key of their own, not one in ./.trellis.
const keys = mkdtempSync(join(tmpdir(), 'trellis-audit-keys-'));
process.env.TRELLIS_AUDIT_KEY_FILE = join(keys, 'audit-signing.key');
after(() => rmSync(keys, { recursive: true, force: true }));

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

describe('the signing key of a SQLite store', () => {
  it('lives beside the database, so commands run from any folder sign with one key and verify passes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-audit-key-'));
    try {
      const g = ['--store', `sqlite:${join(dir, 'store', 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
      const env = { TRELLIS_HOME: '', TRELLIS_AUDIT_KEY_FILE: '' };
      for (const folder of ['one', 'two']) {
        const cwd = join(dir, folder);
        mkdirSync(cwd, { recursive: true });
        const r = await cli([...g, 'experiments', 'create', `from-${folder}`], { cwd, env });
        assert.equal(r.code, 0, r.stderr);
        assert.equal((await cli([...g, 'audit', 'checkpoint'], { cwd, env })).code, 0);
      }
      assert.ok(existsSync(join(dir, 'store', 'audit-signing.key')));
      assert.ok(!existsSync(join(dir, 'one', '.trellis', 'audit-signing.key')) && !existsSync(join(dir, 'two', '.trellis', 'audit-signing.key')));
      const v = await cli([...g, 'audit', 'verify'], { cwd: join(dir, 'one'), env });
      assert.equal(v.code, 0, v.stdout + v.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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

const who = { actor: 'alice' };

describe('trellis audit verify with signed checkpoints', () => {
  let dir: string;
  let db: string;
  let env: NodeJS.ProcessEnv;
  let keyFile: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-audit-cp-'));
    db = join(dir, 'trellis.db');
    keyFile = join(dir, 'keys', 'audit-signing.key');
    env = { TRELLIS_AUDIT_KEY_FILE: keyFile, TRELLIS_AUDIT_CHECKPOINT_EVERY: '4' };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const ws = await Workspace.open({ store: `sqlite:${db}`, artifacts: `file:${join(dir, 'a')}` });
      const run = await ws.tracking.createRun({ experimentId: '0' }, who);
      for (let i = 0; i < 6; i++) await ws.tracking.setExperimentTag('0', 'tick', String(i), who);
      await ws.registry.createModel({ name: 'bikes' }, who);
      for (const _ of [1, 2]) await ws.registry.createVersion({ name: 'bikes', source: `runs:/${run.info.runId}/model` }, who);
      await ws.registry.setAlias('bikes', 'champion', '2', who);
      await ws.close();
    } finally {
      process.env = saved;
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cli = (path: string, ...args: string[]) => runCli(['--store', `sqlite:${path}`, '--artifacts', `file:${join(dir, 'a')}`, 'audit', ...args], { env });
  const tampered = (edit: (d: Database.Database) => void): string => {
    const copy = join(dir, `t-${Math.random().toString(16).slice(2)}.db`);
    copyFileSync(db, copy);
    const d = new Database(copy);
    edit(d);
    d.close();
    return copy;
  };
  const count = (sql: string, path = db): number => {
    const d = new Database(path, { readonly: true });
    try {
      return Number((d.prepare(sql).get() as { n: number }).n);
    } finally {
      d.close();
    }
  };

  it('signs a checkpoint every N events and when the workspace closes, and verifies them', () => {
    const events = count('SELECT COUNT(*) AS n FROM audit_events');
    const seqs = (new Database(db, { readonly: true }).prepare('SELECT seq FROM audit_checkpoints ORDER BY id').all() as { seq: number }[]).map((r) => r.seq);
    assert.deepEqual(seqs, [...Array.from({ length: Math.floor(events / 4) }, (_, i) => (i + 1) * 4), ...(events % 4 ? [events] : [])]);
    const r = cli(db, 'verify');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`audit chain intact: ${events} events verified, ${seqs.length} signed checkpoints`));
    assert.equal(count('SELECT COUNT(*) AS n FROM audit_checkpoints'), seqs.length, 'verifying signs nothing');
  });

  it('fails an event edited with every later hash recomputed', () => {
    const path = tampered((d) => {
      const rows = d.prepare('SELECT * FROM audit_events ORDER BY seq').all() as Record<string, string | number>[];
      let prev = GENESIS_HASH;
      const set = d.prepare('UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?');
      for (const r of rows) {
        const actor = Number(r.seq) === 3 ? 'mallory' : String(r.actor);
        const hash = auditHash(prev, {
          seq: Number(r.seq), time: Number(r.time), actor, action: String(r.action), entityType: String(r.entity_type), entityId: String(r.entity_id),
          before: JSON.parse(String(r.before_json)), after: JSON.parse(String(r.after_json)),
        });
        set.run(actor, prev, hash, r.seq);
        prev = hash;
      }
    });
    const r = cli(path, 'verify');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /BROKEN at event 4 \(altered\): an event among 1–4 was altered: its chain no longer reaches checkpoint 1 signed at \d{4}-/);
  });

  it('fails a cut-off tail', () => {
    const path = tampered((d) => d.exec('DELETE FROM audit_events WHERE seq > 6'));
    const r = cli(path, 'verify');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /the trail ends at event 6 but checkpoint \d+ \(signed [^)]+\) covers events up to \d+: events were removed/);
  });

  it('fails an alias row changed behind the chain', () => {
    const path = tampered((d) => d.exec("UPDATE model_aliases SET version = 1 WHERE alias = 'champion'"));
    const r = cli(path, 'verify');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /alias bikes@champion points at version 1 in the registry, but the audit trail last set it to version 2/);
  });

  it('fails checkpoints signed with another key, and an auditor verifies with the public key alone', () => {
    const other = join(dir, 'other', 'audit-signing.key');
    const keyless = runCli(['--store', `sqlite:${db}`, '--artifacts', `file:${join(dir, 'a')}`, 'audit', 'verify'], { env: { ...env, TRELLIS_AUDIT_KEY_FILE: other } });
    assert.equal(keyless.code, 1, keyless.stdout);
    assert.match(keyless.stderr, /there are \d+ signed checkpoints but no key to verify them with: give --public-key <file>/);
    assert.equal(existsSync(other), false, 'verifying creates no key');
    fileSigner(other).sign('a key pair the store was not signed with');
    const r = runCli(['--store', `sqlite:${db}`, '--artifacts', `file:${join(dir, 'a')}`, 'audit', 'verify'], { env: { ...env, TRELLIS_AUDIT_KEY_FILE: other } });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, new RegExp(`checkpoint 1's signature does not verify with the key in ${other.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const auditor = cli(db, 'verify', '--public-key', join(dir, 'keys', 'audit-signing.pub'));
    assert.equal(auditor.code, 0, auditor.stderr);
    const wrong = cli(db, 'verify', '--public-key', join(dir, 'other', 'audit-signing.pub'));
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /signature does not verify with the key in .*other\/audit-signing\.pub/);
  });

  it('trellis audit checkpoint signs one now, once', () => {
    const path = tampered(() => undefined);
    const before = count('SELECT COUNT(*) AS n FROM audit_checkpoints', path);
    const events = count('SELECT COUNT(*) AS n FROM audit_events', path);
    const first = cli(path, 'checkpoint');
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^checkpoint ${before}: event ${events} \\(${events} events\\)`), 'the close checkpoint covers the last event already');
    assert.equal(count('SELECT COUNT(*) AS n FROM audit_checkpoints', path), before);
  });

  it('refuses a signing key that group or others can read, naming the chmod', () => {
    const path = tampered(() => undefined);
    chmodSync(keyFile, 0o644);
    try {
      for (const cmd of ['verify', 'checkpoint']) {
        const r = cli(path, cmd);
        assert.equal(r.code, 1, r.stdout);
        assert.ok(r.stderr.includes(`the audit signing key ${keyFile} can be read by group or others (mode 0644)`), r.stderr);
        assert.ok(r.stderr.includes(`run: chmod 600 ${keyFile}`), r.stderr);
      }
    } finally {
      chmodSync(keyFile, 0o600);
    }
  });
});
