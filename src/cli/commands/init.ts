/**
 * `trellis init [dir]`: writes a starter pipeline project (see init-files.ts) that passes
 * `trellis ci` as it is. Existing files are never overwritten without --force.
 */
import { Command } from 'commander';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { invalid } from '../../core/errors.js';
import { globals } from '../context.js';
import { printJson } from '../output.js';
import { projectFiles, SAMPLE_FILE, pipelineFileName, type InitOptions } from './init-files.js';

const BIKE = fileURLToPath(new URL('../../../examples/data/bike_sharing_hourly.csv', import.meta.url));
const PKG = fileURLToPath(new URL('../../../package.json', import.meta.url));
const SAMPLE_ROWS = 2000;
const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** A pipeline name from a folder name: `My Project` → `My-Project`. */
export function nameFromDir(dir: string): string {
  const n = basename(resolve(dir)).replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^[^A-Za-z_]+/, '').replace(/-+$/, '');
  return n || 'pipeline';
}

/** The header and first `rows` lines of the bike-sharing data, with LF line endings. */
async function bikeSample(rows: number): Promise<string> {
  if (!existsSync(BIKE)) throw invalid(`trellis init copies its sample data from ${BIKE}, which is part of the Trellis repository (examples/data); run it from a clone`);
  const lines: string[] = [];
  const rl = createInterface({ input: createReadStream(BIKE), crlfDelay: Infinity });
  try {
    for await (const line of rl) {
      lines.push(line);
      if (lines.length > rows) break;
    }
  } finally {
    rl.close();
  }
  return `${lines.join('\n')}\n`;
}

export interface InitResult {
  dir: string;
  name: string;
  files: string[];
  overwritten: string[];
}

export async function initProject(dir: string, o: { name?: string; yaml?: boolean; force?: boolean; trellis?: string } = {}): Promise<InitResult> {
  const root = resolve(dir);
  const name = o.name ?? nameFromDir(root);
  if (!NAME.test(name)) throw invalid(`--name '${name}' is not a pipeline name: start with a letter or _, then letters, digits, _ and -`);
  const trellisVersion = (JSON.parse(readFileSync(PKG, 'utf8')) as { version: string }).version;
  const trellisSpec = o.trellis ?? `^${trellisVersion}`;
  if (!trellisSpec.trim() || /\s/.test(trellisSpec)) {
    throw invalid(`--trellis '${trellisSpec}' is not a dependency spec: give a version range, a path (file:../trellis) or a git URL, without spaces`);
  }
  const opts: InitOptions = { name, yaml: !!o.yaml, trellisSpec, sampleRows: SAMPLE_ROWS };
  const files: Record<string, string> = { ...projectFiles(opts), [SAMPLE_FILE]: await bikeSample(SAMPLE_ROWS) };
  const paths = Object.keys(files).sort();
  const existing = paths.filter((p) => existsSync(join(root, p)));
  if (existing.length && !o.force) {
    throw invalid(`${root} already has ${existing.join(', ')}: trellis init does not overwrite files; pass --force to replace them`);
  }
  for (const p of paths) {
    const target = join(root, p);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, files[p]!);
  }
  return { dir: root, name, files: paths, overwritten: existing };
}

export function initCommand(): Command {
  return new Command('init')
    .description('write a starter pipeline project that passes `trellis ci`: a pipeline, a TypeScript component with its test, sample data, package.json, tsconfig.json and a GitHub Actions workflow that deploys from main')
    .argument('[dir]', 'the project folder (created if needed)', '.')
    .option('--name <name>', 'the pipeline name (default: the folder name)')
    .option('--yaml', 'write the pipeline as pipeline.yaml instead of pipeline.ts')
    .option('--force', 'overwrite files that already exist')
    .option('--trellis <spec>', 'the trellis dependency in package.json (default: ^ this version); a path such as file:../trellis, or a git URL, to use a checkout')
    .action(async (dir: string, o: { name?: string; yaml?: boolean; force?: boolean; trellis?: string }, c: Command) => {
      const r = await initProject(dir, o);
      if (globals(c).json) {
        printJson(r);
        return;
      }
      console.log(`wrote the ${r.name} pipeline project in ${r.dir}:`);
      for (const f of r.files) console.log(`  ${f}${r.overwritten.includes(f) ? ' (overwritten)' : ''}`);
      const cd = resolve(dir) === process.cwd() ? '' : `cd ${dir} && `;
      console.log(`next: ${cd}npm install && npx trellis ci ${pipelineFileName({ yaml: !!o.yaml })}`);
    });
}
