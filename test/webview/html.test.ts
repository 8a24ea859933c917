/** The dashboard page's HTML: CSP, escaping, nonce. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dashboardCsp, dashboardHtml, makeNonce } from '../../src/extension/dashboard/html';

const base = {
  scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/dashboard.js',
  styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/dashboard.css',
  cspSource: 'https://*.vscode-cdn.net',
  title: 'run',
};

test('strict CSP: nonce scripts, local styles, nothing remote or inline', () => {
  const nonce = makeNonce();
  assert.equal(
    dashboardCsp(base.cspSource, nonce),
    `default-src 'none'; img-src https://*.vscode-cdn.net data:; style-src https://*.vscode-cdn.net 'nonce-${nonce}'; ` +
      `script-src 'nonce-${nonce}'; font-src https://*.vscode-cdn.net; base-uri 'none'; form-action 'none'`,
  );
  const html = dashboardHtml({ ...base, nonce });
  assert.match(html, new RegExp(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; [^"]*script-src 'nonce-${nonce}'`.replace(/'/g, '&#39;')));
  assert.match(html, new RegExp(`<script nonce="${nonce}" src="${base.scriptUri.replace(/[.+*]/g, '\\$&')}"></script>`));
  assert.match(html, /<link rel="stylesheet" href="https:\/\/file\+\.vscode-resource/);
  assert.doesNotMatch(html, /unsafe-inline|unsafe-eval|http:\/\/|style="/);
  assert.equal((html.match(/<script/g) ?? []).length, 1);
});

test('the title and URIs are escaped; a bad nonce or cspSource is refused', () => {
  const html = dashboardHtml({ ...base, nonce: makeNonce(), title: '<img src=x onerror=alert(1)> & "q"' });
  assert.match(html, /<title>&lt;img src=x onerror=alert\(1\)&gt; &amp; &quot;q&quot;<\/title>/);
  assert.throws(() => dashboardHtml({ ...base, nonce: "abc' 'unsafe-inline" }), /nonce/);
  assert.throws(() => dashboardHtml({ ...base, nonce: makeNonce(), cspSource: "x; script-src 'unsafe-inline'" }), /cspSource/);
});

test('makeNonce: 32 alphanumerics, different every time', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const n = makeNonce();
    assert.match(n, /^[A-Za-z0-9]{32}$/);
    seen.add(n);
  }
  assert.equal(seen.size, 200);
});

test('VS Code for the Web passes a list of CSP sources: accepted, keywords other than self refused', () => {
  const html = dashboardHtml({ scriptUri: 'https://x.vscode-cdn.net/d.js', styleUri: 'https://x.vscode-cdn.net/d.css', cspSource: "'self' https://*.vscode-cdn.net", nonce: 'abcdefghijklmnop1234', title: 't' });
  assert.match(html, /script-src &#39;nonce-abcdefghijklmnop1234&#39;/);
  assert.match(html, /style-src &#39;self&#39; https:\/\/\*\.vscode-cdn\.net/);
  assert.throws(() => dashboardHtml({ scriptUri: 'a', styleUri: 'b', cspSource: "'self' 'unsafe-inline'", nonce: 'abcdefghijklmnop1234', title: 't' }));
});
