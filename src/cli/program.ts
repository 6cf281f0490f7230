import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { auditCommand } from './commands/audit.js';
import { tokensCommand, usersCommand } from './commands/users.js';
import { deploymentsCommand } from './commands/deployments.js';
import { serveCommand } from './commands/serve.js';
import { predictionsCommand } from './commands/predictions.js';
import { experimentsCommand } from './commands/experiments.js';
import { modelsCommand } from './commands/models.js';
import { runsCommand } from './commands/runs.js';
import { serverCommand } from './commands/server.js';
import { quickstartCommand } from './commands/quickstart.js';
import { dataCommand } from './commands/data.js';
import { predictCommand, trainCommand } from './commands/train.js';
import { scoreCommand } from './commands/score.js';
import { exportCommand, importCommand } from './commands/export.js';
import { evaluateCommand } from './commands/evaluate.js';
import { fairnessCommand } from './commands/fairness.js';
import { explainCommand } from './commands/explain.js';
import { pipelinesCommand } from './commands/pipelines.js';
import { runCommand } from './commands/run.js';
import { lineageCommand } from './commands/lineage.js';
import { workerCommand } from './commands/worker.js';
import { schedulerCommand } from './commands/scheduler.js';
import { ciCommand } from './commands/ci.js';
import { initCommand } from './commands/init.js';
import { serverChoice } from './context.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('trellis')
    .description('Trellis — experiment tracking (MLflow-compatible API), versioned and validated data, pipelines, a model registry, built-in ML and model serving (Open Inference Protocol, canaries, rollouts)')
    .version(pkg.version)
    .option('--store <uri>', 'metadata store: sqlite:<path> or postgres://… (default $TRELLIS_STORE_URI or ./.trellis/trellis.db)')
    .option('--artifacts <uri>', 'artifact store: file:<path> or s3://bucket/prefix (default $TRELLIS_ARTIFACTS_URI or ./.trellis/artifacts)')
    .option('--server <url>', 'work against this Trellis server over its REST API instead of a local store (default $TRELLIS_TRACKING_URI, else $MLFLOW_TRACKING_URI, when an http(s) URL; $TRELLIS_TOKEN is sent as a Bearer token)')
    .option('--json', 'print JSON for scripts instead of tables')
    .option('--user <name>', 'who is acting, for the audit trail (default $TRELLIS_USER or $USER)')
    .showHelpAfterError()
    .exitOverride()
    // Checks --server (and refuses it for the commands that run on this machine) before any work.
    .hook('preAction', (_program, action) => {
      serverChoice(action);
    });
  for (const sub of [serverCommand(), experimentsCommand(), runsCommand(), modelsCommand(), dataCommand(), trainCommand(), predictCommand(), scoreCommand(), evaluateCommand(), fairnessCommand(), explainCommand(), pipelinesCommand(), runCommand(), lineageCommand(), workerCommand(), schedulerCommand(), ciCommand(), initCommand(), exportCommand(), importCommand(), auditCommand(), usersCommand(), tokensCommand(), deploymentsCommand(), serveCommand(), predictionsCommand(), quickstartCommand()]) {
    program.addCommand(sub);
  }
  for (const c of program.commands) {
    c.exitOverride();
    for (const s of c.commands) s.exitOverride();
  }
  return program;
}
