/**
 * `trellis deployments`: serving endpoints and their traffic. On the local store they act directly;
 * with --server (or TRELLIS_TRACKING_URI) they call the server's routes with the caller's token.
 * `trellis serve` replicas pick every change up within a second.
 */
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { invalid } from '../../core/errors.js';
import { deploymentJson, revisionJson } from '../../api/routes/deployments.js';
import { abReport, abReportFromJson, abReportJson, type AbReport, type TestReport } from '../../serving/ab-report.js';
import { abReportHtml } from '../../serving/ab-report-html.js';
import type { DeploymentRequest } from '../../serving/deployment-service.js';
import { actor, globals } from '../context.js';
import { output, printTable, time } from '../output.js';
import { either, remote } from '../server-rest.js';
import { parseSince } from './audit.js';

interface RouteRow { role: string; model: string; share: number; arm?: string }
interface DeploymentRow {
  name: string;
  revision: number;
  routes: RouteRow[];
  sticky_key?: string;
  public: boolean;
  rollout?: { model: string; steps: number[]; step: number; slo: string; hold_ms: number; step_started_at: number };
  created_at: number;
  created_by: string;
  updated_at: number;
  updated_by: string;
}
interface RevisionRow { revision: number; change: string; at: number; by: string; reason?: string; routes: RouteRow[] }

const row = (d: object) => d as DeploymentRow;

/** A percentage as typed: `10`, `10%`, `2.5`. */
export function parseShare(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d{1,2})?)\s*%?\s*$/.exec(text);
  if (!m || Number(m[1]) > 100) throw invalid(`${what} '${text}' is not a percentage: give a number from 0 to 100, e.g. 10 or 2.5`);
  return Number(m[1]);
}

/** `--ab income/3=50,income/4=50` or `a:income/3=50,…` (arm names optional). */
export function parseArms(text: string): NonNullable<DeploymentRequest['ab']> {
  return text.split(',').map((part) => part.trim()).filter(Boolean).map((part) => {
    const eq = part.lastIndexOf('=');
    if (eq < 1) throw invalid(`--ab '${part}': write <model-ref>=<percent>, e.g. income/3=50 (or <arm>:<model-ref>=<percent>)`);
    const left = part.slice(0, eq).trim();
    const share = parseShare(part.slice(eq + 1), `--ab share of '${left}'`);
    const colon = left.indexOf(':');
    return colon > 0 ? { arm: left.slice(0, colon), model: left.slice(colon + 1), share } : { model: left, share };
  });
}

export function routesLine(routes: RouteRow[]): string {
  return routes.map((r) => `${r.role === 'arm' ? `arm ${r.arm}` : r.role} ${r.model}${r.role === 'shadow' ? '' : ` ${r.share}%`}`).join(' · ');
}

/** `10m`, `30s`, `1h`, `0s`: a hold time in ms. */
function parseHold(text: string): number {
  const m = /^\s*(\d+)\s*(ms|s|m|h)\s*$/.exec(text);
  if (!m) throw invalid(`--hold '${text}' is not a duration: write a number and a unit, e.g. 30s, 10m or 1h`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

function wholeNumber(text: string, option: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1 || Number(text) > 1e9) throw invalid(`${option} '${text}' must be a whole number of at least 1`);
  return Number(text);
}

function printDeployment(d: DeploymentRow): void {
  console.log(`endpoint ${d.name} (revision ${d.revision}${d.public ? ', public' : ''})`);
  const r = d.rollout;
  if (r) console.log(`  rolling out ${r.model}: step ${r.step + 1} of ${r.steps.length} (${r.steps.map((s, i) => (i === r.step ? `[${s}%]` : `${s}%`)).join(' → ')}), SLO ${r.slo}, since ${time(r.step_started_at)}`);
  for (const r of d.routes) console.log(`  ${(r.role === 'arm' ? `arm ${r.arm}` : r.role).padEnd(10)} ${r.model.padEnd(28)} ${r.role === 'shadow' ? 'copy of every request' : `${r.share}%`}`);
  if (d.sticky_key) console.log(`  sticky key ${d.sticky_key}`);
  console.log(`  created ${time(d.created_at)} by ${d.created_by}, updated ${time(d.updated_at)} by ${d.updated_by}`);
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const fig = (v: number | undefined) => (v === undefined ? '' : Number.isInteger(v) ? String(v) : v.toPrecision(4));

function testLine(control: string, treatment: string, t: TestReport): string {
  const r = t.test;
  const ci = r.ci ? `[${fig(r.ci.lower)}, ${fig(r.ci.upper)}]` : '[–]';
  const verdict = r.decision === 'significant' ? `significant: ${t.better} is better` : `not yet${r.reason ? ` (${r.reason})` : ''}`;
  return `  ${treatment} − ${control} on ${t.on === 'squared_error' ? 'squared error' : t.on.replace('_', ' ')}: ${fig(r.difference)} ${ci}, p ${fig(r.pValue)} (alpha ${fig(r.alpha)}): ${verdict}`;
}

function printReport(r: AbReport, html: string | undefined): void {
  console.log(`endpoint ${r.endpoint}, ${time(r.since)} – ${time(r.until)}`);
  printTable(r.routes.map((x) => ({
    route: x.route, models: x.models.join(', '), share: x.share === undefined ? '' : `${x.share}%`, requests: x.requests, errors: pct(x.errorRate),
    p50: fig(x.latency?.p50), p95: fig(x.latency?.p95), p99: fig(x.latency?.p99), labelled: x.labelled, metric: x.metric ? `${x.metric.name} ${fig(x.metric.value)}` : '',
  })), ['route', 'models', 'share', 'requests', 'errors', 'p50', 'p95', 'p99', 'labelled', 'metric']);
  if (r.srm) console.log(`sample ratio: chi-square ${fig(r.srm.chiSquare)}, p ${fig(r.srm.pValue)}: ${r.srm.mismatch ? 'MISMATCH' : 'ok'} (observed ${r.srm.observed.join('/')}, expected ${r.srm.expected.map((e) => fig(e)).join('/')})`);
  if (r.comparisons.length) console.log('sequential tests (mSPRT, always valid):');
  for (const c of r.comparisons) {
    if (c.metric) console.log(testLine(c.control, c.treatment, c.metric));
    console.log(testLine(c.control, c.treatment, c.errorRate));
  }
  for (const n of r.notes) console.log(`note: ${n}`);
  if (html) console.log(`wrote ${html}`);
}

export function deploymentsCommand(): Command {
  const cmd = new Command('deployments').description('serving endpoints: which model versions answer, with what share of the traffic (served by `trellis serve`)');

  cmd.command('create <endpoint>')
    .description('create an endpoint: a primary model, optionally a canary with a share and a shadow; or a sticky A/B test')
    .option('--model <ref>', 'the primary: name@alias (follows the alias) or name/version')
    .option('--canary <ref>', 'a canary version, with --share')
    .option('--share <percent>', "the canary's share of the traffic, e.g. 10")
    .option('--shadow <ref>', 'a version that receives a copy of each request; its answers are logged, never returned')
    .option('--ab <arms>', 'A/B arms instead of --model: <ref>=<percent>,… (e.g. income/3=50,income/4=50), with --sticky-key')
    .option('--sticky-key <key>', 'for --ab: header:<name> or field:<name>, the request key whose hash picks the arm (stable across replicas and restarts)')
    .option('--public', 'anyone may invoke the endpoint without a token, even with auth on')
    .option('--reason <text>', 'why, kept in the history and the audit trail')
    .action(async (endpoint: string, o: { model?: string; canary?: string; share?: string; shadow?: string; ab?: string; stickyKey?: string; public?: boolean; reason?: string }, c: Command) => {
      if ((o.canary === undefined) !== (o.share === undefined)) throw invalid('Give --canary and --share together, e.g. --canary income/4 --share 10');
      if (o.model === undefined && o.ab === undefined) throw invalid('Give --model <name@alias|name/version> (the primary), or --ab for an A/B test');
      const req: DeploymentRequest = {
        ...(o.model !== undefined ? { model: o.model } : {}),
        ...(o.canary !== undefined ? { canary: { model: o.canary, share: parseShare(o.share!, '--share') } } : {}),
        ...(o.shadow !== undefined ? { shadow: o.shadow } : {}),
        ...(o.ab !== undefined ? { ab: parseArms(o.ab) } : {}),
        ...(o.stickyKey !== undefined ? { stickyKey: o.stickyKey } : {}),
        ...(o.public ? { public: true } : {}),
      };
      const d = await either(c,
        async (ws) => row(deploymentJson(await ws.deployments.create(endpoint, req, actor(c), o.reason))),
        async (url) => (await remote<{ deployment: DeploymentRow }>(url, 'POST', '/deployments/create', {
          name: endpoint, ...(req.model !== undefined ? { model: req.model } : {}), ...(req.canary ? { canary: req.canary } : {}), ...(req.shadow ? { shadow: req.shadow } : {}),
          ...(req.ab ? { ab: req.ab } : {}), ...(req.stickyKey ? { sticky_key: req.stickyKey } : {}), ...(req.public ? { public: true } : {}), ...(o.reason ? { reason: o.reason } : {}),
        })).deployment);
      output(!!globals(c).json, () => d, () => {
        console.log(`created endpoint ${d.name}: ${routesLine(d.routes)}`);
        console.log(`serve it with \`trellis serve\`; then POST /v2/models/${d.name}/infer`);
      });
    });

  cmd.command('list')
    .description('list endpoints and their routes')
    .action(async (_o: unknown, c: Command) => {
      const all = await either(c,
        async (ws) => (await ws.deployments.list()).map((d) => row(deploymentJson(d))),
        async (url) => (await remote<{ deployments: DeploymentRow[] }>(url, 'GET', '/deployments/list')).deployments);
      output(!!globals(c).json, () => all, () => printTable(all.map((d) => ({
        endpoint: d.name, revision: d.revision, routes: routesLine(d.routes), updated: time(d.updated_at), by: d.updated_by,
      })), ['endpoint', 'revision', 'routes', 'updated', 'by'], 'no deployments yet: trellis deployments create <endpoint> --model <name@alias>'));
    });

  cmd.command('show <endpoint>')
    .description('show an endpoint, its routes and the revisions it went through')
    .option('--history <n>', 'how many revisions to show', '10')
    .action(async (endpoint: string, o: { history: string }, c: Command) => {
      const n = Number(o.history);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw invalid(`--history '${o.history}' must be a whole number from 1 to 1000`);
      const { d, revisions } = await either(c,
        async (ws) => {
          const found = await ws.deployments.get(endpoint);
          return { d: row(deploymentJson(found)), revisions: (await ws.deployments.history(found.name, n)).map((r) => revisionJson(r) as RevisionRow) };
        },
        async (url) => ({
          d: (await remote<{ deployment: DeploymentRow }>(url, 'GET', '/deployments/get', { name: endpoint })).deployment,
          revisions: (await remote<{ revisions: RevisionRow[] }>(url, 'GET', '/deployments/history', { name: endpoint, max_results: String(n) })).revisions,
        }));
      output(!!globals(c).json, () => ({ ...d, history: revisions }), () => {
        printDeployment(d);
        console.log('');
        printTable(revisions.map((r) => ({ revision: r.revision, change: r.change, at: time(r.at), by: r.by, routes: routesLine(r.routes), reason: r.reason ?? '' })), ['revision', 'change', 'at', 'by', 'routes', 'reason']);
      });
    });

  cmd.command('set-traffic <endpoint>')
    .description("change an endpoint's traffic: add or move a canary, change its share (0 removes it), add or remove the shadow, replace the A/B arms")
    .option('--canary <ref>', 'the canary version (with --share)')
    .option('--share <percent>', "the canary's share; 0 removes the canary")
    .option('--shadow <ref>', 'a shadow version; --no-shadow removes it')
    .option('--no-shadow', 'remove the shadow')
    .option('--ab <arms>', 'replace the A/B arms: <ref>=<percent>,…')
    .option('--sticky-key <key>', 'header:<name> or field:<name>')
    .option('--reason <text>', 'why, kept in the history and the audit trail')
    .action(async (endpoint: string, o: { canary?: string; share?: string; shadow?: string | boolean; ab?: string; stickyKey?: string; reason?: string }, c: Command) => {
      const share = o.share !== undefined ? parseShare(o.share, '--share') : undefined;
      if (o.canary !== undefined && share === undefined) throw invalid('Give --share with --canary, e.g. --canary income/4 --share 10');
      const shadowArg = o.shadow === false ? null : typeof o.shadow === 'string' ? o.shadow : undefined;
      const body: Record<string, unknown> = { name: endpoint };
      if (share !== undefined) body.canary = share === 0 ? { share: 0 } : { model: o.canary ?? '', share };
      if (shadowArg !== undefined) body.shadow = shadowArg ?? '';
      if (o.ab !== undefined) body.ab = parseArms(o.ab);
      if (o.stickyKey !== undefined) body.sticky_key = o.stickyKey;
      if (o.reason) body.reason = o.reason;
      if (Object.keys(body).length === 1 || (Object.keys(body).length === 2 && body.reason !== undefined)) throw invalid('Nothing to change: give --canary/--share, --share 0, --shadow/--no-shadow, --ab or --sticky-key');
      const d = await either(c,
        async (ws) => {
          let canary: { model: string; share: number } | null | undefined;
          if (share !== undefined) {
            const current = (await ws.deployments.get(endpoint)).routes.find((r) => r.role === 'canary');
            const model = o.canary ?? current?.model;
            if (share > 0 && !model) throw invalid(`'${endpoint}' has no canary: name one with --canary <ref>`);
            canary = share === 0 ? null : { model: model!, share };
          }
          return row(deploymentJson(await ws.deployments.setTraffic(endpoint, {
            ...(canary !== undefined ? { canary } : {}), ...(shadowArg !== undefined ? { shadow: shadowArg } : {}),
            ...(o.ab !== undefined ? { ab: parseArms(o.ab) } : {}), ...(o.stickyKey !== undefined ? { stickyKey: o.stickyKey } : {}),
          }, actor(c), o.reason)));
        },
        async (url) => {
          if (share !== undefined && share > 0 && o.canary === undefined) {
            const current = (await remote<{ deployment: DeploymentRow }>(url, 'GET', '/deployments/get', { name: endpoint })).deployment.routes.find((r) => r.role === 'canary');
            if (!current) throw invalid(`'${endpoint}' has no canary: name one with --canary <ref>`);
            body.canary = { model: current.model, share };
          }
          return (await remote<{ deployment: DeploymentRow }>(url, 'POST', '/deployments/set-traffic', body)).deployment;
        });
      output(!!globals(c).json, () => d, () => console.log(`${d.name} revision ${d.revision}: ${routesLine(d.routes)}`));
    });

  for (const [verb, what] of [['promote', 'give all the traffic to the canary (or, with --arm, to one A/B arm): it becomes the primary'], ['rollback', 'drop the canary (the primary takes all the traffic), or return to the previous revision when there is no canary']] as const) {
    const sub = cmd.command(`${verb} <endpoint>`).description(what).option('--reason <text>', 'why, kept in the history and the audit trail');
    if (verb === 'promote') sub.option('--arm <name>', 'the A/B arm to promote');
    sub.action(async (endpoint: string, o: { reason?: string; arm?: string }, c: Command) => {
      const d = await either(c,
        async (ws) => row(deploymentJson(verb === 'promote'
          ? await ws.deployments.promote(endpoint, actor(c), { arm: o.arm, reason: o.reason })
          : await ws.deployments.rollback(endpoint, actor(c), { reason: o.reason }))),
        async (url) => (await remote<{ deployment: DeploymentRow }>(url, 'POST', `/deployments/${verb}`, { name: endpoint, ...(o.arm ? { arm: o.arm } : {}), ...(o.reason ? { reason: o.reason } : {}) })).deployment);
      output(!!globals(c).json, () => d, () => console.log(`${verb === 'promote' ? 'promoted' : 'rolled back'} ${d.name} (revision ${d.revision}): ${routesLine(d.routes)}`));
    });
  }

  cmd.command('report <endpoint>')
    .description("the A/B report of an endpoint from its prediction log: each route's requests, errors, latency and metric, the sample-ratio check, and sequential tests of the challengers")
    .option('--since <time>', 'start of the window: a duration ago (30m, 2h, 7d, 1w) or an ISO 8601 date or date-time', '24h')
    .option('--html <file>', 'also write the report as a self-contained HTML page with plots')
    .action(async (endpoint: string, o: { since: string; html?: string }, c: Command) => {
      const until = Date.now();
      const since = parseSince(o.since, until);
      if (since >= until) throw invalid(`--since '${o.since}' is not in the past`);
      const report = await either(c,
        async (ws) => abReport(ws.predictions, await ws.deployments.get(endpoint), { since, until }),
        async (url) => abReportFromJson((await remote<{ report: unknown }>(url, 'GET', '/deployments/report', { name: endpoint, since: String(since), until: String(until) })).report));
      if (o.html) await writeFile(o.html, abReportHtml(report));
      output(!!globals(c).json, () => abReportJson(report), () => printReport(report, o.html));
    });

  cmd.command('rollout <endpoint>')
    .description('roll a candidate out progressively: the canary\'s share goes through --steps, each held until the --slo checks pass on enough requests; a breach rolls it back at once (run by `trellis serve`)')
    .requiredOption('--model <ref>', 'the candidate: name/version or name@alias')
    .option('--steps <percents>', 'canary shares, ascending; 100 (promotion) is added when missing', '5,25,50,100')
    .option('--hold <duration>', 'how long each step holds once its checks pass: 30s, 10m, 1h', '10m')
    .option('--slo <checks>', 'comma-separated checks on the canary over the step: error_rate, p50_ms, p95_ms, p99_ms, and with labels rmse, mae, accuracy, error; a number, or a factor of the primary\'s figure (rmse<=1.05*primary)', 'error_rate<0.01, p99_ms<50')
    .option('--min-requests <n>', 'canary requests a step needs before it is judged', '100')
    .option('--min-labels <n>', 'labelled rows (feedback) a model metric needs before it is judged', '50')
    .action(async (endpoint: string, o: { model: string; steps: string; hold: string; slo: string; minRequests: string; minLabels: string }, c: Command) => {
      const { parseSlo, parseSteps, sloText } = await import('../../serving/rollout.js');
      const steps = parseSteps(o.steps);
      const slo = parseSlo(o.slo);
      const holdMs = parseHold(o.hold);
      const minRequests = wholeNumber(o.minRequests, '--min-requests');
      const minLabels = wholeNumber(o.minLabels, '--min-labels');
      const d = await either(c,
        async (ws) => row(deploymentJson(await ws.deployments.startRollout(endpoint, { model: o.model, steps, holdMs, slo, sloText: sloText(slo), minRequests, minLabels }, actor(c)))),
        async (url) => (await remote<{ deployment: DeploymentRow }>(url, 'POST', '/deployments/rollout', {
          name: endpoint, model: o.model, steps: steps.join(','), hold_ms: holdMs, slo: sloText(slo), min_requests: minRequests, min_labels: minLabels,
        })).deployment);
      output(!!globals(c).json, () => d, () => {
        console.log(`rolling out ${o.model} on ${d.name}: ${steps.map((s) => `${s}%`).join(' → ')}, each step held ${o.hold} once ${sloText(slo)} holds on ${minRequests} requests`);
        console.log(`now: ${routesLine(d.routes)}; \`trellis serve\` advances it, or rolls it back on a breach (\`trellis deployments show ${d.name}\` follows it)`);
      });
    });

  cmd.command('delete <endpoint>')
    .description('delete an endpoint (replicas stop serving it within a second; the audit trail keeps its history)')
    .action(async (endpoint: string, _o: unknown, c: Command) => {
      await either(c,
        async (ws) => ws.deployments.delete(endpoint, actor(c)),
        async (url) => { await remote(url, 'POST', '/deployments/delete', { name: endpoint }); });
      output(!!globals(c).json, () => ({ deleted: endpoint }), () => console.log(`deleted endpoint ${endpoint}`));
    });

  cmd.command('export <endpoint>')
    .description('export an endpoint to a cluster: Kubernetes resources (Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget) or a KServe InferenceService running `trellis serve --endpoint <endpoint>`, checked against their schemas; with --output-dir, the image\'s Dockerfile and build context and a README beside them')
    .option('--format <format>', 'kubernetes or kserve', 'kubernetes')
    .option('--output-dir <dir>', 'write the manifest, Dockerfile, .dockerignore, the Trellis package (trellis/) and README.md into this folder (default: the manifest on stdout)')
    .option('--image <ref>', 'the image the pods run (default: trellis:<version>)')
    .option('--replicas <n>', 'replicas at least (the autoscaler\'s minimum); 2 or more adds a PodDisruptionBudget', '2')
    .option('--max-replicas <n>', 'replicas at most (default: the larger of 10 and --replicas)')
    .option('--cpu-target <percent>', 'average CPU utilisation the autoscaler aims at', '70')
    .option('--cpu <quantity>', 'CPU request of a replica', '500m')
    .option('--cpu-limit <quantity>', 'CPU limit of a replica', '2')
    .option('--memory <quantity>', 'memory request and limit of a replica', '1Gi')
    .option('--store-secret <name>', 'the Kubernetes Secret with TRELLIS_STORE_URI, TRELLIS_ARTIFACTS_URI and the stores\' credentials (PGPASSWORD, AWS_*)', 'trellis-store')
    .option('--token-secret <name>', 'the Secret with TRELLIS_ADMIN_TOKEN, an optional key (default: --store-secret)')
    .option('--namespace <ns>', 'metadata.namespace of the resources')
    .action(async (endpoint: string, o: { format: string; outputDir?: string; image?: string; replicas: string; maxReplicas?: string; cpuTarget: string; cpu: string; cpuLimit: string; memory: string; storeSecret: string; tokenSecret?: string; namespace?: string }, c: Command) => {
      const whole = (text: string, flag: string) => {
        if (!/^\d+$/.test(text)) throw invalid(`${flag} '${text}' must be a whole number`);
        return Number(text);
      };
      const { checkExportOptions, exportDeployment } = await import('../../serving/k8s-export.js');
      const options = checkExportOptions({
        format: o.format as import('../../serving/k8s-export.js').K8sFormat, replicas: whole(o.replicas, '--replicas'), cpuTarget: whole(o.cpuTarget, '--cpu-target'), cpu: o.cpu, cpuLimit: o.cpuLimit, memory: o.memory, storeSecret: o.storeSecret,
        ...(o.maxReplicas !== undefined ? { maxReplicas: whole(o.maxReplicas, '--max-replicas') } : {}), ...(o.image !== undefined ? { image: o.image } : {}),
        ...(o.tokenSecret !== undefined ? { tokenSecret: o.tokenSecret } : {}), ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
      });
      const d = await either(c,
        async (ws) => row(deploymentJson(await ws.deployments.get(endpoint))),
        async (url) => (await remote<{ deployment: DeploymentRow }>(url, 'GET', '/deployments/get', { name: endpoint })).deployment);
      const r = exportDeployment(d, options);
      const written: string[] = [];
      if (o.outputDir !== undefined) {
        const { copyFile, mkdir, writeFile } = await import('node:fs/promises');
        const paths = await import('node:path');
        const { trellisPackageFiles, trellisPackageRoot } = await import('../../pipelines/export/image.js');
        const dir = o.outputDir;
        const put = async (file: string, write: (path: string) => Promise<void>) => {
          const path = paths.join(dir, file);
          try {
            await mkdir(paths.dirname(path), { recursive: true });
            await write(path);
          } catch (e) {
            throw invalid(`--output-dir '${dir}' cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message} at ${path}): give a folder you may write to`);
          }
          written.push(file);
        };
        const root = trellisPackageRoot();
        const packageFiles = await trellisPackageFiles(root);
        if (!packageFiles.includes('package-lock.json')) throw invalid(`the Trellis package at ${root} has no package-lock.json, which the image installs from (npm ci): run \`npm install\` there, then export again`);
        await put(r.manifestFile, (p) => writeFile(p, r.yaml));
        await put('Dockerfile', (p) => writeFile(p, r.dockerfile));
        await put('.dockerignore', (p) => writeFile(p, r.dockerignore));
        await put('README.md', (p) => writeFile(p, r.readme));
        for (const f of packageFiles) await put(`trellis/${f}`, (p) => copyFile(paths.join(root, f), p));
      } else if (!globals(c).json) process.stdout.write(r.yaml);
      output(!!globals(c).json, () => ({ format: r.format, name: r.name, image: r.image, output_dir: o.outputDir ?? null, manifest: o.outputDir !== undefined ? r.manifestFile : null, resources: r.resources }), () => {
        if (o.outputDir === undefined) return;
        console.log(`wrote ${r.manifestFile} (${r.resources.map((x) => x.kind).join(', ')}), Dockerfile, .dockerignore, README.md and the Trellis package (trellis/, ${written.length - 4} files) to ${o.outputDir}`);
        console.log(`next: docker build -t ${r.image} ${o.outputDir} && docker push ${r.image}; kubectl apply -f ${o.outputDir}/${r.manifestFile} (see README.md there for the Secret ${o.storeSecret})`);
      });
    });
  return cmd;
}
