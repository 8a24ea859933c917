/**
 * The editor's copy of the experiment schema (`schemas/lora-experiment.editor.schema.json`, what
 * `contributes.jsonValidation` names): the same keys, titles, descriptions, defaults and value
 * suggestions, but no validation keyword, so VS Code's JSON support offers completion and hover
 * without its own warnings — the extension publishes the CLI's validation as Error diagnostics
 * instead (src/extension/experiments/diagnostics.ts), and one problem is reported once.
 *
 * Regenerate with `node --import tsx scripts/editor-schema.ts` (a test checks the file is current).
 */
import { EXPERIMENT_SCHEMA } from './schema';

/** Path of the editor schema relative to the package root. */
export const EDITOR_SCHEMA_FILE = 'schemas/lora-experiment.editor.schema.json';

/** JSON Schema keywords that make VS Code report a problem (draft-07 validation vocabulary). */
const VALIDATION_KEYWORDS = new Set([
  'type', 'enum', 'const', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf',
  'minLength', 'maxLength', 'pattern', 'format', 'minItems', 'maxItems', 'uniqueItems', 'contains',
  'additionalItems', 'minProperties', 'maxProperties', 'required', 'additionalProperties', 'propertyNames',
  'dependencies', 'not', 'if', 'then', 'else', 'errorMessage', 'patternErrorMessage',
]);

/**
 * The schema without validation keywords; an `enum` becomes `examples` (VS Code suggests them as
 * values), `oneOf` becomes `anyOf` (stripped branches would all match).
 */
export function editorSchema(schema: unknown = EXPERIMENT_SCHEMA): unknown {
  const strip = (node: unknown, isSchema: boolean): unknown => {
    if (Array.isArray(node)) return node.map((n) => strip(n, isSchema));
    if (node === null || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if (!isSchema) {
        out[k] = strip(v, true); // a map of schemas (properties, patternProperties, definitions)
        continue;
      }
      if (k === 'enum') {
        const examples = [...(Array.isArray(v) ? v : []), ...(((node as Record<string, unknown>).examples as unknown[]) ?? [])];
        out.examples = [...new Map(examples.map((e) => [JSON.stringify(e), e])).values()];
        continue;
      }
      if (k === 'enumDescriptions' || (k === 'examples' && 'enum' in (node as object))) continue;
      if (VALIDATION_KEYWORDS.has(k)) continue;
      if (k === 'properties' || k === 'patternProperties' || k === 'definitions' || k === '$defs') out[k] = strip(v, false);
      else if (k === 'items' || k === 'anyOf' || k === 'allOf' || k === 'oneOf') out[k === 'oneOf' ? 'anyOf' : k] = strip(v, true);
      else out[k] = v;
    }
    return out;
  };
  const out = strip(schema, true) as Record<string, unknown>;
  out.description = `${String(out.description ?? '')} (Editor copy for completion and hover; LoRA Lab validates the file itself.)`.trim();
  return out;
}

/** The editor schema file's text (2-space JSON, trailing newline). */
export function editorSchemaText(): string {
  return `${JSON.stringify(editorSchema(), null, 2)}\n`;
}
