/**
 * Content hashes of step outputs, so that equal outputs get equal keys whatever wrote them.
 *
 * - A file: the sha256 of its bytes.
 * - A directory: the sha256 of its manifest, the text `sha256sum` prints for every file below it,
 *   sorted by relative path (byte order, `/`-separated): one line `<hex sha256>  <relative path>\n`
 *   per file. Equivalent shell: `cd dir && find . -type f | LC_ALL=C sort | cut -c3- | xargs sha256sum | sha256sum`.
 *   A symbolic link inside the directory counts as a file whose bytes are the link's target text
 *   (as in git); empty directories add nothing; modification times and permissions are ignored.
 * An output path that is itself a symbolic link is followed.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { invalid } from '../../core/errors.js';

export async function hashFile(path: string): Promise<string> {
  // A small file in one synchronous read; a large one streamed.
  if (statSync(path).size <= 1 << 20) return createHash('sha256').update(readFileSync(path)).digest('hex');
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function hashOutput(path: string): Promise<string> {
  const s = await stat(path);
  if (s.isFile()) return hashFile(path);
  if (!s.isDirectory()) throw invalid(`cannot hash ${path}: not a file or a directory`);
  const entries: { rel: string; sha: string }[] = [];
  await walk(path, '', entries);
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel)));
  const h = createHash('sha256');
  for (const e of entries) h.update(`${e.sha}  ${e.rel}\n`);
  return h.digest('hex');
}

async function walk(root: string, rel: string, out: { rel: string; sha: string }[]): Promise<void> {
  for (const name of await readdir(join(root, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const full = join(root, r);
    const s = await lstat(full);
    if (s.isDirectory()) await walk(root, r, out);
    else if (s.isFile()) out.push({ rel: r, sha: await hashFile(full) });
    else if (s.isSymbolicLink()) out.push({ rel: r, sha: createHash('sha256').update(await readlink(full)).digest('hex') });
    else throw invalid(`cannot hash ${full}: not a file, a directory or a symbolic link`);
  }
}
