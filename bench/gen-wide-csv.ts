/**
 * Writes the profiling benchmark's input: ROWS rows × 20 columns, deterministic (seeded), mixing
 * what tabular ML data holds — 12 floats (normal, lognormal, uniform, some missing), 4 integers,
 * 3 low-cardinality categories and 1 boolean.
 *   npx tsx bench/gen-wide-csv.ts <out.csv> [rows]
 */
import { createWriteStream } from 'node:fs';
import { mulberry32 } from './populate.js';

export async function generateWideCsv(path: string, rows: number): Promise<void> {
  const rand = mulberry32(20261126);
  const normal = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const out = createWriteStream(path);
  const header = [
    ...Array.from({ length: 12 }, (_, i) => `f${i}`), 'i0', 'i1', 'i2', 'i3', 'city', 'segment', 'channel', 'active',
  ];
  const cities = ['Lisbon', 'Porto', 'Braga', 'Coimbra', 'Faro', 'Aveiro', 'Evora', 'Leiria'];
  const segments = ['retail', 'smb', 'enterprise'];
  const channels = ['web', 'app', 'store', 'phone', 'partner'];
  let buf = `${header.join(',')}\n`;
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let i = 0; i < 12; i++) {
      const v = i % 3 === 0 ? normal() * 10 + i : i % 3 === 1 ? Math.exp(normal()) : rand() * 1000;
      cells.push(i === 5 && rand() < 0.05 ? '' : v.toFixed(4));
    }
    cells.push(String(Math.floor(rand() * 100)), String(Math.floor(rand() * 1e6)), String(18 + Math.floor(rand() * 70)), String(Math.floor(normal() * 5 + 50)));
    cells.push(cities[Math.floor(rand() * cities.length)]!, segments[Math.floor(rand() * segments.length)]!, channels[Math.floor(rand() * channels.length)]!, rand() < 0.3 ? 'true' : 'false');
    buf += `${cells.join(',')}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()));
      buf = '';
    }
  }
  out.write(buf);
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [out, rows] = process.argv.slice(2);
  if (!out) throw new Error('usage: gen-wide-csv.ts <out.csv> [rows]');
  await generateWideCsv(out, Number(rows ?? 1_000_000));
}
