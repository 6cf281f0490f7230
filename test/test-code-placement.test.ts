// Test code has one spelling — `*.test.ts`, `*.contract.ts`, or a file in a `test-helpers/` folder
// beside the code — because that is what tsconfig.build.json leaves out of dist/. A helper spelled
// any other way (a `test-helpers.ts` file, a `helpers/` folder) ships to users with node:test in it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { ROOT, repoFiles } from './test-helpers/repo-files.js';

const TEST_MODULES = /^node:(test|assert)(\/|$)/;
const rel = (abs: string) => relative(ROOT, abs).split(sep).join('/');

/** The source files `tsc -p tsconfig.build.json` compiles into dist/. */
function buildFiles(): string[] {
  const path = join(ROOT, 'tsconfig.build.json');
  const read = ts.readConfigFile(path, (f) => ts.sys.readFile(f));
  assert.equal(read.error, undefined, 'tsconfig.build.json parses');
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, undefined, path);
  return parsed.fileNames.map(rel).sort();
}

/** What a file imports, as written (string specifiers of import, export … from and import()). */
function importsOf(file: string): string[] {
  return ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

describe('test code stays out of the build', () => {
  const built = buildFiles();

  it('no file the build compiles imports node:test or node:assert, or a file the build leaves out', () => {
    assert.ok(built.includes('src/index.ts') && built.length > 100, `the build set looks wrong: ${built.length} files`);
    const inBuild = new Set(built);
    const found: string[] = [];
    for (const f of built) {
      for (const spec of importsOf(f)) {
        if (TEST_MODULES.test(spec)) found.push(`${f}: imports ${spec}`);
        if (!spec.startsWith('.')) continue;
        const target = rel(resolve(ROOT, dirname(f), spec)).replace(/\.js$/, '.ts');
        if (target.startsWith('src/') && target.endsWith('.ts') && !inBuild.has(target)) found.push(`${f}: imports ${spec}, which the build leaves out`);
      }
    }
    assert.deepEqual(found, [], `move test code into *.test.ts, *.contract.ts or a test-helpers/ folder:\n${found.join('\n')}`);
  });

  it('helpers are spelled test-helpers/, never helpers/ or a test-helpers.ts file', () => {
    const files = repoFiles(['src', 'test', 'bench', 'scripts']);
    assert.ok(files.includes('test/test-helpers/repo-files.ts'), 'the walk reaches the helpers');
    const other = files.filter((f) => /(^|\/)helpers\//.test(f) || /(^|\/)test-helpers?\.[cm]?[jt]s$/.test(f));
    assert.deepEqual(other, []);
    const shipped = built.filter((f) => /\.(test|contract)\.ts$|\/test-helpers\//.test(f));
    assert.deepEqual(shipped, [], 'the build compiles test files');
  });
});
