// docs/architecture.md describes the code as it is: every folder under src/ has its row in the
// layer table, with exactly the imports .dependency-cruiser.cjs allows it; every folder under
// src/store/ and every port under src/store/ports/ is named; every path the page (or
// CONTRIBUTING.md) names exists; and the README's layout lists every folder a clone has.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, posix } from 'node:path';
import { ROOT } from './test-helpers/repo-files.js';

const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8');

/** Folders directly under `rel` that a clone has: no dot folders, nothing .gitignore names at the top. */
function folders(rel: string): string[] {
  const ignored = new Set(['node_modules']);
  if (rel === '') {
    for (const line of read('.gitignore').split('\n')) {
      const m = /^\/?([^/*?[#!]+)\/$/.exec(line.trim());
      if (m?.[1] && !m[1].includes('/')) ignored.add(m[1]);
    }
  }
  return readdirSync(join(ROOT, rel), { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !ignored.has(e.name))
    .map((e) => e.name)
    .sort();
}

/** Each layer of `.dependency-cruiser.cjs` with the other layers it may import, read back from its `<layer>-layering` rules. */
function configuredLayers(): Map<string, Set<string>> {
  const config = createRequire(import.meta.url)(join(ROOT, '.dependency-cruiser.cjs')) as {
    forbidden: { name: string; to: { path?: string } }[];
  };
  const banned = new Map<string, string[]>();
  for (const rule of config.forbidden) {
    const layer = /^(.+)-layering$/.exec(rule.name)?.[1];
    if (!layer) continue;
    const group = /^\^src\/\((.*)\)\/$/.exec(rule.to.path ?? '')?.[1];
    assert.ok(group !== undefined, `rule ${rule.name}: a 'to.path' of the form ^src/(a|b)/ was expected, got ${rule.to.path}`);
    banned.set(layer, group === '$^' ? [] : group.split('|'));
  }
  const all = [...banned.keys()];
  return new Map(all.map((layer) => {
    const no = new Set(banned.get(layer));
    return [layer, new Set(all.filter((x) => x !== layer && !no.has(x)))];
  }));
}

/** The lines of the section that starts with the heading `## <title>`, up to the next `## `. */
function section(text: string, title: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${title}`);
  if (start < 0) return '';
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The rows `| \`name/\` | holds | may import |` of the layer table: folder name → the names in backticks in the third cell. */
function layerRows(doc: string): Map<string, Set<string>> {
  const rows = new Map<string, Set<string>>();
  for (const line of section(doc, 'Layers: what may import what').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const name = /^`([a-z][a-z0-9-]*)\/`$/.exec(cells[1] ?? '')?.[1];
    if (!name) continue;
    rows.set(name, new Set([...(cells[3] ?? '').matchAll(/`([a-z][a-z0-9-]*)`/g)].map((m) => m[1] ?? '')));
  }
  return rows;
}

/** What is wrong between the layer table and the configured layers and src/ folders. */
function layerProblems(rows: Map<string, Set<string>>, layers: Map<string, Set<string>>, srcFolders: string[]): string[] {
  const out: string[] = [];
  for (const f of srcFolders) if (!rows.has(f)) out.push(`src/${f}/ has no row in the layer table`);
  for (const [layer, allowed] of layers) {
    const row = rows.get(layer);
    if (!row) {
      out.push(`layer ${layer} of .dependency-cruiser.cjs has no row in the layer table`);
      continue;
    }
    const extra = [...row].filter((x) => !allowed.has(x));
    const missing = [...allowed].filter((x) => !row.has(x));
    if (extra.length || missing.length) {
      out.push(`${layer}/: the table says it may import ${[...row].join(', ') || 'nothing'}; .dependency-cruiser.cjs allows ${[...allowed].join(', ') || 'nothing'}`);
    }
  }
  return out;
}

/** Paths under the repository's folders that a text names (`src/store/cas`, `docs/storage.md`, …). */
function namedPaths(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(/(?<![\w./-])(?:src|test|bench|scripts|docs|examples|bin|\.ci)\/[^\s`'"()|,;\]]*/g)) {
    found.add(m[0].replace(/[.:]+$/, ''));
  }
  return [...found].sort();
}

/** The named paths that do not exist; a path with a placeholder (`<noun>`, `*`) needs only its folder to. */
function missingPaths(paths: string[], exists: (rel: string) => boolean): string[] {
  return paths.filter((p) => {
    const cut = p.search(/[<*{]/);
    const rel = cut < 0 ? p : posix.dirname(p.slice(0, cut) + 'x');
    return !exists(rel.replace(/\/$/, ''));
  });
}

/**
 * `names` that `text` does not mention as `prefix<name>`, standing on its own: not the tail of a
 * longer path, and (unless the name ends with `/`) not the head of a longer name.
 */
function unnamed(text: string, prefix: string, names: string[]): string[] {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return names.filter((n) => !new RegExp(`(?<![\\w./-])${esc(prefix + n)}${n.endsWith('/') ? '' : '(?![\\w-])'}`).test(text));
}

const doc = read('docs/architecture.md');
const exists = (rel: string) => existsSync(join(ROOT, rel));

describe('docs/architecture.md matches the code', () => {
  it('has a row for every folder under src/, with exactly the imports .dependency-cruiser.cjs allows', () => {
    const layers = configuredLayers();
    assert.ok(layers.size >= 10 && layers.has('store'), `layers read from .dependency-cruiser.cjs: ${[...layers.keys()].join(', ')}`);
    assert.deepEqual(layerProblems(layerRows(doc), layers, folders('src')), []);
  });

  it('names every folder under src/store/ and every port under src/store/ports/', () => {
    assert.deepEqual(unnamed(doc, 'src/store/', folders('src/store')), [], 'folders of src/store/ without a mention');
    const ports = readdirSync(join(ROOT, 'src/store/ports')).filter((f) => f.endsWith('.ts') && !/\.(test|contract)\.ts$/.test(f)).sort();
    assert.ok(ports.includes('tracking.ts'), ports.join(', '));
    assert.deepEqual(unnamed(doc, 'src/store/ports/', ports), [], 'ports without a line');
  });

  it('names only paths that exist, as does CONTRIBUTING.md', () => {
    const named = namedPaths(doc);
    assert.ok(named.includes('src/store/open-stores.ts') && named.includes('src/workspace/workspace.ts'), named.join('\n'));
    assert.deepEqual(missingPaths(named, exists), [], 'docs/architecture.md names paths that do not exist');
    assert.deepEqual(missingPaths(namedPaths(read('CONTRIBUTING.md')), exists), [], 'CONTRIBUTING.md names paths that do not exist');
  });

  it("the README's layout lists every top-level folder and every folder under src/, linking this page and CONTRIBUTING.md", () => {
    const layout = section(read('README.md'), 'Layout');
    assert.ok(layout, 'README.md has a "## Layout" section');
    const top = folders('');
    assert.ok(top.includes('src') && top.includes('test'), top.join(', '));
    assert.deepEqual(unnamed(layout, '', top.map((f) => `${f}/`)), [], 'top-level folders missing from the layout');
    assert.deepEqual(unnamed(layout, 'src/', folders('src').map((f) => `${f}/`)), [], 'src/ folders missing from the layout');
    assert.deepEqual(missingPaths(namedPaths(layout), exists), [], 'the layout names paths that do not exist');
    assert.match(layout, /\]\(docs\/architecture\.md\)/);
    assert.match(layout, /\]\(CONTRIBUTING\.md\)/);
  });
});

describe('the checks catch drift', () => {
  const layers = new Map([['core', new Set<string>()], ['store', new Set(['core'])]]);
  const table = (rows: string[]) => `## Layers: what may import what\n\n| folder | holds | may import |\n|---|---|---|\n${rows.join('\n')}\n\n## Next\n| \`late/\` | x | \`core\` |`;

  it('a folder or a layer without a row, and a row whose imports differ', () => {
    const rows = layerRows(table(['| `core/` | ids | nothing |', '| `store/` | ports | `core`, `numeric` |']));
    assert.deepEqual([...rows.keys()], ['core', 'store'], 'rows after the section are not read');
    assert.deepEqual(layerProblems(rows, layers, ['core', 'store', 'late']), [
      'src/late/ has no row in the layer table',
      'store/: the table says it may import core, numeric; .dependency-cruiser.cjs allows core',
    ]);
    assert.deepEqual(layerProblems(layerRows(table(['| `core/` | ids | nothing |'])), layers, ['core']), [
      'layer store of .dependency-cruiser.cjs has no row in the layer table',
    ]);
  });

  it('a port or a folder that is not named', () => {
    const text = 'the ports: `src/store/ports/tracking.ts`, and src/store/cas-extra.';
    assert.deepEqual(unnamed(text, 'src/store/ports/', ['tracking.ts', 'track.ts', 'models.ts']), ['track.ts', 'models.ts']);
    assert.deepEqual(unnamed(text, 'src/store/', ['cas', 'ports']), ['cas']);
  });

  it('a path that does not exist, placeholders judged by their folder', () => {
    const paths = namedPaths('see `src/a/b.ts`, src/api/routes/<noun>.ts and (docs/x.md). Also src/gone/.');
    assert.deepEqual(paths, ['docs/x.md', 'src/a/b.ts', 'src/api/routes/<noun>.ts', 'src/gone/']);
    const real = new Set(['docs/x.md', 'src/api/routes']);
    assert.deepEqual(missingPaths(paths, (p) => real.has(p)), ['src/a/b.ts', 'src/gone/']);
  });
});
