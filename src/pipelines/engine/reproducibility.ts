/**
 * The reproducibility record of a pipeline run: where the code came from (git commit and whether the
 * work tree had uncommitted changes), the lockfile's hash, the Node.js and platform versions, the
 * Trellis version and the pipeline's hash; the step runs add their parameters (seeds included) and
 * input hashes. Recorded as tags, so it is searchable like any other run fact.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, parse } from 'node:path';

const LOCKFILES = ['package-lock.json', 'pnpm-lock.yaml', 'yarn.lock', 'requirements.txt', 'poetry.lock', 'uv.lock'];

function git(dir: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return undefined;
  }
}

/** The nearest lockfile at or above `dir`, with its sha256. */
function lockfile(dir: string): { path: string; sha256: string } | undefined {
  let d = dir;
  for (;;) {
    for (const name of LOCKFILES) {
      const p = join(d, name);
      if (existsSync(p)) return { path: p, sha256: createHash('sha256').update(readFileSync(p)).digest('hex') };
    }
    if (d === parse(d).root) return undefined;
    d = dirname(d);
  }
}

/** The installed Trellis package's version (src/ and dist/ sit at the same depth below it). */
function trellisVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function reproducibilityTags(baseDir: string, engineVersion: string): Record<string, string> {
  const tags: Record<string, string> = {
    'trellis.repro.node': process.version,
    'trellis.repro.platform': `${process.platform}-${process.arch}`,
    'trellis.repro.trellis': trellisVersion(),
    'trellis.repro.engine': engineVersion,
  };
  const commit = git(baseDir, ['rev-parse', 'HEAD']);
  if (commit) {
    tags['trellis.repro.git.commit'] = commit;
    // Uncommitted changes to tracked files, or new files, make the commit an incomplete record.
    tags['trellis.repro.git.dirty'] = String((git(baseDir, ['status', '--porcelain']) ?? '').length > 0);
  }
  const lock = lockfile(baseDir);
  if (lock) {
    tags['trellis.repro.lockfile'] = lock.path;
    tags['trellis.repro.lockfile.sha256'] = lock.sha256;
  }
  return tags;
}
