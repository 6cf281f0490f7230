import { Command } from 'commander';
import { Workspace } from '../../workspace/workspace.js';
import { globals } from '../context.js';

export function serverCommand(): Command {
  return new Command('server')
    .description('serve the REST API (MLflow-compatible tracking and registry, artifacts proxy)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '5000')
    .action(async (o: { host: string; port: string }, c: Command) => {
      const g = globals(c);
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got '${o.port}'`);
      const ws = await Workspace.open({ store: g.store, artifacts: g.artifacts });
      const { startServer } = await import('../../api/serve.js');
      const { url } = await startServer({ host: o.host, port, workspace: ws });
      console.log(`trellis server listening on ${url}`);
      console.log(`  store:     ${ws.storeUri}`);
      console.log(`  artifacts: ${ws.artifactsUri}`);
      console.log(`  MLflow clients: export MLFLOW_TRACKING_URI=${url}`);
    });
}
