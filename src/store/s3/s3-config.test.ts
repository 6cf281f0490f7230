import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rejectsWithCode } from '../artifact-store.contract.js';
import { parseS3Uri, s3SettingsFromEnv } from './s3-config.js';

const refused = (f: () => unknown) => rejectsWithCode(Promise.resolve().then(f), 'TRELLIS_STORE_URI_INVALID');

describe('s3:// URIs', () => {
  it('splits bucket and prefix, with or without slashes', () => {
    assert.deepEqual(parseS3Uri('s3://my-bucket'), { bucket: 'my-bucket', prefix: '' });
    assert.deepEqual(parseS3Uri('s3://my-bucket/'), { bucket: 'my-bucket', prefix: '' });
    assert.deepEqual(parseS3Uri('s3://my.bucket-1/team/trellis/'), { bucket: 'my.bucket-1', prefix: 'team/trellis' });
  });

  it('refuses what is not a bucket name or a safe prefix', async () => {
    for (const bad of ['s3:/b/x', 'S3://b', 's3://', 's3://ab', 's3://Upper', 's3://a..b', 's3://-ab', 's3://b/../x', 's3://b//abs', 's3://b/x?y=1', 's3://b/a%2Fb']) {
      await refused(() => parseS3Uri(bad));
    }
  });
});

describe('S3 settings from the environment', () => {
  it('takes the endpoint from AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then MLFLOW_S3_ENDPOINT_URL', () => {
    const all = { AWS_ENDPOINT_URL_S3: 'http://s3:1', AWS_ENDPOINT_URL: 'http://all:2', MLFLOW_S3_ENDPOINT_URL: 'http://mlflow:3' };
    assert.equal(s3SettingsFromEnv(all).endpoint, 'http://s3:1');
    assert.equal(s3SettingsFromEnv({ ...all, AWS_ENDPOINT_URL_S3: '' }).endpoint, 'http://all:2');
    assert.equal(s3SettingsFromEnv({ MLFLOW_S3_ENDPOINT_URL: 'https://minio.local:9000' }).endpoint, 'https://minio.local:9000');
    assert.equal(s3SettingsFromEnv({}).endpoint, undefined);
  });

  it('addresses path-style only when AWS_S3_FORCE_PATH_STYLE is true', () => {
    assert.equal(s3SettingsFromEnv({ AWS_S3_FORCE_PATH_STYLE: 'true' }).forcePathStyle, true);
    assert.equal(s3SettingsFromEnv({ AWS_S3_FORCE_PATH_STYLE: 'TRUE' }).forcePathStyle, true);
    assert.equal(s3SettingsFromEnv({ AWS_S3_FORCE_PATH_STYLE: 'false' }).forcePathStyle, false);
    assert.equal(s3SettingsFromEnv({}).forcePathStyle, false);
  });

  it('leaves the region to the AWS chain on Amazon, and signs for us-east-1 on a custom endpoint', () => {
    assert.equal(s3SettingsFromEnv({}).region, undefined);
    assert.equal(s3SettingsFromEnv({ AWS_ENDPOINT_URL: 'http://x:1' }).region, 'us-east-1');
    assert.equal(s3SettingsFromEnv({ AWS_DEFAULT_REGION: 'eu-west-3' }).region, 'eu-west-3');
    assert.equal(s3SettingsFromEnv({ AWS_REGION: 'eu-north-1', AWS_DEFAULT_REGION: 'eu-west-3' }).region, 'eu-north-1');
  });

  it('retries 5 times by default, AWS_MAX_ATTEMPTS and AWS_RETRY_MODE otherwise; timeouts from TRELLIS_S3_*', () => {
    const d = s3SettingsFromEnv({});
    assert.deepEqual([d.maxAttempts, d.retryMode, d.connectTimeoutMs, d.idleTimeoutMs], [5, 'standard', 5000, 30000]);
    const s = s3SettingsFromEnv({ AWS_MAX_ATTEMPTS: '9', AWS_RETRY_MODE: 'adaptive', TRELLIS_S3_CONNECT_TIMEOUT_MS: '250', TRELLIS_S3_IDLE_TIMEOUT_MS: '1000' });
    assert.deepEqual([s.maxAttempts, s.retryMode, s.connectTimeoutMs, s.idleTimeoutMs], [9, 'adaptive', 250, 1000]);
  });

  it('names the variable that is wrong', async () => {
    await refused(() => s3SettingsFromEnv({ AWS_ENDPOINT_URL_S3: 'minio:9000' }));
    await refused(() => s3SettingsFromEnv({ AWS_MAX_ATTEMPTS: 'many' }));
    await refused(() => s3SettingsFromEnv({ AWS_RETRY_MODE: 'legacy' }));
    const e = await rejectsWithCode(Promise.resolve().then(() => s3SettingsFromEnv({ TRELLIS_S3_IDLE_TIMEOUT_MS: '-1' })), 'TRELLIS_STORE_URI_INVALID');
    assert.match(String((e as Error).message), /TRELLIS_S3_IDLE_TIMEOUT_MS/);
  });
});
