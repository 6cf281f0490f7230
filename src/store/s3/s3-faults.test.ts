/**
 * The S3 adapter when the server misbehaves: answers 500, answers late, changes bytes, or dies in
 * the middle of an upload. The server is a real s3rver; the faults come from a proxy on the
 * network hop in front of it (or from killing the server's process). What must hold every time:
 * the write is retried or fails cleanly with a registry error, no partial object is ever visible
 * under its hash, the path keeps its old content, and altered bytes are refused on read.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isTrellisError } from '../../core/errors.js';
import { readAll, rejectsWithCode, sha256 } from '../artifact-store.contract.js';
import { ContentAddressedStore } from '../cas/cas-artifact-store.js';
import { blobKey } from '../cas/refs.js';
import { MIN_PART_SIZE, type S3Settings } from './s3-config.js';
import { S3BlobStore } from './s3-blob-store.js';
import { startFaultProxy, type FaultProxy } from './test-helpers/fault-proxy.js';
import { startS3rver, startS3rverChild, type S3TestServer } from './test-helpers/s3-server.js';

let server: S3TestServer;
let proxy: FaultProxy;
let s3: S3Client;
before(async () => {
  server = await startS3rver();
  Object.assign(process.env, server.env);
  proxy = await startFaultProxy(server.endpoint);
  s3 = server.client();
});
after(async () => {
  await proxy?.stop();
  await server?.stop();
});

let n = 0;
/** A store on a fresh prefix that talks to s3rver through the fault proxy. */
async function storeViaProxy(settings: Partial<S3Settings> = {}): Promise<{ store: ContentAddressedStore; prefix: string }> {
  const prefix = `faults-${++n}`;
  proxy.rule = () => undefined;
  const blobs = await S3BlobStore.open(`s3://${server.bucket}/${prefix}`, { endpoint: proxy.endpoint, maxAttempts: 3, partSize: MIN_PART_SIZE, ...settings });
  return { store: new ContentAddressedStore(blobs), prefix };
}

async function exists(key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: server.bucket, Key: key }));
    return true;
  } catch (e) {
    if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw e;
  }
}

async function keysUnder(prefix: string): Promise<string[]> {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!).sort();
}

const isPut = (url: string, under: string) => url.split('?')[0]!.includes(`/${under}`);
const megabytes = (count: number, fill: number) => Buffer.alloc(count * 1024 * 1024, fill);
async function* chunked(data: Buffer, size = 1 << 20): AsyncGenerator<Buffer> {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, off + size);
}

describe('S3 adapter under faults', () => {
  describe('a server answering 500', () => {
    it('retries with backoff and stores the object', async () => {
      const { store, prefix } = await storeViaProxy();
      let failures = 0;
      proxy.rule = (r) => (r.method === 'PUT' && isPut(r.url, `${prefix}/blobs/`) && failures++ < 2 ? { status: 500 } : undefined);
      const res = await store.put('retry/a.txt', 'after two 500s');
      assert.equal(failures, 3, 'two refused attempts, then one forwarded');
      assert.equal(proxy.seen.filter((r) => r.method === 'PUT' && isPut(r.url, `${prefix}/blobs/`)).length, 3);
      assert.equal((await store.get('retry/a.txt')).toString(), 'after two 500s');
      assert.equal(res.sha256, sha256('after two 500s'));
    });

    it('fails cleanly when every attempt gets a 500: the path keeps its old content, nothing is under the new hash', async () => {
      const { store, prefix } = await storeViaProxy();
      await store.put('m/model.bin', 'old weights');
      proxy.rule = (r) => (r.method === 'PUT' ? { status: 503 } : undefined);
      const e = await rejectsWithCode(store.put('m/model.bin', 'new weights'), 'TRELLIS_ARTIFACT_STORE_UNAVAILABLE');
      assert.equal(e.retryable, true);
      assert.equal(e.httpStatus, 503);
      assert.match(e.message, /PutObject .*\(HTTP 503\).*after 3 attempts/);
      proxy.rule = () => undefined;
      assert.equal((await store.get('m/model.bin')).toString(), 'old weights');
      assert.equal(await exists(`${prefix}/${blobKey(sha256('new weights'))}`), false);
    });

    it('aborts a multipart upload whose part keeps failing, and never shows the object under its hash', async () => {
      const { store, prefix } = await storeViaProxy();
      const data = megabytes(12, 1);
      proxy.rule = (r) => (r.method === 'PUT' && /[?&]partNumber=2(&|$)/.test(r.url) ? { status: 500 } : undefined);
      await rejectsWithCode(store.put('mp/big.bin', chunked(data)), 'TRELLIS_ARTIFACT_STORE_UNAVAILABLE');
      const abort = proxy.seen.find((r) => r.method === 'DELETE' && /[?&]uploadId=/.test(r.url));
      assert.ok(abort, 'AbortMultipartUpload was sent');
      assert.match(abort.url, new RegExp(`/${prefix}/tmp/`), 'the upload went to a temporary key');
      proxy.rule = () => undefined;
      await rejectsWithCode(store.get('mp/big.bin'), 'TRELLIS_ARTIFACT_NOT_FOUND');
      assert.equal(await exists(`${prefix}/${blobKey(sha256(data))}`), false);
      assert.deepEqual(await keysUnder(`${prefix}/`), [], 'no blob, ref or temporary object is left');
    });

    it('aborts when completing the upload fails', async () => {
      const { store, prefix } = await storeViaProxy();
      const data = megabytes(11, 2);
      proxy.rule = (r) => (r.method === 'POST' && /[?&]uploadId=/.test(r.url) ? { status: 500 } : undefined);
      await rejectsWithCode(store.put('mp/big.bin', chunked(data)), 'TRELLIS_ARTIFACT_STORE_UNAVAILABLE');
      assert.ok(proxy.seen.some((r) => r.method === 'DELETE' && /[?&]uploadId=/.test(r.url)), 'AbortMultipartUpload was sent');
      proxy.rule = () => undefined;
      assert.equal(await exists(`${prefix}/${blobKey(sha256(data))}`), false);
      assert.deepEqual(await keysUnder(`${prefix}/`), []);
    });
  });

  describe('a slow server', () => {
    it('gives up on an answer that does not come, retries, and succeeds', async () => {
      const { store, prefix } = await storeViaProxy({ idleTimeoutMs: 300 });
      await store.put('slow/x.txt', 'patience');
      let delayed = 0;
      proxy.rule = (r) => (r.method === 'GET' && r.url.includes(`/${prefix}/refs/`) && delayed++ === 0 ? { delayMs: 1500 } : undefined);
      const t0 = Date.now();
      assert.equal((await store.get('slow/x.txt')).toString(), 'patience');
      assert.ok(Date.now() - t0 < 1500, 'the retry did not wait for the stalled answer');
      assert.equal(proxy.seen.filter((r) => r.method === 'GET' && r.url.includes(`/${prefix}/refs/`)).length, 2);
    });

    it('fails within its timeouts when every answer stalls', async () => {
      const { store } = await storeViaProxy({ idleTimeoutMs: 200, maxAttempts: 2 });
      proxy.rule = () => ({ delayMs: 2000 });
      const t0 = Date.now();
      const e = await rejectsWithCode(store.put('slow/y.txt', 'never'), 'TRELLIS_ARTIFACT_STORE_UNAVAILABLE');
      assert.match(e.message, /TimeoutError/);
      assert.ok(Date.now() - t0 < 1800, `gave up after ${Date.now() - t0} ms`);
      proxy.rule = () => undefined;
    });
  });

  describe('tampered bytes', () => {
    const flip = (b: Buffer) => {
      const c = Buffer.from(b);
      const mid = c.length >> 1;
      c.writeUInt8(c.readUInt8(mid) ^ 0x40, mid);
      return c;
    };

    it('refuses bytes changed on the way, on get and on open, before any byte is handed out', async () => {
      const { store, prefix } = await storeViaProxy();
      const small = Buffer.from('model weights, byte for byte');
      const big = Buffer.concat([megabytes(6, 3), Buffer.from('tail')]);
      await store.put('t/small.bin', small);
      await store.put('t/big.bin', chunked(big));
      proxy.rule = (r) => (r.method === 'GET' && r.url.includes(`/${prefix}/blobs/`) ? { tamper: flip } : undefined);
      for (const p of ['t/small.bin', 't/big.bin']) {
        await rejectsWithCode(store.get(p), 'TRELLIS_ARTIFACT_INTEGRITY', p);
        let opened: unknown;
        await rejectsWithCode(store.open(p).then((r) => (opened = r)), 'TRELLIS_ARTIFACT_INTEGRITY', p);
        assert.equal(opened, undefined);
      }
      proxy.rule = () => undefined;
      assert.ok((await store.get('t/small.bin')).equals(small));
      assert.ok((await readAll((await store.open('t/big.bin')).stream)).equals(big));
    });

    it('refuses an object changed, removed or replaced in the bucket itself', async () => {
      const { store, prefix } = await storeViaProxy();
      const content = Buffer.from('the recorded bytes');
      const { sha256: sha } = await store.put('b/x.bin', content);
      const key = `${prefix}/${blobKey(sha)}`;
      await s3.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: flip(content) }));
      const e = await rejectsWithCode(store.get('b/x.bin'), 'TRELLIS_ARTIFACT_INTEGRITY');
      assert.deepEqual(e.params, { path: 'b/x.bin', expected: sha, actual: sha256(flip(content)) });
      await rejectsWithCode(store.open('b/x.bin'), 'TRELLIS_ARTIFACT_INTEGRITY');

      await s3.send(new DeleteObjectCommand({ Bucket: server.bucket, Key: key }));
      const gone = await rejectsWithCode(store.get('b/x.bin'), 'TRELLIS_ARTIFACT_INTEGRITY');
      assert.equal(gone.params.actual, '(blob missing)');

      await s3.send(new PutObjectCommand({ Bucket: server.bucket, Key: `${prefix}/refs/b/x.bin`, Body: '{"sha256":"../../etc/passwd","size":1}' }));
      await rejectsWithCode(store.get('b/x.bin'), 'TRELLIS_ARTIFACT_INTEGRITY');
    });
  });

  describe('a server stopped mid-upload', () => {
    it('fails the write cleanly, and after a restart shows neither a partial object nor a new ref', async () => {
      const child = await startS3rverChild();
      try {
        const prefix = 'killed';
        const blobs = await S3BlobStore.open(`s3://${child.bucket}/${prefix}`, { endpoint: child.endpoint, maxAttempts: 2, partSize: MIN_PART_SIZE, idleTimeoutMs: 2000 });
        const store = new ContentAddressedStore(blobs);
        await store.put('m/model.bin', 'the old model');
        const data = megabytes(40, 9);
        let sent = 0;
        const source = async function* () {
          for await (const chunk of chunked(data)) {
            sent += chunk.length;
            // Past two parts on the wire, the server dies; the source keeps going, as a client would.
            if (sent === 16 * 1024 * 1024) child.kill();
            yield chunk;
          }
        };
        const e = await rejectsWithCode(store.put('m/model.bin', source()), 'TRELLIS_ARTIFACT_STORE_UNAVAILABLE');
        assert.ok(isTrellisError(e) && e.retryable);

        await child.restart();
        const direct = child.client();
        const keys = (await direct.send(new ListObjectsV2Command({ Bucket: child.bucket, Prefix: `${prefix}/` }))).Contents?.map((o) => o.Key).sort();
        assert.deepEqual(keys, [`${prefix}/${blobKey(sha256('the old model'))}`, `${prefix}/refs/m/model.bin`], 'only the old blob and its ref');
        assert.equal((await store.get('m/model.bin')).toString(), 'the old model');

        // The same write, against the server that is back, goes through.
        assert.deepEqual(await store.put('m/model.bin', chunked(data)), { sha256: sha256(data), size: data.length });
        assert.ok((await store.get('m/model.bin')).equals(data));
        await store.close();
      } finally {
        await child.stop();
      }
    });
  });
});
