/**
 * `trellis serve`: serves the deployments of the workspace's store (or the named ones) over the
 * Open Inference Protocol (REST and gRPC), KServe v1 and MLflow's `/invocations`. Stateless: any
 * number of replicas serve the same store and follow changes of deployments and aliases within a
 * second. SIGTERM (or Ctrl-C) stops taking new connections, lets requests in flight finish, and
 * exits 0. `--workers N` runs N such replicas as processes sharing the ports (serve-cluster.ts).
 */
import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import { invalid, isTrellisError } from '../../core/errors.js';
import { Workspace } from '../../workspace/workspace.js';
import { globals } from '../context.js';
import { authOptions, parsePort } from './server.js';

interface ServeOptions {
  host: string;
  port: string;
  grpcPort: string;
  grpc: boolean;
  endpoint?: string[];
  invocationsEndpoint?: string;
  maxBodyMb: string;
  maxBatch: string;
  logSample: string;
  rollouts: boolean;
  archiveAfter?: string;
  auth?: boolean;
  logFormat?: string;
  workers: string;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function positiveInt(text: string, option: string, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) throw invalid(`${option} '${text}' must be a whole number from 1 to ${max}`);
  return Number(text);
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('serve the deployments in the store: OIP v2 over REST and gRPC, KServe v1 :predict and MLflow /invocations (see `trellis deployments`)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'REST port', '8080')
    .option('--grpc-port <port>', 'gRPC port (inference.GRPCInferenceService)', '8081')
    .option('--no-grpc', 'serve REST only')
    .option('--endpoint <name>', 'serve only this endpoint (repeatable); default every deployment in the store', collect)
    .option('--invocations-endpoint <name>', 'the endpoint MLflow-style POST /invocations answers for (default: the only one served; else the x-trellis-endpoint header)')
    .option('--max-body-mb <n>', 'largest request body, in MiB (413 beyond it)', '32')
    .option('--max-batch <rows>', 'most rows in one request (413 beyond it)', '10000')
    .option('--log-sample <rate>', 'fraction of requests written to the prediction log (inputs, outputs, version, route, latency), 0 to 1; 0 turns the log off', '1')
    .option('--no-rollouts', 'do not run the rollout controller in this replica (one replica among those serving the store leads it)')
    .option('--archive-after <age>', 'hourly, move prediction log entries older than this (12h, 7d, 2w) into Parquet files in the artifact store (one replica among those given it does the work)')
    .option('--auth', 'require a token with the invoker role on the endpoint (always on when --host is not a loopback address); endpoints created with --public take anonymous callers')
    .option('--no-auth', 'serve without authentication even on a non-loopback address')
    .option('--log-format <format>', 'json or pretty; default $TRELLIS_LOG_FORMAT, else pretty on a terminal and json otherwise')
    .option('--workers <n>', 'processes answering on the same ports, each loading every model: a number, or auto for one per core', '1')
    .addHelpText('after', '\nEvery answer carries x-request-id, and model answers x-model-endpoint, x-model-version (name/version) and x-route\n(primary, canary or arm:<name>). Models are verified against their recorded sha256 before they take traffic;\nreadiness (/v2/health/ready) is false until every endpoint is loaded.')
    .action(async (o: ServeOptions, c: Command) => {
      const g = globals(c);
      // Options are checked before the log starts: a typo is one plain line, whatever the log format.
      const settings = checkOptions(o);
      const { logDestination, logOptions, resolveLogFormat, serverLogger, redactUri } = await import('../../api/server-log.js');
      const format = resolveLogFormat(o.logFormat);
      const level = process.env.TRELLIS_LOG_LEVEL || 'info';
      const stream = logDestination(format);
      const log = serverLogger(level, stream);
      const { default: cluster } = await import('node:cluster');
      if (settings.workers > 1 && cluster.isPrimary) {
        const { superviseWorkers } = await import('../serve-cluster.js');
        const { ServingMetrics } = await import('../../serving/metrics.js');
        process.exitCode = await superviseWorkers({
          workers: settings.workers, log, aggregate: (parts) => ServingMetrics.aggregate(parts),
          listening: (r) => log.info({ ...r.fields, workers: settings.workers }, `${r.message}; ${settings.workers} workers`),
        });
        return;
      }
      // Requests are logged one line each at debug or trace; otherwise only failures, with their request id.
      const requestLog = { ...logOptions(level === 'debug' || level === 'trace' ? level : 'warn'), stream };
      try {
        await serve(o, settings, g, log, redactUri, requestLog);
      } catch (e) {
        // The channel to the primary keeps a worker alive: one that cannot start ends once its error is out.
        if (cluster.isWorker) setTimeout(() => process.exit(1), 50);
        if (format === 'pretty') throw e;
        log.fatal({ code: isTrellisError(e) ? e.code : undefined }, (e as Error).message ?? String(e));
        process.exitCode = 1;
      }
    });
}

interface Settings {
  port: number;
  grpcPort?: number;
  maxBodyBytes: number;
  maxBatch: number;
  sample: number;
  archiveAfterMs?: number;
  workers: number;
}

function checkOptions(o: ServeOptions): Settings {
  const port = parsePort(o.port);
  const grpcPort = o.grpc ? parsePort(o.grpcPort) : undefined;
  if (grpcPort !== undefined && grpcPort !== 0 && grpcPort === port) throw invalid(`--grpc-port ${grpcPort} is the REST --port too: give them different ports (or --no-grpc)`);
  const maxBodyBytes = positiveInt(o.maxBodyMb, '--max-body-mb', 4096) * 1024 * 1024;
  const maxBatch = positiveInt(o.maxBatch, '--max-batch', 10_000_000);
  const sample = Number(o.logSample);
  if (!/^\d*\.?\d+$/.test(o.logSample) || !(sample >= 0 && sample <= 1)) throw invalid(`--log-sample '${o.logSample}' must be a number from 0 to 1, e.g. 1 (every request) or 0.1`);
  const age = o.archiveAfter === undefined ? undefined : /^(\d{1,6})([smhdw])$/.exec(o.archiveAfter.trim());
  if (age === null || (age && Number(age[1]) === 0)) throw invalid(`--archive-after '${o.archiveAfter}' must be a duration of at least 1s, e.g. 12h, 7d or 2w`);
  const archiveAfterMs = age ? Number(age[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[age[2] as 's' | 'm' | 'h' | 'd' | 'w'] : undefined;
  const workers = o.workers.trim().toLowerCase() === 'auto' ? availableParallelism() : positiveInt(o.workers, '--workers', 64);
  return { port, ...(grpcPort !== undefined ? { grpcPort } : {}), maxBodyBytes, maxBatch, sample, ...(archiveAfterMs !== undefined ? { archiveAfterMs } : {}), workers };
}

async function serve(o: ServeOptions, { port, grpcPort, maxBodyBytes, maxBatch, sample, archiveAfterMs }: Settings, g: { store?: string; artifacts?: string }, baseLog: import('pino').Logger, redactUri: (u: string) => string, requestLog: object): Promise<void> {
  // One of `--workers N` processes: the primary forwards SIGTERM (and Ctrl-C, which reaches every
  // process of the terminal's group: the worker leaves it to the primary), says where they listen
  // and gathers /metrics; what every worker sees alike is logged at info by the first one only.
  const { workerSlot, workerChannel } = await import('../serve-cluster.js');
  const slot = workerSlot();
  if (slot !== undefined) process.on('SIGINT', () => undefined);
  const log = slot === undefined ? baseLog : baseLog.child({ worker: slot });
  const quiet = slot !== undefined && slot > 1;
  const { isLoopbackAddress } = await import('../../api/edge.js');
  const authOn = o.auth ?? !isLoopbackAddress(o.host);
  const ws = await Workspace.open({ store: g.store, artifacts: g.artifacts });
  const { ServingEngine } = await import('../../serving/engine.js');
  const { workspaceSource, servingAuthorizer } = await import('../../api/serving/source.js');
  const { buildServingApp } = await import('../../api/serving/app.js');
  const { listenFailure } = await import('../../api/serve.js');
  let engine: InstanceType<typeof ServingEngine> | undefined;
  let app: Awaited<ReturnType<typeof buildServingApp>> | undefined;
  let grpc: { port: number; close(): Promise<void> } | undefined;
  let controller: { start(): void; stop(): Promise<void> } | undefined;
  let archiver: { start(): void; stop(): Promise<void> } | undefined;
  const { PredictionLogger } = await import('../../serving/prediction-logger.js');
  let lastDropWarning = 0;
  const logger = sample > 0 ? new PredictionLogger({
    sink: (entries) => ws.predictions.append(entries), sampleRate: sample,
    onError: (err, dropped) => {
      // One line a minute at most: a store that is down must not flood the log.
      if (Date.now() - lastDropWarning < 60_000) return;
      lastDropWarning = Date.now();
      log.warn({ event: 'prediction-log-dropped', dropped, error: err.message }, `prediction log: could not write ${dropped} entries (${err.message}); requests are answered, their log entries dropped`);
    },
  }) : undefined;
  const { ServingMetrics } = await import('../../serving/metrics.js');
  const metrics = new ServingMetrics({ dropped: () => logger?.dropped ?? 0, written: () => logger?.written ?? 0, queued: () => logger?.pending ?? 0 });
  const channel = slot === undefined ? undefined : workerChannel(() => metrics.json());
  if (channel) {
    // Each worker's series apart: a worker that is replaced starts its counters again, which
    // Prometheus takes in its stride for one series but would read as a drop in a sum.
    metrics.registry.setDefaultLabels({ worker: String(slot) });
    metrics.gatherFrom(() => channel.metrics());
  }
  try {
    const auth = authOn ? await authOptions(ws) : undefined;
    const pkg = JSON.parse((await import('node:fs')).readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    engine = new ServingEngine({
      source: workspaceSource(ws),
      ...(o.endpoint?.length ? { endpoints: o.endpoint } : {}),
      ...(auth ? { authorize: servingAuthorizer(auth.authenticator!) } : {}),
      serverName: 'trellis', serverVersion: pkg.version,
      onServed: (x) => {
        metrics.served(x);
        logger?.add(x);
      },
      onEvent: (e) => {
        metrics.event(e);
        if (e.kind === 'load_failed' || e.kind === 'refresh_failed' || e.kind === 'shadow_failed') log.error({ event: e.kind, ...e }, `${'endpoint' in e ? `${e.endpoint}: ` : ''}${e.kind.replace('_', ' ')}${'model' in e ? ` ${e.model}` : ''}: ${e.error}`);
        else if (quiet) log.debug({ event: e.kind, ...e }, `${e.endpoint}: ${e.kind}`);
        else if (e.kind === 'loaded') log.info({ event: 'loaded', ...e }, `${e.endpoint}: loaded ${e.model} (sha256 ${e.sha256.slice(0, 12)}, ${Math.round(e.bytes / 1024)} KiB, ${e.loadMs.toFixed(1)} ms)`);
        else if (e.kind === 'switched') log.info({ event: 'switched', ...e }, `${e.endpoint}: serving revision ${e.revision}: ${e.routes.join(', ')}`);
        else log.info({ event: e.kind, ...e }, `${e.endpoint}: no longer deployed`);
      },
    });
    await engine.start();
    const missing = (o.endpoint ?? []).filter((n) => !engine!.deployment(n) && !engine!.endpoints().some((x) => x.name.toLowerCase() === n.toLowerCase()));
    if (missing.length && !quiet) log.warn({ event: 'unknown-endpoint', missing }, `no deployment named ${missing.join(', ')} yet: it will be served once \`trellis deployments create\` makes it`);
    app = await buildServingApp({ engine, maxBodyBytes, maxBatch, metrics, logger: requestLog, ...(logger ? { feedback: (e, id, labels) => ws.predictions.feedback(e, id, labels) } : {}), ...(o.invocationsEndpoint ? { invocationsEndpoint: o.invocationsEndpoint } : {}) });
    try {
      await app.listen({ host: o.host, port });
    } catch (err) {
      throw new Error(listenFailure(err, o.host, port), { cause: err });
    }
    if (grpcPort !== undefined) {
      const { startGrpcServer } = await import('../../serving/grpc/server.js');
      try {
        grpc = await startGrpcServer({
          service: engine, host: o.host, port: grpcPort, maxMessageBytes: maxBodyBytes, maxBatch, log,
          onRefused: (endpoint, code) => metrics.refused(endpoint === undefined ? '' : engine!.deployment(endpoint)?.name ?? '', 'grpc', code),
        });
      } catch (err) {
        throw new Error(listenFailure(err, o.host, grpcPort).replace('--port', '--grpc-port'), { cause: err });
      }
    }
  } catch (e) {
    await app?.close().catch(() => undefined);
    await engine?.stop();
    await logger?.stop();
    await ws.close();
    throw e;
  }
  if (o.rollouts) {
    // Every replica runs a controller; the store's lease lets one of them act.
    const { RolloutController } = await import('../../serving/rollout.js');
    const { hostname } = await import('node:os');
    const holder = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
    controller = new RolloutController({
      holder,
      ports: {
        list: () => ws.deployments.list(),
        stats: (e, since) => ws.predictions.stats(e, since),
        apply: async (d, decision, by) => { await ws.deployments.applyDecision(d, decision, by); },
        record: (d, decision, by) => ws.deployments.recordDecision(d, decision, by),
        acquireLease: (l, h, ttl) => ws.deployments.acquireLease(l, h, ttl),
      },
      onDecision: (endpoint, d) => log.info({ event: 'rollout', endpoint, action: d.action, step: d.step, share: d.share, requests: d.requests, checks: d.checks }, `${endpoint}: rollout ${d.action}: ${d.reason}`),
      onError: (e) => log.error({ event: 'rollout-error', error: e.message }, `rollout controller: ${e.message}`),
    });
    controller.start();
  }
  if (archiveAfterMs !== undefined) {
    const { ArchiveLoop } = await import('../../serving/prediction-archive.js');
    const { hostname } = await import('node:os');
    archiver = new ArchiveLoop({
      holder: `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`, afterMs: archiveAfterMs,
      archive: (olderThan) => ws.predictions.archive({ olderThan }),
      acquireLease: (l, h, ttl) => ws.deployments.acquireLease(l, h, ttl),
      onRun: (days, olderThan) => log.info({ event: 'prediction-archive', olderThan: new Date(olderThan).toISOString(), files: days.map((d) => d.path), entries: days.reduce((n, d) => n + d.removed, 0) },
        `prediction log: moved ${days.reduce((n, d) => n + d.removed, 0)} entries older than ${new Date(olderThan).toISOString()} into ${days.length} archive file${days.length === 1 ? '' : 's'}`),
      onError: (e) => log.error({ event: 'prediction-archive-error', error: e.message }, `prediction archive: ${e.message}`),
    });
    archiver.start();
  }
  const addr = app.server.address();
  const restPort = typeof addr === 'object' && addr ? addr.port : port;
  const served = engine.endpoints().map((e) => e.name);
  const fields = {
    event: 'listening', rest: `http://${o.host}:${restPort}`, ...(grpc ? { grpc: `${o.host}:${grpc.port}` } : {}), store: redactUri(ws.storeUri), auth: authOn ? 'on' : 'off', endpoints: served,
  };
  const message = `trellis serve: REST on http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${restPort}${grpc ? `, gRPC on ${o.host}:${grpc.port}` : ''} (auth ${authOn ? 'on' : 'off'}); ${served.length ? `endpoints: ${served.join(', ')}` : 'no deployments yet: `trellis deployments create <endpoint> --model <name@alias>`'}`;
  if (channel) {
    log.debug(fields, message);
    channel.ready({ rest: restPort, ...(grpc ? { grpc: grpc.port } : {}), fields, message });
  } else {
    log.info(fields, message);
  }

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal during shutdown; exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    if (slot === undefined) log.info({ signal, event: 'draining' }, 'shutting down: no new connections, finishing requests in flight');
    void (async () => {
      let code = 0;
      try {
        await Promise.all([app.close(), grpc?.close()]);
        await engine.stop();
        // The answers given so far are in the log before the process ends.
        await logger?.stop();
        await archiver?.stop();
        await ws.close();
      } catch (err) {
        log.error({ err }, 'shutdown failed');
        code = 1;
      }
      process.exit(code);
    })();
  };
  process.on('SIGTERM', onSignal);
  if (slot === undefined) process.on('SIGINT', onSignal);
}
