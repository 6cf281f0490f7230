// Every relative link in the project's Markdown leads somewhere: the file exists, and a #fragment
// names a heading of the Markdown file it points into (GitHub's anchor rules).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { ROOT, repoFiles } from './test-helpers/repo-files.js';

/** The Markdown a reader of the repository meets: the top-level files (README, CONTRIBUTING, …), docs/, and every README. */
function markdownFiles(): string[] {
  const top = readdirSync(ROOT).filter((f) => f.endsWith('.md')).sort();
  const nested = repoFiles(['docs', 'bench', 'test', 'examples', 'src', 'scripts'], (p) =>
    p.startsWith('docs/') ? p.endsWith('.md') : posix.basename(p) === 'README.md');
  return [...top, ...nested];
}

/** For each line, whether it is inside (or fences) a fenced code block. */
function fenced(lines: string[]): boolean[] {
  let fence: string | undefined;
  return lines.map((line) => {
    const f = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (f) {
      if (fence === undefined) fence = f[1]![0]!;
      else if (f[1]![0] === fence) fence = undefined;
      return true;
    }
    return fence !== undefined;
  });
}

/** The text outside fenced code blocks and inline code, line numbers kept. */
function proseLines(text: string): string[] {
  const lines = text.split('\n');
  const code = fenced(lines);
  return lines.map((line, i) => (code[i] ? '' : line.replace(/(`+)[\s\S]*?\1/g, '')));
}

interface Link { line: number; target: string }

function linksOf(text: string): Link[] {
  const out: Link[] = [];
  proseLines(text).forEach((line, i) => {
    // Inline links and images: [text](target "title"), [text](<target>).
    for (const m of line.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+["'(][^)]*)?\)/g)) {
      out.push({ line: i + 1, target: m[1]!.replace(/^<|>$/g, '') });
    }
    // Reference definitions: [label]: target
    const ref = /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(line);
    if (ref) out.push({ line: i + 1, target: ref[1]!.replace(/^<|>$/g, '') });
    // HTML links and images.
    for (const m of line.matchAll(/<(?:a|img)\s[^>]*?(?:href|src)="([^"]+)"/g)) out.push({ line: i + 1, target: m[1]! });
  });
  return out;
}

/** GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces to -, repeats numbered. */
function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const add = (heading: string) => {
    const plain = heading
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text only
      .replace(/<[^>]+>/g, '') // inline HTML
      .replace(/`/g, '')
      .replace(/(\*\*|__|\*|~~)/g, '') // emphasis markers (a lone _ inside a word is kept)
      .trim()
      .toLowerCase();
    const base = plain.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  };
  const lines = text.split('\n');
  const code = fenced(lines);
  lines.forEach((line, i) => {
    if (code[i]) return;
    const atx = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+\s*)?$/.exec(line);
    if (atx) add(atx[1]!);
    else if (i > 0 && !code[i - 1] && /^\s{0,3}(=+|-+)\s*$/.test(line) && lines[i - 1]!.trim() !== '' && !/^\s{0,3}([-*+>|]|#)/.test(lines[i - 1]!)) add(lines[i - 1]!);
    for (const m of line.matchAll(/<a\s[^>]*?(?:name|id)="([^"]+)"/g)) anchors.add(m[1]!);
  });
  return anchors;
}

/** What is wrong with one link of `file`, or undefined when it leads somewhere. */
function problem(file: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) return undefined; // https:, mailto:, …
  const hash = target.indexOf('#');
  const pathPart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash)).replace(/\?.*$/, '');
  const fragment = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
  // GitHub resolves a leading / from the repository root.
  const resolved = pathPart === '' ? join(ROOT, file) : pathPart.startsWith('/') ? join(ROOT, pathPart) : join(ROOT, dirname(file), pathPart);
  if (!resolved.startsWith(ROOT)) return `${target} leaves the repository`;
  if (!existsSync(resolved)) return `${target}: no such file`;
  if (fragment === undefined || fragment === '') return undefined;
  if (!statSync(resolved).isFile() || !resolved.endsWith('.md')) return undefined; // #L10 into code, etc.
  const anchors = headingAnchors(readFileSync(resolved, 'utf8'));
  return anchors.has(fragment) ? undefined : `${target}: no heading with the anchor #${fragment}`;
}

describe('documentation links', () => {
  it('the anchor rules match GitHub on the cases the docs use', () => {
    const a = headingAnchors([
      '# Export to Argo Workflows', '## CI/CD', '### `trellis ci`: lint, test', '## Triggers and the scheduler',
      '## Triggers and the scheduler', '## Model format (v1)', '## snake_case and **bold**', 'Setext', '===',
      '```', '# not a heading', '```',
    ].join('\n'));
    assert.deepEqual([...a].sort(), [
      'cicd', 'export-to-argo-workflows', 'model-format-v1', 'setext', 'snake_case-and-bold',
      'trellis-ci-lint-test', 'triggers-and-the-scheduler', 'triggers-and-the-scheduler-1',
    ]);
  });

  it('finds inline, image, reference and HTML links, not those in code', () => {
    const links = linksOf([
      'See [the docs](docs/a.md#x "title") and ![img](<img/b c.png>).', '`[no](in-code.md)`',
      '[ref]: ../c.md', '<a href="d.md">d</a>', '```', '[no](fenced.md)', '```',
    ].join('\n'));
    assert.deepEqual(links, [
      { line: 1, target: 'docs/a.md#x' }, { line: 1, target: 'img/b c.png' }, { line: 3, target: '../c.md' }, { line: 4, target: 'd.md' },
    ]);
  });

  it('every relative link in README.md, CONTRIBUTING.md, docs/ and the READMEs resolves', () => {
    const files = markdownFiles();
    assert.ok(files.includes('README.md') && files.some((f) => f.startsWith('docs/')), files.join(', '));
    const dead: string[] = [];
    for (const f of files) {
      for (const l of linksOf(readFileSync(join(ROOT, f), 'utf8'))) {
        const p = problem(f, l.target);
        if (p) dead.push(`${f}:${l.line}: ${p}`);
      }
    }
    assert.deepEqual(dead, [], `dead links:\n${dead.join('\n')}`);
  });
});
