/**
 * The playground's static structure. It holds no user data (prompts, answers and names are set
 * with textContent later), so assigning it as HTML is safe; nothing in it is inline script or
 * inline style, which the webview's CSP would refuse.
 */
const column = (name: 'base' | 'adapter', title: string): string => `
    <section class="column" data-column="${name}" aria-label="${title}">
      <header class="column-head"><h2>${title}</h2><span class="column-label muted" id="${name}-label"></span></header>
      <pre class="output" id="${name}-output" aria-live="polite"></pre>
      <footer class="column-foot muted" id="${name}-foot"></footer>
    </section>`;

const number = (id: string, label: string, attrs: string, hint: string): string => `
    <label class="param" for="${id}" title="${hint}"><span>${label}</span><vscode-textfield id="${id}" type="number" ${attrs}></vscode-textfield></label>`;

export const LAYOUT = `
<header class="top">
  <div class="title">
    <h1>Playground</h1>
    <span id="model-name" class="muted">no model yet</span>
  </div>
  <div class="adapter">
    <span class="muted">Adapter</span>
    <vscode-badge id="adapter-badge" class="adapter-badge">none</vscode-badge>
    <vscode-button id="change-adapter" secondary>Change…</vscode-button>
  </div>
</header>
<div class="toolbar">
  <vscode-checkbox id="side-by-side" label="Side by side: base model | adapter" checked></vscode-checkbox>
  <vscode-checkbox id="chat-mode" label="Chat (the model's chat template)" disabled></vscode-checkbox>
  <label class="history"><span>History</span><vscode-single-select id="history" aria-label="Prompt history"></vscode-single-select></label>
</div>
<section class="input">
  <vscode-textarea id="system" rows="2" placeholder="System message (optional)" aria-label="System message" hidden></vscode-textarea>
  <vscode-textarea id="prompt" rows="5" placeholder="Prompt — Ctrl+Enter generates" aria-label="Prompt"></vscode-textarea>
</section>
<div class="controls">
  <div class="params">${number('max-new-tokens', 'Max new tokens', 'min="1" max="4096" step="1" value="128"', 'max_new_tokens: tokens generated at most')}${number('temperature', 'Temperature', 'min="0" max="5" step="0.05" value="0.7"', 'temperature: 0 decodes greedily')}${number('top-p', 'Top-p', 'min="0.01" max="1" step="0.01" value="0.9"', 'top_p: nucleus sampling; 1 keeps every token')}${number('top-k', 'Top-k', 'min="0" max="1000" step="1" value="50"', 'top_k: 0 keeps every token')}${number('seed', 'Seed', 'min="0" step="1" placeholder="random"', 'seed: the same seed repeats a sampled answer; empty = random')}
  </div>
  <div class="actions">
    <vscode-button id="generate">Generate</vscode-button>
    <vscode-button id="stop" secondary disabled>Stop</vscode-button>
    <span id="status" class="muted" role="status"></span>
  </div>
</div>
<div id="error" class="error" role="alert" hidden></div>
<main id="columns" class="columns two">${column('base', 'Base model')}${column('adapter', 'With adapter')}
</main>`;
