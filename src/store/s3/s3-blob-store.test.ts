/**
 * The S3 adapter against a real S3-compatible server (s3rver, started here): the blob contract,
 * and the artifact contract through content addressing — the same suites the filesystem passes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { describeArtifactStoreContract, sha256 } from '../artifact-store.contract.js';
import { describeBlobStoreContract } from '../blob/blob-store.contract.js';
import { ContentAddressedStore } from '../cas/cas-artifact-store.js';
import { openArtifactStore } from '../open-stores.js';
import { MIN_PART_SIZE } from './s3-config.js';
import { S3BlobStore } from './s3-blob-store.js';
import { startS3rver, type S3TestServer } from './test-helpers/s3-server.js';

let server: S3TestServer;
before(async () => {
  server = await startS3rver();
  // As a user would: the SDK's credential chain and the endpoint come from the environment.
  Object.assign(process.env, server.env);
});
after(async () => {
  await server?.stop();
});

let n = 0;
/** A fresh prefix of the one bucket per store, so suites cannot see each other's keys. */
const freshBlobs = () => S3BlobStore.open(`s3://${server.bucket}/store-${++n}`, { partSize: MIN_PART_SIZE });

describeBlobStoreContract('s3', freshBlobs, {
  serverOverwritesInPlace: 's3rver writes an object in place, so concurrent puts interleave there; S3 replaces an object atomically',
});
describeArtifactStoreContract('s3', async () => new ContentAddressedStore(await freshBlobs()));

describe('S3 artifacts', () => {
  it('opens s3:// URIs from open-stores, reading the endpoint and path style from the environment', async () => {
    const store = await openArtifactStore(`s3://${server.bucket}/via-uri/`);
    assert.equal(store.kind, 's3');
    assert.equal(store.uri, `s3://${server.bucket}/via-uri`);
    await store.put('m/model.json', '{"ok":true}');
    assert.equal((await store.get('m/model.json')).toString(), '{"ok":true}');
    await store.close();
  });

  it('keeps the layout of the filesystem store under the prefix: blobs by hash, refs by path', async () => {
    const blobs = await freshBlobs();
    const store = new ContentAddressedStore(blobs);
    const { sha256: sha } = await store.put('a/b.txt', 'hello');
    await store.put('c.txt', 'hello');
    const s3 = server.client();
    const keys = (await s3.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: `store-${n}/` }))).Contents?.map((o) => o.Key).sort();
    assert.deepEqual(keys, [`store-${n}/blobs/${sha.slice(0, 2)}/${sha}`, `store-${n}/refs/a/b.txt`, `store-${n}/refs/c.txt`]);
    const ref = await s3.send(new GetObjectCommand({ Bucket: server.bucket, Key: `store-${n}/refs/a/b.txt` }));
    assert.deepEqual(JSON.parse(await ref.Body!.transformToString()), { sha256: sha256('hello'), size: 5 });
    await store.close();
  });

  it('stores a 12 MiB stream in parts and leaves no temporary object behind', async () => {
    const blobs = await freshBlobs();
    const store = new ContentAddressedStore(blobs);
    const data = Buffer.alloc(12 * 1024 * 1024, 7);
    const chunks = Array.from({ length: 12 }, (_, i) => data.subarray(i << 20, (i + 1) << 20));
    const res = await store.put('big/model.bin', (async function* () { yield* chunks; })());
    assert.deepEqual(res, { sha256: sha256(data), size: data.length });
    assert.ok((await store.get('big/model.bin')).equals(data));
    const tmp = await server.client().send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: `store-${n}/tmp/` }));
    assert.equal(tmp.KeyCount ?? 0, 0);
    await store.close();
  });

  it('lets a file and a directory share a name, since S3 keys are flat', async () => {
    const store = new ContentAddressedStore(await freshBlobs());
    await store.put('x', 'file');
    await store.put('x/y', 'below');
    assert.deepEqual((await store.list('')).map((e) => [e.path, e.isDir]), [['x', true], ['x', false]]);
    assert.equal((await store.get('x')).toString(), 'file');
    assert.equal((await store.get('x/y')).toString(), 'below');
    await store.close();
  });
});
