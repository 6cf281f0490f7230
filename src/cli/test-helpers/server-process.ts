/** `trellis … server …` as a child process on a free port, for the tests that read what it prints. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));

export interface RunningServer {
  url: string;
  port: number;
  output(): { stdout: string; stderr: string };
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `trellis … server --port 0 …` (the command in `args`) and resolves once its banner names the URL. */
export async function startServerProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args, '--port', '0'], {
    env: { ...process.env, TRELLIS_USER: 'tester', TRELLIS_LOG_FORMAT: '', TRELLIS_LOG_LEVEL: 'info', TRELLIS_ALLOWED_HOSTS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    // Both log formats end the banner with the tracking URI a client here uses.
    const url = /MLFLOW_TRACKING_URI=(http:\/\/[^\s"]+)/.exec(stdout)?.[1];
    if (url) {
      // A warning, if any, follows the banner.
      await new Promise((r) => setTimeout(r, 200));
      return {
        url, port: Number(new URL(url).port), output: () => ({ stdout, stderr }),
        async stop() { child.kill('SIGTERM'); return exited; },
      };
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      assert.fail(`the server did not start:\n${stdout}\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
