/**
 * The page's static structure. It holds no run data (values are set with textContent
 * later), so assigning it as HTML is safe; nothing in it is inline script or inline style,
 * which the webview's CSP would refuse.
 */
import { CHART_SPECS, type ChartName } from './charts';

const chartFigure = (name: ChartName, title: string, tip?: string): string => `
    <figure class="chart chart-${name}" data-chart="${name}">
      <figcaption${tip ? ` title="${tip}"` : ''}>${title}</figcaption>
      <div class="canvas-box">
        <canvas role="img" aria-label="${tip ?? title} by step"></canvas>
        <div class="zoom-band" hidden></div>
        <div class="empty">Waiting for metrics…</div>
      </div>
    </figure>`;

export const LAYOUT = `
<header class="top">
  <div class="title">
    <h1 id="run-name">Run</h1>
    <vscode-badge id="status-badge" class="status" data-status="">loading</vscode-badge>
    <span id="step-progress" class="muted"></span>
  </div>
  <div class="actions">
    <vscode-button id="stop-run" hidden>Stop run</vscode-button>
    <vscode-button id="reveal-folder" secondary>Reveal run folder</vscode-button>
  </div>
</header>
<section id="summary-band" class="summary-band" aria-label="Run summary" hidden>
  <dl class="summary-numbers">
    <div><dt>Final validation loss</dt><dd data-sum="final">—</dd></div>
    <div><dt>Best validation loss</dt><dd data-sum="best">—</dd></div>
    <div><dt>Wall time</dt><dd data-sum="wall">—</dd></div>
    <div><dt>Tokens</dt><dd data-sum="tokens">—</dd></div>
  </dl>
  <div class="summary-adapter" hidden>
    <span class="muted">Adapter</span> <code data-sum="adapter"></code>
    <vscode-button data-action="activateAdapter">Activate</vscode-button>
    <vscode-button data-action="openAdapterInPlayground" secondary>Open in Playground</vscode-button>
    <vscode-button data-action="revealAdapter" secondary>Reveal</vscode-button>
  </div>
  <vscode-button data-action="resumeRun" hidden>Resume</vscode-button>
</section>
<div class="toolbar">
  <label class="smoothing" title="TensorBoard-style de-biased exponential moving average of train loss, grad norm and tokens/s; the raw values stay drawn, faint, behind">
    <span>Smoothing</span>
    <input id="smoothing" type="range" min="0" max="0.99" step="0.01" value="0">
    <output id="smoothing-value" for="smoothing">0.00</output>
  </label>
  <vscode-checkbox id="log-scale" label="Log scale (loss)"></vscode-checkbox>
  <vscode-button id="reset-zoom" secondary disabled>Reset zoom</vscode-button>
  <span class="muted hint">Drag across a chart to zoom into steps; double-click to reset.</span>
</div>
<main class="layout">
  <section class="charts" aria-label="Metrics">${chartFigure(CHART_SPECS[0].name, CHART_SPECS[0].title, CHART_SPECS[0].tip)}
    <figure class="chart chart-eval" data-chart="eval" hidden>
      <figcaption title="Eval sets run at each checkpoint: eval/&lt;set&gt;/&lt;metric&gt; (mean score, pass rate)">Eval sets</figcaption>
      <div class="canvas-box">
        <canvas role="img" aria-label="Eval-set results by step"></canvas>
        <div class="zoom-band" hidden></div>
      </div>
    </figure>${CHART_SPECS.slice(1).map((c) => chartFigure(c.name, c.title, c.tip)).join('')}
  </section>
  <aside class="side">
    <h2>Run</h2>
    <vscode-table id="facts" zebra bordered-rows columns='["38%", "62%"]'>
      <vscode-table-body id="facts-body" slot="body"></vscode-table-body>
    </vscode-table>
    <h2>Hyperparameters</h2>
    <vscode-table id="hyperparameters" zebra bordered-rows columns='["62%", "38%"]'>
      <vscode-table-body id="hyperparameters-body" slot="body"></vscode-table-body>
    </vscode-table>
  </aside>
</main>`;
