/**
 * Writes schema/plan.schema.json, the JSON Schema of plan files for editors, from the zod
 * schema in src/plan/schema.ts (`npm run plan-schema`). A unit test fails when the committed
 * file differs from what the schema generates, so run this after changing the plan format.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { planJsonSchemaText } from '../src/plan/schema';

const file = join(__dirname, '..', 'schema', 'plan.schema.json');
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, planJsonSchemaText());
console.log(`wrote ${file}`);
