/**
 * Makes the Marketplace images with headless Chromium (playwright-core, as the webview tests):
 * media/icon.png (128×128) from media/icon.svg, and small copies of the real-editor screenshots
 * (test-output/e2e-*.png, written by `npm test`'s e2e suite) in media/readme/ for README.vscode.md.
 *   node --import tsx scripts/readme-media.ts
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = join(import.meta.dirname, '..');
const CHROMIUM = process.env.LORALAB_CHROMIUM ?? '/usr/bin/chromium';
/** test-output/e2e-<name>.png → media/readme/<name>.png, this wide. */
const SHOTS = ['dashboard', 'compare', 'playground', 'advisor'];
const WIDTH = 800;

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  const icon = await browser.newPage({ viewport: { width: 128, height: 128 }, deviceScaleFactor: 1 });
  await icon.setContent(`<html><body style="margin:0;background:transparent">${readFileSync(join(ROOT, 'media/icon.svg'), 'utf8')}</body></html>`);
  await icon.screenshot({ path: join(ROOT, 'media/icon.png'), omitBackground: true, clip: { x: 0, y: 0, width: 128, height: 128 } });
  mkdirSync(join(ROOT, 'media/readme'), { recursive: true });
  for (const name of SHOTS) {
    const src = join(ROOT, 'test-output', `e2e-${name}.png`);
    if (!existsSync(src)) {
      process.stderr.write(`readme-media: ${src} is missing; run the e2e suite first\n`);
      continue;
    }
    const height = Math.round((WIDTH * 1000) / 1600);
    const page = await browser.newPage({ viewport: { width: WIDTH, height }, deviceScaleFactor: 1 });
    const data = readFileSync(src).toString('base64');
    await page.setContent(`<html><body style="margin:0"><img style="width:${WIDTH}px;display:block" src="data:image/png;base64,${data}"></body></html>`);
    await page.screenshot({ path: join(ROOT, 'media/readme', `${name}.png`), clip: { x: 0, y: 0, width: WIDTH, height } });
    await page.close();
  }
} finally {
  await browser.close();
}
