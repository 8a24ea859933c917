/**
 * The Compare page's static structure. It holds no run data (values are set with textContent
 * later), so assigning it as HTML is safe; nothing in it is inline script or inline style,
 * which the webview's CSP would refuse.
 */
import { type LossSeries, X_AXES } from './model';

const lossFigure = (name: LossSeries, title: string, picker = ''): string => `
    <figure class="chart" data-chart="${name}"${name === 'eval' ? ' hidden' : ''}>
      <figcaption><span>${title}</span>${picker}<vscode-button class="export-png" data-chart="${name}" secondary title="Save this chart as a PNG image">Export PNG</vscode-button></figcaption>
      <div class="canvas-box">
        <canvas role="img" aria-label="${title} of every run"></canvas>
        <div class="zoom-band" hidden></div>
        <div class="hover-line" hidden></div>
        <div class="readout" hidden></div>
        <div class="empty" hidden>No data</div>
      </div>
    </figure>`;

export const LAYOUT = `
<header class="top">
  <div class="title">
    <h1 id="title">Compare runs</h1>
    <span id="subtitle" class="muted"></span>
  </div>
  <div class="actions">
    <vscode-button id="export-csv" title="Save the runs table (with every hyperparameter) as CSV">Export CSV</vscode-button>
  </div>
</header>
<ul id="problems" class="problems" hidden></ul>
<div class="toolbar">
  <label class="smoothing" title="TensorBoard-style de-biased exponential moving average of the train loss (as on the dashboard); validation loss is drawn raw">
    <span>Smoothing</span>
    <input id="smoothing" type="range" min="0" max="0.99" step="0.01" value="0">
    <output id="smoothing-value" for="smoothing">0.00</output>
  </label>
  <label class="axis">
    <span>X axis</span>
    <select id="x-axis">${X_AXES.map((a) => `<option value="${a.axis}">${a.label}</option>`).join('')}</select>
  </label>
  <vscode-checkbox id="log-scale" label="Log scale"></vscode-checkbox>
  <vscode-button id="reset-zoom" secondary disabled>Reset zoom</vscode-button>
  <span class="muted hint">Drag across a chart to zoom; double-click to reset. Runs with different batch sizes line up on tokens seen.</span>
</div>
<p id="axis-note" class="note" hidden></p>
<section class="charts" aria-label="Loss curves">${lossFigure('train', 'Train loss')}${lossFigure('val', 'Validation loss')}${lossFigure(
  'eval',
  'Eval set',
  '<label class="axis eval-pick" title="Eval-set results logged at checkpoints (eval/&lt;set&gt;/&lt;metric&gt;)"><span class="sr-only">Eval metric</span><select id="eval-key"></select></label>',
)}
</section>
<section class="block" aria-labelledby="runs-heading">
  <h2 id="runs-heading">Runs</h2>
  <p class="muted hint">Click a column to sort, a row to highlight its curves (again to clear); double-click a row to open its dashboard.</p>
  <div class="table-box"><table id="runs-table" class="data"></table></div>
</section>
<section class="block" aria-labelledby="hyper-heading">
  <div class="block-head">
    <h2 id="hyper-heading">Hyperparameters</h2>
    <vscode-checkbox id="diff-only" label="Differences only" checked></vscode-checkbox>
  </div>
  <p id="hyper-note" class="muted hint"></p>
  <div class="table-box"><table id="hyper-table" class="data"></table></div>
</section>
<section class="block" aria-labelledby="scatter-heading">
  <div class="block-head">
    <h2 id="scatter-heading">Hyperparameter vs best validation loss</h2>
    <label class="axis"><span>Hyperparameter</span><select id="scatter-key"></select></label>
    <vscode-button class="export-png" data-chart="scatter" secondary title="Save this chart as a PNG image">Export PNG</vscode-button>
  </div>
  <p id="scatter-note" class="muted hint"></p>
  <figure class="chart scatter" data-chart="scatter">
    <div class="canvas-box">
      <canvas role="img" aria-label="Best validation loss against the chosen hyperparameter, one series per LoRA rank"></canvas>
      <div class="empty" hidden>No run has a validation loss yet</div>
    </div>
  </figure>
</section>
<section class="block generations" aria-labelledby="generations-heading">
  <h2 id="generations-heading">Side-by-side generations</h2>
  <p class="muted hint">One prompt; the base model and every selected run's final adapter complete it in columns, streamed from the inference worker. Temperature 0 is greedy: the columns then differ only by their weights.</p>
  <div class="gen-form">
    <textarea id="gen-prompt" rows="3" placeholder="Prompt (Ctrl+Enter generates)" aria-label="Prompt"></textarea>
    <div class="gen-controls">
      <label class="axis"><span>Max new tokens</span><input id="gen-max" type="number" min="1" max="4096" step="1" value="128"></label>
      <label class="axis"><span>Temperature</span><input id="gen-temp" type="number" min="0" max="2" step="0.1" value="0"></label>
      <vscode-button id="gen-run">Generate</vscode-button>
      <vscode-button id="gen-stop" secondary disabled>Stop</vscode-button>
    </div>
  </div>
  <ul id="gen-notes" class="gen-notes muted" hidden></ul>
  <p id="gen-error" class="gen-error" role="alert" hidden></p>
  <div id="generations" class="generation-columns" aria-live="polite" hidden></div>
</section>`;
