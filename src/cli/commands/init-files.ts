/**
 * The files `trellis init` writes: a starter pipeline project that passes `trellis ci` as it is —
 * a pipeline of built-in components around one TypeScript component (with its test), a sample of
 * the bike-sharing data, package.json, tsconfig.json, .gitignore, a README and a GitHub Actions
 * workflow that runs `trellis ci` and deploys from main.
 */

export interface InitOptions {
  /** The pipeline's name (also the registered model's). */
  name: string;
  /** Write the pipeline as YAML rather than TypeScript. */
  yaml: boolean;
  /** The Trellis version the project depends on. */
  /** The `trellis` dependency in package.json: `^<version>`, or a path or git URL (`file:../trellis`). */
  trellisSpec: string;
  /** Rows of the sample data. */
  sampleRows: number;
}

export const SAMPLE_FILE = 'data/bike-sample.csv';
/** `trellis ci`'s arguments in the project's script and workflow: the package goes to PACKAGE_OUT, with the sample data, so that the deployed pipeline runs as it is. */
const CI_ARGS = () => `--out ${PACKAGE_OUT} --include ${SAMPLE_FILE}`;
export const PACKAGE_OUT = 'dist/pipeline.pkg.json';

export const pipelineFileName = (o: Pick<InitOptions, 'yaml'>) => (o.yaml ? 'pipeline.yaml' : 'pipeline.ts');

const GATE = 'rmse <= 150 and rmse <= champion.rmse * 1.02';
const LEAKS = 'instant,casual,registered';

function pipelineTs(o: InitOptions): string {
  return `/**
 * ${o.name}: hourly bike rentals → a demand model, registered as ${o.name}@champion when it is good
 * enough and no worse than the current champion.
 *
 *   npm run ci                     trellis ci: lint, type-check, tests, a dry run of the package on a sample
 *   npx trellis run pipeline.ts    run it here (stores in ./.trellis)
 */
import { builtin, pipeline } from 'trellis/pipelines';
import { dropColumns } from './components/drop-columns.js';

export default pipeline('${o.name}', (p) => {
  const dataset = p.param('dataset', 'string', { default: '${SAMPLE_FILE}', description: 'a data file, or a dataset version (name@version)' });

  const ingest = p.step('ingest', builtin.ingest, { dataset });
  const validate = p.step('validate', builtin.validate, { data: ingest.outputs.data });
  // casual + registered = cnt, the label: a model that sees them learns nothing useful.
  const features = p.step('features', dropColumns, { data: validate.outputs.data, columns: '${LEAKS}' });
  const split = p.step('split', builtin.split, { data: features.outputs.data, strategy: 'time', orderBy: 'dteday,hr', testSize: 0.2 });
  const train = p.step('train', builtin.train, { data: split.outputs.train, target: 'cnt', algo: 'gbdt', trees: 100, seed: 7 });
  const evaluate = p.step('evaluate', builtin.evaluate, { model: train.outputs.model, data: split.outputs.test, target: 'cnt', bootstrap: 200 });
  const gate = p.step('gate', builtin.gate, {
    metrics: evaluate.outputs.metrics, condition: '${GATE}', champion: '${o.name}@champion',
  }, { cache: { enabled: false } });
  p.step('register', builtin.register, {
    model: train.outputs.model, name: '${o.name}', alias: 'champion', metrics: evaluate.outputs.metrics, decision: gate.outputs.decision,
  }, { cache: { enabled: false } });
}, {
  baseUrl: import.meta.url,
  description: 'Hourly bike rentals: train, evaluate, gate and register the champion',
  // Once deployed, a run on request (trellis pipelines trigger). Add { cron: '0 3 * * *' } for a
  // nightly run, or { dataset: 'bike' } for a run on each new version of a dataset.
  triggers: [{ api: true }],
});
`;
}

function pipelineYaml(o: InitOptions): string {
  return `# ${o.name}: hourly bike rentals → a demand model, registered as ${o.name}@champion when it is good
# enough and no worse than the current champion.
#
#   npm run ci                       trellis ci: lint, type-check, tests, a dry run of the package on a sample
#   npx trellis run pipeline.yaml    run it here (stores in ./.trellis)
format: trellis.pipeline/v1
name: ${o.name}
version: "1"
description: "Hourly bike rentals: train, evaluate, gate and register the champion"

params:
  - name: dataset
    type: string
    default: ${SAMPLE_FILE}
    description: a data file, or a dataset version (name@version)

# Once deployed, a run on request (trellis pipelines trigger). Add - { cron: "0 3 * * *" } for a
# nightly run, or - { dataset: bike } for a run on each new version of a dataset.
triggers:
  - { api: true }

components:
  - name: drop-columns
    version: "1"
    kind: typescript
    module: ./components/drop-columns.ts
    export: dropColumns
    description: Removes the named columns from a CSV dataset.
    inputs:
      data: { type: Dataset }
      columns: { type: string, description: "the columns to remove, comma-separated" }
    outputs:
      data: { type: Dataset }

steps:
  - name: ingest
    component: ingest
    inputs:
      dataset: { param: dataset }

  - name: validate
    component: validate
    inputs:
      data: { step: ingest, output: data }

  # casual + registered = cnt, the label: a model that sees them learns nothing useful.
  - name: features
    component: drop-columns
    inputs:
      data: { step: validate, output: data }
      columns: ${LEAKS}

  - name: split
    component: split
    inputs:
      data: { step: features, output: data }
      strategy: time
      orderBy: dteday,hr
      testSize: 0.2

  - name: train
    component: train
    inputs:
      data: { step: split, output: train }
      target: cnt
      algo: gbdt
      trees: 100
      seed: 7

  - name: evaluate
    component: evaluate
    inputs:
      model: { step: train, output: model }
      data: { step: split, output: test }
      target: cnt
      bootstrap: 200

  - name: gate
    component: gate
    inputs:
      metrics: { step: evaluate, output: metrics }
      condition: ${GATE}
      champion: ${o.name}@champion
    cache: { enabled: false }

  - name: register
    component: register
    inputs:
      model: { step: train, output: model }
      name: ${o.name}
      alias: champion
      metrics: { step: evaluate, output: metrics }
      decision: { step: gate, output: decision }
    cache: { enabled: false }
`;
}

const COMPONENT = `/**
 * drop-columns: a CSV dataset without the named columns (the others keep their order).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { component } from 'trellis/pipelines';

/** The fields of one CSV line: quoted fields may hold commas and doubled quotes. */
export function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { field += '"'; i++; }
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { fields.push(field); field = ''; }
    else field += ch;
  }
  fields.push(field);
  return fields;
}

const quote = (s: string) => (/[",\\r\\n]/.test(s) ? \`"\${s.replace(/"/g, '""')}"\` : s);

/** CSV text (a header line, then one record per line) without the columns named in \`drop\`. */
export function dropCsvColumns(csv: string, drop: readonly string[]): string {
  const lines = csv.split(/\\r?\\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  const header = splitCsvLine(lines[0] ?? '');
  const missing = drop.filter((c) => !header.includes(c));
  if (missing.length) throw new Error(\`no column \${missing.join(', ')} in the data; its columns are \${header.join(', ')}\`);
  const keep = header.map((_, i) => i).filter((i) => !drop.includes(header[i]!));
  return lines.map((line) => {
    const fields = splitCsvLine(line);
    return keep.map((i) => quote(fields[i] ?? '')).join(',');
  }).join('\\n') + '\\n';
}

export const dropColumns = component({
  name: 'drop-columns',
  version: '1',
  description: 'Removes the named columns from a CSV dataset.',
  module: import.meta.url,
  inputs: {
    data: { type: 'Dataset' },
    columns: { type: 'string', description: 'the columns to remove, comma-separated' },
  },
  outputs: { data: { type: 'Dataset' } },
  async run(ctx) {
    const drop = ctx.inputs.columns.split(',').map((c) => c.trim()).filter(Boolean);
    await writeFile(ctx.outputs.data.path, dropCsvColumns(await readFile(ctx.inputs.data.path, 'utf8'), drop));
    ctx.log(\`dropped \${drop.join(', ')}\`);
    ctx.metric('columns_dropped', drop.length);
  },
});
`;

const COMPONENT_TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dropCsvColumns, splitCsvLine } from './drop-columns.js';

test('drop-columns removes the named columns and keeps the others in order', () => {
  assert.equal(dropCsvColumns('a,b,c,d\\r\\n1,2,3,4\\r\\n5,6,7,8\\r\\n', ['b', 'd']), 'a,c\\n1,3\\n5,7\\n');
});

test('drop-columns keeps quoted fields whole', () => {
  assert.deepEqual(splitCsvLine('1,"x, ""y""",3'), ['1', 'x, "y"', '3']);
  assert.equal(dropCsvColumns('id,note,n\\n1,"x, y",3\\n', ['n']), 'id,note\\n1,"x, y"\\n');
});

test('drop-columns names a column that is not in the data', () => {
  assert.throws(() => dropCsvColumns('a,b\\n1,2\\n', ['z']), /no column z in the data; its columns are a, b/);
});
`;

function packageJson(o: InitOptions): string {
  const file = pipelineFileName(o);
  return `${JSON.stringify({
    name: o.name.toLowerCase().replace(/_/g, '-'),
    version: '0.1.0',
    private: true,
    type: 'module',
    description: `The ${o.name} pipeline, run and deployed with Trellis`,
    scripts: {
      ci: `trellis ci ${file} ${CI_ARGS()}`,
      run: `trellis run ${file}`,
    },
    dependencies: { trellis: o.trellisSpec },
    devDependencies: { '@types/node': '^20.19.0', typescript: '^5.9.3' },
  }, null, 2)}\n`;
}

const TSCONFIG = `${JSON.stringify({
  compilerOptions: {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'],
  },
  include: ['*.ts', 'components/**/*.ts', 'tests/**/*.ts'],
}, null, 2)}\n`;

const GITIGNORE = `node_modules/
.trellis/
dist/
`;

/** The GitHub Actions workflow: `trellis ci` on every push and pull request, and a deploy on pushes to main. */
export function workflowYaml(o: Pick<InitOptions, 'yaml'>): string {
  return `# Runs \`trellis ci\` on every push and pull request; on a push to main, deploys the package it
# wrote to the Trellis server named by the repository variable TRELLIS_SERVER, with the token in the
# secret TRELLIS_TOKEN (Settings → Secrets and variables → Actions).
name: trellis

on:
  push:
  pull_request:

jobs:
  pipeline:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 20
          cache: npm
      - run: npm ci
      - name: trellis ci
        run: npx trellis ci ${pipelineFileName(o)} ${CI_ARGS()}
      - name: deploy
        if: github.ref == 'refs/heads/main' && github.event_name == 'push'
        run: npx trellis pipelines deploy ${PACKAGE_OUT} --server \${{ vars.TRELLIS_SERVER }}
        env:
          TRELLIS_TOKEN: \${{ secrets.TRELLIS_TOKEN }}
`;
}

function readme(o: InitOptions): string {
  const file = pipelineFileName(o);
  return `# ${o.name}

A Trellis pipeline: ingest the hourly bike rentals, validate them, drop the columns that leak the
label (\`components/drop-columns.ts\`, a TypeScript component), split them in time order, train
gradient-boosted trees on \`cnt\`, evaluate, and register the model as \`${o.name}@champion\` when
the gate passes (\`${GATE}\`).

## Run it

\`\`\`sh
npm install                 # once; commit package-lock.json (the workflow runs npm ci)
npm run ci                  # trellis ci: lint, type-check, component tests, dry run on a sample, package
npx trellis run ${file}  # run it here; stores go to ./.trellis
\`\`\`

\`trellis ci\` stops at the first stage that fails and says why. Its dry run runs the package it
builds, as the server will: \`npm run ci\` puts \`${SAMPLE_FILE}\` in it (\`--include\`), so the
deployed pipeline finds it, and writes it to \`${PACKAGE_OUT}\`; a plain \`npx trellis ci\` fails
naming the file the package lacks. For real data, add it as a dataset version on the server and run with
\`--param dataset=NAME@latest\` (data belongs in dataset versions, not in the package).

## Deploy

\`\`\`sh
npx trellis pipelines deploy ${PACKAGE_OUT} --server https://trellis.example.com
npx trellis pipelines trigger ${o.name} --server https://trellis.example.com   # a run there, now
\`\`\`

\`.github/workflows/trellis.yml\` does this on every push to main once \`trellis ci\` has passed.
Set the repository variable \`TRELLIS_SERVER\` to the server's URL and, when the server asks for
one, the secret \`TRELLIS_TOKEN\`.

## Layout

- \`${file}\` — the pipeline
- \`components/\` — custom components and their tests (\`*.test.ts\`, run by \`trellis ci\`)
- \`${SAMPLE_FILE}\` — a sample of the data; see \`data/README.md\` for its source
`;
}

function dataReadme(o: InitOptions): string {
  return `# Data

## \`bike-sample.csv\` — UCI Bike Sharing, hourly (first ${o.sampleRows.toLocaleString('en')} hours)

- **Citation:** Fanaee-T, H. (2013). *Bike Sharing* [Dataset]. UCI Machine Learning Repository.
  https://doi.org/10.24432/C5W894. As UCI's \`Readme.txt\` asks, publications using it cite
  Fanaee-T, H. & Gama, J. (2013), "Event labeling combining ensemble detectors and background
  knowledge", *Progress in Artificial Intelligence*, 1–15, doi:10.1007/s13748-013-0040-3.
- **Licence:** CC BY 4.0.
- **Original:** https://archive.ics.uci.edu/dataset/275/bike+sharing+dataset — the header and
  first ${o.sampleRows.toLocaleString('en')} rows of UCI's \`hour.csv\`, with LF line endings.
- **Label:** \`cnt\` (= \`casual\` + \`registered\`). \`temp\`, \`atemp\`, \`hum\` and \`windspeed\` are
  normalised (÷ 41, ÷ 50, ÷ 100, ÷ 67).
`;
}

/** Every file of the project but the sample data, by path relative to the project folder. */
export function projectFiles(o: InitOptions): Record<string, string> {
  return {
    [pipelineFileName(o)]: o.yaml ? pipelineYaml(o) : pipelineTs(o),
    'components/drop-columns.ts': COMPONENT,
    'components/drop-columns.test.ts': COMPONENT_TEST,
    'data/README.md': dataReadme(o),
    'package.json': packageJson(o),
    'tsconfig.json': TSCONFIG,
    '.gitignore': GITIGNORE,
    'README.md': readme(o),
    '.github/workflows/trellis.yml': workflowYaml(o),
  };
}
