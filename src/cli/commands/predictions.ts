/**
 * `trellis predictions export`: the prediction log of an endpoint as a file — one row per logged
 * request row, with its request id, time, model version, route, the input columns, the prediction
 * (and `proba_<class>` for classifiers) and, with --with-labels, the label that came back as
 * feedback. Written block by block under a temporary name, renamed when complete.
 * `trellis predictions archive`: moves old entries into Parquet files in the artifact store
 * (`serving/prediction-archive.ts`); export reads them too, so its files do not change.
 */
import { Command } from 'commander';
import { invalid } from '../../core/errors.js';
import { tableFromRows } from '../../data/table.js';
import type { LabelledEntry } from '../../store/ports/predictions.js';
import { globals, withWorkspace } from '../context.js';
import { output } from '../output.js';
import { parseSince } from './audit.js';

const PAGE = 5000;

/** The rows of one entry, as the export writes them; `columns` fixes the input columns and classes. */
export function exportRows(e: LabelledEntry, columns: { inputs: string[]; classes: string[] }, withLabels: boolean): Record<string, unknown>[] {
  return e.inputs.map((rec, i) => {
    const row: Record<string, unknown> = { request_id: e.requestId, time: new Date(e.time).toISOString(), model_version: `${e.model}/${e.version}`, route: e.route };
    for (const c of columns.inputs) row[c] = rec[c] ?? null;
    row.prediction = e.predictions?.[i] ?? null;
    columns.classes.forEach((k, j) => { row[`proba_${k}`] = e.proba?.[i]?.[j] ?? null; });
    if (withLabels) row.label = e.labels?.[i] ?? null;
    row.error = e.error ?? null;
    return row;
  });
}

export function predictionsCommand(): Command {
  const cmd = new Command('predictions').description('the prediction log of `trellis serve`: what each endpoint answered, and the labels sent back as feedback');

  cmd.command('export <endpoint>')
    .description('write the logged requests of an endpoint to a CSV, JSON Lines or Parquet file, one row per request row')
    .requiredOption('--output <file>', 'file.csv, file.jsonl or file.parquet')
    .option('--since <time>', 'from this time: ISO 8601 (2026-03-01, 2026-03-01T12:00Z) or a duration ago (30m, 2h, 7d)')
    .option('--until <time>', 'before this time, in the same forms')
    .option('--with-labels', 'only requests with feedback, with a label column')
    .option('--route <route>', 'only this route: primary, canary, shadow or arm:<name>')
    .action(async (endpoint: string, o: { output: string; since?: string; until?: string; withLabels?: boolean; route?: string }, c: Command) => {
      const now = Date.now();
      const since = o.since !== undefined ? parseSince(o.since, now) : undefined;
      const until = o.until !== undefined ? parseSince(o.until, now, '--until') : undefined;
      if (since !== undefined && until !== undefined && until <= since) throw invalid(`--until (${new Date(until).toISOString()}) must be after --since (${new Date(since).toISOString()})`);
      const { openBlockWriter, checkOutputPath } = await import('../../data/writers/blocks.js');
      checkOutputPath(o.output);
      const result = await withWorkspace(c, async (ws) => {
        const d = await ws.deployments.find(endpoint);
        const name = d?.name ?? endpoint;
        const q = { endpoint: name, ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}), ...(o.route ? { route: o.route } : {}), ...(o.withLabels ? { withLabels: true } : {}) };
        let page = await ws.predictions.query({ ...q, limit: PAGE });
        if (!d && page.length === 0) throw invalid(`No deployment named '${endpoint}' and nothing logged for it; \`trellis deployments list\` shows the endpoints`);
        // The columns come from the first page: the signature's inputs, the classifier's classes.
        const inputs = [...new Set(page.flatMap((e) => e.inputs.flatMap((r) => Object.keys(r))))];
        const classes = page.find((e) => e.classes)?.classes ?? [];
        const columns = { inputs, classes };
        const writer = await openBlockWriter(o.output);
        let rows = 0;
        let requests = 0;
        try {
          while (page.length) {
            const block = page.flatMap((e) => exportRows(e, columns, !!o.withLabels));
            if (block.length) await writer.write(tableFromRows(block));
            rows += block.length;
            requests += page.length;
            if (page.length < PAGE) break;
            const last = page[page.length - 1]!;
            page = await ws.predictions.query({ ...q, limit: PAGE, after: { time: last.time, requestId: last.requestId, route: last.route } });
          }
          // Nothing logged in the window: an empty file, and the message says so.
          await writer.finish();
        } catch (e) {
          await writer.abort();
          throw e;
        }
        return { endpoint: name, requests, rows, output: o.output };
      });
      output(!!globals(c).json, () => result, () => console.log(result.rows === 0
        ? `nothing logged for ${result.endpoint} in that window: wrote an empty ${result.output}`
        : `wrote ${result.rows} row${result.rows === 1 ? '' : 's'} (${result.requests} logged request${result.requests === 1 ? '' : 's'}) of ${result.endpoint} to ${result.output}`));
    });

  cmd.command('archive')
    .description('move logged requests older than a cutoff out of the store into Parquet files in the artifact store (predictions/<endpoint>/<yyyy>/<mm>/<dd>/), where export still reads them')
    .option('--older-than <age>', 'a duration ago (12h, 7d, 2w) or an ISO 8601 date or date-time', '7d')
    .option('--endpoint <name>', 'only this endpoint (default: all)')
    .action(async (o: { olderThan: string; endpoint?: string }, c: Command) => {
      const olderThan = parseSince(o.olderThan, Date.now(), '--older-than');
      const result = await withWorkspace(c, async (ws) => {
        let endpoint: string | undefined;
        if (o.endpoint !== undefined) {
          const d = await ws.deployments.find(o.endpoint);
          endpoint = d?.name ?? o.endpoint;
          if (!d && !(await ws.predictions.endpoints()).includes(endpoint)) throw invalid(`No deployment named '${o.endpoint}' and nothing logged for it; \`trellis deployments list\` shows the endpoints`);
        }
        const files = await ws.predictions.archive({ olderThan, ...(endpoint !== undefined ? { endpoint } : {}) });
        return { olderThan: new Date(olderThan).toISOString(), files, entries: files.reduce((n, f) => n + f.removed, 0) };
      });
      output(!!globals(c).json, () => result, () => {
        if (!result.files.length) { console.log(`nothing logged before ${result.olderThan} to archive`); return; }
        for (const f of result.files) console.log(`${f.endpoint} ${f.day}: ${f.entries} logged request${f.entries === 1 ? '' : 's'} to ${f.path}`);
        console.log(`moved ${result.entries} logged request${result.entries === 1 ? '' : 's'} older than ${result.olderThan} into ${result.files.length} file${result.files.length === 1 ? '' : 's'}`);
      });
    });
  return cmd;
}
