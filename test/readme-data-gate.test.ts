// The README's data gate, run as written: its shell block, line by line, in a fresh folder (with the
// repository's examples/ beside it), `npx trellis …` through the CLI. A later year of clean hours
// must pass against the edited schema; a broken feed must fail, naming its column. And the edited
// schema in examples/ must be the printed one with exactly the edits the README's table lists.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/cli/test-helpers/run-cli.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const HEADING = '### The data gate on a year of new hours';

/** The section of the README under the heading, up to the next heading. */
function section(): string {
  const start = README.indexOf(HEADING);
  assert.ok(start >= 0, `the README has the section '${HEADING}'`);
  const rest = README.slice(start + HEADING.length);
  const end = rest.search(/\n#{1,3} /);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The commands of the section's shell block, without their comments. */
function commands(): string[] {
  const block = /```sh\n([\s\S]*?)```/.exec(section());
  assert.ok(block, 'the section has a shell block');
  return block[1]!.split('\n').map((l) => l.replace(/\s+#\s.*$/, '').trim()).filter(Boolean);
}

interface Ran { line: string; code: number; stdout: string; stderr: string }

describe('README: the data gate', () => {
  let dir: string;
  const ran: Ran[] = [];
  const validations = () => ran.filter((r) => / data validate /.test(r.line));

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-readme-gate-'));
    symlinkSync(join(ROOT, 'examples'), join(dir, 'examples'));
    // The CLI runs from source (`node --import tsx`), which resolves tsx from the working folder.
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const env = { TRELLIS_HOME: join(dir, '.trellis'), TRELLIS_LOG_LEVEL: 'silent' };
    for (const line of commands()) {
      if (line.startsWith('npx trellis ')) {
        const [cmd, redirect] = line.slice('npx trellis '.length).split(/\s+>\s+/);
        const r = runCli(cmd!.split(/\s+/), { cwd: dir, env: { ...process.env, ...env } });
        if (redirect) writeFileSync(join(dir, redirect), r.stdout);
        ran.push({ line, ...r });
      } else {
        const r = spawnSync('sh', ['-c', line], { cwd: dir, encoding: 'utf8' });
        ran.push({ line, code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr });
        assert.equal(r.status, 0, `${line}: ${r.stderr}`);
      }
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('adds bike@1 from the hours of 2011, and stores and pins the edited schema', () => {
    const add = ran.find((r) => / data add /.test(r.line))!;
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /added bike@1: 8645 rows × 17 columns/);
    const pin = ran.find((r) => / data schema bike examples\//.test(r.line))!;
    assert.equal(pin.code, 0, pin.stderr);
    assert.match(pin.stdout, /stored schema 1 of bike \(pinned: validation now uses it\)/);
  });

  it('with the inferred schema, 2012 fails on the columns that changed, not on the row number or the date', () => {
    const first = validations()[0]!;
    assert.equal(first.code, 1, first.stdout);
    assert.match(first.stdout, /not compared with the reference: instant \(role id\), dteday \(role time\)/);
    for (const c of ['yr', 'temp', 'hum', 'cnt']) assert.match(first.stdout, new RegExp(`Column '${c}'`), c);
    assert.doesNotMatch(first.stdout, /Column '(instant|dteday)'/);
  });

  it('the committed schema is the printed one with the edits of the README table', () => {
    const printed = JSON.parse(ran.find((r) => / data schema bike > /.test(r.line))!.stdout) as { columns: Record<string, unknown>[] };
    const rows = [...section().matchAll(/^\| ((?:`\w+`(?:, )?)+) \| `(.+)` \| .+ \|$/gm)];
    assert.equal(rows.length, 4, 'four rows of edits');
    for (const [, cols, edit] of rows) {
      const patch = JSON.parse(`{${edit!.replace(/`/g, '')}}`) as Record<string, unknown>;
      for (const name of cols!.split(', ').map((c) => c.replace(/`/g, ''))) Object.assign(printed.columns.find((c) => c.name === name)!, patch);
    }
    assert.deepEqual(JSON.parse(readFileSync(join(ROOT, 'examples/data/bike-2011.schema.json'), 'utf8')), printed);
  });

  it('against the edited schema the clean hours of 2012 pass, and the report names what it did not compare', () => {
    const clean = validations()[1]!;
    assert.equal(clean.code, 0, clean.stdout);
    assert.match(clean.stdout, /^PASS: 8734 rows, 0 blocking anomalies/);
    assert.match(clean.stdout, /not compared with the reference: instant \(role id\), dteday \(role time\), yr \(drift: false\)/);
    assert.match(clean.stdout, /cnt +jensen_shannon 0\.2533 \(threshold 0\.3 /);
  });

  it('a broken feed fails, naming the column, as the README quotes it', () => {
    const [celsius, stuck] = validations().slice(2);
    assert.equal(celsius!.code, 1, celsius!.stdout);
    assert.ok(celsius!.stdout.includes("Column 'temp' has 8727 values (99.9%) outside [0, 1]"), celsius!.stdout);
    assert.ok(README.includes("Column\n'temp' has 8727 values (99.9%) outside [0, 1]") || section().replace(/\n/g, ' ').includes("Column 'temp' has 8727 values (99.9%) outside [0, 1]"));
    assert.equal(stuck!.code, 1, stuck!.stdout);
    const quoted = "Column 'windspeed' is skewed against the reference: Jensen-Shannon distance 0.8472 > 0.1 + 0.0164";
    assert.ok(stuck!.stdout.includes(quoted), stuck!.stdout);
    assert.ok(section().replace(/\s*\n\s*/g, ' ').includes(quoted));
    assert.doesNotMatch(stuck!.stdout, /Column '(temp|hum|cnt|yr)'/);
  });

  it('the report over --json lists the columns left out and why', () => {
    const r = runCli(['--json', 'data', 'validate', 'hours-2012.csv', '--against', 'bike@1'], { cwd: dir, env: { ...process.env, TRELLIS_HOME: join(dir, '.trellis') } });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { ok: boolean; excludedFromDrift: { column: string; reason: string }[] };
    assert.equal(report.ok, true);
    assert.deepEqual(report.excludedFromDrift, [
      { column: 'instant', reason: 'role id' }, { column: 'dteday', reason: 'role time' }, { column: 'yr', reason: 'drift: false' },
    ]);
  });
});
