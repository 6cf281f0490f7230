// The README's Serve section, run as written: its shell block in bash, in a fresh folder with the
// repository's test/data/ and examples/ beside it, `npx trellis …` through the CLI from source and
// the ports moved to free ones. The rollout must be promoted, the infer call must answer from
// version 1, and the report and the log export must be written.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const HEADING = '## Serving';

function block(): string {
  const start = README.indexOf(`\n${HEADING}\n`);
  assert.ok(start >= 0, `the README has the section '${HEADING}'`);
  const m = /```sh\n([\s\S]*?)```/.exec(README.slice(start));
  assert.ok(m, 'the section has a shell block');
  return m[1]!;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

describe('README: Serving', () => {
  let dir: string;
  let out: { code: number | null; stdout: string; stderr: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-readme-serve-'));
    mkdirSync(join(dir, 'test'));
    symlinkSync(join(ROOT, 'test/data'), join(dir, 'test/data'));
    symlinkSync(join(ROOT, 'examples'), join(dir, 'examples'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const [rest, grpc] = [await freePort(), await freePort()];
    // `npx trellis` as a clone runs it (a process of its own, so that `kill %1` stops the server), from source here.
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin/npx'), `#!/bin/sh\nshift\nexec node --import tsx ${JSON.stringify(MAIN)} "$@"\n`, { mode: 0o755 });
    const script = [
      'set -e',
      block().replaceAll('node bin/trellis.js', `node --import tsx ${JSON.stringify(MAIN)}`).replaceAll(':8080', `:${rest}`).replaceAll('--port 8080', `--port ${rest}`).replaceAll('8081', String(grpc)),
    ].join('\n');
    writeFileSync(join(dir, 'serve.sh'), script);
    const r = spawnSync('bash', ['serve.sh'], {
      cwd: dir, encoding: 'utf8', timeout: 240_000,
      env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, TRELLIS_HOME: join(dir, '.trellis'), TRELLIS_LOG_FORMAT: 'json', TRELLIS_USER: 'reader' },
    });
    out = { code: r.status, stdout: r.stdout, stderr: `${r.stderr}${r.error ? `\n${r.error.message}` : ''}` };
  });
  after(() => {
    spawnSync('pkill', ['-f', `${dir}`]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs to the end: served, rolled out, promoted, reported and exported', () => {
    assert.equal(out.code, 0, `${out.stdout}\n${out.stderr}`);
    assert.ok(!/ETIMEDOUT/.test(out.stderr), 'the script ends, the server with it');
    const infer = /\{"model_name":"income","model_version":"1".*\}/.exec(out.stdout);
    assert.ok(infer, out.stdout);
    assert.match(infer[0], /"name":"proba","datatype":"FP64","shape":\[1,2\],"parameters":\{"classes":"<=50K,>50K"\}/);
    assert.match(out.stdout, /rolling out income\/2 on income: 25% → 50% → 100%/);
    assert.match(out.stdout, /endpoint income \(revision \d+\)\n\s+primary\s+income\/2\s+100%/);
    assert.match(out.stdout, /rollout_promote .*checks passed at every step/);
    assert.ok(existsSync(join(dir, 'income-ab.html')));
    assert.ok(readFileSync(join(dir, 'income-log.csv'), 'utf8').split('\n').length > 100);
  });
});
