/**
 * Chart colours and fonts, read from the CSS variables VS Code defines for every webview
 * (`--vscode-charts-blue`, `--vscode-foreground`, …), so the charts follow the user's colour
 * theme. VS Code marks the theme kind with a body class (`vscode-light`, `vscode-dark`,
 * `vscode-high-contrast`, `vscode-high-contrast-light`) and sets the variables on <html>; both
 * are watched, and a change re-reads everything.
 */

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

export interface Theme {
  kind: ThemeKind;
  foreground: string;
  /** Secondary text (tick labels). */
  muted: string;
  /** Grid lines. */
  grid: string;
  background: string;
  /** Border drawn around the plot in high contrast themes; null elsewhere. */
  contrastBorder: string | null;
  tooltipBackground: string;
  tooltipBorder: string;
  fontFamily: string;
  fontSize: number;
  charts: { blue: string; orange: string; green: string; purple: string; red: string; yellow: string };
  /** Opacity of the raw series drawn behind a smoothed one. */
  faintAlpha: number;
}

export type ChartColor = keyof Theme['charts'];

function cssVar(style: CSSStyleDeclaration, name: string, fallback: string): string {
  const v = style.getPropertyValue(name).trim();
  return v || fallback;
}

export function themeKind(body: HTMLElement = document.body): ThemeKind {
  const c = body.classList;
  if (c.contains('vscode-high-contrast-light')) return 'high-contrast-light';
  if (c.contains('vscode-high-contrast')) return 'high-contrast';
  if (c.contains('vscode-light')) return 'light';
  return 'dark';
}

/** Reads the current theme. Fallbacks are VS Code's Dark Modern / Light Modern values. */
export function readTheme(): Theme {
  const kind = themeKind();
  const light = kind === 'light' || kind === 'high-contrast-light';
  const hc = kind === 'high-contrast' || kind === 'high-contrast-light';
  const s = getComputedStyle(document.documentElement);
  const b = getComputedStyle(document.body);
  const v = (name: string, fallback: string): string => cssVar(b, name, cssVar(s, name, fallback));
  const foreground = v('--vscode-foreground', light ? '#3b3b3b' : '#cccccc');
  const chartsForeground = v('--vscode-charts-foreground', foreground);
  const contrastBorder = hc ? v('--vscode-contrastBorder', light ? '#0f4a85' : '#6fc3df') : null;
  return {
    kind,
    foreground: chartsForeground,
    muted: hc ? chartsForeground : v('--vscode-descriptionForeground', chartsForeground),
    grid: withAlpha(v('--vscode-charts-lines', light ? 'rgba(59, 59, 59, 0.5)' : 'rgba(204, 204, 204, 0.5)'), hc ? 0.5 : 0.35),
    background: v('--vscode-editor-background', light ? '#ffffff' : '#1f1f1f'),
    contrastBorder,
    tooltipBackground: v('--vscode-editorHoverWidget-background', light ? '#f8f8f8' : '#202020'),
    tooltipBorder: contrastBorder ?? v('--vscode-editorHoverWidget-border', light ? '#c8c8c8' : '#454545'),
    fontFamily: v('--vscode-font-family', 'system-ui, sans-serif'),
    fontSize: parseFloat(v('--vscode-font-size', '13px')) || 13,
    charts: {
      blue: v('--vscode-charts-blue', light ? '#1a85ff' : '#3794ff'),
      orange: v('--vscode-charts-orange', '#d18616'),
      green: v('--vscode-charts-green', light ? '#388a34' : '#89d185'),
      purple: v('--vscode-charts-purple', light ? '#652d90' : '#b180d7'),
      red: v('--vscode-charts-red', light ? '#e51400' : '#f14c4c'),
      yellow: v('--vscode-charts-yellow', light ? '#bf8803' : '#cca700'),
    },
    faintAlpha: hc ? 0.45 : light ? 0.3 : 0.28,
  };
}

let probe: CanvasRenderingContext2D | null = null;

/**
 * `color` (any CSS colour: #rgb, #rrggbbaa, rgb(), a name…) with its alpha multiplied by
 * `alpha`, as rgba(). The browser's canvas parser normalises the colour for us.
 */
export function withAlpha(color: string, alpha: number): string {
  probe ??= document.createElement('canvas').getContext('2d');
  if (!probe) return color;
  probe.fillStyle = '#000000';
  probe.fillStyle = color;
  const norm = String(probe.fillStyle);
  let r = 0;
  let g = 0;
  let b = 0;
  let a = 1;
  const hex = /^#([0-9a-f]{6})$/i.exec(norm);
  if (hex) {
    const n = parseInt(hex[1], 16);
    r = n >> 16;
    g = (n >> 8) & 255;
    b = n & 255;
  } else {
    const m = /rgba?\(([^)]+)\)/.exec(norm);
    if (!m) return color;
    const parts = m[1].split(',').map((p) => parseFloat(p));
    [r, g, b] = parts;
    if (parts.length > 3) a = parts[3];
  }
  return `rgba(${r}, ${g}, ${b}, ${+(a * alpha).toFixed(3)})`;
}

/**
 * Calls `onChange` (at most once per frame) when the theme kind (body class) or the theme
 * variables (the style attribute VS Code writes on <html>) change.
 */
export function watchTheme(onChange: () => void): () => void {
  let pending = 0;
  const fire = (): void => {
    if (pending) return;
    pending = requestAnimationFrame(() => {
      pending = 0;
      onChange();
    });
  };
  const obs = new MutationObserver(fire);
  obs.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  obs.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  return () => obs.disconnect();
}
