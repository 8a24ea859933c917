/**
 * `loralab sweep FILE.lora.json [--parallel N]` / `loralab sweep --resume SWEEP_DIR`: every
 * point of the file's `sweep` block as an ordinary run under one sweep folder (`src/launch/local.ts`).
 * Progress on stderr; `--json` prints `sweep` (the folder), `point` (each run's start and end)
 * and `done` (every point with its final loss, and the best) events on stdout. Ctrl-C stops the
 * whole sweep with checkpoints (exit 130); `--resume` continues it.
 */
import { symlink } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { runSweep } from '../launch/local';
import { type KubernetesOptions, KubernetesError, submitKubernetes } from '../launch/kubernetes';
import { type SlurmOptions, SlurmError, renderSbatch, submitSlurm } from '../launch/slurm';
import { liveTasks, stopSweep, sweepStatus } from '../launch/status';
import { openOrCreateSweep, recordLaunch, selfCommand, unfinished } from '../launch/sweepdir';
import { SweepTaskError, planTask, recordTask, taskIdentity, taskIndex } from '../launch/task';
import { type SweepBackend, defaultRunsDir, sweepState } from '../runs/index';
import { EXIT, InputError, emitJson, info, print } from './output';
import { type TrainArgs, runTrain } from './train';

export interface SweepArgs {
  file?: string;
  resume?: string;
  parallel?: number;
  runsDir?: string;
  threads?: number;
  maxSteps?: number;
  device?: string;
  json?: boolean;
  /** Where the runs execute (default: local, or the backend of the sweep's latest launch with --resume). */
  backend?: SweepBackend;
  /** Slurm and Kubernetes options (`--partition`, `--gpus-per-run`, `--max-parallel`, …). */
  partition?: string;
  gpusPerRun?: number;
  maxParallel?: number;
  time?: string;
  sbatchArg?: string[];
  namespace?: string;
  image?: string;
  pvc?: string;
  mountPath?: string;
  queue?: string;
}

const fmtValue = (v: unknown) => (typeof v === 'number' ? String(Number(v.toPrecision(3))) : JSON.stringify(v));

/** Returns the exit code: 0 when every run completed, 1 when one failed, 130 when stopped. */
export async function runSweepCommand(args: SweepArgs): Promise<number> {
  if (!args.file && !args.resume) throw new InputError('sweep needs an experiment file with a "sweep" block (loralab sweep FILE.lora.json) or --resume SWEEP_DIR');
  if (args.file && args.resume) throw new InputError('give either an experiment file or --resume SWEEP_DIR, not both');
  const backend = args.backend ?? (args.resume ? (await openOrCreateSweep({ resume: args.resume, runsDir: '' })).sweep.launches?.at(-1)?.backend : undefined) ?? 'local';
  if (backend !== 'local') return submitToCluster(args, backend);
  const handle = runSweep(
    { file: args.file, resume: args.resume, runsDir: args.runsDir ?? defaultRunsDir(), parallel: args.parallel, threads: args.threads, maxSteps: args.maxSteps, device: args.device },
    {
      onStart: (dir, sweep, queued) => {
        if (args.json) emitJson({ event: 'sweep', sweep_dir: dir, points: sweep.points.length, queued });
        info(`sweep ${sweep.name}: ${sweep.points.length} points (${queued} to run) in ${dir}`);
      },
      onRun: (index, runDir) => {
        if (args.json) emitJson({ event: 'point', index, run_dir: runDir, status: 'running' });
        info(`point ${index}: started ${runDir}`);
      },
      onDone: (index, status) => {
        if (args.json) emitJson({ event: 'point', index, status });
        info(`point ${index}: ${status}`);
      },
      onLog: info,
    },
  );
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) process.exit(EXIT.signal);
    info(`\nloralab: ${sig}: stopping the sweep: every running run finishes its step and writes a checkpoint (Ctrl-C again to abort)`);
    handle.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await handle.done;
    const keys = Object.keys(r.points[0]?.values ?? {});
    info(['#', ...keys, 'status', 'final loss'].join('\t'));
    for (const p of r.points) info([p.index, ...keys.map((k) => fmtValue(p.values[k])), p.status, p.final_loss === null ? '-' : p.final_loss.toFixed(4)].join('\t') + (p === r.best ? '\t← best' : ''));
    if (r.best) info(`best: point ${r.best.index} (${keys.map((k) => `${k} ${fmtValue(r.best!.values[k])}`).join(', ')}): final loss ${r.best.final_loss!.toFixed(4)}, ${r.best.run_dir}`);
    if (args.json) emitJson({ event: 'done', sweep_dir: r.dir, status: r.status, best: r.best?.index ?? null, points: r.points });
    if (r.status === 'stopped') {
      info(`stopped; resume with: loralab sweep --resume ${r.dir}`);
      return EXIT.signal;
    }
    return r.points.some((p) => p.status === 'failed') ? EXIT.failed : EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * `loralab sweep FILE --backend slurm|kubernetes` (or `--resume SWEEP_DIR --backend …`): the
 * sweep folder, then its unfinished points — less those a scheduler still holds — as one Slurm
 * job array or one Kubernetes Indexed Job; prints the job id and how to follow and stop it.
 */
async function submitToCluster(args: SweepArgs, backend: Exclude<SweepBackend, 'local'>): Promise<number> {
  const extraArgs = [...(args.maxSteps ? ['--max-steps', String(args.maxSteps)] : []), ...(args.device ? ['--device', args.device] : [])];
  const slurm: SlurmOptions = { partition: args.partition, gpusPerRun: args.gpusPerRun, maxParallel: args.maxParallel, time: args.time, sbatchArgs: args.sbatchArg };
  if (backend === 'slurm') {
    try {
      renderSbatch({ dir: '/', name: 'check', indices: [0], command: [], cwd: '/', ...slurm }); // option errors before a folder is made
    } catch (e) {
      throw new InputError((e as Error).message);
    }
  }
  const { dir, sweep } = await openOrCreateSweep({ file: args.file, resume: args.resume, runsDir: args.runsDir ?? defaultRunsDir() });
  const { live, error } = args.resume ? await liveTasks(sweep) : { live: new Map(), error: null };
  if (error) info(`warning: ${error}; submitting every unfinished point`);
  const todo = unfinished(await sweepState(dir, sweep), new Set(live.keys()));
  const launchNo = (sweep.launches?.length ?? 0) + 1;
  if (!todo.length) {
    info(`sweep ${sweep.name}: nothing to submit (every point finished${live.size ? ' or still queued' : ''}); see loralab sweep status ${dir}`);
    if (args.json) emitJson({ event: 'submitted', backend, sweep_dir: dir, job_id: null, indices: [] });
    return EXIT.ok;
  }
  let launch;
  try {
    if (backend === 'slurm') {
      launch = await submitSlurm({ dir, name: sweep.name, indices: todo, command: selfCommand(), cwd: process.cwd(), extraArgs, launchNo, ...slurm });
    } else {
      const k8s: KubernetesOptions = { namespace: args.namespace, image: args.image, pvc: args.pvc, mountPath: args.mountPath, queue: args.queue, gpusPerRun: args.gpusPerRun, maxParallel: args.maxParallel };
      if (!k8s.pvc) info('warning: no --pvc: the pods write their run folders to their own disk, where nobody reads them; pass --pvc CLAIM holding the runs folder');
      const r = await submitKubernetes({ dir, name: sweep.name, points: sweep.points.length, launchNo, extraArgs, ...k8s });
      launch = r.launch;
      if (!r.applied) info(`no kube context (kubectl config current-context); apply it yourself: kubectl apply -f ${launch.file}`);
    }
  } catch (e) {
    if (e instanceof SlurmError || e instanceof KubernetesError) throw new InputError(e.message);
    throw e;
  }
  await recordLaunch(dir, launch);
  info(`sweep ${sweep.name}: ${todo.length} of ${sweep.points.length} points submitted as ${backend === 'slurm' ? `Slurm job array ${launch.job_id}` : `Kubernetes Indexed Job ${launch.job_id}`} (${launch.file})`);
  info(`follow: loralab sweep status ${dir}    stop: loralab sweep stop ${dir}    resubmit the unfinished: loralab sweep --resume ${dir}`);
  if (args.json) emitJson({ event: 'submitted', backend, sweep_dir: dir, job_id: launch.job_id, indices: todo, file: launch.file });
  return EXIT.ok;
}

/**
 * `loralab sweep status SWEEP_DIR`: per point its values, training status, step, final loss
 * and cluster state (table on stdout; `--json` one object). Exit 0.
 */
export async function runSweepStatus(args: { dir: string; json?: boolean }): Promise<number> {
  const s = await sweepStatus(nodePath.resolve(args.dir));
  if (s.queueError) info(`warning: ${s.queueError}`);
  if (args.json) {
    emitJson({ sweep_dir: s.dir, name: s.sweep.name, backend: s.backend, jobs: s.jobs, points: s.points });
    return EXIT.ok;
  }
  const keys = Object.keys(s.points[0]?.values ?? {});
  print(`sweep ${s.sweep.name} (${s.backend}${s.jobs.length ? ` ${s.jobs.join(', ')}` : ''}): ${s.dir}`);
  print(['#', ...keys, 'status', 'step', 'final loss', 'cluster', 'job'].join('\t'));
  for (const p of s.points) print([p.index, ...keys.map((k) => fmtValue(p.values[k])), p.status, p.step, p.final_loss === null ? '-' : p.final_loss.toFixed(4), p.cluster, p.job_id ?? '-'].join('\t'));
  return EXIT.ok;
}

/** `loralab sweep stop SWEEP_DIR`: scancel / kubectl delete job / SIGINT to the local runner. */
export async function runSweepStop(args: { dir: string; json?: boolean }): Promise<number> {
  const what = await stopSweep(args.dir);
  info(`stopped: ${what}; resubmit the unfinished points with: loralab sweep --resume ${nodePath.resolve(args.dir)}`);
  if (args.json) emitJson({ event: 'stopped', sweep_dir: nodePath.resolve(args.dir), action: what });
  return EXIT.ok;
}

/**
 * `loralab train --sweep SWEEP [--index I]`: one sweep task (src/launch/task.ts): starts point
 * I, resumes its run, or does nothing when it finished (exit 0 for a completed run, 1 for a
 * failed one). Records backend, job id and run folder in `task-<I>.json`; under Slurm links
 * the task's output file into the run folder.
 */
export async function runSweepTask(args: Omit<TrainArgs, 'sweep' | 'file' | 'resume'> & { sweep: string }): Promise<number> {
  let index: number;
  let planned: Awaited<ReturnType<typeof planTask>>;
  try {
    index = taskIndex(args.index);
    planned = await planTask(args.sweep, index);
  } catch (e) {
    if (e instanceof SweepTaskError) throw new InputError(e.message);
    throw e;
  }
  const { dir, plan } = planned;
  const who = taskIdentity();
  if (plan.action === 'skip') {
    info(`point ${index}: already ${plan.status} (${plan.runDir}); nothing to do`);
    if (args.json) emitJson({ event: 'done', status: plan.status, run_dir: plan.runDir, skipped: true });
    return plan.status === 'completed' ? EXIT.ok : EXIT.failed;
  }
  await recordTask(dir, index, plan.action === 'resume' ? plan.runDir : null, who);
  if (plan.action === 'resume') info(`point ${index}: resuming ${plan.runDir} (${plan.status})`);
  const onRunDir = async (runDir: string) => {
    await recordTask(dir, index, runDir, who);
    const out = process.env.SLURM_ARRAY_JOB_ID ? `slurm-${process.env.SLURM_ARRAY_JOB_ID}_${process.env.SLURM_ARRAY_TASK_ID}.out` : null;
    if (out) await symlink(nodePath.join(dir, out), nodePath.join(runDir, out)).catch(() => undefined);
  };
  const { sweep: _sweepArg, ...rest } = args;
  const common = { ...rest, onRunDir };
  return plan.action === 'resume'
    ? runTrain({ ...common, index: undefined, resume: plan.runDir })
    : runTrain({ ...common, file: planned.sweep.experiment_file, sweep: true, index, runsDir: dir });
}
