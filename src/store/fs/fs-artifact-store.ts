/**
 * The local-filesystem artifact adapter.
 *
 * Layout under the root:
 *   blobs/<aa>/<sha256>  the bytes, named by their hash: identical content is stored once
 *   refs/<path>          a small JSON `{ "sha256", "size" }` naming the blob a path points at
 *   tmp/                 where every write starts; nothing in it is ever visible through the store
 *
 * Why this shape: a write is made visible by one `rename` of a fully written, fsynced file, so a
 * reader (or a crash) sees the old state or the new one, never a torn file; and because a ref
 * records the hash, every read can prove the bytes are the ones that were written.
 */
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, constants as fsc, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, type Dirent } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, rm, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { invalid, TrellisError } from '../../core/errors.js';
import type { ArtifactInfo, ArtifactStore } from '../artifact-store.js';
import { normalizeArtifactPath, resolveInside } from '../artifact-path.js';

/** Where the platform has it, refuse to open a symlink even if one appears after our checks. */
const O_NOFOLLOW = fsc.O_NOFOLLOW ?? 0;
const SHA256_RE = /^[0-9a-f]{64}$/;
const READ_CHUNK = 1 << 16;
/** A real ref is ~100 bytes; anything much larger is not one, and must not be read into memory. */
const MAX_REF_BYTES = 4096;
/** Bounds the open file descriptors while `list` reads the refs of a large directory. */
const LIST_CONCURRENCY = 32;
/**
 * In-memory data up to this size is written with synchronous calls: the same writes, fsyncs and
 * renames, without a trip through the thread pool for each of them (a put of a small file costs
 * well under a millisecond instead of several). Streams and larger data stay asynchronous.
 */
const SYNC_WRITE_MAX = 1 << 20;
/** How often `put` retries when a concurrent `delete` prunes the directory it just created. */
const PUT_RETRIES = 3;

interface Ref {
  sha256: string;
  size: number;
}

export class FsArtifactStore implements ArtifactStore {
  readonly kind = 'file';
  readonly uri: string;
  private readonly blobsDir: string;
  private readonly refsDir: string;
  private readonly tmpDir: string;

  private constructor(readonly root: string) {
    this.uri = `file:${root}`;
    this.blobsDir = path.join(root, 'blobs');
    this.refsDir = path.join(root, 'refs');
    this.tmpDir = path.join(root, 'tmp');
  }

  /**
   * Opens (creating if needed) the store at `rootDir`. The root is resolved through `realpath`
   * once, here, so every later containment check compares real paths with real paths.
   */
  static async open(rootDir: string): Promise<FsArtifactStore> {
    const abs = path.resolve(rootDir);
    await mkdir(abs, { recursive: true });
    const root = await realpath(abs);
    for (const name of ['blobs', 'refs', 'tmp']) {
      const dir = path.join(root, name);
      await mkdir(dir, { recursive: true });
      // A symlinked blobs/ or tmp/ could sit on another filesystem, where rename is not atomic
      // (EXDEV), and a symlinked refs/ would put the containment checks on the wrong tree.
      if (!(await lstat(dir)).isDirectory()) {
        throw new TrellisError('TRELLIS_STORE_URI_INVALID', {
          uri: `file:${root}`,
          detail: `'${dir}' must be a real directory, not a symlink or a file`,
        });
      }
    }
    return new FsArtifactStore(root);
  }

  async put(rawPath: string, data: Readable | Uint8Array | string): Promise<{ sha256: string; size: number }> {
    const { rel, abs } = await this.target(rawPath);
    // Blob first, ref second: a crash in between leaves an unreferenced blob (garbage a GC can
    // collect), never a ref that points at bytes which are not there.
    const ref = await this.writeBlob(data);
    await this.writeRef(rel, abs, ref);
    return ref;
  }

  async get(rawPath: string): Promise<Buffer> {
    const { rel, ref } = await this.lookup(rawPath);
    const fh = await this.openBlob(rel, ref);
    try {
      // One read through the fd we hash: what is checked is exactly what is returned.
      const buf = await fh.readFile();
      verify(rel, ref, createHash('sha256').update(buf).digest('hex'), buf.length);
      return buf;
    } finally {
      await fh.close();
    }
  }

  /**
   * Hashes the whole blob through its fd before handing out a stream from the same fd, so a
   * caller never receives a byte of a blob that fails the check. Blobs are never rewritten in
   * place by the store, so the bytes streamed are the bytes hashed unless someone edits the file
   * in the instant between the two. The stream closes the fd when it ends or is destroyed: a
   * caller that gives up on it must `destroy()` it.
   */
  async open(rawPath: string): Promise<{ stream: Readable; size: number; sha256: string }> {
    const { rel, ref } = await this.lookup(rawPath);
    const fh = await this.openBlob(rel, ref);
    try {
      const { sha256, size } = await hashHandle(fh);
      verify(rel, ref, sha256, size);
    } catch (e) {
      await fh.close();
      throw e;
    }
    return { stream: fh.createReadStream({ start: 0 }), size: ref.size, sha256: ref.sha256 };
  }

  /** Reads only the ref: cheap metadata, not a promise that the blob is intact (reads check that). */
  async stat(rawPath: string): Promise<ArtifactInfo | undefined> {
    const { rel, abs } = await this.target(rawPath);
    const ref = await this.readRef(rel, abs);
    return ref && fileInfo(rel, ref);
  }

  async list(rawDir: string): Promise<ArtifactInfo[]> {
    const { rel, abs } = await this.target(rawDir, true);
    let entries: Dirent[];
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
      throw e;
    }

    const listed = await mapLimit(entries, LIST_CONCURRENCY, async (ent): Promise<ArtifactInfo | undefined> => {
      // Only names the store itself could have written are shown, so every listed path can be fed
      // back to get/delete and mean the same entry. Symlinks and special files are never created
      // by the store; they are someone else's, and are skipped rather than followed.
      if (!isCanonicalName(ent.name)) return undefined;
      const childRel = rel === '' ? ent.name : `${rel}/${ent.name}`;
      if (ent.isDirectory()) return { path: childRel, isDir: true };
      if (!ent.isFile()) return undefined;
      const ref = await this.readRef(childRel, path.join(abs, ent.name));
      return ref && fileInfo(childRel, ref);
    });
    return listed
      .filter((x): x is ArtifactInfo => x !== undefined)
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * Removes the ref (or the whole ref directory). Blobs stay: another ref may share one (that is
   * the dedup), and proving a blob unreferenced needs a scan of all refs — a later GC's job.
   */
  async delete(rawPath: string): Promise<void> {
    const { rel, abs } = await this.target(rawPath);
    // Renaming into tmp/ first makes the removal of a whole directory atomic for readers; the
    // slow recursive rm then works on something no one can see. A crash mid-rm leaves only tmp/ junk.
    const trash = path.join(this.tmpDir, `del-${randomUUID()}`);
    try {
      await rename(abs, trash);
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return;
      throw e;
    }
    fsyncDir(path.dirname(abs));
    await rm(trash, { recursive: true, force: true });
    await this.pruneEmptyParents(rel);
  }

  /** The store holds no handles between calls; a stream from {@link open} owns and closes its fd. */
  async close(): Promise<void> {}

  // ---- paths ----

  /**
   * Normalizes the user's path, joins it under refs/, and refuses it if any existing component is
   * a symlink. The store never creates symlinks, so one is foreign, and following it could read or
   * (through a symlinked directory and `mkdir -p`) write outside the root.
   */
  private async target(rawPath: string, allowEmpty = false): Promise<{ rel: string; abs: string }> {
    return this.targetSync(rawPath, allowEmpty);
  }

  /** {@link target} with synchronous `lstat`s: a handful of metadata lookups, cheaper than thread-pool trips. */
  private targetSync(rawPath: string, allowEmpty = false): { rel: string; abs: string } {
    const rel = normalizeArtifactPath(rawPath, { allowEmpty });
    const abs = resolveInside(this.refsDir, rel);
    let cur = this.refsDir;
    const segments = rel === '' ? [] : rel.split('/');
    for (let i = 0; i < segments.length; i++) {
      cur = path.join(cur, segments[i]);
      let st;
      try {
        st = lstatSync(cur);
      } catch (e) {
        if (isErrno(e, 'ENOENT', 'ENOTDIR')) break; // nothing deeper exists, so nothing deeper is a link
        throw e;
      }
      if (st.isSymbolicLink()) {
        throw new TrellisError('TRELLIS_PATH_UNSAFE', {
          path: rel,
          detail: `'${segments.slice(0, i + 1).join('/')}' is a symbolic link, which the store never creates and will not follow`,
        });
      }
      if (!st.isDirectory()) break;
    }
    return { rel, abs };
  }

  private blobPath(sha256: string): string {
    return path.join(this.blobsDir, sha256.slice(0, 2), sha256);
  }

  // ---- reads ----

  /** The ref of a file, or NOT_FOUND — a directory is not a file, whatever its name. */
  private async lookup(rawPath: string): Promise<{ rel: string; ref: Ref }> {
    const { rel, abs } = await this.target(rawPath);
    const ref = await this.readRef(rel, abs);
    if (!ref) throw new TrellisError('TRELLIS_ARTIFACT_NOT_FOUND', { path: rel });
    return { rel, ref };
  }

  /** The parsed ref at `abs`, or undefined when there is no file there (missing, or a directory). */
  private async readRef(rel: string, abs: string): Promise<Ref | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(abs, fsc.O_RDONLY | O_NOFOLLOW);
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR', 'EISDIR')) return undefined;
      if (isErrno(e, 'ELOOP')) {
        // A symlink swapped in after target() checked; same verdict as if it had been there.
        throw new TrellisError('TRELLIS_PATH_UNSAFE', { path: rel, detail: 'is a symbolic link' });
      }
      throw e;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) return undefined;
      if (st.size > MAX_REF_BYTES) throw corruptRef(rel, `${st.size} bytes, too large for a ref`);
      return parseRef(rel, await fh.readFile('utf8'));
    } finally {
      await fh.close();
    }
  }

  private async openBlob(rel: string, ref: Ref): Promise<FileHandle> {
    try {
      return await open(this.blobPath(ref.sha256), fsc.O_RDONLY | O_NOFOLLOW);
    } catch (e) {
      // The ref promises bytes that are gone: that is lost data, not a missing artifact.
      if (isErrno(e, 'ENOENT', 'ELOOP')) {
        throw new TrellisError('TRELLIS_ARTIFACT_INTEGRITY', { path: rel, expected: ref.sha256, actual: '(blob missing)' });
      }
      throw e;
    }
  }

  // ---- writes ----

  /**
   * Streams `data` into tmp/ while hashing it, fsyncs, then moves it to its content address.
   * Blob files are read-only (0444) to make an accidental in-place edit fail loudly.
   */
  private async writeBlob(data: Readable | Uint8Array | string): Promise<Ref> {
    const tmp = path.join(this.tmpDir, `blob-${randomUUID()}`);
    try {
      let sha256: string;
      let size: number;
      const small = typeof data === 'string' ? (data.length <= SYNC_WRITE_MAX / 4 ? Buffer.from(data, 'utf8') : undefined)
        : data instanceof Uint8Array && data.length <= SYNC_WRITE_MAX ? Buffer.from(data) : undefined;
      if (small) {
        sha256 = createHash('sha256').update(small).digest('hex');
        size = small.length;
        writeFileDurableSync(tmp, small, 0o444);
      } else {
        const hash = createHash('sha256');
        size = 0;
        const fh = await open(tmp, 'wx', 0o444);
        try {
          for await (const chunk of chunksOf(data)) {
            hash.update(chunk);
            await writeAll(fh, chunk);
            size += chunk.length;
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
        sha256 = hash.digest('hex');
      }

      const dest = this.blobPath(sha256);
      mkdirDurable(path.dirname(dest));
      if (await blobIsIntact(dest, sha256, size)) {
        unlinkSync(tmp); // dedup: these bytes are already stored
      } else {
        // Missing, or present but damaged: renaming over a damaged blob repairs it for every ref
        // that shares it, and readers holding the old fd keep the old inode until they close it.
        renameSync(tmp, dest);
        fsyncDir(path.dirname(dest));
      }
      return { sha256, size };
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }

  private async writeRef(rel: string, abs: string, ref: Ref): Promise<void> {
    const tmp = path.join(this.tmpDir, `ref-${randomUUID()}`);
    try {
      writeFileDurableSync(tmp, Buffer.from(`${JSON.stringify({ sha256: ref.sha256, size: ref.size })}\n`, 'utf8'), 0o644);
      const dir = path.dirname(abs);
      for (let attempt = 0; ; attempt++) {
        try {
          mkdirDurable(dir);
          renameSync(tmp, abs);
          break;
        } catch (e) {
          // A concurrent delete pruned `dir` between our mkdir and rename; making it again is safe.
          if (isErrno(e, 'ENOENT') && attempt < PUT_RETRIES) continue;
          if (isErrno(e, 'ENOTDIR', 'EEXIST')) throw invalid(`Artifact path '${rel}' is inside a path that is a file`);
          if (isErrno(e, 'EISDIR', 'ENOTEMPTY')) {
            throw invalid(`Artifact path '${rel}' is a directory; delete it first or pick another path`);
          }
          throw e;
        }
      }
      fsyncDir(dir);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }

  /**
   * After a delete, removes the directories it left empty, so the fs store, like an object store,
   * has a directory only while something is in it. `rmdir` refuses a non-empty directory, which is
   * what makes this safe against a concurrent put (whose rename retries if we win the race).
   */
  private async pruneEmptyParents(rel: string): Promise<void> {
    const segments = rel.split('/');
    for (let n = segments.length - 1; n > 0; n--) {
      const dir = path.join(this.refsDir, ...segments.slice(0, n));
      try {
        await rmdir(dir);
      } catch (e) {
        if (isErrno(e, 'ENOTEMPTY', 'EEXIST', 'ENOENT', 'ENOTDIR')) return;
        throw e;
      }
      fsyncDir(path.dirname(dir));
    }
  }
}

// ---- helpers ----

function fileInfo(rel: string, ref: Ref): ArtifactInfo {
  return { path: rel, isDir: false, size: ref.size, sha256: ref.sha256 };
}

function verify(rel: string, ref: Ref, actualSha: string, actualSize: number): void {
  if (actualSha !== ref.sha256) {
    throw new TrellisError('TRELLIS_ARTIFACT_INTEGRITY', { path: rel, expected: ref.sha256, actual: actualSha });
  }
  // Same hash, different recorded size: the ref itself was edited.
  if (actualSize !== ref.size) {
    throw new TrellisError('TRELLIS_ARTIFACT_INTEGRITY', {
      path: rel,
      expected: `${ref.sha256} (${ref.size} bytes)`,
      actual: `${actualSha} (${actualSize} bytes)`,
    });
  }
}

function corruptRef(rel: string, what: string): TrellisError {
  return new TrellisError('TRELLIS_ARTIFACT_INTEGRITY', { path: rel, expected: '(a valid ref record)', actual: `(${what})` });
}

/**
 * The sha256 in a ref becomes part of a blob path, so it is validated as 64 hex digits: a tampered
 * ref must not be able to point the read at `../../something`.
 */
function parseRef(rel: string, text: string): Ref {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw corruptRef(rel, 'ref is not JSON');
  }
  const r = v as Partial<Ref> | null;
  if (!r || typeof r !== 'object' || typeof r.sha256 !== 'string' || !SHA256_RE.test(r.sha256)) {
    throw corruptRef(rel, 'ref has no valid sha256');
  }
  if (typeof r.size !== 'number' || !Number.isSafeInteger(r.size) || r.size < 0) {
    throw corruptRef(rel, 'ref has no valid size');
  }
  return { sha256: r.sha256, size: r.size };
}

function isCanonicalName(name: string): boolean {
  try {
    return normalizeArtifactPath(name) === name;
  } catch {
    return false;
  }
}

async function hashHandle(fh: FileHandle): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  let pos = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return { sha256: hash.digest('hex'), size: pos };
}

async function blobIsIntact(file: string, sha256: string, size: number): Promise<boolean> {
  let st;
  try {
    st = lstatSync(file);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
  if (!st.isFile() || st.size !== size) return false;
  if (size <= SYNC_WRITE_MAX) {
    let fd: number;
    try {
      fd = openSync(file, fsc.O_RDONLY | O_NOFOLLOW);
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ELOOP')) return false;
      throw e;
    }
    try {
      return createHash('sha256').update(readFileSync(fd)).digest('hex') === sha256;
    } finally {
      closeSync(fd);
    }
  }
  let fh: FileHandle;
  try {
    fh = await open(file, fsc.O_RDONLY | O_NOFOLLOW);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ELOOP')) return false;
    throw e;
  }
  try {
    return (await hashHandle(fh)).sha256 === sha256;
  } finally {
    await fh.close();
  }
}

/** Creates `file` (which must not exist), writes all of `buf` and fsyncs it before closing. */
function writeFileDurableSync(file: string, buf: Buffer, mode: number): void {
  const fd = openSync(file, 'wx', mode);
  try {
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Normalizes the three accepted inputs to Buffers. A Uint8Array is copied so a caller reusing its buffer cannot change bytes between hashing and writing. */
async function* chunksOf(data: Readable | Uint8Array | string): AsyncGenerator<Buffer> {
  if (typeof data === 'string') {
    yield Buffer.from(data, 'utf8');
  } else if (data instanceof Uint8Array) {
    yield Buffer.from(data);
  } else if (data && typeof (data as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    for await (const chunk of data as AsyncIterable<unknown>) {
      if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
      else if (chunk instanceof Uint8Array) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      else throw invalid('Artifact stream chunks must be bytes or strings');
    }
  } else {
    throw invalid('Artifact data must be a Readable stream, a Uint8Array or a string');
  }
}

/** `write` may write less than asked; loop until the whole chunk is on its way to disk. */
async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, null);
    off += bytesWritten;
  }
}

/**
 * `mkdir -p`, then fsync the parent of every directory it created: a new directory entry is only
 * durable once its parent is synced, and a rename into a directory that vanishes on crash is lost.
 */
function mkdirDurable(dir: string): void {
  const first = mkdirSync(dir, { recursive: true });
  if (first === undefined) return;
  const parents: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    parents.push(path.dirname(d));
    if (d === first || d === path.dirname(d)) break;
  }
  for (const p of parents.reverse()) fsyncDir(p);
}

/** Makes a rename or unlink in `dir` durable. Platforms that cannot fsync a directory (Windows) skip it. */
function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch (e) {
    if (isErrno(e, 'EISDIR', 'EPERM', 'EACCES')) return;
    throw e;
  }
  try {
    fsyncSync(fd);
  } catch (e) {
    if (!isErrno(e, 'EINVAL', 'EPERM', 'EBADF', 'ENOTSUP')) throw e;
  } finally {
    closeSync(fd);
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function isErrno(e: unknown, ...codes: string[]): boolean {
  const code = e instanceof Error ? (e as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' && codes.includes(code);
}
