/**
 * `trellis predictions archive` on a real SQLite workspace with a file: artifact store: it prints
 * the files it wrote, the exports of the same windows are byte for byte the same before and after
 * (CSV with labels, JSON Lines, Parquet), and bad input gets a one-line error. `trellis serve
 * --archive-after` archives at start and says so in its log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PredictionEntry } from '../../store/ports/predictions.js';
import { Workspace } from '../../workspace/workspace.js';
import { runCli } from '../test-helpers/run-cli.js';

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
const DAY = 86_400_000;
const D1 = Date.UTC(2026, 2, 1);

describe('trellis predictions archive', () => {
  let dir: string;
  let g: string[];
  const cli = (...args: string[]): string => {
    const r = runCli([...g, ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const exports = [
    ['all.csv'], ['labelled.csv', '--with-labels'], ['all.jsonl'], ['all.parquet'],
    ['window.csv', '--since', '2026-03-01T12:00Z', '--until', '2026-03-03T00:10Z'], ['shadow.jsonl', '--route', 'shadow'],
  ];
  const exportAll = (tag: string): Buffer[] => exports.map(([file, ...opts]) => {
    const out = join(dir, `${tag}-${file}`);
    cli('predictions', 'export', 'churn', '--output', out, ...opts);
    return readFileSync(out);
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-archive-cli-'));
    g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    const ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
    try {
      const entries: PredictionEntry[] = [];
      for (let d = 0; d < 3; d++) {
        for (let i = 0; i < 30; i++) {
          const time = D1 + d * DAY + Math.floor(i / 2) * 600_000;
          const requestId = `q${d}-${(50 - i).toString().padStart(2, '0')}`;
          const inputs = [{ age: 30 + i, city: i % 2 ? 'Nantes' : 'Brest' }];
          entries.push({ requestId, endpoint: 'churn', time, model: 'churn', version: '1', route: 'primary', shadow: false, latencyMs: i + 0.5, inputs, predictions: ['yes'], classes: ['no', 'yes'], proba: [[0.3, 0.7]] });
          if (i % 4 === 0) entries.push({ requestId, endpoint: 'churn', time, model: 'churn', version: '2', route: 'shadow', shadow: true, latencyMs: 1, inputs, predictions: ['no'], classes: ['no', 'yes'], proba: [[0.6, 0.4]] });
        }
      }
      await ws.predictions.append(entries);
      for (let d = 0; d < 3; d++) await ws.predictions.feedback('churn', `q${d}-48`, 'no');
    } finally {
      await ws.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('moves old entries into day files and exports the same bytes before and after', () => {
    const beforeFiles = exportAll('before');
    assert.match(beforeFiles[1]!.toString(), /^request_id,.*,label,error\n(q\d-48,.*,no,\n){3}$/);
    const out = cli('predictions', 'archive', '--older-than', '2026-03-03T00:30Z');
    assert.match(out, /^churn 2026-03-01: 38 logged requests to predictions\/churn\/2026\/03\/01\/\d{13}-\d{13}-[0-9a-f]{8}\.parquet$/m);
    assert.match(out, /^churn 2026-03-02: 38 logged requests to predictions\/churn\/2026\/03\/02\//m);
    assert.match(out, /^churn 2026-03-03: 8 logged requests to /m);
    assert.match(out, /^moved 84 logged requests older than 2026-03-03T00:30:00.000Z into 3 files$/m);
    const afterFiles = exportAll('after');
    afterFiles.forEach((b, i) => assert.ok(b.equals(beforeFiles[i]!), `${exports[i]!.join(' ')} differs after archiving`));
    assert.match(cli('predictions', 'archive', '--older-than', '2026-03-03T00:30Z', '--endpoint', 'churn'), /^nothing logged before 2026-03-03T00:30:00.000Z to archive\n$/);
    const json = JSON.parse(cli('--json', 'predictions', 'archive', '--older-than', '1d')) as { entries: number; files: { path: string }[] };
    assert.equal(json.entries, 38 - 8); // the rest of the third day
    assert.equal(json.files.length, 1);
    exportAll('all-archived').forEach((b, i) => assert.ok(b.equals(beforeFiles[i]!), `${exports[i]!.join(' ')} differs with everything archived`));
  });

  it('refuses a bad cutoff and an unknown endpoint in one line', () => {
    for (const [args, message] of [
      [['--older-than', 'soon'], /^error: --older-than takes an ISO 8601 date or date-time .* got 'soon'/],
      [['--endpoint', 'nope'], /No deployment named 'nope' and nothing logged for it/],
    ] as const) {
      const r = runCli([...g, 'predictions', 'archive', ...args]);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
    }
  });

  it('archives at the start of trellis serve --archive-after, and refuses a bad duration in one line', async () => {
    const ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
    const now = Date.now();
    try {
      await ws.predictions.append([3 * DAY, 2 * DAY, 3_600_000].map((ago, i) => ({
        requestId: `s${i}`, endpoint: 'fresh', time: now - ago, model: 'churn', version: '1', route: 'primary', shadow: false, latencyMs: 1, inputs: [{ age: i }], predictions: ['no'],
      })));
    } finally {
      await ws.close();
    }
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...g, 'serve', '--port', '0', '--no-grpc', '--archive-after', '1d'], {
      env: { ...process.env, TRELLIS_USER: 'tester', TRELLIS_LOG_FORMAT: 'json', TRELLIS_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let line: { entries: number; files: string[] } | undefined;
    try {
      const deadline = Date.now() + 60_000;
      while (!line) {
        const found = out.split('\n').find((l) => l.includes('"event":"prediction-archive'));
        if (found) line = JSON.parse(found) as { entries: number; files: string[] };
        else if (Date.now() > deadline || child.exitCode !== null) assert.fail(`no archive run in the log of trellis serve:\n${out}`);
        else await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, out);
    assert.deepEqual(line.files.filter((f) => f.startsWith('predictions/fresh/')).length, 2, out);
    const exported = (since: string): number => (JSON.parse(cli('--json', 'predictions', 'export', 'fresh', '--since', since, '--output', join(dir, `since-${since}.jsonl`))) as { requests: number }).requests;
    assert.equal(exported('1d'), 1);
    assert.equal(exported('4d'), 3);

    const bad = runCli([...g, 'serve', '--port', '0', '--no-grpc', '--archive-after', 'weekly']);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /--archive-after 'weekly' must be a duration of at least 1s, e.g. 12h, 7d or 2w/);
  });
});
