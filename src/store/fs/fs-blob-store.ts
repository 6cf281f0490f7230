/**
 * The local-filesystem blob adapter: a key is a file under the root, written durably.
 *
 * Every write goes to `tmp/` first, is fsynced, and is made visible by one `rename` (or `link`,
 * for put-if-absent) into place, followed by an fsync of the directory — so a reader, or a crash,
 * sees the old state or the new one, never a torn file. `tmp/` is never visible as a key; what a
 * crash leaves there is junk that no read can reach.
 *
 * The adapter creates no symbolic links, so one found on the way to a key is someone else's: it
 * is refused rather than followed, because following it could read, or through `mkdir -p` write,
 * outside the root.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync, constants as fsc, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync,
} from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, rm, rmdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { TrellisError } from '../../core/errors.js';
import { resolveInside } from '../artifact-path.js';
import {
  BlobError, bufferChunks, checkBlobKey, RESERVED_SEGMENT,
  type BlobBody, type BlobCapabilities, type BlobListing, type BlobReader, type BlobStore, type PutOptions, type StagedBlob,
} from '../blob/blob-store.js';

/** Where the platform has it, refuse to open a symlink even if one appears after our checks. */
const O_NOFOLLOW = fsc.O_NOFOLLOW ?? 0;
/**
 * In-memory data up to this size is written with synchronous calls: the same writes, fsyncs and
 * renames, without a trip through the thread pool for each of them (a small put costs well under
 * a millisecond instead of several). Streams and larger data stay asynchronous.
 */
const SYNC_WRITE_MAX = 1 << 20;
/** Files up to this size are read with synchronous calls, for the same reason. */
const SYNC_READ_MAX = 1 << 20;
/** How often a write retries when a concurrent `delete` prunes the directory it just created. */
const PUT_RETRIES = 3;
/** Objects written with put-if-absent are write-once: read-only, so an in-place edit fails loudly. */
const WRITE_ONCE_MODE = 0o444;
const MUTABLE_MODE = 0o644;

export class FsBlobStore implements BlobStore {
  readonly kind = 'file';
  readonly uri: string;
  readonly capabilities: BlobCapabilities = { hierarchical: true, atomicIfAbsent: true, localReads: true };
  private readonly tmpDir: string;

  private constructor(readonly root: string) {
    this.uri = `file:${root}`;
    this.tmpDir = path.join(root, RESERVED_SEGMENT);
  }

  /**
   * Opens (creating if needed) the store at `rootDir`. The root is resolved through `realpath`
   * once, here, so every later containment check compares real paths with real paths.
   */
  static async open(rootDir: string): Promise<FsBlobStore> {
    const abs = path.resolve(rootDir);
    await mkdir(abs, { recursive: true });
    const root = await realpath(abs);
    const tmp = path.join(root, RESERVED_SEGMENT);
    await mkdir(tmp, { recursive: true });
    // A symlinked tmp/ could sit on another filesystem, where rename is not atomic (EXDEV).
    if (!(await lstat(tmp)).isDirectory()) {
      throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri: `file:${root}`, detail: `'${tmp}' must be a real directory, not a symlink or a file` });
    }
    return new FsBlobStore(root);
  }

  // ---- writes ----

  async put(key: string, body: BlobBody, opts: PutOptions = {}): Promise<boolean> {
    const abs = this.target(key);
    if (body instanceof Uint8Array && body.length <= SYNC_WRITE_MAX) {
      const tmp = this.tmpName('put');
      try {
        writeFileDurableSync(tmp, body, opts.ifAbsent ? WRITE_ONCE_MODE : MUTABLE_MODE);
        return this.place(key, abs, tmp, opts);
      } finally {
        unlinkQuiet(tmp);
      }
    }
    const staged = await this.stage(body instanceof Uint8Array ? Readable.from([body]) : body, opts.ifAbsent ? WRITE_ONCE_MODE : MUTABLE_MODE);
    try {
      return await staged.commit(key, opts);
    } finally {
      await staged.discard();
    }
  }

  async stage(body: AsyncIterable<Uint8Array>, mode = WRITE_ONCE_MODE): Promise<StagedBlob> {
    const tmp = this.tmpName('blob');
    let size = 0;
    try {
      const fh = await open(tmp, 'wx', mode);
      try {
        for await (const chunk of bufferChunks(body)) {
          await writeAll(fh, chunk);
          size += chunk.length;
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (e) {
      unlinkQuiet(tmp);
      throw e;
    }
    let done = false;
    return {
      size,
      commit: async (key, opts = {}) => {
        if (done) throw new Error('a staged blob is committed or discarded once');
        const abs = this.target(key);
        try {
          return this.place(key, abs, tmp, opts);
        } finally {
          done = true;
          unlinkQuiet(tmp);
        }
      },
      discard: async () => {
        done = true;
        unlinkQuiet(tmp);
      },
    };
  }

  /**
   * Moves the durable temp file `tmp` to `abs` (or, for put-if-absent, links it there: `link`
   * fails when the name exists, where `rename` would replace it), then syncs the directory.
   */
  private place(key: string, abs: string, tmp: string, opts: PutOptions): boolean {
    const dir = path.dirname(abs);
    for (let attempt = 0; ; attempt++) {
      try {
        mkdirDurable(dir);
        if (opts.ifAbsent) {
          try {
            linkSync(tmp, abs);
          } catch (e) {
            if (isErrno(e, 'EEXIST')) {
              if (lstatSync(abs).isDirectory()) throw conflictIsDir(key);
              return false;
            }
            // Filesystems without hard links (some network and FUSE mounts): check, then rename.
            if (!isErrno(e, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV')) throw e;
            if (exists(abs)) return false;
            renameSync(tmp, abs);
          }
        } else {
          renameSync(tmp, abs);
        }
        break;
      } catch (e) {
        // A concurrent delete pruned `dir` between our mkdir and rename; making it again is safe.
        if (isErrno(e, 'ENOENT') && attempt < PUT_RETRIES) continue;
        if (isErrno(e, 'ENOTDIR', 'EEXIST')) throw new BlobError('under-object', key, 'is inside a name that is an object');
        if (isErrno(e, 'EISDIR', 'ENOTEMPTY')) throw conflictIsDir(key);
        throw e;
      }
    }
    fsyncDir(dir);
    return true;
  }

  // ---- reads ----

  async get(key: string, opts: { maxBytes?: number } = {}): Promise<Buffer | undefined> {
    const small = this.getSmallSync(key, opts);
    if (small !== 'large') return small;
    const fh = await this.openFile(key);
    if (!fh) return undefined;
    try {
      if (opts.maxBytes !== undefined) {
        const { size } = await fh.stat();
        if (size > opts.maxBytes) throw new BlobError('too-large', key, `is ${size} bytes, more than the ${opts.maxBytes} allowed`);
      }
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  /**
   * One file descriptor serves every stream of the reader: the bytes read twice (once to hash,
   * once to send) are the same inode's, since the adapter replaces files only by rename.
   */
  async open(key: string): Promise<BlobReader | undefined> {
    const fh = await this.openFile(key);
    if (!fh) return undefined;
    let size: number;
    try {
      size = (await fh.stat()).size;
    } catch (e) {
      await fh.close();
      throw e;
    }
    let closed = false;
    return {
      size,
      stream: async () => fh.createReadStream({ start: 0, autoClose: false }),
      close: async () => {
        if (closed) return;
        closed = true;
        await fh.close();
      },
    };
  }

  /** One synchronous `lstat`: it is asked before every blob write, and a thread-pool trip costs more than the call. */
  async stat(key: string): Promise<{ size: number } | undefined> {
    const abs = this.target(key);
    try {
      const st = lstatSync(abs);
      return st.isFile() ? { size: st.size } : undefined;
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw e;
    }
  }

  async list(prefix: string): Promise<BlobListing> {
    const abs = this.target(prefix, true);
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return { objects: [], prefixes: [] };
      throw e;
    }
    const objects: string[] = [];
    const prefixes: string[] = [];
    for (const ent of entries) {
      if (prefix === '' && ent.name === RESERVED_SEGMENT) continue;
      const key = prefix === '' ? ent.name : `${prefix}/${ent.name}`;
      // Symlinks and special files are never written by the adapter: skipped, not followed.
      if (ent.isDirectory()) prefixes.push(key);
      else if (ent.isFile()) objects.push(key);
    }
    return { objects, prefixes };
  }

  /**
   * Renaming into tmp/ first makes the removal of a whole directory atomic for readers; the slow
   * recursive rm then works on something no one can see. A crash mid-rm leaves only tmp/ junk.
   */
  async delete(key: string): Promise<void> {
    const abs = this.target(key);
    const trash = this.tmpName('del');
    try {
      await rename(abs, trash);
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return;
      throw e;
    }
    fsyncDir(path.dirname(abs));
    await rm(trash, { recursive: true, force: true });
    await this.pruneEmptyParents(key);
  }

  /** The adapter holds no handles between calls; a reader from {@link open} owns its fd. */
  async close(): Promise<void> {}

  // ---- paths ----

  private tmpName(kind: string): string {
    return path.join(this.tmpDir, `${kind}-${randomUUID()}`);
  }

  /**
   * The file a key names, after checking the key and that no existing component on the way is a
   * symbolic link. Synchronous `lstat`s: a handful of metadata lookups, cheaper than thread-pool trips.
   */
  private target(key: string, allowRoot = false): string {
    const segments = checkBlobKey(key, { allowRoot });
    const abs = resolveInside(this.root, segments.join('/'));
    let cur = this.root;
    for (let i = 0; i < segments.length; i++) {
      cur = path.join(cur, segments[i]!);
      let st;
      try {
        st = lstatSync(cur);
      } catch (e) {
        if (isErrno(e, 'ENOENT', 'ENOTDIR')) break; // nothing deeper exists, so nothing deeper is a link
        throw e;
      }
      if (st.isSymbolicLink()) {
        throw new BlobError('unsafe', key, `'${segments.slice(0, i + 1).join('/')}' is a symbolic link, which the store never creates and will not follow`);
      }
      if (!st.isDirectory()) break;
    }
    return abs;
  }

  /** The open file at `key`, or undefined when there is no file there (missing, or a directory). */
  /**
   * Reads a file of up to SYNC_READ_MAX bytes with synchronous calls (open, fstat, read, close:
   * four trips through the thread pool saved, as writes do); 'large' when it is bigger, for the
   * asynchronous path. Same checks as openFile: no symlinks, files only.
   */
  private getSmallSync(key: string, opts: { maxBytes?: number }): Buffer | undefined | 'large' {
    const abs = this.target(key);
    let fd: number;
    try {
      fd = openSync(abs, fsc.O_RDONLY | O_NOFOLLOW);
    } catch (e) {
      return openFailed(e, key);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return undefined;
      if (st.size > SYNC_READ_MAX) return 'large';
      if (opts.maxBytes !== undefined && st.size > opts.maxBytes) throw new BlobError('too-large', key, `is ${st.size} bytes, more than the ${opts.maxBytes} allowed`);
      const buf = Buffer.allocUnsafe(st.size);
      let off = 0;
      while (off < buf.length) {
        const n = readSync(fd, buf, off, buf.length - off, off);
        if (n === 0) break;
        off += n;
      }
      return off === buf.length ? buf : buf.subarray(0, off);
    } finally {
      closeSync(fd);
    }
  }

  private async openFile(key: string): Promise<FileHandle | undefined> {
    const abs = this.target(key);
    let fh: FileHandle;
    try {
      fh = await open(abs, fsc.O_RDONLY | O_NOFOLLOW);
    } catch (e) {
      return openFailed(e, key);
    }
    try {
      if ((await fh.stat()).isFile()) return fh;
    } catch (e) {
      await fh.close();
      throw e;
    }
    await fh.close();
    return undefined;
  }

  /**
   * After a delete, removes the directories it left empty, so the fs store, like an object store,
   * has a directory only while something is in it. Top-level directories stay: they are the
   * namespaces of the layer above (`blobs/`, `refs/`). `rmdir` refuses a non-empty directory,
   * which is what makes this safe against a concurrent put (whose rename retries if we win the race).
   */
  private async pruneEmptyParents(key: string): Promise<void> {
    const segments = key.split('/');
    for (let n = segments.length - 1; n > 1; n--) {
      const dir = path.join(this.root, ...segments.slice(0, n));
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

function conflictIsDir(key: string): BlobError {
  return new BlobError('is-prefix', key, 'is a directory');
}

function exists(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

function unlinkQuiet(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Already moved into place, or never created.
  }
}

/** Why opening `key` for reading failed: not there (undefined), a symlink, or the error itself. */
function openFailed(e: unknown, key: string): undefined {
  if (isErrno(e, 'ENOENT', 'ENOTDIR', 'EISDIR')) return undefined;
  // A symlink swapped in after target() checked; same verdict as if it had been there.
  if (isErrno(e, 'ELOOP')) throw new BlobError('unsafe', key, 'is a symbolic link');
  throw e;
}

/** Creates `file` (which must not exist), writes all of `buf` and fsyncs it before closing. */
function writeFileDurableSync(file: string, buf: Uint8Array, mode: number): void {
  const fd = openSync(file, 'wx', mode);
  try {
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
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

function isErrno(e: unknown, ...codes: string[]): boolean {
  const code = e instanceof Error ? (e as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' && codes.includes(code);
}
