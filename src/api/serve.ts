/**
 * Running the server as a process: listen, and on SIGTERM/SIGINT stop accepting connections, let
 * requests in flight finish, close the workspace (so SQLite checkpoints cleanly) and exit 0.
 */
import type { Workspace } from '../workspace/workspace.js';
import { buildServer } from './server.js';

export interface StartServerOptions {
  host: string;
  /** 0 picks a free port; the returned `url` names it. */
  port: number;
  workspace: Workspace;
  /** Fastify's `logger` option: false, true, or pino options; default: JSON lines to stdout at `$TRELLIS_LOG_LEVEL` (info). */
  log?: boolean | object;
  version?: string;
  /** Runs on SIGTERM/SIGINT before the server stops accepting requests (e.g. stopping a scheduler running inside it). */
  onShutdown?: () => Promise<void>;
}

export interface RunningServer {
  url: string;
  /** Stops the server and removes the signal handlers; the workspace stays open for its owner. */
  close(): Promise<void>;
}

const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
const IDLE_SWEEP_MS = 100;

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const logger = opts.log ?? { level: process.env.TRELLIS_LOG_LEVEL || 'info' };
  const app = await buildServer(opts.workspace, { logger, version: opts.version });
  const url = await app.listen({ host: opts.host, port: opts.port });

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second signal means the operator will not wait for the drain.
      app.log.warn({ signal }, 'second signal during shutdown; exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    app.log.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    void (async () => {
      let code = 0;
      // A connection that finishes its request after close() began would otherwise sit idle until
      // the keep-alive timeout before the server could finish closing.
      const sweep = setInterval(() => app.server.closeIdleConnections(), IDLE_SWEEP_MS);
      try {
        await opts.onShutdown?.();
        await app.close();
        await opts.workspace.close();
      } catch (err) {
        app.log.error({ err }, 'shutdown failed');
        code = 1;
      } finally {
        clearInterval(sweep);
      }
      process.exit(code);
    })();
  };
  for (const s of SIGNALS) process.on(s, onSignal);

  return {
    url,
    async close() {
      for (const s of SIGNALS) process.off(s, onSignal);
      await app.close();
    },
  };
}
