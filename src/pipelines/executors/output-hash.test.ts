import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashOutput } from './output-hash.js';

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'trellis-hash-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

/** The documented equivalent, computed by coreutils rather than by our code. */
function shellHash(d: string): string {
  return execFileSync('sh', ['-c', 'find . -type f | LC_ALL=C sort | cut -c3- | tr "\\n" "\\0" | xargs -0 -r sha256sum | sha256sum | cut -d" " -f1'], { cwd: d, encoding: 'utf8' }).trim();
}

function tree(root: string, files: [string, string][]): string {
  mkdirSync(root, { recursive: true });
  for (const [rel, content] of files) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
  return root;
}

describe('hashOutput', () => {
  it('hashes a file as the sha256 of its bytes', async () => {
    const f = join(dir, 'model.bin');
    const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 256));
    writeFileSync(f, bytes);
    assert.equal(await hashOutput(f), createHash('sha256').update(bytes).digest('hex'));
  });

  it('hashes a directory as sha256sum of its sorted files, as coreutils computes it', async () => {
    const files: [string, string][] = [['b.txt', 'bee'], ['a/z.csv', 'x,y\n1,2\n'], ['a/b c.txt', 'space'], ['A.txt', 'upper'], ['a-b/c', ''], ['a.b', 'dot']];
    const d = tree(join(dir, 'd1'), files);
    mkdirSync(join(d, 'empty'));
    assert.equal(await hashOutput(d), shellHash(d));
    // The same files written in another order give the same hash; a change of name or content another.
    const again = tree(join(dir, 'd2'), [...files].reverse());
    assert.equal(await hashOutput(again), await hashOutput(d));
    writeFileSync(join(again, 'a', 'z.csv'), 'x,y\n1,3\n');
    assert.notEqual(await hashOutput(again), await hashOutput(d));
    const renamed = tree(join(dir, 'd3'), files.map(([p, c]) => [p === 'b.txt' ? 'c.txt' : p, c]));
    assert.notEqual(await hashOutput(renamed), await hashOutput(d));
    assert.equal(await hashOutput(tree(join(dir, 'd4'), [])), createHash('sha256').update('').digest('hex'));
  });

  it('hashes a symbolic link inside a directory by its target, and follows an output that is a link', async () => {
    const d = tree(join(dir, 'links'), [['data.csv', 'a\n1\n']]);
    symlinkSync('data.csv', join(d, 'latest.csv'));
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    assert.equal(await hashOutput(d), sha(`${sha('a\n1\n')}  data.csv\n${sha('data.csv')}  latest.csv\n`));
    symlinkSync(join(d, 'data.csv'), join(dir, 'out-link'));
    assert.equal(await hashOutput(join(dir, 'out-link')), sha('a\n1\n'));
  });
});
