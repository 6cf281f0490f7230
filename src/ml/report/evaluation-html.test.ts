import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EVALUATION_FORMAT, type EvaluationReport } from '../evaluate.js';
import { evaluationHtml } from './evaluation-html.js';
import { LABEL_COLUMN_MAX, LABEL_FONT, NOTE_FONT, barsLayout, estimateTextWidth, fitText } from './html.js';

const unesc = (s: string) => s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);

const LONG = 'Married-spouse-absent-and-living-elsewhere-in-the-United-States-of-America';
const LABELS = ['native-country=United-States', 'native-country=United-Kingdom', 'Cuba', LONG, 'Self-emp-not-inc & <other>'];

function report(): EvaluationReport {
  const m = (value: number) => ({ accuracy: { value, lower: value - 0.05, upper: value + 0.03 } });
  return {
    format: EVALUATION_FORMAT, task: 'binary', target: 'income', rows: 32_561, rowsWithoutLabel: 0, classes: ['<=50K', '>50K'],
    metrics: m(0.87), notes: [],
    slices: [{ column: 'native-country', kind: 'categories', groups: LABELS.map((value, i) => ({ value, rows: 1000 * (i + 1) + 234, metrics: m(0.8 + i * 0.02) })) }],
  };
}

describe('evaluationHtml: slice labels', () => {
  it('shows every slice label whole when it fits the label column, else shortened with the whole label as its tooltip; the column fits the labels', () => {
    const html = evaluationHtml(report());
    const svg = /<svg role="img" aria-label="accuracy by native-country"[^>]*>(.*?)<\/svg>/s.exec(html);
    assert.ok(svg, 'the slice chart');
    const width = Number(/^<svg[^>]* width="([\d.]+)"/.exec(svg[0])![1]);
    const labels = [...svg[1]!.matchAll(new RegExp(`<text x="0" y="[\\d.]+" font-size="${LABEL_FONT}">(?:<title>([^<]*)</title>)?([^<]*)</text>`, 'g'))]
      .map((m) => ({ title: m[1] === undefined ? undefined : unesc(m[1]), shown: unesc(m[2]!) }));
    const bars = [...svg[1]!.matchAll(/<rect x="([\d.]+)"/g)].map((m) => Number(m[1]));
    const notes = [...svg[1]!.matchAll(new RegExp(`<text x="([\\d.]+)" y="[\\d.]+" font-size="${NOTE_FONT}">([^<]*)</text>`, 'g'))].map((m) => ({ x: Number(m[1]), text: unesc(m[2]!) }));
    assert.equal(labels.length, LABELS.length);
    assert.equal(bars.length, LABELS.length);

    LABELS.forEach((full, i) => {
      const { shown, title } = labels[i]!;
      // Each label is readable: whole as visible text, or shortened with the whole label as its tooltip.
      assert.ok(shown === full || title === full, `label ${i}: '${shown}' (title ${title}) for '${full}'`);
      if (shown !== full) {
        assert.ok(shown.endsWith('…') && full.startsWith(shown.slice(0, -1)), `'${shown}' is a prefix of '${full}' with …`);
      }
      // The bars start after the label as drawn: it does not run under them.
      assert.ok(bars[i]! >= estimateTextWidth(shown, LABEL_FONT), `label ${i}: bar at ${bars[i]} leaves room for '${shown}' (${estimateTextWidth(shown, LABEL_FONT)} px)`);
      // The value and its note stay inside the picture.
      assert.ok(notes[i]!.x + estimateTextWidth(notes[i]!.text, NOTE_FONT) <= width, `note '${notes[i]!.text}' fits in ${width}px`);
    });
    // Two labels that share their first 20 characters stay apart; only the one longer than the column is shortened.
    assert.equal(labels[0]!.shown, 'native-country=United-States');
    assert.equal(labels[1]!.shown, 'native-country=United-Kingdom');
    assert.equal(labels[4]!.shown, 'Self-emp-not-inc & <other>');
    assert.notEqual(labels[3]!.shown, LONG);
    assert.equal(labels[3]!.title, LONG);
    assert.ok(html.includes(`<title>${LONG}</title>`));

    // The column is as wide as the longest label needs, within the cap.
    const layout = barsLayout(LABELS.map((label) => ({ label, value: 0.9 })));
    const longestThatFits = Math.max(...LABELS.filter((l) => l !== LONG).map((l) => estimateTextWidth(l, LABEL_FONT)));
    assert.ok(layout.labelWidth >= longestThatFits && layout.labelWidth <= LABEL_COLUMN_MAX, `label column ${layout.labelWidth}px`);
    assert.equal(layout.labelWidth, LABEL_COLUMN_MAX, 'the longest label asks for more than the cap');
    assert.ok(estimateTextWidth(layout.labels[3]!.shown, LABEL_FONT) <= layout.labelWidth);
    // Short labels keep a narrow chart.
    assert.ok(barsLayout([{ label: 'a', value: 1 }, { label: 'bb', value: 2 }]).labelWidth < 60);
  });

  it('fitText shortens by whole characters, never past the width', () => {
    assert.equal(fitText('short', 100, 11), 'short');
    const cut = fitText('x'.repeat(100), 60, 11);
    assert.match(cut, /^x+…$/);
    assert.ok(estimateTextWidth(cut, 11) <= 60);
    assert.ok(estimateTextWidth(`${cut.slice(0, -1)}x…`, 11) > 60, 'as long as fits');
    assert.ok(estimateTextWidth('WWW', 11) > estimateTextWidth('iii', 11));
  });
});
