/**
 * The `@vscode-elements/elements` components the Merge page uses — imported one by one (never
 * the whole library) so the bundle holds only these. Each import registers its custom element.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
