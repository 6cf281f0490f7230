import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reproducibilityTags } from './reproducibility.js';

describe('the reproducibility record', () => {
  it('names the commit, whether the tree is dirty, the lockfile hash and the runtime', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-repro-'));
    try {
      const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
      git('init', '-q');
      git('config', 'user.email', 'ci@example.org');
      git('config', 'user.name', 'CI');
      writeFileSync(join(dir, 'package-lock.json'), '{"lockfileVersion":3}\n');
      mkdirSync(join(dir, 'pipelines'));
      writeFileSync(join(dir, 'pipelines', 'p.yaml'), 'name: p\n');
      git('add', '.');
      git('commit', '-q', '-m', 'first');
      const head = git('rev-parse', 'HEAD');
      const clean = reproducibilityTags(join(dir, 'pipelines'), '1');
      assert.equal(clean['trellis.repro.git.commit'], head);
      assert.equal(clean['trellis.repro.git.dirty'], 'false');
      assert.equal(clean['trellis.repro.lockfile.sha256'], createHash('sha256').update(readFileSync(join(dir, 'package-lock.json'))).digest('hex'));
      assert.equal(clean['trellis.repro.node'], process.version);
      assert.match(clean['trellis.repro.trellis']!, /^\d+\.\d+\.\d+/);
      writeFileSync(join(dir, 'pipelines', 'p.yaml'), 'name: p2\n');
      assert.equal(reproducibilityTags(join(dir, 'pipelines'), '1')['trellis.repro.git.dirty'], 'true');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('records what it can outside a repository', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-repro-'));
    try {
      const t = reproducibilityTags(dir, '1');
      assert.equal(t['trellis.repro.git.commit'], undefined);
      assert.equal(t['trellis.repro.platform'], `${process.platform}-${process.arch}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
