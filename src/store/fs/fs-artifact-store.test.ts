import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  describeArtifactStoreContract,
  readAll,
  rejectsWithCode,
  sha256,
  TRAVERSAL_CORPUS,
} from '../artifact-store.contract.js';
import { ContentAddressedStore } from '../cas/cas-artifact-store.js';
import { FsBlobStore } from './fs-blob-store.js';

/** The file artifact store as `openArtifactStore('file:…')` builds it: content addressing over the fs blob adapter. */
async function openFsStore(root: string): Promise<ContentAddressedStore> {
  return new ContentAddressedStore(await FsBlobStore.open(root));
}

let base: string;
before(async () => {
  base = await realpath(await mkdtemp(path.join(tmpdir(), 'trellis-fs-artifacts-')));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

let n = 0;
/** A fresh store in its own directory under `base`, so tests cannot see each other's files. */
async function freshStore(): Promise<{ store: ContentAddressedStore; root: string }> {
  const root = path.join(base, `store-${++n}`);
  return { store: await openFsStore(root), root };
}

function blobFile(root: string, sha: string): string {
  return path.join(root, 'blobs', sha.slice(0, 2), sha);
}

async function allBlobs(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(path.join(root, 'blobs'))) {
    for (const f of await readdir(path.join(root, 'blobs', d))) out.push(f);
  }
  return out.sort();
}

/** Rewrites a read-only blob file, as a disk fault or a meddling operator would. */
async function tamper(file: string, change: (b: Buffer) => Buffer): Promise<void> {
  const bytes = await readFile(file);
  await chmod(file, 0o644);
  await writeFile(file, change(bytes));
}

describeArtifactStoreContract('fs', async () => (await freshStore()).store);

describe('content-addressed artifacts on the filesystem', () => {
  it('creates its layout and reports kind and uri', async () => {
    const { store, root } = await freshStore();
    assert.equal(store.kind, 'file');
    assert.equal(store.uri, `file:${root}`);
    assert.deepEqual(await readdir(root), ['tmp']);
    await store.put('x', 'x');
    assert.deepEqual((await readdir(root)).sort(), ['blobs', 'refs', 'tmp']);
  });

  it('keeps data across reopening the same root', async () => {
    const { store, root } = await freshStore();
    await store.put('m/model.json', '{"a":1}');
    await store.close();
    const again = await openFsStore(root);
    assert.equal((await again.get('m/model.json')).toString(), '{"a":1}');
  });

  it('stores a content-addressed blob and a small JSON ref', async () => {
    const { store, root } = await freshStore();
    const { sha256: sha, size } = await store.put('a/b.txt', 'hello');
    assert.equal(sha, sha256('hello'));
    assert.equal((await readFile(blobFile(root, sha))).toString(), 'hello');
    assert.deepEqual(JSON.parse(await readFile(path.join(root, 'refs', 'a', 'b.txt'), 'utf8')), { sha256: sha, size });
  });

  it('stores identical content once', async () => {
    const { store, root } = await freshStore();
    await store.put('x/one.bin', 'same');
    await store.put('y/two.bin', 'same');
    await store.put('x/three.bin', Buffer.from('same'));
    await store.put('z/other.bin', 'different');
    assert.deepEqual(await allBlobs(root), [sha256('different'), sha256('same')].sort());
    assert.deepEqual(await readdir(path.join(root, 'tmp')), [], 'temp files are cleaned up');
  });

  it('refuses to nest a file under a file, or to replace a directory with a file', async () => {
    const { store } = await freshStore();
    await store.put('c/f', 'file');
    await rejectsWithCode(store.put('c/f/g', 'x'), 'TRELLIS_INVALID_PARAMETER');
    await rejectsWithCode(store.put('c', 'x'), 'TRELLIS_INVALID_PARAMETER');
    assert.equal((await store.get('c/f')).toString(), 'file');
  });

  describe('integrity', () => {
    const content = Buffer.from('the recorded model weights, byte for byte');

    it('refuses a blob with one flipped byte on get and open, and returns no bytes', async () => {
      const { store, root } = await freshStore();
      const { sha256: sha } = await store.put('i/model.bin', content);
      const flipped = Buffer.from(content);
      flipped.writeUInt8(flipped.readUInt8(7) ^ 0x01, 7);
      await tamper(blobFile(root, sha), () => flipped);

      const e = await rejectsWithCode(store.get('i/model.bin'), 'TRELLIS_ARTIFACT_INTEGRITY');
      assert.deepEqual(e.params, { path: 'i/model.bin', expected: sha, actual: sha256(flipped) });
      assert.match(e.message, /i\/model\.bin/);

      // open must fail before a stream exists: there is nothing a caller could read a byte from.
      let opened: unknown;
      await rejectsWithCode(
        store.open('i/model.bin').then((r) => {
          opened = r;
          return r;
        }),
        'TRELLIS_ARTIFACT_INTEGRITY',
      );
      assert.equal(opened, undefined);
    });

    it('refuses a truncated or missing blob', async () => {
      const { store, root } = await freshStore();
      const { sha256: sha } = await store.put('i/t.bin', content);
      await chmod(blobFile(root, sha), 0o644);
      await truncate(blobFile(root, sha), 5);
      await rejectsWithCode(store.get('i/t.bin'), 'TRELLIS_ARTIFACT_INTEGRITY');
      await rm(blobFile(root, sha));
      await rejectsWithCode(store.get('i/t.bin'), 'TRELLIS_ARTIFACT_INTEGRITY');
      await rejectsWithCode(store.open('i/t.bin'), 'TRELLIS_ARTIFACT_INTEGRITY');
    });

    it('refuses a ref that is not a valid record, and one whose hash is a path', async () => {
      const { store, root } = await freshStore();
      await store.put('r/x', 'x');
      await writeFile(path.join(root, 'refs', 'r', 'x'), 'not json');
      await rejectsWithCode(store.get('r/x'), 'TRELLIS_ARTIFACT_INTEGRITY');
      await writeFile(path.join(root, 'refs', 'r', 'x'), JSON.stringify({ sha256: '../../../etc/passwd', size: 1 }));
      await rejectsWithCode(store.get('r/x'), 'TRELLIS_ARTIFACT_INTEGRITY');
    });

    it('repairs a damaged blob when the same content is written again', async () => {
      const { store, root } = await freshStore();
      const { sha256: sha } = await store.put('i/a.bin', content);
      await tamper(blobFile(root, sha), (b) => Buffer.concat([b, Buffer.from('!')]));
      await rejectsWithCode(store.get('i/a.bin'), 'TRELLIS_ARTIFACT_INTEGRITY');
      await store.put('i/b.bin', content);
      assert.ok((await store.get('i/a.bin')).equals(content));
      assert.ok((await readAll((await store.open('i/a.bin')).stream)).equals(content));
    });
  });

  describe('symlinks', () => {
    it('refuses a ref that is a symlink to a file outside the root', async () => {
      const { store, root } = await freshStore();
      const { sha256: sha, size } = await store.put('real.txt', 'real');
      const outside = await mkdtemp(path.join(base, 'outside-'));
      // A perfectly valid ref outside the root: following the link would "work", which is the danger.
      const secret = path.join(outside, 'secret.json');
      const secretText = JSON.stringify({ sha256: sha, size });
      await writeFile(secret, secretText);
      await symlink(secret, path.join(root, 'refs', 'evil'));

      await rejectsWithCode(store.get('evil'), 'TRELLIS_PATH_UNSAFE');
      await rejectsWithCode(store.open('evil'), 'TRELLIS_PATH_UNSAFE');
      await rejectsWithCode(store.stat('evil'), 'TRELLIS_PATH_UNSAFE');
      await rejectsWithCode(store.put('evil', 'overwrite'), 'TRELLIS_PATH_UNSAFE');
      await rejectsWithCode(store.delete('evil'), 'TRELLIS_PATH_UNSAFE');
      assert.deepEqual(
        (await store.list('')).map((e) => e.path),
        ['real.txt'],
        'a symlink is not listed',
      );
      assert.equal(await readFile(secret, 'utf8'), secretText);
    });

    it('refuses to read, write, list or delete through a symlinked directory', async () => {
      const { store, root } = await freshStore();
      const outside = await mkdtemp(path.join(base, 'outside-dir-'));
      await writeFile(path.join(outside, 'keep.txt'), 'keep');
      await mkdir(path.join(root, 'refs'));
      await symlink(outside, path.join(root, 'refs', 'linkdir'));

      await rejectsWithCode(store.put('linkdir/new.txt', 'x'), 'TRELLIS_PATH_UNSAFE');
      await rejectsWithCode(store.put('linkdir/deeper/new.txt', 'x'), 'TRELLIS_PATH_UNSAFE');
      await rejectsWithCode(store.get('linkdir/keep.txt'), 'TRELLIS_PATH_UNSAFE');
      await rejectsWithCode(store.list('linkdir'), 'TRELLIS_PATH_UNSAFE');
      await rejectsWithCode(store.delete('linkdir'), 'TRELLIS_PATH_UNSAFE');
      await rejectsWithCode(store.delete('linkdir/keep.txt'), 'TRELLIS_PATH_UNSAFE');
      assert.deepEqual(await readdir(outside), ['keep.txt']);
    });
  });

  describe('crash safety', () => {
    it('never shows leftovers in tmp/ and keeps working with them there', async () => {
      const { store, root } = await freshStore();
      await store.put('d/a.txt', 'a');
      const before = await store.list('');
      // What a crash mid-put or mid-delete leaves behind.
      await writeFile(path.join(root, 'tmp', 'blob-leftover'), 'half a blob');
      await writeFile(path.join(root, 'tmp', 'ref-leftover'), '{"sha256":');
      await mkdir(path.join(root, 'tmp', 'del-leftover', 'x'), { recursive: true });

      assert.deepEqual(await store.list(''), before);
      assert.equal((await store.list('d')).length, 1);
      await store.put('d/b.txt', 'b');
      assert.deepEqual(
        (await store.list('d')).map((e) => e.path),
        ['d/a.txt', 'd/b.txt'],
      );
    });
  });

  describe('unsafe paths write nothing outside the root', () => {
    it('leaves a sentinel directory next to the root empty, and the store empty', async () => {
      const outer = await mkdtemp(path.join(base, 'sentinel-'));
      const root = path.join(outer, 'root');
      const sentinel = path.join(outer, 'sentinel');
      await mkdir(sentinel);
      const store = await openFsStore(root);

      // Deeper variants too, so an escape of any depth from refs/ lands next to the root.
      const corpus = [...TRAVERSAL_CORPUS, '../../x', '../../sentinel/x', '../../../x', '%2e%2e/%2e%2e/sentinel/x'];
      for (const bad of corpus) {
        await rejectsWithCode(store.put(bad, 'pwned'), 'TRELLIS_PATH_UNSAFE', `put ${JSON.stringify(bad)}`);
        await rejectsWithCode(store.get(bad), 'TRELLIS_PATH_UNSAFE');
        await rejectsWithCode(store.list(bad), 'TRELLIS_PATH_UNSAFE');
        await rejectsWithCode(store.delete(bad), 'TRELLIS_PATH_UNSAFE');
      }

      assert.deepEqual(await readdir(sentinel), []);
      assert.deepEqual((await readdir(outer)).sort(), ['root', 'sentinel']);
      assert.deepEqual(await readdir(root), ['tmp'], 'no blob or ref was written');
      assert.deepEqual(await readdir(path.join(root, 'tmp')), [], 'tmp/ is empty');
    });
  });
});
