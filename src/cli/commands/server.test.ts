/**
 * `trellis server` refusing a port it cannot use: one line naming the port and the problem, a
 * non-zero exit code and no stack trace.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchRefusesPort, listenFailure } from '../../api/serve.js';
import { runCli } from '../test-helpers/run-cli.js';

describe('trellis server --port', () => {
  let dir: string;
  let server: (port: string) => { code: number; stdout: string; stderr: string };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-server-cli-'));
    server = (port) => runCli(['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`, 'server', '--port', port]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const oneLine = (stderr: string): string => {
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    return lines[0] ?? '';
  };

  it('refuses a port that is not a number', () => {
    const r = server('abc');
    assert.equal(r.code, 1);
    assert.equal(oneLine(r.stderr), "error: --port 'abc' is not a port number: a port is an integer from 0 to 65535, and 0 picks a free one");
  });

  it('refuses what Number() would take for a port but a user did not mean as one', () => {
    for (const text of ['0x10', '', '1e3']) {
      const r = server(text);
      assert.equal(r.code, 1, `--port '${text}': ${r.stdout}${r.stderr}`);
      assert.match(oneLine(r.stderr), /is not a port number/);
    }
  });

  it('refuses a port above 65535', () => {
    const r = server('99999');
    assert.equal(r.code, 1);
    assert.equal(oneLine(r.stderr), 'error: --port 99999 is out of range: a port is an integer from 0 to 65535, and 0 picks a free one');
  });

  describe('a port another process listens on', () => {
    let taken: Server;
    let port: number;
    before(async () => {
      taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      port = (taken.address() as AddressInfo).port;
    });
    after(async () => { await new Promise((resolve) => taken.close(resolve)); });

    it('says the port is in use by another process and exits 1', () => {
      const r = server(String(port));
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(oneLine(r.stderr), `error: cannot listen on 127.0.0.1:${port}: port ${port} is already in use, another process listens there (stop it or choose another --port)`);
      assert.doesNotMatch(r.stdout, /listening on/);
    });
  });

  it('warns at start that browsers and fetch clients refuse a bad port such as 5060', async () => {
    // Hold 5060 so the server cannot stay up: the warning comes before the bind, the error after it.
    const hold = createServer();
    const held = await new Promise<boolean>((resolve) => {
      hold.once('error', () => resolve(false));
      hold.listen(5060, '127.0.0.1', () => resolve(true));
    });
    try {
      const r = server('5060');
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const [warning, error] = r.stderr.trim().split('\n');
      assert.equal(warning, "warning: port 5060 is on the fetch standard's list of bad ports: browsers and fetch clients (Node's fetch too) will refuse to connect to it; choose another --port for them");
      assert.match(error ?? '', /^error: cannot listen on 127\.0\.0\.1:5060: port 5060 is already in use/);
    } finally {
      if (held) await new Promise((resolve) => hold.close(resolve));
    }
  });

  it('explains a privileged port refused to a user without the right to bind it', () => {
    const eacces = Object.assign(new Error('listen EACCES: permission denied 127.0.0.1:80'), { code: 'EACCES' });
    assert.equal(listenFailure(eacces, '127.0.0.1', 80),
      'cannot listen on 127.0.0.1:80: permission denied, port 80 is below 1024 and only root or a process with CAP_NET_BIND_SERVICE may listen there (choose --port 1024 or above)');
    assert.equal(listenFailure(Object.assign(new Error('x'), { code: 'EADDRINUSE' }), '::1', 8080),
      'cannot listen on [::1]:8080: port 8080 is already in use, another process listens there (stop it or choose another --port)');
  });

  it('knows the ports browsers and fetch clients refuse', () => {
    assert.equal(fetchRefusesPort(5060), true);
    assert.equal(fetchRefusesPort(6000), true);
    assert.equal(fetchRefusesPort(5000), false);
    assert.equal(fetchRefusesPort(0), false);
  });
});
