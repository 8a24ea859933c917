/**
 * "LoRA Lab: Start Sweep": asks where the runs execute (Local; Slurm when `sbatch` exists;
 * Kubernetes when kubectl has a context — remembered per workspace), then runs
 * `loralab sweep FILE --runs-dir <the workspace's runs dir> [--backend …]` in a
 * terminal (the bundled CLI under VS Code's own Node, `ELECTRON_RUN_AS_NODE`), so its progress,
 * Ctrl-C (stop the whole sweep, with checkpoints) and the resume line it prints are the CLI's.
 * The runs appear in the Experiments view as the run folders are written.
 */
import * as vscode from 'vscode';
import * as nodePath from 'node:path';
import type { SweepBackend } from '../../runs/index';
import { hasKubeContext } from '../../launch/kubernetes';
import { hasSbatch } from '../../launch/slurm';
import type { LoraLab } from '../context';

/** Cluster options a sweep is submitted with (`--pvc`, `--image` for Kubernetes). */
export interface BackendOptions {
  pvc?: string;
  image?: string;
}

/** The terminal command line (exported for tests). */
export function sweepCommandLine(node: string, cli: string, file: string, runsDir: string, resume?: string, backend: SweepBackend = 'local', opts: BackendOptions = {}): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const where = backend === 'local' ? '' : ` --backend ${backend}${opts.pvc ? ` --pvc ${q(opts.pvc)}` : ''}${opts.image ? ` --image ${q(opts.image)}` : ''}`;
  return resume ? `${q(node)} ${q(cli)} sweep --resume ${q(resume)}${where}` : `${q(node)} ${q(cli)} sweep ${q(file)} --runs-dir ${q(runsDir)}${where}`;
}

const BACKEND_LABELS: Record<SweepBackend, { label: string; detail: string }> = {
  local: { label: 'Local', detail: 'on this machine, the runs queued' },
  slurm: { label: 'Slurm', detail: 'one job array (sbatch); the runs folder must be on a filesystem the nodes share' },
  kubernetes: { label: 'Kubernetes', detail: 'one Indexed Job (kubectl apply); the runs folder on a PersistentVolumeClaim' },
};

/**
 * The choices of "where": Local always, Slurm when `sbatch` exists, Kubernetes when kubectl has
 * a context; the one last used in this workspace first, marked.
 */
export function backendChoices(available: readonly SweepBackend[], remembered: SweepBackend | undefined): { backend: SweepBackend; label: string; detail: string; description?: string }[] {
  const order = (['local', 'slurm', 'kubernetes'] as const).filter((b) => b === 'local' || available.includes(b));
  if (remembered && order.includes(remembered)) order.sort((a, b) => Number(b === remembered) - Number(a === remembered));
  return order.map((b) => ({ backend: b, ...BACKEND_LABELS[b], ...(b === remembered ? { description: 'last used' } : {}) }));
}

const BACKEND_KEY = 'loralab.sweepBackend';
const OPTIONS_KEY = 'loralab.sweepKubernetes';

/** Asks where to run (only when a cluster is reachable), remembering the answer per workspace; undefined when cancelled. */
async function pickBackend(lab: LoraLab): Promise<{ backend: SweepBackend; opts: BackendOptions } | undefined> {
  const state = lab.extension.workspaceState;
  const available = [...((await hasSbatch()) ? ['slurm' as const] : []), ...((await hasKubeContext()) ? ['kubernetes' as const] : [])];
  if (!available.length) return { backend: 'local', opts: {} };
  const choices = backendChoices(available, state.get<SweepBackend>(BACKEND_KEY));
  const picked = await vscode.window.showQuickPick(choices, { title: 'Start Sweep: where should the runs execute?' });
  if (!picked) return undefined;
  await state.update(BACKEND_KEY, picked.backend);
  if (picked.backend !== 'kubernetes') return { backend: picked.backend, opts: {} };
  const last = state.get<BackendOptions>(OPTIONS_KEY) ?? {};
  const pvc = await vscode.window.showInputBox({ title: 'Kubernetes: PersistentVolumeClaim holding the runs folder (and the experiment, its data and model)', value: last.pvc ?? '' });
  if (pvc === undefined) return undefined;
  const image = await vscode.window.showInputBox({ title: 'Kubernetes: image with loralab on PATH (docker/Dockerfile)', value: last.image ?? 'loralab:latest' });
  if (image === undefined) return undefined;
  const opts = { pvc: pvc || undefined, image: image || undefined };
  await state.update(OPTIONS_KEY, opts);
  return { backend: 'kubernetes', opts };
}

/** Asks where (Local, Slurm, Kubernetes) and starts the sweep of `file` in a new terminal. */
export async function startSweep(lab: LoraLab, file: string, extensionPath: string): Promise<void> {
  const where = await pickBackend(lab);
  if (!where) return;
  const runsDir = lab.runsDirForFile(file);
  const terminal = vscode.window.createTerminal({
    name: `LoRA Lab sweep: ${nodePath.basename(file)}`,
    cwd: nodePath.dirname(file),
    env: { ELECTRON_RUN_AS_NODE: '1' },
  });
  terminal.sendText(sweepCommandLine(process.execPath, nodePath.join(extensionPath, 'dist', 'cli.js'), file, runsDir, undefined, where.backend, where.opts));
  terminal.show();
  lab.followRunsDirs();
}
