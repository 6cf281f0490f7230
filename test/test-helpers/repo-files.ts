/** The files of the working tree that the repository-wide checks read: what a clone has, less what git ignores. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The folders that .gitignore names (`dist/`, `bench/out/`, …): build output and benchmark
 * scratch copies are not part of a clone, and may hold old copies of the sources.
 */
function ignoredFolders(): { anywhere: Set<string>; fromRoot: Set<string> } {
  const anywhere = new Set(['node_modules']);
  const fromRoot = new Set<string>();
  let text: string;
  try {
    text = readFileSync(join(ROOT, '.gitignore'), 'utf8');
  } catch {
    return { anywhere, fromRoot };
  }
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line.endsWith('/') || line.startsWith('#') || line.startsWith('!') || /[*?[]/.test(line)) continue;
    const name = line.replace(/^\/|\/$/g, '');
    // git anchors a pattern with a slash before its end to the root; a bare name matches at any depth.
    if (line.startsWith('/') || name.includes('/')) fromRoot.add(name);
    else anywhere.add(name);
  }
  return { anywhere, fromRoot };
}

/** Repository-relative paths (forward slashes) of the files under `dirs`, skipping dot folders and ignored folders. */
export function repoFiles(dirs: string[], keep: (path: string) => boolean = () => true): string[] {
  const ignored = ignoredFolders();
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const abs = join(dir, e.name);
      const rel = relative(ROOT, abs).split(sep).join('/');
      if (e.isDirectory()) {
        if (e.name.startsWith('.') || ignored.anywhere.has(e.name) || ignored.fromRoot.has(rel)) continue;
        walk(abs);
      } else if (e.isFile() && keep(rel)) {
        out.push(rel);
      }
    }
  };
  for (const d of dirs) walk(join(ROOT, d));
  return out.sort();
}
