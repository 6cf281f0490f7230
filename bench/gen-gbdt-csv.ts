/**
 * Writes the GBDT benchmark's synthetic binary task: ROWS rows × 28 numeric features + `label`,
 * deterministic (seeded), shaped like HIGGS: 21 "low-level" features (normal, lognormal momenta,
 * uniform angles; two with 2% missing) and 7 "high-level" nonlinear combinations of them, with a
 * label drawn from a nonlinear logistic model, so that trees have interactions to find.
 *   npx tsx bench/gen-gbdt-csv.ts <out.csv> [rows]
 */
import { createWriteStream } from 'node:fs';
import { mulberry32 } from './populate.js';

export async function generateGbdtCsv(path: string, rows: number): Promise<void> {
  const rand = mulberry32(28);
  const normal = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const out = createWriteStream(path);
  const header = [...Array.from({ length: 28 }, (_, i) => `f${i}`), 'label'];
  let buf = `${header.join(',')}\n`;
  const f = new Float64Array(28);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < 21; i++) f[i] = i % 3 === 0 ? Math.exp(0.5 * normal()) : i % 3 === 1 ? normal() : (rand() * 2 - 1) * Math.PI;
    f[21] = Math.sqrt(f[0]! ** 2 + f[3]! ** 2);
    f[22] = f[1]! * f[4]!;
    f[23] = Math.sin(f[2]!) * f[6]!;
    f[24] = Math.abs(f[5]! - f[8]!);
    f[25] = f[9]! / (1 + f[12]!);
    f[26] = Math.cos(f[11]! - f[14]!) * f[15]!;
    f[27] = f[16]! + 0.3 * normal();
    // f[21..27] were just assigned, so TypeScript knows them; the low-level ones come from the loop.
    const logit = 0.9 * (f[21] - 1.6) + 0.6 * f[22] + 0.8 * f[23] - 0.5 * f[24] + 0.7 * (f[7]! > 0.5 && f[10]! < 0 ? 1 : 0)
      + 0.4 * f[26] - 0.3 * f[13]! * f[19]! + 0.5 * Math.tanh(f[27]) + 0.6 * normal();
    const label = rand() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    const cells: string[] = [];
    for (let i = 0; i < 28; i++) cells.push((i === 12 || i === 17) && rand() < 0.02 ? '' : f[i]!.toFixed(5));
    cells.push(String(label));
    buf += `${cells.join(',')}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      buf = '';
    }
  }
  out.write(buf);
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await generateGbdtCsv(process.argv[2] ?? 'gbdt.csv', Number(process.argv[3] ?? 1_000_000));
}
