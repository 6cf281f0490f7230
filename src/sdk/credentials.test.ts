/** The credentials the SDK, the remote CLI and `pipelines deploy` send, read from the environment as MLflow clients read them. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { credentialsHeader } from './rest-backend.js';

describe('credentials from the environment', () => {
  const token = 'trellis_abcdefabcdef_' + 'x'.repeat(43);
  it('sends a given token, else TRELLIS_TOKEN, else MLFLOW_TRACKING_TOKEN as Bearer, else MLflow user and password as Basic', () => {
    assert.equal(credentialsHeader('given', { TRELLIS_TOKEN: token }), 'Bearer given');
    assert.equal(credentialsHeader(undefined, { TRELLIS_TOKEN: token, MLFLOW_TRACKING_TOKEN: 'other' }), `Bearer ${token}`);
    assert.equal(credentialsHeader(undefined, { MLFLOW_TRACKING_TOKEN: token }), `Bearer ${token}`);
    assert.equal(credentialsHeader(undefined, { MLFLOW_TRACKING_USERNAME: 'carol', MLFLOW_TRACKING_PASSWORD: token }), `Basic ${Buffer.from(`carol:${token}`).toString('base64')}`);
    assert.equal(credentialsHeader(undefined, { MLFLOW_TRACKING_USERNAME: 'carol' }), undefined, 'a user name alone is no credential');
    assert.equal(credentialsHeader(undefined, {}), undefined);
  });
});
