/**
 * `trellis score`: batch scoring of a file of any size (or a dataset version) with a registered
 * model, streamed a block of rows at a time into a CSV, JSON Lines or Parquet file (see
 * ml/batch-score.ts), and recorded as a run with its lineage: input → model version → output file.
 * Ctrl-C stops between blocks and leaves no file under the output's name.
 */
import { Command } from 'commander';
import { resolve } from 'node:path';
import { TrellisError, invalid } from '../../core/errors.js';
import { formatOf, type DataFormat, type DataSource } from '../../data/readers/index.js';
import { checkOutputPath } from '../../data/writers/blocks.js';
import { batchScore } from '../../ml/batch-score.js';
import { isDataFile, sha256File, type ScoredData } from '../../workspace/scoring-runs.js';
import { actor, globals, withBackend } from '../context.js';
import { loadModelVia, recordScoringRunVia } from '../scoring.js';
import { output } from '../output.js';
import type { Backend } from '../../sdk/backend.js';

/** A block's columns and features are held twice over (one block in flight): a million rows is plenty. */
const MAX_BLOCK_ROWS = 1_000_000;

interface ScoreOptions { model: string; input: string; output: string; experiment?: string; blockRows: string }

/** The rows to score: a file as it is on disk, or a dataset version's stored bytes. */
async function openInput(b: Backend, ref: string): Promise<{ source: DataSource; format?: DataFormat; data: ScoredData; digest?: Promise<string> }> {
  if (isDataFile(ref)) {
    if (formatOf(ref) === undefined) {
      throw new TrellisError('TRELLIS_DATA_FORMAT', {
        file: ref, format: 'a data file',
        detail: `its name has no data file extension (.csv, .tsv, .jsonl, .parquet, .arrow): rename it, or store it with \`trellis data add <name> ${ref} --format csv\` and pass <name>@<version>`,
      });
    }
    // Hashed while it is scored; a file that cannot be read is reported by the reader.
    const digest = sha256File(ref);
    digest.catch(() => undefined);
    return { source: ref, data: { ref }, digest };
  }
  const v = await b.getDatasetVersion(ref);
  const { data } = await b.datasetBytes(`${v.name}@${v.version}`);
  return { source: { bytes: data, name: v.artifactPath }, format: v.format as DataFormat, data: { ref, dataset: { name: v.name, version: v.version, sha256: v.sha256 } } };
}

/** A line on stderr about once a second while rows are scored (redrawn in place on a terminal). */
function progressLine(quiet: boolean): { onBlock: (rows: number) => void; done: () => void } {
  const t0 = Date.now();
  let last = t0;
  let drawn = false;
  const live = !!process.stderr.isTTY && process.env.TERM !== 'dumb';
  return {
    onBlock(rows) {
      const now = Date.now();
      if (quiet || now - last < 1000) return;
      last = now;
      const s = (now - t0) / 1000;
      const text = `  scored ${rows.toLocaleString('en-US')} rows in ${s.toFixed(1)} s (${Math.round(rows / s).toLocaleString('en-US')} rows/s)`;
      process.stderr.write(live ? `\r\x1b[2K${text}` : `${text}\n`);
      drawn = true;
    },
    done() {
      if (live && drawn) process.stderr.write('\n');
    },
  };
}

export function scoreCommand(): Command {
  return new Command('score')
    .description('score a file of any size or a dataset version with a registered model, streamed a block of rows at a time into a CSV, JSON Lines or Parquet file (the input columns, prediction and proba_<class>); recorded as a run')
    .requiredOption('--model <name@alias|name@version|name/version>', 'the model version to use')
    .requiredOption('--input <file|name@version>', 'rows to score: a CSV/JSONL/Parquet/Arrow file or a dataset version')
    .requiredOption('--output <file>', 'the file to write: .csv, .jsonl or .parquet (its folder must exist); written under a temporary name and renamed when complete')
    .option('--experiment <name>', "experiment to record the run in (default: the experiment of the model's training run)")
    .option('--block-rows <n>', 'rows scored at a time: memory is bounded by a block', '65536')
    .action(async (o: ScoreOptions, c: Command) => {
      if (!/^\d+$/.test(o.blockRows.trim()) || Number(o.blockRows) < 1 || Number(o.blockRows) > MAX_BLOCK_ROWS) {
        throw invalid(`--block-rows must be a whole number from 1 to ${MAX_BLOCK_ROWS}, got '${o.blockRows}'`);
      }
      const blockRows = Number(o.blockRows);
      checkOutputPath(o.output);
      if (resolve(o.output) === resolve(o.input)) throw invalid(`--output '${o.output}' is the input file; write the scores to another file`);
      const json = !!globals(c).json;
      await withBackend(c, async (b) => {
        const startTime = Date.now();
        const { model, modelVersion: mv } = await loadModelVia(b, o.model);
        const input = await openInput(b, o.input);
        // Ctrl-C: stop between blocks; batchScore removes the temporary file.
        const stop = new AbortController();
        const onSigint = () => stop.abort(new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `interrupted: '${o.output}' was not written` }));
        process.on('SIGINT', onSigint);
        const progress = progressLine(json);
        let r;
        try {
          r = await batchScore(model, { input: input.source, format: input.format, output: o.output, blockRows, signal: stop.signal, onBlock: progress.onBlock });
        } catch (e) {
          if (!stop.signal.aborted) throw e;
          progress.done();
          process.stderr.write(`error: interrupted: '${o.output}' was not written\n`);
          process.exitCode = 130;
          return;
        } finally {
          process.off('SIGINT', onSigint);
        }
        progress.done();
        const data: ScoredData = input.digest ? { ref: o.input, file: { path: resolve(o.input), sha256: await input.digest } } : input.data;
        const run = await recordScoringRunVia(b, {
          kind: 'score', model: mv, data, experiment: o.experiment, startTime, output: o.output,
          params: { rows: String(r.rows), block_rows: String(blockRows) }, artifacts: [],
        }, actor(c));
        const seconds = (Date.now() - startTime) / 1000;
        const from = data.dataset ? `${data.dataset.name}@${data.dataset.version}` : o.input;
        output(json, () => ({ run_id: run.info.runId, model: `${mv.name}/${mv.version}`, input: from, rows: r.rows, output: resolve(o.output), columns: r.columns, seconds }), () => {
          console.log(`run ${run.info.runId}: scored ${r.rows} rows of ${from} with ${mv.name} version ${mv.version} → ${o.output} (${seconds.toFixed(1)} s)`);
        });
      });
    });
}
