/**
 * The one JSON Schema of `*.lora.json` files, and the ajv validator compiled from it. The same
 * file is registered with VS Code's `jsonValidation`, so the editor and the CLI agree.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import schema from '../../schemas/lora-experiment.schema.json';

/** The experiment schema (draft-07), as parsed from `schemas/lora-experiment.schema.json`. */
export const EXPERIMENT_SCHEMA = schema;

/**
 * Path of the schema file relative to the package root: what `contributes.jsonValidation[].url`
 * names (`./schemas/lora-experiment.schema.json`) and what the `.vsix` must ship.
 */
export const EXPERIMENT_SCHEMA_FILE = 'schemas/lora-experiment.schema.json';

/** File name suffix of experiment files. */
export const EXPERIMENT_FILE_SUFFIX = '.lora.json';

/**
 * Keywords of VS Code's JSON schema dialect used in the schema. They carry no validation; ajv
 * only needs to know them to stay in strict mode. `errorMessage` and `patternErrorMessage` are
 * also read by `errors.ts` for its messages, as VS Code does.
 */
export const EDITOR_KEYWORDS = [
  'markdownDescription',
  'enumDescriptions',
  'errorMessage',
  'patternErrorMessage',
  'allowComments',
  'allowTrailingCommas',
] as const;

/**
 * A strict ajv instance for the schema: `allErrors` (report every problem), `useDefaults` (the
 * defaults come from the schema itself), `verbose` (errors carry their schema node and value),
 * union types allowed (`["string", "null"]`).
 */
export function createAjv(): Ajv {
  const ajv = new Ajv({ strict: true, allErrors: true, useDefaults: true, verbose: true, allowUnionTypes: true });
  ajv.addVocabulary([...EDITOR_KEYWORDS]);
  return ajv;
}

let compiled: ValidateFunction | undefined;

/** The compiled validator (compiled once). It fills in defaults in the object it validates. */
export function experimentValidator(): ValidateFunction {
  compiled ??= createAjv().compile(EXPERIMENT_SCHEMA);
  return compiled;
}

/** A JSON Schema node as far as the error mapping reads it. */
export interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  enum?: unknown[];
  errorMessage?: string;
  patternErrorMessage?: string;
}

/** Pointer (`/`, `/data`, …) → the object schemas of the file, to tell where a misplaced key belongs. */
export function objectSections(): Map<string, SchemaNode> {
  const out = new Map<string, SchemaNode>();
  const walk = (node: SchemaNode, pointer: string) => {
    if (!node.properties) return;
    out.set(pointer || '/', node);
    for (const [key, child] of Object.entries(node.properties)) walk(child, `${pointer}/${key}`);
  };
  walk(EXPERIMENT_SCHEMA as SchemaNode, '');
  return out;
}
