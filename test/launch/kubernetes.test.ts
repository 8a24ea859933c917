/**
 * The Kubernetes backend without a cluster: `loralab sweep --backend kubernetes` renders an
 * Indexed Job that is checked against the batch/v1 Job schema as `@kubernetes/client-node`'s
 * generated OpenAPI models describe it (every key known to its model, every value of the model's
 * type), then the pod's own command is run here with `JOB_COMPLETION_INDEX` set, as the Job
 * controller sets it, proving the task contract: each index trains its point, a finished index
 * is a no-op.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { renderIndexedJob, parseIndexList, dnsLabel } from '../../src/launch/kubernetes';
import { runCli } from '../helpers/cli';
import { ROOT } from '../helpers/paths';
import { tinySweep } from './fixture';

type AttributeMap = { baseName: string; type: string; format: string }[];
const models = k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap }>;

/**
 * Problems of `value` as the OpenAPI model `type` (`V1Job`, `Array<V1Container>`,
 * `{ [key: string]: string; }`, `string`, `number` with format int32/int64, `boolean`).
 */
function schemaProblems(value: unknown, type: string, path = '$'): string[] {
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) return Array.isArray(value) ? value.flatMap((v, i) => schemaProblems(v, arr[1], `${path}[${i}]`)) : [`${path}: expected an array (${type})`];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.entries(value).flatMap(([k, v]) => schemaProblems(v, map[1], `${path}.${k}`)) : [`${path}: expected a map (${type})`];
  if (type === 'string' || type === 'Date') return typeof value === 'string' ? [] : [`${path}: expected a string`];
  if (type === 'number') return typeof value === 'number' ? [] : [`${path}: expected a number`];
  if (type === 'boolean') return typeof value === 'boolean' ? [] : [`${path}: expected a boolean`];
  if (type === 'IntOrString') return typeof value === 'string' || Number.isInteger(value) ? [] : [`${path}: expected an int or a string`];
  if (type === 'any') return [];
  const model = models[type]?.getAttributeTypeMap?.();
  if (!model) return [`${path}: unknown model type ${type}`];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: expected an object (${type})`];
  const attrs = new Map(model.map((a) => [a.baseName, a]));
  return Object.entries(value).flatMap(([k, v]) => {
    const a = attrs.get(k);
    if (!a) return [`${path}.${k}: not a field of ${type}`];
    if (a.type === 'number' && (a.format === 'int32' || a.format === 'int64') && !Number.isInteger(v)) return [`${path}.${k}: expected an integer`];
    return schemaProblems(v, a.type, `${path}.${k}`);
  });
}

test('the schema check itself rejects a misspelt field and a wrong type (so it can fail)', () => {
  const job = renderIndexedJob({ dir: '/runs/s-sweep-1', name: 's', points: 2, launchNo: 1 });
  assert.deepEqual(schemaProblems(job, 'V1Job'), []);
  const bad = { ...job, spec: { ...job.spec, completionsMode: 'Indexed', parallelism: '2', suspend: 'no' } };
  assert.deepEqual(schemaProblems(bad, 'V1Job').sort(), ['$.spec.completionsMode: not a field of V1JobSpec', '$.spec.parallelism: expected an integer', '$.spec.suspend: expected a boolean']);
});

test('index lists and names follow the API rules', () => {
  assert.deepEqual(parseIndexList('0-2,5,7-8'), [0, 1, 2, 5, 7, 8]);
  assert.deepEqual(parseIndexList(''), []);
  assert.equal(dnsLabel('LoRA_Sweep--20260101'), 'lora-sweep-20260101');
  assert.ok(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(renderIndexedJob({ dir: `/r/${'X'.repeat(80)}-sweep-1`, name: 'x', points: 1, launchNo: 12 }).metadata!.name!));
  assert.ok(renderIndexedJob({ dir: `/r/${'x'.repeat(80)}`, name: 'x', points: 1, launchNo: 12 }).metadata!.name!.length <= 63);
});


/** Runs argv (with `loralab` replaced by this checkout's CLI) as a pod would, with `env` added. */
function runPodCommand(argv: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  assert.equal(argv[0], 'loralab');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...argv.slice(1)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('kubernetes: the rendered Indexed Job is a valid batch/v1 Job and its pod command keeps the task contract', { timeout: 120_000 }, async () => {
  const { file, runs } = tinySweep('loralab-k8s-', { max_steps: 2, eval_steps: 2, save_steps: 1 });
  // No kubectl / kube context here: the Job is written and the apply line printed.
  const r = await runCli(['sweep', file, '--backend', 'kubernetes', '--runs-dir', runs, '--namespace', 'ml', '--image', 'registry.example/loralab:0.1', '--pvc', 'shared-runs', '--queue', 'team-a', '--gpus-per-run', '1', '--max-parallel', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const sub = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'submitted');
  assert.match(r.stderr, new RegExp(`kubectl apply -f ${sub.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const job = JSON.parse(readFileSync(sub.file, 'utf8')) as k8s.V1Job;

  assert.deepEqual(schemaProblems(job, 'V1Job'), []);
  assert.equal(job.apiVersion, 'batch/v1');
  assert.equal(job.kind, 'Job');
  assert.equal(job.metadata!.namespace, 'ml');
  assert.equal(job.metadata!.labels!['kueue.x-k8s.io/queue-name'], 'team-a');
  const spec = job.spec!;
  assert.equal(spec.completionMode, 'Indexed');
  assert.equal(spec.completions, 4);
  assert.equal(spec.parallelism, 2);
  const pod = spec.template.spec!;
  assert.equal(pod.restartPolicy, 'Never');
  const c = pod.containers[0];
  assert.equal(c.image, 'registry.example/loralab:0.1');
  assert.equal(c.resources!.limits!['nvidia.com/gpu'], '1');
  assert.equal(pod.volumes![0].persistentVolumeClaim!.claimName, 'shared-runs');
  assert.equal(c.volumeMounts![0].name, pod.volumes![0].name);
  assert.equal(c.volumeMounts![0].mountPath, runs, 'the claim is mounted where the runs folder is, so sweep.json paths hold in the pod');

  // The pods of indices 3 and 0, as the Job controller would start them.
  const env = (i: number) => ({ JOB_COMPLETION_INDEX: String(i), HOSTNAME: `${job.metadata!.name}-${i}-abcde`, POD_NAMESPACE: 'ml' });
  for (const i of [3, 0]) {
    const p = await runPodCommand(c.command!, env(i));
    assert.equal(p.code, 0, p.stderr);
  }
  const expected: Record<number, [number, number]> = { 0: [1e-3, 1], 3: [1e-2, 4] };
  for (const i of [0, 3]) {
    const rec = JSON.parse(readFileSync(join(sub.sweep_dir, `task-${i}.json`), 'utf8'));
    assert.equal(rec.backend, 'kubernetes');
    assert.equal(rec.job_id, `ml/${job.metadata!.name}-${i}-abcde`);
    const run = JSON.parse(readFileSync(join(rec.run_dir, 'run.json'), 'utf8'));
    assert.equal(run.status, 'completed');
    assert.deepEqual([run.config.training.learning_rate, run.config.lora.r], expected[i]);
  }
  const folders = () => readdirSync(sub.sweep_dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const before = folders();
  assert.equal(before.length, 2);
  // A retried pod of a finished index is a no-op: no new run folder, exit 0.
  const again = await runPodCommand(c.command!, env(0));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /point 0: already completed/);
  assert.deepEqual(folders(), before);
  // Without an index variable or --index the task refuses in one line.
  const none = await runPodCommand(c.command!, {});
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^loralab: error: no point index: pass --index I/m);
});
