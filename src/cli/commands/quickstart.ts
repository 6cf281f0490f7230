/**
 * The end-to-end demo on the embedded default: fit a demand model on the UCI bike-sharing data,
 * track the run, register the model and make it @champion — with nothing but the local stores.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../../core/hash.js';
import { leastSquares } from '../../numeric/linalg/least-squares.js';
import { Trellis } from '../../sdk/trellis.js';
import { globals } from '../context.js';
import { formatTable, printJson } from '../output.js';

const DATA = fileURLToPath(new URL('../../../examples/data/bike_sharing_hourly.csv', import.meta.url));
const MODEL = 'bike-demand';
const SPLIT_DATE = '2012-09-01';

interface Table { header: string[]; rows: string[][] }

/** The bike-sharing file is plain numeric CSV without quoting; the data module reads general CSV. */
function readSimpleCsv(text: string): Table {
  const lines = text.split(/\r?\n/).filter((l) => l.length);
  const header = lines[0]!.split(',');
  const rows = lines.slice(1).map((l, i) => {
    const cells = l.split(',');
    if (cells.length !== header.length) throw new Error(`${DATA}:${i + 2}: expected ${header.length} fields, found ${cells.length}`);
    return cells;
  });
  return { header, rows };
}

/** Hour, season and weather one-hot encoded; the rest numeric; an intercept first. */
function features(t: Table): { names: string[]; encode: (row: string[]) => number[] } {
  const col = (name: string) => t.header.indexOf(name);
  const numeric = ['temp', 'atemp', 'hum', 'windspeed', 'yr', 'holiday', 'workingday'];
  const oneHot: [string, number[]][] = [['hr', Array.from({ length: 23 }, (_, i) => i + 1)], ['season', [2, 3, 4]], ['weathersit', [2, 3, 4]]];
  const names = ['intercept', ...numeric, ...oneHot.flatMap(([c, levels]) => levels.map((l) => `${c}=${l}`))];
  return {
    names,
    encode: (row) => [
      1,
      ...numeric.map((c) => Number(row[col(c)])),
      ...oneHot.flatMap(([c, levels]) => levels.map((l) => (Number(row[col(c)]) === l ? 1 : 0))),
    ],
  };
}

function fit(rows: number[][], y: number[]): Float64Array {
  const p = rows[0]!.length;
  return leastSquares(new Float64Array(rows.flat()), rows.length, p, new Float64Array(y), { ridge: 1e-6 });
}

function evaluate(beta: Float64Array, rows: number[][], y: number[]): { rmse: number; mae: number; r2: number } {
  let se = 0;
  let ae = 0;
  let mean = 0;
  for (const v of y) mean += v / y.length;
  let tss = 0;
  rows.forEach((r, i) => {
    const pred = r.reduce((s, x, j) => s + x * beta[j]!, 0);
    se += (pred - y[i]!) ** 2;
    ae += Math.abs(pred - y[i]!);
    tss += (y[i]! - mean) ** 2;
  });
  return { rmse: Math.sqrt(se / y.length), mae: ae / y.length, r2: 1 - se / tss };
}

export function quickstartCommand(): Command {
  return new Command('quickstart')
    .description('demo: fit a bike-demand model on real data, track it, register it and make it @champion')
    .action(async (_o: unknown, c: Command) => {
      const g = globals(c);
      const say = (s: string) => { if (!g.json) console.log(s); };
      const started = Date.now();
      const t = await Trellis.open({ store: g.store, artifacts: g.artifacts, user: g.user });
      try {
        const raw = readFileSync(DATA);
        const table = readSimpleCsv(raw.toString('utf8'));
        const f = features(table);
        const date = table.header.indexOf('dteday');
        const target = table.header.indexOf('cnt');
        const train = table.rows.filter((r) => r[date]! < SPLIT_DATE);
        const test = table.rows.filter((r) => r[date]! >= SPLIT_DATE);
        say(`▸ data     ${table.rows.length} hourly rows from examples/data/bike_sharing_hourly.csv (UCI Bike Sharing, CC BY 4.0)`);
        say(`           time-ordered split at ${SPLIT_DATE}: ${train.length} train, ${test.length} test`);

        const run = await t.startRun({ experiment: 'bike-demand', name: 'least-squares', tags: { 'mlflow.source.name': 'trellis quickstart' } });
        say(`▸ run      ${run.id} in experiment 'bike-demand'`);
        await run.logInputs([{
          dataset: { name: 'bike_sharing_hourly', digest: sha256Hex(raw).slice(0, 16), sourceType: 'local', source: JSON.stringify({ uri: 'examples/data/bike_sharing_hourly.csv' }) },
          tags: { 'mlflow.data.context': 'training' },
        }]);
        await run.logParams({ model: 'least-squares', ridge: 1e-6, features: f.names.length, target: 'cnt', split_date: SPLIT_DATE, train_rows: train.length, test_rows: test.length });

        const xTrain = train.map(f.encode);
        const yTrain = train.map((r) => Number(r[target]));
        const xTest = test.map(f.encode);
        const yTest = test.map((r) => Number(r[target]));
        // A learning curve: the same model on a growing share of the training period.
        for (let step = 1; step <= 10; step++) {
          const n = Math.floor((xTrain.length * step) / 10);
          const beta = fit(xTrain.slice(0, n), yTrain.slice(0, n));
          const m = evaluate(beta, xTest, yTest);
          await run.logMetrics({ test_rmse: m.rmse, test_r2: m.r2 }, { step });
        }
        const beta = fit(xTrain, yTrain);
        const trainM = evaluate(beta, xTrain, yTrain);
        const testM = evaluate(beta, xTest, yTest);
        const baseline = evaluate(Float64Array.from([yTrain.reduce((a, b) => a + b, 0) / yTrain.length, ...new Array(f.names.length - 1).fill(0)]), xTest, yTest);
        await run.logMetrics({ train_rmse: trainM.rmse, rmse: testM.rmse, mae: testM.mae, r2: testM.r2, baseline_rmse: baseline.rmse });
        say(`▸ model    ordinary least squares on ${f.names.length} features: test RMSE ${testM.rmse.toFixed(1)}, R² ${testM.r2.toFixed(3)} (predicting the mean: RMSE ${baseline.rmse.toFixed(1)})`);

        const model = { format: 'trellis.linear/v1', target: 'cnt', features: f.names, coefficients: Array.from(beta) };
        await run.logArtifact('model/model.json', JSON.stringify(model, null, 2));
        await run.logArtifact('model/README.md', `# ${MODEL}\n\nLeast-squares model of hourly bike rentals (cnt).\nTrained on ${train.length} hours before ${SPLIT_DATE}; test RMSE ${testM.rmse.toFixed(2)}, R² ${testM.r2.toFixed(4)}.\n\nData: Fanaee-T, H. (2013). Bike Sharing [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C5W894 (CC BY 4.0).\n`);
        const sample = test.slice(0, 48).map((r, i) => `${r[date]},${r[table.header.indexOf('hr')]},${yTest[i]},${xTest[i]!.reduce((s, x, j) => s + x * beta[j]!, 0).toFixed(1)}`);
        await run.logArtifact('predictions_sample.csv', ['dteday,hr,cnt,prediction', ...sample].join('\n') + '\n');
        await run.end('FINISHED');

        const version = await t.registerModel(MODEL, `runs:/${run.id}/model`, { description: 'hourly bike demand, least squares' });
        let champion: { version: string; rmse?: number } | undefined;
        try {
          const cv = await t.modelVersion(`${MODEL}@champion`);
          champion = { version: cv.version, rmse: cv.runId ? (await t.getRun(cv.runId)).data.metrics.find((m) => m.key === 'rmse')?.value : undefined };
        } catch {
          champion = undefined;
        }
        const promote = !champion || champion.rmse === undefined || testM.rmse <= champion.rmse;
        if (promote) await t.setAlias(MODEL, 'champion', version.version);
        say(`▸ registry ${MODEL} version ${version.version}` + (promote
          ? ` is now @champion${champion ? ` (was version ${champion.version}, RMSE ${champion.rmse?.toFixed(1)})` : ''}`
          : `; @champion stays version ${champion!.version} (RMSE ${champion!.rmse?.toFixed(1)} beats ${testM.rmse.toFixed(1)})`));

        const summary = {
          run_id: run.id, experiment: 'bike-demand', model: MODEL, version: version.version, champion: promote ? version.version : champion!.version,
          metrics: { rmse: testM.rmse, mae: testM.mae, r2: testM.r2, baseline_rmse: baseline.rmse }, seconds: (Date.now() - started) / 1000,
        };
        if (g.json) {
          printJson(summary);
          return;
        }
        say('');
        say(formatTable([
          { what: 'run', value: `${run.id} (params 7, metrics ${5 + 2} keys, artifacts 3)` },
          { what: 'model version', value: `${MODEL}/${version.version} ← runs:/${run.id}/model` },
          { what: 'alias', value: `${MODEL}@champion → version ${summary.champion}` },
          { what: 'stores', value: `${process.env.TRELLIS_HOME ?? '.trellis'}/ (SQLite + content-addressed files)` },
        ], ['what', 'value']));
        say(`\ndone in ${summary.seconds.toFixed(1)} s. Browse what was created:`);
        say(`  npx trellis runs show ${run.id}`);
        say(`  npx trellis models versions ${MODEL}`);
        say(`  npx trellis models history ${MODEL} --alias champion`);
        say('  npx trellis audit verify');
        say('  npx trellis server            # then point MLflow clients at it: MLFLOW_TRACKING_URI=http://127.0.0.1:5000');
      } finally {
        await t.close();
      }
    });
}
