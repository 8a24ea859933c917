/**
 * A few of the CSS variables VS Code gives every webview, with the values of its built-in
 * "Light Modern", "Dark Modern" and "Dark High Contrast" themes (the HC chart colours are
 * VS Code's defaults for that theme kind). VS Code sets them on <html>; here they hang off the
 * body class VS Code also sets, so a test switches theme by switching the class.
 */
const common = `
  --vscode-font-family: system-ui, "Ubuntu", "Droid Sans", sans-serif;
  --vscode-font-size: 13px;
  --vscode-font-weight: normal;`;

export const THEME_CSS = `
body.vscode-light {${common}
  --vscode-foreground: #3b3b3b;
  --vscode-descriptionForeground: #3b3b3b;
  --vscode-editor-background: #ffffff;
  --vscode-editor-foreground: #3b3b3b;
  --vscode-widget-border: #e5e5e5;
  --vscode-panel-border: #e5e5e5;
  --vscode-editorGroup-border: #e5e5e5;
  --vscode-focusBorder: #005fb8;
  --vscode-errorForeground: #f85149;
  --vscode-button-background: #005fb8;
  --vscode-button-foreground: #ffffff;
  --vscode-button-hoverBackground: #0258a8;
  --vscode-button-border: #0000001a;
  --vscode-button-secondaryBackground: #e5e5e5;
  --vscode-button-secondaryForeground: #3b3b3b;
  --vscode-button-secondaryHoverBackground: #cccccc;
  --vscode-badge-background: #cccccc;
  --vscode-badge-foreground: #3b3b3b;
  --vscode-checkbox-background: #f8f8f8;
  --vscode-checkbox-border: #cecece;
  --vscode-settings-checkboxBackground: #f8f8f8;
  --vscode-settings-checkboxBorder: #cecece;
  --vscode-settings-checkboxForeground: #3b3b3b;
  --vscode-charts-foreground: #3b3b3b;
  --vscode-charts-lines: rgba(59, 59, 59, 0.5);
  --vscode-charts-red: #e51400;
  --vscode-charts-blue: #1a85ff;
  --vscode-charts-yellow: #bf8803;
  --vscode-charts-orange: #d18616;
  --vscode-charts-green: #388a34;
  --vscode-charts-purple: #652d90;
  --vscode-editorHoverWidget-background: #f8f8f8;
  --vscode-editorHoverWidget-border: #c8c8c8;
  --vscode-editor-selectionBackground: #add6ff;
  --vscode-keybindingTable-rowsBackground: rgba(59, 59, 59, 0.04);
}
body.vscode-dark {${common}
  --vscode-foreground: #cccccc;
  --vscode-descriptionForeground: #9d9d9d;
  --vscode-editor-background: #1f1f1f;
  --vscode-editor-foreground: #cccccc;
  --vscode-widget-border: #313131;
  --vscode-panel-border: #2b2b2b;
  --vscode-editorGroup-border: #ffffff17;
  --vscode-focusBorder: #0078d4;
  --vscode-errorForeground: #f85149;
  --vscode-button-background: #0078d4;
  --vscode-button-foreground: #ffffff;
  --vscode-button-hoverBackground: #026ec1;
  --vscode-button-border: #ffffff12;
  --vscode-button-secondaryBackground: #313131;
  --vscode-button-secondaryForeground: #cccccc;
  --vscode-button-secondaryHoverBackground: #3c3c3c;
  --vscode-badge-background: #616161;
  --vscode-badge-foreground: #f8f8f8;
  --vscode-checkbox-background: #313131;
  --vscode-checkbox-border: #3c3c3c;
  --vscode-settings-checkboxBackground: #313131;
  --vscode-settings-checkboxBorder: #3c3c3c;
  --vscode-settings-checkboxForeground: #cccccc;
  --vscode-charts-foreground: #cccccc;
  --vscode-charts-lines: rgba(204, 204, 204, 0.5);
  --vscode-charts-red: #f14c4c;
  --vscode-charts-blue: #3794ff;
  --vscode-charts-yellow: #cca700;
  --vscode-charts-orange: #d18616;
  --vscode-charts-green: #89d185;
  --vscode-charts-purple: #b180d7;
  --vscode-editorHoverWidget-background: #202020;
  --vscode-editorHoverWidget-border: #454545;
  --vscode-editor-selectionBackground: #264f78;
  --vscode-keybindingTable-rowsBackground: rgba(204, 204, 204, 0.04);
}
body.vscode-high-contrast {${common}
  --vscode-foreground: #ffffff;
  --vscode-descriptionForeground: rgba(255, 255, 255, 0.7);
  --vscode-editor-background: #000000;
  --vscode-editor-foreground: #ffffff;
  --vscode-contrastBorder: #6fc3df;
  --vscode-contrastActiveBorder: #f38518;
  --vscode-widget-border: #6fc3df;
  --vscode-panel-border: #6fc3df;
  --vscode-editorGroup-border: #6fc3df;
  --vscode-focusBorder: #f38518;
  --vscode-errorForeground: #f48771;
  --vscode-button-background: #000000;
  --vscode-button-foreground: #ffffff;
  --vscode-button-border: #6fc3df;
  --vscode-button-secondaryBackground: #000000;
  --vscode-button-secondaryForeground: #ffffff;
  --vscode-badge-background: #000000;
  --vscode-badge-foreground: #ffffff;
  --vscode-checkbox-background: #000000;
  --vscode-checkbox-border: #6fc3df;
  --vscode-settings-checkboxBackground: #000000;
  --vscode-settings-checkboxBorder: #6fc3df;
  --vscode-settings-checkboxForeground: #ffffff;
  --vscode-charts-foreground: #ffffff;
  --vscode-charts-lines: rgba(255, 255, 255, 0.5);
  --vscode-charts-red: #f48771;
  --vscode-charts-blue: #3794ff;
  --vscode-charts-yellow: #cca700;
  --vscode-charts-orange: #d18616;
  --vscode-charts-green: #89d185;
  --vscode-charts-purple: #b180d7;
  --vscode-editorHoverWidget-background: #0c141f;
  --vscode-editorHoverWidget-border: #6fc3df;
  --vscode-editor-selectionBackground: #ffffff;
}
`;
