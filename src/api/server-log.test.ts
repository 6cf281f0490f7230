import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { prettyLine } from './server-log.js';

describe('the pretty log lines', () => {
  it("shows trellis server's banner with its address, store and artifacts", () => {
    const text = prettyLine({ level: 30, event: 'listening', url: 'http://127.0.0.1:5000', store: 'sqlite:t.db', artifacts: 'file:a', auth: 'off', msg: 'listening' });
    assert.match(text, /^trellis server listening on http:\/\/127\.0\.0\.1:5000\n {2}store: {5}sqlite:t\.db\n {2}artifacts: file:a\n/);
    assert.match(text, /MLFLOW_TRACKING_URI=http:\/\/127\.0\.0\.1:5000$/);
  });

  it("shows trellis serve's listening line as it is written, not the server's banner", () => {
    const msg = 'trellis serve: REST on http://127.0.0.1:8080, gRPC on 127.0.0.1:8081 (auth off); endpoints: adult; 2 workers';
    const text = prettyLine({ level: 30, event: 'listening', rest: 'http://127.0.0.1:8080', grpc: '127.0.0.1:8081', store: 'sqlite:t.db', auth: 'off', endpoints: ['adult'], workers: 2, msg });
    assert.equal(text, msg);
    assert.doesNotMatch(text, /undefined/);
  });
});
