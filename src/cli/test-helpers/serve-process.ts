/** `trellis serve` as a child process on free ports, for the tests that drive it from outside. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));

export interface ServeProcess {
  /** The REST base URL. */
  url: string;
  /** host:port of the gRPC service; '' with --no-grpc. */
  grpc: string;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr, JSON log lines). */
  out: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts `trellis <g…> serve --port 0 --grpc-port 0 <extra…>` (a later option in `extra` wins)
 * and resolves once it says where it listens. `detached` puts it in a process group of its own,
 * so that a test can signal the whole group as a terminal's Ctrl-C does.
 */
export async function startServeProcess(g: string[], extra: string[] = [], detached = false): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...g, 'serve', '--port', '0', '--grpc-port', '0', ...extra], {
    env: { ...process.env, TRELLIS_USER: 'tester', TRELLIS_LOG_FORMAT: 'json', TRELLIS_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'], detached,
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const m = /REST on (http:\/\/[0-9.]+:\d+)(?:, gRPC on ([0-9.]+:\d+))?/.exec(out);
    if (m) return { url: m[1]!, grpc: m[2] ?? '', child, out: () => out, exited };
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      assert.fail(`trellis serve ${extra.join(' ')} did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
