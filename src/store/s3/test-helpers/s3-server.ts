/**
 * A real S3-compatible server for tests: s3rver (from npm, a devDependency), listening on
 * 127.0.0.1 and storing its objects in a temp directory. `inProcess` runs it in the test's own
 * process; `inChild` in a child process that a test can SIGKILL mid-request and start again on
 * the same port and directory, as a crashed server would come back.
 *
 * s3rver implements the S3 calls the adapter makes, with gaps a test must know about: it ignores
 * `If-None-Match` on PUT and `If-Match` on GET, accepts but never checks Content-MD5, and does not
 * implement AbortMultipartUpload (405) or UploadPartCopy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';

const require = createRequire(import.meta.url);

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;

export const TEST_BUCKET = 'trellis-test';
/** s3rver's fixed credentials. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3TestServer {
  endpoint: string;
  port: number;
  /** Where s3rver keeps the buckets on disk. */
  dir: string;
  bucket: string;
  /** The environment a Trellis process needs to reach this server with `s3://<bucket>/…`. */
  env: Record<string, string>;
  /** A plain SDK client on the server, for looking at (or meddling with) the bucket directly. */
  client(): S3Client;
  stop(): Promise<void>;
}

export function s3Env(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_S3_FORCE_PATH_STYLE: 'true',
  };
}

function describeServer(port: number, dir: string, bucket: string, stop: () => Promise<void>): S3TestServer {
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: S3Client[] = [];
  return {
    endpoint, port, dir, bucket, env: s3Env(endpoint),
    client: () => {
      const c = new S3Client({
        endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS,
        requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', maxAttempts: 1,
      });
      clients.push(c);
      return c;
    },
    stop: async () => {
      for (const c of clients) c.destroy();
      await stop();
    },
  };
}

/** s3rver in this process, on a free port, with a fresh directory (removed by `stop`) and one bucket. */
export async function startS3rver(opts: { bucket?: string } = {}): Promise<S3TestServer> {
  const bucket = opts.bucket ?? TEST_BUCKET;
  const dir = await mkdtemp(join(tmpdir(), 'trellis-s3rver-'));
  const S3rver = require('s3rver') as S3rverCtor;
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  return describeServer(port, dir, bucket, async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
}

export interface S3ChildServer extends S3TestServer {
  /** SIGKILL: the server dies mid-request, its connections reset. */
  kill(): void;
  /** Starts the server again on the same port and directory. */
  restart(): Promise<void>;
}

const CHILD_SCRIPT = `
const S3rver = require(process.argv[1]);
const [port, dir, bucket] = process.argv.slice(2);
new S3rver({ port: Number(port), address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket }] })
  .run().then((a) => process.stdout.write('listening ' + a.port + '\\n'), (e) => { console.error(e); process.exit(1); });
`;

/** s3rver in a child process, so a test can kill it mid-upload and bring it back. */
export async function startS3rverChild(opts: { bucket?: string } = {}): Promise<S3ChildServer> {
  const bucket = opts.bucket ?? TEST_BUCKET;
  const dir = await mkdtemp(join(tmpdir(), 'trellis-s3rver-'));
  let child: ChildProcess | undefined;
  const launch = (port: number) => new Promise<number>((resolve, reject) => {
    const c = spawn(process.execPath, ['-e', CHILD_SCRIPT, require.resolve('s3rver'), String(port), dir, bucket], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.once('exit', (code) => reject(new Error(`s3rver exited with ${code}: ${err}`)));
  });
  const port = await launch(0);
  const base = describeServer(port, dir, bucket, async () => {
    await killAndWait(child);
    await rm(dir, { recursive: true, force: true });
  });
  return {
    ...base,
    kill: () => {
      child?.kill('SIGKILL');
    },
    restart: async () => {
      await killAndWait(child);
      await launch(port);
    },
  };
}

async function killAndWait(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}
