import assert from 'node:assert/strict';
import { ExperimentError, parseExperiment } from '../../src/experiment/index';

/** The file name used in messages by these tests. */
export const FILE = 'exp/x.lora.json';

/** A minimal valid experiment, with extra top-level lines spliced in before the closing brace. */
export function minimal(extra = ''): string {
  return `{
  "name": "demo",
  "model": "HuggingFaceTB/SmolLM2-135M",
  "data": { "train": "data/train.jsonl" }${extra ? `,\n${extra}` : ''}
}
`;
}

/** Asserts that parsing `text` throws an ExperimentError whose message is exactly these lines. */
export function assertProblems(text: string, lines: string[]): ExperimentError {
  let caught: unknown;
  try {
    parseExperiment(text, FILE);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ExperimentError, `expected an ExperimentError, got ${String(caught)}`);
  assert.equal(caught.message, lines.join('\n'));
  return caught;
}
