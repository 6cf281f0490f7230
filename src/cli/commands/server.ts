import { Command } from 'commander';
import type { Logger } from 'pino';
import { isTrellisError } from '../../core/errors.js';
import { Workspace } from '../../workspace/workspace.js';
import { globals } from '../context.js';
import { decisionLine, openScheduler } from './scheduler.js';

export function serverCommand(): Command {
  return new Command('server')
    .description('serve the REST API (MLflow-compatible tracking and registry, artifacts proxy)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '5000')
    .option('--scheduler', 'also run the pipeline scheduler in this process: deployed pipelines run when their triggers fire (see `trellis scheduler`)')
    .option('--allowed-hosts <hosts>', 'comma-separated host names (or name:port) the server answers to besides localhost, 127.0.0.1, [::1] and --host, e.g. mlflow.example.com; * for any; default $TRELLIS_ALLOWED_HOSTS. A request naming another Host is refused (403), which keeps web pages from reaching the server through DNS rebinding')
    .option('--request-timeout <seconds>', 'time a client has to send a whole request, uploads included, before the server closes the connection', String(DEFAULT_REQUEST_TIMEOUT_S))
    .option('--auth', 'require a token on every request (always on when --host is not a loopback address); users and tokens come from `trellis users` / `trellis tokens`, or TRELLIS_ADMIN_TOKEN, or an OpenID Connect provider (TRELLIS_OIDC_ISSUER, TRELLIS_OIDC_AUDIENCE)')
    .option('--no-auth', 'serve without authentication even on a non-loopback address: anyone who reaches the port can read and change everything (only behind an authenticating proxy or a firewall you trust)')
    .option('--run-as <user>', 'with --scheduler, when the server runs as root: the user (a name, or uid[:gid]) deployed pipelines\' commands and modules run as; default $TRELLIS_RUN_AS, else nobody. Never root; a server not started as root runs them as itself')
    .option('--log-format <format>', 'json (one JSON object per line) or pretty (one human line per event); default $TRELLIS_LOG_FORMAT, else pretty on a terminal and json otherwise')
    .addHelpText('after', '\nSecurity: with --auth (always when --host is not loopback) every request needs a token: Authorization: Bearer <token>, or Basic\n  with the user name and a token as the password (MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN for MLflow\n  clients, TRELLIS_TOKEN for the Trellis CLI and SDK). Create the first admin with `trellis users create <name> --role admin`\n  and `trellis tokens create <name>` before starting, or set TRELLIS_ADMIN_TOKEN to a random secret (at least 24 characters;\n  it signs in as TRELLIS_ADMIN_USER, default admin). OpenID Connect: TRELLIS_OIDC_ISSUER and TRELLIS_OIDC_AUDIENCE. A reverse\n  proxy\'s identity header: TRELLIS_TRUSTED_PROXY_HEADER with TRELLIS_TRUSTED_PROXIES (its addresses). The server answers only\n  Hosts it knows (--allowed-hosts) and refuses state-changing requests from web pages of other origins.\nLogs: at $TRELLIS_LOG_LEVEL (default info), one line per request; credentials in URLs and store URIs are redacted, and no header is logged.\nArtifacts (run files, models, dataset versions) live where the global --artifacts option says:\n  file:<path> on this machine, or s3://bucket/prefix in S3 or an S3-compatible store such as MinIO, with\n  credentials from the AWS chain and the endpoint from AWS_ENDPOINT_URL_S3 (see docs/storage.md).')
    .action(async (o: ServeOptions & { logFormat?: string }, c: Command) => {
      const g = globals(c);
      const { logDestination, logOptions, redactUri, resolveLogFormat, serverLogger } = await import('../../api/server-log.js');
      const format = resolveLogFormat(o.logFormat);
      const level = process.env.TRELLIS_LOG_LEVEL || 'info';
      const stream = logDestination(format);
      // TRELLIS_LOG_LEVEL sets what is logged of requests; the banner, warnings and scheduler
      // decisions are always printed, as they were before the server logged in JSON.
      const log = serverLogger(level === 'trace' || level === 'debug' ? level : 'info', stream);
      try {
        await serve(o, g, { log, fastifyLog: { ...logOptions(level), stream }, redactUri });
      } catch (e) {
        if (format === 'pretty') throw e;
        // In JSON, the failure is a log line too: one object, with the error's code.
        const err = e as Error & { code?: string };
        log.fatal({ code: isTrellisError(e) ? err.code : undefined }, err.message ?? String(e));
        process.exitCode = 1;
      }
    });
}

interface ServeLogging {
  log: Logger;
  /** Fastify's logger options, on the same stream. */
  fastifyLog: object;
  redactUri: (uri: string) => string;
}

interface ServeOptions {
  host: string;
  port: string;
  scheduler?: boolean;
  allowedHosts?: string;
  requestTimeout: string;
  runAs?: string;
  /** true with --auth, false with --no-auth, undefined with neither. */
  auth?: boolean;
}

const DEFAULT_REQUEST_TIMEOUT_S = 3600;

async function serve(o: ServeOptions, g: { store?: string; artifacts?: string }, { log, fastifyLog, redactUri }: ServeLogging): Promise<void> {
  const port = parsePort(o.port);
  const requestTimeoutMs = Math.round(parseSeconds(o.requestTimeout, '--request-timeout') * 1000);
  const { parseAllowedHosts } = await import('../../api/edge.js');
  const allowedHosts = o.allowedHosts !== undefined
    ? parseAllowedHosts(o.allowedHosts)
    : parseAllowedHosts(process.env.TRELLIS_ALLOWED_HOSTS ?? '', '$TRELLIS_ALLOWED_HOSTS');
  const { fetchRefusesPort, startServer } = await import('../../api/serve.js');
  if (fetchRefusesPort(port)) {
    log.warn({ port }, `port ${port} is on the fetch standard's list of bad ports: browsers and fetch clients (Node's fetch too) will refuse to connect to it; choose another --port for them`);
  }
  // Who runs deployed pipelines' code: decided before anything opens, so a wrong --run-as stops the start.
  const user = o.scheduler || o.runAs !== undefined ? (await import('../../pipelines/executors/run-as.js')).userCodeUser(o.runAs) : undefined;
  const { isLoopbackAddress } = await import('../../api/edge.js');
  // On loopback, auth is what was asked; anywhere else it is on unless --no-auth says otherwise.
  const authOn = o.auth ?? !isLoopbackAddress(o.host);
  const ws = await Workspace.open({ store: g.store, artifacts: g.artifacts });
  let auth: Awaited<ReturnType<typeof authOptions>> | undefined;
  try {
    auth = authOn ? await authOptions(ws) : undefined;
  } catch (e) {
    await ws.close();
    throw e;
  }
  if (o.scheduler && user) log.info({ event: 'run-as', ...(user.runAs ? { uid: user.runAs.uid, gid: user.runAs.gid, user: user.runAs.user } : {}) }, `scheduler: ${user.note}`);
  const unreachableHome = o.scheduler && user?.runAs ? (await import('../../pipelines/executors/run-as.js')).homeWarning(ws.pipelines.packageDir, user.runAs) : undefined;
  if (unreachableHome) log.warn({ event: 'run-as-unreachable' }, `scheduler: ${unreachableHome}`);
  const sched = o.scheduler ? await openScheduler(ws, {
    runAs: user?.runAs, ...(auth ? { authorizeUserCode: (r: { pipeline: string; version: number; deployer: string }) => ws.identities.authorizeUserCode(r) } : {}), onDecision: (d) => log.info({ event: 'scheduler', decision: d }, `scheduler: ${decisionLine(d)}`) }) : undefined;
  const onShutdown = sched && (async () => {
    await sched.scheduler.stop({ cancel: true, reason: 'the server was stopped' });
    await sched.close();
  });
  let running: Awaited<ReturnType<typeof startServer>>;
  try {
    running = await startServer({ host: o.host, port, workspace: ws, onShutdown, log: fastifyLog, allowedHosts, requestTimeoutMs, auth });
  } catch (e) {
    // Nothing is listening: release what was opened so the process exits with the error alone.
    await sched?.close();
    await ws.close();
    throw e;
  }
  sched?.scheduler.start();
  const { url, bound } = running;
  log.info({
    event: 'listening', url, bound, store: redactUri(ws.storeUri), artifacts: redactUri(ws.artifactsUri), auth: auth ? 'on' : 'off',
    ...(sched ? { scheduler: sched.scheduler.id } : {}),
  }, `trellis server listening on ${bound} (auth ${auth ? 'on' : 'off'}) — MLflow clients: export MLFLOW_TRACKING_URI=${url}${auth ? ' and MLFLOW_TRACKING_TOKEN=<token>' : ''}`);
  if (!auth && !running.loopbackOnly) {
    log.warn({ event: 'no-authentication', bound }, `--no-auth: the server listens on ${bound}, which is not a loopback address, and has NO AUTHENTICATION: anyone who can reach this address can read, change and delete every experiment, run, model, dataset and artifact in this workspace. Leave out --no-auth to require tokens, or keep the port behind an authenticating proxy or a firewall you trust. Clients must name this machine by one of its addresses or by a name given with --allowed-hosts`);
  }
}

/**
 * Authentication from the workspace's identities and the environment: TRELLIS_ADMIN_TOKEN (and
 * TRELLIS_ADMIN_USER), OpenID Connect (TRELLIS_OIDC_*), a trusted proxy's header. Refuses to start
 * when nobody could administer the server, or the admin secret is empty or weak.
 */
export async function authOptions(ws: Workspace): Promise<import('../../api/access.js').AuthOptions> {
  const { oidcConfigFromEnv, createOidcVerifier } = await import('../../governance/oidc.js');
  const env = process.env;
  const oidcConfig = oidcConfigFromEnv(env);
  const authenticator = ws.identities.authenticator({
    ...(env.TRELLIS_ADMIN_TOKEN !== undefined ? { adminSecret: env.TRELLIS_ADMIN_TOKEN } : {}),
    ...(env.TRELLIS_ADMIN_USER ? { adminName: env.TRELLIS_ADMIN_USER } : {}),
    ...(oidcConfig ? { oidc: createOidcVerifier(oidcConfig) } : {}),
  });
  await authenticator.prepare({ actor: 'trellis' });
  const proxyHeader = env.TRELLIS_TRUSTED_PROXY_HEADER?.trim() || undefined;
  const trustedProxies = (env.TRELLIS_TRUSTED_PROXIES ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  return { authenticator, findPrincipal: (n) => ws.identities.get(n), ...(proxyHeader ? { proxyHeader, trustedProxies } : {}) };
}

/** A number of seconds, at least 1, as the user typed it. */
function parseSeconds(text: string, option: string): number {
  if (!/^\d+(\.\d+)?$/.test(text) || Number(text) < 1) throw new Error(`${option} '${text}' is not a number of seconds: give a number of at least 1, e.g. 3600`);
  return Number(text);
}

/** A port as the user typed it: decimal digits only, so '', '0x10' or ' 80' are not taken for a port. */
export function parsePort(text: string): number {
  const range = 'a port is an integer from 0 to 65535, and 0 picks a free one';
  if (!/^\d+$/.test(text)) throw new Error(`--port '${text}' is not a port number: ${range}`);
  const port = Number(text);
  if (port > 65535) throw new Error(`--port ${text} is out of range: ${range}`);
  return port;
}
