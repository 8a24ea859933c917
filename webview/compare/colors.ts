/**
 * One colour per run. Up to six runs take the theme's own chart colours (`--vscode-charts-*`);
 * more runs take hues spaced by the golden angle (≈ 137.5°, so neighbours in the list differ
 * most), at a lightness that keeps contrast with the theme's background.
 */
import type { Theme } from '../dashboard/theme';

const GOLDEN_ANGLE = 137.508;

export function runColors(n: number, theme: Theme): string[] {
  const c = theme.charts;
  if (n <= 6) return [c.blue, c.orange, c.green, c.purple, c.red, c.yellow].slice(0, n);
  const light = theme.kind === 'light' || theme.kind === 'high-contrast-light';
  const hc = theme.kind === 'high-contrast' || theme.kind === 'high-contrast-light';
  const lightness = light ? (hc ? 32 : 42) : hc ? 70 : 63;
  const saturation = hc ? 90 : 70;
  return Array.from({ length: n }, (_, i) => `hsl(${((210 + i * GOLDEN_ANGLE) % 360).toFixed(1)}, ${saturation}%, ${lightness}%)`);
}
