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
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got '${o.port}'`);
      const ws = await Workspace.open({ store: g.store, artifacts: g.artifacts });
      const { startServer } = await import('../../api/serve.js');
      const sched = o.scheduler ? await openScheduler(ws, { onDecision: (d) => console.log(`scheduler: ${decisionLine(d)}`) }) : undefined;
      const onShutdown = sched && (async () => {
        await sched.scheduler.stop({ cancel: true, reason: 'the server was stopped' });
        await sched.close();
      });
      const { url } = await startServer({ host: o.host, port, workspace: ws, onShutdown });
      sched?.scheduler.start();
      console.log(`trellis server listening on ${url}`);
      console.log(`  store:     ${ws.storeUri}`);
      console.log(`  artifacts: ${ws.artifactsUri}`);
      console.log(`  MLflow clients: export MLFLOW_TRACKING_URI=${url}`);
      if (sched) console.log(`  scheduler: ${sched.scheduler.id} runs deployed pipelines when their triggers fire`);
    });
}
