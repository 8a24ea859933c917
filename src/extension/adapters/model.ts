/**
 * The Adapters view as plain data: the base model, then each run's final adapter and
 * checkpoints (with validation loss), the imported PEFT adapters, and merged adapters when the
 * merge feature provides them; the active one marked. `view.ts` only turns these nodes into
 * `vscode.TreeItem`s; the `when` clauses of `package.json` `menus` match the `contextValue`s
 * listed in `ADAPTER_CONTEXT_VALUES`. Plain; no `vscode` import.
 */
import * as nodePath from 'node:path';
import { runLabel } from '../../protocol/run-label';
import { formatLoss } from '../format';
import type { NodeIcon } from '../experiments/model';
import { samePath } from '../runs/location';
import type { AdapterEntry, AdapterKind } from './catalog';
import type { ActiveAdapter } from './state';

/** What a node stands for; commands invoked on a node receive it. */
export type AdapterTarget = { kind: 'adapter'; adapter: AdapterEntry } | { kind: 'base' } | { kind: 'group' };

export interface AdapterNode {
  /** Stable across refreshes. */
  id: string;
  label: string;
  description?: string;
  tooltip: string;
  ariaLabel: string;
  icon: NodeIcon;
  contextValue: string;
  collapsible: 'none' | 'collapsed' | 'expanded';
  children: AdapterNode[];
  target: AdapterTarget;
}

const KINDS: readonly AdapterKind[] = ['final', 'checkpoint', 'imported', 'merged'];

/** `adapter-<kind>`, `-active` on the active one, `-broken` when its adapter_config.json is unusable. */
export function adapterContextValue(kind: AdapterKind, active: boolean, broken: boolean): string {
  return `adapter-${kind}${active ? '-active' : ''}${broken ? '-broken' : ''}`;
}

/** Every `contextValue` the Adapters view produces. */
export const ADAPTER_CONTEXT_VALUES: readonly string[] = [
  'base-model',
  'base-model-active',
  ...KINDS.flatMap((k) => [adapterContextValue(k, false, false), adapterContextValue(k, true, false), adapterContextValue(k, false, true)]),
  'adapters-run',
  'adapters-imported',
  'adapters-merged',
];

export interface AdaptersInput {
  /** Final and checkpoint adapters, newest run first (AdapterCatalog.runAdapters). */
  runAdapters: readonly AdapterEntry[];
  imported: readonly AdapterEntry[];
  merged?: readonly AdapterEntry[];
  active: ActiveAdapter | null;
  platform?: NodeJS.Platform;
}

const ACTIVE_ICON: NodeIcon = { id: 'pass-filled', color: 'charts.green' };
const PROBLEM_ICON: NodeIcon = { id: 'warning', color: 'list.warningForeground' };

/** `val loss 2.345`, with the step of the evaluation when it was not the adapter's own step. */
export function describeValLoss(a: Pick<AdapterEntry, 'val_loss' | 'val_step' | 'step'>): string | undefined {
  if (a.val_loss === null) return undefined;
  return `val loss ${formatLoss(a.val_loss)}${a.val_step !== null && a.step !== undefined && a.val_step !== a.step ? ` (step ${a.val_step})` : ''}`;
}

/** The name the status bar and the playground use for an adapter: `step-40 · tiny · 2026-01-01 10:15:00` (`runLabel`). */
export function adapterLabel(a: AdapterEntry): string {
  if (a.kind === 'final' && a.run) return `${runLabel(a.run)} (final)`;
  if (a.kind === 'checkpoint' && a.run) return `step-${a.step} · ${runLabel(a.run)}`;
  return nodePath.basename(a.path);
}

export function buildAdapterTree(input: AdaptersInput): AdapterNode[] {
  const active = input.active;
  const isActive = (a: AdapterEntry) => active?.path != null && samePath(active.path, a.path, input.platform);
  const baseActive = active !== null && active.path === null;
  const baseDesc = [baseActive ? 'active' : undefined, active ? nodePath.basename(active.model) : undefined].filter(Boolean).join(' · ');
  const nodes: AdapterNode[] = [
    {
      id: 'base-model',
      label: 'Base model',
      description: baseDesc || undefined,
      tooltip: `${active ? active.model : 'The model without an adapter'}${baseActive ? '\nActive: generation uses the base model alone' : ''}`,
      ariaLabel: ['Base model', baseDesc].filter(Boolean).join(', '),
      icon: baseActive ? ACTIVE_ICON : { id: 'circle-large-outline' },
      contextValue: baseActive ? 'base-model-active' : 'base-model',
      collapsible: 'none',
      children: [],
      target: { kind: 'base' },
    },
  ];
  const byRun = new Map<string, AdapterEntry[]>();
  for (const a of input.runAdapters) {
    if (!a.run) continue;
    const list = byRun.get(a.run.run_dir) ?? [];
    list.push(a);
    byRun.set(a.run.run_dir, list);
  }
  for (const [runDir, adapters] of byRun) {
    const run = adapters[0].run!;
    const children = adapters.map((a) => adapterNode(a, isActive(a)));
    const holdsActive = adapters.some(isActive);
    const final = adapters.find((a) => a.kind === 'final');
    // The side bar is narrow and the run id long: the active child carries the mark (and the run
    // is expanded); the aria-label and tooltip say that the run holds it.
    const description = run.status === 'completed' ? undefined : run.status;
    nodes.push({
      id: `adapters-run:${runDir}`,
      label: runLabel(run),
      description: description || undefined,
      tooltip: `${run.id} (${run.status})\n${final ? 'final adapter' : 'no final adapter yet'}, ${adapters.length - (final ? 1 : 0)} checkpoint(s)${holdsActive ? '\nholds the active adapter' : ''}\n${runDir}`,
      ariaLabel: `${runLabel(run)}, run, ${adapters.length} adapter${adapters.length === 1 ? '' : 's'}${holdsActive ? ', holds the active adapter' : ''}`,
      icon: { id: 'beaker' },
      contextValue: 'adapters-run',
      collapsible: holdsActive || nodes.length === 1 ? 'expanded' : 'collapsed',
      children,
      target: { kind: 'group' },
    });
  }
  const group = (key: 'imported' | 'merged', label: string, icon: string, list: readonly AdapterEntry[]) => {
    if (!list.length) return;
    nodes.push({
      id: `adapters-${key}`,
      label,
      description: `${list.length}`,
      tooltip: key === 'imported' ? 'PEFT adapters imported with "Import PEFT Adapter…"' : 'Adapters made with "Merge Adapters"',
      ariaLabel: `${label}, ${list.length} adapter${list.length === 1 ? '' : 's'}`,
      icon: { id: icon },
      contextValue: `adapters-${key}`,
      collapsible: 'expanded',
      children: list.map((a) => adapterNode(a, isActive(a))),
      target: { kind: 'group' },
    });
  };
  group('imported', 'Imported', 'cloud-download', input.imported);
  group('merged', 'Merged', 'git-merge', input.merged ?? []);
  return nodes;
}

function adapterNode(a: AdapterEntry, active: boolean): AdapterNode {
  const label = a.kind === 'final' ? 'final adapter' : a.kind === 'checkpoint' ? `step-${a.step}` : nodePath.basename(a.path);
  const rank = a.r !== null ? `r ${a.r}${a.lora_alpha !== null ? ` · α ${a.lora_alpha}` : ''}` : undefined;
  const facts = a.kind === 'imported' || a.kind === 'merged' ? rank : [describeValLoss(a), a.kind === 'final' ? `step ${a.step}` : undefined].filter(Boolean).join(' · ');
  // "active" first: a narrow side bar cuts the end of the description.
  const description = a.problem ? 'cannot be used' : [active ? 'active' : undefined, facts].filter(Boolean).join(' · ');
  const tooltip = [
    a.path,
    a.run ? `run ${a.run.id}${a.step !== undefined ? `, step ${a.step}` : ''}` : undefined,
    describeValLoss(a),
    rank,
    a.base_model ? `base model: ${a.base_model}` : undefined,
    a.problem ?? undefined,
    active ? 'Active: the playground and generation use this adapter' : undefined,
  ].filter(Boolean);
  return {
    id: `adapter:${a.path}`,
    label,
    description: description || undefined,
    tooltip: tooltip.join('\n'),
    ariaLabel: [label, a.run ? `of ${a.run.id}` : a.kind, description].filter(Boolean).join(', '),
    icon: a.problem ? PROBLEM_ICON : active ? ACTIVE_ICON : { id: a.kind === 'checkpoint' ? 'save' : a.kind === 'final' ? 'package' : 'extensions' },
    contextValue: adapterContextValue(a.kind, active, a.problem !== null),
    collapsible: 'none',
    children: [],
    target: { kind: 'adapter', adapter: a },
  };
}
