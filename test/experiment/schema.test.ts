import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Ajv from 'ajv';
import { parse } from 'jsonc-parser';
import {
  EXPERIMENT_SCHEMA,
  EXPERIMENT_SCHEMA_FILE,
  createAjv,
  defaultExperiment,
  experimentNameProblem,
  parseExperiment,
} from '../../src/experiment/index';
import { EDITOR_KEYWORDS } from '../../src/experiment/schema';
import { ROOT } from '../helpers/paths';
import { FILE } from './helpers';

interface Node {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  required?: string[];
  additionalProperties?: boolean;
  properties?: Record<string, Node>;
  items?: Node;
}

/** Every property schema with its pointer. */
function properties(node: Node, pointer = ''): [string, Node, Node][] {
  return Object.entries(node.properties ?? {}).flatMap(([k, child]) => [[`${pointer}/${k}`, child, node] as [string, Node, Node], ...properties(child, `${pointer}/${k}`)]);
}

describe('schema file', () => {
  const text = readFileSync(join(ROOT, EXPERIMENT_SCHEMA_FILE), 'utf8');
  const fromDisk = JSON.parse(text) as Node & { $schema: string };

  it('is the object the code validates with', () => {
    assert.deepEqual(fromDisk, EXPERIMENT_SCHEMA);
  });

  it('is valid draft-07 and compiles in ajv strict mode', () => {
    assert.equal(fromDisk.$schema, 'http://json-schema.org/draft-07/schema#');
    const ajv = new Ajv({ strict: true, allowUnionTypes: true });
    ajv.addVocabulary([...EDITOR_KEYWORDS]);
    assert.equal(ajv.validateSchema(fromDisk), true, ajv.errorsText(ajv.errors));
    assert.doesNotThrow(() => ajv.compile(fromDisk));
    assert.doesNotThrow(() => createAjv().compile(fromDisk));
  });

  it('uses no keyword that neither draft-07 nor VS Code knows (strict mode without the editor vocabulary fails only on those)', () => {
    const ajv = new Ajv({ strict: true, allowUnionTypes: true });
    const unknown = new Set<string>();
    const editor = new Set<string>(EDITOR_KEYWORDS);
    for (let i = 0; i < 20; i++) {
      try {
        ajv.compile(fromDisk);
        break;
      } catch (e) {
        const kw = /unknown keyword: "([^"]+)"/.exec((e as Error).message)?.[1];
        assert.ok(kw && editor.has(kw), (e as Error).message);
        unknown.add(kw);
        ajv.addKeyword(kw);
      }
    }
    assert.ok(unknown.size > 0);
  });

  it('closes every object (additionalProperties: false) so typos are caught', () => {
    const objects = [['/', fromDisk] as [string, Node], ...properties(fromDisk).map(([p, n]) => [p, n] as [string, Node])].filter(([, n]) => n.properties);
    for (const p of ['/', '/data', '/lora', '/training', '/advise', '/sweep']) assert.ok(objects.some(([q]) => q === p), p);
    for (const [p, n] of objects) assert.equal(n.additionalProperties, false, p);
  });

  it('documents every key (title, description) and gives every optional key a default', () => {
    for (const [pointer, node, parent] of properties(fromDisk)) {
      assert.ok(node.title, `${pointer}: title`);
      assert.ok(node.description && node.description.length > 20, `${pointer}: description`);
      const key = pointer.split('/').at(-1)!;
      // `sweep` has no default: its presence is what makes a file a sweep.
      const required = parent.required?.includes(key) || key === '$schema' || pointer === '/sweep';
      assert.equal('default' in node, !required, `${pointer}: default iff optional`);
    }
  });
});

describe('defaultExperiment template', () => {
  const text = defaultExperiment('shakespeare-r16', 'HuggingFaceTB/SmolLM2-135M', 'data/train.jsonl');

  it('parses and validates', () => {
    const config = parseExperiment(text, FILE);
    assert.equal(config.name, 'shakespeare-r16');
    assert.equal(config.model, 'HuggingFaceTB/SmolLM2-135M');
    assert.equal(config.data.validation, 0.05);
  });

  it('writes every key, each with its schema default (validation 0.05 aside)', () => {
    const written = JSON.parse(JSON.stringify(parse(text))) as Record<string, unknown>;
    const resolved = parseExperiment('{ "name": "shakespeare-r16", "model": "HuggingFaceTB/SmolLM2-135M", "data": { "train": "data/train.jsonl" } }', FILE);
    assert.deepEqual(written, {
      ...resolved,
      data: { ...resolved.data, train: 'data/train.jsonl', validation: 0.05 },
    });
  });

  it('explains keys in comments', () => {
    assert.match(text, /\/\/ 0 disables clipping/);
    assert.match(text, /\/\/ auto \| cpu \| cuda \| webgpu/);
  });

  it('quotes its inputs as JSON strings', () => {
    const config = parseExperiment(defaultExperiment('a', 'C:\\models\\"x"', 'd.jsonl'), '/tmp/x.lora.json');
    assert.ok(config.model.endsWith('"x"'));
  });
});

describe('experimentNameProblem', () => {
  it('agrees with the schema', () => {
    assert.equal(experimentNameProblem('shakespeare-r16'), undefined);
    assert.equal(experimentNameProblem('v1.2_final'), undefined);
    assert.equal(experimentNameProblem(''), 'must not be empty');
    assert.equal(experimentNameProblem('a/b'), 'must contain only letters, digits, ".", "_" and "-" (it becomes a folder name)');
    assert.equal(experimentNameProblem('..'), 'must contain only letters, digits, ".", "_" and "-" (it becomes a folder name)');
    assert.equal(experimentNameProblem('x'.repeat(101)), 'must be at most 100 characters long');
  });
});
