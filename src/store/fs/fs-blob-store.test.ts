import assert from 'node:assert/strict';
import { mkdtemp, readdir, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeBlobStoreContract } from '../blob/blob-store.contract.js';
import { FsBlobStore } from './fs-blob-store.js';

let base: string;
before(async () => {
  base = await realpath(await mkdtemp(path.join(tmpdir(), 'trellis-fs-blobs-')));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

let n = 0;
const fresh = () => FsBlobStore.open(path.join(base, `store-${++n}`));

describeBlobStoreContract('fs', fresh);

describe('FsBlobStore', () => {
  it('writes put-if-absent objects read-only, and replaceable ones writable', async () => {
    const store = await fresh();
    await store.put('once/x', Buffer.from('x'), { ifAbsent: true });
    await store.put('many/x', Buffer.from('x'));
    assert.equal((await stat(path.join(store.root, 'once', 'x'))).mode & 0o777, 0o444);
    assert.equal((await stat(path.join(store.root, 'many', 'x'))).mode & 0o777, 0o644);
  });

  it('leaves nothing in tmp/ after puts, stages, commits, discards and deletes', async () => {
    const store = await fresh();
    await store.put('a/b', Buffer.from('small'));
    await store.put('a/c', (async function* () { yield Buffer.alloc(2 << 20); })());
    const staged = await store.stage((async function* () { yield Buffer.from('s'); })());
    await staged.commit('a/d', { ifAbsent: true });
    await staged.discard();
    await (await store.stage((async function* () { yield Buffer.from('t'); })())).discard();
    await store.delete('a');
    assert.deepEqual(await readdir(path.join(store.root, 'tmp')), []);
    assert.deepEqual(await readdir(store.root), ['tmp']);
  });

  it('prunes the directories a delete leaves empty, but not the top-level ones', async () => {
    const store = await fresh();
    await store.put('ns/a/b/c', Buffer.from('c'));
    await store.delete('ns/a/b/c');
    assert.deepEqual(await readdir(path.join(store.root, 'ns')), []);
  });
});
