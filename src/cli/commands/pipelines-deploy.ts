/**
 * `trellis pipelines deploy <pipeline-file | package.json> --server <url>`: publishes a pipeline
 * package as a version of the pipeline on a Trellis server, where its triggers take over. A
 * pipeline file is packaged first; a package (as `trellis ci` writes it) is verified as the server
 * will verify it. The same package deployed twice is the same version.
 */
import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { ERRORS, TrellisError, invalid, type ErrorCode } from '../../core/errors.js';
import type { PipelinePackage } from '../../pipelines/package.js';
import { globals, serverChoice } from '../context.js';
import { printJson } from '../output.js';
import { credentialsHeader } from '../../sdk/rest-backend.js';
import { serverUrl } from '../server-rest.js';

export const VERSIONS_ROUTE = '/api/2.0/trellis/pipelines/versions';

export interface DeployResult {
  server: string;
  name: string;
  version: number | string;
  created: boolean;
  sha256: string;
}

/** The package in `file`: read and verified when it is one, else built from the pipeline file. */
export async function packageFor(file: string, include?: string[]): Promise<PipelinePackage> {
  const { buildPackage, verifyPackage, PACKAGE_FORMAT } = await import('../../pipelines/package.js');
  if (/\.json$/i.test(file)) {
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw invalid(err.code === 'ENOENT' ? `No file at '${file}'` : `'${file}' is not valid JSON: ${err.message}`);
    }
    if ((doc as { format?: unknown } | null)?.format === PACKAGE_FORMAT) {
      if (include?.length) throw invalid(`--include applies when packaging a pipeline file; '${file}' is already a package`);
      return verifyPackage(doc);
    }
  }
  return buildPackage(file, include ? { include } : undefined);
}

function deployServer(raw: string | undefined): string {
  const s = raw ?? process.env.TRELLIS_SERVER;
  if (!s) throw invalid('deploy needs the server: --server <url> (or $TRELLIS_SERVER), e.g. --server https://trellis.example.com');
  return serverUrl(s);
}

function authHeader(token: string | undefined): Record<string, string> {
  const h = credentialsHeader(token, process.env);
  return h ? { authorization: h } : {};
}

/** POSTs the package; a refusal comes back as the server's own error (its code and message). */
export async function deployPackage(pkg: PipelinePackage, server: string, token?: string): Promise<DeployResult> {
  const url = deployServer(server);
  let res: Response;
  try {
    res = await fetch(`${url}${VERSIONS_ROUTE}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeader(token) },
      body: JSON.stringify(pkg),
    });
  } catch (e) {
    const cause = (e as { cause?: { message?: string; code?: string } }).cause;
    throw new TrellisError('TRELLIS_SERVER_UNREACHABLE', { url, detail: cause?.message ?? (e as Error).message }, { cause: e });
  }
  const text = await res.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const code = (body?.code ?? body?.trellis_code) as string | undefined;
    const message = typeof body?.message === 'string' ? body.message : text.slice(0, 500) || res.statusText;
    if (code && code in ERRORS) {
      throw new TrellisError(code as ErrorCode, {}, { message: `the server at ${url} refused the deployment (${res.status}): ${message}` });
    }
    throw new TrellisError('TRELLIS_SERVER_REFUSED', { url, status: res.status, detail: message });
  }
  // `{ pipeline_version: { name, version, … }, created }`, or the same fields at the top level.
  const v = (body?.pipeline_version ?? body) as Record<string, unknown> | undefined;
  const version = v?.version;
  if (!body || !v || typeof v.name !== 'string' || (typeof version !== 'number' && typeof version !== 'string') || typeof body.created !== 'boolean') {
    throw new TrellisError('TRELLIS_SERVER_REFUSED', { url, status: res.status, detail: `expected the pipeline version and whether it was created, got ${text.slice(0, 200)}` });
  }
  return { server: url, name: v.name, version, created: body.created, sha256: pkg.sha256 };
}

export function pipelinesDeployCommand(): Command {
  return new Command('deploy')
    .description('publish a pipeline as a new version on a Trellis server, where its triggers take over: packages a pipeline file, or verifies a package written by `trellis ci`')
    .argument('<file>', 'a pipeline file (.ts, .js, .yaml, .json) or a package (.pkg.json)')
    .option('--server <url>', 'the Trellis server (default $TRELLIS_SERVER)')
    .option('--token <token>', 'bearer token for the server (default $TRELLIS_TOKEN)')
    .option('--include <path...>', "more files or folders to package with a pipeline file, relative to its folder")
    .action(async (file: string, o: { server?: string; token?: string; include?: string[] }, c: Command) => {
      // --server is also the CLI's global option (and $TRELLIS_TRACKING_URI / $MLFLOW_TRACKING_URI choose a server too).
      const server = deployServer(o.server ?? serverChoice(c)?.url);
      const pkg = await packageFor(file, o.include);
      const r = await deployPackage(pkg, server, o.token);
      if (globals(c).json) printJson(r);
      else if (r.created) console.log(`deployed ${r.name} version ${r.version} (package sha256 ${r.sha256})`);
      else console.log(`${r.name}: already deployed as version ${r.version} (package sha256 ${r.sha256})`);
    });
}
