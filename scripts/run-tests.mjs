#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with Node's own test runner (TypeScript through tsx).
// Extra arguments are passed to the runner, e.g. `node scripts/run-tests.mjs --test-name-pattern=audit`.
import { chmodSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/**
 * Run as root, the tests run deployed pipelines' code as `nobody` (as a root server would), which
 * must pass through this checkout to load Trellis and tsx. A checkout made by `mktemp -d` is mode
 * 700: it is given o+x (pass through, not list). A parent folder that blocks is only named.
 */
function letNobodyPass(checkout) {
  if (process.getuid?.() !== 0) return;
  const st = statSync(checkout);
  if (st.uid === 0 && !(st.mode & 0o001)) {
    chmodSync(checkout, st.mode | 0o001);
    console.log(`# tests: ${checkout} made passable for other users (o+x): deployed pipelines' code runs as nobody under root`);
  }
  for (let dir = dirname(checkout); dir !== dirname(dir); dir = dirname(dir)) {
    if (!(statSync(dir).mode & 0o001)) {
      console.log(`# tests: nobody cannot pass through ${dir}: the tests that run deployed TypeScript as nobody will fail; run them from a checkout outside it`);
      return;
    }
  }
}
letNobodyPass(resolve('.'));

const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith('--'));
const flags = args.filter((a) => a.startsWith('--'));
let files = ['src', 'test'].flatMap((d) => { try { return walk(d, []); } catch { return []; } }).sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...files], {
  stdio: 'inherit',
  env: { ...process.env, TRELLIS_LOG_LEVEL: process.env.TRELLIS_LOG_LEVEL ?? 'silent' },
});
process.exit(r.status ?? 1);
