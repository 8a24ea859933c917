// "New Experiment" without the dialogs: the file written is a valid experiment with the
// choices, paths relative to it; and the short texts of the UI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseExperiment } from '../../src/experiment/index';
import { freeExperimentPath, modelFolderProblem, modelReference, newExperimentText, suggestName } from '../../src/extension/experiments/create';
import { runsDirFor } from '../../src/extension/runs/location';
import { describeProgress, etaSeconds, formatDuration } from '../../src/extension/format';
import { jobStatusText } from '../../src/extension/training/progress';
import type { Job } from '../../src/extension/training/supervisor';
import { homedir } from 'node:os';

test('the new file parses with every default and the chosen model and data, relative to its folder', () => {
  const text = newExperimentText({ folder: '/ws', name: 'stories-r16', model: { kind: 'local', dir: '/ws/models/tiny' }, train: '/ws/data/train.jsonl' });
  assert.match(text, /"model": "\.\/models\/tiny"/);
  assert.match(text, /"train": "data\/train\.jsonl"/);
  const cfg = parseExperiment(text, '/ws/stories-r16.lora.json');
  assert.equal(cfg.name, 'stories-r16');
  assert.equal(cfg.model, '/ws/models/tiny');
  assert.equal(cfg.data.train, '/ws/data/train.jsonl');
  assert.equal(cfg.lora.r, 16);
  assert.equal(cfg.training.max_steps, 500);
  const hub = parseExperiment(newExperimentText({ folder: '/ws', name: 'x', model: { kind: 'hub', id: 'HuggingFaceTB/SmolLM2-135M' }, train: '/data/t.txt' }), '/ws/x.lora.json');
  assert.equal(hub.model, 'HuggingFaceTB/SmolLM2-135M');
  assert.equal(hub.data.train, '/data/t.txt');
  assert.throws(() => newExperimentText({ folder: '/ws', name: 'bad name', model: { kind: 'hub', id: 'a/b' }, train: '/t.txt' }), /bad name/);
});

test('a local model is always written as a path, never as something that reads as a Hub id', () => {
  assert.equal(modelReference('/ws', '/ws/models/tiny'), './models/tiny');
  assert.equal(modelReference('/ws/exp', '/ws/models/tiny', '/ws'), '../models/tiny');
  // Outside the workspace folder: absolute, so moving the workspace keeps it valid.
  assert.equal(modelReference('/ws/exp', '/shared/models/tiny', '/ws'), '/shared/models/tiny');
  assert.equal(modelReference('/ws', '/ws'), '.');
});

test('names and free paths', () => {
  assert.equal(suggestName('/d/tiny shakespeare.txt'), 'tiny-shakespeare');
  assert.equal(suggestName('/d/train.jsonl'), 'train');
  assert.equal(suggestName('/d/..txt'), 'experiment');
  const taken = new Set([join('/ws', 'a.lora.json'), join('/ws', 'a-2.lora.json')]);
  assert.equal(freeExperimentPath('/ws', 'a', (p) => taken.has(p)), join('/ws', 'a-3.lora.json'));
  assert.equal(freeExperimentPath('/ws', 'b', (p) => taken.has(p)), join('/ws', 'b.lora.json'));
});

test('runs dir: .loralab/runs, or loralab.runsDir relative to the workspace folder, absolute or ~', () => {
  assert.equal(runsDirFor('/ws', undefined), '/ws/.loralab/runs');
  assert.equal(runsDirFor('/ws', '  '), '/ws/.loralab/runs');
  assert.equal(runsDirFor('/ws', 'out/runs'), '/ws/out/runs');
  assert.equal(runsDirFor('/ws', '/var/runs'), '/var/runs');
  assert.equal(runsDirFor('/ws', '~/runs'), join(homedir(), 'runs'));
});

test('progress texts: description, duration, ETA and the status bar', () => {
  assert.equal(describeProgress({ step: 40, max_steps: 120, train_loss: 3.21749 }), 'step 40/120 · loss 3.217');
  assert.equal(describeProgress({ step: 0, max_steps: 120, train_loss: null }), 'step 0/120');
  assert.deepEqual([formatDuration(42.4), formatDuration(185), formatDuration(3720)], ['42s', '3m 05s', '1h 02m']);
  assert.equal(etaSeconds([{ step: 10, time: 5 }], 100), null);
  assert.equal(etaSeconds([{ step: 10, time: 5 }, { step: 20, time: 10 }], 100), 40);
  const job = { key: 'job-1', label: 'shakespeare', args: {}, phase: 'running', pid: 1, runDir: '/r/x', runId: 'x', step: 20, maxSteps: 100, trainLoss: 3.2171, recent: [{ step: 10, time: 5 }, { step: 20, time: 10 }], stopRequested: false, outcome: null, exited: Promise.resolve() } as unknown as Job;
  assert.equal(jobStatusText(job).text, '$(loading~spin) shakespeare 20/100 · loss 3.217 · ETA 40s');
  assert.equal(jobStatusText({ ...job, phase: 'starting' } as Job).text, '$(loading~spin) shakespeare: starting…');
  assert.equal(jobStatusText({ ...job, phase: 'stopping' } as Job).text, '$(loading~spin) shakespeare: stopping…');
  assert.equal(jobStatusText({ ...job, recent: [] } as Job).text, '$(loading~spin) shakespeare 20/100 · loss 3.217');
});

test('a model folder must hold config.json, tokenizer.json and safetensors weights', () => {
  const have = (files: string[]) => (p: string) => files.some((f) => p.endsWith(`/${f}`));
  assert.equal(modelFolderProblem('/m', have(['config.json', 'tokenizer.json', 'model.safetensors'])), null);
  assert.equal(modelFolderProblem('/m', have(['config.json', 'tokenizer.json', 'model.safetensors.index.json'])), null);
  assert.equal(modelFolderProblem('/ws/data', have([])), '/ws/data is not a Hugging Face model folder: it has no config.json, tokenizer.json, model.safetensors');
});
