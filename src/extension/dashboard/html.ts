/**
 * The run dashboard's HTML: a pure function of strings (no `vscode` import), so the page the
 * extension shows is exactly the page the browser tests load. Only local resources (the
 * bundled script and stylesheet) and a strict CSP: scripts only with this page's nonce,
 * styles only from the extension's resource origin (or with the nonce), nothing else.
 * Constructable stylesheets (how @vscode-elements' Lit components style their shadow roots)
 * are not governed by `style-src`, and the page uses no inline `style` attributes, so no
 * 'unsafe-inline' is needed.
 */

export interface DashboardHtmlOptions {
  /** webview.asWebviewUri(dist/webview/dashboard.js) as a string. */
  scriptUri: string;
  /** webview.asWebviewUri(dist/webview/dashboard.css) as a string. */
  styleUri: string;
  /** webview.cspSource. */
  cspSource: string;
  /** A fresh nonce per page load (makeNonce()). */
  nonce: string;
  /** Page title (the run name). */
  title: string;
  /** Class of the root element (the page's script fills it); default `dashboard`. The Compare view passes `compare`. */
  rootClass?: string;
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The Content-Security-Policy of the dashboard page. */
export function dashboardCsp(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export function dashboardHtml(o: DashboardHtmlOptions): string {
  if (!/^[A-Za-z0-9+/_-]{16,}={0,2}$/.test(o.nonce)) throw new Error('dashboardHtml: the nonce must be 16+ base64 characters');
  // Desktop VS Code gives one source (`https://*.vscode-cdn.net`), VS Code for the Web
  // (code-server, vscode.dev) a list: `'self' https://*.vscode-cdn.net`. Anything that could
  // end the directive or add a keyword ('unsafe-inline', …) is refused.
  const sources = o.cspSource.trim().split(/\s+/);
  if (!o.cspSource.trim() || !sources.every((s) => s === "'self'" || /^[^;,'"]+$/.test(s))) throw new Error(`dashboardHtml: unexpected cspSource ${JSON.stringify(o.cspSource)}`);
  const csp = dashboardCsp(sources.join(' '), o.nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${escapeHtml(o.styleUri)}">
  <title>${escapeHtml(o.title)}</title>
</head>
<body>
  <div id="root" class="${escapeHtml(o.rootClass ?? 'dashboard')}"></div>
  <script nonce="${o.nonce}" src="${escapeHtml(o.scriptUri)}"></script>
</body>
</html>
`;
}

/** 32 random alphanumeric characters (Web Crypto, present in Node ≥ 19 and browsers). */
export function makeNonce(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  // 256 % 62 ≠ 0: reject the top of the range so every character is equally likely.
  let out = '';
  for (let i = 0; out.length < 32; i++) {
    const b = i < bytes.length ? bytes[i] : crypto.getRandomValues(new Uint8Array(1))[0];
    if (b < 248) out += chars[b % 62];
  }
  return out;
}
