/**
 * The Kubernetes backend: a sweep as ONE Indexed Job (batch/v1 `completionMode: Indexed`,
 * `completions` = the sweep's points, `parallelism` = runs at once). Pod I gets
 * `JOB_COMPLETION_INDEX=I` from the Job controller and runs `loralab train --sweep SWEEP_DIR`
 * (src/launch/task.ts), so finished points are no-ops and started ones resume: a resubmit is
 * the same Job under a new name. The runs volume (a PersistentVolumeClaim) is mounted at the
 * same absolute path as on the submitting machine, so every path in sweep.json means the same
 * file in the pod.
 *
 * The Job is built as `@kubernetes/client-node`'s `V1Job` type (types only: no runtime
 * dependency) and written as JSON beside sweep.json. It is applied with `kubectl apply -f`
 * when kubectl has a current context — kubectl already handles every cluster's authentication
 * (exec plugins, OIDC, cloud providers); otherwise the `kubectl apply` line is printed.
 * Kueue: `--queue Q` adds the `kueue.x-k8s.io/queue-name: Q` label (Kueue's documented way to
 * send a batch/v1 Job to a LocalQueue).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { promisify } from 'node:util';
import type { V1Job } from '@kubernetes/client-node';
import type { SweepLaunch } from '../runs/index';
import type { QueueState } from './slurm';

const run = promisify(execFile);

/** Options of `loralab sweep --backend kubernetes`. */
export interface KubernetesOptions {
  namespace?: string;
  /** Container image with `loralab` on PATH (docker/Dockerfile). */
  image?: string;
  /** PersistentVolumeClaim holding the runs folder (and the experiment, its data and model). */
  pvc?: string;
  /** Where the claim is mounted in the pod; default the runs folder, so paths match. */
  mountPath?: string;
  /** Kueue LocalQueue name. */
  queue?: string;
  /** `nvidia.com/gpu` limit per pod; 0 or absent: none. */
  gpusPerRun?: number;
  /** Pods at once (`parallelism`); default every point. */
  maxParallel?: number;
}

/** Thrown for options Kubernetes would refuse; one line naming the option. */
export class KubernetesError extends Error {}

/** The image `docker/Dockerfile` builds, tagged with this version, when `--image` is not given. */
export const DEFAULT_IMAGE = 'loralab:latest';

/** The Kueue label that names a LocalQueue (kueue.sigs.k8s.io, "Run a Job"). */
export const KUEUE_QUEUE_LABEL = 'kueue.x-k8s.io/queue-name';

/** Pod label set by the Job controller on every pod of a Job (batch/v1, k8s ≥ 1.27). */
const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
/** Pod annotation holding the completion index of an Indexed Job's pod. */
const INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';

/** A DNS-1123 label (lower case alphanumerics and `-`, ≤ 63) from `s`. */
export function dnsLabel(s: string, max = 63): string {
  const out = s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').slice(0, max).replace(/^-+|-+$/g, '');
  return out || 'loralab';
}

/**
 * The Indexed Job of a sweep: `points` completions, `maxParallel` (default all) at once, each
 * pod running `loralab train --sweep <dir>` with the runs claim mounted.
 * @throws KubernetesError for a count or GPU number that is not a positive integer.
 */
export function renderIndexedJob(o: { dir: string; name: string; points: number; launchNo: number; extraArgs?: readonly string[] } & KubernetesOptions): V1Job {
  if (!Number.isInteger(o.points) || o.points < 1) throw new KubernetesError(`a sweep of ${o.points} points cannot be an Indexed Job (completions must be ≥ 1)`);
  const jobName = `${dnsLabel(`loralab-${nodePath.basename(o.dir)}`, 56)}-${o.launchNo}`;
  const labels: Record<string, string> = { 'app.kubernetes.io/name': 'loralab', 'loralab/sweep': dnsLabel(nodePath.basename(o.dir)) };
  if (o.queue) labels[KUEUE_QUEUE_LABEL] = o.queue;
  const mountPath = o.mountPath ?? nodePath.dirname(o.dir);
  const gpus = o.gpusPerRun ?? 0;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: jobName, namespace: o.namespace ?? 'default', labels },
    spec: {
      completionMode: 'Indexed',
      completions: o.points,
      parallelism: Math.min(o.maxParallel ?? o.points, o.points),
      // A retried pod resumes its point from the last checkpoint; two tries per point.
      backoffLimitPerIndex: 1,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          // SIGTERM → the trainer finishes its step and writes a checkpoint.
          terminationGracePeriodSeconds: 120,
          containers: [
            {
              name: 'loralab',
              image: o.image ?? DEFAULT_IMAGE,
              command: ['loralab', 'train', '--sweep', o.dir, ...(o.extraArgs ?? [])],
              env: [{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
              ...(gpus ? { resources: { limits: { 'nvidia.com/gpu': String(gpus) } } } : {}),
              ...(o.pvc ? { volumeMounts: [{ name: 'runs', mountPath }] } : {}),
            },
          ],
          ...(o.pvc ? { volumes: [{ name: 'runs', persistentVolumeClaim: { claimName: o.pvc } }] } : {}),
        },
      },
    },
  };
}

/** Whether kubectl is installed and has a current context. */
export async function hasKubeContext(): Promise<boolean> {
  return run('kubectl', ['config', 'current-context'], { timeout: 10_000 }).then((r) => r.stdout.trim() !== '', () => false);
}

/**
 * Writes the Job as `k8s-job-<k>.json` beside sweep.json and applies it when a kube context is
 * configured. @returns the launch (job id `<namespace>/<name>`) and whether it was applied.
 * @throws KubernetesError with kubectl's first error line.
 */
export async function submitKubernetes(o: Parameters<typeof renderIndexedJob>[0], apply = hasKubeContext): Promise<{ launch: SweepLaunch; applied: boolean }> {
  const job = renderIndexedJob(o);
  const file = nodePath.join(o.dir, `k8s-job-${o.launchNo}.json`);
  await writeFile(file, `${JSON.stringify(job, null, 2)}\n`);
  const applied = await apply();
  if (applied) {
    try {
      await run('kubectl', ['apply', '-f', file], { timeout: 120_000 });
    } catch (e) {
      throw new KubernetesError(`kubectl apply -f ${file}: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim().split('\n')[0]}`);
    }
  }
  const launch: SweepLaunch = { backend: 'kubernetes', job_id: `${job.metadata!.namespace}/${job.metadata!.name}`, indices: Array.from({ length: o.points }, (_, i) => i), submitted_at: new Date().toISOString(), file };
  return { launch, applied };
}

/** Expands a Job status index list (`"1,3-5,7"`). */
export function parseIndexList(s: string | undefined): number[] {
  const out: number[] = [];
  for (const part of (s ?? '').split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m) for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) out.push(i);
  }
  return out;
}

/**
 * The live points of a Job (`<namespace>/<name>`): index → running (a Running pod) or pending
 * (a Pending pod, or no pod yet while the Job is unfinished). Null when kubectl is missing or
 * the Job is gone.
 */
export async function kubernetesQueue(jobId: string, points: number): Promise<Map<number, QueueState> | null> {
  const [ns, name] = jobId.split('/');
  let job: V1Job;
  let pods: { items: { metadata?: { annotations?: Record<string, string> }; status?: { phase?: string } }[] };
  try {
    job = JSON.parse((await run('kubectl', ['get', 'job', name, '-n', ns, '-o', 'json'], { timeout: 30_000 })).stdout) as V1Job;
    pods = JSON.parse((await run('kubectl', ['get', 'pods', '-n', ns, '-l', `${JOB_NAME_LABEL}=${name}`, '-o', 'json'], { timeout: 30_000 })).stdout);
  } catch {
    return null;
  }
  const out = new Map<number, QueueState>();
  const finished = (job.status?.conditions ?? []).some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  if (finished) return out;
  const ended = new Set([...parseIndexList(job.status?.completedIndexes), ...parseIndexList(job.status?.failedIndexes)]);
  for (const p of pods.items) {
    const i = Number(p.metadata?.annotations?.[INDEX_ANNOTATION]);
    if (!Number.isInteger(i) || ended.has(i)) continue;
    if (p.status?.phase === 'Running') out.set(i, 'running');
    else if (p.status?.phase === 'Pending' && !out.has(i)) out.set(i, 'pending');
  }
  for (let i = 0; i < points; i++) if (!ended.has(i) && !out.has(i)) out.set(i, 'pending');
  return out;
}

/** Deletes the Job (its pods get SIGTERM and write a checkpoint). */
export async function deleteKubernetesJob(jobId: string): Promise<void> {
  const [ns, name] = jobId.split('/');
  try {
    await run('kubectl', ['delete', 'job', name, '-n', ns, '--ignore-not-found'], { timeout: 120_000 });
  } catch (e) {
    throw new KubernetesError(`kubectl delete job ${name} -n ${ns}: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim().split('\n')[0]}`);
  }
}
