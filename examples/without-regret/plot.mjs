// Reads a finished without-regret sweep folder and writes, beside this script:
//   results.json    every point (r, learning_rate, final val_loss) and the best rate per rank
//   lr-vs-loss.svg  final validation loss against learning rate (log scale), one line per rank
//
//   node examples/without-regret/plot.mjs .loralab/runs/without-regret-sweep-<date>-<time>
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sweepDir = process.argv[2];
if (!sweepDir) {
  console.error('usage: node plot.mjs SWEEP_DIR (the folder loralab sweep printed)');
  process.exit(2);
}
const sweep = JSON.parse(readFileSync(join(sweepDir, 'sweep.json'), 'utf8'));
const finalVal = (runDir) => {
  if (!runDir) return null;
  const rows = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });
  const v = rows.filter((r) => typeof r.val_loss === 'number').at(-1);
  const status = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')).status;
  return status === 'completed' && v ? v.val_loss : null; // a failed (diverged) run has no final loss
};
const points = sweep.points.map((p) => ({ r: p.values['lora.r'], learning_rate: p.values['training.learning_rate'], val_loss: finalVal(p.run_dir) }));
const ranks = [...new Set(points.map((p) => p.r))].sort((a, b) => a - b);
const lrs = [...new Set(points.map((p) => p.learning_rate))].sort((a, b) => a - b);
const best = ranks.map((r) => {
  const ok = points.filter((p) => p.r === r && p.val_loss !== null);
  const b = ok.reduce((x, y) => (y.val_loss < x.val_loss ? y : x));
  return { r, learning_rate: b.learning_rate, val_loss: b.val_loss };
});
const bestLrs = best.map((b) => b.learning_rate);
const spread = Math.max(...bestLrs) / Math.min(...bestLrs);
writeFileSync(join(here, 'results.json'), `${JSON.stringify({ sweep: sweep.name, parameters: sweep.parameters, points, best_per_rank: best, best_lr_spread: spread }, null, 2)}\n`);

// --- SVG: x = log10(lr), y = val_loss ---------------------------------------------------------
const W = 640, H = 400, L = 64, R = 110, T = 36, B = 52;
const finite = points.filter((p) => p.val_loss !== null).map((p) => p.val_loss);
const yMin = Math.floor(Math.min(...finite) * 10) / 10, yMax = Math.ceil(Math.max(...finite) * 10) / 10;
const x = (lr) => L + ((Math.log10(lr) - Math.log10(lrs[0])) / (Math.log10(lrs.at(-1)) - Math.log10(lrs[0]))) * (W - L - R);
const y = (v) => T + ((yMax - v) / (yMax - yMin)) * (H - T - B);
const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
const parts = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  `<rect width="${W}" height="${H}" fill="white"/>`,
  `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">stories260K on tiny Shakespeare: final validation loss vs learning rate (α 32, 1/r)</text>`,
  `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
];
for (const lr of lrs) parts.push(`<line x1="${x(lr)}" y1="${H - B}" x2="${x(lr)}" y2="${H - B + 5}" stroke="black"/><text x="${x(lr)}" y="${H - B + 18}" text-anchor="middle">${lr}</text>`);
for (let v = yMin; v <= yMax + 1e-9; v += (yMax - yMin) / 5) parts.push(`<line x1="${L - 5}" y1="${y(v)}" x2="${W - R}" y2="${y(v)}" stroke="#ddd"/><text x="${L - 8}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`);
parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">learning rate (log scale)</text>`);
parts.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">final validation loss</text>`);
ranks.forEach((r, i) => {
  const c = colors[i % colors.length];
  const pts = points.filter((p) => p.r === r && p.val_loss !== null).sort((a, b) => a.learning_rate - b.learning_rate);
  parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${x(p.learning_rate).toFixed(1)},${y(p.val_loss).toFixed(1)}`).join(' ')}"/>`);
  for (const p of pts) parts.push(`<circle cx="${x(p.learning_rate).toFixed(1)}" cy="${y(p.val_loss).toFixed(1)}" r="3" fill="${c}"/>`);
  const b = best[i];
  parts.push(`<circle cx="${x(b.learning_rate).toFixed(1)}" cy="${y(b.val_loss).toFixed(1)}" r="7" fill="none" stroke="${c}" stroke-width="2"/>`);
  parts.push(`<line x1="${W - R + 12}" y1="${T + 10 + i * 20}" x2="${W - R + 32}" y2="${T + 10 + i * 20}" stroke="${c}" stroke-width="2"/><text x="${W - R + 38}" y="${T + 14 + i * 20}">r = ${r}</text>`);
});
parts.push(`<text x="${W - R + 12}" y="${T + 14 + ranks.length * 20 + 10}" fill="#555">○ best per rank</text>`, '</svg>');
writeFileSync(join(here, 'lr-vs-loss.svg'), `${parts.join('\n')}\n`);

console.log('rank\tbest learning_rate\tfinal val_loss');
for (const b of best) console.log(`${b.r}\t${b.learning_rate}\t${b.val_loss.toFixed(4)}`);
console.log(`best learning rates span a factor of ${spread.toFixed(1)} across ranks ${ranks.join(', ')}`);
