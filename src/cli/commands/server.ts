import { Command } from 'commander';
import { Workspace } from '../../workspace/workspace.js';
import { globals } from '../context.js';
import { decisionLine, openScheduler } from './scheduler.js';

export function serverCommand(): Command {
  return new Command('server')
    .description('serve the REST API (MLflow-compatible tracking and registry, artifacts proxy)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '5000')
    .option('--scheduler', 'also run the pipeline scheduler in this process: deployed pipelines run when their triggers fire (see `trellis scheduler`)')
    .addHelpText('after', '\nArtifacts (run files, models, dataset versions) live where the global --artifacts option says:\n  file:<path> on this machine, or s3://bucket/prefix in S3 or an S3-compatible store such as MinIO, with\n  credentials from the AWS chain and the endpoint from AWS_ENDPOINT_URL_S3 (see docs/storage.md).')
    .action(async (o: { host: string; port: string; scheduler?: boolean }, c: Command) => {
      const g = globals(c);
      const port = parsePort(o.port);
      const { fetchRefusesPort, startServer } = await import('../../api/serve.js');
      if (fetchRefusesPort(port)) {
        console.error(`warning: port ${port} is on the fetch standard's list of bad ports: browsers and fetch clients (Node's fetch too) will refuse to connect to it; choose another --port for them`);
      }
      const ws = await Workspace.open({ store: g.store, artifacts: g.artifacts });
      const sched = o.scheduler ? await openScheduler(ws, { onDecision: (d) => console.log(`scheduler: ${decisionLine(d)}`) }) : undefined;
      const onShutdown = sched && (async () => {
        await sched.scheduler.stop({ cancel: true, reason: 'the server was stopped' });
        await sched.close();
      });
      let url: string;
      try {
        ({ url } = await startServer({ host: o.host, port, workspace: ws, onShutdown }));
      } catch (e) {
        // Nothing is listening: release what was opened so the process exits with the error alone.
        await sched?.close();
        await ws.close();
        throw e;
      }
      sched?.scheduler.start();
      console.log(`trellis server listening on ${url}`);
      console.log(`  store:     ${ws.storeUri}`);
      console.log(`  artifacts: ${ws.artifactsUri}`);
      console.log(`  MLflow clients: export MLFLOW_TRACKING_URI=${url}`);
      if (sched) console.log(`  scheduler: ${sched.scheduler.id} runs deployed pipelines when their triggers fire`);
    });
}

/** A port as the user typed it: decimal digits only, so '', '0x10' or ' 80' are not taken for a port. */
function parsePort(text: string): number {
  const range = 'a port is an integer from 0 to 65535, and 0 picks a free one';
  if (!/^\d+$/.test(text)) throw new Error(`--port '${text}' is not a port number: ${range}`);
  const port = Number(text);
  if (port > 65535) throw new Error(`--port ${text} is out of range: ${range}`);
  return port;
}
