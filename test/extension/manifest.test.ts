// package.json `contributes` against the code: the command table, the contextValues the tree
// produces, view and webview ids, Workspace Trust.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTERS_VIEW, COMMANDS, COMMAND_CATEGORY, DASHBOARD_VIEW_TYPE, EXPERIMENTS_VIEW, PLAYGROUND_VIEW_TYPE } from '../../src/extension/manifest';
import { CONTEXT_VALUES } from '../../src/extension/experiments/model';
import { ADAPTER_CONTEXT_VALUES } from '../../src/extension/adapters/model';
import { ROOT } from '../helpers/paths';

interface MenuItem {
  command: string;
  when?: string;
  group?: string;
}
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const contributes = pkg.contributes;
const menus: Record<string, MenuItem[]> = contributes.menus;
const allMenuItems = Object.values(menus).flat();

test('every command of the table is declared, with category "LoRA Lab", its title and icon — and vice versa', () => {
  const declared = new Map<string, { title: string; category: string; icon?: string }>(contributes.commands.map((c: { command: string }) => [c.command, c]));
  assert.deepEqual([...declared.keys()].sort(), Object.keys(COMMANDS).sort());
  for (const [id, spec] of Object.entries(COMMANDS)) {
    const d = declared.get(id)!;
    assert.equal(d.category, COMMAND_CATEGORY, id);
    assert.equal(d.title, spec.title, id);
    assert.equal(d.icon, 'icon' in spec ? spec.icon : undefined, id);
  }
  assert.equal(COMMAND_CATEGORY, 'LoRA Lab');
});

test('commands hidden from the palette are exactly those marked palette: false', () => {
  const hidden = menus.commandPalette.filter((m) => m.when === 'false').map((m) => m.command).sort();
  const marked = Object.entries(COMMANDS).filter(([, s]) => 'palette' in s && s.palette === false).map(([id]) => id).sort();
  assert.deepEqual(hidden, marked);
  for (const id of ['loralab.newExperiment', 'loralab.startRun', 'loralab.stopRun', 'loralab.resumeRun', 'loralab.openDashboard', 'loralab.refresh', 'loralab.showTokenLoss']) {
    assert.ok(!hidden.includes(id), `${id} is in the palette`);
  }
});

test('every menu item names a command of the table', () => {
  for (const m of allMenuItems) assert.ok(m.command in COMMANDS, m.command);
});

/** The viewItem comparisons of a when clause: ==, != and =~ /regex/. */
function viewItemClauses(when: string): { op: string; value: string }[] {
  const out: { op: string; value: string }[] = [];
  for (const m of when.matchAll(/viewItem\s*(==|!=|=~)\s*(\/(?:[^/\\]|\\.)*\/[a-z]*|[^\s&|)]+)/g)) out.push({ op: m[2].startsWith('/') ? '=~' : m[1], value: m[2] });
  return out;
}

/** The contextValues each tree view produces. */
const VIEW_CONTEXT_VALUES: Record<string, readonly string[]> = { [EXPERIMENTS_VIEW]: CONTEXT_VALUES, [ADAPTERS_VIEW]: ADAPTER_CONTEXT_VALUES };

test('every viewItem in a `when` clause names a contextValue its view produces (a regex matches at least one)', () => {
  const items = menus['view/item/context'];
  assert.ok(items.length > 0);
  let clauses = 0;
  for (const m of items) {
    const view = /view == ([\w.]+)/.exec(m.when ?? '')?.[1];
    assert.ok(view && view in VIEW_CONTEXT_VALUES, `${m.command}: scoped to a tree view of the extension (${m.when})`);
    const CONTEXT_VALUES = VIEW_CONTEXT_VALUES[view];
    const found = viewItemClauses(m.when!);
    assert.ok(found.length > 0, `${m.command}: ${m.when}`);
    for (const { op, value } of found) {
      clauses++;
      if (op === '=~') {
        const [, body, flags] = /^\/(.*)\/([a-z]*)$/.exec(value)!;
        const re = new RegExp(body, flags);
        assert.ok(CONTEXT_VALUES.some((v) => re.test(v)), `${m.command}: ${value} matches no contextValue`);
      } else {
        assert.ok(CONTEXT_VALUES.includes(value), `${m.command}: ${value} is not a contextValue`);
      }
    }
  }
  assert.ok(clauses >= items.length);
  // the clause parser itself
  assert.deepEqual(viewItemClauses('view == v && viewItem =~ /^run-.*-resumable$/ && viewItem != run-running'), [
    { op: '=~', value: '/^run-.*-resumable$/' },
    { op: '!=', value: 'run-running' },
  ]);
});

test('context menus per status: stop only on running runs, resume on resumable ones, delete never on a running run', () => {
  const whenOf = (cmd: string) => menus['view/item/context'].filter((m) => m.command === cmd).map((m) => m.when!);
  const applies = (cmd: string, contextValue: string) =>
    whenOf(cmd).some((w) =>
      viewItemClauses(w).every(({ op, value }) => (op === '==' ? contextValue === value : op === '!=' ? contextValue !== value : new RegExp(value.slice(1, -1)).test(contextValue))),
    );
  assert.deepEqual(CONTEXT_VALUES.filter((v) => applies('loralab.stopRun', v)), ['run-running']);
  assert.deepEqual(CONTEXT_VALUES.filter((v) => applies('loralab.resumeRun', v)).sort(), ['run-crashed-resumable', 'run-failed-resumable', 'run-stopped-resumable']);
  assert.deepEqual(CONTEXT_VALUES.filter((v) => applies('loralab.startRun', v)), ['experiment', 'experiment-runs']);
  assert.ok(!applies('loralab.deleteRun', 'run-running'));
  assert.ok(applies('loralab.deleteRun', 'run-crashed-resumable'));
  assert.ok(applies('loralab.openDashboard', 'experiment-runs') && !applies('loralab.openDashboard', 'experiment'));
});

test('Workspace Trust: limited support with a description; starting and resuming need a trusted workspace in every menu', () => {
  const trust = pkg.capabilities.untrustedWorkspaces;
  assert.equal(trust.supported, 'limited');
  assert.ok(trust.description.length > 40);
  assert.deepEqual(trust.restrictedConfigurations, ['loralab.runsDir']);
  for (const m of allMenuItems.filter((x) => ['loralab.startRun', 'loralab.resumeRun', 'loralab.continueFromCheckpoint'].includes(x.command) && x.when !== 'false')) {
    assert.match(m.when ?? '', /\bisWorkspaceTrusted\b/, `${m.command} in a menu`);
  }
});

test('views, welcome, activation, settings and files the manifest points to', () => {
  assert.deepEqual(contributes.viewsContainers.activitybar.map((c: { title: string }) => c.title), ['LoRA Lab']);
  const container = contributes.viewsContainers.activitybar[0];
  assert.deepEqual(contributes.views[container.id].map((v: { id: string; name: string }) => [v.id, v.name]), [[EXPERIMENTS_VIEW, 'Experiments'], [ADAPTERS_VIEW, 'Adapters']]);
  assert.ok(existsSync(join(ROOT, container.icon)), container.icon);
  const welcome = contributes.viewsWelcome.find((w: { view: string }) => w.view === EXPERIMENTS_VIEW);
  assert.match(welcome.contents, /\[New Experiment\]\(command:loralab\.newExperiment\)/);
  assert.ok(pkg.activationEvents.includes(`onWebviewPanel:${DASHBOARD_VIEW_TYPE}`));
  assert.ok(pkg.activationEvents.includes(`onWebviewPanel:${PLAYGROUND_VIEW_TYPE}`));
  const adaptersWelcome = contributes.viewsWelcome.find((w: { view: string }) => w.view === ADAPTERS_VIEW);
  assert.match(adaptersWelcome.contents, /\(command:loralab\.importAdapter\)/);
  assert.ok(pkg.activationEvents.includes('workspaceContains:**/*.lora.json'));
  const runsDir = contributes.configuration.properties['loralab.runsDir'];
  assert.equal(runsDir.type, 'string');
  assert.equal(runsDir.default, '');
  assert.equal(runsDir.scope, 'resource');
  for (const v of contributes.jsonValidation) assert.ok(existsSync(join(ROOT, v.url)), v.url);
  assert.equal(pkg.main, './dist/extension.cjs');
});

test('Adapters view menus: Activate only on usable, inactive adapters; Use Base Model on the inactive base row; Remove only on imported ones', () => {
  const whenOf = (cmd: string) => menus['view/item/context'].filter((m) => m.command === cmd && m.when?.includes(`view == ${ADAPTERS_VIEW}`)).map((m) => m.when!);
  const applies = (cmd: string, contextValue: string) =>
    whenOf(cmd).some((w) =>
      viewItemClauses(w).every(({ op, value }) => (op === '==' ? contextValue === value : op === '!=' ? contextValue !== value : new RegExp(value.slice(1, -1)).test(contextValue))),
    );
  const values = ADAPTER_CONTEXT_VALUES;
  assert.deepEqual(values.filter((v) => applies('loralab.activateAdapter', v)).sort(), ['adapter-checkpoint', 'adapter-final', 'adapter-imported', 'adapter-merged']);
  assert.deepEqual(values.filter((v) => applies('loralab.useBaseModel', v)), ['base-model']);
  assert.deepEqual(values.filter((v) => applies('loralab.removeImportedAdapter', v)).sort(), ['adapter-imported', 'adapter-imported-active', 'adapter-imported-broken']);
  for (const cmd of ['loralab.revealAdapter', 'loralab.copyAdapterPath']) {
    assert.deepEqual(values.filter((v) => applies(cmd, v)), values.filter((v) => v.startsWith('adapter-')), cmd);
  }
  // Open in Playground on every usable adapter (active or not) and the base row, never on a broken one
  const playground = values.filter((v) => applies('loralab.openAdapterInPlayground', v));
  assert.ok(playground.includes('base-model') && playground.includes('base-model-active') && playground.includes('adapter-checkpoint-active'));
  assert.ok(!playground.some((v) => v.endsWith('-broken') || v.startsWith('adapters-')));
});

test("a checkpoint row's reveal command says what it reveals (issue 14)", () => {
  const onCheckpoint = menus['view/item/context'].filter((m) => /viewItem == checkpoint\b/.test(m.when ?? '')).map((m) => COMMANDS[m.command as keyof typeof COMMANDS].title);
  assert.deepEqual(onCheckpoint, ['Activate Adapter', 'Continue Training From Here', 'Reveal Checkpoint Folder']);
});
