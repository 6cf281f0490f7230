import { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { formatDiff } from '../../data/diff.js';
import { summaryOf, type Profile } from '../../data/profile/profile.js';
import { profileTableParallel } from '../../data/profile/parallel.js';
import { readTableWithInference, type DataFormat } from '../../data/readers/index.js';
import { addFromSource, checkSourceArgs, isSourceUri, redactSource, type ProgressFn } from '../../data/sources/index.js';
import { profileHtml } from '../../data/report/profile-html.js';
import { formatDuration, formatInstant } from '../../data/report/format.js';
import type { DatasetVersion } from '../../store/ports/datasets.js';
import type { DatasetVersionInfo, ProfileSummary } from '../../sdk/backend.js';
import { describeRange, formatExcluded, formatReport } from '../../data/validate/validate.js';
import { isSkewed } from '../../data/validate/distances.js';
import { invalid } from '../../core/errors.js';
import { parseDataRef, parseRef } from '../../core/refs.js';
import { actor, globals, serverChoice, withBackend, withWorkspace } from '../context.js';
import { output, printJson, printTable, time } from '../output.js';

const FORMATS = ['csv', 'jsonl', 'parquet', 'arrow'];

function format(v: string | undefined): DataFormat | undefined {
  if (v !== undefined && !FORMATS.includes(v)) throw invalid(`--format must be one of ${FORMATS.join(', ')}, got '${v}'`);
  return v as DataFormat | undefined;
}

/** `--env income=training --env id=training,serving` → { income: ['training'], id: ['training', 'serving'] }. */
function environments(list: string[] | undefined): Record<string, string[]> | undefined {
  if (!list?.length) return undefined;
  return Object.fromEntries(list.map((e) => {
    const [col, envs] = e.split('=');
    if (!col || !envs) throw invalid(`--env takes <column>=<environment>[,<environment>…], got '${e}'`);
    return [col, envs.split(',').filter(Boolean)];
  }));
}

/** Rows or bytes read from a source, at most one line a second (and the last). */
function sourceProgress(line: (what: string) => void): ProgressFn {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (!p.done && now - last < 1000) return;
    last = now;
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    if (p.rows !== undefined) line(`${p.done ? 'read' : 'reading:'} ${p.rows} rows`);
    else if (p.bytes !== undefined) line(`${p.done ? 'read' : 'reading:'} ${mib(p.bytes)}${p.totalBytes ? ` of ${mib(p.totalBytes)}` : ''}`);
  };
}

/** Progress on stderr, so `--json` output on stdout stays clean. */
function step() {
  const t0 = Date.now();
  return (what: string) => process.stderr.write(`  ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
}

interface TypeBreakNote { column: string; line: number; value: string; reason: string }

function typeBreaks(inference: readonly { name: string; typeBreak?: { line: number; value: string; reason: string } }[]): TypeBreakNote[] {
  return inference.filter((i) => i.typeBreak).map((i) => ({ column: i.name, line: i.typeBreak!.line, value: i.typeBreak!.value, reason: i.typeBreak!.reason }));
}

function statsOf(c: ProfileSummary['columns'][number]): string {
  if (c.numeric && c.type !== 'boolean') {
    const n = c.numeric;
    if (c.type === 'datetime') {
      return `mean ${formatInstant(n.mean)}, std ${formatDuration(n.std)}, min ${formatInstant(n.min)}, p50 ${formatInstant(n.quantiles.p50!)}, max ${formatInstant(n.max)}`;
    }
    const f = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4));
    return `mean ${n.mean.toPrecision(4)}, min ${f(n.min)}, p50 ${f(n.quantiles.p50!)}, max ${f(n.max)}`;
  }
  return (c.top ?? []).slice(0, 3).map((t) => `${t.value} (${t.count})`).join(', ');
}

function printProfile(p: ProfileSummary): void {
  console.log(`${p.rows} rows, ${p.columns.length} columns`);
  printTable(p.columns.map((c) => ({ column: c.name, type: c.type, missing: c.missing, distinct: c.distinct, statistics: statsOf(c) })), ['column', 'type', 'missing', 'distinct', 'statistics']);
}

export function dataCommand(): Command {
  const cmd = new Command('data').description('versioned datasets: add, profile, validate, diff');

  cmd.command('add <name> [file]')
    .description('store a data file, or a snapshot of a source (--from s3://…, https://…, postgres://… or mysql://… with --query), as a new immutable version of a dataset (schema inferred, profile computed)')
    .option('--from <uri>', 'read from a source instead of a local file: s3://bucket/key, https://host/file.csv, postgres://user@host/db or mysql://user@host/db (passwords from the URL or PGPASSWORD / MYSQL_PWD; never recorded)')
    .option('--query <sql>', 'with a SQL source: the query whose rows become the version (read in batches, recorded with the version)')
    .option('--format <format>', 'csv, jsonl, parquet or arrow (default: from the extension)')
    .option('--subject-column <column>', 'a column of data-subject ids, indexed for erasure requests')
    .option('--description <text>', 'what the dataset is')
    .option('--env <column=environments...>', 'a column present only in some environments, e.g. cnt=training')
    .action(async (name: string, file: string | undefined, o: { from?: string; query?: string; format?: string; subjectColumn?: string; description?: string; env?: string[] }, c: Command) => {
      const json = !!globals(c).json;
      if (file !== undefined && o.from !== undefined) throw invalid(`Give a file or --from <uri>, not both (got '${file}' and --from '${redactSource(o.from)}')`);
      // A URI given in the file's place reads as --from.
      const from = o.from ?? (file !== undefined && isSourceUri(file) ? file : undefined);
      if (from === undefined && file === undefined) throw invalid('Give the data: a file (trellis data add <name> <file>) or a source (--from s3://… | https://… | postgres://… --query "select …")');
      const opts = { format: format(o.format), subjectColumn: o.subjectColumn, description: o.description, environments: environments(o.env) };
      const progress = step();
      const print = (r: { version: DatasetVersionInfo | DatasetVersion; created: boolean; typeBreaks: TypeBreakNote[] }) => {
        progress(r.created ? `recorded ${name}@${r.version.version}` : `unchanged: the same content is ${name}@${r.version.version}`);
        const v = r.version;
        output(json, () => ({ name: v.name, version: v.version, created: r.created, sha256: v.sha256, rows: v.rows, columns: v.columns, format: v.format, source: v.source, ...(v.lineage?.query !== undefined && from !== undefined ? { query: v.lineage.query } : {}) }), () => {
          console.log(`${r.created ? 'added' : 'already present as'} ${name}@${v.version}: ${v.rows} rows × ${v.columns} columns, sha256 ${v.sha256.slice(0, 12)}…${from !== undefined ? ` from ${v.source}` : ''}`);
          for (const b of r.typeBreaks) console.log(`  note: '${b.column}' is a string column because line ${b.line} holds '${b.value}' (${b.reason})`);
        });
      };
      if (from !== undefined) {
        const server = serverChoice(c);
        if (server) throw invalid(`--from reads a source into a local store and does not run against a server (${server.from} is ${server.url}): read the rows into a file here and add the file, or run the command where the store is`);
        await withWorkspace(c, async (ws) => {
          checkSourceArgs(from, o.query);
          progress(`reading ${redactSource(from)}${o.query !== undefined ? ' (query)' : ''}`);
          const r = await addFromSource(ws.data, name, from, { ...opts, query: o.query, onProgress: sourceProgress(progress) }, actor(c));
          print({ ...r, typeBreaks: typeBreaks(r.inference) });
        });
        return;
      }
      if (o.query !== undefined) throw invalid(`--query applies only to a SQL source (--from postgres://… or mysql://…), not to the file '${file}'`);
      await withBackend(c, async (b) => {
        progress(`reading, hashing and profiling ${file}`);
        const r = await b.addDataset(name, file!, opts);
        print(r);
      });
    });

  cmd.command('list')
    .description('list datasets')
    .action(async (_o: unknown, c: Command) => {
      await withBackend(c, async (b) => {
        const list = await b.listDatasets();
        output(!!globals(c).json, () => list, () => printTable(list.map((d) => ({ name: d.name, latest: d.latestVersion ?? '', subject_column: d.subjectColumn ?? '', updated: time(d.lastUpdateTime) })), ['name', 'latest', 'subject_column', 'updated']));
      });
    });

  cmd.command('versions <dataset>')
    .description('list the versions of a dataset')
    .action(async (ref: string, _o: unknown, c: Command) => {
      const { name } = parseDataRef(ref);
      await withBackend(c, async (b) => {
        const vs = await b.datasetVersions(name);
        output(!!globals(c).json, () => vs.map(({ profile: _p, schema: _s, ...rest }) => rest), () => printTable(vs.map((v) => ({
          version: v.version, rows: v.rows, columns: v.columns, sha256: v.sha256.slice(0, 12), created: time(v.creationTime), by: v.createdBy, source: v.source,
        })), ['version', 'rows', 'columns', 'sha256', 'created', 'by', 'source']));
      });
    });

  cmd.command('show <ref>')
    .description('show a dataset version (name or name@version): schema and profile')
    .action(async (ref: string, _o: unknown, c: Command) => {
      await withBackend(c, async (b) => {
        const v = await b.getDatasetVersion(ref);
        const profile = v.profile;
        output(!!globals(c).json, () => v, () => {
          console.log(`${v.name}@${v.version}  ${v.format}, ${v.sizeBytes} bytes, sha256 ${v.sha256}`);
          const { query, ...lineage } = v.lineage ?? {};
          console.log(`  from ${v.source}, by ${v.createdBy} at ${time(v.creationTime)}${Object.keys(lineage).length ? `, lineage ${JSON.stringify(lineage)}` : ''}`);
          if (query !== undefined) console.log(`  query: ${query}\n  snapshot sha256 ${v.sha256} (the rows as read then; the table may have changed since)`);
          printProfile(profile);
          const schema = v.schema;
          console.log('\nschema');
          printTable(schema.columns.map((s) => ({
            column: s.name, type: s.type, role: s.role ?? '', nullable: s.nullable, range: s.range ? describeRange(s.range) : '',
            domain: s.domain ? `${s.domain.length} values` : '', environments: s.environments?.join(',') ?? '', drift: s.drift === undefined ? '' : String(s.drift),
          })), ['column', 'type', 'role', 'nullable', 'range', 'domain', 'environments', 'drift']);
        });
      });
    });

  cmd.command('diff <a> <b>')
    .description('what changed between two versions (name@a name@b): rows, schema, per-column statistics')
    .action(async (a: string, b: string, _o: unknown, c: Command) => {
      await withBackend(c, async (be) => {
        const d = await be.diffDatasets(a, b);
        output(!!globals(c).json, () => d, () => console.log(formatDiff(d)));
      });
    });

  cmd.command('validate <file>')
    .description('validate a file against a dataset version (its pinned or inferred schema and its profile) or a schema file; exits 1 on a blocking anomaly')
    .option('--against <ref>', 'dataset version to validate against (name or name@version)')
    .option('--schema <file>', 'a schema JSON document (alone, or with --against for the reference profile)')
    .option('--env <environment>', "environment of the data, e.g. 'serving'")
    .option('--format <format>', 'csv, jsonl, parquet or arrow (default: from the extension)')
    .action(async (file: string, o: { against?: string; schema?: string; env?: string; format?: string }, c: Command) => {
      if (!o.against && !o.schema) throw invalid('Give --against <name>[@version] or --schema <file>');
      const schema: unknown = o.schema ? JSON.parse(await readFile(o.schema, 'utf8')) : undefined;
      const report = await withBackend(c, (b) => b.validateFile(file, { against: o.against, schema, environment: o.env, format: format(o.format) }));
      output(!!globals(c).json, () => report, () => console.log(`${formatReport(report)}\n  against ${report.against}`));
      if (!report.ok) process.exitCode = 1;
    });

  cmd.command('profile <source>')
    .description('profile a file or a dataset version (name@version): counts, missing, distinct, moments, quantiles, histograms, top values')
    .option('--html <file>', 'also write an HTML report with a chart per column')
    .option('--format <format>', 'csv, jsonl, parquet or arrow (default: from the extension)')
    .action(async (source: string, o: { html?: string; format?: string }, c: Command) => {
      const isFile = existsSync(source);
      // The report and the table read the statistics only, not the sketches (which stay on the server).
      const profile: ProfileSummary = isFile
        ? summaryOf(await profileTableParallel((await readTableWithInference(source, { format: format(o.format) })).table))
        : await withBackend(c, async (b) => (await b.getDatasetVersion(source)).profile);
      if (o.html) await writeFile(o.html, profileHtml(profile as Profile, `Profile of ${source}`));
      if (globals(c).json) {
        printJson({ rows: profile.rows, columns: profile.columns });
      } else {
        printProfile(profile);
        if (o.html) console.log(`\nHTML report: ${o.html}`);
      }
    });

  cmd.command('schema <dataset> [file]')
    .description('show the pinned schema of a dataset (name) or the schema of one version (name@version), or store <file> as the dataset\'s next schema document (--pin to make it the contract)')
    .option('--pin', 'make the stored schema the contract validation uses')
    .option('--version <n>', 'show this schema document instead of the pinned one')
    .action(async (ref: string, file: string | undefined, o: { pin?: boolean; version?: string }, c: Command) => {
      const { name } = parseDataRef(ref);
      const versioned = parseRef(ref).selector !== undefined;
      await withBackend(c, async (b) => {
        if (file && versioned) throw invalid(`A schema document belongs to the dataset '${name}', not to one version (versions are immutable; a pinned schema is the contract for every version): write \`trellis data schema ${name} ${file}\``);
        if (versioned) {
          if (o.version) throw invalid(`--version picks a stored schema document of '${name}', '${ref}' a dataset version: give one of them`);
          const v = await b.getDatasetVersion(ref);
          const pinned = await b.getDatasetSchema(name);
          printJson(v.schema);
          if (!globals(c).json) console.error(`(the schema inferred for ${v.name}@${v.version}${pinned ? `; validation uses the pinned schema ${pinned.schemaVersion} of ${name}` : ''})`);
          return;
        }
        if (file) {
          const doc = await b.putDatasetSchema(name, JSON.parse(await readFile(file, 'utf8')), !!o.pin);
          output(!!globals(c).json, () => doc, () => console.log(`stored schema ${doc.schemaVersion} of ${name}${doc.pinned ? ' (pinned: validation now uses it)' : ''}`));
          return;
        }
        const doc = await b.getDatasetSchema(name, o.version ? Number(o.version) : undefined);
        const schema = doc?.schema ?? (await b.getDatasetVersion(name)).schema;
        printJson(schema);
        if (!doc && !globals(c).json) console.error(`(no schema pinned for ${name}: this is the schema inferred for its latest version)`);
      });
    });

  cmd.command('skew <file>')
    .description('train/serve skew: compare serving records (a file) with the profile of a training version')
    .requiredOption('--against <ref>', 'the training dataset version (name or name@version)')
    .action(async (file: string, o: { against: string }, c: Command) => {
      await withBackend(c, async (b) => {
        const r = await b.skewFile(file, o.against);
        const skewed = r.skewed;
        output(!!globals(c).json, () => r, () => {
          printTable(r.distances.map((d) => ({ column: d.column, measure: d.measure, distance: d.value.toFixed(4), threshold: d.threshold, noise: d.noise.toFixed(4), n: d.sampleSize, reference_n: d.referenceSize, skewed: isSkewed(d) ? 'yes' : '' })),
            ['column', 'measure', 'distance', 'threshold', 'noise', 'n', 'reference_n', 'skewed']);
          console.log(`${skewed.length} of ${r.distances.length} features skewed against ${r.against}`);
          const excluded = formatExcluded(r.excludedFromDrift);
          if (excluded) console.log(excluded);
        });
        if (skewed.length) process.exitCode = 1;
      });
    });
  return cmd;
}
