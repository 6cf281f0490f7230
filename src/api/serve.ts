/**
 * Running the server as a process: listen, and on SIGTERM/SIGINT stop accepting connections, let
 * requests in flight finish, close the workspace (so SQLite checkpoints cleanly) and exit 0.
 */
import type { AddressInfo } from 'node:net';
import type { Workspace } from '../workspace/workspace.js';
import type { AuthOptions } from './access.js';
import { isLoopbackAddress, isWildcardAddress } from './edge.js';
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
  /** Host names the server answers to beyond the loopback names and `host` (see edge.ts); `*` allows any. */
  allowedHosts?: readonly string[];
  /** Time a client has to send a whole request; default 1 hour (see server.ts). */
  requestTimeoutMs?: number;
  /** Time a client has to send a request's headers; default 10 s. */
  headersTimeoutMs?: number;
  /** Authentication (access.ts); undefined: auth off, every request allowed as `anonymous`. */
  auth?: AuthOptions;
}

export interface RunningServer {
  /** A URL a client on this machine can use (the loopback address when the server listens on a wildcard). */
  url: string;
  /** What the server really listens on, e.g. `http://0.0.0.0:5000` or `http://127.0.0.1:5000`. */
  bound: string;
  /** True when every address it listens on is a loopback address: nothing off this machine can reach it. */
  loopbackOnly: boolean;
  /** Stops the server and removes the signal handlers; the workspace stays open for its owner. */
  close(): Promise<void>;
}

const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
const IDLE_SWEEP_MS = 100;

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const logger = opts.log ?? { level: process.env.TRELLIS_LOG_LEVEL || 'info' };
  const app = await buildServer(opts.workspace, {
    logger, version: opts.version, allowedHosts: opts.allowedHosts, bindHost: opts.host,
    requestTimeoutMs: opts.requestTimeoutMs, headersTimeoutMs: opts.headersTimeoutMs, auth: opts.auth,
  });
  let url: string;
  try {
    url = await app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    await app.close().catch(() => undefined);
    throw new Error(listenFailure(err, opts.host, opts.port), { cause: err });
  }
  const addresses = app.addresses().filter((a): a is AddressInfo => typeof a === 'object');
  const first = addresses[0]!;
  const bound = `http://${hostPort(first.address, first.port)}`;
  // Fastify names 127.0.0.1 for 0.0.0.0 but `[::]` for `::`, which no client can connect to.
  if (isWildcardAddress(first.address)) url = `http://${hostPort(first.family === 'IPv6' ? '::1' : '127.0.0.1', first.port)}`;
  const loopbackOnly = addresses.every((a) => isLoopbackAddress(a.address));

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
    bound,
    loopbackOnly,
    async close() {
      for (const s of SIGNALS) process.off(s, onSignal);
      await app.close();
    },
  };
}

/**
 * The ports the WHATWG fetch standard blocks ("bad ports"): browsers and Node's own fetch refuse to
 * connect to them, whatever listens there. The same list as undici's in Node 20.
 */
const FETCH_BAD_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111,
  113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548,
  554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566,
  6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

export function fetchRefusesPort(port: number): boolean {
  return FETCH_BAD_PORTS.has(port);
}

const hostPort = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** One line naming the address and what is wrong with it, for an error from `listen`. */
export function listenFailure(err: unknown, host: string, port: number): string {
  const e = err as NodeJS.ErrnoException;
  const where = `cannot listen on ${hostPort(host, port)}`;
  switch (e?.code) {
    case 'EADDRINUSE':
      return `${where}: port ${port} is already in use, another process listens there (stop it or choose another --port)`;
    case 'EACCES':
      return port < 1024
        ? `${where}: permission denied, port ${port} is below 1024 and only root or a process with CAP_NET_BIND_SERVICE may listen there (choose --port 1024 or above)`
        : `${where}: permission denied for port ${port}`;
    case 'EADDRNOTAVAIL':
      return `${where}: ${host} is not an address of this machine (check --host)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${where}: the host name ${host} does not resolve (check --host)`;
    default:
      return `${where}: ${e?.message ?? String(err)}`;
  }
}
