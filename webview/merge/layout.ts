/**
 * The Merge page's static structure. It holds no user data (adapter names, paths and figures are
 * set with textContent later), so assigning it as HTML is safe; nothing in it is inline script
 * or inline style, which the webview's CSP would refuse.
 */
import { MERGE_METHOD_NAMES } from '../../src/protocol/merge';

/** One line per method: what it computes, and where it is exact. */
export const METHOD_HINTS: Record<(typeof MERGE_METHOD_NAMES)[number], string> = {
  linear: 'Exact: ΔW = Σ wᵢ·ΔWᵢ, the factors side by side (rank = Σ rᵢ). Nothing is lost.',
  cat: 'Same as linear (PEFT’s name): the exact sum, the factors concatenated (rank = Σ rᵢ).',
  svd: 'The best rank-k approximation of the exact Σ wᵢ·ΔWᵢ (truncated SVD); the preview shows how much of ‖ΔW‖ each module keeps.',
  ties: 'TIES-Merging (Yadav et al. 2023): keep the largest density of each ΔWᵢ, elect a sign per entry, sum those that agree; then rank k.',
  dare_linear: 'DARE (Yu et al. 2024): drop entries of each ΔWᵢ at random (keep density, rescale by 1/density), weighted sum; then rank k.',
  dare_ties: 'DARE’s random drop and rescale, then TIES’s sign election; then rank k.',
  magnitude_prune: 'Keep the largest density of each ΔWᵢ by magnitude, weighted sum; then rank k.',
};

const param = (key: string, label: string, control: string, hint: string): string => `
    <label class="param" data-param="${key}" title="${hint}"><span>${label}</span>${control}</label>`;

export const LAYOUT = `
<header class="top">
  <h1>Merge adapters</h1>
  <span class="muted">One adapter from several of the same base model. Nothing is written until you press Merge.</span>
</header>
<section class="block" aria-labelledby="adapters-title">
  <h2 id="adapters-title">Adapters and weights</h2>
  <table class="grid adapters">
    <thead><tr><th scope="col">Adapter</th><th scope="col" class="num">r · α</th><th scope="col" class="num">Weight</th><th scope="col"><span class="sr-only">Remove</span></th></tr></thead>
    <tbody id="adapter-rows"></tbody>
  </table>
  <p id="no-adapters" class="muted empty">No adapters yet: add two or more.</p>
  <vscode-button id="add" secondary>Add adapters…</vscode-button>
</section>
<section class="block" aria-labelledby="method-title">
  <h2 id="method-title">Method</h2>
  <div class="params">${param('method', 'Method', `<vscode-single-select id="method" aria-label="Merge method">${MERGE_METHOD_NAMES.map((m) => `<vscode-option value="${m}">${m}</vscode-option>`).join('')}</vscode-single-select>`, 'combination_type in PEFT’s add_weighted_adapter')}${param('rank', 'Rank k', '<vscode-textfield id="rank" type="number" min="1" step="1" placeholder="largest input"></vscode-textfield>', 'r of every module of the result; empty: the largest input rank')}${param('density', 'Density', '<vscode-textfield id="density" value="0.5" aria-label="Density"></vscode-textfield>', 'fraction of each ΔW’s entries kept, in (0, 1]')}${param('majority_sign', 'Majority sign', '<vscode-single-select id="majority-sign" aria-label="Majority sign"><vscode-option value="total">total</vscode-option><vscode-option value="frequency">frequency</vscode-option></vscode-single-select>', 'TIES sign election: by the summed values (total) or by count (frequency)')}${param('seed', 'Seed', '<vscode-textfield id="seed" type="number" min="0" step="1" placeholder="0"></vscode-textfield>', 'seed of DARE’s random masks; the same seed gives the same adapter')}
  </div>
  <p id="method-hint" class="muted hint"></p>
</section>
<section class="block controls" aria-label="Output">
  <div class="name-block">
    <label class="param name" for="name"><span>Name</span><vscode-textfield id="name" placeholder="merged-1"></vscode-textfield></label>
    <span id="out-path" class="muted out-path"></span>
  </div>
  <div class="actions">
    <vscode-button id="preview-button" secondary>Preview</vscode-button>
    <vscode-button id="merge-button">Merge</vscode-button>
    <vscode-button id="stop" secondary hidden>Stop</vscode-button>
    <span id="status" class="muted" role="status"></span>
  </div>
</section>
<div id="error" class="error" role="alert" hidden></div>
<div id="done" class="done" role="status" hidden></div>
<section id="preview" class="block preview" aria-labelledby="preview-title" hidden>
  <h2 id="preview-title">Result per module</h2>
  <p id="summary" class="summary"></p>
  <p id="stale" class="muted stale" hidden>The settings changed since this preview — press Preview again.</p>
  <table class="grid modules">
    <thead><tr><th scope="col">Module</th><th scope="col" class="num">r</th><th scope="col" class="num">Kept ‖ΔW‖<sub>F</sub></th><th scope="col" class="num">Size</th></tr></thead>
    <tbody id="module-rows"></tbody>
  </table>
</section>`;
