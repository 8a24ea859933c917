// Writes schemas/lora-experiment.editor.schema.json from schemas/lora-experiment.schema.json (see src/experiment/editor-schema.ts).
import { writeFileSync } from 'node:fs';
import { EDITOR_SCHEMA_FILE, editorSchemaText } from '../src/experiment/editor-schema';

writeFileSync(EDITOR_SCHEMA_FILE, editorSchemaText());
process.stdout.write(`wrote ${EDITOR_SCHEMA_FILE}\n`);
