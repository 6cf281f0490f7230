/**
 * The behaviour every {@link ArtifactStore} adapter must show. An adapter's test file calls
 * {@link describeArtifactStoreContract} with a factory for a fresh, empty store; adapter-specific
 * checks (tampering with stored bytes, what lands on disk) live next to the adapter.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isTrellisError, type ErrorCode, type TrellisError } from '../core/errors.js';
import type { ArtifactInfo, ArtifactStore } from './artifact-store.js';

/**
 * Paths that must be refused with TRELLIS_PATH_UNSAFE wherever a path is accepted. Each is a known
 * way out of a root or a way to make two layers disagree about which file is meant.
 */
export const TRAVERSAL_CORPUS: readonly string[] = [
  '../x',
  'a/../../x',
  '%2e%2e%2fx',
  '%2e%2e/x',
  '%252e%252e%252fx',
  '..\\x',
  'a\\b',
  '/etc/passwd',
  'C:/x',
  'file:///etc/passwd',
  'a/b;x=1',
  'a#frag',
  'a?q=1',
  'a\u0000b',
  'a%00b',
];

/** Asserts that `p` rejects with a TrellisError of `code`, and returns that error. */
export async function rejectsWithCode<C extends ErrorCode>(p: Promise<unknown>, code: C, message?: string): Promise<TrellisError & { readonly code: C }> {
  let caught: (TrellisError & { readonly code: C }) | undefined;
  await assert.rejects(p, (e: unknown) => {
    const got = isTrellisError(e) ? e.code : 'an error of another kind';
    assert.ok(isTrellisError(e, code), `${message ? `${message}: ` : ''}expected ${code}, got ${got}: ${String(e)}`);
    caught = e;
    return true;
  });
  return caught!; // assert.rejects returned, so the check above ran and set it
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** Optional fields made explicit, so a comparison does not depend on `size: undefined` vs absent. */
function shape(list: ArtifactInfo[]): Array<Required<Pick<ArtifactInfo, 'path' | 'isDir'>> & Pick<ArtifactInfo, 'size' | 'sha256'>> {
  return list.map((e) => ({ path: e.path, isDir: e.isDir, size: e.size, sha256: e.sha256 }));
}

const file = (path: string, content: string | Buffer) => ({
  path,
  isDir: false,
  size: Buffer.byteLength(content),
  sha256: sha256(content),
});
const dir = (path: string) => ({ path, isDir: true, size: undefined, sha256: undefined });

export function describeArtifactStoreContract(name: string, open: () => Promise<ArtifactStore>): void {
  describe(`ArtifactStore contract: ${name}`, () => {
    let store: ArtifactStore;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.close();
    });

    describe('round trip', () => {
      it('stores bytes and returns their hash and size', async () => {
        const data = new Uint8Array([0, 1, 2, 255, 254, 10, 13]);
        const res = await store.put('rt/bytes.bin', data);
        assert.deepEqual(res, { sha256: sha256(data), size: data.length });
        assert.deepEqual(await store.get('rt/bytes.bin'), Buffer.from(data));
      });

      it('stores strings as UTF-8', async () => {
        const text = 'héllo, wörld ✓ 🌱\n';
        const res = await store.put('rt/text.txt', text);
        assert.equal(res.size, Buffer.byteLength(text, 'utf8'));
        assert.equal((await store.get('rt/text.txt')).toString('utf8'), text);
      });

      it('stores an empty artifact', async () => {
        const res = await store.put('rt/empty', '');
        assert.deepEqual(res, { sha256: sha256(''), size: 0 });
        assert.equal((await store.get('rt/empty')).length, 0);
        const { stream, size } = await store.open('rt/empty');
        assert.equal(size, 0);
        assert.equal((await readAll(stream)).length, 0);
      });

      it('stores a stream of buffers and one of strings', async () => {
        await store.put('rt/stream-bytes', Readable.from([Buffer.from('ab'), Buffer.from('cd')]));
        assert.equal((await store.get('rt/stream-bytes')).toString(), 'abcd');
        await store.put('rt/stream-strings', Readable.from(['ef', 'gh']));
        assert.equal((await store.get('rt/stream-strings')).toString(), 'efgh');
      });

      it('round-trips a 5 MB stream through put, open and get', async () => {
        const data = randomBytes(5 * 1024 * 1024);
        const chunks: Buffer[] = [];
        // Uneven chunk sizes, so no adapter can rely on aligned writes.
        for (let off = 0, n = 1; off < data.length; off += n, n = (n * 7 + 13) % 200_000 + 1) {
          chunks.push(data.subarray(off, Math.min(off + n, data.length)));
        }
        const res = await store.put('rt/big.bin', Readable.from(chunks));
        assert.deepEqual(res, { sha256: sha256(data), size: data.length });

        const opened = await store.open('rt/big.bin');
        assert.equal(opened.size, data.length);
        assert.equal(opened.sha256, sha256(data));
        const streamed = await readAll(opened.stream);
        assert.equal(streamed.length, data.length);
        assert.ok(streamed.equals(data), 'streamed bytes differ');

        assert.ok((await store.get('rt/big.bin')).equals(data), 'get bytes differ');
      });

      it('reports metadata with stat, and undefined for a missing path or a directory', async () => {
        await store.put('rt/stat/file.txt', 'stat me');
        assert.deepEqual(shape([(await store.stat('rt/stat/file.txt'))!]), [file('rt/stat/file.txt', 'stat me')]);
        assert.equal(await store.stat('rt/stat/missing.txt'), undefined);
        assert.equal(await store.stat('rt/stat'), undefined);
      });

      it('accepts a percent-encoded path and stores it decoded', async () => {
        await store.put('rt/my%20file.txt', 'spaced');
        assert.equal((await store.get('rt/my file.txt')).toString(), 'spaced');
        assert.equal((await store.get('rt/my%20file.txt')).toString(), 'spaced');
        assert.ok((await store.list('rt')).some((e) => e.path === 'rt/my file.txt'));
      });

      it('treats equivalent spellings of a path as the same artifact', async () => {
        await store.put('rt//alias/./x.txt', 'one');
        assert.equal((await store.get('rt/alias/x.txt')).toString(), 'one');
        assert.equal((await store.stat('rt/alias/x.txt/'))?.path, 'rt/alias/x.txt');
      });
    });

    describe('overwrite', () => {
      it('replaces the content of a path', async () => {
        await store.put('ow/x.txt', 'first version');
        const res = await store.put('ow/x.txt', 'two');
        assert.deepEqual(res, { sha256: sha256('two'), size: 3 });
        assert.equal((await store.get('ow/x.txt')).toString(), 'two');
        assert.deepEqual(shape([(await store.stat('ow/x.txt'))!]), [file('ow/x.txt', 'two')]);
      });

      it('keeps the old content when a streamed write fails midway', async () => {
        await store.put('ow/atomic.txt', 'old');
        const failing = Readable.from(
          (async function* () {
            yield Buffer.from('partial new content');
            throw new Error('source broke');
          })(),
        );
        await assert.rejects(store.put('ow/atomic.txt', failing), /source broke/);
        assert.equal((await store.get('ow/atomic.txt')).toString(), 'old');
      });

      it('leaves one whole version after concurrent writes to the same path', async () => {
        const versions = Array.from({ length: 8 }, (_, i) => `version ${i} `.repeat(1000 + i));
        await Promise.all(versions.map((v) => store.put('ow/race.txt', v)));
        const got = (await store.get('ow/race.txt')).toString();
        assert.ok(versions.includes(got), 'the content is a mix of writes');
        assert.equal((await store.stat('ow/race.txt'))?.sha256, sha256(got));
      });
    });

    describe('dedup', () => {
      it('gives identical content the same hash, and each path survives deleting the other', async () => {
        const content = 'same bytes at two paths';
        const a = await store.put('dd/a.txt', content);
        const b = await store.put('dd/b.txt', Readable.from([Buffer.from(content)]));
        assert.deepEqual(a, b);
        await store.delete('dd/a.txt');
        assert.equal((await store.get('dd/b.txt')).toString(), content);
        await rejectsWithCode(store.get('dd/a.txt'), 'TRELLIS_ARTIFACT_NOT_FOUND');
      });
    });

    describe('list', () => {
      before(async () => {
        await store.put('ls/b.txt', 'bb');
        await store.put('ls/a.txt', 'a');
        await store.put('ls/sub/c.txt', 'ccc');
        await store.put('ls/sub/deep/d.txt', 'dddd');
        await store.put('ls/Z.txt', 'Z');
      });

      it('lists direct children, files with size and hash, sorted by path', async () => {
        assert.deepEqual(shape(await store.list('ls')), [
          file('ls/Z.txt', 'Z'),
          file('ls/a.txt', 'a'),
          file('ls/b.txt', 'bb'),
          dir('ls/sub'),
        ]);
      });

      it('lists nested directories with paths relative to the store root', async () => {
        assert.deepEqual(shape(await store.list('ls/sub')), [file('ls/sub/c.txt', 'ccc'), dir('ls/sub/deep')]);
        assert.deepEqual(shape(await store.list('ls/sub/deep')), [file('ls/sub/deep/d.txt', 'dddd')]);
      });

      it('accepts the root as the empty path and a trailing slash on a directory', async () => {
        const root = await store.list('');
        assert.ok(root.some((e) => e.path === 'ls' && e.isDir));
        assert.ok(root.every((e) => !e.path.includes('/')), 'root listing must only hold direct children');
        assert.deepEqual(await store.list('ls/sub/'), await store.list('ls/sub'));
      });

      it('lists a missing directory, or a file, as empty', async () => {
        assert.deepEqual(await store.list('ls/nope'), []);
        assert.deepEqual(await store.list('ls/a.txt'), []);
      });
    });

    describe('delete', () => {
      it('removes a file, and the directory it leaves empty', async () => {
        await store.put('del/one/x.txt', 'x');
        await store.put('del/keep.txt', 'k');
        await store.delete('del/one/x.txt');
        await rejectsWithCode(store.get('del/one/x.txt'), 'TRELLIS_ARTIFACT_NOT_FOUND');
        assert.deepEqual(shape(await store.list('del')), [file('del/keep.txt', 'k')]);
      });

      it('removes a directory with everything under it', async () => {
        await store.put('deldir/d/a.txt', 'a');
        await store.put('deldir/d/e/b.txt', 'b');
        await store.put('deldir/other.txt', 'o');
        await store.delete('deldir/d');
        await rejectsWithCode(store.get('deldir/d/a.txt'), 'TRELLIS_ARTIFACT_NOT_FOUND');
        await rejectsWithCode(store.get('deldir/d/e/b.txt'), 'TRELLIS_ARTIFACT_NOT_FOUND');
        assert.deepEqual(await store.list('deldir/d'), []);
        assert.deepEqual(shape(await store.list('deldir')), [file('deldir/other.txt', 'o')]);
      });

      it('ignores a missing path', async () => {
        await store.delete('del/never/was.txt');
      });
    });

    describe('missing paths', () => {
      it('get and open a missing path: TRELLIS_ARTIFACT_NOT_FOUND', async () => {
        await rejectsWithCode(store.get('missing/x.bin'), 'TRELLIS_ARTIFACT_NOT_FOUND');
        await rejectsWithCode(store.open('missing/x.bin'), 'TRELLIS_ARTIFACT_NOT_FOUND');
      });

      it('a directory is not readable as a file', async () => {
        await store.put('missing/dir/inner.txt', 'i');
        await rejectsWithCode(store.get('missing/dir'), 'TRELLIS_ARTIFACT_NOT_FOUND');
        await rejectsWithCode(store.open('missing/dir'), 'TRELLIS_ARTIFACT_NOT_FOUND');
      });
    });

    describe('unsafe paths', () => {
      for (const bad of TRAVERSAL_CORPUS) {
        it(`refuses ${JSON.stringify(bad)} everywhere`, async () => {
          const code = 'TRELLIS_PATH_UNSAFE';
          await rejectsWithCode(store.put(bad, 'pwned'), code, `put ${JSON.stringify(bad)}`);
          await rejectsWithCode(store.get(bad), code, `get ${JSON.stringify(bad)}`);
          await rejectsWithCode(store.open(bad), code, `open ${JSON.stringify(bad)}`);
          await rejectsWithCode(store.stat(bad), code, `stat ${JSON.stringify(bad)}`);
          await rejectsWithCode(store.list(bad), code, `list ${JSON.stringify(bad)}`);
          await rejectsWithCode(store.delete(bad), code, `delete ${JSON.stringify(bad)}`);
        });
      }

      it('refuses the empty path for a file operation', async () => {
        await rejectsWithCode(store.put('', 'x'), 'TRELLIS_PATH_UNSAFE');
        await rejectsWithCode(store.get(''), 'TRELLIS_PATH_UNSAFE');
        await rejectsWithCode(store.delete(''), 'TRELLIS_PATH_UNSAFE');
      });
    });
  });
}
