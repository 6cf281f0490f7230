/**
 * Which code files a warm worker has loaded, and whether they are still what it loaded. A worker
 * records a fingerprint of each file before reading it; before the worker is given another step,
 * every recorded file is checked again, and a worker that holds a file changed since is not reused
 * (its module cache would run the old code). Files under `node_modules` are not tracked: installed
 * packages are taken not to change under a running process.
 */
import { statSync } from 'node:fs';

/** Device, inode, size, modification and change times (ns): any write or replacement changes it. */
export function moduleFingerprint(path: string): string | undefined {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return undefined;
  }
}

export function isTrackedModule(path: string): boolean {
  return !/[\\/]node_modules[\\/]/.test(path);
}

/** The first of `files` that is gone or no longer matches its fingerprint. */
export function changedModule(files: ReadonlyMap<string, string>): string | undefined {
  for (const [path, fp] of files) if (moduleFingerprint(path) !== fp) return path;
  return undefined;
}
